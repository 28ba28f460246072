//! The built-in scheduler that replaces crontab.
//!
//! `[[schedule]]` entries of the configuration name a management command,
//! its arguments and a cron expression read in a time zone. A process with
//! the `scheduler` role runs a [`Scheduler`]: at each due time it claims the
//! slot in the database ([`efir_store::Store::claim_schedule_slot`]), so the
//! slot runs on exactly one node however many share the database; takes the
//! entry's cross-node lock (a PostgreSQL advisory lock, or a file lock
//! beside the SQLite database), so a run that is
//! still going is never started a second time; runs the command in-process
//! through a [`CommandRunner`]; and records the outcome and duration in
//! `schedule_run`, in the log and as metrics:
//!
//! * `efir_schedule_runs_total{name, outcome}` (`ok`, `failed`, `skipped`);
//! * `efir_schedule_run_duration_seconds{name}`;
//! * `efir_schedule_last_run_timestamp_seconds{name}`.
//!
//! Slots missed while no node was up are not caught up, as with cron.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use efir_core::config::{parse_cron, ScheduleEntry};
use efir_store::Store;

/// Runs a management command inside the current process.
#[async_trait::async_trait]
pub trait CommandRunner: Send + Sync + 'static {
    /// Runs `command` with `args` (as after `efir manage`); returns its
    /// output or an error message.
    async fn run(&self, command: &str, args: &[String]) -> Result<String, String>;
}

/// One schedule entry, parsed.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Unique name.
    pub name: String,
    /// The cron expression as written.
    pub expr: String,
    cron: croner::Cron,
    /// The time zone the expression is read in.
    pub tz: Tz,
    /// Management command.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl Entry {
    /// Parses a configuration entry.
    pub fn from_config(e: &ScheduleEntry) -> Result<Entry, String> {
        let cron = parse_cron(&e.cron)?;
        let tz: Tz = e
            .timezone
            .parse()
            .map_err(|err| format!("unknown time zone `{}`: {err}", e.timezone))?;
        Ok(Entry {
            name: e.name().to_string(),
            expr: e.cron.clone(),
            cron,
            tz,
            command: e.command.clone(),
            args: e.args.clone(),
        })
    }

    /// The first due time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = self.tz.from_utc_datetime(&t.naive_utc());
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The next `n` due times after `t`.
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut at = t;
        while out.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }
}

/// Parses every enabled entry of the configuration.
pub fn entries(config: &[ScheduleEntry]) -> Result<Vec<Entry>, String> {
    config
        .iter()
        .filter(|e| e.enabled)
        .map(|e| Entry::from_config(e).map_err(|err| format!("schedule `{}`: {err}", e.name())))
        .collect()
}

/// How one due run ended on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command ran and succeeded.
    Ok,
    /// The command ran and failed.
    Failed(String),
    /// Not run: the previous run is still going.
    Skipped(String),
    /// Another node owns this slot.
    OtherNode,
    /// The database could not be reached to claim the slot.
    Unclaimed(String),
}

/// The scheduler of one process.
#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    runner: Arc<dyn CommandRunner>,
    entries: Arc<Vec<Entry>>,
    node: String,
    running: Arc<Mutex<HashSet<String>>>,
}

impl Scheduler {
    /// A scheduler for `entries` that runs commands with `runner`; `node`
    /// names this process in run records.
    pub fn new(
        store: Store,
        runner: Arc<dyn CommandRunner>,
        entries: Vec<Entry>,
        node: impl Into<String>,
    ) -> Scheduler {
        Scheduler {
            store,
            runner,
            entries: Arc::new(entries),
            node: node.into(),
            running: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The entries this scheduler runs.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Runs until `shutdown` resolves, then waits for runs in progress.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        if self.entries.is_empty() {
            tracing::info!("scheduler: no [[schedule]] entries");
            shutdown.await;
            return;
        }
        for e in self.entries.iter() {
            let next = e.next_after(Utc::now());
            tracing::info!(
                name = %e.name,
                cron = %e.expr,
                tz = %e.tz,
                command = %e.command,
                next = ?next.map(|n| n.to_rfc3339()),
                "scheduler: entry loaded"
            );
        }
        let mut tasks = tokio::task::JoinSet::new();
        let mut next: Vec<Option<DateTime<Utc>>> = self
            .entries
            .iter()
            .map(|e| e.next_after(Utc::now()))
            .collect();
        tokio::pin!(shutdown);
        loop {
            let Some(soonest) = next.iter().flatten().min().copied() else {
                tracing::warn!("scheduler: no entry has a future run time");
                shutdown.await;
                break;
            };
            let wait = (soonest - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wait) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            }
            let now = Utc::now();
            for (i, entry) in self.entries.iter().enumerate() {
                let Some(due) = next[i] else { continue };
                if due > now {
                    continue;
                }
                let me = self.clone();
                let entry = entry.clone();
                tasks.spawn(async move {
                    me.fire(&entry, due.timestamp()).await;
                });
                next[i] = entry_next(&self.entries[i], due, now);
            }
        }
        if !tasks.is_empty() {
            tracing::info!(
                running = tasks.len(),
                "scheduler: waiting for runs in progress"
            );
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Runs `entry` for the due time `slot` (Unix seconds) if this node
    /// wins the slot; records and returns the outcome.
    pub async fn fire(&self, entry: &Entry, slot: i64) -> Outcome {
        let name = entry.name.as_str();
        match self.store.claim_schedule_slot(name, slot, &self.node).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(name, slot, "scheduler: slot taken by another node");
                return Outcome::OtherNode;
            }
            Err(e) => {
                tracing::warn!(name, slot, error = %e, "scheduler: cannot claim slot");
                metrics::counter!("efir_schedule_runs_total", "name" => name.to_string(), "outcome" => "unclaimed").increment(1);
                return Outcome::Unclaimed(e.to_string());
            }
        }
        let started = Instant::now();
        let local_busy = !self.mark_running(name);
        let lock = if local_busy {
            None
        } else {
            match self.store.try_lock_entry(name).await {
                Ok(lock) => lock,
                Err(e) => {
                    self.unmark_running(name);
                    let msg = format!("cannot take lock: {e}");
                    self.record(entry, slot, "failed", started, Some(&msg))
                        .await;
                    return Outcome::Failed(msg);
                }
            }
        };
        let Some(lock) = lock else {
            if !local_busy {
                self.unmark_running(name);
            }
            let msg = "previous run is still going".to_string();
            self.record(entry, slot, "skipped", started, Some(&msg))
                .await;
            return Outcome::Skipped(msg);
        };
        metrics::gauge!("efir_schedule_running", "name" => name.to_string()).set(1.0);
        let result = self.runner.run(&entry.command, &entry.args).await;
        metrics::gauge!("efir_schedule_running", "name" => name.to_string()).set(0.0);
        lock.release().await;
        self.unmark_running(name);
        match result {
            Ok(_) => {
                self.record(entry, slot, "ok", started, None).await;
                Outcome::Ok
            }
            Err(e) => {
                self.record(entry, slot, "failed", started, Some(&e)).await;
                Outcome::Failed(e)
            }
        }
    }

    fn mark_running(&self, name: &str) -> bool {
        self.running
            .lock()
            .map(|mut set| set.insert(name.to_string()))
            .unwrap_or(false)
    }

    fn unmark_running(&self, name: &str) {
        if let Ok(mut set) = self.running.lock() {
            set.remove(name);
        }
    }

    async fn record(
        &self,
        entry: &Entry,
        slot: i64,
        outcome: &'static str,
        started: Instant,
        error: Option<&str>,
    ) {
        let elapsed = started.elapsed();
        let ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        let name = entry.name.clone();
        metrics::counter!("efir_schedule_runs_total", "name" => name.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("efir_schedule_run_duration_seconds", "name" => name.clone())
            .record(elapsed.as_secs_f64());
        metrics::gauge!("efir_schedule_last_run_timestamp_seconds", "name" => name.clone())
            .set(Utc::now().timestamp() as f64);
        match error {
            None => {
                tracing::info!(name = %name, command = %entry.command, slot, duration_ms = ms, outcome, "scheduled run finished")
            }
            Some(e) => {
                tracing::warn!(name = %name, command = %entry.command, slot, duration_ms = ms, outcome, error = %e, "scheduled run did not succeed")
            }
        }
        if let Err(e) = self
            .store
            .finish_schedule_run(&name, slot, outcome, ms, error)
            .await
        {
            tracing::warn!(name = %name, slot, error = %e, "scheduler: cannot record run");
        }
    }
}

/// The next due time of `entry` after `due`, skipping times already past
/// `now` (a slow wake-up must not fire a burst of old slots).
fn entry_next(entry: &Entry, due: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let next = entry.next_after(due)?;
    if next > now {
        Some(next)
    } else {
        entry.next_after(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cron: &str, tz: &str) -> Entry {
        Entry::from_config(&ScheduleEntry {
            name: None,
            cron: cron.into(),
            timezone: tz.into(),
            command: "flushall".into(),
            args: vec![],
            enabled: true,
        })
        .unwrap()
    }

    #[test]
    fn next_time_respects_time_zone() {
        let e = entry("0 3 * * *", "Europe/Moscow");
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        // 03:00 in Moscow (UTC+3) is 00:00 UTC; strictly after t.
        assert_eq!(
            e.next_after(t).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
        );
        let e = entry("*/15 * * * *", "UTC");
        let times = e.upcoming(t, 3);
        assert_eq!(
            times[2],
            Utc.with_ymd_and_hms(2026, 11, 23, 0, 45, 0).unwrap()
        );
    }

    #[test]
    fn seconds_field_is_optional() {
        let e = entry("*/5 * * * * *", "UTC");
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap();
        assert_eq!(
            e.next_after(t).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 5).unwrap()
        );
    }

    #[test]
    fn late_wake_up_skips_past_slots() {
        let e = entry("* * * * * *", "UTC");
        let due = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).unwrap();
        assert_eq!(
            entry_next(&e, due, now).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 11).unwrap()
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        let bad = ScheduleEntry {
            name: Some("x".into()),
            cron: "0 3 * *".into(),
            timezone: "UTC".into(),
            command: "flushall".into(),
            args: vec![],
            enabled: true,
        };
        assert!(entries(&[bad]).unwrap_err().starts_with("schedule `x`"));
    }
}
