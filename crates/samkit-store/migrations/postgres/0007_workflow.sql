-- Review workflow of a team project: an image's work given to an annotator. An image with
-- no row is unassigned; several rows (one per annotator) are an overlap, annotated
-- independently for agreement: each annotator's instances carry their assignment.
CREATE TABLE assignments (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    image_id BIGINT NOT NULL REFERENCES images(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    state TEXT NOT NULL DEFAULT 'assigned'
        CHECK (state IN ('assigned', 'in_progress', 'submitted', 'approved', 'rejected')),
    -- The reviewer's comment of the last rejection (empty otherwise).
    comment TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (image_id, user_id)
);
CREATE INDEX assignments_user ON assignments (user_id);

-- The assignment an instance was made under (NULL: made outside the workflow).
ALTER TABLE instances ADD COLUMN assignment_id BIGINT REFERENCES assignments(id);

-- Review comments on an instance, shown on the canvas.
CREATE TABLE comments (
    id BIGSERIAL PRIMARY KEY,
    image_id BIGINT NOT NULL REFERENCES images(id),
    instance_id BIGINT NOT NULL REFERENCES instances(id),
    text TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX comments_image ON comments (image_id);
