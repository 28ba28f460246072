//! The clean-ups of old statistics and logs.
//!
//! - `delete-old-reports --save-days N`: the daily report rows
//!   (`stats_daily`) of days that ended more than N days ago;
//! - `clear-customer-log --days N`: the customer log (`customer_log`:
//!   subscribers' logins and logouts) older than N days;
//! - `remove-viewed-content-history --client-id C --days N`: one
//!   operator's viewing events (`viewing_event`) that started more than N
//!   days ago;
//! - `reports-remove-old-data --days N`: the data behind the charts: online
//!   samples taken and daily online maxima of days ended more than N days
//!   ago, and subscriber dynamics buckets that started more than N days ago.
//!
//! A days value below 1 is refused before anything is touched; each run
//! is one audited transaction whose event holds what was deleted.

use efir_store::audit::Arg;
use efir_store::{Actor, Store};
use serde::Serialize;
use serde_json::json;

use super::{check_days, resolve_clients, Result, DAY};

/// What a clean-up removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cleanup {
    /// The command.
    pub command: &'static str,
    /// The operator, when the clean-up was for one.
    pub client_id: Option<i64>,
    /// The days value.
    pub days: i64,
    /// Rows older than this (Unix seconds) were removed.
    pub cutoff: i64,
    /// Rows removed per table.
    pub deleted: Vec<(String, u64)>,
}

impl Cleanup {
    /// Rows removed in total.
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }
}

/// Runs `deletes` (table, SQL with `$1` = cutoff and optionally `$2` =
/// operator) in one audited transaction.
async fn run(
    store: &Store,
    actor: Actor,
    command: &'static str,
    client_id: Option<i64>,
    days: i64,
    cutoff: i64,
    deletes: &[(&'static str, &str)],
) -> Result<Cleanup> {
    let mut tx = store.begin(actor).await?;
    let mut deleted = Vec::new();
    for (table, sql) in deletes {
        let mut args = vec![Arg::I64(cutoff)];
        if let Some(c) = client_id {
            args.push(Arg::I64(c));
        }
        let n = tx.execute(table, sql, &args).await?;
        deleted.push(((*table).to_string(), n));
    }
    let report = Cleanup {
        command,
        client_id,
        days,
        cutoff,
        deleted,
    };
    tx.audit(
        client_id,
        "delete",
        command,
        None,
        json!({
            "days": days,
            "cutoff": cutoff,
            "deleted": report.deleted.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// `delete-old-reports --save-days N`: daily report rows of days that
/// ended more than `save_days` days before `now`.
pub async fn delete_old_reports(
    store: &Store,
    actor: Actor,
    save_days: i64,
    now: i64,
) -> Result<Cleanup> {
    let days = check_days("--save-days", save_days)?;
    let cutoff = now - days * DAY;
    // A day's row is old when the whole day lies before the cutoff.
    run(
        store,
        actor,
        "delete-old-reports",
        None,
        days,
        cutoff,
        &[(
            "stats_daily",
            "DELETE FROM stats_daily WHERE day + 86400 <= $1",
        )],
    )
    .await
}

/// `clear-customer-log --days N`: customer log entries older than `days`.
pub async fn clear_customer_log(
    store: &Store,
    actor: Actor,
    days: i64,
    now: i64,
) -> Result<Cleanup> {
    let days = check_days("--days", days)?;
    let cutoff = now - days * DAY;
    run(
        store,
        actor,
        "clear-customer-log",
        None,
        days,
        cutoff,
        &[("customer_log", "DELETE FROM customer_log WHERE at < $1")],
    )
    .await
}

/// `remove-viewed-content-history --client-id C --days N`: viewing events
/// of operator `client_id` that started more than `days` days ago.
pub async fn remove_viewed_content_history(
    store: &Store,
    actor: Actor,
    client_id: i64,
    days: i64,
    now: i64,
) -> Result<Cleanup> {
    let days = check_days("--days", days)?;
    resolve_clients(store, Some(&[client_id])).await?;
    let cutoff = now - days * DAY;
    run(
        store,
        actor,
        "remove-viewed-content-history",
        Some(client_id),
        days,
        cutoff,
        &[(
            "viewing_event",
            "DELETE FROM viewing_event WHERE started_at < $1 AND client_id = $2",
        )],
    )
    .await
}

/// `reports-remove-old-data --days N`: chart data older than `days` days
/// (online samples, daily online maxima, dynamics buckets).
pub async fn reports_remove_old_data(
    store: &Store,
    actor: Actor,
    days: i64,
    now: i64,
) -> Result<Cleanup> {
    let days = check_days("--days", days)?;
    let cutoff = now - days * DAY;
    run(
        store,
        actor,
        "reports-remove-old-data",
        None,
        days,
        cutoff,
        &[
            (
                "stats_online_sample",
                "DELETE FROM stats_online_sample WHERE at < $1",
            ),
            (
                "stats_online_daily",
                "DELETE FROM stats_online_daily WHERE day + 86400 <= $1",
            ),
            (
                "stats_dynamic",
                "DELETE FROM stats_dynamic WHERE bucket < $1",
            ),
        ],
    )
    .await
}
