//! The path an operator's systems take: the billing system creates the
//! customer, account and tariff through the Billing API, the content tool
//! creates channels through the Content API, and the subscriber's box logs
//! in through the device API and sees exactly its channels.

mod common;

use common::{Server, API_KEY};

#[tokio::test]
async fn billing_content_and_device_apis_together() {
    for s in Server::both().await {
        // A wrong signature is refused and creates nothing.
        let refused = s
            .signed(
                "billing",
                "wrong-key",
                "customer/create",
                &[("firstname", "Eve")],
            )
            .await;
        assert_eq!(refused["error"], -2, "{}: {refused}", s.label());

        let customer = s
            .billing_ok(
                "customer/create",
                &[
                    ("firstname", "Ann"),
                    ("lastname", "Lee"),
                    ("ext_id", "crm-1"),
                ],
            )
            .await;
        let customer_id = customer["customer_id"].to_string();
        let basic = s
            .billing_ok(
                "tariff/create",
                &[
                    ("name", "Basic"),
                    ("basic_tariff_priority", "1"),
                    ("price", "9.90"),
                ],
            )
            .await;
        let basic_id = basic["tariff_id"]
            .as_i64()
            .or(basic["id"].as_i64())
            .expect("tariff id")
            .to_string();
        let premium = s
            .billing_ok("tariff/create", &[("name", "Premium"), ("price", "5")])
            .await;
        let premium_id = premium["tariff_id"]
            .as_i64()
            .or(premium["id"].as_i64())
            .expect("tariff id")
            .to_string();

        let mut channels = Vec::new();
        for (name, tariff) in [
            ("News", &basic_id),
            ("Sport", &basic_id),
            ("Movies", &premium_id),
        ] {
            let ch = s
                .content_ok(
                    "channel/create",
                    &[
                        ("name", name),
                        ("tariff_id", tariff),
                        ("name_lang1", &format!("{name} RU")),
                    ],
                )
                .await;
            channels.push(ch["id"].as_i64().unwrap());
        }

        s.billing_ok(
            "customer/tariff/assign",
            &[("customer_id", &customer_id), ("tariff_id", &basic_id)],
        )
        .await;
        let account = s
            .billing_ok(
                "account/create",
                &[
                    ("customer_id", &customer_id),
                    ("abonement", "5001"),
                    ("password", "pa55"),
                ],
            )
            .await;
        assert_eq!(account["abonement"], "5001");
        s.billing_ok(
            "transaction/create",
            &[
                ("customer_id", &customer_id),
                ("amount", "20.00"),
                ("ext_id", "pay-1"),
            ],
        )
        .await;

        let login = s
            .tv(
                "login",
                &[
                    ("api_key", API_KEY),
                    ("abonement", "5001"),
                    ("password", "pa55"),
                    ("device_uid", "stb-1"),
                ],
            )
            .await;
        assert_eq!(login["error"], 0, "{}: {login}", s.label());
        assert_eq!(login["customer_ext_id"], "crm-1");
        let key = login["authkey"].as_str().unwrap().to_string();
        let list = s
            .tv("channel/list", &[("authkey", &key), ("lang", "ru")])
            .await;
        let names: Vec<&str> = list["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["News RU", "Sport RU"], "{}", s.label());

        // The billing system adds the premium tariff: the box is told to
        // reload and then sees the third channel.
        s.billing_ok(
            "customer/tariff/assign",
            &[("customer_id", &customer_id), ("tariff_id", &premium_id)],
        )
        .await;
        let status = s.tv("account/status", &[("authkey", &key)]).await;
        assert_eq!(status["channel_list_changed"], 1, "{status}");
        let list = s.tv("channel/list", &[("authkey", &key)]).await;
        assert_eq!(list["channels"].as_array().unwrap().len(), 3);

        // Deactivated for debt: the login is refused (no free package here).
        s.billing_ok(
            "account/deactivate",
            &[("abonement", "5001"), ("status_reason", "DEBT")],
        )
        .await;
        let again = s
            .tv(
                "login",
                &[
                    ("api_key", API_KEY),
                    ("abonement", "5001"),
                    ("password", "pa55"),
                    ("device_uid", "stb-1"),
                ],
            )
            .await;
        assert_eq!(again["error"], 2, "{again}");
        let _ = channels;
        s.stop().await;
    }
}

#[tokio::test]
async fn sessions_end_with_their_account() {
    let s = Server::start(efir_store::testing::TestDb::sqlite().await).await;
    let customer = s.customer("Ann").await;
    let tariff = s.basic_tariff().await;
    s.account(&customer, &tariff, "9", "pw", &[]).await;
    let login = s
        .tv(
            "login",
            &[
                ("api_key", API_KEY),
                ("abonement", "9"),
                ("password", "pw"),
                ("device_uid", "x"),
            ],
        )
        .await;
    let key = login["authkey"].as_str().unwrap().to_string();
    assert_eq!(s.tv("channel/list", &[("authkey", &key)]).await["error"], 0);
    // The billing system deletes the account while its session is cached.
    s.billing_ok("account/delete", &[("abonement", "9")]).await;
    let after = s.tv("channel/list", &[("authkey", &key)]).await;
    assert_eq!(after["error"], 403, "{after}");
    s.stop().await;
}

#[tokio::test]
async fn trial_starts_at_first_login_and_shows_in_v2_customer_info() {
    for s in Server::both().await {
        let customer = s.customer("Tia").await;
        let tariff = s.basic_tariff().await;
        s.account(
            &customer,
            &tariff,
            "31",
            "pw",
            &[("auto_activation_period", "3")],
        )
        .await;
        let login = s
            .tv(
                "login",
                &[
                    ("api_key", API_KEY),
                    ("abonement", "31"),
                    ("password", "pw"),
                    ("device_uid", "x"),
                ],
            )
            .await;
        assert_eq!(login["error"], 0, "{login}");
        assert_eq!(login["activation_days_left"], 3, "{}: {login}", s.label());
        let key = login["authkey"].as_str().unwrap();
        let info = s.tv("v2/customer/info", &[("authkey", key)]).await;
        assert_eq!(info["error"], 0, "{info}");
        assert_eq!(info["is_trial"], 1, "{info}");
        assert_eq!(info["autopayment_enabled"], 0);
        let until = info["deactivation_date"].as_i64().unwrap();
        let now = efir_store::now();
        assert!(
            until > now + 2 * 86_400 && until <= now + 3 * 86_400,
            "{info}"
        );
        assert_eq!(info["firstname"], "Tia", "the v1 fields are there too");
        s.stop().await;
    }
}
