//! `efir manage send-case-reminders` and `escalate-cases` driven through the
//! real binary with a frozen clock (`EFIR_NOW`), on SQLite and PostgreSQL:
//! a reminder fires once, not before its time; an overdue case notifies its
//! owner, then after `cases.escalate_after_days` its manager, once each.

mod common;

use common::{stderr, Env};
use efir_backoffice::cases::{Cases, NewCase, NewTask, Role, Who};
use efir_core::config::CasesConfig;
use efir_store::audit::Arg;
use efir_store::{with_db, Actor, Store};
use serde_json::json;

const T0: i64 = 1_795_996_800; // 2026-12-01T00:00:00Z
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

async fn scalar(store: &Store, sql: &str) -> i64 {
    with_db!(store.pool(), p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.unwrap())
}

async fn insert(store: &Store, table: &'static str, sql: &str, args: &[Arg]) -> i64 {
    let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
    tx.execute(table, sql, args).await.unwrap();
    tx.audit(None, "test.insert", table, None, json!({}))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    scalar(store, &format!("SELECT MAX(id) FROM {table}")).await
}

fn run(env: &Env, now: i64, cmd: &str) -> serde_json::Value {
    let out = env
        .cmd()
        .env("EFIR_NOW", now.to_string())
        .env("EFIR_CASES_ESCALATE_AFTER_DAYS", "2")
        .args(["manage", cmd, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {cmd}: {}",
        env.label(),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn reminders_and_escalations_through_the_binary() {
    for env in Env::both().await {
        let migrated = env.manage(&["migrate"]);
        assert!(migrated.status.success(), "{}", stderr(&migrated));
        let store = env.store().await;
        let client = insert(
            &store,
            "client",
            "INSERT INTO client (name, api_key, billing_api_key, content_api_key, domain_prefix, email, \
             created_at, updated_at) VALUES ('op', 'k1-0000000001', 'k2-0000000001', 'k3-0000000001', 'op', 'a@op.tv', 0, 0)",
            &[],
        )
        .await;
        let staff = |name: &'static str, manager: Option<i64>| {
            let store = store.clone();
            async move {
                insert(
                    &store,
                    "staff_user",
                    "INSERT INTO staff_user (username, password_hash, client_id, manager_id, created_at, updated_at) \
                     VALUES ($1, '', $2, $3, 0, 0)",
                    &[Arg::Text(name.into()), Arg::I64(client), Arg::OptI64(manager)],
                )
                .await
            }
        };
        let boss = staff("boss", None).await;
        let agent = staff("agent", None).await;
        assert!(!env
            .manage(&["set-staff-manager", "agent", "agent"])
            .status
            .success());
        assert!(!env
            .manage(&["set-staff-manager", "agent", "nobody"])
            .status
            .success());
        let set = env.manage(&["set_staff_manager", "agent", "boss"]);
        assert!(set.status.success(), "{}", stderr(&set));
        let who = Who {
            user_id: agent,
            username: "agent".into(),
            role: Role::Support,
            client_id: Some(client),
        };
        let cases = Cases::new(
            store.clone(),
            &CasesConfig::default(),
            env.dir.path().to_path_buf(),
        );
        let case = cases
            .create(
                &who,
                client,
                &NewCase {
                    case_type: "support_ticket".into(),
                    title: "No EPG".into(),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap();
        cases
            .add_task(
                &who,
                case.id,
                &NewTask {
                    title: "Call".into(),
                    deadline: Some(T0 + 3 * HOUR),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap();
        let notes = "SELECT COUNT(*) FROM staff_notification";

        // Reminder at T0 + 2 h (deadline minus 60 minutes).
        assert_eq!(
            run(&env, T0 + 2 * HOUR - 60, "send-case-reminders")["reminders_sent"],
            0
        );
        assert_eq!(scalar(&store, notes).await, 0);
        assert_eq!(
            run(&env, T0 + 2 * HOUR, "send_case_reminders")["reminders_sent"],
            1
        );
        assert_eq!(
            run(&env, T0 + 2 * HOUR + 60, "send-case-reminders")["reminders_sent"],
            0
        );
        assert_eq!(scalar(&store, notes).await, 1);

        // Due at T0 + 24 h; escalate_after_days = 2 from the environment.
        let r = run(&env, T0 + HOUR * 23, "escalate-cases");
        assert_eq!(
            (
                r["owners_notified"].as_u64(),
                r["managers_notified"].as_u64()
            ),
            (Some(0), Some(0))
        );
        let r = run(&env, T0 + DAY + 9 * HOUR, "escalate_cases");
        assert_eq!(
            (
                r["owners_notified"].as_u64(),
                r["managers_notified"].as_u64()
            ),
            (Some(1), Some(0))
        );
        let r = run(&env, T0 + 2 * DAY + 9 * HOUR, "escalate-cases");
        assert_eq!(
            (
                r["owners_notified"].as_u64(),
                r["managers_notified"].as_u64()
            ),
            (Some(0), Some(0))
        );
        let r = run(&env, T0 + 3 * DAY + 9 * HOUR, "escalate-cases");
        assert_eq!(
            (
                r["owners_notified"].as_u64(),
                r["managers_notified"].as_u64()
            ),
            (Some(0), Some(1))
        );
        let r = run(&env, T0 + 4 * DAY + 9 * HOUR, "escalate-cases");
        assert_eq!(
            (
                r["owners_notified"].as_u64(),
                r["managers_notified"].as_u64()
            ),
            (Some(0), Some(0))
        );
        assert_eq!(
            scalar(&store, &format!("SELECT COUNT(*) FROM staff_notification WHERE user_id = {boss} AND kind = 'escalation'")).await,
            1
        );
        assert_eq!(
            scalar(&store, &format!("SELECT COUNT(*) FROM staff_notification WHERE user_id = {agent} AND kind = 'overdue'")).await,
            1
        );
        // Scheduled runs are attributed in the audit log.
        assert!(
            scalar(
                &store,
                "SELECT COUNT(*) FROM audit_event WHERE action = 'case.escalate'"
            )
            .await
                == 2
        );
        store.close().await;
        env.cleanup().await;
    }
}

#[tokio::test]
async fn bad_case_type_config_names_the_key() {
    let env = Env::sqlite().await;
    std::fs::write(
        env.path("efir.toml"),
        "[[cases.type]]\nname = \"refund\"\ntitle = \"Refund\"\nstates = [\"open\", \"done\"]\ninitial = \"opem\"\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["--config", "efir.toml", "config", "check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out) + &common::stdout(&out);
    assert!(err.contains("cases.type[0].initial"), "{err}");
    env.cleanup().await;
}
