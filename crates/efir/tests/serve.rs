//! `efir serve` as a process: endpoints, metrics, shutdown, scheduler.

mod common;

use std::time::Duration;

use common::{free_port, wait_http, Env, Running};

#[tokio::test]
async fn serve_answers_health_ready_metrics_and_stops_on_sigterm() {
    for env in Env::both().await {
        let port = free_port();
        let log = env.path("serve.log");
        let mut cmd = env.cmd();
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
        let mut efir = Running::spawn(cmd, &log);
        let base = format!("http://127.0.0.1:{port}");
        wait_http(&format!("{base}/health"), &log).await;

        let client = reqwest::Client::new();
        let health: serde_json::Value = client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["status"], "ok");
        let ready = client.get(format!("{base}/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{}", env.label());
        let ready: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(ready["database"], "ok");
        for _ in 0..3 {
            client.get(format!("{base}/health")).send().await.unwrap();
        }
        let missing = client
            .get(format!("{base}/no/such/page"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(
                "efir_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 5"
            ),
            "{metrics}"
        );
        assert!(metrics.contains("route=\"unmatched\",status=\"404\"} 1"));
        assert!(metrics.contains("efir_db_query_duration_seconds_bucket{op=\"ping\""));
        assert!(
            !metrics.contains("/no/such/page"),
            "raw paths are not labels"
        );

        let status = efir.terminate(Duration::from_secs(15));
        assert!(status.success(), "{}: exit {status:?}", env.label());
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("efir starting"), "{text}");
        assert!(text.contains(&format!("listening on http://127.0.0.1:{port}")));
        assert!(text.contains("SIGTERM received"));
        assert!(text.contains("efir stopped"));
        assert!(!text.contains(":postgres@"), "no credentials in logs");
        env.cleanup().await;
    }
}

#[tokio::test]
async fn migrations_can_be_left_to_the_operator() {
    let env = Env::sqlite().await;
    let out = env
        .cmd()
        .args(["serve", "--no-migrate", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "pending migrations: 1 (core), 2 (middleware), 3 (epg), 4 (router), 5 (ingest), 6 (admin), 7 (billing), 8 (messages), 9 (stats), 10 (cases), 11 (panel), 12 (nodes); run `efir manage migrate`"
        ),
        "{err}"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn scheduler_runs_a_job_once_across_two_processes() {
    let env = Env::postgres().await;
    let config = env.path("efir.toml");
    std::fs::write(
        &config,
        "[[schedule]]\nname = \"flush\"\ncron = \"* * * * * *\"\ncommand = \"flushall\"\n",
    )
    .unwrap();
    // Migrate first so both nodes start at once.
    assert!(env.manage(&["migrate"]).status.success());
    let mut nodes = Vec::new();
    for i in 0..2 {
        let mut cmd = env.cmd();
        cmd.args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--role",
            "scheduler",
        ]);
        nodes.push(Running::spawn(cmd, &env.path(&format!("node{i}.log"))));
    }
    tokio::time::sleep(Duration::from_millis(5500)).await;
    for n in &mut nodes {
        assert!(n.terminate(Duration::from_secs(15)).success());
    }
    let store = env.store().await;
    let runs = store.schedule_runs(Some("flush"), 1000).await.unwrap();
    assert!(runs.len() >= 3, "{runs:?}");
    assert!(runs.iter().all(|r| r.outcome == "ok"), "{runs:?}");
    // Every run bumped the epoch once: had a slot run on both nodes, the
    // epoch would be ahead of the number of runs.
    assert_eq!(store.cache_epoch().await.unwrap(), runs.len() as i64);
    let mut slots: Vec<i64> = runs.iter().map(|r| r.slot).collect();
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), runs.len());
    let events = store
        .audit_events(&efir_store::audit::AuditFilter {
            entity: Some("cache".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), runs.len());
    assert!(events.iter().all(|e| e.actor == "scheduler:flushall"));
    let logs: String = (0..2)
        .map(|i| std::fs::read_to_string(env.path(&format!("node{i}.log"))).unwrap())
        .collect();
    assert!(logs.contains("scheduled run finished"), "{logs}");
    store.close().await;
    env.cleanup().await;
}

/// `efir config check FILE`.
fn config_check(env: &Env, path: &std::path::Path) -> std::process::Output {
    env.cmd()
        .args(["config", "check", path.to_str().unwrap()])
        .output()
        .unwrap()
}

#[tokio::test]
async fn config_check_names_key_and_line() {
    let env = Env::sqlite().await;
    let path = env.path("efir.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:8080\"\n\n[database]\nmax_connections = \"ten\"\n",
    )
    .unwrap();
    let out = config_check(&env, &path);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("efir.toml:5: database.max_connections: invalid type"),
        "{err}"
    );

    std::fs::write(
        &path,
        "[[schedule]]\ncron = \"0 3 * * *\"\ncommand = \"flushall\"\n\n[[schedule]]\nname = \"x\"\ncron = \"0 4 * * *\"\ncommand = \"no-such-command\"\n",
    )
    .unwrap();
    let out = config_check(&env, &path);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("efir.toml:8: schedule[1].command: "), "{err}");
    assert!(err.contains("no-such-command"), "{err}");

    std::fs::write(&path, "[[schedule]]\ncron = \"0 3 * * *\"\ncommand = \"backup\"\nargs = [\"--output\", \"/tmp/efir-%Y%m%d.db\"]\n").unwrap();
    let out = config_check(&env, &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (database sqlite://"));

    let out = env
        .cmd()
        .args(["config", "check"])
        .env("EFIR_LOG_LEVEL", "loud")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("EFIR_LOG_LEVEL: log.level: "));

    // The shipped example is valid, and so are its commented-out entries.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../efir.example.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| r.starts_with('[') || r.contains(" = "))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    for body in [text.as_str(), uncommented.as_str()] {
        std::fs::write(&path, body).unwrap();
        let out = config_check(&env, &path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(uncommented.contains("\nredis_url = "), "{uncommented}");

    // The printed defaults are a valid configuration file.
    let out = env.cmd().args(["config", "default"]).output().unwrap();
    std::fs::write(&path, &out.stdout).unwrap();
    let out = config_check(&env, &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.cleanup().await;
}

#[tokio::test]
async fn ready_turns_503_when_the_database_goes_away() {
    let env = Env::postgres().await;
    let port = free_port();
    let log = env.path("serve.log");
    let mut cmd = env.cmd();
    cmd.args([
        "serve",
        "--role",
        "api",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let mut efir = Running::spawn(cmd, &log);
    let base = format!("http://127.0.0.1:{port}");
    wait_http(&format!("{base}/ready"), &log).await;

    // Refuse new connections to the test database and cut the open ones.
    let name = env.url.rsplit('/').next().unwrap().to_string();
    let admin = efir_store::Store::connect(
        &efir_store::testing::postgres_admin_url(),
        &Default::default(),
    )
    .await
    .unwrap();
    let efir_store::Pool::Postgres(pool) = admin.pool() else {
        unreachable!()
    };
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(pool)
        .await
        .unwrap();

    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on the database"
    );

    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(pool)
        .await
        .unwrap();
    let ready = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "ready again once the database is back");
    assert!(efir.terminate(Duration::from_secs(15)).success());
    admin.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn logs_go_to_daily_files_per_component_and_host_as_json() {
    let env = Env::sqlite().await;
    let logs = env.path("logs");
    let out = env
        .cmd()
        .args(["manage", "--log-level", "info", "flushall"])
        .env("EFIR_LOG_DIR", &logs)
        .env("EFIR_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let host = hostname::get().unwrap().into_string().unwrap();
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let file = logs.join("manage").join(&host).join(format!("{day}.log"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["level"], "INFO");
    assert!(text.contains("applied migration"), "{text}");
    env.cleanup().await;
}

#[tokio::test]
async fn metrics_also_go_to_statsd_when_configured() {
    let env = Env::sqlite().await;
    let statsd = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    statsd
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let statsd_port = statsd.local_addr().unwrap().port();
    let port = free_port();
    let log = env.path("serve.log");
    let mut cmd = env.cmd();
    cmd.args([
        "serve",
        "--role",
        "api",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("EFIR_STATSD_HOST", "127.0.0.1")
    .env("EFIR_STATSD_PORT", statsd_port.to_string())
    .env("EFIR_STATSD_PREFIX", "tv");
    let mut efir = Running::spawn(cmd, &log);
    wait_http(&format!("http://127.0.0.1:{port}/health"), &log).await;
    let mut seen = String::new();
    let mut buf = [0u8; 2048];
    while !seen.contains("tv.efir_http_requests_total:1|c") {
        let n = statsd.recv(&mut buf).expect("a statsd datagram");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.push('\n');
    }
    assert!(efir.terminate(Duration::from_secs(15)).success());
    env.cleanup().await;
}

#[tokio::test]
async fn config_show_hides_secrets() {
    let env = Env::sqlite().await;
    let out = env
        .cmd()
        .args(["config", "show"])
        .env(
            "EFIR_DATABASE_URL",
            "postgres://efir:hunter2@db.example/efir",
        )
        .env("EFIR_SENTRY_DSN", "https://abcdef@sentry.example/1")
        .env("EFIR_ROUTER_ADMIN_TOKEN", "router-admin-token-1234")
        .env("EFIR_ROUTER_SECURE_LINK_SECRET", "edge-secret-5678")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("url = \"postgres://efir:***@db.example/efir\""),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("abcdef"),
        "{text}"
    );
    assert!(
        !text.contains("router-admin-token") && !text.contains("edge-secret"),
        "{text}"
    );
    // A short admin token is refused.
    let out = env
        .cmd()
        .args(["config", "check"])
        .env("EFIR_ROUTER_ADMIN_TOKEN", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("router.admin_token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.cleanup().await;
}

#[tokio::test]
async fn subscriber_address_comes_from_trusted_proxies_only() {
    let env = Env::sqlite().await;
    let sample = env.manage_json(&["setup-initial-data"]);
    let api_key = sample["api_key"].as_str().unwrap().to_string();
    let tariff = sample["sample"]["tariff"].as_i64().unwrap();
    let store = env.store().await;
    let hash = efir_core::password::hash("pw").unwrap();
    efir_store::with_db!(store.pool(), p => async {
        let customer: i64 = sqlx::query_scalar("INSERT INTO customer (client_id, created_at, updated_at) VALUES (1, 0, 0) RETURNING id")
            .fetch_one(p).await?;
        sqlx::query("INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES ($1, $2, 0)")
            .bind(customer).bind(tariff).execute(p).await?;
        sqlx::query("INSERT INTO account (client_id, customer_id, abonement, password_hash, created_at, updated_at) VALUES (1, $1, '100', $2, 0, 0)")
            .bind(customer).bind(&hash).execute(p).await?;
        Ok::<_, sqlx::Error>(())
    }.await).unwrap();
    store.close().await;

    for (trusted, expected) in [(None, "198.51.100.9"), (Some("10.0.0.0/8"), "127.0.0.1")] {
        let port = free_port();
        let log = env.path("serve.log");
        let mut cmd = env.cmd();
        cmd.args([
            "serve",
            "--role",
            "api",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ]);
        if let Some(t) = trusted {
            cmd.env("EFIR_API_TRUSTED_PROXIES", t);
        }
        let mut efir = Running::spawn(cmd, &log);
        let base = format!("http://127.0.0.1:{port}");
        wait_http(&format!("{base}/health"), &log).await;
        let login: serde_json::Value = reqwest::Client::new()
            .get(format!("{base}/tvmiddleware/api/login/"))
            .query(&[
                ("client_id", "1"),
                ("api_key", &api_key),
                ("abonement", "100"),
                ("password", "pw"),
                ("device_uid", "x"),
            ])
            .header("X-Real-IP", "198.51.100.9")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(login["error"], 0, "{login}");
        assert_eq!(login["ip_address"], expected, "trusted proxies {trusted:?}");
        assert!(efir.terminate(Duration::from_secs(15)).success());
    }
    env.cleanup().await;
}
