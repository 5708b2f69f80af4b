//! `samkit-store`: the database of a samkit annotation project.
//!
//! Data model (see `migrations/`): projects (name, root folder, guidelines markdown),
//! images (path, size, content hash, review status), categories (name, colour),
//! instances (COCO RLE mask as JSON, category, score, the prompts that produced it,
//! author), the window chosen for each volume file, the team's users (role, argon2id password
//! hash), their sessions and failed log-ins, and an append-only `history` of every change with the rows before and after,
//! so any past state can be inspected and restored ([`Store::restore_from_history`]).
//!
//! Several annotators share one project, so every editable row carries a `version`:
//! an update names the version it read and a stale one is refused with
//! [`StoreError::Conflict`] (who changed it, when, and the current row); nothing is ever
//! silently overwritten. Every method returns only after its transaction is committed
//! (SQLite in WAL mode with `synchronous = FULL`), so an acknowledged write survives a
//! crash.
//!
//! Two backends, one set of queries: SQLite (a file beside the project, the default) and
//! PostgreSQL (a team's server, `postgres://…`), through `sqlx`'s `Any` driver with
//! runtime-checked SQL that both accept (`$n` parameters, `RETURNING`, `TRUE`/`FALSE`,
//! text ordering done in Rust) and one migration folder per backend. Writes are
//! serialised on both: SQLite has one writer; on PostgreSQL every write transaction first
//! takes one transaction-level advisory lock, so servers sharing a database check versions
//! and append history exactly as one SQLite writer does.
//!
//! ```no_run
//! # async fn f() -> samkit_store::Result<()> {
//! let store = samkit_store::Store::open_path(std::path::Path::new("project.db")).await?;
//! let project = store.ensure_project("photos", "/home/me/photos", "alice").await?;
//! let cats = store.list_categories(project.id).await?;
//! # Ok(()) }
//! ```

/// Runs each named `async fn NAME(backend: Backend)` test on SQLite and on PostgreSQL
/// (`NAME::sqlite`, `NAME::postgres`).
#[cfg(test)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::Backend::Postgres).await
            }
        }
    )*};
}

mod assignments;
mod attributes;
mod categories;
mod comments;
mod db;
mod error;
mod history;
mod images;
mod instances;
mod login_failures;
mod model;
mod projects;
mod sessions;
mod users;
mod windows;

use std::path::Path;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, AnyPool, Transaction};

pub use assignments::{Assignment, AssignmentQuery, WorkAction, WorkState};
pub use attributes::{check_attributes, BOOLEAN_ATTRIBUTES, MAX_ATTRIBUTES};
pub use comments::Comment;
use db::Select;
pub use db::{is_postgres_url, redact, Backend, DbBool, Json};
pub use error::{ConflictInfo, Result, StoreError};
pub use model::{
    Category, Counts, HistoryEntry, HistoryQuery, Image, ImageStatus, Instance, InstancePatch,
    NewImage, NewInstance, Project, Restored,
};
pub use sessions::{new_token, Session};
pub use users::{
    check_new_password, Role, User, UserPatch, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS,
};
pub use windows::VolumeWindow;

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
    read: AnyPool,
    /// SQLite: one connection (see `db::sqlite_pools`); PostgreSQL: the same pool as `read`.
    write: AnyPool,
    backend: Backend,
}

/// The key of the advisory lock every PostgreSQL write transaction holds ("samk").
const WRITE_LOCK_KEY: i64 = 0x73616d6b;

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
    tx: &mut Transaction<'_, Any>,
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

async fn get_instance_tx(tx: &mut Transaction<'_, Any>, id: i64) -> Result<Instance> {
    sqlx::query_as::<_, Instance>("SELECT * FROM instances WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "instance",
            id,
        })
}

async fn get_image_tx(tx: &mut Transaction<'_, Any>, id: i64) -> Result<Image> {
    sqlx::query_as::<_, Image>(&format!("{IMAGE_SELECT} WHERE images.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "image",
            id,
        })
}

async fn get_category_tx(tx: &mut Transaction<'_, Any>, id: i64) -> Result<Category> {
    sqlx::query_as::<_, Category>(&format!("{CATEGORY_SELECT} WHERE categories.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "category",
            id,
        })
}

async fn get_project_tx(tx: &mut Transaction<'_, Any>, id: i64) -> Result<Project> {
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
    tx: &mut Transaction<'_, Any>,
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
        Self::open_sqlite(&db::sqlite_url(path)?).await
    }

    /// Opens a database by URL: `sqlite:///abs/path.db`, `sqlite:rel.db`, or
    /// `postgres://user:password@host:port/database` (the database is created when
    /// missing, which needs the CREATEDB right; its tables are created or brought up to
    /// date).
    pub async fn open(url: &str) -> Result<Store> {
        if is_postgres_url(url) {
            Self::open_postgres(url).await
        } else if url.starts_with("sqlite:") {
            Self::open_sqlite(url).await
        } else {
            Err(StoreError::Invalid(format!(
                "{:?} is not a database URL: use a file path, sqlite:///path/to/project.db or \
                 postgres://user:password@host:port/database",
                redact(url)
            )))
        }
    }

    async fn open_sqlite(url: &str) -> Result<Store> {
        db::install_drivers();
        let (read, write) = db::sqlite_pools(url).await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        Ok(Store {
            read,
            write,
            backend: Backend::Sqlite,
        })
    }

    async fn open_postgres(url: &str) -> Result<Store> {
        db::install_drivers();
        db::create_postgres_database(url).await?;
        let pool = db::postgres_pool(url).await?;
        // sqlx holds an advisory lock while migrating: servers starting together are safe.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store {
            read: pool.clone(),
            write: pool,
            backend: Backend::Postgres,
        })
    }

    /// Which database server this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction. On SQLite it takes the database's write lock at once; on
    /// PostgreSQL it first waits for the store's advisory
    /// lock (held until commit or rollback), so write transactions run one at a time
    /// across every server sharing the database, as on SQLite: a version read inside is
    /// still current when the write commits, and history ids follow commit order.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        if self.backend == Backend::Sqlite {
            // IMMEDIATE takes SQLite's write lock at once (waiting up to the busy timeout):
            // a deferred transaction that reads and then writes cannot wait for another
            // process's writer and fails with "database is locked" instead.
            return Ok(self.write.begin_with("BEGIN IMMEDIATE").await?);
        }
        let mut tx = self.write.begin().await?;
        {
            // Counted so the statement returns a column type `Any` knows (not `void`).
            sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS held")
                .bind(WRITE_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Closes the connections (waits for them to finish).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// The URL of a new, empty database on `backend` for a test: a file in `dir`, or a new
/// database on the test PostgreSQL server (`None`, the skip recorded, when there is none;
/// see `samkit_testdata::postgres_database`). Open it several times for several handles.
#[cfg(test)]
pub(crate) fn test_url(backend: Backend, dir: &Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite://{}", dir.join("p.db").display())),
        Backend::Postgres => samkit_testdata::postgres_database("samkit-store tests"),
    }
}

/// A new, empty store on `backend` for a test ([`test_url`]; SQLite opened by path).
#[cfg(test)]
pub(crate) async fn test_store(backend: Backend, dir: &Path) -> Option<Store> {
    match backend {
        Backend::Sqlite => Some(Store::open_path(&dir.join("p.db")).await.unwrap()),
        Backend::Postgres => Some(Store::open(&test_url(backend, dir)?).await.unwrap()),
    }
}

#[cfg(test)]
mod backend_tests;
#[cfg(test)]
mod category_tests;
#[cfg(test)]
mod tests;
