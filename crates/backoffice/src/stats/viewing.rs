//! Reading the viewing events devices push (`stat/push/` in the device
//! API, which validates and stores them in `viewing_event`): totals per
//! content type and the most watched content of a period.

use efir_store::Store;
use serde::Serialize;

use super::{Result, StatsError};

/// Content types a device may report.
pub const CONTENT_TYPES: &[&str] = &["channel", "vod", "radio", "camera"];

/// Checks a content type filter.
pub fn check_content_type(s: &str) -> Result<&str> {
    CONTENT_TYPES
        .iter()
        .find(|t| **t == s.trim())
        .copied()
        .ok_or_else(|| {
            StatsError::Invalid(format!(
                "content type `{s}` is not one of {}",
                CONTENT_TYPES.join(", ")
            ))
        })
}

/// Viewing of one piece of content (or one content type's total).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Viewing {
    /// `channel`, `vod`, `radio` or `camera`.
    pub content_type: String,
    /// The content's id (0 in totals).
    pub content_id: i64,
    /// Events.
    pub events: i64,
    /// Seconds watched.
    pub seconds: i64,
    /// Distinct accounts that watched.
    pub accounts: i64,
}

/// Totals per content type and the `limit` most watched contents (by
/// seconds) of events that started in `[from, to]`.
pub async fn viewing(
    store: &Store,
    client_id: Option<i64>,
    from: i64,
    to: i64,
    content_type: Option<&str>,
    limit: i64,
) -> Result<(Vec<Viewing>, Vec<Viewing>)> {
    let filter = "WHERE ($1 IS NULL OR client_id = $1) AND started_at >= $2 AND started_at <= $3 \
                  AND ($4 IS NULL OR content_type = $4)";
    let totals = format!(
        "SELECT content_type, CAST(0 AS BIGINT) AS content_id, COUNT(*) AS events, \
         SUM_SECONDS AS seconds, COUNT(DISTINCT account_id) AS accounts \
         FROM viewing_event {filter} GROUP BY content_type ORDER BY content_type"
    );
    let top = format!(
        "SELECT content_type, content_id, COUNT(*) AS events, SUM_SECONDS AS seconds, \
         COUNT(DISTINCT account_id) AS accounts FROM viewing_event {filter} \
         GROUP BY content_type, content_id ORDER BY seconds DESC, events DESC, content_type, \
         content_id LIMIT $5"
    );
    let content_type = content_type.map(str::to_string);
    macro_rules! fetch {
        ($p:expr, $sum:expr) => {{
            let t: Vec<Viewing> = sqlx::query_as(&totals.replace("SUM_SECONDS", $sum))
                .bind(client_id)
                .bind(from)
                .bind(to)
                .bind(content_type.clone())
                .fetch_all($p)
                .await?;
            let top: Vec<Viewing> = sqlx::query_as(&top.replace("SUM_SECONDS", $sum))
                .bind(client_id)
                .bind(from)
                .bind(to)
                .bind(content_type.clone())
                .bind(limit)
                .fetch_all($p)
                .await?;
            (t, top)
        }};
    }
    // PostgreSQL sums BIGINT into NUMERIC: cast back.
    Ok(match store.pool() {
        efir_store::Pool::Sqlite(p) => fetch!(p, "SUM(duration)"),
        efir_store::Pool::Postgres(p) => fetch!(p, "CAST(SUM(duration) AS BIGINT)"),
    })
}
