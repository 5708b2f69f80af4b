//! Categories: listing (in the project's order), creation, renaming and recolouring,
//! reordering, deletion (its instances moved to another category), lookup by name for
//! importers.

use super::instances::write_instance;
use super::*;

impl Store {
    /// Categories of a project in its order (position, then id), with live instance counts.
    pub async fn list_categories(&self, project_id: i64) -> Result<Vec<Category>> {
        Ok(sqlx::query_as::<_, Category>(&format!(
            "{CATEGORY_SELECT} WHERE project_id = $1 ORDER BY position, id"
        ))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?)
    }

    pub async fn category(&self, id: i64) -> Result<Category> {
        sqlx::query_as::<_, Category>(&format!("{CATEGORY_SELECT} WHERE categories.id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "category",
                id,
            })
    }

    /// Creates a category; the name must be unique (case-insensitive) in the project.
    /// Without a colour, the next palette colour is used.
    pub async fn create_category(
        &self,
        project_id: i64,
        name: &str,
        color: Option<&str>,
        author: &str,
    ) -> Result<Category> {
        let author = normalize_author(author);
        let name = check_name(name)?;
        let mut tx = self.begin_write().await?;
        get_project_tx(&mut tx, project_id).await?;
        let c = create_category_tx(&mut tx, project_id, &name, color, &author, "create").await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Renames and/or recolours a category if `version` is current.
    pub async fn update_category(
        &self,
        id: i64,
        version: i64,
        name: Option<&str>,
        color: Option<&str>,
        author: &str,
    ) -> Result<Category> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let before = get_category_tx(&mut tx, id).await?;
        if before.version != version {
            return Err(conflict(
                "category",
                id,
                version,
                before.version,
                &before.updated_by,
                &before.updated_at,
                &before,
            ));
        }
        let name = match name {
            Some(n) => check_name(n)?,
            None => before.name.clone(),
        };
        let color = match color {
            Some(c) => check_color(c)?,
            None => before.color.clone(),
        };
        let after = write_category(&mut tx, &before, &name, &color, "update", &author).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Puts the project's categories in the order of `ids` (every category of the project,
    /// each once). Categories whose place changes get a new version and a `reorder` history
    /// entry; the others are untouched. Returns the categories in their new order.
    pub async fn reorder_categories(
        &self,
        project_id: i64,
        ids: &[i64],
        author: &str,
    ) -> Result<Vec<Category>> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let current = sqlx::query_as::<_, Category>(&format!(
            "{CATEGORY_SELECT} WHERE project_id = $1 ORDER BY position, id"
        ))
        .bind(project_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut wanted = ids.to_vec();
        wanted.sort_unstable();
        let mut have: Vec<i64> = current.iter().map(|c| c.id).collect();
        have.sort_unstable();
        if wanted != have {
            return Err(StoreError::Invalid(format!(
                "give every category id of the project exactly once (have {have:?}, got {ids:?}); \
                 list them with GET /api/categories"
            )));
        }
        let at = now();
        for (k, &id) in ids.iter().enumerate() {
            let position = k as i64 + 1;
            let before = current.iter().find(|c| c.id == id).expect("checked above");
            if before.position == position {
                continue;
            }
            sqlx::query(
                "UPDATE categories SET position = $1, version = version + 1, updated_at = $2, \
                 updated_by = $3 WHERE id = $4",
            )
            .bind(position)
            .bind(&at)
            .bind(&author)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let after = get_category_tx(&mut tx, id).await?;
            log(
                &mut tx,
                project_id,
                "category",
                id,
                None,
                "reorder",
                &author,
                &at,
                after.version,
                Some(to_json(before)),
                Some(to_json(&after)),
            )
            .await?;
        }
        let out = sqlx::query_as::<_, Category>(&format!(
            "{CATEGORY_SELECT} WHERE project_id = $1 ORDER BY position, id"
        ))
        .bind(project_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Deletes a category if `version` is current. Its instances (deleted ones too, so
    /// they can still be restored) move to `reassign_to`, each a history `update`; without
    /// `reassign_to` a category that has instances is refused. The last category of a
    /// project cannot be deleted. Returns the deleted row and how many live instances moved.
    pub async fn delete_category(
        &self,
        id: i64,
        version: i64,
        reassign_to: Option<i64>,
        author: &str,
    ) -> Result<(Category, i64)> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let before = get_category_tx(&mut tx, id).await?;
        if before.version != version {
            return Err(conflict(
                "category",
                id,
                version,
                before.version,
                &before.updated_by,
                &before.updated_at,
                &before,
            ));
        }
        let (others,) = sqlx::query_as::<_, (i64,)>(
            "SELECT COUNT(*) FROM categories WHERE project_id = $1 AND id <> $2",
        )
        .bind(before.project_id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if others == 0 {
            return Err(StoreError::Invalid(format!(
                "category {:?} is the project's only category; create another one first",
                before.name
            )));
        }
        let instance_ids = sqlx::query_as::<_, (i64,)>(
            "SELECT id FROM instances WHERE category_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let mut moved = 0;
        if !instance_ids.is_empty() {
            let target = match reassign_to {
                Some(t) if t == id => {
                    return Err(StoreError::Invalid(
                        "reassign_to must be another category than the one deleted".into(),
                    ))
                }
                Some(t) => get_category_tx(&mut tx, t)
                    .await
                    .ok()
                    .filter(|c| c.project_id == before.project_id)
                    .ok_or_else(|| {
                        StoreError::Invalid(format!(
                            "reassign_to: category {t} does not exist in this project"
                        ))
                    })?,
                None => {
                    return Err(StoreError::Invalid(format!(
                        "category {:?} has {} instance(s); give reassign_to (the category \
                         they move to) to delete it",
                        before.name, before.instance_count
                    )))
                }
            };
            for (iid,) in instance_ids {
                let inst = get_instance_tx(&mut tx, iid).await?;
                let mut next = inst.clone();
                next.category_id = target.id;
                write_instance(&mut tx, &inst, &next, "update", &author).await?;
                moved += i64::from(!inst.deleted);
            }
        }
        sqlx::query("DELETE FROM categories WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        log(
            &mut tx,
            before.project_id,
            "category",
            id,
            None,
            "delete",
            &author,
            &now(),
            before.version + 1,
            Some(to_json(&before)),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok((before, moved))
    }

    /// Finds or creates a category by name (case-insensitive), for importers.
    pub async fn category_by_name(
        &self,
        project_id: i64,
        name: &str,
        author: &str,
    ) -> Result<(Category, bool)> {
        let author = normalize_author(author);
        let name = check_name(name)?;
        let mut tx = self.begin_write().await?;
        if let Some(c) = sqlx::query_as::<_, Category>(&format!(
            "{CATEGORY_SELECT} WHERE project_id = $1 AND name_key = $2"
        ))
        .bind(project_id)
        .bind(name.to_lowercase())
        .fetch_optional(&mut *tx)
        .await?
        {
            return Ok((c, false));
        }
        let c = create_category_tx(&mut tx, project_id, &name, None, &author, "import").await?;
        tx.commit().await?;
        Ok((c, true))
    }
}

async fn create_category_tx(
    tx: &mut Transaction<'_, Any>,
    project_id: i64,
    name: &str,
    color: Option<&str>,
    author: &str,
    action: &str,
) -> Result<Category> {
    let key = name.to_lowercase();
    if let Some((id,)) = sqlx::query_as::<_, (i64,)>(
        "SELECT id FROM categories WHERE project_id = $1 AND name_key = $2",
    )
    .bind(project_id)
    .bind(&key)
    .fetch_optional(&mut **tx)
    .await?
    {
        return Err(StoreError::Duplicate(format!(
            "a category named {name:?} already exists (id {id}); pick another name or use that one"
        )));
    }
    let color = match color {
        Some(c) => check_color(c)?,
        None => {
            let (n,) = sqlx::query_as::<_, (i64,)>(
                "SELECT COUNT(*) FROM categories WHERE project_id = $1",
            )
            .bind(project_id)
            .fetch_one(&mut **tx)
            .await?;
            PALETTE[n as usize % PALETTE.len()].to_string()
        }
    };
    let at = now();
    // Last in the order.
    let c = sqlx::query_as::<_, Category>(
        "INSERT INTO categories (project_id, name, name_key, color, position, version, created_at, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(position), 0) + 1 FROM categories WHERE project_id = $1), \
         1, $5, $5, $6) RETURNING *",
    )
    .bind(project_id)
    .bind(name)
    .bind(&key)
    .bind(&color)
    .bind(&at)
    .bind(author)
    .fetch_one(&mut **tx)
    .await?;
    log(
        tx,
        project_id,
        "category",
        c.id,
        None,
        action,
        author,
        &at,
        1,
        None,
        Some(to_json(&c)),
    )
    .await?;
    Ok(c)
}

pub(super) async fn write_category(
    tx: &mut Transaction<'_, Any>,
    before: &Category,
    name: &str,
    color: &str,
    action: &str,
    author: &str,
) -> Result<Category> {
    let key = name.to_lowercase();
    if let Some((id,)) = sqlx::query_as::<_, (i64,)>(
        "SELECT id FROM categories WHERE project_id = $1 AND name_key = $2 AND id <> $3",
    )
    .bind(before.project_id)
    .bind(&key)
    .bind(before.id)
    .fetch_optional(&mut **tx)
    .await?
    {
        return Err(StoreError::Duplicate(format!(
            "a category named {name:?} already exists (id {id}); pick another name"
        )));
    }
    let at = now();
    sqlx::query(
        "UPDATE categories SET name = $1, name_key = $2, color = $3, version = version + 1, \
         updated_at = $4, updated_by = $5 WHERE id = $6",
    )
    .bind(name)
    .bind(&key)
    .bind(color)
    .bind(&at)
    .bind(author)
    .bind(before.id)
    .execute(&mut **tx)
    .await?;
    let after = get_category_tx(tx, before.id).await?;
    log(
        tx,
        before.project_id,
        "category",
        before.id,
        None,
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
