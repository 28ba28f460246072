//! The dispatcher (in `efir serve`, or alone with `--role dispatcher`):
//! marks silent workers lost and requeues their jobs, turns hot-folder
//! files into jobs, exports queue gauges and runs maintenance. It retries
//! the database with growing back-off while it is down.
//!
//! Work is assigned by capability at claim time: a worker claims only jobs
//! of the pipelines whose tools it has and only while its mounts are
//! usable, so the dispatcher never hands a job to a node that cannot run
//! it. Several dispatchers may run at once: every step is idempotent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::farm::Farm;
use crate::hotfolder::{Claimed, HotFolder};
use crate::queue::{NewJob, Queue};
use crate::worker::finish_hot_file;

/// Gauge of jobs by state: `efir_ingest_jobs{state}`.
pub const JOBS: &str = "efir_ingest_jobs";
/// Gauge of active workers: `efir_ingest_workers`.
pub const WORKERS: &str = "efir_ingest_workers";
/// Counter of workers marked lost.
pub const LOST: &str = "efir_ingest_workers_lost_total";

/// Runs the dispatcher until `shutdown`.
pub async fn run(queue: Queue, farm: Arc<Farm>, shutdown: CancellationToken) {
    let (tx, rx) = mpsc::channel::<(String, Claimed)>(1024);
    for cfg in &farm.hot_folders {
        match HotFolder::open(cfg.clone()) {
            Ok(h) => {
                let h = Arc::new(h);
                // Files left in processing/ by a crash: their jobs exist or
                // are submitted again (the unique key makes this safe).
                match h.recover() {
                    Ok(left) => {
                        for c in left {
                            let _ = tx.send((cfg.name.clone(), c)).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(folder = %cfg.name, error = %e, "cannot look into processing/")
                    }
                }
                let (ftx, mut frx) = mpsc::channel::<Claimed>(256);
                let name = cfg.name.clone();
                let fwd = tx.clone();
                tokio::spawn(async move {
                    while let Some(c) = frx.recv().await {
                        if fwd.send((name.clone(), c)).await.is_err() {
                            break;
                        }
                    }
                });
                tracing::info!(folder = %cfg.name, path = %cfg.path.display(), pipeline = %cfg.pipeline, "watching hot folder");
                tokio::spawn(h.watch(ftx, shutdown.clone()));
            }
            Err(e) => {
                tracing::error!(folder = %cfg.name, error = %e, "hot folder cannot be watched")
            }
        }
    }
    drop(tx);
    tokio::spawn(submit_claimed(
        queue.clone(),
        farm.clone(),
        rx,
        shutdown.clone(),
    ));

    let lease_ms = farm.lease.as_millis() as i64;
    let mut backoff = farm.heartbeat;
    let mut down_since: Option<Instant> = None;
    let mut last_prune = Instant::now();
    loop {
        let wait = if down_since.is_some() {
            backoff
        } else {
            farm.heartbeat
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        match tick(&queue, &farm, lease_ms).await {
            Ok(()) => {
                if let Some(since) = down_since.take() {
                    tracing::info!(after = ?since.elapsed(), "dispatcher reached the database again");
                }
                backoff = farm.heartbeat;
            }
            Err(e) => {
                if down_since.is_none() {
                    down_since = Some(Instant::now());
                }
                tracing::warn!(error = %e, retry_in = ?backoff, "dispatcher cannot reach the database");
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = Instant::now();
            match queue.prune(7 * 24 * 3600 * 1000).await {
                Ok(n) if n > 0 => {
                    tracing::info!(workers = n, "forgot old lost and stopped workers")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "ingest maintenance failed"),
            }
        }
    }
}

async fn tick(queue: &Queue, farm: &Farm, lease_ms: i64) -> Result<(), crate::queue::QueueError> {
    let reaped = queue.reap(lease_ms).await?;
    if !reaped.workers_lost.is_empty() {
        metrics::counter!(LOST).increment(reaped.workers_lost.len() as u64);
    }
    for id in &reaped.dead {
        if let Some(job) = queue.get(*id).await? {
            finish_hot_file(farm, &job.payload_json(), &job.state, job.error.as_deref());
        }
    }
    let counts = queue.counts().await?;
    for state in crate::queue::STATES {
        let n = counts.get(*state).copied().unwrap_or(0);
        metrics::gauge!(JOBS, "state" => *state).set(n as f64);
    }
    let workers = queue.workers(false).await?;
    metrics::gauge!(WORKERS).set(workers.len() as f64);
    Ok(())
}

/// Submits a job for each claimed hot-folder file, retrying while the
/// database is down (the file waits in `processing/`).
async fn submit_claimed(
    queue: Queue,
    farm: Arc<Farm>,
    mut rx: mpsc::Receiver<(String, Claimed)>,
    shutdown: CancellationToken,
) {
    while let Some((folder, claimed)) = rx.recv().await {
        let Some(cfg) = farm.hot_folder(&folder) else {
            continue;
        };
        let Some(pipeline) = farm.pipeline(&cfg.pipeline) else {
            continue;
        };
        let mut job = NewJob::new(
            cfg.pipeline.clone(),
            json!({
                "input": claimed.path.display().to_string(),
                "original_name": claimed.original_name,
                "hot_folder": folder,
                "claimed": claimed,
            }),
        );
        job.priority = pipeline.priority;
        job.max_attempts = pipeline.max_attempts;
        job.dry_run = cfg.dry_run;
        job.import_only = cfg.import;
        job.unique_key = Some(format!("hot:{folder}:{}", claimed.path.display()));
        let mut backoff = Duration::from_millis(500);
        loop {
            match queue
                .submit(&job, efir_store::Actor::System("hot-folder".into()))
                .await
            {
                Ok((id, created)) => {
                    tracing::info!(job = id, created, folder = %folder, file = %claimed.original_name, "hot-folder file queued");
                    break;
                }
                Err(crate::queue::QueueError::Invalid(e)) => {
                    tracing::error!(error = %e, "hot-folder job refused");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot queue a hot-folder file yet");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}
