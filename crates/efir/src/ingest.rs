//! `efir manage job-*` and `worker-list`: the ingest queue from the
//! command line.

use anyhow::{bail, Context as _, Result};
use efir_ingest::farm::Farm;
use efir_ingest::queue::{JobFilter, NewJob, Queue};
use efir_store::Actor;
use serde_json::json;

use crate::cli::ManageCommand;
use crate::context::Ctx;
use crate::manage::Report;

fn ms_text(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Runs one ingest command.
pub async fn run(ctx: &Ctx, cmd: ManageCommand, actor: Actor) -> Result<Report> {
    let queue = Queue::new(ctx.store().clone());
    match cmd {
        ManageCommand::JobSubmit {
            pipeline,
            input,
            priority,
            dry_run,
            import,
            count,
        } => {
            let farm = Farm::from_config(ctx.config()).map_err(|e| anyhow::anyhow!(e))?;
            let Some(p) = farm.pipeline(&pipeline) else {
                let names: Vec<&str> = farm.pipelines.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "no pipeline named `{pipeline}`; configured: {}",
                    names.join(", ")
                );
            };
            let input =
                std::path::absolute(&input).with_context(|| format!("{}", input.display()))?;
            if p.name != efir_ingest::queue::NOOP {
                let meta = std::fs::metadata(&input)
                    .with_context(|| format!("input {}", input.display()))?;
                if !meta.is_file() {
                    bail!("input {} is not a regular file", input.display());
                }
            }
            let mut job = NewJob::new(
                pipeline.clone(),
                json!({ "input": input.display().to_string() }),
            );
            job.priority = priority;
            job.max_attempts = p.max_attempts;
            job.dry_run = dry_run;
            job.import_only = import;
            if count == 1 {
                let (id, _) = queue.submit(&job, actor).await?;
                Ok(Report::new(
                    format!("job {id} queued ({pipeline}, {})", input.display()),
                    json!({ "id": id, "pipeline": pipeline, "input": input }),
                ))
            } else {
                let jobs = vec![job; count as usize];
                let mut done = 0;
                for chunk in jobs.chunks(5000) {
                    done += queue.submit_many(chunk, actor.clone()).await?;
                }
                Ok(Report::new(
                    format!("{done} jobs queued ({pipeline})"),
                    json!({ "count": done, "pipeline": pipeline }),
                ))
            }
        }
        ManageCommand::JobList {
            state,
            pipeline,
            limit,
        } => {
            let jobs = queue
                .list(&JobFilter {
                    state,
                    pipeline,
                    limit: Some(limit),
                    before: None,
                })
                .await?;
            let mut text = String::new();
            if jobs.is_empty() {
                text.push_str("no jobs");
            } else {
                text.push_str(&format!(
                    "{:>8}  {:<10} {:<12} {:>7} {:>5}  {:<19}  {}\n",
                    "id", "state", "pipeline", "done", "try", "created", "input / error"
                ));
            }
            for j in &jobs {
                let payload = j.payload_json();
                let input = payload
                    .get("original_name")
                    .or_else(|| payload.get("input"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                let tail = match &j.error {
                    Some(e) if j.state != "succeeded" => format!("{input}: {e}"),
                    _ => input.to_string(),
                };
                text.push_str(&format!(
                    "{:>8}  {:<10} {:<12} {:>6.0}% {:>5}  {:<19}  {}\n",
                    j.id,
                    j.state,
                    j.pipeline,
                    j.progress * 100.0,
                    format!("{}/{}", j.attempt, j.max_attempts),
                    ms_text(Some(j.created_ms)),
                    tail
                ));
            }
            Ok(Report::new(text.trim_end(), json!({ "jobs": jobs })))
        }
        ManageCommand::JobCancel { id } => {
            let state = queue.cancel(id, actor).await?;
            let text = if state == "running" {
                format!("job {id} is running; its worker stops it at its next heartbeat")
            } else {
                format!("job {id} cancelled")
            };
            Ok(Report::new(text, json!({ "id": id, "state": state })))
        }
        ManageCommand::JobRetry { id } => {
            queue.retry(id, actor).await?;
            Ok(Report::new(
                format!("job {id} queued again"),
                json!({ "id": id, "state": "pending" }),
            ))
        }
        ManageCommand::WorkerList { all } => {
            let workers = queue.workers(all).await?;
            let mut text = String::new();
            if workers.is_empty() {
                text.push_str("no workers");
            }
            for w in &workers {
                text.push_str(&format!(
                    "{:>6}  {:<20} {:<8} {}/{} slots  seen {}  {}\n",
                    w.id,
                    w.name,
                    w.state,
                    w.running,
                    w.slots,
                    ms_text(Some(w.last_seen_ms)),
                    w.mount_error
                        .as_deref()
                        .map(|e| format!("REFUSING WORK: {e}"))
                        .unwrap_or_else(|| format!("runs {}", w.runnable)),
                ));
            }
            Ok(Report::new(text.trim_end(), json!({ "workers": workers })))
        }
        other => bail!("not an ingest command: {}", other.name()),
    }
}
