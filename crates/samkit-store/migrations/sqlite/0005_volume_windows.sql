-- The display window (level) chosen for a volume file of a project (DICOM, NIfTI, TIFF
-- stack): every slice of `file` (project-relative, without `#z=`) is windowed with it
-- before it is shown and encoded. No row: the file's own default window.
CREATE TABLE volume_windows (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    file TEXT NOT NULL,
    center REAL NOT NULL,
    width REAL NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (project_id, file)
);
