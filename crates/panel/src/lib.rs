//! Efir's admin web panel: the operator's control room in the browser,
//! served by `efir serve` under `/admin/` (the JSON admin API stays under
//! `/admin/api/`).
//!
//! Pages are rendered on the server ([minijinja] templates compiled into
//! the binary, HTML auto-escaped) and work without JavaScript; a little
//! script of our own (`/admin/static/panel.js`) adds live job progress and
//! confirmations. Charts are SVG drawn on the server ([`chart`]).
//!
//! * [`session`]: staff login by cookie (the admin API's sessions,
//!   `HttpOnly; SameSite=Strict`, `Secure` behind TLS), the login limit,
//!   CSRF tokens on every form, and the [`session::User`] extractor that
//!   every page takes;
//! * [`render`]: templates, the page frame, list, form and detail views,
//!   error pages;
//! * [`i18n`]: English and Russian interface strings, chosen per user;
//! * [`pages`]: the pages, one module per area.
//!
//! Writes go through the same code as the operator APIs (the Billing and
//! Content API dispatchers via [`efir_middleware::call`], the back
//! office's functions), on behalf of the staff user, so validation and the
//! audit log are the same whichever way a change comes in. Every page checks
//! the user's role and operator: another operator's objects answer 404.
//!
//! It may touch the store, the core and every part (middleware, EPG,
//! router, ingest, back office); nothing depends on it but the `efir`
//! binary.

pub mod chart;
pub mod i18n;
pub mod pages;
pub mod render;
pub mod session;

use std::sync::Arc;

use axum::Router;
use efir_backoffice::admin::AdminState;
use efir_middleware::Middleware;
use efir_store::Store;

/// How the panel is set up.
#[derive(Clone, Default)]
pub struct PanelOptions {
    /// Always mark the session cookie `Secure` (it is anyway when a
    /// trusted proxy reports `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// The process's configuration (ingest pipelines and hot folders, EPG
    /// and router settings shown by the pages; secrets are never shown).
    pub config: Arc<efir_core::config::Config>,
    /// The router of this process, when it runs one (live edge health
    /// and redirect counts); without it the CDN pages show what the
    /// database holds.
    pub router: Option<efir_router::service::RouterService>,
}

/// The state every page gets.
#[derive(Clone)]
pub struct Panel {
    /// The database.
    pub store: Store,
    /// The admin API's state: sessions, login limit, request log.
    pub admin: AdminState,
    /// The middleware (Billing and Content API calls, device caches).
    pub mw: Middleware,
    /// The templates.
    pub views: Arc<render::Views>,
    /// Options.
    pub options: Arc<PanelOptions>,
}

impl Panel {
    /// The panel over the admin API's and the middleware's state.
    pub fn new(admin: AdminState, mw: Middleware, options: PanelOptions) -> Panel {
        Panel {
            store: admin.store.clone(),
            admin,
            mw,
            views: Arc::new(render::Views::new()),
            options: Arc::new(options),
        }
    }
}

/// The panel's routes (`/admin/…` but `/admin/api/…`), with the request
/// log, CSRF checks and security headers around them.
pub fn routes(panel: Panel) -> Router {
    let pages = pages::routes()
        .layer(axum::middleware::from_fn_with_state(
            panel.clone(),
            session::check_csrf,
        ))
        .layer(axum::middleware::from_fn_with_state(
            panel.admin.clone(),
            efir_backoffice::admin::log::log_requests,
        ))
        .with_state(panel);
    Router::new()
        .merge(pages)
        .merge(render::static_routes())
        .layer(axum::middleware::from_fn(render::security_headers))
}
