//! Cached channel lists follow writes: at once on the node that made the
//! write, within about a second on another node sharing the database.

mod common;

use std::time::Duration;

use common::{Server, API_KEY};
use serde_json::Value;

async fn list(http: &reqwest::Client, base: &str, client_id: i64, key: &str) -> Vec<String> {
    let v: Value = http
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
async fn writes_invalidate_cached_lists_on_every_node() {
    for s in Server::both().await {
        // A second node: the same routes on the same database.
        let other = efir_middleware::routes(s.db.store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other_base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                other.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap()
        });

        let customer = s
            .billing_ok("customer/create", &[("firstname", "Ann")])
            .await["customer_id"]
            .to_string();
        let tariff = s
            .billing_ok(
                "tariff/create",
                &[("name", "Basic"), ("basic_tariff_priority", "1")],
            )
            .await;
        let tariff = tariff["tariff_id"]
            .as_i64()
            .or(tariff["id"].as_i64())
            .unwrap()
            .to_string();
        s.content_ok("channel/create", &[("name", "One"), ("tariff_id", &tariff)])
            .await;
        s.billing_ok(
            "customer/tariff/assign",
            &[("customer_id", &customer), ("tariff_id", &tariff)],
        )
        .await;
        s.billing_ok(
            "account/create",
            &[
                ("customer_id", &customer),
                ("abonement", "77"),
                ("password", "pw"),
            ],
        )
        .await;
        let login: Value = s
            .http
            .get(format!("{}/tvmiddleware/api/login/", s.base))
            .query(&[
                ("client_id", s.client.id.to_string().as_str()),
                ("api_key", API_KEY),
                ("abonement", "77"),
                ("password", "pw"),
                ("device_uid", "d"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = login["authkey"].as_str().unwrap().to_string();

        // Both nodes cache the list.
        assert_eq!(list(&s.http, &s.base, s.client.id, &key).await, vec!["One"]);
        assert_eq!(
            list(&s.http, &other_base, s.client.id, &key).await,
            vec!["One"]
        );

        // A channel added through this node: visible here at once.
        s.content_ok("channel/create", &[("name", "Two"), ("tariff_id", &tariff)])
            .await;
        assert_eq!(
            list(&s.http, &s.base, s.client.id, &key).await,
            vec!["One", "Two"],
            "{}",
            s.label()
        );
        // And on the other node once it re-reads the generation.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            list(&s.http, &other_base, s.client.id, &key).await,
            vec!["One", "Two"],
            "{}",
            s.label()
        );

        task.abort();
        s.stop().await;
    }
}
