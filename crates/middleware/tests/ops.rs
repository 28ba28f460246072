//! Stream service health checks and mass logout, against real sockets.

mod common;

use std::time::Duration;

use common::Server;
use efir_middleware::ops::{check_stream_services, delete_authkeys};
use efir_store::{with_db, Actor};

async fn insert_service(s: &Server, name: &str, mask: &str, check_url: &str) -> i64 {
    let sql = "INSERT INTO stream_service (client_id, name, service_type, url_mask, check_url, created_at) \
               VALUES ($1, $2, 'live', $3, $4, 0) RETURNING id";
    with_db!(s.db.store.pool(), p => sqlx::query_scalar(sql)
        .bind(s.client.id)
        .bind(name)
        .bind(mask)
        .bind(check_url)
        .fetch_one(p)
        .await)
    .unwrap()
}

#[tokio::test]
async fn stream_services_are_probed_and_their_health_recorded() {
    // A healthy HTTP edge, a sick one, a TCP-only one and a closed port.
    let app = axum::Router::new()
        .route("/ok", axum::routing::get(|| async { "fine" }))
        .route(
            "/sick",
            axum::routing::get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "no") }),
        );
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = http.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(http, app).await.unwrap() });
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let _ = tcp.accept().await;
        }
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    for s in Server::both().await {
        let ok = insert_service(
            &s,
            "ok",
            "http://x/$cid",
            &format!("http://127.0.0.1:{http_port}/ok"),
        )
        .await;
        let sick = insert_service(
            &s,
            "sick",
            "http://x/$cid",
            &format!("http://127.0.0.1:{http_port}/sick"),
        )
        .await;
        let tcp_only = insert_service(
            &s,
            "tcp",
            &format!("http://127.0.0.1:{tcp_port}/$cid/index.m3u8"),
            "",
        )
        .await;
        let gone = insert_service(&s, "gone", &format!("http://127.0.0.1:{closed}/$cid"), "").await;
        let unknown = insert_service(&s, "multicast", "udp://239.0.0.1:1234", "").await;

        let report = check_stream_services(&s.db.store, Some(s.client.id), Duration::from_secs(3))
            .await
            .unwrap();
        let health = |id: i64| report.iter().find(|h| h.id == id).unwrap().health.clone();
        assert_eq!(health(ok), "up", "{}: {report:?}", s.label());
        assert_eq!(health(sick), "down");
        assert!(report
            .iter()
            .find(|h| h.id == sick)
            .unwrap()
            .error
            .contains("503"));
        assert_eq!(health(tcp_only), "up");
        assert_eq!(health(gone), "down");
        assert_eq!(health(unknown), "unknown");
        let stored: Vec<(i64, String, Option<i64>)> =
            with_db!(s.db.store.pool(), p => sqlx::query_as(
            "SELECT id, health, health_checked_at FROM stream_service ORDER BY id")
            .fetch_all(p).await)
            .unwrap();
        assert_eq!(stored.iter().filter(|r| r.1 == "down").count(), 2);
        assert!(stored.iter().all(|r| r.2.is_some()));
        s.stop().await;
    }
}

#[tokio::test]
async fn delete_authkeys_logs_every_device_of_an_operator_out() {
    for s in Server::both().await {
        let st = &s.db.store;
        let c = s.client.id;
        let customer: i64 = with_db!(st.pool(), p => sqlx::query_scalar(
            "INSERT INTO customer (client_id, created_at, updated_at) VALUES ($1, 0, 0) RETURNING id")
            .bind(c).fetch_one(p).await).unwrap();
        let account: i64 = with_db!(st.pool(), p => sqlx::query_scalar(
            "INSERT INTO account (client_id, customer_id, abonement, created_at, updated_at) VALUES ($1, $2, '1', 0, 0) RETURNING id")
            .bind(c).bind(customer).fetch_one(p).await).unwrap();
        for key in ["a", "b", "c"] {
            with_db!(st.pool(), p => sqlx::query(
                "INSERT INTO account_authkey (account_id, authkey, created_at, expires_at, last_seen_at) VALUES ($1, $2, 0, 9999999999, 0)")
                .bind(account).bind(key).execute(p).await.map(|_| ())).unwrap();
        }
        let removed = delete_authkeys(st, c, Actor::Command("delete-authkeys".into()))
            .await
            .unwrap();
        assert_eq!(removed, 3, "{}", s.label());
        let left: i64 = with_db!(st.pool(), p => sqlx::query_scalar("SELECT COUNT(*) FROM account_authkey").fetch_one(p).await).unwrap();
        assert_eq!(left, 0);
        let last = &st.audit_events(&Default::default()).await.unwrap()[0];
        assert_eq!(
            (last.action.as_str(), last.actor.as_str()),
            ("logout_all", "cli:delete-authkeys")
        );
        assert!(delete_authkeys(st, 999, Actor::Command("x".into()))
            .await
            .is_err());
        s.stop().await;
    }
}

#[tokio::test]
async fn clone_content_copies_and_remaps_references() {
    for s in Server::both().await {
        let cat = s.content_ok("category/create", &[("name", "Kids")]).await["id"].to_string();
        s.content_ok(
            "channel/create",
            &[("name", "Cartoons"), ("category_id", &cat)],
        )
        .await;
        s.content_ok("radio/create", &[("name", "Jazz")]).await;
        s.content_ok(
            "camera/create",
            &[("name", "Square"), ("category_id", &cat)],
        )
        .await;
        s.content_ok("application/create", &[("name", "Weather")])
            .await;
        let video = s.content_ok("video/create", &[("name", "Serial")]).await["id"].to_string();
        let season = s
            .content_ok("season/create", &[("video_id", &video), ("number", "1")])
            .await["id"]
            .to_string();
        let episode = s
            .content_ok("episode/create", &[("season_id", &season), ("number", "1")])
            .await["id"]
            .to_string();
        s.content_ok(
            "video/file/create",
            &[
                ("video_id", &video),
                ("episode_id", &episode),
                ("filename", "s1e1.mp4"),
            ],
        )
        .await;

        let st = &s.db.store;
        let mut tx = st
            .begin(Actor::Command("clone-client".into()))
            .await
            .unwrap();
        let dst = st
            .create_client(
                &mut tx,
                &efir_store::clients::NewClient {
                    name: "Copy".into(),
                    api_key: "copy-key-0001".into(),
                    domain_prefix: "copy".into(),
                    email: "c@copy.tv".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let what = efir_middleware::ops::CloneWhat {
            channels: true,
            video: true,
            radio: true,
            cameras: true,
            apps: true,
        };
        let copied = efir_middleware::ops::clone_content(&mut tx, s.client.id, dst.id, what)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            (
                copied.categories,
                copied.channels,
                copied.radio,
                copied.cameras,
                copied.apps
            ),
            (1, 1, 1, 1, 1),
            "{}",
            s.label()
        );
        assert_eq!(
            (copied.videos, copied.seasons, copied.episodes, copied.files),
            (1, 1, 1, 1)
        );
        // Every copied reference points at the copy, not the original.
        let q = |sql: &'static str| async move {
            with_db!(st.pool(), p => sqlx::query_scalar::<_, i64>(sql).bind(dst.id).fetch_one(p).await).unwrap()
        };
        assert_eq!(q("SELECT COUNT(*) FROM channel c JOIN category k ON k.id = c.category_id WHERE c.client_id = $1 AND k.client_id = $1").await, 1);
        assert_eq!(q("SELECT COUNT(*) FROM camera c JOIN category k ON k.id = c.category_id WHERE c.client_id = $1 AND k.client_id = $1").await, 1);
        assert_eq!(q("SELECT COUNT(*) FROM video_file f JOIN video v ON v.id = f.video_id JOIN episode e ON e.id = f.episode_id JOIN season s ON s.id = e.season_id WHERE v.client_id = $1 AND s.video_id = v.id").await, 1);
        assert_eq!(
            q("SELECT COUNT(*) FROM channel WHERE client_id <> $1").await,
            1,
            "original untouched"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn geolocation_csv_import_replaces_the_table() {
    let csv = "# ranges\n203.0.113.0,203.0.113.255,de,Berlin\n198.51.100.0/24,FR\n2001:db8::/32,NL,Amsterdam\n\n";
    let ranges = efir_middleware::ops::parse_geo_csv(csv).unwrap();
    assert_eq!(ranges.len(), 3);
    let bad = efir_middleware::ops::parse_geo_csv(
        "1.2.3.4,1.2.3.0,DE\nx,y\n10.0.0.0/8,GERMANY\n::1,1.2.3.4,DE\n",
    )
    .unwrap_err();
    assert_eq!(bad.len(), 4, "{bad:?}");
    assert!(
        bad[0].starts_with("line 1: the first address is after the last"),
        "{bad:?}"
    );
    assert!(bad[2].starts_with("line 3: `GERMANY`"), "{bad:?}");

    for s in Server::both().await {
        let st = &s.db.store;
        let counted = std::sync::atomic::AtomicU64::new(0);
        let report = efir_middleware::ops::import_geo(
            st,
            &ranges,
            Actor::Command("geoip-import".into()),
            |n| {
                counted.store(n, std::sync::atomic::Ordering::SeqCst);
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (report.ranges, report.new_countries, report.new_cities),
            (3, 3, 2),
            "{}",
            s.label()
        );
        assert_eq!(counted.load(std::sync::atomic::Ordering::SeqCst), 3);
        let at = |ip: &str| {
            let ip = ip.parse().unwrap();
            async move { efir_middleware::access::locate(st, ip).await.unwrap() }
        };
        assert!(at("203.0.113.77").await.city_id.is_some());
        assert!(at("198.51.100.1").await.country_id.is_some());
        assert!(at("198.51.100.1").await.city_id.is_none());
        assert!(at("2001:db8:1::5").await.city_id.is_some());
        assert!(at("192.0.2.1").await.country_id.is_none());
        // A second import replaces the first (countries are reused).
        let again = efir_middleware::ops::import_geo(
            st,
            &ranges[..1],
            Actor::Command("geoip-import".into()),
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(
            (again.ranges, again.new_countries, again.new_cities),
            (1, 0, 0)
        );
        assert!(at("198.51.100.1").await.country_id.is_none());
        s.stop().await;
    }
}
