-- Categories have an order chosen by the annotators (hotkeys 1–9, YOLO class indices, the
-- default category of a new instance): `position`, ascending, ties broken by id.
ALTER TABLE categories ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
UPDATE categories SET position = id;
