//! End-to-end tests: the global `init`, log files, JSON lines and HTTP
//! metrics served by a real axum router.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use efir_core::config::LogFormat;
use efir_core::Config;
use efir_telemetry::Telemetry;
use tower::ServiceExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// The process-wide telemetry of this test binary, with its log directory
/// and the syslog socket it sends to.
struct Global {
    telemetry: Telemetry,
    log_dir: PathBuf,
    /// Every syslog datagram received so far. A thread drains the socket
    /// from the start: a Unix datagram socket queues only a few messages,
    /// and other tests of this binary log too, so a late reader would miss
    /// them.
    syslog: Arc<Mutex<Vec<String>>>,
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let socket_path = dir.join("syslog.sock");
        let syslog = UnixDatagram::bind(&socket_path).unwrap();
        syslog
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut cfg = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        cfg.log.level = "info".into();
        cfg.log.format = LogFormat::Json;
        // Relative: resolved against data_dir.
        cfg.log.dir = Some(PathBuf::from("logs"));
        cfg.log.syslog = true;
        cfg.log.syslog_socket = socket_path.to_str().unwrap().to_owned();
        cfg.metrics.enabled = true;
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                if let Ok(n) = syslog.recv(&mut buf) {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock().unwrap().push(msg);
                }
            }
        });
        let telemetry = efir_telemetry::init(&cfg, "itest").unwrap();
        Global {
            telemetry,
            log_dir: efir_telemetry::log_file_dir(&dir.join("logs"), "itest"),
            syslog: received,
        }
    })
}

fn today_file(dir: &std::path::Path) -> PathBuf {
    dir.join(format!("{}.log", chrono::Utc::now().format("%Y-%m-%d")))
}

/// Waits up to two seconds for `check` to hold.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn init_sends_to_every_output() {
    let g = global();
    assert!(g.telemetry.prometheus().is_some());

    let marker = format!("global-marker-{}", std::process::id());
    tracing::warn!(marker = %marker, "init works");

    // Syslog: other tests may log through the global subscriber too, so
    // read until the marker shows up.
    let mut found = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while found.is_none() && Instant::now() < deadline {
        found = g
            .syslog
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.contains(&marker))
            .cloned();
        std::thread::sleep(Duration::from_millis(20));
    }
    let msg = found.expect("syslog message");
    // daemon (3) * 8 + warning (4) = 28.
    assert!(msg.starts_with("<28>"), "{msg}");
    assert!(
        msg.contains(&format!("efir-itest[{}]: ", std::process::id())),
        "{msg}"
    );

    // Daily file, JSON lines.
    let file = today_file(&g.log_dir);
    assert!(
        eventually(|| std::fs::read_to_string(&file).is_ok_and(|t| t.contains(&marker))),
        "no marker in {}",
        file.display()
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().find(|l| l.contains(&marker)).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["level"], "WARN");
    assert_eq!(v["fields"]["message"], "init works");

    // Described metrics show once recorded.
    efir_telemetry::record_db_query("init_test", Duration::from_millis(1));
    let metrics = g.telemetry.render_metrics();
    assert!(
        metrics.contains("# HELP efir_db_query_duration_seconds Time taken by database queries"),
        "{metrics}"
    );

    // A second init is tolerated and sees the same registry.
    let again = efir_telemetry::init(&Config::default(), "again").unwrap();
    assert!(again
        .render_metrics()
        .contains("efir_db_query_duration_seconds_count{op=\"init_test\"} 1"));
}

#[test]
fn file_writer_writes_daily_file() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, guard) = efir_telemetry::file_writer(dir.path(), "filetest").unwrap();
    let subscriber = tracing_subscriber::registry().with(efir_telemetry::fmt_layer(
        LogFormat::Text,
        writer,
        false,
    ));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("written to the daily file");
    });
    drop(guard);
    let host_dir = std::fs::read_dir(dir.path().join("filetest"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        host_dir,
        efir_telemetry::log_file_dir(dir.path(), "filetest")
    );
    let text = std::fs::read_to_string(today_file(&host_dir)).unwrap();
    assert!(text.contains("written to the daily file"), "{text}");
    assert!(text.contains("INFO"), "{text}");
}

#[test]
fn file_writer_reports_unwritable_dir() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("plain-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let err = efir_telemetry::file_writer(&blocker, "x").unwrap_err();
    assert!(err.to_string().starts_with("log.dir:"), "{err}");
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn json_format_writes_one_object_per_line() {
    let buf = Buffer::default();
    let subscriber = tracing_subscriber::registry().with(efir_telemetry::fmt_layer(
        LogFormat::Json,
        buf.clone(),
        true,
    ));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(channel = 42, "first");
        tracing::error!("second\nwith a newline");
    });
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["fields"]["message"], "first");
    assert_eq!(lines[0]["fields"]["channel"], 42);
    assert!(lines[0]["timestamp"].is_string());
    assert!(lines[0]["target"].is_string());
    assert_eq!(lines[1]["level"], "ERROR");
    assert_eq!(lines[1]["fields"]["message"], "second\nwith a newline");
}

fn app() -> Router {
    Router::new()
        .route("/x/{id}", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn(efir_telemetry::track_http))
}

async fn call(router: Router, uri: &str) -> StatusCode {
    router
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn http_metrics_use_route_templates() {
    let handle = global().telemetry.prometheus().unwrap();
    let router = app();
    for id in ["1", "2", "3"] {
        assert_eq!(
            call(router.clone(), &format!("/x/{id}")).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        call(router.clone(), "/nope/secret-1234").await,
        StatusCode::NOT_FOUND
    );

    // Served by the metrics router, merged in as an application would.
    let full = router.merge(efir_telemetry::metrics_router(handle));
    let response = full
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        efir_telemetry::PROMETHEUS_CONTENT_TYPE
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains(r#"efir_http_requests_total{method="GET",route="/x/{id}",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"efir_http_requests_total{method="GET",route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"efir_http_request_duration_seconds_bucket{method="GET",route="/x/{id}",le="0.0005"}"#
        ),
        "{text}"
    );
    assert!(!text.contains("secret-1234"), "{text}");
}
