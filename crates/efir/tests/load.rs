//! The load generator (bench/load, binary `efir-load`) against a real
//! `efir serve --role api` and `efir router`: it seeds through the real
//! APIs, replays a day at a fixed arrival rate, reports every action with
//! percentiles, and counts failures when a part of Efir is down.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{free_port, stderr, wait_http, Env, Running};

/// `efir-load`, built next to `efir` by `cargo build --workspace`.
fn efir_load() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_efir")).with_file_name("efir-load");
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build -p efir-load` (scripts/test builds the workspace)",
        p.display()
    );
    p
}

fn load_cmd(sub: &str, api: &str, router: &str) -> Command {
    let mut c = Command::new(efir_load());
    c.arg(sub)
        .env_remove("EFIR_LOAD_API")
        .args(["--api", api, "--router", router])
        .args(["--api-key", "load-device", "--billing-key", "load-billing"])
        .args(["--content-key", "load-content"]);
    c
}

// Every action with the same weight, so that a short run exercises all.
const EVEN_DAY: &str = r#"
name = "even"
peak_rate = 40
max_in_flight = 256
timeout_secs = 10
[mix]
login = 1
channel_list = 1
category_list = 1
epg = 1
program_list = 1
channel_url = 1
router_redirect = 1
[[phase]]
name = "quiet"
share = 0.25
load = 0.5
[[phase]]
name = "peak"
share = 0.75
load = 1.0
"#;

/// An operator with the load generator's keys and a guide of 12 channels
/// (channels created from it), as `efir-load seed` needs.
fn operator_with_guide(env: &Env) {
    let ok = |o: std::process::Output, what: &str| {
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        o
    };
    ok(env.manage(&["migrate"]), "migrate");
    ok(
        env.manage(&[
            "create-client",
            "--name",
            "Load",
            "--api-key",
            "load-device",
            "--billing-api-key",
            "load-billing",
            "--content-api-key",
            "load-content",
            "--domain-prefix",
            "load",
            "--email",
            "load@example.com",
        ]),
        "create-client",
    );

    // The guide, imported with channels created for it.
    let guide = env.path("guide.xml");
    let out = Command::new(efir_load())
        .args(["xmltv", "--channels", "12", "--hours", "4", "--out"])
        .arg(&guide)
        .output()
        .unwrap();
    ok(out, "efir-load xmltv");
    let g = guide.to_str().unwrap();
    ok(
        env.manage(&[
            "epg-source-add",
            "--name",
            "load",
            "--url",
            g,
            "--client-id",
            "1",
        ]),
        "epg-source-add",
    );
    ok(
        env.manage(&["epg-import", "--client-id", "1", "--create-content"]),
        "epg-import",
    );
}

/// `efir serve --role api` on a free port (log in `api.log`), once it
/// answers `/health`; returns the process and its base URL.
async fn start_api(env: &Env) -> (Running, String) {
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let log = env.path("api.log");
    let mut serve = env.cmd();
    serve
        .args(["serve", "--role", "api", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("EFIR_SCHEDULER_BUILTIN", "false");
    let node = Running::spawn(serve, &log);
    wait_http(&format!("{api}/health"), &log).await;
    (node, api)
}

#[tokio::test(flavor = "multi_thread")]
async fn generator_runs_a_day_against_serve_and_router() {
    let env = Env::sqlite().await;
    let ok = |o: std::process::Output, what: &str| {
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        o
    };
    operator_with_guide(&env);

    // One region with one edge for the router.
    std::fs::write(env.path("subnets.csv"), "cidr,region\n127.0.0.0/8,r1\n").unwrap();
    let csv = env.path("subnets.csv");
    ok(
        env.manage(&["router-import-subnets", "--file", csv.to_str().unwrap()]),
        "router-import-subnets",
    );
    ok(
        env.manage(&[
            "router-edge-add",
            "--name",
            "e1",
            "--url",
            "http://edge1.example",
            "--region",
            "r1",
        ]),
        "router-edge-add",
    );

    let (_api, api) = start_api(&env).await;
    let router_port = free_port();
    let router = format!("http://127.0.0.1:{router_port}");
    let router_log = env.path("router.log");
    let mut r = env.cmd();
    r.args(["router", "--listen"])
        .arg(format!("127.0.0.1:{router_port}"));
    let mut router_node = Running::spawn(r, &router_log);
    wait_http(&format!("{router}/health"), &router_log).await;

    // Seed through the Billing and Content APIs.
    let out = load_cmd("seed", &api, &router)
        .args(["--subscribers", "60", "--concurrency", "4"])
        .output()
        .unwrap();
    assert!(out.status.success(), "seed: {}", stderr(&out));

    // The day: 8 s at up to 40 arrivals/s, every action evenly.
    let scenario = env.path("even.toml");
    std::fs::write(&scenario, EVEN_DAY).unwrap();
    let report_path = env.path("report.json");
    let out = load_cmd("run", &api, &router)
        .args(["--subscribers", "60", "--sessions", "20", "--seconds", "8"])
        .arg("--scenario")
        .arg(&scenario)
        .arg("--json")
        .arg(&report_path)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "run failed: {}\n{table}",
        stderr(&out)
    );
    println!("{table}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    for action in [
        "login",
        "channel_list",
        "category_list",
        "epg",
        "program_list",
        "channel_url",
        "router_redirect",
        "router_302_only",
    ] {
        let row = rows
            .iter()
            .find(|r| r["action"] == action)
            .unwrap_or_else(|| panic!("no {action} row in {report}"));
        assert!(row["ok"].as_u64().unwrap() > 0, "{action}: {row}");
        assert_eq!(row["errors"], 0, "{action}: {row}");
        assert!(row["p50_ms"].as_f64().unwrap() > 0.0, "{action}: {row}");
        assert!(
            row["p99_ms"].as_f64().unwrap() >= row["p50_ms"].as_f64().unwrap(),
            "{action}: {row}"
        );
    }
    // 0.25 * 8 s * 20/s + 0.75 * 8 s * 40/s = 280 arrivals, all sent.
    let total = report["totals"]["requests"].as_u64().unwrap();
    assert!((270..=290).contains(&total), "arrivals: {total}");
    assert_eq!(report["totals"]["dropped"], 0);

    // With the router down, zaps fail and the generator says so.
    router_node.terminate(std::time::Duration::from_secs(10));
    let out = load_cmd("run", &api, &router)
        .args(["--subscribers", "60", "--sessions", "5", "--seconds", "2"])
        .arg("--scenario")
        .arg(&scenario)
        .arg("--json")
        .arg(&report_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let zap = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "router_redirect")
        .unwrap();
    assert!(zap["errors"].as_u64().unwrap() > 0, "{zap}");
    assert_eq!(zap["ok"], 0, "{zap}");
    env.cleanup().await;
}

/// Resident and peak resident memory of a process, MiB.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Every account created through the Billing API costs one argon2 hash of
/// 19 MiB. Under glibc's malloc those blocks stayed in fragmented
/// per-thread heaps and an API node grew by gigabytes while subscribers
/// were added; with jemalloc and at most one hash per core at a time, the
/// node stays small.
#[tokio::test(flavor = "multi_thread")]
async fn api_node_memory_stays_small_while_accounts_are_created() {
    let env = Env::sqlite().await;
    operator_with_guide(&env);
    let (node, api) = start_api(&env).await;
    let (before, _) = memory_mib(node.pid());

    let out = load_cmd("seed", &api, "http://127.0.0.1:9")
        .args(["--subscribers", "300", "--concurrency", "8"])
        .output()
        .unwrap();
    assert!(out.status.success(), "seed: {}", stderr(&out));
    let (after, peak) = memory_mib(node.pid());
    println!("API node: {before} MiB at start, {after} MiB after 300 accounts (peak {peak} MiB)");
    assert!(
        after < before + 150,
        "the API node grew from {before} to {after} MiB over 300 account creations"
    );
    assert!(peak < before + 250, "peak {peak} MiB (start {before} MiB)");
    env.cleanup().await;
}
