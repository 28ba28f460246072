//! The router as an HTTP service: every request is answered from an
//! immutable in-memory snapshot, swapped atomically when the data version
//! in the store moves (polled), so a node keeps serving from its last
//! snapshot while the database is down.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use efir_core::net::Cidr;
use efir_store::Store;

use crate::health::{spawn_poller, FastHash, HealthBoard, HealthConfig};
use crate::model::{self, Loaded, RouterError};
use crate::path::{self, Route};
use crate::select::{self, Choice, ContentKind, EdgeState};

/// Counter of answers: `efir_router_redirects_total{region, edge, status}`.
pub const REDIRECTS: &str = "efir_router_redirects_total";
/// Histogram of decision time in seconds.
pub const DECISION_SECONDS: &str = "efir_router_decision_seconds";

/// How a router node runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Proxies whose `X-Real-IP` / `X-Forwarded-For` are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// How often the data version is checked.
    pub reload_every: Duration,
    /// Health polling.
    pub health: HealthConfig,
    /// Whether to poll edges (off in some tests).
    pub poll_health: bool,
    /// Bearer token of `GET /router/state`; `None`: the page is off.
    pub admin_token: Option<String>,
    /// The edges' nginx `secure_link` secret and how long a link lives.
    pub secure_link: Option<SecureLink>,
}

/// Signing of redirects for the edges' nginx `secure_link`.
#[derive(Debug, Clone)]
pub struct SecureLink {
    /// The shared secret.
    pub secret: String,
    /// Seconds a link stays valid.
    pub ttl: u64,
    /// What is hashed (`secure_link_md5` of the edge's nginx).
    pub expression: String,
}

/// The default `secure_link_md5` expression the edges check.
pub const SECURE_LINK_EXPRESSION: &str = "$secure_link_expires$uri $secret";

impl Default for Options {
    fn default() -> Self {
        Options {
            trusted_proxies: Vec::new(),
            reload_every: Duration::from_secs(2),
            health: HealthConfig::default(),
            poll_health: true,
            admin_token: None,
            secure_link: None,
        }
    }
}

/// A snapshot with the metric handles of its edges and regions, made once
/// per reload so that a request records without building label sets.
struct Active {
    loaded: Loaded,
    /// The metric and this node's own tally ([`RedirectTally`]) per edge.
    redirects: HashMap<select::EdgeId, (metrics::Counter, Arc<AtomicU64>), FastHash>,
    /// 404 and 503 answers by client region (`None`: no region).
    refused: HashMap<Option<select::RegionId>, (metrics::Counter, metrics::Counter), FastHash>,
    /// Edges with a capacity: only their load is worth computing, and only
    /// redirects to those with a session capacity are counted as load.
    loaded_edges: HashMap<select::EdgeId, bool, FastHash>,
    bad_request: metrics::Counter,
    decision: metrics::Histogram,
}

/// Redirects this node sent to each edge since it started, kept across
/// reloads (the metrics recorder cannot be read back), for
/// [`RouterService::redirect_counts`].
#[derive(Default)]
struct RedirectTally(Mutex<HashMap<select::EdgeId, Arc<AtomicU64>>>);

impl RedirectTally {
    fn counter(&self, edge: select::EdgeId) -> Arc<AtomicU64> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(edge).or_default())
    }
}

impl Active {
    fn new(loaded: Loaded, tally: &RedirectTally) -> Active {
        let region = |r: select::RegionId| loaded.region_names.get(&r).cloned().unwrap_or_default();
        let redirects = loaded
            .edges
            .edges()
            .iter()
            .map(|e| {
                let c = metrics::counter!(REDIRECTS, "region" => region(e.region), "edge" => e.name.clone(), "status" => "302");
                (e.id, (c, tally.counter(e.id)))
            })
            .collect();
        let mut refused = HashMap::default();
        let mut regions: Vec<Option<select::RegionId>> =
            loaded.region_names.keys().copied().map(Some).collect();
        regions.push(None);
        for r in regions {
            let name = r.map(region).unwrap_or_default();
            refused.insert(
                r,
                (
                    metrics::counter!(REDIRECTS, "region" => name.clone(), "edge" => "", "status" => "404"),
                    metrics::counter!(REDIRECTS, "region" => name, "edge" => "", "status" => "503"),
                ),
            );
        }
        let loaded_edges = loaded
            .edges
            .edges()
            .iter()
            .filter(|e| e.capacity.is_some() || e.capacity_mbps.is_some())
            .map(|e| (e.id, e.capacity.is_some()))
            .collect();
        Active {
            loaded,
            redirects,
            refused,
            loaded_edges,
            bad_request: metrics::counter!(REDIRECTS, "region" => "", "edge" => "", "status" => "400"),
            decision: metrics::histogram!(DECISION_SECONDS),
        }
    }
}

/// A running router node.
#[derive(Clone)]
pub struct RouterService {
    snapshot: Arc<ArcSwap<Active>>,
    board: Arc<HealthBoard>,
    trusted: Arc<Vec<Cidr>>,
    admin_token: Option<Arc<str>>,
    secure_link: Option<Arc<SecureLink>>,
}

impl RouterService {
    /// Loads the first snapshot (failing when the store cannot be read)
    /// and starts the reload loop and the health poller in the background.
    pub async fn start(store: Store, opts: Options) -> Result<RouterService, RouterError> {
        let first = model::load(&store).await?;
        tracing::info!(
            version = %first.version,
            subnets = first.subnets.len(),
            edges = first.edges.edges().len(),
            "router snapshot loaded"
        );
        let board = HealthBoard::new(opts.health.clone());
        board.set_targets(first.targets.clone());
        let tally = Arc::new(RedirectTally::default());
        let snapshot = Arc::new(ArcSwap::from_pointee(Active::new(first, &tally)));
        let service = RouterService {
            snapshot: snapshot.clone(),
            board: board.clone(),
            trusted: Arc::new(opts.trusted_proxies.clone()),
            admin_token: opts.admin_token.as_deref().map(Arc::from),
            secure_link: opts.secure_link.clone().map(Arc::new),
        };
        let wake = Arc::new(tokio::sync::Notify::new());
        if let efir_store::Pool::Postgres(pool) = store.pool() {
            // Reload at once when a change is announced; polling still runs.
            tokio::spawn(efir_store::notify::wake_on_notify(
                pool.clone(),
                model::NOTIFY_CHANNEL,
                wake.clone(),
            ));
        }
        tokio::spawn(reload_loop(
            store,
            snapshot,
            board.clone(),
            tally,
            opts.reload_every,
            wake,
        ));
        if opts.poll_health {
            let http = reqwest::Client::builder()
                .timeout(opts.health.timeout)
                .user_agent(concat!("efir-router/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default();
            spawn_poller(board, http, std::future::pending());
        }
        Ok(service)
    }

    /// The health board of this node.
    pub fn health(&self) -> &Arc<HealthBoard> {
        &self.board
    }

    /// Redirects (302 answers) this node sent to each edge of the snapshot
    /// in use since it started: `(edge id, redirects)` in edge id order.
    /// Read-only; counts survive reloads (the admin panel's CDN pages).
    pub fn redirect_counts(&self) -> Vec<(select::EdgeId, u64)> {
        let active = self.snapshot.load();
        let mut out: Vec<(select::EdgeId, u64)> = active
            .redirects
            .iter()
            .map(|(id, (_, n))| (*id, n.load(Ordering::Relaxed)))
            .collect();
        out.sort_unstable();
        out
    }

    /// The version of the snapshot in use.
    pub fn version(&self) -> String {
        self.snapshot.load().loaded.version.clone()
    }

    /// `GET|HEAD /btv/…` and `/vod/…`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/btv/{*rest}", get(redirect))
            .route("/vod/{*rest}", get(redirect))
            .route("/router/state", get(state_page))
            .with_state(self.clone())
    }
}

/// Reloads the snapshot whenever the stored version moves; keeps the last
/// one (and says so) while the store cannot be read.
async fn reload_loop(
    store: Store,
    snapshot: Arc<ArcSwap<Active>>,
    board: Arc<HealthBoard>,
    tally: Arc<RedirectTally>,
    every: Duration,
    wake: Arc<tokio::sync::Notify>,
) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = wake.notified() => {}
        }
        let current = snapshot.load().loaded.version.clone();
        let next = match model::version(&store).await {
            Ok(v) if v == current => {
                failing = false;
                continue;
            }
            Ok(_) => model::load(&store).await,
            Err(e) => Err(e),
        };
        match next {
            Ok(loaded) => {
                tracing::info!(
                    version = %loaded.version,
                    subnets = loaded.subnets.len(),
                    edges = loaded.edges.edges().len(),
                    "router snapshot reloaded"
                );
                board.set_targets(loaded.targets.clone());
                snapshot.store(Arc::new(Active::new(loaded, &tally)));
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot reload the router snapshot; serving the last one");
                }
                failing = true;
            }
        }
    }
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body + "\n",
    )
        .into_response()
}

/// A stream request as the HTTP layer hands it to [`RouterService::decide`].
#[derive(Debug, Clone, Copy)]
pub struct StreamRequest<'a> {
    /// The raw (still percent-encoded) path, e.g. `/btv/live/hls/ch1.m3u8`.
    pub path: &'a str,
    /// The raw query, without `?`.
    pub query: Option<&'a str>,
    /// The socket peer.
    pub peer: IpAddr,
    /// `X-Real-IP` as sent: `Some(None)` when present but not text.
    pub real_ip: Option<Option<&'a str>>,
    /// `X-Forwarded-For` as sent: `Some(None)` when present but not text.
    pub forwarded_for: Option<Option<&'a str>>,
}

/// The router's answer to a [`StreamRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `302 Found` to `location`; `cors` adds `Access-Control-Allow-Origin: *`.
    Redirect {
        /// The edge URL with the path, query and signature.
        location: String,
        /// Whether the answer carries the CORS header (live requests).
        cors: bool,
    },
    /// A refusal (400, 404, 500, 503) with a one-line plain-text reason.
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// The reason, without the trailing newline.
        body: String,
    },
}

impl Answer {
    fn refused(status: StatusCode, body: String) -> Answer {
        Answer::Refused { status, body }
    }
}

/// One decision in this many is timed (per thread).
pub const DECISION_SAMPLE: u32 = 8;

thread_local! {
    static SAMPLE: std::cell::Cell<u32> = const { std::cell::Cell::new(u32::MAX) };
}

/// The `Cache-Control` of every redirect: players must come back to the
/// router rather than reuse an old edge.
pub const REDIRECT_CACHE_CONTROL: &str = "max-age=0, private, must-revalidate";

impl RouterService {
    /// Routes one request: parses its path, finds the client's address and
    /// region, chooses an edge and counts the answer. Never panics on input.
    ///
    /// The decision time goes to `efir_router_decision_seconds` for one
    /// request in [`DECISION_SAMPLE`] per thread: reading the clock twice
    /// costs a measurable share of a decision.
    pub fn decide(&self, req: &StreamRequest<'_>) -> Answer {
        let active = self.snapshot.load();
        let sampled = SAMPLE.with(|n| {
            let v = n.get().wrapping_add(1);
            n.set(v);
            v % DECISION_SAMPLE == 0
        });
        if !sampled {
            return self.decide_in(&active, req);
        }
        let started = Instant::now();
        let answer = self.decide_in(&active, req);
        active.decision.record(started.elapsed().as_secs_f64());
        answer
    }

    fn decide_in(&self, active: &Active, req: &StreamRequest<'_>) -> Answer {
        let route = match path::parse(req.path) {
            Ok(r) => r,
            Err(e) => {
                active.bad_request.increment(1);
                return Answer::refused(StatusCode::BAD_REQUEST, e.to_string());
            }
        };
        let peer = req.peer;
        // From a trusted proxy, an address header that is there must hold an
        // address: guessing would route the subscriber by the proxy's place.
        if self.trusted.iter().any(|net| net.contains(peer)) {
            let named = match (req.real_ip, req.forwarded_for) {
                (Some(v), _) => Some(("x-real-ip", v)),
                (None, Some(v)) => Some(("x-forwarded-for", v)),
                (None, None) => None,
            };
            if let Some((name, value)) = named {
                let first = value
                    .and_then(|v| v.split(',').next())
                    .map(str::trim)
                    .and_then(|v| v.parse::<IpAddr>().ok());
                if first.is_none() {
                    active.bad_request.increment(1);
                    return Answer::refused(
                        StatusCode::BAD_REQUEST,
                        format!("{name} does not start with an IP address"),
                    );
                }
            }
        }
        let ip = efir_core::net::client_ip(
            peer,
            req.real_ip.flatten(),
            req.forwarded_for.flatten(),
            &self.trusted,
        );
        let query = req.query;
        // Catch-up requests may name their channel in the query.
        let channel_param = match route {
            Route::Catchup { .. } => query.and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "channel" || k == "cid")
                    .map(|(_, v)| v.into_owned())
            }),
            _ => None,
        };
        let (kind, key, channel) = match route {
            Route::Live { channel, .. } => (ContentKind::Live, channel, Some(channel)),
            Route::Catchup { programme, .. } => {
                (ContentKind::Catchup, programme, channel_param.as_deref())
            }
            Route::Vod { path, .. } => (ContentKind::Vod, path, None),
        };
        let snap = &active.loaded;
        let mut region = snap.subnets.lookup(ip).or_else(|| snap.geo_region(ip));
        let board = &self.board;
        let state = |id: select::EdgeId| -> EdgeState {
            if active.loaded_edges.contains_key(&id) {
                board.state(id)
            } else {
                EdgeState {
                    healthy: board.healthy(id),
                    ..EdgeState::UNKNOWN
                }
            }
        };
        let request = select::Request { kind, key, channel };
        // Pinned content: to its edge when that one can serve, else to its
        // region (or normal routing).
        let mut pinned = None;
        match snap.pin(kind, key) {
            Some(model::Pin::Edge(id)) => {
                if let Some(edge) = snap.edges.edge(id) {
                    let st = state(id);
                    let usable = edge.enabled
                        && !edge.draining
                        && st.healthy
                        && edge.capacity.is_none_or(|c| st.load < c)
                        && edge.serves.contains(&kind);
                    if usable {
                        pinned = Some(Choice::Edge {
                            edge,
                            region: edge.region,
                            fell_back: false,
                        });
                    }
                }
            }
            Some(model::Pin::Region(r)) => region = Some(r),
            None => {}
        }
        let choice = match pinned {
            Some(c) => c,
            None => select::choose(&snap.edges, region, &request, &state),
        };
        let refused = |status_404: bool| {
            if let Some((c404, c503)) = active.refused.get(&region) {
                if status_404 { c404 } else { c503 }.increment(1);
            }
        };
        match choice {
            Choice::Edge { edge, .. } => {
                if active.loaded_edges.get(&edge.id) == Some(&true) {
                    board.record_redirect(edge.id);
                }
                let mut location = String::with_capacity(edge.base_url.len() + req.path.len() + 64);
                location.push_str(&edge.base_url);
                location.push_str(req.path);
                let mut sep = '?';
                if let Some(q) = query.filter(|q| !q.is_empty()) {
                    location.push('?');
                    location.push_str(q);
                    sep = '&';
                }
                if let Some(link) = &self.secure_link {
                    let expires = efir_store::now() + i64::try_from(link.ttl).unwrap_or(3600);
                    let md5 = efir_core::secret::secure_link_md5(
                        &link.expression,
                        expires,
                        req.path,
                        &ip.to_string(),
                        &link.secret,
                    );
                    location.push_str(&format!("{sep}md5={md5}&expires={expires}"));
                }
                if let Some((c, n)) = active.redirects.get(&edge.id) {
                    c.increment(1);
                    n.fetch_add(1, Ordering::Relaxed);
                }
                // A header value must be visible ASCII; the path and query
                // already are, so only a strange base URL can fail here.
                if location.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                    Answer::Redirect {
                        location,
                        cors: kind == ContentKind::Live,
                    }
                } else {
                    Answer::refused(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("edge `{}` has an unusable base URL", edge.name),
                    )
                }
            }
            Choice::NoEdge(select::NoEdge::NoneCarries) => {
                refused(true);
                Answer::refused(
                    StatusCode::NOT_FOUND,
                    format!("no edge server carries `{key}` for this client"),
                )
            }
            Choice::NoEdge(why) => {
                refused(false);
                Answer::refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("no edge server can serve this request: {why}"),
                )
            }
        }
    }
}

/// `GET|HEAD /btv/…` and `/vod/…` through axum (the router's own HTTP/1
/// server in [`crate::http1`] answers these without it).
async fn redirect(
    State(service): State<RouterService>,
    request: axum::extract::Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let connect = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
    let peer = connect.map_or(IpAddr::from([127, 0, 0, 1]), |ConnectInfo(a)| a.ip());
    let text = |name: &str| parts.headers.get(name).map(|v| v.to_str().ok());
    let req = StreamRequest {
        path: parts.uri.path(),
        query: parts.uri.query(),
        peer,
        real_ip: text("x-real-ip"),
        forwarded_for: text("x-forwarded-for"),
    };
    match service.decide(&req) {
        Answer::Redirect { location, cors } => {
            let mut r = StatusCode::FOUND.into_response();
            let h = r.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&location) {
                h.insert(header::LOCATION, value);
            }
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(REDIRECT_CACHE_CONTROL),
            );
            if cors {
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            r
        }
        Answer::Refused { status, body } => plain(status, body),
    }
}

/// `GET /router/state` (`Authorization: Bearer <router.admin_token>`): the
/// snapshot in use and every edge's configuration and live health.
async fn state_page(State(service): State<RouterService>, headers: HeaderMap) -> Response {
    let Some(token) = &service.admin_token else {
        return plain(
            StatusCode::NOT_FOUND,
            "the state page is off: set router.admin_token to open it".into(),
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !efir_core::secret::constant_time_eq(given.as_bytes(), token.as_bytes()) {
        let mut r = plain(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required".into(),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"efir-router\""),
        );
        return r;
    }
    let active = service.snapshot.load();
    let snap = &active.loaded;
    let health: HashMap<select::EdgeId, crate::health::EdgeHealth> = service
        .board
        .report()
        .into_iter()
        .map(|h| (h.edge, h))
        .collect();
    let edges: Vec<serde_json::Value> = snap
        .edges
        .edges()
        .iter()
        .map(|e| {
            let state = service.board.state(e.id);
            serde_json::json!({
                "id": e.id, "name": e.name, "region": snap.region_names.get(&e.region),
                "base_url": e.base_url, "weight": e.weight, "capacity": e.capacity, "capacity_mbps": e.capacity_mbps,
                "enabled": e.enabled, "draining": e.draining, "serves": e.serves,
                "channels": e.channels, "healthy": state.healthy, "load": state.load, "mbps": state.mbps,
                "health": health.get(&e.id),
            })
        })
        .collect();
    let mut regions: Vec<serde_json::Value> = snap
        .region_names
        .iter()
        .map(|(id, name)| serde_json::json!({ "id": id, "name": name }))
        .collect();
    regions.sort_by_key(|r| r["id"].as_u64());
    axum::Json(serde_json::json!({
        "version": snap.version,
        "subnets": snap.subnets.len(),
        "regions": regions,
        "edges": edges,
    }))
    .into_response()
}
