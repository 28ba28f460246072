//! `account/status/` (polled by apps) and `health/check/`.

use efir_store::with_db;
use serde_json::{json, Value};

use super::login::account_active;
use super::{Call, DeviceError};
use crate::access;
use crate::Middleware;

/// `account/status/`: whether the session is alive and the account active,
/// new messages, the urgent message, whether the channel list changed since
/// this session last fetched it (same second counts as changed: one reload
/// too many is harmless, one too few is not), and (with `with_tariffs=1`) the tariffs in force.
pub async fn account_status(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let session = match call.session(mw).await {
        Ok(s) => s,
        Err(_) => {
            // Status 1: no session. Apps then show the login screen.
            return Ok(json!({ "status": 1, "status_reason": "", "utc_time": efir_store::now() }));
        }
    };
    let (active, reason, customer_id) = account_active(mw, session.account_id).await?;
    let sql = "SELECT channel_list_changed_at FROM account WHERE id = $1";
    let changed_at: i64 = with_db!(mw.store.pool(), p => sqlx::query_scalar(sql)
        .bind(session.account_id)
        .fetch_one(p)
        .await)?;
    let unread = "SELECT uuid, subject, text, urgent, no_confirmation FROM message \
                  WHERE client_id = $1 AND NOT deleted AND NOT was_read \
                  AND (account_id = $2 OR (account_id IS NULL AND customer_id = $3)) \
                  ORDER BY urgent DESC, created_at DESC";
    let messages: Vec<(String, String, String, bool, bool)> = with_db!(mw.store.pool(), p => sqlx::query_as(unread)
            .bind(call.client.id)
            .bind(session.account_id)
            .bind(customer_id)
            .fetch_all(p)
            .await)?;
    let message = messages
        .iter()
        .find(|m| m.3)
        .map(|(_, subject, text, _, no_confirmation)| {
            json!({ "subject": subject, "text": text, "no_confirmation": i64::from(*no_confirmation) })
        });
    let status_reason = if active {
        reason
    } else if reason == "ACTIVE" {
        "INACTIVE".into()
    } else {
        reason
    };
    let mut body = json!({
        "status": if active { 0 } else { 2 },
        "status_reason": status_reason,
        "is_active": i64::from(active),
        "utc_time": efir_store::now(),
        "has_new_messages": i64::from(!messages.is_empty()),
        "message": message,
        "command": { "type": 0 },
        "channel_list_changed": i64::from(changed_at > 0 && changed_at >= session.channel_list_loaded_at),
    });
    if call.params.get("with_tariffs") == Some("1") {
        let place = access::locate(&mw.store, call.ip).await?;
        let tariffs = access::customer_tariffs(&mw.store, customer_id).await?;
        body["tariff_ids"] = json!(access::applicable(&mw.store, &tariffs, active, place).await?);
    }
    Ok(body)
}

/// `health/check/`: the middleware answers.
pub fn health_check() -> Value {
    json!({ "usage": 0, "alive": 1, "connection_errors": [], "reserved_server_addresses": [] })
}
