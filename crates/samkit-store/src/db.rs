//! What the two database backends (SQLite, PostgreSQL) need on top of `sqlx::Any`: a JSON
//! column type, booleans that SQLite stores as integers, a query builder that numbers its
//! placeholders, and the connection set-up of each backend.
//!
//! `sqlx`'s `Any` driver carries only plain values (integers, floats, text, bytes), so
//! JSON columns are text encoded here, and a `BOOLEAN` column read from SQLite (which
//! keeps it as an integer) is accepted as an integer. Its `QueryBuilder` writes `?`
//! placeholders, which PostgreSQL refuses; [`Select`] writes `$n`.
//!
//! Never bind an `Option<f64>` that may be `None`: `Any` sends a missing double as a
//! *float4* null (sqlx 0.8's `AnyArguments::convert_to` swaps Real and Double for nulls),
//! PostgreSQL prepares the statement with a float4 parameter, and the connection's cached
//! statement then refuses the next call's float8 ("incorrect binary data format"). Bind the
//! value (or 0) and whether it is present: `CASE WHEN $present THEN $value ELSE NULL END`.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::any::{
    AnyArguments, AnyConnectOptions, AnyPoolOptions, AnyTypeInfo, AnyTypeInfoKind, AnyValueRef,
};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Any, AnyPool, Arguments, Decode, Encode, Executor, Type, ValueRef};

use crate::{Result, StoreError};

/// A JSON value stored in a text column (both backends).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> Type<Any> for Json<T> {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }
    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'q, T: Serialize> Encode<'q, Any> for Json<T> {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> std::result::Result<IsNull, BoxDynError> {
        <String as Encode<'q, Any>>::encode(serde_json::to_string(&self.0)?, buf)
    }
}

impl<'r, T: DeserializeOwned> Decode<'r, Any> for Json<T> {
    fn decode(value: AnyValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        let text = <String as Decode<'r, Any>>::decode(value)?;
        Ok(Json(serde_json::from_str(&text)?))
    }
}

/// A `BOOLEAN` column: PostgreSQL returns a boolean, SQLite an integer (0 or 1).
/// Row types read it with `#[sqlx(try_from = "DbBool")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbBool(pub bool);

impl From<DbBool> for bool {
    fn from(b: DbBool) -> bool {
        b.0
    }
}

impl Type<Any> for DbBool {
    fn type_info() -> AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }
    fn compatible(ty: &AnyTypeInfo) -> bool {
        ty.kind() == AnyTypeInfoKind::Bool || ty.kind().is_integer()
    }
}

impl<'r> Decode<'r, Any> for DbBool {
    fn decode(value: AnyValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        if value.type_info().kind() == AnyTypeInfoKind::Bool {
            Ok(DbBool(<bool as Decode<'r, Any>>::decode(value)?))
        } else {
            Ok(DbBool(<i64 as Decode<'r, Any>>::decode(value)? != 0))
        }
    }
}

/// A query whose conditions are added at run time, with `$1, $2, …` placeholders (the
/// spelling both backends accept).
pub(crate) struct Select {
    sql: String,
    args: AnyArguments<'static>,
}

impl Select {
    pub(crate) fn new(sql: impl Into<String>) -> Select {
        Select {
            sql: sql.into(),
            args: AnyArguments::default(),
        }
    }

    /// Appends `text` followed by the placeholder of `value`.
    pub(crate) fn bind<T>(&mut self, text: &str, value: T) -> Result<&mut Select>
    where
        T: Encode<'static, Any> + Type<Any> + 'static,
    {
        self.args
            .add(value)
            .map_err(|e| StoreError::Db(sqlx::Error::Encode(e)))?;
        self.sql.push_str(text);
        self.sql.push('$');
        self.sql.push_str(&self.args.len().to_string());
        Ok(self)
    }

    /// Appends `text` as is.
    pub(crate) fn push(&mut self, text: &str) -> &mut Select {
        self.sql.push_str(text);
        self
    }

    pub(crate) async fn fetch_all<R>(self, pool: &AnyPool) -> Result<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        Ok(sqlx::query_as_with::<_, R, _>(&self.sql, self.args)
            .fetch_all(pool)
            .await?)
    }
}

/// Which server a [`crate::Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether `url` names a PostgreSQL database (`postgres://…`, `postgresql://…`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A `sqlite://` URL of a file path, percent-encoded (sqlx decodes it), so folders with
/// spaces, `?` or `#` in their names work.
pub(crate) fn sqlite_url(path: &std::path::Path) -> Result<String> {
    let text = path.to_str().ok_or_else(|| {
        StoreError::Invalid(format!(
            "the database path {} is not valid UTF-8; choose another folder or pass --db",
            path.display()
        ))
    })?;
    let mut url = String::from("sqlite://");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(url)
}

/// SQLite pools: one writer (SQLite allows one anyway, and serialising writes here avoids
/// `SQLITE_BUSY` when a read transaction upgrades) and four read-only readers. WAL and
/// `synchronous = FULL`: an acknowledged write survives a crash.
pub(crate) async fn sqlite_pools(url: &str) -> Result<(AnyPool, AnyPool)> {
    let (base, params) = match url.split_once('?') {
        Some((b, p)) => (b, format!("&{p}")),
        None => (url, String::new()),
    };
    let open_err = |source| StoreError::Open {
        url: url.to_string(),
        source,
    };
    let write_opts: AnyConnectOptions = format!("{base}?mode=rwc{params}")
        .parse()
        .map_err(open_err)?;
    let write = AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                )
                .await?;
                Ok(())
            })
        })
        .connect_with(write_opts)
        .await
        .map_err(open_err)?;
    let read_opts: AnyConnectOptions = format!("{base}?mode=ro{params}")
        .parse()
        .map_err(open_err)?;
    let read = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                    .await?;
                Ok(())
            })
        })
        .connect_lazy_with(read_opts);
    Ok((read, write))
}

/// One PostgreSQL pool for reads and writes.
pub(crate) async fn postgres_pool(url: &str) -> Result<AnyPool> {
    let open_err = |source| StoreError::Open {
        url: redact(url),
        source,
    };
    let opts: AnyConnectOptions = url.parse().map_err(open_err)?;
    AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts)
        .await
        .map_err(open_err)
}

/// Creates the database `url` names when it does not exist. Two servers starting at once
/// may both try: the loser's error is ignored when the database exists afterwards.
pub(crate) async fn create_postgres_database(url: &str) -> Result<()> {
    use sqlx::migrate::MigrateDatabase;
    let open_err = |source| StoreError::Open {
        url: redact(url),
        source,
    };
    if Any::database_exists(url).await.map_err(open_err)? {
        return Ok(());
    }
    match Any::create_database(url).await {
        Ok(()) => Ok(()),
        Err(e) => match Any::database_exists(url).await {
            Ok(true) => Ok(()),
            _ => Err(open_err(e)),
        },
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user_info = &url[s + 3..at];
            match user_info.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Installs sqlx's SQLite and PostgreSQL drivers for `Any` (once per process).
pub(crate) fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when drivers were installed already, which is what is wanted.
        let _ =
            sqlx::any::install_drivers(&[sqlx::sqlite::any::DRIVER, sqlx::postgres::any::DRIVER]);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_are_percent_encoded() {
        assert_eq!(
            sqlite_url(std::path::Path::new("/a b/c?d#e.db")).unwrap(),
            "sqlite:///a%20b/c%3Fd%23e.db"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
