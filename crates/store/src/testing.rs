//! Throw-away databases for tests (feature `testing`).
//!
//! [`TestDb::sqlite`] makes an SQLite file in a temporary directory;
//! [`TestDb::postgres`] creates a fresh PostgreSQL database named
//! `efir_t_<random>` on the server of `EFIR_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). [`TestDb::both`] gives
//! one of each, so every storage test runs on both databases. A missing
//! PostgreSQL fails the test: it is never skipped silently.

use std::time::Duration;

use sqlx::Connection;

use crate::{ConnectOptions, Store};

/// The admin URL of the PostgreSQL server tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("EFIR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].rfind('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A database that exists for one test.
pub struct TestDb {
    /// The migrated store.
    pub store: Store,
    /// Its URL, to hand to the `efir` binary.
    pub url: String,
    /// `sqlite` or `postgres`, for messages.
    pub label: &'static str,
    dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// A migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("efir.db").display());
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        TestDb {
            store,
            url,
            label: "sqlite",
            dir: Some(dir),
            pg_name: None,
        }
    }

    /// An empty (not migrated) PostgreSQL database.
    pub async fn postgres_empty() -> TestDb {
        let admin = postgres_admin_url();
        let name = format!("efir_t_{}", efir_core::secret::random_hex(6));
        let mut conn =
            tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(&admin))
                .await
                .unwrap_or_else(|_| {
                    panic!("PostgreSQL at {admin} did not answer (set EFIR_TEST_POSTGRES_URL)")
                })
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot connect to PostgreSQL at {admin}: {e} (set EFIR_TEST_POSTGRES_URL)"
                    )
                });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let url = with_database(&admin, &name);
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .expect("open PostgreSQL test database");
        TestDb {
            store,
            url,
            label: "postgres",
            dir: None,
            pg_name: Some(name),
        }
    }

    /// A migrated PostgreSQL database.
    pub async fn postgres() -> TestDb {
        let db = TestDb::postgres_empty().await;
        db.store.migrate().await.expect("migrate PostgreSQL");
        db
    }

    /// One migrated database of each kind.
    pub async fn both() -> Vec<TestDb> {
        vec![TestDb::sqlite().await, TestDb::postgres().await]
    }

    /// The temporary directory of an SQLite test database.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// Closes the store and drops a PostgreSQL test database.
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(name) = self.pg_name {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}
