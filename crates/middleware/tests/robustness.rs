//! Random and hostile input to every API: never an HTTP 500, never a
//! non-JSON answer, always the API's own error format.

mod common;

use common::Server;

/// xorshift64*: deterministic, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const DEVICE_METHODS: &[&str] = &[
    "login",
    "logout",
    "account/status",
    "health/check",
    "channel/list",
    "v2/channel/list",
    "category/list",
    "channel/url",
    "streamservice/token/check",
    "customer/info",
    "customer/tariff/list",
    "customer/tariff/subscribe",
    "settings/save",
    "radio/list",
    "video/list",
    "video/detail",
    "video/url",
    "program/url",
    "message/list",
    "message/detail",
    "no/such",
    "etc%2Fpasswd",
    "channel%2Flist",
    "a//b",
];
const BILLING_METHODS: &[&str] = &[
    "customer/create",
    "customer/modify",
    "customer/info",
    "customer/list",
    "customer/delete",
    "customer/tariff/assign",
    "account/create",
    "account/modify",
    "account/info",
    "account/activate",
    "tariff/create",
    "tariff/list",
    "transaction/create",
    "x/y/z",
];
const CONTENT_METHODS: &[&str] = &[
    "channel/create",
    "channel/modify",
    "channel/list",
    "channel/delete",
    "category/create",
    "video/create",
    "video/file/create",
    "season/create",
    "episode/list",
    "radio/modify",
];
const NAMES: &[&str] = &[
    "cid",
    "vid",
    "id",
    "customer_id",
    "account_id",
    "tariff_id",
    "abonement",
    "password",
    "amount",
    "page",
    "limit",
    "name",
    "uri",
    "authkey",
    "lang",
    "device",
    "subnets",
    "activation_date",
    "price",
    "ext_id",
    "icon_width",
    "time",
    "exclude_service_id",
    "uuid",
    "category_id",
    "parent_code",
    "favorite_channel",
    "redirect",
    "api_key",
    "token",
];
const VALUES: &[&str] = &[
    "",
    "0",
    "-1",
    "1",
    "999999999999999999999999",
    "1.5",
    "abc",
    "'; DROP TABLE client; --",
    "\u{0}",
    "ñ",
    "%00",
    "1e309",
    "9223372036854775807",
    "-9223372036854775808",
    "null",
    "2026-13-45",
    "udp://239.0.0.1:1",
    "http://x",
    "<x>",
    "0000",
    "DE",
    "mag",
    "ru",
    "10.0.0.0/33",
    "true",
];

async fn check(s: &Server, res: reqwest::Response, what: &str) {
    let status = res.status();
    assert_eq!(status, 200, "{}: {what}: HTTP {status}", s.label());
    let text = res.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{}: {what}: not JSON: {text}", s.label()));
    assert!(v.get("error").is_some(), "{what}: {v}");
    assert_ne!(v["error"], 500, "{}: {what}: {v}", s.label());
}

#[tokio::test]
async fn random_calls_get_the_apis_error_format() {
    for s in Server::both().await {
        let mut rng = Rng(0x5eed);
        for round in 0..150 {
            let mut params: Vec<(String, String)> = Vec::new();
            for _ in 0..(rng.next() % 6) {
                params.push((rng.pick(NAMES).to_string(), rng.pick(VALUES).to_string()));
            }
            // Device API: with a real client id, sometimes a bogus one.
            let method = rng.pick(DEVICE_METHODS);
            let client = if round % 7 == 0 {
                rng.pick(VALUES).to_string()
            } else {
                s.client.id.to_string()
            };
            let mut q = params.clone();
            q.push(("client_id".into(), client));
            let res = s
                .http
                .post(format!("{}/tvmiddleware/api/{method}/", s.base))
                .form(&q)
                .send()
                .await
                .unwrap();
            check(&s, res, &format!("device {method} {q:?}")).await;

            // Billing and Content APIs with valid signatures: the
            // parameters themselves are the attack.
            let pairs: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let method = rng.pick(BILLING_METHODS);
            let v = s.billing(method, &pairs).await;
            assert!(v["error"].is_i64(), "billing {method} {pairs:?}: {v}");
            assert_ne!(
                v["error_message"],
                "internal error",
                "{}: billing {method} {pairs:?}: {v}",
                s.label()
            );
            let method = rng.pick(CONTENT_METHODS);
            let v = s.content(method, &pairs).await;
            assert!(v["error"].is_i64(), "content {method} {pairs:?}: {v}");
            assert_ne!(
                v["error_message"],
                "internal error",
                "{}: content {method} {pairs:?}: {v}",
                s.label()
            );
        }
        // A body that is not a form at all.
        let res = s
            .http
            .post(format!("{}/billing/api/customer/create/", s.base))
            .body(vec![0xff, 0xfe, 0x00, 0x26, 0x3d])
            .send()
            .await
            .unwrap();
        check(&s, res, "binary body").await;
        s.stop().await;
    }
}
