//! The dashboard: counts, subscribers online now and the daily maximum,
//! subscriber dynamics, ingest jobs per hour with failures, and EPG
//! coverage of the next 24 hours.

use efir_store::with_db;
use minijinja::context;
use serde::Serialize;

use super::{operator_scope, Chart, Query};
use crate::chart::{self, Series};
use crate::i18n::t;
use crate::render::{param, PageError, PageResult};
use crate::session::User;
use crate::Panel;

#[derive(Serialize)]
struct Tile {
    label: &'static str,
    value: String,
    href: String,
}

/// `(condition on alias t, bound operator)` for an optional operator.
fn scoped(scope: Option<i64>) -> (&'static str, i64) {
    match scope {
        Some(c) => ("t.client_id = $1", c),
        None => ("$1 = $1", 0),
    }
}

async fn count(panel: &Panel, table: &str, extra: &str, scope: Option<i64>) -> PageResult<i64> {
    let (cond, c) = scoped(scope);
    let sql = format!("SELECT COUNT(*) FROM {table} t WHERE {cond}{extra}");
    let n: i64 =
        with_db!(panel.store.pool(), p => sqlx::query_scalar(&sql).bind(c).fetch_one(p).await)?;
    Ok(n)
}

/// `GET /admin/`: the dashboard of the user's operator (a superuser's
/// choice with `?client=`, or all).
pub async fn show(
    axum::extract::State(panel): axum::extract::State<Panel>,
    user: User,
    Query(q): Query,
) -> PageResult {
    let (filter, scope) = operator_scope(&panel, &user, &q).await?;
    let now = efir_store::now();
    let lang = user.lang;
    let suffix = param(&q, "client")
        .filter(|v| !v.is_empty())
        .map(|c| format!("?client={c}"))
        .unwrap_or_default();

    let customers = count(&panel, "customer", "", scope).await?;
    let accounts = count(&panel, "account", " AND t.active", scope).await?;
    let channels = count(&panel, "channel", "", scope).await?;
    let mut online = 0;
    let clients: Vec<i64> = match scope {
        Some(c) => vec![c],
        None => panel.store.clients().await?.iter().map(|c| c.id).collect(),
    };
    for c in &clients {
        let window = efir_backoffice::stats::online_window(&panel.store, *c)
            .await
            .map_err(|e| PageError::internal(e.to_string()))?;
        online += efir_backoffice::stats::online::online_now(&panel.store, *c, now, window)
            .await
            .map_err(|e| PageError::internal(e.to_string()))?;
    }
    let tiles = vec![
        Tile {
            label: "online_now",
            value: online.to_string(),
            href: format!("/admin/accounts{suffix}"),
        },
        Tile {
            label: "customers",
            value: customers.to_string(),
            href: format!("/admin/customers{suffix}"),
        },
        Tile {
            label: "active_accounts",
            value: accounts.to_string(),
            href: format!("/admin/accounts{suffix}"),
        },
        Tile {
            label: "channels",
            value: channels.to_string(),
            href: format!("/admin/content/channel{suffix}"),
        },
    ];

    let (cond, c) = scoped(scope);
    // Daily maximum online, last 30 days.
    let since = now - 30 * 86_400;
    let sql = format!(
        "SELECT t.day, SUM(t.max_online) FROM stats_online_daily t WHERE {cond} AND t.day >= $2 \
         GROUP BY t.day ORDER BY t.day"
    );
    let rows: Vec<(i64, i64)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(&sql).bind(c).bind(since).fetch_all(p).await)?;
    let online_series = Series {
        name: t(lang, "daily_max_online").into(),
        points: rows
            .iter()
            .map(|(d, v)| (day_label(*d), *v as f64))
            .collect(),
    };

    // Dynamics: active accounts by day (last 30 buckets) and by month.
    let granularity = match param(&q, "period") {
        Some("month") => "month",
        Some("week") => "week",
        _ => "day",
    };
    let sql = format!(
        "SELECT t.bucket, SUM(t.active_accounts), SUM(t.new_accounts), SUM(t.deactivated_accounts) \
         FROM stats_dynamic t WHERE {cond} AND t.granularity = $2 \
         GROUP BY t.bucket ORDER BY t.bucket DESC LIMIT 30"
    );
    let stored_granularity = if granularity == "week" {
        "day"
    } else {
        granularity
    };
    let mut dyn_rows: Vec<(i64, i64, i64, i64)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(&sql).bind(c).bind(stored_granularity).fetch_all(p).await)?;
    dyn_rows.reverse();
    if granularity == "week" {
        dyn_rows = weekly(&dyn_rows);
    }
    let dyn_series = vec![
        Series {
            name: t(lang, "active_accounts").into(),
            points: dyn_rows
                .iter()
                .map(|r| (day_label(r.0), r.1 as f64))
                .collect(),
        },
        Series {
            name: t(lang, "new_accounts").into(),
            points: dyn_rows
                .iter()
                .map(|r| (day_label(r.0), r.2 as f64))
                .collect(),
        },
        Series {
            name: t(lang, "deactivated").into(),
            points: dyn_rows
                .iter()
                .map(|r| (day_label(r.0), r.3 as f64))
                .collect(),
        },
    ];

    // Ingest jobs per hour over the last 24 hours (the farm is shared by
    // every operator; staff of one operator see the counts too).
    let since_ms = (now - 24 * 3600) * 1000;
    let sql = "SELECT created_ms / 3600000, COUNT(*), \
               SUM(CASE WHEN state IN ('failed', 'dead') THEN 1 ELSE 0 END) \
               FROM ingest_job WHERE created_ms >= $1 GROUP BY created_ms / 3600000 ORDER BY 1";
    let jobs: Vec<(i64, i64, i64)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(sql).bind(since_ms).fetch_all(p).await)?;
    let job_series = vec![
        Series {
            name: t(lang, "jobs").into(),
            points: jobs
                .iter()
                .map(|j| (hour_label(j.0 * 3600), j.1 as f64))
                .collect(),
        },
        Series {
            name: t(lang, "failures").into(),
            points: jobs
                .iter()
                .map(|j| (hour_label(j.0 * 3600), j.2 as f64))
                .collect(),
        },
    ];

    // EPG coverage: enabled channels with no programme in the next 24 h.
    let sql = format!(
        "SELECT COUNT(*) FROM channel t WHERE {cond} AND t.enabled AND NOT EXISTS \
         (SELECT 1 FROM epg_programme e WHERE e.epg_channel_id = t.epg_channel_id \
          AND e.stop_at > $2 AND e.start_at < $3)"
    );
    let uncovered: i64 = with_db!(panel.store.pool(), p =>
        sqlx::query_scalar(&sql).bind(c).bind(now).bind(now + 86_400).fetch_one(p).await)?;
    let enabled = count(&panel, "channel", " AND t.enabled", scope).await?;

    let empty = t(lang, "chart_no_data");
    let charts = vec![
        Chart {
            title: "daily_max_online",
            svg: chart::lines(t(lang, "daily_max_online"), &[online_series], empty),
        },
        Chart {
            title: "dynamics",
            svg: chart::lines(t(lang, "dynamics"), &dyn_series, empty),
        },
        Chart {
            title: "jobs_per_hour",
            svg: chart::lines(t(lang, "jobs_per_hour"), &job_series, empty),
        },
        Chart {
            title: "epg_coverage",
            svg: chart::bars(
                t(lang, "epg_coverage"),
                &[
                    (
                        t(lang, "with_guide").to_string(),
                        (enabled - uncovered).max(0) as f64,
                    ),
                    (t(lang, "without_guide").to_string(), uncovered as f64),
                ],
                empty,
            ),
        },
    ];
    let mut charts = charts;
    charts.extend(super::area_charts(&panel, &user, scope).await?);
    panel.views.page(
        "dashboard.html",
        &user,
        context! { tiles, charts, filter, period => granularity, uncovered },
    )
}

/// Sums daily buckets into weeks (the last value of active accounts).
fn weekly(days: &[(i64, i64, i64, i64)]) -> Vec<(i64, i64, i64, i64)> {
    let mut out: Vec<(i64, i64, i64, i64)> = Vec::new();
    for d in days {
        let week = d.0 - (d.0.div_euclid(86_400) + 3).rem_euclid(7) * 86_400;
        match out.last_mut() {
            Some(w) if w.0 == week => {
                w.1 = d.1;
                w.2 += d.2;
                w.3 += d.3;
            }
            _ => out.push((week, d.1, d.2, d.3)),
        }
    }
    out
}

fn day_label(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%m-%d").to_string())
        .unwrap_or_default()
}

fn hour_label(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%H:00").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-30 is a Monday, 2026-12-06 a Sunday, 2026-12-07 a Monday.
        let mon = 1_795_996_800;
        let days: Vec<(i64, i64, i64, i64)> =
            (0..8).map(|i| (mon + i * 86_400, 10 + i, 1, 0)).collect();
        let w = weekly(&days);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0], (mon, 16, 7, 0));
        assert_eq!(w[1].0, mon + 7 * 86_400);
    }
}
