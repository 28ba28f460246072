//! The job queue in the store, with fenced leases.
//!
//! A job is claimed by a worker as an *attempt*: the claim bumps
//! `attempt`, sets `worker_id` and a lease deadline, all in one statement
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a single writer on SQLite).
//! The pair `(attempt, worker_id)` on a running job is the lease. Every
//! write a worker makes afterwards (heartbeats, log lines, the result)
//! names its lease and matches no row once the lease is gone, so:
//!
//! - a worker whose heartbeat lapses is marked `lost` by the dispatcher
//!   ([`Queue::reap`]), its jobs go back to `pending` (or `dead` when their
//!   attempts are used up) and another worker takes them;
//! - when the lost worker comes back, its heartbeat says so
//!   ([`HeartbeatReply::alive`] is false): it kills its subprocesses, throws
//!   its results away and registers again as a new worker;
//! - a late result is refused ([`Queue::finish`] returns `false`), so a job
//!   has exactly one registered result, from its current lease.
//!
//! Times are Unix milliseconds. Lower `priority` runs first.

use std::collections::HashMap;

use efir_store::{with_db, Actor, Pool, Store, StoreError};
use serde::{Deserialize, Serialize};

/// The PostgreSQL channel notified when jobs become claimable.
pub const NOTIFY_CHANNEL: &str = "efir_ingest";

/// The built-in pipeline that does nothing (for checks and benchmarks).
pub const NOOP: &str = "noop";

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A job's state.
pub const STATES: &[&str] = &[
    "pending",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "dead",
];

/// Errors of the queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such job.
    #[error("no job {0}")]
    NoJob(i64),
    /// The job's state does not allow the operation.
    #[error("job {id} is {state}: {why}")]
    State {
        /// The job.
        id: i64,
        /// Its state.
        state: String,
        /// What cannot be done.
        why: &'static str,
    },
    /// Input that cannot be queued.
    #[error("{0}")]
    Invalid(String),
}

impl From<sqlx::Error> for QueueError {
    fn from(e: sqlx::Error) -> Self {
        QueueError::Store(StoreError::from(e))
    }
}

/// Result of queue operations.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// A job to submit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewJob {
    /// The pipeline to run.
    pub pipeline: String,
    /// Its input and options (JSON object).
    #[serde(default)]
    pub payload: serde_json::Value,
    /// Lower runs first.
    #[serde(default)]
    pub priority: i64,
    /// Attempts before the job is `dead`.
    #[serde(default = "default_attempts")]
    pub max_attempts: i64,
    /// At most one pending or running job per key.
    #[serde(default)]
    pub unique_key: Option<String>,
    /// Not before (Unix ms).
    #[serde(default)]
    pub run_at_ms: Option<i64>,
    /// Process fully, deliver nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Record only: no delivery and no notification.
    #[serde(default)]
    pub import_only: bool,
}

fn default_attempts() -> i64 {
    3
}

impl NewJob {
    /// A job of `pipeline` with `payload` and the defaults.
    pub fn new(pipeline: impl Into<String>, payload: serde_json::Value) -> NewJob {
        NewJob {
            pipeline: pipeline.into(),
            payload,
            priority: 0,
            max_attempts: default_attempts(),
            unique_key: None,
            run_at_ms: None,
            dry_run: false,
            import_only: false,
        }
    }

    fn validate(&self) -> Result<()> {
        let name_ok = !self.pipeline.is_empty()
            && self.pipeline.len() <= 64
            && self
                .pipeline
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(QueueError::Invalid(format!(
                "pipeline name `{}` is not 1-64 letters, digits, `-` or `_`",
                self.pipeline
            )));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(QueueError::Invalid(format!(
                "max_attempts must be 1-100, not {}",
                self.max_attempts
            )));
        }
        if !(self.payload.is_object() || self.payload.is_null()) {
            return Err(QueueError::Invalid(
                "the payload must be a JSON object".into(),
            ));
        }
        if self.unique_key.as_ref().is_some_and(|k| k.len() > 512) {
            return Err(QueueError::Invalid(
                "unique_key is longer than 512 bytes".into(),
            ));
        }
        Ok(())
    }
}

/// A job as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// Pipeline.
    pub pipeline: String,
    /// Payload (JSON text).
    pub payload: String,
    /// Lower runs first.
    pub priority: i64,
    /// pending, running, succeeded, failed, cancelled, dead.
    pub state: String,
    /// Attempts started.
    pub attempt: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Uniqueness key.
    pub unique_key: Option<String>,
    /// Not claimed before.
    pub run_at_ms: i64,
    /// The worker holding the lease.
    pub worker_id: Option<i64>,
    /// When the lease lapses.
    pub lease_expires_ms: Option<i64>,
    /// 0.0 to 1.0.
    pub progress: f64,
    /// The step it is on.
    pub activity: String,
    /// The registered result (JSON text).
    pub result: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Cancel asked while running.
    pub cancel_requested: bool,
    /// Dry run.
    pub dry_run: bool,
    /// Import only.
    pub import_only: bool,
    /// Submitted.
    pub created_ms: i64,
    /// First started.
    pub started_ms: Option<i64>,
    /// Finished.
    pub finished_ms: Option<i64>,
    /// Last change.
    pub updated_ms: i64,
}

impl Job {
    /// The payload as JSON (an empty object when unreadable).
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload).unwrap_or_else(|_| serde_json::json!({}))
    }
}

const JOB_COLUMNS: &str = "id, pipeline, payload, priority, state, attempt, max_attempts, \
    unique_key, run_at_ms, worker_id, lease_expires_ms, progress, activity, result, error, \
    cancel_requested, dry_run, import_only, created_ms, started_ms, finished_ms, updated_ms";

/// A held lease: the job and attempt a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseKey {
    /// The job.
    pub job: i64,
    /// The attempt.
    pub attempt: i64,
    /// The worker.
    pub worker: i64,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The lease to name in every later write.
    pub lease: LeaseKey,
    /// The job as claimed.
    pub job: Job,
}

/// A worker's registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Name shown to operators.
    pub name: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// Jobs it runs at once.
    pub slots: i64,
    /// Tools, versions, mounts (JSON).
    pub capabilities: serde_json::Value,
    /// Pipelines it can run now.
    pub runnable: Vec<String>,
    /// Whether every mount is usable.
    pub mounts_ok: bool,
    /// What is wrong with a mount.
    pub mount_error: Option<String>,
}

/// A worker as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
pub struct Worker {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Host.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// Slots.
    pub slots: i64,
    /// Capabilities (JSON text).
    pub capabilities: String,
    /// Runnable pipelines (comma-separated).
    pub runnable: String,
    /// Mounts usable.
    pub mounts_ok: bool,
    /// Mount problem.
    pub mount_error: Option<String>,
    /// active, lost, stopped.
    pub state: String,
    /// Jobs running.
    pub running: i64,
    /// Registered.
    pub registered_ms: i64,
    /// Last heartbeat.
    pub last_seen_ms: i64,
    /// Marked lost.
    pub lost_ms: Option<i64>,
}

/// What a worker reports with each heartbeat.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat {
    /// Pipelines it can run now ('' while a mount is missing).
    pub runnable: Vec<String>,
    /// Mounts usable.
    pub mounts_ok: bool,
    /// Mount problem.
    pub mount_error: Option<String>,
    /// Its leases with their progress and activity.
    pub leases: Vec<(LeaseKey, f64, String)>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeartbeatReply {
    /// False when the worker was marked lost: it must stop everything,
    /// discard its results and register again.
    pub alive: bool,
    /// Leases that are gone (their jobs must be killed and discarded).
    pub fenced: Vec<LeaseKey>,
    /// Leases whose jobs an operator cancelled.
    pub cancel: Vec<LeaseKey>,
}

/// A step of a finished attempt, registered with its result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    /// Step name.
    pub name: String,
    /// succeeded, failed, skipped.
    pub state: String,
    /// Started.
    pub started_ms: i64,
    /// Finished.
    pub finished_ms: i64,
    /// What it produced (JSON).
    pub output: serde_json::Value,
    /// Why it failed.
    pub error: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Done; `result` is registered.
    Succeeded {
        /// JSON result.
        result: serde_json::Value,
        /// Steps.
        steps: Vec<StepRecord>,
    },
    /// Failed; retried with back-off when `retry` and attempts remain.
    Failed {
        /// Why.
        error: String,
        /// Whether another attempt could help (not for bad input).
        retry: bool,
        /// Steps.
        steps: Vec<StepRecord>,
    },
    /// Stopped on an operator's request.
    Cancelled {
        /// Steps.
        steps: Vec<StepRecord>,
    },
}

impl Outcome {
    /// `succeeded`, `failed` or `cancelled`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded { .. } => "succeeded",
            Outcome::Failed { .. } => "failed",
            Outcome::Cancelled { .. } => "cancelled",
        }
    }
}

/// What [`Queue::reap`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reaped {
    /// Workers marked lost.
    pub workers_lost: Vec<i64>,
    /// Jobs put back to pending.
    pub requeued: Vec<i64>,
    /// Jobs that used up their attempts.
    pub dead: Vec<i64>,
}

/// Filter of [`Queue::list`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JobFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this pipeline.
    pub pipeline: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Only ids below this (paging, newest first).
    pub before: Option<i64>,
}

/// The retry back-off after `attempt` failed: 2^attempt seconds, capped at
/// ten minutes.
pub fn backoff_ms(attempt: i64) -> i64 {
    let exp = attempt.clamp(0, 10) as u32;
    (1000_i64 << exp).min(600_000)
}

/// The job queue.
#[derive(Clone)]
pub struct Queue {
    store: Store,
}

impl Queue {
    /// The queue in `store`.
    pub fn new(store: Store) -> Queue {
        Queue { store }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Submits a job; with a `unique_key` already pending or running,
    /// returns that job's id and `false`.
    pub async fn submit(&self, job: &NewJob, actor: Actor) -> Result<(i64, bool)> {
        job.validate()?;
        if let Some(key) = &job.unique_key {
            let existing: Option<i64> = with_db!(self.store.pool(), p => sqlx::query_scalar(
                "SELECT id FROM ingest_job WHERE unique_key = $1 AND state IN ('pending', 'running')")
                .bind(key).fetch_optional(p).await)?;
            if let Some(id) = existing {
                return Ok((id, false));
            }
        }
        let now = now_ms();
        let mut tx = self.store.begin(actor).await?;
        let inserted: std::result::Result<i64, sqlx::Error> = efir_store::with_tx!(tx, c => sqlx::query_scalar(
            "INSERT INTO ingest_job (pipeline, payload, priority, max_attempts, unique_key, run_at_ms, \
             dry_run, import_only, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id")
            .bind(&job.pipeline)
            .bind(payload_text(&job.payload))
            .bind(job.priority)
            .bind(job.max_attempts)
            .bind(&job.unique_key)
            .bind(job.run_at_ms.unwrap_or(now))
            .bind(job.dry_run)
            .bind(job.import_only)
            .bind(now)
            .fetch_one(c).await);
        let id = match inserted {
            Ok(id) => id,
            Err(e) => {
                if job.unique_key.is_some() && is_unique_violation(&e) {
                    drop(tx);
                    // Lost a race with another submitter of the same key.
                    let key = job.unique_key.as_deref().unwrap_or_default();
                    let id: i64 = with_db!(self.store.pool(), p => sqlx::query_scalar(
                        "SELECT id FROM ingest_job WHERE unique_key = $1 AND state IN ('pending', 'running')")
                        .bind(key).fetch_one(p).await)?;
                    return Ok((id, false));
                }
                return Err(StoreError::from(e).into());
            }
        };
        tx.mark_changed("ingest_job");
        tx.audit(
            None,
            "ingest.job.submit",
            "ingest_job",
            Some(id.to_string()),
            serde_json::json!({ "pipeline": job.pipeline, "dry_run": job.dry_run, "import_only": job.import_only }),
        )
        .await?;
        tx.commit().await?;
        self.notify().await;
        Ok((id, true))
    }

    /// Submits many jobs in one transaction (no uniqueness keys); returns
    /// how many.
    pub async fn submit_many(&self, jobs: &[NewJob], actor: Actor) -> Result<usize> {
        for j in jobs {
            j.validate()?;
            if j.unique_key.is_some() {
                return Err(QueueError::Invalid(
                    "submit jobs with a unique_key one at a time".into(),
                ));
            }
        }
        let now = now_ms();
        let mut tx = self.store.begin(actor).await?;
        for chunk in jobs.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO ingest_job (pipeline, payload, priority, max_attempts, run_at_ms, \
                 dry_run, import_only, created_ms, updated_ms) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 7;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, $0, $0)",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                ));
            }
            let now_param = format!("${}", chunk.len() * 7 + 1);
            let sql = sql.replace("$0", &now_param);
            efir_store::with_tx!(tx, c => {
                let mut q = sqlx::query(&sql);
                for j in chunk {
                    q = q
                        .bind(&j.pipeline)
                        .bind(payload_text(&j.payload))
                        .bind(j.priority)
                        .bind(j.max_attempts)
                        .bind(j.run_at_ms.unwrap_or(now))
                        .bind(j.dry_run)
                        .bind(j.import_only);
                }
                q.bind(now).execute(c).await.map(|r| r.rows_affected())
            })?;
        }
        tx.mark_changed("ingest_job");
        tx.audit(
            None,
            "ingest.job.submit_many",
            "ingest_job",
            None,
            serde_json::json!({ "count": jobs.len() }),
        )
        .await?;
        tx.commit().await?;
        self.notify().await;
        Ok(jobs.len())
    }

    /// One job.
    pub async fn get(&self, id: i64) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM ingest_job WHERE id = $1");
        Ok(
            with_db!(self.store.pool(), p => sqlx::query_as::<_, Job>(&sql).bind(id).fetch_optional(p).await)?,
        )
    }

    /// Jobs, newest first.
    pub async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        if let Some(s) = &filter.state {
            if !STATES.contains(&s.as_str()) {
                return Err(QueueError::Invalid(format!(
                    "unknown state `{s}`; one of {}",
                    STATES.join(", ")
                )));
            }
        }
        let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM ingest_job WHERE ($1 IS NULL OR state = $1) \
             AND ($2 IS NULL OR pipeline = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        Ok(
            with_db!(self.store.pool(), p => sqlx::query_as::<_, Job>(&sql)
            .bind(&filter.state).bind(&filter.pipeline).bind(filter.before).bind(limit)
            .fetch_all(p).await)?,
        )
    }

    /// Jobs changed at or after `since_ms` (for live feeds), oldest change
    /// first.
    pub async fn changed_since(&self, since_ms: i64, limit: i64) -> Result<Vec<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM ingest_job WHERE updated_ms >= $1 ORDER BY updated_ms, id LIMIT $2"
        );
        Ok(
            with_db!(self.store.pool(), p => sqlx::query_as::<_, Job>(&sql)
            .bind(since_ms).bind(limit).fetch_all(p).await)?,
        )
    }

    /// Counts of jobs by state.
    pub async fn counts(&self) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = with_db!(self.store.pool(), p => sqlx::query_as(
            "SELECT state, COUNT(*) FROM ingest_job GROUP BY state").fetch_all(p).await)?;
        Ok(rows.into_iter().collect())
    }

    /// Cancels a job: a pending one at once; a running one is flagged and
    /// its worker stops it at its next heartbeat. Returns the new state.
    pub async fn cancel(&self, id: i64, actor: Actor) -> Result<String> {
        let job = self.get(id).await?.ok_or(QueueError::NoJob(id))?;
        let now = now_ms();
        let (sql, new_state) = match job.state.as_str() {
            "pending" => (
                "UPDATE ingest_job SET state = 'cancelled', finished_ms = $2, updated_ms = $2, \
                 error = 'cancelled by an operator' WHERE id = $1 AND state = 'pending'",
                "cancelled",
            ),
            "running" => (
                "UPDATE ingest_job SET cancel_requested = TRUE, updated_ms = $2 \
                 WHERE id = $1 AND state = 'running'",
                "running",
            ),
            other => {
                return Err(QueueError::State {
                    id,
                    state: other.to_string(),
                    why: "only pending or running jobs can be cancelled",
                })
            }
        };
        let mut tx = self.store.begin(actor).await?;
        let n = efir_store::with_tx!(tx, c => sqlx::query(sql).bind(id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        commit_operator_change(tx, n, id, "ingest.job.cancel", &job.state).await?;
        Ok(new_state.to_string())
    }

    /// Runs a failed, dead or cancelled job again, with a fresh budget of
    /// attempts.
    pub async fn retry(&self, id: i64, actor: Actor) -> Result<()> {
        let job = self.get(id).await?.ok_or(QueueError::NoJob(id))?;
        if !matches!(job.state.as_str(), "failed" | "dead" | "cancelled") {
            return Err(QueueError::State {
                id,
                state: job.state,
                why: "only failed, dead or cancelled jobs can be retried",
            });
        }
        let now = now_ms();
        let budget = default_attempts().max(1);
        let mut tx = self.store.begin(actor).await?;
        let n = efir_store::with_tx!(tx, c => sqlx::query(
            "UPDATE ingest_job SET state = 'pending', run_at_ms = $2, updated_ms = $2, \
             max_attempts = attempt + $3, error = NULL, result = NULL, finished_ms = NULL, \
             cancel_requested = FALSE, progress = 0, activity = '' \
             WHERE id = $1 AND state IN ('failed', 'dead', 'cancelled')")
            .bind(id).bind(now).bind(budget).execute(c).await.map(|r| r.rows_affected()));
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                if is_unique_violation(&e) {
                    return Err(QueueError::State {
                        id,
                        state: job.state,
                        why: "another job with its unique key is pending or running",
                    });
                }
                return Err(StoreError::from(e).into());
            }
        };
        commit_operator_change(tx, n, id, "ingest.job.retry", &job.state).await?;
        self.notify().await;
        Ok(())
    }

    // ------------------------------------------------------------ workers

    /// Registers a worker process; returns its id.
    pub async fn register(&self, w: &WorkerInfo) -> Result<i64> {
        let now = now_ms();
        let id: i64 = with_db!(self.store.pool(), p => sqlx::query_scalar(
            "INSERT INTO ingest_worker (name, host, pid, slots, capabilities, runnable, mounts_ok, \
             mount_error, state, registered_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9) RETURNING id")
            .bind(&w.name).bind(&w.host).bind(w.pid).bind(w.slots)
            .bind(w.capabilities.to_string()).bind(w.runnable.join(","))
            .bind(w.mounts_ok).bind(&w.mount_error).bind(now)
            .fetch_one(p).await)?;
        Ok(id)
    }

    /// A worker stopping cleanly (its running jobs, if any, are requeued by
    /// the next [`Queue::reap`]).
    pub async fn unregister(&self, worker: i64) -> Result<()> {
        let now = now_ms();
        with_db!(self.store.pool(), p => sqlx::query(
            "UPDATE ingest_worker SET state = 'stopped', last_seen_ms = $2, running = 0 \
             WHERE id = $1 AND state = 'active'")
            .bind(worker).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
        self.reap_worker_jobs(&[worker], "its worker stopped")
            .await?;
        Ok(())
    }

    /// Records a heartbeat and renews the worker's leases.
    pub async fn heartbeat(
        &self,
        worker: i64,
        lease_ms: i64,
        hb: &Heartbeat,
    ) -> Result<HeartbeatReply> {
        let now = now_ms();
        let alive = with_db!(self.store.pool(), p => sqlx::query(
            "UPDATE ingest_worker SET last_seen_ms = $2, runnable = $3, mounts_ok = $4, \
             mount_error = $5, running = $6 WHERE id = $1 AND state = 'active'")
            .bind(worker).bind(now).bind(hb.runnable.join(",")).bind(hb.mounts_ok)
            .bind(&hb.mount_error).bind(hb.leases.len() as i64)
            .execute(p).await.map(|r| r.rows_affected()))?
            == 1;
        let mut reply = HeartbeatReply {
            alive,
            ..HeartbeatReply::default()
        };
        if !alive {
            reply.fenced = hb.leases.iter().map(|(l, _, _)| *l).collect();
            return Ok(reply);
        }
        for (lease, progress, activity) in &hb.leases {
            let cancel: Option<bool> = with_db!(self.store.pool(), p => sqlx::query_scalar(
                "UPDATE ingest_job SET lease_expires_ms = $4, progress = $5, activity = $6, updated_ms = $7 \
                 WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'running' \
                 RETURNING cancel_requested")
                .bind(lease.job).bind(lease.attempt).bind(lease.worker)
                .bind(now + lease_ms).bind(progress.clamp(0.0, 1.0)).bind(activity)
                .bind(now)
                .fetch_optional(p).await)?;
            match cancel {
                None => reply.fenced.push(*lease),
                Some(true) => reply.cancel.push(*lease),
                Some(false) => {}
            }
        }
        Ok(reply)
    }

    /// Claims up to `n` pending jobs of the `runnable` pipelines for
    /// `worker`, each under a new lease of `lease_ms`.
    pub async fn claim(
        &self,
        worker: i64,
        runnable: &[String],
        n: usize,
        lease_ms: i64,
    ) -> Result<Vec<Claim>> {
        if runnable.is_empty() || n == 0 {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let n = n.min(1000) as i64;
        let names = serde_json::to_string(runnable).unwrap_or_else(|_| "[]".into());
        let set = "state = 'running', attempt = attempt + 1, worker_id = $1, \
                   lease_expires_ms = $2, started_ms = COALESCE(started_ms, $3), updated_ms = $3, \
                   progress = 0, activity = ''";
        let jobs: Vec<Job> = match self.store.pool() {
            Pool::Postgres(p) => {
                let sql = format!(
                    "UPDATE ingest_job SET {set} WHERE id IN (SELECT id FROM ingest_job \
                     WHERE state = 'pending' AND run_at_ms <= $3 \
                     AND pipeline IN (SELECT jsonb_array_elements_text($4::jsonb)) \
                     ORDER BY priority, run_at_ms, id LIMIT $5 FOR UPDATE SKIP LOCKED) \
                     RETURNING {JOB_COLUMNS}"
                );
                let mut tx = p.begin().await?;
                let jobs: Vec<Job> = sqlx::query_as(&sql)
                    .bind(worker)
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(&names)
                    .bind(n)
                    .fetch_all(&mut *tx)
                    .await?;
                if !jobs.is_empty() {
                    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
                    let attempts: Vec<i64> = jobs.iter().map(|j| j.attempt).collect();
                    sqlx::query(
                        "INSERT INTO ingest_attempt (job_id, attempt, worker_id, started_ms) \
                         SELECT j, a, $3, $4 FROM unnest($1::bigint[], $2::bigint[]) AS t(j, a)",
                    )
                    .bind(&ids)
                    .bind(&attempts)
                    .bind(worker)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                jobs
            }
            Pool::Sqlite(p) => {
                let sql = format!(
                    "UPDATE ingest_job SET {set} WHERE id IN (SELECT id FROM ingest_job \
                     WHERE state = 'pending' AND run_at_ms <= $3 \
                     AND pipeline IN (SELECT value FROM json_each($4)) \
                     ORDER BY priority, run_at_ms, id LIMIT $5) RETURNING {JOB_COLUMNS}"
                );
                let mut tx = p.begin().await?;
                let jobs: Vec<Job> = sqlx::query_as(&sql)
                    .bind(worker)
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(&names)
                    .bind(n)
                    .fetch_all(&mut *tx)
                    .await?;
                for j in &jobs {
                    sqlx::query(
                        "INSERT INTO ingest_attempt (job_id, attempt, worker_id, started_ms) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(j.id)
                    .bind(j.attempt)
                    .bind(worker)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                jobs
            }
        };
        let mut claims: Vec<Claim> = jobs
            .into_iter()
            .map(|job| Claim {
                lease: LeaseKey {
                    job: job.id,
                    attempt: job.attempt,
                    worker,
                },
                job,
            })
            .collect();
        claims.sort_by_key(|c| (c.job.priority, c.job.run_at_ms, c.job.id));
        Ok(claims)
    }

    /// Writes a log line under a lease; `false` (nothing written) when the
    /// lease is gone.
    pub async fn log(&self, lease: &LeaseKey, level: &str, message: &str) -> Result<bool> {
        let message: String = message.chars().take(4000).collect();
        let n = with_db!(self.store.pool(), p => sqlx::query(
            "INSERT INTO ingest_log (job_id, attempt, at_ms, level, message) \
             SELECT id, attempt, $4, $5, $6 FROM ingest_job \
             WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'running'")
            .bind(lease.job).bind(lease.attempt).bind(lease.worker)
            .bind(now_ms()).bind(level).bind(&message)
            .execute(p).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// A job's log lines `(attempt, at_ms, level, message)`.
    pub async fn logs(&self, job: i64) -> Result<Vec<(i64, i64, String, String)>> {
        Ok(with_db!(self.store.pool(), p => sqlx::query_as(
            "SELECT attempt, at_ms, level, message FROM ingest_log WHERE job_id = $1 ORDER BY id")
            .bind(job).fetch_all(p).await)?)
    }

    /// A job's registered steps.
    pub async fn steps(&self, job: i64) -> Result<Vec<StepRecord>> {
        let rows: Vec<(String, String, i64, i64, String, Option<String>)> = with_db!(self.store.pool(), p => sqlx::query_as(
            "SELECT name, state, started_ms, finished_ms, output, error FROM ingest_step \
             WHERE job_id = $1 ORDER BY attempt, idx")
            .bind(job).fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(
                |(name, state, started_ms, finished_ms, output, error)| StepRecord {
                    name,
                    state,
                    started_ms,
                    finished_ms,
                    output: serde_json::from_str(&output).unwrap_or(serde_json::Value::Null),
                    error,
                },
            )
            .collect())
    }

    /// A job's attempts `(attempt, worker_id, started_ms, finished_ms, outcome, error)`.
    pub async fn attempts(
        &self,
        job: i64,
    ) -> Result<Vec<(i64, i64, i64, Option<i64>, String, Option<String>)>> {
        Ok(with_db!(self.store.pool(), p => sqlx::query_as(
            "SELECT attempt, worker_id, started_ms, finished_ms, outcome, error FROM ingest_attempt \
             WHERE job_id = $1 ORDER BY attempt")
            .bind(job).fetch_all(p).await)?)
    }

    /// Registers how an attempt ended, only under its current lease;
    /// `false` when the lease is gone (the result is discarded).
    pub async fn finish(&self, lease: &LeaseKey, outcome: &Outcome) -> Result<bool> {
        self.finish_with(lease, outcome, || Ok(())).await
    }

    /// [`Queue::finish`], running `before_commit` (moving the attempt's
    /// outputs into place) while the job's row is held, so that it runs
    /// only for the current lease and no other attempt can register in
    /// between. When it fails, nothing is registered and its error is
    /// returned as [`QueueError::Invalid`].
    pub async fn finish_with(
        &self,
        lease: &LeaseKey,
        outcome: &Outcome,
        before_commit: impl FnOnce() -> std::result::Result<(), String>,
    ) -> Result<bool> {
        let now = now_ms();
        let job: Option<(i64, i64)> = with_db!(self.store.pool(), p => sqlx::query_as(
            "SELECT attempt, max_attempts FROM ingest_job \
             WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'running'")
            .bind(lease.job).bind(lease.attempt).bind(lease.worker).fetch_optional(p).await)?;
        let Some((attempt, max_attempts)) = job else {
            return Ok(false);
        };
        let (state, result, error, run_at, steps, attempt_outcome) = match outcome {
            Outcome::Succeeded { result, steps } => (
                "succeeded",
                Some(result.to_string()),
                None,
                None,
                steps,
                "succeeded",
            ),
            Outcome::Failed {
                error,
                retry,
                steps,
            } => {
                if *retry && attempt < max_attempts {
                    (
                        "pending",
                        None,
                        Some(error.clone()),
                        Some(now + backoff_ms(attempt)),
                        steps,
                        "failed",
                    )
                } else if *retry {
                    ("dead", None, Some(error.clone()), None, steps, "failed")
                } else {
                    ("failed", None, Some(error.clone()), None, steps, "failed")
                }
            }
            Outcome::Cancelled { steps } => (
                "cancelled",
                None,
                Some("cancelled by an operator".to_string()),
                None,
                steps,
                "cancelled",
            ),
        };
        let finished = if state == "pending" { None } else { Some(now) };
        let attempt_error = error.clone();
        let accepted = with_db!(self.store.pool(), p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE ingest_job SET state = $4, result = $5, error = $6, \
                 run_at_ms = COALESCE($7, run_at_ms), finished_ms = $8, updated_ms = $9, \
                 worker_id = NULL, lease_expires_ms = NULL, \
                 progress = CASE WHEN $4 = 'succeeded' THEN 1.0 ELSE progress END, \
                 activity = '' \
                 WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'running'")
                .bind(lease.job).bind(lease.attempt).bind(lease.worker)
                .bind(state).bind(&result).bind(&error).bind(run_at).bind(finished).bind(now)
                .execute(&mut *tx).await?
                .rows_affected();
            if n == 1 {
                sqlx::query(
                    "UPDATE ingest_attempt SET finished_ms = $3, outcome = $4, error = $5 \
                     WHERE job_id = $1 AND attempt = $2")
                    .bind(lease.job).bind(lease.attempt).bind(now).bind(attempt_outcome)
                    .bind(&attempt_error)
                    .execute(&mut *tx).await?;
                for (i, s) in steps.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO ingest_step (job_id, attempt, idx, name, state, started_ms, \
                         finished_ms, output, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                        .bind(lease.job).bind(lease.attempt).bind(i as i64).bind(&s.name)
                        .bind(&s.state).bind(s.started_ms).bind(s.finished_ms)
                        .bind(s.output.to_string()).bind(&s.error)
                        .execute(&mut *tx).await?;
                }
                if let Err(e) = before_commit() {
                    tx.rollback().await?;
                    return Err(QueueError::Invalid(e));
                }
                tx.commit().await?;
                true
            } else {
                tx.rollback().await?;
                false
            }
        });
        if accepted && state == "pending" {
            self.notify().await;
        }
        Ok(accepted)
    }

    /// Registers the success of many no-result attempts of one worker at
    /// once (the no-op pipeline); returns how many were accepted.
    pub async fn finish_many_ok(&self, leases: &[LeaseKey]) -> Result<usize> {
        if leases.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        match self.store.pool() {
            Pool::Postgres(p) => {
                let ids: Vec<i64> = leases.iter().map(|l| l.job).collect();
                let attempts: Vec<i64> = leases.iter().map(|l| l.attempt).collect();
                let workers: Vec<i64> = leases.iter().map(|l| l.worker).collect();
                let mut tx = p.begin().await?;
                let done: Vec<(i64, i64)> = sqlx::query_as(
                    "UPDATE ingest_job AS j SET state = 'succeeded', result = '{}', finished_ms = $4, \
                     updated_ms = $4, worker_id = NULL, lease_expires_ms = NULL, progress = 1.0, activity = '' \
                     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS t(id, attempt, worker) \
                     WHERE j.id = t.id AND j.attempt = t.attempt AND j.worker_id = t.worker \
                     AND j.state = 'running' RETURNING j.id, j.attempt",
                )
                .bind(&ids)
                .bind(&attempts)
                .bind(&workers)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
                let (ids, attempts): (Vec<i64>, Vec<i64>) = done.iter().copied().unzip();
                sqlx::query(
                    "UPDATE ingest_attempt AS a SET finished_ms = $3, outcome = 'succeeded' \
                     FROM unnest($1::bigint[], $2::bigint[]) AS t(id, attempt) \
                     WHERE a.job_id = t.id AND a.attempt = t.attempt",
                )
                .bind(&ids)
                .bind(&attempts)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.len())
            }
            Pool::Sqlite(_) => {
                let mut n = 0;
                for l in leases {
                    let ok = Outcome::Succeeded {
                        result: serde_json::json!({}),
                        steps: Vec::new(),
                    };
                    if self.finish(l, &ok).await? {
                        n += 1;
                    }
                }
                Ok(n)
            }
        }
    }

    // ---------------------------------------------------------- dispatcher

    /// Marks workers silent for `worker_timeout_ms` lost, and puts the jobs
    /// of lost or stopped workers and of lapsed leases back to pending (or
    /// `dead` when their attempts are used up).
    pub async fn reap(&self, worker_timeout_ms: i64) -> Result<Reaped> {
        let now = now_ms();
        let lost: Vec<i64> = with_db!(self.store.pool(), p => sqlx::query_scalar(
            "UPDATE ingest_worker SET state = 'lost', lost_ms = $1 \
             WHERE state = 'active' AND last_seen_ms < $2 RETURNING id")
            .bind(now).bind(now - worker_timeout_ms).fetch_all(p).await)?;
        for w in &lost {
            tracing::warn!(
                worker = w,
                "ingest worker lost (no heartbeat); requeueing its jobs"
            );
        }
        // Running jobs whose lease lapsed or whose worker is not active.
        let stale: Vec<i64> = with_db!(self.store.pool(), p => sqlx::query_scalar(
            "SELECT j.id FROM ingest_job j LEFT JOIN ingest_worker w ON w.id = j.worker_id \
             WHERE j.state = 'running' AND (j.lease_expires_ms < $1 OR w.id IS NULL OR w.state <> 'active')")
            .bind(now).fetch_all(p).await)?;
        let mut out = self.requeue(&stale, "its worker was lost").await?;
        out.workers_lost = lost;
        Ok(out)
    }

    async fn reap_worker_jobs(&self, workers: &[i64], why: &str) -> Result<Reaped> {
        let mut ids = Vec::new();
        for w in workers {
            let mine: Vec<i64> = with_db!(self.store.pool(), p => sqlx::query_scalar(
                "SELECT id FROM ingest_job WHERE worker_id = $1 AND state = 'running'")
                .bind(w).fetch_all(p).await)?;
            ids.extend(mine);
        }
        self.requeue(&ids, why).await
    }

    async fn requeue(&self, ids: &[i64], why: &str) -> Result<Reaped> {
        let mut out = Reaped::default();
        let now = now_ms();
        for &id in ids {
            let done = with_db!(self.store.pool(), p => {
                let mut tx = p.begin().await?;
                let row: Option<(i64, i64, Option<i64>, bool)> = sqlx::query_as(
                    "SELECT attempt, max_attempts, worker_id, cancel_requested FROM ingest_job \
                     WHERE id = $1 AND state = 'running'")
                    .bind(id).fetch_optional(&mut *tx).await?;
                let Some((attempt, max, _worker, cancel)) = row else {
                    tx.rollback().await?;
                    continue;
                };
                let (state, error) = if cancel {
                    ("cancelled", "cancelled by an operator (its worker was lost)".to_string())
                } else if attempt >= max {
                    ("dead", format!("{why}; all {max} attempts used"))
                } else {
                    ("pending", format!("attempt {attempt}: {why}"))
                };
                let finished = (state != "pending").then_some(now);
                sqlx::query(
                    "UPDATE ingest_job SET state = $2, error = $3, worker_id = NULL, \
                     lease_expires_ms = NULL, run_at_ms = $4, finished_ms = $5, updated_ms = $4, activity = '' \
                     WHERE id = $1 AND state = 'running' AND attempt = $6")
                    .bind(id).bind(state).bind(&error).bind(now).bind(finished).bind(attempt)
                    .execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE ingest_attempt SET finished_ms = $3, outcome = 'lost', error = $4 \
                     WHERE job_id = $1 AND attempt = $2")
                    .bind(id).bind(attempt).bind(now).bind(why)
                    .execute(&mut *tx).await?;
                tx.commit().await?;
                state
            });
            match done {
                "pending" => out.requeued.push(id),
                "dead" => out.dead.push(id),
                _ => {}
            }
        }
        if !out.requeued.is_empty() {
            self.notify().await;
        }
        Ok(out)
    }

    /// Workers, newest first (`all`: also lost and stopped ones).
    pub async fn workers(&self, all: bool) -> Result<Vec<Worker>> {
        let sql = if all {
            "SELECT * FROM ingest_worker ORDER BY id DESC LIMIT 200"
        } else {
            "SELECT * FROM ingest_worker WHERE state = 'active' ORDER BY id DESC"
        };
        Ok(with_db!(self.store.pool(), p => sqlx::query_as::<_, Worker>(sql).fetch_all(p).await)?)
    }

    /// Forgets lost and stopped workers and old log lines: maintenance.
    pub async fn prune(&self, older_than_ms: i64) -> Result<u64> {
        let cutoff = now_ms() - older_than_ms;
        let n = with_db!(self.store.pool(), p => sqlx::query(
            "DELETE FROM ingest_worker WHERE state <> 'active' AND last_seen_ms < $1 \
             AND NOT EXISTS (SELECT 1 FROM ingest_job j WHERE j.worker_id = ingest_worker.id)")
            .bind(cutoff).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Wakes waiting workers (PostgreSQL `NOTIFY efir_ingest`).
    async fn notify(&self) {
        if let Pool::Postgres(p) = self.store.pool() {
            let _ = sqlx::query("SELECT pg_notify($1, '')")
                .bind(NOTIFY_CHANNEL)
                .execute(p)
                .await;
        }
    }
}

/// Ends an operator's change of one job: refuses when the job changed
/// meanwhile (`n == 0`), else audits and commits.
async fn commit_operator_change(
    mut tx: efir_store::Tx,
    n: u64,
    id: i64,
    action: &str,
    was: &str,
) -> Result<()> {
    if n == 0 {
        return Err(QueueError::State {
            id,
            state: "changed".into(),
            why: "its state changed meanwhile; try again",
        });
    }
    tx.mark_changed("ingest_job");
    tx.audit(
        None,
        action,
        "ingest_job",
        Some(id.to_string()),
        serde_json::json!({ "was": was }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn payload_text(v: &serde_json::Value) -> String {
    if v.is_null() {
        "{}".into()
    } else {
        v.to_string()
    }
}
