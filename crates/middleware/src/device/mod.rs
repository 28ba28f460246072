//! The device (TVMW) API, `/tvmiddleware/api/<method>/`, used by set-top
//! boxes, Smart TVs and mobile apps.
//!
//! Every call names its operator with `client_id`. Answers are HTTP 200
//! with `error` (0 on success) and `error_message`; JSON by default, XML for
//! play devices whose output format is `xml` (`device=mag` and other legacy
//! boxes). Calls after `login/` carry the session's `authkey` as a parameter
//! or a cookie. `lang` picks the localised names among the operator's
//! additional languages.

mod catalog;
mod channels;
mod epg;
mod login;
mod status;
mod subscriber;
pub mod urls;
pub mod xml;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use efir_core::net::Cidr;
use efir_store::clients::Client;
use efir_store::with_db;
use serde_json::{json, Value};

use crate::api::{ApiError, Params};
use crate::Middleware;

/// `error` of a call that needs a session and has none.
pub const ERR_AUTH: i64 = 403;
/// `error` of bad parameters.
pub const ERR_BAD_REQUEST: i64 = 400;
/// `error` of an unknown method.
pub const ERR_NOT_FOUND: i64 = 404;
/// `error` of a failure on our side.
pub const ERR_INTERNAL: i64 = 500;

/// Device methods after which cached access and lists are stale.
const CHANGES_ACCESS: &[&str] = &["customer/tariff/subscribe", "customer/tariff/unsubscribe"];

/// How stale a session's `last_seen_at` may get before a call updates it.
pub const LAST_SEEN_PRECISION_SECS: i64 = 60;

/// Largest request body read, in bytes.
const MAX_BODY: usize = 1 << 20;

/// A device API error: `error` and `error_message`, plus extra fields
/// (`devices` of error 5).
#[derive(Debug, Clone)]
pub struct DeviceError {
    /// `error`.
    pub code: i64,
    /// `error_message`.
    pub message: String,
    /// Extra fields of the answer.
    pub extra: Value,
}

impl DeviceError {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> DeviceError {
        DeviceError {
            code,
            message: message.into(),
            extra: Value::Null,
        }
    }
}

impl From<ApiError> for DeviceError {
    fn from(e: ApiError) -> Self {
        let code = if e.fields.is_empty() && e.message == "internal error" {
            ERR_INTERNAL
        } else {
            ERR_BAD_REQUEST
        };
        DeviceError::new(code, e.message)
    }
}

impl From<crate::cache::TypeMismatch> for DeviceError {
    fn from(e: crate::cache::TypeMismatch) -> Self {
        tracing::error!(error = %e, "cache misuse");
        DeviceError::new(ERR_INTERNAL, "internal error")
    }
}

impl From<sqlx::Error> for DeviceError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "device API call failed");
        DeviceError::new(ERR_INTERNAL, "internal error")
    }
}

/// A valid session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    /// Where this session is cached (operator and authkey).
    #[sqlx(skip)]
    pub cache_key: String,
    /// When it expires.
    pub expires_at: i64,
    /// Session row id.
    pub id: i64,
    /// The account.
    pub account_id: i64,
    /// The device it was opened on.
    pub device_uid: String,
    /// When the session was last used (before this call).
    pub last_seen_at: i64,
    /// When the session last fetched the channel list.
    pub channel_list_loaded_at: i64,
}

/// One device API call.
pub struct Call {
    /// The operator.
    pub client: Client,
    /// Parameters (query and form).
    pub params: Params,
    /// The subscriber's address.
    pub ip: IpAddr,
    /// Cookies sent.
    pub cookies: HashMap<String, String>,
    /// Slot of the requested language (1..=5), 0 for the default.
    pub lang: usize,
    /// Whether the answer is XML.
    pub xml: bool,
}

impl Call {
    /// The session of this call, from `authkey` (parameter or cookie).
    pub async fn session(&self, mw: &Middleware) -> Result<Session, DeviceError> {
        let key = self
            .params
            .get("authkey")
            .map(str::to_string)
            .or_else(|| self.cookies.get("authkey").cloned())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| DeviceError::new(ERR_AUTH, "authorization required"))?;
        let now = efir_store::now();
        let cache_key = format!("session:{}:{key}", self.client.id);
        // Sessions are cached for a few seconds (cache::SHORT_TTL): a
        // logout on this node forgets at once, elsewhere within that time.
        // Concurrent calls with the same key wait for one lookup.
        let sql = "SELECT s.id, s.account_id, s.device_uid, s.last_seen_at, \
                   s.channel_list_loaded_at, s.expires_at \
                   FROM account_authkey s JOIN account a ON a.id = s.account_id \
                   WHERE s.authkey = $1 AND a.client_id = $2 AND s.expires_at > $3";
        let mut session: Session = mw
            .caches
            .short_get_or_load(cache_key.clone(), async {
                let found: Option<Session> = with_db!(mw.store.pool(), p => sqlx::query_as(sql)
                    .bind(&key)
                    .bind(self.client.id)
                    .bind(now)
                    .fetch_optional(p)
                    .await)?;
                let mut session =
                    found.ok_or_else(|| DeviceError::new(ERR_AUTH, "authorization required"))?;
                session.cache_key = cache_key.clone();
                Ok::<_, DeviceError>(session)
            })
            .await?;
        if session.expires_at <= now {
            mw.caches.short_forget(&cache_key).await;
            return Err(DeviceError::new(ERR_AUTH, "authorization required"));
        }
        // Last-seen times are for people (who is online); a minute's
        // precision spares a write on almost every call.
        if now - session.last_seen_at >= LAST_SEEN_PRECISION_SECS {
            self.touch(mw, &mut session, now).await?;
        }
        Ok(session)
    }

    /// Records that the session was seen now: the cached copy at once,
    /// the store in the background, so that the call does not wait for a
    /// write (and calls racing on the same session see the fresh copy).
    async fn touch(
        &self,
        mw: &Middleware,
        session: &mut Session,
        now: i64,
    ) -> Result<(), DeviceError> {
        session.last_seen_at = now;
        mw.caches
            .short_put(session.cache_key.clone(), session.clone())
            .await;
        let store = mw.store.clone();
        let id = session.id;
        tokio::spawn(async move {
            let touch = "UPDATE account_authkey SET last_seen_at = $1 WHERE id = $2";
            let done = with_db!(store.pool(), p => sqlx::query(touch)
                .bind(now)
                .bind(id)
                .execute(p)
                .await
                .map(|r| r.rows_affected()));
            if let Err(e) = done {
                tracing::warn!(session = id, error = %e, "cannot record when a session was seen");
            }
        });
        Ok(())
    }

    /// `field` localised for the call's language: the `<field>_langN`
    /// value when set, else the default.
    pub fn localised<'a>(&self, default: &'a str, langs: [&'a Option<String>; 5]) -> &'a str {
        if self.lang == 0 {
            return default;
        }
        match langs[self.lang - 1] {
            Some(v) if !v.is_empty() => v,
            _ => default,
        }
    }
}

/// Failed login attempts per key within a window, for rate limiting.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Failed attempts allowed per account and per IP within the window.
pub const LOGIN_MAX_FAILURES: u32 = 10;
/// The window, in seconds.
pub const LOGIN_WINDOW_SECS: u64 = 300;

impl LoginLimiter {
    /// Whether `key` is over its limit now: across nodes through Redis
    /// when it is configured, else in this process.
    pub async fn blocked(&self, caches: &crate::cache::Caches, key: &str) -> bool {
        if let Some(n) = caches.shared_count(&format!("login:{key}")).await {
            return n >= i64::from(LOGIN_MAX_FAILURES);
        }
        self.blocked_here(key)
    }

    /// Counts a failed attempt for `key`.
    pub async fn failed(&self, caches: &crate::cache::Caches, key: &str) {
        let window = std::time::Duration::from_secs(LOGIN_WINDOW_SECS);
        if caches
            .shared_incr(&format!("login:{key}"), window)
            .await
            .is_none()
        {
            self.failed_here(key);
        }
    }

    /// Forgets failures of `key` after a success.
    pub async fn succeeded(&self, caches: &crate::cache::Caches, key: &str) {
        caches.shared_reset(&format!("login:{key}")).await;
        self.succeeded_here(key);
    }

    fn blocked_here(&self, key: &str) -> bool {
        let Ok(map) = self.attempts.lock() else {
            return false;
        };
        matches!(map.get(key), Some((n, since)) if *n >= LOGIN_MAX_FAILURES && since.elapsed().as_secs() < LOGIN_WINDOW_SECS)
    }

    fn failed_here(&self, key: &str) {
        if let Ok(mut map) = self.attempts.lock() {
            if map.len() > 100_000 {
                map.retain(|_, (_, since)| since.elapsed().as_secs() < LOGIN_WINDOW_SECS);
            }
            let entry = map.entry(key.to_string()).or_insert((0, Instant::now()));
            if entry.1.elapsed().as_secs() >= LOGIN_WINDOW_SECS {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    fn succeeded_here(&self, key: &str) {
        if let Ok(mut map) = self.attempts.lock() {
            map.remove(key);
        }
    }
}

/// Device API state beyond the store.
#[derive(Debug, Clone, Default)]
pub struct DeviceState {
    /// Login rate limits.
    pub limiter: Arc<LoginLimiter>,
    /// Proxies whose `X-Real-IP` / `X-Forwarded-For` are believed.
    pub trusted_proxies: Arc<Vec<Cidr>>,
}

/// The subscriber's address: the socket peer, or the address a trusted
/// proxy reports.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    efir_core::net::client_ip(
        peer,
        header("x-real-ip"),
        header("x-forwarded-for"),
        trusted,
    )
}

fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Whether answers to `device` are XML.
async fn wants_xml(mw: &Middleware, device: Option<&str>) -> bool {
    let Some(device) = device.filter(|d| !d.is_empty()) else {
        return false;
    };
    // Play devices are fixed data: look each name up once, not per call.
    let key = format!("play_device_xml:{device}");
    let xml = mw
        .caches
        .get_or_load(key, async {
            let sql = "SELECT output_format FROM play_device WHERE system_name = $1";
            let format: Option<String> = with_db!(mw.store.pool(), p => sqlx::query_scalar(sql)
                .bind(device)
                .fetch_optional(p)
                .await)?;
            Ok::<_, DeviceError>(format.as_deref() == Some("xml"))
        })
        .await;
    xml.map(|x| *x).unwrap_or(false)
}

/// What a method answers: the body and cookies to set.
pub struct Reply {
    /// The answer (without `error`).
    pub body: Value,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
    /// Answer with a 302 to this URL instead of the body.
    pub redirect: Option<String>,
    /// A complete JSON answer already serialized (`error` included), sent
    /// as it is: cached answers of hot methods.
    pub raw_json: Option<std::sync::Arc<Vec<u8>>>,
}

impl From<Value> for Reply {
    fn from(body: Value) -> Self {
        Reply {
            body,
            cookies: Vec::new(),
            redirect: None,
            raw_json: None,
        }
    }
}

fn respond(xml: bool, body: Value, cookies: &[String]) -> Response {
    let mut response = if xml {
        (
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            xml::render(&body),
        )
            .into_response()
    } else {
        axum::Json(body).into_response()
    };
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Shared bytes of a cached answer, as a response body without a copy.
struct RawJson(std::sync::Arc<Vec<u8>>);

impl AsRef<[u8]> for RawJson {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// The handler of `/tvmiddleware/api/{*method}`.
pub async fn call(
    State(mw): State<Middleware>,
    Path(method): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let e = json!({ "error": ERR_BAD_REQUEST, "error_message": "request body too large" });
            return respond(false, e, &[]);
        }
    };
    let params = Params::parse(parts.uri.query(), &body);
    let peer_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ip = client_ip(peer_ip, &headers, &mw.device.trusted_proxies);
    let xml = wants_xml(&mw, params.get("device")).await;
    let method = method.trim_matches('/').to_string();
    let result = async {
        let client = resolve_client(&mw, &params).await?;
        let lang = params
            .get("lang")
            .and_then(|l| {
                client
                    .additional_languages()
                    .iter()
                    .position(|x| x.eq_ignore_ascii_case(l))
            })
            .map_or(0, |i| i + 1);
        let call = Call {
            client,
            params,
            ip,
            cookies: cookies(&headers),
            lang,
            xml,
        };
        let result = dispatch(&mw, &call, &method).await;
        if result.is_ok() && CHANGES_ACCESS.contains(&method.as_str()) {
            mw.caches.bump(&mw.store, call.client.id).await;
        }
        result
    }
    .await;
    match result {
        Ok(reply) => {
            if let Some(url) = reply.redirect.as_deref() {
                if let Ok(location) = HeaderValue::from_str(url) {
                    return (
                        axum::http::StatusCode::FOUND,
                        [(header::LOCATION, location)],
                    )
                        .into_response();
                }
            }
            if let (Some(raw), false) = (reply.raw_json, xml) {
                return (
                    [(header::CONTENT_TYPE, "application/json")],
                    axum::body::Bytes::from_owner(RawJson(raw)),
                )
                    .into_response();
            }
            let mut body = reply.body;
            if let Value::Object(map) = &mut body {
                map.insert("error".into(), json!(0));
                map.entry("error_message").or_insert(json!(""));
            }
            respond(xml, body, &reply.cookies)
        }
        Err(e) => {
            let mut body = json!({ "error": e.code, "error_message": e.message });
            if let (Value::Object(map), Value::Object(extra)) = (&mut body, e.extra) {
                map.extend(extra);
            }
            respond(xml, body, &[])
        }
    }
}

/// Why an operator could not be read.
#[derive(Debug, Clone)]
enum ClientLookup {
    /// No such operator.
    Missing,
    /// The store failed.
    Failed(String),
}

impl From<crate::cache::TypeMismatch> for ClientLookup {
    fn from(e: crate::cache::TypeMismatch) -> Self {
        ClientLookup::Failed(e.to_string())
    }
}

async fn resolve_client(mw: &Middleware, params: &Params) -> Result<Client, DeviceError> {
    let raw = params
        .get("client_id")
        .ok_or_else(|| DeviceError::new(ERR_BAD_REQUEST, "client_id is required"))?;
    let id: i64 = raw.trim().parse().map_err(|_| {
        DeviceError::new(
            ERR_BAD_REQUEST,
            format!("client_id `{raw}` is not a number"),
        )
    })?;
    // Operators change rarely: each node reads one at most every few
    // seconds (cache::SHORT_TTL), not on every call.
    let found = mw
        .caches
        .short_get_or_load(format!("client:{id}"), async {
            mw.store.client(id).await.map_err(|e| match e {
                efir_store::StoreError::NotFound { .. } => ClientLookup::Missing,
                e => ClientLookup::Failed(e.to_string()),
            })
        })
        .await;
    match found {
        Ok(c) if c.is_active => Ok(c),
        Ok(_) | Err(ClientLookup::Missing) => {
            Err(DeviceError::new(ERR_AUTH, format!("unknown client {id}")))
        }
        Err(ClientLookup::Failed(e)) => {
            tracing::error!(client_id = id, error = %e, "cannot read the operator");
            Err(DeviceError::new(ERR_INTERNAL, "internal error"))
        }
    }
}

async fn dispatch(mw: &Middleware, call: &Call, method: &str) -> Result<Reply, DeviceError> {
    match method {
        "login" => login::login(mw, call).await,
        "logout" => login::logout(mw, call).await.map(Reply::from),
        "account/status" => status::account_status(mw, call).await.map(Reply::from),
        "health/check" => Ok(status::health_check().into()),
        "channel/list" => channels::channel_list(mw, call, false).await,
        "v2/channel/list" => channels::channel_list(mw, call, true).await,
        "category/list" => channels::category_list(mw, call).await.map(Reply::from),
        "channel/url" => urls::channel_url(mw, call).await,
        "streamservice/token/check" => urls::token_check(mw, call).await.map(Reply::from),
        "program/url" => urls::program_url(mw, call).await,
        _ => {
            if let Some(result) = epg::dispatch(mw, call, method).await {
                return result;
            }
            if let Some(result) = catalog::dispatch(mw, call, method).await {
                return result;
            }
            if let Some(result) = subscriber::dispatch(mw, call, method).await {
                return result;
            }
            Err(DeviceError::new(
                ERR_NOT_FOUND,
                format!("unknown method `{method}`"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_headers_only_from_trusted_peers() {
        let trusted: Vec<Cidr> = vec!["127.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.1"),
        );
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(lo, &h, &trusted).to_string(), "203.0.113.7");
        assert_eq!(client_ip(other, &h, &trusted), other, "untrusted peer");
        h.insert("x-real-ip", HeaderValue::from_static("192.0.2.5"));
        assert_eq!(client_ip(lo, &h, &trusted).to_string(), "192.0.2.5");
        h.insert("x-real-ip", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(lo, &h, &trusted).to_string(), "203.0.113.7");
    }

    #[tokio::test]
    async fn limiter_blocks_after_failures_and_forgets_on_success() {
        let l = LoginLimiter::default();
        let caches = crate::cache::Caches::default();
        for _ in 0..LOGIN_MAX_FAILURES {
            assert!(!l.blocked(&caches, "k").await);
            l.failed(&caches, "k").await;
        }
        assert!(l.blocked(&caches, "k").await);
        assert!(!l.blocked(&caches, "other").await);
        l.succeeded(&caches, "k").await;
        assert!(!l.blocked(&caches, "k").await);
    }
}
