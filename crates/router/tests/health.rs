//! Edge health polling over real loopback HTTP.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use efir_router::health::{spawn_poller, EdgeHealth, HealthBoard, HealthConfig, HealthTarget};
use efir_router::select::{EdgeId, EdgeState};
use tokio::sync::oneshot;

const OK: u8 = 0;
const UNAVAILABLE: u8 = 1;
const SLOW: u8 = 2;
const JSON: u8 = 3;

/// What the fake edge's `/health` answers, switchable by the test.
#[derive(Default)]
struct Behaviour {
    mode: AtomicU8,
    hits: AtomicU64,
}

/// A fake edge on 127.0.0.1.
struct FakeEdge {
    behaviour: Arc<Behaviour>,
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeEdge {
    async fn start() -> FakeEdge {
        let behaviour = Arc::new(Behaviour::default());
        let app = Router::new()
            .route("/health", get(health))
            .with_state(Arc::clone(&behaviour));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        FakeEdge {
            behaviour,
            url: format!("http://{addr}/health"),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    fn set(&self, mode: u8) {
        self.behaviour.mode.store(mode, Ordering::SeqCst);
    }

    fn hits(&self) -> u64 {
        self.behaviour.hits.load(Ordering::SeqCst)
    }

    /// Stops listening; later connections are refused.
    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .expect("server stops")
                .unwrap();
        }
    }
}

async fn health(State(b): State<Arc<Behaviour>>) -> Response {
    b.hits.fetch_add(1, Ordering::SeqCst);
    match b.mode.load(Ordering::SeqCst) {
        OK => "OK".into_response(),
        UNAVAILABLE => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        SLOW => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "OK".into_response()
        }
        _ => Json(serde_json::json!({"load": 42, "status": "fine"})).into_response(),
    }
}

/// A client that keeps no idle connections, so a stopped server is really
/// gone for it.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

fn cfg(rise: u32, fall: u32) -> HealthConfig {
    HealthConfig {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(300),
        rise,
        fall,
        load_window: Duration::from_secs(60),
    }
}

fn target(edge: EdgeId, url: &str) -> HealthTarget {
    HealthTarget {
        edge,
        name: format!("edge{edge}"),
        url: url.to_owned(),
    }
}

fn report_of(board: &HealthBoard, edge: EdgeId) -> EdgeHealth {
    board
        .report()
        .into_iter()
        .find(|h| h.edge == edge)
        .expect("edge in report")
}

#[tokio::test]
async fn goes_down_after_fall_and_up_after_rise() {
    let edge = FakeEdge::start().await;
    let board = HealthBoard::new(cfg(3, 2));
    board.set_targets(vec![target(1, &edge.url)]);
    let http = client();

    // Optimistic start, before any poll.
    assert!(board.state(1).healthy);
    let h = report_of(&board, 1);
    assert_eq!(h.last_checked_at, None);

    board.poll_once(&http).await;
    let h = report_of(&board, 1);
    assert!(h.healthy);
    assert_eq!(h.consecutive_successes, 1);
    assert!(h.last_checked_at.is_some());
    assert_eq!(h.last_error, "");
    assert_eq!(h.reported_load, None);

    edge.set(UNAVAILABLE);
    board.poll_once(&http).await;
    let h = report_of(&board, 1);
    assert!(h.healthy, "one failure is not enough with fall = 2");
    assert_eq!(h.consecutive_failures, 1);
    assert_eq!(h.consecutive_successes, 0);
    assert_eq!(h.last_error, "HTTP 503");
    assert!(board.state(1).healthy);

    board.poll_once(&http).await;
    assert!(!board.state(1).healthy, "down after exactly 2 failures");
    assert_eq!(report_of(&board, 1).consecutive_failures, 2);

    // More failures keep it down.
    board.poll_once(&http).await;
    assert!(!board.state(1).healthy);

    edge.set(OK);
    for n in 1..3 {
        board.poll_once(&http).await;
        let h = report_of(&board, 1);
        assert!(!h.healthy, "still down after {n} successes with rise = 3");
        assert_eq!(h.consecutive_successes, n);
        assert_eq!(h.consecutive_failures, 0);
        assert_eq!(h.last_error, "");
    }
    board.poll_once(&http).await;
    assert!(board.state(1).healthy, "up after exactly 3 successes");

    // A failure between successes resets the run: one failure, then up
    // stays up (fall = 2), and success counting restarts.
    edge.set(UNAVAILABLE);
    board.poll_once(&http).await;
    edge.set(OK);
    board.poll_once(&http).await;
    edge.set(UNAVAILABLE);
    board.poll_once(&http).await;
    assert!(board.state(1).healthy, "failures were not consecutive");
    assert_eq!(edge.hits(), 10);
}

#[tokio::test]
async fn connection_refused_goes_down() {
    let mut edge = FakeEdge::start().await;
    let board = HealthBoard::new(cfg(2, 2));
    board.set_targets(vec![target(1, &edge.url)]);
    let http = client();

    board.poll_once(&http).await;
    assert!(board.state(1).healthy);

    edge.stop().await;
    board.poll_once(&http).await;
    let h = report_of(&board, 1);
    assert!(h.healthy);
    assert_eq!(h.last_error, "connection refused");
    board.poll_once(&http).await;
    let h = report_of(&board, 1);
    assert!(!h.healthy);
    assert_eq!(h.consecutive_failures, 2);
    assert_eq!(h.last_error, "connection refused");
}

#[tokio::test]
async fn timeout_goes_down() {
    let edge = FakeEdge::start().await;
    let board = HealthBoard::new(cfg(2, 2));
    board.set_targets(vec![target(1, &edge.url)]);
    let http = client();
    edge.set(SLOW);

    let started = Instant::now();
    board.poll_once(&http).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "poll took {took:?}");
    let h = report_of(&board, 1);
    assert_eq!(h.last_error, "timeout after 300 ms");
    board.poll_once(&http).await;
    let h = report_of(&board, 1);
    assert!(!h.healthy);
    assert!(h.last_error.contains("timeout"), "{}", h.last_error);
}

#[tokio::test]
async fn polls_run_concurrently() {
    let slow = [
        FakeEdge::start().await,
        FakeEdge::start().await,
        FakeEdge::start().await,
    ];
    let board = HealthBoard::new(cfg(2, 1));
    board.set_targets(
        slow.iter()
            .enumerate()
            .map(|(i, e)| target(i as EdgeId + 1, &e.url))
            .collect(),
    );
    for e in &slow {
        e.set(SLOW);
    }
    let started = Instant::now();
    board.poll_once(&client()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(800), "poll took {took:?}");
    for id in 1..=3 {
        assert!(!board.state(id).healthy);
    }
}

#[tokio::test]
async fn reported_load_from_json() {
    let edge = FakeEdge::start().await;
    let board = HealthBoard::new(cfg(2, 2));
    board.set_targets(vec![target(1, &edge.url)]);
    let http = client();
    edge.set(JSON);

    board.poll_once(&http).await;
    assert_eq!(
        board.state(1),
        EdgeState {
            healthy: true,
            load: 42,
            mbps: 0
        }
    );
    assert_eq!(report_of(&board, 1).reported_load, Some(42));

    // Passive load wins when it is larger.
    for _ in 0..50 {
        board.record_redirect(1);
    }
    assert_eq!(board.state(1).load, 50);
    let h = report_of(&board, 1);
    assert_eq!(h.recent_redirects, 50);
    assert_eq!(h.reported_load, Some(42));

    // A plain answer clears the reported load.
    edge.set(OK);
    board.poll_once(&http).await;
    assert_eq!(report_of(&board, 1).reported_load, None);
}

#[tokio::test]
async fn edge_without_url_is_always_healthy() {
    let down = FakeEdge::start().await;
    down.set(UNAVAILABLE);
    let board = HealthBoard::new(cfg(2, 1));
    board.set_targets(vec![target(1, ""), target(2, &down.url)]);
    let http = client();
    for _ in 0..3 {
        board.poll_once(&http).await;
    }
    assert_eq!(board.state(1), EdgeState::UNKNOWN);
    let h = report_of(&board, 1);
    assert!(h.healthy);
    assert_eq!(h.last_checked_at, None);
    assert!(!board.state(2).healthy);
    // Not a target at all: unknown (healthy, load 0).
    assert_eq!(board.state(99), EdgeState::UNKNOWN);
}

#[tokio::test]
async fn redirects_leave_the_window() {
    let board = HealthBoard::new(HealthConfig {
        load_window: Duration::from_secs(1),
        ..HealthConfig::default()
    });
    board.set_targets(vec![target(1, ""), target(2, "")]);
    for _ in 0..7 {
        board.record_redirect(1);
    }
    board.record_redirect(2);
    board.record_redirect(99); // not a target: ignored
    assert_eq!(board.state(1).load, 7);
    assert_eq!(board.state(2).load, 1);
    assert_eq!(board.state(99).load, 0);

    tokio::time::sleep(Duration::from_millis(600)).await;
    board.record_redirect(1);
    assert_eq!(board.state(1).load, 8);

    // The first seven are older than the window now; the last is not.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(board.state(1).load, 1);
    assert_eq!(board.state(2).load, 0);
    assert_eq!(report_of(&board, 1).recent_redirects, 1);

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(board.state(1).load, 0);
}

#[tokio::test]
async fn set_targets_keeps_and_forgets() {
    let edge = FakeEdge::start().await;
    edge.set(UNAVAILABLE);
    let board = HealthBoard::new(cfg(2, 2));
    board.set_targets(vec![
        target(1, &edge.url),
        target(2, &edge.url),
        target(3, ""),
    ]);
    let http = client();
    board.poll_once(&http).await;
    board.poll_once(&http).await;
    assert!(!board.state(1).healthy);
    assert!(!board.state(2).healthy);
    for _ in 0..5 {
        board.record_redirect(1);
        board.record_redirect(2);
    }

    // Reload: 1 kept (renamed), 2 removed, 3 kept, 4 new.
    let mut renamed = target(1, &edge.url);
    renamed.name = "renamed".into();
    board.set_targets(vec![renamed, target(3, ""), target(4, &edge.url)]);

    let report = board.report();
    let ids: Vec<EdgeId> = report.iter().map(|h| h.edge).collect();
    assert_eq!(ids, vec![1, 3, 4]);
    let one = &report[0];
    assert_eq!(one.name, "renamed");
    assert!(!one.healthy);
    assert_eq!(one.consecutive_failures, 2);
    assert_eq!(one.recent_redirects, 5);
    assert_eq!(one.last_error, "HTTP 503");
    assert_eq!(board.state(1).load, 5);

    // Removed: forgotten.
    assert_eq!(board.state(2), EdgeState::UNKNOWN);

    // New: optimistic until `fall` failures.
    let four = &report[2];
    assert!(four.healthy);
    assert_eq!(four.consecutive_failures, 0);
    assert_eq!(four.last_checked_at, None);
    board.poll_once(&http).await;
    assert!(board.state(4).healthy);
    board.poll_once(&http).await;
    assert!(!board.state(4).healthy);

    // Re-adding a forgotten edge starts afresh.
    board.set_targets(vec![target(2, &edge.url)]);
    let h = report_of(&board, 2);
    assert!(h.healthy);
    assert_eq!(h.recent_redirects, 0);
    assert_eq!(h.consecutive_failures, 0);
}

#[tokio::test]
async fn poller_marks_dying_edge_down_and_stops() {
    let edge = FakeEdge::start().await;
    let board = HealthBoard::new(cfg(2, 2));
    board.set_targets(vec![target(1, &edge.url)]);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let poller = spawn_poller(Arc::clone(&board), client(), async move {
        let _ = stop_rx.await;
    });

    // The first pass runs at once.
    let deadline = Instant::now() + Duration::from_secs(2);
    while report_of(&board, 1).last_checked_at.is_none() {
        assert!(Instant::now() < deadline, "the poller never polled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(board.state(1).healthy);

    edge.set(UNAVAILABLE);
    let died = Instant::now();
    while board.state(1).healthy {
        assert!(
            died.elapsed() < Duration::from_millis(1500),
            "still healthy after {:?}",
            died.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // fall = 2 polls at 200 ms: within 2 intervals plus scheduling slack.
    let took = died.elapsed();
    assert!(
        took <= Duration::from_millis(700),
        "went down after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(100),
        "went down after {took:?}"
    );

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(1), poller)
        .await
        .expect("the poller stops")
        .unwrap();
    let hits = edge.hits();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(edge.hits(), hits, "polled after stop");
}

#[test]
fn concurrent_redirects_count_exactly() {
    let board = HealthBoard::new(HealthConfig::default());
    board.set_targets(vec![target(1, ""), target(2, "")]);
    const THREADS: u64 = 8;
    const EACH: u64 = 20_000;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let board = &board;
            s.spawn(move || {
                for i in 0..EACH {
                    board.record_redirect(if (i + t) % 4 == 0 { 2 } else { 1 });
                }
            });
        }
    });
    let total = THREADS * EACH;
    assert_eq!(board.state(1).load + board.state(2).load, total);
    assert_eq!(board.state(2).load, total / 4);
    assert_eq!(report_of(&board, 1).recent_redirects, total * 3 / 4);
}

#[test]
fn board_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<HealthBoard>();
    check::<Arc<HealthBoard>>();
}
