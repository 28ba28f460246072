//! Sessions online now and the daily maximum (`cache-max-online`).
//!
//! A session (`account_authkey`) is online when it has not expired and was
//! seen within the operator's online window (`stats.online_window_secs`,
//! default [`DEFAULT_ONLINE_WINDOW_SECS`]). The device API records a
//! session's last-seen time at most once a minute, so the window must be
//! longer than that. Each run of `cache-max-online` stores one sample per
//! operator and raises the operator's maximum of the UTC day when the
//! sample beats it (the first time a maximum is reached is kept).

use efir_store::audit::Arg;
use efir_store::{with_db, with_tx, Actor, Store};
use serde::Serialize;
use serde_json::json;

use super::{day_start, online_window, resolve_clients, Result};

/// The default online window: a session seen in the last five minutes.
pub const DEFAULT_ONLINE_WINDOW_SECS: i64 = 300;

/// Sessions of `client_id` online at `now` within `window` seconds.
pub async fn online_now(store: &Store, client_id: i64, now: i64, window: i64) -> Result<i64> {
    let sql = "SELECT COUNT(*) FROM account_authkey s JOIN account a ON a.id = s.account_id \
               WHERE a.client_id = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 \
               AND s.last_seen_at <= $2";
    let n: i64 = with_db!(store.pool(), p => sqlx::query_scalar(sql)
        .bind(client_id)
        .bind(now)
        .bind(now - window)
        .fetch_one(p)
        .await)?;
    Ok(n)
}

/// One operator's sample of a `cache-max-online` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnlineSample {
    /// The operator.
    pub client_id: i64,
    /// When it was taken.
    pub at: i64,
    /// Sessions online.
    pub online: i64,
    /// The UTC day (its start).
    pub day: i64,
    /// The day's maximum after this sample.
    pub max_online: i64,
    /// When the maximum was first reached.
    pub max_at: i64,
}

/// Samples every operator (or the given ones) at `now` and updates the
/// daily maxima, in one audited transaction.
pub async fn cache_max_online(
    store: &Store,
    actor: Actor,
    now: i64,
    clients: Option<&[i64]>,
) -> Result<Vec<OnlineSample>> {
    let clients = resolve_clients(store, clients).await?;
    let mut counts = Vec::with_capacity(clients.len());
    for id in &clients {
        let window = online_window(store, *id).await?;
        counts.push((*id, online_now(store, *id, now, window).await?));
    }
    let day = day_start(now);
    let mut tx = store.begin(actor).await?;
    let mut out = Vec::with_capacity(counts.len());
    for (client_id, online) in counts {
        tx.execute(
            "stats_online_sample",
            "INSERT INTO stats_online_sample (client_id, at, online) VALUES ($1, $2, $3)",
            &[Arg::I64(client_id), Arg::I64(now), Arg::I64(online)],
        )
        .await?;
        tx.execute(
            "stats_online_daily",
            "INSERT INTO stats_online_daily (client_id, day, max_online, max_at, samples) \
             VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (client_id, day) DO UPDATE SET \
             max_at = CASE WHEN excluded.max_online > stats_online_daily.max_online \
                 THEN excluded.max_at ELSE stats_online_daily.max_at END, \
             max_online = CASE WHEN excluded.max_online > stats_online_daily.max_online \
                 THEN excluded.max_online ELSE stats_online_daily.max_online END, \
             samples = stats_online_daily.samples + 1",
            &[
                Arg::I64(client_id),
                Arg::I64(day),
                Arg::I64(online),
                Arg::I64(now),
            ],
        )
        .await?;
        let (max_online, max_at): (i64, i64) = with_tx!(tx, c => sqlx::query_as(
            "SELECT max_online, max_at FROM stats_online_daily WHERE client_id = $1 AND day = $2")
            .bind(client_id)
            .bind(day)
            .fetch_one(c)
            .await)?;
        out.push(OnlineSample {
            client_id,
            at: now,
            online,
            day,
            max_online,
            max_at,
        });
    }
    if !out.is_empty() {
        let summary: Vec<_> = out
            .iter()
            .map(|s| json!({ "client_id": s.client_id, "online": s.online, "max_online": s.max_online }))
            .collect();
        tx.audit(
            None,
            "sample",
            "stats_online",
            Some(day.to_string()),
            json!({ "at": now, "clients": summary }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// A day's maximum of one operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DailyMax {
    /// The operator.
    pub client_id: i64,
    /// The UTC day (its start).
    pub day: i64,
    /// The highest number of sessions online sampled that day.
    pub max_online: i64,
    /// When it was first reached.
    pub max_at: i64,
    /// Samples taken that day.
    pub samples: i64,
}

/// Daily maxima of one operator (or all, `None`) for days in `[from, to]`.
pub async fn daily_max(
    store: &Store,
    client_id: Option<i64>,
    from: i64,
    to: i64,
) -> Result<Vec<DailyMax>> {
    let sql = "SELECT client_id, day, max_online, max_at, samples FROM stats_online_daily \
               WHERE ($1 IS NULL OR client_id = $1) AND day >= $2 AND day <= $3 \
               ORDER BY day, client_id";
    let rows: Vec<DailyMax> = with_db!(store.pool(), p => sqlx::query_as(sql)
        .bind(client_id)
        .bind(day_start(from))
        .bind(to)
        .fetch_all(p)
        .await)?;
    Ok(rows)
}
