//! `cache.redis_cluster`: `efir manage flushall` against a real three-master
//! Redis Cluster removes Efir's keys from every master and nothing else.

mod common;

use std::process::Command;

use common::{device_login, stderr, Env};

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-c", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keys matching `pattern` on the one node at `port` (no redirection).
fn keys_on(port: u16, pattern: &str) -> usize {
    let out = Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--scan",
            "--pattern",
            pattern,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test]
async fn flushall_clears_efir_keys_on_every_master() {
    let cluster = efir_store::testing::RedisCluster::start();
    let env = Env::sqlite().await;
    let prefix = format!("efir-t{}:", efir_core::secret::random_hex(3));
    for i in 0..30 {
        cli(cluster.ports[0], &["set", &format!("{prefix}k{i}"), "v"]);
    }
    for i in 0..5 {
        cli(cluster.ports[0], &["set", &format!("other:k{i}"), "v"]);
    }
    for &p in &cluster.ports {
        assert!(
            keys_on(p, &format!("{prefix}*")) > 0,
            "30 keys spread over every master"
        );
    }
    let seeds = cluster.seeds().join(",");
    let out = env
        .cmd()
        .env("EFIR_CACHE_REDIS_CLUSTER", &seeds)
        .env("EFIR_CACHE_KEY_PREFIX", &prefix)
        .args(["manage", "flushall", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["redis_keys_removed"], 30, "{report}");
    for &p in &cluster.ports {
        assert_eq!(keys_on(p, &format!("{prefix}*")), 0, "port {p}");
    }
    let others: usize = cluster.ports.iter().map(|&p| keys_on(p, "other:*")).sum();
    assert_eq!(others, 5, "keys of others are kept");

    // Only one of redis_url and redis_cluster.
    let out = env
        .cmd()
        .env("EFIR_CACHE_REDIS_CLUSTER", &seeds)
        .env("EFIR_REDIS_URL", "redis://127.0.0.1:6379")
        .args(["manage", "flushall"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not both"), "{}", stderr(&out));
    env.cleanup().await;
}

async fn channel_names(base: &str, client_id: i64, key: &str) -> Vec<String> {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/tvmiddleware/api/channel/list/"))
        .query(&[
            ("client_id", client_id.to_string()),
            ("authkey", key.to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["channels"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn two_serve_processes_on_a_cluster_see_each_others_changes_within_a_second() {
    use common::{free_port, wait_http, Running};
    use std::time::{Duration, Instant};

    let cluster = efir_store::testing::RedisCluster::start();
    let env = Env::postgres().await;
    let sample = env.manage_json(&["setup-initial-data"]);
    let client_id = sample["sample_client_id"].as_i64().unwrap();
    let api_key = sample["api_key"].as_str().unwrap().to_string();
    let content_key = sample["content_api_key"].as_str().unwrap().to_string();
    let tariff = sample["sample"]["tariff"].as_i64().unwrap();
    let store = env.store().await;
    let hash = efir_core::password::hash("pw").unwrap();
    efir_store::with_db!(store.pool(), p => async {
        let customer: i64 = sqlx::query_scalar("INSERT INTO customer (client_id, created_at, updated_at) VALUES ($1, 0, 0) RETURNING id")
            .bind(client_id).fetch_one(p).await?;
        sqlx::query("INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES ($1, $2, 0)")
            .bind(customer).bind(tariff).execute(p).await?;
        sqlx::query("INSERT INTO account (client_id, customer_id, abonement, password_hash, created_at, updated_at) VALUES ($1, $2, '100', $3, 0, 0)")
            .bind(client_id).bind(customer).bind(&hash).execute(p).await?;
        Ok::<_, sqlx::Error>(())
    }.await).unwrap();
    store.close().await;

    let prefix = format!("efir-t{}:", efir_core::secret::random_hex(3));
    let seeds = cluster.seeds().join(",");
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let port = free_port();
        let log = env.path(&format!("serve-{name}.log"));
        let mut cmd = env.cmd();
        cmd.env("EFIR_CACHE_REDIS_CLUSTER", &seeds)
            .env("EFIR_CACHE_KEY_PREFIX", &prefix)
            .args([
                "serve",
                "--role",
                "api",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ]);
        let running = Running::spawn(cmd, &log);
        let base = format!("http://127.0.0.1:{port}");
        wait_http(&format!("{base}/health"), &log).await;
        nodes.push((running, base));
    }
    let (a, b) = (nodes[0].1.clone(), nodes[1].1.clone());

    let key = device_login(&b, &client_id.to_string(), &api_key, "100", "pw", "x").await;
    let before = channel_names(&b, client_id, &key).await;
    assert!(!before.iter().any(|n| n == "Cluster News"));

    // A channel added through node A's Content API.
    let mut pairs: Vec<(String, String)> = vec![
        ("name".into(), "Cluster News".into()),
        ("tariff_id".into(), tariff.to_string()),
        ("client_id".into(), client_id.to_string()),
    ];
    let sig = efir_middleware::api::signature(&pairs, &content_key);
    pairs.push(("signature".into(), sig));
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{a}/content/api/channel/create/"))
        .form(&pairs)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"], 0, "{v}");
    let written = Instant::now();
    let mut seen = Vec::new();
    while written.elapsed() < Duration::from_secs(1) {
        seen = channel_names(&b, client_id, &key).await;
        if seen.iter().any(|n| n == "Cluster News") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = written.elapsed();
    eprintln!("node B saw node A's change after {} ms", took.as_millis());
    assert!(
        seen.iter().any(|n| n == "Cluster News"),
        "node B still shows {seen:?} after {took:?} (it trusts its cache for 10 s without the published bump)"
    );
    for (mut running, _) in nodes {
        assert!(running.terminate(Duration::from_secs(15)).success());
    }
    env.cleanup().await;
    drop(cluster);
}
