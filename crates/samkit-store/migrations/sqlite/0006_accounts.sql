-- Accounts of a team project. No row: a one-person project, whose server gives out a
-- token at start instead of asking for a log-in.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    -- Lowercase name: log-in and uniqueness ignore case.
    name_key TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'reviewer', 'annotator')),
    -- argon2id, PHC string form; the password itself is never stored.
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

-- Signed-in browsers: the SHA-256 of the cookie's token, never the token. A session ends
-- at expires_at, on log-out (revoked), or when its user is disabled or gets a new password.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX sessions_user ON sessions (user_id);
