//! Daily statistics per operator (`save-stats`, `collect-daily-stats`).
//!
//! One row per operator and UTC day: customers and accounts at the end of
//! the day (those created before it ends), accounts active at its end (by
//! their flag and their activation/deactivation dates), new customers and
//! accounts of the day, deactivations (accounts whose deactivation date
//! falls in the day), the day's maximum online (from `cache-max-online`),
//! payments (positive transactions) and charges (negative transactions,
//! as a positive sum) with their counts in exact money units, and the
//! viewing events pushed by devices with their total seconds.
//!
//! `collect-daily-stats` computes a finished day (yesterday by default, as
//! the old system did at the start of each day); `save-stats` computes the
//! current day so far. Computing a day again replaces its row.

use efir_core::money::Money;
use efir_store::audit::Arg;
use efir_store::{with_db, Actor, Store};
use serde::Serialize;
use serde_json::json;

use super::{day_start, resolve_clients, Result, StatsError, DAY};

/// One operator's statistics of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailyStats {
    /// The operator.
    pub client_id: i64,
    /// The day (its start, Unix seconds).
    pub day: i64,
    /// Customers at the end of the day.
    pub customers: i64,
    /// Accounts at the end of the day.
    pub accounts: i64,
    /// Accounts active at the end of the day.
    pub active_accounts: i64,
    /// Customers created that day.
    pub new_customers: i64,
    /// Accounts created that day.
    pub new_accounts: i64,
    /// Accounts whose deactivation date fell that day.
    pub deactivations: i64,
    /// Highest number of sessions online sampled that day.
    pub max_online: i64,
    /// When that maximum was first reached.
    pub max_online_at: Option<i64>,
    /// Sum of payments (money units).
    pub payments: i64,
    /// Number of payments.
    pub payments_count: i64,
    /// Sum of charges as a positive amount (money units).
    pub charges: i64,
    /// Number of charges.
    pub charges_count: i64,
    /// Viewing events that started that day.
    pub viewing_events: i64,
    /// Their total duration in seconds.
    pub viewing_seconds: i64,
    /// When the row was computed.
    pub computed_at: i64,
}

impl Serialize for DailyStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl DailyStats {
    /// The row as JSON, with the date and exact money strings.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "client_id": self.client_id,
            "date": super::date_string(self.day),
            "day": self.day,
            "customers": self.customers,
            "accounts": self.accounts,
            "active_accounts": self.active_accounts,
            "new_customers": self.new_customers,
            "new_accounts": self.new_accounts,
            "deactivations": self.deactivations,
            "max_online": self.max_online,
            "max_online_at": self.max_online_at,
            "payments": Money(self.payments).to_string(),
            "payments_count": self.payments_count,
            "charges": Money(self.charges).to_string(),
            "charges_count": self.charges_count,
            "viewing_events": self.viewing_events,
            "viewing_seconds": self.viewing_seconds,
        })
    }
}

/// The columns of `stats_daily` in [`DailyStats`] order.
pub const COLUMNS: &str = "client_id, day, customers, accounts, active_accounts, new_customers, \
    new_accounts, deactivations, max_online, max_online_at, payments, payments_count, charges, \
    charges_count, viewing_events, viewing_seconds, computed_at";

/// Computes (without storing) the statistics of `client_id` for the day
/// starting at `day`, as seen at `now`.
pub async fn compute(store: &Store, client_id: i64, day: i64, now: i64) -> Result<DailyStats> {
    let end = day + DAY;
    // One round trip: every figure is a scalar subquery over the indexes
    // by operator. `$1` operator, `$2` day start, `$3` day end.
    let sql = "SELECT \
        (SELECT COUNT(*) FROM customer WHERE client_id = $1 AND created_at < $3), \
        (SELECT COUNT(*) FROM account WHERE client_id = $1 AND created_at < $3), \
        (SELECT COUNT(*) FROM account WHERE client_id = $1 AND created_at < $3 AND active \
            AND (activation_date IS NULL OR activation_date < $3) \
            AND (deactivation_date IS NULL OR deactivation_date >= $3)), \
        (SELECT COUNT(*) FROM customer WHERE client_id = $1 AND created_at >= $2 AND created_at < $3), \
        (SELECT COUNT(*) FROM account WHERE client_id = $1 AND created_at >= $2 AND created_at < $3), \
        (SELECT COUNT(*) FROM account WHERE client_id = $1 \
            AND deactivation_date >= $2 AND deactivation_date < $3), \
        (SELECT COALESCE(SUM(amount), 0) FROM customer_transaction WHERE client_id = $1 \
            AND amount > 0 AND created_at >= $2 AND created_at < $3), \
        (SELECT COUNT(*) FROM customer_transaction WHERE client_id = $1 \
            AND amount > 0 AND created_at >= $2 AND created_at < $3), \
        (SELECT COALESCE(SUM(-amount), 0) FROM customer_transaction WHERE client_id = $1 \
            AND amount < 0 AND created_at >= $2 AND created_at < $3), \
        (SELECT COUNT(*) FROM customer_transaction WHERE client_id = $1 \
            AND amount < 0 AND created_at >= $2 AND created_at < $3), \
        (SELECT COUNT(*) FROM viewing_event WHERE client_id = $1 \
            AND started_at >= $2 AND started_at < $3), \
        (SELECT COALESCE(SUM(duration), 0) FROM viewing_event WHERE client_id = $1 \
            AND started_at >= $2 AND started_at < $3)";
    type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);
    // PostgreSQL sums BIGINT into NUMERIC; cast there so both give i64.
    let row: Row = match store.pool() {
        efir_store::Pool::Sqlite(p) => {
            sqlx::query_as(sql)
                .bind(client_id)
                .bind(day)
                .bind(end)
                .fetch_one(p)
                .await?
        }
        efir_store::Pool::Postgres(p) => {
            let pg = sql
                .replace(
                    "COALESCE(SUM(amount), 0)",
                    "COALESCE(SUM(amount), 0)::BIGINT",
                )
                .replace(
                    "COALESCE(SUM(-amount), 0)",
                    "COALESCE(SUM(-amount), 0)::BIGINT",
                )
                .replace(
                    "COALESCE(SUM(duration), 0)",
                    "COALESCE(SUM(duration), 0)::BIGINT",
                );
            sqlx::query_as(&pg)
                .bind(client_id)
                .bind(day)
                .bind(end)
                .fetch_one(p)
                .await?
        }
    };
    let max: Option<(i64, i64)> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT max_online, max_at FROM stats_online_daily WHERE client_id = $1 AND day = $2")
        .bind(client_id)
        .bind(day)
        .fetch_optional(p)
        .await)?;
    Ok(DailyStats {
        client_id,
        day,
        customers: row.0,
        accounts: row.1,
        active_accounts: row.2,
        new_customers: row.3,
        new_accounts: row.4,
        deactivations: row.5,
        max_online: max.map_or(0, |m| m.0),
        max_online_at: max.map(|m| m.1),
        payments: row.6,
        payments_count: row.7,
        charges: row.8,
        charges_count: row.9,
        viewing_events: row.10,
        viewing_seconds: row.11,
        computed_at: now,
    })
}

/// Computes and stores the day starting at `day` for the given operators
/// (all when `None`), replacing rows computed before. A day after the one
/// holding `now` is refused.
pub async fn collect(
    store: &Store,
    actor: Actor,
    day: i64,
    now: i64,
    clients: Option<&[i64]>,
) -> Result<Vec<DailyStats>> {
    let day = day_start(day);
    if day > day_start(now) {
        return Err(StatsError::Invalid(format!(
            "{} is in the future; statistics exist up to today ({})",
            super::date_string(day),
            super::date_string(now)
        )));
    }
    let clients = resolve_clients(store, clients).await?;
    let mut rows = Vec::with_capacity(clients.len());
    for id in clients {
        rows.push(compute(store, id, day, now).await?);
    }
    let mut tx = store.begin(actor).await?;
    for r in &rows {
        tx.execute(
            "stats_daily",
            "DELETE FROM stats_daily WHERE client_id = $1 AND day = $2",
            &[Arg::I64(r.client_id), Arg::I64(r.day)],
        )
        .await?;
        let insert = format!(
            "INSERT INTO stats_daily ({COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        tx.execute(
            "stats_daily",
            &insert,
            &[
                Arg::I64(r.client_id),
                Arg::I64(r.day),
                Arg::I64(r.customers),
                Arg::I64(r.accounts),
                Arg::I64(r.active_accounts),
                Arg::I64(r.new_customers),
                Arg::I64(r.new_accounts),
                Arg::I64(r.deactivations),
                Arg::I64(r.max_online),
                Arg::OptI64(r.max_online_at),
                Arg::I64(r.payments),
                Arg::I64(r.payments_count),
                Arg::I64(r.charges),
                Arg::I64(r.charges_count),
                Arg::I64(r.viewing_events),
                Arg::I64(r.viewing_seconds),
                Arg::I64(r.computed_at),
            ],
        )
        .await?;
        tx.audit(
            Some(r.client_id),
            "compute",
            "stats_daily",
            Some(super::date_string(r.day)),
            json!({ "after": r.to_json() }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows)
}

/// Stored daily rows of one operator (or all, `None`) for days in
/// `[from, to]`, oldest first.
pub async fn stored(
    store: &Store,
    client_id: Option<i64>,
    from: i64,
    to: i64,
) -> Result<Vec<DailyStats>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM stats_daily WHERE ($1 IS NULL OR client_id = $1) \
         AND day >= $2 AND day <= $3 ORDER BY day, client_id"
    );
    let rows: Vec<DailyStats> = with_db!(store.pool(), p => sqlx::query_as(&sql)
        .bind(client_id)
        .bind(day_start(from))
        .bind(to)
        .fetch_all(p)
        .await)?;
    Ok(rows)
}
