//! The messages endpoints of the admin API over real HTTP, on SQLite and
//! PostgreSQL: sending, listing (JSON and CSV, filters, pages), resending,
//! validation, roles, and operators kept apart.

mod common;
mod messages_support;

use common::AdminServer;
use efir_backoffice::admin::StaffRole;
use efir_backoffice::messages::outbox::{self, DueFilter};
use efir_store::testing::TestDb;
use efir_store::Actor;
use messages_support::{account, count, customer, set, FakeHttp};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_list_and_resend_messages() {
    for db in TestDb::both().await {
        let server = AdminServer::start(db).await;
        let store = server.store.clone();
        let a = server.operator("opa").await.id;
        let b = server.operator("opb").await.id;
        set(&store, a, &[("sms.backend", "log")]).await;
        let ann = customer(&store, a, "+79990000001", "ann@example.com").await;
        let _ann1 = account(&store, a, ann, "ann1", None).await;
        let bob = customer(&store, b, "+79990000002", "").await;
        let _bob1 = account(&store, b, bob, "bob1", None).await;
        let admin_a = server.staff(StaffRole::OperatorAdmin, Some(a)).await;
        let admin_b = server.staff(StaffRole::OperatorAdmin, Some(b)).await;
        let monitor_a = server.staff(StaffRole::Monitoring, Some(a)).await;
        let su = server.staff(StaffRole::Superuser, None).await;

        let html = "<i>Maintenance</i> tonight & tomorrow";
        let (status, body) = server
            .post(
                &admin_a,
                "/admin/api/messages",
                json!({"target": "customer", "customer_id": ann,
                       "channels": ["screen", "sms"], "subject": "Notice", "text": html}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["screen"], 1);
        assert_eq!(body["outbound_ids"].as_array().unwrap().len(), 1);

        // Another operator's customer does not exist for this user.
        let (status, _) = server
            .post(
                &admin_a,
                "/admin/api/messages",
                json!({"target": "customer", "customer_id": bob, "text": "hi"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Monitoring users only read.
        let (status, _) = server
            .post(
                &monitor_a,
                "/admin/api/messages",
                json!({"target": "operator", "text": "hi"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Bad input: field errors, nothing written.
        let before = (
            count(&store, "message").await,
            count(&store, "outbound_message").await,
        );
        for (bad, field) in [
            (json!({"target": "operator", "text": "  "}), "text"),
            (json!({"target": "planet", "text": "hi"}), "target"),
            (json!({"target": "account", "text": "hi"}), "account_id"),
            (
                json!({"target": "operator", "text": "hi", "channels": ["fax"]}),
                "channel",
            ),
            (
                json!({"target": "operator", "text": "hi", "channels": []}),
                "channels",
            ),
            (
                json!({"target": "operator", "text": "hi", "channels": ["email"]}),
                "channels",
            ),
        ] {
            let (status, body) = server
                .post(&admin_a, "/admin/api/messages", bad.clone())
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
            assert!(body["error"]["fields"][field].is_string(), "{bad}: {body}");
        }
        let (status, _) = server
            .post(
                &admin_a,
                "/admin/api/messages",
                json!({"target": "operator", "text": "hi", "colour": "red"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = server
            .post(
                &su,
                "/admin/api/messages",
                json!({"target": "operator", "text": "hi"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            before,
            (
                count(&store, "message").await,
                count(&store, "outbound_message").await
            )
        );

        // Listing: own operator only, filters, CSV.
        let (status, list) = server.get(&admin_a, "/admin/api/messages").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["count"], 2, "{list}");
        assert!(list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["body"] == html));
        let (_, list) = server.get(&admin_b, "/admin/api/messages").await;
        assert_eq!(list["count"], 0);
        let (status, _) = server
            .get(&admin_b, &format!("/admin/api/messages?client_id={a}"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, list) = server
            .get(&admin_a, "/admin/api/messages?channel=sms")
            .await;
        assert_eq!(list["count"], 1);
        assert_eq!(list["items"][0]["recipient"], "+79990000001");
        let (_, list) = server
            .get(
                &su,
                &format!("/admin/api/messages?client_id={a}&channel=screen"),
            )
            .await;
        assert_eq!(list["count"], 1);
        let (_, list) = server
            .get(&admin_a, "/admin/api/messages?limit=1&offset=1")
            .await;
        assert_eq!(list["count"], 1);
        let (_, list) = server
            .get(
                &admin_a,
                "/admin/api/messages?from=2000-01-01&to=2000-01-02",
            )
            .await;
        assert_eq!(list["count"], 0);
        for bad in [
            "state=bogus",
            "channel=fax",
            "customer_id=1%27%20OR%201=1",
            "limit=0",
        ] {
            let (status, body) = server
                .get(&admin_a, &format!("/admin/api/messages?{bad}"))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        }
        let (status, csv) = server
            .get_text(&admin_a, "/admin/api/messages?format=csv")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            csv.starts_with("channel,id,client_id,customer_id,account_id,recipient"),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 3, "{csv}");

        // Resend a failed SMS.
        let fake = FakeHttp::start(vec![("/hook", 400, "bad number")]).await;
        set(
            &store,
            a,
            &[
                ("sms.backend", "webhook"),
                ("sms.url", &format!("{}/hook", fake.base())),
            ],
        )
        .await;
        let now = efir_store::now();
        let id = outbox::queue_sms(
            &store,
            Actor::System("t".into()),
            a,
            Some(ann),
            "+79990000001",
            "x",
            now,
        )
        .await
        .unwrap();
        let filter = DueFilter {
            ids: Some(vec![id]),
            ..DueFilter::default()
        };
        outbox::deliver_due(
            &store,
            &reqwest::Client::new(),
            Actor::System("t".into()),
            &filter,
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            outbox::get(&store, id).await.unwrap().unwrap().state,
            "failed"
        );
        let path = format!("/admin/api/messages/{id}/resend");
        let (status, _) = server.post(&admin_b, &path, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another operator's message");
        let (status, _) = server.post(&monitor_a, &path, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = server.post(&admin_a, &path, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["attempts"], 0);
        let (status, _) = server
            .post(&admin_a, "/admin/api/messages/abc/resend", json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let events = store
            .audit_events(&efir_store::audit::AuditFilter {
                entity: Some("outbound_message".into()),
                entity_id: Some(id.to_string()),
                limit: 20,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(events
            .iter()
            .any(|e| e.action == "resend" && e.actor.starts_with("user:")));
        server.stop().await;
    }
}
