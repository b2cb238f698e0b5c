-- The transaction that recorded each count delta. When the live counts are rebuilt from the rows
-- (their changelog gone with a dev broker that came back empty), the rebuild reads the rows in one
-- snapshot and keeps it: a delta whose transaction that snapshot saw committed is already in the
-- count, and the count agent leaves it out (app/domain/counting.py, Snapshot).
ALTER TABLE count_deltas ADD COLUMN IF NOT EXISTS recorded_by xid8 NOT NULL DEFAULT pg_current_xact_id();
