//! The audit log: who changed what, written in the same transaction as the
//! change.
//!
//! Code that changes data opens a [`Tx`] with [`Store::begin`], runs its
//! statements through [`Tx::execute`] (or [`with_tx!`] for reads and
//! returning inserts, then [`Tx::mark_changed`]), records what it did with
//! [`Tx::audit`] and commits. A transaction that changed data but recorded
//! no event refuses to commit, so a change can never slip past the log.
//! Events are never updated or deleted: the store has no function for it and
//! the database rejects it with triggers.

use std::fmt;
use std::time::Instant;

use serde::Serialize;
use sqlx::{Postgres, Sqlite, Transaction};

use crate::{now, record_query, Pool, Result, Store, StoreError};

/// Who makes a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A management command run from the command line (`cli:create-client`).
    Command(String),
    /// A scheduled run of a management command (`scheduler:check-accounts`).
    Scheduler(String),
    /// A staff user (`user:42:admin`).
    User {
        /// The user's id.
        id: i64,
        /// The user's name.
        username: String,
    },
    /// Efir itself (`system:<what>`).
    System(String),
    /// A call of an HTTP API (`api:billing:client-3`).
    Api(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Command(c) => write!(f, "cli:{c}"),
            Actor::Scheduler(c) => write!(f, "scheduler:{c}"),
            Actor::User { id, username } => write!(f, "user:{id}:{username}"),
            Actor::System(s) => write!(f, "system:{s}"),
            Actor::Api(s) => write!(f, "api:{s}"),
        }
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditEvent {
    /// Sequence number.
    pub id: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// Who, as written by [`Actor`]'s `Display`.
    pub actor: String,
    /// The operator the change belongs to, if any.
    pub client_id: Option<i64>,
    /// What was done (`create`, `update`, `password_reset`, …).
    pub action: String,
    /// The kind of object (`client`, `user`).
    pub entity: String,
    /// The object's id.
    pub entity_id: Option<String>,
    /// Details as JSON, secrets left out.
    pub data: String,
}

/// A filter for [`Store::audit_events`].
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this entity kind.
    pub entity: Option<String>,
    /// Only this object.
    pub entity_id: Option<String>,
    /// Only this operator.
    pub client_id: Option<i64>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// A database transaction of either driver.
pub enum DbTx {
    /// SQLite.
    Sqlite(Transaction<'static, Sqlite>),
    /// PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

/// An audited transaction; see the module docs.
pub struct Tx {
    db: DbTx,
    actor: Actor,
    changed: Option<&'static str>,
    audited: usize,
    started: Instant,
    /// This process's turn to write (SQLite), held until commit or rollback.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    pub(crate) async fn begin(store: &Store, actor: Actor) -> Result<Tx> {
        let turn = store.write_turn().await;
        let db = match store.pool() {
            // Take SQLite's write lock at the start: a deferred transaction
            // that reads and then writes fails at once with "database is
            // locked" when another writer commits in between, whereas an
            // immediate one waits (busy_timeout) and then runs cleanly.
            Pool::Sqlite(p) => DbTx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => DbTx::Postgres(p.begin().await?),
        };
        Ok(Tx {
            db,
            actor,
            changed: None,
            audited: 0,
            started: Instant::now(),
            _turn: turn,
        })
    }

    /// The underlying transaction, for [`with_tx!`].
    pub fn db(&mut self) -> &mut DbTx {
        &mut self.db
    }

    /// Who this transaction acts for.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Notes that the transaction changed data in `what` (a table name);
    /// it must then record an audit event before it commits.
    pub fn mark_changed(&mut self, what: &'static str) {
        self.changed.get_or_insert(what);
    }

    /// Runs a data-changing statement with its arguments bound by `bind`,
    /// and notes the change.
    pub async fn execute(&mut self, what: &'static str, sql: &str, args: &[Arg]) -> Result<u64> {
        self.mark_changed(what);
        let rows = with_tx!(self, c => {
            crate::bind_args!(sqlx::query(sql), args)
                .execute(c)
                .await?
                .rows_affected()
        });
        Ok(rows)
    }

    /// Records an audit event in this transaction.
    pub async fn audit(
        &mut self,
        client_id: Option<i64>,
        action: &str,
        entity: &str,
        entity_id: Option<String>,
        data: serde_json::Value,
    ) -> Result<i64> {
        let actor = self.actor.to_string();
        let sql =
            "INSERT INTO audit_event (at, actor, client_id, action, entity, entity_id, data) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        let data = data.to_string();
        let id: i64 = with_tx!(self, c => sqlx::query_scalar(sql)
            .bind(now())
            .bind(&actor)
            .bind(client_id)
            .bind(action)
            .bind(entity)
            .bind(&entity_id)
            .bind(&data)
            .fetch_one(c)
            .await)?;
        self.audited += 1;
        Ok(id)
    }

    /// Commits; refuses when data changed without an audit event.
    pub async fn commit(self) -> Result<()> {
        if let (Some(what), 0) = (self.changed, self.audited) {
            self.rollback().await?;
            return Err(StoreError::Unaudited(what.to_string()));
        }
        let started = self.started;
        match self.db {
            DbTx::Sqlite(t) => t.commit().await?,
            DbTx::Postgres(t) => t.commit().await?,
        }
        record_query("transaction", started);
        Ok(())
    }

    /// Abandons every change.
    pub async fn rollback(self) -> Result<()> {
        match self.db {
            DbTx::Sqlite(t) => t.rollback().await?,
            DbTx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// A bound argument of [`Tx::execute`].
#[derive(Debug, Clone)]
pub enum Arg {
    /// An integer.
    I64(i64),
    /// A nullable integer.
    OptI64(Option<i64>),
    /// Text.
    Text(String),
    /// Nullable text.
    OptText(Option<String>),
    /// A flag.
    Bool(bool),
}

impl Store {
    /// Audit events, newest first.
    pub async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let started = Instant::now();
        let sql = "SELECT id, at, actor, client_id, action, entity, entity_id, data \
                   FROM audit_event \
                   WHERE ($1 IS NULL OR entity = $1) \
                     AND ($2 IS NULL OR entity_id = $2) \
                     AND ($3 IS NULL OR client_id = $3) \
                   ORDER BY id DESC LIMIT $4";
        let limit = if filter.limit > 0 { filter.limit } else { 100 };
        let rows = with_db!(self.pool(), p => sqlx::query_as::<_, AuditEvent>(sql)
            .bind(&filter.entity)
            .bind(&filter.entity_id)
            .bind(filter.client_id)
            .bind(limit)
            .fetch_all(p)
            .await)?;
        record_query("audit_events", started);
        Ok(rows)
    }

    /// Number of audit events.
    pub async fn audit_count(&self) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM audit_event";
        Ok(with_db!(self.pool(), p => sqlx::query_scalar(sql).fetch_one(p).await)?)
    }
}
