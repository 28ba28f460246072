//! `efir manage cluster status` against real nodes on SQLite and
//! PostgreSQL: running nodes show up alive with their roles, a node that
//! stops leaves the list, a node that dies turns stale.

mod common;

use std::time::{Duration, Instant};

use common::{free_port, stderr, wait_http, Env, Running};

/// Polls `cluster status` until `check` holds (at most 20 s).
fn wait_status(
    env: &Env,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = env.manage_json(&["cluster", "status"]);
        if check(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {what} never happened: {v}",
            env.label()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
async fn nodes_report_alive_leave_when_stopped_and_turn_stale_when_killed() {
    for env in Env::both().await {
        assert!(env.manage(&["migrate"]).status.success());
        // Nothing runs yet: --require-alive fails.
        let out = env.manage(&["cluster", "status", "--require-alive"]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("no node is alive"),
            "{}",
            stderr(&out)
        );

        let port = free_port();
        let api_log = env.path("api.log");
        let mut cmd = env.cmd();
        cmd.args([
            "serve",
            "--role",
            "api",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ]);
        let mut api = Running::spawn(cmd, &api_log);
        wait_http(&format!("http://127.0.0.1:{port}/health"), &api_log).await;
        let mut cmd = env.cmd();
        cmd.args(["serve", "--role", "scheduler"]);
        let mut sched = Running::spawn(cmd, &env.path("scheduler.log"));

        let v = wait_status(&env, "two nodes alive", |v| v["alive"] == 2);
        let nodes = v["nodes"].as_array().unwrap();
        let api_node = nodes
            .iter()
            .find(|n| n["pid"] == api.pid())
            .unwrap_or_else(|| panic!("the API node is listed: {v}"));
        assert_eq!(api_node["roles"], "api");
        assert_eq!(api_node["listen"], format!("127.0.0.1:{port}"));
        assert_eq!(api_node["state"], "alive");
        assert_eq!(api_node["version"], env!("CARGO_PKG_VERSION"));
        assert!(api_node["rss_bytes"].as_i64().unwrap() > 0);
        let sched_node = nodes.iter().find(|n| n["pid"] == sched.pid()).unwrap();
        assert_eq!(sched_node["roles"], "scheduler");
        assert_eq!(sched_node["listen"], "");
        // The text form names both.
        let out = env.manage(&["cluster", "status", "--require-alive"]);
        assert!(out.status.success());
        let text = common::stdout(&out);
        assert!(text.starts_with("2 node(s) alive, 0 stale"), "{text}");

        // A node that stops cleanly leaves the list at once.
        assert!(api.terminate(Duration::from_secs(20)).success());
        let v = env.manage_json(&["cluster", "status"]);
        assert_eq!(v["nodes"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v["nodes"][0]["pid"], sched.pid());

        // A node that dies stays listed, and turns stale when its
        // heartbeats stop.
        let pid = sched.pid();
        let mut child = sched.0.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let v = env.manage_json(&["cluster", "status", "--stale-after", "1"]);
        assert_eq!(v["alive"], 0, "{v}");
        assert_eq!(v["nodes"][0]["pid"], pid);
        assert_eq!(v["nodes"][0]["state"], "stale");
        let out = env.manage(&["cluster", "status", "--stale-after", "0"]);
        assert!(!out.status.success(), "a zero window is refused");
        env.cleanup().await;
    }
}
