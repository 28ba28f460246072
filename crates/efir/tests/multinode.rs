//! Scale-out on loopback: a PostgreSQL primary with a streaming read
//! replica (made by this test with initdb, pg_basebackup -R and pg_ctl),
//! Redis, two `efir serve` API nodes (A, B) with `database.replicas` and one
//! `efir router` node, all sharing the database and Redis.
//!
//! Measured and asserted: a change made through node A is visible through
//! node B's device API within one second; a router edge change reaches the
//! router node within its reload period; a replica outage and a stalled
//! replica fail no device API read (the replica is taken out and comes
//! back); killing node A with SIGKILL in the middle of a stream of writes
//! loses none it acknowledged, and A turns stale in `cluster status`
//! while B stays alive.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{device_login, free_port, wait_http, Running};
use serde_json::Value;

/// The newest installed PostgreSQL server's programs
/// (`/usr/lib/postgresql/<version>/bin`, installed by `scripts/test`).
fn pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server programs under /usr/lib/postgresql (scripts/test installs them)")
        .filter_map(|e| {
            let e = e.ok()?;
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("no initdb under /usr/lib/postgresql/*/bin")
}

/// Runs a PostgreSQL program, as the `postgres` OS user when we are root
/// (the server refuses to run as root).
fn pg_cmd(program: &str) -> Command {
    let bin = pg_bin().join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&bin);
        c
    } else {
        Command::new(bin)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(mut c: Command, what: &str) {
    let out = c.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One PostgreSQL server in a directory of the test; stopped (immediately)
/// when dropped.
struct Pg {
    data: PathBuf,
    port: u16,
}

impl Pg {
    fn ctl(&self, args: &[&str]) -> std::process::Output {
        let mut c = pg_cmd("pg_ctl");
        c.arg("-D").arg(&self.data).args(args).stdin(Stdio::null());
        c.output().unwrap()
    }

    fn start(&self) {
        let log = self.data.with_extension("log");
        let out = self.ctl(&["-w", "-t", "60", "-l", log.to_str().unwrap(), "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn stop_immediately(&self) {
        let out = self.ctl(&["-m", "immediate", "-w", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self, password: Option<&str>) -> String {
        match password {
            Some(pw) => format!("postgres://postgres:{pw}@127.0.0.1:{}/efir", self.port),
            None => format!("postgres://postgres@127.0.0.1:{}/efir", self.port),
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.ctl(&["-m", "immediate", "-w", "stop"]);
    }
}

/// Settings of both servers: loopback only, sockets in the test's
/// directory, streaming replication.
fn configure(data: &Path, port: u16, sockets: &Path) {
    let conf = format!(
        "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
         wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n\
         full_page_writes = off\nmax_connections = 100\n",
        sockets.display()
    );
    let path = data.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&conf);
    std::fs::write(&path, text).unwrap();
}

/// A primary and a streaming replica of it.
async fn primary_and_replica(dir: &Path) -> (Pg, Pg) {
    let sockets = dir.join("sockets");
    std::fs::create_dir_all(&sockets).unwrap();
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("-R").arg("postgres:postgres").arg(dir);
                c
            },
            "chown",
        );
    }
    let primary = Pg {
        data: dir.join("primary"),
        port: free_port(),
    };
    let mut c = pg_cmd("initdb");
    c.arg("-D").arg(&primary.data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    ]);
    let t = Instant::now();
    run(c, "initdb");
    println!("initdb {:?}", t.elapsed());
    configure(&primary.data, primary.port, &sockets);
    primary.start();
    let mut c = pg_cmd("psql");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &primary.port.to_string(),
        "-U",
        "postgres",
        "-c",
        "CREATE DATABASE efir",
    ]);
    run(c, "CREATE DATABASE");

    let replica = Pg {
        data: dir.join("replica"),
        port: free_port(),
    };
    let mut c = pg_cmd("pg_basebackup");
    c.args(["-h", "127.0.0.1", "-p", &primary.port.to_string()])
        .args([
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "--no-sync",
            "--checkpoint=fast",
            "-D",
        ])
        .arg(&replica.data);
    println!("primary up {:?}", t.elapsed());
    run(c, "pg_basebackup");
    println!("basebackup {:?}", t.elapsed());
    configure(&replica.data, replica.port, &sockets);
    replica.start();
    println!("replica up {:?}", t.elapsed());
    // Streaming?
    let pool = sqlx::PgPool::connect(&primary.url(None)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let streaming: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_replication WHERE state = 'streaming'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if streaming == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the replica never streamed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.close().await;
    (primary, replica)
}

/// How every node is started.
struct Cluster {
    dir: PathBuf,
    primary_url: String,
    replica_url: String,
    redis_url: String,
    prefix: String,
}

impl Cluster {
    fn cmd(&self, node: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_efir"));
        for (k, _) in std::env::vars() {
            if k.starts_with("EFIR_") || k == "RUST_LOG" {
                c.env_remove(k);
            }
        }
        let data = self.dir.join(node);
        std::fs::create_dir_all(&data).unwrap();
        c.current_dir(&data)
            .env("EFIR_DATABASE_URL", &self.primary_url)
            .env("EFIR_DATABASE_REPLICAS", &self.replica_url)
            .env("EFIR_DATABASE_REPLICA_MAX_LAG_SECS", "2")
            .env("EFIR_DATABASE_REPLICA_CHECK_SECS", "1")
            .env("EFIR_REDIS_URL", &self.redis_url)
            .env("EFIR_CACHE_KEY_PREFIX", &self.prefix)
            .env("EFIR_METRICS_ENABLED", "true")
            .env("EFIR_DATA_DIR", &data)
            .env("EFIR_ROUTER_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null());
        c
    }

    fn manage_json(&self, args: &[&str]) -> Value {
        let out = self
            .cmd("manage")
            .arg("manage")
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "efir manage {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn manage(&self, args: &[&str]) {
        let out = self
            .cmd("manage")
            .arg("manage")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "efir manage {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `efir serve --role api` as node `name`; its base URL.
    async fn api_node(&self, name: &str) -> (Running, String) {
        let port = free_port();
        let log = self.dir.join(format!("{name}.log"));
        let mut c = self.cmd(name);
        c.args(["serve", "--role", "api", "--listen"])
            .arg(format!("127.0.0.1:{port}"));
        let node = Running::spawn(c, &log);
        let base = format!("http://127.0.0.1:{port}");
        wait_http(&format!("{base}/health"), &log).await;
        (node, base)
    }
}

/// The operator's keys.
struct Operator {
    id: String,
    api_key: String,
    billing_key: String,
    content_key: String,
    tariff: String,
}

async fn signed(
    http: &reqwest::Client,
    base: &str,
    api: &str,
    key: &str,
    op: &Operator,
    method: &str,
    params: &[(&str, &str)],
) -> Result<Value, String> {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.push(("client_id".into(), op.id.clone()));
    let sig = efir_middleware::api::signature(&pairs, key);
    pairs.push(("signature".into(), sig));
    let res = http
        .post(format!("{base}/{api}/api/{method}/"))
        .form(&pairs)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = res.json().await.map_err(|e| e.to_string())?;
    if v["error"] != 0 {
        return Err(format!("{api} {method}: {v}"));
    }
    Ok(v)
}

/// A device API call on `base`; `Err` on any failure.
async fn device(
    http: &reqwest::Client,
    base: &str,
    op: &Operator,
    key: &str,
    method: &str,
    params: &[(&str, &str)],
) -> Result<Value, String> {
    let mut q: Vec<(&str, &str)> = vec![("client_id", &op.id), ("authkey", key)];
    q.extend_from_slice(params);
    let res = http
        .get(format!("{base}/tvmiddleware/api/{method}/"))
        .query(&q)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("{method}: HTTP {}", res.status()));
    }
    let v: Value = res.json().await.map_err(|e| e.to_string())?;
    if v.get("error").is_some_and(|e| *e != 0) {
        return Err(format!("{method}: {v}"));
    }
    Ok(v)
}

fn names(v: &Value) -> Vec<String> {
    v["channels"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A sample of `name{labels}` from `/metrics` (0 when absent).
async fn metric(http: &reqwest::Client, base: &str, name: &str, label: &str) -> f64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split([' ', '{']).next() == Some(name) && (label.is_empty() || l.contains(label))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits (at most `within`) until `metric` satisfies `check`; its value.
async fn wait_metric(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    label: &str,
    within: Duration,
    check: impl Fn(f64) -> bool,
) -> (f64, Duration) {
    let started = Instant::now();
    loop {
        let v = metric(http, base, name, label).await;
        if check(v) {
            return (v, started.elapsed());
        }
        assert!(
            started.elapsed() < within,
            "{name}{label} stayed at {v} for {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Device API reads against `base` for `secs`, while `during` runs; the
/// number of reads and the failures.
async fn read_loop(
    http: &reqwest::Client,
    base: &str,
    op: &Operator,
    key: &str,
    cid: &str,
    expected_uri: &str,
    until: Instant,
) -> (usize, Vec<String>) {
    let mut reads = 0;
    let mut failures = Vec::new();
    while Instant::now() < until {
        for (method, params) in [
            ("channel/url", vec![("cid", cid), ("redirect", "0")]),
            ("channel/list", vec![]),
            ("category/list", vec![]),
        ] {
            reads += 1;
            match device(http, base, op, key, method, &params).await {
                Ok(v) if method == "channel/url" && v["uri"] != expected_uri => {
                    failures.push(format!("channel/url: stale {v}"))
                }
                Ok(_) => {}
                Err(e) => failures.push(e),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (reads, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_api_nodes_a_router_and_a_read_replica() {
    let total = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (primary, replica) = primary_and_replica(&dir).await;
    println!("primary and streaming replica up in {:?}", total.elapsed());
    let redis_url =
        std::env::var("EFIR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let cluster = Cluster {
        dir: dir.clone(),
        primary_url: primary.url(None),
        replica_url: replica.url(Some("replica-secret")),
        redis_url,
        prefix: format!("efir-multinode-{}:", efir_core::secret::random_hex(4)),
    };
    cluster.manage(&["migrate"]);
    let sample = cluster.manage_json(&["setup-initial-data"]);
    let op = Operator {
        id: sample["sample_client_id"].to_string(),
        api_key: sample["api_key"].as_str().unwrap().to_string(),
        billing_key: sample["billing_api_key"].as_str().unwrap().to_string(),
        content_key: sample["content_api_key"].as_str().unwrap().to_string(),
        tariff: sample["sample"]["tariff"].to_string(),
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let (mut node_a, a) = cluster.api_node("a").await;
    let (_node_b, b) = cluster.api_node("b").await;
    // Both see the replica healthy.
    for base in [&a, &b] {
        wait_metric(
            &http,
            base,
            "efir_db_replicas_healthy",
            "",
            Duration::from_secs(10),
            |v| v == 1.0,
        )
        .await;
    }

    // A subscriber, made through A's Billing API, logs in on B.
    let billing = |method: &'static str, params: Vec<(&'static str, String)>| {
        let (http, a, op) = (&http, &a, &op);
        async move {
            let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            signed(http, a, "billing", &op.billing_key, op, method, &p).await
        }
    };
    let customer = billing("customer/create", vec![("firstname", "Ann".into())])
        .await
        .unwrap()["customer_id"]
        .to_string();
    billing(
        "customer/tariff/assign",
        vec![
            ("customer_id", customer.clone()),
            ("tariff_id", op.tariff.clone()),
        ],
    )
    .await
    .unwrap();
    billing(
        "account/create",
        vec![
            ("customer_id", customer.clone()),
            ("abonement", "5001".into()),
            ("password", "pw-5001".into()),
        ],
    )
    .await
    .unwrap();
    let key = device_login(&b, &op.id, &op.api_key, "5001", "pw-5001", "box-1").await;
    let before = names(
        &device(&http, &b, &op, &key, "channel/list", &[])
            .await
            .unwrap(),
    );
    assert!(!before.is_empty(), "the sample channels are listed");

    // 1. A change on A (a new channel through the Content API) is visible
    //    through B's device API within a second.
    let content = |method: &'static str, params: Vec<(&'static str, String)>| {
        let (http, a, op) = (&http, &a, &op);
        async move {
            let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            signed(http, a, "content", &op.content_key, op, method, &p).await
        }
    };
    let started = Instant::now();
    let made = content(
        "channel/create",
        vec![
            ("name", "Fresh News".into()),
            ("tariff_id", op.tariff.clone()),
            ("uri", "http://origin.example/fresh-1.m3u8".into()),
        ],
    )
    .await
    .unwrap();
    let cid = made["channel"]["id"].to_string();
    loop {
        let now = names(
            &device(&http, &b, &op, &key, "channel/list", &[])
                .await
                .unwrap(),
        );
        if now.iter().any(|n| n == "Fresh News") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B does not list the channel A created after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let visible = started.elapsed();
    // And a changed stream URL: B's channel/url follows.
    let started = Instant::now();
    content(
        "channel/modify",
        vec![
            ("id", cid.clone()),
            ("uri", "http://origin.example/fresh-2.m3u8".into()),
        ],
    )
    .await
    .unwrap();
    loop {
        let v = device(
            &http,
            &b,
            &op,
            &key,
            "channel/url",
            &[("cid", &cid), ("redirect", "0")],
        )
        .await
        .unwrap();
        if v["uri"] == "http://origin.example/fresh-2.m3u8" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B still gives {v} after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let url_visible = started.elapsed();
    println!(
        "a change on A visible on B: new channel in {visible:?}, changed URL in {url_visible:?} (limit 1 s)"
    );
    let replica_reads = metric(&http, &b, "efir_db_reads_total", "target=\"replica\"").await;
    assert!(replica_reads > 0.0, "B read from the replica");

    // 2. The router node follows an edge change made on the database.
    std::fs::write(
        dir.join("zones.json"),
        r#"{"revision": "1", "customerName": "acme", "coverageZones": {
            "north": {"network": ["10.0.0.0/8"]}}}"#,
    )
    .unwrap();
    let zones = dir.join("zones.json");
    cluster.manage(&["router-import-subnets", "--file", zones.to_str().unwrap()]);
    cluster.manage(&[
        "router-edge-add",
        "--name",
        "n1",
        "--url",
        "http://n1.cdn.example",
        "--region",
        "north",
        "--serves",
        "live",
    ]);
    let router_port = free_port();
    let router_log = dir.join("router.log");
    let mut c = cluster.cmd("router");
    c.args(["router", "--listen"])
        .arg(format!("127.0.0.1:{router_port}"));
    let _router = Running::spawn(c, &router_log);
    let r = format!("http://127.0.0.1:{router_port}");
    wait_http(&format!("{r}/health"), &router_log).await;
    let location = || async {
        let res = http
            .get(format!("{r}/btv/live/hls/ch1.m3u8"))
            .header("x-real-ip", "10.1.2.3")
            .send()
            .await
            .unwrap();
        res.headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(location().await.starts_with("http://n1."));
    cluster.manage(&[
        "router-edge-add",
        "--name",
        "n2",
        "--url",
        "http://n2.cdn.example",
        "--region",
        "north",
        "--serves",
        "live",
    ]);
    // Draining n1 (a command on the shared database) moves the router
    // node to n2; timed from the command's start.
    let started = Instant::now();
    cluster.manage(&["router-edge-set", "--name", "n1", "--drain", "true"]);
    let committed = started.elapsed();
    loop {
        if location().await.starts_with("http://n2.") {
            break;
        }
        assert!(
            started.elapsed() < committed + Duration::from_secs(2),
            "the router node still sends to n1 {:?} after the change",
            started.elapsed() - committed
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let router_follow = started.elapsed();
    println!(
        "router node follows an edge drain {router_follow:?} after the command started (the command itself took {committed:?}; reload period 2 s)"
    );

    // 3. Replica outage under a read loop against B: no read fails; the
    //    replica is taken out, then back in use once it is up again.
    let uri = "http://origin.example/fresh-2.m3u8";
    let retries_before = metric(&http, &b, "efir_db_replica_read_retries_total", "").await;
    let primary_before = metric(&http, &b, "efir_db_reads_total", "target=\"primary\"").await;
    let until = Instant::now() + Duration::from_secs(5);
    let reads = read_loop(&http, &b, &op, &key, &cid, uri, until);
    let outage = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        replica.stop_immediately();
        Instant::now()
    };
    let ((count, failures), stopped_at) = tokio::join!(reads, outage);
    assert!(
        failures.is_empty(),
        "reads failed during the outage: {failures:?}"
    );
    let healthy = metric(&http, &b, "efir_db_replicas_healthy", "").await;
    assert_eq!(healthy, 0.0, "the stopped replica is out of use");
    let retries =
        metric(&http, &b, "efir_db_replica_read_retries_total", "").await - retries_before;
    let on_primary =
        metric(&http, &b, "efir_db_reads_total", "target=\"primary\"").await - primary_before;
    assert!(
        on_primary > 0.0,
        "reads went to the primary during the outage"
    );
    println!(
        "replica outage: {count} device API reads on B in 5 s, 0 failed; {retries} read(s) retried on the primary, {on_primary} primary reads; stopped {:?} before the end of the loop",
        Instant::now().saturating_duration_since(stopped_at)
    );
    let replica_before = metric(&http, &b, "efir_db_reads_total", "target=\"replica\"").await;
    replica.start();
    let (_, back) = wait_metric(
        &http,
        &b,
        "efir_db_replicas_healthy",
        "",
        Duration::from_secs(15),
        |v| v == 1.0,
    )
    .await;
    let until = Instant::now() + Duration::from_millis(500);
    let (_, failures) = read_loop(&http, &b, &op, &key, &cid, uri, until).await;
    assert!(failures.is_empty(), "{failures:?}");
    let replica_after = metric(&http, &b, "efir_db_reads_total", "target=\"replica\"").await;
    assert!(
        replica_after > replica_before,
        "the replica is read again ({replica_before} -> {replica_after})"
    );
    println!("replica back in use {back:?} after its restart");

    // 4. A stalled replica (replay paused) is taken out, and reads stay
    //    current.
    let rpool = sqlx::PgPool::connect(&replica.url(None)).await.unwrap();
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&rpool)
        .await
        .unwrap();
    let paused = Instant::now();
    let mut n = 3;
    let mut out_after = None;
    let mut latest = String::new();
    while paused.elapsed() < Duration::from_secs(10) {
        latest = format!("http://origin.example/fresh-{n}.m3u8");
        content(
            "channel/modify",
            vec![("id", cid.clone()), ("uri", latest.clone())],
        )
        .await
        .unwrap();
        n += 1;
        let v = device(
            &http,
            &b,
            &op,
            &key,
            "channel/url",
            &[("cid", &cid), ("redirect", "0")],
        )
        .await
        .unwrap();
        if metric(&http, &b, "efir_db_replicas_healthy", "").await == 0.0 {
            out_after = Some(paused.elapsed());
            // Out of use: reads are current.
            let v = device(
                &http,
                &b,
                &op,
                &key,
                "channel/url",
                &[("cid", &cid), ("redirect", "0")],
            )
            .await
            .unwrap();
            assert_eq!(v["uri"], latest.as_str());
            break;
        }
        let _ = v;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out_after = out_after.expect("the stalled replica was never taken out");
    assert!(out_after < Duration::from_secs(6), "{out_after:?}");
    let until = Instant::now() + Duration::from_secs(1);
    let (count, failures) = read_loop(&http, &b, &op, &key, &cid, &latest, until).await;
    assert!(failures.is_empty(), "stale or failed reads: {failures:?}");
    println!(
        "replica with replay paused taken out {out_after:?} after the pause (max lag 2 s, checks every 1 s); then {count} reads, all current"
    );
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&rpool)
        .await
        .unwrap();
    rpool.close().await;
    wait_metric(
        &http,
        &b,
        "efir_db_replicas_healthy",
        "",
        Duration::from_secs(10),
        |v| v == 1.0,
    )
    .await;

    // 5. SIGKILL A in the middle of a stream of acknowledged writes: every
    //    one is there, read through B.
    let writer = {
        let (http, a, op) = (http.clone(), a.clone(), op_clone(&op));
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut errors = Vec::new();
            for i in 0..100_000 {
                let name = format!("Kill{i}");
                let r = signed(
                    &http,
                    &a,
                    "billing",
                    &op.billing_key,
                    &op,
                    "customer/create",
                    &[("firstname", &name)],
                )
                .await;
                match r {
                    Ok(v) => acked.push(v["customer_id"].to_string()),
                    Err(e) => {
                        errors.push((Instant::now(), e));
                        if errors.len() > 3 {
                            break;
                        }
                    }
                }
            }
            (acked, errors)
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let a_pid = node_a.pid();
    let mut child = node_a.0.take().unwrap();
    let killed_at = Instant::now();
    child.kill().unwrap();
    child.wait().unwrap();
    let (acked, errors) = writer.await.unwrap();
    // The stream was still going when A died: its first failure came after.
    let first_error = errors.first().expect("writes to a dead node fail");
    assert!(
        first_error.0 >= killed_at,
        "a write failed before the kill: {}",
        first_error.1
    );
    assert!(
        acked.len() > 5,
        "writes were made before the kill: {}",
        acked.len()
    );
    for id in &acked {
        let v = signed(
            &http,
            &b,
            "billing",
            &op.billing_key,
            &op,
            "customer/info",
            &[("customer_id", id)],
        )
        .await;
        assert!(v.is_ok(), "acknowledged customer {id} is lost: {v:?}");
    }
    println!(
        "SIGKILL of A after {} acknowledged writes: all {} found through B",
        acked.len(),
        acked.len()
    );

    // A turns stale in cluster status, B stays alive; the replica shows.
    let started = Instant::now();
    let status = loop {
        let v = cluster.manage_json(&["cluster", "status", "--stale-after", "6"]);
        let nodes = v["nodes"].as_array().unwrap().clone();
        let a_row = nodes.iter().find(|n| n["pid"] == a_pid).cloned();
        if a_row.as_ref().is_some_and(|n| n["state"] == "stale") {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "A never turned stale: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let b_pid = _node_b.pid();
    let b_row = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["pid"] == b_pid)
        .unwrap_or_else(|| panic!("B is listed: {status}"));
    assert_eq!(b_row["state"], "alive", "{status}");
    let replicas = status["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 1, "{status}");
    assert_eq!(replicas[0]["healthy"], true, "{status}");
    let shown = replicas[0]["url"].as_str().unwrap();
    assert!(
        !shown.contains("replica-secret") && shown.contains(&replica.port.to_string()),
        "{shown}"
    );
    println!(
        "A stale in cluster status {:?} after the kill; B alive; total {:?}",
        started.elapsed(),
        total.elapsed()
    );
}

fn op_clone(op: &Operator) -> Operator {
    Operator {
        id: op.id.clone(),
        api_key: op.api_key.clone(),
        billing_key: op.billing_key.clone(),
        content_key: op.content_key.clone(),
        tariff: op.tariff.clone(),
    }
}
