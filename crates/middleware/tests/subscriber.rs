//! The subscriber's own device API methods (customer info, tariffs,
//! settings, parent code, portal settings) over real HTTP on SQLite and
//! PostgreSQL.

mod common;

use common::{exec, Arg};

use common::{Server, API_KEY};
use efir_store::audit::AuditFilter;
use efir_store::{with_db, Store};
use serde_json::Value;

/// One text value of a query with one integer argument.
async fn text(store: &Store, sql: &str, id: i64) -> String {
    with_db!(store.pool(), p => sqlx::query_scalar::<_, String>(sql)
        .bind(id)
        .fetch_one(p)
        .await
        .unwrap())
}

use Arg::{B, I, S};

/// 2026-01-10, 2026-02-05 12:00 and 2026-03-01 18:00 UTC.
const JAN_10: i64 = 1_768_003_200;
const FEB_05_NOON: i64 = 1_770_292_800;
const MAR_01_EVENING: i64 = 1_772_388_000;

/// Channels 1-3; tariffs Basic (basic, 5.00, channels 1 and 2), Premium
/// (basic, 2.00), Sport (additional, 3.00, channel 3 and a video), Movies
/// (additional, 200.00), Locked (additional, free, cannot be
/// unsubscribed) and Old (archived). Customer Ann (balance 10.00, Basic,
/// three transactions) with account `1001`/`secret`; customer Bob
/// (balance 10.00, only Locked) with account `1002`/`secret`.
struct World {
    account: i64,
    customer: i64,
    bob_account: i64,
    ch: Vec<i64>,
    basic: i64,
    premium: i64,
    sport: i64,
    movies: i64,
    locked: i64,
    old: i64,
}

async fn world(s: &Server) -> World {
    let st = &s.db.store;
    let c = s.client.id;
    let mut ch = Vec::new();
    for (i, name) in ["One", "Two", "Sport 1"].iter().enumerate() {
        let id = exec(st, "INSERT INTO channel (client_id, name, sort, created_at, updated_at) VALUES ($1, $2, $3, 0, 0) RETURNING id",
            &[I(c), S(name), I(i as i64)]).await;
        ch.push(id);
    }
    let tariff = |name: &'static str, priority: i64, price: i64, unsub: bool, archived: bool| {
        let st = st.clone();
        async move {
            exec(&st, "INSERT INTO tariff (client_id, ext_id, name, description, basic_tariff_priority, price, available_to_unsubscribe, archived, icon, created_at, updated_at) \
                       VALUES ($1, $2, $2, 'About ' || $2, $3, $4, $5, $6, 'http://icons/t.png', 0, 0) RETURNING id",
                &[I(c), S(name), I(priority), I(price), B(unsub), B(archived)]).await
        }
    };
    let basic = tariff("Basic", 1, 50_000, true, false).await;
    let premium = tariff("Premium", 2, 20_000, true, false).await;
    let sport = tariff("Sport", 0, 30_000, true, false).await;
    let movies = tariff("Movies", 0, 2_000_000, true, false).await;
    let locked = tariff("Locked", 0, 0, false, false).await;
    let old = tariff("Old", 1, 0, true, true).await;
    for (t, channel) in [(basic, ch[0]), (basic, ch[1]), (sport, ch[2])] {
        exec(
            st,
            "INSERT INTO tariff_channel (tariff_id, channel_id) VALUES ($1, $2)",
            &[I(t), I(channel)],
        )
        .await;
    }
    let video = exec(st, "INSERT INTO video (client_id, name, created_at, updated_at) VALUES ($1, 'Match', 0, 0) RETURNING id", &[I(c)]).await;
    exec(
        st,
        "INSERT INTO tariff_video (tariff_id, video_id) VALUES ($1, $2)",
        &[I(sport), I(video)],
    )
    .await;

    let hash = efir_core::password::hash("secret").unwrap();
    let person = |first: &'static str, abonement: &'static str, tariff: i64| {
        let st = st.clone();
        let hash = hash.clone();
        async move {
            let customer = exec(&st, "INSERT INTO customer (client_id, firstname, lastname, email, mobile_phone_number, id_for_payment, balance, created_at, updated_at) \
                                     VALUES ($1, $2, 'Lee', 'ann@example.com', '+100200', 'PAY-7', 100000, 0, 0) RETURNING id",
                &[I(c), S(first)]).await;
            exec(
                &st,
                "INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES ($1, $2, $3)",
                &[I(customer), I(tariff), I(JAN_10)],
            )
            .await;
            let account = exec(&st, "INSERT INTO account (client_id, customer_id, abonement, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, 0, 0) RETURNING id",
                &[I(c), I(customer), S(abonement), S(&hash)]).await;
            (customer, account)
        }
    };
    let (customer, account) = person("Ann", "1001", basic).await;
    let (_, bob_account) = person("Bob", "1002", locked).await;
    for (amount, kind, comment, at) in [
        (200_000, 0, "Payment", JAN_10),
        (-15_000, 1, "Film", FEB_05_NOON),
        (50_000, 0, "Top-up", MAR_01_EVENING),
    ] {
        exec(st, "INSERT INTO customer_transaction (client_id, customer_id, amount, transaction_type, comment, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[I(c), I(customer), I(amount), I(kind), S(comment), I(at)]).await;
    }
    World {
        account,
        customer,
        bob_account,
        ch,
        basic,
        premium,
        sport,
        movies,
        locked,
        old,
    }
}

impl Server {
    /// Logs `abonement`/`secret` in; returns the authkey.
    async fn login(&self, abonement: &str) -> String {
        let v = self
            .tv(
                "login",
                &[
                    ("api_key", API_KEY),
                    ("abonement", abonement),
                    ("password", "secret"),
                    ("device_uid", &format!("box-{abonement}")),
                ],
            )
            .await;
        assert_eq!(v["error"], 0, "{}: {v}", self.label());
        v["authkey"].as_str().unwrap().to_string()
    }

    /// A call with a session.
    async fn with_key(&self, key: &str, method: &str, params: &[(&str, &str)]) -> Value {
        let mut all = vec![("authkey", key)];
        all.extend_from_slice(params);
        self.tv(method, &all).await
    }

    /// A call with a session that must succeed.
    async fn ok(&self, key: &str, method: &str, params: &[(&str, &str)]) -> Value {
        let v = self.with_key(key, method, params).await;
        assert_eq!(v["error"], 0, "{}: {method} {params:?}: {v}", self.label());
        v
    }
}

fn find(list: &Value, id: i64) -> &Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn customer_info_and_tariff_list() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.login("1001").await;

        let info = s.ok(&key, "customer/info", &[]).await;
        assert_eq!(info["firstname"], "Ann");
        assert_eq!(info["lastname"], "Lee");
        assert_eq!(info["balance"], "10.00");
        assert_eq!(info["email"], "ann@example.com");
        assert_eq!(info["mobile_phone_number"], "+100200");
        assert_eq!(info["id_for_payment"], "PAY-7");
        assert_eq!(info["abonement"], "1001");
        assert_eq!(info["current_debt_amount"], "0.00");
        assert_eq!(info["activation_days_left"], -1);
        assert_eq!(info["payment_sum"], "5.00");
        assert_eq!(info["payment_sum_no_discount"], "5.00");
        let btv = info["payments"]["btv"].as_array().unwrap();
        let vod = info["payments"]["vod"].as_array().unwrap();
        assert_eq!(btv.len(), 2, "{info}");
        assert_eq!(btv[0]["comment"], "Top-up", "newest first");
        assert_eq!(btv[0]["amount"], "5.00");
        assert_eq!(btv[0]["datetime"], "2026-03-01 18:00:00");
        assert_eq!(vod.len(), 1);
        assert_eq!(vod[0]["amount"], "-1.50");
        assert_eq!(info["payments"]["other"], serde_json::json!([]));
        assert_eq!(ids(&info["tariffs"]), vec![w.basic]);
        assert_eq!(info["tariffs"][0]["is_assigned"], 1);
        let sub = &info["subscriptions"][0];
        assert_eq!(sub["tariff_id"], w.basic);
        assert_eq!(sub["tariff_name"], "Basic");
        assert_eq!(sub["api_name"], "Basic");
        assert_eq!(sub["price"], "5.00");
        assert_eq!(sub["start_date"], "2026-01-10 00:00:00");

        // The date filter: February only, then through 1 March inclusive.
        let feb = s
            .ok(
                &key,
                "customer/info",
                &[("date_from", "2026-02-01"), ("date_to", "2026-02-28")],
            )
            .await;
        assert_eq!(feb["payments"]["btv"].as_array().unwrap().len(), 0);
        assert_eq!(feb["payments"]["vod"][0]["comment"], "Film");
        assert_eq!(feb["payments"]["vod"][0]["datetime"], "2026-02-05 12:00:00");
        let spring = s
            .ok(
                &key,
                "customer/info",
                &[("date_from", "2026-02-01"), ("date_to", "2026-03-01")],
            )
            .await;
        assert_eq!(spring["payments"]["btv"][0]["comment"], "Top-up");
        for bad in [
            [("date_from", "yesterday"), ("date_to", "")],
            [("date_from", "2026-03-01"), ("date_to", "2026-02-01")],
        ] {
            let v = s.with_key(&key, "customer/info", &bad).await;
            assert_eq!(v["error"], 400, "{bad:?}: {v}");
        }

        // Tariff list: every non-archived tariff, with what Ann has.
        let list = s.ok(&key, "customer/tariff/list", &[]).await;
        let tariffs = &list["tariffs"];
        let mut got = ids(tariffs);
        got.sort_unstable();
        let mut want = vec![w.basic, w.premium, w.sport, w.movies, w.locked];
        want.sort_unstable();
        assert_eq!(got, want, "no archived tariff: {}", w.old);
        let basic = find(tariffs, w.basic);
        assert_eq!(basic["is_assigned"], 1);
        assert_eq!(basic["name"], "Basic");
        assert_eq!(basic["description"], "About Basic");
        assert_eq!(basic["price"], "5.00");
        assert_eq!(basic["price_after_activation"], "5.00");
        assert_eq!(basic["basic_tariff_priority"], 1);
        assert_eq!(basic["channels_count"], 2);
        assert_eq!(basic["videos_count"], 0);
        assert_eq!(basic["archived"], 0);
        assert_eq!(basic["is_virtual"], 0);
        assert_eq!(basic["icon"], "http://icons/t.png");
        let sport = find(tariffs, w.sport);
        assert_eq!(sport["is_assigned"], 0);
        assert_eq!(sport["price"], "3.00");
        assert_eq!(sport["channels_count"], 1);
        assert_eq!(sport["videos_count"], 1);
        assert_eq!(sport["available_to_unsubscribe"], 1);
        assert_eq!(find(tariffs, w.locked)["available_to_unsubscribe"], 0);

        // Names in the call's language; a debt.
        let st = &s.db.store;
        exec(
            st,
            "UPDATE tariff SET name_lang1 = 'Базовый' WHERE id = $1",
            &[I(w.basic)],
        )
        .await;
        exec(
            st,
            "UPDATE customer SET balance = -25000 WHERE id = $1",
            &[I(w.customer)],
        )
        .await;
        let ru = s.ok(&key, "customer/tariff/list", &[("lang", "ru")]).await;
        assert_eq!(find(&ru["tariffs"], w.basic)["name"], "Базовый");
        let info = s.ok(&key, "customer/info", &[("lang", "ru")]).await;
        assert_eq!(info["subscriptions"][0]["tariff_name"], "Базовый");
        assert_eq!(info["balance"], "-2.50");
        assert_eq!(info["current_debt_amount"], "2.50");

        // No session, no data.
        for method in [
            "customer/info",
            "customer/tariff/list",
            "customer/tariff/subscribe",
            "customer/tariff/unsubscribe",
            "settings/save",
            "account/parent_code/set",
        ] {
            let v = s.tv(method, &[("tariff_id", "1")]).await;
            assert_eq!(v["error"], 403, "{method}: {v}");
            let v = s.with_key("nope", method, &[]).await;
            assert_eq!(v["error"], 403, "{method}: {v}");
        }
        s.stop().await;
    }
}

async fn count(s: &Server, sql: &str, id: i64) -> i64 {
    exec(&s.db.store, sql, &[I(id)]).await
}

async fn balance(s: &Server, customer: i64) -> i64 {
    count(s, "SELECT balance FROM customer WHERE id = $1", customer).await
}

async fn transactions(s: &Server, customer: i64) -> i64 {
    count(
        s,
        "SELECT COUNT(*) FROM customer_transaction WHERE customer_id = $1",
        customer,
    )
    .await
}

async fn tariffs_of(s: &Server, customer: i64) -> i64 {
    count(
        s,
        "SELECT COUNT(*) FROM customer_tariff WHERE customer_id = $1",
        customer,
    )
    .await
}

#[tokio::test]
async fn subscribe_and_unsubscribe() {
    for s in Server::both().await {
        let w = world(&s).await;
        let st = &s.db.store;
        let key = s.login("1001").await;
        let before = s.ok(&key, "channel/list", &[]).await;
        assert!(!ids(&before["channels"]).contains(&w.ch[2]));
        let audits = st.audit_count().await.unwrap();

        // Sport: charged 3.00 from 10.00, one transaction, accounts flagged.
        let v = s
            .ok(
                &key,
                "customer/tariff/subscribe",
                &[("tariff_id", &w.sport.to_string())],
            )
            .await;
        assert_eq!(v["payment_info"]["is_awaiting_payment"], 0, "{v}");
        assert_eq!(v["payment_info"]["invoice_id"], "");
        assert_eq!(balance(&s, w.customer).await, 70_000);
        assert_eq!(transactions(&s, w.customer).await, 4);
        let charge = exec(st, "SELECT amount FROM customer_transaction WHERE customer_id = $1 AND comment = 'Subscription to Sport'", &[I(w.customer)]).await;
        assert_eq!(charge, -30_000);
        let flagged = count(
            &s,
            "SELECT channel_list_changed_at FROM account WHERE id = $1",
            w.account,
        )
        .await;
        assert!(flagged > 0, "{}", s.label());
        let status = s.ok(&key, "account/status", &[]).await;
        assert_eq!(status["channel_list_changed"], 1, "{status}");
        assert_eq!(st.audit_count().await.unwrap(), audits + 1);
        let event = &st
            .audit_events(&AuditFilter {
                entity: Some("customer_tariff".into()),
                limit: 1,
                ..AuditFilter::default()
            })
            .await
            .unwrap()[0];
        assert_eq!(event.actor, format!("api:device:account-{}", w.account));
        assert_eq!(event.action, "subscribe");
        assert_eq!(event.client_id, Some(s.client.id));
        let after = s.ok(&key, "channel/list", &[]).await;
        assert!(ids(&after["channels"]).contains(&w.ch[2]));
        let info = s.ok(&key, "customer/info", &[]).await;
        assert_eq!(info["balance"], "7.00");
        assert_eq!(info["payment_sum"], "8.00");
        assert_eq!(
            info["payments"]["btv"][0]["comment"],
            "Subscription to Sport"
        );
        assert_eq!(info["payments"]["btv"][0]["amount"], "-3.00");

        // Refusals write nothing.
        let refusals: [(i64, &str); 6] = [
            (3, &w.sport.to_string()),
            (5, &w.premium.to_string()),
            (2, &w.movies.to_string()),
            (400, &w.old.to_string()),
            (400, "abc"),
            (400, "999999"),
        ];
        for (code, tariff) in refusals {
            let v = s
                .with_key(&key, "customer/tariff/subscribe", &[("tariff_id", tariff)])
                .await;
            assert_eq!(v["error"], code, "{}: {tariff}: {v}", s.label());
            assert!(!v["error_message"].as_str().unwrap().is_empty());
        }
        let v = s.with_key(&key, "customer/tariff/subscribe", &[]).await;
        assert_eq!(v["error"], 400, "{v}");
        assert_eq!(balance(&s, w.customer).await, 70_000);
        assert_eq!(transactions(&s, w.customer).await, 4);
        assert_eq!(tariffs_of(&s, w.customer).await, 2);
        assert_eq!(st.audit_count().await.unwrap(), audits + 1);

        // Bob has no basic tariff: additional ones are refused.
        let bob = s.login("1002").await;
        let v = s
            .with_key(
                &bob,
                "customer/tariff/subscribe",
                &[("tariff_id", &w.sport.to_string())],
            )
            .await;
        assert_eq!(v["error"], 5, "{v}");
        assert!(v["error_message"].as_str().unwrap().contains("basic"));
        // Locked cannot be unsubscribed.
        let v = s
            .with_key(
                &bob,
                "customer/tariff/unsubscribe",
                &[("tariff_id", &w.locked.to_string())],
            )
            .await;
        assert_eq!(v["error"], 6, "{v}");
        // A basic one is fine for Bob.
        s.ok(
            &bob,
            "customer/tariff/subscribe",
            &[("tariff_id", &w.premium.to_string())],
        )
        .await;
        let bob_flag = count(
            &s,
            "SELECT channel_list_changed_at FROM account WHERE id = $1",
            w.bob_account,
        )
        .await;
        assert!(bob_flag > 0);

        // Unsubscribe: not subscribed → 4; the basic while Sport needs it
        // → 5; Sport, then the basic.
        let unsub = |t: i64| {
            let key = key.clone();
            let s = &s;
            async move {
                s.with_key(
                    &key,
                    "customer/tariff/unsubscribe",
                    &[("tariff_id", &t.to_string())],
                )
                .await
            }
        };
        assert_eq!(unsub(w.movies).await["error"], 4);
        assert_eq!(unsub(w.basic).await["error"], 5);
        assert_eq!(unsub(999_999).await["error"], 400);
        let audits = st.audit_count().await.unwrap();
        assert_eq!(unsub(w.sport).await["error"], 0);
        assert_eq!(balance(&s, w.customer).await, 70_000, "no refund");
        assert_eq!(tariffs_of(&s, w.customer).await, 1);
        let event = &st
            .audit_events(&AuditFilter {
                entity: Some("customer_tariff".into()),
                limit: 1,
                ..AuditFilter::default()
            })
            .await
            .unwrap()[0];
        assert_eq!(event.action, "unsubscribe");
        assert_eq!(event.actor, format!("api:device:account-{}", w.account));
        assert_eq!(st.audit_count().await.unwrap(), audits + 1);
        let list = s.ok(&key, "customer/tariff/list", &[]).await;
        assert_eq!(find(&list["tariffs"], w.sport)["is_assigned"], 0);
        assert_eq!(unsub(w.sport).await["error"], 4);
        assert_eq!(unsub(w.basic).await["error"], 0);
        assert_eq!(tariffs_of(&s, w.customer).await, 0);
        s.stop().await;
    }
}

#[tokio::test]
async fn settings_save_and_parent_code() {
    for s in Server::both().await {
        let w = world(&s).await;
        let st = &s.db.store;
        let key = s.login("1001").await;
        let (one, two) = (w.ch[0].to_string(), w.ch[1].to_string());

        s.ok(
            &key,
            "settings/save",
            &[("favorite_channel", &one), ("parent_lock_channel", &two)],
        )
        .await;
        let list = s.ok(&key, "channel/list", &[]).await;
        assert_eq!(find(&list["channels"], w.ch[0])["is_favorited"], 1);
        assert_eq!(find(&list["channels"], w.ch[0])["is_parent_control"], 0);
        assert_eq!(find(&list["channels"], w.ch[1])["is_parent_control"], 1);
        assert_eq!(find(&list["channels"], w.ch[1])["is_favorited"], 0);
        let event = &st
            .audit_events(&AuditFilter {
                entity: Some("account".into()),
                limit: 1,
                ..AuditFilter::default()
            })
            .await
            .unwrap()[0];
        assert_eq!(event.actor, format!("api:device:account-{}", w.account));
        assert_eq!(event.action, "settings_save");

        // Set and cleared at once is a contradiction.
        let both = format!("{two},{one}");
        let v = s
            .with_key(
                &key,
                "settings/save",
                &[("unfavorite_channel", &one), ("favorite_channel", &both)],
            )
            .await;
        assert_eq!(v["error"], 400, "{v}");
        // Clearing; several ids at once.
        s.ok(
            &key,
            "settings/save",
            &[
                ("unfavorite_channel", &one),
                ("parent_unlock_channel", &two),
            ],
        )
        .await;
        let list = s.ok(&key, "channel/list", &[]).await;
        assert_eq!(find(&list["channels"], w.ch[0])["is_favorited"], 0);
        assert_eq!(find(&list["channels"], w.ch[1])["is_parent_control"], 0);
        s.ok(&key, "settings/save", &[("favorite_channel", &both)])
            .await;
        let list = s.ok(&key, "channel/list", &[]).await;
        assert_eq!(find(&list["channels"], w.ch[0])["is_favorited"], 1);
        assert_eq!(find(&list["channels"], w.ch[1])["is_favorited"], 1);
        s.ok(&key, "settings/save", &[("unfavorite_channel", &both)])
            .await;

        // Bad values: 400, nothing written.
        let rows = count(
            &s,
            "SELECT COUNT(*) FROM account_channel WHERE account_id = $1",
            w.account,
        )
        .await;
        let audits = st.audit_count().await.unwrap();
        let bad: Vec<Vec<(&str, &str)>> = vec![
            vec![
                ("favorite_channel", &two),
                ("parent_code", "9999"),
                ("parent_lock_channel", "999999"),
            ],
            vec![("favorite_channel", "x")],
            vec![("parent_code", "12")],
            vec![("parent_code", "12ab")],
            vec![("use_timeshift", "2")],
            vec![("data_center_id", "999999")],
            vec![("data_center_id", "dc")],
        ];
        for params in &bad {
            let v = s.with_key(&key, "settings/save", params).await;
            assert_eq!(v["error"], 400, "{}: {params:?}: {v}", s.label());
            assert!(!v["error_message"].as_str().unwrap().is_empty());
        }
        assert_eq!(
            count(
                &s,
                "SELECT COUNT(*) FROM account_channel WHERE account_id = $1",
                w.account
            )
            .await,
            rows
        );
        assert_eq!(st.audit_count().await.unwrap(), audits);
        assert_eq!(text(st, code_sql(), w.account).await, "0000");
        let list = s.ok(&key, "channel/list", &[]).await;
        assert_eq!(find(&list["channels"], w.ch[1])["is_favorited"], 0);

        // Parent code, timeshift and data center together.
        let dc = exec(st, "INSERT INTO data_center (client_id, name, created_at) VALUES ($1, 'East', 0) RETURNING id", &[I(s.client.id)]).await;
        s.ok(
            &key,
            "settings/save",
            &[
                ("parent_code", "4321"),
                ("use_timeshift", "1"),
                ("data_center_id", &dc.to_string()),
            ],
        )
        .await;
        assert_eq!(text(st, code_sql(), w.account).await, "4321");
        let row = "SELECT data_center_id FROM account WHERE id = $1";
        assert_eq!(exec(st, row, &[I(w.account)]).await, dc);
        let again = s
            .tv(
                "login",
                &[
                    ("api_key", API_KEY),
                    ("abonement", "1001"),
                    ("password", "secret"),
                    ("device_uid", "box-1001"),
                ],
            )
            .await;
        assert_eq!(again["parent_code"], "4321");
        assert_eq!(again["use_timeshift"], 1);
        assert_eq!(again["data_center_id"], dc);
        let key = again["authkey"].as_str().unwrap().to_string();

        // account/parent_code/set needs the current code.
        for (params, code) in [
            (
                vec![("parent_code", "5555"), ("old_parent_code", "0000")],
                1,
            ),
            (vec![("parent_code", "5555")], 1),
            (
                vec![("parent_code", "55"), ("old_parent_code", "4321")],
                400,
            ),
            (vec![("old_parent_code", "4321")], 400),
        ] {
            let v = s.with_key(&key, "account/parent_code/set", &params).await;
            assert_eq!(v["error"], code, "{params:?}: {v}");
        }
        assert_eq!(text(st, code_sql(), w.account).await, "4321");
        s.ok(
            &key,
            "account/parent_code/set",
            &[("parent_code", "5555"), ("old_parent_code", "4321")],
        )
        .await;
        assert_eq!(text(st, code_sql(), w.account).await, "5555");
        let event = &st
            .audit_events(&AuditFilter {
                entity: Some("account".into()),
                limit: 1,
                ..AuditFilter::default()
            })
            .await
            .unwrap()[0];
        assert_eq!(event.action, "parent_code_set");
        assert!(!event.data.contains("5555"), "no codes in the log");
        s.stop().await;
    }
}

fn code_sql() -> &'static str {
    "SELECT parent_code FROM account WHERE id = $1"
}

#[tokio::test]
async fn portal_settings_need_the_api_key() {
    for s in Server::both().await {
        let v = s.tv("portal/settings/list", &[("api_key", API_KEY)]).await;
        assert_eq!(v["error"], 0, "{v}");
        for flag in [
            "show_tvchannels",
            "show_archive",
            "show_videocatalog",
            "show_cctv",
            "show_radio",
        ] {
            assert_eq!(v[flag], 1, "{flag}");
        }
        assert_eq!(v["auth_mode"], "password");
        assert_eq!(v["template"], "");
        assert_eq!(v["standby_timer"], 0);
        assert_eq!(v["has_child_clients"], 0);
        assert_eq!(v["use_new_billing_logic"], 0);
        assert!(v["portal_config"].is_object());
        let langs: Vec<&str> = v["languages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(langs[0], v["default_language"].as_str().unwrap());
        assert_eq!(&langs[1..], ["ru", "uk"]);
        for params in [vec![("api_key", "wrong")], vec![]] {
            let v = s.tv("portal/settings/list", &params).await;
            assert_eq!(v["error"], 403, "{params:?}: {v}");
        }
        s.stop().await;
    }
}
