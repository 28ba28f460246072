//! The panel's pages, one module per area, and what they share: the
//! navigation, request parameters, operator scoping and the dashboard.

pub mod backoffice;
pub mod catalog;
pub mod cdn;
pub mod dashboard;
pub mod epg;
pub mod ingest;
pub mod operators;
pub mod streams;
pub mod subscribers;

/// The interface-string tables of the page modules (see [`crate::i18n`]).
pub static STRINGS: &[&[(&str, &str, &str)]] = &[
    catalog::STRINGS,
    subscribers::STRINGS,
    operators::STRINGS,
    streams::STRINGS,
    epg::STRINGS,
    cdn::STRINGS,
    ingest::STRINGS,
    backoffice::STRINGS,
];

/// The templates of the page modules (see [`crate::render`]).
pub static TEMPLATES: &[&[(&str, &str)]] = &[
    catalog::TEMPLATES,
    subscribers::TEMPLATES,
    operators::TEMPLATES,
    streams::TEMPLATES,
    epg::TEMPLATES,
    cdn::TEMPLATES,
    ingest::TEMPLATES,
    backoffice::TEMPLATES,
];

/// A dashboard chart: the interface-string key of its title and its SVG
/// (from [`crate::chart`], escaped there).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chart {
    /// Interface-string key of the title.
    pub title: &'static str,
    /// The SVG markup.
    pub svg: String,
}

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use crate::render::{param, Filter, PageError, PageResult};
use crate::session::User;
use crate::Panel;

/// Every page route.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route(
            "/admin",
            get(|| async { crate::render::see_other("/admin/") }),
        )
        .route("/admin/", get(dashboard::show))
        .merge(crate::session::routes())
        .merge(subscribers::routes())
        .merge(catalog::routes())
        .merge(operators::routes())
        .merge(streams::routes())
        .merge(epg::routes())
        .merge(cdn::routes())
        .merge(ingest::routes())
        .merge(backoffice::routes())
        .fallback(not_found)
}

async fn not_found(_user: User) -> PageError {
    PageError::not_found()
}

/// A menu group.
#[derive(Debug, Clone, Serialize)]
pub struct NavGroup {
    /// Interface-string key.
    pub label: &'static str,
    /// Its entries.
    pub items: Vec<NavItem>,
}

/// A menu entry.
#[derive(Debug, Clone, Serialize)]
pub struct NavItem {
    /// Interface-string key.
    pub label: &'static str,
    /// Target.
    pub href: &'static str,
}

/// A menu entry.
pub const fn item(label: &'static str, href: &'static str) -> NavItem {
    NavItem { label, href }
}

/// The menu for `user` (each area decides what the user's role sees;
/// empty groups are left out).
pub fn nav(user: &User) -> Vec<NavGroup> {
    let groups = vec![
        NavGroup {
            label: "subscribers",
            items: subscribers::nav_items(user),
        },
        NavGroup {
            label: "content",
            items: catalog::nav_items(user),
        },
        NavGroup {
            label: "streams",
            items: streams::nav_items(user),
        },
        NavGroup {
            label: "epg",
            items: epg::nav_items(user),
        },
        NavGroup {
            label: "cdn",
            items: cdn::nav_items(user),
        },
        NavGroup {
            label: "ingest",
            items: ingest::nav_items(user),
        },
        NavGroup {
            label: "back_office",
            items: backoffice::nav_items(user),
        },
        NavGroup {
            label: "operators",
            items: operators::nav_items(user),
        },
    ];
    groups.into_iter().filter(|g| !g.items.is_empty()).collect()
}

/// Charts the areas add to the dashboard.
pub async fn area_charts(panel: &Panel, user: &User, scope: Option<i64>) -> PageResult<Vec<Chart>> {
    let mut out = Vec::new();
    out.extend(cdn::charts(panel, user, scope).await?);
    out.extend(ingest::charts(panel, user, scope).await?);
    out.extend(epg::charts(panel, user, scope).await?);
    out.extend(streams::charts(panel, user, scope).await?);
    out.extend(backoffice::charts(panel, user, scope).await?);
    Ok(out)
}

/// Query parameters of a request, in order (repeated names kept).
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Query, Response> {
        let q = parts.uri.query().unwrap_or_default();
        Ok(Query(
            form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        ))
    }
}

/// A url-encoded form body, in order (repeated names kept; `_csrf`
/// dropped, it was checked already).
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Form, Response> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Form(
            form_urlencoded::parse(&bytes)
                .into_owned()
                .filter(|(k, _)| k != "_csrf")
                .collect(),
        ))
    }
}

/// The operator filter of a list for a superuser (`?client=`), and the
/// operator a list covers: a superuser's choice or all, anyone else's own.
pub async fn operator_scope(
    panel: &Panel,
    user: &User,
    params: &[(String, String)],
) -> Result<(Option<Filter>, Option<i64>), PageError> {
    let requested = match param(params, "client").filter(|v| !v.is_empty()) {
        Some(v) => Some(v.parse::<i64>().map_err(|_| PageError::not_found())?),
        None => None,
    };
    let scope = user.scope(requested)?;
    if !user.staff.is_superuser() {
        return Ok((None, scope));
    }
    let filter = Filter {
        name: "client".into(),
        label: "operator".into(),
        value: requested.map(|c| c.to_string()).unwrap_or_default(),
        options: operator_options(panel, user).await?,
    };
    Ok((Some(filter), scope))
}

/// `(id, name)` of the operators `user` may see.
pub async fn operator_options(
    panel: &Panel,
    user: &User,
) -> Result<Vec<(String, String)>, PageError> {
    Ok(panel
        .store
        .clients()
        .await?
        .into_iter()
        .filter(|c| user.staff.may_see(c.id))
        .map(|c| (c.id.to_string(), c.name))
        .collect())
}

/// The operator of a new object: a superuser's `client_id` form field,
/// anyone else's own operator.
pub fn form_client(user: &User, form: &[(String, String)]) -> Result<i64, PageError> {
    let requested = match param(form, "client_id").filter(|v| !v.is_empty()) {
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            let mut e = PageError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "client_id: not an operator",
            );
            e.fields
                .insert("client_id".into(), "not an operator".into());
            e
        })?),
        None => None,
    };
    user.client(requested).map_err(|mut e| {
        if e.status == axum::http::StatusCode::UNPROCESSABLE_ENTITY {
            e.fields
                .insert("client_id".into(), "choose the operator".into());
        }
        e
    })
}

/// Loads an operator (for API calls on its behalf).
pub async fn client(panel: &Panel, id: i64) -> Result<efir_store::clients::Client, PageError> {
    panel.store.client(id).await.map_err(|e| match e {
        efir_store::StoreError::NotFound { .. } => PageError::not_found(),
        other => other.into(),
    })
}

/// Runs a Billing or Content API method for operator `client_id` on
/// behalf of `user` (audited as the staff user).
pub async fn api(
    panel: &Panel,
    user: &User,
    client_id: i64,
    api: efir_middleware::Api,
    method: &str,
    params: Vec<(String, String)>,
) -> Result<serde_json::Value, PageError> {
    user.check(client_id)?;
    let c = client(panel, client_id).await?;
    let p = efir_middleware::api::Params(params);
    let result = efir_middleware::api::on_behalf_of(
        user.staff.actor(),
        efir_middleware::call(&panel.mw, &c, api, method, &p),
    )
    .await;
    Ok(result?)
}
