//! The programme guide: EPG sources with their last import and "import
//! now", EPG channels and their mapping to channels, and the channels
//! without a guide for the next 24 hours.
//!
//! Scoping follows `epg_source.client_id`: a source (and its EPG channels)
//! belongs to one operator or, with no operator, is shared by all. Staff see
//! their operator's sources and the shared ones; another operator's are 404.
//! Importing an operator's own source takes write access (monitoring users
//! get 403); importing a shared source, which changes every operator's
//! guide, takes an operator admin or a superuser.
//!
//! "Import now" runs `efir_epg::import::run` for that source (forced, as
//! `epg-import --force-reimport`) in a background task and answers at once;
//! one import per source runs at a time in this process. The import
//! records its outcome on the source (`last_import_at`, `last_result`,
//! `last_error`) and in the audit log, as the command does; a failure
//! before the source is reached (the work directory, the store) is
//! recorded here the same way. The detail page shows the recorded result,
//! the recent import events of the audit log, and whether an import is
//! running.
//!
//! Mapping (`channel.epg_channel_id`) goes through
//! `efir_epg::model::map_channels`: the channel must be one the user may
//! see (another operator's is 404), and an operator's source may only feed
//! that operator's channels (422).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use efir_epg::EpgError;
use efir_store::with_db;
use minijinja::context;

use super::{operator_scope, Chart, Form, NavItem, Query};
use crate::i18n::{t, Lang};
use crate::render::{
    columns, page_of, param, param_nonempty, see_other, Action, Cell, DetailView, Filter,
    FormField, FormView, ListView, PageError, PageResult, PAGE_SIZE,
};
use crate::session::User;
use crate::Panel;

/// Interface strings of these pages: `(key, English, Russian)`.
pub static STRINGS: &[(&str, &str, &str)] = &[
    ("epg_sources", "EPG sources", "Источники EPG"),
    ("epg_source", "EPG source", "Источник EPG"),
    ("epg_channels", "EPG channels", "Каналы EPG"),
    ("epg_channel", "EPG channel", "Канал EPG"),
    (
        "epg_coverage_list",
        "Channels without guide",
        "Каналы без программы",
    ),
    ("epg_url", "URL or path", "URL или путь"),
    ("epg_time_zone", "Time zone", "Часовой пояс"),
    ("epg_shared", "shared", "общий"),
    ("epg_enabled", "Enabled", "Включён"),
    ("epg_yes", "yes", "да"),
    ("epg_no", "no", "нет"),
    ("epg_last_import", "Last import", "Последний импорт"),
    ("epg_never", "never", "никогда"),
    ("epg_last_error", "Last error", "Последняя ошибка"),
    ("epg_last_result", "Last result", "Последний результат"),
    ("epg_ok", "ok", "успешно"),
    ("epg_checksum", "Checksum", "Контрольная сумма"),
    ("epg_import_now", "Import now", "Импортировать сейчас"),
    (
        "epg_confirm_import",
        "Import this source's guide now?",
        "Импортировать программу этого источника сейчас?",
    ),
    (
        "epg_import_started",
        "The import has started; reload this page to see its result.",
        "Импорт запущен; обновите страницу, чтобы увидеть результат.",
    ),
    ("epg_import_state", "Import", "Импорт"),
    ("epg_running", "running…", "идёт…"),
    ("epg_idle", "not running", "не выполняется"),
    ("epg_import_events", "Recent imports", "Последние импорты"),
    ("epg_action", "Event", "Событие"),
    ("epg_actor", "By", "Кто"),
    ("epg_data", "Details", "Подробности"),
    ("epg_ext_id", "Id in the guide", "Идентификатор в программе"),
    ("epg_mapped", "Channels", "Каналы"),
    ("epg_not_mapped", "not mapped", "не сопоставлен"),
    (
        "epg_map",
        "Show this guide on a channel",
        "Показывать программу на канале",
    ),
    ("epg_channel_id", "Channel", "Канал"),
    (
        "epg_mapped_done",
        "The channel shows this guide now.",
        "Канал теперь показывает эту программу.",
    ),
    (
        "epg_programmes_24h",
        "Programmes in the next 24 h",
        "Передач в ближайшие 24 ч",
    ),
    ("epg_channel_count", "EPG channels", "Каналов EPG"),
];

/// Templates of these pages: `(name, source)`.
pub const TEMPLATES: &[(&str, &str)] = &[];

/// The routes of these pages.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route("/admin/epg/sources", get(sources))
        .route("/admin/epg/sources/{id}", get(source))
        .route("/admin/epg/sources/{id}/import", post(import_now))
        .route("/admin/epg/channels", get(channels))
        .route("/admin/epg/channels/{id}", get(channel))
        .route("/admin/epg/channels/{id}/map", post(map))
        .route("/admin/epg/coverage", get(coverage))
}

/// Menu entries for `user` (everyone may look at their guide).
pub fn nav_items(_user: &User) -> Vec<NavItem> {
    vec![
        super::item("epg_sources", "/admin/epg/sources"),
        super::item("epg_channels", "/admin/epg/channels"),
        super::item("epg_coverage_list", "/admin/epg/coverage"),
    ]
}

/// Charts these pages add to the dashboard: none (the dashboard draws the
/// EPG coverage itself; its list is `/admin/epg/coverage`).
pub async fn charts(_panel: &Panel, _user: &User, _scope: Option<i64>) -> PageResult<Vec<Chart>> {
    Ok(Vec::new())
}

fn id_of(raw: &str) -> PageResult<i64> {
    raw.parse::<i64>().map_err(|_| PageError::not_found())
}

fn when(at: Option<i64>) -> String {
    at.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn yes_no(lang: Lang, b: bool) -> Cell {
    Cell::text(t(lang, if b { "epg_yes" } else { "epg_no" }))
}

/// 404 unless the user may see a source of `client_id` (`None` = shared).
fn check_source(user: &User, client_id: Option<i64>) -> PageResult<()> {
    match client_id {
        Some(c) => user.check(c),
        None => Ok(()),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> PageError {
    let message = message.into();
    let mut e = PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message.clone());
    e.fields.insert(field.into(), message);
    e
}

fn epg_error(e: EpgError, field: &str) -> PageError {
    match e {
        EpgError::Store(e) => e.into(),
        EpgError::NotFound(_) => PageError::not_found(),
        other => invalid(field, other.to_string()),
    }
}

/// Operator names by id.
async fn operator_names(panel: &Panel) -> PageResult<HashMap<i64, String>> {
    Ok(panel
        .store
        .clients()
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

fn owner_cell(lang: Lang, names: &HashMap<i64, String>, client_id: Option<i64>) -> Cell {
    match client_id {
        Some(c) => Cell::text(names.get(&c).cloned().unwrap_or_else(|| c.to_string())),
        None => Cell::text(t(lang, "epg_shared")).class("muted"),
    }
}

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: i64,
    client_id: Option<i64>,
    name: String,
    url: String,
    time_zone: String,
    enabled: bool,
    last_import_at: Option<i64>,
    last_checksum: String,
    last_result: String,
    last_error: String,
}

const SOURCE_SELECT: &str = "SELECT s.id, s.client_id, s.name, s.url, s.time_zone, s.enabled, \
    s.last_import_at, s.last_checksum, s.last_result, s.last_error FROM epg_source s";

/// Sources of the operator in `scope` and the shared ones (`0` = every
/// source), as SQL over alias `s` with the operator bound as `$1`.
const SOURCE_SCOPE: &str = "($1 = 0 OR s.client_id IS NULL OR s.client_id = $1)";

/// `GET /admin/epg/sources` (`?q=`, `?client=` for superusers).
async fn sources(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let lang = user.lang;
    let (client_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let page = page_of(&q);
    let search = param_nonempty(&q, "q")
        .map(efir_store::like_contains)
        .unwrap_or_default();
    let cond = format!("WHERE {SOURCE_SCOPE} AND ($2 = '' OR LOWER(s.name) LIKE $2 ESCAPE '\\')");
    let c = scope.unwrap_or(0);
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        &format!("SELECT COUNT(*) FROM epg_source s {cond}"))
        .bind(c).bind(&search).fetch_one(p).await)?;
    let sql = format!("{SOURCE_SELECT} {cond} ORDER BY s.name LIMIT $3 OFFSET $4");
    let rows: Vec<SourceRow> = with_db!(panel.store.pool(), p => sqlx::query_as(&sql)
        .bind(c).bind(&search).bind(PAGE_SIZE).bind((page - 1) * PAGE_SIZE)
        .fetch_all(p).await)?;
    let names = operator_names(&panel).await?;
    let running = running_now();
    let mut view = ListView {
        title: "epg_sources".into(),
        columns: columns(&[
            "name",
            "operator",
            "epg_url",
            "epg_enabled",
            "epg_last_import",
            "epg_last_error",
        ]),
        rows: rows
            .iter()
            .map(|s| {
                let last = if running.contains(&s.id) {
                    Cell::text(t(lang, "epg_running"))
                } else if s.last_import_at.is_some() {
                    Cell::text(when(s.last_import_at))
                } else {
                    Cell::text(t(lang, "epg_never")).class("muted")
                };
                vec![
                    Cell::link(&s.name, format!("/admin/epg/sources/{}", s.id)),
                    owner_cell(lang, &names, s.client_id),
                    Cell::text(&s.url),
                    yes_no(lang, s.enabled),
                    last,
                    if s.last_error.is_empty() {
                        Cell::text("")
                    } else {
                        Cell::text(&s.last_error).class("bad")
                    },
                ]
            })
            .collect(),
        filters: std::iter::once(Filter {
            name: "q".into(),
            label: "search".into(),
            value: param(&q, "q").unwrap_or_default().into(),
            options: Vec::new(),
        })
        .chain(client_filter)
        .collect(),
        ..ListView::default()
    };
    view.paginate(total, page, &q);
    panel.views.page("list.html", &user, context! { view })
}

async fn load_source(panel: &Panel, user: &User, id: i64) -> PageResult<SourceRow> {
    let sql = format!("{SOURCE_SELECT} WHERE s.id = $1");
    let row: Option<SourceRow> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
    let row = row.ok_or_else(PageError::not_found)?;
    check_source(user, row.client_id)?;
    Ok(row)
}

/// Whether `user` may import `source` now (see the module doc).
fn may_import(user: &User, source: &SourceRow) -> PageResult<()> {
    match source.client_id {
        Some(_) => user.require_write(),
        None => user.require_admin(),
    }
}

/// `GET /admin/epg/sources/{id}`: the source, its last import result, the
/// recent import events, and "import now".
async fn source(
    State(panel): State<Panel>,
    user: User,
    Path(raw): Path<String>,
    Query(q): Query,
) -> PageResult {
    let lang = user.lang;
    let s = load_source(&panel, &user, id_of(&raw)?).await?;
    let names = operator_names(&panel).await?;
    let channels: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM epg_channel WHERE source_id = $1").bind(s.id).fetch_one(p).await)?;
    let running = running_now().contains(&s.id);
    let mut facts = vec![
        (
            "operator".to_string(),
            owner_cell(lang, &names, s.client_id),
        ),
        ("epg_url".to_string(), Cell::text(&s.url)),
        ("epg_time_zone".to_string(), Cell::text(&s.time_zone)),
        ("epg_enabled".to_string(), yes_no(lang, s.enabled)),
        (
            "epg_channel_count".to_string(),
            Cell::link(channels, format!("/admin/epg/channels?source={}", s.id)),
        ),
        (
            "epg_import_state".to_string(),
            Cell::text(t(lang, if running { "epg_running" } else { "epg_idle" })),
        ),
        (
            "epg_last_import".to_string(),
            match s.last_import_at {
                Some(_) => Cell::text(when(s.last_import_at)),
                None => Cell::text(t(lang, "epg_never")).class("muted"),
            },
        ),
        (
            "epg_last_error".to_string(),
            if s.last_error.is_empty() {
                Cell::text(t(lang, "epg_ok")).class("ok")
            } else {
                Cell::text(&s.last_error).class("bad")
            },
        ),
    ];
    if !s.last_result.is_empty() {
        facts.push((
            "epg_last_result".into(),
            Cell::text(result_text(&s.last_result)),
        ));
    }
    if !s.last_checksum.is_empty() {
        facts.push((
            "epg_checksum".into(),
            Cell::text(&s.last_checksum).class("muted"),
        ));
    }
    // The audit events of the imports of this source, newest first.
    let events: Vec<(i64, String, String, String)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as("SELECT at, actor, action, data FROM audit_event \
                        WHERE entity = 'epg_source' AND entity_id = $1 \
                        AND action IN ('import', 'import_failed') ORDER BY id DESC LIMIT 10")
        .bind(s.id.to_string()).fetch_all(p).await)?;
    let section = ListView {
        title: "epg_import_events".into(),
        columns: columns(&["time", "epg_action", "epg_actor", "epg_data"]),
        rows: events
            .iter()
            .map(|(at, actor, action, data)| {
                vec![
                    Cell::text(when(Some(*at))),
                    if action == "import" {
                        Cell::text(action).class("ok")
                    } else {
                        Cell::text(action).class("bad")
                    },
                    Cell::text(actor),
                    Cell::text(result_text(data)),
                ]
            })
            .collect(),
        total: events.len() as i64,
        ..ListView::default()
    };
    let mut actions = Vec::new();
    if may_import(&user, &s).is_ok() && !running {
        actions.push(Action {
            action: format!("/admin/epg/sources/{}/import", s.id),
            label: "epg_import_now".into(),
            confirm: Some("epg_confirm_import".into()),
            hidden: Vec::new(),
            danger: false,
        });
    }
    let notice = match param(&q, "done") {
        Some("import") => Some("epg_import_started".to_string()),
        _ => None,
    };
    let view = DetailView {
        title: s.name.clone(),
        kind: "epg_source".into(),
        facts,
        actions,
        links: vec![Cell::link(t(lang, "epg_sources"), "/admin/epg/sources")],
        sections: vec![section],
        notice,
        ..DetailView::default()
    };
    panel.views.page("detail.html", &user, context! { view })
}

/// A JSON import summary as `key: value` text (lists shortened).
fn result_text(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_string();
    };
    map.iter()
        .filter(|(_, v)| !matches!(v, serde_json::Value::Array(a) if a.is_empty()))
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}: {s}"),
            serde_json::Value::Array(a) => format!(
                "{k}: {}",
                a.iter()
                    .take(5)
                    .map(|e| e
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            other => format!("{k}: {other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sources being imported by this process.
fn running() -> &'static Mutex<HashSet<i64>> {
    static RUNNING: OnceLock<Mutex<HashSet<i64>>> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

fn running_now() -> HashSet<i64> {
    running().lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Takes a source off the running set when the import task ends, however
/// it ends.
struct RunningGuard(i64);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        running()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// `POST /admin/epg/sources/{id}/import`: starts the import in the
/// background and goes back to the source.
async fn import_now(State(panel): State<Panel>, user: User, Path(raw): Path<String>) -> PageResult {
    let s = load_source(&panel, &user, id_of(&raw)?).await?;
    may_import(&user, &s)?;
    let fresh = running()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(s.id);
    if fresh {
        let guard = RunningGuard(s.id);
        let actor = user.staff.actor();
        let panel = panel.clone();
        let (id, client_id) = (s.id, s.client_id);
        tokio::spawn(async move {
            let _guard = guard;
            if let Err(message) = run_import(&panel, actor.clone(), id).await {
                tracing::warn!(source = id, error = %message, "EPG import from the panel failed");
                if let Err(e) = record_failure(&panel, actor, id, client_id, &message).await {
                    tracing::error!(source = id, error = %e, "cannot record a failed EPG import");
                }
            }
        });
    }
    Ok(see_other(&format!(
        "/admin/epg/sources/{}?done=import",
        s.id
    )))
}

/// One forced import of source `id` (the source's own result is recorded
/// by the import); `Err` for failures before or outside the source.
async fn run_import(panel: &Panel, actor: efir_store::Actor, id: i64) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .connect_timeout(std::time::Duration::from_secs(15))
        .user_agent(concat!("efir/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let opts = efir_epg::import::ImportOptions {
        source: Some(efir_epg::model::SourceRef::Id(id)),
        force: true,
        work_dir: efir_epg::import::work_dir(&panel.options.config.data_dir),
        ..Default::default()
    };
    let summary = efir_epg::import::run(&panel.store, &http, actor, &opts)
        .await
        .map_err(|e| e.to_string())?;
    if summary.changed() {
        if let Err(e) = efir_middleware::ops::refresh_channel_lists(&panel.store, None).await {
            tracing::warn!(error = %e, "cannot invalidate cached channel lists");
        }
    }
    Ok(())
}

/// Records an import that failed outside the source as the import does:
/// `last_error` and an `import_failed` audit event.
async fn record_failure(
    panel: &Panel,
    actor: efir_store::Actor,
    id: i64,
    client_id: Option<i64>,
    message: &str,
) -> Result<(), efir_store::StoreError> {
    use efir_store::audit::Arg;
    let mut tx = panel.store.begin(actor).await?;
    tx.execute(
        "epg_source",
        "UPDATE epg_source SET last_error = $1, updated_at = $2 WHERE id = $3",
        &[
            Arg::Text(message.to_string()),
            Arg::I64(efir_store::now()),
            Arg::I64(id),
        ],
    )
    .await?;
    tx.audit(
        client_id,
        "import_failed",
        "epg_source",
        Some(id.to_string()),
        serde_json::json!({ "error": message }),
    )
    .await?;
    tx.commit().await
}

/// Channels mapped to the EPG channels `ids` that the `scope` covers:
/// EPG channel id → `(channel id, name)`.
async fn mapped(
    panel: &Panel,
    ids: &[i64],
    scope: Option<i64>,
) -> PageResult<HashMap<i64, Vec<(i64, String)>>> {
    let mut out: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT id, name, epg_channel_id FROM channel WHERE ($1 = 0 OR client_id = $1) \
         AND epg_channel_id IN ({}) ORDER BY client_id, sort, id",
        marks.join(", ")
    );
    let rows: Vec<(i64, String, i64)> = with_db!(panel.store.pool(), p => {
        let mut query = sqlx::query_as(&sql).bind(scope.unwrap_or(0));
        for id in ids {
            query = query.bind(*id);
        }
        query.fetch_all(p).await
    })?;
    for (id, name, epg) in rows {
        out.entry(epg).or_default().push((id, name));
    }
    Ok(out)
}

fn mapped_cell(lang: Lang, list: Option<&Vec<(i64, String)>>) -> Cell {
    match list {
        Some(l) if !l.is_empty() => Cell::text(
            l.iter()
                .map(|(id, name)| format!("{name} (#{id})"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => Cell::text(t(lang, "epg_not_mapped")).class("muted"),
    }
}

/// `GET /admin/epg/channels` (`?q=` name or id in the guide, `?source=`,
/// `?client=` for superusers): EPG channels and the channels showing them.
async fn channels(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let lang = user.lang;
    let (client_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let page = page_of(&q);
    let search = param_nonempty(&q, "q")
        .map(efir_store::like_contains)
        .unwrap_or_default();
    let source: i64 = param_nonempty(&q, "source")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cond = format!(
        "WHERE {SOURCE_SCOPE} AND ($2 = '' OR LOWER(c.name) LIKE $2 ESCAPE '\\' \
         OR LOWER(c.ext_id) LIKE $2 ESCAPE '\\') AND ($3 = 0 OR c.source_id = $3)"
    );
    let from = "FROM epg_channel c JOIN epg_source s ON s.id = c.source_id";
    let c = scope.unwrap_or(0);
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        &format!("SELECT COUNT(*) {from} {cond}"))
        .bind(c).bind(&search).bind(source).fetch_one(p).await)?;
    let sql = format!(
        "SELECT c.id, c.ext_id, c.name, c.enabled, s.id, s.name {from} {cond} \
         ORDER BY c.name, c.id LIMIT $4 OFFSET $5"
    );
    let rows: Vec<(i64, String, String, bool, i64, String)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(&sql).bind(c).bind(&search).bind(source)
        .bind(PAGE_SIZE).bind((page - 1) * PAGE_SIZE).fetch_all(p).await)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let maps = mapped(&panel, &ids, scope).await?;
    let sources_visible: Vec<(i64, String)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(&format!("SELECT s.id, s.name FROM epg_source s WHERE {SOURCE_SCOPE} \
                                 ORDER BY s.name LIMIT 1000"))
        .bind(c).fetch_all(p).await)?;
    let mut view = ListView {
        title: "epg_channels".into(),
        columns: columns(&[
            "name",
            "epg_ext_id",
            "epg_source",
            "epg_enabled",
            "epg_mapped",
        ]),
        rows: rows
            .iter()
            .map(|(id, ext_id, name, enabled, sid, sname)| {
                vec![
                    Cell::link(
                        if name.is_empty() { ext_id } else { name },
                        format!("/admin/epg/channels/{id}"),
                    ),
                    Cell::text(ext_id),
                    Cell::link(sname, format!("/admin/epg/sources/{sid}")),
                    yes_no(lang, *enabled),
                    mapped_cell(lang, maps.get(id)),
                ]
            })
            .collect(),
        filters: [
            Filter {
                name: "q".into(),
                label: "search".into(),
                value: param(&q, "q").unwrap_or_default().into(),
                options: Vec::new(),
            },
            Filter {
                name: "source".into(),
                label: "epg_source".into(),
                value: param(&q, "source").unwrap_or_default().into(),
                options: sources_visible
                    .into_iter()
                    .map(|(id, name)| (id.to_string(), name))
                    .collect(),
            },
        ]
        .into_iter()
        .chain(client_filter)
        .collect(),
        ..ListView::default()
    };
    view.paginate(total, page, &q);
    panel.views.page("list.html", &user, context! { view })
}

#[derive(sqlx::FromRow)]
struct EpgChannelRow {
    id: i64,
    ext_id: String,
    name: String,
    enabled: bool,
    source_id: i64,
    source_name: String,
    client_id: Option<i64>,
}

async fn load_channel(panel: &Panel, user: &User, id: i64) -> PageResult<EpgChannelRow> {
    let row: Option<EpgChannelRow> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT c.id, c.ext_id, c.name, c.enabled, c.source_id, s.name AS source_name, s.client_id \
         FROM epg_channel c JOIN epg_source s ON s.id = c.source_id WHERE c.id = $1")
        .bind(id).fetch_optional(p).await)?;
    let row = row.ok_or_else(PageError::not_found)?;
    check_source(user, row.client_id)?;
    Ok(row)
}

/// The channels an EPG channel may be mapped to by `user` (at most 1000):
/// the source's operator's, else the user's operator's, else (a superuser,
/// a shared source) every operator's.
async fn channel_options(
    panel: &Panel,
    user: &User,
    e: &EpgChannelRow,
) -> PageResult<Vec<(String, String)>> {
    let client = e
        .client_id
        .or(user.staff.client_id.filter(|_| !user.staff.is_superuser()));
    let rows: Vec<(i64, String, i64)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT id, name, client_id FROM channel WHERE ($1 = 0 OR client_id = $1) \
         ORDER BY client_id, sort, id LIMIT 1000")
        .bind(client.unwrap_or(0)).fetch_all(p).await)?;
    let names = if client.is_none() {
        operator_names(panel).await?
    } else {
        HashMap::new()
    };
    Ok(rows
        .into_iter()
        .filter(|(_, _, c)| user.staff.may_see(*c))
        .map(|(id, name, c)| {
            let label = match names.get(&c) {
                Some(op) => format!("{name} (#{id}, {op})"),
                None => format!("{name} (#{id})"),
            };
            (id.to_string(), label)
        })
        .collect())
}

fn map_form(e: &EpgChannelRow, options: Vec<(String, String)>) -> FormView {
    FormView {
        title: "epg_map".into(),
        action: format!("/admin/epg/channels/{}/map", e.id),
        fields: vec![FormField::new("channel_id", "epg_channel_id", "select")
            .required()
            .options(options)],
        back: String::new(),
        error: None,
        multipart: false,
    }
}

/// `GET /admin/epg/channels/{id}`: the EPG channel, the channels showing
/// it, and the mapping form.
async fn channel(
    State(panel): State<Panel>,
    user: User,
    Path(raw): Path<String>,
    Query(q): Query,
) -> PageResult {
    let e = load_channel(&panel, &user, id_of(&raw)?).await?;
    let options = channel_options(&panel, &user, &e).await?;
    let notice = match param(&q, "done") {
        Some("mapped") => Some("epg_mapped_done"),
        _ => None,
    };
    render_channel(
        &panel,
        &user,
        &e,
        map_form(&e, options),
        notice,
        StatusCode::OK,
    )
    .await
}

async fn render_channel(
    panel: &Panel,
    user: &User,
    e: &EpgChannelRow,
    form: FormView,
    notice: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let lang = user.lang;
    let scope = if user.staff.is_superuser() {
        None
    } else {
        user.staff.client_id
    };
    let maps = mapped(panel, &[e.id], scope).await?;
    let now = efir_store::now();
    let programmes: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM epg_programme WHERE epg_channel_id = $1 AND stop_at > $2 AND start_at < $3")
        .bind(e.id).bind(now).bind(now + 86_400).fetch_one(p).await)?;
    let list = maps.get(&e.id).cloned().unwrap_or_default();
    let section = ListView {
        title: "epg_mapped".into(),
        columns: columns(&["channel"]),
        rows: list
            .iter()
            .map(|(id, name)| {
                vec![Cell::link(
                    format!("{name} (#{id})"),
                    format!("/admin/content/channel/{id}"),
                )]
            })
            .collect(),
        total: list.len() as i64,
        ..ListView::default()
    };
    let view = DetailView {
        title: if e.name.is_empty() {
            e.ext_id.clone()
        } else {
            e.name.clone()
        },
        kind: "epg_channel".into(),
        facts: vec![
            ("epg_ext_id".into(), Cell::text(&e.ext_id)),
            (
                "epg_source".into(),
                Cell::link(
                    &e.source_name,
                    format!("/admin/epg/sources/{}", e.source_id),
                ),
            ),
            ("epg_enabled".into(), yes_no(lang, e.enabled)),
            ("epg_programmes_24h".into(), Cell::text(programmes)),
            ("epg_mapped".into(), mapped_cell(lang, maps.get(&e.id))),
        ],
        links: vec![Cell::link(t(lang, "epg_channels"), "/admin/epg/channels")],
        sections: vec![section],
        forms: vec![form],
        notice: notice.map(str::to_string),
        ..DetailView::default()
    };
    let mut res = panel.views.page("detail.html", user, context! { view })?;
    *res.status_mut() = status;
    Ok(res)
}

/// `POST /admin/epg/channels/{id}/map` (field `channel_id`): the channel
/// shows this EPG channel's guide.
async fn map(
    State(panel): State<Panel>,
    user: User,
    Path(raw): Path<String>,
    Form(f): Form,
) -> PageResult {
    user.require_write()?;
    let e = load_channel(&panel, &user, id_of(&raw)?).await?;
    let result = map_one(&panel, &user, &e, &f).await;
    match result {
        Ok(()) => Ok(see_other(&format!(
            "/admin/epg/channels/{}?done=mapped",
            e.id
        ))),
        Err(err) if err.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let mut form = map_form(&e, channel_options(&panel, &user, &e).await?);
            form.refill(&f, &err);
            render_channel(
                &panel,
                &user,
                &e,
                form,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(err) => Err(err),
    }
}

async fn map_one(
    panel: &Panel,
    user: &User,
    e: &EpgChannelRow,
    f: &[(String, String)],
) -> PageResult<()> {
    let Some(raw) = param_nonempty(f, "channel_id") else {
        return Err(invalid("channel_id", "choose a channel"));
    };
    let channel_id: i64 = raw
        .parse()
        .map_err(|_| invalid("channel_id", "not a channel id"))?;
    let client: Option<i64> = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        "SELECT client_id FROM channel WHERE id = $1").bind(channel_id).fetch_optional(p).await)?;
    let Some(client) = client else {
        return Err(invalid("channel_id", "no such channel"));
    };
    // Another operator's channel is not there for this user.
    user.check(client)?;
    efir_epg::model::map_channels(&panel.store, user.staff.actor(), e.id, &[channel_id])
        .await
        .map_err(|err| epg_error(err, "channel_id"))?;
    if let Err(err) = efir_middleware::ops::refresh_channel_lists(&panel.store, Some(client)).await
    {
        tracing::warn!(error = %err, "cannot invalidate cached channel lists");
    }
    Ok(())
}

/// `GET /admin/epg/coverage` (`?client=` for superusers): enabled
/// channels with no programme in the next 24 hours.
async fn coverage(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let lang = user.lang;
    let (client_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let page = page_of(&q);
    let now = efir_store::now();
    let cond = "WHERE ($1 = 0 OR t.client_id = $1) AND t.enabled AND NOT EXISTS \
                (SELECT 1 FROM epg_programme e WHERE e.epg_channel_id = t.epg_channel_id \
                 AND e.stop_at > $2 AND e.start_at < $3)";
    let c = scope.unwrap_or(0);
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        &format!("SELECT COUNT(*) FROM channel t {cond}"))
        .bind(c).bind(now).bind(now + 86_400).fetch_one(p).await)?;
    let sql = format!(
        "SELECT t.id, t.name, t.client_id, t.epg_channel_id FROM channel t {cond} \
         ORDER BY t.client_id, t.sort, t.id LIMIT $4 OFFSET $5"
    );
    let rows: Vec<(i64, String, i64, Option<i64>)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(&sql).bind(c).bind(now).bind(now + 86_400)
        .bind(PAGE_SIZE).bind((page - 1) * PAGE_SIZE).fetch_all(p).await)?;
    let names = operator_names(&panel).await?;
    let mut view = ListView {
        title: "epg_coverage_list".into(),
        columns: columns(&["channel", "operator", "epg_channel"]),
        rows: rows
            .iter()
            .map(|(id, name, client, epg)| {
                vec![
                    Cell::link(
                        format!("{name} (#{id})"),
                        format!("/admin/content/channel/{id}"),
                    ),
                    owner_cell(lang, &names, Some(*client)),
                    match epg {
                        Some(e) => Cell::link(format!("#{e}"), format!("/admin/epg/channels/{e}")),
                        None => Cell::text(t(lang, "epg_not_mapped")).class("muted"),
                    },
                ]
            })
            .collect(),
        filters: client_filter.into_iter().collect(),
        ..ListView::default()
    };
    view.paginate(total, page, &q);
    panel.views.page("list.html", &user, context! { view })
}
