//! The append-only history: queries, and restoring a past state as a new change.

use super::categories::write_category;
use super::images::write_image_status;
use super::instances::{check_instance_version, write_instance};
use super::*;

impl Store {
    /// History entries of a project matching `q`.
    pub async fn history(&self, project_id: i64, q: &HistoryQuery) -> Result<Vec<HistoryEntry>> {
        let mut q_sql = Select::new("SELECT * FROM history WHERE ");
        q_sql.bind("project_id = ", project_id)?;
        if let Some(i) = q.image_id {
            q_sql.bind(" AND image_id = ", i)?;
        }
        if let Some(e) = &q.entity {
            q_sql.bind(" AND entity = ", e.clone())?;
        }
        if let Some(e) = q.entity_id {
            q_sql.bind(" AND entity_id = ", e)?;
        }
        if let Some(s) = q.since {
            q_sql.bind(" AND id > ", s)?.push(" ORDER BY id ASC");
        } else {
            q_sql.push(" ORDER BY id DESC");
        }
        q_sql.bind(" LIMIT ", q.limit.unwrap_or(100).clamp(1, 1000))?;
        q_sql.fetch_all(&self.read).await
    }

    /// The id of the newest history entry of a project (0 when none).
    pub async fn last_history_id(&self, project_id: i64) -> Result<i64> {
        let (n,) = sqlx::query_as::<_, (Option<i64>,)>(
            "SELECT MAX(id) FROM history WHERE project_id = $1",
        )
        .bind(project_id)
        .fetch_one(&self.read)
        .await?;
        Ok(n.unwrap_or(0))
    }

    pub async fn history_entry(&self, id: i64) -> Result<HistoryEntry> {
        sqlx::query_as::<_, HistoryEntry>("SELECT * FROM history WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "history entry",
                id,
            })
    }

    /// Puts the entity of history entry `entry_id` back into its state right after that
    /// entry, as a new change (action `restore`). `version` is the entity's version the
    /// caller read: a stale one is a [`StoreError::Conflict`] and writes nothing.
    pub async fn restore_from_history(
        &self,
        entry_id: i64,
        version: i64,
        author: &str,
    ) -> Result<Restored> {
        let author = normalize_author(author);
        let entry = self.history_entry(entry_id).await?;
        let after = entry.after.as_ref().map(|j| j.0.clone()).ok_or_else(|| {
            StoreError::Invalid(format!("history entry {entry_id} has no state to restore"))
        })?;
        let parse_err = |source| StoreError::Json {
            what: "history",
            source,
        };
        let id = entry.entity_id;
        let mut tx = self.begin_write().await?;
        let restored = match entry.entity.as_str() {
            "instance" => {
                let target: Instance = serde_json::from_value(after).map_err(parse_err)?;
                let before = get_instance_tx(&mut tx, id).await?;
                check_instance_version(&before, version)?;
                let mut next = before.clone();
                next.category_id = target.category_id;
                next.rle = target.rle;
                next.area = target.area;
                next.bbox = target.bbox;
                next.score = target.score;
                next.prompts = target.prompts;
                next.attributes = target.attributes;
                next.deleted = target.deleted;
                Restored::Instance(
                    write_instance(&mut tx, &before, &next, "restore", &author).await?,
                )
            }
            "image" => {
                let target: Image = serde_json::from_value(after).map_err(parse_err)?;
                let before = get_image_tx(&mut tx, id).await?;
                if version != before.version {
                    let v = version;
                    return Err(conflict(
                        "image",
                        id,
                        v,
                        before.version,
                        &before.updated_by,
                        &before.updated_at,
                        &before,
                    ));
                }
                let status = ImageStatus::parse(&target.status).unwrap_or(ImageStatus::Todo);
                Restored::Image(
                    write_image_status(&mut tx, &before, status, "restore", &author).await?,
                )
            }
            "category" => {
                let target: Category = serde_json::from_value(after).map_err(parse_err)?;
                let before = get_category_tx(&mut tx, id).await?;
                if version != before.version {
                    let v = version;
                    return Err(conflict(
                        "category",
                        id,
                        v,
                        before.version,
                        &before.updated_by,
                        &before.updated_at,
                        &before,
                    ));
                }
                Restored::Category(
                    write_category(
                        &mut tx,
                        &before,
                        &target.name,
                        &target.color,
                        "restore",
                        &author,
                    )
                    .await?,
                )
            }
            "project" => {
                let target: Project = serde_json::from_value(after).map_err(parse_err)?;
                let before = get_project_tx(&mut tx, id).await?;
                if version != before.version {
                    let v = version;
                    return Err(conflict(
                        "project",
                        id,
                        v,
                        before.version,
                        &before.updated_by,
                        &before.updated_at,
                        &before,
                    ));
                }
                Restored::Project(
                    self.write_project(&mut tx, &before, &target.guidelines, "restore", &author)
                        .await?,
                )
            }
            other => {
                return Err(StoreError::Invalid(format!(
                    "history entry {entry_id} is about a {other}, which cannot be restored"
                )))
            }
        };
        tx.commit().await?;
        Ok(restored)
    }
}
