//! The statistics endpoints of the admin API, as time series in JSON or
//! CSV (`?format=csv`):
//!
//! - `GET /admin/api/stats/online`: sessions online now per operator and
//!   the daily maxima of `from..to`;
//! - `GET /admin/api/stats/daily?from=&to=`: the daily statistics rows;
//! - `GET /admin/api/stats/dynamic?granularity=hour|day|month&from=&to=`:
//!   subscriber dynamics buckets;
//! - `GET /admin/api/stats/viewing?from=&to=&content_type=&limit=`: the most
//!   watched content, with totals per content type (in JSON).
//!
//! `from`/`to` are dates (`YYYY-MM-DD`) or Unix seconds; `to` defaults to
//! now and `from` to 30 days before `to`; a range longer than the endpoint
//! allows, or `from` after `to`, is a 422 naming the field. Staff see
//! their own operator; a superuser sees all or picks one with `client_id`.
//! Monitoring users may read all of it: nothing here writes.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::admin::{respond, AdminError, AdminResult, AdminState, Format, Params, Staff};

use super::dynamic::Granularity;
use super::{daily, dynamic, online, viewing, StatsError, DAY};

/// The default period: the last 30 days.
const DEFAULT_DAYS: i64 = 30;
/// The longest period of daily series (online, daily, viewing).
const MAX_DAILY_DAYS: i64 = 366;
/// The longest period of hourly dynamics.
const MAX_HOURLY_DAYS: i64 = 31;
/// The longest period of monthly dynamics (ten years).
const MAX_MONTHLY_DAYS: i64 = 3660;
/// Most content in the viewing top list.
const MAX_TOP: i64 = 1000;

/// The routes of the statistics endpoints.
pub fn admin_routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/api/stats/online", get(online_series))
        .route("/admin/api/stats/daily", get(daily_series))
        .route("/admin/api/stats/dynamic", get(dynamic_series))
        .route("/admin/api/stats/viewing", get(viewing_top))
}

impl From<StatsError> for AdminError {
    fn from(e: StatsError) -> Self {
        match e {
            StatsError::Invalid(m) => AdminError::bad_request(m),
            StatsError::UnknownClient(_) => AdminError::not_found("no such operator"),
            StatsError::Store(e) => e.into(),
        }
    }
}

/// `from`/`to` of a request, defaulted and bounded to `max_days`.
fn period(p: &Params, now: i64, max_days: i64) -> AdminResult<(i64, i64)> {
    let (from, to) = p.range("from", "to")?;
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - DEFAULT_DAYS * DAY);
    if from > to {
        return Err(AdminError::field("from", "must not be after `to`"));
    }
    if to - from > max_days * DAY {
        return Err(AdminError::field(
            "to",
            format!("the period may be at most {max_days} days"),
        ));
    }
    Ok((from, to))
}

/// The operator scope of a request (`client_id`).
fn scope(staff: &Staff, p: &Params) -> AdminResult<Option<i64>> {
    staff.scope(p.i64("client_id")?)
}

async fn online_series(
    State(state): State<AdminState>,
    staff: Staff,
    format: Format,
    p: Params,
) -> AdminResult<Response> {
    let client = scope(&staff, &p)?;
    let now = efir_store::now();
    let (from, to) = period(&p, now, MAX_DAILY_DAYS)?;
    let store = &state.store;
    let items: Vec<Value> = online::daily_max(store, client, from, to)
        .await?
        .into_iter()
        .map(|m| {
            json!({
                "client_id": m.client_id,
                "date": super::date_string(m.day),
                "day": m.day,
                "max_online": m.max_online,
                "max_at": m.max_at,
                "max_time": super::time_string(m.max_at),
                "samples": m.samples,
            })
        })
        .collect();
    if format == Format::Csv {
        let cols = [
            "client_id",
            "date",
            "day",
            "max_online",
            "max_at",
            "max_time",
            "samples",
        ];
        return Ok(respond(format, &cols, items));
    }
    let clients = match client {
        Some(c) => vec![c],
        None => super::resolve_clients(store, None).await?,
    };
    let mut current = Vec::with_capacity(clients.len());
    for c in clients {
        let window = super::online_window(store, c).await?;
        let n = online::online_now(store, c, now, window).await?;
        current.push(json!({ "client_id": c, "online": n, "window_secs": window }));
    }
    Ok(Json(json!({
        "at": now,
        "now": current,
        "count": items.len(),
        "items": items,
    }))
    .into_response())
}

async fn daily_series(
    State(state): State<AdminState>,
    staff: Staff,
    format: Format,
    p: Params,
) -> AdminResult<Response> {
    let client = scope(&staff, &p)?;
    let (from, to) = period(&p, efir_store::now(), MAX_DAILY_DAYS)?;
    let items: Vec<Value> = daily::stored(&state.store, client, from, to)
        .await?
        .iter()
        .map(daily::DailyStats::to_json)
        .collect();
    let cols = [
        "client_id",
        "date",
        "day",
        "customers",
        "accounts",
        "active_accounts",
        "new_customers",
        "new_accounts",
        "deactivations",
        "max_online",
        "max_online_at",
        "payments",
        "payments_count",
        "charges",
        "charges_count",
        "viewing_events",
        "viewing_seconds",
    ];
    Ok(respond(format, &cols, items))
}

async fn dynamic_series(
    State(state): State<AdminState>,
    staff: Staff,
    format: Format,
    p: Params,
) -> AdminResult<Response> {
    let client = scope(&staff, &p)?;
    let g = match p.str("granularity") {
        None => Granularity::Day,
        Some(v) => Granularity::parse(v)
            .map_err(|_| AdminError::field("granularity", "must be hour, day or month"))?,
    };
    let max = match g {
        Granularity::Hour => MAX_HOURLY_DAYS,
        Granularity::Day => MAX_DAILY_DAYS,
        Granularity::Month => MAX_MONTHLY_DAYS,
    };
    let (from, to) = period(&p, efir_store::now(), max)?;
    let items: Vec<Value> = dynamic::stored(&state.store, client, g, from, to)
        .await?
        .into_iter()
        .map(|b| {
            json!({
                "client_id": b.client_id,
                "granularity": b.granularity,
                "bucket": b.bucket,
                "time": super::time_string(b.bucket),
                "customers": b.customers,
                "accounts": b.accounts,
                "active_accounts": b.active_accounts,
                "new_customers": b.new_customers,
                "new_accounts": b.new_accounts,
                "deactivated_accounts": b.deactivated_accounts,
            })
        })
        .collect();
    let cols = [
        "client_id",
        "granularity",
        "bucket",
        "time",
        "customers",
        "accounts",
        "active_accounts",
        "new_customers",
        "new_accounts",
        "deactivated_accounts",
    ];
    Ok(respond(format, &cols, items))
}

async fn viewing_top(
    State(state): State<AdminState>,
    staff: Staff,
    format: Format,
    p: Params,
) -> AdminResult<Response> {
    let client = scope(&staff, &p)?;
    let (from, to) = period(&p, efir_store::now(), MAX_DAILY_DAYS)?;
    let content_type = match p.str("content_type") {
        None => None,
        Some(v) => Some(viewing::check_content_type(v).map_err(|_| {
            AdminError::field(
                "content_type",
                format!("must be one of {}", viewing::CONTENT_TYPES.join(", ")),
            )
        })?),
    };
    let limit = p.i64("limit")?.unwrap_or(50);
    if !(1..=MAX_TOP).contains(&limit) {
        return Err(AdminError::field(
            "limit",
            format!("must be from 1 to {MAX_TOP}"),
        ));
    }
    let (totals, top) =
        viewing::viewing(&state.store, client, from, to, content_type, limit).await?;
    let as_json = |v: &viewing::Viewing| {
        json!({
            "content_type": v.content_type,
            "content_id": v.content_id,
            "events": v.events,
            "seconds": v.seconds,
            "accounts": v.accounts,
        })
    };
    let items: Vec<Value> = top.iter().map(as_json).collect();
    if format == Format::Csv {
        let cols = [
            "content_type",
            "content_id",
            "events",
            "seconds",
            "accounts",
        ];
        return Ok(respond(format, &cols, items));
    }
    let totals: Vec<Value> = totals
        .iter()
        .map(|t| {
            json!({
                "content_type": t.content_type,
                "events": t.events,
                "seconds": t.seconds,
                "accounts": t.accounts,
            })
        })
        .collect();
    Ok(Json(json!({
        "from": from,
        "to": to,
        "totals": totals,
        "count": items.len(),
        "items": items,
    }))
    .into_response())
}
