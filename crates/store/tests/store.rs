//! Storage tests; each runs on SQLite and on PostgreSQL.

use efir_core::config::CacheConfig;
use efir_store::cache::{flush_all, Cache};
use efir_store::clients::NewClient;
use efir_store::testing::TestDb;
use efir_store::users::NewUser;
use efir_store::{with_db, Actor, Store, StoreError};

fn actor() -> Actor {
    Actor::Command("test".into())
}

fn sample_client(api_key: &str, prefix: &str) -> NewClient {
    NewClient {
        name: "Sample TV".into(),
        api_key: api_key.into(),
        domain_prefix: prefix.into(),
        email: "ops@sample.tv".into(),
        languages: vec!["ru".into(), "uk".into()],
        ..NewClient::default()
    }
}

async fn create_client(store: &Store, api_key: &str, prefix: &str) -> Result<i64, StoreError> {
    let mut tx = store.begin(actor()).await?;
    match store
        .create_client(&mut tx, &sample_client(api_key, prefix))
        .await
    {
        Ok(c) => {
            tx.commit().await?;
            Ok(c.id)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

#[tokio::test]
async fn migrations_apply_once_on_both() {
    for db in TestDb::both().await {
        let s = &db.store;
        assert_eq!(
            s.schema_version().await.unwrap(),
            Store::latest_version(),
            "{}",
            db.label
        );
        assert!(
            s.migrate().await.unwrap().is_empty(),
            "{}: second run applies nothing",
            db.label
        );
        s.require_migrated().await.unwrap();
        let status = s.migration_status().await.unwrap();
        assert!(status.iter().all(|m| m.applied_at.is_some()));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn empty_database_reports_pending_and_newer_schema_is_refused() {
    let db = TestDb::postgres_empty().await;
    let err = db.store.require_migrated().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("pending migrations: 1 (core), 2 (middleware)"),
        "{err}"
    );
    db.store.migrate().await.unwrap();
    with_db!(db.store.pool(), p => sqlx::query(
        "INSERT INTO efir_migrations (version, name, checksum, applied_at) VALUES (9999, 'future', 'x', 0)"
    ).execute(p).await.map(|_| ())).unwrap();
    let err = db.store.migrate().await.unwrap_err();
    assert!(err.to_string().contains("schema version 9999"), "{err}");
    db.cleanup().await;
}

#[tokio::test]
async fn clients_and_users_are_audited() {
    for db in TestDb::both().await {
        let s = &db.store;
        let before = s.audit_count().await.unwrap();
        let id = create_client(s, "key-aaaa-1111", "sample").await.unwrap();
        let client = s.client(id).await.unwrap();
        assert_eq!(client.additional_languages(), vec!["ru", "uk"]);
        assert_eq!(client.billing_api_key.len(), 32, "generated billing key");
        assert_ne!(client.billing_api_key, client.content_api_key);

        let mut tx = s.begin(actor()).await.unwrap();
        let user = s
            .create_user(
                &mut tx,
                &NewUser {
                    username: "admin".into(),
                    password: "pa55word".into(),
                    is_admin: true,
                    client_id: Some(id),
                    ..NewUser::default()
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(user.password_hash.starts_with("$argon2id$"));
        assert!(s.authenticate("admin", "pa55word").await.unwrap().is_some());
        assert!(s.authenticate("admin", "wrong").await.unwrap().is_none());
        assert!(s
            .authenticate("nobody", "pa55word")
            .await
            .unwrap()
            .is_none());

        let events = s.audit_events(&Default::default()).await.unwrap();
        assert_eq!(s.audit_count().await.unwrap(), before + 2, "{}", db.label);
        assert_eq!(events[0].entity, "user");
        assert_eq!(events[0].action, "create");
        assert_eq!(events[0].actor, "cli:test");
        assert_eq!(events[0].client_id, Some(id));
        assert_eq!(events[1].entity, "client");
        for e in &events {
            assert!(
                !e.data.contains("key-aaaa-1111"),
                "no api key in audit data"
            );
            assert!(!e.data.contains("pa55word") && !e.data.contains("argon2"));
        }

        let mut tx = s.begin(actor()).await.unwrap();
        s.set_password(&mut tx, "admin", "n3w-pass").await.unwrap();
        tx.commit().await.unwrap();
        assert!(s.authenticate("admin", "n3w-pass").await.unwrap().is_some());
        let last = &s.audit_events(&Default::default()).await.unwrap()[0];
        assert_eq!(last.action, "password_reset");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn duplicates_fail_cleanly_and_write_nothing() {
    for db in TestDb::both().await {
        let s = &db.store;
        create_client(s, "key-aaaa-1111", "sample").await.unwrap();
        let clients = s.client_count().await.unwrap();
        let events = s.audit_count().await.unwrap();

        let err = create_client(s, "key-aaaa-1111", "other")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict { field, .. } if field == "api_key"),
            "{}: {err}",
            db.label
        );
        assert!(!err.to_string().contains("key-aaaa-1111"), "key not echoed");
        let err = create_client(s, "key-bbbb-2222", "sample")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "client with domain_prefix `sample` already exists"
        );
        let err = create_client(s, "short", "Bad Prefix").await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("api_key") && err.to_string().contains("domain_prefix"));

        assert_eq!(s.client_count().await.unwrap(), clients, "{}", db.label);
        assert_eq!(s.audit_count().await.unwrap(), events, "{}", db.label);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn database_rejects_duplicates_even_without_precheck() {
    for db in TestDb::both().await {
        let s = &db.store;
        create_client(s, "key-aaaa-1111", "sample").await.unwrap();
        // Bypass the pre-check: the unique constraint must hold on its own
        // and be reported with the field's name.
        let sql = "INSERT INTO client (name, api_key, billing_api_key, content_api_key, domain_prefix, email, created_at, updated_at) VALUES ('x', 'key-aaaa-1111', 'b', 'c', 'p2', 'e@x.io', 0, 0)";
        let err =
            with_db!(s.pool(), p => sqlx::query(sql).execute(p).await.map(|_| ())).unwrap_err();
        let mapped = efir_store::map_unique(err, "client", "client", |_| "***".into());
        assert!(
            matches!(&mapped, StoreError::Conflict { field, .. } if field == "api_key"),
            "{}: {mapped}",
            db.label
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn audit_events_cannot_be_changed_or_deleted() {
    for db in TestDb::both().await {
        let s = &db.store;
        create_client(s, "key-aaaa-1111", "sample").await.unwrap();
        let count = s.audit_count().await.unwrap();
        assert!(count > 0);
        for sql in [
            "UPDATE audit_event SET actor = 'forged'",
            "DELETE FROM audit_event",
        ] {
            let res = with_db!(s.pool(), p => sqlx::query(sql).execute(p).await.map(|_| ()));
            let err = res.expect_err(sql);
            assert!(
                err.to_string().contains("insert-only"),
                "{}: {err}",
                db.label
            );
        }
        if db.label == "postgres" {
            let res = with_db!(s.pool(), p => sqlx::query("TRUNCATE audit_event").execute(p).await.map(|_| ()));
            assert!(res.is_err(), "truncate refused");
        }
        assert_eq!(s.audit_count().await.unwrap(), count);
        let events = s.audit_events(&Default::default()).await.unwrap();
        assert!(events.iter().all(|e| e.actor == "cli:test"));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn unaudited_changes_are_refused() {
    for db in TestDb::both().await {
        let s = &db.store;
        let mut tx = s.begin(actor()).await.unwrap();
        s.set_meta(&mut tx, "probe", "1").await.unwrap();
        let err = tx.commit().await.unwrap_err();
        assert!(matches!(err, StoreError::Unaudited(_)), "{err}");
        assert_eq!(
            s.meta("probe").await.unwrap(),
            None,
            "{}: rolled back",
            db.label
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn flush_bumps_epoch_and_clears_local_cache() {
    for db in TestDb::both().await {
        let s = &db.store;
        let cache = Cache::local(&CacheConfig::default());
        cache.set("k", b"v").await.unwrap();
        assert!(!cache.sync_epoch(s.cache_epoch().await.unwrap()).await);
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));

        // Another process flushes: this process notices the new epoch.
        let other = Cache::local(&CacheConfig::default());
        let report = flush_all(s, &other, actor()).await.unwrap();
        assert_eq!(report.epoch, 1);
        assert_eq!(flush_all(s, &other, actor()).await.unwrap().epoch, 2);
        assert!(cache.sync_epoch(s.cache_epoch().await.unwrap()).await);
        assert_eq!(cache.get("k").await.unwrap(), None, "{}", db.label);
        let last = &s.audit_events(&Default::default()).await.unwrap()[0];
        assert_eq!(
            (last.entity.as_str(), last.action.as_str()),
            ("cache", "flush")
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn redis_cache_clears_only_its_prefix() {
    let url =
        std::env::var("EFIR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("efir-test-{}:", efir_core::secret::random_hex(4));
    let cfg = CacheConfig {
        redis_url: Some(url.clone()),
        key_prefix: prefix.clone(),
        ..CacheConfig::default()
    };
    let cache = Cache::connect(&cfg)
        .await
        .expect("Redis reachable (EFIR_TEST_REDIS_URL)");
    assert!(cache.describe().contains("Redis"));
    for i in 0..1200 {
        cache.set(&format!("k{i}"), b"v").await.unwrap();
    }
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let foreign = format!("not-{prefix}keep");
    let _: () = redis::cmd("SET")
        .arg(&foreign)
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(cache.get("k7").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(cache.clear().await.unwrap(), 1200);
    assert_eq!(cache.get("k7").await.unwrap(), None);
    let kept: Option<String> = redis::cmd("GET")
        .arg(&foreign)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("x"),
        "keys outside the prefix survive"
    );
    let _: () = redis::cmd("DEL")
        .arg(&foreign)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn schedule_slot_is_claimed_once() {
    for db in TestDb::both().await {
        let s = &db.store;
        assert!(s.claim_schedule_slot("job", 100, "a").await.unwrap());
        assert!(!s.claim_schedule_slot("job", 100, "b").await.unwrap());
        assert!(s.claim_schedule_slot("job", 160, "b").await.unwrap());
        s.finish_schedule_run("job", 100, "ok", 12, None)
            .await
            .unwrap();
        let runs = s.schedule_runs(Some("job"), 10).await.unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            (runs[1].node.as_str(), runs[1].outcome.as_str()),
            ("a", "ok")
        );
        assert_eq!(runs[0].outcome, "running");

        let lock = s.try_lock_entry("job").await.unwrap().expect("free");
        // A second store stands for another process (another node).
        let other = Store::connect(&db.url, &Default::default()).await.unwrap();
        let held = other.try_lock_entry("job").await.unwrap();
        assert!(held.is_none(), "{}: held elsewhere", db.label);
        let unrelated = other.try_lock_entry("other-job").await.unwrap();
        unrelated.expect("locks are per entry").release().await;
        lock.release().await;
        let again = other.try_lock_entry("job").await.unwrap();
        again.expect("released").release().await;
        other.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn backup_and_restore_round_trip() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let s = db.store.clone();
        create_client(&s, "key-aaaa-1111", "before").await.unwrap();
        let file = dir.path().join("backup.bin");
        s.backup(&file).await.unwrap();
        let err = s.backup(&file).await.unwrap_err();
        assert!(err.to_string().contains("already exists"));
        create_client(&s, "key-bbbb-2222", "after").await.unwrap();
        assert_eq!(s.client_count().await.unwrap(), 2);
        drop(s);
        let TestDb {
            store, url, label, ..
        } = db;
        let restored = store.restore(&file, &Default::default()).await.unwrap();
        let clients = restored.clients().await.unwrap();
        assert_eq!(clients.len(), 1, "{label}");
        assert_eq!(clients[0].domain_prefix, "before");
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not a backup at all").unwrap();
        let err = restored
            .clone()
            .restore(&junk, &Default::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("neither"), "{err}");
        restored.close().await;
        let _ = url;
    }
}

/// SQLite writers of one process take turns first come, first served:
/// SQLite's own busy handler is not fair, and under a steady stream of
/// writes one writer could starve until busy_timeout ("database is locked").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writers_take_turns_in_arrival_order() {
    let db = TestDb::sqlite().await;
    let first = db.store.begin(actor()).await.unwrap();
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for i in 0..6 {
        let (store, order) = (db.store.clone(), order.clone());
        waiters.push(tokio::spawn(async move {
            let tx = store.begin(actor()).await.unwrap();
            order.lock().unwrap().push(i);
            // Hold the write lock a little, as a real write would.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            tx.rollback().await.unwrap();
        }));
        // Let writer i queue before writer i + 1 arrives.
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    assert!(
        order.lock().unwrap().is_empty(),
        "nobody writes past the first"
    );
    first.rollback().await.unwrap();
    for w in waiters {
        w.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    db.cleanup().await;
}
