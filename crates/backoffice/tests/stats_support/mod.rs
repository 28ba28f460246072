//! Fixtures of the statistics tests: operators, customers, accounts,
//! sessions, transactions and viewing events written straight into a
//! throw-away database, with the times each test chooses.
#![allow(dead_code)]

use efir_store::clients::NewClient;
use efir_store::{with_db, Actor, Store};

/// 2026-03-10 00:00:00 UTC.
pub const D: i64 = 1_773_100_800;
/// An hour.
pub const H: i64 = 3600;

pub fn actor() -> Actor {
    Actor::Command("test".into())
}

/// A new operator named `name`; its id.
pub async fn client(store: &Store, name: &str) -> i64 {
    let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
    let c = store
        .create_client(
            &mut tx,
            &NewClient {
                name: name.into(),
                api_key: format!("key-{name}"),
                domain_prefix: name.to_lowercase(),
                email: format!("ops@{}.tv", name.to_lowercase()),
                ..NewClient::default()
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    c.id
}

/// Runs one statement with integer and text arguments, returning the new
/// row id when `RETURNING id` is in it.
async fn insert(store: &Store, sql: &str, ints: &[Option<i64>], texts: &[&str]) -> i64 {
    with_db!(store.pool(), p => {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        for i in ints {
            q = q.bind(*i);
        }
        for t in texts {
            q = q.bind(t.to_string());
        }
        q.fetch_one(p).await.unwrap()
    })
}

/// A customer of `client` created at `at`.
pub async fn customer(store: &Store, client: i64, at: i64) -> i64 {
    insert(
        store,
        "INSERT INTO customer (client_id, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id",
        &[Some(client), Some(at)],
        &[],
    )
    .await
}

/// An account of `customer` created at `at`, active by flag, with an
/// optional deactivation date; its id.
pub async fn account(
    store: &Store,
    client: i64,
    customer: i64,
    at: i64,
    deactivation: Option<i64>,
) -> i64 {
    let abonement = efir_core::secret::random_hex(6);
    insert(
        store,
        "INSERT INTO account (client_id, customer_id, created_at, updated_at, deactivation_date, \
         abonement) VALUES ($1, $2, $3, $3, $4, $5) RETURNING id",
        &[Some(client), Some(customer), Some(at), deactivation],
        &[&abonement],
    )
    .await
}

/// A session of `account` last seen at `seen`, expiring at `expires`;
/// returns (id, authkey).
pub async fn session(store: &Store, account: i64, seen: i64, expires: i64) -> (i64, String) {
    let key = efir_core::secret::random_hex(64);
    let id = insert(
        store,
        "INSERT INTO account_authkey (account_id, created_at, expires_at, last_seen_at, \
         device_uid, authkey) VALUES ($1, $2, $3, $2, 'box-1', $4) RETURNING id",
        &[Some(account), Some(seen), Some(expires)],
        &[&key],
    )
    .await;
    (id, key)
}

/// Sets when a session was last seen.
pub async fn seen(store: &Store, session: i64, at: i64) {
    with_db!(store.pool(), p => sqlx::query(
        "UPDATE account_authkey SET last_seen_at = $1 WHERE id = $2")
        .bind(at)
        .bind(session)
        .execute(p)
        .await
        .map(|_| ()))
    .unwrap();
}

/// A transaction of `amount` ("12.50", "-10") at `at`.
pub async fn transaction(store: &Store, client: i64, customer: i64, amount: &str, at: i64) {
    let units = amount.parse::<efir_core::money::Money>().unwrap().units();
    insert(
        store,
        "INSERT INTO customer_transaction (client_id, customer_id, amount, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
        &[Some(client), Some(customer), Some(units), Some(at)],
        &[],
    )
    .await;
}

/// A viewing event of `account`.
#[allow(clippy::too_many_arguments)]
pub async fn viewing(
    store: &Store,
    client: i64,
    customer: i64,
    account: i64,
    kind: &str,
    content: i64,
    start: i64,
    duration: i64,
) {
    insert(
        store,
        "INSERT INTO viewing_event (client_id, customer_id, account_id, content_id, started_at, \
         duration, received_at, content_type) VALUES ($1, $2, $3, $4, $5, $6, $5, $7) RETURNING id",
        &[
            Some(client),
            Some(customer),
            Some(account),
            Some(content),
            Some(start),
            Some(duration),
        ],
        &[kind],
    )
    .await;
}

/// A customer log entry at `at`.
pub async fn customer_log(store: &Store, client: i64, customer: i64, at: i64) {
    insert(
        store,
        "INSERT INTO customer_log (client_id, customer_id, event, at) \
         VALUES ($1, $2, 'login', $3) RETURNING id",
        &[Some(client), Some(customer), Some(at)],
        &[],
    )
    .await;
}

/// Rows in `table` (a fixed name from the test).
pub async fn count(store: &Store, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    with_db!(store.pool(), p => sqlx::query_scalar::<_, i64>(&sql).fetch_one(p).await).unwrap()
}
