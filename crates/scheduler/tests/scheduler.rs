//! The scheduler against real databases.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use efir_core::config::ScheduleEntry;
use efir_scheduler::{entries, CommandRunner, Outcome, Scheduler};
use efir_store::testing::TestDb;

/// Counts runs; optionally sleeps to make runs overlap.
struct Counting {
    runs: AtomicU64,
    concurrent: AtomicI64,
    max_concurrent: AtomicI64,
    sleep: Duration,
}

#[async_trait::async_trait]
impl CommandRunner for Counting {
    async fn run(&self, command: &str, _args: &[String]) -> Result<String, String> {
        let now = self.concurrent.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_concurrent.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.sleep).await;
        self.concurrent.fetch_sub(1, Ordering::SeqCst);
        self.runs.fetch_add(1, Ordering::SeqCst);
        if command == "fail" {
            Err("it failed".into())
        } else {
            Ok(String::new())
        }
    }
}

fn counting(sleep: Duration) -> Arc<Counting> {
    Arc::new(Counting {
        runs: AtomicU64::new(0),
        concurrent: AtomicI64::new(0),
        max_concurrent: AtomicI64::new(0),
        sleep,
    })
}

fn every_second(command: &str) -> Vec<efir_scheduler::Entry> {
    entries(&[ScheduleEntry {
        name: Some("tick".into()),
        cron: "* * * * * *".into(),
        timezone: "UTC".into(),
        command: command.into(),
        args: vec![],
        enabled: true,
    }])
    .unwrap()
}

/// Runs two schedulers ("nodes") on one database for `millis`.
async fn run_two_nodes(db: &TestDb, runner: &Arc<Counting>, millis: u64) {
    let node =
        |name: &str| Scheduler::new(db.store.clone(), runner.clone(), every_second("x"), name);
    let (a, b) = (node("node-a"), node("node-b"));
    let stop = || tokio::time::sleep(Duration::from_millis(millis));
    tokio::join!(a.run(stop()), b.run(stop()));
}

#[tokio::test]
async fn two_nodes_run_each_slot_once() {
    for db in TestDb::both().await {
        let runner = counting(Duration::from_millis(50));
        run_two_nodes(&db, &runner, 3500).await;
        let runs = db.store.schedule_runs(Some("tick"), 100).await.unwrap();
        let ran = runner.runs.load(Ordering::SeqCst);
        assert!(ran >= 3, "{}: ran {ran} times", db.label);
        assert_eq!(ran as usize, runs.len(), "{}: one run per slot", db.label);
        assert!(runs.iter().all(|r| r.outcome == "ok"));
        let mut slots: Vec<i64> = runs.iter().map(|r| r.slot).collect();
        slots.dedup();
        assert_eq!(slots.len(), runs.len());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_run_still_going_is_not_started_again() {
    for db in TestDb::both().await {
        let runner = counting(Duration::from_millis(2300));
        run_two_nodes(&db, &runner, 4200).await;
        assert_eq!(
            runner.max_concurrent.load(Ordering::SeqCst),
            1,
            "{}",
            db.label
        );
        let runs = db.store.schedule_runs(Some("tick"), 100).await.unwrap();
        let skipped = runs.iter().filter(|r| r.outcome == "skipped").count();
        assert!(skipped >= 1, "{}: {runs:?}", db.label);
        assert!(runs
            .iter()
            .filter(|r| r.outcome == "skipped")
            .all(|r| r.error.as_deref() == Some("previous run is still going")));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn failures_are_recorded() {
    let db = TestDb::sqlite().await;
    let runner = counting(Duration::ZERO);
    let s = Scheduler::new(db.store.clone(), runner, every_second("fail"), "node");
    let entry = s.entries()[0].clone();
    assert_eq!(
        s.fire(&entry, 42).await,
        Outcome::Failed("it failed".into())
    );
    assert_eq!(s.fire(&entry, 42).await, Outcome::OtherNode);
    let runs = db.store.schedule_runs(Some("tick"), 10).await.unwrap();
    assert_eq!(runs[0].outcome, "failed");
    assert_eq!(runs[0].error.as_deref(), Some("it failed"));
    assert!(runs[0].duration_ms.is_some());
    db.cleanup().await;
}
