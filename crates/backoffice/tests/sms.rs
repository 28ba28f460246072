//! SMS backends against local HTTP fakes that check the documented requests
//! and answer the documented replies.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use efir_backoffice::sms::{
    backend, send_with_retries_backoff, Sms, SmsConfig, SmsError, SmsSettings,
};

const PASSWORD: &str = "pw-S3cret-value";
const API_KEY: &str = "key-S3cret-value";
const TOKEN: &str = "tok-S3cret-value";
/// Cyrillic, a '+', a '&' and a comma: all need encoding in a form.
const TEXT: &str = "Привет, мир! 1+1 & co";
const TEXT_ENCODED_START: &str = "%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82";
const FAST: Duration = Duration::from_millis(1);

/// One request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn form(&self) -> HashMap<String, String> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.body) {
            Ok(v) => v,
            Err(e) => panic!("request body is not JSON ({e}): {}", self.body),
        }
    }
}

type Script = HashMap<String, VecDeque<(u16, String)>>;

/// A local HTTP server recording requests and answering, per path, the
/// scripted replies in order (the last one repeats).
struct Fake {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    async fn start(script: Vec<(&str, u16, &str)>) -> Fake {
        let mut replies: Script = HashMap::new();
        for (path, status, body) in script {
            replies
                .entry(path.to_string())
                .or_default()
                .push_back((status, body.to_string()));
        }
        let replies = Arc::new(Mutex::new(replies));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let replies = replies.clone();
                let seen = seen2.clone();
                async move {
                    let path = uri.path().to_string();
                    seen.lock().unwrap().push(Seen {
                        method,
                        path: path.clone(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let mut replies = replies.lock().unwrap();
                    let (status, body) = match replies.get_mut(&path) {
                        Some(queue) if queue.len() > 1 => queue.pop_front().unwrap(),
                        Some(queue) if queue.len() == 1 => queue[0].clone(),
                        _ => (404, "no such path".to_string()),
                    };
                    (StatusCode::from_u16(status).unwrap(), body)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake { addr, seen }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests made to `path`.
    fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

fn sms(to: &str, text: &str) -> Sms {
    Sms {
        to: to.to_string(),
        text: text.to_string(),
        sender: None,
    }
}

fn config(json: serde_json::Value) -> SmsConfig {
    serde_json::from_value(json).unwrap()
}

/// One backend's expectations.
struct Case {
    /// Config pointing at the fake.
    cfg: fn(&str) -> SmsConfig,
    /// The path of the send request.
    send_path: &'static str,
    /// Replies needed before the send request (e.g. a login).
    setup: Vec<(&'static str, u16, &'static str)>,
    /// Documented success reply.
    ok: (u16, &'static str),
    /// Documented permanent error reply.
    err: (u16, &'static str),
    /// The number to send to.
    to: &'static str,
    /// Checks the send request made for `sms(to, TEXT)`.
    check: fn(&Seen),
    /// Expected receipt for the success reply: (provider_id, parts);
    /// `None` id means "any id is fine but there must be one".
    receipt: (Option<&'static str>, Option<u32>),
}

fn smsc_cfg(variant: &str, base: &str) -> SmsConfig {
    config(serde_json::json!({
        "backend": variant, "login": "operator", "password": PASSWORD,
        "sender": "EFIR", "base_url": base,
    }))
}

fn check_smsc(seen: &Seen) {
    assert_eq!(seen.method, Method::POST);
    let form = seen.form();
    assert_eq!(form["login"], "operator");
    assert_eq!(form["psw"], PASSWORD);
    assert_eq!(form["phones"], "+79991234567");
    assert_eq!(form["mes"], TEXT);
    assert_eq!(form["sender"], "EFIR");
    assert_eq!(form["fmt"], "3");
    assert_eq!(form["charset"], "utf-8");
    assert!(seen.body.contains("phones=%2B79991234567"), "{}", seen.body);
    assert!(
        seen.body.contains(&format!("mes={TEXT_ENCODED_START}")),
        "{}",
        seen.body
    );
    assert!(
        seen.body.contains("1%2B1") && seen.body.contains("%26"),
        "{}",
        seen.body
    );
}

fn smscru() -> Case {
    Case {
        cfg: |base| smsc_cfg("smsc-ru", base),
        send_path: "/sys/send.php",
        setup: vec![],
        ok: (200, r#"{"id":42,"cnt":2}"#),
        err: (200, r#"{"error":"invalid number","error_code":7}"#),
        to: "+79991234567",
        check: check_smsc,
        receipt: (Some("42"), Some(2)),
    }
}

fn smscua() -> Case {
    Case {
        cfg: |base| smsc_cfg("smsc-ua", base),
        ..smscru()
    }
}

fn mobipace() -> Case {
    Case {
        cfg: |base| {
            config(serde_json::json!({
                "backend": "mobipace", "login": "operator", "password": PASSWORD,
                "sender": "EFIR", "base_url": base,
            }))
        },
        send_path: "/v4/SendSMS",
        setup: vec![(
            "/v4/Authorize",
            200,
            r#"{"StatusCode":101,"Status":"OK","SessionId":"sess-1"}"#,
        )],
        ok: (200, r#"{"StatusCode":101,"Status":"OK","MessageCount":1}"#),
        err: (200, r#"{"StatusCode":110,"Status":"Invalid recipient"}"#),
        to: "+37491234567",
        check: |seen| {
            assert_eq!(seen.method, Method::POST);
            let body = seen.json();
            assert_eq!(body["SessionId"], "sess-1");
            assert_eq!(body["Sender"], "EFIR");
            assert_eq!(body["Messages"][0]["Recipient"], "37491234567");
            assert_eq!(body["Messages"][0]["Body"], TEXT);
        },
        receipt: (None, Some(1)),
    }
}

fn pulseem() -> Case {
    Case {
        cfg: |base| {
            config(serde_json::json!({
                "backend": "pulseem", "api_key": API_KEY, "sender": "EFIR",
                "base_url": base,
            }))
        },
        send_path: "/api/v1/SmsApi/SendSms",
        setup: vec![],
        ok: (200, r#"{"status":"Success","success":1}"#),
        err: (200, r#"{"status":"Error","error":"Invalid API key"}"#),
        to: "+972541234567",
        check: |seen| {
            assert_eq!(seen.method, Method::POST);
            assert_eq!(seen.headers["apikey"], API_KEY);
            let body = seen.json();
            assert!(body["sendId"].as_str().is_some_and(|s| !s.is_empty()));
            assert_eq!(body["isAsync"], false);
            let data = &body["smsSendData"];
            assert_eq!(data["fromNumber"], "EFIR");
            assert_eq!(data["toNumberList"], serde_json::json!(["972541234567"]));
            assert_eq!(data["textList"], serde_json::json!([TEXT]));
            assert_eq!(data["referenceList"].as_array().map(Vec::len), Some(1));
        },
        receipt: (None, None),
    }
}

fn smsassistent() -> Case {
    Case {
        cfg: |base| {
            config(serde_json::json!({
                "backend": "sms-assistent", "login": "operator", "password": PASSWORD,
                "sender": "EFIR", "base_url": base,
            }))
        },
        send_path: "/api/v1/send_sms/plain",
        setup: vec![],
        ok: (200, "12345"),
        err: (200, "-2"),
        to: "+375291234567",
        check: |seen| {
            assert_eq!(seen.method, Method::POST);
            let form = seen.form();
            assert_eq!(form["user"], "operator");
            assert_eq!(form["password"], PASSWORD);
            assert_eq!(form["recipient"], "375291234567");
            assert_eq!(form["message"], TEXT);
            assert_eq!(form["sender"], "EFIR");
            assert!(
                seen.body.contains(&format!("message={TEXT_ENCODED_START}")),
                "{}",
                seen.body
            );
        },
        receipt: (Some("12345"), None),
    }
}

fn webhook() -> Case {
    Case {
        cfg: |base| {
            config(serde_json::json!({
                "backend": "webhook", "url": format!("{base}/hooks/sms"), "token": TOKEN,
            }))
        },
        send_path: "/hooks/sms",
        setup: vec![],
        ok: (202, r#"{"id":"wh-7"}"#),
        err: (400, "bad number"),
        to: "+4915112345678",
        check: |seen| {
            assert_eq!(seen.method, Method::POST);
            assert_eq!(seen.headers["authorization"], format!("Bearer {TOKEN}"));
            let body = seen.json();
            assert_eq!(body["to"], "+4915112345678");
            assert_eq!(body["text"], TEXT);
            assert_eq!(body["sender"], serde_json::Value::Null);
        },
        receipt: (Some("wh-7"), None),
    }
}

fn script(case: &Case, replies: &[(u16, &'static str)]) -> Vec<(&'static str, u16, &'static str)> {
    let mut script = case.setup.clone();
    script.extend(replies.iter().map(|(s, b)| (case.send_path, *s, *b)));
    script
}

fn assert_no_secrets(text: &str) {
    for secret in [PASSWORD, API_KEY, TOKEN] {
        assert!(!text.contains(secret), "secret leaked in {text:?}");
    }
}

async fn documented_success(case: Case) {
    let fake = Fake::start(script(&case, &[case.ok])).await;
    let gw = backend(&(case.cfg)(&fake.base()), reqwest::Client::new());
    let receipt = gw.send(&sms(case.to, TEXT)).await.unwrap();
    let sent = fake.seen_at(case.send_path);
    assert_eq!(sent.len(), 1);
    (case.check)(&sent[0]);
    match case.receipt.0 {
        Some(id) => assert_eq!(receipt.provider_id.as_deref(), Some(id)),
        None if case.send_path == "/api/v1/SmsApi/SendSms" => {
            // Pulseem: the id is the sendId we generated.
            let body = sent[0].json();
            assert_eq!(receipt.provider_id.as_deref(), body["sendId"].as_str());
        }
        None => {}
    }
    assert_eq!(receipt.parts, case.receipt.1);
}

async fn documented_error_is_rejected(case: Case) {
    let fake = Fake::start(script(&case, &[case.err])).await;
    let gw = backend(&(case.cfg)(&fake.base()), reqwest::Client::new());
    let err = gw.send(&sms(case.to, TEXT)).await.unwrap_err();
    assert!(matches!(err, SmsError::Rejected { .. }), "{err:?}");
    assert!(err.to_string().contains(gw.name()), "{err}");
    assert_no_secrets(&err.to_string());
    assert_no_secrets(&format!("{err:?}"));
}

async fn server_errors_then_success(case: Case) {
    let fake = Fake::start(script(&case, &[(500, "oops"), (500, "oops"), case.ok])).await;
    let gw = backend(&(case.cfg)(&fake.base()), reqwest::Client::new());
    let (_, used) = send_with_retries_backoff(gw.as_ref(), &sms(case.to, TEXT), 3, FAST)
        .await
        .unwrap();
    assert_eq!(used, 3);
    assert_eq!(fake.seen_at(case.send_path).len(), 3);
}

async fn rejection_is_not_retried(case: Case) {
    let fake = Fake::start(script(&case, &[case.err, case.ok])).await;
    let gw = backend(&(case.cfg)(&fake.base()), reqwest::Client::new());
    let err = send_with_retries_backoff(gw.as_ref(), &sms(case.to, TEXT), 3, FAST)
        .await
        .unwrap_err();
    assert!(matches!(err, SmsError::Rejected { .. }), "{err:?}");
    assert_eq!(fake.seen_at(case.send_path).len(), 1);
}

async fn invalid_messages_make_no_request(case: Case) {
    let fake = Fake::start(script(&case, &[case.ok])).await;
    let gw = backend(&(case.cfg)(&fake.base()), reqwest::Client::new());
    let long = "я".repeat(1001);
    let bad = [
        sms("12345", TEXT),             // too short
        sms("+1234567890123456", TEXT), // too long
        sms("+7 999 123 45 67", TEXT),  // spaces
        sms("++79991234567", TEXT),     // two pluses
        sms("7999123456a", TEXT),       // letter
        sms("", TEXT),                  // empty
        sms(case.to, ""),               // empty text
        sms(case.to, "   "),            // blank text
        sms(case.to, &long),            // 1001 characters
    ];
    for msg in &bad {
        let err = gw.send(msg).await.unwrap_err();
        assert!(
            matches!(
                err,
                SmsError::InvalidNumber { .. } | SmsError::InvalidText { .. }
            ),
            "{msg:?}: {err:?}"
        );
        let err = send_with_retries_backoff(gw.as_ref(), msg, 3, FAST)
            .await
            .unwrap_err();
        assert!(!err.is_temporary(), "{msg:?}: {err:?}");
    }
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
    // The limits themselves are accepted.
    gw.send(&sms(case.to, &"я".repeat(1000))).await.unwrap();
}

macro_rules! backend_tests {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn documented_success() {
                super::documented_success(super::$name()).await;
            }
            #[tokio::test]
            async fn documented_error_is_rejected() {
                super::documented_error_is_rejected(super::$name()).await;
            }
            #[tokio::test]
            async fn server_errors_then_success() {
                super::server_errors_then_success(super::$name()).await;
            }
            #[tokio::test]
            async fn rejection_is_not_retried() {
                super::rejection_is_not_retried(super::$name()).await;
            }
            #[tokio::test]
            async fn invalid_messages_make_no_request() {
                super::invalid_messages_make_no_request(super::$name()).await;
            }
        }
    };
}

backend_tests!(smscru);
backend_tests!(smscua);
backend_tests!(mobipace);
backend_tests!(pulseem);
backend_tests!(smsassistent);
backend_tests!(webhook);

#[tokio::test]
async fn smsc_rate_limit_is_temporary() {
    let fake = Fake::start(vec![(
        "/sys/send.php",
        200,
        r#"{"error":"duplicate request, wait a minute","error_code":9}"#,
    )])
    .await;
    let gw = backend(&smsc_cfg("smsc-ru", &fake.base()), reqwest::Client::new());
    let err = send_with_retries_backoff(gw.as_ref(), &sms("+79991234567", "hi"), 2, FAST)
        .await
        .unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn mobipace_login_failure_is_rejected_and_nothing_sent() {
    let fake = Fake::start(vec![(
        "/v4/Authorize",
        200,
        r#"{"StatusCode":108,"Status":"Invalid credentials"}"#,
    )])
    .await;
    let gw = backend(&(mobipace().cfg)(&fake.base()), reqwest::Client::new());
    let err = send_with_retries_backoff(gw.as_ref(), &sms("+37491234567", "hi"), 3, FAST)
        .await
        .unwrap_err();
    assert!(matches!(err, SmsError::Rejected { .. }), "{err:?}");
    let auth = fake.seen_at("/v4/Authorize");
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].json()["Username"], "operator");
    assert_eq!(auth[0].json()["Password"], PASSWORD);
    assert!(fake.seen_at("/v4/SendSMS").is_empty());
    assert_no_secrets(&err.to_string());
}

#[tokio::test]
async fn webhook_without_token_sends_no_authorization_and_passes_sender() {
    let fake = Fake::start(vec![("/hook", 204, "")]).await;
    let cfg = config(serde_json::json!({
        "backend": "webhook", "url": format!("{}/hook", fake.base()),
    }));
    let gw = backend(&cfg, reqwest::Client::new());
    let msg = Sms {
        to: "79991234567".to_string(),
        text: "hello".to_string(),
        sender: Some("Efir".to_string()),
    };
    let receipt = gw.send(&msg).await.unwrap();
    assert_eq!(receipt.provider_id, None);
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].headers.get("authorization").is_none());
    let body = seen[0].json();
    assert_eq!(body["to"], "+79991234567");
    assert_eq!(body["sender"], "Efir");
}

#[tokio::test]
async fn rate_limited_webhook_is_temporary_and_gives_up_after_attempts() {
    let fake = Fake::start(vec![("/hook", 429, "slow down")]).await;
    let cfg = config(serde_json::json!({
        "backend": "webhook", "url": format!("{}/hook", fake.base()), "token": TOKEN,
    }));
    let gw = backend(&cfg, reqwest::Client::new());
    let err = send_with_retries_backoff(gw.as_ref(), &sms("+79991234567", "hi"), 4, FAST)
        .await
        .unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
    assert_eq!(fake.seen().len(), 4);
    assert_no_secrets(&err.to_string());
}

#[tokio::test]
async fn unreachable_gateway_is_temporary_without_secrets() {
    // Bind then drop a listener: nothing listens on that port any more.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    for cfg in [
        smsc_cfg("smsc-ru", &base),
        (pulseem().cfg)(&base),
        (smsassistent().cfg)(&base),
        (mobipace().cfg)(&base),
    ] {
        let gw = backend(&cfg, reqwest::Client::new());
        let err = gw.send(&sms("+79991234567", TEXT)).await.unwrap_err();
        assert!(err.is_temporary(), "{err:?}");
        assert_no_secrets(&err.to_string());
    }
}

#[tokio::test]
async fn log_backend_always_sends_and_still_validates() {
    let gw = backend(
        &config(serde_json::json!({"backend": "log"})),
        reqwest::Client::new(),
    );
    assert_eq!(gw.name(), "log");
    let (receipt, used) =
        send_with_retries_backoff(gw.as_ref(), &sms("+79991234567", TEXT), 3, FAST)
            .await
            .unwrap();
    assert_eq!(used, 1);
    assert_eq!(receipt.provider_id, None);
    assert!(matches!(
        gw.send(&sms("123", TEXT)).await,
        Err(SmsError::InvalidNumber { .. })
    ));
    assert!(matches!(
        gw.send(&sms("+79991234567", "")).await,
        Err(SmsError::InvalidText { .. })
    ));
}

#[test]
fn config_debug_hides_secrets() {
    let base = "http://127.0.0.1:1";
    let configs = [
        smsc_cfg("smsc-ru", base),
        smsc_cfg("smsc-ua", base),
        (mobipace().cfg)(base),
        (pulseem().cfg)(base),
        (smsassistent().cfg)(base),
        (webhook().cfg)(base),
    ];
    for cfg in &configs {
        let debug = format!("{cfg:?}");
        assert_no_secrets(&debug);
        assert!(debug.contains("***"), "{debug}");
    }
    let settings: SmsSettings = serde_json::from_value(serde_json::json!({
        "gateway": {"backend": "pulseem", "api_key": API_KEY, "sender": "X"},
    }))
    .unwrap();
    assert_no_secrets(&format!("{settings:?}"));
}

#[test]
fn config_names_defaults_and_unknown_fields() {
    let settings: SmsSettings = serde_json::from_value(serde_json::json!({
        "gateway": {"backend": "log"},
    }))
    .unwrap();
    assert_eq!(settings.attempts, 3);
    let settings: SmsSettings = serde_json::from_value(serde_json::json!({
        "attempts": 5,
        "gateway": {"backend": "sms-assistent", "login": "u", "password": "p", "sender": "s"},
    }))
    .unwrap();
    assert_eq!(settings.attempts, 5);
    assert!(matches!(settings.gateway, SmsConfig::SmsAssistent { .. }));
    let gw = backend(&settings.gateway, reqwest::Client::new());
    assert_eq!(gw.name(), "sms-assistent");

    let typo = serde_json::from_value::<SmsConfig>(serde_json::json!({
        "backend": "smsc-ru", "login": "u", "pasword": "p",
    }));
    assert!(typo.is_err());
    let extra = serde_json::from_value::<SmsConfig>(serde_json::json!({
        "backend": "smsc-ru", "login": "u", "password": "p", "colour": "red",
    }));
    assert!(extra.is_err());
    let unknown =
        serde_json::from_value::<SmsConfig>(serde_json::json!({"backend": "carrier-pigeon"}));
    assert!(unknown.is_err());
}
