//! Subscriber dynamics per hour, day and month (`cache-customers-dynamic`).
//!
//! Each bucket holds the totals at its end (customers, accounts, accounts
//! active by flag and dates) and what happened within it (new customers,
//! new accounts, accounts whose deactivation date fell in it). Only
//! finished buckets are stored. The first run for an operator starts at
//! the beginning of the previous UTC month (as the old system did); later
//! runs continue from where the last one stopped (`stats_dynamic_cursor`),
//! so only new buckets are computed.

use efir_store::audit::Arg;
use efir_store::{with_db, Actor, Store};
use serde::Serialize;
use serde_json::json;

use super::{day_start, month_start, next_month, resolve_clients, Result, StatsError, DAY};

/// A bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// One hour.
    Hour,
    /// One UTC day.
    Day,
    /// One UTC calendar month.
    Month,
}

impl Granularity {
    /// Every granularity, in the order they are computed.
    pub const ALL: [Granularity; 3] = [Granularity::Hour, Granularity::Day, Granularity::Month];

    /// The name stored and accepted (`hour`, `day`, `month`).
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Month => "month",
        }
    }

    /// Parses `hour`, `day` or `month`.
    pub fn parse(s: &str) -> Result<Granularity> {
        match s.trim() {
            "hour" => Ok(Granularity::Hour),
            "day" => Ok(Granularity::Day),
            "month" => Ok(Granularity::Month),
            other => Err(StatsError::Invalid(format!(
                "granularity `{other}` is not one of hour, day, month"
            ))),
        }
    }

    /// The start of the bucket holding `t`.
    pub fn start(self, t: i64) -> i64 {
        match self {
            Granularity::Hour => t.div_euclid(3600) * 3600,
            Granularity::Day => day_start(t),
            Granularity::Month => month_start(t),
        }
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        match self {
            Granularity::Hour => start + 3600,
            Granularity::Day => start + DAY,
            Granularity::Month => next_month(start),
        }
    }
}

/// One bucket of one operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Bucket {
    /// The operator.
    pub client_id: i64,
    /// `hour`, `day` or `month`.
    pub granularity: String,
    /// The bucket's start (Unix seconds).
    pub bucket: i64,
    /// Customers at the bucket's end.
    pub customers: i64,
    /// Accounts at the bucket's end.
    pub accounts: i64,
    /// Accounts active at the bucket's end.
    pub active_accounts: i64,
    /// Customers created within the bucket.
    pub new_customers: i64,
    /// Accounts created within the bucket.
    pub new_accounts: i64,
    /// Accounts whose deactivation date fell within the bucket.
    pub deactivated_accounts: i64,
}

/// What one run did for one operator and granularity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DynamicRun {
    /// The operator.
    pub client_id: i64,
    /// The granularity.
    pub granularity: Granularity,
    /// Buckets computed in this run.
    pub computed: usize,
    /// Whether this was the first run for the operator (no cursor yet).
    pub first_run: bool,
    /// The start of the first bucket still to compute after this run.
    pub next_bucket: i64,
}

/// Computes the totals of one bucket `[start, end)`.
async fn compute_bucket(
    store: &Store,
    client_id: i64,
    g: Granularity,
    start: i64,
    end: i64,
) -> Result<Bucket> {
    let sql = "SELECT \
        (SELECT COUNT(*) FROM customer WHERE client_id = $1 AND created_at < $3), \
        (SELECT COUNT(*) FROM account WHERE client_id = $1 AND created_at < $3), \
        (SELECT COUNT(*) FROM account WHERE client_id = $1 AND created_at < $3 AND active \
            AND (activation_date IS NULL OR activation_date < $3) \
            AND (deactivation_date IS NULL OR deactivation_date >= $3)), \
        (SELECT COUNT(*) FROM customer WHERE client_id = $1 AND created_at >= $2 AND created_at < $3), \
        (SELECT COUNT(*) FROM account WHERE client_id = $1 AND created_at >= $2 AND created_at < $3), \
        (SELECT COUNT(*) FROM account WHERE client_id = $1 \
            AND deactivation_date >= $2 AND deactivation_date < $3)";
    let r: (i64, i64, i64, i64, i64, i64) = with_db!(store.pool(), p => sqlx::query_as(sql)
        .bind(client_id)
        .bind(start)
        .bind(end)
        .fetch_one(p)
        .await)?;
    Ok(Bucket {
        client_id,
        granularity: g.as_str().to_string(),
        bucket: start,
        customers: r.0,
        accounts: r.1,
        active_accounts: r.2,
        new_customers: r.3,
        new_accounts: r.4,
        deactivated_accounts: r.5,
    })
}

/// Computes the finished buckets not computed yet, for the given operators
/// (all when `None`) at `now`; one audited transaction per operator.
/// `progress` is called after each operator with (done, total).
pub async fn cache_customers_dynamic(
    store: &Store,
    actor: Actor,
    now: i64,
    clients: Option<&[i64]>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<DynamicRun>> {
    let clients = resolve_clients(store, clients).await?;
    let first_start = month_start(month_start(now) - 1);
    let mut runs = Vec::new();
    for (i, client_id) in clients.iter().copied().enumerate() {
        // Compute first (reads), then write everything in one transaction.
        let mut plan = Vec::new();
        for g in Granularity::ALL {
            let cursor: Option<i64> = with_db!(store.pool(), p => sqlx::query_scalar(
                "SELECT next_bucket FROM stats_dynamic_cursor \
                 WHERE client_id = $1 AND granularity = $2")
                .bind(client_id)
                .bind(g.as_str())
                .fetch_optional(p)
                .await)?;
            let mut start = cursor.unwrap_or_else(|| g.start(first_start));
            let mut buckets = Vec::new();
            while g.next(start) <= now {
                let end = g.next(start);
                buckets.push(compute_bucket(store, client_id, g, start, end).await?);
                start = end;
            }
            plan.push((g, cursor, buckets, start));
        }
        let mut tx = store.begin(actor.clone()).await?;
        let mut summary = Vec::new();
        for (g, cursor, buckets, next) in plan {
            for b in &buckets {
                tx.execute(
                    "stats_dynamic",
                    "DELETE FROM stats_dynamic WHERE client_id = $1 AND granularity = $2 \
                     AND bucket = $3",
                    &[
                        Arg::I64(client_id),
                        Arg::Text(g.as_str().into()),
                        Arg::I64(b.bucket),
                    ],
                )
                .await?;
                tx.execute(
                    "stats_dynamic",
                    "INSERT INTO stats_dynamic (client_id, granularity, bucket, customers, \
                     accounts, active_accounts, new_customers, new_accounts, \
                     deactivated_accounts, computed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &[
                        Arg::I64(client_id),
                        Arg::Text(g.as_str().into()),
                        Arg::I64(b.bucket),
                        Arg::I64(b.customers),
                        Arg::I64(b.accounts),
                        Arg::I64(b.active_accounts),
                        Arg::I64(b.new_customers),
                        Arg::I64(b.new_accounts),
                        Arg::I64(b.deactivated_accounts),
                        Arg::I64(now),
                    ],
                )
                .await?;
            }
            if !buckets.is_empty() || cursor.is_none() {
                tx.execute(
                    "stats_dynamic_cursor",
                    "INSERT INTO stats_dynamic_cursor (client_id, granularity, next_bucket, \
                     updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (client_id, granularity) DO UPDATE SET \
                     next_bucket = excluded.next_bucket, updated_at = excluded.updated_at",
                    &[
                        Arg::I64(client_id),
                        Arg::Text(g.as_str().into()),
                        Arg::I64(next),
                        Arg::I64(now),
                    ],
                )
                .await?;
            }
            summary.push(json!({
                "granularity": g.as_str(),
                "computed": buckets.len(),
                "next_bucket": next,
            }));
            runs.push(DynamicRun {
                client_id,
                granularity: g,
                computed: buckets.len(),
                first_run: cursor.is_none(),
                next_bucket: next,
            });
        }
        tx.audit(
            Some(client_id),
            "compute",
            "stats_dynamic",
            Some(client_id.to_string()),
            json!({ "at": now, "buckets": summary }),
        )
        .await?;
        tx.commit().await?;
        progress(i + 1, clients.len());
    }
    Ok(runs)
}

/// Stored buckets of one operator (or all, `None`) with starts in
/// `[from, to]`, oldest first.
pub async fn stored(
    store: &Store,
    client_id: Option<i64>,
    g: Granularity,
    from: i64,
    to: i64,
) -> Result<Vec<Bucket>> {
    let sql = "SELECT client_id, granularity, bucket, customers, accounts, active_accounts, \
               new_customers, new_accounts, deactivated_accounts FROM stats_dynamic \
               WHERE ($1 IS NULL OR client_id = $1) AND granularity = $2 \
               AND bucket >= $3 AND bucket <= $4 ORDER BY bucket, client_id";
    let rows: Vec<Bucket> = with_db!(store.pool(), p => sqlx::query_as(sql)
        .bind(client_id)
        .bind(g.as_str())
        .bind(g.start(from))
        .bind(to)
        .fetch_all(p)
        .await)?;
    Ok(rows)
}
