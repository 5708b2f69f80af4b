-- Failed log-ins, one row per failure and key (`name:<lowercase name>`, `addr:<client
-- address>`), kept for the limiter's window: in the database, so every server sharing it
-- counts the same attempts. Rows older than the window are deleted as new ones come.
CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);
