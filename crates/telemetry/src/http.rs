//! HTTP metrics for axum: a middleware counting and timing requests, and the
//! `/metrics` endpoint.
//!
//! ```no_run
//! # fn app(handle: efir_telemetry::PrometheusHandle) -> axum::Router {
//! axum::Router::new()
//!     .route("/channels/{id}", axum::routing::get(|| async { "ok" }))
//!     .layer(axum::middleware::from_fn(efir_telemetry::track_http))
//!     .merge(efir_telemetry::metrics_router(handle))
//! # }
//! ```

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::recorder::{HTTP_DURATION, HTTP_REQUESTS};

/// Content type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Middleware recording `efir_http_requests_total{method, route, status}` and
/// `efir_http_request_duration_seconds{method, route}` for every request.
/// `route` is the matched route template (`/channels/{id}`), or `unmatched`,
/// and unusual methods count as `OTHER`, so label values stay few. Use it
/// with `axum::middleware::from_fn(track_http)` as a `Router::layer`.
pub async fn track_http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route.clone())
        .record(start.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// The label of a request method: its name when standard, `OTHER` if not.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Handler serving the Prometheus registry in text format.
pub async fn metrics_handler(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        handle.render(),
    )
}

/// A router serving [`metrics_handler`] at `GET /metrics`, to merge into an
/// application's router.
pub fn metrics_router<S>(handle: PrometheusHandle) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(handle)
}
