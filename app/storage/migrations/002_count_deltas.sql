-- Transactional outbox of count deltas: written in the transaction that
-- inserts a batch's rows, forgotten once the delta is on logs.counts.
CREATE TABLE IF NOT EXISTS count_deltas (
    events_partition integer     NOT NULL,
    end_offset       bigint      NOT NULL,
    delta            jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (events_partition, end_offset)
);
