//! The admin request log: every request to the admin API (method, path,
//! user, status, duration, address) is kept in `request_log` for
//! `admin.request_log_days` days and can be searched.
//!
//! Requests are handed to a background writer through a bounded channel
//! and written in batches, so logging never slows an answer down; when the
//! database cannot keep up, entries beyond the channel are dropped and
//! counted in `efir_admin_request_log_dropped_total`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use efir_store::audit::Arg;
use efir_store::{with_db, Actor, Store};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::auth::Staff;
use super::error::{AdminError, AdminResult};
use super::input::{Format, Page, Params};
use super::output::respond;
use super::AdminState;

/// Who made a request, filled in by the [`Staff`] extractor (or by a failed
/// login, with the name tried).
#[derive(Debug, Clone, Default)]
pub struct LogSlot(Arc<Mutex<Option<Who>>>);

/// User id, user name and operator of a request.
type Who = (Option<i64>, String, Option<i64>);

impl LogSlot {
    /// Records the logged-in user.
    pub fn set(&self, staff: &Staff) {
        if let Ok(mut s) = self.0.lock() {
            *s = Some((Some(staff.id), staff.username.clone(), staff.client_id));
        }
    }

    /// Records only a name (a failed login).
    pub fn set_name(&self, username: &str) {
        if let Ok(mut s) = self.0.lock() {
            let name: String = username.chars().take(150).collect();
            *s = Some((None, name, None));
        }
    }

    fn take(&self) -> Who {
        self.0
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .unwrap_or((None, String::new(), None))
    }
}

/// One admin request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RequestEntry {
    /// Sequence number (0 before it is written).
    pub id: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// Staff user id, when logged in.
    pub user_id: Option<i64>,
    /// Staff user name (or the name a failed login tried).
    pub username: String,
    /// The user's operator.
    pub client_id: Option<i64>,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: String,
    /// Answer status.
    pub status: i64,
    /// Time to answer, milliseconds.
    pub duration_ms: i64,
    /// Client address.
    pub ip: String,
}

/// Most entries waiting to be written.
const QUEUE: usize = 10_000;
/// Most entries written in one transaction.
const BATCH: usize = 500;

/// The background writer of the request log.
#[derive(Debug, Clone)]
pub struct RequestLog {
    tx: mpsc::Sender<RequestEntry>,
}

impl RequestLog {
    /// Starts the writer on the current runtime.
    pub fn spawn(store: Store) -> RequestLog {
        let (tx, mut rx) = mpsc::channel::<RequestEntry>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                if let Err(e) = write(&store, &batch).await {
                    tracing::warn!(error = %e, lost = batch.len(), "admin request log: cannot write");
                }
                batch.clear();
            }
        });
        RequestLog { tx }
    }

    fn push(&self, entry: RequestEntry) {
        if self.tx.try_send(entry).is_err() {
            metrics::counter!("efir_admin_request_log_dropped_total").increment(1);
        }
    }
}

async fn write(store: &Store, batch: &[RequestEntry]) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO request_log (at, user_id, username, client_id, method, path, query, \
               status, duration_ms, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    with_db!(store.pool(), p => {
        let mut t = p.begin().await?;
        for e in batch {
            sqlx::query(sql)
                .bind(e.at)
                .bind(e.user_id)
                .bind(&e.username)
                .bind(e.client_id)
                .bind(&e.method)
                .bind(&e.path)
                .bind(&e.query)
                .bind(e.status)
                .bind(e.duration_ms)
                .bind(&e.ip)
                .execute(&mut *t)
                .await?;
        }
        t.commit().await
    })
}

/// The client's address: the socket's, or `X-Real-IP` /
/// `X-Forwarded-For` when the socket is a trusted proxy.
pub fn client_ip(headers: &HeaderMap, ext: &Extensions, state: &AdminState) -> String {
    let peer = ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let trusted = peer.is_some_and(|ip| state.trusted_proxies.iter().any(|n| n.contains(ip)));
    if trusted {
        let forwarded = headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
            })
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    peer.map(|ip| ip.to_string()).unwrap_or_default()
}

/// Middleware: logs every request of the admin API.
pub async fn log_requests(
    State(state): State<AdminState>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let slot = LogSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().to_string();
    let path: String = req.uri().path().chars().take(500).collect();
    let query: String = req.uri().query().unwrap_or("").chars().take(500).collect();
    let ip = client_ip(req.headers(), req.extensions(), &state);
    let response = next.run(req).await;
    let (user_id, username, client_id) = slot.take();
    state.request_log.push(RequestEntry {
        id: 0,
        at: efir_store::now(),
        user_id,
        username,
        client_id,
        method,
        path,
        query,
        status: i64::from(response.status().as_u16()),
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        ip,
    });
    response
}

/// Columns of the request log in lists and CSV.
const COLUMNS: [&str; 11] = [
    "id",
    "at",
    "user_id",
    "username",
    "client_id",
    "method",
    "path",
    "query",
    "status",
    "duration_ms",
    "ip",
];

/// `GET /admin/api/request-log`: search by `username`, `method`, `path`
/// (contains), `status`, `from`/`to`, `client_id` (superusers); newest
/// first; operator admins see their operator's staff only.
pub async fn search(
    State(state): State<AdminState>,
    staff: Staff,
    params: Params,
    page: Page,
    format: Format,
) -> AdminResult<Response> {
    staff.require_admin()?;
    let client = staff.scope(params.i64("client_id")?)?;
    let (from, to) = params.range("from", "to")?;
    let status = params.i64("status")?;
    if let Some(s) = status {
        if !(100..=599).contains(&s) {
            return Err(AdminError::field(
                "status",
                "must be an HTTP status (100-599)",
            ));
        }
    }
    let method = params.str("method").map(str::to_ascii_uppercase);
    let sql = "SELECT id, at, user_id, username, client_id, method, path, query, status, \
               duration_ms, ip FROM request_log \
               WHERE ($1 IS NULL OR client_id = $1) \
                 AND ($2 IS NULL OR username = $2) \
                 AND ($3 IS NULL OR method = $3) \
                 AND ($4 IS NULL OR LOWER(path) LIKE $4 ESCAPE '\\') \
                 AND ($5 IS NULL OR status = $5) \
                 AND ($6 IS NULL OR at >= $6) \
                 AND ($7 IS NULL OR at < $7) \
               ORDER BY id DESC LIMIT $8 OFFSET $9";
    let rows: Vec<RequestEntry> = with_db!(state.store.pool(), p => sqlx::query_as(sql)
        .bind(client)
        .bind(params.str("username"))
        .bind(method)
        .bind(params.str("path").map(efir_store::like_contains))
        .bind(status)
        .bind(from)
        .bind(to)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(p)
        .await)
    .map_err(|e| AdminError::from(efir_store::StoreError::from(e)))?;
    let items = rows
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
    Ok(respond(format, &COLUMNS, items))
}

/// Removes request-log entries older than `before` (Unix seconds),
/// recording how many in the audit log; returns the count.
pub async fn purge(store: &Store, actor: Actor, before: i64) -> efir_store::Result<u64> {
    let mut tx = store.begin(actor).await?;
    let removed = tx
        .execute(
            "request_log",
            "DELETE FROM request_log WHERE at < $1",
            &[Arg::I64(before)],
        )
        .await?;
    if removed > 0 {
        tx.audit(
            None,
            "purge",
            "request_log",
            None,
            json!({ "before": before, "removed": removed }),
        )
        .await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(removed)
}
