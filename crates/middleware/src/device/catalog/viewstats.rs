//! `stat/push/`: viewing events pushed by devices (Smarty's ViewStats
//! API), and the customer log of subscriber events (logins, logouts).
//!
//! A device sends one event as parameters (`content_type`, `content_id`,
//! `start`, `duration`) or a batch as `events`, a JSON array of objects
//! with the same keys. `content_type` is `channel`, `vod`, `radio` or
//! `camera`; `content_id` must be content of the operator; `start` is Unix
//! seconds, not in the future (a few minutes of clock skew allowed) and not
//! older than [`MAX_EVENT_AGE_SECS`]; `duration` is whole seconds from 1 to
//! a day. A batch holds at most [`MAX_BATCH`] events. Every event is
//! checked before anything is written: one bad event rejects the whole
//! batch with `error` 400 naming it, and nothing is stored.
//!
//! Viewing events and the customer log are operational records of what
//! subscribers did, like sessions: they are written in a plain transaction,
//! not the audited one, and pruned by `remove-viewed-content-history` and
//! `clear-customer-log`.

use std::collections::{BTreeMap, BTreeSet};

use efir_store::with_db;
use serde_json::{json, Value};

use crate::device::{Call, DeviceError, ERR_BAD_REQUEST};
use crate::Middleware;

/// Most events in one `stat/push/` call.
pub const MAX_BATCH: usize = 500;
/// Oldest event accepted, in seconds before now (30 days: a box that was
/// offline for a while may push its backlog).
pub const MAX_EVENT_AGE_SECS: i64 = 30 * 86_400;
/// How far in the future an event may start (device clock skew).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// Longest duration of one event, in seconds.
pub const MAX_DURATION_SECS: i64 = 86_400;

/// The content types and the table each one's ids live in.
const CONTENT_TABLES: &[(&str, &str)] = &[
    ("channel", "channel"),
    ("vod", "video"),
    ("radio", "radio"),
    ("camera", "camera"),
];

/// One checked event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    content_type: &'static str,
    content_id: i64,
    start: i64,
    duration: i64,
}

fn bad(message: String) -> DeviceError {
    DeviceError::new(ERR_BAD_REQUEST, message)
}

/// A whole number from a JSON value or a parameter string.
fn whole(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Checks one event given as a map of fields; `at` names it in errors.
fn check_event(
    fields: &serde_json::Map<String, Value>,
    at: &str,
    now: i64,
) -> Result<Event, DeviceError> {
    let kind = fields
        .get("content_type")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    let content_type = CONTENT_TABLES
        .iter()
        .find(|(t, _)| *t == kind)
        .map(|(t, _)| *t)
        .ok_or_else(|| {
            bad(format!(
                "{at}content_type must be one of channel, vod, radio, camera"
            ))
        })?;
    let content_id = whole(fields.get("content_id"))
        .filter(|id| *id > 0)
        .ok_or_else(|| bad(format!("{at}content_id must be a positive whole number")))?;
    let start = whole(fields.get("start").or_else(|| fields.get("start_time")))
        .ok_or_else(|| bad(format!("{at}start must be Unix seconds")))?;
    if start > now + MAX_CLOCK_SKEW_SECS {
        return Err(bad(format!("{at}start is in the future")));
    }
    if start < now - MAX_EVENT_AGE_SECS {
        return Err(bad(format!(
            "{at}start is older than {} days",
            MAX_EVENT_AGE_SECS / 86_400
        )));
    }
    let duration = whole(fields.get("duration"))
        .filter(|d| (1..=MAX_DURATION_SECS).contains(d))
        .ok_or_else(|| {
            bad(format!(
                "{at}duration must be whole seconds from 1 to {MAX_DURATION_SECS}"
            ))
        })?;
    Ok(Event {
        content_type,
        content_id,
        start,
        duration,
    })
}

/// The events of a call: the `events` JSON array, or one event from the
/// parameters.
fn parse_events(call: &Call, now: i64) -> Result<Vec<Event>, DeviceError> {
    if let Some(raw) = call.params.get("events") {
        let list: Vec<Value> = serde_json::from_str(raw)
            .map_err(|_| bad("events must be a JSON array of event objects".into()))?;
        if list.is_empty() {
            return Err(bad("events is empty".into()));
        }
        if list.len() > MAX_BATCH {
            return Err(bad(format!(
                "too many events: {} (at most {MAX_BATCH} per call)",
                list.len()
            )));
        }
        return list
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(fields) => check_event(fields, &format!("events[{i}]."), now),
                _ => Err(bad(format!("events[{i}] is not an object"))),
            })
            .collect();
    }
    let mut fields = serde_json::Map::new();
    for key in [
        "content_type",
        "content_id",
        "start",
        "start_time",
        "duration",
    ] {
        if let Some(v) = call.params.get(key) {
            fields.insert(key.to_string(), Value::String(v.to_string()));
        }
    }
    Ok(vec![check_event(&fields, "", now)?])
}

/// Checks that every content id exists for the operator.
async fn check_content(
    mw: &Middleware,
    client_id: i64,
    events: &[Event],
) -> Result<(), DeviceError> {
    let mut wanted: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    for e in events {
        wanted
            .entry(e.content_type)
            .or_default()
            .insert(e.content_id);
    }
    for (kind, ids) in wanted {
        let table = CONTENT_TABLES
            .iter()
            .find(|(t, _)| *t == kind)
            .map_or("channel", |(_, table)| *table);
        let ids: Vec<i64> = ids.into_iter().collect();
        let sql = format!(
            "SELECT id FROM {table} WHERE client_id = $1 AND id IN ({})",
            crate::access::placeholders(2, ids.len())
        );
        let found: Vec<i64> = with_db!(mw.store.pool(), p => {
            let mut q = sqlx::query_scalar(&sql).bind(client_id);
            for id in &ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        if let Some(missing) = ids.iter().find(|id| !found.contains(id)) {
            return Err(bad(format!("no {kind} with content_id {missing}")));
        }
    }
    Ok(())
}

/// `stat/push/`: stores the call's viewing events; answers `stored`.
pub(super) async fn stat_push(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let session = call.session(mw).await?;
    let now = efir_store::now();
    let events = parse_events(call, now)?;
    check_content(mw, call.client.id, &events).await?;
    let insert = "INSERT INTO viewing_event (client_id, customer_id, account_id, content_type, \
                  content_id, started_at, duration, device_uid, received_at) \
                  SELECT a.client_id, a.customer_id, a.id, $2, $3, $4, $5, $6, $7 \
                  FROM account a WHERE a.id = $1";
    with_db!(mw.store.pool(), p => {
        let mut tx = p.begin().await?;
        for e in &events {
            sqlx::query(insert)
                .bind(session.account_id)
                .bind(e.content_type)
                .bind(e.content_id)
                .bind(e.start)
                .bind(e.duration)
                .bind(&session.device_uid)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })?;
    Ok(json!({ "stored": events.len() }))
}

/// Writes a subscriber event (`login`, `logout`) of `account_id` to the
/// customer log. A failure is logged, never fails the call that made it.
pub(crate) async fn log_customer_event(mw: &Middleware, account_id: i64, event: &str, call: &Call) {
    let sql =
        "INSERT INTO customer_log (client_id, customer_id, account_id, event, detail, ip, at) \
               SELECT client_id, customer_id, id, $2, $3, $4, $5 FROM account WHERE id = $1";
    let detail = call.params.get("device_uid").unwrap_or_default();
    let detail: String = detail.chars().take(200).collect();
    let done = with_db!(mw.store.pool(), p => sqlx::query(sql)
        .bind(account_id)
        .bind(event)
        .bind(detail)
        .bind(call.ip.to_string())
        .bind(efir_store::now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()));
    if let Err(e) = done {
        tracing::warn!(account = account_id, error = %e, "cannot write the customer log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }

    #[test]
    fn events_are_checked() {
        let now = 1_000_000_000;
        let ok = check_event(
            &fields(json!({"content_type": "vod", "content_id": "7", "start": now - 60, "duration": 60})),
            "",
            now,
        )
        .unwrap();
        assert_eq!(ok.content_type, "vod");
        for bad in [
            json!({"content_type": "book", "content_id": 1, "start": now, "duration": 1}),
            json!({"content_type": "vod", "content_id": -1, "start": now, "duration": 1}),
            json!({"content_type": "vod", "content_id": 1, "start": now + 3600, "duration": 1}),
            json!({"content_type": "vod", "content_id": 1, "start": now - 40 * 86_400, "duration": 1}),
            json!({"content_type": "vod", "content_id": 1, "start": now, "duration": 0}),
            json!({"content_type": "vod", "content_id": 1, "start": now, "duration": 90_000}),
            json!({"content_type": "vod", "content_id": "1 OR 1=1", "start": now, "duration": 5}),
        ] {
            assert!(check_event(&fields(bad.clone()), "", now).is_err(), "{bad}");
        }
    }
}
