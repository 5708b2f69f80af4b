//! Instances: listing, creation (idempotent per client id), import, versioned update, soft delete and restore.

use super::*;

impl Store {
    /// The instances of an image in drawing order (z, then id).
    pub async fn list_instances(
        &self,
        image_id: i64,
        include_deleted: bool,
    ) -> Result<Vec<Instance>> {
        Ok(sqlx::query_as::<_, Instance>(
            "SELECT * FROM instances WHERE image_id = $1 AND (deleted = FALSE OR $2) ORDER BY z, id",
        )
        .bind(image_id)
        .bind(include_deleted)
        .fetch_all(&self.read)
        .await?)
    }

    /// Every live instance of a project (for export), by image then id.
    pub async fn project_instances(&self, project_id: i64) -> Result<Vec<Instance>> {
        Ok(sqlx::query_as::<_, Instance>(
            "SELECT i.* FROM instances i JOIN images m ON m.id = i.image_id \
             WHERE m.project_id = $1 AND i.deleted = FALSE ORDER BY i.image_id, i.id",
        )
        .bind(project_id)
        .fetch_all(&self.read)
        .await?)
    }

    pub async fn instance(&self, id: i64) -> Result<Instance> {
        sqlx::query_as::<_, Instance>("SELECT * FROM instances WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "instance",
                id,
            })
    }

    /// Creates an instance. With a `client_id` already used on that image, returns the
    /// existing instance and `false` instead (a retried request creates no duplicate).
    pub async fn create_instance(
        &self,
        new: NewInstance,
        author: &str,
    ) -> Result<(Instance, bool)> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        if let Some(cid) = &new.client_id {
            if let Some(i) = sqlx::query_as::<_, Instance>(
                "SELECT * FROM instances WHERE image_id = $1 AND client_id = $2",
            )
            .bind(new.image_id)
            .bind(cid)
            .fetch_optional(&mut *tx)
            .await?
            {
                return Ok((i, false));
            }
        }
        let inst = insert_instance(&mut tx, &new, &author, "create").await?;
        tx.commit().await?;
        Ok((inst, true))
    }

    /// Creates many instances in one transaction (history action `import`).
    pub async fn import_instances(
        &self,
        news: &[NewInstance],
        author: &str,
    ) -> Result<Vec<Instance>> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(news.len());
        for n in news {
            out.push(insert_instance(&mut tx, n, &author, "import").await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Applies `patch` if `version` is current and the instance is not deleted.
    pub async fn update_instance(
        &self,
        id: i64,
        version: i64,
        patch: InstancePatch,
        author: &str,
    ) -> Result<Instance> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let before = get_instance_tx(&mut tx, id).await?;
        check_instance_version(&before, version)?;
        if before.deleted {
            return Err(StoreError::Gone(format!(
                "instance {id} was deleted by {} at {}; restore it first (POST /api/instances/{id}/restore)",
                before.updated_by, before.updated_at
            )));
        }
        let mut next = before.clone();
        if let Some(c) = patch.category_id {
            check_category_for_image(&mut tx, before.image_id, c).await?;
            next.category_id = c;
        }
        if let Some((rle, area, bbox)) = patch.mask {
            next.rle = Json(rle);
            next.area = area;
            next.bbox = Json(bbox);
        }
        if let Some(s) = patch.score {
            next.score = s;
        }
        if let Some(p) = patch.prompts {
            next.prompts = Json(p);
        }
        if let Some(z) = patch.z {
            next.z = z;
        }
        if let Some(a) = patch.attributes {
            next.attributes = Json(serde_json::Value::Object(check_attributes(&a)?));
        }
        let after = write_instance(&mut tx, &before, &next, "update", &author).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Soft-deletes an instance if `version` is current.
    pub async fn delete_instance(&self, id: i64, version: i64, author: &str) -> Result<Instance> {
        self.set_deleted(id, version, true, author).await
    }

    /// Undoes a delete if `version` (the deleted row's) is current.
    pub async fn restore_instance(&self, id: i64, version: i64, author: &str) -> Result<Instance> {
        self.set_deleted(id, version, false, author).await
    }

    async fn set_deleted(
        &self,
        id: i64,
        version: i64,
        deleted: bool,
        author: &str,
    ) -> Result<Instance> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let before = get_instance_tx(&mut tx, id).await?;
        check_instance_version(&before, version)?;
        if before.deleted == deleted {
            return Err(StoreError::Invalid(format!(
                "instance {id} is already {}",
                if deleted {
                    "deleted"
                } else {
                    "live (not deleted)"
                }
            )));
        }
        let mut next = before.clone();
        next.deleted = deleted;
        let action = if deleted { "delete" } else { "restore" };
        let after = write_instance(&mut tx, &before, &next, action, &author).await?;
        tx.commit().await?;
        Ok(after)
    }
}

pub(super) fn check_instance_version(before: &Instance, version: i64) -> Result<()> {
    if before.version != version {
        return Err(conflict(
            "instance",
            before.id,
            version,
            before.version,
            &before.updated_by,
            &before.updated_at,
            before,
        ));
    }
    Ok(())
}

async fn insert_instance(
    tx: &mut Transaction<'_, Any>,
    new: &NewInstance,
    author: &str,
    action: &str,
) -> Result<Instance> {
    let project_id = check_category_for_image(tx, new.image_id, new.category_id).await?;
    // An instance made by an annotator with an assignment on the image is theirs there.
    let assignment = assignments::assignment_of_author(tx, new.image_id, author).await?;
    assignments::check_unlocked(tx, new.image_id, assignment.as_ref().map(|a| a.id)).await?;
    if let Some(a) = &assignment {
        assignments::start_on_change(tx, a, author).await?;
    }
    let at = now();
    let inst = sqlx::query_as::<_, Instance>(
        "INSERT INTO instances (image_id, category_id, rle, area, bbox, score, prompts, client_id, \
         author, created_at, updated_at, updated_by, version, deleted, z, attributes, assignment_id) \
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $13 THEN $6 ELSE NULL END, $7, $8, $9, $10, $10, \
         $9, 1, FALSE, \
         (SELECT COALESCE(MAX(z), 0) FROM instances WHERE image_id = $1 AND deleted = FALSE), \
         $11, $12) RETURNING *",
    )
    .bind(new.image_id)
    .bind(new.category_id)
    .bind(Json(&new.rle))
    .bind(new.area)
    .bind(Json(new.bbox))
    .bind(new.score.unwrap_or(0.0))
    .bind(Json(&new.prompts))
    .bind(&new.client_id)
    .bind(author)
    .bind(&at)
    .bind(Json(serde_json::Value::Object(check_attributes(&new.attributes)?)))
    .bind(assignment.map(|a| a.id))
    .bind(new.score.is_some())
    .fetch_one(&mut **tx)
    .await?;
    log(
        tx,
        project_id,
        "instance",
        inst.id,
        Some(inst.image_id),
        action,
        author,
        &at,
        1,
        None,
        Some(to_json(&inst)),
    )
    .await?;
    Ok(inst)
}

/// Writes `next`'s editable fields over `before` (version + 1) and logs the change.
pub(super) async fn write_instance(
    tx: &mut Transaction<'_, Any>,
    before: &Instance,
    next: &Instance,
    action: &str,
    author: &str,
) -> Result<Instance> {
    assignments::check_unlocked(tx, before.image_id, before.assignment_id).await?;
    if let Some(a) = assignments::assignment_of_author(tx, before.image_id, author).await? {
        if before.assignment_id == Some(a.id) {
            assignments::start_on_change(tx, &a, author).await?;
        }
    }
    let at = now();
    let after = sqlx::query_as::<_, Instance>(
        "UPDATE instances SET category_id = $1, rle = $2, area = $3, bbox = $4, \
         score = CASE WHEN $14 THEN $5 ELSE NULL END, prompts = $6, deleted = $7, \
         updated_at = $8, updated_by = $9, z = $12, attributes = $13, \
         version = version + 1 WHERE id = $10 AND version = $11 RETURNING *",
    )
    .bind(next.category_id)
    .bind(&next.rle)
    .bind(next.area)
    .bind(next.bbox)
    .bind(next.score.unwrap_or(0.0))
    .bind(&next.prompts)
    .bind(next.deleted)
    .bind(&at)
    .bind(author)
    .bind(before.id)
    .bind(before.version)
    .bind(next.z)
    .bind(&next.attributes)
    .bind(next.score.is_some())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| {
        // Unreachable with the single writer connection; kept as a guard for backends
        // with concurrent writers.
        conflict(
            "instance",
            before.id,
            before.version,
            before.version + 1,
            "another annotator",
            &at,
            before,
        )
    })?;
    let image = get_image_tx(tx, before.image_id).await?;
    log(
        tx,
        image.project_id,
        "instance",
        before.id,
        Some(before.image_id),
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

#[cfg(test)]
mod z_order_tests {
    use super::*;
    use serde_json::json;

    async fn store_with_image(
        backend: Backend,
    ) -> Option<(tempfile::TempDir, Store, Image, Category)> {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::test_store(backend, dir.path()).await?;
        let p = store.ensure_project("z", "/tmp/z", "alice").await.unwrap();
        let img = NewImage {
            path: "a.jpg".into(),
            width: 4,
            height: 3,
            content_hash: "h1".into(),
        };
        store.sync_images(p.id, &[img], "scan").await.unwrap();
        let img = store.list_images(p.id).await.unwrap().remove(0);
        let cat = store.list_categories(p.id).await.unwrap().remove(0);
        Some((dir, store, img, cat))
    }

    fn new_inst(image: &Image, cat: &Category) -> NewInstance {
        NewInstance {
            image_id: image.id,
            category_id: cat.id,
            rle: json!({"size": [3, 4], "counts": [0, 2, 10]}),
            area: 2,
            bbox: [0.0, 0.0, 1.0, 2.0],
            score: None,
            prompts: json!({}),
            client_id: None,
            attributes: serde_json::Value::Null,
        }
    }

    async fn z_orders_the_list_is_versioned_and_new_instances_go_on_top(backend: Backend) {
        let Some((_d, store, img, cat)) = store_with_image(backend).await else {
            return;
        };
        let project_id = img.project_id;
        let mut ids = Vec::new();
        for _ in 0..3 {
            let (i, _) = store
                .create_instance(new_inst(&img, &cat), "a")
                .await
                .unwrap();
            assert_eq!(i.z, 0);
            ids.push(i.id);
        }
        let order = |list: Vec<Instance>| list.iter().map(|i| i.id).collect::<Vec<_>>();
        assert_eq!(
            order(store.list_instances(img.id, false).await.unwrap()),
            ids
        );
        // Bring the first to the front: a versioned, logged update like any other.
        let z = InstancePatch {
            z: Some(1),
            ..Default::default()
        };
        let front = store.update_instance(ids[0], 1, z, "b").await.unwrap();
        assert_eq!((front.z, front.version), (1, 2));
        assert_eq!(
            order(store.list_instances(img.id, false).await.unwrap()),
            [ids[1], ids[2], ids[0]]
        );
        let stale = InstancePatch {
            z: Some(-1),
            ..Default::default()
        };
        assert!(matches!(
            store.update_instance(ids[0], 1, stale, "c").await,
            Err(StoreError::Conflict(_))
        ));
        let log = store
            .history(
                project_id,
                &HistoryQuery {
                    entity: Some("instance".into()),
                    entity_id: Some(ids[0]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let last = log.iter().max_by_key(|e| e.id).unwrap();
        assert_eq!(last.after.as_ref().unwrap().0["z"], 1);
        // Other edits keep z; a new instance starts at the highest, so it is drawn on top.
        let relabel = InstancePatch {
            score: Some(Some(0.5)),
            ..Default::default()
        };
        assert_eq!(
            store
                .update_instance(ids[0], 2, relabel, "b")
                .await
                .unwrap()
                .z,
            1
        );
        let (newest, _) = store
            .create_instance(new_inst(&img, &cat), "a")
            .await
            .unwrap();
        assert_eq!(newest.z, 1);
        assert_eq!(
            order(store.list_instances(img.id, false).await.unwrap()),
            [ids[1], ids[2], ids[0], newest.id]
        );
    }

    on_both_backends!(z_orders_the_list_is_versioned_and_new_instances_go_on_top);
}
