//! `efir manage router-*` and `efir router` processes: two router nodes on
//! one database follow a configuration change without a restart.

mod common;

use std::time::Duration;

use common::{free_port, stderr, wait_http, Env, Running};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn location(base: &str, ip: &str) -> (u16, String) {
    let r = http()
        .get(format!("{base}/btv/live/hls/ch1.m3u8"))
        .header("x-real-ip", ip)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, loc)
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_and_two_router_nodes() {
    for env in Env::both().await {
        let label = env.label();
        let migrate = env.manage(&["migrate"]);
        assert!(migrate.status.success(), "{label}: {}", stderr(&migrate));
        std::fs::write(
            env.path("zones.json"),
            r#"{"revision": "1", "customerName": "acme", "coverageZones": {
                "north": {"network": ["10.0.0.0/8"], "network6": ["2001:db8:1::/48"]},
                "south": {"network": ["10.1.0.0/16"]}}}"#,
        )
        .unwrap();
        let r = env.manage_json(&["router_import_subnets", "--file", "zones.json"]);
        assert_eq!(r["subnets"], 3, "{label}: {r}");
        assert_eq!(r["regions_created"], 2);
        for (name, region) in [("n1", "north"), ("s1", "south")] {
            let url = format!("http://{name}.cdn.example");
            let out = env.manage(&[
                "router-edge-add",
                "--name",
                name,
                "--url",
                &url,
                "--region",
                region,
                "--serves",
                "live,catchup",
            ]);
            assert!(out.status.success(), "{label}: {}", stderr(&out));
        }
        let out = env.manage(&[
            "router-region-set",
            "--name",
            "south",
            "--fallback",
            "north",
        ]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));

        // Two router processes on the same database.
        let mut nodes = Vec::new();
        let mut bases = Vec::new();
        for i in 0..2 {
            let port = free_port();
            let log = env.path(&format!("router{i}.log"));
            let mut cmd = env.cmd();
            cmd.args(["router", "--listen", &format!("127.0.0.1:{port}")]);
            nodes.push(Running::spawn(cmd, &log));
            let base = format!("http://127.0.0.1:{port}");
            wait_http(&format!("{base}/health"), &log).await;
            bases.push(base);
        }
        for base in &bases {
            let (s, l) = location(base, "10.1.2.3").await;
            assert_eq!(s, 302, "{label}");
            assert_eq!(l, "http://s1.cdn.example/btv/live/hls/ch1.m3u8");
        }
        // Drain s1 through the command line: both nodes follow.
        let out = env.manage(&["router_edge_set", "--name=s1", "--drain=true"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        for base in &bases {
            let mut moved = false;
            for _ in 0..100 {
                if location(base, "10.1.2.3").await.1.starts_with("http://n1.") {
                    moved = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(moved, "{label}: {base} did not follow the drain");
        }
        let out = env.manage(&[
            "router_override_set",
            "--kind=live",
            "--key=ch1",
            "--edge=s1",
        ]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let out = env.manage(&["router-override-remove", "--kind", "live", "--key", "ch1"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let out = env.manage(&["router-resync", "--json"]);
        assert!(out.status.success());

        // Bad input to the commands: non-zero exit, nothing half-written.
        std::fs::write(env.path("bad.csv"), "10.0.0.0/33,north\nnot-a-net,x\n").unwrap();
        for args in [
            vec!["router-import-subnets", "--file", "bad.csv"],
            vec!["router-import-subnets", "--file", "missing.csv"],
            vec![
                "router-edge-add",
                "--name",
                "n1",
                "--url",
                "http://x",
                "--region",
                "r",
            ],
            vec![
                "router-edge-add",
                "--name",
                "z",
                "--url",
                "ftp://x",
                "--region",
                "r",
            ],
            vec![
                "router-edge-add",
                "--name",
                "z",
                "--url",
                "http://x",
                "--region",
                "r",
                "--serves",
                "tv",
            ],
            vec![
                "router-edge-add",
                "--name",
                "z",
                "--url",
                "http://x",
                "--region",
                "r",
                "--weight",
                "0",
            ],
            vec!["router-edge-set", "--name", "nobody", "--enabled", "false"],
            vec!["router-edge-set", "--name", "n1"],
            vec![
                "router-region-set",
                "--name",
                "south",
                "--fallback",
                "south",
            ],
        ] {
            let out = env.manage(&args);
            assert!(!out.status.success(), "{label}: {args:?} should fail");
            assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        }
        let bad = env.manage(&["router-import-subnets", "--file", "bad.csv"]);
        assert!(stderr(&bad).contains("line 1"), "{}", stderr(&bad));
        // The table is intact after the refused import.
        let (s, _) = location(&bases[0], "10.2.0.1").await;
        assert_eq!(s, 302, "{label}");
        for mut n in nodes {
            n.terminate(Duration::from_secs(10));
        }
        env.cleanup().await;
    }
}
