-- Instance attributes: a JSON object of name → boolean, number or text (`iscrowd`,
-- `occluded`, free-form keys), exported with the instance (COCO `iscrowd`, `attributes`).
ALTER TABLE instances ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
