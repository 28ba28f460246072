//! Templates and what pages render with them: the frame, list, form and
//! detail views, error pages, static files and security headers.
//!
//! Templates live in `crates/panel/templates/` and are compiled into the
//! binary. HTML is escaped automatically; nothing a user typed is ever
//! marked safe. `t("key")` in a template is the interface string of the
//! user's language ([`crate::i18n`]).

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::value::Value as JValue;
use minijinja::{Environment, State};
use serde::Serialize;

use crate::i18n::{self, Lang};
use crate::session::User;

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("list.html", include_str!("../templates/list.html")),
    ("form.html", include_str!("../templates/form.html")),
    ("detail.html", include_str!("../templates/detail.html")),
    ("error.html", include_str!("../templates/error.html")),
    (
        "dashboard.html",
        include_str!("../templates/dashboard.html"),
    ),
    ("macros.html", include_str!("../templates/macros.html")),
];

/// The compiled templates.
pub struct Views {
    env: Environment<'static>,
}

impl Default for Views {
    fn default() -> Self {
        Views::new()
    }
}

impl Views {
    /// Compiles every template; a broken template is a bug caught by the
    /// tests, so it panics here rather than at the first request.
    #[allow(clippy::expect_used)]
    pub fn new() -> Views {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        let all = std::iter::once(TEMPLATES)
            .chain(crate::pages::TEMPLATES.iter().copied())
            .flatten();
        for (name, source) in all {
            env.add_template(name, source)
                .expect("panel templates compile");
        }
        env.add_function("t", translate);
        env.add_filter("time", format_time);
        env.add_filter("money", |v: JValue| -> String { v.to_string() });
        Views { env }
    }

    /// Renders `template` with `ctx` for `user` (or the login page's
    /// visitor when `None`), in the frame's common context.
    pub fn render(
        &self,
        template: &str,
        user: Option<&User>,
        lang: Lang,
        ctx: JValue,
    ) -> Result<String, PageError> {
        let tmpl = self
            .env
            .get_template(template)
            .map_err(|e| PageError::internal(format!("template {template}: {e}")))?;
        let common = minijinja::context! {
            lang => lang.code(),
            user => user.map(|u| minijinja::context! {
                name => u.staff.username.clone(),
                role => format!("{:?}", u.staff.role),
                superuser => u.staff.is_superuser(),
                can_write => u.can_write(),
                can_admin => u.can_admin(),
                csrf => u.csrf.clone(),
            }),
            nav => user.map(crate::pages::nav),
        };
        tmpl.render(minijinja::context! { ..ctx, ..common })
            .map_err(|e| PageError::internal(format!("template {template}: {e:#}")))
    }

    /// A full HTML page response.
    pub fn page(&self, template: &str, user: &User, ctx: JValue) -> Result<Response, PageError> {
        let html = self.render(template, Some(user), user.lang, ctx)?;
        Ok(Html(html).into_response())
    }
}

fn translate(state: &State, key: &str) -> String {
    let lang = state
        .lookup("lang")
        .and_then(|v| v.as_str().map(Lang::from_code))
        .unwrap_or_default();
    i18n::t(lang, key).to_string()
}

fn format_time(v: JValue) -> String {
    let Some(secs) = v.as_i64() else {
        return String::new();
    };
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// An error page: status, message and, for forms, errors per field.
#[derive(Debug, Clone)]
pub struct PageError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for people.
    pub message: String,
    /// Errors per form field.
    pub fields: BTreeMap<String, String>,
}

/// Result of page handlers.
pub type PageResult<T = Response> = Result<T, PageError>;

impl PageError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// 404.
    pub fn not_found() -> PageError {
        PageError::new(StatusCode::NOT_FOUND, "not found")
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::FORBIDDEN, message)
    }

    /// 500 (the details go to the log, not to the page).
    pub fn internal(detail: impl Into<String>) -> PageError {
        let detail = detail.into();
        tracing::error!(error = %detail, "admin panel");
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<efir_backoffice::admin::AdminError> for PageError {
    fn from(e: efir_backoffice::admin::AdminError) -> Self {
        if e.status.is_server_error() {
            return PageError::internal(e.message);
        }
        PageError {
            status: e.status,
            message: e.message,
            fields: e.fields,
        }
    }
}

impl From<efir_store::StoreError> for PageError {
    fn from(e: efir_store::StoreError) -> Self {
        efir_backoffice::admin::AdminError::from(e).into()
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        efir_store::StoreError::from(e).into()
    }
}

impl From<efir_middleware::api::ApiError> for PageError {
    fn from(e: efir_middleware::api::ApiError) -> Self {
        if e.message == "internal error" {
            // The API logged the cause already.
            return PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
        let not_found = e.fields.is_empty() && e.message.ends_with("not found");
        PageError {
            status: if not_found {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            fields: e
                .fields
                .into_iter()
                .map(|(k, v)| (k, v.join(" ")))
                .collect(),
            message: e.message,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        // Error pages have no user frame: they must render whatever broke.
        let views = Views::new();
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string();
        let html = views
            .render(
                "error.html",
                None,
                Lang::default(),
                minijinja::context! { status => self.status.as_u16(), title, message => self.message },
            )
            .unwrap_or_else(|_| format!("{} {}", self.status.as_u16(), title));
        (self.status, Html(html)).into_response()
    }
}

/// One column of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// Interface-string key of the heading.
    pub label: String,
    /// Sort key (`?sort=`), when sortable.
    pub sort: Option<String>,
}

/// Columns with these interface-string keys as headings, none sortable.
pub fn columns(labels: &[&str]) -> Vec<Column> {
    labels
        .iter()
        .map(|l| Column {
            label: (*l).to_string(),
            sort: None,
        })
        .collect()
}

/// One cell: text and an optional link.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Cell {
    /// Shown text (escaped).
    pub text: String,
    /// Link target.
    pub href: Option<String>,
    /// CSS class (`ok`, `bad`, `muted`, `num`).
    pub class: Option<String>,
}

impl Cell {
    /// Plain text.
    pub fn text(t: impl ToString) -> Cell {
        Cell {
            text: t.to_string(),
            ..Cell::default()
        }
    }

    /// A link.
    pub fn link(t: impl ToString, href: impl Into<String>) -> Cell {
        Cell {
            text: t.to_string(),
            href: Some(href.into()),
            class: None,
        }
    }

    /// With a CSS class.
    pub fn class(mut self, c: &str) -> Cell {
        self.class = Some(c.to_string());
        self
    }
}

/// A filter above a list: a text box or a select.
#[derive(Debug, Clone, Serialize)]
pub struct Filter {
    /// Query parameter.
    pub name: String,
    /// Interface-string key of its label.
    pub label: String,
    /// Current value.
    pub value: String,
    /// Choices `(value, label)`; empty = a text box.
    pub options: Vec<(String, String)>,
}

/// A list page.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ListView {
    /// Interface-string key of the title.
    pub title: String,
    /// Headings.
    pub columns: Vec<Column>,
    /// Rows of cells.
    pub rows: Vec<Vec<Cell>>,
    /// Filters (the first text filter is the search box).
    pub filters: Vec<Filter>,
    /// Matching rows in all.
    pub total: i64,
    /// This page (from 1).
    pub page: i64,
    /// Pages in all.
    pub pages: i64,
    /// The query string without `page` (for page links).
    pub query: String,
    /// Link to the create form, when the user may create.
    pub create: Option<String>,
    /// Link to the same list as CSV, when offered.
    pub csv: Option<String>,
}

/// Rows per list page.
pub const PAGE_SIZE: i64 = 50;

impl ListView {
    /// Sets `total`, `page`, `pages` and `query` from the request.
    pub fn paginate(&mut self, total: i64, page: i64, params: &[(String, String)]) {
        self.total = total;
        self.pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
        self.page = page.clamp(1, self.pages);
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            if k != "page" && !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        self.query = q.finish();
    }
}

/// The page number of `?page=` (from 1).
pub fn page_of(params: &[(String, String)]) -> i64 {
    param(params, "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000)
}

/// The first value of a query or form parameter.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The trimmed, non-empty value of a parameter.
pub fn param_nonempty<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    param(params, name).map(str::trim).filter(|v| !v.is_empty())
}

/// One field of a form.
#[derive(Debug, Clone, Serialize)]
pub struct FormField {
    /// Parameter name.
    pub name: String,
    /// Interface-string key of the label (or the label itself).
    pub label: String,
    /// `text`, `number`, `password`, `textarea`, `select`, `checkbox`,
    /// `multi` (several checkboxes), `datetime-local`, `file`.
    pub kind: String,
    /// Current value.
    pub value: String,
    /// The selected values of a `multi` field.
    pub chosen: Vec<String>,
    /// Choices `(value, label)` of selects.
    pub options: Vec<(String, String)>,
    /// Required.
    pub required: bool,
    /// The error of this field after a failed submit.
    pub error: Option<String>,
    /// A hint under the field.
    pub help: Option<String>,
}

impl FormField {
    /// A text field.
    pub fn new(name: &str, label: &str, kind: &str) -> FormField {
        FormField {
            name: name.into(),
            label: label.into(),
            kind: kind.into(),
            value: String::new(),
            chosen: Vec::new(),
            options: Vec::new(),
            required: false,
            error: None,
            help: None,
        }
    }

    /// Marks it required.
    pub fn required(mut self) -> FormField {
        self.required = true;
        self
    }

    /// With a value.
    pub fn value(mut self, v: impl ToString) -> FormField {
        self.value = v.to_string();
        self
    }

    /// With choices.
    pub fn options(mut self, o: Vec<(String, String)>) -> FormField {
        self.options = o;
        self
    }

    /// With a hint.
    pub fn help(mut self, h: &str) -> FormField {
        self.help = Some(h.into());
        self
    }
}

/// A create or edit form.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FormView {
    /// Interface-string key of the title (or the title).
    pub title: String,
    /// Where it posts.
    pub action: String,
    /// Fields.
    pub fields: Vec<FormField>,
    /// An error for the whole form.
    pub error: Option<String>,
    /// Where "cancel" goes.
    pub back: String,
    /// `multipart/form-data` instead of url-encoded.
    pub multipart: bool,
}

impl FormView {
    /// Puts the values of a failed submit back and the errors next to
    /// their fields (an error for no field becomes the form's error).
    pub fn refill(&mut self, params: &[(String, String)], err: &PageError) {
        for f in &mut self.fields {
            f.error = err.fields.get(&f.name).cloned();
            if f.kind == "password" || f.kind == "file" {
                continue;
            }
            if f.kind == "multi" {
                f.chosen = params
                    .iter()
                    .filter(|(k, _)| *k == f.name)
                    .map(|(_, v)| v.clone())
                    .collect();
            } else if f.kind == "checkbox" {
                f.value = if param(params, &f.name).is_some() {
                    "1".into()
                } else {
                    "0".into()
                };
            } else if let Some(v) = param(params, &f.name) {
                f.value = v.to_string();
            }
        }
        let unplaced = err
            .fields
            .keys()
            .any(|k| !self.fields.iter().any(|f| &f.name == k));
        if err.fields.is_empty() || unplaced {
            self.error = Some(err.message.clone());
        }
    }
}

/// A detail page: title, labelled values, related lists, actions.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DetailView {
    /// Title (not translated: usually the object's name).
    pub title: String,
    /// Interface-string key of what the object is.
    pub kind: String,
    /// `(label key, value)` pairs.
    pub facts: Vec<(String, Cell)>,
    /// Buttons: POST forms with a label and an optional confirmation.
    pub actions: Vec<Action>,
    /// Links (edit, back…).
    pub links: Vec<Cell>,
    /// Related lists below the facts.
    pub sections: Vec<ListView>,
    /// Forms below (comments, transitions…).
    pub forms: Vec<FormView>,
    /// A notice at the top (after a successful action).
    pub notice: Option<String>,
}

/// A button that posts to `action`.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    /// Where it posts.
    pub action: String,
    /// Interface-string key of its label.
    pub label: String,
    /// Interface-string key of a confirmation question, if any.
    pub confirm: Option<String>,
    /// Hidden fields `(name, value)`.
    pub hidden: Vec<(String, String)>,
    /// `danger` styling.
    pub danger: bool,
}

/// A 303 redirect to `to` (after a successful POST).
pub fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/admin/")),
        )],
    )
        .into_response()
}

const CSS: &str = include_str!("../static/panel.css");
const JS: &str = include_str!("../static/panel.js");

/// `/admin/static/…`: the stylesheet and the script.
pub fn static_routes() -> Router {
    Router::new()
        .route(
            "/admin/static/panel.css",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    CSS,
                )
            }),
        )
        .route(
            "/admin/static/panel.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    JS,
                )
            }),
        )
}

/// Middleware: security headers on every panel answer (a strict content
/// security policy: only our own script and stylesheet, no framing).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_string_has_both_languages() {
        let all = std::iter::once(TEMPLATES)
            .chain(crate::pages::TEMPLATES.iter().copied())
            .flatten();
        for (name, source) in all {
            for (at, _) in source.match_indices("t(\"") {
                let before = source[..at].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' {
                    continue;
                }
                let rest = &source[at + 3..];
                let key = rest.split('"').next().unwrap_or_default();
                assert!(i18n::has(key), "{name}: no strings for `{key}`");
            }
        }
        Views::new();
    }
}
