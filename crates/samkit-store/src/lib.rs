//! `samkit-store`: the database of a samkit annotation project.
//!
//! Data model (see `migrations/`): projects (name, root folder, guidelines markdown),
//! images (path, size, content hash, review status), categories (name, colour),
//! instances (COCO RLE mask as JSON, category, score, the prompts that produced it,
//! author) and an append-only `history` of every change with the rows before and after,
//! so any past state can be inspected and restored ([`Store::restore_from_history`]).
//!
//! Several annotators share one project, so every editable row carries a `version`:
//! an update names the version it read and a stale one is refused with
//! [`StoreError::Conflict`] (who changed it, when, and the current row); nothing is ever
//! silently overwritten. Every method returns only after its transaction is committed
//! (SQLite in WAL mode with `synchronous = FULL`), so an acknowledged write survives a
//! crash.
//!
//! The backend is SQLite through `sqlx` with runtime-checked queries written in SQL that
//! PostgreSQL accepts too (`$n` parameters, `RETURNING`, `TRUE`/`FALSE`).
//!
//! ```no_run
//! # async fn f() -> samkit_store::Result<()> {
//! let store = samkit_store::Store::open_path(std::path::Path::new("project.db")).await?;
//! let project = store.ensure_project("photos", "/home/me/photos", "alice").await?;
//! let cats = store.list_categories(project.id).await?;
//! # Ok(()) }
//! ```

mod error;
mod model;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};

pub use error::{ConflictInfo, Result, StoreError};
pub use model::{
    Category, Counts, HistoryEntry, HistoryQuery, Image, ImageStatus, Instance, InstancePatch,
    NewImage, NewInstance, Project, Restored,
};
/// JSON column wrapper used by the row types.
pub use sqlx::types::Json;

/// Colour of the default category and first entries of the palette new categories use.
pub const PALETTE: [&str; 12] = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
    "#fabebe", "#008080", "#e6beff", "#9a6324",
];

/// Name of the category every new project starts with.
pub const DEFAULT_CATEGORY: &str = "object";

const IMAGE_SELECT: &str = "SELECT images.*, (SELECT COUNT(*) FROM instances i \
     WHERE i.image_id = images.id AND i.deleted = FALSE) AS instance_count FROM images";
const CATEGORY_SELECT: &str = "SELECT categories.*, (SELECT COUNT(*) FROM instances i \
     WHERE i.category_id = categories.id AND i.deleted = FALSE) AS instance_count FROM categories";

/// What [`Store::sync_images`] changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    pub added: usize,
    pub updated: usize,
    pub missing: usize,
    pub returned: usize,
}

/// A handle on one project database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    read: SqlitePool,
    /// Writes go through one connection: SQLite allows one writer anyway, and
    /// serialising them here avoids `SQLITE_BUSY` when a read transaction upgrades.
    write: SqlitePool,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Normalises an author name: trimmed, at most 64 characters, `anonymous` when empty.
pub fn normalize_author(author: &str) -> String {
    // Control characters (newlines, escapes, NUL) would forge lines in logs and history
    // views; they are dropped here even when a caller did not refuse them first.
    let a: String = author
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(64)
        .collect();
    if a.is_empty() {
        "anonymous".into()
    } else {
        a
    }
}

fn check_color(color: &str) -> Result<String> {
    let c = color.trim();
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
    if ok {
        Ok(c.to_ascii_lowercase())
    } else {
        Err(StoreError::Invalid(format!(
            "colour {color:?} is not of the form #rrggbb (e.g. \"#e6194b\")"
        )))
    }
}

fn check_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(StoreError::Invalid(
            "a category name must be 1 to 100 characters".into(),
        ));
    }
    Ok(n.to_string())
}

fn conflict<T: Serialize>(
    entity: &'static str,
    id: i64,
    sent: i64,
    current_version: i64,
    author: &str,
    updated_at: &str,
    current: &T,
) -> StoreError {
    StoreError::Conflict(Box::new(ConflictInfo {
        entity,
        id,
        current_version,
        sent_version: sent,
        author: author.to_string(),
        updated_at: updated_at.to_string(),
        current: to_json(current),
    }))
}

#[allow(clippy::too_many_arguments)]
async fn log(
    tx: &mut Transaction<'_, Sqlite>,
    project_id: i64,
    entity: &str,
    entity_id: i64,
    image_id: Option<i64>,
    action: &str,
    author: &str,
    at: &str,
    version: i64,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO history (project_id, entity, entity_id, image_id, action, author, at, \
         version, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(project_id)
    .bind(entity)
    .bind(entity_id)
    .bind(image_id)
    .bind(action)
    .bind(author)
    .bind(at)
    .bind(version)
    .bind(before.map(Json))
    .bind(after.map(Json))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn get_instance_tx(tx: &mut Transaction<'_, Sqlite>, id: i64) -> Result<Instance> {
    sqlx::query_as::<_, Instance>("SELECT * FROM instances WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "instance",
            id,
        })
}

async fn get_image_tx(tx: &mut Transaction<'_, Sqlite>, id: i64) -> Result<Image> {
    sqlx::query_as::<_, Image>(&format!("{IMAGE_SELECT} WHERE images.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "image",
            id,
        })
}

async fn get_category_tx(tx: &mut Transaction<'_, Sqlite>, id: i64) -> Result<Category> {
    sqlx::query_as::<_, Category>(&format!("{CATEGORY_SELECT} WHERE categories.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "category",
            id,
        })
}

async fn get_project_tx(tx: &mut Transaction<'_, Sqlite>, id: i64) -> Result<Project> {
    sqlx::query_as::<_, Project>("SELECT * FROM projects WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "project",
            id,
        })
}

/// The project of an image, checking that `category_id` belongs to the same project.
async fn check_category_for_image(
    tx: &mut Transaction<'_, Sqlite>,
    image_id: i64,
    category_id: i64,
) -> Result<i64> {
    let image = get_image_tx(tx, image_id).await?;
    let cat = sqlx::query_as::<_, (i64,)>("SELECT project_id FROM categories WHERE id = $1")
        .bind(category_id)
        .fetch_optional(&mut **tx)
        .await?;
    match cat {
        Some((pid,)) if pid == image.project_id => Ok(image.project_id),
        _ => Err(StoreError::Invalid(format!(
            "category {category_id} does not exist in this project; list them with GET /api/categories"
        ))),
    }
}

impl Store {
    /// Opens (creating when absent) the SQLite database at `path` and brings its schema
    /// up to date.
    pub async fn open_path(path: &Path) -> Result<Store> {
        let opts = SqliteConnectOptions::new().filename(path);
        Self::open_with(opts, &path.display().to_string()).await
    }

    /// Opens a database by URL (`sqlite:///abs/path.db`, `sqlite:rel.db`).
    pub async fn open(url: &str) -> Result<Store> {
        let opts = SqliteConnectOptions::from_str(url).map_err(|source| StoreError::Open {
            url: url.to_string(),
            source,
        })?;
        Self::open_with(opts, url).await
    }

    async fn open_with(opts: SqliteConnectOptions, url: &str) -> Result<Store> {
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let open_err = |source| StoreError::Open {
            url: url.to_string(),
            source,
        };
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await
            .map_err(open_err)?;
        Ok(Store { read, write })
    }

    /// Closes the connections (waits for them to finish).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    // ---------------------------------------------------------------- projects

    /// The project rooted at `root`, created (with the default category) when absent.
    pub async fn ensure_project(&self, name: &str, root: &str, author: &str) -> Result<Project> {
        let author = normalize_author(author);
        let mut tx = self.write.begin().await?;
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
        let mut tx = self.write.begin().await?;
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

    async fn write_project(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
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
        let rows = sqlx::query_as::<_, (String, bool, i64)>(
            "SELECT status, missing, COUNT(*) FROM images WHERE project_id = $1 GROUP BY status, missing",
        )
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        let mut c = Counts::default();
        for (status, missing, n) in rows {
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

    // ---------------------------------------------------------------- images

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
        let mut tx = self.write.begin().await?;
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
        Ok(sqlx::query_as::<_, Image>(&format!(
            "{IMAGE_SELECT} WHERE project_id = $1 ORDER BY path"
        ))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?)
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
        let mut tx = self.write.begin().await?;
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

    // ---------------------------------------------------------------- categories

    /// Categories of a project by id, with live instance counts.
    pub async fn list_categories(&self, project_id: i64) -> Result<Vec<Category>> {
        Ok(sqlx::query_as::<_, Category>(&format!(
            "{CATEGORY_SELECT} WHERE project_id = $1 ORDER BY id"
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
        let mut tx = self.write.begin().await?;
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
        let mut tx = self.write.begin().await?;
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

    // ---------------------------------------------------------------- instances

    /// The instances of an image by id.
    pub async fn list_instances(
        &self,
        image_id: i64,
        include_deleted: bool,
    ) -> Result<Vec<Instance>> {
        Ok(sqlx::query_as::<_, Instance>(
            "SELECT * FROM instances WHERE image_id = $1 AND (deleted = FALSE OR $2) ORDER BY id",
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
        let mut tx = self.write.begin().await?;
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
        let mut tx = self.write.begin().await?;
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
        let mut tx = self.write.begin().await?;
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
        let mut tx = self.write.begin().await?;
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

    // ---------------------------------------------------------------- history

    /// History entries of a project matching `q`.
    pub async fn history(&self, project_id: i64, q: &HistoryQuery) -> Result<Vec<HistoryEntry>> {
        let mut b: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT * FROM history WHERE project_id = ");
        b.push_bind(project_id);
        if let Some(i) = q.image_id {
            b.push(" AND image_id = ").push_bind(i);
        }
        if let Some(e) = &q.entity {
            b.push(" AND entity = ").push_bind(e.clone());
        }
        if let Some(e) = q.entity_id {
            b.push(" AND entity_id = ").push_bind(e);
        }
        if let Some(s) = q.since {
            b.push(" AND id > ").push_bind(s).push(" ORDER BY id ASC");
        } else {
            b.push(" ORDER BY id DESC");
        }
        b.push(" LIMIT ")
            .push_bind(q.limit.unwrap_or(100).clamp(1, 1000));
        Ok(b.build_query_as::<HistoryEntry>()
            .fetch_all(&self.read)
            .await?)
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
        let mut tx = self.write.begin().await?;
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

fn check_instance_version(before: &Instance, version: i64) -> Result<()> {
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
    tx: &mut Transaction<'_, Sqlite>,
    new: &NewInstance,
    author: &str,
    action: &str,
) -> Result<Instance> {
    let project_id = check_category_for_image(tx, new.image_id, new.category_id).await?;
    let at = now();
    let inst = sqlx::query_as::<_, Instance>(
        "INSERT INTO instances (image_id, category_id, rle, area, bbox, score, prompts, client_id, \
         author, created_at, updated_at, updated_by, version, deleted) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $9, 1, FALSE) RETURNING *",
    )
    .bind(new.image_id)
    .bind(new.category_id)
    .bind(Json(&new.rle))
    .bind(new.area)
    .bind(Json(new.bbox))
    .bind(new.score)
    .bind(Json(&new.prompts))
    .bind(&new.client_id)
    .bind(author)
    .bind(&at)
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
async fn write_instance(
    tx: &mut Transaction<'_, Sqlite>,
    before: &Instance,
    next: &Instance,
    action: &str,
    author: &str,
) -> Result<Instance> {
    let at = now();
    let after = sqlx::query_as::<_, Instance>(
        "UPDATE instances SET category_id = $1, rle = $2, area = $3, bbox = $4, score = $5, \
         prompts = $6, deleted = $7, updated_at = $8, updated_by = $9, version = version + 1 \
         WHERE id = $10 AND version = $11 RETURNING *",
    )
    .bind(next.category_id)
    .bind(&next.rle)
    .bind(next.area)
    .bind(next.bbox)
    .bind(next.score)
    .bind(&next.prompts)
    .bind(next.deleted)
    .bind(&at)
    .bind(author)
    .bind(before.id)
    .bind(before.version)
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

async fn write_image_status(
    tx: &mut Transaction<'_, Sqlite>,
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

async fn create_category_tx(
    tx: &mut Transaction<'_, Sqlite>,
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
    let c = sqlx::query_as::<_, Category>(
        "INSERT INTO categories (project_id, name, name_key, color, version, created_at, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, 1, $5, $5, $6) RETURNING *",
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

async fn write_category(
    tx: &mut Transaction<'_, Sqlite>,
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

/// Finds or creates a category by name (case-insensitive), for importers.
impl Store {
    pub async fn category_by_name(
        &self,
        project_id: i64,
        name: &str,
        author: &str,
    ) -> Result<(Category, bool)> {
        let author = normalize_author(author);
        let name = check_name(name)?;
        let mut tx = self.write.begin().await?;
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

#[cfg(test)]
mod tests;
