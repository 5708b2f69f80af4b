-- Drawing order of an image's instances: ascending z, ties by id (the later drawn on top).
ALTER TABLE instances ADD COLUMN z BIGINT NOT NULL DEFAULT 0;
