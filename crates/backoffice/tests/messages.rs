//! The outbox, screen messages, expiry notices and cleaning, on SQLite and
//! PostgreSQL, against local fakes of the SMS gateways and an SMTP server.
//! Every function takes the time as an argument: the clock is frozen.

mod messages_support;

use efir_backoffice::messages::clean::clean_old;
use efir_backoffice::messages::expiry::{send_expiry_notices, Copies};
use efir_backoffice::messages::list::{list, ListFilter};
use efir_backoffice::messages::outbox::{self, deliver_due, DueFilter};
use efir_backoffice::messages::screen::{send_screen, ScreenMessage, Target};
use efir_backoffice::messages::{Channel, MessageError};
use efir_store::testing::TestDb;
use efir_store::{Actor, Store};
use messages_support::*;

const T0: i64 = 1_780_000_000;
const SMS: Copies = Copies {
    sms: true,
    email: false,
};
const PASSWORD: &str = "pw-S3cret-value";
const TEXT: &str = "Привет, мир! <b>1+1</b> & co";

fn actor() -> Actor {
    Actor::Command("test".into())
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn state(store: &Store, id: i64) -> outbox::Outbound {
    outbox::get(store, id).await.unwrap().unwrap()
}

/// One gateway: its settings (pointing at the fake), the send path, a
/// documented success reply, and a check of the request.
struct Gw {
    settings: fn(&str) -> Vec<(String, String)>,
    path: &'static str,
    setup: Vec<(&'static str, u16, &'static str)>,
    ok: &'static str,
    check: fn(&Seen, &str),
    gateway_id: Option<&'static str>,
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn gateways() -> Vec<(&'static str, Gw)> {
    let smsc = |backend: &'static str| Gw {
        settings: match backend {
            "smsc-ru" => |b| {
                kv(&[
                    ("sms.backend", "smsc-ru"),
                    ("sms.login", "op"),
                    ("sms.password", PASSWORD),
                    ("sms.sender", "EFIR"),
                    ("sms.base_url", b),
                ])
            },
            _ => |b| {
                kv(&[
                    ("sms.backend", "smsc-ua"),
                    ("sms.login", "op"),
                    ("sms.password", PASSWORD),
                    ("sms.sender", "EFIR"),
                    ("sms.base_url", b),
                ])
            },
        },
        path: "/sys/send.php",
        setup: vec![],
        ok: r#"{"id":42,"cnt":1}"#,
        check: |seen, to| {
            let form = seen.form();
            assert_eq!(form["phones"], to);
            assert_eq!(form["mes"], TEXT);
            assert_eq!(form["login"], "op");
            assert_eq!(form["psw"], PASSWORD);
        },
        gateway_id: Some("42"),
    };
    vec![
        ("smsc-ru", smsc("smsc-ru")),
        ("smsc-ua", smsc("smsc-ua")),
        (
            "mobipace",
            Gw {
                settings: |b| {
                    kv(&[
                        ("sms.backend", "mobipace"),
                        ("sms.login", "op"),
                        ("sms.password", PASSWORD),
                        ("sms.sender", "EFIR"),
                        ("sms.base_url", b),
                    ])
                },
                path: "/v4/SendSMS",
                setup: vec![(
                    "/v4/Authorize",
                    200,
                    r#"{"StatusCode":101,"Status":"OK","SessionId":"sess-1"}"#,
                )],
                ok: r#"{"StatusCode":101,"Status":"OK","MessageCount":1}"#,
                check: |seen, to| {
                    let body = seen.json();
                    assert_eq!(body["SessionId"], "sess-1");
                    assert_eq!(body["Messages"][0]["Recipient"], to.trim_start_matches('+'));
                    assert_eq!(body["Messages"][0]["Body"], TEXT);
                },
                gateway_id: None,
            },
        ),
        (
            "pulseem",
            Gw {
                settings: |b| {
                    kv(&[
                        ("sms.backend", "pulseem"),
                        ("sms.api_key", PASSWORD),
                        ("sms.sender", "EFIR"),
                        ("sms.base_url", b),
                    ])
                },
                path: "/api/v1/SmsApi/SendSms",
                setup: vec![],
                ok: r#"{"status":"Success","success":1}"#,
                check: |seen, to| {
                    assert_eq!(seen.headers["apikey"], PASSWORD);
                    let data = &seen.json()["smsSendData"];
                    assert_eq!(
                        data["toNumberList"],
                        serde_json::json!([to.trim_start_matches('+')])
                    );
                    assert_eq!(data["textList"], serde_json::json!([TEXT]));
                },
                gateway_id: None,
            },
        ),
        (
            "sms-assistent",
            Gw {
                settings: |b| {
                    kv(&[
                        ("sms.backend", "sms-assistent"),
                        ("sms.login", "op"),
                        ("sms.password", PASSWORD),
                        ("sms.sender", "EFIR"),
                        ("sms.base_url", b),
                    ])
                },
                path: "/api/v1/send_sms/plain",
                setup: vec![],
                ok: "12345",
                check: |seen, to| {
                    let form = seen.form();
                    assert_eq!(form["recipient"], to.trim_start_matches('+'));
                    assert_eq!(form["message"], TEXT);
                },
                gateway_id: Some("12345"),
            },
        ),
        (
            "webhook",
            Gw {
                settings: |b| {
                    kv(&[
                        ("sms.backend", "webhook"),
                        ("sms.url", &format!("{b}/hooks/sms")),
                        ("sms.token", PASSWORD),
                    ])
                },
                path: "/hooks/sms",
                setup: vec![],
                ok: r#"{"id":"wh-7"}"#,
                check: |seen, to| {
                    assert_eq!(seen.headers["authorization"], format!("Bearer {PASSWORD}"));
                    let body = seen.json();
                    assert_eq!(body["to"], to);
                    assert_eq!(body["text"], TEXT);
                },
                gateway_id: Some("wh-7"),
            },
        ),
    ]
}

async fn configure(store: &Store, client: i64, pairs: Vec<(String, String)>) {
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    set(store, client, &pairs).await;
}

#[tokio::test]
async fn every_sms_backend_sends_through_the_outbox_and_retries_later() {
    for db in TestDb::both().await {
        let store = &db.store;
        for (i, (name, gw)) in gateways().into_iter().enumerate() {
            let client = operator(store, &format!("gw{i}"), "en").await;
            let mut script = gw.setup.clone();
            script.push((gw.path, 503, "maintenance"));
            script.push((gw.path, 200, gw.ok));
            let fake = FakeHttp::start(script).await;
            configure(store, client, (gw.settings)(&fake.base())).await;
            let to = "+79991234567";
            let id = outbox::queue_sms(store, actor(), client, None, to, TEXT, T0)
                .await
                .unwrap();
            assert_eq!(state(store, id).await.state, "queued", "{name}");

            let filter = DueFilter {
                client_id: Some(client),
                ..DueFilter::default()
            };
            let first = deliver_due(store, &http(), actor(), &filter, T0)
                .await
                .unwrap();
            assert_eq!((first.attempted, first.retrying), (1, 1), "{name}");
            let row = state(store, id).await;
            assert_eq!((row.state.as_str(), row.attempts), ("queued", 1), "{name}");
            assert!(row.next_attempt_at > T0, "{name}");
            assert!(
                row.last_error.as_deref().unwrap().contains("503"),
                "{name}: {row:?}"
            );
            assert!(!row.last_error.unwrap().contains(PASSWORD), "{name}");

            // Not due yet: nothing is sent.
            let early = deliver_due(store, &http(), actor(), &filter, T0 + 30)
                .await
                .unwrap();
            assert_eq!(early.attempted, 0, "{name}");
            assert_eq!(fake.seen_at(gw.path).len(), 1, "{name}");

            let second = deliver_due(store, &http(), actor(), &filter, T0 + 60)
                .await
                .unwrap();
            assert_eq!(second.sent, 1, "{name}");
            let sent = fake.seen_at(gw.path);
            assert_eq!(sent.len(), 2, "{name}");
            (gw.check)(&sent[1], to);
            let row = state(store, id).await;
            assert_eq!((row.state.as_str(), row.attempts), ("sent", 2), "{name}");
            assert_eq!(row.sent_at, Some(T0 + 60), "{name}");
            if let Some(gid) = gw.gateway_id {
                assert_eq!(row.gateway_id.as_deref(), Some(gid), "{name}");
            }
            // Sent messages are never sent again.
            let again = deliver_due(store, &http(), actor(), &filter, T0 + 10_000)
                .await
                .unwrap();
            assert_eq!(again.attempted, 0, "{name}");
        }
        // Every attempt is in the audit log.
        let events = store
            .audit_events(&efir_store::audit::AuditFilter {
                entity: Some("outbound_message".into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions.iter().filter(|a| **a == "attempt").count(), 12);
        assert_eq!(actions.iter().filter(|a| **a == "sent").count(), 6);
        assert_eq!(actions.iter().filter(|a| **a == "retry").count(), 6);
        assert_eq!(actions.iter().filter(|a| **a == "queue").count(), 6);
        assert!(events.iter().all(|e| !e.data.contains(PASSWORD)));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn attempts_are_capped_and_rejections_fail_at_once() {
    for db in TestDb::both().await {
        let store = &db.store;
        let client = operator(store, "cap", "en").await;
        let fake = FakeHttp::start(vec![
            ("/always-busy", 429, "slow down"),
            ("/rejects", 400, "bad number"),
        ])
        .await;
        set(
            store,
            client,
            &[
                ("sms.backend", "webhook"),
                ("sms.url", &format!("{}/always-busy", fake.base())),
                ("sms.attempts", "3"),
            ],
        )
        .await;
        let id = outbox::queue_sms(store, actor(), client, None, "+79991234567", "hi", T0)
            .await
            .unwrap();
        let all = DueFilter::default();
        let mut t = T0;
        for attempt in 1..=3 {
            let s = deliver_due(store, &http(), actor(), &all, t).await.unwrap();
            assert_eq!(s.attempted, 1, "attempt {attempt}");
            t = state(store, id).await.next_attempt_at;
        }
        let row = state(store, id).await;
        assert_eq!((row.state.as_str(), row.attempts), ("failed", 3));
        assert!(row.last_error.unwrap().contains("429"));
        assert_eq!(fake.seen_at("/always-busy").len(), 3);
        let s = deliver_due(store, &http(), actor(), &all, T0 + 100_000)
            .await
            .unwrap();
        assert_eq!(s.attempted, 0, "a failed message is not retried");

        // A permanent rejection fails at the first attempt.
        set(
            store,
            client,
            &[("sms.url", &format!("{}/rejects", fake.base()))],
        )
        .await;
        let id = outbox::queue_sms(store, actor(), client, None, "+79991234567", "hi", T0)
            .await
            .unwrap();
        let s = deliver_due(store, &http(), actor(), &all, T0)
            .await
            .unwrap();
        assert_eq!(s.failed, 1);
        let row = state(store, id).await;
        assert_eq!((row.state.as_str(), row.attempts), ("failed", 1));
        assert!(row.last_error.unwrap().contains("rejected"));
        assert_eq!(fake.seen_at("/rejects").len(), 1);

        // A failed message can be resent: it is due again.
        outbox::resend(store, actor(), id, T0 + 5).await.unwrap();
        assert_eq!(state(store, id).await.state, "queued");
        assert!(matches!(
            outbox::resend(store, actor(), id, T0 + 5).await,
            Err(MessageError::Conflict(_))
        ));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn resend_picks_up_due_messages_only() {
    for db in TestDb::both().await {
        let store = &db.store;
        let a = operator(store, "due-a", "en").await;
        let b = operator(store, "due-b", "en").await;
        let fake = FakeHttp::start(vec![("/hook", 200, "{}")]).await;
        for c in [a, b] {
            set(
                store,
                c,
                &[
                    ("sms.backend", "webhook"),
                    ("sms.url", &format!("{}/hook", fake.base())),
                ],
            )
            .await;
        }
        let now_a = outbox::queue_sms(store, actor(), a, None, "+79990000001", "now", T0)
            .await
            .unwrap();
        let later_a = outbox::queue_sms(store, actor(), a, None, "+79990000002", "later", T0 + 600)
            .await
            .unwrap();
        let now_b = outbox::queue_sms(store, actor(), b, None, "+79990000003", "b", T0)
            .await
            .unwrap();
        let only_a = DueFilter {
            client_id: Some(a),
            ..DueFilter::default()
        };
        let s = deliver_due(store, &http(), actor(), &only_a, T0 + 1)
            .await
            .unwrap();
        assert_eq!((s.attempted, s.sent), (1, 1));
        assert_eq!(state(store, now_a).await.state, "sent");
        assert_eq!(state(store, later_a).await.state, "queued");
        assert_eq!(
            state(store, now_b).await.state,
            "queued",
            "other operator untouched"
        );
        let texts: Vec<String> = fake
            .seen()
            .iter()
            .map(|s| s.json()["text"].to_string())
            .collect();
        assert_eq!(texts, vec!["\"now\""]);
        let s = deliver_due(store, &http(), actor(), &DueFilter::default(), T0 + 600)
            .await
            .unwrap();
        assert_eq!(s.sent, 2);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn email_arrives_at_the_smtp_server() {
    for db in TestDb::both().await {
        let store = &db.store;
        let client = operator(store, "mail", "en").await;
        let smtp = FakeSmtp::start(SmtpMode::default()).await;
        let port = smtp.addr.port().to_string();
        set(
            store,
            client,
            &[
                ("email.host", "127.0.0.1"),
                ("email.port", &port),
                ("email.tls", "none"),
                ("email.from", "Efir TV <noreply@tv.example.com>"),
                ("email.username", "mailer"),
                ("email.password", PASSWORD),
            ],
        )
        .await;
        let body = "Hello,\r\n<b>your</b> subscription ends soon.\r\n.\r\nBye";
        let id = outbox::queue_email(
            store,
            actor(),
            client,
            None,
            "ann@example.com",
            "Subscription",
            body,
            T0,
        )
        .await
        .unwrap();
        let s = deliver_due(store, &http(), actor(), &DueFilter::default(), T0)
            .await
            .unwrap();
        assert_eq!(s.sent, 1, "{:?}", state(store, id).await);
        let mails = smtp.mails();
        assert_eq!(mails.len(), 1);
        let mail = &mails[0];
        assert_eq!(mail.to, vec!["<ann@example.com>"]);
        assert_eq!(mail.from, "<noreply@tv.example.com>");
        assert!(mail.auth.is_some(), "logged in");
        assert!(mail.data.contains("Subject: Subscription"), "{}", mail.data);
        assert!(mail.data.contains("To: ann@example.com"), "{}", mail.data);
        assert!(
            mail.data.contains("Content-Type: text/plain"),
            "{}",
            mail.data
        );
        assert!(
            mail.data.contains("<b>your</b> subscription ends soon."),
            "{}",
            mail.data
        );
        assert!(mail.data.contains("\r\n.\r\nBye") || mail.data.contains("\n.\r\nBye"));
        let row = state(store, id).await;
        assert_eq!(row.state, "sent");

        // A server that refuses the recipient fails the e-mail at once.
        let refusing = FakeSmtp::start(SmtpMode {
            reject_rcpt: true,
            ..SmtpMode::default()
        })
        .await;
        set(
            store,
            client,
            &[("email.port", &refusing.addr.port().to_string())],
        )
        .await;
        let id = outbox::queue_email(store, actor(), client, None, "x@example.com", "S", "b", T0)
            .await
            .unwrap();
        deliver_due(store, &http(), actor(), &DueFilter::default(), T0)
            .await
            .unwrap();
        let row = state(store, id).await;
        assert_eq!((row.state.as_str(), row.attempts), ("failed", 1), "{row:?}");
        assert!(!row.last_error.unwrap().contains(PASSWORD));

        // A busy server is tried again later.
        let busy = FakeSmtp::start(SmtpMode {
            busy: true,
            ..SmtpMode::default()
        })
        .await;
        set(
            store,
            client,
            &[("email.port", &busy.addr.port().to_string())],
        )
        .await;
        let id = outbox::queue_email(store, actor(), client, None, "y@example.com", "S", "b", T0)
            .await
            .unwrap();
        deliver_due(store, &http(), actor(), &DueFilter::default(), T0)
            .await
            .unwrap();
        let row = state(store, id).await;
        assert_eq!((row.state.as_str(), row.attempts), ("queued", 1), "{row:?}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    for db in TestDb::both().await {
        let store = &db.store;
        let client = operator(store, "bad", "en").await;
        let other = operator(store, "other", "en").await;
        let theirs = customer(store, other, "+79990000009", "").await;
        // No gateway yet: refused.
        let err = outbox::queue_sms(store, actor(), client, None, "+79991234567", "hi", T0)
            .await
            .unwrap_err();
        assert!(matches!(err, MessageError::Settings(_)), "{err}");
        set(store, client, &[("sms.backend", "log")]).await;
        for bad in [
            "12345",
            "+7 999 123 45 67",
            "7999123456a",
            "",
            "'; DROP TABLE x; --",
        ] {
            let err = outbox::queue_sms(store, actor(), client, None, bad, "hi", T0)
                .await
                .unwrap_err();
            assert!(
                matches!(err, MessageError::Invalid { field: "phone", .. }),
                "{bad}: {err}"
            );
        }
        for bad in ["", "   "] {
            let err = outbox::queue_sms(store, actor(), client, None, "+79991234567", bad, T0)
                .await
                .unwrap_err();
            assert!(
                matches!(err, MessageError::Invalid { field: "text", .. }),
                "{err}"
            );
        }
        let err = outbox::queue_sms(
            store,
            actor(),
            client,
            Some(999_999),
            "+79991234567",
            "x",
            T0,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, MessageError::NotFound(_)), "{err}");
        let err = outbox::queue_sms(
            store,
            actor(),
            client,
            Some(theirs),
            "+79991234567",
            "x",
            T0,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, MessageError::NotFound(_)),
            "another operator's customer: {err}"
        );
        let err = outbox::queue_email(store, actor(), client, None, "not-an-address", "s", "b", T0)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            MessageError::Settings(_) | MessageError::Invalid { .. }
        ));
        let err = send_screen(
            store,
            actor(),
            client,
            Target::Customer(theirs),
            &ScreenMessage {
                text: "hi".into(),
                ..ScreenMessage::default()
            },
            T0,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, MessageError::NotFound(_)), "{err}");
        assert_eq!(count(store, "outbound_message").await, 0);
        assert_eq!(count(store, "message").await, 0);
        // Settings are validated before they are stored.
        assert!(efir_backoffice::settings::validate("email.tls", "ssl3").is_err());
        assert!(efir_backoffice::settings::validate("email.port", "0").is_err());
        assert!(efir_backoffice::settings::validate("email.from", "nobody").is_err());
        assert!(efir_backoffice::settings::validate("email.host", "a b").is_err());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn screen_messages_reach_accounts_with_copies() {
    for db in TestDb::both().await {
        let store = &db.store;
        let client = operator(store, "screen", "en").await;
        set(
            store,
            client,
            &[
                ("sms.backend", "log"),
                ("email.host", "127.0.0.1"),
                ("email.from", "noreply@tv.example.com"),
            ],
        )
        .await;
        let ann = customer(store, client, "+79990000001", "ann@example.com").await;
        let bob = customer(store, client, "", "").await;
        let ann1 = account(store, client, ann, "ann1", None).await;
        let _ann2 = account(store, client, ann, "ann2", None).await;
        let _bob1 = account(store, client, bob, "bob1", None).await;
        let html = "<script>alert(1)</script> Maintenance tonight";
        let msg = ScreenMessage {
            subject: "Notice".into(),
            text: html.into(),
            urgent: true,
            sms: true,
            email: true,
            no_screen: false,
        };
        // One account, with copies.
        let s = send_screen(store, actor(), client, Target::Account(ann1), &msg, T0)
            .await
            .unwrap();
        assert_eq!((s.screen, s.outbound_ids.len()), (1, 2));
        // One customer: both of Ann's accounts, one copy per channel.
        let s = send_screen(store, actor(), client, Target::Customer(ann), &msg, T0)
            .await
            .unwrap();
        assert_eq!((s.screen, s.outbound_ids.len()), (2, 2));
        // Bob has no number: a copy to him alone is refused, nothing written.
        let before = count(store, "message").await;
        let err = send_screen(store, actor(), client, Target::Customer(bob), &msg, T0)
            .await
            .unwrap_err();
        assert!(
            matches!(err, MessageError::Invalid { field: "phone", .. }),
            "{err}"
        );
        assert_eq!(count(store, "message").await, before);
        // The whole operator: every account, Bob's copies skipped.
        let s = send_screen(store, actor(), client, Target::Operator, &msg, T0)
            .await
            .unwrap();
        assert_eq!((s.screen, s.outbound_ids.len(), s.skipped), (3, 2, 2));
        // Copies only, no screen message.
        let only_sms = ScreenMessage {
            text: "SMS only".into(),
            sms: true,
            no_screen: true,
            ..ScreenMessage::default()
        };
        let s = send_screen(store, actor(), client, Target::Account(ann1), &only_sms, T0)
            .await
            .unwrap();
        assert_eq!((s.screen, s.outbound_ids.len()), (0, 1));
        let nothing = ScreenMessage {
            text: "nowhere".into(),
            no_screen: true,
            ..ScreenMessage::default()
        };
        assert!(matches!(
            send_screen(store, actor(), client, Target::Operator, &nothing, T0).await,
            Err(MessageError::Invalid {
                field: "channels",
                ..
            })
        ));
        // Stored exactly as given.
        let rows = list(
            store,
            &ListFilter {
                client_id: Some(client),
                channel: Some(Channel::Screen),
                limit: 100,
                ..ListFilter::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().all(|r| r.body == html && r.state == "unread"));
        let emails = list(
            store,
            &ListFilter {
                client_id: Some(client),
                channel: Some(Channel::Email),
                limit: 100,
                ..ListFilter::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(emails.len(), 3);
        assert!(emails
            .iter()
            .all(|r| r.recipient == "ann@example.com" && r.state == "queued"));
        // Empty text.
        let err = send_screen(
            store,
            actor(),
            client,
            Target::Operator,
            &ScreenMessage {
                text: " ".into(),
                ..ScreenMessage::default()
            },
            T0,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, MessageError::Invalid { field: "text", .. }));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn expiry_notices_are_sent_once_per_account_and_date() {
    for db in TestDb::both().await {
        let store = &db.store;
        let client = operator(store, "exp", "ru").await;
        let fake = FakeHttp::start(vec![("/hook", 200, "{}")]).await;
        set(
            store,
            client,
            &[
                ("sms.backend", "webhook"),
                ("sms.url", &format!("{}/hook", fake.base())),
            ],
        )
        .await;
        let ann = customer(store, client, "+79990000001", "ann@example.com").await;
        let bob = customer(store, client, "", "").await;
        let day = 86_400;
        let soon = account(store, client, ann, "ann1", Some(T0 + 2 * day)).await;
        let _later = account(store, client, ann, "ann2", Some(T0 + 10 * day)).await;
        let _past = account(store, client, ann, "ann3", Some(T0 - day)).await;
        let bob_soon = account(store, client, bob, "bob1", Some(T0 + day)).await;

        let s = send_expiry_notices(store, actor(), client, 3, SMS, T0)
            .await
            .unwrap();
        assert_eq!(
            (s.due, s.screen, s.sms, s.sms_skipped),
            (2, 2, 1, 1),
            "{s:?}"
        );
        let rows = list(
            store,
            &ListFilter {
                client_id: Some(client),
                limit: 100,
                ..ListFilter::default()
            },
        )
        .await
        .unwrap();
        let screen: Vec<_> = rows.iter().filter(|r| r.channel == "screen").collect();
        assert_eq!(screen.len(), 2);
        let date = chrono::DateTime::from_timestamp(T0 + 2 * day, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
        let ann_msg = screen.iter().find(|r| r.account_id == Some(soon)).unwrap();
        assert!(ann_msg.body.contains(&date), "{}", ann_msg.body);
        assert!(
            ann_msg.body.contains("Срок действия"),
            "Russian default: {}",
            ann_msg.body
        );
        assert!(screen.iter().any(|r| r.account_id == Some(bob_soon)));
        let sms: Vec<_> = rows.iter().filter(|r| r.channel == "sms").collect();
        assert_eq!(sms.len(), 1);
        assert_eq!(sms[0].recipient, "+79990000001");

        // The same day again: nothing new.
        let again = send_expiry_notices(store, actor(), client, 3, SMS, T0 + 3600)
            .await
            .unwrap();
        assert_eq!((again.screen, again.sms, again.already_sent), (0, 0, 2));
        assert_eq!(count(store, "message").await, 2);
        assert_eq!(count(store, "outbound_message").await, 1);

        // Renewed: a new end date is warned again, with the operator's text.
        set(
            store,
            client,
            &[
                (
                    "messages.expiry_text",
                    "Ends {date} ({days} d) for {abonement}",
                ),
                ("email.host", "127.0.0.1"),
                ("email.from", "noreply@tv.example.com"),
            ],
        )
        .await;
        efir_store::with_db!(store.pool(), p => sqlx::query(
                "UPDATE account SET deactivation_date = $1 WHERE id = $2")
            .bind(T0 + 3 * day)
            .bind(soon)
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap();
        let email = Copies {
            sms: false,
            email: true,
        };
        let renewed = send_expiry_notices(store, actor(), client, 3, email, T0 + 3600)
            .await
            .unwrap();
        assert_eq!((renewed.screen, renewed.email), (1, 1), "{renewed:?}");
        let newest = &list(
            store,
            &ListFilter {
                client_id: Some(client),
                channel: Some(Channel::Screen),
                limit: 1,
                ..ListFilter::default()
            },
        )
        .await
        .unwrap()[0];
        assert!(newest.body.ends_with("(3 d) for ann1"), "{}", newest.body);

        // Bad input.
        for days in [0, -1, 367] {
            assert!(matches!(
                send_expiry_notices(store, actor(), client, days, Copies::default(), T0).await,
                Err(MessageError::Invalid { .. })
            ));
        }
        assert!(matches!(
            send_expiry_notices(store, actor(), 999_999, 3, Copies::default(), T0).await,
            Err(MessageError::NotFound(_))
        ));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn clean_old_messages_removes_only_old_ones() {
    for db in TestDb::both().await {
        let store = &db.store;
        let client = operator(store, "clean", "en").await;
        let fake = FakeHttp::start(vec![("/hook", 200, "{}")]).await;
        set(
            store,
            client,
            &[
                ("sms.backend", "webhook"),
                ("sms.url", &format!("{}/hook", fake.base())),
            ],
        )
        .await;
        let ann = customer(store, client, "+79990000001", "").await;
        let acc = account(store, client, ann, "ann1", None).await;
        let day = 86_400;
        let msg = ScreenMessage {
            text: "old".into(),
            ..ScreenMessage::default()
        };
        let old_t = T0 - 5 * day;
        send_screen(store, actor(), client, Target::Account(acc), &msg, old_t)
            .await
            .unwrap();
        send_screen(store, actor(), client, Target::Account(acc), &msg, T0 - day)
            .await
            .unwrap();
        let old_sent = outbox::queue_sms(store, actor(), client, None, "+79990000001", "a", old_t)
            .await
            .unwrap();
        deliver_due(store, &http(), actor(), &DueFilter::default(), old_t)
            .await
            .unwrap();
        let old_queued =
            outbox::queue_sms(store, actor(), client, None, "+79990000001", "b", old_t)
                .await
                .unwrap();
        let new_sent = outbox::queue_sms(store, actor(), client, None, "+79990000001", "c", T0)
            .await
            .unwrap();
        assert!(matches!(
            clean_old(store, actor(), None, 0, T0).await,
            Err(MessageError::Invalid { .. })
        ));
        let s = clean_old(store, actor(), None, 3, T0).await.unwrap();
        assert_eq!((s.screen, s.outbox), (1, 1), "{s:?}");
        assert_eq!(count(store, "message").await, 1);
        assert!(outbox::get(store, old_sent).await.unwrap().is_none());
        assert!(
            outbox::get(store, old_queued).await.unwrap().is_some(),
            "queued kept"
        );
        assert!(outbox::get(store, new_sent).await.unwrap().is_some());
        let events = store
            .audit_events(&efir_store::audit::AuditFilter {
                entity: Some("message".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(events[0].action, "clean");
        assert!(
            events[0].data.contains("\"screen\":1"),
            "{}",
            events[0].data
        );
        db.cleanup().await;
    }
}
