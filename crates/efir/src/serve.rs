//! `efir serve` (and `efir router`, `efir worker`): run the roles of one
//! node until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use efir_core::{Role, RoleSet};
use efir_scheduler::Scheduler;
use efir_store::Store;
use serde_json::json;
use tokio::sync::watch;

use crate::context::Ctx;
use crate::runner::InProcess;

/// Options of one `serve` run.
pub struct ServeOptions {
    /// Roles to run.
    pub roles: RoleSet,
    /// API address.
    pub listen: String,
    /// Router address (used when the router runs beside the API).
    pub router_listen: String,
}

/// State of the operational endpoints.
#[derive(Clone)]
struct Ops {
    store: Store,
    prometheus: Option<efir_telemetry::PrometheusHandle>,
    roles: String,
}

async fn health(State(ops): State<Ops>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": efir_core::VERSION, "roles": ops.roles }))
}

async fn ready(State(ops): State<Ops>) -> Response {
    match tokio::time::timeout(Duration::from_secs(5), ops.store.ping()).await {
        Ok(Ok(())) => Json(json!({ "status": "ready", "database": "ok" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": "unreachable" })),
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": "timeout" })),
        )
            .into_response(),
    }
}

async fn metrics(State(ops): State<Ops>) -> Response {
    match ops.prometheus {
        Some(h) => efir_telemetry::metrics_handler(State(h))
            .await
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "metrics are disabled (metrics.enabled = false)\n",
        )
            .into_response(),
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": 404, "error_message": "not found" })),
    )
        .into_response()
}

/// The operational endpoints plus `parts`, with 404s in the API's format.
fn endpoints(ops: Ops, parts: Router) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(ops)
        .merge(parts)
        .fallback(not_found)
}

/// A panic in a handler answers 500 instead of dropping the connection.
fn catch_panics(router: Router) -> Router {
    router.layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": 500, "error_message": "internal error" })),
        )
            .into_response()
    }))
}

/// The operational endpoints, plus `parts`, with metrics and tracing layers.
fn app(ops: Ops, parts: Router) -> Router {
    catch_panics(
        endpoints(ops, parts)
            .layer(axum::middleware::from_fn(efir_telemetry::track_http))
            .layer(tower_http::trace::TraceLayer::new_for_http()),
    )
}

/// The operational endpoints plus the router's routes. The router counts
/// its answers itself (`efir_router_redirects_total`, with precomputed
/// handles), so the generic per-request metrics and trace spans, which cost
/// more than a routing decision, are left out on its own port.
fn router_app(ops: Ops, parts: Router) -> Router {
    catch_panics(endpoints(ops, parts))
}

/// Waits for SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

async fn bind(addr: &str, what: &str) -> Result<tokio::net::TcpListener> {
    let parsed: SocketAddr = addr
        .parse()
        .with_context(|| format!("{what}: `{addr}` is not a HOST:PORT address"))?;
    tokio::net::TcpListener::bind(parsed)
        .await
        .with_context(|| format!("{what}: cannot listen on {addr}"))
}

/// Runs the node until a shutdown signal.
pub async fn run(
    ctx: Ctx,
    opts: ServeOptions,
    telemetry: &efir_telemetry::Telemetry,
) -> Result<()> {
    let config = ctx.config().clone();
    let store = ctx.store().clone();
    tracing::info!(
        version = efir_core::VERSION,
        roles = %opts.roles,
        database = %store.describe(),
        schema_version = store.schema_version().await.unwrap_or(0),
        cache = %ctx.cache().describe(),
        data_dir = %std::path::absolute(&config.data_dir).unwrap_or(config.data_dir.clone()).display(),
        "efir starting"
    );
    if !ctx.loaded().unknown_env.is_empty() {
        tracing::warn!(variables = ?ctx.loaded().unknown_env, "ignoring EFIR_* variables that name no configuration key");
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    let epoch_watch = ctx
        .cache()
        .spawn_epoch_watch(store.clone(), Duration::from_secs(2));
    // Read replicas (database.replicas) are checked from now on.
    let replica_checks = store.spawn_replica_checks();

    let ops = Ops {
        store: store.clone(),
        prometheus: telemetry.prometheus(),
        roles: opts.roles.to_string(),
    };
    // The ingest settings, read once: the API takes the pipeline names, the
    // dispatcher and workers all of it (and refuse to start without it).
    let farm = efir_ingest::farm::Farm::from_config(&config).map(std::sync::Arc::new);
    let mut servers = Vec::new();
    let router = if opts.roles.contains(Role::Router) {
        let service = efir_router::service::RouterService::start(
            store.clone(),
            efir_router::service::Options {
                trusted_proxies: config.api.trusted_proxies().unwrap_or_default(),
                admin_token: config.router.admin_token.clone(),
                secure_link: config.router.secure_link_secret.clone().map(|secret| {
                    efir_router::service::SecureLink {
                        secret,
                        ttl: config.router.secure_link_ttl,
                        expression: efir_router::service::SECURE_LINK_EXPRESSION.into(),
                    }
                }),
                ..efir_router::service::Options::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("router: {e}"))?;
        Some(service)
    } else {
        None
    };
    if opts.roles.contains(Role::Api) {
        let mw = efir_middleware::Middleware::new(
            store.clone(),
            efir_middleware::Options {
                trusted_proxies: config.api.trusted_proxies().unwrap_or_default(),
                caches: middleware_caches(&config).await?,
            },
        );
        efir_backoffice::cases::api::configure(&config.cases);
        let admin = efir_backoffice::admin::AdminState::new(
            store.clone(),
            efir_backoffice::AdminOptions {
                data_dir: config.data_dir.clone(),
                session_hours: config.admin.session_hours,
                trusted_proxies: config.api.trusted_proxies().unwrap_or_default(),
            },
        );
        let panel = efir_panel::Panel::new(
            admin.clone(),
            mw.clone(),
            efir_panel::PanelOptions {
                secure_cookies: config.admin.secure_cookies,
                config: std::sync::Arc::new(config.clone()),
                router: router.clone(),
            },
        );
        let parts = Router::new()
            .merge(efir_middleware::routes_of(mw))
            .merge(efir_epg::routes(store.clone(), &config.data_dir))
            .merge(efir_backoffice::admin::routes(admin))
            .merge(efir_panel::routes(panel))
            .merge(efir_ingest::routes(
                store.clone(),
                efir_ingest::api::ApiOptions {
                    token: config.ingest.api_token.clone(),
                    pipelines: farm
                        .as_ref()
                        .map(|f| f.pipelines.iter().map(|p| p.name.clone()).collect())
                        .unwrap_or_default(),
                },
            ));
        let mut parts = parts;
        if let (Some(r), true) = (&router, opts.listen == opts.router_listen) {
            parts = parts.merge(r.routes());
        }
        servers.push(("api", opts.listen.clone(), app(ops.clone(), parts)));
    }
    if opts.roles.contains(Role::Router)
        && !(opts.roles.contains(Role::Api) && opts.listen == opts.router_listen)
    {
        let addr = if opts.roles.contains(Role::Api) {
            opts.router_listen.clone()
        } else {
            opts.listen.clone()
        };
        if let Some(service) = router.clone() {
            // The router port: its own lean HTTP/1 server answers stream
            // requests; everything else goes through the usual endpoints.
            // One listening socket and one single-threaded runtime per
            // core (SO_REUSEPORT), as nginx runs its workers.
            let parsed: SocketAddr = addr
                .parse()
                .with_context(|| format!("router: `{addr}` is not a HOST:PORT address"))?;
            let threads = match config.router.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n as usize,
            };
            let listeners = efir_router::http1::bind_reuseport(parsed, threads)
                .with_context(|| format!("router: cannot listen on {addr}"))?;
            let local = listeners
                .first()
                .context("router: no listening socket")?
                .local_addr()?;
            tracing::info!(role = "router", threads, "listening on http://{local}");
            let app = router_app(ops.clone(), service.routes());
            let rx = stop_rx.clone();
            tasks.spawn(async move {
                efir_router::http1::serve_threads(listeners, service, app, stopped(rx))
                    .await
                    .map_err(|e| anyhow::anyhow!("router server: {e}"))
            });
        }
    }
    for (name, addr, router) in servers {
        let listener = bind(&addr, name).await?;
        let local = listener.local_addr()?;
        tracing::info!(role = name, "listening on http://{local}");
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stopped(rx))
            .await
            .map_err(|e| anyhow::anyhow!("{name} server: {e}"))
        });
    }
    if opts.roles.contains(Role::Dispatcher) || opts.roles.contains(Role::Worker) {
        let farm = farm.map_err(|e| anyhow::anyhow!(e))?;
        let queue = efir_ingest::queue::Queue::new(store.clone());
        let cancel = tokio_util::sync::CancellationToken::new();
        {
            let cancel = cancel.clone();
            let rx = stop_rx.clone();
            tokio::spawn(async move {
                stopped(rx).await;
                cancel.cancel();
            });
        }
        if opts.roles.contains(Role::Dispatcher) {
            tracing::info!(
                hot_folders = farm.hot_folders.len(),
                pipelines = farm.pipelines.len(),
                "ingest dispatcher starting"
            );
            let (q, f, c) = (queue.clone(), farm.clone(), cancel.clone());
            tasks.spawn(async move {
                efir_ingest::dispatcher::run(q, f, c).await;
                Ok(())
            });
        }
        if opts.roles.contains(Role::Worker) {
            let slots = match farm.worker_slots {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n as usize,
            };
            let name = crate::WORKER_NAME
                .get()
                .cloned()
                .flatten()
                .unwrap_or_else(node_name);
            let opts = efir_ingest::worker::WorkerOptions { name, slots };
            let (q, f, c) = (queue.clone(), farm.clone(), cancel.clone());
            tasks.spawn(async move {
                efir_ingest::worker::run(q, f, opts, c).await;
                Ok(())
            });
        }
    }
    if opts.roles.contains(Role::Scheduler) {
        if config.scheduler.enabled {
            let entries = efir_scheduler::entries(&crate::schedule_entries(&config))
                .map_err(|e| anyhow::anyhow!(e))?;
            let mut runner_ctx = ctx.clone();
            runner_ctx.interactive = false;
            let scheduler = Scheduler::new(
                store.clone(),
                Arc::new(InProcess::new(runner_ctx)),
                entries,
                node_name(),
            );
            let rx = stop_rx.clone();
            tasks.spawn(async move {
                scheduler.run(stopped(rx)).await;
                Ok(())
            });
        } else {
            tracing::info!("scheduler disabled (scheduler.enabled = false)");
        }
    }

    {
        // The node's heartbeat, for `efir manage cluster status`; its row
        // goes when the node stops.
        let (store, rx) = (store.clone(), stop_rx.clone());
        let mut beat = efir_store::nodes::Node {
            name: node_name(),
            roles: opts.roles.to_string(),
            version: efir_core::VERSION.to_string(),
            listen: if opts.roles.contains(Role::Api) || opts.roles.contains(Role::Router) {
                opts.listen.clone()
            } else {
                String::new()
            },
            pid: i64::from(std::process::id()),
            started_at: efir_store::now(),
            last_seen_at: 0,
            load1: 0.0,
            rss_bytes: 0,
        };
        tasks.spawn(async move {
            let stop = stopped(rx);
            tokio::pin!(stop);
            let every = Duration::from_secs(efir_store::nodes::HEARTBEAT_SECS.unsigned_abs());
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stop => break,
                }
                beat.last_seen_at = efir_store::now();
                (beat.load1, beat.rss_bytes) = load_and_rss();
                if let Err(e) = store.node_heartbeat(&beat).await {
                    tracing::warn!(error = %e, "cannot record this node's heartbeat");
                }
            }
            if let Err(e) = store.node_gone(&beat.name).await {
                tracing::warn!(error = %e, "cannot remove this node from the node list");
            }
            Ok(())
        });
    }

    let grace = Duration::from_secs(config.server.shutdown_timeout_secs);
    let outcome = tokio::select! {
        _ = shutdown_signal() => Ok(()),
        Some(res) = tasks.join_next() => match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow::anyhow!("task failed: {e}")),
        },
    };
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(grace, async {
        while let Some(res) = tasks.join_next().await {
            if let Ok(Err(e)) = res {
                tracing::warn!(error = %e, "during shutdown");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            seconds = grace.as_secs(),
            "shutdown grace period over; stopping anyway"
        );
        tasks.abort_all();
    }
    epoch_watch.abort();
    if let Some(checks) = replica_checks {
        checks.abort();
    }
    if tokio::time::timeout(Duration::from_secs(5), store.close())
        .await
        .is_err()
    {
        tracing::warn!("database connections still busy at exit; closing anyway");
    }
    tracing::info!("efir stopped");
    outcome
}

/// The middleware's caches: shared through Redis when `cache.redis_url`
/// is set.
async fn middleware_caches(config: &efir_core::Config) -> Result<efir_middleware::cache::Caches> {
    match efir_store::cache::RedisTarget::of(&config.cache) {
        Some(target) => {
            efir_middleware::cache::Caches::with_redis_target(&target, &config.cache.key_prefix)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot connect to Redis (cache.redis_url / cache.redis_cluster): {e}"
                    )
                })
        }
        None => Ok(efir_middleware::cache::Caches::default()),
    }
}

/// The host's one-minute load average and this process's resident memory
/// in bytes, from `/proc` (zeros where it is not available).
fn load_and_rss() -> (f64, i64) {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    // statm counts pages; 4 KiB pages on the platforms Efir ships for.
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<i64>().ok())
        .map_or(0, |pages| pages * 4096);
    (load, rss)
}

/// This process's name in run records: `<host>:<pid>`.
pub fn node_name() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}
