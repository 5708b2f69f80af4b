use serde::Serialize;

/// Why a stale write was refused: the row's current state and who last changed it.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictInfo {
    pub entity: &'static str,
    pub id: i64,
    pub current_version: i64,
    pub sent_version: i64,
    pub author: String,
    pub updated_at: String,
    /// The row as it is now (same JSON shape as the entity's read).
    pub current: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An update carried a version that is no longer current; nothing was written.
    #[error(
        "{} {} was changed by {} at {} (now version {}, you sent {}); reload it and apply your change again",
        .0.entity, .0.id, .0.author, .0.updated_at, .0.current_version, .0.sent_version
    )]
    Conflict(Box<ConflictInfo>),
    #[error("{entity} {id} does not exist")]
    NotFound { entity: &'static str, id: i64 },
    /// The row was deleted; it must be restored before it can be edited.
    #[error("{0}")]
    Gone(String),
    /// A value the caller sent is not acceptable (the message names it and the fix).
    #[error("{0}")]
    Invalid(String),
    /// Approved work: a reviewer must reopen it before it changes.
    #[error("{0}")]
    Locked(String),
    /// A unique name is already taken.
    #[error("{0}")]
    Duplicate(String),
    #[error("could not open the project database {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not update the project database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("damaged JSON in the database ({what}): {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
