//! Failed log-ins, counted in the database so that every server sharing it limits the same
//! attempts (the server's log-in limiter decides the keys, limits and window).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::*;

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Store {
    /// How long until every `(key, limit)` has fewer than `limit` failures within `window`
    /// (`None`: it may try now).
    pub async fn login_wait(
        &self,
        keys: &[(String, usize)],
        window: Duration,
    ) -> Result<Option<Duration>> {
        let now = Utc::now();
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let since = stamp(now - window);
        let mut wait = chrono::Duration::zero();
        for (key, limit) in keys {
            let limit = (*limit).max(1);
            let rows = sqlx::query_as::<_, (String,)>(
                "SELECT at FROM login_failures WHERE key = $1 AND at > $2 \
                 ORDER BY at DESC LIMIT $3",
            )
            .bind(key.as_str())
            .bind(since.as_str())
            .bind(limit as i64)
            .fetch_all(&self.read)
            .await?;
            if rows.len() >= limit {
                // The oldest of the last `limit` failures leaves the window first.
                let oldest = DateTime::parse_from_rfc3339(&rows[limit - 1].0)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or(now);
                wait = wait.max(window - (now - oldest));
            }
        }
        Ok((wait > chrono::Duration::zero())
            .then(|| wait.to_std().unwrap_or(Duration::from_secs(1))))
    }

    /// Records one failure under each key, and forgets failures older than `window`.
    pub async fn record_login_failure(&self, keys: &[String], window: Duration) -> Result<()> {
        let now = Utc::now();
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE at <= $1")
            .bind(stamp(now - window))
            .execute(&mut *tx)
            .await?;
        for key in keys {
            sqlx::query("INSERT INTO login_failures (key, at) VALUES ($1, $2)")
                .bind(key.as_str())
                .bind(stamp(now))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the failures of `key` (a successful log-in clears its name's).
    pub async fn clear_login_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn failures_are_counted_per_key_within_the_window(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let Some(store) = crate::test_store(backend, dir.path()).await else {
            return;
        };
        let window = Duration::from_secs(900);
        let keys = vec![("name:ann".to_string(), 3), ("addr:1".to_string(), 5)];
        for _ in 0..3 {
            assert_eq!(store.login_wait(&keys, window).await.unwrap(), None);
            store
                .record_login_failure(&["name:ann".into(), "addr:1".into()], window)
                .await
                .unwrap();
        }
        let wait = store.login_wait(&keys, window).await.unwrap().unwrap();
        assert!(
            wait > Duration::from_secs(899) && wait <= window,
            "{wait:?}"
        );
        // The address has 2 attempts left; another name from it may try.
        let other = vec![("name:bob".to_string(), 3), ("addr:1".to_string(), 5)];
        assert_eq!(store.login_wait(&other, window).await.unwrap(), None);
        store.clear_login_failures("name:ann").await.unwrap();
        assert_eq!(store.login_wait(&keys, window).await.unwrap(), None);
        // A window already over: old failures do not count, and are deleted.
        let short = Duration::from_millis(1);
        tokio::time::sleep(Duration::from_millis(5)).await;
        store
            .record_login_failure(&["addr:2".into()], short)
            .await
            .unwrap();
        let (n,) = sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM login_failures")
            .fetch_one(&store.read)
            .await
            .unwrap();
        assert_eq!(n, 1, "only the new row is left");
    }

    on_both_backends!(failures_are_counted_per_key_within_the_window);
}
