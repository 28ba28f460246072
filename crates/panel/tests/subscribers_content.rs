//! Customers, accounts, tariffs and content through the panel over real
//! HTTP on SQLite and PostgreSQL: forms, validation, operator scoping,
//! escaping, audit.

mod common;

use common::{each_db, id_from};
use efir_backoffice::admin::StaffRole;
use efir_store::with_db;
use reqwest::StatusCode;

#[tokio::test]
async fn tariff_channel_customer_account_flow() {
    each_db(|s| async move {
        let op = s.operator("alpha").await;
        let admin = s.login_as("boss", StaffRole::OperatorAdmin, Some(op.id)).await;
        // A tariff without a name: 422 with the field's error, nothing made.
        let page = admin.post("/admin/tariffs/new", &[("name", ""), ("price", "5")]).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
        assert!(page.body.contains("id=\"err-name\""), "{}", page.body);
        let page = admin
            .post("/admin/tariffs/new", &[("name", "Basic"), ("price", "9.90"), ("period", "1"), ("basic_tariff_priority", "1")])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let tariff = id_from(&page.location, "/admin/tariffs/");
        // A channel with a bad address: 422 naming `uri`.
        let t = tariff.to_string();
        let page = admin
            .post("/admin/content/channel/new", &[("name", "News 24"), ("uri", "javascript:x"), ("enabled", "1"), ("tariff_id", &t)])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-uri\""), "{}", page.body);
        // As a browser sends it: every field, the numbers left empty.
        let page = admin
            .post(
                "/admin/content/channel/new",
                &[
                    ("name", "News 24"),
                    ("uri", "http://edge.tv/news/index.m3u8"),
                    ("enabled", "1"),
                    ("tariff_id", &t),
                    ("category_id", ""),
                    ("epg_channel_id", ""),
                    ("recording_days", ""),
                    ("sort", ""),
                    ("lcn_number", ""),
                    ("aspect_ratio", ""),
                    ("icon", ""),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let channel = id_from(&page.location, "/admin/content/channel/");
        let page = admin.get(&format!("/admin/content/channel/{channel}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("News 24"));
        // The tariff page shows what it opens.
        let page = admin.get(&format!("/admin/tariffs/{tariff}")).await;
        assert!(page.body.contains("News 24"), "{}", page.body);
        // A customer, the tariff assigned, an account.
        let page = admin
            .post("/admin/customers/new", &[("firstname", "Olga"), ("lastname", "Petrova"), ("email", "olga@example.net")])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let customer = id_from(&page.location, "/admin/customers/");
        let page = admin.post(&format!("/admin/customers/{customer}/tariffs"), &[("tariff_id", &t)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let page = admin
            .post(&format!("/admin/customers/{customer}/accounts"), &[("abonement", "100200"), ("password", "secret-pass")])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let account = id_from(&page.location, "/admin/accounts/");
        let page = admin.get(&format!("/admin/accounts/{account}")).await;
        assert!(page.body.contains("100200"));
        assert!(page.body.contains("News 24"), "the account gets the channel: {}", page.body);
        // Lists find them; search narrows.
        let page = admin.get("/admin/customers?q=petro").await;
        assert!(page.body.contains("Petrova"));
        assert!(page.body.contains("<span id=\"total\">1</span>"), "{}", page.body);
        // By the account's abonement, numeric or not.
        let page = admin.get("/admin/customers?q=100200").await;
        assert!(page.body.contains("Petrova"), "{}", page.body);
        let page = admin.get("/admin/customers?q=0020").await;
        assert!(page.body.contains("<span id=\"total\">0</span>"), "numbers match whole");
        let page = admin.get("/admin/customers?q=nobody").await;
        assert!(page.body.contains("<span id=\"total\">0</span>"));
        let page = admin.get("/admin/content/channel?q=news").await;
        assert!(page.body.contains("News 24"));
        // Changes are audited as the staff user.
        let actors: Vec<String> = with_db!(s.store.pool(), p => sqlx::query_scalar::<_, String>(
            "SELECT actor FROM audit_event WHERE entity IN ('customer', 'tariff', 'channel') ORDER BY id")
            .fetch_all(p).await).unwrap();
        assert!(!actors.is_empty());
        assert!(actors.iter().all(|a| a.starts_with("user:") && a.ends_with(":boss")), "{actors:?}");
        // Removing the tariff takes the channel off the account.
        let page = admin.post(&format!("/admin/customers/{customer}/tariffs/{tariff}/remove"), &[]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let page = admin.get(&format!("/admin/accounts/{account}")).await;
        assert!(!page.body.contains("News 24"));
        // Logging out every device ends the account's sessions.
        let now = efir_store::now();
        with_db!(s.store.pool(), p => sqlx::query(
            "INSERT INTO account_authkey (account_id, authkey, device_uid, ip, created_at, expires_at, last_seen_at) \
             VALUES ($1, 'k1', 'uid-1', '10.0.0.1', $2, $3, $2)")
            .bind(account).bind(now).bind(now + 3600).execute(p).await.map(|_| ())).unwrap();
        assert!(admin.get(&format!("/admin/accounts/{account}")).await.body.contains("uid-1"));
        let page = admin.post(&format!("/admin/accounts/{account}/logout-all"), &[]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let left: i64 = with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM account_authkey WHERE account_id = $1").bind(account).fetch_one(p).await).unwrap();
        assert_eq!(left, 0);
        s
    })
    .await;
}

#[tokio::test]
async fn other_operators_objects_are_not_found_and_roles_hold() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let b = s.operator("beta").await;
        let b_admin = s
            .login_as("bertha", StaffRole::OperatorAdmin, Some(b.id))
            .await;
        let page = b_admin
            .post("/admin/tariffs/new", &[("name", "Beta tariff")])
            .await;
        let tariff = id_from(&page.location, "/admin/tariffs/");
        let page = b_admin
            .post(
                "/admin/customers/new",
                &[("lastname", "<script>alert(1)</script>")],
            )
            .await;
        let customer = id_from(&page.location, "/admin/customers/");
        let page = b_admin
            .post(
                &format!("/admin/customers/{customer}/accounts"),
                &[("abonement", "b-1")],
            )
            .await;
        let account = id_from(&page.location, "/admin/accounts/");
        let page = b_admin
            .post(
                "/admin/content/category/new",
                &[("name", "Beta <b>cat</b>")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let category = id_from(&page.location, "/admin/content/category/");
        // HTML typed into fields is shown escaped everywhere.
        for path in [
            format!("/admin/customers/{customer}"),
            "/admin/customers".to_string(),
            format!("/admin/accounts/{account}"),
        ] {
            let page = b_admin.get(&path).await;
            assert!(
                !page.body.contains("<script>alert(1)"),
                "{path} shows raw HTML"
            );
        }
        let page = b_admin.get("/admin/customers").await;
        assert!(
            page.body.contains("&lt;script&gt;alert(1)"),
            "{}",
            page.body
        );
        let page = b_admin
            .get(&format!("/admin/content/category/{category}"))
            .await;
        assert!(page.body.contains("Beta &lt;b&gt;cat"), "{}", page.body);
        // Support of operator A: B's objects do not exist, on every page
        // and action.
        let support = s.login_as("sam", StaffRole::Support, Some(a.id)).await;
        for path in [
            format!("/admin/customers/{customer}"),
            format!("/admin/customers/{customer}/edit"),
            format!("/admin/accounts/{account}"),
            format!("/admin/tariffs/{tariff}"),
            format!("/admin/content/category/{category}"),
            format!("/admin/customers?client={}", b.id),
            format!("/admin/content/channel?client={}", b.id),
        ] {
            assert_eq!(
                support.get(&path).await.status,
                StatusCode::NOT_FOUND,
                "GET {path}"
            );
        }
        let t = tariff.to_string();
        for (path, form) in [
            (
                format!("/admin/customers/{customer}/edit"),
                vec![("lastname", "x")],
            ),
            (
                format!("/admin/customers/{customer}/tariffs"),
                vec![("tariff_id", t.as_str())],
            ),
            (format!("/admin/customers/{customer}/accounts"), vec![]),
            (format!("/admin/accounts/{account}/logout-all"), vec![]),
            (format!("/admin/accounts/{account}/deactivate"), vec![]),
        ] {
            assert_eq!(
                support.post(&path, &form).await.status,
                StatusCode::NOT_FOUND,
                "POST {path}"
            );
        }
        // A's support cannot give its customer B's tariff either.
        let page = support
            .post("/admin/customers/new", &[("lastname", "Own")])
            .await;
        let own = id_from(&page.location, "/admin/customers/");
        let page = support
            .post(
                &format!("/admin/customers/{own}/tariffs"),
                &[("tariff_id", &t)],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            page.body
        );
        // Support may not make tariffs or content; B's admin may not touch A's.
        assert_eq!(
            support
                .post("/admin/tariffs/new", &[("name", "x")])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            support
                .post("/admin/content/channel/new", &[("name", "x")])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            support
                .post(&format!("/admin/content/category/{category}/delete"), &[])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            b_admin
                .post(&format!("/admin/customers/{own}/accounts"), &[])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // Monitoring users read but never write.
        let watcher = s.login_as("wanda", StaffRole::Monitoring, Some(b.id)).await;
        assert_eq!(
            watcher
                .get(&format!("/admin/customers/{customer}"))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            watcher
                .post("/admin/customers/new", &[("lastname", "x")])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            watcher
                .post(&format!("/admin/accounts/{account}/logout-all"), &[])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        // A superuser must choose the operator of a new customer.
        let root = s.login_as("root", StaffRole::Superuser, None).await;
        let page = root
            .post("/admin/customers/new", &[("lastname", "Nobody")])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-client_id\""));
        let bid = b.id.to_string();
        let page = root
            .post(
                "/admin/customers/new",
                &[("client_id", &bid), ("lastname", "Rooted")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        // Without the CSRF token nothing is made.
        let page = root
            .post_raw(
                "/admin/customers/new",
                &[("client_id", &bid), ("lastname", "Forged")],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        let forged: i64 = with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM customer WHERE lastname = 'Forged'").fetch_one(p).await)
        .unwrap();
        assert_eq!(forged, 0);
        s
    })
    .await;
}

#[tokio::test]
async fn localised_names_side_by_side_and_pagination() {
    each_db(|s| async move {
        let op = s.operator("gamma").await;
        let admin = s
            .login_as("gadmin", StaffRole::OperatorAdmin, Some(op.id))
            .await;
        // The operator's languages, set on its page: a code twice is refused.
        let path = format!("/admin/operators/{}/languages", op.id);
        let page = admin
            .post(
                &path,
                &[
                    ("default_language", "en"),
                    ("language1", "ru"),
                    ("language2", "ru"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-language2\""), "{}", page.body);
        let page = admin
            .post(
                &path,
                &[
                    ("default_language", "en"),
                    ("language1", "RU"),
                    ("language2", "kk"),
                    ("language3", ""),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let langs = s
            .store
            .client(op.id)
            .await
            .unwrap()
            .additional_languages()
            .join(",");
        assert_eq!(langs, "ru,kk");
        let page = admin.get("/admin/content/channel/new").await;
        assert!(
            page.body.contains("class=\"side-by-side\""),
            "{}",
            page.body
        );
        assert!(page.body.contains("name · ru") && page.body.contains("name · kk"));
        assert!(
            !page.body.contains("name_lang3"),
            "slots without a language are hidden"
        );
        // Field labels are the interface's words, in the user's language.
        assert!(page.body.contains("Archive days"), "{}", page.body);
        admin
            .post("/admin/profile/language", &[("language", "ru")])
            .await;
        let page = admin.get("/admin/content/channel/new").await;
        assert!(page.body.contains("Дней архива") && page.body.contains("Адрес потока"));
        let page = admin
            .post(
                "/admin/content/channel/new",
                &[
                    ("name", "Sport"),
                    ("name_lang1", "Спорт"),
                    ("name_lang2", "Спорт kk"),
                ],
            )
            .await;
        let id = id_from(&page.location, "/admin/content/channel/");
        let page = admin.get(&format!("/admin/content/channel/{id}")).await;
        assert!(page.body.contains("value=\"Спорт\""), "{}", page.body);
        // 120 customers: three pages of 50.
        for i in 0..120 {
            let n = format!("Client{i:03}");
            admin
                .post("/admin/customers/new", &[("lastname", &n)])
                .await;
        }
        let page = admin.get("/admin/customers").await;
        assert!(page.body.contains("1 / 3"));
        assert!(page.body.contains("Client119") && !page.body.contains("Client000"));
        let page = admin.get("/admin/customers?page=3").await;
        assert!(page.body.contains("Client000"));
        let page = admin.get("/admin/customers?page=99").await;
        assert!(
            page.body.contains("3 / 3"),
            "past the end shows the last page"
        );
        s
    })
    .await;
}

#[tokio::test]
async fn vod_videos_seasons_episodes_files() {
    each_db(|s| async move {
        let op = s.operator("delta").await;
        let admin = s
            .login_as("vadmin", StaffRole::OperatorAdmin, Some(op.id))
            .await;
        let page = admin
            .post("/admin/content/video/new", &[("name", "Long Story")])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let video = id_from(&page.location, "/admin/content/video/");
        let v = video.to_string();
        // The video's page links to its seasons and files.
        let page = admin.get(&format!("/admin/content/video/{video}")).await;
        let body = page.body.replace("&#x2f;", "/");
        assert!(
            body.contains(&format!("/admin/content/season?video_id={video}")),
            "{body}"
        );
        // A season needs its video; a file needs a name.
        let page = admin
            .post("/admin/content/season/new", &[("name", "S1")])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-video_id\""), "{}", page.body);
        let page = admin
            .post(
                "/admin/content/season/new",
                &[("video_id", &v), ("name", "Season 1"), ("number", "1")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let season = id_from(&page.location, "/admin/content/season/").to_string();
        let page = admin
            .post(
                "/admin/content/episode/new",
                &[("season_id", &season), ("name", "Pilot"), ("number", "1")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let page = admin
            .post(
                "/admin/content/file/new",
                &[("video_id", &v), ("filename", "")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-filename\""));
        let page = admin
            .post(
                "/admin/content/file/new",
                &[
                    ("video_id", &v),
                    ("filename", "long-story/1080.m3u8"),
                    ("quality", "1080p"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        // Filtered lists show what hangs off the video.
        let page = admin
            .get(&format!("/admin/content/season?video_id={video}"))
            .await;
        assert!(page.body.contains("Season 1"));
        let page = admin
            .get(&format!("/admin/content/episode?season_id={season}"))
            .await;
        assert!(page.body.contains("Pilot"));
        let page = admin
            .get(&format!("/admin/content/file?video_id={video}"))
            .await;
        assert!(page
            .body
            .replace("&#x2f;", "/")
            .contains("long-story/1080.m3u8"));
        // Deleting the video takes the rest with it.
        let page = admin
            .post(&format!("/admin/content/video/{video}/delete"), &[])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(
            admin
                .get(&format!("/admin/content/video/{video}"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let page = admin
            .get(&format!("/admin/content/season?video_id={video}"))
            .await;
        assert!(!page.body.contains("Season 1"));
        s
    })
    .await;
}
