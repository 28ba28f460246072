//! PostgreSQL read replicas (`database.replicas`).
//!
//! Read-only queries that can stand a little staleness (the device API's
//! lists, guide and stream lookups) go through [`Store::reader`], which
//! hands out a healthy replica in turn and the primary when there is none.
//! [`read_db!`](crate::read_db) runs a query there and, when it fails on a
//! replica, runs it again on the primary; a replica that failed with a
//! connection error is taken out at once.
//!
//! A background task ([`Store::spawn_replica_checks`]) checks every replica
//! each `replica_check_secs`: it must answer, be in recovery, and not be
//! further behind the primary than `replica_max_lag_secs`. The lag is
//! measured with [`LagTracker`]: the primary's WAL position
//! (`pg_current_wal_lsn()`) is recorded at every check, and a replica whose
//! replayed position (`pg_last_wal_replay_lsn()`) has reached the latest one
//! is not behind at all, however long ago its last replayed transaction
//! was (an idle primary does not look like lag). One that has not is behind
//! by at most the time since the primary was last seen at a position it has
//! replayed, and by at most the age of its last replayed transaction
//! (`pg_last_xact_replay_timestamp()`); the smaller bound is its lag.
//!
//! Metrics: `efir_db_replicas_healthy` (gauge), `efir_db_reads_total{target}`
//! (`replica` or `primary`) and `efir_db_replica_read_retries_total`.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use efir_core::config::redact_url;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::{Pool, Result, Store, StoreError};

/// How the replicas are used and checked.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    /// Their URLs (`postgres://…`).
    pub urls: Vec<String>,
    /// Most lag a replica in use may have.
    pub max_lag: Duration,
    /// Time between two checks.
    pub check_every: Duration,
    /// Connections per replica pool.
    pub max_connections: u32,
}

/// How one replica was found at its last check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaStatus {
    /// Its URL without the password.
    pub url: String,
    /// In use for reads.
    pub healthy: bool,
    /// How far behind the primary it was, in seconds, when it answered.
    pub lag_secs: Option<f64>,
    /// Why it is not in use.
    pub reason: Option<String>,
}

/// What a replica said about itself at a check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    /// `pg_last_wal_replay_lsn()` as a byte position.
    pub replay_lsn: Option<i64>,
    /// Seconds since `pg_last_xact_replay_timestamp()`.
    pub replay_age_secs: Option<f64>,
}

/// The primary's WAL positions seen at recent checks, to tell how far
/// behind a replica is (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct LagTracker {
    /// `(primary position, seconds on a monotonic clock)`, oldest first.
    seen: VecDeque<(i64, f64)>,
}

/// Most primary positions remembered.
const HISTORY: usize = 256;

impl LagTracker {
    /// Records the primary's position `lsn` at time `at`.
    pub fn primary_at(&mut self, lsn: i64, at: f64) {
        if let Some(last) = self.seen.back_mut().filter(|(l, _)| *l == lsn) {
            // Still there: a replica with this position is current as of now.
            last.1 = at;
            return;
        }
        self.seen.push_back((lsn, at));
        while self.seen.len() > HISTORY {
            self.seen.pop_front();
        }
    }

    /// The lag, in seconds at time `now`, of a replica that has replayed up
    /// to `replay_lsn`, whose last replayed transaction is `replay_age`
    /// seconds old.
    pub fn lag(&mut self, replay_lsn: i64, replay_age: Option<f64>, now: f64) -> f64 {
        let Some(&(latest, _)) = self.seen.back() else {
            return 0.0;
        };
        if replay_lsn >= latest {
            return 0.0;
        }
        // The latest time the primary was at a position the replica has.
        let caught_up_at = self
            .seen
            .iter()
            .rev()
            .find(|(lsn, _)| *lsn <= replay_lsn)
            .map(|(_, at)| *at);
        // Forget positions older than that one: they are replayed.
        if let Some(at) = caught_up_at {
            while self.seen.len() > 1 && self.seen.front().is_some_and(|(_, t)| *t < at) {
                self.seen.pop_front();
            }
        }
        let by_position = caught_up_at.map(|at| (now - at).max(0.0));
        // Without either bound, the time since the oldest position it lacks
        // (it is at least that far behind).
        let lower = self
            .seen
            .iter()
            .find(|(lsn, _)| *lsn > replay_lsn)
            .map_or(0.0, |(_, at)| (now - at).max(0.0));
        match (by_position, replay_age) {
            (Some(a), Some(b)) => a.min(b.max(0.0)),
            (Some(a), None) => a,
            (None, Some(b)) => b.max(lower),
            (None, None) => lower,
        }
    }
}

/// Whether a replica that said `observed` (or failed) may serve reads, and
/// why not.
pub fn verdict(
    observed: &std::result::Result<Observation, String>,
    lag: Option<f64>,
    max_lag: Duration,
) -> std::result::Result<(), String> {
    let o = observed.as_ref().map_err(Clone::clone)?;
    if !o.in_recovery {
        return Err("not in recovery (not a replica)".into());
    }
    match lag {
        Some(l) if l > max_lag.as_secs_f64() => Err(format!(
            "{l:.1} s behind the primary (most {} s)",
            max_lag.as_secs_f64()
        )),
        _ => Ok(()),
    }
}

/// One replica.
#[derive(Debug)]
struct Replica {
    url: String,
    pool: PgPool,
    state: Mutex<ReplicaState>,
}

#[derive(Debug)]
struct ReplicaState {
    healthy: bool,
    lag_secs: Option<f64>,
    reason: Option<String>,
    tracker: LagTracker,
}

/// The replicas of a store and their health.
#[derive(Debug)]
pub struct Replicas {
    members: Vec<Replica>,
    next: AtomicUsize,
    settings: ReplicaSettings,
    epoch: Instant,
}

impl Replicas {
    /// Pools for every replica (connected lazily: a replica that is down
    /// when Efir starts is only out of use). All start out of use until
    /// their first check.
    pub fn new(settings: ReplicaSettings) -> Result<Replicas> {
        let mut members = Vec::new();
        for url in &settings.urls {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Invalid(format!("replica {}: {e}", redact_url(url))))?
                .application_name("efir-replica-reader");
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections.max(1))
                .acquire_timeout(Duration::from_secs(2))
                .idle_timeout(Duration::from_secs(60))
                .connect_lazy_with(options);
            members.push(Replica {
                url: redact_url(url),
                pool,
                state: Mutex::new(ReplicaState {
                    healthy: false,
                    lag_secs: None,
                    reason: Some("not checked yet".into()),
                    tracker: LagTracker::default(),
                }),
            });
        }
        Ok(Replicas {
            members,
            next: AtomicUsize::new(0),
            settings,
            epoch: Instant::now(),
        })
    }

    /// The state of every replica as last checked.
    pub fn status(&self) -> Vec<ReplicaStatus> {
        self.members
            .iter()
            .map(|r| {
                let s = lock(&r.state);
                ReplicaStatus {
                    url: r.url.clone(),
                    healthy: s.healthy,
                    lag_secs: s.lag_secs,
                    reason: s.reason.clone(),
                }
            })
            .collect()
    }

    /// Checks every replica once against `primary`.
    pub async fn check(&self, primary: &PgPool) {
        let timeout = self.settings.check_every.max(Duration::from_secs(2));
        let primary_lsn: std::result::Result<i64, String> = match tokio::time::timeout(
            timeout,
            sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
                .fetch_one(primary),
        )
        .await
        {
            Ok(Ok(lsn)) => Ok(lsn),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        };
        let checks = self.members.iter().map(|r| async move {
            let sql = "SELECT pg_is_in_recovery(), \
                       (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, \
                       EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8";
            let observed = match tokio::time::timeout(
                timeout,
                sqlx::query_as::<_, (bool, Option<i64>, Option<f64>)>(sql).fetch_one(&r.pool),
            )
            .await
            {
                Ok(Ok((in_recovery, replay_lsn, replay_age_secs))) => Ok(Observation {
                    in_recovery,
                    replay_lsn,
                    replay_age_secs,
                }),
                Ok(Err(e)) => Err(format!("unreachable: {e}")),
                Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
            };
            (r, observed)
        });
        let results = futures::future::join_all(checks).await;
        let now = self.epoch.elapsed().as_secs_f64();
        for (r, observed) in results {
            let mut s = lock(&r.state);
            let lag = match (&observed, &primary_lsn) {
                (Ok(o), Ok(lsn)) => {
                    s.tracker.primary_at(*lsn, now);
                    o.replay_lsn
                        .map(|replayed| s.tracker.lag(replayed, o.replay_age_secs, now))
                }
                _ => None,
            };
            let mut decided = verdict(&observed, lag, self.settings.max_lag);
            if decided.is_ok() {
                if let Err(e) = &primary_lsn {
                    decided = Err(format!("cannot read the primary's position: {e}"));
                }
            }
            let was = s.healthy;
            s.healthy = decided.is_ok();
            s.lag_secs = lag;
            s.reason = decided.err();
            if was != s.healthy {
                match &s.reason {
                    None => tracing::info!(replica = %r.url, "read replica back in use"),
                    Some(why) => {
                        tracing::warn!(replica = %r.url, reason = %why, "read replica taken out")
                    }
                }
            }
        }
        self.publish();
    }

    /// Sets the `efir_db_replicas_healthy` gauge.
    fn publish(&self) {
        let healthy = self
            .members
            .iter()
            .filter(|r| lock(&r.state).healthy)
            .count();
        metrics::gauge!("efir_db_replicas_healthy").set(healthy as f64);
    }

    /// A healthy replica, in turn.
    fn pick(&self) -> Option<usize> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| lock(&self.members[i].state).healthy)
    }

    /// Takes replica `i` out after a read failed with `error`.
    fn take_out(&self, i: usize, error: &sqlx::Error) {
        let Some(r) = self.members.get(i) else { return };
        {
            let mut s = lock(&r.state);
            if s.healthy {
                tracing::warn!(replica = %r.url, error = %error, "read replica taken out after a failed read");
            }
            s.healthy = false;
            s.reason = Some(format!("a read failed: {error}"));
        }
        self.publish();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `e` says the server cannot be used (rather than that the query
/// or its data was wrong).
pub fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // connection exceptions, operator intervention (shutdown),
            // insufficient resources
            c.starts_with("08") || c.starts_with("57") || c.starts_with("53")
        }),
        _ => false,
    }
}

/// Where one read goes: a replica or the primary. Made by
/// [`Store::reader`]; used through [`read_db!`](crate::read_db).
#[derive(Debug, Clone)]
pub struct Reader {
    pool: Pool,
    replica: Option<(Arc<Replicas>, usize)>,
}

impl Reader {
    /// The pool to run the read on.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether it is a replica.
    pub fn is_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// Records a read that succeeded or failed for a reason of its own
    /// (`efir_db_reads_total`).
    pub fn done(&self) {
        count_read(if self.is_replica() {
            "replica"
        } else {
            "primary"
        });
    }

    /// Records a read that failed on this replica with `error` and is
    /// about to be retried on the primary; a connection error takes the
    /// replica out until its next good check.
    pub fn failed(&self, error: &sqlx::Error) {
        metrics::counter!("efir_db_replica_read_retries_total").increment(1);
        if let Some((replicas, i)) = &self.replica {
            tracing::debug!(error = %error, "read failed on a replica, retrying on the primary");
            if is_connection_error(error) {
                replicas.take_out(*i, error);
            }
        }
    }
}

/// Counts one read on `target` (`replica` or `primary`).
pub fn count_read(target: &'static str) {
    metrics::counter!("efir_db_reads_total", "target" => target).increment(1);
}

impl Store {
    /// Opens pools for the read replicas of `settings` (lazily) and uses
    /// them for [`Store::reader`] once checked. Only for PostgreSQL.
    pub fn attach_replicas(&mut self, settings: ReplicaSettings) -> Result<()> {
        if settings.urls.is_empty() {
            return Ok(());
        }
        if !matches!(self.pool, Pool::Postgres(_)) {
            return Err(StoreError::Invalid(
                "read replicas need a PostgreSQL primary".into(),
            ));
        }
        self.replicas = Some(Arc::new(Replicas::new(settings)?));
        Ok(())
    }

    /// The replicas, when there are any.
    pub fn replicas(&self) -> Option<&Arc<Replicas>> {
        self.replicas.as_ref()
    }

    /// Checks every replica once now.
    pub async fn check_replicas(&self) {
        if let (Some(replicas), Pool::Postgres(primary)) = (&self.replicas, &self.pool) {
            replicas.check(primary).await;
        }
    }

    /// Starts checking the replicas every `replica_check_secs`, starting
    /// now; the task ends when every other handle of the store is gone.
    pub fn spawn_replica_checks(&self) -> Option<tokio::task::JoinHandle<()>> {
        let replicas = Arc::downgrade(self.replicas.as_ref()?);
        let Pool::Postgres(primary) = &self.pool else {
            return None;
        };
        let primary = primary.clone();
        Some(tokio::spawn(async move {
            loop {
                let every = {
                    let Some(r) = replicas.upgrade() else { return };
                    r.check(&primary).await;
                    r.settings.check_every
                };
                tokio::time::sleep(every).await;
            }
        }))
    }

    /// Where a read that may be a little stale should go: a healthy
    /// replica in turn, else the primary.
    pub fn reader(&self) -> Reader {
        if let Some(replicas) = &self.replicas {
            if let Some(i) = replicas.pick() {
                return Reader {
                    pool: Pool::Postgres(replicas.members[i].pool.clone()),
                    replica: Some((replicas.clone(), i)),
                };
            }
        }
        self.primary_reader()
    }

    /// A [`Reader`] on the primary.
    pub fn primary_reader(&self) -> Reader {
        Reader {
            pool: self.pool.clone(),
            replica: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(points: &[(i64, f64)]) -> LagTracker {
        let mut t = LagTracker::default();
        for (lsn, at) in points {
            t.primary_at(*lsn, *at);
        }
        t
    }

    #[test]
    fn an_idle_primary_is_not_lag() {
        // Nothing written for an hour: the last replayed transaction is
        // old, but the replica has everything the primary has.
        let mut t = seen(&[(100, 0.0), (100, 2.0), (100, 3600.0)]);
        assert_eq!(t.lag(100, Some(3600.0), 3600.0), 0.0);
        assert_eq!(t.lag(150, Some(3600.0), 3600.0), 0.0);
    }

    #[test]
    fn a_stalled_replica_falls_behind_from_when_it_had_everything() {
        // The primary moves on at 10 s; the replica stays at 100.
        let mut t = seen(&[
            (100, 0.0),
            (100, 8.0),
            (200, 10.0),
            (300, 12.0),
            (400, 14.0),
        ]);
        // The primary was last seen at 100 at 8 s; the replica's last
        // transaction is 3600 s old (idle before): the position bound wins.
        assert_eq!(t.lag(100, Some(3600.0), 14.0), 6.0);
        // With a recent replayed transaction, that bound is smaller.
        assert_eq!(t.lag(100, Some(3.0), 14.0), 3.0);
        // Half way: it has what the primary had at 10 s.
        assert_eq!(t.lag(250, None, 14.0), 4.0);
        // Caught up again.
        assert_eq!(t.lag(400, Some(0.1), 14.0), 0.0);
    }

    #[test]
    fn without_history_the_lower_bound_is_used() {
        let mut t = seen(&[(500, 5.0)]);
        assert_eq!(t.lag(100, None, 7.0), 2.0);
        assert_eq!(t.lag(100, Some(30.0), 7.0), 30.0);
        let mut empty = LagTracker::default();
        assert_eq!(empty.lag(1, None, 9.0), 0.0);
    }

    #[test]
    fn history_is_bounded() {
        let mut t = LagTracker::default();
        for i in 0..1000 {
            t.primary_at(i, i as f64);
        }
        assert_eq!(t.seen.len(), HISTORY);
    }

    #[test]
    fn verdicts() {
        let ok = Observation {
            in_recovery: true,
            replay_lsn: Some(1),
            replay_age_secs: Some(1.0),
        };
        let max = Duration::from_secs(5);
        assert_eq!(verdict(&Ok(ok), Some(0.0), max), Ok(()));
        assert_eq!(verdict(&Ok(ok), Some(5.0), max), Ok(()));
        assert!(verdict(&Ok(ok), Some(5.5), max)
            .unwrap_err()
            .contains("5.5 s behind"));
        let promoted = Observation {
            in_recovery: false,
            ..ok
        };
        assert!(verdict(&Ok(promoted), Some(0.0), max)
            .unwrap_err()
            .contains("not in recovery"));
        assert_eq!(
            verdict(&Err("unreachable: refused".into()), None, max),
            Err("unreachable: refused".into())
        );
    }

    #[test]
    fn connection_errors_are_told_from_query_errors() {
        assert!(is_connection_error(&sqlx::Error::PoolTimedOut));
        assert!(is_connection_error(&sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused"
        ))));
        assert!(!is_connection_error(&sqlx::Error::RowNotFound));
    }
}
