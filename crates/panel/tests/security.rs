//! The panel's security promises across every area, over real HTTP on
//! SQLite and PostgreSQL: staff of operator A get 403 or 404 on every page
//! and action that concerns operator B, and none of their attempts changes
//! anything; forms without their CSRF token are refused everywhere.

mod common;

use common::{id_from, Browser, PanelServer};
use efir_backoffice::admin::StaffRole;
use efir_store::testing::TestDb;
use efir_store::with_db;
use reqwest::StatusCode;

/// Operator B's objects, one of each kind, and the pages and actions that
/// concern them.
struct Objects {
    get: Vec<String>,
    post: Vec<(String, Vec<(String, String)>)>,
}

async fn make_b_objects(s: &PanelServer, b: i64, admin: &Browser) -> Objects {
    let page = admin
        .post("/admin/tariffs/new", &[("name", "B tariff")])
        .await;
    let tariff = id_from(&page.location, "/admin/tariffs/");
    let page = admin
        .post(
            "/admin/customers/new",
            &[
                ("lastname", "B customer"),
                ("mobile_phone_number", "+79990001122"),
            ],
        )
        .await;
    let customer = id_from(&page.location, "/admin/customers/");
    let page = admin
        .post(
            &format!("/admin/customers/{customer}/accounts"),
            &[("abonement", "b-777")],
        )
        .await;
    let account = id_from(&page.location, "/admin/accounts/");
    let page = admin
        .post("/admin/content/channel/new", &[("name", "B channel")])
        .await;
    let channel = id_from(&page.location, "/admin/content/channel/");
    let page = admin
        .post("/admin/content/video/new", &[("name", "B video")])
        .await;
    let video = id_from(&page.location, "/admin/content/video/");
    let page = admin
        .post(
            "/admin/cases/new",
            &[
                ("case_type", "support_ticket"),
                ("title", "B case"),
                ("description", "d"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let case = id_from(&page.location, "/admin/cases/");
    let now = efir_store::now();
    let source: i64 = with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
        "INSERT INTO epg_source (client_id, name, url, created_at, updated_at) VALUES ($1, 'B guide', '/nonexistent.xml', $2, $2) RETURNING id")
        .bind(b).bind(now).fetch_one(p).await).unwrap();
    let epg_channel: i64 = with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
        "INSERT INTO epg_channel (source_id, ext_id, name, created_at, updated_at) VALUES ($1, 'b.1', 'B guide channel', $2, $2) RETURNING id")
        .bind(source).bind(now).fetch_one(p).await).unwrap();
    let message: i64 = with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
        "INSERT INTO outbound_message (client_id, customer_id, channel, recipient, body, state, next_attempt_at, created_at) \
         VALUES ($1, $2, 'sms', '+79990001122', 'B text', 'failed', $3, $3) RETURNING id")
        .bind(b).bind(customer).bind(now).fetch_one(p).await).unwrap();
    let page = admin
        .post(
            "/admin/streams/datacenters/new",
            &[("name", "B dc"), ("location", "Minsk")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let dc = id_from(&page.location, "/admin/streams/datacenters/");
    let page = admin
        .post(
            "/admin/streams/services/new",
            &[
                ("name", "B live"),
                ("service_type", "live"),
                ("url_mask", "http://b.tv/{channel}/index.m3u8"),
                ("weight", "1"),
                ("enabled", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let service = id_from(&page.location, "/admin/streams/services/");
    let sid = service.to_string();
    let page = admin
        .post(
            "/admin/streams/maintenance/new",
            &[
                ("stream_service_id", &sid),
                ("starts_at", "2030-01-01T01:00"),
                ("ends_at", "2030-01-01T03:00"),
                ("comment", "B work"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let window = id_from(&page.location, "/admin/streams/maintenance/");
    let f = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let own_tariff = tariff.to_string();
    let own_channel = channel.to_string();
    Objects {
        get: vec![
            format!("/admin/customers/{customer}"),
            format!("/admin/customers/{customer}/edit"),
            format!("/admin/accounts/{account}"),
            format!("/admin/tariffs/{tariff}"),
            format!("/admin/tariffs/{tariff}/edit"),
            format!("/admin/content/channel/{channel}"),
            format!("/admin/content/video/{video}"),
            format!("/admin/cases/{case}"),
            format!("/admin/epg/sources/{source}"),
            format!("/admin/epg/channels/{epg_channel}"),
            format!("/admin/?client={b}"),
            format!("/admin/customers?client={b}"),
            format!("/admin/accounts?client={b}"),
            format!("/admin/tariffs?client={b}"),
            format!("/admin/content/channel?client={b}"),
            format!("/admin/cases?client={b}"),
            format!("/admin/epg/sources?client={b}"),
            format!("/admin/messages?client={b}"),
            format!("/admin/operators/{b}"),
            format!("/admin/operators/{b}/settings"),
            format!("/admin/streams/services/{service}"),
            format!("/admin/streams/services/{service}/edit"),
            format!("/admin/streams/datacenters/{dc}"),
            format!("/admin/streams/datacenters/{dc}/edit"),
            format!("/admin/streams/maintenance/{window}"),
            format!("/admin/streams/maintenance/{window}/edit"),
            format!("/admin/streams/services?client={b}"),
        ],
        post: vec![
            (
                format!("/admin/customers/{customer}/edit"),
                f(&[("lastname", "hacked")]),
            ),
            (
                format!("/admin/customers/{customer}/tariffs"),
                f(&[("tariff_id", &own_tariff)]),
            ),
            (
                format!("/admin/customers/{customer}/tariffs/{tariff}/remove"),
                Vec::new(),
            ),
            (
                format!("/admin/customers/{customer}/accounts"),
                f(&[("abonement", "x-1")]),
            ),
            (format!("/admin/accounts/{account}/logout-all"), Vec::new()),
            (format!("/admin/accounts/{account}/deactivate"), Vec::new()),
            (
                format!("/admin/tariffs/{tariff}/edit"),
                f(&[("name", "hacked")]),
            ),
            (
                format!("/admin/content/channel/{channel}"),
                f(&[("name", "hacked")]),
            ),
            (
                format!("/admin/content/channel/{channel}/delete"),
                Vec::new(),
            ),
            (format!("/admin/content/video/{video}/delete"), Vec::new()),
            (
                format!("/admin/cases/{case}/transition"),
                f(&[("to", "in_progress")]),
            ),
            (
                format!("/admin/cases/{case}/comments"),
                f(&[("body", "hacked")]),
            ),
            (
                format!("/admin/cases/{case}/tasks"),
                f(&[("title", "hacked"), ("due_at", "2030-01-01T10:00")]),
            ),
            (format!("/admin/epg/sources/{source}/import"), Vec::new()),
            (
                format!("/admin/epg/channels/{epg_channel}/map"),
                f(&[("channel_id", &own_channel)]),
            ),
            (format!("/admin/messages/{message}/resend"), Vec::new()),
            (
                format!("/admin/operators/{b}/settings"),
                f(&[("billing.mode", "prepaid")]),
            ),
            (
                format!("/admin/operators/{b}/keys/device/rotate"),
                Vec::new(),
            ),
            (
                format!("/admin/operators/{b}/keys/billing/rotate"),
                Vec::new(),
            ),
            (
                format!("/admin/streams/services/{service}/edit"),
                f(&[("name", "hacked")]),
            ),
            (
                format!("/admin/streams/services/{service}/check"),
                Vec::new(),
            ),
            (
                format!("/admin/streams/datacenters/{dc}/edit"),
                f(&[("name", "hacked")]),
            ),
            (
                format!("/admin/streams/maintenance/{window}/edit"),
                f(&[("comment", "hacked")]),
            ),
            (
                format!("/admin/streams/maintenance/{window}/delete"),
                Vec::new(),
            ),
            (
                "/admin/streams/maintenance/new".to_string(),
                f(&[
                    ("stream_service_id", &sid),
                    ("starts_at", "2030-02-01T01:00"),
                    ("ends_at", "2030-02-01T02:00"),
                ]),
            ),
        ],
    }
}

/// Audit events that concern operator `b`.
async fn b_events(s: &PanelServer, b: i64) -> i64 {
    with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM audit_event WHERE client_id = $1").bind(b).fetch_one(p).await)
    .unwrap()
}

#[tokio::test]
async fn staff_of_one_operator_never_reach_another() {
    for db in TestDb::both().await {
        let s = PanelServer::start(db).await;
        let a = s.operator("alpha").await;
        let b = s.operator("beta").await;
        let b_admin = s
            .login_as("b-admin", StaffRole::OperatorAdmin, Some(b.id))
            .await;
        let objects = make_b_objects(&s, b.id, &b_admin).await;
        // B's own admin reaches all of it (the URLs are right).
        for path in &objects.get {
            let page = b_admin.get(path).await;
            assert_eq!(page.status, StatusCode::OK, "B's admin: GET {path}");
        }
        let before = b_events(&s, b.id).await;
        let message_state = || async {
            with_db!(s.store.pool(), p => sqlx::query_scalar::<_, String>(
                "SELECT state FROM outbound_message WHERE client_id = $1").bind(b.id).fetch_one(p).await).unwrap()
        };
        for role in [
            StaffRole::Support,
            StaffRole::OperatorAdmin,
            StaffRole::Monitoring,
        ] {
            let name = format!("a-{role:?}");
            let user = s.login_as(&name, role, Some(a.id)).await;
            for path in &objects.get {
                let page = user.get(path).await;
                assert!(
                    matches!(page.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
                    "{role:?} of A: GET {path} answered {}",
                    page.status
                );
                assert!(
                    !page.body.contains("B customer") && !page.body.contains("B case"),
                    "{path} leaks"
                );
            }
            for (path, form) in &objects.post {
                let form: Vec<(&str, &str)> =
                    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let page = user.post(path, &form).await;
                // A form naming B's object in a field (not in its path) is
                // refused as invalid input instead.
                let by_field = path.ends_with("/new");
                assert!(
                    matches!(page.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN)
                        || (by_field && page.status == StatusCode::UNPROCESSABLE_ENTITY),
                    "{role:?} of A: POST {path} answered {}: {}",
                    page.status,
                    page.body
                );
            }
        }
        // Nothing of B's changed: no audit event about B, the message
        // was not re-queued, the customer keeps its name.
        assert_eq!(b_events(&s, b.id).await, before);
        assert_eq!(message_state().await, "failed");
        let name: String = with_db!(s.store.pool(), p => sqlx::query_scalar::<_, String>(
            "SELECT lastname FROM customer WHERE client_id = $1").bind(b.id).fetch_one(p).await)
        .unwrap();
        assert_eq!(name, "B customer");
        // Without the CSRF token, even B's own admin changes nothing.
        for (path, form) in &objects.post {
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let page = b_admin.post_raw(path, &form).await;
            assert_eq!(
                page.status,
                StatusCode::FORBIDDEN,
                "POST {path} without CSRF"
            );
        }
        assert_eq!(b_events(&s, b.id).await, before);
        s.stop().await;
    }
}
