-- Partition logs by day (UTC) so retention drops whole partitions instead of deleting rows.
-- Keeps every row: the old table is copied into a DEFAULT partition, which the worker's
-- partition maintenance splits into daily partitions (app/storage/partitions.py).
-- The primary key includes the partition key, as PostgreSQL requires; an event's timestamp
-- is fixed once when it is accepted, so (id, timestamp) is as good an idempotency key as id.
ALTER TABLE logs RENAME TO logs_unpartitioned;
ALTER TABLE logs_unpartitioned RENAME CONSTRAINT logs_pkey TO logs_unpartitioned_pkey;
DROP INDEX IF EXISTS logs_timestamp_idx, logs_level_timestamp_idx, logs_source_timestamp_idx,
    logs_organization_timestamp_idx, logs_message_fts_idx;

CREATE TABLE logs (
    id              uuid        NOT NULL,
    "timestamp"     timestamptz NOT NULL,
    level           text        NOT NULL,
    message         text        NOT NULL,
    source          text        NOT NULL,
    organization_id text,
    trace_id        text,
    metadata        jsonb,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, "timestamp")
) PARTITION BY RANGE ("timestamp");

CREATE TABLE logs_default PARTITION OF logs DEFAULT;

INSERT INTO logs SELECT id, "timestamp", level, message, source, organization_id, trace_id, metadata, received_at
FROM logs_unpartitioned;
DROP TABLE logs_unpartitioned;

CREATE INDEX logs_timestamp_idx ON logs ("timestamp" DESC, id DESC);
CREATE INDEX logs_level_timestamp_idx ON logs (level, "timestamp" DESC, id DESC);
CREATE INDEX logs_source_timestamp_idx ON logs (source, "timestamp" DESC, id DESC);
CREATE INDEX logs_organization_timestamp_idx ON logs (organization_id, "timestamp" DESC, id DESC);
CREATE INDEX logs_message_fts_idx ON logs USING gin (to_tsvector('simple', message));
