//! Staff logins by cookie, CSRF tokens, the profile page, and the
//! [`User`] extractor every page takes.
//!
//! A login is a session of the admin API (`staff_session`, only a SHA-256
//! of the token stored) whose token travels in the `efir_session` cookie:
//! `HttpOnly`, `SameSite=Strict`, `Path=/admin`, and `Secure` when the
//! request came over TLS (a trusted proxy's `X-Forwarded-Proto: https`)
//! or `admin.secure_cookies` is set. Failed logins count against the same
//! limit as the admin API's (5 per user name and per address in 15
//! minutes).
//!
//! Every state-changing request (anything but GET and HEAD) must carry the
//! session's CSRF token: the `_csrf` form field, the `X-CSRF-Token` header,
//! or, for file uploads, `?_csrf=`. The token is an HMAC of the session
//! token, so it needs no storage and a page of one login is useless to
//! another. The login form has its own double-submit token.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use efir_backoffice::admin::auth::{self, Staff, StaffRole};
use efir_backoffice::admin::log::LogSlot;
use efir_store::with_db;
use hmac::{Hmac, Mac};
use minijinja::context;
use sha2::Sha256;

use crate::i18n::Lang;
use crate::render::{param, see_other, FormField, FormView, PageError, PageResult};
use crate::Panel;

/// The session cookie.
pub const SESSION_COOKIE: &str = "efir_session";
/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "efir_login";
/// Largest form body the CSRF check reads (larger posts must send the
/// token in the header or the query).
const FORM_LIMIT: usize = 2 * 1024 * 1024;

/// The logged-in staff user of a page request.
#[derive(Debug, Clone)]
pub struct User {
    /// Who it is and what they may do.
    pub staff: Staff,
    /// The session token (from the cookie).
    pub token: String,
    /// The CSRF token of this session.
    pub csrf: String,
    /// The interface language.
    pub lang: Lang,
}

impl User {
    /// Whether the user may change anything (monitoring users only read).
    pub fn can_write(&self) -> bool {
        self.staff.role != StaffRole::Monitoring
    }

    /// Whether the user is a superuser or an operator admin.
    pub fn can_admin(&self) -> bool {
        matches!(
            self.staff.role,
            StaffRole::Superuser | StaffRole::OperatorAdmin
        )
    }

    /// 403 for monitoring users.
    pub fn require_write(&self) -> PageResult<()> {
        Ok(self.staff.require_write()?)
    }

    /// 403 for anyone but superusers and operator admins.
    pub fn require_admin(&self) -> PageResult<()> {
        Ok(self.staff.require_admin()?)
    }

    /// The operators a page covers: a superuser's choice (`None` = all),
    /// anyone else's own operator (another one is 404).
    pub fn scope(&self, requested: Option<i64>) -> PageResult<Option<i64>> {
        Ok(self.staff.scope(requested)?)
    }

    /// Exactly one operator (a superuser must name it).
    pub fn client(&self, requested: Option<i64>) -> PageResult<i64> {
        Ok(self.staff.client(requested)?)
    }

    /// 404 unless an object of operator `client_id` may be shown.
    pub fn check(&self, client_id: i64) -> PageResult<()> {
        if self.staff.may_see(client_id) {
            Ok(())
        } else {
            Err(PageError::not_found())
        }
    }
}

/// The CSRF token of a session token.
pub fn csrf_of(token: &str) -> String {
    hex::encode(csrf_mac(token).finalize().into_bytes())
}

fn csrf_mac(token: &str) -> Hmac<Sha256> {
    // A key of any length is accepted by HMAC.
    let mut mac = match Hmac::<Sha256>::new_from_slice(token.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable_mac(),
    };
    mac.update(b"efir-panel-csrf");
    mac
}

#[allow(clippy::expect_used)]
fn unreachable_mac() -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(b"k").expect("HMAC takes any key length")
}

/// Whether `given` is the CSRF token of `token` (constant time).
pub fn csrf_ok(token: &str, given: &str) -> bool {
    let Ok(bytes) = hex::decode(given) else {
        return false;
    };
    csrf_mac(token).verify_slice(&bytes).is_ok()
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 200)
}

impl FromRequestParts<Panel> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, panel: &Panel) -> Result<User, Response> {
        if let Some(user) = parts.extensions.get::<User>() {
            return Ok(user.clone());
        }
        let to_login = |parts: &Parts| {
            if parts.method == Method::GET {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/admin/");
                let q = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next)
                    .finish();
                see_other(&format!("/admin/login?{q}"))
            } else {
                PageError::new(StatusCode::UNAUTHORIZED, "log in first").into_response()
            }
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string) else {
            return Err(to_login(parts));
        };
        let staff = auth::session_staff(&panel.store, &token, panel.admin.session_secs())
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        let Some(staff) = staff else {
            return Err(to_login(parts));
        };
        let lang = language_of(panel, staff.id).await;
        if let Some(slot) = parts.extensions.get::<LogSlot>() {
            slot.set(&staff);
        }
        let user = User {
            csrf: csrf_of(&token),
            staff,
            token,
            lang,
        };
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

async fn language_of(panel: &Panel, user_id: i64) -> Lang {
    let sql = "SELECT language FROM staff_user WHERE id = $1";
    let lang: Result<Option<String>, sqlx::Error> = with_db!(panel.store.pool(), p =>
        sqlx::query_scalar(sql).bind(user_id).fetch_optional(p).await);
    lang.ok()
        .flatten()
        .map(|c| Lang::from_code(&c))
        .unwrap_or_default()
}

/// Middleware: refuses state-changing requests of a session without its
/// CSRF token (403). Requests without a session pass on to be refused by
/// the [`User`] extractor; the login form checks its own token.
pub async fn check_csrf(State(_panel): State<Panel>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.uri().path() == "/admin/login"
    {
        return next.run(req).await;
    }
    let Some(token) = cookie(req.headers(), SESSION_COOKIE).map(str::to_string) else {
        return next.run(req).await;
    };
    let from_header = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let from_query = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.into_owned())
    });
    if let Some(given) = from_header.or(from_query) {
        if csrf_ok(&token, &given) {
            return next.run(req).await;
        }
        return csrf_refused();
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return csrf_refused();
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
        return PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large")
            .into_response();
    };
    let given = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.into_owned());
    match given {
        Some(g) if csrf_ok(&token, &g) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => csrf_refused(),
    }
}

fn csrf_refused() -> Response {
    PageError::forbidden(
        "the form has expired or did not come from this panel; reload the page and try again",
    )
    .into_response()
}

/// Login, logout and profile routes.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/profile", get(profile))
        .route("/admin/profile/password", post(change_password))
        .route("/admin/profile/language", post(change_language))
}

fn session_cookie(panel: &Panel, headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let secure = panel.options.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("efir_session=; Max-Age=0"))
}

/// Only a local panel path may be a `next` target (no open redirects).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/admin/")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/admin/login")
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/admin/".to_string(),
    }
}

async fn login_page(
    State(panel): State<Panel>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
    headers: HeaderMap,
) -> PageResult {
    let params: Vec<(String, String)> = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let lang = accept_language(&headers);
    render_login(
        &panel,
        lang,
        param(&params, "next"),
        "",
        None,
        StatusCode::OK,
    )
}

fn accept_language(headers: &HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            if v.trim_start().starts_with("ru") {
                Lang::Ru
            } else {
                Lang::En
            }
        })
        .unwrap_or_default()
}

fn render_login(
    panel: &Panel,
    lang: Lang,
    next: Option<&str>,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let nonce = efir_core::secret::random_hex(16);
    let html = panel.views.render(
        "login.html",
        None,
        lang,
        context! { nonce, next => safe_next(next), username, error },
    )?;
    let cookie = format!(
        "{LOGIN_COOKIE}={nonce}; Path=/admin/login; HttpOnly; SameSite=Strict; Max-Age=3600"
    );
    let mut res = (status, axum::response::Html(html)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

async fn login(
    State(panel): State<Panel>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: axum::body::Bytes,
) -> PageResult {
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let lang = accept_language(&headers);
    let next = param(&params, "next");
    let username = param(&params, "username").unwrap_or_default().trim();
    let password = param(&params, "password").unwrap_or_default();
    let nonce_ok = match (cookie(&headers, LOGIN_COOKIE), param(&params, "_csrf")) {
        (Some(c), Some(f)) => {
            use sha2::Digest;
            // Compare digests so the comparison time tells nothing.
            Sha256::digest(c.as_bytes()) == Sha256::digest(f.as_bytes())
        }
        _ => false,
    };
    if !nonce_ok {
        return render_login(
            &panel,
            lang,
            next,
            username,
            Some(crate::i18n::t(lang, "form_expired")),
            StatusCode::FORBIDDEN,
        );
    }
    let ip = efir_backoffice::admin::log::client_ip(&headers, &ext, &panel.admin);
    let user = match auth::check_login(&panel.admin, username, password, &ip).await {
        Ok(u) => u,
        Err(e) => {
            if let Some(slot) = ext.get::<LogSlot>() {
                slot.set_name(username);
            }
            let key = if e.status == StatusCode::TOO_MANY_REQUESTS {
                "login_limited"
            } else if e.status == StatusCode::UNAUTHORIZED {
                "login_failed"
            } else {
                return Err(e.into());
            };
            return render_login(
                &panel,
                lang,
                next,
                username,
                Some(crate::i18n::t(lang, key)),
                e.status,
            );
        }
    };
    let (staff, token, _) =
        auth::open_session(&panel.store, &user, &ip, panel.admin.session_secs()).await?;
    if let Some(slot) = ext.get::<LogSlot>() {
        slot.set(&staff);
    }
    let mut res = see_other(&safe_next(next));
    res.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&panel, &headers, &token, panel.admin.session_secs()),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("efir_login=; Path=/admin/login; Max-Age=0"),
    );
    Ok(res)
}

async fn logout(State(panel): State<Panel>, user: User, headers: HeaderMap) -> PageResult {
    auth::close_session(&panel.store, &user.staff, &user.token).await?;
    let mut res = see_other("/admin/login");
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&panel, &headers, "", 0));
    Ok(res)
}

fn password_form() -> FormView {
    FormView {
        title: "change_password".into(),
        action: "/admin/profile/password".into(),
        fields: vec![
            FormField::new("old_password", "current_password", "password").required(),
            FormField::new("new_password", "new_password", "password").required(),
        ],
        back: "/admin/".into(),
        error: None,
        multipart: false,
    }
}

fn language_form(user: &User) -> FormView {
    FormView {
        title: "language".into(),
        action: "/admin/profile/language".into(),
        fields: vec![FormField::new("language", "language", "select")
            .value(user.lang.code())
            .options(vec![
                ("en".into(), "English".into()),
                ("ru".into(), "Русский".into()),
            ])],
        back: "/admin/".into(),
        error: None,
        multipart: false,
    }
}

async fn profile(State(panel): State<Panel>, user: User) -> PageResult {
    render_profile(&panel, &user, password_form(), None, StatusCode::OK)
}

fn render_profile(
    panel: &Panel,
    user: &User,
    password: FormView,
    notice: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let detail = crate::render::DetailView {
        title: user.staff.username.clone(),
        kind: "profile".into(),
        facts: vec![
            (
                "username".into(),
                crate::render::Cell::text(&user.staff.username),
            ),
            (
                "role".into(),
                crate::render::Cell::text(format!("{:?}", user.staff.role)),
            ),
        ],
        forms: vec![language_form(user), password],
        notice: notice.map(str::to_string),
        ..Default::default()
    };
    let mut res = panel
        .views
        .page("detail.html", user, context! { view => detail })?;
    *res.status_mut() = status;
    Ok(res)
}

async fn change_password(
    State(panel): State<Panel>,
    user: User,
    body: axum::body::Bytes,
) -> PageResult {
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let old = param(&params, "old_password").unwrap_or_default();
    let new = param(&params, "new_password").unwrap_or_default();
    match auth::set_own_password(&panel.store, &user.staff, &user.token, old, new).await {
        Ok(_) => render_profile(
            &panel,
            &user,
            password_form(),
            Some("password_changed"),
            StatusCode::OK,
        ),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let err = PageError::from(e);
            let mut form = password_form();
            form.refill(&params, &err);
            render_profile(&panel, &user, form, None, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

async fn change_language(
    State(panel): State<Panel>,
    user: User,
    body: axum::body::Bytes,
) -> PageResult {
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let code = param(&params, "language").unwrap_or_default();
    if !Lang::is_supported(code) {
        let mut e = PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown language");
        e.fields
            .insert("language".into(), "unknown language".into());
        return Err(e);
    }
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    tx.execute(
        "staff_user",
        "UPDATE staff_user SET language = $1 WHERE id = $2",
        &[
            efir_store::audit::Arg::Text(code.to_string()),
            efir_store::audit::Arg::I64(user.staff.id),
        ],
    )
    .await?;
    tx.audit(
        user.staff.client_id,
        "update",
        "user",
        Some(user.staff.id.to_string()),
        serde_json::json!({ "language": code }),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other("/admin/profile"))
}
