-- logs.dlq indexed for people: list by reason and time, replay by selection.
-- One row per logs.dlq record (its partition and offset); the bytes are kept unchanged.
CREATE TABLE IF NOT EXISTS dead_letters (
    dlq_partition    integer     NOT NULL,
    dlq_offset       bigint      NOT NULL,
    reason           text        NOT NULL,
    detail           text        NOT NULL DEFAULT '',
    source_topic     text        NOT NULL DEFAULT '',
    source_partition integer     NOT NULL DEFAULT -1,
    source_offset    bigint      NOT NULL DEFAULT -1,
    source_timestamp bigint      NOT NULL DEFAULT 0,
    failed_at        timestamptz NOT NULL,
    key              bytea,
    value            bytea       NOT NULL,
    replayed_at      timestamptz,
    replay_count     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (dlq_partition, dlq_offset)
);
CREATE INDEX IF NOT EXISTS dead_letters_failed_idx ON dead_letters (failed_at DESC, dlq_partition DESC, dlq_offset DESC);
CREATE INDEX IF NOT EXISTS dead_letters_reason_failed_idx
    ON dead_letters (reason, failed_at DESC, dlq_partition DESC, dlq_offset DESC);
