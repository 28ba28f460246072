//! A worker node (`efir worker`): registers with its capabilities, claims
//! jobs of the pipelines it can run into its slots, runs them, beats its
//! heart, and obeys the lease rule.
//!
//! - Before each claim and with each heartbeat it checks its mounts; while
//!   one is missing it claims nothing (and says why in its heartbeat), so a
//!   broken node never swallows jobs.
//! - When its heartbeat reports it lost (it was paused or cut off for
//!   longer than a lease), it cancels every job (killing their process
//!   groups), throws their outputs away and registers again.
//! - While the database is unreachable its jobs keep running; their results
//!   are registered when it returns, if their leases still hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::farm::Farm;
use crate::hotfolder::{Claimed, HotFolder};
use crate::media::Tools;
use crate::pipeline::{self, Attempt, Live, Tool};
use crate::queue::{Claim, Heartbeat, LeaseKey, Outcome, Queue, WorkerInfo};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Name shown to operators.
    pub name: String,
    /// Jobs at once.
    pub slots: usize,
}

/// Counter of finished attempts: `efir_ingest_jobs_finished_total{pipeline, outcome}`.
pub const FINISHED: &str = "efir_ingest_jobs_finished_total";
/// Counter of started attempts: `efir_ingest_jobs_started_total{pipeline}`.
pub const STARTED: &str = "efir_ingest_jobs_started_total";
/// Histogram of attempt durations: `efir_ingest_job_seconds{pipeline}`.
pub const DURATION: &str = "efir_ingest_job_seconds";

struct Running {
    cancel: CancellationToken,
    live: Arc<Mutex<Live>>,
    /// The lease is gone: discard.
    fenced: Arc<AtomicBool>,
    /// An operator cancelled it.
    operator: Arc<AtomicBool>,
}

struct Shared {
    queue: Queue,
    farm: Arc<Farm>,
    tools: Option<Tools>,
    has_pdftoppm: bool,
    worker_id: AtomicI64,
    running: Mutex<HashMap<LeaseKey, Running>>,
    slot_freed: Notify,
    runnable: Mutex<(Vec<String>, Option<String>)>,
    shutdown: CancellationToken,
}

impl Shared {
    fn lease_ms(&self) -> i64 {
        self.farm.lease.as_millis() as i64
    }

    /// Pipelines this node can run now, and the mount problem if any.
    fn assess(&self) -> (Vec<String>, Option<String>) {
        if let Err(e) = self.farm.check_mounts() {
            return (Vec::new(), Some(e));
        }
        let names = self
            .farm
            .pipelines
            .iter()
            .filter(|p| {
                p.tools().iter().all(|t| match t {
                    Tool::Ffmpeg => self.tools.is_some(),
                    Tool::Pdftoppm => self.has_pdftoppm,
                })
            })
            .map(|p| p.name.clone())
            .collect();
        (names, None)
    }

    fn info(&self, opts: &WorkerOptions) -> WorkerInfo {
        let (runnable, mount_error) = self.assess();
        let mut tools = serde_json::Map::new();
        if let Some(t) = &self.tools {
            for (k, v) in t.versions() {
                tools.insert(k, json!(v));
            }
        }
        if self.has_pdftoppm {
            tools.insert("pdftoppm".into(), json!(true));
        }
        WorkerInfo {
            name: opts.name.clone(),
            host: hostname(),
            pid: i64::from(std::process::id()),
            slots: opts.slots as i64,
            capabilities: json!({ "tools": tools, "mounts": self.farm.mounts }),
            runnable,
            mounts_ok: mount_error.is_none(),
            mount_error,
        }
    }
}

fn hostname() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

async fn has_tool(name: &str, arg: &str) -> bool {
    tokio::process::Command::new(name)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok()
}

/// Runs a worker until `shutdown`; then cancels its jobs (they are
/// requeued at once) and unregisters.
pub async fn run(queue: Queue, farm: Arc<Farm>, opts: WorkerOptions, shutdown: CancellationToken) {
    let tools = Tools::detect().await.ok();
    let has_pdftoppm = has_tool("pdftoppm", "-v").await;
    let shared = Arc::new(Shared {
        queue,
        farm,
        tools,
        has_pdftoppm,
        worker_id: AtomicI64::new(0),
        running: Mutex::new(HashMap::new()),
        slot_freed: Notify::new(),
        runnable: Mutex::new((Vec::new(), None)),
        shutdown: shutdown.clone(),
    });
    let Some(id) = register(&shared, &opts).await else {
        return;
    };
    tracing::info!(
        worker = id,
        name = %opts.name,
        slots = opts.slots,
        ffmpeg = shared.tools.is_some(),
        pdftoppm = shared.has_pdftoppm,
        "ingest worker registered"
    );
    let wake = Arc::new(Notify::new());
    if let efir_store::Pool::Postgres(pool) = shared.queue.store().pool() {
        let (pool, wake, shutdown) = (pool.clone(), wake.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = efir_store::notify::wake_on_notify(pool, crate::queue::NOTIFY_CHANNEL, wake) => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
    let beat = tokio::spawn(heartbeat_loop(shared.clone(), opts.clone()));
    let mut backoff = Duration::from_millis(500);
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let free = opts
            .slots
            .saturating_sub(shared.running.lock().map(|r| r.len()).unwrap_or(0));
        let runnable = shared
            .runnable
            .lock()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let mut claimed_any = false;
        if free > 0 && !runnable.is_empty() {
            let worker = shared.worker_id.load(Ordering::SeqCst);
            match shared
                .queue
                .claim(worker, &runnable, free, shared.lease_ms())
                .await
            {
                Ok(claims) => {
                    backoff = Duration::from_millis(500);
                    claimed_any = !claims.is_empty();
                    let (instant, real): (Vec<Claim>, Vec<Claim>) = claims
                        .into_iter()
                        .partition(|c| is_instant(&shared.farm, c));
                    for c in real {
                        start_job(&shared, c);
                    }
                    if !instant.is_empty() {
                        finish_instant(&shared, instant).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "ingest worker: cannot claim jobs");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
        }
        if claimed_any && free > 0 {
            // There may be more: look again at once.
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = shared.slot_freed.notified() => {}
            _ = tokio::time::sleep(shared.farm.poll) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    // Shutdown: stop the jobs, give them a moment, hand them back.
    let tokens: Vec<CancellationToken> = shared
        .running
        .lock()
        .map(|r| r.values().map(|j| j.cancel.clone()).collect())
        .unwrap_or_default();
    for t in tokens {
        t.cancel();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && shared
            .running
            .lock()
            .map(|r| !r.is_empty())
            .unwrap_or(false)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    beat.abort();
    let id = shared.worker_id.load(Ordering::SeqCst);
    if let Err(e) = shared.queue.unregister(id).await {
        tracing::warn!(error = %e, "ingest worker: could not unregister");
    }
    tracing::info!(worker = id, "ingest worker stopped");
}

/// Registers (again), retrying while the database is unreachable.
async fn register(shared: &Arc<Shared>, opts: &WorkerOptions) -> Option<i64> {
    let mut backoff = Duration::from_millis(500);
    loop {
        let info = shared.info(opts);
        if let Ok(mut r) = shared.runnable.lock() {
            *r = (info.runnable.clone(), info.mount_error.clone());
        }
        match shared.queue.register(&info).await {
            Ok(id) => {
                shared.worker_id.store(id, Ordering::SeqCst);
                if let Some(e) = &info.mount_error {
                    tracing::warn!(worker = id, problem = %e, "ingest worker refuses work until its mounts are back");
                }
                return Some(id);
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "ingest worker: cannot register");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shared.shutdown.cancelled() => return None,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn heartbeat_loop(shared: Arc<Shared>, opts: WorkerOptions) {
    let mut failing_since: Option<Instant> = None;
    let mut last_problem: Option<String> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.farm.heartbeat) => {}
            _ = shared.shutdown.cancelled() => return,
        }
        let (runnable, problem) = shared.assess();
        if problem != last_problem {
            match &problem {
                Some(p) => {
                    tracing::warn!(problem = %p, "ingest worker refuses work: a mount is missing")
                }
                None => tracing::info!("ingest worker mounts are back; taking work again"),
            }
            last_problem = problem.clone();
        }
        if let Ok(mut r) = shared.runnable.lock() {
            *r = (runnable.clone(), problem.clone());
        }
        let leases: Vec<(LeaseKey, f64, String)> = shared
            .running
            .lock()
            .map(|r| {
                r.iter()
                    .map(|(k, j)| {
                        let (p, a) = j
                            .live
                            .lock()
                            .map(|l| (l.progress, l.activity.clone()))
                            .unwrap_or_default();
                        (*k, p, a)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let hb = Heartbeat {
            runnable,
            mounts_ok: problem.is_none(),
            mount_error: problem,
            leases,
        };
        let worker = shared.worker_id.load(Ordering::SeqCst);
        match shared.queue.heartbeat(worker, shared.lease_ms(), &hb).await {
            Ok(reply) => {
                if let Some(since) = failing_since.take() {
                    tracing::info!(after = ?since.elapsed(), "ingest worker reached the database again");
                }
                let stop = |keys: &[LeaseKey], operator: bool| {
                    if let Ok(r) = shared.running.lock() {
                        for k in keys {
                            if let Some(j) = r.get(k) {
                                if operator {
                                    j.operator.store(true, Ordering::SeqCst);
                                } else {
                                    j.fenced.store(true, Ordering::SeqCst);
                                }
                                j.cancel.cancel();
                            }
                        }
                    }
                };
                if !reply.alive {
                    tracing::warn!(
                        worker,
                        jobs = reply.fenced.len(),
                        "ingest worker was marked lost: killing its jobs, discarding their results, registering again"
                    );
                    let all: Vec<LeaseKey> = shared
                        .running
                        .lock()
                        .map(|r| r.keys().copied().collect())
                        .unwrap_or_default();
                    stop(&all, false);
                    if register(&shared, &opts).await.is_none() {
                        return;
                    }
                    continue;
                }
                if !reply.fenced.is_empty() {
                    tracing::warn!(leases = ?reply.fenced, "ingest worker: leases lost; stopping those jobs");
                    stop(&reply.fenced, false);
                }
                stop(&reply.cancel, true);
            }
            Err(e) => {
                if failing_since.is_none() {
                    failing_since = Some(Instant::now());
                    tracing::warn!(error = %e, "ingest worker cannot reach the database; jobs keep running");
                }
            }
        }
    }
}

/// A job with nothing to run (the no-op pipeline, no hot-folder file).
fn is_instant(farm: &Farm, c: &Claim) -> bool {
    farm.pipeline(&c.job.pipeline)
        .is_some_and(|p| p.steps.is_empty())
        && !c.job.payload.contains("\"hot_folder\"")
}

/// Registers a batch of instant jobs in one statement.
async fn finish_instant(shared: &Arc<Shared>, claims: Vec<Claim>) {
    let leases: Vec<LeaseKey> = claims.iter().map(|c| c.lease).collect();
    let mut backoff = Duration::from_millis(100);
    loop {
        match shared.queue.finish_many_ok(&leases).await {
            Ok(n) => {
                for c in &claims {
                    metrics::counter!(STARTED, "pipeline" => c.job.pipeline.clone()).increment(1);
                }
                if let Some(c) = claims.first() {
                    metrics::counter!(FINISHED, "pipeline" => c.job.pipeline.clone(), "outcome" => "succeeded")
                        .increment(n as u64);
                }
                return;
            }
            Err(e) => {
                if shared.shutdown.is_cancelled() {
                    return;
                }
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot register no-op results yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn start_job(shared: &Arc<Shared>, claim: Claim) {
    let running = Running {
        cancel: shared.shutdown.child_token(),
        live: Arc::new(Mutex::new(Live::default())),
        fenced: Arc::new(AtomicBool::new(false)),
        operator: Arc::new(AtomicBool::new(false)),
    };
    let handles = (
        running.cancel.clone(),
        running.live.clone(),
        running.fenced.clone(),
        running.operator.clone(),
    );
    if let Ok(mut r) = shared.running.lock() {
        r.insert(claim.lease, running);
    }
    metrics::counter!(STARTED, "pipeline" => claim.job.pipeline.clone()).increment(1);
    let shared = shared.clone();
    tokio::spawn(async move {
        let lease = claim.lease;
        run_job(&shared, claim, handles).await;
        if let Ok(mut r) = shared.running.lock() {
            r.remove(&lease);
        }
        shared.slot_freed.notify_one();
    });
}

type Handles = (
    CancellationToken,
    Arc<Mutex<Live>>,
    Arc<AtomicBool>,
    Arc<AtomicBool>,
);

async fn run_job(shared: &Arc<Shared>, claim: Claim, (cancel, live, fenced, operator): Handles) {
    let started = Instant::now();
    let job = &claim.job;
    let lease = claim.lease;
    let payload = job.payload_json();
    // An unknown pipeline fails; the no-op one has nothing to stage.
    let early = match shared.farm.pipeline(&job.pipeline) {
        None => Some(Outcome::Failed {
            error: format!("no pipeline named `{}` on this worker", job.pipeline),
            retry: false,
            steps: Vec::new(),
        }),
        Some(p) if p.steps.is_empty() => Some(Outcome::Succeeded {
            result: json!({}),
            steps: Vec::new(),
        }),
        Some(_) => None,
    };
    let pipeline = match (early, shared.farm.pipeline(&job.pipeline)) {
        (None, Some(p)) => p.clone(),
        (early, _) => {
            if let Some(outcome) = early {
                report(
                    shared,
                    &lease,
                    &job.pipeline,
                    outcome,
                    None,
                    &payload,
                    &fenced,
                )
                .await;
            }
            metrics::histogram!(DURATION, "pipeline" => job.pipeline.clone())
                .record(started.elapsed().as_secs_f64());
            return;
        }
    };
    let input = payload
        .get("input")
        .and_then(|v| v.as_str())
        .map(PathBuf::from)
        .unwrap_or_default();
    let original_name = payload
        .get("original_name")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(|| input.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let staging_of = |attempt: i64| {
        shared
            .farm
            .output_dir
            .join(".staging")
            .join(format!("job-{}-a{attempt}", job.id))
    };
    let staging = staging_of(lease.attempt);
    // This attempt's folder starts empty, and what earlier attempts of the
    // job left (a worker killed outright cannot clean up) goes.
    for earlier in 1..=lease.attempt {
        let _ = tokio::fs::remove_dir_all(staging_of(earlier)).await;
    }
    let attempt = Attempt {
        job: job.id,
        attempt: lease.attempt,
        input: input.clone(),
        original_name: original_name.clone(),
        staging: staging.clone(),
        dry_run: job.dry_run,
        import_only: job.import_only,
        cancel: cancel.clone(),
        live,
        tools: shared.tools.clone(),
    };
    let _ = shared
        .queue
        .log(
            &lease,
            "info",
            &format!(
                "attempt {} started on worker {}",
                lease.attempt, lease.worker
            ),
        )
        .await;
    let ran = if input.as_os_str().is_empty() || !input.is_absolute() {
        pipeline::Ran {
            steps: Vec::new(),
            result: json!({}),
            error: Some((
                "the job's payload has no absolute `input` path".into(),
                false,
            )),
            cancelled: false,
        }
    } else {
        if let Err(e) = tokio::fs::create_dir_all(&staging).await {
            tracing::warn!(error = %e, "cannot create the staging folder");
        }
        pipeline::run(&pipeline, &attempt).await
    };
    if fenced.load(Ordering::SeqCst) {
        let _ = tokio::fs::remove_dir_all(&staging).await;
        tracing::warn!(
            job = job.id,
            attempt = lease.attempt,
            "lease lost: outputs of this attempt discarded"
        );
        return;
    }
    if ran.cancelled && !operator.load(Ordering::SeqCst) {
        // Cancelled by shutdown: the job is handed back on unregister.
        let _ = tokio::fs::remove_dir_all(&staging).await;
        return;
    }
    let final_dir =
        shared
            .farm
            .output_dir
            .join(format!("{}-{}", safe_stem(&original_name), job.id));
    let outcome = if ran.cancelled {
        Outcome::Cancelled { steps: ran.steps }
    } else if let Some((error, retry)) = ran.error {
        let _ = shared.queue.log(&lease, "error", &error).await;
        Outcome::Failed {
            error,
            retry,
            steps: ran.steps,
        }
    } else {
        let mut result = ran.result;
        if let Some(obj) = result.as_object_mut() {
            obj.insert("output_dir".into(), json!(final_dir.display().to_string()));
        }
        Outcome::Succeeded {
            result,
            steps: ran.steps,
        }
    };
    let succeeded = matches!(outcome, Outcome::Succeeded { .. });
    let label = outcome.label();
    let move_to = succeeded.then(|| (staging.clone(), final_dir));
    report(
        shared,
        &lease,
        &job.pipeline,
        outcome,
        move_to,
        &payload,
        &fenced,
    )
    .await;
    let _ = tokio::fs::remove_dir_all(&staging).await;
    metrics::histogram!(DURATION, "pipeline" => job.pipeline.clone())
        .record(started.elapsed().as_secs_f64());
    tracing::info!(job = job.id, attempt = lease.attempt, outcome = label, took = ?started.elapsed(), "ingest job attempt ended");
}

/// Registers the outcome, retrying while the database is unreachable,
/// then finishes the hot-folder file of a job that reached its end.
async fn report(
    shared: &Arc<Shared>,
    lease: &LeaseKey,
    pipeline: &str,
    outcome: Outcome,
    move_to: Option<(PathBuf, PathBuf)>,
    payload: &serde_json::Value,
    fenced: &AtomicBool,
) {
    let label = outcome.label();
    let mut backoff = Duration::from_millis(250);
    let mut outcome = outcome;
    let accepted = loop {
        if fenced.load(Ordering::SeqCst) {
            break false;
        }
        let mover = move_to.clone();
        let res = shared
            .queue
            .finish_with(lease, &outcome, move || match mover {
                Some((from, to)) => move_outputs(&from, &to),
                None => Ok(()),
            })
            .await;
        match res {
            Ok(accepted) => break accepted,
            Err(crate::queue::QueueError::Invalid(why)) => {
                // The outputs could not be moved: register a failure.
                outcome = Outcome::Failed {
                    error: format!("cannot move the outputs into place: {why}"),
                    retry: true,
                    steps: Vec::new(),
                };
            }
            Err(e) => {
                tracing::warn!(job = lease.job, error = %e, retry_in = ?backoff, "cannot register a job's result yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    };
    if !accepted {
        tracing::warn!(
            job = lease.job,
            attempt = lease.attempt,
            "result refused: the lease is gone (another attempt owns the job)"
        );
        metrics::counter!(FINISHED, "pipeline" => pipeline.to_string(), "outcome" => "fenced")
            .increment(1);
        return;
    }
    metrics::counter!(FINISHED, "pipeline" => pipeline.to_string(), "outcome" => label)
        .increment(1);
    // The hot-folder file follows the job once it reached an end.
    let state = match shared.queue.get(lease.job).await {
        Ok(Some(j)) => j,
        _ => return,
    };
    finish_hot_file(&shared.farm, payload, &state.state, state.error.as_deref());
}

/// Moves a hot-folder job's file to `done/` or `failed/` once the job
/// reached an end (`succeeded`, `failed`, `dead`, `cancelled`).
pub fn finish_hot_file(farm: &Farm, payload: &serde_json::Value, state: &str, error: Option<&str>) {
    let Some(folder) = payload.get("hot_folder").and_then(|v| v.as_str()) else {
        return;
    };
    let outcome = match state {
        "succeeded" => crate::hotfolder::Outcome::Done,
        "failed" | "dead" | "cancelled" => crate::hotfolder::Outcome::Failed {
            reason: error.unwrap_or(state).to_string(),
        },
        _ => return,
    };
    let Some(cfg) = farm.hot_folder(folder) else {
        return;
    };
    let Some(claimed) = payload
        .get("claimed")
        .and_then(|c| serde_json::from_value::<Claimed>(c.clone()).ok())
    else {
        return;
    };
    match HotFolder::open(cfg.clone()).and_then(|h| h.finish(&claimed, outcome)) {
        Ok(to) => tracing::info!(file = %to.display(), "hot-folder file filed"),
        Err(e) => tracing::warn!(error = %e, "cannot file a hot-folder file"),
    }
}

/// A file-name stem safe as a folder name.
fn safe_stem(name: &str) -> String {
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "job".into()
    } else {
        cleaned
    }
}

/// Moves the staged outputs to their final folder (replacing an older
/// one of the same job).
fn move_outputs(from: &Path, to: &Path) -> Result<(), String> {
    if !from.exists() {
        return Ok(());
    }
    if to.exists() {
        std::fs::remove_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    std::fs::rename(from, to).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))
}
