-- Nothing to do on PostgreSQL: the SQLite schema's flags become INTEGER columns in this
-- version (see migrations/sqlite); PostgreSQL keeps BOOLEAN.
SELECT 1;
