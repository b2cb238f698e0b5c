-- field.KEY= filters (app/domain/field_filters.py) are containments, metadata @> ANY(...), which a GIN
-- index with jsonb_path_ops answers: one hash per path to a value, smaller and faster for @> than the
-- default jsonb_ops (which also serves key-exists operators no query here uses). On the partitioned
-- table this is a partitioned index: each daily partition gets its own, and one created later gets it
-- when it is attached (app/storage/partitions.py); its pending list is tuned there as the full-text
-- index's is.
CREATE INDEX logs_metadata_idx ON logs USING gin (metadata jsonb_path_ops);
