//! Efir's subscriber middleware.
//!
//! Operators' customers, accounts, devices and sessions, channels, VOD,
//! tariffs and stream routing, behind HTTP APIs that are wire-compatible
//! with the Smarty middleware so that existing set-top-box apps and billing
//! integrations work unchanged:
//!
//! * [`device`]: the device (TVMW) API, `/tvmiddleware/api/<method>/`;
//! * [`access`]: which tariffs, and so which content, apply to an account;
//! * [`billing`]: the Billing API, `/billing/api/<method>/`;
//! * [`content`]: the Content API, `/content/api/<method>/`;
//! * [`api`]: what those two share (signature, parameters, errors);
//! * [`ops`]: stream service health checks and mass logout, behind
//!   management commands.
//!
//! It may touch the store and the core, nothing else. Tables are created by
//! the store's migration `0002_middleware`.

pub mod access;
pub mod api;
pub mod billing;
pub mod cache;
pub mod content;
pub mod device;
pub mod ops;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use efir_store::Store;
use serde_json::Value;

use crate::api::{authenticate, ApiError, KeyKind, Params};

/// Shared state of the middleware's handlers.
#[derive(Clone)]
pub struct Middleware {
    /// The store.
    pub store: Store,
    /// Device API state (login limits, trusted proxies).
    pub device: device::DeviceState,
    /// Caches of the device API's hot paths.
    pub caches: cache::Caches,
}

/// The HTTP routes of the middleware, mounted by `efir serve`.
pub fn routes(store: Store) -> Router {
    routes_with(
        store,
        Options {
            trusted_proxies: default_trusted_proxies(),
            caches: cache::Caches::default(),
        },
    )
}

/// How the middleware is set up.
pub struct Options {
    /// Proxies whose `X-Real-IP`/`X-Forwarded-For` are believed.
    pub trusted_proxies: Vec<efir_core::net::Cidr>,
    /// The caches (in-process, or with Redis: [`cache::Caches::with_redis`]).
    pub caches: cache::Caches,
}

/// Proxies trusted by default to report the subscriber's address: the
/// loopback networks (an nginx on the same machine).
pub fn default_trusted_proxies() -> Vec<efir_core::net::Cidr> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

impl Middleware {
    /// The middleware's state for `store` with `options` (one per process:
    /// the HTTP routes and the admin panel share its caches).
    pub fn new(store: Store, options: Options) -> Middleware {
        Middleware {
            store,
            device: device::DeviceState {
                limiter: Default::default(),
                trusted_proxies: std::sync::Arc::new(options.trusted_proxies),
            },
            caches: options.caches,
        }
    }
}

/// The routes with `options`.
pub fn routes_with(store: Store, options: Options) -> Router {
    routes_of(Middleware::new(store, options))
}

/// The routes over an existing [`Middleware`].
pub fn routes_of(state: Middleware) -> Router {
    Router::new()
        .route("/tvmiddleware/api/{*method}", any(device::call))
        .route("/billing/api/{*method}", any(billing_call))
        .route("/content/api/{*method}", any(content_call))
        .with_state(state)
}

/// Which operator API a [`call`] goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The Billing API (customers, accounts, tariffs, transactions).
    Billing,
    /// The Content API (channels, categories, radio, cameras, apps, VOD).
    Content,
}

/// Runs one Billing or Content API method (`customer/list`) for `client`,
/// as its HTTP endpoint does after authentication: after a change the
/// operator's cached device data is marked as changed.
pub async fn call(
    mw: &Middleware,
    client: &efir_store::clients::Client,
    api: Api,
    method: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    let result = match api {
        Api::Billing => billing::dispatch(mw, client, method, params).await,
        Api::Content => content::dispatch(mw, client, method, params).await,
    };
    if result.is_ok() && is_write(method) {
        mw.caches.bump(&mw.store, client.id).await;
    }
    result
}

/// A method name from the path: `customer/create/` → `customer/create`.
fn method_name(path: &str) -> String {
    path.trim_matches('/').to_string()
}

/// Wraps a successful result with `error: 0`.
fn success(mut value: Value) -> Response {
    if let Value::Object(map) = &mut value {
        map.entry("error").or_insert(Value::from(0));
    }
    Json(value).into_response()
}

async fn billing_call(
    State(mw): State<Middleware>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::parse(query.as_deref(), &body);
    let result = async {
        let client = authenticate(&mw.store, &params, KeyKind::Billing).await?;
        call(&mw, &client, Api::Billing, &method_name(&method), &params).await
    }
    .await;
    match result {
        Ok(v) => success(v),
        Err(e) => e.into_response(),
    }
}

async fn content_call(
    State(mw): State<Middleware>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::parse(query.as_deref(), &body);
    let result = async {
        let client = authenticate(&mw.store, &params, KeyKind::Content).await?;
        call(&mw, &client, Api::Content, &method_name(&method), &params).await
    }
    .await;
    match result {
        Ok(v) => success(v),
        Err(e) => e.into_response(),
    }
}

/// Whether a Billing or Content API method changes data (everything but
/// `…/list` and `…/info`).
fn is_write(method: &str) -> bool {
    !(method.ends_with("list") || method.ends_with("info"))
}

/// The error of a method name no API has.
pub fn unknown_method(api: &str, method: &str) -> ApiError {
    ApiError::generic(format!("unknown {api} API method `{method}`"))
}
