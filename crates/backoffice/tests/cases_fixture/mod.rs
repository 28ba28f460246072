//! Shared set-up of the case tests: two operators, their staff in every
//! role, a manager, customers and accounts, on a real database.

#![allow(dead_code)]

use efir_backoffice::cases::{Cases, Role, Who};
use efir_core::config::CasesConfig;
use efir_store::audit::Arg;
use efir_store::testing::TestDb;
use efir_store::{with_db, Actor, Store};
use serde_json::json;

/// 2026-12-01 00:00:00 UTC.
pub const T0: i64 = 1_795_996_800;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

pub struct Fx {
    pub cases: Cases,
    pub a: i64,
    pub b: i64,
    pub superuser: Who,
    pub admin_a: Who,
    pub support_a: Who,
    pub monitor_a: Who,
    pub admin_b: Who,
    pub manager_a: i64,
    pub customer_a: i64,
    pub account_a: i64,
    pub customer_b: i64,
    pub account_b: i64,
    pub dir: tempfile::TempDir,
}

pub async fn scalar(store: &Store, sql: &str, args: &[i64]) -> i64 {
    with_db!(store.pool(), p => {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        for a in args {
            q = q.bind(*a);
        }
        q.fetch_one(p).await.expect(sql)
    })
}

async fn insert(store: &Store, table: &'static str, sql: &str, args: &[Arg]) -> i64 {
    let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
    tx.execute(table, sql, args).await.unwrap();
    tx.audit(None, "test.insert", table, None, json!({}))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    scalar(store, &format!("SELECT MAX(id) FROM {table}"), &[]).await
}

async fn staff(
    store: &Store,
    name: &str,
    client: Option<i64>,
    admin: bool,
    sup: bool,
    mon: bool,
    manager: Option<i64>,
) -> i64 {
    insert(
        store,
        "staff_user",
        "INSERT INTO staff_user (username, password_hash, is_admin, is_superuser, monitoring_user, \
         client_id, manager_id, created_at, updated_at) VALUES ($1, '', $2, $3, $4, $5, $6, 0, 0)",
        &[
            Arg::Text(name.into()),
            Arg::Bool(admin),
            Arg::Bool(sup),
            Arg::Bool(mon),
            Arg::OptI64(client),
            Arg::OptI64(manager),
        ],
    )
    .await
}

fn who(id: i64, name: &str, role: Role, client: Option<i64>) -> Who {
    Who {
        user_id: id,
        username: name.into(),
        role,
        client_id: client,
    }
}

pub async fn client(store: &Store, name: &str) -> i64 {
    let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
    let c = store
        .create_client(
            &mut tx,
            &efir_store::clients::NewClient {
                name: name.into(),
                api_key: format!("{name}-api-key-0001"),
                domain_prefix: name.into(),
                email: format!("ops@{name}.tv"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    c.id
}

pub async fn customer_account(store: &Store, client: i64, abonement: &str) -> (i64, i64) {
    let cust = insert(
        store,
        "customer",
        "INSERT INTO customer (client_id, firstname, created_at, updated_at) VALUES ($1, 'Ann', 0, 0)",
        &[Arg::I64(client)],
    )
    .await;
    let acc = insert(
        store,
        "account",
        "INSERT INTO account (client_id, customer_id, abonement, created_at, updated_at) VALUES ($1, $2, $3, 0, 0)",
        &[Arg::I64(client), Arg::I64(cust), Arg::Text(abonement.into())],
    )
    .await;
    (cust, acc)
}

pub async fn fixture(db: &TestDb, config: &CasesConfig) -> Fx {
    let store = &db.store;
    let a = client(store, "alpha").await;
    let b = client(store, "beta").await;
    let su = staff(store, "root", None, false, true, false, None).await;
    let manager_a = staff(store, "boss_a", Some(a), true, false, false, None).await;
    let admin_a = staff(
        store,
        "admin_a",
        Some(a),
        true,
        false,
        false,
        Some(manager_a),
    )
    .await;
    let support_a = staff(
        store,
        "support_a",
        Some(a),
        false,
        false,
        false,
        Some(manager_a),
    )
    .await;
    let monitor_a = staff(store, "monitor_a", Some(a), false, false, true, None).await;
    let admin_b = staff(store, "admin_b", Some(b), true, false, false, None).await;
    let (customer_a, account_a) = customer_account(store, a, "1001").await;
    let (customer_b, account_b) = customer_account(store, b, "2001").await;
    let dir = tempfile::tempdir().unwrap();
    Fx {
        cases: Cases::new(store.clone(), config, dir.path().to_path_buf()),
        a,
        b,
        superuser: who(su, "root", Role::Superuser, None),
        admin_a: who(admin_a, "admin_a", Role::OperatorAdmin, Some(a)),
        support_a: who(support_a, "support_a", Role::Support, Some(a)),
        monitor_a: who(monitor_a, "monitor_a", Role::Monitoring, Some(a)),
        admin_b: who(admin_b, "admin_b", Role::OperatorAdmin, Some(b)),
        manager_a,
        customer_a,
        account_a,
        customer_b,
        account_b,
        dir,
    }
}
