//! Stream services, data centers and maintenance windows with their live
//! health.
//!
//! All three belong to one operator (`client_id`, for maintenance windows
//! through their service): lists are scoped like every list, another
//! operator's objects answer 404. Every role of the operator reads them.
//! Creating and changing services and data centers (URL masks, secure-link
//! secrets, weights) needs an operator admin or a superuser; maintenance
//! windows and "check now" need write access (support staff may schedule a
//! window; monitoring users only read).
//!
//! * `GET /admin/streams/services` (`?client=`, `?type=`, `?q=`),
//!   `GET|POST /admin/streams/services/new`, `GET /admin/streams/services/{id}`,
//!   `GET|POST /admin/streams/services/{id}/edit` (fields `client_id`
//!   [superuser, new only], `name`, `service_type`, `url_mask`, `check_url`,
//!   `secure_link_secret` [kept when empty], `secure_link_expression`,
//!   `secure_link_ttl`, `data_center_id`, `weight`, `enabled`);
//!   `POST /admin/streams/services/{id}/check` probes the service now
//!   ([`efir_middleware::ops::check_stream_service`]); a slow probe goes on
//!   in the background and the page shows its result once recorded;
//! * `GET /admin/streams/datacenters`, `…/new`, `…/{id}`, `…/{id}/edit`
//!   (fields `client_id`, `name`, `location`);
//! * `GET /admin/streams/maintenance`, `…/new` (`?service=`), `…/{id}`,
//!   `…/{id}/edit` (fields `stream_service_id`, `starts_at`, `ends_at` as
//!   `YYYY-MM-DDTHH:MM` UTC, `comment`), `POST …/{id}/delete`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use efir_store::audit::Arg;
use efir_store::{with_db, with_tx};
use minijinja::context;
use serde_json::json;

use super::{item, operator_scope, Chart, Form, NavItem, Query};
use crate::chart;
use crate::i18n::t;
use crate::render::{
    columns, page_of, param, param_nonempty, see_other, Action, Cell, DetailView, Filter,
    FormField, FormView, ListView, PageError, PageResult, PAGE_SIZE,
};
use crate::session::User;
use crate::Panel;

/// Interface strings of these pages: `(key, English, Russian)`.
pub static STRINGS: &[(&str, &str, &str)] = &[
    ("st_id", "ID", "ID"),
    ("st_services", "Stream services", "Сервисы вещания"),
    ("st_service", "Stream service", "Сервис вещания"),
    ("st_new_service", "New stream service", "Новый сервис вещания"),
    ("st_edit_service", "Edit stream service", "Изменить сервис вещания"),
    ("st_datacenters", "Data centers", "Дата-центры"),
    ("st_datacenter", "Data center", "Дата-центр"),
    ("st_new_datacenter", "New data center", "Новый дата-центр"),
    ("st_edit_datacenter", "Edit data center", "Изменить дата-центр"),
    ("st_maintenance", "Maintenance windows", "Окна обслуживания"),
    ("st_window", "Maintenance window", "Окно обслуживания"),
    ("st_new_window", "New maintenance window", "Новое окно обслуживания"),
    ("st_edit_window", "Edit maintenance window", "Изменить окно обслуживания"),
    ("st_service_type", "Service type", "Тип сервиса"),
    ("st_url_mask", "URL mask", "Маска URL"),
    (
        "st_url_mask_help",
        "e.g. http://edge.example.tv/$cid/index.m3u8?token=$token ($prefix, $cid, $token, $flpbt, $flpdur)",
        "например http://edge.example.tv/$cid/index.m3u8?token=$token ($prefix, $cid, $token, $flpbt, $flpdur)",
    ),
    ("st_check_url", "Health check URL", "URL проверки"),
    (
        "st_check_url_help",
        "optional; without it the host and port of the URL mask are probed",
        "необязательно; без него проверяются хост и порт из маски URL",
    ),
    ("st_secret", "Secure link secret", "Секрет secure link"),
    (
        "st_secret_kept",
        "*** is stored; leave empty to keep it.",
        "*** сохранён; оставьте пустым, чтобы не менять.",
    ),
    ("st_expression", "Secure link expression", "Выражение secure link"),
    ("st_ttl", "Link lifetime, s", "Время жизни ссылки, с"),
    ("st_weight", "Weight", "Вес"),
    ("st_load", "Load", "Нагрузка"),
    ("st_enabled", "Enabled", "Включён"),
    ("st_health", "Health", "Состояние"),
    ("st_checked_at", "Checked", "Проверен"),
    ("st_health_error", "Last error", "Последняя ошибка"),
    ("st_check_now", "Check now", "Проверить сейчас"),
    (
        "st_checked",
        "Checked: the health below is the result.",
        "Проверено: ниже результат проверки.",
    ),
    (
        "st_check_running",
        "The check is still running; reload the page in a few seconds.",
        "Проверка ещё идёт; обновите страницу через несколько секунд.",
    ),
    ("st_location", "Location", "Расположение"),
    ("st_starts", "Starts (UTC)", "Начало (UTC)"),
    ("st_ends", "Ends (UTC)", "Конец (UTC)"),
    ("st_now", "now", "сейчас"),
    ("st_upcoming", "upcoming", "предстоит"),
    ("st_past", "past", "прошло"),
    ("st_services_health", "Stream services by health", "Сервисы вещания по состоянию"),
    (
        "st_confirm_delete_window",
        "Delete this maintenance window?",
        "Удалить это окно обслуживания?",
    ),
    ("st_none", "—", "—"),
    ("st_saved", "Saved.", "Сохранено."),
];

/// Templates of these pages: `(name, source)`.
pub const TEMPLATES: &[(&str, &str)] = &[];

/// The routes of these pages.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route("/admin/streams/services", get(services))
        .route(
            "/admin/streams/services/new",
            get(new_service_page).post(create_service),
        )
        .route("/admin/streams/services/{id}", get(show_service))
        .route(
            "/admin/streams/services/{id}/edit",
            get(edit_service_page).post(update_service),
        )
        .route("/admin/streams/services/{id}/check", post(check_now))
        .route("/admin/streams/datacenters", get(datacenters))
        .route(
            "/admin/streams/datacenters/new",
            get(new_dc_page).post(create_dc),
        )
        .route("/admin/streams/datacenters/{id}", get(show_dc))
        .route(
            "/admin/streams/datacenters/{id}/edit",
            get(edit_dc_page).post(update_dc),
        )
        .route("/admin/streams/maintenance", get(windows))
        .route(
            "/admin/streams/maintenance/new",
            get(new_window_page).post(create_window),
        )
        .route("/admin/streams/maintenance/{id}", get(show_window))
        .route(
            "/admin/streams/maintenance/{id}/edit",
            get(edit_window_page).post(update_window),
        )
        .route(
            "/admin/streams/maintenance/{id}/delete",
            post(delete_window),
        )
}

/// Menu entries for `user`.
pub fn nav_items(_user: &User) -> Vec<NavItem> {
    vec![
        item("st_services", "/admin/streams/services"),
        item("st_datacenters", "/admin/streams/datacenters"),
        item("st_maintenance", "/admin/streams/maintenance"),
    ]
}

/// Charts these pages add to the dashboard (operator `scope`, `None` =
/// all): stream services by health.
pub async fn charts(panel: &Panel, user: &User, scope: Option<i64>) -> PageResult<Vec<Chart>> {
    let sql = "SELECT health, COUNT(*) FROM stream_service \
               WHERE enabled AND ($1 IS NULL OR client_id = $1) GROUP BY health ORDER BY health";
    let rows: Vec<(String, i64)> =
        with_db!(panel.store.pool(), p => sqlx::query_as(sql).bind(scope).fetch_all(p).await)?;
    let lang = user.lang;
    let bars: Vec<(String, f64)> = rows.into_iter().map(|(h, n)| (h, n as f64)).collect();
    Ok(vec![Chart {
        title: "st_services_health",
        svg: chart::bars(
            t(lang, "st_services_health"),
            &bars,
            t(lang, "chart_no_data"),
        ),
    }])
}

// ---------------------------------------------------------------- helpers

fn unprocessable(fields: BTreeMap<String, String>) -> PageError {
    let mut e = PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "check the marked fields");
    e.fields = fields;
    e
}

/// Renders `form` again with the errors of a failed submit (422).
fn refill(
    panel: &Panel,
    user: &User,
    mut form: FormView,
    params: &[(String, String)],
    err: &PageError,
) -> PageResult {
    if err.status != StatusCode::UNPROCESSABLE_ENTITY {
        return Err(err.clone());
    }
    form.refill(params, err);
    let mut res = panel
        .views
        .page("form.html", user, context! { view => form })?;
    *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(res)
}

fn form_page(panel: &Panel, user: &User, form: FormView) -> PageResult {
    panel
        .views
        .page("form.html", user, context! { view => form })
}

fn notice_of(q: &[(String, String)]) -> Option<String> {
    match param(q, "notice") {
        Some("checked") => Some("st_checked".into()),
        Some("checking") => Some("st_check_running".into()),
        Some("saved") => Some("st_saved".into()),
        _ => None,
    }
}

fn time_text(ts: Option<i64>) -> String {
    ts.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn time_input(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM` (or with `:SS`, or a space for `T`) in UTC.
fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|d| d.and_utc().timestamp())
}

fn check_name(v: &str, fields: &mut BTreeMap<String, String>, name: &str) -> String {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control) {
        fields.insert(name.into(), "1 to 200 printable characters".into());
    }
    v.to_string()
}

const SERVICE_TYPES: [&str; 3] = ["live", "pvr", "vod"];
const MASK_SCHEMES: [&str; 8] = [
    "http", "https", "rtsp", "rtmp", "rtmps", "udp", "rtp", "srt",
];

/// Checks a URL mask: `$prefix…`, or `scheme://host…` with a known scheme;
/// no spaces or control characters.
pub fn check_url_mask(mask: &str) -> Result<(), String> {
    let expected = "expected a stream URL such as http://edge.example.tv/$cid/index.m3u8 \
                    (http, https, rtsp, rtmp, rtmps, udp, rtp or srt) or one starting with $prefix";
    if mask.is_empty()
        || mask.len() > 2000
        || mask.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(expected.into());
    }
    if mask.starts_with("$prefix") {
        return Ok(());
    }
    let Some((scheme, rest)) = mask.split_once("://") else {
        return Err(expected.into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if !MASK_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
        || host.is_empty()
        || host.starts_with(':')
        || host.contains(['<', '>', '"', '\''])
    {
        return Err(expected.into());
    }
    Ok(())
}

fn check_http_url(url: &str) -> Result<(), String> {
    let bad = || "expected an http:// or https:// URL".to_string();
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
        || host.is_empty()
        || url.len() > 2000
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(())
}

fn int_field(
    form: &[(String, String)],
    name: &str,
    default: i64,
    min: i64,
    max: i64,
    fields: &mut BTreeMap<String, String>,
) -> i64 {
    match param_nonempty(form, name) {
        None => default,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                fields.insert(name.into(), format!("a whole number from {min} to {max}"));
                default
            }
        },
    }
}

/// The operator of a new object as the form names it, with a field error
/// instead of a page error for a missing or foreign operator.
fn new_client(
    user: &User,
    form: &[(String, String)],
    fields: &mut BTreeMap<String, String>,
) -> i64 {
    match super::form_client(user, form) {
        Ok(c) => c,
        Err(e) => {
            let msg = e
                .fields
                .get("client_id")
                .cloned()
                .unwrap_or_else(|| "not an operator you may choose".into());
            fields.insert("client_id".into(), msg);
            0
        }
    }
}

fn client_field(user: &User, options: Vec<(String, String)>) -> Option<FormField> {
    user.staff.is_superuser().then(|| {
        FormField::new("client_id", "operator", "select")
            .options(options)
            .required()
    })
}

// ------------------------------------------------------- stream services

#[derive(Debug, Clone, sqlx::FromRow)]
struct ServiceRow {
    id: i64,
    client_id: i64,
    name: String,
    service_type: String,
    url_mask: String,
    secure_link_secret: String,
    secure_link_expression: String,
    secure_link_ttl: i64,
    data_center_id: Option<i64>,
    weight: i64,
    enabled: bool,
    check_url: String,
    health: String,
    health_checked_at: Option<i64>,
    health_error: String,
    load: i64,
}

const SERVICE_COLUMNS: &str = "id, client_id, name, service_type, url_mask, secure_link_secret, \
    secure_link_expression, secure_link_ttl, data_center_id, weight, enabled, check_url, health, \
    health_checked_at, health_error, load";

/// A service `user` may see (404 otherwise).
async fn load_service(panel: &Panel, user: &User, id: i64) -> PageResult<ServiceRow> {
    let sql = format!("SELECT {SERVICE_COLUMNS} FROM stream_service WHERE id = $1");
    let row: Option<ServiceRow> =
        with_db!(panel.store.pool(), p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
    let row = row.ok_or_else(PageError::not_found)?;
    user.check(row.client_id)?;
    Ok(row)
}

fn health_cell(health: &str) -> Cell {
    let class = match health {
        "up" => "ok",
        "down" => "bad",
        _ => "muted",
    };
    Cell::text(health).class(class)
}

async fn services(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let (filter, scope) = operator_scope(&panel, &user, &q).await?;
    let kind = param_nonempty(&q, "type")
        .filter(|k| SERVICE_TYPES.contains(k))
        .map(str::to_string);
    let search = param_nonempty(&q, "q").map(efir_store::like_contains);
    let page = page_of(&q);
    let cond = "($1 IS NULL OR s.client_id = $1) AND ($2 IS NULL OR s.service_type = $2) \
                AND ($3 IS NULL OR LOWER(s.name) LIKE $3 ESCAPE '\\')";
    let count_sql = format!("SELECT COUNT(*) FROM stream_service s WHERE {cond}");
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(&count_sql)
        .bind(scope).bind(&kind).bind(&search).fetch_one(p).await)?;
    let mut view = ListView {
        title: "st_services".into(),
        columns: columns(&[
            "st_id",
            "name",
            "operator",
            "st_service_type",
            "st_url_mask",
            "st_datacenter",
            "st_enabled",
            "st_health",
            "st_checked_at",
        ]),
        create: user
            .can_admin()
            .then(|| "/admin/streams/services/new".to_string()),
        ..ListView::default()
    };
    view.paginate(total, page, &q);
    let sql = format!(
        "SELECT s.id, s.name, c.name, s.service_type, s.url_mask, d.name, s.enabled, s.health, \
         s.health_checked_at FROM stream_service s JOIN client c ON c.id = s.client_id \
         LEFT JOIN data_center d ON d.id = s.data_center_id WHERE {cond} \
         ORDER BY s.id LIMIT $4 OFFSET $5"
    );
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        Option<String>,
        bool,
        String,
        Option<i64>,
    );
    let rows: Vec<Row> = with_db!(panel.store.pool(), p => sqlx::query_as(&sql)
        .bind(scope).bind(&kind).bind(&search)
        .bind(PAGE_SIZE).bind((view.page - 1) * PAGE_SIZE)
        .fetch_all(p).await)?;
    view.rows = rows
        .into_iter()
        .map(|r| {
            let href = format!("/admin/streams/services/{}", r.0);
            vec![
                Cell::link(r.0, href.clone()),
                Cell::link(r.1, href),
                Cell::text(r.2),
                Cell::text(r.3),
                Cell::text(r.4),
                Cell::text(r.5.unwrap_or_default()),
                Cell::text(t(user.lang, if r.6 { "active" } else { "inactive" })),
                health_cell(&r.7),
                Cell::text(time_text(r.8)),
            ]
        })
        .collect();
    view.filters = filter.into_iter().collect();
    view.filters.push(Filter {
        name: "type".into(),
        label: "st_service_type".into(),
        value: kind.unwrap_or_default(),
        options: SERVICE_TYPES
            .iter()
            .map(|k| (k.to_string(), k.to_string()))
            .collect(),
    });
    view.filters.push(Filter {
        name: "q".into(),
        label: "search".into(),
        value: param(&q, "q").unwrap_or_default().to_string(),
        options: Vec::new(),
    });
    panel
        .views
        .page("list.html", &user, context! { view => view })
}

/// `(id, label)` of the data centers of `client` (all visible ones, with
/// their operator's name, when `None`).
async fn dc_options(
    panel: &Panel,
    user: &User,
    client: Option<i64>,
) -> PageResult<Vec<(String, String)>> {
    let sql = "SELECT d.id, d.name, c.name, d.client_id FROM data_center d \
               JOIN client c ON c.id = d.client_id \
               WHERE ($1 IS NULL OR d.client_id = $1) ORDER BY c.name, d.name";
    let rows: Vec<(i64, String, String, i64)> =
        with_db!(panel.store.pool(), p => sqlx::query_as(sql).bind(client).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .filter(|r| user.staff.may_see(r.3))
        .map(|(id, name, op, _)| {
            let label = if client.is_some() {
                name
            } else {
                format!("{op} / {name}")
            };
            (id.to_string(), label)
        })
        .collect())
}

async fn service_form(
    panel: &Panel,
    user: &User,
    row: Option<&ServiceRow>,
) -> PageResult<FormView> {
    let mut fields = Vec::new();
    let client = match row {
        Some(r) => Some(r.client_id),
        None if user.staff.is_superuser() => None,
        None => user.staff.client_id,
    };
    if row.is_none() {
        if let Some(f) = client_field(user, super::operator_options(panel, user).await?) {
            fields.push(f);
        }
    }
    let secret_field = FormField::new("secure_link_secret", "st_secret", "password");
    let secret_field = match row {
        Some(r) if !r.secure_link_secret.is_empty() => secret_field.help("st_secret_kept"),
        _ => secret_field,
    };
    fields.extend([
        FormField::new("name", "name", "text")
            .required()
            .value(row.map(|r| r.name.as_str()).unwrap_or_default()),
        FormField::new("service_type", "st_service_type", "select")
            .required()
            .options(
                SERVICE_TYPES
                    .iter()
                    .map(|k| (k.to_string(), k.to_string()))
                    .collect(),
            )
            .value(row.map(|r| r.service_type.as_str()).unwrap_or("live")),
        FormField::new("url_mask", "st_url_mask", "text")
            .required()
            .value(row.map(|r| r.url_mask.as_str()).unwrap_or_default())
            .help("st_url_mask_help"),
        FormField::new("check_url", "st_check_url", "text")
            .value(row.map(|r| r.check_url.as_str()).unwrap_or_default())
            .help("st_check_url_help"),
        secret_field,
        FormField::new("secure_link_expression", "st_expression", "text").value(
            row.map(|r| r.secure_link_expression.as_str())
                .unwrap_or("$secure_link_expires$uri $secret"),
        ),
        FormField::new("secure_link_ttl", "st_ttl", "number")
            .value(row.map(|r| r.secure_link_ttl).unwrap_or(3600)),
        FormField::new("data_center_id", "st_datacenter", "select")
            .options(dc_options(panel, user, client).await?)
            .value(
                row.and_then(|r| r.data_center_id)
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            ),
        FormField::new("weight", "st_weight", "number").value(row.map(|r| r.weight).unwrap_or(1)),
        FormField::new("enabled", "st_enabled", "checkbox").value(
            if row.map(|r| r.enabled).unwrap_or(true) {
                "1"
            } else {
                "0"
            },
        ),
    ]);
    Ok(match row {
        Some(r) => FormView {
            title: "st_edit_service".into(),
            action: format!("/admin/streams/services/{}/edit", r.id),
            fields,
            back: format!("/admin/streams/services/{}", r.id),
            ..FormView::default()
        },
        None => FormView {
            title: "st_new_service".into(),
            action: "/admin/streams/services/new".into(),
            fields,
            back: "/admin/streams/services".into(),
            ..FormView::default()
        },
    })
}

/// A checked service form.
#[derive(Debug)]
struct ServiceInput {
    name: String,
    service_type: String,
    url_mask: String,
    check_url: String,
    /// `None`: keep the stored secret.
    secret: Option<String>,
    expression: String,
    ttl: i64,
    data_center_id: Option<i64>,
    weight: i64,
    enabled: bool,
}

async fn parse_service(
    panel: &Panel,
    form: &[(String, String)],
    client_id: i64,
    mut fields: BTreeMap<String, String>,
) -> PageResult<ServiceInput> {
    let name = check_name(param(form, "name").unwrap_or_default(), &mut fields, "name");
    let service_type = param(form, "service_type")
        .unwrap_or_default()
        .trim()
        .to_string();
    if !SERVICE_TYPES.contains(&service_type.as_str()) {
        fields.insert("service_type".into(), "expected live, pvr or vod".into());
    }
    let url_mask = param(form, "url_mask")
        .unwrap_or_default()
        .trim()
        .to_string();
    if let Err(e) = check_url_mask(&url_mask) {
        fields.insert("url_mask".into(), e);
    }
    let check_url = param(form, "check_url")
        .unwrap_or_default()
        .trim()
        .to_string();
    if !check_url.is_empty() {
        if let Err(e) = check_http_url(&check_url) {
            fields.insert("check_url".into(), e);
        }
    }
    let secret = param_nonempty(form, "secure_link_secret").map(str::to_string);
    if secret
        .as_deref()
        .is_some_and(|s| s.len() > 200 || s.chars().any(char::is_control))
    {
        fields.insert(
            "secure_link_secret".into(),
            "up to 200 printable characters".into(),
        );
    }
    let expression = param(form, "secure_link_expression")
        .unwrap_or_default()
        .trim()
        .to_string();
    let expression = if expression.is_empty() {
        "$secure_link_expires$uri $secret".to_string()
    } else {
        expression
    };
    if expression.len() > 500 || expression.chars().any(char::is_control) {
        fields.insert(
            "secure_link_expression".into(),
            "up to 500 printable characters".into(),
        );
    }
    let ttl = int_field(form, "secure_link_ttl", 3600, 1, 31_536_000, &mut fields);
    let weight = int_field(form, "weight", 1, 1, 1_000_000, &mut fields);
    let data_center_id = match param_nonempty(form, "data_center_id") {
        None => None,
        Some(v) => {
            let id = v.parse::<i64>().ok();
            let owner: Option<i64> = match id {
                Some(id) => with_db!(panel.store.pool(), p => sqlx::query_scalar(
                    "SELECT client_id FROM data_center WHERE id = $1")
                    .bind(id).fetch_optional(p).await)?,
                None => None,
            };
            if owner.is_none() || owner != Some(client_id) {
                fields.insert(
                    "data_center_id".into(),
                    "not a data center of this operator".into(),
                );
            }
            id
        }
    };
    if !fields.is_empty() {
        return Err(unprocessable(fields));
    }
    Ok(ServiceInput {
        name,
        service_type,
        url_mask,
        check_url,
        secret,
        expression,
        ttl,
        data_center_id,
        weight,
        enabled: param(form, "enabled").is_some(),
    })
}

fn service_audit(s: &ServiceInput) -> serde_json::Value {
    json!({
        "name": s.name,
        "service_type": s.service_type,
        "url_mask": s.url_mask,
        "check_url": s.check_url,
        "secure_link_secret": s.secret.as_ref().map(|_| "***"),
        "secure_link_expression": s.expression,
        "secure_link_ttl": s.ttl,
        "data_center_id": s.data_center_id,
        "weight": s.weight,
        "enabled": s.enabled,
    })
}

async fn new_service_page(State(panel): State<Panel>, user: User) -> PageResult {
    user.require_admin()?;
    let form = service_form(&panel, &user, None).await?;
    form_page(&panel, &user, form)
}

async fn create_service(State(panel): State<Panel>, user: User, Form(form): Form) -> PageResult {
    user.require_admin()?;
    let mut fields = BTreeMap::new();
    let client_id = new_client(&user, &form, &mut fields);
    let input = match parse_service(&panel, &form, client_id, fields).await {
        Ok(i) => i,
        Err(e) => {
            let view = service_form(&panel, &user, None).await?;
            return refill(&panel, &user, view, &form, &e);
        }
    };
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    tx.mark_changed("stream_service");
    let id: i64 = with_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO stream_service (client_id, name, service_type, url_mask, secure_link_secret, \
         secure_link_expression, secure_link_ttl, data_center_id, weight, enabled, check_url, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id")
        .bind(client_id)
        .bind(&input.name)
        .bind(&input.service_type)
        .bind(&input.url_mask)
        .bind(input.secret.clone().unwrap_or_default())
        .bind(&input.expression)
        .bind(input.ttl)
        .bind(input.data_center_id)
        .bind(input.weight)
        .bind(input.enabled)
        .bind(&input.check_url)
        .bind(efir_store::now())
        .fetch_one(c)
        .await)?;
    tx.audit(
        Some(client_id),
        "create",
        "stream_service",
        Some(id.to_string()),
        service_audit(&input),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!("/admin/streams/services/{id}")))
}

async fn edit_service_page(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
) -> PageResult {
    let row = load_service(&panel, &user, id).await?;
    user.require_admin()?;
    let form = service_form(&panel, &user, Some(&row)).await?;
    form_page(&panel, &user, form)
}

async fn update_service(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Form(form): Form,
) -> PageResult {
    let row = load_service(&panel, &user, id).await?;
    user.require_admin()?;
    let input = match parse_service(&panel, &form, row.client_id, BTreeMap::new()).await {
        Ok(i) => i,
        Err(e) => {
            let view = service_form(&panel, &user, Some(&row)).await?;
            return refill(&panel, &user, view, &form, &e);
        }
    };
    let secret = input
        .secret
        .clone()
        .unwrap_or_else(|| row.secure_link_secret.clone());
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    tx.execute(
        "stream_service",
        "UPDATE stream_service SET name = $1, service_type = $2, url_mask = $3, \
         secure_link_secret = $4, secure_link_expression = $5, secure_link_ttl = $6, \
         data_center_id = $7, weight = $8, enabled = $9, check_url = $10 WHERE id = $11",
        &[
            Arg::Text(input.name.clone()),
            Arg::Text(input.service_type.clone()),
            Arg::Text(input.url_mask.clone()),
            Arg::Text(secret),
            Arg::Text(input.expression.clone()),
            Arg::I64(input.ttl),
            Arg::OptI64(input.data_center_id),
            Arg::I64(input.weight),
            Arg::Bool(input.enabled),
            Arg::Text(input.check_url.clone()),
            Arg::I64(id),
        ],
    )
    .await?;
    tx.audit(
        Some(row.client_id),
        "update",
        "stream_service",
        Some(id.to_string()),
        service_audit(&input),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!(
        "/admin/streams/services/{id}?notice=saved"
    )))
}

async fn show_service(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Query(q): Query,
) -> PageResult {
    let s = load_service(&panel, &user, id).await?;
    let operator = super::client(&panel, s.client_id).await?;
    let dc: Option<String> = match s.data_center_id {
        Some(d) => with_db!(panel.store.pool(), p => sqlx::query_scalar(
            "SELECT name FROM data_center WHERE id = $1").bind(d).fetch_optional(p).await)?,
        None => None,
    };
    let lang = user.lang;
    let facts = vec![
        ("st_id".to_string(), Cell::text(s.id)),
        ("operator".into(), Cell::text(operator.name)),
        ("st_service_type".into(), Cell::text(&s.service_type)),
        ("st_url_mask".into(), Cell::text(&s.url_mask)),
        ("st_check_url".into(), Cell::text(&s.check_url)),
        (
            "st_secret".into(),
            Cell::text(if s.secure_link_secret.is_empty() {
                t(lang, "st_none")
            } else {
                "***"
            }),
        ),
        (
            "st_expression".into(),
            Cell::text(&s.secure_link_expression),
        ),
        ("st_ttl".into(), Cell::text(s.secure_link_ttl)),
        (
            "st_datacenter".into(),
            match (s.data_center_id, dc) {
                (Some(d), Some(name)) => {
                    Cell::link(name, format!("/admin/streams/datacenters/{d}"))
                }
                _ => Cell::text(t(lang, "st_none")),
            },
        ),
        ("st_weight".into(), Cell::text(s.weight)),
        ("st_load".into(), Cell::text(s.load)),
        (
            "st_enabled".into(),
            Cell::text(t(lang, if s.enabled { "active" } else { "inactive" })),
        ),
        ("st_health".into(), health_cell(&s.health)),
        (
            "st_checked_at".into(),
            Cell::text(time_text(s.health_checked_at)),
        ),
        (
            "st_health_error".into(),
            Cell::text(&s.health_error).class("muted"),
        ),
    ];
    let mut section = window_list(&panel, &user, None, Some(id), 1, &[]).await?;
    section.create = Some(format!("/admin/streams/maintenance/new?service={id}"));
    let mut links = vec![Cell::link(
        t(lang, "back"),
        "/admin/streams/services".to_string(),
    )];
    if user.can_admin() {
        links.push(Cell::link(
            t(lang, "edit"),
            format!("/admin/streams/services/{id}/edit"),
        ));
    }
    let view = DetailView {
        title: s.name.clone(),
        kind: "st_service".into(),
        facts,
        actions: vec![Action {
            action: format!("/admin/streams/services/{id}/check"),
            label: "st_check_now".into(),
            confirm: None,
            hidden: Vec::new(),
            danger: false,
        }],
        links,
        sections: vec![section],
        notice: notice_of(&q),
        ..DetailView::default()
    };
    panel
        .views
        .page("detail.html", &user, context! { view => view })
}

/// How long "check now" waits for the probe before it lets it finish in
/// the background.
const CHECK_WAIT: Duration = Duration::from_secs(3);
/// How long one probe may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

async fn check_now(State(panel): State<Panel>, user: User, Path(id): Path<i64>) -> PageResult {
    load_service(&panel, &user, id).await?;
    user.require_write()?;
    let store = panel.store.clone();
    let task = tokio::spawn(async move {
        efir_middleware::ops::check_stream_service(&store, id, CHECK_TIMEOUT).await
    });
    let notice = match tokio::time::timeout(CHECK_WAIT, task).await {
        Ok(Ok(result)) => {
            result?;
            "checked"
        }
        Ok(Err(e)) => return Err(PageError::internal(format!("stream service check: {e}"))),
        // Still probing: it records the result when done.
        Err(_) => "checking",
    };
    Ok(see_other(&format!(
        "/admin/streams/services/{id}?notice={notice}"
    )))
}

// ---------------------------------------------------------- data centers

#[derive(Debug, Clone, sqlx::FromRow)]
struct DcRow {
    id: i64,
    client_id: i64,
    name: String,
    location: String,
}

async fn load_dc(panel: &Panel, user: &User, id: i64) -> PageResult<DcRow> {
    let row: Option<DcRow> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT id, client_id, name, location FROM data_center WHERE id = $1")
        .bind(id).fetch_optional(p).await)?;
    let row = row.ok_or_else(PageError::not_found)?;
    user.check(row.client_id)?;
    Ok(row)
}

async fn datacenters(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let (filter, scope) = operator_scope(&panel, &user, &q).await?;
    let page = page_of(&q);
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM data_center d WHERE ($1 IS NULL OR d.client_id = $1)")
        .bind(scope).fetch_one(p).await)?;
    let mut view = ListView {
        title: "st_datacenters".into(),
        columns: columns(&["st_id", "name", "operator", "st_location", "st_services"]),
        create: user
            .can_admin()
            .then(|| "/admin/streams/datacenters/new".to_string()),
        filters: filter.into_iter().collect(),
        ..ListView::default()
    };
    view.paginate(total, page, &q);
    let rows: Vec<(i64, String, String, String, i64)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT d.id, d.name, c.name, d.location, \
         (SELECT COUNT(*) FROM stream_service s WHERE s.data_center_id = d.id) \
         FROM data_center d JOIN client c ON c.id = d.client_id \
         WHERE ($1 IS NULL OR d.client_id = $1) ORDER BY d.id LIMIT $2 OFFSET $3")
        .bind(scope).bind(PAGE_SIZE).bind((view.page - 1) * PAGE_SIZE)
        .fetch_all(p).await)?;
    view.rows = rows
        .into_iter()
        .map(|r| {
            let href = format!("/admin/streams/datacenters/{}", r.0);
            vec![
                Cell::link(r.0, href.clone()),
                Cell::link(r.1, href),
                Cell::text(r.2),
                Cell::text(r.3),
                Cell::text(r.4).class("num"),
            ]
        })
        .collect();
    panel
        .views
        .page("list.html", &user, context! { view => view })
}

async fn dc_form(panel: &Panel, user: &User, row: Option<&DcRow>) -> PageResult<FormView> {
    let mut fields = Vec::new();
    if row.is_none() {
        if let Some(f) = client_field(user, super::operator_options(panel, user).await?) {
            fields.push(f);
        }
    }
    fields.push(
        FormField::new("name", "name", "text")
            .required()
            .value(row.map(|r| r.name.as_str()).unwrap_or_default()),
    );
    fields.push(
        FormField::new("location", "st_location", "text")
            .value(row.map(|r| r.location.as_str()).unwrap_or_default()),
    );
    Ok(match row {
        Some(r) => FormView {
            title: "st_edit_datacenter".into(),
            action: format!("/admin/streams/datacenters/{}/edit", r.id),
            fields,
            back: format!("/admin/streams/datacenters/{}", r.id),
            ..FormView::default()
        },
        None => FormView {
            title: "st_new_datacenter".into(),
            action: "/admin/streams/datacenters/new".into(),
            fields,
            back: "/admin/streams/datacenters".into(),
            ..FormView::default()
        },
    })
}

fn parse_dc(
    form: &[(String, String)],
    mut fields: BTreeMap<String, String>,
) -> PageResult<(String, String)> {
    let name = check_name(param(form, "name").unwrap_or_default(), &mut fields, "name");
    let location = param(form, "location")
        .unwrap_or_default()
        .trim()
        .to_string();
    if location.chars().count() > 200 || location.chars().any(char::is_control) {
        fields.insert("location".into(), "up to 200 printable characters".into());
    }
    if !fields.is_empty() {
        return Err(unprocessable(fields));
    }
    Ok((name, location))
}

async fn new_dc_page(State(panel): State<Panel>, user: User) -> PageResult {
    user.require_admin()?;
    let form = dc_form(&panel, &user, None).await?;
    form_page(&panel, &user, form)
}

async fn create_dc(State(panel): State<Panel>, user: User, Form(form): Form) -> PageResult {
    user.require_admin()?;
    let mut fields = BTreeMap::new();
    let client_id = new_client(&user, &form, &mut fields);
    let (name, location) = match parse_dc(&form, fields) {
        Ok(v) => v,
        Err(e) => {
            let view = dc_form(&panel, &user, None).await?;
            return refill(&panel, &user, view, &form, &e);
        }
    };
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    tx.mark_changed("data_center");
    let id: i64 = with_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO data_center (client_id, name, location, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(client_id).bind(&name).bind(&location).bind(efir_store::now())
        .fetch_one(c).await)?;
    tx.audit(
        Some(client_id),
        "create",
        "data_center",
        Some(id.to_string()),
        json!({ "name": name, "location": location }),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!("/admin/streams/datacenters/{id}")))
}

async fn edit_dc_page(State(panel): State<Panel>, user: User, Path(id): Path<i64>) -> PageResult {
    let row = load_dc(&panel, &user, id).await?;
    user.require_admin()?;
    let form = dc_form(&panel, &user, Some(&row)).await?;
    form_page(&panel, &user, form)
}

async fn update_dc(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Form(form): Form,
) -> PageResult {
    let row = load_dc(&panel, &user, id).await?;
    user.require_admin()?;
    let (name, location) = match parse_dc(&form, BTreeMap::new()) {
        Ok(v) => v,
        Err(e) => {
            let view = dc_form(&panel, &user, Some(&row)).await?;
            return refill(&panel, &user, view, &form, &e);
        }
    };
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    tx.execute(
        "data_center",
        "UPDATE data_center SET name = $1, location = $2 WHERE id = $3",
        &[
            Arg::Text(name.clone()),
            Arg::Text(location.clone()),
            Arg::I64(id),
        ],
    )
    .await?;
    tx.audit(
        Some(row.client_id),
        "update",
        "data_center",
        Some(id.to_string()),
        json!({ "name": name, "location": location }),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!(
        "/admin/streams/datacenters/{id}?notice=saved"
    )))
}

async fn show_dc(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Query(q): Query,
) -> PageResult {
    let d = load_dc(&panel, &user, id).await?;
    let operator = super::client(&panel, d.client_id).await?;
    let rows: Vec<(i64, String, String, String)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT id, name, service_type, health FROM stream_service WHERE data_center_id = $1 \
         ORDER BY id LIMIT 500")
        .bind(id).fetch_all(p).await)?;
    let section = ListView {
        title: "st_services".into(),
        columns: columns(&["st_id", "name", "st_service_type", "st_health"]),
        total: rows.len() as i64,
        rows: rows
            .into_iter()
            .map(|r| {
                let href = format!("/admin/streams/services/{}", r.0);
                vec![
                    Cell::link(r.0, href.clone()),
                    Cell::link(r.1, href),
                    Cell::text(r.2),
                    health_cell(&r.3),
                ]
            })
            .collect(),
        ..ListView::default()
    };
    let mut links = vec![Cell::link(
        t(user.lang, "back"),
        "/admin/streams/datacenters".to_string(),
    )];
    if user.can_admin() {
        links.push(Cell::link(
            t(user.lang, "edit"),
            format!("/admin/streams/datacenters/{id}/edit"),
        ));
    }
    let view = DetailView {
        title: d.name.clone(),
        kind: "st_datacenter".into(),
        facts: vec![
            ("st_id".into(), Cell::text(d.id)),
            ("operator".into(), Cell::text(operator.name)),
            ("st_location".into(), Cell::text(&d.location)),
        ],
        links,
        sections: vec![section],
        notice: notice_of(&q),
        ..DetailView::default()
    };
    panel
        .views
        .page("detail.html", &user, context! { view => view })
}

// --------------------------------------------------- maintenance windows

#[derive(Debug, Clone, sqlx::FromRow)]
struct WindowRow {
    id: i64,
    stream_service_id: i64,
    starts_at: i64,
    ends_at: i64,
    comment: String,
    client_id: i64,
    service: String,
}

async fn load_window(panel: &Panel, user: &User, id: i64) -> PageResult<WindowRow> {
    let row: Option<WindowRow> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT m.id, m.stream_service_id, m.starts_at, m.ends_at, m.comment, s.client_id, \
         s.name AS service FROM maintenance m JOIN stream_service s ON s.id = m.stream_service_id \
         WHERE m.id = $1")
        .bind(id).fetch_optional(p).await)?;
    let row = row.ok_or_else(PageError::not_found)?;
    user.check(row.client_id)?;
    Ok(row)
}

fn window_state(lang: crate::i18n::Lang, starts: i64, ends: i64) -> Cell {
    let now = efir_store::now();
    if ends <= now {
        Cell::text(t(lang, "st_past")).class("muted")
    } else if starts <= now {
        Cell::text(t(lang, "st_now")).class("bad")
    } else {
        Cell::text(t(lang, "st_upcoming")).class("ok")
    }
}

/// The maintenance windows of the operators in `scope` (or of one
/// service), newest first.
async fn window_list(
    panel: &Panel,
    user: &User,
    scope: Option<i64>,
    service: Option<i64>,
    page: i64,
    q: &[(String, String)],
) -> PageResult<ListView> {
    let cond = "($1 IS NULL OR s.client_id = $1) AND ($2 IS NULL OR m.stream_service_id = $2)";
    let count_sql = format!(
        "SELECT COUNT(*) FROM maintenance m JOIN stream_service s ON s.id = m.stream_service_id \
         WHERE {cond}"
    );
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(&count_sql)
        .bind(scope).bind(service).fetch_one(p).await)?;
    let mut view = ListView {
        title: "st_maintenance".into(),
        columns: columns(&[
            "st_id",
            "st_service",
            "st_starts",
            "st_ends",
            "state",
            "comment",
        ]),
        create: user
            .can_write()
            .then(|| "/admin/streams/maintenance/new".to_string()),
        ..ListView::default()
    };
    view.paginate(total, page, q);
    let sql = format!(
        "SELECT m.id, m.stream_service_id, m.starts_at, m.ends_at, m.comment, s.client_id, \
         s.name AS service FROM maintenance m JOIN stream_service s ON s.id = m.stream_service_id \
         WHERE {cond} ORDER BY m.starts_at DESC, m.id DESC LIMIT $3 OFFSET $4"
    );
    let rows: Vec<WindowRow> = with_db!(panel.store.pool(), p => sqlx::query_as(&sql)
        .bind(scope).bind(service).bind(PAGE_SIZE).bind((view.page - 1) * PAGE_SIZE)
        .fetch_all(p).await)?;
    view.rows = rows
        .into_iter()
        .map(|r| {
            vec![
                Cell::link(r.id, format!("/admin/streams/maintenance/{}", r.id)),
                Cell::link(
                    r.service,
                    format!("/admin/streams/services/{}", r.stream_service_id),
                ),
                Cell::text(time_text(Some(r.starts_at))),
                Cell::text(time_text(Some(r.ends_at))),
                window_state(user.lang, r.starts_at, r.ends_at),
                Cell::text(r.comment),
            ]
        })
        .collect();
    Ok(view)
}

async fn windows(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let (filter, scope) = operator_scope(&panel, &user, &q).await?;
    let service = match param_nonempty(&q, "service") {
        Some(v) => {
            let id = v.parse::<i64>().map_err(|_| PageError::not_found())?;
            load_service(&panel, &user, id).await?;
            Some(id)
        }
        None => None,
    };
    let mut view = window_list(&panel, &user, scope, service, page_of(&q), &q).await?;
    view.filters = filter.into_iter().collect();
    panel
        .views
        .page("list.html", &user, context! { view => view })
}

async fn service_options(panel: &Panel, user: &User) -> PageResult<Vec<(String, String)>> {
    let rows: Vec<(i64, String, String, i64)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT s.id, s.name, c.name, s.client_id FROM stream_service s \
         JOIN client c ON c.id = s.client_id \
         WHERE ($1 IS NULL OR s.client_id = $1) ORDER BY c.name, s.name LIMIT 2000")
        .bind(user.staff.client_id).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .filter(|r| user.staff.may_see(r.3))
        .map(|(id, name, op, _)| {
            let label = if user.staff.is_superuser() {
                format!("{op} / {name}")
            } else {
                name
            };
            (id.to_string(), label)
        })
        .collect())
}

async fn window_form(
    panel: &Panel,
    user: &User,
    row: Option<&WindowRow>,
    service: Option<&str>,
) -> PageResult<FormView> {
    let now = efir_store::now();
    let fields = vec![
        FormField::new("stream_service_id", "st_service", "select")
            .required()
            .options(service_options(panel, user).await?)
            .value(
                row.map(|r| r.stream_service_id.to_string())
                    .or(service.map(str::to_string))
                    .unwrap_or_default(),
            ),
        FormField::new("starts_at", "st_starts", "datetime-local")
            .required()
            .value(time_input(row.map(|r| r.starts_at).unwrap_or(now))),
        FormField::new("ends_at", "st_ends", "datetime-local")
            .required()
            .value(time_input(row.map(|r| r.ends_at).unwrap_or(now + 3600))),
        FormField::new("comment", "comment", "textarea")
            .value(row.map(|r| r.comment.as_str()).unwrap_or_default()),
    ];
    Ok(match row {
        Some(r) => FormView {
            title: "st_edit_window".into(),
            action: format!("/admin/streams/maintenance/{}/edit", r.id),
            fields,
            back: format!("/admin/streams/maintenance/{}", r.id),
            ..FormView::default()
        },
        None => FormView {
            title: "st_new_window".into(),
            action: "/admin/streams/maintenance/new".into(),
            fields,
            back: "/admin/streams/maintenance".into(),
            ..FormView::default()
        },
    })
}

/// A checked window form: `(service, client, starts, ends, comment)`.
async fn parse_window(
    panel: &Panel,
    user: &User,
    form: &[(String, String)],
) -> PageResult<(i64, i64, i64, i64, String)> {
    let mut fields = BTreeMap::new();
    let mut service = (0, 0);
    match param_nonempty(form, "stream_service_id").and_then(|v| v.parse::<i64>().ok()) {
        Some(id) => match load_service(panel, user, id).await {
            Ok(s) => service = (s.id, s.client_id),
            Err(_) => {
                fields.insert("stream_service_id".into(), "not a stream service".into());
            }
        },
        None => {
            fields.insert("stream_service_id".into(), "choose the service".into());
        }
    }
    let starts = parse_time(param(form, "starts_at").unwrap_or_default());
    let ends = parse_time(param(form, "ends_at").unwrap_or_default());
    let expected = "expected YYYY-MM-DDTHH:MM (UTC)";
    if starts.is_none() {
        fields.insert("starts_at".into(), expected.into());
    }
    if ends.is_none() {
        fields.insert("ends_at".into(), expected.into());
    }
    if let (Some(s), Some(e)) = (starts, ends) {
        if e <= s {
            fields.insert("ends_at".into(), "must be after the start".into());
        }
    }
    let comment = param(form, "comment")
        .unwrap_or_default()
        .trim()
        .to_string();
    if comment.chars().count() > 1000 {
        fields.insert("comment".into(), "up to 1000 characters".into());
    }
    if !fields.is_empty() {
        return Err(unprocessable(fields));
    }
    Ok((
        service.0,
        service.1,
        starts.unwrap_or_default(),
        ends.unwrap_or_default(),
        comment,
    ))
}

async fn new_window_page(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    user.require_write()?;
    let form = window_form(&panel, &user, None, param(&q, "service")).await?;
    form_page(&panel, &user, form)
}

async fn create_window(State(panel): State<Panel>, user: User, Form(form): Form) -> PageResult {
    user.require_write()?;
    let (service, client_id, starts, ends, comment) = match parse_window(&panel, &user, &form).await
    {
        Ok(v) => v,
        Err(e) => {
            let view = window_form(&panel, &user, None, None).await?;
            return refill(&panel, &user, view, &form, &e);
        }
    };
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    tx.mark_changed("maintenance");
    let id: i64 = with_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO maintenance (stream_service_id, starts_at, ends_at, comment) \
         VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(service).bind(starts).bind(ends).bind(&comment)
        .fetch_one(c).await)?;
    tx.audit(
        Some(client_id),
        "create",
        "maintenance",
        Some(id.to_string()),
        json!({ "stream_service_id": service, "starts_at": starts, "ends_at": ends, "comment": comment }),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!("/admin/streams/maintenance/{id}")))
}

async fn edit_window_page(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
) -> PageResult {
    let row = load_window(&panel, &user, id).await?;
    user.require_write()?;
    let form = window_form(&panel, &user, Some(&row), None).await?;
    form_page(&panel, &user, form)
}

async fn update_window(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Form(form): Form,
) -> PageResult {
    let row = load_window(&panel, &user, id).await?;
    user.require_write()?;
    let (service, client_id, starts, ends, comment) = match parse_window(&panel, &user, &form).await
    {
        Ok(v) => v,
        Err(e) => {
            let view = window_form(&panel, &user, Some(&row), None).await?;
            return refill(&panel, &user, view, &form, &e);
        }
    };
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    tx.execute(
        "maintenance",
        "UPDATE maintenance SET stream_service_id = $1, starts_at = $2, ends_at = $3, \
         comment = $4 WHERE id = $5",
        &[
            Arg::I64(service),
            Arg::I64(starts),
            Arg::I64(ends),
            Arg::Text(comment.clone()),
            Arg::I64(id),
        ],
    )
    .await?;
    tx.audit(
        Some(client_id),
        "update",
        "maintenance",
        Some(id.to_string()),
        json!({ "stream_service_id": service, "starts_at": starts, "ends_at": ends, "comment": comment }),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!(
        "/admin/streams/maintenance/{id}?notice=saved"
    )))
}

async fn delete_window(State(panel): State<Panel>, user: User, Path(id): Path<i64>) -> PageResult {
    let row = load_window(&panel, &user, id).await?;
    user.require_write()?;
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    tx.execute(
        "maintenance",
        "DELETE FROM maintenance WHERE id = $1",
        &[Arg::I64(id)],
    )
    .await?;
    tx.audit(
        Some(row.client_id),
        "delete",
        "maintenance",
        Some(id.to_string()),
        json!({ "stream_service_id": row.stream_service_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!(
        "/admin/streams/services/{}",
        row.stream_service_id
    )))
}

async fn show_window(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Query(q): Query,
) -> PageResult {
    let w = load_window(&panel, &user, id).await?;
    let lang = user.lang;
    let mut links = vec![Cell::link(
        t(lang, "back"),
        "/admin/streams/maintenance".to_string(),
    )];
    if user.can_write() {
        links.push(Cell::link(
            t(lang, "edit"),
            format!("/admin/streams/maintenance/{id}/edit"),
        ));
    }
    let view = DetailView {
        title: format!("{} #{}", w.service, w.id),
        kind: "st_window".into(),
        facts: vec![
            (
                "st_service".into(),
                Cell::link(
                    &w.service,
                    format!("/admin/streams/services/{}", w.stream_service_id),
                ),
            ),
            ("st_starts".into(), Cell::text(time_text(Some(w.starts_at)))),
            ("st_ends".into(), Cell::text(time_text(Some(w.ends_at)))),
            ("state".into(), window_state(lang, w.starts_at, w.ends_at)),
            ("comment".into(), Cell::text(&w.comment)),
        ],
        actions: vec![Action {
            action: format!("/admin/streams/maintenance/{id}/delete"),
            label: "delete".into(),
            confirm: Some("st_confirm_delete_window".into()),
            hidden: Vec::new(),
            danger: true,
        }],
        links,
        notice: notice_of(&q),
        ..DetailView::default()
    };
    panel
        .views
        .page("detail.html", &user, context! { view => view })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_masks() {
        for ok in [
            "http://edge1.tv:8080/$cid/index.m3u8?token=$token",
            "https://edge.example.tv/$cid",
            "$prefix/$cid/index.m3u8",
            "rtmp://[2001:db8::1]:1935/live/$cid",
            "udp://239.0.0.1:1234",
        ] {
            assert!(check_url_mask(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "not a url",
            "ftp://edge/x",
            "http:///x",
            "javascript:alert(1)",
            "http://<script>/x",
        ] {
            assert!(check_url_mask(bad).is_err(), "{bad}");
        }
        assert!(check_http_url("http://edge/health").is_ok());
        assert!(check_http_url("edge/health").is_err());
        assert_eq!(parse_time("1970-01-01T01:00"), Some(3600));
        assert_eq!(parse_time("yesterday"), None);
    }
}
