//! Built-in billing runs on both databases with a frozen clock (every run
//! gets its time): a month of nightly `check-accounts` on a prepaid
//! operator, autopayments through a local fake provider, payments through
//! the real Billing API over HTTP, the dates mode and bad input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use efir_backoffice::billing::{self, payments, BillingError};
use efir_store::clients::{Client, NewClient};
use efir_store::testing::TestDb;
use efir_store::{with_db, Actor, Store};
use serde_json::{json, Value};

const DAY: i64 = 86_400;
/// Money units per currency unit.
const U: i64 = 10_000;
const BILLING_KEY: &str = "billing-key-test";

fn actor() -> Actor {
    Actor::Command("check-accounts".into())
}

async fn sql(store: &Store, q: &str, args: &[i64]) -> i64 {
    with_db!(store.pool(), p => {
        let mut query = sqlx::query_scalar::<_, i64>(q);
        for a in args {
            query = query.bind(*a);
        }
        if q.contains("RETURNING") {
            query.fetch_one(p).await.unwrap()
        } else {
            query.fetch_optional(p).await.unwrap().unwrap_or(0)
        }
    })
}

async fn operator(store: &Store, mode: &str, settings: &[(&str, &str)]) -> Client {
    operator_with_key(store, mode, settings, None).await
}

async fn operator_with_key(
    store: &Store,
    mode: &str,
    settings: &[(&str, &str)],
    billing_key: Option<&str>,
) -> Client {
    let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
    let client = store
        .create_client(
            &mut tx,
            &NewClient {
                name: format!("Op {mode}"),
                api_key: format!("api-{}", efir_core::secret::random_hex(8)),
                billing_api_key: billing_key.map(str::to_string),
                domain_prefix: format!("op{}", efir_core::secret::random_hex(4)),
                email: "ops@test.tv".into(),
                ..NewClient::default()
            },
        )
        .await
        .unwrap();
    store
        .set_client_setting(&mut tx, client.id, "billing.mode", Some(mode))
        .await
        .unwrap();
    for (k, v) in settings {
        store
            .set_client_setting(&mut tx, client.id, k, Some(v))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    client
}

async fn tariff(
    store: &Store,
    client: i64,
    price: i64,
    period: i64,
    free_for_inactive: bool,
) -> i64 {
    let q = "INSERT INTO tariff (client_id, name, period, price, available_for_inactive_accounts, \
             created_at, updated_at) VALUES ($1, 'T', $2, $3, $4 = 1, 0, 0) RETURNING id";
    sql(
        store,
        q,
        &[client, period, price, i64::from(free_for_inactive)],
    )
    .await
}

/// A customer with `balance`, `tariffs` and one account whose period ends
/// at `end` with status `status`; returns (customer, account).
async fn subscriber(
    store: &Store,
    client: i64,
    balance: i64,
    tariffs: &[i64],
    end: i64,
    autopay: bool,
    status: &str,
) -> (i64, i64) {
    let c = sql(
        store,
        "INSERT INTO customer (client_id, balance, autopayment_enabled, created_at, updated_at) \
         VALUES ($1, $2, $3 = 1, 0, 0) RETURNING id",
        &[client, balance, i64::from(autopay)],
    )
    .await;
    for t in tariffs {
        sql(
            store,
            "INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES ($1, $2, 0) RETURNING customer_id",
            &[c, *t],
        )
        .await;
    }
    let active = i64::from(status == "ACTIVE");
    let q = format!(
        "INSERT INTO account (client_id, customer_id, abonement, active, status_reason, \
         deactivation_date, created_at, updated_at) \
         VALUES ($1, $2, $3 || '', $4 = 1, '{status}', $5, 0, 0) RETURNING id"
    );
    let abonement = c * 1000;
    let a = with_db!(store.pool(), p => sqlx::query_scalar::<_, i64>(&q)
        .bind(client)
        .bind(c)
        .bind(abonement.to_string())
        .bind(active)
        .bind(end)
        .fetch_one(p)
        .await
        .unwrap());
    (c, a)
}

async fn balance(store: &Store, customer: i64) -> i64 {
    sql(
        store,
        "SELECT balance FROM customer WHERE id = $1",
        &[customer],
    )
    .await
}

async fn account_state(store: &Store, account: i64) -> (bool, String, Option<i64>) {
    with_db!(store.pool(), p => sqlx::query_as::<_, (bool, String, Option<i64>)>(
        "SELECT active, status_reason, deactivation_date FROM account WHERE id = $1")
        .bind(account)
        .fetch_one(p)
        .await
        .unwrap())
}

async fn amounts(store: &Store, customer: i64) -> Vec<i64> {
    with_db!(store.pool(), p => sqlx::query_scalar::<_, i64>(
        "SELECT amount FROM customer_transaction WHERE customer_id = $1 ORDER BY id")
        .bind(customer)
        .fetch_all(p)
        .await
        .unwrap())
}

/// id, active, status, deactivation and extension dates.
type AccountRow = (i64, bool, String, Option<i64>, Option<i64>);

/// Everything a second run must leave as it was.
async fn snapshot(store: &Store) -> Value {
    let balances: Vec<(i64, i64)> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT id, balance FROM customer ORDER BY id").fetch_all(p).await.unwrap());
    let accounts: Vec<AccountRow> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT id, active, status_reason, deactivation_date, extension_date FROM account ORDER BY id")
        .fetch_all(p).await.unwrap());
    json!({
        "balances": balances,
        "accounts": accounts,
        "transactions": sql(store, "SELECT COUNT(*) FROM customer_transaction", &[]).await,
        "payments": sql(store, "SELECT COUNT(*) FROM payment", &[]).await,
        "audit": store.audit_count().await.unwrap(),
    })
}

/// A fake payment provider speaking the documented protocol: what it does
/// depends on the customer (`confirm`, `decline`, `pending`, `fail`).
#[derive(Clone, Default)]
struct Fake {
    behaviour: Arc<Mutex<HashMap<i64, &'static str>>>,
    /// Requests seen per idempotency key.
    requests: Arc<Mutex<HashMap<String, u32>>>,
    /// References that GET answers as confirmed.
    confirm_on_get: Arc<Mutex<Vec<String>>>,
    /// Authorization headers seen.
    auth: Arc<Mutex<Vec<String>>>,
}

async fn fake_create(
    State(f): State<Fake>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    f.auth.lock().unwrap().push(auth);
    let key = body["idempotency_key"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        body["amount"].as_str().unwrap().contains('.'),
        "amount as a decimal string"
    );
    *f.requests.lock().unwrap().entry(key.clone()).or_default() += 1;
    let customer = body["customer_id"].as_i64().unwrap();
    let what = f
        .behaviour
        .lock()
        .unwrap()
        .get(&customer)
        .copied()
        .unwrap_or("confirm");
    let status = match what {
        "fail" => return Err(StatusCode::INTERNAL_SERVER_ERROR),
        "decline" => "declined",
        "pending" => "pending",
        _ => "confirmed",
    };
    Ok(Json(
        json!({"reference": format!("ref-{key}"), "status": status, "message": what}),
    ))
}

async fn fake_status(State(f): State<Fake>, Path(reference): Path<String>) -> Json<Value> {
    let confirmed = f.confirm_on_get.lock().unwrap().contains(&reference);
    Json(json!({"reference": reference, "status": if confirmed {"confirmed"} else {"pending"}}))
}

async fn start_fake() -> (String, Fake) {
    let fake = Fake::default();
    let app = Router::new()
        .route("/pay/payments", post(fake_create))
        .route("/pay/payments/{reference}", get(fake_status))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/pay"), fake)
}

async fn start_middleware(store: &Store) -> String {
    let app = efir_middleware::routes(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    format!("http://{addr}")
}

async fn billing_api(base: &str, client: i64, method: &str, params: &[(&str, &str)]) -> Value {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.push(("client_id".into(), client.to_string()));
    let sig = efir_middleware::api::signature(&pairs, BILLING_KEY);
    pairs.push(("signature".into(), sig));
    let res = reqwest::Client::new()
        .post(format!("{base}/billing/api/{method}/"))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn today_midnight() -> i64 {
    let now = efir_core::clock::now();
    now - now.rem_euclid(DAY)
}

/// Runs autopayments (10 minutes before) and `check-accounts` for one
/// night, then both again, and checks that the second pass changed
/// nothing.
async fn night(store: &Store, client: i64, at: i64) -> billing::OperatorRun {
    payments::make_autopayments(store, &actor(), Some(client), true, at - 600)
        .await
        .unwrap();
    let runs = billing::check_accounts(store, &actor(), Some(client), at, &|_| {})
        .await
        .unwrap();
    let before = snapshot(store).await;
    payments::make_autopayments(store, &actor(), Some(client), false, at - 300)
        .await
        .unwrap();
    let again = billing::check_accounts(store, &actor(), Some(client), at + 3600, &|_| {})
        .await
        .unwrap();
    assert!(
        !again[0].stats.changed(),
        "second run the same night: {:?}",
        again[0]
    );
    assert_eq!(
        snapshot(store).await,
        before,
        "second run the same night changed something"
    );
    runs.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_month_of_prepaid_nights() {
    for db in TestDb::both().await {
        let store = db.store.clone();
        let label = db.label;
        let (provider, fake) = start_fake().await;
        let mw = start_middleware(&store).await;
        let op = operator_with_key(
            &store,
            "prepaid",
            &[
                ("billing.provider_url", &provider),
                ("billing.provider_key", "pk-secret"),
                ("billing.autopayment_lead_days", "1"),
            ],
            Some(BILLING_KEY),
        )
        .await;
        // Another operator with billing off: never touched.
        let off = operator(&store, "off", &[]).await;
        let basic = tariff(&store, op.id, 10 * U, 1, false).await;
        let extra = tariff(&store, op.id, 2 * U + U / 2, 1, false).await;
        let system = tariff(&store, op.id, 5 * U, 0, false).await;
        let free = tariff(&store, op.id, 0, 0, true).await;
        let off_tariff = tariff(&store, off.id, 10 * U, 1, false).await;

        // Nights at 00:00 UTC: night 20 is today, so a payment made now
        // through the Billing API falls between nights 20 and 21.
        let base = today_midnight() - 20 * DAY;
        let n = |k: i64| base + k * DAY;
        let month = |t: i64| efir_middleware::billing::charge::add_months(t, 1).unwrap();

        // c1: two tariffs and a system one; paid until night 2; enough money.
        let (c1, a1) = subscriber(
            &store,
            op.id,
            100 * U,
            &[basic, extra, system],
            n(2),
            false,
            "ACTIVE",
        )
        .await;
        // c2: cannot pay its period, which ends mid-month (5.00 for 10.00).
        let expected_debt = 6;
        let (c2, a2) =
            subscriber(&store, op.id, 5 * U, &[basic, free], n(6), false, "ACTIVE").await;
        // c8: its period ended long ago (no service since): one period from
        // the first night, past periods never charged. c9: ended two days
        // before the first night: the period continues from its end.
        let (c8, a8) = subscriber(
            &store,
            op.id,
            100 * U,
            &[basic],
            n(0) - 40 * DAY,
            false,
            "ACTIVE",
        )
        .await;
        let (c9, a9) = subscriber(
            &store,
            op.id,
            100 * U,
            &[basic],
            n(0) - 2 * DAY,
            false,
            "ACTIVE",
        )
        .await;
        // c3: autopayment confirmed before its night.
        let (c3, a3) = subscriber(&store, op.id, 0, &[basic], n(11), true, "ACTIVE").await;
        // c4: autopayment declined: a debtor.
        let (c4, a4) = subscriber(&store, op.id, 0, &[basic], n(12), true, "ACTIVE").await;
        // c5: only free tariffs: extended without a charge.
        let (c5, a5) = subscriber(&store, op.id, 0, &[system, free], n(3), false, "ACTIVE").await;
        // c6: blocked: untouched.
        let (c6, a6) = subscriber(&store, op.id, 50 * U, &[basic], n(1), false, "BLOCK").await;
        // c7: billing off.
        let (c7, a7) =
            subscriber(&store, off.id, 50 * U, &[off_tariff], n(1), false, "ACTIVE").await;
        fake.behaviour.lock().unwrap().insert(c4, "decline");

        let mut debt_night = None;
        let mut paid = false;
        for k in 0..35 {
            if k == 21 && !paid {
                // A payment through the Billing API between nights 20 and 21.
                let v = billing_api(
                    &mw,
                    op.id,
                    "transaction/create",
                    &[
                        ("customer_id", &c2.to_string()),
                        ("amount", "20.00"),
                        ("ext_id", "bank-77"),
                    ],
                )
                .await;
                assert_eq!(v["error"], 0, "{label}: {v}");
                assert_eq!(v["accounts_extended"], 1, "{label}: {v}");
                assert_eq!(v["balance"], "15.00", "{label}: 5 + 20 - 10");
                let (active, reason, until) = account_state(&store, a2).await;
                assert!(
                    active && reason == "ACTIVE",
                    "{label}: re-activated at once"
                );
                assert!(until.unwrap() > efir_core::clock::now() + 27 * DAY);
                // The same payment again changes nothing.
                let v = billing_api(
                    &mw,
                    op.id,
                    "transaction/create",
                    &[
                        ("customer_id", &c2.to_string()),
                        ("amount", "20.00"),
                        ("ext_id", "bank-77"),
                    ],
                )
                .await;
                assert_eq!(v["duplicate"], true);
                assert_eq!(balance(&store, c2).await, 15 * U);
                paid = true;
            }
            let run = night(&store, op.id, n(k)).await;
            if run.stats.deactivated > 0 && debt_night.is_none() {
                debt_night = Some(k);
                let (active, reason, _) = account_state(&store, a2).await;
                assert!(
                    !active && reason == "DEBT",
                    "{label}: night {k}: c2 is the debtor"
                );
            }
        }
        assert_eq!(
            debt_night,
            Some(expected_debt),
            "{label}: c2 ran out at the end of its period"
        );

        // c1: 12.50 at night 2 and at night 2 + 1 month (both in range).
        assert!(month(n(2)) <= n(34));
        assert_eq!(
            amounts(&store, c1).await,
            vec![-10 * U, -(2 * U + U / 2), -10 * U, -(2 * U + U / 2)],
            "{label}"
        );
        assert_eq!(balance(&store, c1).await, 75 * U, "{label}");
        assert_eq!(
            account_state(&store, a1).await,
            (true, "ACTIVE".into(), Some(month(month(n(2))))),
            "{label}"
        );
        // c2: short at night 6, paid 20, charged 10.
        assert_eq!(amounts(&store, c2).await, vec![20 * U, -10 * U], "{label}");
        assert_eq!(balance(&store, c2).await, 15 * U, "{label}");
        assert!(account_state(&store, a2).await.0, "{label}");
        // Periods charged from `start` on through the last night, and the
        // end of the last one.
        let periods = |mut start: i64| {
            let mut count = 0;
            loop {
                count += 1;
                let end = month(start);
                if end > n(34) {
                    return (count, end);
                }
                start = end;
            }
        };
        let (count8, until8) = periods(n(0));
        assert_eq!(amounts(&store, c8).await, vec![-10 * U; count8], "{label}");
        assert_eq!(account_state(&store, a8).await.2, Some(until8), "{label}");
        let (count9, until9) = periods(n(0) - 2 * DAY);
        assert_eq!(amounts(&store, c9).await, vec![-10 * U; count9], "{label}");
        assert_eq!(account_state(&store, a9).await.2, Some(until9), "{label}");
        // c3: autopayment of 10.00, then charged 10.00 at night 11.
        assert_eq!(amounts(&store, c3).await, vec![10 * U, -10 * U], "{label}");
        assert_eq!(balance(&store, c3).await, 0, "{label}");
        assert_eq!(
            account_state(&store, a3).await,
            (true, "ACTIVE".into(), Some(month(n(11)))),
            "{label}"
        );
        // c4: declined, deactivated with DEBT, nothing charged.
        assert!(amounts(&store, c4).await.is_empty(), "{label}");
        assert_eq!(
            account_state(&store, a4).await,
            (false, "DEBT".into(), Some(n(12))),
            "{label}"
        );
        let states: Vec<String> = with_db!(store.pool(), p => sqlx::query_scalar(
            "SELECT state FROM payment WHERE customer_id = $1").bind(c4).fetch_all(p).await.unwrap());
        assert_eq!(states, vec!["declined"], "{label}: one attempt per period");
        // c5: free tariffs only: extended, no transaction.
        assert!(amounts(&store, c5).await.is_empty());
        let mut until5 = month(n(3));
        if until5 <= n(34) {
            until5 = month(until5);
        }
        assert_eq!(
            account_state(&store, a5).await,
            (true, "ACTIVE".into(), Some(until5)),
            "{label}"
        );
        // c6 (blocked) and c7 (billing off): untouched.
        assert_eq!(
            account_state(&store, a6).await,
            (false, "BLOCK".into(), Some(n(1))),
            "{label}"
        );
        assert_eq!(
            account_state(&store, a7).await,
            (true, "ACTIVE".into(), Some(n(1))),
            "{label}"
        );
        assert!(amounts(&store, c6).await.is_empty() && amounts(&store, c7).await.is_empty());
        assert_eq!(balance(&store, c7).await, 50 * U);
        // The provider got one request per payment, with the key.
        assert!(
            fake.requests.lock().unwrap().values().all(|n| *n == 1),
            "{label}"
        );
        assert!(fake
            .auth
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == "Bearer pk-secret"));
        // Charges are audited, without secrets.
        let events = store
            .audit_events(&efir_store::audit::AuditFilter {
                entity: Some("billing_run".into()),
                client_id: Some(op.id),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(!events.is_empty());
        assert!(events.iter().all(|e| !e.data.contains("pk-secret")));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn payment_status_confirms_expires_and_retries() {
    for db in TestDb::both().await {
        let store = db.store.clone();
        let label = db.label;
        let (provider, fake) = start_fake().await;
        let op = operator(
            &store,
            "prepaid",
            &[
                ("billing.provider_url", &provider),
                ("billing.provider_key", "k"),
            ],
        )
        .await;
        let basic = tariff(&store, op.id, 7 * U, 1, false).await;
        let t0 = today_midnight() + 10 * DAY;
        let (pending_c, pending_a) =
            subscriber(&store, op.id, 0, &[basic], t0, true, "ACTIVE").await;
        let (failing_c, _) = subscriber(&store, op.id, 2 * U, &[basic], t0, true, "ACTIVE").await;
        fake.behaviour.lock().unwrap().insert(pending_c, "pending");
        fake.behaviour.lock().unwrap().insert(failing_c, "fail");

        let runs = payments::make_autopayments(&store, &actor(), Some(op.id), true, t0 - 3600)
            .await
            .unwrap();
        assert_eq!(
            (runs[0].requested, runs[0].pending, runs[0].failed),
            (2, 2, 1),
            "{label}"
        );
        assert_eq!(
            runs[0].amount.to_string(),
            "12.00",
            "{label}: 7.00 + 5.00 missing"
        );
        // Nothing credited yet.
        assert_eq!(balance(&store, pending_c).await, 0);
        // The failed request is sent again with the same key next time.
        fake.behaviour.lock().unwrap().insert(failing_c, "pending");
        let runs = payments::make_autopayments(&store, &actor(), Some(op.id), false, t0 - 1800)
            .await
            .unwrap();
        assert_eq!(runs[0].requested, 1, "{label}: only the failed one again");
        let key = format!("autopay:{failing_c}:{t0}");
        assert_eq!(fake.requests.lock().unwrap().get(&key), Some(&2));

        // The provider confirms the first; the status check credits it and
        // extends the account at once.
        fake.confirm_on_get
            .lock()
            .unwrap()
            .push(format!("ref-autopay:{pending_c}:{t0}"));
        let r = payments::check_payment_status(&store, &actor(), Some(op.id), 60, t0 - 1700)
            .await
            .unwrap();
        assert_eq!(
            (r.checked, r.confirmed, r.pending),
            (2, 1, 1),
            "{label}: {r:?}"
        );
        assert_eq!(amounts(&store, pending_c).await, vec![7 * U], "{label}");
        // The period has not ended yet: the night run charges it.
        billing::check_accounts(&store, &actor(), Some(op.id), t0, &|_| {})
            .await
            .unwrap();
        assert_eq!(
            amounts(&store, pending_c).await,
            vec![7 * U, -7 * U],
            "{label}"
        );
        let (active, _, until) = account_state(&store, pending_a).await;
        assert!(active);
        assert_eq!(until, efir_middleware::billing::charge::add_months(t0, 1));
        // Again: nothing more (the payment is credited once).
        let r = payments::check_payment_status(&store, &actor(), Some(op.id), 60, t0 - 1600)
            .await
            .unwrap();
        assert_eq!(r.confirmed, 0);
        assert_eq!(amounts(&store, pending_c).await.len(), 2);
        assert_eq!(balance(&store, pending_c).await, 0);
        // Pending longer than the timeout: expired.
        let r = payments::check_payment_status(&store, &actor(), Some(op.id), 60, t0 + 7200)
            .await
            .unwrap();
        assert_eq!(r.expired, 1, "{label}: {r:?}");
        let left = sql(
            &store,
            "SELECT COUNT(*) FROM payment WHERE state = 'pending'",
            &[],
        )
        .await;
        assert_eq!(left, 0);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn dates_mode_and_bad_input() {
    for db in TestDb::both().await {
        let store = db.store.clone();
        let label = db.label;
        let op = operator(&store, "dates", &[]).await;
        let t0 = today_midnight();
        let (c, expiring) = subscriber(&store, op.id, 0, &[], t0 + 3 * DAY, false, "ACTIVE").await;
        let waiting = sql(
            &store,
            "INSERT INTO account (client_id, customer_id, abonement, active, status_reason, \
             activation_date, created_at, updated_at) VALUES ($1, $2, 'w1', TRUE, 'ACTIVE', $3, 0, 0) RETURNING id",
            &[op.id, c, t0 + 2 * DAY],
        )
        .await;
        let mut deactivated_at = None;
        let mut activated_at = None;
        for k in 0..6 {
            let now = t0 + k * DAY;
            let runs = billing::check_accounts(&store, &actor(), Some(op.id), now, &|_| {})
                .await
                .unwrap();
            let audit = store.audit_count().await.unwrap();
            billing::check_accounts(&store, &actor(), Some(op.id), now, &|_| {})
                .await
                .unwrap();
            assert_eq!(
                store.audit_count().await.unwrap(),
                audit,
                "{label}: idempotent"
            );
            if !account_state(&store, expiring).await.0 && deactivated_at.is_none() {
                deactivated_at = Some(k);
            }
            if runs[0].activated > 0 {
                activated_at = Some(k);
            }
            if k == 0 {
                assert_eq!(account_state(&store, waiting).await.1, "WAIT", "{label}");
            }
        }
        assert_eq!(
            deactivated_at,
            Some(3),
            "{label}: the night of its deactivation date"
        );
        assert_eq!(account_state(&store, expiring).await.1, "INACTIVE");
        assert_eq!(
            activated_at,
            Some(2),
            "{label}: once its activation date came"
        );
        assert!(
            amounts(&store, c).await.is_empty(),
            "dates mode never charges"
        );

        // Bad input: unknown operator, bad timeout, bad settings; nothing written.
        let audit = store.audit_count().await.unwrap();
        let err = billing::check_accounts(&store, &actor(), Some(999_999), t0, &|_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, BillingError::UnknownClient(999_999)), "{err}");
        assert!(
            payments::make_autopayments(&store, &actor(), Some(999_999), false, t0)
                .await
                .is_err()
        );
        let err = payments::check_payment_status(&store, &actor(), None, 0, t0)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
        assert_eq!(store.audit_count().await.unwrap(), audit);
        assert!(efir_backoffice::settings::validate("billing.mode", "monthly").is_err());
        assert!(efir_backoffice::settings::validate("billing.mode", "prepaid").is_ok());
        assert!(efir_backoffice::settings::validate("billing.provider_url", "ftp://x").is_err());
        assert!(
            efir_backoffice::settings::validate("billing.autopayment_lead_days", "-1").is_err()
        );
        assert!(
            efir_backoffice::settings::validate("billing.autopayment_lead_days", "abc").is_err()
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn subscription_model_after_migrate_to_nb() {
    use efir_backoffice::billing::nb::migrate_to_nb;
    use efir_middleware::billing::charge::{add_months, retry_customer};
    for db in TestDb::both().await {
        let store = db.store.clone();
        let label = db.label;
        let mw = start_middleware(&store).await;
        let op = operator(&store, "prepaid", &[]).await;
        let monthly = tariff(&store, op.id, 10 * U, 1, false).await;
        let quarterly = tariff(&store, op.id, 3 * U, 3, false).await;
        let system = tariff(&store, op.id, 5 * U, 0, false).await;
        let t0 = today_midnight() + DAY;
        let (c, a) = subscriber(
            &store,
            op.id,
            30 * U,
            &[monthly, quarterly, system],
            t0,
            false,
            "ACTIVE",
        )
        .await;
        let subs = "SELECT COUNT(*) FROM billing_subscription";
        let portal = |base: String, key: String| async move {
            let v: Value = reqwest::Client::new()
                .get(format!("{base}/tvmiddleware/api/portal/settings/list/"))
                .query(&[("client_id", op.id.to_string()), ("api_key", key)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["use_new_billing_logic"].clone()
        };
        assert_eq!(portal(mw.clone(), op.api_key.clone()).await, 0, "{label}");

        // Without --yes: the plan, nothing written.
        let audit = store.audit_count().await.unwrap();
        let plan = migrate_to_nb(&store, &actor(), op.id, false, t0 - DAY)
            .await
            .unwrap();
        assert_eq!(
            (plan.customers, plan.subscriptions, plan.applied),
            (1, 3, false),
            "{label}"
        );
        assert_eq!(sql(&store, subs, &[]).await, 0);
        assert_eq!(store.audit_count().await.unwrap(), audit);
        assert!(migrate_to_nb(&store, &actor(), 999_999, true, t0)
            .await
            .is_err());
        // With --yes, once.
        let plan = migrate_to_nb(&store, &actor(), op.id, true, t0 - DAY)
            .await
            .unwrap();
        assert!(plan.applied, "{label}");
        assert_eq!(sql(&store, subs, &[]).await, 3);
        let plan = migrate_to_nb(&store, &actor(), op.id, true, t0 - DAY)
            .await
            .unwrap();
        assert!(plan.already_migrated && !plan.applied);
        assert_eq!(sql(&store, subs, &[]).await, 3);
        assert_eq!(portal(mw.clone(), op.api_key.clone()).await, 1, "{label}");

        // The quarterly subscription ends ten days later than the monthly one.
        let end_of = |tariff: i64| {
            let store = store.clone();
            async move {
                sql(
                    &store,
                    "SELECT end_date FROM billing_subscription WHERE tariff_id = $1",
                    &[tariff],
                )
                .await
            }
        };
        with_db!(store.pool(), p => sqlx::query("UPDATE billing_subscription SET end_date = $1 WHERE tariff_id = $2")
            .bind(t0 + 10 * DAY).bind(quarterly).execute(p).await.unwrap().rows_affected());
        let check = |at: i64| {
            let store = store.clone();
            async move {
                let runs = billing::check_accounts(&store, &actor(), Some(op.id), at, &|_| {})
                    .await
                    .unwrap();
                let again =
                    billing::check_accounts(&store, &actor(), Some(op.id), at + 60, &|_| {})
                        .await
                        .unwrap();
                assert!(!again[0].stats.changed(), "second run: {:?}", again[0]);
                runs.into_iter().next().unwrap()
            }
        };
        let r = check(t0).await;
        assert_eq!(
            (r.stats.charged, r.stats.amount),
            (1, 10 * U),
            "{label}: {r:?}"
        );
        assert_eq!(end_of(monthly).await, add_months(t0, 1).unwrap());
        assert_eq!(end_of(quarterly).await, t0 + 10 * DAY);
        assert_eq!(
            end_of(system).await,
            t0,
            "period-0 tariffs are never charged or extended"
        );
        // The account follows the earliest periodic end.
        assert_eq!(
            account_state(&store, a).await,
            (true, "ACTIVE".into(), Some(t0 + 10 * DAY)),
            "{label}"
        );
        let r = check(t0 + 10 * DAY).await;
        assert_eq!((r.stats.charged, r.stats.amount), (1, 3 * U), "{label}");
        assert_eq!(
            end_of(quarterly).await,
            add_months(t0 + 10 * DAY, 3).unwrap()
        );
        let m1 = add_months(t0, 1).unwrap();
        let r = check(m1).await;
        assert_eq!(r.stats.amount, 10 * U, "{label}");
        assert_eq!(balance(&store, c).await, 7 * U);
        // Next month: 7.00 left for 10.00: a debtor.
        let m2 = add_months(t0, 2).unwrap();
        let r = check(m2).await;
        assert_eq!(
            (r.stats.charged, r.stats.deactivated),
            (0, 1),
            "{label}: {r:?}"
        );
        assert_eq!(account_state(&store, a).await.1, "DEBT");
        // A payment re-activates.
        with_db!(store.pool(), p => sqlx::query("UPDATE customer SET balance = balance + $1 WHERE id = $2")
            .bind(20 * U).bind(c).execute(p).await.unwrap().rows_affected());
        let stats = retry_customer(&store, actor(), op.id, c, m2 + 3600)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stats.charged, stats.reactivated),
            (1, 1),
            "{label}: {stats:?}"
        );
        assert_eq!(balance(&store, c).await, 17 * U);
        assert!(account_state(&store, a).await.0);
        assert_eq!(
            amounts(&store, c).await,
            vec![-10 * U, -3 * U, -10 * U, -10 * U],
            "{label}"
        );
        db.cleanup().await;
    }
}
