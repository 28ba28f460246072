//! Operators (settings, API keys shown once) and stream services, data
//! centers and maintenance windows, over real HTTP on SQLite and
//! PostgreSQL.

mod common;

use common::each_db;
use efir_backoffice::admin::StaffRole;
use efir_store::with_db;
use reqwest::StatusCode;

/// The id at the end of a `Location`.
fn id_of(location: Option<&str>) -> i64 {
    location
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn operator_pages_are_for_admins_of_their_operator() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let b = s.operator("beta").await;
        let admin = s
            .login_as("anna", StaffRole::OperatorAdmin, Some(a.id))
            .await;
        let page = admin.get("/admin/operators").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("alpha TV"));
        assert!(!page.body.contains("beta TV"));
        let page = admin.get(&format!("/admin/operators/{}", a.id)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("alpha"), "domain prefix");
        assert!(page.body.contains("Customers"));
        // Another operator's pages do not exist for this admin.
        for path in [
            format!("/admin/operators/{}", b.id),
            format!("/admin/operators/{}/settings", b.id),
        ] {
            assert_eq!(
                admin.get(&path).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let page = admin
            .post(
                &format!("/admin/operators/{}/settings", b.id),
                &[("billing.mode", "prepaid")],
            )
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert!(s.store.client_settings(b.id).await.unwrap().is_empty());
        // Support and monitoring users have no access at all.
        let support = s.login_as("sue", StaffRole::Support, Some(a.id)).await;
        let watcher = s.login_as("walt", StaffRole::Monitoring, Some(a.id)).await;
        for user in [&support, &watcher] {
            assert_eq!(
                user.get("/admin/operators").await.status,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                user.get(&format!("/admin/operators/{}", a.id)).await.status,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                user.get(&format!("/admin/operators/{}/settings", a.id))
                    .await
                    .status,
                StatusCode::FORBIDDEN
            );
        }
        assert!(!support
            .get("/admin/")
            .await
            .body
            .contains("/admin/operators"));
        // A superuser sees every operator.
        let root = s.login_as("root", StaffRole::Superuser, None).await;
        let page = root.get("/admin/operators").await;
        assert!(page.body.contains("alpha TV") && page.body.contains("beta TV"));
        assert_eq!(
            root.get(&format!("/admin/operators/{}", b.id)).await.status,
            StatusCode::OK
        );
        s
    })
    .await;
}

#[tokio::test]
async fn settings_are_validated_secrets_masked_and_kept() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let admin = s
            .login_as("anna", StaffRole::OperatorAdmin, Some(a.id))
            .await;
        let path = format!("/admin/operators/{}/settings", a.id);
        let page = admin.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("id=\"f-billing.mode\""));
        assert!(page.body.contains("id=\"f-sms.backend\""));
        // A value the owning part rejects: 422 with the field's error, and
        // nothing is written (not even the valid field beside it).
        let page = admin
            .post(&path, &[("billing.mode", "free"), ("sms.sender", "TV")])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            page.body.contains("id=\"err-billing.mode\""),
            "{}",
            page.body
        );
        assert!(page.body.contains("expected off, dates or prepaid"));
        assert!(s.store.client_settings(a.id).await.unwrap().is_empty());
        // Valid values are stored (audited by the store).
        let page = admin
            .post(
                &path,
                &[
                    ("billing.mode", "prepaid"),
                    ("sms.backend", "log"),
                    ("sms.password", "s3cret-pass"),
                    ("sms.sender", "<script>alert(1)</script>"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let stored = s.store.client_settings(a.id).await.unwrap();
        assert_eq!(
            stored.get("billing.mode").map(String::as_str),
            Some("prepaid")
        );
        assert_eq!(
            stored.get("sms.password").map(String::as_str),
            Some("s3cret-pass")
        );
        let page = admin.get(&path).await;
        assert!(!page.body.contains("s3cret-pass"));
        assert!(page.body.contains("***"));
        assert!(page.body.contains("&lt;script&gt;alert(1)"));
        assert!(!page.body.contains("<script>alert(1)"));
        // The secret submitted empty is kept; an empty non-secret removes.
        let page = admin
            .post(
                &path,
                &[
                    ("sms.password", ""),
                    ("sms.sender", ""),
                    ("billing.mode", "prepaid"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let stored = s.store.client_settings(a.id).await.unwrap();
        assert_eq!(
            stored.get("sms.password").map(String::as_str),
            Some("s3cret-pass")
        );
        assert!(!stored.contains_key("sms.sender"));
        s
    })
    .await;
}

#[tokio::test]
async fn a_rotated_key_is_shown_once_and_never_audited() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let b = s.operator("beta").await;
        let admin = s
            .login_as("anna", StaffRole::OperatorAdmin, Some(a.id))
            .await;
        let old = s.store.client(a.id).await.unwrap();
        let page = admin
            .post(
                &format!("/admin/operators/{}/keys/billing/rotate", a.id),
                &[],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(
            page.headers.get("cache-control").unwrap().to_str().unwrap(),
            "no-store"
        );
        let start = page.body.find("<code id=\"new-key\">").unwrap() + 19;
        let key = &page.body[start..start + page.body[start..].find('<').unwrap()];
        let now = s.store.client(a.id).await.unwrap();
        assert_eq!(now.billing_api_key, key);
        assert_ne!(old.billing_api_key, key);
        assert_eq!(now.content_api_key, old.content_api_key);
        // Later views show only a prefix.
        let page = admin.get(&format!("/admin/operators/{}", a.id)).await;
        assert!(!page.body.contains(key));
        assert!(page.body.contains(&format!("{}…", &key[..4])));
        // The audit event names the key kind, never the key.
        let data: Vec<String> = with_db!(s.store.pool(), p => sqlx::query_scalar(
            "SELECT data FROM audit_event WHERE action = 'rotate_key' AND client_id = $1")
            .bind(a.id).fetch_all(p).await)
        .unwrap();
        assert_eq!(data.len(), 1);
        assert!(data[0].contains("billing"));
        assert!(!data[0].contains(key));
        // The device key works too; unknown kinds do not exist.
        let page = admin
            .post(
                &format!("/admin/operators/{}/keys/device/rotate", a.id),
                &[],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert_ne!(s.store.client(a.id).await.unwrap().api_key, old.api_key);
        assert_eq!(
            admin
                .post(&format!("/admin/operators/{}/keys/root/rotate", a.id), &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // Nobody else may rotate: another operator's admin 404, support 403.
        let other = s
            .login_as("bob", StaffRole::OperatorAdmin, Some(b.id))
            .await;
        assert_eq!(
            other
                .post(
                    &format!("/admin/operators/{}/keys/billing/rotate", a.id),
                    &[]
                )
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let support = s.login_as("sue", StaffRole::Support, Some(a.id)).await;
        assert_eq!(
            support
                .post(
                    &format!("/admin/operators/{}/keys/billing/rotate", a.id),
                    &[]
                )
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(s.store.client(a.id).await.unwrap().billing_api_key, key);
        s
    })
    .await;
}

#[tokio::test]
async fn stream_services_data_centers_and_health() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let b = s.operator("beta").await;
        let admin = s
            .login_as("anna", StaffRole::OperatorAdmin, Some(a.id))
            .await;
        let other = s
            .login_as("bob", StaffRole::OperatorAdmin, Some(b.id))
            .await;
        // Data centers of both operators.
        let page = admin
            .post(
                "/admin/streams/datacenters/new",
                &[("name", "DC <b>One</b>"), ("location", "Riga")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let dc_a = id_of(page.location.as_deref());
        let page = other
            .post("/admin/streams/datacenters/new", &[("name", "Beta DC")])
            .await;
        let dc_b = id_of(page.location.as_deref());
        assert_eq!(
            other
                .get(&format!("/admin/streams/datacenters/{dc_a}"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let page = admin.get("/admin/streams/datacenters").await;
        assert!(page.body.contains("DC &lt;b&gt;One"));
        assert!(!page.body.contains("Beta DC"));
        // A bad URL mask and a foreign data center are field errors.
        let base = [
            ("name", "<script>alert(1)</script>"),
            ("service_type", "live"),
            ("url_mask", "http://127.0.0.1:1/$cid/index.m3u8"),
            ("secure_link_secret", "topsecret"),
            ("weight", "2"),
            ("enabled", "1"),
        ];
        let mut bad = base.to_vec();
        bad[2] = ("url_mask", "not a url");
        let page = admin.post("/admin/streams/services/new", &bad).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-url_mask\""), "{}", page.body);
        let dc_b_text = dc_b.to_string();
        let mut foreign = base.to_vec();
        foreign.push(("data_center_id", &dc_b_text));
        let page = admin.post("/admin/streams/services/new", &foreign).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-data_center_id\""));
        let count: i64 = with_db!(s.store.pool(), p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM stream_service").fetch_one(p).await)
        .unwrap();
        assert_eq!(count, 0);
        // A good one.
        let dc_a_text = dc_a.to_string();
        let mut good = base.to_vec();
        good.push(("data_center_id", &dc_a_text));
        let page = admin.post("/admin/streams/services/new", &good).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let id = id_of(page.location.as_deref());
        let page = admin.get("/admin/streams/services").await;
        assert!(page.body.contains("&lt;script&gt;alert(1)"));
        assert!(!page.body.contains("<script>alert(1)"));
        let detail = format!("/admin/streams/services/{id}");
        let page = admin.get(&detail).await;
        assert!(page.body.contains("unknown"));
        assert!(page.body.contains("***") && !page.body.contains("topsecret"));
        // Check now: nothing listens on port 1, so the service is down.
        let page = admin.post(&format!("{detail}/check"), &[]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(
            page.location.as_deref(),
            Some(format!("{detail}?notice=checked").as_str())
        );
        let page = admin.get(page.location.as_deref().unwrap()).await;
        assert!(page.body.contains("class=\"bad\">down"), "{}", page.body);
        assert!(page.body.contains("TCP connect to 127.0.0.1:1"));
        let (health, at): (String, Option<i64>) = with_db!(s.store.pool(), p => sqlx::query_as(
            "SELECT health, health_checked_at FROM stream_service WHERE id = $1")
            .bind(id).fetch_one(p).await)
        .unwrap();
        assert_eq!(health, "down");
        assert!(at.is_some());
        // Editing with an empty secret keeps it.
        let mut edit = good.clone();
        edit[0] = ("name", "Live 1");
        edit[3] = ("secure_link_secret", "");
        let page = admin.post(&format!("{detail}/edit"), &edit).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let (name, secret): (String, String) = with_db!(s.store.pool(), p => sqlx::query_as(
            "SELECT name, secure_link_secret FROM stream_service WHERE id = $1")
            .bind(id).fetch_one(p).await)
        .unwrap();
        assert_eq!((name.as_str(), secret.as_str()), ("Live 1", "topsecret"));
        // Another operator's admin: 404 everywhere.
        assert_eq!(other.get(&detail).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            other.post(&format!("{detail}/edit"), &edit).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            other.post(&format!("{detail}/check"), &[]).await.status,
            StatusCode::NOT_FOUND
        );
        assert!(!other
            .get("/admin/streams/services")
            .await
            .body
            .contains("Live 1"));
        // Monitoring reads but changes nothing; support may not change
        // services.
        let watcher = s.login_as("walt", StaffRole::Monitoring, Some(a.id)).await;
        assert_eq!(watcher.get(&detail).await.status, StatusCode::OK);
        assert_eq!(
            watcher.post(&format!("{detail}/check"), &[]).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            watcher
                .post("/admin/streams/services/new", &good)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let support = s.login_as("sue", StaffRole::Support, Some(a.id)).await;
        assert_eq!(
            support.post(&format!("{detail}/edit"), &edit).await.status,
            StatusCode::FORBIDDEN
        );
        // A superuser must name the operator of a new service.
        let root = s.login_as("root", StaffRole::Superuser, None).await;
        let page = root.post("/admin/streams/services/new", &base).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-client_id\""));
        assert!(root
            .get("/admin/streams/services")
            .await
            .body
            .contains("Live 1"));
        s
    })
    .await;
}

#[tokio::test]
async fn maintenance_windows() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let b = s.operator("beta").await;
        let admin = s
            .login_as("anna", StaffRole::OperatorAdmin, Some(a.id))
            .await;
        let page = admin
            .post(
                "/admin/streams/services/new",
                &[
                    ("name", "Live A"),
                    ("service_type", "live"),
                    ("url_mask", "http://edge.alpha.tv/$cid"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let service = id_of(page.location.as_deref()).to_string();
        // Support staff may schedule windows; the end must follow the start.
        let support = s.login_as("sue", StaffRole::Support, Some(a.id)).await;
        let page = support
            .post(
                "/admin/streams/maintenance/new",
                &[
                    ("stream_service_id", &service),
                    ("starts_at", "2030-01-02T10:00"),
                    ("ends_at", "2030-01-02T09:00"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-ends_at\""));
        let page = support
            .post(
                "/admin/streams/maintenance/new",
                &[
                    ("stream_service_id", &service),
                    ("starts_at", "2030-01-02T10:00"),
                    ("ends_at", "2030-01-02T12:00"),
                    ("comment", "<script>x()</script> kernel update"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let window = id_of(page.location.as_deref());
        let page = support.get("/admin/streams/maintenance").await;
        assert!(page.body.contains("2030-01-02 10:00"));
        assert!(page.body.contains("&lt;script&gt;x()"));
        let (starts, ends): (i64, i64) = with_db!(s.store.pool(), p => sqlx::query_as(
            "SELECT starts_at, ends_at FROM maintenance WHERE id = $1")
            .bind(window).fetch_one(p).await)
        .unwrap();
        assert_eq!(ends - starts, 7200);
        // Another operator: 404 for the window, and its service is no
        // choice for them.
        let other = s
            .login_as("bob", StaffRole::OperatorAdmin, Some(b.id))
            .await;
        let path = format!("/admin/streams/maintenance/{window}");
        assert_eq!(other.get(&path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            other.post(&format!("{path}/delete"), &[]).await.status,
            StatusCode::NOT_FOUND
        );
        let page = other
            .post(
                "/admin/streams/maintenance/new",
                &[
                    ("stream_service_id", &service),
                    ("starts_at", "2030-01-02T10:00"),
                    ("ends_at", "2030-01-02T12:00"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-stream_service_id\""));
        // Monitoring may not delete; support may.
        let watcher = s.login_as("walt", StaffRole::Monitoring, Some(a.id)).await;
        assert_eq!(
            watcher.post(&format!("{path}/delete"), &[]).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            support.post(&format!("{path}/delete"), &[]).await.status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(support.get(&path).await.status, StatusCode::NOT_FOUND);
        s
    })
    .await;
}
