//! The Billing API over HTTP, on SQLite and PostgreSQL.

mod common;

use common::Server;
use efir_store::audit::AuditFilter;
use serde_json::Value;

/// A value of a JSON field as text (numbers too).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Asserts a -1 error that names `field` in `error_fields`.
fn assert_field_error(v: &Value, field: &str) {
    assert_eq!(v["error"], -1, "{v}");
    assert!(
        v["error_fields"][field].is_array(),
        "error_fields should name `{field}`: {v}"
    );
}

async fn new_customer(s: &Server, name: &str) -> String {
    let v = s
        .billing_ok("customer/create", &[("firstname", name)])
        .await;
    text(&v["customer_id"])
}

#[tokio::test]
async fn customer_create_info_modify_list_delete() {
    for s in Server::both().await {
        let v = s
            .billing_ok(
                "customer/create",
                &[
                    ("firstname", "Ann"),
                    ("lastname", "Lee"),
                    ("email", "ann@example.com"),
                    ("mobile_phone_number", "+15550001"),
                    ("phone_number_1", "5550002"),
                    ("ext_id", "crm-1"),
                    ("comment", "VIP"),
                ],
            )
            .await;
        let id = text(&v["customer_id"]);
        assert_eq!(v["balance"], "0.00");
        assert_eq!(v["currency"], "EUR");

        for by in [("customer_id", id.as_str()), ("ext_id", "crm-1")] {
            let info = s.billing_ok("customer/info", &[by]).await;
            assert_eq!(text(&info["id"]), id);
            assert_eq!(info["firstname"], "Ann");
            assert_eq!(info["lastname"], "Lee");
            assert_eq!(info["phone_number_1"], "5550002");
            assert_eq!(info["balance"], "0.00");
            assert_eq!(info["accounts"], serde_json::json!([]));
            assert_eq!(info["tariffs"], serde_json::json!([]));
        }

        // Duplicate ext_id names the field.
        let v = s
            .billing("customer/create", &[("lastname", "B"), ("ext_id", "crm-1")])
            .await;
        assert_field_error(&v, "ext_id");

        let v = s
            .billing_ok(
                "customer/modify",
                &[
                    ("customer_id", &id),
                    ("lastname", "Smith"),
                    ("ext_id", "crm-9"),
                ],
            )
            .await;
        assert_eq!(v["lastname"], "Smith");
        assert_eq!(v["firstname"], "Ann", "untouched fields stay");
        assert_eq!(v["ext_id"], "crm-9");
        let v = s
            .billing_ok(
                "customer/modify",
                &[("ext_id", "crm-9"), ("comment", "moved")],
            )
            .await;
        assert_eq!(v["comment"], "moved");
        let v = s
            .billing(
                "customer/modify",
                &[("customer_id", &id), ("email", "not-mail")],
            )
            .await;
        assert_field_error(&v, "email");

        new_customer(&s, "Bob").await;
        let list = s.billing_ok("customer/list", &[]).await;
        assert_eq!(list["total"], 2);
        assert_eq!(list["customers"].as_array().unwrap().len(), 2);
        let list = s.billing_ok("customer/list", &[("ext_id", "crm-9")]).await;
        assert_eq!(list["total"], 1);
        assert_eq!(text(&list["customers"][0]["id"]), id);

        // Deleting a customer deletes its accounts.
        let acc = s
            .billing_ok("account/create", &[("customer_id", &id)])
            .await;
        let acc_id = text(&acc["account_id"]);
        s.billing_ok("customer/delete", &[("customer_id", &id)])
            .await;
        let v = s.billing("customer/info", &[("customer_id", &id)]).await;
        assert_field_error(&v, "customer_id");
        let v = s.billing("account/info", &[("account_id", &acc_id)]).await;
        assert_field_error(&v, "account_id");
        let list = s.billing_ok("customer/list", &[]).await;
        assert_eq!(list["total"], 1);
        s.stop().await;
    }
}

#[tokio::test]
async fn account_create_login_fields_and_password_hash() {
    for s in Server::both().await {
        let cid = new_customer(&s, "Ann").await;
        let v = s
            .billing_ok(
                "account/create",
                &[
                    ("customer_id", &cid),
                    ("abonement", "100200"),
                    ("password", "s3cret-pw"),
                    ("allow_login_by_ip", "1"),
                    ("allow_multiple_login", "0"),
                    ("subnets", "10.0.0.0/8"),
                    ("subnets", "2001:db8::/32"),
                    ("allowed_device_groups", "0"),
                    ("allowed_device_groups", "2"),
                    ("deactivation_date", "2099-01-01"),
                    ("parent_code", "1234"),
                    ("use_timeshift", "1"),
                ],
            )
            .await;
        assert_eq!(v["abonement"], "100200");
        assert_eq!(v["password"], "s3cret-pw");
        let acc_id = text(&v["account_id"]);

        let hash: (String,) = efir_store::with_db!(s.db.store.pool(), p => sqlx::query_as(
            "SELECT password_hash FROM account WHERE abonement = $1")
            .bind("100200")
            .fetch_one(p)
            .await)
        .unwrap();
        assert!(hash.0.starts_with("$argon2"), "{}", hash.0);
        assert!(!hash.0.contains("s3cret-pw"));
        assert!(efir_core::password::verify("s3cret-pw", &hash.0));

        for by in [("account_id", acc_id.as_str()), ("abonement", "100200")] {
            let info = s.billing_ok("account/info", &[by]).await;
            assert_eq!(info["allow_login_by_ip"], 1);
            assert_eq!(info["allow_multiple_login"], 0);
            assert_eq!(info["use_timeshift"], 1);
            assert_eq!(
                info["subnets"],
                serde_json::json!(["10.0.0.0/8", "2001:db8::/32"])
            );
            assert_eq!(info["allowed_device_groups"], serde_json::json!([0, 2]));
            assert_eq!(info["deactivation_date"], "2099-01-01 00:00:00");
            assert_eq!(info["parent_code"], "1234");
            assert_eq!(info["active"], 1);
            assert!(info.get("password").is_none() && info.get("password_hash").is_none());
        }

        // Generated abonement and password.
        let v = s
            .billing_ok("account/create", &[("customer_id", &cid)])
            .await;
        let pw = text(&v["password"]);
        let ab = text(&v["abonement"]);
        assert_eq!(pw.len(), 8, "{v}");
        assert!(pw.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            !ab.is_empty() && ab.bytes().all(|b| b.is_ascii_digit()),
            "{v}"
        );

        // An empty abonement is generated too; inactive accounts say why.
        let v = s
            .billing_ok(
                "account/create",
                &[("customer_id", &cid), ("abonement", ""), ("active", "0")],
            )
            .await;
        assert!(!text(&v["abonement"]).is_empty());
        let info = s
            .billing_ok("account/info", &[("account_id", &text(&v["account_id"]))])
            .await;
        assert_eq!(info["active"], 0);
        assert_eq!(info["status_reason"], "INACTIVE");
        s.billing_ok("account/delete", &[("account_id", &text(&v["account_id"]))])
            .await;

        // Duplicate abonement.
        let v = s
            .billing(
                "account/create",
                &[("customer_id", &cid), ("abonement", "100200")],
            )
            .await;
        assert_field_error(&v, "abonement");

        // Bad subnets, device groups, status, date: each named.
        let v = s
            .billing(
                "account/create",
                &[
                    ("customer_id", &cid),
                    ("subnets", "10.0.0.0/33"),
                    ("allowed_device_groups", "4"),
                    ("status_reason", "SLEEPY"),
                    ("activation_date", "tomorrow"),
                ],
            )
            .await;
        for field in [
            "subnets",
            "allowed_device_groups",
            "status_reason",
            "activation_date",
        ] {
            assert_field_error(&v, field);
        }

        // Modify: new password, a login flag.
        s.billing_ok(
            "account/modify",
            &[
                ("abonement", "100200"),
                ("password", "other-pw"),
                ("allow_login_by_ip", "0"),
            ],
        )
        .await;
        let hash: (String,) = efir_store::with_db!(s.db.store.pool(), p => sqlx::query_as(
            "SELECT password_hash FROM account WHERE abonement = $1")
            .bind("100200")
            .fetch_one(p)
            .await)
        .unwrap();
        assert!(efir_core::password::verify("other-pw", &hash.0));
        let info = s
            .billing_ok("account/info", &[("abonement", "100200")])
            .await;
        assert_eq!(info["allow_login_by_ip"], 0);
        assert_eq!(info["use_timeshift"], 1, "untouched fields stay");

        // Deactivate with a reason, activate again.
        let v = s
            .billing_ok(
                "account/deactivate",
                &[("account_id", &acc_id), ("status_reason", "DEBT")],
            )
            .await;
        assert_eq!(v["active"], 0);
        let info = s
            .billing_ok("account/info", &[("account_id", &acc_id)])
            .await;
        assert_eq!(info["active"], 0);
        assert_eq!(info["status_reason"], "DEBT");
        s.billing_ok("account/deactivate", &[("account_id", &acc_id)])
            .await;
        let info = s
            .billing_ok("account/info", &[("account_id", &acc_id)])
            .await;
        assert_eq!(info["status_reason"], "INACTIVE");
        s.billing_ok("account/activate", &[("abonement", "100200")])
            .await;
        let info = s
            .billing_ok("account/info", &[("account_id", &acc_id)])
            .await;
        assert_eq!(info["active"], 1);
        assert_eq!(info["status_reason"], "ACTIVE");
        let v = s
            .billing(
                "account/activate",
                &[("account_id", &acc_id), ("status_reason", "NOPE")],
            )
            .await;
        assert_field_error(&v, "status_reason");

        // List by customer; customer/info shows the accounts.
        let list = s.billing_ok("account/list", &[("customer_id", &cid)]).await;
        assert_eq!(list["accounts"].as_array().unwrap().len(), 2);
        let info = s
            .billing_ok("customer/info", &[("customer_id", &cid)])
            .await;
        assert_eq!(info["accounts"].as_array().unwrap().len(), 2);
        assert_eq!(info["accounts"][0]["abonement"], "100200");
        assert_eq!(info["accounts"][0]["on_trial_period"], 0);
        assert!(
            info["accounts"][0]["activation_days_left"]
                .as_i64()
                .unwrap()
                > 1000
        );

        // Devices: list and unbind.
        efir_store::with_db!(s.db.store.pool(), p => sqlx::query(
            "INSERT INTO account_device (account_id, device_uid, play_device_id, created_at, last_seen_at) \
             VALUES ($1, 'uid-1', (SELECT id FROM play_device WHERE system_name = 'android'), 1, 1)")
            .bind(acc_id.parse::<i64>().unwrap())
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap();
        let v = s
            .billing_ok("account/device/list", &[("account_id", &acc_id)])
            .await;
        assert_eq!(v["devices"][0]["device_uid"], "uid-1");
        assert_eq!(v["devices"][0]["device"], "android");
        assert_eq!(v["devices"][0]["device_group"], 2);
        let v = s
            .billing(
                "account/device/delete",
                &[("account_id", &acc_id), ("device_uid", "nope")],
            )
            .await;
        assert_field_error(&v, "device_id");
        s.billing_ok(
            "account/device/delete",
            &[("account_id", &acc_id), ("device_uid", "uid-1")],
        )
        .await;
        let v = s
            .billing_ok("account/device/list", &[("account_id", &acc_id)])
            .await;
        assert_eq!(v["devices"], serde_json::json!([]));

        // A message for the account.
        let v = s
            .billing_ok(
                "account/message/create",
                &[
                    ("account_id", &acc_id),
                    ("subject", "Hi"),
                    ("text", "Pay soon"),
                    ("urgent", "1"),
                ],
            )
            .await;
        assert_eq!(text(&v["uuid"]).len(), 36);
        let m: (String, bool) = efir_store::with_db!(s.db.store.pool(), p => sqlx::query_as(
            "SELECT text, urgent FROM message WHERE account_id = $1")
            .bind(acc_id.parse::<i64>().unwrap())
            .fetch_one(p)
            .await)
        .unwrap();
        assert_eq!(m, ("Pay soon".to_string(), true));
        let v = s
            .billing("account/message/create", &[("account_id", &acc_id)])
            .await;
        assert_field_error(&v, "text");

        s.billing_ok("account/delete", &[("abonement", "100200")])
            .await;
        let v = s.billing("account/info", &[("abonement", "100200")]).await;
        assert_field_error(&v, "account_id");
        s.stop().await;
    }
}

async fn channel_list_changed_at(s: &Server, account_id: &str) -> i64 {
    let v: (i64,) = efir_store::with_db!(s.db.store.pool(), p => sqlx::query_as(
        "SELECT channel_list_changed_at FROM account WHERE id = $1")
        .bind(account_id.parse::<i64>().unwrap())
        .fetch_one(p)
        .await)
    .unwrap();
    v.0
}

#[tokio::test]
async fn tariffs_and_assignment() {
    for s in Server::both().await {
        let basic_a = s
            .billing_ok(
                "tariff/create",
                &[
                    ("name", "Basic A"),
                    ("name_lang1", "Базовый"),
                    ("price", "9.99"),
                    ("period", "1"),
                    ("basic_tariff_priority", "5"),
                    ("ext_id", "t-a"),
                    ("country", "de"),
                    ("country", "AT"),
                    ("available_everywhere", "0"),
                ],
            )
            .await;
        assert_eq!(basic_a["price"], "9.99");
        assert_eq!(basic_a["is_basic"], 1);
        assert_eq!(basic_a["country"], serde_json::json!(["AT", "DE"]));
        let a = text(&basic_a["tariff_id"]);
        let country: (String,) = efir_store::with_db!(s.db.store.pool(), p => sqlx::query_as(
            "SELECT name FROM country WHERE code = 'DE'")
            .fetch_one(p)
            .await)
        .unwrap();
        assert_eq!(country.0, "DE", "missing countries are created");
        let b = text(
            &s.billing_ok(
                "tariff/create",
                &[
                    ("name", "Basic B"),
                    ("price", "15"),
                    ("basic_tariff_priority", "7"),
                ],
            )
            .await["tariff_id"],
        );
        let extra = text(
            &s.billing_ok(
                "tariff/create",
                &[
                    ("name", "Movies"),
                    ("price", "2.50"),
                    ("basic_tariff_priority", "0"),
                ],
            )
            .await["tariff_id"],
        );
        let v = s
            .billing("tariff/create", &[("name", "X"), ("ext_id", "t-a")])
            .await;
        assert_field_error(&v, "ext_id");
        let v = s
            .billing(
                "tariff/create",
                &[
                    ("basic_tariff_priority", "11"),
                    ("price", "1.23456"),
                    ("country", "DEU"),
                ],
            )
            .await;
        for field in ["name", "basic_tariff_priority", "price", "country"] {
            assert_field_error(&v, field);
        }

        let all = s.billing_ok("tariff/list", &[]).await;
        assert_eq!(all["tariffs"].as_array().unwrap().len(), 3);
        let t = all["tariffs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| text(&t["id"]) == a)
            .unwrap();
        assert_eq!(t["ext_id"], "t-a");
        assert_eq!(t["period"], 1);
        assert_eq!(t["basic_tariff_priority"], 5);
        assert_eq!(t["available_everywhere"], 0);
        let basic = s.billing_ok("tariff/basic/list", &[]).await;
        let ids: Vec<String> = basic["tariffs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| text(&t["id"]))
            .collect();
        assert_eq!(ids, vec![b.clone(), a.clone()], "basic, by priority");
        let add = s.billing_ok("tariff/additional/list", &[]).await;
        let ids: Vec<String> = add["tariffs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| text(&t["id"]))
            .collect();
        assert_eq!(ids, vec![extra.clone()]);

        // Modify.
        let v = s
            .billing_ok(
                "tariff/modify",
                &[("tariff_id", &extra), ("price", "3"), ("country", "")],
            )
            .await;
        assert_eq!(v["price"], "3.00");
        assert_eq!(v["name"], "Movies");

        // Assignment: one basic tariff, replaced by the next.
        let cid = new_customer(&s, "Ann").await;
        let acc = text(
            &s.billing_ok("account/create", &[("customer_id", &cid)])
                .await["account_id"],
        );
        assert_eq!(channel_list_changed_at(&s, &acc).await, 0);
        let v = s
            .billing_ok(
                "customer/tariff/assign",
                &[("customer_id", &cid), ("tariff_id", &a)],
            )
            .await;
        assert_eq!(v["replaced_tariff_id"], Value::Null);
        assert!(
            channel_list_changed_at(&s, &acc).await > 0,
            "channel list bumped"
        );
        s.billing_ok(
            "customer/tariff/assign",
            &[("customer_id", &cid), ("tariff_id", &extra)],
        )
        .await;
        let v = s
            .billing_ok(
                "customer/tariff/assign",
                &[("customer_id", &cid), ("tariff_id", &b)],
            )
            .await;
        assert_eq!(text(&v["replaced_tariff_id"]), a);
        // Already assigned: a no-op success.
        let v = s
            .billing_ok(
                "customer/tariff/assign",
                &[("customer_id", &cid), ("tariff_id", &b)],
            )
            .await;
        assert_eq!(v["assigned"], 0);
        let info = s
            .billing_ok("customer/info", &[("customer_id", &cid)])
            .await;
        let mut tariffs: Vec<String> = info["tariffs"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect();
        tariffs.sort();
        let mut want = vec![b.clone(), extra.clone()];
        want.sort();
        assert_eq!(tariffs, want);
        let sub = info["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| text(&x["tariff_id"]) == b)
            .unwrap();
        assert_eq!(sub["price"], "15.00");
        assert_eq!(sub["is_periodical"], 1);
        assert!(sub["start_date"].is_string());
        assert_eq!(sub["end_date"], Value::Null);

        // Remove by the tariff's ext_id; then nothing to remove.
        s.billing_ok(
            "customer/tariff/remove",
            &[("customer_id", &cid), ("tariff_id", &extra)],
        )
        .await;
        let v = s
            .billing_ok(
                "customer/tariff/remove",
                &[("customer_id", &cid), ("tariff_id", &extra)],
            )
            .await;
        assert_eq!(v["removed"], 0);
        s.billing_ok(
            "customer/tariff/assign",
            &[("customer_id", &cid), ("tariff_ext_id", "t-a")],
        )
        .await;
        let info = s
            .billing_ok("customer/info", &[("customer_id", &cid)])
            .await;
        assert_eq!(
            info["tariffs"],
            serde_json::json!([a.parse::<i64>().unwrap()])
        );
        let v = s
            .billing(
                "customer/tariff/assign",
                &[("customer_id", &cid), ("tariff_id", "999999")],
            )
            .await;
        assert_field_error(&v, "tariff_id");
        s.stop().await;
    }
}

#[tokio::test]
async fn transactions_are_exact_and_idempotent() {
    for s in Server::both().await {
        let cid = text(
            &s.billing_ok(
                "customer/create",
                &[("lastname", "Payer"), ("ext_id", "crm-7")],
            )
            .await["customer_id"],
        );
        let acc = text(
            &s.billing_ok("account/create", &[("customer_id", &cid)])
                .await["account_id"],
        );
        s.billing_ok(
            "account/deactivate",
            &[("account_id", &acc), ("status_reason", "DEBT")],
        )
        .await;

        let v = s
            .billing_ok(
                "transaction/create",
                &[
                    ("customer_id", &cid),
                    ("ext_id", "pay-1"),
                    ("amount", "10.10"),
                ],
            )
            .await;
        assert_eq!(v["duplicate"], false);
        let first = text(&v["transaction_id"]);
        let v = s
            .billing_ok(
                "transaction/create",
                &[
                    ("customer_ext_id", "crm-7"),
                    ("ext_id", "pay-2"),
                    ("amount", "0.20"),
                ],
            )
            .await;
        assert_eq!(v["balance"], "10.30");
        // The same ext_id again: the first transaction, no balance change.
        let v = s
            .billing_ok(
                "transaction/create",
                &[
                    ("customer_id", &cid),
                    ("ext_id", "pay-1"),
                    ("amount", "10.10"),
                ],
            )
            .await;
        assert_eq!(v["duplicate"], true);
        assert_eq!(text(&v["transaction_id"]), first);
        let info = s
            .billing_ok("customer/info", &[("customer_id", &cid)])
            .await;
        assert_eq!(info["balance"], "10.30");

        // A charge below zero with activate_accounts does not activate.
        let v = s
            .billing_ok(
                "transaction/create",
                &[
                    ("customer_id", &cid),
                    ("amount", "-20.3"),
                    ("activate_accounts", "1"),
                    ("comment", "charge"),
                ],
            )
            .await;
        assert_eq!(v["balance"], "-10.00");
        let info = s.billing_ok("account/info", &[("account_id", &acc)]).await;
        assert_eq!(info["active"], 0);
        // An unprocessed transaction leaves the balance.
        let v = s
            .billing_ok(
                "transaction/create",
                &[("customer_id", &cid), ("amount", "5"), ("processed", "0")],
            )
            .await;
        assert_eq!(v["balance"], "-10.00");
        // A payment to ≥ 0 with activate_accounts activates.
        let v = s
            .billing_ok(
                "transaction/create",
                &[
                    ("customer_id", &cid),
                    ("amount", "10"),
                    ("activate_accounts", "1"),
                    ("transaction_type", "0"),
                ],
            )
            .await;
        assert_eq!(v["balance"], "0.00");
        let info = s.billing_ok("account/info", &[("account_id", &acc)]).await;
        assert_eq!(info["active"], 1);
        assert_eq!(info["status_reason"], "ACTIVE");
        let n: (i64,) = efir_store::with_db!(s.db.store.pool(), p => sqlx::query_as(
            "SELECT COUNT(*) FROM customer_transaction WHERE customer_id = $1")
            .bind(cid.parse::<i64>().unwrap())
            .fetch_one(p)
            .await)
        .unwrap();
        assert_eq!(n.0, 5);

        // Bad input.
        let v = s
            .billing(
                "transaction/create",
                &[
                    ("customer_id", &cid),
                    ("amount", "1.00001"),
                    ("transaction_type", "7"),
                ],
            )
            .await;
        assert_field_error(&v, "amount");
        assert_field_error(&v, "transaction_type");
        let v = s
            .billing("transaction/create", &[("customer_id", &cid)])
            .await;
        assert_field_error(&v, "amount");
        let v = s
            .billing(
                "transaction/create",
                &[("customer_ext_id", "nobody"), ("amount", "1")],
            )
            .await;
        assert_field_error(&v, "customer_id");
        s.stop().await;
    }
}

#[tokio::test]
async fn other_operators_objects_are_invisible() {
    for s in Server::both().await {
        let other = s.other_operator().await;
        let key = common::OTHER_BILLING_KEY;
        let theirs = s
            .signed_as(
                other.id,
                "billing",
                key,
                "customer/create",
                &[("firstname", "Theirs"), ("ext_id", "x-1")],
            )
            .await;
        assert_eq!(theirs["error"], 0, "{theirs}");
        let their_customer = text(&theirs["customer_id"]);
        let v = s
            .signed_as(
                other.id,
                "billing",
                key,
                "account/create",
                &[("customer_id", &their_customer), ("abonement", "555")],
            )
            .await;
        let their_account = text(&v["account_id"]);
        let v = s
            .signed_as(
                other.id,
                "billing",
                key,
                "tariff/create",
                &[("name", "Their tariff")],
            )
            .await;
        let their_tariff = text(&v["tariff_id"]);

        // The same ext_id and abonement are free for us.
        let ours = s
            .billing_ok(
                "customer/create",
                &[("firstname", "Ours"), ("ext_id", "x-1")],
            )
            .await;
        let our_customer = text(&ours["customer_id"]);
        s.billing_ok(
            "account/create",
            &[("customer_id", &our_customer), ("abonement", "555")],
        )
        .await;

        for (method, params) in [
            (
                "customer/info",
                vec![("customer_id", their_customer.as_str())],
            ),
            (
                "customer/modify",
                vec![("customer_id", their_customer.as_str()), ("lastname", "X")],
            ),
            (
                "customer/delete",
                vec![("customer_id", their_customer.as_str())],
            ),
            (
                "account/list",
                vec![("customer_id", their_customer.as_str())],
            ),
            (
                "account/create",
                vec![("customer_id", their_customer.as_str())],
            ),
            (
                "transaction/create",
                vec![("customer_id", their_customer.as_str()), ("amount", "5")],
            ),
        ] {
            let v = s.billing(method, &params).await;
            assert_field_error(&v, "customer_id");
        }
        for method in [
            "account/info",
            "account/delete",
            "account/activate",
            "account/device/list",
        ] {
            let v = s.billing(method, &[("account_id", &their_account)]).await;
            assert_field_error(&v, "account_id");
        }
        let v = s
            .billing(
                "customer/tariff/assign",
                &[("customer_id", &our_customer), ("tariff_id", &their_tariff)],
            )
            .await;
        assert_field_error(&v, "tariff_id");
        let v = s
            .billing(
                "tariff/modify",
                &[("tariff_id", &their_tariff), ("name", "Mine")],
            )
            .await;
        assert_field_error(&v, "tariff_id");
        let list = s.billing_ok("tariff/list", &[]).await;
        assert_eq!(list["tariffs"], serde_json::json!([]));
        let list = s.billing_ok("customer/list", &[]).await;
        assert_eq!(list["total"], 1);
        // Their data is untouched.
        let v = s
            .signed_as(
                other.id,
                "billing",
                key,
                "customer/info",
                &[("customer_id", &their_customer)],
            )
            .await;
        assert_eq!(v["firstname"], "Theirs");
        assert_eq!(v["balance"], "0.00");
        s.stop().await;
    }
}

/// A method, its parameters and the field its error must name.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

#[tokio::test]
async fn bad_parameters_give_field_errors() {
    for s in Server::both().await {
        let cases: Vec<Case> = vec![
            ("customer/create", vec![], "firstname"),
            (
                "customer/create",
                vec![("firstname", "A"), ("birthdate", "soon")],
                "birthdate",
            ),
            ("customer/info", vec![], "customer_id"),
            ("customer/info", vec![("customer_id", "abc")], "customer_id"),
            (
                "customer/delete",
                vec![("customer_id", "99999")],
                "customer_id",
            ),
            ("customer/list", vec![("limit", "0")], "limit"),
            ("account/create", vec![], "customer_id"),
            ("account/info", vec![], "account_id"),
            ("account/info", vec![("account_id", "1x")], "account_id"),
            (
                "account/modify",
                vec![("abonement", "nobody")],
                "account_id",
            ),
            (
                "account/device/delete",
                vec![("account_id", "1")],
                "device_id",
            ),
            ("tariff/create", vec![], "name"),
            (
                "tariff/create",
                vec![("name", "T"), ("period", "x"), ("city_id", "424242")],
                "city_id",
            ),
            ("tariff/modify", vec![], "tariff_id"),
            ("customer/tariff/assign", vec![], "tariff_id"),
            ("transaction/create", vec![("amount", "1")], "customer_id"),
        ];
        for (method, params, field) in cases {
            let v = s.billing(method, &params).await;
            assert_eq!(v["error"], -1, "{}: {method} {params:?}: {v}", s.label());
            assert!(
                v["error_fields"][field].is_array(),
                "{}: {method} {params:?} should name {field}: {v}",
                s.label()
            );
            assert!(!v["error_message"].as_str().unwrap_or("").is_empty());
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn every_write_is_audited_as_the_billing_api() {
    for s in Server::both().await {
        let before = s.db.store.audit_count().await.unwrap();
        let cid = new_customer(&s, "Ann").await;
        let acc = text(
            &s.billing_ok(
                "account/create",
                &[("customer_id", &cid), ("password", "topsecret1")],
            )
            .await["account_id"],
        );
        let tid = text(
            &s.billing_ok(
                "tariff/create",
                &[("name", "T"), ("basic_tariff_priority", "1")],
            )
            .await["tariff_id"],
        );
        s.billing_ok(
            "customer/modify",
            &[("customer_id", &cid), ("lastname", "L")],
        )
        .await;
        s.billing_ok(
            "account/modify",
            &[("account_id", &acc), ("password", "topsecret2")],
        )
        .await;
        s.billing_ok("account/deactivate", &[("account_id", &acc)])
            .await;
        s.billing_ok("account/activate", &[("account_id", &acc)])
            .await;
        s.billing_ok(
            "account/message/create",
            &[("account_id", &acc), ("text", "hi")],
        )
        .await;
        s.billing_ok("tariff/modify", &[("tariff_id", &tid), ("price", "1")])
            .await;
        s.billing_ok(
            "customer/tariff/assign",
            &[("customer_id", &cid), ("tariff_id", &tid)],
        )
        .await;
        s.billing_ok(
            "customer/tariff/remove",
            &[("customer_id", &cid), ("tariff_id", &tid)],
        )
        .await;
        s.billing_ok(
            "transaction/create",
            &[("customer_id", &cid), ("amount", "1")],
        )
        .await;
        s.billing_ok("account/delete", &[("account_id", &acc)])
            .await;
        s.billing_ok("customer/delete", &[("customer_id", &cid)])
            .await;
        // Reads write nothing.
        s.billing_ok("customer/list", &[]).await;
        s.billing_ok("tariff/list", &[]).await;
        let after = s.db.store.audit_count().await.unwrap();
        assert_eq!(after - before, 14, "{}", s.label());
        let events =
            s.db.store
                .audit_events(&AuditFilter {
                    client_id: Some(s.client.id),
                    limit: 14,
                    ..AuditFilter::default()
                })
                .await
                .unwrap();
        assert_eq!(events.len(), 14);
        for e in &events {
            assert!(e.actor.starts_with("api:billing:"), "{e:?}");
            assert!(
                !e.data.contains("topsecret"),
                "no passwords in audit data: {e:?}"
            );
            assert!(
                !e.data.contains("$argon2"),
                "no hashes in audit data: {e:?}"
            );
        }
        let entities: Vec<&str> = events.iter().map(|e| e.entity.as_str()).collect();
        for want in ["customer", "account", "tariff", "transaction", "message"] {
            assert!(entities.contains(&want), "{want} in {entities:?}");
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn concurrent_payments_are_counted_once_each() {
    for s in Server::both().await {
        let cid = new_customer(&s, "Busy").await;
        s.billing_ok("account/create", &[("customer_id", &cid)])
            .await;
        let pay = |ext: &'static str| {
            let cid = cid.clone();
            let s = &s;
            async move {
                s.billing(
                    "transaction/create",
                    &[("customer_id", &cid), ("ext_id", ext), ("amount", "1.25")],
                )
                .await
            }
        };
        let results = tokio::join!(
            pay("c-1"),
            pay("c-2"),
            pay("c-3"),
            pay("c-1"),
            pay("c-2"),
            pay("c-4"),
        );
        let results = [
            results.0, results.1, results.2, results.3, results.4, results.5,
        ];
        for v in &results {
            assert_eq!(v["error"], 0, "{}: {v}", s.label());
        }
        let duplicates = results.iter().filter(|v| v["duplicate"] == true).count();
        assert_eq!(duplicates, 2, "{}: {results:?}", s.label());
        let info = s
            .billing_ok("customer/info", &[("customer_id", &cid)])
            .await;
        assert_eq!(info["balance"], "5.00", "{}", s.label());
        s.stop().await;
    }
}
