//! Records and locks of the built-in scheduler.
//!
//! A scheduled entry fires at a *slot* (its due time, Unix seconds). The
//! node that inserts the `(name, slot)` row first owns that run; the others
//! skip it, so each slot runs once however many nodes share the database.
//! A run also holds a lock for its entry, so a long run is never overlapped
//! by the next slot on another node: a session advisory lock on PostgreSQL,
//! an exclusive lock on a file beside the database on SQLite (whose
//! processes all share one machine). Both vanish with a crashed process.

use serde::Serialize;
use sqlx::pool::PoolConnection;
use sqlx::Postgres;

use crate::{now, Pool, Result, Store, StoreError};

/// One run of a scheduled entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ScheduleRun {
    /// Entry name.
    pub name: String,
    /// The due time it ran for (Unix seconds).
    pub slot: i64,
    /// The node that ran it.
    pub node: String,
    /// Started (Unix seconds).
    pub started_at: i64,
    /// Finished (Unix seconds).
    pub finished_at: Option<i64>,
    /// How long it took.
    pub duration_ms: Option<i64>,
    /// `running`, `ok`, `failed` or `skipped`.
    pub outcome: String,
    /// The error of a failed or skipped run.
    pub error: Option<String>,
}

/// A cross-node lock for one scheduled entry, held for the length of a run.
pub struct EntryLock {
    conn: Option<PoolConnection<Postgres>>,
    key: i64,
    /// The locked file (SQLite); unlocked when closed.
    _file: Option<std::fs::File>,
}

impl EntryLock {
    /// Releases the lock.
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Closing the session releases its locks for sure.
                drop(conn.detach());
            }
        }
    }
}

impl Drop for EntryLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not released properly: close the session rather than return a
            // locked connection to the pool.
            drop(conn.detach());
        }
    }
}

/// A stable 64-bit key for an advisory lock on `name`.
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"efir-schedule:".iter().chain(name.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

impl Store {
    /// Claims the run of `name` at `slot` for `node`; false when another
    /// node claimed it first.
    pub async fn claim_schedule_slot(&self, name: &str, slot: i64, node: &str) -> Result<bool> {
        let sql = "INSERT INTO schedule_run (name, slot, node, started_at, outcome) \
                   VALUES ($1, $2, $3, $4, 'running') ON CONFLICT (name, slot) DO NOTHING";
        let done = with_db!(self.pool(), p => sqlx::query(sql)
            .bind(name)
            .bind(slot)
            .bind(node)
            .bind(now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Records how a claimed run ended.
    pub async fn finish_schedule_run(
        &self,
        name: &str,
        slot: i64,
        outcome: &str,
        duration_ms: i64,
        error: Option<&str>,
    ) -> Result<()> {
        let sql = "UPDATE schedule_run SET finished_at = $1, duration_ms = $2, outcome = $3, \
                   error = $4 WHERE name = $5 AND slot = $6";
        with_db!(self.pool(), p => sqlx::query(sql)
            .bind(now())
            .bind(duration_ms)
            .bind(outcome)
            .bind(error)
            .bind(name)
            .bind(slot)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The latest runs of `name` (all entries when `None`), newest first.
    pub async fn schedule_runs(&self, name: Option<&str>, limit: i64) -> Result<Vec<ScheduleRun>> {
        let sql = "SELECT name, slot, node, started_at, finished_at, duration_ms, outcome, error \
                   FROM schedule_run WHERE ($1 IS NULL OR name = $1) \
                   ORDER BY slot DESC, name LIMIT $2";
        Ok(with_db!(self.pool(), p => sqlx::query_as(sql)
            .bind(name)
            .bind(limit)
            .fetch_all(p)
            .await)?)
    }

    /// Takes the cross-node lock of entry `name` if it is free.
    pub async fn try_lock_entry(&self, name: &str) -> Result<Option<EntryLock>> {
        let key = lock_key(name);
        match self.pool() {
            Pool::Sqlite(_) => {
                let db = self
                    .sqlite_path()
                    .unwrap_or(std::path::Path::new("efir.db"));
                let path = format!("{}.schedule-{:016x}.lock", db.display(), key as u64);
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::Invalid(format!("cannot open {path}: {e}")))?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(EntryLock {
                        conn: None,
                        key,
                        _file: Some(file),
                    })),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => {
                        Err(StoreError::Invalid(format!("cannot lock {path}: {e}")))
                    }
                }
            }
            Pool::Postgres(p) => {
                let mut conn = p.acquire().await?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(got.then_some(EntryLock {
                    conn: Some(conn),
                    key,
                    _file: None,
                }))
            }
        }
    }
}
