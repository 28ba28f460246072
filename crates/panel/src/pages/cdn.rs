//! The CDN router: edges with their health, state and redirects, drain /
//! enable / disable, regions, and the subnet table with its import.
//!
//! Edges, regions and subnets belong to the platform, not to an operator:
//! every staff user may read these pages, only superusers and operator
//! admins may change anything (`require_admin`, 403 otherwise).
//!
//! Changes go through `efir_router::model` (`set_edge`,
//! `import_subnets`), the same functions as `efir manage router-*`, so they
//! are audited (`router_edge` / `router_subnet`, actor `user:<id>:<name>`)
//! and bump the router's data version: every router node polls it every
//! two seconds (`Options::reload_every`) and, on PostgreSQL, reloads at
//! once on the `efir_router` notification, so a drain takes effect within
//! seconds.
//!
//! Live health and redirect counts come from the router of this process
//! (`PanelOptions::router`): `RouterService::health()` and
//! `RouterService::redirect_counts()` (redirects since that node started).
//! Without a router in the process the pages show what the database holds,
//! say so, and the dashboard has no redirects chart.
//!
//! The subnet import takes a textarea `subnets` of `CIDR region` lines, or
//! pasted CSV (`cidr,region`) or coverage-zone JSON, or an uploaded CSV or
//! JSON file `file` (multipart, up to 32 MiB; bigger tables go through
//! `efir manage router-import-subnets`).
//! It replaces the whole table in one transaction: a bad line answers 422
//! naming the line, and nothing is imported.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use efir_router::health::EdgeHealth;
use efir_router::model::{self, RouterError};
use efir_store::with_db;
use minijinja::context;

use super::{Chart, NavItem, Query};
use crate::chart;
use crate::i18n::{t, Lang};
use crate::render::{
    columns, page_of, param, param_nonempty, see_other, Action, Cell, DetailView, Filter,
    FormField, FormView, ListView, PageError, PageResult, PAGE_SIZE,
};
use crate::session::User;
use crate::Panel;

/// Interface strings of these pages: `(key, English, Russian)`.
pub static STRINGS: &[(&str, &str, &str)] = &[
    ("cdn_edges", "Edges", "Эдж-серверы"),
    ("cdn_edge", "Edge", "Эдж-сервер"),
    ("cdn_regions", "Regions", "Регионы"),
    ("cdn_region", "Region", "Регион"),
    ("cdn_subnets", "Subnets", "Подсети"),
    ("cdn_subnet", "Subnet", "Подсеть"),
    ("cdn_base_url", "Base URL", "Базовый URL"),
    ("cdn_health", "Health", "Доступность"),
    ("cdn_healthy", "healthy", "доступен"),
    ("cdn_down", "down", "недоступен"),
    ("cdn_unknown", "not known yet", "пока неизвестно"),
    (
        "cdn_no_router",
        "no router in this process",
        "роутер не запущен в этом процессе",
    ),
    ("cdn_redirects", "Redirects", "Перенаправления"),
    ("cdn_state", "State", "Режим"),
    ("cdn_enabled", "enabled", "включён"),
    ("cdn_disabled", "disabled", "отключён"),
    ("cdn_draining", "draining", "выводится"),
    ("cdn_drain", "Drain", "Вывести из работы"),
    ("cdn_enable", "Enable", "Включить"),
    ("cdn_disable", "Disable", "Отключить"),
    (
        "cdn_confirm_drain",
        "Drain this edge? New sessions go to other edges.",
        "Вывести сервер из работы? Новые сеансы пойдут на другие серверы.",
    ),
    (
        "cdn_confirm_disable",
        "Disable this edge? It gets no redirects at all.",
        "Отключить сервер? Он перестанет получать перенаправления.",
    ),
    ("cdn_weight", "Weight", "Вес"),
    ("cdn_capacity", "Capacity, sessions", "Ёмкость, сеансов"),
    ("cdn_capacity_mbps", "Capacity, Mbit/s", "Ёмкость, Мбит/с"),
    ("cdn_unlimited", "unlimited", "без ограничения"),
    ("cdn_serves", "Serves", "Обслуживает"),
    ("cdn_carried", "Channels carried", "Каналы"),
    ("cdn_all_channels", "all", "все"),
    ("cdn_health_url", "Health URL", "URL проверки"),
    ("cdn_not_polled", "not polled", "не опрашивается"),
    ("cdn_last_checked", "Last checked", "Последняя проверка"),
    ("cdn_last_error", "Last error", "Последняя ошибка"),
    ("cdn_load", "Load", "Нагрузка"),
    ("cdn_updated", "Changed", "Изменён"),
    ("cdn_fallback", "Fallback regions", "Резервные регионы"),
    ("cdn_default_region", "Default", "По умолчанию"),
    ("cdn_countries", "Countries", "Страны"),
    ("cdn_edge_count", "Edges", "Серверов"),
    ("cdn_subnet_count", "Subnets", "Подсетей"),
    ("cdn_yes", "yes", "да"),
    ("cdn_no", "no", "нет"),
    ("cdn_import_subnets", "Import subnets", "Загрузить подсети"),
    (
        "cdn_subnets_file",
        "…or a CSV or JSON file (up to 32 MiB)",
        "…или файл CSV либо JSON (до 32 МиБ)",
    ),
    (
        "cdn_subnets_field",
        "Subnets (replace the whole table)",
        "Подсети (заменяют всю таблицу)",
    ),
    (
        "cdn_subnets_help",
        "One subnet per line: CIDR and region name (10.1.0.0/16 moscow), or CSV cidr,region, or coverage-zone JSON.",
        "По подсети в строке: CIDR и имя региона (10.1.0.0/16 moscow), либо CSV cidr,region, либо JSON coverage zone.",
    ),
    (
        "cdn_subnets_imported",
        "Subnets imported; routers reload within seconds.",
        "Подсети загружены; роутеры применят их в течение нескольких секунд.",
    ),
    (
        "cdn_edge_drained",
        "The edge is draining; routers stop sending new sessions within seconds.",
        "Сервер выводится из работы; роутеры перестанут направлять на него новые сеансы в течение нескольких секунд.",
    ),
    (
        "cdn_edge_enabled",
        "The edge is enabled; routers use it within seconds.",
        "Сервер включён; роутеры начнут использовать его в течение нескольких секунд.",
    ),
    (
        "cdn_edge_disabled",
        "The edge is disabled; routers stop using it within seconds.",
        "Сервер отключён; роутеры перестанут использовать его в течение нескольких секунд.",
    ),
    (
        "cdn_redirects_per_edge",
        "Redirects per edge (this node, since start)",
        "Перенаправления по серверам (этот узел, с запуска)",
    ),
    (
        "cdn_redirects_per_region",
        "Redirects per edge region (this node, since start)",
        "Перенаправления по регионам серверов (этот узел, с запуска)",
    ),
];

/// Largest subnet upload (bigger tables: `efir manage
/// router-import-subnets`).
const MAX_UPLOAD: usize = 32 << 20;

/// Templates of these pages: `(name, source)`.
pub const TEMPLATES: &[(&str, &str)] = &[(
    "cdn_list.html",
    include_str!("../../templates/cdn_list.html"),
)];

/// The routes of these pages.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route("/admin/cdn/edges", get(edges))
        .route("/admin/cdn/edges/{id}", get(edge))
        .route("/admin/cdn/edges/{id}/drain", post(drain))
        .route("/admin/cdn/edges/{id}/enable", post(enable))
        .route("/admin/cdn/edges/{id}/disable", post(disable))
        .route("/admin/cdn/regions", get(regions))
        .route("/admin/cdn/subnets", get(subnets))
        .route(
            "/admin/cdn/subnets/import",
            post(import_subnets).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
}

/// Menu entries for `user` (everyone may look).
pub fn nav_items(_user: &User) -> Vec<NavItem> {
    vec![
        super::item("cdn_edges", "/admin/cdn/edges"),
        super::item("cdn_regions", "/admin/cdn/regions"),
        super::item("cdn_subnets", "/admin/cdn/subnets"),
    ]
}

/// Charts these pages add to the dashboard: redirects per edge from the
/// router of this process; none without one (the edges are shared, so the
/// operator scope does not apply).
pub async fn charts(panel: &Panel, user: &User, _scope: Option<i64>) -> PageResult<Vec<Chart>> {
    let Some(router) = &panel.options.router else {
        return Ok(Vec::new());
    };
    let names = edge_names(panel).await?;
    let mut per_edge: Vec<(String, f64)> = Vec::new();
    let mut per_region: Vec<(String, f64)> = Vec::new();
    for (id, n) in router.redirect_counts() {
        let (edge, region) = names
            .get(&i64::from(id))
            .cloned()
            .unwrap_or_else(|| (format!("#{id}"), String::new()));
        per_edge.push((edge, n as f64));
        match per_region.iter_mut().find(|(r, _)| *r == region) {
            Some(r) => r.1 += n as f64,
            None => per_region.push((region, n as f64)),
        }
    }
    per_region.sort_by(|a, b| a.0.cmp(&b.0));
    let lang = user.lang;
    let empty = t(lang, "chart_no_data");
    Ok(vec![
        Chart {
            title: "cdn_redirects_per_edge",
            svg: chart::bars(t(lang, "cdn_redirects_per_edge"), &per_edge, empty),
        },
        Chart {
            title: "cdn_redirects_per_region",
            svg: chart::bars(t(lang, "cdn_redirects_per_region"), &per_region, empty),
        },
    ])
}

/// `(edge name, region name)` by edge id.
async fn edge_names(panel: &Panel) -> PageResult<HashMap<i64, (String, String)>> {
    let rows: Vec<(i64, String, String)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as("SELECT e.id, e.name, r.name FROM router_edge e \
                        JOIN router_region r ON r.id = e.region_id").fetch_all(p).await)?;
    Ok(rows.into_iter().map(|(id, e, r)| (id, (e, r))).collect())
}

/// What the router of this process knows about the edges.
struct Live {
    health: HashMap<i64, EdgeHealth>,
    redirects: HashMap<i64, u64>,
}

fn live(panel: &Panel) -> Option<Live> {
    let router = panel.options.router.as_ref()?;
    Some(Live {
        health: router
            .health()
            .report()
            .into_iter()
            .map(|h| (i64::from(h.edge), h))
            .collect(),
        redirects: router
            .redirect_counts()
            .into_iter()
            .map(|(id, n)| (i64::from(id), n))
            .collect(),
    })
}

fn health_cell(lang: Lang, live: Option<&Live>, id: i64) -> Cell {
    let Some(live) = live else {
        return Cell::text(t(lang, "cdn_no_router")).class("muted");
    };
    match live.health.get(&id) {
        Some(h) if h.url.is_empty() => Cell::text(format!(
            "{} ({})",
            t(lang, "cdn_healthy"),
            t(lang, "cdn_not_polled")
        ))
        .class("ok"),
        Some(h) if h.healthy => Cell::text(t(lang, "cdn_healthy")).class("ok"),
        Some(h) if h.last_error.is_empty() => Cell::text(t(lang, "cdn_down")).class("bad"),
        Some(h) => Cell::text(format!("{}: {}", t(lang, "cdn_down"), h.last_error)).class("bad"),
        None => Cell::text(t(lang, "cdn_unknown")).class("muted"),
    }
}

fn redirects_cell(lang: Lang, live: Option<&Live>, id: i64) -> Cell {
    match live {
        Some(l) => Cell::text(l.redirects.get(&id).copied().unwrap_or(0)).class("num"),
        None => Cell::text(t(lang, "cdn_no_router")).class("muted"),
    }
}

fn state_cell(lang: Lang, enabled: bool, draining: bool) -> Cell {
    let mut text = t(
        lang,
        if enabled {
            "cdn_enabled"
        } else {
            "cdn_disabled"
        },
    )
    .to_string();
    if draining {
        text.push_str(", ");
        text.push_str(t(lang, "cdn_draining"));
    }
    let class = if !enabled {
        "bad"
    } else if draining {
        "muted"
    } else {
        "ok"
    };
    Cell::text(text).class(class)
}

/// A path id; anything else is 404.
fn id_of(raw: &str) -> PageResult<i64> {
    raw.parse::<i64>().map_err(|_| PageError::not_found())
}

/// The page's notice from `?done=` (only known keys).
fn notice_of(q: &[(String, String)]) -> Option<&'static str> {
    match param(q, "done") {
        Some("drain") => Some("cdn_edge_drained"),
        Some("enable") => Some("cdn_edge_enabled"),
        Some("disable") => Some("cdn_edge_disabled"),
        Some("imported") => Some("cdn_subnets_imported"),
        _ => None,
    }
}

fn router_error(e: RouterError, field: Option<&str>) -> PageError {
    match e {
        RouterError::Store(e) => e.into(),
        RouterError::NotFound(_) => PageError::not_found(),
        RouterError::Invalid(m) => invalid(field, m),
        RouterError::Import(e) => invalid(field, e.to_string()),
    }
}

fn invalid(field: Option<&str>, message: String) -> PageError {
    let mut e = PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message.clone());
    if let Some(f) = field {
        e.fields.insert(f.into(), message);
    }
    e
}

#[derive(sqlx::FromRow)]
struct EdgeRow {
    id: i64,
    name: String,
    base_url: String,
    region: String,
    region_id: i64,
    weight: i64,
    capacity: Option<i64>,
    capacity_mbps: Option<i64>,
    enabled: bool,
    draining: bool,
    serves: String,
    channels: String,
    health_url: String,
    updated_at: i64,
}

const EDGE_SELECT: &str = "SELECT e.id, e.name, e.base_url, r.name AS region, e.region_id, \
    e.weight, e.capacity, e.capacity_mbps, e.enabled, e.draining, e.serves, e.channels, \
    e.health_url, e.updated_at FROM router_edge e JOIN router_region r ON r.id = e.region_id";

/// `GET /admin/cdn/edges` (`?q=` name, `?region=`): every edge with its
/// state, health and redirects.
async fn edges(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let lang = user.lang;
    let page = page_of(&q);
    let search = param_nonempty(&q, "q")
        .map(efir_store::like_contains)
        .unwrap_or_default();
    let region: i64 = param_nonempty(&q, "region")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let cond =
        "WHERE ($1 = '' OR LOWER(e.name) LIKE $1 ESCAPE '\\') AND ($2 = 0 OR e.region_id = $2)";
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        &format!("SELECT COUNT(*) FROM router_edge e {cond}"))
        .bind(&search).bind(region).fetch_one(p).await)?;
    let sql = format!("{EDGE_SELECT} {cond} ORDER BY e.name LIMIT $3 OFFSET $4");
    let rows: Vec<EdgeRow> = with_db!(panel.store.pool(), p => sqlx::query_as(&sql)
        .bind(&search).bind(region).bind(PAGE_SIZE).bind((page - 1) * PAGE_SIZE)
        .fetch_all(p).await)?;
    let live = live(&panel);
    let mut view = ListView {
        title: "cdn_edges".into(),
        columns: columns(&[
            "name",
            "cdn_region",
            "cdn_base_url",
            "cdn_state",
            "cdn_health",
            "cdn_redirects",
        ]),
        rows: rows
            .iter()
            .map(|e| {
                vec![
                    Cell::link(&e.name, format!("/admin/cdn/edges/{}", e.id)),
                    Cell::link(
                        &e.region,
                        format!("/admin/cdn/subnets?region={}", e.region_id),
                    ),
                    Cell::text(&e.base_url),
                    state_cell(lang, e.enabled, e.draining),
                    health_cell(lang, live.as_ref(), e.id),
                    redirects_cell(lang, live.as_ref(), e.id),
                ]
            })
            .collect(),
        filters: vec![
            Filter {
                name: "q".into(),
                label: "search".into(),
                value: param(&q, "q").unwrap_or_default().into(),
                options: Vec::new(),
            },
            region_filter(&panel, &q).await?,
        ],
        ..ListView::default()
    };
    view.paginate(total, page, &q);
    panel.views.page(
        "list.html",
        &user,
        context! { view, notice => notice_of(&q) },
    )
}

async fn region_filter(panel: &Panel, q: &[(String, String)]) -> PageResult<Filter> {
    let regions: Vec<(i64, String)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT id, name FROM router_region ORDER BY name LIMIT 1000").fetch_all(p).await)?;
    Ok(Filter {
        name: "region".into(),
        label: "cdn_region".into(),
        value: param(q, "region").unwrap_or_default().into(),
        options: regions
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect(),
    })
}

async fn load_edge(panel: &Panel, id: i64) -> PageResult<EdgeRow> {
    let sql = format!("{EDGE_SELECT} WHERE e.id = $1");
    let row: Option<EdgeRow> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
    row.ok_or_else(PageError::not_found)
}

fn or_unlimited(lang: Lang, v: Option<i64>) -> Cell {
    match v {
        Some(v) => Cell::text(v),
        None => Cell::text(t(lang, "cdn_unlimited")).class("muted"),
    }
}

/// `GET /admin/cdn/edges/{id}`: its configuration, live health and
/// redirects, and (for admins) drain / enable / disable.
async fn edge(
    State(panel): State<Panel>,
    user: User,
    Path(raw): Path<String>,
    Query(q): Query,
) -> PageResult {
    let lang = user.lang;
    let e = load_edge(&panel, id_of(&raw)?).await?;
    let live = live(&panel);
    let yes_no = |b: bool| Cell::text(t(lang, if b { "cdn_yes" } else { "cdn_no" }));
    let mut facts = vec![
        ("cdn_region".to_string(), Cell::text(&e.region)),
        ("cdn_base_url".to_string(), Cell::text(&e.base_url)),
        (
            "cdn_state".to_string(),
            state_cell(lang, e.enabled, e.draining),
        ),
        ("cdn_enabled".to_string(), yes_no(e.enabled)),
        ("cdn_draining".to_string(), yes_no(e.draining)),
        (
            "cdn_health".to_string(),
            health_cell(lang, live.as_ref(), e.id),
        ),
        (
            "cdn_redirects".to_string(),
            redirects_cell(lang, live.as_ref(), e.id),
        ),
        ("cdn_weight".to_string(), Cell::text(e.weight)),
        ("cdn_capacity".to_string(), or_unlimited(lang, e.capacity)),
        (
            "cdn_capacity_mbps".to_string(),
            or_unlimited(lang, e.capacity_mbps),
        ),
        ("cdn_serves".to_string(), Cell::text(&e.serves)),
        (
            "cdn_carried".to_string(),
            if e.channels.is_empty() {
                Cell::text(t(lang, "cdn_all_channels"))
            } else {
                Cell::text(&e.channels)
            },
        ),
        (
            "cdn_health_url".to_string(),
            if e.health_url.is_empty() {
                Cell::text(t(lang, "cdn_not_polled")).class("muted")
            } else {
                Cell::text(&e.health_url)
            },
        ),
    ];
    if let Some(h) = live.as_ref().and_then(|l| l.health.get(&e.id)) {
        let checked = h
            .last_checked_at
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "—".into());
        facts.push(("cdn_last_checked".into(), Cell::text(checked)));
        if !h.last_error.is_empty() {
            facts.push((
                "cdn_last_error".into(),
                Cell::text(&h.last_error).class("bad"),
            ));
        }
        let load = h
            .reported_load
            .map(|l| l.max(h.recent_redirects))
            .unwrap_or(h.recent_redirects);
        facts.push(("cdn_load".into(), Cell::text(load)));
    }
    facts.push((
        "cdn_updated".into(),
        Cell::text(
            chrono::DateTime::from_timestamp(e.updated_at, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
        ),
    ));
    let mut actions = Vec::new();
    if user.can_admin() {
        let action = |what: &str, label: &str, confirm: Option<&str>, danger: bool| Action {
            action: format!("/admin/cdn/edges/{}/{what}", e.id),
            label: label.into(),
            confirm: confirm.map(str::to_string),
            hidden: Vec::new(),
            danger,
        };
        if !e.draining && e.enabled {
            actions.push(action(
                "drain",
                "cdn_drain",
                Some("cdn_confirm_drain"),
                false,
            ));
        }
        if !e.enabled || e.draining {
            actions.push(action("enable", "cdn_enable", None, false));
        }
        if e.enabled {
            actions.push(action(
                "disable",
                "cdn_disable",
                Some("cdn_confirm_disable"),
                true,
            ));
        }
    }
    let view = DetailView {
        title: e.name.clone(),
        kind: "cdn_edge".into(),
        facts,
        actions,
        links: vec![Cell::link(t(lang, "cdn_edges"), "/admin/cdn/edges")],
        notice: notice_of(&q).map(str::to_string),
        ..DetailView::default()
    };
    panel.views.page("detail.html", &user, context! { view })
}

/// Applies a state change to edge `raw` and goes back to it.
async fn change(
    panel: &Panel,
    user: &User,
    raw: &str,
    what: &str,
    enabled: Option<bool>,
    draining: Option<bool>,
) -> PageResult {
    user.require_admin()?;
    let e = load_edge(panel, id_of(raw)?).await?;
    model::set_edge(&panel.store, user.staff.actor(), &e.name, enabled, draining)
        .await
        .map_err(|e| router_error(e, None))?;
    Ok(see_other(&format!("/admin/cdn/edges/{}?done={what}", e.id)))
}

/// `POST /admin/cdn/edges/{id}/drain`: no new sessions (running ones stay).
async fn drain(State(panel): State<Panel>, user: User, Path(raw): Path<String>) -> PageResult {
    change(&panel, &user, &raw, "drain", None, Some(true)).await
}

/// `POST /admin/cdn/edges/{id}/enable`: enabled and not draining.
async fn enable(State(panel): State<Panel>, user: User, Path(raw): Path<String>) -> PageResult {
    change(&panel, &user, &raw, "enable", Some(true), Some(false)).await
}

/// `POST /admin/cdn/edges/{id}/disable`: no redirects at all.
async fn disable(State(panel): State<Panel>, user: User, Path(raw): Path<String>) -> PageResult {
    change(&panel, &user, &raw, "disable", Some(false), None).await
}

/// `GET /admin/cdn/regions`: regions with their fallbacks, countries and
/// how many edges and subnets they have.
async fn regions(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let lang = user.lang;
    let page = page_of(&q);
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM router_region").fetch_one(p).await)?;
    let rows: Vec<(i64, String, bool, String, String)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as("SELECT id, name, is_default, fallback, countries FROM router_region \
                        ORDER BY name LIMIT $1 OFFSET $2")
        .bind(PAGE_SIZE).bind((page - 1) * PAGE_SIZE).fetch_all(p).await)?;
    let edges: Vec<(i64, i64)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT region_id, COUNT(*) FROM router_edge GROUP BY region_id").fetch_all(p).await)?;
    let subnets: Vec<(i64, i64)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT region_id, COUNT(*) FROM router_subnet GROUP BY region_id").fetch_all(p).await)?;
    let edges: HashMap<i64, i64> = edges.into_iter().collect();
    let subnets: HashMap<i64, i64> = subnets.into_iter().collect();
    let mut view = ListView {
        title: "cdn_regions".into(),
        columns: columns(&[
            "name",
            "cdn_default_region",
            "cdn_fallback",
            "cdn_countries",
            "cdn_edge_count",
            "cdn_subnet_count",
        ]),
        rows: rows
            .iter()
            .map(|(id, name, is_default, fallback, countries)| {
                vec![
                    Cell::text(name),
                    Cell::text(t(lang, if *is_default { "cdn_yes" } else { "cdn_no" })),
                    Cell::text(fallback),
                    Cell::text(countries),
                    Cell::link(
                        edges.get(id).copied().unwrap_or(0),
                        format!("/admin/cdn/edges?region={id}"),
                    )
                    .class("num"),
                    Cell::link(
                        subnets.get(id).copied().unwrap_or(0),
                        format!("/admin/cdn/subnets?region={id}"),
                    )
                    .class("num"),
                ]
            })
            .collect(),
        ..ListView::default()
    };
    view.paginate(total, page, &q);
    panel.views.page("list.html", &user, context! { view })
}

fn import_form() -> FormView {
    FormView {
        title: "cdn_import_subnets".into(),
        action: "/admin/cdn/subnets/import".into(),
        fields: vec![
            FormField::new("subnets", "cdn_subnets_field", "textarea").help("cdn_subnets_help"),
            FormField::new("file", "cdn_subnets_file", "file"),
        ],
        back: String::new(),
        error: None,
        multipart: true,
    }
}

/// `GET /admin/cdn/subnets` (`?q=` part of the CIDR, `?region=`), with the
/// import form for admins.
async fn subnets(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    render_subnets(&panel, &user, &q, import_form(), StatusCode::OK).await
}

async fn render_subnets(
    panel: &Panel,
    user: &User,
    q: &[(String, String)],
    form: FormView,
    status: StatusCode,
) -> PageResult {
    let page = page_of(q);
    let search = param_nonempty(q, "q")
        .map(efir_store::like_contains)
        .unwrap_or_default();
    let region: i64 = param_nonempty(q, "region")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let cond =
        "WHERE ($1 = '' OR LOWER(s.cidr) LIKE $1 ESCAPE '\\') AND ($2 = 0 OR s.region_id = $2)";
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        &format!("SELECT COUNT(*) FROM router_subnet s {cond}"))
        .bind(&search).bind(region).fetch_one(p).await)?;
    let sql = format!(
        "SELECT s.cidr, r.name FROM router_subnet s JOIN router_region r ON r.id = s.region_id \
         {cond} ORDER BY s.cidr LIMIT $3 OFFSET $4"
    );
    let rows: Vec<(String, String)> = with_db!(panel.store.pool(), p => sqlx::query_as(&sql)
        .bind(&search).bind(region).bind(PAGE_SIZE).bind((page - 1) * PAGE_SIZE)
        .fetch_all(p).await)?;
    let mut view = ListView {
        title: "cdn_subnets".into(),
        columns: columns(&["cdn_subnet", "cdn_region"]),
        rows: rows
            .iter()
            .map(|(cidr, region)| vec![Cell::text(cidr), Cell::text(region)])
            .collect(),
        filters: vec![
            Filter {
                name: "q".into(),
                label: "search".into(),
                value: param(q, "q").unwrap_or_default().into(),
                options: Vec::new(),
            },
            region_filter(panel, q).await?,
        ],
        ..ListView::default()
    };
    view.paginate(total, page, q);
    let forms = if user.can_admin() {
        vec![form]
    } else {
        Vec::new()
    };
    let mut res = panel.views.page(
        "cdn_list.html",
        user,
        context! { view, forms, notice => notice_of(q) },
    )?;
    *res.status_mut() = status;
    Ok(res)
}

/// `CIDR region` lines as the CSV the router's import reads (`cidr,region`);
/// CSV and JSON pass unchanged. Line numbers stay the same.
fn as_csv(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split('\n') {
        let trimmed = line.trim();
        let spaced = !trimmed.contains(',') && !trimmed.starts_with('#');
        match trimmed.split_once(char::is_whitespace) {
            Some((cidr, region)) if spaced => {
                out.push_str(cidr);
                out.push_str(",\"");
                out.push_str(&region.trim().replace('"', "\"\""));
                out.push('"');
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The parts of a `multipart/form-data` body: `(name, content)`; `None`
/// when it is not well-formed.
fn multipart_parts(content_type: &str, body: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    if boundary.is_empty() {
        return None;
    }
    let delim = format!("--{boundary}").into_bytes();
    let end_delim = [b"\r\n".as_slice(), &delim].concat();
    let mut rest = &body[find(body, &delim)? + delim.len()..];
    let mut out = Vec::new();
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..head_end]).ok()?;
        let content = &rest[head_end + 4..];
        let end = find(content, &end_delim)?;
        let name = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("name="))?
            .trim_matches('"')
            .to_string();
        out.push((name, content[..end].to_vec()));
        rest = &content[end + end_delim.len()..];
    }
    Some(out)
}

/// `POST /admin/cdn/subnets/import`: the textarea `subnets`, or an
/// uploaded file `file` (multipart, CSRF token in `?_csrf=`), replaces
/// every subnet; a bad line is 422 naming it, and nothing changes.
async fn import_subnets(
    State(panel): State<Panel>,
    user: User,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    user.require_admin()?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (f, file): (Vec<(String, String)>, Vec<u8>) = if content_type
        .starts_with("multipart/form-data")
    {
        let parts = multipart_parts(content_type, &body)
            .ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "malformed multipart form"))?;
        let mut file = Vec::new();
        let mut fields = Vec::new();
        for (name, content) in parts {
            if name == "file" {
                file = content;
            } else {
                fields.push((name, String::from_utf8_lossy(&content).into_owned()));
            }
        }
        (fields, file)
    } else {
        let fields = form_urlencoded::parse(&body)
            .into_owned()
            .filter(|(k, _)| k != "_csrf")
            .collect();
        (fields, Vec::new())
    };
    let text = param(&f, "subnets").unwrap_or_default();
    let (input, field) = if !file.iter().all(u8::is_ascii_whitespace) {
        (file, "file")
    } else {
        (as_csv(text).into_bytes(), "subnets")
    };
    let result = if input.iter().all(u8::is_ascii_whitespace) {
        Err(invalid(
            Some("subnets"),
            "give at least one subnet".to_string(),
        ))
    } else {
        model::import_subnets(&panel.store, user.staff.actor(), &input)
            .await
            .map_err(|e| router_error(e, Some(field)))
    };
    match result {
        Ok(_) => Ok(see_other("/admin/cdn/subnets?done=imported")),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let mut form = import_form();
            form.refill(&f, &e);
            render_subnets(&panel, &user, &[], form, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::as_csv;

    #[test]
    fn spaced_lines_become_csv() {
        assert_eq!(
            as_csv("10.0.0.0/8 moscow east\n# c\n\n192.168.0.0/16,spb\n"),
            "10.0.0.0/8,\"moscow east\"\n# c\n\n192.168.0.0/16,spb\n\n"
        );
        assert_eq!(as_csv(" {\"a\": 1}"), " {\"a\": 1}");
    }
}
