//! Fault tests of the ingest farm on PostgreSQL with two worker processes
//! and a dispatcher: a worker killed or paused mid-job, the database going
//! away, a mount disappearing. No job is lost and none is registered twice.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{stderr, Env, Running};
use serde_json::Value;

const LEASE_SECS: f64 = 2.0;

fn config(env: &Env, name: &str, mount: &str) -> std::path::PathBuf {
    let path = env.path(&format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[ingest]
heartbeat_secs = 0.4
lease_secs = {LEASE_SECS}
poll_secs = 0.2
output_dir = "out"
[ingest.mounts]
source = "{mount}"

[[ingest.pipeline]]
name = "slow"
max_attempts = 5
[[ingest.pipeline.step]]
kind = "transcode"
profile = "archive"
codec = "x264"
preset = "medium"
"#
        ),
    )
    .unwrap();
    path
}

fn make_video(path: &Path, seconds: u32, size: &str) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=duration={seconds}:size={size}:rate=25"))
        .args(["-c:v", "libx264", "-preset", "ultrafast"])
        .arg(path)
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Farm<'a> {
    env: &'a Env,
}

impl Farm<'_> {
    fn manage(&self, cfg: &Path, args: &[&str]) -> Value {
        let out = self
            .env
            .cmd()
            .env("EFIR_CONFIG", cfg)
            .arg("manage")
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn spawn(&self, cfg: &Path, args: &[&str], log: &str) -> Running {
        let mut cmd = self.env.cmd();
        cmd.env("EFIR_CONFIG", cfg).args(args);
        Running::spawn(cmd, &self.env.path(log))
    }

    fn job(&self, cfg: &Path, id: i64) -> Value {
        let list = self.manage(cfg, &["job-list", "--limit", "1000"]);
        list["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn worker_id(&self, cfg: &Path, name: &str) -> Option<i64> {
        let list = self.manage(cfg, &["worker-list"]);
        list["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .and_then(|w| w["id"].as_i64())
    }

    async fn until(&self, what: &str, within: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !f() {
            if Instant::now() > deadline {
                let logs: String = ["dispatcher.log", "a.log", "b.log"]
                    .iter()
                    .map(|l| {
                        format!(
                            "--- {l}\n{}",
                            std::fs::read_to_string(self.env.path(l)).unwrap_or_default()
                        )
                    })
                    .collect();
                panic!("{what}: not within {within:?}\n{logs}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Attempts of a job straight from the database.
async fn attempts(env: &Env, job: i64) -> Vec<(i64, i64, String)> {
    let store = env.store().await;
    let efir_store::Pool::Postgres(p) = store.pool() else {
        panic!("postgres expected")
    };
    sqlx::query_as(
        "SELECT attempt, worker_id, outcome FROM ingest_attempt WHERE job_id = $1 ORDER BY attempt",
    )
    .bind(job)
    .fetch_all(p)
    .await
    .unwrap()
}

async fn results(env: &Env, job: i64) -> i64 {
    let store = env.store().await;
    let efir_store::Pool::Postgres(p) = store.pool() else {
        panic!("postgres expected")
    };
    sqlx::query_scalar("SELECT COUNT(DISTINCT attempt) FROM ingest_step WHERE job_id = $1")
        .bind(job)
        .fetch_one(p)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_and_paused_workers_never_lose_or_double_a_job() {
    let env = Env::postgres().await;
    for d in ["mnt-a", "mnt-b", "out"] {
        std::fs::create_dir_all(env.path(d)).unwrap();
    }
    let cfg_a = config(&env, "a", "mnt-a");
    let cfg_b = config(&env, "b", "mnt-b");
    let farm = Farm { env: &env };
    let migrate = env.manage(&["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let src = env.path("src.mp4");
    make_video(&src, 8, "1280x720");
    let input = src.display().to_string();

    let _dispatcher = farm.spawn(&cfg_a, &["serve", "--role", "dispatcher"], "dispatcher.log");

    // --- kill -9 mid-job: the job moves to the other worker.
    let mut a = farm.spawn(&cfg_a, &["worker", "--slots", "1", "--name", "A"], "a.log");
    let r = farm.manage(
        &cfg_a,
        &["job-submit", "--pipeline", "slow", "--input", &input],
    );
    let job = r["id"].as_i64().unwrap();
    farm.until("job running on A", Duration::from_secs(30), || {
        farm.job(&cfg_a, job)["state"] == "running"
    })
    .await;
    let worker_a = farm.worker_id(&cfg_a, "A").unwrap();
    assert_eq!(farm.job(&cfg_a, job)["worker_id"], worker_a);
    let mut b = farm.spawn(&cfg_b, &["worker", "--slots", "1", "--name", "B"], "b.log");
    farm.until("B registered", Duration::from_secs(20), || {
        farm.worker_id(&cfg_b, "B").is_some()
    })
    .await;
    let worker_b = farm.worker_id(&cfg_b, "B").unwrap();
    let killed = Instant::now();
    signal(a.pid(), "-KILL");
    drop(a.0.take().map(|mut c| c.wait()));
    farm.until(
        "attempt 2 started on B within two lease timeouts",
        Duration::from_secs_f64(2.0 * LEASE_SECS + 3.0),
        || {
            let j = farm.job(&cfg_b, job);
            j["attempt"] == 2 && j["worker_id"] == worker_b
        },
    )
    .await;
    let moved_after = killed.elapsed();
    farm.until("job done on B", Duration::from_secs(120), || {
        farm.job(&cfg_b, job)["state"] == "succeeded"
    })
    .await;
    let tries = attempts(&env, job).await;
    assert_eq!(
        tries,
        vec![
            (1, worker_a, "lost".to_string()),
            (2, worker_b, "succeeded".to_string())
        ]
    );
    assert_eq!(results(&env, job).await, 1);
    eprintln!("kill -9: the job moved to B {moved_after:?} after the kill");

    // --- SIGSTOP past the lease, then SIGCONT: the late result is refused.
    b.terminate(Duration::from_secs(20));
    let mut a = farm.spawn(&cfg_a, &["worker", "--slots", "1", "--name", "A2"], "a.log");
    let r = farm.manage(
        &cfg_a,
        &["job-submit", "--pipeline", "slow", "--input", &input],
    );
    let job2 = r["id"].as_i64().unwrap();
    farm.until("job 2 running on A2", Duration::from_secs(30), || {
        farm.job(&cfg_a, job2)["state"] == "running"
    })
    .await;
    let worker_a2 = farm.worker_id(&cfg_a, "A2").unwrap();
    signal(a.pid(), "-STOP");
    let mut b = farm.spawn(&cfg_b, &["worker", "--slots", "1", "--name", "B2"], "b.log");
    farm.until("job 2 done on B2", Duration::from_secs(120), || {
        farm.job(&cfg_b, job2)["state"] == "succeeded"
    })
    .await;
    let worker_b2 = farm.worker_id(&cfg_b, "B2").unwrap();
    signal(a.pid(), "-CONT");
    // A2 finds itself lost, drops its work and registers again.
    farm.until("A2 registered again", Duration::from_secs(20), || {
        let list = farm.manage(&cfg_a, &["worker-list"]);
        list["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "A2" && w["id"] != worker_a2)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let j = farm.job(&cfg_b, job2);
    assert_eq!(j["state"], "succeeded");
    assert_eq!(j["attempt"], 2, "{j:#}");
    let tries = attempts(&env, job2).await;
    assert_eq!(
        tries,
        vec![
            (1, worker_a2, "lost".to_string()),
            (2, worker_b2, "succeeded".to_string())
        ]
    );
    assert_eq!(
        results(&env, job2).await,
        1,
        "exactly one registered result"
    );
    // A2's staged outputs were thrown away.
    let staging = env.path("out/.staging");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");

    // --- A mount disappears: that worker refuses work, the other takes it.
    std::fs::rename(env.path("mnt-a"), env.path("mnt-a.gone")).unwrap();
    farm.until(
        "A2 reports its missing mount",
        Duration::from_secs(20),
        || {
            let list = farm.manage(&cfg_a, &["worker-list"]);
            list["workers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["name"] == "A2" && w["mounts_ok"] == false && w["runnable"] == "")
        },
    )
    .await;
    let noop = farm.manage(
        &cfg_a,
        &[
            "job-submit",
            "--pipeline",
            "noop",
            "--input",
            "x",
            "--count",
            "200",
        ],
    );
    assert_eq!(noop["count"], 200);
    farm.until("noop jobs done", Duration::from_secs(60), || {
        let list = farm.manage(
            &cfg_a,
            &[
                "job-list",
                "--pipeline",
                "noop",
                "--state",
                "succeeded",
                "--limit",
                "1000",
            ],
        );
        list["jobs"].as_array().unwrap().len() == 200
    })
    .await;
    let store = env.store().await;
    let efir_store::Pool::Postgres(p) = store.pool() else {
        unreachable!()
    };
    let by_worker: Vec<(String, i64)> = sqlx::query_as(
        "SELECT w.name, COUNT(*) FROM ingest_attempt a JOIN ingest_worker w ON w.id = a.worker_id \
         JOIN ingest_job j ON j.id = a.job_id WHERE j.pipeline = 'noop' GROUP BY w.name",
    )
    .fetch_all(p)
    .await
    .unwrap();
    assert_eq!(
        by_worker,
        vec![("B2".to_string(), 200)],
        "only B2 took work"
    );

    // --- The database goes away mid-run (every connection to it cut and
    // new ones refused for a while, as in a restart): nothing is lost.
    std::fs::rename(env.path("mnt-a.gone"), env.path("mnt-a")).unwrap();
    let r = farm.manage(
        &cfg_a,
        &[
            "job-submit",
            "--pipeline",
            "noop",
            "--input",
            "x",
            "--count",
            "300",
        ],
    );
    assert_eq!(r["count"], 300);
    let slow = farm.manage(
        &cfg_a,
        &["job-submit", "--pipeline", "slow", "--input", &input],
    );
    let slow_id = slow["id"].as_i64().unwrap();
    let db = env
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let admin = efir_store::testing::postgres_admin_url();
    let admin_pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .execute(&admin_pool)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(&db)
        .execute(&admin_pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .execute(&admin_pool)
        .await
        .unwrap();
    farm.until(
        "every job ended after the outage",
        Duration::from_secs(180),
        || {
            let list = farm.manage(&cfg_a, &["job-list", "--limit", "1000"]);
            list["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|j| j["state"] == "succeeded")
        },
    )
    .await;
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM ingest_job GROUP BY state")
            .fetch_all(p)
            .await
            .unwrap();
    assert_eq!(counts, vec![("succeeded".to_string(), 503)]);
    let doubled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT job_id FROM ingest_attempt WHERE outcome = 'succeeded' \
         GROUP BY job_id HAVING COUNT(*) > 1) d",
    )
    .fetch_one(p)
    .await
    .unwrap();
    assert_eq!(doubled, 0, "no job registered twice");
    assert_eq!(results(&env, slow_id).await, 1);
    admin_pool.close().await;
    a.terminate(Duration::from_secs(20));
    b.terminate(Duration::from_secs(20));
    env.cleanup().await;
}
