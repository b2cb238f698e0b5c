-- Volume per minute, organization, source and level, kept by PostgreSQL itself beside logs, so a
-- histogram of a day asks a few hundred thousand counters instead of counting millions of rows
-- (app/domain/histogram.py; measured on 10M rows in bench/RESULTS.md).
--
-- Statement triggers with transition tables keep it exact whatever writes logs: the persist
-- statement's ON CONFLICT DO NOTHING passes only the rows really inserted, a delete takes its rows
-- back, a truncate empties it. Partitions moved or dropped by maintenance (app/storage/partitions.py)
-- bypass the parent's triggers, and that code keeps the counters in step.
--
-- A trigger only appends what its statement added (or took away) to log_volume_delta, which has no
-- key: persist transactions never wait for each other. Adding into log_volume directly made them
-- queue: every batch of the same minute updates the same counters, and a counter updated stays
-- locked until its transaction commits. A worker folds the deltas into log_volume every few seconds
-- (app/storage/volume.py); a reader adds both tables up, so a fold changes no answer.
CREATE TABLE log_volume (
    minute          timestamptz NOT NULL,
    organization_id text        NOT NULL,  -- '' for events of no organization
    source          text        NOT NULL,
    level           text        NOT NULL,
    n               bigint      NOT NULL,
    PRIMARY KEY (minute, organization_id, source, level)
);

CREATE TABLE log_volume_delta (
    minute          timestamptz NOT NULL,
    organization_id text        NOT NULL,
    source          text        NOT NULL,
    level           text        NOT NULL,
    n               bigint      NOT NULL
);

-- The minute by epoch arithmetic, not date_trunc, which would depend on the session's time zone.
CREATE FUNCTION log_volume_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO log_volume_delta (minute, organization_id, source, level, n)
    SELECT to_timestamp(floor(extract(epoch FROM "timestamp") / 60) * 60), coalesce(organization_id, ''), source,
           level, count(*)
    FROM inserted
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END
$$;

CREATE FUNCTION log_volume_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO log_volume_delta (minute, organization_id, source, level, n)
    SELECT to_timestamp(floor(extract(epoch FROM "timestamp") / 60) * 60), coalesce(organization_id, ''), source,
           level, -count(*)
    FROM deleted
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END
$$;

CREATE FUNCTION log_volume_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE log_volume, log_volume_delta;
    RETURN NULL;
END
$$;

-- Triggers first, then the rows already stored: creating a trigger locks out writers until this
-- migration commits, so no row is counted twice or missed.
CREATE TRIGGER log_volume_insert AFTER INSERT ON logs
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION log_volume_add();
CREATE TRIGGER log_volume_delete AFTER DELETE ON logs
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION log_volume_remove();
CREATE TRIGGER log_volume_truncate AFTER TRUNCATE ON logs
    FOR EACH STATEMENT EXECUTE FUNCTION log_volume_clear();

INSERT INTO log_volume (minute, organization_id, source, level, n)
SELECT to_timestamp(floor(extract(epoch FROM "timestamp") / 60) * 60), coalesce(organization_id, ''), source, level,
       count(*)
FROM logs
GROUP BY 1, 2, 3, 4;
