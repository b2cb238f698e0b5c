-- The log events, one row per event id.
CREATE TABLE IF NOT EXISTS logs (
    id              uuid        PRIMARY KEY,
    "timestamp"     timestamptz NOT NULL,
    level           text        NOT NULL,
    message         text        NOT NULL,
    source          text        NOT NULL,
    organization_id text,
    trace_id        text,
    metadata        jsonb,
    received_at     timestamptz NOT NULL DEFAULT now()
);

-- Every query is newest first, filtered by one of these, paged by (timestamp, id).
CREATE INDEX IF NOT EXISTS logs_timestamp_idx ON logs ("timestamp" DESC, id DESC);
CREATE INDEX IF NOT EXISTS logs_level_timestamp_idx ON logs (level, "timestamp" DESC, id DESC);
CREATE INDEX IF NOT EXISTS logs_source_timestamp_idx ON logs (source, "timestamp" DESC, id DESC);
CREATE INDEX IF NOT EXISTS logs_organization_timestamp_idx
    ON logs (organization_id, "timestamp" DESC, id DESC);
-- Full-text search; queries must use the same expression to use it.
CREATE INDEX IF NOT EXISTS logs_message_fts_idx ON logs USING gin (to_tsvector('simple', message));
