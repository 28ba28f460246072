//! `efir manage check-accounts` and friends through the real binary, with
//! `EFIR_NOW` frozen on two nights, on both databases.

mod common;

use common::{stderr, stdout, Env};
use efir_store::clients::NewClient;
use efir_store::{with_db, Actor, Store};
use serde_json::Value;

/// 2026-01-15 03:00 UTC and one calendar month later.
const NIGHT1: i64 = 1_768_446_000;
const NIGHT2: i64 = 1_771_124_400;
const U: i64 = 10_000;

async fn scalar(store: &Store, q: &str, args: &[i64]) -> i64 {
    with_db!(store.pool(), p => {
        let mut query = sqlx::query_scalar::<_, i64>(q);
        for a in args {
            query = query.bind(*a);
        }
        query.fetch_one(p).await.unwrap()
    })
}

/// A prepaid operator with a 10.00 tariff and two customers whose period
/// ends on night 1: one with 15.00, one with 5.00. Returns (operator,
/// rich customer, poor customer).
async fn seed(store: &Store) -> (i64, i64, i64) {
    let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
    let client = store
        .create_client(
            &mut tx,
            &NewClient {
                name: "Prepaid TV".into(),
                api_key: "api-prepaid".into(),
                domain_prefix: "prepaid".into(),
                email: "ops@prepaid.tv".into(),
                ..NewClient::default()
            },
        )
        .await
        .unwrap();
    store
        .set_client_setting(&mut tx, client.id, "billing.mode", Some("prepaid"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tariff = scalar(
        store,
        "INSERT INTO tariff (client_id, name, period, price, created_at, updated_at) \
         VALUES ($1, 'Basic', 1, $2, 0, 0) RETURNING id",
        &[client.id, 10 * U],
    )
    .await;
    let mut customers = Vec::new();
    for (i, balance) in [15 * U, 5 * U].into_iter().enumerate() {
        let c = scalar(
            store,
            "INSERT INTO customer (client_id, balance, created_at, updated_at) \
             VALUES ($1, $2, 0, 0) RETURNING id",
            &[client.id, balance],
        )
        .await;
        scalar(
            store,
            "INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) \
             VALUES ($1, $2, 0) RETURNING customer_id",
            &[c, tariff],
        )
        .await;
        scalar(
            store,
            "INSERT INTO account (client_id, customer_id, abonement, deactivation_date, \
             created_at, updated_at) VALUES ($1, $2, $3 || '', $4, 0, 0) RETURNING id",
            &[client.id, c, 100 + i as i64, NIGHT1 - 3 * 3600],
        )
        .await;
        customers.push(c);
    }
    (client.id, customers[0], customers[1])
}

fn run_json(env: &Env, now: i64, args: &[&str]) -> Value {
    let out = env
        .cmd()
        .env("EFIR_NOW", now.to_string())
        .arg("manage")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {args:?}: {}",
        env.label(),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn check_accounts_on_two_nights() {
    for env in Env::both().await {
        let label = env.label();
        let out = env.manage(&["migrate"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let store = env.store().await;
        let (client, rich, poor) = seed(&store).await;
        let client_arg = client.to_string();

        // Night 1: the rich customer pays 10.00, the poor one is a debtor.
        let v = run_json(
            &env,
            NIGHT1,
            &["check-accounts", "--client-id", &client_arg],
        );
        assert_eq!(v["charged"], 1, "{label}: {v}");
        assert_eq!(v["amount"], "10.00");
        assert_eq!(v["deactivated"], 1);
        assert_eq!(v["operators"][0]["mode"], "prepaid");
        let audit = store.audit_count().await.unwrap();
        // The same night again (Smarty spelling): nothing.
        let v = run_json(
            &env,
            NIGHT1 + 600,
            &["check_accounts", "--client_id", &client_arg],
        );
        assert_eq!(v["charged"], 0, "{label}: {v}");
        assert_eq!(v["deactivated"], 0);
        assert_eq!(store.audit_count().await.unwrap(), audit, "{label}");
        let bal = "SELECT balance FROM customer WHERE id = $1";
        assert_eq!(scalar(&store, bal, &[rich]).await, 5 * U);
        assert_eq!(scalar(&store, bal, &[poor]).await, 5 * U);
        let debt = "SELECT COUNT(*) FROM account WHERE customer_id = $1 AND status_reason = 'DEBT' AND NOT active";
        assert_eq!(scalar(&store, debt, &[poor]).await, 1);

        // Night 2, a month later: the rich customer has 5.00 left, a debtor too.
        let v = run_json(&env, NIGHT2, &["check-accounts"]);
        assert_eq!(v["charged"], 0, "{label}: {v}");
        assert_eq!(v["deactivated"], 1, "{label}: {v}");
        assert_eq!(scalar(&store, debt, &[rich]).await, 1);
        let n = "SELECT COUNT(*) FROM customer_transaction WHERE customer_id = $1";
        assert_eq!(scalar(&store, n, &[rich]).await, 1);
        assert_eq!(scalar(&store, n, &[poor]).await, 0);

        // Text output names the operator's counts.
        let out = env
            .cmd()
            .env("EFIR_NOW", NIGHT2.to_string())
            .args(["manage", "check-accounts"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            stdout(&out).contains("(prepaid): checked 2"),
            "{}",
            stdout(&out)
        );

        // Bad input: clear errors, non-zero exits, nothing written.
        let audit = store.audit_count().await.unwrap();
        let out = env.manage(&["check-accounts", "--client-id", "999999"]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("999999 not found"),
            "{}",
            stderr(&out)
        );
        let out = env.manage(&["check-accounts", "--client-id", "abc"]);
        assert!(!out.status.success());
        let out = env.manage(&["check-payment-status", "--timeout-minutes", "0"]);
        assert!(!out.status.success());
        let out = env.manage(&["check-payment-status"]);
        assert!(!out.status.success(), "--timeout-minutes is required");
        let out = env.manage(&["make-autopayments", "--client-id", "-5"]);
        assert!(!out.status.success());
        assert_eq!(store.audit_count().await.unwrap(), audit);
        // Without a provider, autopayments skip the operator.
        let v = run_json(&env, NIGHT2, &["make_autopayments", "--use_pool"]);
        assert!(
            v["operators"][0]["skipped"]
                .as_str()
                .unwrap()
                .contains("provider_url"),
            "{v}"
        );
        // migrate-to-nb without --yes: what it would do, non-zero, nothing written.
        let out = env.manage(&["migrate_to_nb", "--client_id", &client_arg]);
        assert!(!out.status.success());
        assert!(
            stdout(&out).contains("would create 2 subscriptions for 2 customers"),
            "{}",
            stdout(&out)
        );
        assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
        assert_eq!(store.audit_count().await.unwrap(), audit);
        let v = run_json(
            &env,
            NIGHT2,
            &["migrate-to-nb", "--client-id", &client_arg, "--yes"],
        );
        assert_eq!(v["applied"], true, "{v}");
        let v = run_json(
            &env,
            NIGHT2,
            &["migrate-to-nb", "--client-id", &client_arg, "--yes"],
        );
        assert_eq!(v["already_migrated"], true, "{v}");
        let help = env.manage(&["check-accounts", "--help"]);
        assert!(stdout(&help).contains("Idempotent"), "{}", stdout(&help));

        store.close().await;
        env.cleanup().await;
    }
}
