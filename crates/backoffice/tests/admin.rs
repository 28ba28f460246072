//! The admin API's foundation over real HTTP on SQLite and PostgreSQL:
//! logins and their limits, roles and operator scoping, settings, the
//! audit-log search and the request log.

mod common;

use std::time::Duration;

use common::{AdminServer, PASSWORD};
use efir_backoffice::admin::StaffRole;
use efir_store::testing::TestDb;
use efir_store::{with_db, Actor};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn each_db<F, Fut>(f: F)
where
    F: Fn(AdminServer) -> Fut,
    Fut: std::future::Future<Output = AdminServer>,
{
    for db in TestDb::both().await {
        let server = AdminServer::start(db).await;
        f(server).await.stop().await;
    }
}

#[tokio::test]
async fn login_logout_and_bad_tokens() {
    each_db(|s| async move {
        let op = s.operator("alpha").await;
        s.create_staff("anna", StaffRole::Support, Some(op.id))
            .await;
        // No token, a garbage token: 401 in the admin error format.
        let (status, body) = s.send(Method::GET, None, "/admin/api/me", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, _) = s.get("not-a-token", "/admin/api/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // A malformed body is a 400, not a panic or a plain-text answer.
        let resp = s
            .http
            .post(format!("{}/admin/api/login", s.base))
            .header("content-type", "application/json")
            .body("{\"username\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request");

        let token = s.login("anna", PASSWORD).await;
        let (status, me) = s.get(&token, "/admin/api/me").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["user"]["role"], "support");
        assert_eq!(me["user"]["client_id"], op.id);
        // Only a hash of the token is stored.
        let stored: Vec<String> = with_db!(s.store.pool(), p => sqlx::query_scalar(
                "SELECT token_hash FROM staff_session")
            .fetch_all(p)
            .await)
        .unwrap();
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0], token);

        let (status, _) = s.post(&token, "/admin/api/logout", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = s.get(&token, "/admin/api/me").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a logged-out token is dead"
        );

        // An expired session is refused.
        let token = s.login("anna", PASSWORD).await;
        with_db!(s.store.pool(), p => sqlx::query("UPDATE staff_session SET expires_at = 1")
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap();
        let (status, _) = s.get(&token, "/admin/api/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        s
    })
    .await;
}

#[tokio::test]
async fn failed_logins_are_limited() {
    each_db(|s| async move {
        let op = s.operator("beta").await;
        s.create_staff("boris", StaffRole::OperatorAdmin, Some(op.id))
            .await;
        for _ in 0..5 {
            let (status, body) = s
                .send(
                    Method::POST,
                    None,
                    "/admin/api/login",
                    Some(json!({"username": "boris", "password": "guess"})),
                )
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        }
        // Now even the right password is refused for a while.
        let (status, body) = s
            .send(
                Method::POST,
                None,
                "/admin/api/login",
                Some(json!({"username": "boris", "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "too_many_requests");
        s
    })
    .await;
}

#[tokio::test]
async fn settings_by_role_and_operator() {
    each_db(|s| async move {
        let a = s.operator("opa").await;
        let b = s.operator("opb").await;
        let admin_a = s.staff(StaffRole::OperatorAdmin, Some(a.id)).await;
        let support_a = s.staff(StaffRole::Support, Some(a.id)).await;
        let admin_b = s.staff(StaffRole::OperatorAdmin, Some(b.id)).await;
        let root = s.staff(StaffRole::Superuser, None).await;
        let path = format!("/admin/api/clients/{}/settings", a.id);

        let (status, body) = s
            .patch(
                &admin_a,
                &path,
                json!({"sms.backend": "smsc-ru", "sms.login": "opa", "sms.password": "s3cret"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["settings"]["sms.backend"], "smsc-ru");
        assert_eq!(
            body["settings"]["sms.password"], "***",
            "secrets never answered"
        );
        assert!(!body.to_string().contains("s3cret"));

        // A wrong value among good ones: 422 naming it, nothing written.
        let audit_before = s.store.audit_count().await.unwrap();
        let (status, body) = s
            .patch(
                &admin_a,
                &path,
                json!({"sms.sender": "OPA", "sms.attempts": "-1", "sms.colour": "red"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["fields"]["sms.attempts"].is_string());
        assert!(body["error"]["fields"]["sms.colour"].is_string());
        assert_eq!(s.store.audit_count().await.unwrap(), audit_before);
        let stored = s.store.client_settings(a.id).await.unwrap();
        assert!(!stored.contains_key("sms.sender"));

        // Support reads but may not change; another operator's admin and
        // monitoring see nothing of operator A.
        let (status, body) = s.get(&support_a, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["settings"]["sms.login"], "opa");
        let (status, _) = s.patch(&support_a, &path, json!({"sms.sender": "X"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s.get(&admin_b, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s.patch(&admin_b, &path, json!({"sms.sender": "X"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s.get(&root, "/admin/api/clients/999999/settings").await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Removing with null.
        let (status, body) = s.patch(&root, &path, json!({"sms.login": null})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["settings"].get("sms.login").is_none());

        // Operators list is scoped too.
        let (_, list) = s.get(&admin_b, "/admin/api/clients").await;
        assert_eq!(list["count"], 1);
        assert_eq!(list["items"][0]["id"], b.id);
        let (_, list) = s.get(&root, "/admin/api/clients").await;
        assert_eq!(list["count"], 2);
        s
    })
    .await;
}

#[tokio::test]
async fn audit_search() {
    each_db(|s| async move {
        let a = s.operator("aud-a").await;
        let b = s.operator("aud-b").await;
        let admin_a = s.staff(StaffRole::OperatorAdmin, Some(a.id)).await;
        let admin_b = s.staff(StaffRole::OperatorAdmin, Some(b.id)).await;
        let support_a = s.staff(StaffRole::Support, Some(a.id)).await;
        let path = format!("/admin/api/clients/{}/settings", a.id);
        let (status, _) = s
            .patch(&admin_a, &path, json!({"sms.sender": "AlphaTV"}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = s
            .patch(&admin_a, &path, json!({"sms.sender": "AlphaTV2"}))
            .await;
        assert_eq!(status, StatusCode::OK);

        let (status, found) = s
            .get(
                &admin_a,
                "/admin/api/audit?entity=client_setting&entity_id=sms.sender",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["count"], 2);
        let newest = &found["items"][0];
        assert_eq!(newest["data"]["before"], "AlphaTV");
        assert_eq!(newest["data"]["after"], "AlphaTV2");
        assert!(newest["actor"].as_str().unwrap().starts_with("user:"));

        // Text search, a prefix of actors, and CSV.
        let (_, found) = s.get(&admin_a, "/admin/api/audit?q=alphatv2").await;
        assert_eq!(found["count"], 1);
        let (_, found) = s
            .get(&admin_a, "/admin/api/audit?actor=user:&action=set")
            .await;
        assert_eq!(found["count"], 2);
        let (status, csv) = s
            .get_text(
                &admin_a,
                "/admin/api/audit?entity=client_setting&format=csv",
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(csv.starts_with("id,at,actor,client_id,action,entity,entity_id,data\r\n"));
        assert_eq!(csv.lines().count(), 3);

        // SQL-looking and LIKE-special text is plain text: no match, no error.
        for q in [
            "' OR '1'='1",
            "100%",
            "a_b_c_d",
            "x'); DROP TABLE audit_event; --",
        ] {
            let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
            let (status, found) = s.get(&admin_a, &format!("/admin/api/audit?q={enc}")).await;
            assert_eq!(status, StatusCode::OK, "{q}: {found}");
            assert_eq!(found["count"], 0, "{q}");
        }
        let (status, body) = s.get(&admin_a, "/admin/api/audit?from=yesterday").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["error"]["fields"]["from"].is_string());
        let (status, _) = s.get(&admin_a, "/admin/api/audit?limit=100000").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // Operator B's admin sees none of it; support may not search.
        let (_, found) = s
            .get(&admin_b, "/admin/api/audit?entity=client_setting")
            .await;
        assert_eq!(found["count"], 0);
        let (status, _) = s
            .get(&admin_b, &format!("/admin/api/audit?client_id={}", a.id))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s.get(&support_a, "/admin/api/audit").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        s
    })
    .await;
}

#[tokio::test]
async fn request_log_records_and_searches() {
    each_db(|s| async move {
        let a = s.operator("log-a").await;
        let b = s.operator("log-b").await;
        s.create_staff("olga", StaffRole::OperatorAdmin, Some(a.id))
            .await;
        let olga = s.login("olga", PASSWORD).await;
        let admin_b = s.staff(StaffRole::OperatorAdmin, Some(b.id)).await;
        let (status, _) = s
            .get(&olga, &format!("/admin/api/clients/{}/settings", a.id))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = s.get(&olga, "/admin/api/no-such-thing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s
            .send(
                Method::POST,
                None,
                "/admin/api/login",
                Some(json!({"username": "olga", "password": "wrong"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // The writer works in the background: wait for the entries.
        let mut found = json!(null);
        for _ in 0..50 {
            let (status, body) = s
                .get(&olga, "/admin/api/request-log?username=olga&path=settings")
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["count"] == 1 {
                found = body;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let entry = &found["items"][0];
        assert_eq!(entry["method"], "GET");
        assert_eq!(entry["status"], 200);
        assert_eq!(entry["client_id"], a.id);
        assert_eq!(entry["ip"], "127.0.0.1");
        assert!(entry["duration_ms"].as_i64().unwrap() >= 0);

        // A failed login belongs to no operator yet: superusers see it.
        let root = s.staff(StaffRole::Superuser, None).await;
        let (_, failed) = s
            .get(&root, "/admin/api/request-log?status=401&path=/login")
            .await;
        assert!(failed["count"].as_i64().unwrap() >= 1, "{failed}");
        assert!(failed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["username"] == "olga" && e["user_id"].is_null()));
        let (_, missing) = s.get(&olga, "/admin/api/request-log?status=404").await;
        assert_eq!(missing["count"], 1);

        // Operator B's admin does not see operator A's staff.
        let (_, other) = s
            .get(&admin_b, "/admin/api/request-log?username=olga")
            .await;
        assert_eq!(other["count"], 0);
        let (status, _) = s.get(&olga, "/admin/api/request-log?status=99").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // Retention: older entries go, recent ones stay, and it is audited.
        with_db!(s.store.pool(), p => sqlx::query(
                "INSERT INTO request_log (at, username, method, path, status, duration_ms) \
                 VALUES (1000, 'old', 'GET', '/admin/api/me', 200, 1)")
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap();
        let removed = efir_backoffice::admin::log::purge(
            &s.store,
            Actor::Command("clear-request-log".into()),
            efir_store::now() - 86_400,
        )
        .await
        .unwrap();
        assert_eq!(removed, 1);
        let (_, old) = s.get(&olga, "/admin/api/request-log?username=old").await;
        assert_eq!(old["count"], 0);
        let again = efir_backoffice::admin::log::purge(
            &s.store,
            Actor::Command("clear-request-log".into()),
            efir_store::now() - 86_400,
        )
        .await
        .unwrap();
        assert_eq!(again, 0);
        s
    })
    .await;
}

#[tokio::test]
async fn password_change_ends_other_logins() {
    each_db(|s| async move {
        let a = s.operator("pw").await;
        s.create_staff("petr", StaffRole::Support, Some(a.id)).await;
        let first = s.login("petr", PASSWORD).await;
        let second = s.login("petr", PASSWORD).await;
        let (status, body) = s
            .post(
                &second,
                "/admin/api/password",
                json!({"old_password": "wrong", "new_password": "another-long-pass"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = s
            .post(
                &second,
                "/admin/api/password",
                json!({"old_password": PASSWORD, "new_password": "another-long-pass"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["other_logins_ended"], 1);
        assert_eq!(
            s.get(&first, "/admin/api/me").await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(s.get(&second, "/admin/api/me").await.0, StatusCode::OK);
        s.login("petr", "another-long-pass").await;
        s
    })
    .await;
}
