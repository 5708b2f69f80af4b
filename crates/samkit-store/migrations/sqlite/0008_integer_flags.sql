-- The flags become INTEGER columns (0/1), as SQLite stores them anyway: sqlx's `Any`
-- driver, through which the store reaches both SQLite and PostgreSQL, refuses columns
-- declared BOOLEAN on SQLite. Values are kept; each column moves to the end of its table.
ALTER TABLE images ADD COLUMN missing_flag INTEGER NOT NULL DEFAULT 0;
UPDATE images SET missing_flag = missing;
ALTER TABLE images DROP COLUMN missing;
ALTER TABLE images RENAME COLUMN missing_flag TO missing;

ALTER TABLE instances ADD COLUMN deleted_flag INTEGER NOT NULL DEFAULT 0;
UPDATE instances SET deleted_flag = deleted;
ALTER TABLE instances DROP COLUMN deleted;
ALTER TABLE instances RENAME COLUMN deleted_flag TO deleted;

ALTER TABLE users ADD COLUMN disabled_flag INTEGER NOT NULL DEFAULT 0;
UPDATE users SET disabled_flag = disabled;
ALTER TABLE users DROP COLUMN disabled;
ALTER TABLE users RENAME COLUMN disabled_flag TO disabled;

ALTER TABLE sessions ADD COLUMN revoked_flag INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET revoked_flag = revoked;
ALTER TABLE sessions DROP COLUMN revoked;
ALTER TABLE sessions RENAME COLUMN revoked_flag TO revoked;
