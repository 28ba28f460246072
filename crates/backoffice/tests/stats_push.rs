//! `stat/push/` over real HTTP on both databases: a good batch is stored,
//! bad events are refused in the device API's `{error, error_message}`
//! format with nothing written, and `logout/` writes the customer log.

mod stats_support;

use efir_store::testing::TestDb;
use efir_store::{with_db, Store};
use serde_json::{json, Value};
use stats_support::*;

async fn content(store: &Store, table: &str, client: i64) -> i64 {
    let sql = format!(
        "INSERT INTO {table} (client_id, name, created_at, updated_at) VALUES ($1, 'x', 0, 0) \
         RETURNING id"
    );
    with_db!(store.pool(), p => sqlx::query_scalar::<_, i64>(&sql)
        .bind(client)
        .fetch_one(p)
        .await)
    .unwrap()
}

async fn push(http: &reqwest::Client, base: &str, form: &[(&str, String)]) -> Value {
    let res = http
        .post(format!("{base}/tvmiddleware/api/stat/push/"))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn stat_push_stores_good_batches_and_refuses_bad_ones() {
    for db in TestDb::both().await {
        let s = db.store.clone();
        let a = client(&s, "Alpha").await;
        let b = client(&s, "Beta").await;
        let now = efir_store::now();
        let cust = customer(&s, a, now - 86_400).await;
        let acc = account(&s, a, cust, now - 86_400, None).await;
        let (_, key) = session(&s, acc, now, now + 86_400).await;
        let channel = content(&s, "channel", a).await;
        let video = content(&s, "video", a).await;
        let foreign = content(&s, "channel", b).await;

        let app = efir_middleware::routes(s.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let http = reqwest::Client::new();
        let auth = |extra: Vec<(&'static str, String)>| {
            let mut f = vec![("client_id", a.to_string()), ("authkey", key.clone())];
            f.extend(extra);
            f
        };

        // One event as parameters.
        let v = push(
            &http,
            &base,
            &auth(vec![
                ("content_type", "channel".into()),
                ("content_id", channel.to_string()),
                ("start", (now - 600).to_string()),
                ("duration", "600".into()),
            ]),
        )
        .await;
        assert_eq!(v["error"], 0, "{}: {v}", db.label);
        assert_eq!(v["stored"], 1);

        // A batch.
        let batch = json!([
            {"content_type": "vod", "content_id": video, "start": now - 7200, "duration": 3600},
            {"content_type": "channel", "content_id": channel, "start": now - 60, "duration": 60},
        ]);
        let v = push(&http, &base, &auth(vec![("events", batch.to_string())])).await;
        assert_eq!(
            (v["error"].clone(), v["stored"].clone()),
            (json!(0), json!(2)),
            "{v}"
        );
        assert_eq!(count(&s, "viewing_event").await, 3);
        let (acc_seen, device): (i64, String) = with_db!(s.pool(), p => sqlx::query_as(
            "SELECT account_id, device_uid FROM viewing_event WHERE content_type = 'vod'")
            .fetch_one(p)
            .await)
        .unwrap();
        assert_eq!((acc_seen, device.as_str()), (acc, "box-1"));

        // Bad batches: each refused whole, with a message naming the event.
        let good = json!({"content_type": "channel", "content_id": channel, "start": now - 60, "duration": 60});
        let foreign_message = format!("no channel with content_id {foreign}");
        let cases: Vec<(Value, &str)> = vec![
            (
                json!([good, {"content_type": "book", "content_id": 1, "start": now, "duration": 5}]),
                "events[1].content_type",
            ),
            (
                json!([good, {"content_type": "vod", "content_id": video, "start": now + 7200, "duration": 5}]),
                "events[1].start",
            ),
            (
                json!([good, {"content_type": "vod", "content_id": video, "start": now, "duration": -5}]),
                "events[1].duration",
            ),
            (
                json!([good, {"content_type": "vod", "content_id": "1; DROP TABLE viewing_event", "start": now, "duration": 5}]),
                "events[1].content_id",
            ),
            (
                json!([good, {"content_type": "channel", "content_id": foreign, "start": now, "duration": 5}]),
                &foreign_message,
            ),
            (
                json!([good, {"content_type": "channel", "content_id": 999_999, "start": now, "duration": 5}]),
                "no channel with content_id 999999",
            ),
            (json!([good, 5]), "events[1] is not an object"),
            (json!([]), "events is empty"),
            (Value::Array(vec![good.clone(); 501]), "too many events"),
        ];
        for (events, message) in cases {
            let v = push(&http, &base, &auth(vec![("events", events.to_string())])).await;
            assert_eq!(v["error"], 400, "{}: {v}", db.label);
            assert!(
                v["error_message"].as_str().unwrap().contains(message),
                "{message}: {v}"
            );
        }
        let v = push(&http, &base, &auth(vec![("events", "not json".into())])).await;
        assert_eq!(v["error"], 400);
        assert_eq!(
            count(&s, "viewing_event").await,
            3,
            "nothing written by bad batches"
        );

        // Without a session: the API's authorization error.
        let v = push(
            &http,
            &base,
            &[
                ("client_id", a.to_string()),
                ("events", json!([good]).to_string()),
            ],
        )
        .await;
        assert_eq!(v["error"], 403);
        assert_eq!(count(&s, "viewing_event").await, 3);

        // logout/ writes the customer log.
        let res = http
            .post(format!("{base}/tvmiddleware/api/logout/"))
            .form(&auth(vec![]))
            .send()
            .await
            .unwrap();
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"], 0, "{v}");
        let events: Vec<(String, i64)> = with_db!(s.pool(), p => sqlx::query_as(
            "SELECT event, account_id FROM customer_log")
            .fetch_all(p)
            .await)
        .unwrap();
        assert_eq!(events, vec![("logout".to_string(), acc)]);
        db.cleanup().await;
    }
}
