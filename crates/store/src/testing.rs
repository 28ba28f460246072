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

/// A throw-away Redis Cluster of three masters (`redis-server
/// --cluster-enabled yes` on free loopback ports, joined with
/// `redis-cli --cluster create`); stopped and removed when dropped.
pub struct RedisCluster {
    procs: Vec<std::process::Child>,
    _dir: tempfile::TempDir,
    /// The masters' ports.
    pub ports: Vec<u16>,
}

impl RedisCluster {
    /// Starts the cluster and waits until it reports `cluster_state:ok`.
    /// Panics (failing the test) when redis-server or redis-cli is missing.
    pub fn start() -> RedisCluster {
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut cluster = RedisCluster {
            procs: Vec::new(),
            _dir: tempfile::tempdir().expect("temporary directory"),
            ports: Vec::new(),
        };
        for i in 0..3 {
            // The cluster bus listens on port + 10000.
            let port = loop {
                let p = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .expect("a free port");
                if p < 55_000 && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
                    break p;
                }
            };
            let node_dir = dir.path().join(i.to_string());
            std::fs::create_dir_all(&node_dir).expect("node directory");
            let log = std::fs::File::create(node_dir.join("log")).expect("log file");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
                .args(["--save", "", "--appendonly", "no", "--dir"])
                .arg(&node_dir)
                .stdout(Stdio::from(log))
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is installed (Debian: redis-server)");
            cluster.procs.push(child);
            cluster.ports.push(port);
        }
        let cli = |port: u16, args: &[&str]| {
            Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("redis-cli is installed (Debian: redis-tools)")
        };
        let wait = |what: &str, ok: &dyn Fn() -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !ok() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "Redis Cluster: {what} within 20 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        for &p in &cluster.ports {
            wait("node answers", &|| {
                String::from_utf8_lossy(&cli(p, &["ping"]).stdout).trim() == "PONG"
            });
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli is installed");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        for &p in &cluster.ports {
            wait("cluster_state:ok", &|| {
                String::from_utf8_lossy(&cli(p, &["cluster", "info"]).stdout)
                    .contains("cluster_state:ok")
            });
        }
        cluster._dir = dir;
        cluster
    }

    /// The seed URLs (`redis://127.0.0.1:PORT`).
    pub fn seeds(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
