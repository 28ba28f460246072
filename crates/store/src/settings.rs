//! Per-operator settings: dotted keys such as `billing.mode` or
//! `sms.backend`, one row per key in `client_setting`.
//!
//! The store keeps the text and records every change in the audit log
//! (values of keys that look secret are written there as `***`). What a key
//! means, and whether a value is valid, is decided by the part that owns
//! the key's prefix (the back office validates `billing.*`, `sms.*`, …)
//! before it calls [`Store::set_client_setting`].

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;

use crate::audit::Arg;
use crate::{now, record_query, Result, Store, StoreError, Tx};

/// An operator's settings, key → value.
pub type Settings = BTreeMap<String, String>;

/// Whether a key's value must never be shown (passwords, tokens, keys).
pub fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    ["password", "secret", "token", "api_key", "apikey", "key"]
        .iter()
        .any(|s| last == *s || last.ends_with(&format!("_{s}")))
}

/// Checks the form of a key: lower-case dotted words (`sms.sender`).
pub fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 100
        && key.split('.').count() >= 2
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "setting key `{key}`: expected dotted lower-case words such as `sms.backend`"
        )))
    }
}

impl Store {
    /// Every setting of one operator.
    pub async fn client_settings(&self, client_id: i64) -> Result<Settings> {
        let started = Instant::now();
        let sql = "SELECT key, value FROM client_setting WHERE client_id = $1 ORDER BY key";
        let rows: Vec<(String, String)> = with_db!(self.pool(), p => sqlx::query_as(sql)
            .bind(client_id)
            .fetch_all(p)
            .await)?;
        record_query("client_settings", started);
        Ok(rows.into_iter().collect())
    }

    /// Sets (or with `None` removes) one setting of an operator, audited.
    /// The caller has validated the value.
    pub async fn set_client_setting(
        &self,
        tx: &mut Tx,
        client_id: i64,
        key: &str,
        value: Option<&str>,
    ) -> Result<()> {
        check_key(key)?;
        let before: Option<String> = with_tx!(tx, c => sqlx::query_scalar(
                "SELECT value FROM client_setting WHERE client_id = $1 AND key = $2")
            .bind(client_id)
            .bind(key)
            .fetch_optional(c)
            .await)?;
        match value {
            Some(v) => {
                tx.execute(
                    "client_setting",
                    "INSERT INTO client_setting (client_id, key, value, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, key) \
                     DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    &[
                        Arg::I64(client_id),
                        Arg::Text(key.to_string()),
                        Arg::Text(v.to_string()),
                        Arg::I64(now()),
                    ],
                )
                .await?;
            }
            None => {
                tx.execute(
                    "client_setting",
                    "DELETE FROM client_setting WHERE client_id = $1 AND key = $2",
                    &[Arg::I64(client_id), Arg::Text(key.to_string())],
                )
                .await?;
            }
        }
        let shown = |v: Option<&str>| match v {
            Some(_) if is_secret_key(key) => Some("***".to_string()),
            other => other.map(str::to_string),
        };
        tx.audit(
            Some(client_id),
            if value.is_some() { "set" } else { "unset" },
            "client_setting",
            Some(key.to_string()),
            json!({ "before": shown(before.as_deref()), "after": shown(value) }),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{check_key, is_secret_key};

    #[test]
    fn keys() {
        assert!(check_key("sms.backend").is_ok());
        assert!(check_key("billing.trial_days").is_ok());
        assert!(check_key("sms").is_err());
        assert!(check_key("sms..x").is_err());
        assert!(check_key("SMS.backend").is_err());
        assert!(check_key("sms.back end").is_err());
        assert!(check_key("sms.x'; DROP TABLE client; --").is_err());
        assert!(is_secret_key("sms.password"));
        assert!(is_secret_key("payment.api_key"));
        assert!(is_secret_key("sms.webhook.token"));
        assert!(!is_secret_key("sms.sender"));
        assert!(!is_secret_key("sms.backend"));
    }
}
