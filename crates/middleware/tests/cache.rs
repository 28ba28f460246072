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

        let customer = s.customer("Ann").await;
        let tariff = s.basic_tariff().await;
        s.content_ok("channel/create", &[("name", "One"), ("tariff_id", &tariff)])
            .await;
        s.account(&customer, &tariff, "77", "pw", &[]).await;
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

#[tokio::test]
async fn with_redis_other_nodes_follow_at_once_and_share_lists() {
    let redis_url =
        std::env::var("EFIR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    other_nodes_follow(
        efir_store::cache::RedisTarget::Single(redis_url),
        Duration::from_secs(2),
    )
    .await;
}

#[tokio::test]
async fn with_redis_cluster_other_nodes_follow_within_a_second_and_share_lists() {
    let cluster = efir_store::testing::RedisCluster::start();
    other_nodes_follow(
        efir_store::cache::RedisTarget::Cluster(cluster.seeds()),
        Duration::from_secs(1),
    )
    .await;
    drop(cluster);
}

/// Two nodes on one database sharing Redis at `target`: a write through
/// node A shows on node B within `within` (B trusts its generation for 10 s,
/// so only the published bump can make it), and the rendered list is
/// shared through Redis.
async fn other_nodes_follow(target: efir_store::cache::RedisTarget, within: Duration) {
    let prefix = format!("efir-test-{}:", efir_core::secret::random_hex(4));
    for s in Server::both().await {
        let node = |store: efir_store::Store| {
            let target = target.clone();
            let prefix = prefix.clone();
            async move {
                let caches = efir_middleware::cache::Caches::with_redis_target(&target, &prefix)
                    .await
                    .unwrap();
                let app = efir_middleware::routes_with(
                    store,
                    efir_middleware::Options {
                        trusted_proxies: efir_middleware::default_trusted_proxies(),
                        caches,
                    },
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                let task = tokio::spawn(async move {
                    axum::serve(
                        listener,
                        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                    )
                    .await
                    .unwrap()
                });
                (base, task)
            }
        };
        let (a, task_a) = node(s.db.store.clone()).await;
        let (b, task_b) = node(s.db.store.clone()).await;
        // Give the subscriptions a moment to be in place.
        tokio::time::sleep(Duration::from_millis(200)).await;

        let customer = s.customer("Ann").await;
        let tariff = s.basic_tariff().await;
        s.account(&customer, &tariff, "77", "pw", &[]).await;
        let login: Value = s
            .http
            .get(format!("{a}/tvmiddleware/api/login/"))
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

        // Writes go through node A's Content API.
        let content = |name: &'static str| {
            let (s, a, tariff) = (&s, a.clone(), tariff.clone());
            async move {
                let mut pairs: Vec<(String, String)> = vec![
                    ("name".into(), name.into()),
                    ("tariff_id".into(), tariff),
                    ("client_id".into(), s.client.id.to_string()),
                ];
                let sig = efir_middleware::api::signature(&pairs, common::CONTENT_KEY);
                pairs.push(("signature".into(), sig));
                let v: Value = s
                    .http
                    .post(format!("{a}/content/api/channel/create/"))
                    .form(&pairs)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(v["error"], 0, "{v}");
            }
        };
        content("One").await;
        assert_eq!(list(&s.http, &b, s.client.id, &key).await, vec!["One"]);
        content("Two").await;
        // Node B trusts its generation for 10 s with Redis: seeing the new
        // channel well before that proves the published bump arrived.
        let written = std::time::Instant::now();
        let mut seen = Vec::new();
        while written.elapsed() < within {
            seen = list(&s.http, &b, s.client.id, &key).await;
            if seen.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "{} with {target:?}: the other node saw the change after {} ms",
            s.label(),
            written.elapsed().as_millis()
        );
        assert_eq!(seen, vec!["One", "Two"], "{}", s.label());

        // The serialized list is shared through Redis (on one of the
        // cluster's masters).
        let mut found = 0;
        for url in target.masters().await.unwrap() {
            let redis = redis::Client::open(url.as_str()).unwrap();
            let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}rendered:{}:*", s.client.id))
                .query_async(&mut conn)
                .await
                .unwrap();
            for k in &keys {
                let _: () = redis::cmd("DEL")
                    .arg(k)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
            found += keys.len();
        }
        assert!(found > 0, "{}: shared answers in Redis", s.label());
        task_a.abort();
        task_b.abort();
        s.stop().await;
    }
}

#[tokio::test]
async fn with_redis_login_limits_are_shared_between_nodes() {
    let redis_url =
        std::env::var("EFIR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("efir-test-{}:", efir_core::secret::random_hex(4));
    let s = Server::start(efir_store::testing::TestDb::sqlite().await).await;
    let mut bases = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let caches = efir_middleware::cache::Caches::with_redis(&redis_url, &prefix)
            .await
            .unwrap();
        let app = efir_middleware::routes_with(
            s.db.store.clone(),
            efir_middleware::Options {
                trusted_proxies: efir_middleware::default_trusted_proxies(),
                caches,
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        tasks.push(tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap()
        }));
    }
    let customer = s.customer("Ann").await;
    let tariff = s.basic_tariff().await;
    s.account(&customer, &tariff, "55", "right", &[]).await;
    let login = |base: String, password: &'static str| {
        let s = &s;
        async move {
            let v: Value = s
                .http
                .get(format!("{base}/tvmiddleware/api/login/"))
                .query(&[
                    ("client_id", s.client.id.to_string().as_str()),
                    ("api_key", API_KEY),
                    ("abonement", "55"),
                    ("password", password),
                    ("device_uid", "d"),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["error"].as_i64().unwrap()
        }
    };
    // Ten wrong guesses, alternating between the nodes...
    for i in 0..10 {
        assert_eq!(login(bases[i % 2].clone(), "guess").await, 1);
    }
    // ...block the account on both, even with the right password.
    assert_eq!(login(bases[0].clone(), "right").await, 28);
    assert_eq!(login(bases[1].clone(), "right").await, 28);
    for t in tasks {
        t.abort();
    }
    s.stop().await;
}
