//! The device (TVMW) API over real HTTP on SQLite and PostgreSQL.

mod common;

use common::{exec, Arg};

use common::{Server, API_KEY};
use serde_json::Value;

use Arg::{Bytes, B, I, S};

/// A world: channels 1-3, a paid tariff with 1 and 2, a free tariff (kept
/// by debtors) with 3, a German-only tariff with 4, and an account
/// `1001`/`secret` whose customer has the paid and free tariffs.
struct World {
    account: i64,
    customer: i64,
    ch: Vec<i64>,
    paid: i64,
    geo: i64,
}

async fn world(s: &Server) -> World {
    let st = &s.db.store;
    let c = s.client.id;
    let cat = exec(st, "INSERT INTO category (client_id, name, name_lang1, created_at) VALUES ($1, 'News', 'Новости', 0) RETURNING id", &[I(c)]).await;
    let mut ch = Vec::new();
    for (i, name) in ["One", "Two", "Free", "Heimat"].iter().enumerate() {
        let id = exec(st, "INSERT INTO channel (client_id, name, name_lang1, category_id, sort, icon, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'http://icons/x/a.png', 0, 0) RETURNING id",
            &[I(c), S(name), S(&format!("Канал {name}")), I(cat), I(i as i64)]).await;
        ch.push(id);
    }
    let tariff = |name: &'static str, free: bool, everywhere: bool, sessions: i64| {
        let st = st.clone();
        async move {
            exec(&st, "INSERT INTO tariff (client_id, name, basic_tariff_priority, available_for_inactive_accounts, available_everywhere, sessions_count, created_at, updated_at) VALUES ($1, $2, 1, $3, $4, $5, 0, 0) RETURNING id",
                &[I(c), S(name), B(free), B(everywhere), I(sessions)]).await
        }
    };
    let paid = tariff("Paid", false, true, 1).await;
    let free = tariff("Free", true, true, 1).await;
    let geo = tariff("Germany", false, false, 1).await;
    for (t, channel) in [(paid, ch[0]), (paid, ch[1]), (free, ch[2]), (geo, ch[3])] {
        exec(
            st,
            "INSERT INTO tariff_channel (tariff_id, channel_id) VALUES ($1, $2)",
            &[I(t), I(channel)],
        )
        .await;
    }
    let de = exec(
        st,
        "INSERT INTO country (code, name) VALUES ('DE', 'Germany') RETURNING id",
        &[],
    )
    .await;
    exec(
        st,
        "INSERT INTO tariff_country (tariff_id, country_id) VALUES ($1, $2)",
        &[I(geo), I(de)],
    )
    .await;
    let from = efir_core::net::ip_key("203.0.113.0".parse().unwrap());
    let to = efir_core::net::ip_key("203.0.113.255".parse().unwrap());
    exec(
        st,
        "INSERT INTO geo_ip_range (ip_from, ip_to, country_id) VALUES ($1, $2, $3)",
        &[Bytes(&from), Bytes(&to), I(de)],
    )
    .await;
    let customer = exec(st, "INSERT INTO customer (client_id, firstname, lastname, created_at, updated_at) VALUES ($1, 'Ann', 'Lee', 0, 0) RETURNING id", &[I(c)]).await;
    for t in [paid, free, geo] {
        exec(
            st,
            "INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES ($1, $2, 0)",
            &[I(customer), I(t)],
        )
        .await;
    }
    let hash = efir_core::password::hash("secret").unwrap();
    let account = exec(st, "INSERT INTO account (client_id, customer_id, abonement, password_hash, created_at, updated_at) VALUES ($1, $2, '1001', $3, 0, 0) RETURNING id",
        &[I(c), I(customer), S(&hash)]).await;
    World {
        account,
        customer,
        ch,
        paid,
        geo,
    }
}

impl Server {
    async fn login(&self, abonement: &str, password: &str, device_uid: &str) -> Value {
        self.tv(
            "login",
            &[
                ("api_key", API_KEY),
                ("abonement", abonement),
                ("password", password),
                ("device_uid", device_uid),
            ],
        )
        .await
    }
}

fn ids(v: &Value) -> Vec<i64> {
    v["channels"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn login_then_channels_of_the_tariffs_only() {
    for s in Server::both().await {
        let w = world(&s).await;
        let bad = s.login("1001", "wrong", "box-1").await;
        assert_eq!(bad["error"], 1, "{}: {bad}", s.label());
        let bad = s
            .tv(
                "login",
                &[
                    ("api_key", "nope"),
                    ("abonement", "1001"),
                    ("password", "secret"),
                ],
            )
            .await;
        assert_eq!(bad["error"], 4);

        let ok = s.login("1001", "secret", "box-1").await;
        assert_eq!(ok["error"], 0, "{}: {ok}", s.label());
        let key = ok["authkey"].as_str().unwrap().to_string();
        assert_eq!(key.len(), 128);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(ok["account_id"], w.account);
        assert_eq!(ok["customer_id"], w.customer);
        assert_eq!(ok["firstname"], "Ann");
        assert_eq!(ok["currency"], "EUR");

        // Paid and free tariffs everywhere; the German tariff not from here.
        let list = s.tv("channel/list", &[("authkey", &key)]).await;
        assert_eq!(
            ids(&list),
            vec![w.ch[0], w.ch[1], w.ch[2]],
            "{}: {list}",
            s.label()
        );
        let first = &list["channels"][0];
        assert_eq!(first["name"], "One");
        assert_eq!(first["has_subscription"], 1);
        assert!(first.get("option1").is_some());
        let ru = s
            .tv(
                "channel/list",
                &[
                    ("authkey", &key),
                    ("lang", "ru"),
                    ("icon_width", "40"),
                    ("icon_height", "30"),
                    ("compact", "1"),
                ],
            )
            .await;
        assert_eq!(ru["channels"][0]["name"], "Канал One");
        assert_eq!(ru["channels"][0]["icon"], "http://icons/x/a40_30.png");
        assert!(
            ru["channels"][0].get("option1").is_none(),
            "compact drops options"
        );
        let paged = s
            .tv(
                "channel/list",
                &[("authkey", &key), ("limit", "2"), ("page", "2")],
            )
            .await;
        assert_eq!(ids(&paged), vec![w.ch[2]]);
        let found = s
            .tv("channel/list", &[("authkey", &key), ("search", "tWo")])
            .await;
        assert_eq!(ids(&found), vec![w.ch[1]]);
        let v2 = s.tv("v2/channel/list", &[("authkey", &key)]).await;
        assert_eq!(ids(&v2).len(), 3);

        // The German tariff opens its channel to German addresses only
        // (reported by the local, trusted proxy).
        let de = s
            .tv_from(
                "channel/list",
                &[("authkey", &key)],
                Some("203.0.113.7"),
                None,
            )
            .await;
        assert_eq!(
            ids(&de),
            vec![w.ch[0], w.ch[1], w.ch[2], w.ch[3]],
            "{}: {de}",
            s.label()
        );
        let elsewhere = s
            .tv_from(
                "channel/list",
                &[("authkey", &key)],
                Some("198.51.100.7"),
                None,
            )
            .await;
        assert!(!ids(&elsewhere).contains(&w.ch[3]));

        let cats = s
            .tv("category/list", &[("authkey", &key), ("lang", "ru")])
            .await;
        assert_eq!(cats["categories"][0]["name"], "Новости");
        assert_eq!(cats["categories"][0]["channels_count"], 3);

        // Authkey by cookie.
        let by_cookie = s
            .tv_from("channel/list", &[], None, Some(&format!("authkey={key}")))
            .await;
        assert_eq!(ids(&by_cookie).len(), 3, "{by_cookie}");

        // Logout ends the session.
        assert_eq!(s.tv("logout", &[("authkey", &key)]).await["error"], 0);
        let after = s.tv("channel/list", &[("authkey", &key)]).await;
        assert_eq!(after["error"], 403);
        let _ = (w.paid, w.geo);
        s.stop().await;
    }
}

#[tokio::test]
async fn debtors_see_only_the_free_package() {
    for s in Server::both().await {
        let w = world(&s).await;
        exec(
            &s.db.store,
            "UPDATE account SET active = FALSE, status_reason = 'DEBT' WHERE id = $1",
            &[I(w.account)],
        )
        .await;
        let ok = s.login("1001", "secret", "box-1").await;
        assert_eq!(ok["error"], 0, "{ok}");
        assert_eq!(ok["status_reason"], "DEBT");
        let key = ok["authkey"].as_str().unwrap();
        let list = s.tv("channel/list", &[("authkey", key)]).await;
        assert_eq!(ids(&list), vec![w.ch[2]], "{}: {list}", s.label());
        let status = s
            .tv("account/status", &[("authkey", key), ("with_tariffs", "1")])
            .await;
        assert_eq!(status["status"], 2);
        assert_eq!(status["status_reason"], "DEBT");
        assert_eq!(status["tariff_ids"].as_array().unwrap().len(), 1);
        // Without a free tariff a debtor cannot log in at all.
        exec(
            &s.db.store,
            "DELETE FROM customer_tariff WHERE customer_id = $1 AND tariff_id <> $2",
            &[I(w.customer), I(w.paid)],
        )
        .await;
        let refused = s.login("1001", "secret", "box-2").await;
        assert_eq!(refused["error"], 2, "{refused}");
        s.stop().await;
    }
}

#[tokio::test]
async fn xml_for_legacy_boxes_and_status_polling() {
    for s in Server::both().await {
        let w = world(&s).await;
        let ok = s.login("1001", "secret", "mag-1").await;
        let key = ok["authkey"].as_str().unwrap().to_string();
        let res = s
            .tv_raw(
                "channel/list",
                &[("authkey", &key), ("device", "mag")],
                None,
                None,
            )
            .await;
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml"));
        let xml = res.text().await.unwrap();
        assert!(
            xml.contains(&format!("<channels><item><id>{}</id>", w.ch[0])),
            "{xml}"
        );
        assert!(xml.contains("<error>0</error>"));

        let status = s.tv("account/status", &[("authkey", &key)]).await;
        assert_eq!(status["status"], 0);
        assert_eq!(status["channel_list_changed"], 0);
        assert_eq!(status["has_new_messages"], 0);
        // The list changes (say, a tariff was assigned) and a message waits.
        let later = efir_store::now() + 5;
        exec(
            &s.db.store,
            "UPDATE account SET channel_list_changed_at = $1 WHERE id = $2",
            &[I(later), I(w.account)],
        )
        .await;
        exec(&s.db.store, "INSERT INTO message (client_id, account_id, uuid, subject, text, urgent, created_at) VALUES ($1, $2, 'm-1', 'Hi', 'Pay up', TRUE, 0)", &[I(s.client.id), I(w.account)]).await;
        let status = s.tv("account/status", &[("authkey", &key)]).await;
        assert_eq!(status["channel_list_changed"], 1, "{status}");
        assert_eq!(status["has_new_messages"], 1);
        assert_eq!(status["message"]["subject"], "Hi");
        let anonymous = s.tv("account/status", &[]).await;
        assert_eq!(anonymous["status"], 1);
        s.stop().await;
    }
}

#[tokio::test]
async fn session_limit_and_unbinding() {
    for s in Server::both().await {
        world(&s).await;
        let a = s.login("1001", "secret", "box-a").await;
        assert_eq!(a["error"], 0);
        // Same device again: its session is replaced, not counted twice.
        assert_eq!(s.login("1001", "secret", "box-a").await["error"], 0);
        let b = s.login("1001", "secret", "box-b").await;
        assert_eq!(b["error"], 5, "{}: {b}", s.label());
        let devices = b["devices"].as_array().unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0]["device_uid"], "box-a");
        let unbind = devices[0]["id"].to_string();
        let b = s
            .tv(
                "login",
                &[
                    ("api_key", API_KEY),
                    ("abonement", "1001"),
                    ("password", "secret"),
                    ("device_uid", "box-b"),
                    ("device_id_for_unbinding", &unbind),
                ],
            )
            .await;
        assert_eq!(b["error"], 0, "{b}");
        let old = s
            .tv(
                "channel/list",
                &[("authkey", a["authkey"].as_str().unwrap())],
            )
            .await;
        assert_eq!(old["error"], 403, "the unbound device is logged out");
        s.stop().await;
    }
}

#[tokio::test]
async fn logins_are_rate_limited_and_bad_input_is_answered() {
    let s = Server::start(efir_store::testing::TestDb::sqlite().await).await;
    world(&s).await;
    for _ in 0..10 {
        assert_eq!(s.login("1001", "guess", "x").await["error"], 1);
    }
    let blocked = s.login("1001", "secret", "x").await;
    assert_eq!(blocked["error"], 28, "{blocked}");

    let res = s
        .http
        .get(format!("{}/tvmiddleware/api/channel/list/", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], 400, "missing client_id: {v}");
    assert_eq!(s.tv("channel/list", &[]).await["error"], 403);
    assert_eq!(s.tv("no/such/thing", &[]).await["error"], 404);
    for (k, v) in [
        ("page", "abc"),
        ("limit", "-1"),
        ("icon_width", "99999999999999999999"),
    ] {
        let r = s.tv("channel/list", &[("authkey", "x"), (k, v)]).await;
        assert!(r["error"] == 400 || r["error"] == 403, "{k}={v}: {r}");
    }
    let r = s
        .tv(
            "login",
            &[
                ("api_key", API_KEY),
                ("abonement", "1001"),
                ("password", "secret"),
                ("device_uid", &"x".repeat(300)),
            ],
        )
        .await;
    assert_ne!(r["error"], 0);
    s.stop().await;
}

#[tokio::test]
async fn signed_stream_urls_with_failover_and_token_check() {
    for s in Server::both().await {
        let w = world(&s).await;
        let st = &s.db.store;
        let c = s.client.id;
        exec(
            st,
            "UPDATE channel SET id_for_stream_service = 'first' WHERE id = $1",
            &[I(w.ch[0])],
        )
        .await;
        let svc = |mask: &'static str, load: i64| {
            let st = st.clone();
            async move {
                exec(&st, "INSERT INTO stream_service (client_id, name, service_type, url_mask, secure_link_secret, secure_link_ttl, weight, load, created_at) VALUES ($1, 'edge', 'live', $2, 'edge-secret', 600, 1, $3, 0) RETURNING id",
                    &[I(c), S(mask), I(load)]).await
            }
        };
        let busy = svc("http://edge-b.tv/$cid/index.m3u8?token=$token", 50).await;
        let idle = svc("http://edge-a.tv/$prefix$cid/index.m3u8?token=$token", 10).await;
        let ok = s.login("1001", "secret", "box-1").await;
        let key = ok["authkey"].as_str().unwrap().to_string();
        let ch = w.ch[0].to_string();

        let url = s
            .tv(
                "channel/url",
                &[("authkey", &key), ("cid", &ch), ("redirect", "0")],
            )
            .await;
        assert_eq!(url["error"], 0, "{}: {url}", s.label());
        assert_eq!(url["stream_service_id"], idle, "least loaded first");
        let uri = url["uri"].as_str().unwrap().to_string();
        assert!(
            uri.starts_with("http://edge-a.tv/first/index.m3u8?token="),
            "{uri}"
        );
        assert!(uri.contains("&md5=") && uri.contains("&expires="), "{uri}");
        // The md5 is what an nginx secure_link on the edge computes.
        let query: std::collections::HashMap<String, String> = reqwest::Url::parse(&uri)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        let expires: i64 = query["expires"].parse().unwrap();
        let expected = efir_middleware::device::urls::secure_link_md5(
            "$secure_link_expires$uri $secret",
            expires,
            "/first/index.m3u8",
            "127.0.0.1",
            "edge-secret",
        );
        assert_eq!(query["md5"], expected);
        assert!(expires > efir_store::now());

        // The token is good for this stream and address only.
        let token = query["token"].clone();
        let check = |name: &'static str, ip: &'static str| {
            let token = token.clone();
            let s = &s;
            async move {
                s.tv(
                    "streamservice/token/check",
                    &[("token", &token), ("name", name), ("ip", ip)],
                )
                .await["error"]
                    .clone()
            }
        };
        assert_eq!(check("first", "127.0.0.1").await, 0);
        assert_eq!(check("other", "127.0.0.1").await, 2);
        assert_eq!(check("first", "192.0.2.1").await, 3);
        let forged = format!("{}x", &token[..token.len() - 1]);
        assert_eq!(
            s.tv(
                "streamservice/token/check",
                &[("token", &forged), ("name", "first")]
            )
            .await["error"],
            1
        );

        // The app failed on that service: the other one answers, as a 302.
        let idle_s = idle.to_string();
        // (Never follow it: the edge is not a real host.)
        let no_follow = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let client_id = s.client.id.to_string();
        let res = no_follow
            .get(format!("{}/tvmiddleware/api/channel/url/", s.base))
            .query(&[
                ("client_id", client_id.as_str()),
                ("authkey", &key),
                ("cid", &ch),
                ("exclude_service_id", &idle_s),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        let location = res.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with("http://edge-b.tv/first/index.m3u8?token="),
            "{location}"
        );
        // Maintenance and health take services out.
        exec(
            st,
            "INSERT INTO maintenance (stream_service_id, starts_at, ends_at) VALUES ($1, 0, $2)",
            &[I(idle), I(efir_store::now() + 3600)],
        )
        .await;
        exec(
            st,
            "UPDATE stream_service SET health = 'down' WHERE id = $1",
            &[I(busy)],
        )
        .await;
        let none = s
            .tv(
                "channel/url",
                &[("authkey", &key), ("cid", &ch), ("redirect", "0")],
            )
            .await;
        assert_eq!(none["error"], 10, "{none}");

        // Content outside the subscriber's country is refused.
        let heimat = w.ch[3].to_string();
        let refused = s
            .tv(
                "channel/url",
                &[("authkey", &key), ("cid", &heimat), ("redirect", "0")],
            )
            .await;
        assert_eq!(refused["error"], 11, "{refused}");
        // A direct URI needs no service.
        exec(
            st,
            "UPDATE channel SET uri = 'udp://239.0.0.1:1234' WHERE id = $1",
            &[I(w.ch[3])],
        )
        .await;
        let direct = s
            .tv_from(
                "channel/url",
                &[("authkey", &key), ("cid", &heimat), ("redirect", "0")],
                Some("203.0.113.9"),
                None,
            )
            .await;
        assert_eq!(direct["uri"], "udp://239.0.0.1:1234", "{direct}");
        assert_eq!(
            s.tv("channel/url", &[("authkey", &key), ("cid", "x")])
                .await["error"],
            400
        );
        s.stop().await;
    }
}
