//! The deployment samples in `deploy/`, followed for real: the nginx front
//! (`deploy/nginx/efir.conf`) runs in a real nginx, with only its ports,
//! certificate and data directory replaced, in front of a real `efir
//! serve`; the APIs, the panel, the router and the icons must all answer
//! through it, over HTTP and over TLS with HTTP/2.

mod common;

use std::path::Path;
use std::process::Command;

use common::{free_port, wait_http, Env, Running};

fn nginx() -> &'static str {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return p;
        }
    }
    panic!("nginx is needed for the deployment test (scripts/test installs nginx-light)");
}

#[tokio::test]
async fn the_nginx_sample_fronts_api_panel_router_and_icons() {
    let env = Env::sqlite().await;
    assert!(env.manage(&["migrate"]).status.success());
    let dir = env.dir.path();
    // A self-signed certificate for the TLS listener.
    let (crt, key) = (dir.join("tv.crt"), dir.join("tv.key"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=tv.example.net",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // An icon on disk, served by nginx itself.
    std::fs::create_dir_all(dir.join("icons/epg/1")).unwrap();
    std::fs::write(dir.join("icons/epg/1/64x64.png"), b"not really a png").unwrap();

    // Efir: the API on one port, the router on another.
    let (api, router) = (free_port(), free_port());
    let log = env.path("serve.log");
    let mut cmd = env.cmd();
    cmd.env("EFIR_ROUTER_LISTEN", format!("127.0.0.1:{router}"))
        .args([
            "serve",
            "--role",
            "api,router",
            "--listen",
            &format!("127.0.0.1:{api}"),
        ]);
    let _efir = Running::spawn(cmd, &log);
    wait_http(&format!("http://127.0.0.1:{api}/health"), &log).await;

    // The sample, with only what an operator adjusts replaced.
    let (http, https) = (free_port(), free_port());
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/nginx/efir.conf"
    ))
    .unwrap();
    let site = sample
        .replace(
            "server 127.0.0.1:8000;",
            &format!("server 127.0.0.1:{api};"),
        )
        .replace(
            "server 127.0.0.1:8081;",
            &format!("server 127.0.0.1:{router};"),
        )
        .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
        .replace(
            "listen 443 ssl http2;",
            &format!("listen 127.0.0.1:{https} ssl http2;"),
        )
        .replace("/etc/ssl/efir/tv.example.net.crt", crt.to_str().unwrap())
        .replace("/etc/ssl/efir/tv.example.net.key", key.to_str().unwrap())
        .replace(
            "/var/lib/efir/icons/",
            &format!("{}/", dir.join("icons").display()),
        );
    assert_ne!(site, sample);
    std::fs::write(dir.join("efir-site.conf"), &site).unwrap();
    let user = if unsafe_is_root() { "user root;" } else { "" };
    let main = format!(
        "{user}\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\nevents {{}}\n\
         http {{\n  access_log {d}/nginx-access.log;\n  client_body_temp_path {d}/cb;\n  proxy_temp_path {d}/px;\n\
         fastcgi_temp_path {d}/fc;\n  uwsgi_temp_path {d}/uw;\n  scgi_temp_path {d}/sc;\n  include {d}/efir-site.conf;\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let conf = dir.join("nginx.conf");
    let check = Command::new(nginx())
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut ng = Command::new(nginx());
    ng.arg("-c").arg(&conf);
    let _nginx = Running::spawn(ng, &env.path("nginx.out"));
    let base = format!("http://127.0.0.1:{http}");
    wait_http(&format!("{base}/health"), &env.path("nginx.out")).await;

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    for base in [base.clone(), format!("https://127.0.0.1:{https}")] {
        // Health and the panel come from the API.
        let r = client.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{base}/health");
        let r = client
            .get(format!("{base}/admin/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("login-form"));
        let r = client.get(format!("{base}/admin")).send().await.unwrap();
        assert_eq!(r.status(), 301);
        // The device API answers in its own error format.
        let r = client
            .get(format!(
                "{base}/tvmiddleware/api/login/?abonement=x&password=y"
            ))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body.get("error").is_some(), "{body}");
        // Stream requests reach the router (no edges here: its own refusal).
        let r = client
            .get(format!("{base}/btv/live/hls/ch1"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(
            matches!(status, 404 | 503),
            "router answered {status}: {text}"
        );
        assert!(text.contains("edge") || text.contains("region"), "{text}");
        // Icons come from disk without touching Efir.
        let r = client
            .get(format!("{base}/icons/epg/1/64x64.png"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("cache-control").is_some());
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"not really a png");
        // Anything else is not proxied.
        let r = client
            .get(format!("{base}/etc/passwd"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    // HTTP/2 over TLS (ALPN), as curl negotiates it.
    let out = Command::new("curl")
        .args(["-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version}"])
        .arg(format!("https://127.0.0.1:{https}/health"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2", "{out:?}");
    // Metrics are refused to other networks (allowed from 127.0.0.1 only
    // here, and that is us): reachable locally.
    let r = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    env.cleanup().await;
}

/// Whether this process runs as root (nginx then needs `user root;` to read
/// the test's private directory).
fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Metric names (`efir_…`) that the expression `expr` reads, without the
/// `_bucket`, `_count` and `_sum` series suffixes.
fn metrics_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("efir_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if boundary {
            let mut name = &expr[start..end];
            for suffix in ["_bucket", "_count", "_sum"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    name = base;
                }
            }
            out.push(name.to_string());
        }
        i = end;
    }
    out
}

/// Every `.rs` file under `dir`, read.
fn rust_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The Grafana dashboard (`deploy/grafana/efir-dashboard.json`) is sound and
/// asks only for what Efir exports: every metric it names is defined in the
/// code, and a real Prometheus, scraping a real `efir serve` with the
/// sample scrape configuration (`deploy/prometheus/efir.yml`), accepts every
/// panel query and answers the traffic panels with data.
#[tokio::test]
async fn the_grafana_dashboard_and_prometheus_sample_work_on_real_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/efir-dashboard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    assert_eq!(dash["uid"], "efir-overview");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 20, "{} panels", panels.len());
    // Unique ids; panels do not overlap on the grid.
    let mut ids = std::collections::HashSet::new();
    let mut cells = std::collections::HashSet::new();
    let mut exprs = Vec::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_i64().unwrap()), "duplicate id in {p}");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().unwrap(),
            g["y"].as_i64().unwrap(),
            g["w"].as_i64().unwrap(),
            g["h"].as_i64().unwrap(),
        );
        assert!(x + w <= 24, "panel wider than the grid: {}", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "panels overlap at {cx},{cy}: {}",
                    p["title"]
                );
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap().to_string();
            assert!(
                expr.contains("$instance"),
                "{} ignores the node filter: {expr}",
                p["title"]
            );
            exprs.push(expr);
        }
    }
    // Every metric named is defined somewhere in Efir's code.
    let mut code = String::new();
    rust_sources(&root.join("crates"), &mut code);
    let mut names: Vec<String> = exprs.iter().flat_map(|e| metrics_in(e)).collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 15, "{names:?}");
    for n in &names {
        assert!(
            code.contains(&format!("\"{n}\"")),
            "the dashboard reads {n}, which Efir does not export"
        );
    }

    // A real node with traffic: API requests and router decisions.
    let env = Env::sqlite().await;
    assert!(env.manage(&["migrate"]).status.success());
    let (api, router) = (free_port(), free_port());
    let log = env.path("serve.log");
    let mut cmd = env.cmd();
    cmd.env("EFIR_ROUTER_LISTEN", format!("127.0.0.1:{router}"))
        .args([
            "serve",
            "--role",
            "api,router",
            "--listen",
            &format!("127.0.0.1:{api}"),
        ]);
    let _efir = Running::spawn(cmd, &log);
    wait_http(&format!("http://127.0.0.1:{api}/health"), &log).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..5 {
        client
            .get(format!(
                "http://127.0.0.1:{api}/tvmiddleware/api/login/?abonement=x&password=y"
            ))
            .send()
            .await
            .unwrap();
        client
            .get(format!("http://127.0.0.1:{router}/btv/live/hls/ch1"))
            .send()
            .await
            .unwrap();
    }

    // Prometheus with the sample scrape configuration, pointed at the node.
    let sample = std::fs::read_to_string(root.join("deploy/prometheus/efir.yml")).unwrap();
    let conf = sample
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace(
            "[\"10.0.0.11:8000\", \"10.0.0.12:8000\"]",
            &format!("[\"127.0.0.1:{api}\"]"),
        )
        .replace("[\"10.0.0.21:8081\"]", &format!("[\"127.0.0.1:{router}\"]"))
        .replace("[\"10.0.0.31:8000\"]", &format!("[\"127.0.0.1:{api}\"]"));
    assert!(
        !conf.contains("10.0.0."),
        "the sample's targets changed: update this test"
    );
    let conf_path = env.path("prometheus.yml");
    std::fs::write(&conf_path, conf).unwrap();
    let check = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(&conf_path)
        .output()
        .expect("promtool (scripts/test installs prometheus)");
    assert!(
        check.status.success(),
        "promtool: {}{}",
        common::stdout(&check),
        common::stderr(&check)
    );
    let prom_port = free_port();
    let mut prom = Command::new("prometheus");
    prom.arg(format!("--config.file={}", conf_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            env.path("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let prom_log = env.path("prometheus.log");
    let _prom = Running::spawn(prom, &prom_log);
    let base = format!("http://127.0.0.1:{prom_port}");
    wait_http(&format!("{base}/-/ready"), &prom_log).await;
    let query = |q: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let r = client
                .get(format!("{base}/api/v1/query"))
                .query(&[("query", q.as_str())])
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, body)
        }
    };
    // Every target is scraped successfully (all three jobs up).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, body) = query("sum(up)".into()).await;
        let up = body["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap_or("0")
            .to_string();
        if up == "3" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "targets not up: {body}; {}",
            std::fs::read_to_string(&prom_log).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // Let a few scrapes land so that rates have two samples.
    for _ in 0..5 {
        client
            .get(format!("http://127.0.0.1:{api}/health"))
            .send()
            .await
            .unwrap();
        client
            .get(format!("http://127.0.0.1:{router}/btv/live/hls/ch1"))
            .send()
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    }
    let grafana = |e: &str| {
        e.replace("$instance", ".*")
            .replace("$__rate_interval", "1m")
    };
    for e in &exprs {
        let (status, body) = query(grafana(e)).await;
        assert_eq!(status, 200, "Prometheus refused {e}: {body}");
        assert_eq!(body["status"], "success", "{e}: {body}");
    }
    // The traffic panels show data (the error panels may rightly be empty,
    // and no edge exists here to redirect to).
    let traffic = exprs.iter().filter(|e| {
        !e.contains("status=")
            && (e.contains("efir_http_request")
                || e.contains("efir_db_query_duration_seconds")
                || e.contains("efir_router_redirects_total"))
    });
    let mut shown = 0;
    for e in traffic {
        let (_, body) = query(grafana(e)).await;
        let result = body["data"]["result"].as_array().unwrap();
        assert!(!result.is_empty(), "no data for {e}");
        shown += 1;
    }
    assert!(shown >= 6, "only {shown} traffic panels checked");
    env.cleanup().await;
}
