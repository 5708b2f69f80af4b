//! Volume windows: the window/level chosen for a volume file, shared by its slices.
//! A display setting, not an annotation: last write wins, no version, no history.

use super::*;

/// The window chosen for the volume `file` (project-relative) of a project.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct VolumeWindow {
    pub file: String,
    pub center: f64,
    pub width: f64,
    pub updated_at: String,
    pub updated_by: String,
}

impl Store {
    /// Every window chosen in a project.
    pub async fn volume_windows(&self, project_id: i64) -> Result<Vec<VolumeWindow>> {
        let mut rows = sqlx::query_as::<_, VolumeWindow>(
            "SELECT file, center, width, updated_at, updated_by FROM volume_windows \
             WHERE project_id = $1",
        )
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        rows.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(rows)
    }

    /// Sets the window of `file` (`Some((center, width))`) or goes back to the file's
    /// own (`None`). Returns the row now stored, if any.
    pub async fn set_volume_window(
        &self,
        project_id: i64,
        file: &str,
        window: Option<(f64, f64)>,
        author: &str,
    ) -> Result<Option<VolumeWindow>> {
        let Some((center, width)) = window else {
            sqlx::query("DELETE FROM volume_windows WHERE project_id = $1 AND file = $2")
                .bind(project_id)
                .bind(file)
                .execute(&self.write)
                .await?;
            return Ok(None);
        };
        let row = sqlx::query_as::<_, VolumeWindow>(
            "INSERT INTO volume_windows (project_id, file, center, width, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id, file) DO UPDATE SET center = excluded.center, \
             width = excluded.width, updated_at = excluded.updated_at, updated_by = excluded.updated_by \
             RETURNING file, center, width, updated_at, updated_by",
        )
        .bind(project_id)
        .bind(file)
        .bind(center)
        .bind(width)
        .bind(now())
        .bind(normalize_author(author))
        .fetch_one(&self.write)
        .await?;
        Ok(Some(row))
    }
}
