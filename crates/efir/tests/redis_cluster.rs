//! `cache.redis_cluster`: `efir manage flushall` against a real three-master
//! Redis Cluster removes Efir's keys from every master and nothing else.

mod common;

use std::process::Command;

use common::{stderr, Env};

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
