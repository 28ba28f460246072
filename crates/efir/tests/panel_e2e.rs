//! The admin panel end to end, in a real browser: `efir serve` (API,
//! panel, router, ingest dispatcher and worker) on SQLite, two fake CDN
//! edges, a hot folder with a quick pipeline, and `e2e/panel.mjs` driving
//! headless Debian Chromium through playwright-core.
//!
//! The script logs in, creates a tariff, a channel, a customer and an
//! account through the forms, checks the channel in the account's device
//! API channel list, drains the edge the router sends a channel to and
//! watches the router move away from it, drops a file into the hot folder
//! and watches its job reach 100 %, opens a case with a task reminder and
//! sees the reminder fire (the script runs `efir manage
//! send-case-reminders` itself, through `EFIR_E2E_BIN`). Screenshots of the
//! main pages land in `$CARGO_TARGET_DIR/e2e-artifacts/`.
//!
//! Needs Chromium (`/usr/bin/chromium`, or `EFIR_E2E_CHROMIUM`), Node.js
//! and `npm ci --prefix e2e`; `scripts/test` installs all three. Without
//! them the test fails and says what is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{free_port, stderr, wait_http, Env, Running};

/// The repository's `e2e/` folder.
fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

/// Where screenshots and logs go: `$CARGO_TARGET_DIR/e2e-artifacts/`
/// (the target directory is found from the binary when the variable is
/// not set).
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // …/target/<profile>/efir
            let bin = Path::new(env!("CARGO_BIN_EXE_efir"));
            bin.parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_else(std::env::temp_dir)
        });
    target.join("e2e-artifacts")
}

fn chromium_path() -> String {
    std::env::var("EFIR_E2E_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Panics with a clear message when something the browser test needs is
/// missing (it is never skipped).
fn check_prerequisites() {
    let chromium = chromium_path();
    assert!(
        Path::new(&chromium).exists(),
        "the browser test needs Chromium at {chromium}: `apt-get install chromium` \
         (scripts/test does it) or set EFIR_E2E_CHROMIUM"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the browser test needs Node.js: `apt-get install nodejs npm` (scripts/test does it)"
    );
    assert!(
        e2e_dir()
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "the browser test needs playwright-core in {}: run `npm ci --prefix e2e` \
         (scripts/test does it)",
        e2e_dir().join("node_modules").display()
    );
    let ffmpeg = Command::new("ffmpeg").arg("-version").output();
    assert!(
        ffmpeg.as_ref().is_ok_and(|o| o.status.success()),
        "the browser test needs ffmpeg (scripts/test installs it)"
    );
}

/// A CDN edge that answers every request (its health URL) with 200.
async fn fake_edge() -> String {
    let app = axum::Router::new().fallback(|| async { "ok" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    base
}

/// A one-second test video, small enough for a quick pipeline.
fn make_sample(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=duration=1:size=160x90:rate=10")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(path)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const CONFIG: &str = r#"
[ingest]
heartbeat_secs = 0.5
lease_secs = 3.0
poll_secs = 0.2
worker_slots = 1
output_dir = "out"

[[ingest.hot_folder]]
name = "e2e"
path = "hot/e2e"
pipeline = "e2e"
stable_secs = 0.3
rescan_secs = 1.0

[[ingest.pipeline]]
name = "e2e"
max_attempts = 1
[[ingest.pipeline.step]]
kind = "probe"
[[ingest.pipeline.step]]
kind = "thumbnail"
count = 1
width = 160
"#;

const API_KEY: &str = "e2e-api-key-0001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_in_a_real_browser() {
    check_prerequisites();
    let env = Env::sqlite().await;
    let label = env.label();
    let artifacts = artifacts_dir();
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    println!("e2e artefacts (screenshots, logs): {}", artifacts.display());

    // Configuration, database, users.
    std::fs::create_dir_all(env.path("hot/e2e")).unwrap();
    std::fs::create_dir_all(env.path("out")).unwrap();
    let config = env.path("efir.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let migrate = env.manage(&["migrate"]);
    assert!(migrate.status.success(), "{label}: {}", stderr(&migrate));
    let client = env.manage_json(&[
        "create-client",
        "--name",
        "E2E TV",
        "--api-key",
        API_KEY,
        "--domain-prefix",
        "e2etv",
        "--email",
        "ops@e2e.tv",
    ]);
    let client_id = client["id"].as_i64().expect("client id").to_string();
    let out = env.manage(&[
        "createsuperuser",
        "--username",
        "root",
        "--password",
        "root-pw-e2e",
        "--email",
        "root@e2e.tv",
    ]);
    assert!(out.status.success(), "{label}: {}", stderr(&out));
    env.manage_json(&[
        "create-user",
        "--username",
        "opadmin",
        "--password",
        "op-pw-e2e",
        "--client-id",
        &client_id,
        "--is-admin",
    ]);

    // The CDN: every local address is in region "local", two edges there.
    std::fs::write(env.path("subnets.csv"), "127.0.0.0/8,local\n").unwrap();
    env.manage_json(&["router-import-subnets", "--file", "subnets.csv"]);
    let mut edges = Vec::new();
    for name in ["e2e-edge-a", "e2e-edge-b"] {
        let base = fake_edge().await;
        let health = format!("{base}/health");
        let out = env.manage(&[
            "router-edge-add",
            "--name",
            name,
            "--url",
            &base,
            "--region",
            "local",
            "--serves",
            "live,catchup,vod",
            "--health-url",
            &health,
        ]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        edges.push(format!("{name}={base}"));
    }

    // The sample file the script drops into the hot folder.
    let sample = env.path("e2e-sample.mp4");
    make_sample(&sample);

    // The server: everything but the scheduler (the script fires the
    // reminders itself, at a time it chooses).
    let port = free_port();
    let router_port = free_port();
    let log = artifacts.join("efir-serve.log");
    let mut cmd = env.cmd();
    cmd.env("EFIR_CONFIG", &config)
        .env("EFIR_ROUTER_LISTEN", format!("127.0.0.1:{router_port}"))
        .args([
            "serve",
            "--role",
            "api,router,dispatcher,worker",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ]);
    let mut server = Running::spawn(cmd, &log);
    let base = format!("http://127.0.0.1:{port}");
    let router = format!("http://127.0.0.1:{router_port}");
    wait_http(&format!("{base}/health"), &log).await;
    wait_http(&format!("{router}/health"), &log).await;

    // The browser scenario.
    let mut node = Command::new("node");
    for (k, _) in std::env::vars() {
        if k.starts_with("EFIR_") || k == "RUST_LOG" {
            node.env_remove(k);
        }
    }
    node.current_dir(e2e_dir())
        .arg("panel.mjs")
        .env("EFIR_E2E_BASE", &base)
        .env("EFIR_E2E_ROUTER", &router)
        .env("EFIR_E2E_CHROMIUM", chromium_path())
        .env("EFIR_E2E_ARTIFACTS", &artifacts)
        .env("EFIR_E2E_SUPERUSER", "root:root-pw-e2e")
        .env("EFIR_E2E_OPERATOR", "opadmin:op-pw-e2e")
        .env("EFIR_E2E_CLIENT_ID", &client_id)
        .env("EFIR_E2E_API_KEY", API_KEY)
        .env("EFIR_E2E_EDGES", edges.join(","))
        .env("EFIR_E2E_HOT_FOLDER", env.path("hot/e2e"))
        .env("EFIR_E2E_PIPELINE", "e2e")
        .env("EFIR_E2E_SAMPLE", &sample)
        // `efir manage …` as the script runs it: this database and config.
        .env("EFIR_E2E_BIN", env!("CARGO_BIN_EXE_efir"))
        .env("EFIR_E2E_MANAGE_DIR", env.dir.path())
        .env("EFIR_DATABASE_URL", &env.url)
        .env("EFIR_DATA_DIR", env.dir.path())
        .env("EFIR_CONFIG", &config);
    let out = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("run node e2e/panel.mjs");
    let node_log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(artifacts.join("panel.mjs.log"), &node_log).unwrap();
    let status = server.terminate(Duration::from_secs(20));
    assert!(
        out.status.success(),
        "e2e/panel.mjs failed ({:?}); screenshots and logs in {}\n--- node output ---\n{node_log}\n--- efir serve log (last 60 lines) ---\n{}",
        out.status,
        artifacts.display(),
        tail(&log, 60)
    );
    println!("{node_log}");
    assert!(status.success(), "efir serve exited with {status:?}");
    for shot in [
        "dashboard",
        "customers",
        "customer",
        "tariffs",
        "channels",
        "account",
        "edges",
        "job",
        "case",
        "notifications",
    ] {
        let png = artifacts.join(format!("{shot}.png"));
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "no screenshot {}", png.display());
    }
    env.cleanup().await;
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
