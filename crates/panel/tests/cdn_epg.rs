//! The CDN and EPG pages over real HTTP on SQLite and PostgreSQL: edges
//! drained, enabled and disabled (audited, admins only), the subnet import
//! and its validation, live redirect counts from the process's router, EPG
//! sources and channels scoped by operator, mapping, coverage, and "import
//! now" in the background.

mod common;

use std::time::Duration;

use common::{each_db, Browser, PanelServer};
use efir_backoffice::admin::{AdminState, StaffRole};
use efir_backoffice::AdminOptions;
use efir_router::model::{self, NewEdge};
use efir_router::select::ContentKind;
use efir_store::{with_db, Actor};
use reqwest::StatusCode;

/// A page body with the slashes minijinja escapes (`&#x2f;`) as a browser
/// reads them.
fn d(body: &str) -> String {
    body.replace("&#x2f;", "/")
}

fn actor() -> Actor {
    Actor::System("test".into())
}

async fn add_edge(s: &PanelServer, name: &str, region: &str) -> i64 {
    model::add_edge(
        &s.store,
        actor(),
        &NewEdge {
            name: name.into(),
            base_url: "http://edge.cdn.example".into(),
            region: region.into(),
            weight: 100,
            capacity: None,
            capacity_mbps: None,
            serves: vec![ContentKind::Live, ContentKind::Catchup, ContentKind::Vod],
            channels: Vec::new(),
            health_url: String::new(),
        },
    )
    .await
    .unwrap()
}

async fn edge_flags(s: &PanelServer, id: i64) -> (bool, bool) {
    with_db!(s.store.pool(), p => sqlx::query_as::<_, (bool, bool)>(
        "SELECT enabled, draining FROM router_edge WHERE id = $1").bind(id).fetch_one(p).await)
    .unwrap()
}

async fn scalar(s: &PanelServer, sql: &str, arg: i64) -> i64 {
    with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(sql).bind(arg).fetch_one(p).await)
        .unwrap()
}

/// Another panel on the same database with `options` (a router, a data
/// directory); answers a browser of it with `b`'s session.
async fn second_panel(s: &PanelServer, b: &Browser, options: efir_panel::PanelOptions) -> Browser {
    let admin = AdminState::new(
        s.store.clone(),
        AdminOptions {
            data_dir: s.data_dir.path().to_path_buf(),
            session_hours: 12,
            trusted_proxies: Vec::new(),
        },
    );
    let mw = efir_middleware::Middleware::new(
        s.store.clone(),
        efir_middleware::Options {
            trusted_proxies: Vec::new(),
            caches: Default::default(),
        },
    );
    let panel = efir_panel::Panel::new(admin, mw, options);
    let app = efir_panel::routes(panel);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Browser {
        base: format!("http://{addr}"),
        http: b.http.clone(),
        session: b.session.clone(),
    }
}

#[tokio::test]
async fn edges_drain_enable_disable_for_admins_only_and_audited() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let id = add_edge(&s, "<script>alert(1)</script>", "north").await;
        let admin = s
            .login_as("oadmin", StaffRole::OperatorAdmin, Some(a.id))
            .await;
        let support = s.login_as("sup", StaffRole::Support, Some(a.id)).await;
        let watch = s.login_as("watch", StaffRole::Monitoring, Some(a.id)).await;

        // Everyone reads; the stored name is escaped; without a router in
        // the process the page says so.
        for b in [&admin, &support, &watch] {
            let page = b.get("/admin/cdn/edges").await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            assert!(
                d(&page.body).contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{}",
                page.body
            );
            assert!(!d(&page.body).contains("<script>alert(1)"));
            assert!(d(&page.body).contains("no router in this process"));
        }
        let detail = admin.get(&format!("/admin/cdn/edges/{id}")).await;
        assert_eq!(detail.status, StatusCode::OK);
        assert!(d(&detail.body).contains(&format!("action=\"/admin/cdn/edges/{id}/drain\"")));
        assert!(!d(&detail.body).contains("<script>alert(1)"));
        let detail = watch.get(&format!("/admin/cdn/edges/{id}")).await;
        assert!(
            !d(&detail.body).contains("/drain\""),
            "no buttons for watchers"
        );

        // Monitoring and support users may not change the CDN.
        for b in [&watch, &support] {
            let page = b.post(&format!("/admin/cdn/edges/{id}/drain"), &[]).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN);
        }
        assert_eq!(edge_flags(&s, id).await, (true, false));
        let audited = "SELECT COUNT(*) FROM audit_event WHERE entity = 'router_edge' \
                       AND action = 'update' AND entity_id = CAST($1 AS TEXT) \
                       AND actor LIKE 'user:%:oadmin'";
        assert_eq!(scalar(&s, audited, id).await, 0);

        // Drain: the row changes, the change is audited as the staff user,
        // the router's data version moves.
        let version = model::version(&s.store).await.unwrap();
        let page = admin
            .post(&format!("/admin/cdn/edges/{id}/drain"), &[])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(
            page.location.as_deref(),
            Some(format!("/admin/cdn/edges/{id}?done=drain").as_str())
        );
        assert_eq!(edge_flags(&s, id).await, (true, true));
        assert_eq!(scalar(&s, audited, id).await, 1);
        assert_ne!(model::version(&s.store).await.unwrap(), version);
        let page = admin
            .get(&format!("/admin/cdn/edges/{id}?done=drain"))
            .await;
        assert!(d(&page.body).contains("The edge is draining"));
        assert!(d(&page.body).contains("enabled, draining"));

        // Enable: undrained and enabled; disable: off.
        let page = admin
            .post(&format!("/admin/cdn/edges/{id}/disable"), &[])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(edge_flags(&s, id).await, (false, true));
        let page = admin
            .post(&format!("/admin/cdn/edges/{id}/enable"), &[])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(edge_flags(&s, id).await, (true, false));
        assert_eq!(scalar(&s, audited, id).await, 3);

        // Unknown edges are 404; without the CSRF token nothing happens.
        assert_eq!(
            admin.post("/admin/cdn/edges/99999/drain", &[]).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            admin.get("/admin/cdn/edges/nope").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            admin
                .post_raw(&format!("/admin/cdn/edges/{id}/drain"), &[])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(edge_flags(&s, id).await, (true, false));

        // Regions list the edge count.
        let page = watch.get("/admin/cdn/regions").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(d(&page.body).contains("north"));
        s
    })
    .await;
}

#[tokio::test]
async fn subnet_import_replaces_the_table_and_refuses_bad_lines() {
    each_db(|s| async move {
        let root = s.login_as("root", StaffRole::Superuser, None).await;
        let a = s.operator("alpha").await;
        let watch = s.login_as("watch", StaffRole::Monitoring, Some(a.id)).await;
        let count = "SELECT COUNT(*) FROM router_subnet WHERE $1 = $1";

        let page = root
            .post(
                "/admin/cdn/subnets/import",
                &[(
                    "subnets",
                    "# ours\n10.0.0.0/8 north east\n192.168.0.0/16,south\n",
                )],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(scalar(&s, count, 0).await, 2);
        let page = root.get("/admin/cdn/subnets?done=imported").await;
        assert!(d(&page.body).contains("10.0.0.0/8"));
        assert!(d(&page.body).contains("north east"));
        assert!(d(&page.body).contains("Subnets imported"));
        assert!(d(&page.body).contains("id=\"f-subnets\""));
        let page = root.get("/admin/cdn/subnets?q=192.168").await;
        assert!(d(&page.body).contains("192.168.0.0/16"));
        assert!(!d(&page.body).contains("10.0.0.0/8"));

        // A bad line: 422 naming the line, the text kept, nothing imported.
        let page = root
            .post(
                "/admin/cdn/subnets/import",
                &[("subnets", "10.1.0.0/16 north\nnot-a-subnet south\n")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            d(&page.body).contains("id=\"err-subnets\""),
            "{}",
            page.body
        );
        assert!(d(&page.body).contains("line 2"), "{}", page.body);
        assert!(d(&page.body).contains("not-a-subnet south\n</textarea>"));
        assert_eq!(scalar(&s, count, 0).await, 2);
        let kept = "SELECT COUNT(*) FROM router_subnet WHERE cidr = '10.1.0.0/16' AND $1 = $1";
        assert_eq!(scalar(&s, kept, 0).await, 0);
        // Empty input is refused too; watchers may not import, nor see the form.
        let page = root
            .post("/admin/cdn/subnets/import", &[("subnets", "  ")])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(d(&page.body).contains("id=\"err-subnets\""));
        let page = watch
            .post("/admin/cdn/subnets/import", &[("subnets", "10.9.0.0/16 x")])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert_eq!(scalar(&s, count, 0).await, 2);
        let page = watch.get("/admin/cdn/subnets").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!d(&page.body).contains("id=\"f-subnets\""));
        // Escaping of a region name from the import.
        let page = root
            .post(
                "/admin/cdn/subnets/import",
                &[("subnets", "10.0.0.0/8 <script>x</script>")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let page = root.get("/admin/cdn/regions").await;
        assert!(d(&page.body).contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!d(&page.body).contains("<script>x"));

        // A file upload (multipart, the token in the query) works too; a
        // bad file is 422 on the file field and changes nothing.
        let page = root.get("/admin/cdn/subnets").await;
        assert!(d(&page.body).contains("enctype=\"multipart/form-data\""));
        assert!(d(&page.body).contains("id=\"f-file\""));
        let upload = |csv: &'static str| {
            let boundary = "efirTestBoundary42";
            let body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"subnets\"\r\n\r\n\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\
                 Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
            );
            root.http
                .post(format!(
                    "{}/admin/cdn/subnets/import?_csrf={}",
                    root.base,
                    root.csrf()
                ))
                .header(
                    "cookie",
                    format!("efir_session={}", root.session.clone().unwrap()),
                )
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
                .send()
        };
        let resp = upload("cidr,region\n172.16.0.0/12,west\n10.0.0.0/8,west\n")
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(scalar(&s, count, 0).await, 2);
        let west = "SELECT COUNT(*) FROM router_subnet WHERE cidr = '172.16.0.0/12' AND $1 = $1";
        assert_eq!(scalar(&s, west, 0).await, 1);
        let resp = upload("cidr,region\n10.0.0.0/33,west\n").await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = d(&resp.text().await.unwrap());
        assert!(body.contains("id=\"err-file\""), "{body}");
        assert!(body.contains("line 2"), "{body}");
        assert_eq!(scalar(&s, west, 0).await, 1);
        s
    })
    .await;
}

#[tokio::test]
async fn live_redirect_counts_come_from_the_router_of_the_process() {
    each_db(|s| async move {
        model::import_subnets(&s.store, actor(), b"10.0.0.0/8,north\n")
            .await
            .unwrap();
        let id = add_edge(&s, "n1", "north").await;
        let root = s.login_as("root", StaffRole::Superuser, None).await;
        // Without a router: no redirects chart on the dashboard.
        let page = root.get("/admin/").await;
        assert!(!d(&page.body).contains("Redirects per edge"));

        let router = efir_router::service::RouterService::start(
            s.store.clone(),
            efir_router::service::Options {
                poll_health: false,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        for _ in 0..3 {
            let answer = router.decide(&efir_router::service::StreamRequest {
                path: "/btv/live/hls/ch1.m3u8",
                query: None,
                peer: "10.2.3.4".parse().unwrap(),
                real_ip: None,
                forwarded_for: None,
            });
            assert!(
                matches!(answer, efir_router::service::Answer::Redirect { .. }),
                "{answer:?}"
            );
        }
        assert_eq!(router.redirect_counts(), vec![(id as u32, 3)]);
        let live = second_panel(
            &s,
            &root,
            efir_panel::PanelOptions {
                router: Some(router),
                ..Default::default()
            },
        )
        .await;
        let page = live.get("/admin/cdn/edges").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(!d(&page.body).contains("no router in this process"));
        assert!(
            d(&page.body).contains("<span class=\"num\">3</span>"),
            "{}",
            page.body
        );
        assert!(d(&page.body).contains("healthy"));
        let page = live.get(&format!("/admin/cdn/edges/{id}")).await;
        assert!(d(&page.body).contains("<span class=\"num\">3</span>"));
        let page = live.get("/admin/").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            d(&page.body).contains("Redirects per edge"),
            "{}",
            page.body
        );
        assert!(d(&page.body).contains("Redirects per edge region"));
        // The region's bar carries the edges' sum.
        assert!(d(&page.body).contains(">north<"), "{}", page.body);
        s
    })
    .await;
}

async fn insert_channel(s: &PanelServer, client_id: i64, name: &str) -> i64 {
    let now = efir_store::now();
    with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
        "INSERT INTO channel (client_id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         RETURNING id")
        .bind(client_id).bind(name).bind(now).fetch_one(p).await)
    .unwrap()
}

async fn insert_epg_channel(s: &PanelServer, source_id: i64, ext_id: &str, name: &str) -> i64 {
    let now = efir_store::now();
    with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
        "INSERT INTO epg_channel (source_id, ext_id, name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id")
        .bind(source_id).bind(ext_id).bind(name).bind(now).fetch_one(p).await)
    .unwrap()
}

async fn add_source(s: &PanelServer, name: &str, url: &str, client_id: Option<i64>) -> i64 {
    efir_epg::model::add_source(
        &s.store,
        actor(),
        &efir_epg::model::NewSource {
            name: name.into(),
            url: url.into(),
            time_zone: String::new(),
            client_id,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn epg_objects_are_scoped_and_mapping_shows_on_the_channel() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let b_op = s.operator("beta").await;
        let src_a = add_source(&s, "<script>src</script>", "/nowhere/a.xml", Some(a.id)).await;
        let src_b = add_source(&s, "beta guide", "/nowhere/b.xml", Some(b_op.id)).await;
        let shared = add_source(&s, "shared guide", "/nowhere/s.xml", None).await;
        let epg_a = insert_epg_channel(&s, src_a, "one.a", "One A").await;
        let epg_b = insert_epg_channel(&s, src_b, "one.b", "One B").await;
        let epg_s = insert_epg_channel(&s, shared, "news.s", "News Shared").await;
        let ch_a = insert_channel(&s, a.id, "Alpha One").await;
        let ch_a2 = insert_channel(&s, a.id, "Alpha Two").await;
        let ch_b = insert_channel(&s, b_op.id, "Beta One").await;
        let sup = s.login_as("sup", StaffRole::Support, Some(a.id)).await;
        let watch = s.login_as("watch", StaffRole::Monitoring, Some(a.id)).await;

        // Lists: own and shared sources, never another operator's; names
        // escaped.
        let page = sup.get("/admin/epg/sources").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(d(&page.body).contains("&lt;script&gt;src&lt;/script&gt;"));
        assert!(!d(&page.body).contains("<script>src"));
        assert!(d(&page.body).contains("shared guide"));
        assert!(!d(&page.body).contains("beta guide"));
        let page = sup.get("/admin/epg/channels").await;
        assert!(d(&page.body).contains("One A") && d(&page.body).contains("News Shared"));
        assert!(!d(&page.body).contains("One B"));
        let page = sup.get("/admin/epg/channels?q=news").await;
        assert!(d(&page.body).contains("News Shared") && !d(&page.body).contains("One A"));

        // Another operator's source and EPG channel are 404, reading and
        // writing.
        for path in [
            format!("/admin/epg/sources/{src_b}"),
            format!("/admin/epg/channels/{epg_b}"),
        ] {
            assert_eq!(sup.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(
            sup.post(&format!("/admin/epg/sources/{src_b}/import"), &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let b_id = ch_a.to_string();
        assert_eq!(
            sup.post(
                &format!("/admin/epg/channels/{epg_b}/map"),
                &[("channel_id", b_id.as_str())]
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
        // Another operator's channel cannot be mapped either.
        let other = ch_b.to_string();
        assert_eq!(
            sup.post(
                &format!("/admin/epg/channels/{epg_a}/map"),
                &[("channel_id", other.as_str())]
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
        let epg_of = "SELECT COALESCE(epg_channel_id, 0) FROM channel WHERE id = $1";
        assert_eq!(scalar(&s, epg_of, ch_b).await, 0);

        // Bad input: field errors.
        let page = sup
            .post(
                &format!("/admin/epg/channels/{epg_a}/map"),
                &[("channel_id", "")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            d(&page.body).contains("id=\"err-channel_id\""),
            "{}",
            page.body
        );
        let page = sup
            .post(
                &format!("/admin/epg/channels/{epg_a}/map"),
                &[("channel_id", "999999")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        // Monitoring users may not map.
        let own = ch_a.to_string();
        assert_eq!(
            watch
                .post(
                    &format!("/admin/epg/channels/{epg_a}/map"),
                    &[("channel_id", own.as_str())]
                )
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(scalar(&s, epg_of, ch_a).await, 0);

        // Mapping works and shows on the channel and in the lists.
        let page = sup.get(&format!("/admin/epg/channels/{epg_a}")).await;
        assert!(d(&page.body).contains("Alpha One (#"), "{}", page.body);
        assert!(d(&page.body).contains("id=\"f-channel_id\""));
        let page = sup
            .post(
                &format!("/admin/epg/channels/{epg_a}/map"),
                &[("channel_id", own.as_str())],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(scalar(&s, epg_of, ch_a).await, epg_a);
        let page = sup
            .get(&format!("/admin/epg/channels/{epg_a}?done=mapped"))
            .await;
        assert!(d(&page.body).contains("The channel shows this guide now."));
        assert!(d(&page.body).contains(&format!("href=\"/admin/content/channel/{ch_a}\"")));
        let page = sup.get("/admin/epg/channels").await;
        assert!(d(&page.body).contains(&format!("Alpha One (#{ch_a})")));
        // A shared source may feed an operator's channel.
        let two = ch_a2.to_string();
        let page = sup
            .post(
                &format!("/admin/epg/channels/{epg_s}/map"),
                &[("channel_id", two.as_str())],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(scalar(&s, epg_of, ch_a2).await, epg_s);
        let audited = "SELECT COUNT(*) FROM audit_event WHERE entity = 'channel' \
                       AND action = 'map_epg' AND actor LIKE 'user:%:sup' AND client_id = $1";
        assert_eq!(scalar(&s, audited, a.id).await, 2);

        // Coverage: the operator's channels without a guide, not others'.
        let page = sup.get("/admin/epg/coverage").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(d(&page.body).contains("Alpha One") && d(&page.body).contains("Alpha Two"));
        assert!(!d(&page.body).contains("Beta One"));
        assert_eq!(
            sup.get(&format!("/admin/epg/coverage?client={}", b_op.id))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        s
    })
    .await;
}

fn xmltv_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y%m%d%H%M%S +0000")
        .to_string()
}

async fn wait_imported(s: &PanelServer, source: i64) {
    let sql = "SELECT COUNT(*) FROM audit_event WHERE entity = 'epg_source' \
               AND action IN ('import', 'import_failed') AND entity_id = CAST($1 AS TEXT)";
    for _ in 0..200 {
        if scalar(s, sql, source).await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the import of source {source} never finished");
}

#[tokio::test]
async fn import_now_runs_in_the_background_and_records_its_result() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let now = efir_store::now();
        let guide = s.data_dir.path().join("guide.xml");
        std::fs::write(
            &guide,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\
                 <channel id=\"one.tv\"><display-name>One</display-name></channel>\
                 <programme start=\"{}\" stop=\"{}\" channel=\"one.tv\"><title>News</title></programme>\
                 </tv>\n",
                xmltv_time(now - 600),
                xmltv_time(now + 3000)
            ),
        )
        .unwrap();
        let good = add_source(&s, "good guide", guide.to_str().unwrap(), Some(a.id)).await;
        let missing = s.data_dir.path().join("missing.xml");
        let bad = add_source(&s, "bad guide", missing.to_str().unwrap(), Some(a.id)).await;
        let shared = add_source(&s, "shared guide", missing.to_str().unwrap(), None).await;
        let sup = s.login_as("sup", StaffRole::Support, Some(a.id)).await;
        let watch = s.login_as("watch", StaffRole::Monitoring, Some(a.id)).await;
        let config = efir_core::config::Config {
            data_dir: s.data_dir.path().to_path_buf(),
            ..Default::default()
        };
        let options = efir_panel::PanelOptions {
            config: std::sync::Arc::new(config),
            ..Default::default()
        };
        let panel = second_panel(&s, &sup, options).await;

        // Before: never imported.
        let page = panel.get(&format!("/admin/epg/sources/{good}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(d(&page.body).contains("never"));
        assert!(d(&page.body).contains(&format!("action=\"/admin/epg/sources/{good}/import\"")));

        // Monitoring users cannot import; a shared source takes an admin.
        let w = Browser {
            base: panel.base.clone(),
            http: watch.http.clone(),
            session: watch.session.clone(),
        };
        assert_eq!(
            w.post(&format!("/admin/epg/sources/{good}/import"), &[])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            panel
                .post(&format!("/admin/epg/sources/{shared}/import"), &[])
                .await
                .status,
            StatusCode::FORBIDDEN
        );

        let page = panel
            .post(&format!("/admin/epg/sources/{good}/import"), &[])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(
            page.location.as_deref(),
            Some(format!("/admin/epg/sources/{good}?done=import").as_str())
        );
        wait_imported(&s, good).await;
        // The import's own records land right after its audit event.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let page = panel.get(&format!("/admin/epg/sources/{good}")).await;
        assert!(!d(&page.body).contains("never"), "{}", page.body);
        assert!(d(&page.body).contains("programmes: 1, added: 1"), "{}", page.body);
        assert!(d(&page.body).contains("user:"), "the import event names the user");
        let programmes = "SELECT COUNT(*) FROM epg_programme p JOIN epg_channel c \
                          ON c.id = p.epg_channel_id WHERE c.source_id = $1";
        assert_eq!(scalar(&s, programmes, good).await, 1);

        // A failing source: its error is recorded and shown.
        let page = panel
            .post(&format!("/admin/epg/sources/{bad}/import"), &[])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        wait_imported(&s, bad).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let page = panel.get(&format!("/admin/epg/sources/{bad}")).await;
        assert!(d(&page.body).contains("missing.xml"), "{}", page.body);
        assert!(d(&page.body).contains("import_failed"));
        let page = panel.get("/admin/epg/sources").await;
        assert!(d(&page.body).contains("class=\"bad\""));
        s
    })
    .await;
}
