-- samkit project schema v1. Kept to SQL that PostgreSQL also accepts, apart from the
-- primary-key spelling (INTEGER PRIMARY KEY here, BIGSERIAL there); times are RFC 3339
-- UTC text, JSON columns are text.
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    root TEXT NOT NULL UNIQUE,
    guidelines TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    path TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    -- samkit-engine's pixel hash (the embedding cache key), known once encoded.
    pixel_hash TEXT,
    status TEXT NOT NULL DEFAULT 'todo'
        CHECK (status IN ('todo', 'in_progress', 'done', 'needs_review')),
    missing BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (project_id, path)
);

CREATE TABLE IF NOT EXISTS categories (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    color TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (project_id, name_key)
);

CREATE TABLE IF NOT EXISTS instances (
    id INTEGER PRIMARY KEY,
    image_id BIGINT NOT NULL REFERENCES images(id),
    category_id BIGINT NOT NULL REFERENCES categories(id),
    rle TEXT NOT NULL,
    area BIGINT NOT NULL,
    bbox TEXT NOT NULL,
    score DOUBLE PRECISION,
    prompts TEXT NOT NULL,
    client_id TEXT,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (image_id, client_id)
);
CREATE INDEX IF NOT EXISTS instances_image ON instances (image_id);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL,
    entity TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    image_id BIGINT,
    action TEXT NOT NULL,
    author TEXT NOT NULL,
    at TEXT NOT NULL,
    version BIGINT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX IF NOT EXISTS history_entity ON history (entity, entity_id);
CREATE INDEX IF NOT EXISTS history_image ON history (image_id);
