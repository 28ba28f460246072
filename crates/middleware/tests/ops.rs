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
