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
