//! Small key/value state kept in the database (`efir_meta`).

use serde_json::json;

use crate::{now, Actor, Result, Store};

/// Key of the cache epoch, bumped by `flushall`.
pub const CACHE_EPOCH: &str = "cache_epoch";

/// Key of the environment marker (`production`, `staging`, …).
pub const ENVIRONMENT: &str = "environment";

/// Checks an environment name: 1 to 32 of `a-z 0-9 _`, starting with a
/// letter.
pub fn check_environment(name: &str) -> Result<()> {
    let ok = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(crate::StoreError::Invalid(format!(
            "environment `{name}`: expected 1 to 32 of a-z 0-9 _ starting with a letter, \
             such as production, staging or development"
        )))
    }
}

/// Adds one to the counter under `$1` (creating it at 1), stamped `$2`;
/// answers the new value.
const BUMP_COUNTER: &str = "INSERT INTO efir_meta (key, value, updated_at) VALUES ($1, '1', $2) \
    ON CONFLICT (key) DO UPDATE SET \
    value = CAST(CAST(efir_meta.value AS BIGINT) + 1 AS TEXT), \
    updated_at = excluded.updated_at \
    RETURNING value";

impl Store {
    /// The value stored under `key`.
    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        let sql = "SELECT value FROM efir_meta WHERE key = $1";
        Ok(with_db!(self.pool(), p => sqlx::query_scalar(sql).bind(key).fetch_optional(p).await)?)
    }

    /// Stores `value` under `key` in `tx`.
    pub async fn set_meta(&self, tx: &mut crate::Tx, key: &str, value: &str) -> Result<()> {
        let sql = "INSERT INTO efir_meta (key, value, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                   updated_at = excluded.updated_at";
        tx.mark_changed("efir_meta");
        with_tx!(tx, c => sqlx::query(sql).bind(key).bind(value).bind(now()).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Adds one to the operational counter `key` (not audited: generation
    /// numbers and the like, not business data); returns its new value.
    pub async fn bump_counter(&self, key: &str) -> Result<i64> {
        let value: String = with_db!(self.pool(), p => sqlx::query_scalar(BUMP_COUNTER)
            .bind(key)
            .bind(now())
            .fetch_one(p)
            .await)?;
        Ok(value.parse().unwrap_or(0))
    }

    /// The current cache epoch (0 when never flushed).
    pub async fn cache_epoch(&self) -> Result<i64> {
        Ok(self
            .meta(CACHE_EPOCH)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Increments the cache epoch so that every node drops its in-process
    /// cache; returns the new epoch.
    pub async fn bump_cache_epoch(&self, actor: Actor) -> Result<i64> {
        let mut tx = self.begin(actor).await?;
        tx.mark_changed("efir_meta");
        let value: String = with_tx!(tx, c => sqlx::query_scalar(BUMP_COUNTER)
            .bind(CACHE_EPOCH)
            .bind(now())
            .fetch_one(c)
            .await)?;
        let epoch = value.parse().unwrap_or(0);
        tx.audit(None, "flush", "cache", None, json!({ "epoch": epoch }))
            .await?;
        tx.commit().await?;
        Ok(epoch)
    }

    /// Removes the value under `key` in `tx`.
    pub async fn delete_meta(&self, tx: &mut crate::Tx, key: &str) -> Result<()> {
        tx.mark_changed("efir_meta");
        with_tx!(tx, c => sqlx::query("DELETE FROM efir_meta WHERE key = $1").bind(key).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The environment this database is marked as, if any.
    pub async fn environment(&self) -> Result<Option<String>> {
        self.meta(ENVIRONMENT).await
    }

    /// Marks the database as environment `name` (or, with `None`, removes
    /// the marker), audited.
    pub async fn set_environment(&self, actor: Actor, name: Option<&str>) -> Result<()> {
        if let Some(n) = name {
            check_environment(n)?;
        }
        let before = self.environment().await?;
        let mut tx = self.begin(actor).await?;
        match name {
            Some(n) => self.set_meta(&mut tx, ENVIRONMENT, n).await?,
            None => self.delete_meta(&mut tx, ENVIRONMENT).await?,
        }
        tx.audit(
            None,
            "set",
            "environment",
            None,
            json!({ "before": before, "after": name }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
