//! `clean-old-messages`: removes screen messages, finished outbox rows and
//! expiry notices older than a number of days, with one audited summary.
//!
//! Outbox rows still `queued` are kept whatever their age: they have not
//! been delivered or given up yet.

use efir_store::audit::Arg;
use efir_store::{Actor, Store};
use serde::Serialize;
use serde_json::json;

use super::{MessageError, Result};

/// What [`clean_old`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanSummary {
    /// Removal limit: rows created before this time (Unix seconds) went.
    pub before: i64,
    /// Screen messages removed.
    pub screen: u64,
    /// Outbox rows (sent or failed) removed.
    pub outbox: u64,
    /// Expiry notices whose end date passed before the limit.
    pub notices: u64,
}

/// Removes what is older than `days` days (at least 1) before `now`; only
/// `client_id`'s when given.
pub async fn clean_old(
    store: &Store,
    actor: Actor,
    client_id: Option<i64>,
    days: i64,
    now: i64,
) -> Result<CleanSummary> {
    if !(1..=36_500).contains(&days) {
        return Err(MessageError::invalid(
            "days_count",
            "expected a whole number of days, at least 1",
        ));
    }
    if let Some(c) = client_id {
        super::client(store, c).await?;
    }
    let before = now - days * 86_400;
    let (scope, args) = match client_id {
        Some(c) => (" AND client_id = $2", vec![Arg::I64(before), Arg::I64(c)]),
        None => ("", vec![Arg::I64(before)]),
    };
    let mut tx = store.begin(actor).await?;
    let screen = tx
        .execute(
            "message",
            &format!("DELETE FROM message WHERE created_at < $1{scope}"),
            &args,
        )
        .await?;
    let outbox = tx
        .execute(
            "outbound_message",
            &format!(
                "DELETE FROM outbound_message WHERE created_at < $1 AND state <> 'queued'{scope}"
            ),
            &args,
        )
        .await?;
    let notices = tx
        .execute(
            "expiry_notice",
            &format!("DELETE FROM expiry_notice WHERE expires_at < $1{scope}"),
            &args,
        )
        .await?;
    let summary = CleanSummary {
        before,
        screen,
        outbox,
        notices,
    };
    tx.audit(
        client_id,
        "clean",
        "message",
        None,
        json!({"days": days, "removed": summary}),
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}
