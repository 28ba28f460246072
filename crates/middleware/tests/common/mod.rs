//! A running middleware over real HTTP, on a throw-away database, with an
//! operator whose keys sign Billing and Content API calls.
#![allow(dead_code)]

use efir_store::clients::{Client, NewClient};
use efir_store::testing::TestDb;
use efir_store::Actor;
use efir_store::{with_db, Store};
use serde_json::Value;

/// The API keys of the test operator.
pub const API_KEY: &str = "device-key-0001";
pub const BILLING_KEY: &str = "billing-key-0001";
pub const CONTENT_KEY: &str = "content-key-0001";
/// The API keys of [`Server::other_operator`].
pub const OTHER_BILLING_KEY: &str = "billing-key-0002";
pub const OTHER_CONTENT_KEY: &str = "content-key-0002";

pub struct Server {
    pub db: TestDb,
    pub base: String,
    pub client: Client,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Starts the middleware on `db` with one operator (languages ru, uk).
    pub async fn start(db: TestDb) -> Server {
        let mut tx = db.store.begin(Actor::System("test".into())).await.unwrap();
        let client = db
            .store
            .create_client(
                &mut tx,
                &NewClient {
                    name: "Test TV".into(),
                    api_key: API_KEY.into(),
                    billing_api_key: Some(BILLING_KEY.into()),
                    content_api_key: Some(CONTENT_KEY.into()),
                    domain_prefix: "test".into(),
                    email: "ops@test.tv".into(),
                    currency: Some("EUR".into()),
                    languages: vec!["ru".into(), "uk".into()],
                    ..NewClient::default()
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let app = efir_middleware::routes(db.store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Server {
            db,
            base: format!("http://{addr}"),
            client,
            http: reqwest::Client::new(),
            task,
        }
    }

    /// One server per database kind.
    pub async fn both() -> Vec<Server> {
        vec![
            Server::start(TestDb::sqlite().await).await,
            Server::start(TestDb::postgres().await).await,
        ]
    }

    pub fn label(&self) -> &'static str {
        self.db.label
    }

    /// Posts a signed call to `/<api>/api/<method>/` and returns the JSON.
    pub async fn signed(
        &self,
        api: &str,
        key: &str,
        method: &str,
        params: &[(&str, &str)],
    ) -> Value {
        self.signed_as(self.client.id, api, key, method, params)
            .await
    }

    /// Posts a call to `/<api>/api/<method>/` signed for operator `client`
    /// with `key`, and returns the JSON.
    pub async fn signed_as(
        &self,
        client: i64,
        api: &str,
        key: &str,
        method: &str,
        params: &[(&str, &str)],
    ) -> Value {
        let mut pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        pairs.push(("client_id".into(), client.to_string()));
        let sig = efir_middleware::api::signature(&pairs, key);
        pairs.push(("signature".into(), sig));
        let res = self
            .http
            .post(format!("{}/{api}/api/{method}/", self.base))
            .form(&pairs)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{api} {method}: HTTP status");
        res.json().await.unwrap()
    }

    /// A second operator on the same database, whose Billing and Content
    /// keys are [`OTHER_BILLING_KEY`] and [`OTHER_CONTENT_KEY`].
    pub async fn other_operator(&self) -> Client {
        let mut tx = self
            .db
            .store
            .begin(Actor::System("test".into()))
            .await
            .unwrap();
        let c = self
            .db
            .store
            .create_client(
                &mut tx,
                &NewClient {
                    name: "Other TV".into(),
                    api_key: "device-key-0002".into(),
                    billing_api_key: Some(OTHER_BILLING_KEY.into()),
                    content_api_key: Some(OTHER_CONTENT_KEY.into()),
                    domain_prefix: "other".into(),
                    email: "ops@other.tv".into(),
                    ..NewClient::default()
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        c
    }

    /// A signed Billing API call.
    pub async fn billing(&self, method: &str, params: &[(&str, &str)]) -> Value {
        self.signed("billing", BILLING_KEY, method, params).await
    }

    /// A signed Content API call.
    pub async fn content(&self, method: &str, params: &[(&str, &str)]) -> Value {
        self.signed("content", CONTENT_KEY, method, params).await
    }

    /// A Billing API call that must succeed; returns its JSON.
    pub async fn billing_ok(&self, method: &str, params: &[(&str, &str)]) -> Value {
        let v = self.billing(method, params).await;
        assert_eq!(
            v["error"],
            0,
            "{}: billing {method} {params:?}: {v}",
            self.label()
        );
        v
    }

    /// A Content API call that must succeed; returns its JSON.
    pub async fn content_ok(&self, method: &str, params: &[(&str, &str)]) -> Value {
        let v = self.content(method, params).await;
        assert_eq!(
            v["error"],
            0,
            "{}: content {method} {params:?}: {v}",
            self.label()
        );
        v
    }

    /// Through the Billing API: a new basic tariff `Basic`; its id.
    pub async fn basic_tariff(&self) -> String {
        let t = self
            .billing_ok(
                "tariff/create",
                &[("name", "Basic"), ("basic_tariff_priority", "1")],
            )
            .await;
        t["tariff_id"]
            .as_i64()
            .or(t["id"].as_i64())
            .unwrap()
            .to_string()
    }

    /// Through the Billing API: a customer called `firstname`; its id.
    pub async fn customer(&self, firstname: &str) -> String {
        self.billing_ok("customer/create", &[("firstname", firstname)])
            .await["customer_id"]
            .to_string()
    }

    /// Through the Billing API: assigns `tariff` to `customer` and creates
    /// its account `abonement`/`password` (with `extra` fields).
    pub async fn account(
        &self,
        customer: &str,
        tariff: &str,
        abonement: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) {
        self.billing_ok(
            "customer/tariff/assign",
            &[("customer_id", customer), ("tariff_id", tariff)],
        )
        .await;
        let mut fields = vec![
            ("customer_id", customer),
            ("abonement", abonement),
            ("password", password),
        ];
        fields.extend_from_slice(extra);
        self.billing_ok("account/create", &fields).await;
    }

    pub async fn stop(self) {
        self.task.abort();
        self.db.cleanup().await;
    }
}

/// A bound value of [`exec`].
pub enum Arg<'a> {
    /// An integer.
    I(i64),
    /// Text.
    S(&'a str),
    /// A flag.
    B(bool),
    /// Bytes.
    Bytes(&'a [u8]),
}

/// Runs one statement; returns the new id when it says `RETURNING id`, or
/// the single integer a `SELECT` yields (0 when it yields no row).
pub async fn exec(store: &Store, sql: &str, args: &[Arg<'_>]) -> i64 {
    with_db!(store.pool(), p => {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        for a in args {
            q = match a {
                Arg::I(v) => q.bind(*v),
                Arg::S(v) => q.bind(v.to_string()),
                Arg::B(v) => q.bind(*v),
                Arg::Bytes(v) => q.bind(v.to_vec()),
            };
        }
        if sql.contains("RETURNING") {
            q.fetch_one(p).await.unwrap()
        } else {
            q.fetch_optional(p).await.unwrap().unwrap_or(0)
        }
    })
}

impl Server {
    /// A device API call that must succeed (`error` 0).
    pub async fn tv_ok(&self, method: &str, params: &[(&str, &str)]) -> Value {
        let v = self.tv(method, params).await;
        assert_eq!(v["error"], 0, "{}: {method} {params:?}: {v}", self.label());
        v
    }

    /// Logs `abonement` in on `device_uid`; returns the authkey.
    pub async fn login_key(&self, abonement: &str, password: &str, device_uid: &str) -> String {
        let ok = self
            .tv_ok(
                "login",
                &[
                    ("api_key", API_KEY),
                    ("abonement", abonement),
                    ("password", password),
                    ("device_uid", device_uid),
                ],
            )
            .await;
        ok["authkey"].as_str().unwrap().to_string()
    }

    /// A device API call (GET) as this operator; returns the JSON.
    pub async fn tv(&self, method: &str, params: &[(&str, &str)]) -> Value {
        self.tv_from(method, params, None, None).await
    }

    /// A device API call with an `X-Real-IP` and a `Cookie`.
    pub async fn tv_from(
        &self,
        method: &str,
        params: &[(&str, &str)],
        real_ip: Option<&str>,
        cookie: Option<&str>,
    ) -> Value {
        let res = self.tv_raw(method, params, real_ip, cookie).await;
        assert_eq!(res.status(), 200, "{method} {params:?}");
        res.json().await.unwrap()
    }

    /// A device API call; the raw response.
    pub async fn tv_raw(
        &self,
        method: &str,
        params: &[(&str, &str)],
        real_ip: Option<&str>,
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut pairs: Vec<(String, String)> =
            vec![("client_id".into(), self.client.id.to_string())];
        pairs.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut req = self
            .http
            .get(format!("{}/tvmiddleware/api/{method}/", self.base))
            .query(&pairs);
        if let Some(ip) = real_ip {
            req = req.header("X-Real-IP", ip);
        }
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        req.send().await.unwrap()
    }
}
