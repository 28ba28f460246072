//! The ingest farm: jobs with live progress, their attempts, steps and
//! logs, cancel and retry; workers with their slots and mounts; the
//! pipelines and hot folders of the configuration.
//!
//! The farm is shared by every operator, so every staff role may read
//! these pages. Changing a job (cancel, retry) needs an operator admin or
//! a superuser (`require_admin`): the queue is global, so support and
//! monitoring users of one operator must not stop another's work. Changes
//! go through [`efir_ingest::queue::Queue`], which audits them as the staff
//! user.
//!
//! Live progress: `GET /admin/ingest/events` is a same-origin Server-Sent
//! Events stream for logged-in staff (the session cookie; without it the
//! usual redirect to the login page). It polls
//! [`Queue::changed_since`] every 500 ms, as the ingest API's own
//! `/api/ingest/events` does (with the same overlap window against late
//! commits), and sends one `job` event per changed job:
//! `{"id", "state", "progress", "activity"}` with `progress` in percent
//! (0-100), which `panel.js` applies to the `[data-job]` elements of the
//! page. The stream ends when the session does (checked every 30 s).
//!
//! Secrets are never shown: pipelines are shown as parsed (FTP targets as
//! `ftp://user@host/dir/` without the password), never as the raw TOML,
//! and job payloads and results have password, token and secret values
//! masked.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use efir_ingest::hotfolder::HotFolderConfig;
use efir_ingest::output::OutputTarget;
use efir_ingest::pipeline::{parse_pipelines, Action as StepAction, Pipeline};
use efir_ingest::queue::{now_ms, Job, Queue, QueueError, STATES};
use efir_store::with_db;
use minijinja::context;
use serde::Serialize;
use serde_json::{json, Value};

use super::{Chart, NavItem, Query};
use crate::chart;
use crate::i18n::t;
use crate::render::{
    columns, page_of, param, param_nonempty, see_other, Action, Cell, Filter, ListView, PageError,
    PageResult, PAGE_SIZE,
};
use crate::session::User;
use crate::Panel;

/// Interface strings of these pages: `(key, English, Russian)`.
pub static STRINGS: &[(&str, &str, &str)] = &[
    ("ingest_jobs", "Jobs", "Задания"),
    ("ingest_job", "Job", "Задание"),
    ("ingest_workers", "Workers", "Обработчики"),
    ("ingest_pipelines", "Pipelines", "Конвейеры"),
    ("ingest_hotfolders", "Hot folders", "Горячие папки"),
    ("ingest_pipeline", "Pipeline", "Конвейер"),
    ("ingest_progress", "Progress", "Ход"),
    ("ingest_activity", "Activity", "Шаг"),
    ("ingest_attempt", "Attempt", "Попытка"),
    ("ingest_attempts", "Attempts", "Попытки"),
    ("ingest_steps", "Steps", "Шаги"),
    ("ingest_logs", "Log", "Журнал"),
    ("ingest_worker", "Worker", "Обработчик"),
    ("ingest_updated", "Updated", "Изменено"),
    ("ingest_started", "Started", "Начато"),
    ("ingest_finished", "Finished", "Завершено"),
    ("ingest_outcome", "Outcome", "Итог"),
    ("ingest_level", "Level", "Уровень"),
    ("ingest_message", "Message", "Сообщение"),
    ("ingest_payload", "Payload", "Параметры"),
    ("ingest_result", "Result", "Результат"),
    ("ingest_priority", "Priority", "Приоритет"),
    ("ingest_flags", "Mode", "Режим"),
    ("ingest_cancel", "Cancel the job", "Отменить задание"),
    ("ingest_retry", "Run again", "Запустить снова"),
    (
        "ingest_confirm_cancel",
        "Cancel this job?",
        "Отменить это задание?",
    ),
    ("ingest_host", "Host", "Хост"),
    ("ingest_slots", "Slots", "Слоты"),
    ("ingest_running", "Running", "Выполняется"),
    ("ingest_runnable", "Can run", "Может выполнять"),
    ("ingest_mounts", "Mounts", "Точки монтирования"),
    ("ingest_mount_state", "Mount check", "Проверка монтирования"),
    ("ingest_last_seen", "Last heartbeat", "Последний сигнал"),
    ("ingest_tools", "Tools", "Инструменты"),
    ("ingest_path", "Path", "Путь"),
    ("ingest_patterns", "Patterns", "Шаблоны"),
    ("ingest_stable", "Stable after, s", "Стабилен через, с"),
    ("ingest_targets", "Delivers to", "Доставка"),
    (
        "ingest_config_error",
        "The ingest configuration has an error",
        "В настройках приёма контента ошибка",
    ),
    (
        "ingest_jobs_by_state",
        "Ingest jobs by state",
        "Задания по состояниям",
    ),
    ("ingest_error", "Error", "Ошибка задания"),
];

/// Templates of these pages: `(name, source)`.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "ingest_jobs.html",
        include_str!("../../templates/ingest_jobs.html"),
    ),
    (
        "ingest_job.html",
        include_str!("../../templates/ingest_job.html"),
    ),
];

/// The routes of these pages.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route(
            "/admin/ingest",
            get(|| async { see_other("/admin/ingest/jobs") }),
        )
        .route("/admin/ingest/jobs", get(jobs))
        .route("/admin/ingest/jobs/{id}", get(job))
        .route("/admin/ingest/jobs/{id}/cancel", post(cancel))
        .route("/admin/ingest/jobs/{id}/retry", post(retry))
        .route("/admin/ingest/workers", get(workers))
        .route("/admin/ingest/pipelines", get(pipelines))
        .route("/admin/ingest/hotfolders", get(hotfolders))
        .route("/admin/ingest/events", get(events))
}

/// Menu entries for `user` (every role reads the farm).
pub fn nav_items(_user: &User) -> Vec<NavItem> {
    vec![
        super::item("ingest_jobs", "/admin/ingest/jobs"),
        super::item("ingest_workers", "/admin/ingest/workers"),
        super::item("ingest_pipelines", "/admin/ingest/pipelines"),
        super::item("ingest_hotfolders", "/admin/ingest/hotfolders"),
    ]
}

/// Charts these pages add to the dashboard: jobs by state (the farm is
/// global, so the same for every operator).
pub async fn charts(panel: &Panel, user: &User, _scope: Option<i64>) -> PageResult<Vec<Chart>> {
    let counts = queue(panel).counts().await.map_err(queue_error)?;
    let bars: Vec<(String, f64)> = STATES
        .iter()
        .map(|s| (s.to_string(), counts.get(*s).copied().unwrap_or(0) as f64))
        .collect();
    let title = t(user.lang, "ingest_jobs_by_state");
    Ok(vec![Chart {
        title: "ingest_jobs_by_state",
        svg: chart::bars(title, &bars, t(user.lang, "chart_no_data")),
    }])
}

fn queue(panel: &Panel) -> Queue {
    Queue::new(panel.store.clone())
}

/// A queue error as a page: 404, 409 (wrong state), 422, or 500.
fn queue_error(e: QueueError) -> PageError {
    match e {
        QueueError::NoJob(_) => PageError::not_found(),
        QueueError::State { .. } => PageError::new(StatusCode::CONFLICT, e.to_string()),
        QueueError::Invalid(m) => PageError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
        QueueError::Store(s) => s.into(),
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
fn ms_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn opt_ms(ms: Option<i64>) -> String {
    ms.map(ms_time).unwrap_or_default()
}

/// Progress 0.0-1.0 as percent rounded to 0.01 (what `panel.js` shows).
fn percent(progress: f64) -> f64 {
    (progress.clamp(0.0, 1.0) * 10_000.0).round() / 100.0
}

/// A job as the pages show it.
#[derive(Debug, Serialize)]
struct JobView {
    id: i64,
    pipeline: String,
    state: String,
    state_class: &'static str,
    pct: f64,
    pct_text: String,
    activity: String,
    attempt: i64,
    max_attempts: i64,
    worker_id: Option<i64>,
    created: String,
    updated: String,
    started: String,
    finished: String,
    error: String,
    priority: i64,
    flags: String,
    cancel_requested: bool,
}

fn state_class(state: &str) -> &'static str {
    match state {
        "succeeded" => "ok",
        "failed" | "dead" => "bad",
        "cancelled" => "muted",
        _ => "",
    }
}

fn job_view(j: &Job) -> JobView {
    let pct = percent(j.progress);
    let mut flags = Vec::new();
    if j.dry_run {
        flags.push("dry run");
    }
    if j.import_only {
        flags.push("import");
    }
    JobView {
        id: j.id,
        pipeline: j.pipeline.clone(),
        state: j.state.clone(),
        state_class: state_class(&j.state),
        pct,
        pct_text: format!("{pct} %"),
        activity: j.activity.clone(),
        attempt: j.attempt,
        max_attempts: j.max_attempts,
        worker_id: j.worker_id,
        created: ms_time(j.created_ms),
        updated: ms_time(j.updated_ms),
        started: opt_ms(j.started_ms),
        finished: opt_ms(j.finished_ms),
        error: j.error.clone().unwrap_or_default(),
        priority: j.priority,
        flags: flags.join(", "),
        cancel_requested: j.cancel_requested,
    }
}

const JOB_COLUMNS: &str = "id, pipeline, payload, priority, state, attempt, max_attempts, \
    unique_key, run_at_ms, worker_id, lease_expires_ms, progress, activity, result, error, \
    cancel_requested, dry_run, import_only, created_ms, started_ms, finished_ms, updated_ms";

/// The pipeline names of the configuration (with the built-in `noop`);
/// an unreadable configuration gives the names it can.
fn pipeline_names(panel: &Panel) -> Vec<String> {
    let mut names: Vec<String> = match parse_pipelines(&panel.options.config.ingest.pipeline) {
        Ok(p) => p.into_iter().map(|p| p.name).collect(),
        Err(_) => Vec::new(),
    };
    names.push(efir_ingest::queue::NOOP.to_string());
    names
}

/// `GET /admin/ingest/jobs`: filters `state`, `pipeline`; newest first.
async fn jobs(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let state = param_nonempty(&q, "state")
        .filter(|s| STATES.contains(s))
        .map(str::to_string);
    let pipeline = param_nonempty(&q, "pipeline").map(str::to_string);
    let page = page_of(&q);
    let cond = "($1 IS NULL OR state = $1) AND ($2 IS NULL OR pipeline = $2)";
    let count_sql = format!("SELECT COUNT(*) FROM ingest_job WHERE {cond}");
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(&count_sql)
        .bind(&state).bind(&pipeline).fetch_one(p).await)?;
    let mut view = ListView {
        title: "ingest_jobs".into(),
        columns: columns(&[
            "id",
            "ingest_pipeline",
            "state",
            "ingest_progress",
            "ingest_activity",
            "ingest_attempt",
            "ingest_worker",
            "created",
            "ingest_updated",
        ]),
        filters: vec![
            Filter {
                name: "state".into(),
                label: "state".into(),
                value: state.clone().unwrap_or_default(),
                options: STATES
                    .iter()
                    .map(|s| (s.to_string(), s.to_string()))
                    .collect(),
            },
            Filter {
                name: "pipeline".into(),
                label: "ingest_pipeline".into(),
                value: pipeline.clone().unwrap_or_default(),
                options: pipeline_names(&panel)
                    .into_iter()
                    .map(|n| (n.clone(), n))
                    .collect(),
            },
        ],
        ..ListView::default()
    };
    view.paginate(total, page, &q);
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM ingest_job WHERE {cond} ORDER BY id DESC LIMIT $3 OFFSET $4"
    );
    let offset = (view.page - 1) * PAGE_SIZE;
    let rows: Vec<Job> = with_db!(panel.store.pool(), p => sqlx::query_as::<_, Job>(&sql)
        .bind(&state).bind(&pipeline).bind(PAGE_SIZE).bind(offset).fetch_all(p).await)?;
    let jobs: Vec<JobView> = rows.iter().map(job_view).collect();
    panel.views.page(
        "ingest_jobs.html",
        &user,
        context! { view, jobs, since => now_ms() },
    )
}

/// Masks the values of secret-looking keys (passwords, tokens, secrets).
fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let k = k.to_ascii_lowercase();
                let secret = ["password", "passwd", "token", "secret", "api_key", "apikey"]
                    .iter()
                    .any(|s| k.contains(s));
                if secret && !val.is_null() {
                    *val = Value::String("***".into());
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn pretty(text: Option<&str>) -> String {
    let Some(text) = text else {
        return String::new();
    };
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            redact(&mut v);
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        Err(_) => text.to_string(),
    }
}

/// Log lines shown at most (the newest).
const LOG_LINES: usize = 1000;

/// `GET /admin/ingest/jobs/{id}`: the job, live, with its attempts, steps
/// and log.
async fn job(State(panel): State<Panel>, user: User, Path(id): Path<String>) -> PageResult {
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    let q = queue(&panel);
    let job = q
        .get(id)
        .await
        .map_err(queue_error)?
        .ok_or_else(PageError::not_found)?;
    let attempts: Vec<Vec<Cell>> = q
        .attempts(id)
        .await
        .map_err(queue_error)?
        .into_iter()
        .map(|(attempt, worker, started, finished, outcome, error)| {
            vec![
                Cell::text(attempt),
                Cell::text(worker),
                Cell::text(ms_time(started)),
                Cell::text(opt_ms(finished)),
                Cell::text(&outcome).class(state_class(&outcome)),
                Cell::text(error.unwrap_or_default()),
            ]
        })
        .collect();
    let steps: Vec<Vec<Cell>> = q
        .steps(id)
        .await
        .map_err(queue_error)?
        .into_iter()
        .map(|s| {
            vec![
                Cell::text(&s.name),
                Cell::text(&s.state).class(state_class(&s.state)),
                Cell::text(ms_time(s.started_ms)),
                Cell::text(ms_time(s.finished_ms)),
                Cell::text(s.error.unwrap_or_default()),
            ]
        })
        .collect();
    let mut logs = q.logs(id).await.map_err(queue_error)?;
    if logs.len() > LOG_LINES {
        logs.drain(..logs.len() - LOG_LINES);
    }
    let logs: Vec<Vec<Cell>> = logs
        .into_iter()
        .map(|(attempt, at, level, message)| {
            let class = if level == "error" { "bad" } else { "" };
            vec![
                Cell::text(ms_time(at)),
                Cell::text(attempt),
                Cell::text(&level).class(class),
                Cell::text(message),
            ]
        })
        .collect();
    let section = |title: &str, cols: &[&str], rows: Vec<Vec<Cell>>| ListView {
        title: title.into(),
        columns: columns(cols),
        total: rows.len() as i64,
        rows,
        ..ListView::default()
    };
    let sections = vec![
        section(
            "ingest_attempts",
            &[
                "ingest_attempt",
                "ingest_worker",
                "ingest_started",
                "ingest_finished",
                "ingest_outcome",
                "ingest_error",
            ],
            attempts,
        ),
        section(
            "ingest_steps",
            &[
                "name",
                "state",
                "ingest_started",
                "ingest_finished",
                "ingest_error",
            ],
            steps,
        ),
        section(
            "ingest_logs",
            &["time", "ingest_attempt", "ingest_level", "ingest_message"],
            logs,
        ),
    ];
    let mut actions = Vec::new();
    if user.can_admin() {
        if matches!(job.state.as_str(), "pending" | "running") && !job.cancel_requested {
            actions.push(Action {
                action: format!("/admin/ingest/jobs/{id}/cancel"),
                label: "ingest_cancel".into(),
                confirm: Some("ingest_confirm_cancel".into()),
                hidden: Vec::new(),
                danger: true,
            });
        }
        if matches!(job.state.as_str(), "failed" | "dead" | "cancelled") {
            actions.push(Action {
                action: format!("/admin/ingest/jobs/{id}/retry"),
                label: "ingest_retry".into(),
                confirm: None,
                hidden: Vec::new(),
                danger: false,
            });
        }
    }
    let payload = pretty(Some(&job.payload));
    let result = pretty(job.result.as_deref());
    let view = job_view(&job);
    panel.views.page(
        "ingest_job.html",
        &user,
        context! { job => view, sections, actions, payload, result, since => now_ms() },
    )
}

/// `POST /admin/ingest/jobs/{id}/cancel` (operator admins and superusers).
async fn cancel(State(panel): State<Panel>, user: User, Path(id): Path<String>) -> PageResult {
    user.require_admin()?;
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    queue(&panel)
        .cancel(id, user.staff.actor())
        .await
        .map_err(queue_error)?;
    Ok(see_other(&format!("/admin/ingest/jobs/{id}")))
}

/// `POST /admin/ingest/jobs/{id}/retry` (operator admins and superusers).
async fn retry(State(panel): State<Panel>, user: User, Path(id): Path<String>) -> PageResult {
    user.require_admin()?;
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    queue(&panel)
        .retry(id, user.staff.actor())
        .await
        .map_err(queue_error)?;
    Ok(see_other(&format!("/admin/ingest/jobs/{id}")))
}

fn list_page(panel: &Panel, user: &User, view: ListView, notice: Option<String>) -> PageResult {
    panel
        .views
        .page("list.html", user, context! { view, notice })
}

/// `GET /admin/ingest/workers`: every worker (also lost and stopped ones,
/// the newest 200) with its slots, running jobs and mounts.
async fn workers(State(panel): State<Panel>, user: User) -> PageResult {
    let workers = queue(&panel).workers(true).await.map_err(queue_error)?;
    let rows: Vec<Vec<Cell>> = workers
        .iter()
        .map(|w| {
            let caps: Value = serde_json::from_str(&w.capabilities).unwrap_or(Value::Null);
            let mounts = caps
                .get("mounts")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let tools = caps
                .get("tools")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let mount_state = if w.mounts_ok {
                Cell::text("ok").class("ok")
            } else {
                Cell::text(w.mount_error.clone().unwrap_or_else(|| "failed".into())).class("bad")
            };
            let state_class = match w.state.as_str() {
                "active" => "ok",
                "lost" => "bad",
                _ => "muted",
            };
            vec![
                Cell::text(w.id),
                Cell::text(&w.name),
                Cell::text(format!("{} ({})", w.host, w.pid)),
                Cell::text(&w.state).class(state_class),
                Cell::text(w.slots).class("num"),
                Cell::text(w.running).class("num"),
                Cell::text(w.runnable.replace(',', ", ")),
                Cell::text(mounts),
                mount_state,
                Cell::text(tools),
                Cell::text(ms_time(w.last_seen_ms)),
            ]
        })
        .collect();
    let view = ListView {
        title: "ingest_workers".into(),
        columns: columns(&[
            "id",
            "name",
            "ingest_host",
            "state",
            "ingest_slots",
            "ingest_running",
            "ingest_runnable",
            "ingest_mounts",
            "ingest_mount_state",
            "ingest_tools",
            "ingest_last_seen",
        ]),
        total: rows.len() as i64,
        page: 1,
        pages: 1,
        rows,
        ..ListView::default()
    };
    list_page(&panel, &user, view, None)
}

/// What a pipeline step does, without secrets.
fn step_text(action: &StepAction) -> String {
    match action {
        StepAction::Probe => "probe".into(),
        StepAction::Transcode { dir, .. } => format!("transcode → {dir}"),
        StepAction::Preview { dir, .. } => format!("preview → {dir}"),
        StepAction::Thumbnail { dir, .. } => format!("thumbnail → {dir}"),
        StepAction::Loudness { required, .. } => {
            format!("loudness{}", if *required { " (required)" } else { "" })
        }
        StepAction::PdfInspect { .. } => "pdf-inspect".into(),
        StepAction::PdfPreview { dir, .. } => format!("pdf-preview → {dir}"),
        StepAction::Deliver { target, .. } => format!("deliver → {}", target_text(target)),
        StepAction::Notify { .. } => "notify".into(),
        StepAction::Noop => "noop".into(),
    }
}

/// A delivery target without its password.
fn target_text(target: &OutputTarget) -> String {
    match target {
        OutputTarget::Dir(d) => d.path.display().to_string(),
        OutputTarget::Ftp(f) => f.display_url(),
    }
}

/// `GET /admin/ingest/pipelines`: the pipelines of `[ingest]` as parsed.
async fn pipelines(State(panel): State<Panel>, user: User) -> PageResult {
    let (mut list, notice) = match parse_pipelines(&panel.options.config.ingest.pipeline) {
        Ok(p) => (p, None),
        Err(_) => (Vec::new(), Some("ingest_config_error".to_string())),
    };
    list.push(Pipeline::noop());
    let rows: Vec<Vec<Cell>> = list
        .iter()
        .map(|p| {
            let steps: Vec<String> = p
                .steps
                .iter()
                .map(|s| format!("{} ({})", s.name, step_text(&s.action)))
                .collect();
            let targets: Vec<String> = p
                .steps
                .iter()
                .filter_map(|s| match &s.action {
                    StepAction::Deliver { target, .. } => Some(target_text(target)),
                    _ => None,
                })
                .collect();
            vec![
                Cell::link(&p.name, format!("/admin/ingest/jobs?pipeline={}", p.name)),
                Cell::text(p.priority).class("num"),
                Cell::text(p.max_attempts).class("num"),
                Cell::text(steps.join("; ")),
                Cell::text(targets.join(", ")),
            ]
        })
        .collect();
    let view = ListView {
        title: "ingest_pipelines".into(),
        columns: columns(&[
            "name",
            "ingest_priority",
            "ingest_attempts",
            "ingest_steps",
            "ingest_targets",
        ]),
        total: rows.len() as i64,
        page: 1,
        pages: 1,
        rows,
        ..ListView::default()
    };
    list_page(&panel, &user, view, notice)
}

/// `GET /admin/ingest/hotfolders`: the watched folders of `[ingest]`.
async fn hotfolders(State(panel): State<Panel>, user: User) -> PageResult {
    let mut notice = None;
    let mut rows = Vec::new();
    for v in &panel.options.config.ingest.hot_folder {
        let cfg: HotFolderConfig = match v.clone().try_into() {
            Ok(c) => c,
            Err(_) => {
                notice = Some("ingest_config_error".to_string());
                continue;
            }
        };
        let mut mode = Vec::new();
        if cfg.dry_run {
            mode.push("dry run");
        }
        if cfg.import {
            mode.push("import");
        }
        rows.push(vec![
            Cell::text(&cfg.name),
            Cell::text(cfg.path.display()),
            Cell::link(
                &cfg.pipeline,
                format!("/admin/ingest/jobs?pipeline={}", cfg.pipeline),
            ),
            Cell::text(cfg.patterns.join(" ")),
            Cell::text(cfg.stable_secs).class("num"),
            Cell::text(mode.join(", ")),
        ]);
    }
    let view = ListView {
        title: "ingest_hotfolders".into(),
        columns: columns(&[
            "name",
            "ingest_path",
            "ingest_pipeline",
            "ingest_patterns",
            "ingest_stable",
            "ingest_flags",
        ]),
        total: rows.len() as i64,
        page: 1,
        pages: 1,
        rows,
        ..ListView::default()
    };
    list_page(&panel, &user, view, notice)
}

// ---------------------------------------------------------------- events

/// How often the stream polls the queue.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// How far back each poll looks again, for changes committed late.
const OVERLAP_MS: i64 = 1000;
/// At most this many job changes are read per poll.
const BATCH: i64 = 500;
/// How often the session is checked again.
const SESSION_EVERY: Duration = Duration::from_secs(30);

/// The state of one panel event stream.
struct Feed {
    panel: Panel,
    token: String,
    queue: Queue,
    watermark: i64,
    floor: i64,
    sent: HashSet<(i64, i64)>,
    out: VecDeque<Event>,
    tick: tokio::time::Interval,
    failing: bool,
    checked: Instant,
    ended: bool,
}

/// The event of one changed job (progress in percent).
fn job_event(j: &Job) -> Event {
    let data = json!({
        "id": j.id,
        "state": j.state,
        "progress": percent(j.progress),
        "activity": j.activity,
    });
    Event::default().event("job").data(data.to_string())
}

impl Feed {
    async fn poll(&mut self) {
        if self.checked.elapsed() >= SESSION_EVERY {
            self.checked = Instant::now();
            let alive = efir_backoffice::admin::auth::session_staff(
                &self.panel.store,
                &self.token,
                self.panel.admin.session_secs(),
            )
            .await;
            if matches!(alive, Ok(None)) {
                self.ended = true;
                return;
            }
        }
        let from = (self.watermark - OVERLAP_MS).max(self.floor);
        match self.queue.changed_since(from, BATCH).await {
            Ok(rows) => {
                self.failing = false;
                let mut fresh = 0;
                for j in &rows {
                    if self.sent.insert((j.id, j.updated_ms)) {
                        fresh += 1;
                        self.out.push_back(job_event(j));
                    }
                }
                if let Some(last) = rows.last().map(|j| j.updated_ms) {
                    self.watermark = self.watermark.max(last);
                    if rows.len() as i64 >= BATCH && fresh == 0 {
                        // More changes inside the overlap than one read
                        // holds: skip ahead and ask for a reload.
                        self.floor = last + 1;
                        self.out.push_back(
                            Event::default()
                                .event("overflow")
                                .data(json!({"reload": true}).to_string()),
                        );
                    }
                }
                let keep_from = (self.watermark - OVERLAP_MS).max(self.floor);
                self.sent.retain(|&(_, at)| at >= keep_from);
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(error = %e, "panel ingest events: cannot read the queue");
                    self.out.push_back(
                        Event::default()
                            .event("error")
                            .data(json!({"error": "store_error"}).to_string()),
                    );
                }
                self.failing = true;
            }
        }
    }
}

/// `GET /admin/ingest/events`: the live job feed of the panel (SSE).
async fn events(State(panel): State<Panel>, user: User, Query(q): Query) -> Response {
    // The page names when it was rendered (`?since=`, milliseconds), so a
    // change between the render and this connection is not lost; at most
    // ten minutes back, never ahead.
    let now = now_ms();
    let start = param(&q, "since")
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(now, |s| s.clamp(now - 600_000, now));
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        queue: queue(&panel),
        panel,
        token: user.token,
        watermark: start,
        floor: start,
        sent: HashSet::new(),
        out: VecDeque::new(),
        tick,
        failing: false,
        checked: Instant::now(),
        ended: false,
    };
    // No task of its own: the stream stops when the client goes away.
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some(ev) = feed.out.pop_front() {
                return Some((Ok::<Event, Infallible>(ev), feed));
            }
            if feed.ended {
                return None;
            }
            feed.tick.tick().await;
            feed.poll().await;
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_percent_rounds() {
        let mut v = json!({"input": "a.mov", "target": {"password": "hunter2", "user": "u"},
                           "list": [{"api_token": "t"}]});
        redact(&mut v);
        assert_eq!(v["target"]["password"], "***");
        assert_eq!(v["target"]["user"], "u");
        assert_eq!(v["list"][0]["api_token"], "***");
        assert_eq!(v["input"], "a.mov");
        assert_eq!(percent(1.0), 100.0);
        assert_eq!(format!("{} %", percent(0.4251)), "42.51 %");
    }
}
