//! Efir's storage: one code path over SQLite and PostgreSQL.
//!
//! [`Store::connect`] picks the database by the URL's scheme: `sqlite://PATH`
//! (the embedded default, in WAL mode) or `postgres://…`. Queries are
//! written once, with `$1`-style placeholders that both databases accept,
//! and run through the [`with_db!`] and [`with_tx!`] macros, which expand the
//! same code for each driver so that every Rust type keeps its native
//! mapping (booleans, 64-bit integers, text).
//!
//! Every change made through the store happens inside a [`Tx`], which writes
//! an [`audit`] event in the same transaction and refuses to commit a change
//! without one. The `audit_event` table is insert-only: the store offers no
//! way to change it, and database triggers reject `UPDATE` and `DELETE`.
//!
//! Modules:
//! * [`migrate`]: versioned migrations for both databases;
//! * [`audit`]: actors, audit events and the audited transaction [`Tx`];
//! * [`clients`], [`users`]: the multi-tenant core (operators, staff);
//! * [`meta`]: small key/value state (cache epoch, initial data);
//! * [`settings`]: per-operator settings (`billing.mode`, `sms.backend`);
//! * [`schedule`]: run records and cross-node locks for the scheduler;
//! * [`cache`]: the in-process or Redis cache and `flushall`;
//! * [`backup`]: online backup and restore;
//! * [`replicas`]: PostgreSQL read replicas, [`Store::reader`] and [`read_db!`].

#[macro_use]
mod macros;

pub mod audit;
pub mod backup;
pub mod cache;
pub mod clients;
pub mod meta;
pub mod migrate;
pub mod nodes;
pub mod notify;
pub mod replicas;
pub mod schedule;
pub mod settings;
#[cfg(feature = "testing")]
pub mod testing;
pub mod users;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use efir_core::config::{redact_url, DatabaseKind};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use audit::{Actor, AuditEvent, Tx};

/// A connection pool to one of the supported databases.
#[derive(Debug, Clone)]
pub enum Pool {
    /// The embedded SQLite database.
    Sqlite(SqlitePool),
    /// A PostgreSQL server.
    Postgres(PgPool),
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A value that must be unique is taken.
    #[error("{entity} with {field} `{value}` already exists")]
    Conflict {
        /// What kind of object (`client`).
        entity: &'static str,
        /// Which field (`api_key`).
        field: String,
        /// The value given.
        value: String,
    },
    /// The object does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What kind of object.
        entity: &'static str,
        /// Its id or name.
        id: String,
    },
    /// Input that breaks a rule of the model.
    #[error("{0}")]
    Invalid(String),
    /// A transaction that changed data without recording an audit event.
    #[error("refusing to commit a change without an audit event ({0})")]
    Unaudited(String),
    /// Migrations cannot run or do not match this build.
    #[error("migration: {0}")]
    Migration(String),
    /// Backup or restore failed.
    #[error("{0}")]
    Backup(String),
    /// The cache backend failed.
    #[error("cache: {0}")]
    Cache(String),
    /// The database reported an error.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How to open the database.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Most connections in the pool.
    pub max_connections: u32,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 10,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The handle every part of Efir uses to reach the database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    url: String,
    sqlite_path: Option<PathBuf>,
    /// A shared lock on `<db>.lock` held while an SQLite store is open, so
    /// that `restore` can tell when another process uses the database.
    _lock: Option<std::sync::Arc<std::fs::File>>,
    /// SQLite only: writers of this process queue here, first come first
    /// served, before they take the database's write lock. Without it,
    /// writers wait in SQLite's busy handler, which is not fair: under a
    /// steady stream of writes one of them can starve until busy_timeout
    /// and fail with "database is locked".
    writer: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// Read replicas (PostgreSQL only), see [`replicas`].
    replicas: Option<std::sync::Arc<replicas::Replicas>>,
}

impl Store {
    /// Opens the database named by `url`: `sqlite://PATH` (created when
    /// missing, WAL mode, foreign keys on) or `postgres://…`.
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Store> {
        let kind = DatabaseKind::of(url).map_err(StoreError::Invalid)?;
        match kind {
            DatabaseKind::Sqlite => {
                let path = sqlite_path(url);
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::Invalid(format!(
                            "cannot create database directory {}: {e}",
                            parent.display()
                        ))
                    })?;
                }
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30));
                let lock = std::fs::File::create(backup::lock_path(&path)).map_err(|e| {
                    StoreError::Invalid(format!("cannot create {}: {e}", path.display()))
                })?;
                lock.lock_shared().map_err(|e| {
                    StoreError::Invalid(format!("cannot lock {}: {e}", path.display()))
                })?;
                let pool = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.connect_timeout)
                    .connect_with(options)
                    .await?;
                Ok(Store {
                    pool: Pool::Sqlite(pool),
                    url: url.to_string(),
                    sqlite_path: Some(path),
                    _lock: Some(std::sync::Arc::new(lock)),
                    writer: Some(Default::default()),
                    replicas: None,
                })
            }
            DatabaseKind::Postgres => {
                let options = PgConnectOptions::from_str(url)?.application_name("efir");
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.connect_timeout)
                    .connect_with(options)
                    .await?;
                Ok(Store {
                    pool: Pool::Postgres(pool),
                    url: url.to_string(),
                    sqlite_path: None,
                    _lock: None,
                    writer: None,
                    replicas: None,
                })
            }
        }
    }

    /// The pool, for crates that run their own queries with [`with_db!`].
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Waits for this process's turn to write (SQLite; a no-op on
    /// PostgreSQL). Hold the guard for the whole write transaction.
    pub async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.writer {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        }
    }

    /// Which database this is.
    pub fn kind(&self) -> DatabaseKind {
        match self.pool {
            Pool::Sqlite(_) => DatabaseKind::Sqlite,
            Pool::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// A description fit for logs: the URL without its password.
    pub fn describe(&self) -> String {
        match &self.sqlite_path {
            Some(path) => format!("SQLite {}", absolute(path).display()),
            None => format!("PostgreSQL {}", redact_url(&self.url)),
        }
    }

    /// The SQLite file, when this is SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    /// The URL the store was opened with (it may hold a password: never log
    /// it, use [`Store::describe`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        let started = Instant::now();
        with_db!(&self.pool, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        record_query("ping", started);
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        with_db!(&self.pool, p => p.close().await)
    }

    /// Starts an audited transaction on behalf of `actor`.
    pub async fn begin(&self, actor: Actor) -> Result<Tx> {
        Tx::begin(self, actor).await
    }
}

/// Records the time a database operation took, as the
/// `efir_db_query_duration_seconds{op}` histogram.
pub fn record_query(op: &'static str, started: Instant) {
    metrics::histogram!("efir_db_query_duration_seconds", "op" => op)
        .record(started.elapsed().as_secs_f64());
}

/// Seconds since the Unix epoch, now (frozen by `EFIR_NOW`; see
/// [`efir_core::clock`]).
pub fn now() -> i64 {
    efir_core::clock::now()
}

/// A case-insensitive "contains" pattern for `LOWER(col) LIKE $n ESCAPE '\\'`:
/// `text` lower-cased, with `%`, `_` and `\\` escaped so that they match
/// themselves, between `%…%`.
pub fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn sqlite_path(url: &str) -> PathBuf {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] naming
/// the field, and passes other errors through.
/// `table` is the table written to, `entity` the name users know it by.
pub fn map_unique(
    err: sqlx::Error,
    table: &str,
    entity: &'static str,
    value_of: impl Fn(&str) -> String,
) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            let field = unique_field(db.message(), db.constraint(), table).unwrap_or_default();
            let value = value_of(&field);
            return StoreError::Conflict {
                entity,
                field,
                value,
            };
        }
    }
    StoreError::Database(err)
}

/// The column named by a unique violation: SQLite says
/// `UNIQUE constraint failed: client.api_key`, PostgreSQL names the
/// constraint `client_api_key_key`.
fn unique_field(message: &str, constraint: Option<&str>, table: &str) -> Option<String> {
    if let Some(rest) = message.split("UNIQUE constraint failed: ").nth(1) {
        let first = rest.split(',').next()?.trim();
        return Some(first.rsplit('.').next()?.to_string());
    }
    let c = constraint?;
    let c = c.strip_suffix("_key").unwrap_or(c);
    let c = c.strip_prefix(table).unwrap_or(c);
    Some(c.trim_start_matches('_').to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_contains_escapes_wildcards() {
        assert_eq!(super::like_contains("50%_a\\"), "%50\\%\\_a\\\\%");
        assert_eq!(super::like_contains("ABC"), "%abc%");
    }

    #[test]
    fn unique_field_from_both_dialects() {
        assert_eq!(
            super::unique_field("UNIQUE constraint failed: client.api_key", None, "client")
                .as_deref(),
            Some("api_key")
        );
        assert_eq!(
            super::unique_field(
                "duplicate key value",
                Some("staff_user_username_key"),
                "staff_user"
            )
            .as_deref(),
            Some("username")
        );
    }
}
