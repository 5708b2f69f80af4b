//! Images: syncing with a folder scan, listing, review status.

use super::*;

impl Store {
    /// Brings the image table in line with a folder scan: adds new files, updates
    /// changed ones (size/hash), flags those no longer `present` as missing (their
    /// annotations are kept) and clears the flag of those back. One transaction.
    pub async fn sync_images(
        &self,
        project_id: i64,
        present: &[NewImage],
        author: &str,
    ) -> Result<SyncReport> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query_as::<_, Image>(&format!("{IMAGE_SELECT} WHERE project_id = $1"))
            .bind(project_id)
            .fetch_all(&mut *tx)
            .await?;
        let by_path: std::collections::HashMap<&str, &Image> =
            existing.iter().map(|i| (i.path.as_str(), i)).collect();
        let mut report = SyncReport::default();
        let at = now();
        let mut seen = std::collections::HashSet::new();
        for n in present {
            seen.insert(n.path.as_str());
            match by_path.get(n.path.as_str()) {
                None => {
                    let img = sqlx::query_as::<_, Image>(
                        "INSERT INTO images (project_id, path, width, height, content_hash, status, missing, \
                         version, created_at, updated_at, updated_by) \
                         VALUES ($1, $2, $3, $4, $5, 'todo', FALSE, 1, $6, $6, $7) RETURNING *",
                    )
                    .bind(project_id)
                    .bind(&n.path)
                    .bind(n.width)
                    .bind(n.height)
                    .bind(&n.content_hash)
                    .bind(&at)
                    .bind(&author)
                    .fetch_one(&mut *tx)
                    .await?;
                    log(
                        &mut tx,
                        project_id,
                        "image",
                        img.id,
                        Some(img.id),
                        "create",
                        &author,
                        &at,
                        1,
                        None,
                        Some(to_json(&img)),
                    )
                    .await?;
                    report.added += 1;
                }
                Some(old) => {
                    let changed = old.width != n.width
                        || old.height != n.height
                        || old.content_hash != n.content_hash;
                    if !changed && !old.missing {
                        continue;
                    }
                    let img = sqlx::query_as::<_, Image>(
                        "UPDATE images SET width = $1, height = $2, content_hash = $3, missing = FALSE, \
                         pixel_hash = CASE WHEN content_hash = $3 THEN pixel_hash ELSE NULL END, \
                         version = version + 1, updated_at = $4, updated_by = $5 WHERE id = $6 RETURNING *",
                    )
                    .bind(n.width)
                    .bind(n.height)
                    .bind(&n.content_hash)
                    .bind(&at)
                    .bind(&author)
                    .bind(old.id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let action = if changed {
                        "file_changed"
                    } else {
                        "file_returned"
                    };
                    log(
                        &mut tx,
                        project_id,
                        "image",
                        img.id,
                        Some(img.id),
                        action,
                        &author,
                        &at,
                        img.version,
                        Some(to_json(old)),
                        Some(to_json(&img)),
                    )
                    .await?;
                    if old.missing {
                        report.returned += 1;
                    }
                    if changed {
                        report.updated += 1;
                    }
                }
            }
        }
        for old in existing
            .iter()
            .filter(|i| !i.missing && !seen.contains(i.path.as_str()))
        {
            let img = sqlx::query_as::<_, Image>(
                "UPDATE images SET missing = TRUE, version = version + 1, updated_at = $1, updated_by = $2 \
                 WHERE id = $3 RETURNING *",
            )
            .bind(&at)
            .bind(&author)
            .bind(old.id)
            .fetch_one(&mut *tx)
            .await?;
            log(
                &mut tx,
                project_id,
                "image",
                img.id,
                Some(img.id),
                "file_missing",
                &author,
                &at,
                img.version,
                Some(to_json(old)),
                Some(to_json(&img)),
            )
            .await?;
            report.missing += 1;
        }
        tx.commit().await?;
        Ok(report)
    }

    /// The images of a project sorted by path, with live instance counts.
    pub async fn list_images(&self, project_id: i64) -> Result<Vec<Image>> {
        let mut images =
            sqlx::query_as::<_, Image>(&format!("{IMAGE_SELECT} WHERE project_id = $1"))
                .bind(project_id)
                .fetch_all(&self.read)
                .await?;
        // Sorted here, by bytes: PostgreSQL's ORDER BY follows the database's collation.
        images.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(images)
    }

    pub async fn image(&self, id: i64) -> Result<Image> {
        sqlx::query_as::<_, Image>(&format!("{IMAGE_SELECT} WHERE images.id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "image",
                id,
            })
    }

    /// Records the engine's pixel hash of an image (a cache key, not a user change: no
    /// version bump, no history).
    pub async fn set_pixel_hash(&self, id: i64, hash: &str) -> Result<()> {
        sqlx::query("UPDATE images SET pixel_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Sets an image's review status if `version` is current.
    pub async fn set_image_status(
        &self,
        id: i64,
        status: ImageStatus,
        version: i64,
        author: &str,
    ) -> Result<Image> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let before = get_image_tx(&mut tx, id).await?;
        if before.version != version {
            return Err(conflict(
                "image",
                id,
                version,
                before.version,
                &before.updated_by,
                &before.updated_at,
                &before,
            ));
        }
        let after = write_image_status(&mut tx, &before, status, "status", &author).await?;
        tx.commit().await?;
        Ok(after)
    }
}

pub(super) async fn write_image_status(
    tx: &mut Transaction<'_, Any>,
    before: &Image,
    status: ImageStatus,
    action: &str,
    author: &str,
) -> Result<Image> {
    let at = now();
    sqlx::query(
        "UPDATE images SET status = $1, version = version + 1, updated_at = $2, updated_by = $3 WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(&at)
    .bind(author)
    .bind(before.id)
    .execute(&mut **tx)
    .await?;
    let after = get_image_tx(tx, before.id).await?;
    log(
        tx,
        before.project_id,
        "image",
        before.id,
        Some(before.id),
        action,
        author,
        &at,
        after.version,
        Some(to_json(before)),
        Some(to_json(&after)),
    )
    .await?;
    Ok(after)
}
