//! The statistics commands through the real binary with a frozen clock
//! (`EFIR_NOW`), on both databases: `cache-max-online` across a day,
//! `collect-daily-stats` for the day before, and the errors of bad input.

mod common;

use common::{stderr, Env};
use efir_store::clients::NewClient;
use efir_store::{with_db, Actor, Store};

/// 2026-03-10 00:00:00 UTC.
const D: i64 = 1_773_100_800;
const H: i64 = 3600;

async fn exec(store: &Store, sql: &str, args: &[i64]) -> i64 {
    with_db!(store.pool(), p => {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        for a in args {
            q = q.bind(*a);
        }
        q.fetch_one(p).await.unwrap()
    })
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

#[tokio::test]
async fn online_maximum_and_daily_stats_through_the_binary() {
    for env in Env::both().await {
        let out = env.manage(&["migrate"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let store = env.store().await;
        let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
        let client = store
            .create_client(
                &mut tx,
                &NewClient {
                    name: "Alpha".into(),
                    api_key: "alpha-key".into(),
                    domain_prefix: "alpha".into(),
                    email: "ops@alpha.tv".into(),
                    ..NewClient::default()
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let c = client.id;
        let customer = exec(
            &store,
            "INSERT INTO customer (client_id, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id",
            &[c, D + 9 * H],
        )
        .await;
        let account = exec(
            &store,
            "INSERT INTO account (client_id, customer_id, abonement, created_at, updated_at) \
             VALUES ($1, $2, 'a1', $3, $3) RETURNING id",
            &[c, customer, D + 9 * H],
        )
        .await;
        let mut sessions = Vec::new();
        for (i, seen) in [D + 8 * H, D + 8 * H + 60].iter().enumerate() {
            let id = exec(
                &store,
                &format!(
                    "INSERT INTO account_authkey (account_id, authkey, device_uid, created_at, \
                     expires_at, last_seen_at) VALUES ($1, 'key{i}', 'box{i}', $2, $3, $2) RETURNING id"
                ),
                &[account, *seen, D + 10 * 86_400],
            )
            .await;
            sessions.push(id);
        }
        for amount in [125_000, -100_000] {
            exec(
                &store,
                "INSERT INTO customer_transaction (client_id, customer_id, amount, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[c, customer, amount, D + 10 * H],
            )
            .await;
        }

        // 08:03: two sessions online.
        let v = json_at(&env, D + 8 * H + 180, &["cache-max-online"]);
        assert_eq!(v["samples"][0]["online"], 2, "{}: {v}", env.label());
        // 13:00: nobody seen recently; the maximum stays 2 from 08:03.
        let v = json_at(&env, D + 13 * H, &["cache_max_online"]);
        assert_eq!(v["samples"][0]["online"], 0);
        assert_eq!(v["samples"][0]["max_online"], 2);
        assert_eq!(v["samples"][0]["max_at"], D + 8 * H + 180);
        // A text run prints the day's maximum.
        let out = at(&env, D + 13 * H + 60, &["cache-max-online"]);
        let text = common::stdout(&out);
        assert!(
            text.contains("maximum of 2026-03-10: 2 at 2026-03-10T08:03:00Z"),
            "{text}"
        );

        // Next morning: yesterday's statistics by default.
        let v = json_at(&env, D + 86_400 + 600, &["collect-daily-stats"]);
        assert_eq!(v["date"], "2026-03-10", "{v}");
        let row = &v["stats"][0];
        assert_eq!(row["client_id"], c);
        assert_eq!(row["customers"], 1);
        assert_eq!(row["new_customers"], 1);
        assert_eq!(row["max_online"], 2);
        assert_eq!(row["payments"], "12.50");
        assert_eq!(row["charges"], "10.00");
        // Again, with the Smarty spelling and an explicit date: same row.
        let again = json_at(
            &env,
            D + 86_400 + 900,
            &["collect_daily_stats", "--date", "2026-03-10"],
        );
        assert_eq!(again["stats"][0], *row);
        let rows = exec(
            &store,
            "SELECT COUNT(*) FROM stats_daily WHERE client_id = $1",
            &[c],
        )
        .await;
        assert_eq!(rows, 1);

        // Bad input: a clear error and a non-zero exit, nothing written.
        for (args, message) in [
            (
                vec!["collect-daily-stats", "--date", "2026-03-12"],
                "future",
            ),
            (
                vec!["collect-daily-stats", "--date", "10.03.2026"],
                "not a date",
            ),
            (
                vec!["cache-customers-dynamic", "--client-id", "1,abc"],
                "`abc` is not an operator id",
            ),
            (
                vec!["cache-customers-dynamic", "--client_id", "4242"],
                "unknown operator",
            ),
            (vec!["delete-old-reports", "--save-days", "0"], "at least 1"),
            (vec!["clear_customer_log", "--days", "-1"], "at least 1"),
        ] {
            let out = at(&env, D + 86_400 + 600, &args);
            assert!(!out.status.success(), "{args:?} must fail");
            assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        }
        let dynamic = exec(&store, "SELECT COUNT(*) FROM stats_dynamic", &[]).await;
        assert_eq!(dynamic, 0);

        // Dynamics: the first run reports what it computed.
        let v = json_at(&env, D + 86_400 + 600, &["cache-customers-dynamic"]);
        // From 2026-02-01 to 2026-03-11 00:00: 38 days of hours, 38 days, one month.
        assert_eq!(v["computed"], 38 * 24 + 38 + 1, "{v}");
        let v = json_at(&env, D + 86_400 + 600, &["cache-customers-dynamic"]);
        assert_eq!(v["computed"], 0);

        // The schedule holds the periodic commands.
        let out = env.manage(&["schedule", "list"]);
        let text = common::stdout(&out);
        for name in [
            "cache-max-online",
            "collect-daily-stats",
            "cache-customers-dynamic",
            "save-stats",
        ] {
            assert!(text.contains(name), "{name} not scheduled: {text}");
        }
        store.close().await;
        env.cleanup().await;
    }
}
