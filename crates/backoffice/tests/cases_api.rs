//! The cases admin REST API over real HTTP on both databases: the
//! permission matrix of the four roles, cross-operator 404, 409/403 on
//! transitions, attachments (413, 415, traversal-proof names, download
//! headers), SQL-looking search, CSV, tasks and notifications.

mod common;

use common::AdminServer;
use efir_backoffice::admin::StaffRole;
use efir_store::testing::TestDb;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Api<'a> {
    s: &'a AdminServer,
    token: String,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .s
            .http
            .get(format!("{}{path}", self.s.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let st = r.status();
        (st, r.json().await.unwrap_or(Value::Null))
    }
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .s
            .http
            .request(method, format!("{}{path}", self.s.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let st = r.status();
        (st, r.json().await.unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }
    async fn upload(&self, case: i64, name: &str, ctype: &str, bytes: Vec<u8>) -> StatusCode {
        self.s
            .http
            .post(format!(
                "{}/admin/api/cases/{case}/attachments",
                self.s.base
            ))
            .bearer_auth(&self.token)
            .header("x-file-name", name)
            .header("content-type", ctype)
            .body(bytes)
            .send()
            .await
            .unwrap()
            .status()
    }
}

async fn count(s: &AdminServer, sql: &str) -> i64 {
    efir_store::with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.unwrap())
}

async fn operator(s: &AdminServer, name: &str) -> i64 {
    let mut tx = s
        .store
        .begin(efir_store::Actor::System("test".into()))
        .await
        .unwrap();
    let c = s
        .store
        .create_client(
            &mut tx,
            &efir_store::clients::NewClient {
                name: name.into(),
                api_key: format!("{name}-api-key-0001"),
                domain_prefix: name.into(),
                email: format!("ops@{name}.tv"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    c.id
}

#[tokio::test]
async fn cases_api_roles_and_scoping() {
    for db in TestDb::both().await {
        let s = AdminServer::start(db).await;
        let a = operator(&s, "alpha").await;
        let b = operator(&s, "beta").await;
        let root = Api {
            s: &s,
            token: s.staff(StaffRole::Superuser, None).await,
        };
        let admin = Api {
            s: &s,
            token: s.staff(StaffRole::OperatorAdmin, Some(a)).await,
        };
        let support = Api {
            s: &s,
            token: s.staff(StaffRole::Support, Some(a)).await,
        };
        let monitor = Api {
            s: &s,
            token: s.staff(StaffRole::Monitoring, Some(a)).await,
        };
        let other = Api {
            s: &s,
            token: s.staff(StaffRole::OperatorAdmin, Some(b)).await,
        };

        let (st, types) = support.get("/admin/api/case-types").await;
        assert_eq!(st, StatusCode::OK);
        assert!(types["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "payment_dispute"));

        // Create: support and admin yes, monitoring 403, superuser needs client_id.
        let (st, t1) = support
            .post(
                "/admin/api/cases",
                json!({"case_type": "support_ticket", "title": "No sound"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{t1}");
        let id = t1["id"].as_i64().unwrap();
        let (st, _) = monitor
            .post(
                "/admin/api/cases",
                json!({"case_type": "support_ticket", "title": "x"}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = root
            .post(
                "/admin/api/cases",
                json!({"case_type": "support_ticket", "title": "x", "client_id": a}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let (st, e) = admin
            .post(
                "/admin/api/cases",
                json!({"case_type": "support_ticket", "title": "x", "customer_id": 424242}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

        // Reads: all four roles of A; B gets 404.
        for api in [&root, &admin, &support, &monitor] {
            assert_eq!(
                api.get(&format!("/admin/api/cases/{id}")).await.0,
                StatusCode::OK
            );
        }
        assert_eq!(
            other.get(&format!("/admin/api/cases/{id}")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            other
                .post(
                    &format!("/admin/api/cases/{id}/comments"),
                    json!({"text": "hi"})
                )
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            other
                .post(
                    &format!("/admin/api/cases/{id}/transition"),
                    json!({"to": "in_progress"})
                )
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let (_, list) = other.get("/admin/api/cases").await;
        assert_eq!(list["count"], 0);

        // Writes by monitoring: 403 everywhere.
        assert_eq!(
            monitor
                .post(
                    &format!("/admin/api/cases/{id}/comments"),
                    json!({"text": "hi"})
                )
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            monitor
                .post(
                    &format!("/admin/api/cases/{id}/transition"),
                    json!({"to": "in_progress"})
                )
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            monitor
                .post(
                    &format!("/admin/api/cases/{id}/tasks"),
                    json!({"title": "t"})
                )
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            monitor
                .upload(id, "a.txt", "text/plain", b"hello".to_vec())
                .await,
            StatusCode::FORBIDDEN
        );

        // Transitions: 409 when not allowed, 403 when admin-only.
        assert_eq!(
            support
                .post(
                    &format!("/admin/api/cases/{id}/transition"),
                    json!({"to": "closed"})
                )
                .await
                .0,
            StatusCode::CONFLICT
        );
        let (st, _) = support
            .post(
                &format!("/admin/api/cases/{id}/transition"),
                json!({"to": "in_progress", "comment": "on it"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let (_, d) = admin
            .post(
                "/admin/api/cases",
                json!({"case_type": "payment_dispute", "title": "double charge"}),
            )
            .await;
        let did = d["id"].as_i64().unwrap();
        assert_eq!(
            support
                .post(
                    &format!("/admin/api/cases/{did}/transition"),
                    json!({"to": "evidence"})
                )
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            support
                .post(
                    &format!("/admin/api/cases/{did}/transition"),
                    json!({"to": "approved"})
                )
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            admin
                .post(
                    &format!("/admin/api/cases/{did}/transition"),
                    json!({"to": "approved"})
                )
                .await
                .0,
            StatusCode::OK
        );

        // Attachments.
        let files_before = count(&s, "SELECT COUNT(*) FROM case_attachment").await;
        assert_eq!(
            support
                .upload(
                    id,
                    "big.txt",
                    "text/plain",
                    vec![b'a'; 10 * 1024 * 1024 + 1]
                )
                .await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            support
                .upload(
                    id,
                    "invoice.pdf",
                    "application/pdf",
                    b"MZ\x90\x00\x03".to_vec()
                )
                .await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            support
                .upload(id, "x.png", "image/png", b"not a png".to_vec())
                .await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM case_attachment").await,
            files_before
        );
        let st = support
            .upload(
                id,
                "..%2F..%2Fetc%2Fpasswd.txt",
                "text/plain",
                b"line\n".to_vec(),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let (_, list) = support
            .get(&format!("/admin/api/cases/{id}/attachments"))
            .await;
        let att = &list["items"][0];
        assert_eq!(att["file_name"], "passwd.txt");
        let r = s
            .http
            .get(format!(
                "{}/admin/api/cases/{id}/attachments/{}",
                s.base, att["id"]
            ))
            .bearer_auth(&monitor.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"passwd.txt\""));
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"line\n");
        let r = s
            .http
            .get(format!(
                "{}/admin/api/cases/{id}/attachments/{}",
                s.base, att["id"]
            ))
            .bearer_auth(&other.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);

        // Search with SQL-looking text: plain no-match, nothing broken.
        for q in ["' OR 1=1 --", "'; DROP TABLE case_item; --"] {
            let r = s
                .http
                .get(format!("{}/admin/api/cases", s.base))
                .query(&[("q", q)])
                .bearer_auth(&admin.token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["count"], 0, "{q}");
        }
        let r = s
            .http
            .get(format!("{}/admin/api/cases", s.base))
            .query(&[("q", "sound"), ("format", "csv")])
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        let csv = r.text().await.unwrap();
        assert!(
            csv.starts_with("id,client_id,case_type,state,title"),
            "{csv}"
        );
        assert!(csv.contains("No sound"));

        // Tasks and notifications.
        let (st, task) = support
            .post(
                &format!("/admin/api/cases/{id}/tasks"),
                json!({"title": "call", "remind_at": 1}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{task}");
        let fired = efir_backoffice::cases::Cases::new(
            s.store.clone(),
            &Default::default(),
            std::env::temp_dir(),
        )
        .send_reminders(10, efir_store::Actor::Scheduler("test".into()))
        .await
        .unwrap();
        assert_eq!(fired, 1);
        let (_, n) = support.get("/admin/api/notifications?unread=true").await;
        assert_eq!(n["count"], 1, "{n}");
        let nid = n["items"][0]["id"].as_i64().unwrap();
        assert_eq!(
            admin
                .post(&format!("/admin/api/notifications/{nid}/read"), json!({}))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            support
                .post(&format!("/admin/api/notifications/{nid}/read"), json!({}))
                .await
                .0,
            StatusCode::NO_CONTENT
        );
        let (_, n) = support.get("/admin/api/notifications?unread=true").await;
        assert_eq!(n["count"], 0);
        let tid = task["id"].as_i64().unwrap();
        let (st, done) = support
            .post(&format!("/admin/api/tasks/{tid}/complete"), json!({}))
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(done["done"], true);
        assert_eq!(
            other
                .post(&format!("/admin/api/tasks/{tid}/complete"), json!({}))
                .await
                .0,
            StatusCode::NOT_FOUND
        );

        // Soft delete: admin only.
        assert_eq!(
            support
                .send(
                    reqwest::Method::DELETE,
                    &format!("/admin/api/cases/{id}"),
                    json!({})
                )
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            admin
                .send(
                    reqwest::Method::DELETE,
                    &format!("/admin/api/cases/{id}"),
                    json!({})
                )
                .await
                .0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            admin.get(&format!("/admin/api/cases/{id}")).await.0,
            StatusCode::NOT_FOUND
        );
        s.stop().await;
    }
}
