//! The job queue on SQLite and PostgreSQL: claiming, leases, fencing,
//! retries, cancellation and reaping of lost workers.

use std::collections::HashSet;

use efir_ingest::queue::{
    Heartbeat, JobFilter, LeaseKey, NewJob, Outcome, Queue, QueueError, WorkerInfo,
};
use efir_store::testing::TestDb;
use efir_store::Actor;
use serde_json::json;

fn actor() -> Actor {
    Actor::Command("test".into())
}

fn worker(name: &str, runnable: &[&str]) -> WorkerInfo {
    WorkerInfo {
        name: name.into(),
        host: "test".into(),
        pid: 1,
        slots: 2,
        capabilities: json!({}),
        runnable: runnable.iter().map(|s| s.to_string()).collect(),
        mounts_ok: true,
        mount_error: None,
    }
}

fn ok() -> Outcome {
    Outcome::Succeeded {
        result: json!({"ok": true}),
        steps: Vec::new(),
    }
}

fn runnable(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn claims_follow_priority_pipelines_and_schedule() {
    for db in TestDb::both().await {
        let label = db.label;
        let q = Queue::new(db.store.clone());
        let mut low = NewJob::new("media", json!({"n": 1}));
        low.priority = 5;
        let (a, _) = q.submit(&low, actor()).await.unwrap();
        let (b, _) = q
            .submit(&NewJob::new("media", json!({"n": 2})), actor())
            .await
            .unwrap();
        let (c, _) = q
            .submit(&NewJob::new("pdf", json!({})), actor())
            .await
            .unwrap();
        let mut later = NewJob::new("media", json!({}));
        later.run_at_ms = Some(efir_ingest::queue::now_ms() + 60_000);
        let (d, _) = q.submit(&later, actor()).await.unwrap();

        let w = q.register(&worker("w1", &["media"])).await.unwrap();
        let claims = q.claim(w, &runnable(&["media"]), 10, 5_000).await.unwrap();
        let ids: Vec<i64> = claims.iter().map(|c| c.job.id).collect();
        assert_eq!(
            ids,
            vec![b, a],
            "{label}: priority order, no pdf, not the later one"
        );
        assert!(claims
            .iter()
            .all(|c| c.lease.attempt == 1 && c.job.state == "running"));
        // Nothing more to claim; the pdf job and the scheduled one wait.
        assert!(q
            .claim(w, &runnable(&["media"]), 10, 5_000)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(q.get(c).await.unwrap().unwrap().state, "pending");
        assert_eq!(q.get(d).await.unwrap().unwrap().state, "pending");
        // A worker without runnable pipelines (a missing mount) claims nothing.
        assert!(q.claim(w, &[], 10, 5_000).await.unwrap().is_empty());

        assert!(q.finish(&claims[0].lease, &ok()).await.unwrap());
        let done = q.get(b).await.unwrap().unwrap();
        assert_eq!(done.state, "succeeded", "{label}");
        assert_eq!(done.result.as_deref(), Some(r#"{"ok":true}"#));
        assert_eq!(done.progress, 1.0);
        // Finishing twice registers nothing more.
        assert!(!q.finish(&claims[0].lease, &ok()).await.unwrap(), "{label}");
        let attempts = q.attempts(b).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].4, "succeeded");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_lost_worker_is_fenced_and_its_job_moves() {
    for db in TestDb::both().await {
        let label = db.label;
        let q = Queue::new(db.store.clone());
        let (id, _) = q
            .submit(&NewJob::new("media", json!({})), actor())
            .await
            .unwrap();
        let w1 = q.register(&worker("w1", &["media"])).await.unwrap();
        let w2 = q.register(&worker("w2", &["media"])).await.unwrap();
        let first = q.claim(w1, &runnable(&["media"]), 1, 5_000).await.unwrap();
        assert_eq!(first.len(), 1);
        let lease1 = first[0].lease;
        // w1 logs under its lease.
        assert!(q.log(&lease1, "info", "started").await.unwrap());

        // w2 keeps beating; w1 goes silent past the timeout.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let hb = Heartbeat {
            runnable: runnable(&["media"]),
            mounts_ok: true,
            ..Heartbeat::default()
        };
        assert!(q.heartbeat(w2, 5_000, &hb).await.unwrap().alive);
        let reaped = q.reap(200).await.unwrap();
        assert_eq!(reaped.workers_lost, vec![w1], "{label}");
        assert_eq!(reaped.requeued, vec![id], "{label}");

        // The job runs again on w2 as attempt 2.
        let second = q.claim(w2, &runnable(&["media"]), 1, 5_000).await.unwrap();
        assert_eq!(second.len(), 1, "{label}");
        let lease2 = second[0].lease;
        assert_eq!((lease2.job, lease2.attempt, lease2.worker), (id, 2, w2));

        // w1 comes back: its heartbeat says it is lost and its lease fenced;
        // its log line and its late result are refused.
        let late = Heartbeat {
            leases: vec![(lease1, 0.9, "transcode".into())],
            ..hb.clone()
        };
        let reply = q.heartbeat(w1, 5_000, &late).await.unwrap();
        assert!(!reply.alive, "{label}");
        assert_eq!(reply.fenced, vec![lease1]);
        assert!(!q.log(&lease1, "info", "late").await.unwrap());
        assert!(
            !q.finish(&lease1, &ok()).await.unwrap(),
            "{label}: late result"
        );
        assert_eq!(q.get(id).await.unwrap().unwrap().state, "running");

        // w2's heartbeat renews its lease and reports progress.
        let beat = Heartbeat {
            leases: vec![(lease2, 0.5, "transcode".into())],
            ..hb.clone()
        };
        let reply = q.heartbeat(w2, 5_000, &beat).await.unwrap();
        assert!(reply.alive && reply.fenced.is_empty());
        let job = q.get(id).await.unwrap().unwrap();
        assert_eq!((job.progress, job.activity.as_str()), (0.5, "transcode"));

        assert!(q.finish(&lease2, &ok()).await.unwrap());
        let attempts = q.attempts(id).await.unwrap();
        let outcomes: Vec<&str> = attempts.iter().map(|a| a.4.as_str()).collect();
        assert_eq!(outcomes, vec!["lost", "succeeded"], "{label}");
        let logs = q.logs(id).await.unwrap();
        assert_eq!(
            logs.len(),
            1,
            "{label}: only the line written under a lease"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn failures_back_off_then_die_and_bad_input_fails_at_once() {
    for db in TestDb::both().await {
        let label = db.label;
        let q = Queue::new(db.store.clone());
        let mut job = NewJob::new("media", json!({}));
        job.max_attempts = 2;
        let (id, _) = q.submit(&job, actor()).await.unwrap();
        let w = q.register(&worker("w", &["media"])).await.unwrap();
        let media = runnable(&["media"]);
        let c = q.claim(w, &media, 1, 5_000).await.unwrap().remove(0);
        let fail = |retry| Outcome::Failed {
            error: "ffmpeg exited with status 1".into(),
            retry,
            steps: Vec::new(),
        };
        assert!(q.finish(&c.lease, &fail(true)).await.unwrap());
        let j = q.get(id).await.unwrap().unwrap();
        assert_eq!(j.state, "pending", "{label}");
        assert!(
            j.run_at_ms >= efir_ingest::queue::now_ms() + 1_000,
            "{label}: backed off"
        );
        // Not claimable before its time.
        assert!(q.claim(w, &media, 1, 5_000).await.unwrap().is_empty());
        // Make it due (as time would).
        if let efir_store::Pool::Sqlite(p) = db.store.pool() {
            sqlx::query("UPDATE ingest_job SET run_at_ms = 0")
                .execute(p)
                .await
                .unwrap();
        }
        if let efir_store::Pool::Postgres(p) = db.store.pool() {
            sqlx::query("UPDATE ingest_job SET run_at_ms = 0")
                .execute(p)
                .await
                .unwrap();
        }
        let c = q.claim(w, &media, 1, 5_000).await.unwrap().remove(0);
        assert_eq!(c.lease.attempt, 2);
        assert!(q.finish(&c.lease, &fail(true)).await.unwrap());
        assert_eq!(q.get(id).await.unwrap().unwrap().state, "dead", "{label}");

        // Bad input is not retried.
        let (id2, _) = q
            .submit(&NewJob::new("media", json!({})), actor())
            .await
            .unwrap();
        let c = q.claim(w, &media, 1, 5_000).await.unwrap().remove(0);
        assert!(q.finish(&c.lease, &fail(false)).await.unwrap());
        let j = q.get(id2).await.unwrap().unwrap();
        assert_eq!((j.state.as_str(), j.attempt), ("failed", 1), "{label}");
        assert_eq!(j.error.as_deref(), Some("ffmpeg exited with status 1"));

        // Retry gives it a fresh budget.
        q.retry(id2, actor()).await.unwrap();
        let c = q.claim(w, &media, 1, 5_000).await.unwrap().remove(0);
        assert_eq!((c.job.id, c.lease.attempt), (id2, 2));
        assert!(q.finish(&c.lease, &ok()).await.unwrap());
        assert!(matches!(
            q.retry(id2, actor()).await,
            Err(QueueError::State { .. })
        ));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn cancelling_and_unique_keys() {
    for db in TestDb::both().await {
        let label = db.label;
        let q = Queue::new(db.store.clone());
        let mut job = NewJob::new("pdf", json!({"input": "a.pdf"}));
        job.unique_key = Some("hot:a.pdf".into());
        let (id, created) = q.submit(&job, actor()).await.unwrap();
        assert!(created);
        let (again, created) = q.submit(&job, actor()).await.unwrap();
        assert_eq!((again, created), (id, false), "{label}: same key, same job");

        // Pending: cancelled at once; the key is free again.
        assert_eq!(q.cancel(id, actor()).await.unwrap(), "cancelled");
        let (id2, created) = q.submit(&job, actor()).await.unwrap();
        assert!(created && id2 != id, "{label}");

        // Running: flagged, the worker hears it in its heartbeat.
        let w = q.register(&worker("w", &["pdf"])).await.unwrap();
        let c = q
            .claim(w, &runnable(&["pdf"]), 1, 5_000)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(q.cancel(id2, actor()).await.unwrap(), "running");
        let hb = Heartbeat {
            runnable: runnable(&["pdf"]),
            mounts_ok: true,
            mount_error: None,
            leases: vec![(c.lease, 0.2, "pdf-inspect".into())],
        };
        let reply = q.heartbeat(w, 5_000, &hb).await.unwrap();
        assert_eq!(reply.cancel, vec![c.lease], "{label}");
        assert!(q
            .finish(&c.lease, &Outcome::Cancelled { steps: Vec::new() })
            .await
            .unwrap());
        assert_eq!(q.get(id2).await.unwrap().unwrap().state, "cancelled");
        assert!(matches!(
            q.cancel(id2, actor()).await,
            Err(QueueError::State { .. })
        ));
        assert!(matches!(
            q.cancel(999_999, actor()).await,
            Err(QueueError::NoJob(_))
        ));

        // Filters.
        let cancelled = q
            .list(&JobFilter {
                state: Some("cancelled".into()),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(cancelled.len(), 2, "{label}");
        assert!(q
            .list(&JobFilter {
                state: Some("bogus".into()),
                ..JobFilter::default()
            })
            .await
            .is_err());
        // Bad submissions.
        for bad in [
            NewJob::new("", json!({})),
            NewJob::new("../x", json!({})),
            NewJob::new("p", json!([1, 2])),
        ] {
            assert!(matches!(
                q.submit(&bad, actor()).await,
                Err(QueueError::Invalid(_))
            ));
        }
        db.cleanup().await;
    }
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_job() {
    for db in TestDb::both().await {
        let label = db.label;
        let q = Queue::new(db.store.clone());
        let jobs: Vec<NewJob> = (0..400)
            .map(|i| NewJob::new("noop", json!({"i": i})))
            .collect();
        assert_eq!(q.submit_many(&jobs, actor()).await.unwrap(), 400);
        let mut tasks = Vec::new();
        for n in 0..4 {
            let q = q.clone();
            tasks.push(tokio::spawn(async move {
                let w = q
                    .register(&worker(&format!("w{n}"), &["noop"]))
                    .await
                    .unwrap();
                let mut mine = Vec::new();
                loop {
                    let claims = q.claim(w, &runnable(&["noop"]), 16, 5_000).await.unwrap();
                    if claims.is_empty() {
                        break;
                    }
                    let leases: Vec<LeaseKey> = claims.iter().map(|c| c.lease).collect();
                    assert_eq!(q.finish_many_ok(&leases).await.unwrap(), leases.len());
                    mine.extend(leases.iter().map(|l| l.job));
                }
                mine
            }));
        }
        let mut seen = HashSet::new();
        let mut total = 0;
        for t in tasks {
            for id in t.await.unwrap() {
                total += 1;
                assert!(seen.insert(id), "{label}: job {id} claimed twice");
            }
        }
        assert_eq!(total, 400, "{label}");
        let counts = q.counts().await.unwrap();
        assert_eq!(counts.get("succeeded"), Some(&400), "{label}");
        db.cleanup().await;
    }
}
