//! Edge health and load.
//!
//! Every router node polls each edge's health URL every
//! [`HealthConfig::interval`] and keeps a live state per edge in a
//! [`HealthBoard`], read on every request through [`HealthBoard::state`]
//! (the `state` callback of [`crate::select::choose`]).
//!
//! # Health
//!
//! A poll succeeds when `GET <url>` answers 2xx within
//! [`HealthConfig::timeout`] (the whole exchange, body included). Anything
//! else — a connection error, the timeout, another status — is a failure,
//! recorded as a short [`EdgeHealth::last_error`] such as `"HTTP 503"`,
//! `"timeout after 2 s"` or `"connection refused"`.
//!
//! A healthy edge goes down after [`HealthConfig::fall`] consecutive
//! failures; a down edge comes up after [`HealthConfig::rise`] consecutive
//! successes. New edges start healthy (optimistic). An edge whose health URL
//! is empty is not polled and is always healthy. Each flip is logged (up at
//! info, down at warn) with the edge's name, and exported as the gauge
//! `efir_router_edge_up{edge="<name>"}` (1 or 0); every check counts in
//! `efir_router_health_checks_total{edge, outcome="ok"|"failed"}`.
//!
//! # Load
//!
//! The load given to [`crate::select::choose`] is the larger of
//!
//! * the load the edge **reports**: when a successful health answer is a
//!   JSON object with a numeric `load`, `sessions` or `connections` field
//!   (looked up in that order; the first 64 KiB of the body are read), that
//!   number; a successful answer without one clears it, a failed poll keeps
//!   the last one;
//! * the **passive** load: the redirects this node sent to the edge in the
//!   last [`HealthConfig::load_window`], counted by
//!   [`HealthBoard::record_redirect`] so that capacity limits work without
//!   any edge reporting its load.
//!
//! ## Precision of the passive load
//!
//! The window is a ring of `n` buckets, each `w = max(window / 30, 1 ms)`
//! wide (`n = ⌈window / w⌉`, so at most 30 buckets for windows over 30 ms).
//! A redirect is counted in the bucket of the moment it is recorded and
//! stops counting when that bucket leaves the ring: it counts for more than
//! `window − w` and at most `window` (for the default 60 s window: between 58
//! and 60 s). Each bucket is a single `AtomicU64` holding the bucket's
//! sequence number and its count, updated by compare-and-swap, so recording
//! is lock-free and exact under contention.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::task::JoinSet;

use crate::select::{EdgeId, EdgeState};

/// The hasher of the per-edge tables (xxh3: much cheaper than SipHash
/// for integer keys, and the keys are ours, not an attacker's).
pub type FastHash = xxhash_rust::xxh3::Xxh3DefaultBuilder;

/// Polling settings.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// Time between two polls of every edge (default 5 s).
    pub interval: Duration,
    /// The longest a poll may take, body included (default 2 s).
    pub timeout: Duration,
    /// Consecutive successful polls for a down edge to come up (default 2;
    /// 0 counts as 1).
    pub rise: u32,
    /// Consecutive failed polls for a healthy edge to go down (default 2; 0
    /// counts as 1).
    pub fall: u32,
    /// The passive load is the number of redirects in the last window
    /// (default 60 s); see the [module documentation](self) for its
    /// precision.
    pub load_window: Duration,
}

impl Default for HealthConfig {
    /// Every 5 s, 2 s timeout, rise 2, fall 2, 60 s load window.
    fn default() -> Self {
        HealthConfig {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            rise: 2,
            fall: 2,
            load_window: Duration::from_secs(60),
        }
    }
}

/// What to poll for one edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTarget {
    /// The edge.
    pub edge: EdgeId,
    /// Its name, for logs and metrics.
    pub name: String,
    /// Its health URL; empty means not polled: always healthy.
    pub url: String,
}

/// Everything about one edge, for `GET /router/state` and tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EdgeHealth {
    /// The edge.
    pub edge: EdgeId,
    /// Its name.
    pub name: String,
    /// Its health URL (empty: not polled).
    pub url: String,
    /// Whether it is considered up.
    pub healthy: bool,
    /// Failed polls in a row (0 after a success).
    pub consecutive_failures: u32,
    /// Successful polls in a row (0 after a failure).
    pub consecutive_successes: u32,
    /// When it was last polled (unix seconds), if ever.
    pub last_checked_at: Option<i64>,
    /// Why the last poll failed; empty when it succeeded (or never ran).
    pub last_error: String,
    /// The load it last reported in its health answer, if any.
    pub reported_load: Option<u64>,
    /// The bandwidth (Mbit/s) it last reported, if any.
    pub reported_mbps: Option<u64>,
    /// Redirects sent to it in the load window.
    pub recent_redirects: u64,
}

/// At most this much of a health answer is read, looking for a load.
const MAX_BODY: usize = 64 * 1024;

/// Sentinel of [`Live::reported`]: no load reported.
const NO_LOAD: u64 = u64::MAX;

/// Buckets the load window is divided into (at most).
const BUCKETS: u64 = 30;

/// The narrowest bucket.
const MIN_BUCKET: Duration = Duration::from_millis(1);

/// The longest `last_error` kept, in bytes (roughly).
const MAX_ERROR: usize = 160;

/// The passive-load clock shared by all edges of a board: bucket width and
/// count, relative to the board's creation.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    /// Bucket width in nanoseconds (at least 1 ms).
    width_ns: u64,
    /// Number of buckets (at least 1).
    buckets: u64,
}

impl Window {
    fn new(window: Duration) -> Window {
        let window_ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        let min_ns = MIN_BUCKET.as_nanos() as u64;
        let width_ns = window_ns.div_ceil(BUCKETS).max(min_ns);
        let buckets = window_ns.div_ceil(width_ns).max(1);
        Window {
            start: Instant::now(),
            width_ns,
            buckets,
        }
    }

    /// The sequence number of the current bucket (wrapping at 2^32).
    fn now(&self) -> u32 {
        let elapsed = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        (elapsed / self.width_ns) as u32
    }
}

/// A ring of packed `(sequence << 32) | count` buckets.
struct Ring {
    buckets: Box<[AtomicU64]>,
}

impl Ring {
    fn new(window: &Window) -> Ring {
        Ring {
            buckets: (0..window.buckets)
                .map(|_| AtomicU64::new(pack(u32::MAX, 0)))
                .collect(),
        }
    }

    /// Counts one event now. Lock-free: one CAS loop on one word.
    fn record(&self, window: &Window) {
        let seq = window.now();
        let slot = &self.buckets[(u64::from(seq) % window.buckets) as usize];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let (s, count) = unpack(current);
            let next = if s == seq {
                pack(seq, count.saturating_add(1))
            } else {
                pack(seq, 1)
            };
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The events of the buckets still in the window.
    fn total(&self, window: &Window) -> u64 {
        let now = window.now();
        self.buckets
            .iter()
            .map(|slot| {
                let (s, count) = unpack(slot.load(Ordering::Relaxed));
                if u64::from(now.wrapping_sub(s)) < window.buckets {
                    u64::from(count)
                } else {
                    0
                }
            })
            .sum()
    }
}

fn pack(seq: u32, count: u32) -> u64 {
    (u64::from(seq) << 32) | u64::from(count)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// The bookkeeping of the health checks, touched only by pollers (and
/// `report`), never across an await.
#[derive(Debug, Default)]
struct Checks {
    consecutive_failures: u32,
    consecutive_successes: u32,
    last_checked_at: Option<i64>,
    last_error: String,
}

/// The state of an edge that survives `set_targets`.
struct Live {
    /// Read on every request.
    healthy: AtomicBool,
    /// The reported load, or [`NO_LOAD`].
    reported: AtomicU64,
    /// The reported Mbit/s, or [`NO_LOAD`].
    reported_mbps: AtomicU64,
    /// Redirects per bucket.
    redirects: Ring,
    /// Poll bookkeeping; `healthy` is only flipped under this lock.
    checks: Mutex<Checks>,
}

impl Live {
    fn new(window: &Window) -> Live {
        Live {
            healthy: AtomicBool::new(true),
            reported: AtomicU64::new(NO_LOAD),
            reported_mbps: AtomicU64::new(NO_LOAD),
            redirects: Ring::new(window),
            checks: Mutex::new(Checks::default()),
        }
    }

    fn checks(&self) -> MutexGuard<'_, Checks> {
        self.checks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reported(&self) -> Option<u64> {
        match self.reported.load(Ordering::Relaxed) {
            NO_LOAD => None,
            load => Some(load),
        }
    }

    fn reported_mbps(&self) -> Option<u64> {
        match self.reported_mbps.load(Ordering::Relaxed) {
            NO_LOAD => None,
            mbps => Some(mbps),
        }
    }
}

/// One edge: its current target and its live state.
struct Entry {
    target: HealthTarget,
    live: Arc<Live>,
}

/// The live state of every edge on this node.
///
/// `Send + Sync`, shared as `Arc<HealthBoard>`. Reading
/// ([`HealthBoard::state`]) and counting ([`HealthBoard::record_redirect`])
/// take no lock: the set of edges is an atomically swapped map and every
/// per-edge value is an atomic.
pub struct HealthBoard {
    cfg: HealthConfig,
    window: Window,
    edges: ArcSwap<HashMap<EdgeId, Arc<Entry>, FastHash>>,
    /// Serialises `set_targets` (readers never take it).
    writer: Mutex<()>,
}

impl fmt::Debug for HealthBoard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthBoard")
            .field("cfg", &self.cfg)
            .field("edges", &self.edges.load().len())
            .finish_non_exhaustive()
    }
}

impl HealthBoard {
    /// An empty board (no targets yet: every edge reads as
    /// [`EdgeState::UNKNOWN`]).
    pub fn new(cfg: HealthConfig) -> Arc<HealthBoard> {
        let window = Window::new(cfg.load_window);
        Arc::new(HealthBoard {
            cfg,
            window,
            edges: ArcSwap::from_pointee(HashMap::default()),
            writer: Mutex::new(()),
        })
    }

    /// The settings the board was built with.
    pub fn config(&self) -> &HealthConfig {
        &self.cfg
    }

    /// Replaces the set of targets (after a configuration reload): edges
    /// kept keep their state and counters (even if their name or URL
    /// changed); new ones start healthy (optimistic) until `fall` failures;
    /// removed ones are forgotten. With duplicate edge ids, the first target
    /// wins.
    pub fn set_targets(&self, targets: Vec<HealthTarget>) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.edges.load_full();
        let mut map = HashMap::with_capacity_and_hasher(targets.len(), FastHash::default());
        for target in targets {
            if map.contains_key(&target.edge) {
                continue;
            }
            let live = match old.get(&target.edge) {
                Some(entry) => Arc::clone(&entry.live),
                None => {
                    let live = Arc::new(Live::new(&self.window));
                    set_up_gauge(&target.name, true);
                    live
                }
            };
            map.insert(target.edge, Arc::new(Entry { target, live }));
        }
        self.edges.store(Arc::new(map));
    }

    /// The state `select::choose` needs: the healthy flag, and the load =
    /// max(redirects in the load window, the load last reported by the edge
    /// if any). An edge that is not a target is [`EdgeState::UNKNOWN`].
    ///
    /// Cheap: no allocation and no lock (an atomic map load and a few atomic
    /// reads).
    pub fn state(&self, edge: EdgeId) -> EdgeState {
        let edges = self.edges.load();
        let Some(entry) = edges.get(&edge) else {
            return EdgeState::UNKNOWN;
        };
        let live = &entry.live;
        let healthy = entry.target.url.is_empty() || live.healthy.load(Ordering::Relaxed);
        let passive = live.redirects.total(&self.window);
        let load = passive.max(live.reported().unwrap_or(0));
        let mbps = live.reported_mbps().unwrap_or(0);
        EdgeState {
            healthy,
            load,
            mbps,
        }
    }

    /// Whether `edge` is healthy: [`HealthBoard::state`] without the load
    /// (no clock read), for edges that have no capacity to compare with.
    pub fn healthy(&self, edge: EdgeId) -> bool {
        match self.edges.load().get(&edge) {
            Some(entry) => {
                entry.target.url.is_empty() || entry.live.healthy.load(Ordering::Relaxed)
            }
            None => true,
        }
    }

    /// Counts a redirect sent to `edge` (passive load). Lock-free; a
    /// redirect to an edge that is not a target is not counted.
    pub fn record_redirect(&self, edge: EdgeId) {
        if let Some(entry) = self.edges.load().get(&edge) {
            entry.live.redirects.record(&self.window);
        }
    }

    /// Everything about every edge, in ascending edge id order, for
    /// `GET /router/state` and tests.
    pub fn report(&self) -> Vec<EdgeHealth> {
        let edges = self.edges.load_full();
        let mut out: Vec<EdgeHealth> = edges
            .values()
            .map(|entry| {
                let live = &entry.live;
                let checks = live.checks();
                EdgeHealth {
                    edge: entry.target.edge,
                    name: entry.target.name.clone(),
                    url: entry.target.url.clone(),
                    healthy: entry.target.url.is_empty() || live.healthy.load(Ordering::Relaxed),
                    consecutive_failures: checks.consecutive_failures,
                    consecutive_successes: checks.consecutive_successes,
                    last_checked_at: checks.last_checked_at,
                    last_error: checks.last_error.clone(),
                    reported_load: live.reported(),
                    reported_mbps: live.reported_mbps(),
                    recent_redirects: live.redirects.total(&self.window),
                }
            })
            .collect();
        out.sort_by_key(|h| h.edge);
        out
    }

    /// One polling pass over all targets with a URL, concurrently (each
    /// with the timeout), updating their states; returns when every poll
    /// has finished. Exposed so tests can drive it without waiting for
    /// intervals. Must run inside a Tokio runtime (the polls are spawned
    /// tasks, aborted if this future is dropped).
    pub async fn poll_once(&self, http: &reqwest::Client) {
        let edges = self.edges.load_full();
        let mut polls = JoinSet::new();
        for entry in edges.values() {
            if entry.target.url.is_empty() {
                continue;
            }
            let entry = Arc::clone(entry);
            let http = http.clone();
            let timeout = self.cfg.timeout;
            polls.spawn(async move {
                let outcome = check(&http, &entry.target.url, timeout).await;
                (entry, outcome)
            });
        }
        while let Some(joined) = polls.join_next().await {
            match joined {
                Ok((entry, outcome)) => self.apply(&entry, outcome),
                Err(err) => tracing::error!(error = %err, "edge health check task failed"),
            }
        }
    }

    /// Records the outcome of one poll of `entry`.
    fn apply(&self, entry: &Entry, outcome: Result<Reported, String>) {
        let name = entry.target.name.as_str();
        let live = &entry.live;
        let mut checks = live.checks();
        checks.last_checked_at = Some(unix_now());
        let was_up = live.healthy.load(Ordering::Relaxed);
        let now_up = match outcome {
            Ok(reported) => {
                metrics::counter!(
                    "efir_router_health_checks_total",
                    "edge" => name.to_owned(),
                    "outcome" => "ok"
                )
                .increment(1);
                live.reported
                    .store(reported.load.unwrap_or(NO_LOAD), Ordering::Relaxed);
                live.reported_mbps
                    .store(reported.mbps.unwrap_or(NO_LOAD), Ordering::Relaxed);
                checks.consecutive_failures = 0;
                checks.consecutive_successes = checks.consecutive_successes.saturating_add(1);
                checks.last_error.clear();
                was_up || checks.consecutive_successes >= self.cfg.rise.max(1)
            }
            Err(error) => {
                metrics::counter!(
                    "efir_router_health_checks_total",
                    "edge" => name.to_owned(),
                    "outcome" => "failed"
                )
                .increment(1);
                checks.consecutive_successes = 0;
                checks.consecutive_failures = checks.consecutive_failures.saturating_add(1);
                checks.last_error = error;
                was_up && checks.consecutive_failures < self.cfg.fall.max(1)
            }
        };
        if now_up != was_up {
            live.healthy.store(now_up, Ordering::Relaxed);
            if now_up {
                tracing::info!(
                    edge = name,
                    successes = checks.consecutive_successes,
                    "edge is up"
                );
            } else {
                tracing::warn!(
                    edge = name,
                    failures = checks.consecutive_failures,
                    error = %checks.last_error,
                    "edge is down"
                );
            }
        }
        set_up_gauge(name, now_up);
    }
}

/// Runs [`HealthBoard::poll_once`] every `interval` (the first pass at once)
/// until `stop` resolves; a pass in progress when `stop` resolves is
/// abandoned. A pass longer than the interval delays the next one rather
/// than bunching them up.
pub fn spawn_poller(
    board: Arc<HealthBoard>,
    http: reqwest::Client,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = board.cfg.interval.max(MIN_BUCKET);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                () = &mut stop => break,
                () = board.poll_once(&http) => {}
            }
        }
        tracing::debug!("edge health poller stopped");
    })
}

/// Exports `efir_router_edge_up{edge}`.
fn set_up_gauge(name: &str, up: bool) {
    metrics::gauge!("efir_router_edge_up", "edge" => name.to_owned()).set(if up {
        1.0
    } else {
        0.0
    });
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What an edge's health answer reported about its load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Reported {
    /// `load`, `sessions` or `connections`.
    load: Option<u64>,
    /// `mbps` or `bandwidth_mbps`.
    mbps: Option<u64>,
}

/// One poll: `Ok(what was reported)` on a 2xx within `timeout`, else a
/// short error.
async fn check(http: &reqwest::Client, url: &str, timeout: Duration) -> Result<Reported, String> {
    match tokio::time::timeout(timeout, fetch(http, url)).await {
        Ok(result) => result,
        Err(_) => Err(format!("timeout after {}", human(timeout))),
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Reported, String> {
    let mut response = http
        .get(url)
        .send()
        .await
        .map_err(|e| describe(&e, "request failed"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(describe(&e, "reading the body failed")),
        }
    }
    Ok(reported(&body))
}

/// The load and bandwidth a JSON object body reports.
fn reported(body: &[u8]) -> Reported {
    let object = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .filter(|&start| body[start] == b'{')
        .and_then(|_| serde_json::from_slice::<serde_json::Value>(body).ok());
    let Some(serde_json::Value::Object(object)) = object else {
        return Reported::default();
    };
    let first = |keys: &[&str]| {
        keys.iter()
            .find_map(|key| object.get(*key).and_then(as_load))
    };
    Reported {
        load: first(&["load", "sessions", "connections"]),
        mbps: first(&["mbps", "bandwidth_mbps"]),
    }
}

/// The numeric `load`, `sessions` or `connections` of a JSON object body.
#[cfg(test)]
fn reported_load(body: &[u8]) -> Option<u64> {
    reported(body).load
}

/// A JSON number as a load: non-negative integers as is, non-negative
/// floats rounded.
fn as_load(value: &serde_json::Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    (f.is_finite() && f >= 0.0).then(|| f.round().min(u64::MAX as f64) as u64)
}

/// A short description of a request error.
fn describe(err: &reqwest::Error, what: &str) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut innermost: &(dyn std::error::Error + 'static) = err;
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                std::io::ErrorKind::TimedOut => return "connect timed out".into(),
                _ => {}
            }
        }
        innermost = e;
        source = e.source();
    }
    let what = if err.is_connect() {
        "connect failed"
    } else if err.is_timeout() {
        "timed out"
    } else {
        what
    };
    let mut text = format!("{what}: {innermost}");
    if text.len() > MAX_ERROR {
        let mut cut = MAX_ERROR;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// `2 s`, `300 ms`, or the debug form for anything finer.
fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{d:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_shape() {
        let w = Window::new(Duration::from_secs(60));
        assert_eq!(w.width_ns, 2_000_000_000);
        assert_eq!(w.buckets, 30);
        let w = Window::new(Duration::ZERO);
        assert_eq!(w.width_ns, 1_000_000);
        assert_eq!(w.buckets, 1);
        let w = Window::new(Duration::from_millis(10));
        assert_eq!(w.buckets, 10);
    }

    #[test]
    fn loads_from_json() {
        assert_eq!(reported_load(br#"{"load": 42}"#), Some(42));
        assert_eq!(
            reported(br#"{"sessions": 3, "mbps": 950.4}"#),
            Reported {
                load: Some(3),
                mbps: Some(950)
            }
        );
        assert_eq!(reported(br#"{"bandwidth_mbps": 10}"#).mbps, Some(10));
        assert_eq!(reported_load(br#" {"sessions": 7.4, "x": 1}"#), Some(7));
        assert_eq!(reported_load(br#"{"connections": 3}"#), Some(3));
        assert_eq!(reported_load(br#"{"load": 1, "sessions": 9}"#), Some(1));
        assert_eq!(reported_load(br#"{"load": "1", "sessions": 9}"#), Some(9));
        assert_eq!(reported_load(br#"{"load": -1}"#), None);
        assert_eq!(reported_load(b"OK"), None);
        assert_eq!(reported_load(b"[1]"), None);
        assert_eq!(reported_load(b"{"), None);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(2)), "2 s");
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
        assert_eq!(human(Duration::from_millis(1500)), "1500 ms");
    }

    #[test]
    fn ring_counts_and_forgets() {
        let window = Window::new(Duration::from_millis(30));
        let ring = Ring::new(&window);
        for _ in 0..5 {
            ring.record(&window);
        }
        assert_eq!(ring.total(&window), 5);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(ring.total(&window), 0);
        ring.record(&window);
        assert_eq!(ring.total(&window), 1);
    }
}
