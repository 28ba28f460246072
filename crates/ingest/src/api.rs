//! The operator REST API of the ingest farm and its live event stream.
//!
//! Everything lives under [`BASE`] (`/api/ingest`) and needs
//! `Authorization: Bearer <ingest.api_token>`; without a configured token
//! the API answers 404 everywhere. Answers are JSON; errors are
//! `{"error": "<machine_code>", "message": "<readable>"}` with a matching
//! HTTP status (400 bad request, 401 no or wrong token, 404 unknown, 409
//! wrong state, 422 refused input, 500 store failure).
//!
//! - `POST /jobs`: submit a job; `GET /jobs`: list jobs (newest first);
//!   `GET /jobs/{id}`: one job with its attempts, steps and log lines;
//!   `POST /jobs/{id}/cancel`, `POST /jobs/{id}/retry`.
//! - `GET /workers?all=`: worker nodes; `GET /summary`: counts.
//! - `GET /events?since_ms=`: Server-Sent Events for live dashboards:
//!   `job` (a job changed), `worker` (a worker's state, running jobs,
//!   mounts or last heartbeat changed), `error` (the store cannot be read;
//!   sent once until it recovers), `overflow` (too many changes at once:
//!   reload the list), and a keep-alive comment every 15 s of silence.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use efir_store::Actor;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::queue::{now_ms, Job, JobFilter, NewJob, Queue, QueueError, Worker, STATES};

/// Where the API is mounted.
pub const BASE: &str = "/api/ingest";

/// How often the event stream polls the queue.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// How far back each poll looks again, for changes committed late.
const OVERLAP_MS: i64 = 1000;
/// At most this many job changes are read per poll.
const BATCH: i64 = 1000;
/// A comment is sent after this much silence.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Options of the API.
#[derive(Clone, Default)]
pub struct ApiOptions {
    /// The bearer token (`ingest.api_token`); `None` or empty turns the
    /// API off (404).
    pub token: Option<String>,
    /// Pipelines that may be submitted; empty allows any.
    pub pipelines: Vec<String>,
}

impl std::fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("pipelines", &self.pipelines)
            .finish()
    }
}

struct Shared {
    queue: Queue,
    opts: ApiOptions,
}

type St = State<Arc<Shared>>;

/// The routes of the ingest API, under [`BASE`].
pub fn api_routes(queue: Queue, opts: ApiOptions) -> Router {
    let shared = Arc::new(Shared { queue, opts });
    Router::new()
        .route(
            &format!("{BASE}/jobs"),
            post(submit).get(list).fallback(wrong_method),
        )
        .route(
            &format!("{BASE}/jobs/{{id}}"),
            get(job).fallback(wrong_method),
        )
        .route(
            &format!("{BASE}/jobs/{{id}}/cancel"),
            post(cancel).fallback(wrong_method),
        )
        .route(
            &format!("{BASE}/jobs/{{id}}/retry"),
            post(retry).fallback(wrong_method),
        )
        .route(
            &format!("{BASE}/workers"),
            get(workers).fallback(wrong_method),
        )
        .route(
            &format!("{BASE}/summary"),
            get(summary).fallback(wrong_method),
        )
        .route(
            &format!("{BASE}/events"),
            get(events).fallback(wrong_method),
        )
        .route(&format!("{BASE}/{{*rest}}"), any(not_found))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), auth))
        .with_state(shared)
}

// ---------------------------------------------------------------- errors

/// An error answer: status, machine code and readable message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.code, "message": self.message })),
        )
            .into_response()
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> ApiError {
        match e {
            QueueError::NoJob(_) => ApiError::new(StatusCode::NOT_FOUND, "no_job", e.to_string()),
            QueueError::State { .. } => {
                ApiError::new(StatusCode::CONFLICT, "wrong_state", e.to_string())
            }
            QueueError::Invalid(m) => ApiError::unprocessable("invalid", m),
            QueueError::Store(s) => {
                tracing::error!(error = %s, "ingest API: the store failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store_error",
                    format!("the ingest queue cannot be read or written: {s}"),
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", r.body_text());
        }
        ApiError::bad_request(format!("the request body is not valid: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::bad_request(format!("the query string is not valid: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::bad_request(format!("the job id must be a number: {}", r.body_text()))
    }
}

type ApiResult<T> = Result<T, ApiError>;

// ------------------------------------------------------------------ auth

async fn auth(State(shared): St, req: Request, next: Next) -> Response {
    let Some(token) = shared.opts.token.as_deref().filter(|t| !t.is_empty()) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "api_off",
            "the ingest API is off until ingest.api_token is set",
        )
        .into_response();
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .unwrap_or("");
    if given.is_empty() || !efir_core::secret::constant_time_eq(given.as_bytes(), token.as_bytes())
    {
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token (ingest.api_token) is required",
        )
        .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"efir-ingest\""),
        );
        return r;
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such ingest API endpoint",
    )
}

async fn wrong_method(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed here"),
    )
}

fn actor() -> Actor {
    Actor::Api("ingest".into())
}

// ------------------------------------------------------------------ JSON

/// A job as the API shows it: payload and result as JSON values.
fn job_json(j: &Job) -> Value {
    let result = j
        .result
        .as_deref()
        .map(|r| serde_json::from_str(r).unwrap_or_else(|_| Value::String(r.to_string())));
    json!({
        "id": j.id,
        "pipeline": j.pipeline,
        "payload": j.payload_json(),
        "priority": j.priority,
        "state": j.state,
        "attempt": j.attempt,
        "max_attempts": j.max_attempts,
        "unique_key": j.unique_key,
        "run_at_ms": j.run_at_ms,
        "worker_id": j.worker_id,
        "lease_expires_ms": j.lease_expires_ms,
        "progress": j.progress,
        "activity": j.activity,
        "result": result,
        "error": j.error,
        "cancel_requested": j.cancel_requested,
        "dry_run": j.dry_run,
        "import_only": j.import_only,
        "created_ms": j.created_ms,
        "started_ms": j.started_ms,
        "finished_ms": j.finished_ms,
        "updated_ms": j.updated_ms,
    })
}

/// A worker as the API shows it: capabilities as JSON, runnable as a list.
fn worker_json(w: &Worker) -> Value {
    let capabilities: Value = serde_json::from_str(&w.capabilities).unwrap_or(Value::Null);
    let runnable: Vec<&str> = w.runnable.split(',').filter(|s| !s.is_empty()).collect();
    json!({
        "id": w.id,
        "name": w.name,
        "host": w.host,
        "pid": w.pid,
        "slots": w.slots,
        "capabilities": capabilities,
        "runnable": runnable,
        "mounts_ok": w.mounts_ok,
        "mount_error": w.mount_error,
        "state": w.state,
        "running": w.running,
        "registered_ms": w.registered_ms,
        "last_seen_ms": w.last_seen_ms,
        "lost_ms": w.lost_ms,
    })
}

// ------------------------------------------------------------------ jobs

/// The body of `POST /jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    pipeline: String,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    payload: Option<Map<String, Value>>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    max_attempts: Option<i64>,
    #[serde(default)]
    unique_key: Option<String>,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    import: Option<bool>,
    #[serde(default)]
    run_at_ms: Option<i64>,
}

async fn submit(
    State(shared): St,
    body: Result<Json<SubmitBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let allowed = &shared.opts.pipelines;
    if !allowed.is_empty() && !allowed.contains(&body.pipeline) {
        return Err(ApiError::unprocessable(
            "unknown_pipeline",
            format!(
                "pipeline `{}` is not one of: {}",
                body.pipeline,
                allowed.join(", ")
            ),
        ));
    }
    let mut payload = body.payload.unwrap_or_default();
    if let Some(input) = body.input {
        if payload.contains_key("input") {
            return Err(ApiError::unprocessable(
                "invalid",
                "give the input either as `input` or as `payload.input`, not both",
            ));
        }
        payload.insert("input".into(), Value::String(input));
    }
    let mut job = NewJob::new(body.pipeline, Value::Object(payload));
    if let Some(p) = body.priority {
        job.priority = p;
    }
    if let Some(m) = body.max_attempts {
        job.max_attempts = m;
    }
    job.unique_key = body.unique_key;
    job.run_at_ms = body.run_at_ms;
    job.dry_run = body.dry_run.unwrap_or(false);
    job.import_only = body.import.unwrap_or(false);
    let (id, created) = shared.queue.submit(&job, actor()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "id": id, "created": created }))).into_response())
}

/// The query of `GET /jobs`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    pipeline: Option<String>,
    limit: Option<i64>,
    before: Option<i64>,
}

async fn list(
    State(shared): St,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = query?;
    let filter = JobFilter {
        state: q.state.filter(|s| !s.is_empty()),
        pipeline: q.pipeline.filter(|s| !s.is_empty()),
        limit: q.limit,
        before: q.before,
    };
    let jobs = shared.queue.list(&filter).await?;
    Ok(Json(
        json!({ "jobs": jobs.iter().map(job_json).collect::<Vec<_>>() }),
    ))
}

async fn job(State(shared): St, id: Result<Path<i64>, PathRejection>) -> ApiResult<Json<Value>> {
    let Path(id) = id?;
    let q = &shared.queue;
    let job = q.get(id).await?.ok_or(QueueError::NoJob(id))?;
    let attempts: Vec<Value> = q
        .attempts(id)
        .await?
        .into_iter()
        .map(
            |(attempt, worker_id, started_ms, finished_ms, outcome, error)| {
                json!({
                    "attempt": attempt,
                    "worker_id": worker_id,
                    "started_ms": started_ms,
                    "finished_ms": finished_ms,
                    "outcome": outcome,
                    "error": error,
                })
            },
        )
        .collect();
    let steps = q.steps(id).await?;
    let logs: Vec<Value> = q
        .logs(id)
        .await?
        .into_iter()
        .map(|(attempt, at_ms, level, message)| {
            json!({ "attempt": attempt, "at_ms": at_ms, "level": level, "message": message })
        })
        .collect();
    let mut out = job_json(&job);
    if let Some(o) = out.as_object_mut() {
        o.insert("attempts".into(), Value::Array(attempts));
        o.insert("steps".into(), json!(steps));
        o.insert("logs".into(), Value::Array(logs));
    }
    Ok(Json(out))
}

async fn cancel(State(shared): St, id: Result<Path<i64>, PathRejection>) -> ApiResult<Json<Value>> {
    let Path(id) = id?;
    let state = shared.queue.cancel(id, actor()).await?;
    Ok(Json(json!({ "id": id, "state": state })))
}

async fn retry(State(shared): St, id: Result<Path<i64>, PathRejection>) -> ApiResult<Json<Value>> {
    let Path(id) = id?;
    shared.queue.retry(id, actor()).await?;
    Ok(Json(json!({ "id": id, "state": "pending" })))
}

// --------------------------------------------------------------- workers

/// The query of `GET /workers`.
#[derive(Debug, Deserialize)]
struct WorkersQuery {
    all: Option<bool>,
}

async fn workers(
    State(shared): St,
    query: Result<Query<WorkersQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = query?;
    let workers = shared.queue.workers(q.all.unwrap_or(false)).await?;
    Ok(Json(
        json!({ "workers": workers.iter().map(worker_json).collect::<Vec<_>>() }),
    ))
}

async fn summary(State(shared): St) -> ApiResult<Json<Value>> {
    let counts = shared.queue.counts().await?;
    let mut by_state = Map::new();
    for s in STATES {
        by_state.insert((*s).into(), json!(counts.get(*s).copied().unwrap_or(0)));
    }
    let active = shared.queue.workers(false).await?;
    Ok(Json(json!({
        "jobs": by_state,
        "workers_active": active.len(),
        "slots": active.iter().map(|w| w.slots).sum::<i64>(),
        "running": active.iter().map(|w| w.running).sum::<i64>(),
    })))
}

// ---------------------------------------------------------------- events

/// The query of `GET /events`.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    since_ms: Option<i64>,
}

async fn events(
    State(shared): St,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query?;
    let start = q.since_ms.unwrap_or_else(now_ms);
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        queue: shared.queue.clone(),
        watermark: start,
        floor: start,
        sent: HashSet::new(),
        workers: HashMap::new(),
        out: VecDeque::new(),
        tick,
        failing: false,
        more: false,
    };
    // The stream has no task of its own: it stops when the response body is
    // dropped, that is when the client goes away.
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some(ev) = feed.out.pop_front() {
                return Some((Ok::<Event, Infallible>(ev), feed));
            }
            if !feed.more {
                feed.tick.tick().await;
            }
            feed.poll().await;
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// What of a worker is worth an event.
type WorkerMark = (String, i64, bool, i64);

/// The state of one event stream.
struct Feed {
    queue: Queue,
    /// The newest change seen.
    watermark: i64,
    /// Never read changes before this (the start, or past an overflow).
    floor: i64,
    /// `(job, updated_ms)` already sent, within the overlap.
    sent: HashSet<(i64, i64)>,
    /// What was last sent of each worker.
    workers: HashMap<i64, WorkerMark>,
    /// Events waiting to be sent.
    out: VecDeque<Event>,
    tick: tokio::time::Interval,
    /// Whether the last poll failed (the error event was sent).
    failing: bool,
    /// Whether the last read was full (read on without waiting).
    more: bool,
}

impl Feed {
    async fn poll(&mut self) {
        self.more = false;
        let jobs = self.poll_jobs().await;
        let workers = match jobs {
            Ok(()) => self.poll_workers().await,
            Err(e) => Err(e),
        };
        match workers {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    tracing::warn!(error = %e, "ingest event stream: cannot read the queue; still trying");
                    let data = json!({
                        "error": "store_error",
                        "message": format!("the ingest queue cannot be read: {e}"),
                    });
                    self.out
                        .push_back(Event::default().event("error").data(data.to_string()));
                }
                self.failing = true;
            }
        }
    }

    async fn poll_jobs(&mut self) -> Result<(), QueueError> {
        let from = (self.watermark - OVERLAP_MS).max(self.floor);
        let rows = self.queue.changed_since(from, BATCH).await?;
        let full = rows.len() as i64 >= BATCH;
        let mut fresh = 0;
        for job in &rows {
            if self.sent.insert((job.id, job.updated_ms)) {
                fresh += 1;
                self.out.push_back(
                    Event::default()
                        .event("job")
                        .data(job_json(job).to_string()),
                );
            }
        }
        self.more = full && fresh > 0;
        if let Some(last) = rows.last().map(|j| j.updated_ms) {
            self.watermark = self.watermark.max(last);
            if full && fresh == 0 {
                // More changes inside the overlap than one read holds: skip
                // ahead and tell the client to reload instead of stalling.
                self.floor = last + 1;
                let data = json!({
                    "message": "too many jobs changed at once; reload the job list",
                    "skipped_before_ms": last + 1,
                });
                self.out
                    .push_back(Event::default().event("overflow").data(data.to_string()));
            }
        }
        let keep_from = (self.watermark - OVERLAP_MS).max(self.floor);
        self.sent.retain(|&(_, at)| at >= keep_from);
        Ok(())
    }

    async fn poll_workers(&mut self) -> Result<(), QueueError> {
        let workers = self.queue.workers(true).await?;
        let mut seen = HashSet::new();
        for w in &workers {
            seen.insert(w.id);
            let mark = (w.state.clone(), w.running, w.mounts_ok, w.last_seen_ms);
            if self.workers.get(&w.id) != Some(&mark) {
                self.workers.insert(w.id, mark);
                self.out.push_back(
                    Event::default()
                        .event("worker")
                        .data(worker_json(w).to_string()),
                );
            }
        }
        self.workers.retain(|id, _| seen.contains(id));
        Ok(())
    }
}
