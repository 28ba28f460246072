//! The admin REST API of the back office, under `/admin/api/`.
//!
//! Staff users log in with `POST /admin/api/login` and send the token they
//! get as `Authorization: Bearer <token>` ([`auth`]). Every handler takes a
//! [`Staff`] and asks it what the user may do: [`Staff::require_write`]
//! (monitoring users only read), [`Staff::require_admin`], and
//! [`Staff::scope`] / [`Staff::client`] / [`Staff::may_see`], which keep
//! one operator's staff out of another operator's data (answering 404, so
//! that ids of other operators are not even confirmed). Changes run in an
//! audited transaction with [`Staff::actor`].
//!
//! Errors are one JSON shape with a fitting status ([`AdminError`]); lists
//! answer JSON or CSV ([`respond`], `?format=csv`) a [`Page`] at a time.
//! Every request is written to the request log ([`log`]).
//!
//! Endpoints of this module: `login`, `logout`, `me`, `password`,
//! `clients`, `clients/{id}/settings`, `audit`, `request-log`. The parts of
//! the back office add theirs through [`routes`].

pub mod audit;
pub mod auth;
pub mod error;
pub mod input;
pub mod log;
pub mod output;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use efir_core::net::Cidr;
use efir_store::Store;
use serde_json::{json, Value};

pub use auth::{Staff, StaffRole};
pub use error::{AdminError, AdminResult};
pub use input::{parse_time, Format, JsonBody, Page, Params};
pub use output::respond;

/// How the admin API is set up.
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// Efir's data directory (attachments live under it).
    pub data_dir: PathBuf,
    /// Hours a login lasts without use.
    pub session_hours: u32,
    /// Proxies whose `X-Real-IP` / `X-Forwarded-For` are believed.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            data_dir: PathBuf::from("data"),
            session_hours: 12,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The state every admin handler gets.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The database.
    pub store: Store,
    /// Efir's data directory.
    pub data_dir: PathBuf,
    /// Proxies whose forwarded-address headers are believed.
    pub trusted_proxies: Arc<Vec<Cidr>>,
    session_hours: u32,
    /// Failed logins, shared by the admin API and the web panel.
    pub limiter: Arc<auth::LoginLimiter>,
    request_log: log::RequestLog,
}

impl AdminState {
    /// The state for `store` with `opts`; starts the request-log writer on
    /// the current runtime.
    pub fn new(store: Store, opts: AdminOptions) -> AdminState {
        AdminState {
            request_log: log::RequestLog::spawn(store.clone()),
            store,
            data_dir: opts.data_dir,
            trusted_proxies: Arc::new(opts.trusted_proxies),
            session_hours: opts.session_hours.max(1),
            limiter: Arc::default(),
        }
    }

    /// Seconds a login lasts without use.
    pub fn session_secs(&self) -> i64 {
        i64::from(self.session_hours) * 3600
    }
}

/// The admin API, with the request log around every route.
pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/admin/api/login", post(auth::login))
        .route("/admin/api/logout", post(auth::logout))
        .route("/admin/api/me", get(auth::me))
        .route("/admin/api/password", post(auth::change_password))
        .route("/admin/api/clients", get(clients))
        .route(
            "/admin/api/clients/{id}/settings",
            get(settings::get).patch(settings::patch),
        )
        .route("/admin/api/audit", get(audit::search))
        .route("/admin/api/request-log", get(log::search))
        .merge(crate::messages::admin::admin_routes())
        .merge(crate::stats::admin::admin_routes())
        .merge(crate::cases::api::admin_routes())
        .route("/admin/api/{*rest}", axum::routing::any(not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            log::log_requests,
        ))
        .with_state(state)
}

/// `GET /admin/api/clients`: the operators this user may see.
async fn clients(State(state): State<AdminState>, staff: Staff) -> AdminResult<Json<Value>> {
    let all = state.store.clients().await?;
    let items: Vec<Value> = all
        .into_iter()
        .filter(|c| staff.may_see(c.id))
        .map(|c| json!(c))
        .collect();
    Ok(Json(json!({ "count": items.len(), "items": items })))
}

async fn not_found(_staff: Staff) -> AdminError {
    AdminError::not_found("no such admin API endpoint")
}
