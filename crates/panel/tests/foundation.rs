//! The panel's foundation over real HTTP on SQLite and PostgreSQL: login
//! by cookie and its limit, CSRF, roles, languages, and the dashboard.

mod common;

use common::{each_db, PASSWORD};
use efir_backoffice::admin::StaffRole;
use reqwest::StatusCode;

#[tokio::test]
async fn login_by_cookie_logout_and_redirects() {
    each_db(|s| async move {
        let op = s.operator("alpha").await;
        s.create_staff("anna", StaffRole::OperatorAdmin, Some(op.id))
            .await;
        let mut b = s.browser();
        // Not logged in: pages send to the login form, keeping the target.
        let page = b.get("/admin/customers?q=x").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(
            page.location.as_deref(),
            Some("/admin/login?next=%2Fadmin%2Fcustomers%3Fq%3Dx")
        );
        // A wrong password: the form again with an error, no cookie.
        let page = b.login("anna", "wrong-password").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(page.body.contains("Wrong user name or password."));
        assert!(b.session.is_none());
        // The right one: a session cookie with the safe attributes.
        let page = b.login("anna", PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let cookie = page
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|v| v.starts_with("efir_session="))
            .unwrap();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
            assert!(cookie.contains(attr), "{cookie} lacks {attr}");
        }
        assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
        let page = b.get("/admin/").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("anna"));
        assert!(page
            .headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        // Only the hash of the token is stored.
        let token = b.session.clone().unwrap();
        let stored: i64 = efir_store::with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM staff_session WHERE token_hash = $1")
            .bind(&token).fetch_one(p).await)
        .unwrap();
        assert_eq!(stored, 0);
        // Logout without the CSRF token is refused and keeps the session.
        let page = b.post_raw("/admin/logout", &[]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert_eq!(b.get("/admin/").await.status, StatusCode::OK);
        // With it, the session ends.
        let page = b.post("/admin/logout", &[]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(b.get("/admin/").await.status, StatusCode::SEE_OTHER);
        // An open redirect through `next` is not possible.
        let mut b = s.browser();
        let resp = b.login("anna", PASSWORD).await;
        assert_eq!(resp.location.as_deref(), Some("/admin/"));
        s
    })
    .await;
}

#[tokio::test]
async fn login_limit_and_login_csrf() {
    each_db(|s| async move {
        s.create_staff("root", StaffRole::Superuser, None).await;
        let mut b = s.browser();
        for _ in 0..5 {
            assert_eq!(
                b.login("root", "nope-nope-nope").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        // Even the right password is refused now.
        let page = b.login("root", PASSWORD).await;
        assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(page.body.contains("Too many failed logins"));
        assert!(b.session.is_none());
        // The login form without its token is refused.
        let resp = b
            .http
            .post(format!("{}/admin/login", s.base))
            .form(&[("username", "root"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        s
    })
    .await;
}

#[tokio::test]
async fn profile_language_and_password() {
    each_db(|s| async move {
        let op = s.operator("alpha").await;
        let b = s.login_as("ivan", StaffRole::Support, Some(op.id)).await;
        let page = b.get("/admin/profile").await;
        assert!(page.body.contains("Change password"));
        // An unknown language is refused; Russian is taken.
        assert_eq!(
            b.post("/admin/profile/language", &[("language", "xx")])
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let page = b
            .post("/admin/profile/language", &[("language", "ru")])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let page = b.get("/admin/").await;
        assert!(page.body.contains("Обзор"), "{}", page.body);
        assert!(page.body.contains("lang=\"ru\""));
        // A wrong current password names the field; a right one works and
        // ends the user's other logins but not this one.
        let mut other = s.browser();
        other.login("ivan", PASSWORD).await;
        let page = b
            .post(
                "/admin/profile/password",
                &[
                    ("old_password", "bad"),
                    ("new_password", "another-long-pass"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-old_password\""));
        let page = b
            .post(
                "/admin/profile/password",
                &[
                    ("old_password", PASSWORD),
                    ("new_password", "another-long-pass"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(b.get("/admin/").await.status, StatusCode::OK);
        assert_eq!(other.get("/admin/").await.status, StatusCode::SEE_OTHER);
        s
    })
    .await;
}

#[tokio::test]
async fn dashboard_renders_charts_for_each_role() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let b_op = s.operator("beta").await;
        let root = s.login_as("root", StaffRole::Superuser, None).await;
        let page = root.get("/admin/").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.matches("<svg").count() >= 4, "{}", page.body);
        // A superuser may narrow to one operator; others may not pick one.
        assert_eq!(
            root.get(&format!("/admin/?client={}", b_op.id))
                .await
                .status,
            StatusCode::OK
        );
        let watcher = s.login_as("watch", StaffRole::Monitoring, Some(a.id)).await;
        assert_eq!(watcher.get("/admin/").await.status, StatusCode::OK);
        assert_eq!(
            watcher
                .get(&format!("/admin/?client={}", b_op.id))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // Monitoring users cannot post anything but their own profile.
        assert_eq!(
            root.get("/admin/no-such-page").await.status,
            StatusCode::NOT_FOUND
        );
        s
    })
    .await;
}
