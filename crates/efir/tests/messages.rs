//! The message commands driven through the real binary, on SQLite and
//! PostgreSQL: an SMS queued for a fake smsc gateway is sent by
//! `efir manage resend-sms` with a frozen clock (EFIR_NOW), retried after a
//! temporary failure; bad options exit non-zero.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::Router;
use common::{stderr, stdout, Env};
use efir_store::Actor;

const T0: i64 = 1_780_000_000;
const PASSWORD: &str = "pw-S3cret-value";

/// A fake smsc.ru: records form bodies, answers the scripted replies in
/// order (the last one repeats).
async fn fake_smsc(replies: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
    let seen2 = seen.clone();
    let app = Router::new().route(
        "/sys/send.php",
        axum::routing::post(move |body: Bytes| {
            let seen = seen2.clone();
            let replies = replies.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                let mut r = replies.lock().unwrap();
                let (status, body) = if r.len() > 1 {
                    r.pop_front().unwrap()
                } else {
                    r[0]
                };
                (StatusCode::from_u16(status).unwrap(), body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, seen)
}

fn at(env: &Env, now: i64, args: &[&str]) -> std::process::Output {
    env.cmd()
        .env("EFIR_NOW", now.to_string())
        .arg("manage")
        .args(args)
        .output()
        .unwrap()
}

fn json_at(env: &Env, now: i64, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = at(env, now, &all);
    assert!(
        out.status.success(),
        "{}: {args:?}: {}",
        env.label(),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_sms_sends_a_queued_sms_to_the_gateway() {
    for env in Env::both().await {
        let created = env.manage_json(&[
            "create-client",
            "--name",
            "Msg TV",
            "--api-key",
            "msg-key-0001",
            "--domain-prefix",
            "msgtv",
            "--email",
            "ops@msg.tv",
        ]);
        let client = created["id"].as_i64().unwrap();
        let (base, seen) =
            fake_smsc(vec![(503, "maintenance"), (200, r#"{"id":77,"cnt":1}"#)]).await;
        let store = env.store().await;
        let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
        for (k, v) in [
            ("sms.backend", "smsc-ru"),
            ("sms.login", "op"),
            ("sms.password", PASSWORD),
            ("sms.base_url", base.as_str()),
            ("sms.attempts", "3"),
        ] {
            efir_backoffice::settings::validate(k, v).unwrap();
            store
                .set_client_setting(&mut tx, client, k, Some(v))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let id = efir_backoffice::messages::outbox::queue_sms(
            &store,
            Actor::System("test".into()),
            client,
            None,
            "+79991234567",
            "Оплатите <b>подписку</b>",
            T0,
        )
        .await
        .unwrap();

        // First run: the gateway is down, the SMS waits for a retry.
        let first = json_at(&env, T0, &["resend-sms"]);
        assert_eq!(first["attempted"], 1, "{first}");
        assert_eq!(first["retrying"], 1, "{first}");
        // Not due yet.
        let early = json_at(
            &env,
            T0 + 30,
            &["resend_sms", "--client_id", &client.to_string()],
        );
        assert_eq!(early["attempted"], 0, "{early}");
        // Due: sent.
        let out = at(&env, T0 + 60, &["resend-sms"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("1 due messages: 1 sent"),
            "{}",
            stdout(&out)
        );
        let bodies = seen.lock().unwrap().clone();
        assert_eq!(bodies.len(), 2);
        assert!(bodies[1].contains("phones=%2B79991234567"), "{}", bodies[1]);
        assert!(bodies[1].contains("login=op"), "{}", bodies[1]);
        let row = efir_backoffice::messages::outbox::get(&store, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.state, "sent");
        assert_eq!(row.attempts, 2);
        assert_eq!(row.sent_at, Some(T0 + 60));
        assert_eq!(row.gateway_id.as_deref(), Some("77"));
        assert_eq!(row.body, "Оплатите <b>подписку</b>");

        // Bad input: clear errors, non-zero exit.
        let out = at(&env, T0, &["resend-sms", "--client-id", "999999"]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("client 999999 not found"),
            "{}",
            stderr(&out)
        );
        for days in ["0", "-3", "ten"] {
            let out = at(&env, T0, &["clean-old-messages", "--days-count", days]);
            assert!(!out.status.success(), "{days}");
            assert!(stderr(&out).contains("days-count"), "{}", stderr(&out));
        }
        let out = at(
            &env,
            T0,
            &[
                "send-activation-expires-messages",
                "--client-id",
                "999999",
                "--days-count",
                "3",
            ],
        );
        assert!(!out.status.success());
        // Sending SMS needs a gateway: this operator has one.
        let exp = json_at(
            &env,
            T0,
            &[
                "send_activation_expires_messages",
                "--client_id",
                &client.to_string(),
                "--days_count",
                "3",
                "--send_sms",
            ],
        );
        assert_eq!(exp["due"], 0, "{exp}");
        let cleaned = json_at(
            &env,
            T0 + 10 * 86_400,
            &["clean-old-messages", "--days-count", "3"],
        );
        assert_eq!(cleaned["outbox"], 1, "{cleaned}");
        let help = at(&env, T0, &["send-activation-expires-messages", "--help"]);
        assert!(stdout(&help).contains("--send-sms"), "{}", stdout(&help));
        store.close().await;
        env.cleanup().await;
    }
}
