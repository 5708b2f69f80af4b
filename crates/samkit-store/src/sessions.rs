//! Sessions of signed-in users. The browser holds a random token; the database holds
//! its SHA-256, so a copy of the database signs no one in.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::users::UserRow;
use super::*;
use std::time::Duration;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: 32 bytes from the operating system, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A signed-in session: its user (as now) and when it ends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    pub user: User,
    pub expires_at: String,
}

impl Store {
    /// Starts a session of `user_id` lasting `ttl`; returns the token to give the browser.
    /// Expired and revoked sessions are removed on the way (they sign no one in).
    pub async fn create_session(&self, user_id: i64, ttl: Duration) -> Result<(String, Session)> {
        let token = new_token();
        let at = now();
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7));
        let expires_at = (Utc::now() + ttl).to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR revoked = TRUE")
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        let user = users::get_user_tx(&mut tx, user_id).await?.user();
        if user.disabled {
            return Err(StoreError::Invalid(format!("{} is disabled", user.name)));
        }
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, revoked) \
             VALUES ($1, $2, $3, $4, FALSE)",
        )
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(&at)
        .bind(&expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((token, Session { user, expires_at }))
    }

    /// The session of `token` if it is live: not expired, not revoked, its user enabled.
    /// The user is read now, so a changed role applies to the next request.
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if token.len() != 64 {
            return Ok(None);
        }
        let row = sqlx::query_as::<_, (String, i64, DbBool)>(
            "SELECT expires_at, user_id, revoked FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash(token))
        .fetch_optional(&self.read)
        .await?;
        let Some((expires_at, user_id, DbBool(revoked))) = row else {
            return Ok(None);
        };
        if revoked || expires_at <= now() {
            return Ok(None);
        }
        let user = sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| r.user());
        Ok(user
            .filter(|u| !u.disabled)
            .map(|user| Session { user, expires_at }))
    }

    /// Ends the session of `token` (log-out). Unknown tokens are ignored.
    pub async fn revoke_session(&self, token: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET revoked = TRUE WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fresh(backend: Backend) -> Option<(tempfile::TempDir, Store, i64)> {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::test_store(backend, dir.path()).await?;
        let p = store
            .ensure_project("demo", "/tmp/demo", "alice")
            .await
            .unwrap();
        Some((dir, store, p.id))
    }

    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

    async fn users_are_created_checked_and_logged_without_their_hash(backend: Backend) {
        let Some((_d, store, pid)) = fresh(backend).await else {
            return;
        };
        assert_eq!(store.user_count().await.unwrap(), 0);
        let first = store
            .create_user(pid, "ann", Role::Annotator, "correct horse", "root")
            .await;
        assert!(
            matches!(first, Err(StoreError::Invalid(m)) if m.contains("first user must be an admin"))
        );
        store
            .create_user(pid, "root", Role::Admin, "root password", "cli")
            .await
            .unwrap();
        let ann = store
            .create_user(pid, " Ann ", Role::Annotator, "correct horse", "root")
            .await
            .unwrap();
        assert_eq!(
            (ann.name.as_str(), ann.role, ann.version),
            ("Ann", Role::Annotator, 1)
        );
        let dup = store
            .create_user(pid, "ANN", Role::Admin, "another pw", "root")
            .await;
        assert!(matches!(dup, Err(StoreError::Duplicate(_))), "{dup:?}");
        let short = store
            .create_user(pid, "bob", Role::Admin, "short", "root")
            .await;
        assert!(matches!(short, Err(StoreError::Invalid(m)) if m.contains("at least 8")));
        let ctl = store
            .create_user(pid, "a\nb", Role::Admin, "long enough", "root")
            .await;
        assert!(matches!(ctl, Err(StoreError::Invalid(_))));

        assert_eq!(
            store
                .check_password("ann", "correct horse")
                .await
                .unwrap()
                .map(|u| u.id),
            Some(ann.id)
        );
        assert!(store
            .check_password("ann", "correct hors")
            .await
            .unwrap()
            .is_none());
        assert!(store
            .check_password("nobody", "correct horse")
            .await
            .unwrap()
            .is_none());

        let q = HistoryQuery {
            entity: Some("user".into()),
            ..Default::default()
        };
        let h = store.history(pid, &q).await.unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].author, "root");
        let after = h[0].after.as_ref().unwrap().0.to_string();
        assert!(
            after.contains("\"Ann\"") && !after.contains("argon2"),
            "{after}"
        );
        let raw: (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE name = 'Ann'")
            .fetch_one(&store.read)
            .await
            .unwrap();
        assert!(raw.0.starts_with("$argon2id$") && !raw.0.contains("correct horse"));
    }

    async fn sessions_end_on_logout_expiry_disable_and_new_password(backend: Backend) {
        let Some((_d, store, pid)) = fresh(backend).await else {
            return;
        };
        let admin = store
            .create_user(pid, "root", Role::Admin, "admin pass", "cli")
            .await
            .unwrap();
        let ann = store
            .create_user(pid, "ann", Role::Annotator, "ann pass 1", "root")
            .await
            .unwrap();

        let (t1, s1) = store.create_session(ann.id, WEEK).await.unwrap();
        assert_eq!(s1.user.id, ann.id);
        assert_eq!(store.session(&t1).await.unwrap().unwrap().user.name, "ann");
        assert!(store.session(&new_token()).await.unwrap().is_none());
        assert!(store.session("short").await.unwrap().is_none());
        let raw: (String,) = sqlx::query_as("SELECT token_hash FROM sessions")
            .fetch_one(&store.read)
            .await
            .unwrap();
        assert_ne!(raw.0, t1, "the database keeps a hash, not the token");

        // A role change applies to the live session at once.
        let ann = store
            .update_user(
                pid,
                ann.id,
                1,
                &UserPatch {
                    role: Some(Role::Reviewer),
                    disabled: None,
                },
                "root",
            )
            .await
            .unwrap();
        assert_eq!(
            store.session(&t1).await.unwrap().unwrap().user.role,
            Role::Reviewer
        );

        store.revoke_session(&t1).await.unwrap();
        assert!(store.session(&t1).await.unwrap().is_none());

        let (expired, _) = store
            .create_session(ann.id, Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(store.session(&expired).await.unwrap().is_none());

        let (t2, _) = store.create_session(ann.id, WEEK).await.unwrap();
        let ann = store
            .set_password(pid, ann.id, "ann pass 2", "root")
            .await
            .unwrap();
        assert!(store.session(&t2).await.unwrap().is_none());
        assert!(store
            .check_password("ann", "ann pass 1")
            .await
            .unwrap()
            .is_none());
        assert!(store
            .check_password("ann", "ann pass 2")
            .await
            .unwrap()
            .is_some());

        let (t3, _) = store.create_session(ann.id, WEEK).await.unwrap();
        let stale = store
            .update_user(
                pid,
                ann.id,
                1,
                &UserPatch {
                    disabled: Some(true),
                    role: None,
                },
                "root",
            )
            .await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
        let off = store
            .update_user(
                pid,
                ann.id,
                ann.version,
                &UserPatch {
                    disabled: Some(true),
                    role: None,
                },
                "root",
            )
            .await
            .unwrap();
        assert!(off.disabled);
        assert!(store.session(&t3).await.unwrap().is_none());
        assert!(store
            .check_password("ann", "ann pass 2")
            .await
            .unwrap()
            .is_none());
        assert!(store.create_session(ann.id, WEEK).await.is_err());

        // The last admin stays.
        let demote = store
            .update_user(
                pid,
                admin.id,
                1,
                &UserPatch {
                    role: Some(Role::Annotator),
                    disabled: None,
                },
                "root",
            )
            .await;
        assert!(matches!(demote, Err(StoreError::Invalid(m)) if m.contains("only admin")));
        let actions: Vec<String> = store
            .history(
                pid,
                &HistoryQuery {
                    entity: Some("user".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            ["disable", "reset_password", "update", "create", "create"]
        );
    }

    on_both_backends!(
        users_are_created_checked_and_logged_without_their_hash,
        sessions_end_on_logout_expiry_disable_and_new_password
    );
}
