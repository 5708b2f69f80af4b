//! Projects: creation, guidelines and counts.

use super::*;

impl Store {
    /// The project rooted at `root`, created (with the default category) when absent.
    pub async fn ensure_project(&self, name: &str, root: &str, author: &str) -> Result<Project> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        if let Some(p) = sqlx::query_as::<_, Project>("SELECT * FROM projects WHERE root = $1")
            .bind(root)
            .fetch_optional(&mut *tx)
            .await?
        {
            return Ok(p);
        }
        let at = now();
        let p = sqlx::query_as::<_, Project>(
            "INSERT INTO projects (name, root, guidelines, version, created_at, updated_at, updated_by) \
             VALUES ($1, $2, '', 1, $3, $3, $4) RETURNING *",
        )
        .bind(name)
        .bind(root)
        .bind(&at)
        .bind(&author)
        .fetch_one(&mut *tx)
        .await?;
        log(
            &mut tx,
            p.id,
            "project",
            p.id,
            None,
            "create",
            &author,
            &at,
            1,
            None,
            Some(to_json(&p)),
        )
        .await?;
        let c = sqlx::query_as::<_, Category>(
            "INSERT INTO categories (project_id, name, name_key, color, version, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $2, $3, 1, $4, $4, $5) RETURNING *",
        )
        .bind(p.id)
        .bind(DEFAULT_CATEGORY)
        .bind(PALETTE[0])
        .bind(&at)
        .bind(&author)
        .fetch_one(&mut *tx)
        .await?;
        log(
            &mut tx,
            p.id,
            "category",
            c.id,
            None,
            "create",
            &author,
            &at,
            1,
            None,
            Some(to_json(&c)),
        )
        .await?;
        tx.commit().await?;
        Ok(p)
    }

    /// The first project of the database (a `samkit serve` database holds one).
    pub async fn first_project(&self) -> Result<Option<Project>> {
        Ok(
            sqlx::query_as::<_, Project>("SELECT * FROM projects ORDER BY id LIMIT 1")
                .fetch_optional(&self.read)
                .await?,
        )
    }

    pub async fn project(&self, id: i64) -> Result<Project> {
        sqlx::query_as::<_, Project>("SELECT * FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "project",
                id,
            })
    }

    /// Replaces the guidelines markdown if `version` is current.
    pub async fn set_guidelines(
        &self,
        project_id: i64,
        guidelines: &str,
        version: i64,
        author: &str,
    ) -> Result<Project> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let before = get_project_tx(&mut tx, project_id).await?;
        if before.version != version {
            return Err(conflict(
                "project",
                project_id,
                version,
                before.version,
                &before.updated_by,
                &before.updated_at,
                &before,
            ));
        }
        let after = self
            .write_project(&mut tx, &before, guidelines, "update", &author)
            .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub(super) async fn write_project(
        &self,
        tx: &mut Transaction<'_, Any>,
        before: &Project,
        guidelines: &str,
        action: &str,
        author: &str,
    ) -> Result<Project> {
        let at = now();
        let after = sqlx::query_as::<_, Project>(
            "UPDATE projects SET guidelines = $1, version = version + 1, updated_at = $2, \
             updated_by = $3 WHERE id = $4 RETURNING *",
        )
        .bind(guidelines)
        .bind(&at)
        .bind(author)
        .bind(before.id)
        .fetch_one(&mut **tx)
        .await?;
        log(
            tx,
            before.id,
            "project",
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

    /// Per-status image counts and the number of live instances.
    pub async fn counts(&self, project_id: i64) -> Result<Counts> {
        let rows = sqlx::query_as::<_, (String, DbBool, i64)>(
            "SELECT status, missing, COUNT(*) FROM images WHERE project_id = $1 GROUP BY status, missing",
        )
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        let mut c = Counts::default();
        for (status, DbBool(missing), n) in rows {
            c.images += n;
            if missing {
                c.missing += n;
            }
            match status.as_str() {
                "todo" => c.todo += n,
                "in_progress" => c.in_progress += n,
                "done" => c.done += n,
                _ => c.needs_review += n,
            }
        }
        let (n,) = sqlx::query_as::<_, (i64,)>(
            "SELECT COUNT(*) FROM instances i JOIN images m ON m.id = i.image_id \
             WHERE m.project_id = $1 AND i.deleted = FALSE",
        )
        .bind(project_id)
        .fetch_one(&self.read)
        .await?;
        c.instances = n;
        Ok(c)
    }
}
