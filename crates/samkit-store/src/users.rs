//! Accounts: users with a role and an argon2id password hash, their changes in the
//! history (without the hash), and checking a log-in.
//!
//! The hash never leaves this module: rows are returned as [`User`], and a password is
//! only ever compared by [`Store::check_password`]. Hashing costs tens of milliseconds
//! by design, so it runs on a blocking thread.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::*;

/// What a user may do in a project (the server's access table says which requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Users, project settings, categories, guidelines, assignment; everything else too.
    Admin,
    /// Reviews, edits, approves and rejects.
    Reviewer,
    /// Annotates; cannot approve or change the project's settings.
    Annotator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Reviewer, Role::Annotator];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
            Role::Annotator => "annotator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as the store returns it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    name: String,
    role: String,
    password_hash: String,
    #[sqlx(try_from = "crate::DbBool")]
    disabled: bool,
    version: i64,
    created_at: String,
    updated_at: String,
    updated_by: String,
}

impl UserRow {
    pub(crate) fn user(&self) -> User {
        User {
            id: self.id,
            name: self.name.clone(),
            // The column's CHECK allows only the three names.
            role: Role::parse(&self.role).unwrap_or(Role::Annotator),
            disabled: self.disabled,
            version: self.version,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            updated_by: self.updated_by.clone(),
        }
    }
}

/// A change to a user: any of role, disabled.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Shortest password accepted (NIST SP 800-63B's minimum for a chosen password).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted: hashing cost grows with length, and no one types more.
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn check_user_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "user name {name:?} must be 1 to 64 characters without control characters"
        )));
    }
    Ok(n.to_string())
}

/// Refuses a password too short or too long to be set (before anything is changed).
pub fn check_new_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid(format!(
            "the password is too short: use at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::Invalid(format!(
            "the password is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// argon2id with the crate's defaults (OWASP's 19 MiB, 2 passes), on a blocking thread.
async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Invalid(format!("cannot hash the password: {e}")))
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("password hashing stopped: {e}")))?
}

/// Whether `password` matches `hash` (a PHC string), on a blocking thread.
async fn verify_password(password: &str, hash: String) -> bool {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A hash of a password no one has: checked for unknown names, so a log-in with a name
/// that does not exist takes as long as one with a wrong password.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn dummy_hash() -> String {
    if let Some(h) = DUMMY_HASH.get() {
        return h.clone();
    }
    let h = hash_password("samkit: no such user")
        .await
        .unwrap_or_default();
    DUMMY_HASH.get_or_init(|| h).clone()
}

pub(crate) async fn get_user_tx(tx: &mut Transaction<'_, Any>, id: i64) -> Result<UserRow> {
    sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound { entity: "user", id })
}

async fn revoke_sessions_tx(tx: &mut Transaction<'_, Any>, user_id: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET revoked = TRUE WHERE user_id = $1 AND revoked = FALSE")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Adds a user. Names are unique regardless of case.
    pub async fn create_user(
        &self,
        project_id: i64,
        name: &str,
        role: Role,
        password: &str,
        author: &str,
    ) -> Result<User> {
        let author = normalize_author(author);
        let name = check_user_name(name)?;
        check_new_password(password)?;
        let hash = hash_password(password).await?;
        let mut tx = self.begin_write().await?;
        let key = name.to_lowercase();
        let taken = sqlx::query_as::<_, (i64,)>("SELECT id FROM users WHERE name_key = $1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?;
        let (users,) = sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if users == 0 && role != Role::Admin {
            return Err(StoreError::Invalid(format!(
                "the first user must be an admin (someone has to manage the others): \
                 add {name:?} with the role admin"
            )));
        }
        if taken.is_some() {
            return Err(StoreError::Duplicate(format!(
                "a user named {name:?} exists already; pick another name"
            )));
        }
        let at = now();
        let row = sqlx::query_as::<_, UserRow>(
            "INSERT INTO users (name, name_key, role, password_hash, disabled, version, \
             created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, FALSE, 1, $5, $5, $6) \
             RETURNING *",
        )
        .bind(&name)
        .bind(&key)
        .bind(role.as_str())
        .bind(&hash)
        .bind(&at)
        .bind(&author)
        .fetch_one(&mut *tx)
        .await?;
        let user = row.user();
        log(
            &mut tx,
            project_id,
            "user",
            user.id,
            None,
            "create",
            &author,
            &at,
            1,
            None,
            Some(to_json(&user)),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let mut rows = sqlx::query_as::<_, UserRow>("SELECT * FROM users")
            .fetch_all(&self.read)
            .await?;
        rows.sort_by_key(|r| r.name.to_lowercase());
        Ok(rows.iter().map(UserRow::user).collect())
    }

    /// How many users there are (disabled ones too): none means a one-person project.
    pub async fn user_count(&self) -> Result<i64> {
        let (n,) = sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM users")
            .fetch_one(&self.read)
            .await?;
        Ok(n)
    }

    pub async fn user(&self, id: i64) -> Result<User> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| r.user())
            .ok_or(StoreError::NotFound { entity: "user", id })
    }

    /// The user called `name` (any case).
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        Ok(
            sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE name_key = $1")
                .bind(name.trim().to_lowercase())
                .fetch_optional(&self.read)
                .await?
                .map(|r| r.user()),
        )
    }

    /// The enabled user `name` if `password` is theirs; `None` otherwise (unknown name,
    /// wrong password or disabled user alike, in about the same time).
    pub async fn check_password(&self, name: &str, password: &str) -> Result<Option<User>> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        let row = sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE name_key = $1")
            .bind(name.trim().to_lowercase())
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else {
            verify_password(password, dummy_hash().await).await;
            return Ok(None);
        };
        let ok = verify_password(password, row.password_hash.clone()).await;
        Ok((ok && !row.disabled).then(|| row.user()))
    }

    /// Changes a user's role or disabled flag. `version` is the one the caller read.
    /// Disabling ends the user's sessions in the same transaction. The last enabled
    /// admin cannot be demoted or disabled (no one could manage the project after).
    pub async fn update_user(
        &self,
        project_id: i64,
        id: i64,
        version: i64,
        patch: &UserPatch,
        author: &str,
    ) -> Result<User> {
        let author = normalize_author(author);
        let mut tx = self.begin_write().await?;
        let row = get_user_tx(&mut tx, id).await?;
        let before = row.user();
        if version != before.version {
            return Err(conflict(
                "user",
                id,
                version,
                before.version,
                &before.updated_by,
                &before.updated_at,
                &before,
            ));
        }
        let role = patch.role.unwrap_or(before.role);
        let disabled = patch.disabled.unwrap_or(before.disabled);
        let was_admin = before.role == Role::Admin && !before.disabled;
        if was_admin && (role != Role::Admin || disabled) {
            let (admins,) = sqlx::query_as::<_, (i64,)>(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = FALSE",
            )
            .fetch_one(&mut *tx)
            .await?;
            if admins <= 1 {
                return Err(StoreError::Invalid(format!(
                    "{} is the only admin left; make another user admin first",
                    before.name
                )));
            }
        }
        if role == before.role && disabled == before.disabled {
            return Ok(before);
        }
        let at = now();
        let after = sqlx::query_as::<_, UserRow>(
            "UPDATE users SET role = $1, disabled = $2, version = version + 1, updated_at = $3, \
             updated_by = $4 WHERE id = $5 RETURNING *",
        )
        .bind(role.as_str())
        .bind(disabled)
        .bind(&at)
        .bind(&author)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?
        .user();
        if disabled {
            revoke_sessions_tx(&mut tx, id).await?;
        }
        let action = match (before.disabled, disabled) {
            (false, true) => "disable",
            (true, false) => "enable",
            _ => "update",
        };
        log(
            &mut tx,
            project_id,
            "user",
            id,
            None,
            action,
            &author,
            &at,
            after.version,
            Some(to_json(&before)),
            Some(to_json(&after)),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Gives a user a new password and ends their sessions (a reset is what one does
    /// after a password leaked).
    pub async fn set_password(
        &self,
        project_id: i64,
        id: i64,
        password: &str,
        author: &str,
    ) -> Result<User> {
        let author = normalize_author(author);
        check_new_password(password)?;
        let hash = hash_password(password).await?;
        let mut tx = self.begin_write().await?;
        let before = get_user_tx(&mut tx, id).await?.user();
        let at = now();
        let after = sqlx::query_as::<_, UserRow>(
            "UPDATE users SET password_hash = $1, version = version + 1, updated_at = $2, \
             updated_by = $3 WHERE id = $4 RETURNING *",
        )
        .bind(&hash)
        .bind(&at)
        .bind(&author)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?
        .user();
        revoke_sessions_tx(&mut tx, id).await?;
        log(
            &mut tx,
            project_id,
            "user",
            id,
            None,
            "reset_password",
            &author,
            &at,
            after.version,
            Some(to_json(&before)),
            Some(to_json(&after)),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}
