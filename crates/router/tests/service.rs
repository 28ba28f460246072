//! The router over real HTTP on both databases: redirects by subnet,
//! trusted proxies, drain and fallback reaching running nodes, health,
//! bad requests, and serving on while the database is gone.

use std::net::SocketAddr;
use std::time::Duration;

use efir_router::health::HealthConfig;
use efir_router::model::{self, NewEdge};
use efir_router::select::ContentKind;
use efir_router::service::{Options, RouterService};
use efir_store::testing::TestDb;
use efir_store::{Actor, Store};

fn actor() -> Actor {
    Actor::Command("test".into())
}

/// Serves `service` on a loopback port with the router's own HTTP/1
/// server, as `efir router` does; returns its base URL.
async fn serve(service: &RouterService) -> String {
    let app = service.routes();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = service.clone();
    tokio::spawn(async move {
        efir_router::http1::serve(listener, service, app, std::future::pending())
            .await
            .unwrap();
    });
    format!("http://{addr}")
}

/// Serves the router's axum routes (as merged into the API port when both
/// share one address); returns the base URL.
async fn serve_axum(service: &RouterService) -> String {
    let app = service.routes();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// Writes `raw` to the server, half-closes, and reads everything back.
async fn exchange(base: &str, raw: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn the_router_port_speaks_http1_strictly() {
    let db = TestDb::sqlite().await;
    setup(&db.store).await;
    let service = RouterService::start(db.store.clone(), options())
        .await
        .unwrap();
    let fallback = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(service.routes());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(efir_router::http1::serve(
        listener,
        service.clone(),
        fallback,
        async move {
            let _ = stop_rx.await;
        },
    ));

    // Three pipelined requests in one write: answered in order, and the
    // connection closes after the one that asks for it.
    let text = exchange(
        &base,
        b"GET /btv/live/hls/ch1.m3u8?a=1 HTTP/1.1\r\nHost: x\r\nX-Real-IP: 10.2.3.4\r\n\r\n\
          HEAD /vod/hls/films/a.mp4 HTTP/1.1\r\nHost: x\r\nX-Real-IP: 10.1.2.3\r\n\r\n\
          GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let answers: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(answers.len(), 3, "{text}");
    assert!(answers[0].starts_with("302 Found\r\n"), "{text}");
    assert!(answers[0].contains("location: http://n1.cdn.example/btv/live/hls/ch1.m3u8?a=1\r\n"));
    assert!(answers[0].contains("access-control-allow-origin: *\r\n"));
    assert!(answers[0].contains("content-length: 0\r\n"));
    assert!(answers[0].contains("date: "));
    assert!(answers[1].starts_with("302 Found\r\n"), "{text}");
    assert!(
        !answers[1].contains("access-control-allow-origin"),
        "no CORS on VOD"
    );
    assert!(answers[2].starts_with("200 OK\r\n"), "{text}");
    assert!(answers[2].contains("connection: close\r\n"));
    assert!(answers[2].ends_with("\r\n\r\nok"), "{text}");

    // HTTP/1.0 closes by default; HEAD of a refusal has no body.
    let text = exchange(&base, b"HEAD /btv/live/hls/nosuch$ HTTP/1.0\r\n\r\n").await;
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "HEAD has no body: {text}");
    // Other methods on stream paths, garbage, oversized heads, chunked
    // bodies: a clear status and reason, then the connection closes.
    let cases: [(&[u8], &str, &str); 5] = [
        (
            b"POST /btv/live/hls/ch1 HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
            "405",
            "only GET and HEAD",
        ),
        (
            b"\x16\x03\x01 garbage\r\n\r\n",
            "400",
            "malformed HTTP request",
        ),
        (
            b"GET /btv/live/hls/ch1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "411",
            "chunked",
        ),
        (
            b"GET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n",
            "404",
            "",
        ),
        (
            b"GET /btv/live/hls/ch1 HTTP/1.1\r\nX-Real-IP: 10.2.3.4\r\nConnection: close\r\n\r\n",
            "302",
            "location: http://n1.cdn.example/btv/live/hls/ch1",
        ),
    ];
    for (raw, status, says) in cases {
        let text = exchange(&base, raw).await;
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        assert!(text.contains(says), "{text}");
    }
    let mut big = b"GET /btv/live/hls/ch1 HTTP/1.1\r\nX-Pad: ".to_vec();
    big.resize(70 * 1024, b'a');
    let text = exchange(&base, &big).await;
    assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    assert!(text.contains("larger than 64 KiB"), "{text}");

    // A head split across writes is put together.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .unwrap();
        tcp.write_all(b"GET /btv/live/hls/ch1 HT").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        tcp.write_all(b"TP/1.1\r\nX-Real-IP: 10.2.3.4\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        tcp.read_to_end(&mut out).await.unwrap();
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 302 Found\r\n"));
    }

    // Shutdown: the server stops accepting and returns once idle
    // connections are closed.
    let idle = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    drop(idle);
    assert!(
        tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err(),
        "no longer accepting"
    );
    db.cleanup().await;
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn options() -> Options {
    Options {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        reload_every: Duration::from_millis(150),
        health: HealthConfig::default(),
        poll_health: false,
        ..Options::default()
    }
}

fn edge(name: &str, region: &str, serves: &[ContentKind]) -> NewEdge {
    NewEdge {
        name: name.into(),
        base_url: format!("http://{name}.cdn.example"),
        region: region.into(),
        weight: 100,
        capacity: None,
        capacity_mbps: None,
        serves: serves.to_vec(),
        channels: Vec::new(),
        health_url: String::new(),
    }
}

async fn setup(store: &Store) {
    let csv = "cidr,region\n10.0.0.0/8,north\n10.1.0.0/16,south\n2001:db8::/32,south\n";
    let r = model::import_subnets(store, actor(), csv.as_bytes())
        .await
        .unwrap();
    assert_eq!((r.subnets, r.regions_created), (3, 2));
    let all = [ContentKind::Live, ContentKind::Catchup, ContentKind::Vod];
    model::add_edge(store, actor(), &edge("n1", "north", &all))
        .await
        .unwrap();
    model::add_edge(store, actor(), &edge("s1", "south", &all))
        .await
        .unwrap();
    model::add_edge(store, actor(), &edge("v1", "south", &[ContentKind::Vod]))
        .await
        .unwrap();
    model::set_region(
        store,
        actor(),
        "south",
        Some(&["north".to_string()]),
        None,
        None,
    )
    .await
    .unwrap();
}

/// (status, Location) of a GET from `ip` (sent as X-Real-IP).
async fn get(base: &str, path: &str, ip: Option<&str>) -> (u16, String) {
    let mut req = http().get(format!("{base}{path}"));
    if let Some(ip) = ip {
        req = req.header("x-real-ip", ip);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location)
}

/// The status of a GET of `path` written byte for byte.
async fn raw_status(base: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Real-IP: 10.2.3.4\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn wait_for(base: &str, path: &str, ip: &str, want: &str) {
    for _ in 0..60 {
        let (_, location) = get(base, path, Some(ip)).await;
        if location.starts_with(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} from {ip} never went to {want}");
}

#[tokio::test]
async fn redirects_follow_subnets_changes_and_survive_the_database() {
    for db in TestDb::both().await {
        let label = db.label;
        setup(&db.store).await;
        let service = RouterService::start(db.store.clone(), options())
            .await
            .unwrap();
        let base = serve(&service).await;

        // Longest prefix: 10.1/16 is south, the rest of 10/8 north.
        let r = http()
            .get(format!("{base}/btv/live/hls/ch1.m3u8?token=abc"))
            .header("x-real-ip", "10.2.3.4")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{label}");
        assert_eq!(
            r.headers()["location"],
            "http://n1.cdn.example/btv/live/hls/ch1.m3u8?token=abc"
        );
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let (s, l) = get(&base, "/btv/live/hls/ch1", Some("10.1.2.3")).await;
        assert_eq!(
            (s, l.as_str()),
            (302, "http://s1.cdn.example/btv/live/hls/ch1")
        );
        let (_, l) = get(&base, "/btv/live/hls/ch1", Some("2001:db8::7")).await;
        assert!(l.starts_with("http://s1."), "{label}: IPv6 {l}");
        // VOD in the south goes to either south edge, always the same one
        // for the same asset; live never to the VOD-only edge.
        let (_, first) = get(&base, "/vod/hls/films/a.mp4", Some("10.1.0.9")).await;
        for _ in 0..5 {
            let (_, again) = get(&base, "/vod/hls/films/a.mp4", Some("10.1.200.1")).await;
            assert_eq!(again, first, "{label}: sticky");
        }
        for i in 0..30 {
            let (_, l) = get(&base, &format!("/btv/live/hls/c{i}"), Some("10.1.0.1")).await;
            assert!(
                !l.starts_with("http://v1."),
                "{label}: live on a VOD-only edge"
            );
        }
        // HEAD works too.
        let r = http()
            .head(format!("{base}/btv/live/hls/ch1"))
            .header("x-real-ip", "10.2.3.4")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);

        // Draining s1 moves the south's live to the fallback (north), on the
        // running node, without a restart.
        model::set_edge(&db.store, actor(), "s1", None, Some(true))
            .await
            .unwrap();
        wait_for(&base, "/btv/live/hls/ch1", "10.1.2.3", "http://n1.").await;
        // Disabling north too: nothing can serve live in the south.
        model::set_edge(&db.store, actor(), "n1", Some(false), None)
            .await
            .unwrap();
        let mut status = 0;
        for _ in 0..60 {
            status = get(&base, "/btv/live/hls/ch1", Some("10.1.2.3")).await.0;
            if status == 503 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, 503, "{label}");
        let body = http()
            .get(format!("{base}/btv/live/hls/ch1"))
            .header("x-real-ip", "10.1.2.3")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("no edge server can serve"), "{body}");
        model::set_edge(&db.store, actor(), "n1", Some(true), None)
            .await
            .unwrap();
        model::set_edge(&db.store, actor(), "s1", None, Some(false))
            .await
            .unwrap();
        wait_for(&base, "/btv/live/hls/ch1", "10.1.2.3", "http://s1.").await;

        // A second node on the same database sees the same configuration.
        let second = RouterService::start(db.store.clone(), options())
            .await
            .unwrap();
        // The first node may still be reloading the last change: wait
        // (bounded) until it has caught up before comparing.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while service.version() != second.version() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(second.version(), service.version());

        // Bad requests: a clear 4xx, never a 5xx.
        for path in [
            "/btv/live/hls/",
            "/btv/live/HLS/x",
            "/btv/nothing/hls/x",
            "/btv/live/hls/a.b.c.d.e.f.g.h.toolong",
        ] {
            let (s, _) = get(&base, path, Some("10.2.3.4")).await;
            assert_eq!(s, 400, "{label}: {path}");
        }
        // Climbing paths, sent raw (an HTTP client would normalise them).
        for path in [
            "/vod/hls/../etc/passwd",
            "/vod/hls/a/%2e%2e/b",
            "/vod/hls/a%2fb",
        ] {
            assert_eq!(raw_status(&base, path).await, 400, "{label}: {path}");
        }
        let huge = "9".repeat(10 * 1024);
        let r = http()
            .get(format!("{base}/btv/live/hls/ch1"))
            .header("x-real-ip", huge.as_str())
            .header("x-forwarded-for", "not an ip, 10.2.3.4")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{label}");
        assert!(r.text().await.unwrap().contains("x-real-ip"));

        // The database goes away: the node keeps serving its snapshot.
        db.store.close().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (s, l) = get(&base, "/btv/live/hls/ch1", Some("10.2.3.4")).await;
        assert_eq!(
            (s, l.as_str()),
            (302, "http://n1.cdn.example/btv/live/hls/ch1"),
            "{label}"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn proxies_are_believed_only_when_trusted() {
    let db = TestDb::sqlite().await;
    setup(&db.store).await;
    // Clients of no region go to the default region.
    model::set_region(&db.store, actor(), "north", None, Some(true), None)
        .await
        .unwrap();
    let untrusted = Options {
        trusted_proxies: Vec::new(),
        ..options()
    };
    let service = RouterService::start(db.store.clone(), untrusted)
        .await
        .unwrap();
    let base = serve(&service).await;
    // The header claims the south; the peer (127.0.0.1, no subnet) is
    // what counts, so the default region (north) answers.
    let (s, l) = get(&base, "/btv/live/hls/ch1", Some("10.1.2.3")).await;
    assert_eq!(
        (s, l.as_str()),
        (302, "http://n1.cdn.example/btv/live/hls/ch1")
    );
    let trusted = RouterService::start(db.store.clone(), options())
        .await
        .unwrap();
    let base = serve(&trusted).await;
    let (_, l) = get(&base, "/btv/live/hls/ch1", Some("10.1.2.3")).await;
    assert!(l.starts_with("http://s1."), "{l}");
    let r = http()
        .get(format!("{base}/btv/live/hls/ch1"))
        .header("x-forwarded-for", "10.1.9.9, 192.0.2.1")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("http://s1."));
    db.cleanup().await;
}

#[tokio::test]
async fn unhealthy_edges_stop_getting_redirects_and_come_back() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let ok = flag.load(Ordering::SeqCst);
            async move {
                if ok {
                    (axum::http::StatusCode::OK, "OK")
                } else {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let db = TestDb::sqlite().await;
    setup(&db.store).await;
    let mut s1 = edge("s2", "south", &[ContentKind::Live]);
    s1.health_url = format!("http://{health_addr}/health");
    s1.weight = 1000;
    model::add_edge(&db.store, actor(), &s1).await.unwrap();
    // Only s2 in the south serves channel "only2"... all serve all, so
    // make s1 unable: drain it, leaving s2 the south's live edge.
    model::set_edge(&db.store, actor(), "s1", None, Some(true))
        .await
        .unwrap();
    let opts = Options {
        health: HealthConfig {
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(500),
            rise: 1,
            fall: 1,
            ..HealthConfig::default()
        },
        poll_health: true,
        ..options()
    };
    let service = RouterService::start(db.store.clone(), opts).await.unwrap();
    let base = serve(&service).await;
    wait_for(&base, "/btv/live/hls/x", "10.1.0.1", "http://s2.").await;
    healthy.store(false, Ordering::SeqCst);
    // Down within about one interval: the south falls back to the north.
    wait_for(&base, "/btv/live/hls/x", "10.1.0.1", "http://n1.").await;
    healthy.store(true, Ordering::SeqCst);
    wait_for(&base, "/btv/live/hls/x", "10.1.0.1", "http://s2.").await;
    db.cleanup().await;
}

#[tokio::test]
/// Through axum too: the same routes also serve on a shared API port.
async fn unknown_channels_are_404() {
    let db = TestDb::sqlite().await;
    model::import_subnets(&db.store, actor(), b"192.0.2.0/24,east\n")
        .await
        .unwrap();
    let mut e1 = edge("e1", "east", &[ContentKind::Live, ContentKind::Catchup]);
    e1.channels = vec!["news".into()];
    model::add_edge(&db.store, actor(), &e1).await.unwrap();
    let service = RouterService::start(db.store.clone(), options())
        .await
        .unwrap();
    let base = serve_axum(&service).await;
    let (s, l) = get(&base, "/btv/live/hls/news.m3u8", Some("192.0.2.1")).await;
    assert_eq!(
        (s, l.as_str()),
        (302, "http://e1.cdn.example/btv/live/hls/news.m3u8")
    );
    let (s, _) = get(&base, "/btv/live/hls/sport", Some("192.0.2.1")).await;
    assert_eq!(s, 404);
    // Catch-up names its channel in the query (percent-encoded or not).
    let (s, l) = get(
        &base,
        "/btv/catchup/hls/123?channel=n%65ws",
        Some("192.0.2.1"),
    )
    .await;
    assert_eq!(
        (s, l.as_str()),
        (
            302,
            "http://e1.cdn.example/btv/catchup/hls/123?channel=n%65ws"
        )
    );
    let (s, _) = get(&base, "/btv/catchup/hls/123?cid=sport", Some("192.0.2.1")).await;
    assert_eq!(s, 404);
    db.cleanup().await;
}

#[tokio::test]
async fn state_page_needs_the_token_and_links_are_signed() {
    let db = TestDb::sqlite().await;
    setup(&db.store).await;
    let token = "0123456789abcdef-token";
    let opts = Options {
        admin_token: Some(token.into()),
        secure_link: Some(efir_router::service::SecureLink {
            secret: "s3cret".into(),
            ttl: 60,
            expression: efir_router::service::SECURE_LINK_EXPRESSION.into(),
        }),
        ..options()
    };
    let service = RouterService::start(db.store.clone(), opts).await.unwrap();
    let base = serve(&service).await;
    let page = format!("{base}/router/state");
    assert_eq!(http().get(&page).send().await.unwrap().status(), 401);
    let wrong = http()
        .get(&page)
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = http().get(&page).bearer_auth(token).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let state: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(state["subnets"], 3);
    assert_eq!(state["edges"].as_array().unwrap().len(), 3);
    assert_eq!(state["edges"][0]["healthy"], true, "{state}");

    // Redirects carry md5 and expires that the edge's nginx recomputes.
    let (s, l) = get(&base, "/btv/live/hls/ch1.m3u8?x=1", Some("10.2.3.4")).await;
    assert_eq!(s, 302);
    let (before, query) = l.split_once('?').unwrap();
    assert_eq!(before, "http://n1.cdn.example/btv/live/hls/ch1.m3u8");
    let params: std::collections::HashMap<&str, &str> =
        query.split('&').filter_map(|p| p.split_once('=')).collect();
    assert_eq!(params["x"], "1");
    let expires: i64 = params["expires"].parse().unwrap();
    assert!(expires > efir_store::now() && expires <= efir_store::now() + 61);
    let expected = efir_core::secret::secure_link_md5(
        efir_router::service::SECURE_LINK_EXPRESSION,
        expires,
        "/btv/live/hls/ch1.m3u8",
        "10.2.3.4",
        "s3cret",
    );
    assert_eq!(params["md5"], expected);

    // Without a token the page is off.
    let off = RouterService::start(db.store.clone(), options())
        .await
        .unwrap();
    let base = serve(&off).await;
    let r = http()
        .get(format!("{base}/router/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    db.cleanup().await;
}

#[tokio::test]
async fn postgres_changes_arrive_by_notification() {
    let db = TestDb::postgres().await;
    setup(&db.store).await;
    // Polling once a minute: only LISTEN/NOTIFY can bring the change fast.
    let opts = Options {
        reload_every: Duration::from_secs(60),
        ..options()
    };
    let service = RouterService::start(db.store.clone(), opts).await.unwrap();
    let base = serve(&service).await;
    let (_, l) = get(&base, "/btv/live/hls/ch1", Some("10.1.2.3")).await;
    assert!(l.starts_with("http://s1."), "{l}");
    // Give the listener a moment to subscribe, then drain s1.
    tokio::time::sleep(Duration::from_millis(500)).await;
    model::set_edge(&db.store, actor(), "s1", None, Some(true))
        .await
        .unwrap();
    wait_for(&base, "/btv/live/hls/ch1", "10.1.2.3", "http://n1.").await;
    db.cleanup().await;
}

#[tokio::test]
async fn pinned_channels_and_assets() {
    for db in TestDb::both().await {
        setup(&db.store).await;
        model::set_override(
            &db.store,
            actor(),
            ContentKind::Live,
            "special",
            Some("s1"),
            None,
        )
        .await
        .unwrap();
        model::set_override(
            &db.store,
            actor(),
            ContentKind::Vod,
            "films/",
            None,
            Some("south"),
        )
        .await
        .unwrap();
        let service = RouterService::start(db.store.clone(), options())
            .await
            .unwrap();
        let base = serve(&service).await;
        // A northern client: the pinned channel goes south, others north.
        let (_, l) = get(&base, "/btv/live/hls/special.m3u8", Some("10.2.3.4")).await;
        assert!(l.starts_with("http://s1."), "{}: {l}", db.label);
        let (_, l) = get(&base, "/btv/live/hls/plain", Some("10.2.3.4")).await;
        assert!(l.starts_with("http://n1."), "{l}");
        // Assets under the pinned prefix go to the southern region.
        let (_, l) = get(&base, "/vod/hls/films/x/a.mp4", Some("10.2.3.4")).await;
        assert!(
            l.starts_with("http://s1.") || l.starts_with("http://v1."),
            "{l}"
        );
        let (_, l) = get(&base, "/vod/hls/series/a.mp4", Some("10.2.3.4")).await;
        assert!(l.starts_with("http://n1."), "{l}");
        // A pinned edge that cannot serve: normal routing.
        model::set_edge(&db.store, actor(), "s1", None, Some(true))
            .await
            .unwrap();
        wait_for(&base, "/btv/live/hls/special", "10.2.3.4", "http://n1.").await;
        model::remove_override(&db.store, actor(), ContentKind::Vod, "films/")
            .await
            .unwrap();
        wait_for(&base, "/vod/hls/films/x/a.mp4", "10.2.3.4", "http://n1.").await;
        assert!(
            model::remove_override(&db.store, actor(), ContentKind::Vod, "films/")
                .await
                .is_err()
        );
        assert!(model::set_override(
            &db.store,
            actor(),
            ContentKind::Live,
            "x",
            Some("nobody"),
            None
        )
        .await
        .is_err());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn clients_of_no_subnet_are_located_by_country() {
    for db in TestDb::both().await {
        setup(&db.store).await;
        // 192.0.2.0/24 is in no subnet; the geolocation table puts it in KZ.
        let key = |ip: &str| efir_core::net::ip_key(ip.parse().unwrap()).to_vec();
        efir_store::with_db!(db.store.pool(), p => {
            sqlx::query("INSERT INTO country (code, name) VALUES ('KZ', 'Kazakhstan')")
                .execute(p).await.unwrap();
            sqlx::query("INSERT INTO geo_ip_range (ip_from, ip_to, country_id) \
                         SELECT $1, $2, id FROM country WHERE code = 'KZ'")
                .bind(key("192.0.2.0"))
                .bind(key("192.0.2.255"))
                .execute(p).await.unwrap();
        });
        model::set_region(
            &db.store,
            actor(),
            "south",
            None,
            None,
            Some(&["kz".to_string()]),
        )
        .await
        .unwrap();
        assert!(model::set_region(
            &db.store,
            actor(),
            "south",
            None,
            None,
            Some(&["KAZ".to_string()])
        )
        .await
        .is_err());
        let service = RouterService::start(db.store.clone(), options())
            .await
            .unwrap();
        let base = serve(&service).await;
        let (s, l) = get(&base, "/btv/live/hls/ch1", Some("192.0.2.10")).await;
        assert_eq!(s, 302, "{}", db.label);
        assert!(l.starts_with("http://s1."), "{}: {l}", db.label);
        // Outside every subnet and range, with no default region: 503.
        let (s, _) = get(&base, "/btv/live/hls/ch1", Some("198.51.100.1")).await;
        assert_eq!(s, 503, "{}", db.label);
        db.cleanup().await;
    }
}
