//! The ingest REST API and its event stream, served on a loopback port,
//! on SQLite and PostgreSQL.

use std::time::Duration;

use efir_ingest::api::{api_routes, ApiOptions};
use efir_ingest::queue::{NewJob, Outcome, Queue, StepRecord, WorkerInfo};
use efir_store::testing::TestDb;
use efir_store::{Actor, Pool};
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

const TOKEN: &str = "s3cret-token";

struct Api {
    base: String,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Api {
    async fn start(queue: Queue, token: Option<&str>, pipelines: &[&str]) -> Api {
        let app = api_routes(
            queue,
            ApiOptions {
                token: token.map(str::to_string),
                pipelines: pipelines.iter().map(|s| s.to_string()).collect(),
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Api {
            base: format!("http://{addr}/api/ingest"),
            http,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    async fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url(path)).bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req.send().await.unwrap()).await
    }

    /// Posts a raw body as JSON.
    async fn post_raw(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        answer(r).await
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The status and JSON body of an answer (the test fails on a non-JSON body).
async fn answer(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:?}"));
    (status, body)
}

/// Asserts an error answer: status and `{"error", "message"}`.
fn assert_error(got: &(StatusCode, Value), status: StatusCode, what: &str) {
    assert_eq!(got.0, status, "{what}: {}", got.1);
    assert!(got.1["error"].is_string(), "{what}: {}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {}",
        got.1
    );
}

fn worker(name: &str) -> WorkerInfo {
    WorkerInfo {
        name: name.into(),
        host: "test".into(),
        pid: 1,
        slots: 3,
        capabilities: json!({"ffmpeg": "7.1"}),
        runnable: vec!["media".into()],
        mounts_ok: true,
        mount_error: None,
    }
}

fn media() -> Vec<String> {
    vec!["media".into()]
}

fn actor() -> Actor {
    Actor::Command("test".into())
}

#[tokio::test]
async fn auth_off_missing_wrong_and_right_tokens() {
    let db = TestDb::sqlite().await;
    let q = Queue::new(db.store.clone());

    let off = Api::start(q.clone(), None, &[]).await;
    let r = off.get("/summary").await;
    assert_error(&r, StatusCode::NOT_FOUND, "no token configured");
    assert!(r.1["message"]
        .as_str()
        .unwrap()
        .contains("ingest.api_token"));
    let empty = Api::start(q.clone(), Some(""), &[]).await;
    assert_error(
        &empty.get("/summary").await,
        StatusCode::NOT_FOUND,
        "empty token",
    );

    let opts = ApiOptions {
        token: Some(TOKEN.into()),
        pipelines: Vec::new(),
    };
    assert!(
        !format!("{opts:?}").contains(TOKEN),
        "the token is not shown"
    );
    let api = Api::start(q.clone(), Some(TOKEN), &[]).await;
    let url = api.url("/jobs");
    for (what, auth) in [
        ("missing", None),
        ("wrong", Some("Bearer s3cret-tokeN")),
        ("prefix", Some("Bearer s3cret")),
        ("not bearer", Some("Basic s3cret-token")),
    ] {
        let mut req = api.http.post(&url).json(&json!({"pipeline": "media"}));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer realm=\"efir-ingest\""),
            "{what}"
        );
        assert_error(&answer(r).await, StatusCode::UNAUTHORIZED, what);
    }
    // Nothing was submitted by the refused calls.
    assert!(q.counts().await.unwrap().is_empty());
    // The events stream is guarded too.
    let r = api.http.get(api.url("/events")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = api.get("/summary").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["jobs"]["pending"], 0);
    db.cleanup().await;
}

#[tokio::test]
async fn jobs_round_trip_through_submit_list_get_cancel_and_retry() {
    for db in TestDb::both().await {
        let label = db.label;
        let q = Queue::new(db.store.clone());
        let api = Api::start(q.clone(), Some(TOKEN), &[]).await;

        let (status, body) = api
            .post(
                "/jobs",
                Some(json!({
                    "pipeline": "media",
                    "input": "/in/a.mxf",
                    "payload": {"profile": "hd", "opts": {"crf": 20}},
                    "priority": 2,
                    "max_attempts": 5,
                    "dry_run": true,
                    "import": true,
                    "run_at_ms": 4_000_000_000_000_i64,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{label}: {body}");
        assert_eq!(body["created"], true);
        let a = body["id"].as_i64().unwrap();
        let (_, got) = api.get(&format!("/jobs/{a}")).await;
        assert_eq!(got["id"], a, "{label}");
        assert_eq!(got["state"], "pending");
        assert_eq!(
            got["payload"],
            json!({"input": "/in/a.mxf", "profile": "hd", "opts": {"crf": 20}}),
            "{label}: the payload is an object, with the input in it"
        );
        assert_eq!(got["priority"], 2);
        assert_eq!(got["max_attempts"], 5);
        assert_eq!(got["dry_run"], true);
        assert_eq!(got["import_only"], true);
        assert_eq!(got["run_at_ms"], 4_000_000_000_000_i64);
        assert_eq!(got["attempts"], json!([]));
        assert_eq!(got["steps"], json!([]));
        assert_eq!(got["logs"], json!([]));

        // Unique keys: the second submission names the first job.
        let keyed = json!({"pipeline": "media", "unique_key": "a.mxf"});
        let (s1, k1) = api.post("/jobs", Some(keyed.clone())).await;
        let (s2, k2) = api.post("/jobs", Some(keyed.clone())).await;
        assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK), "{label}");
        assert_eq!(k2["created"], false);
        assert_eq!(k1["id"], k2["id"]);
        let k = k1["id"].as_i64().unwrap();

        let (_, p) = api.post("/jobs", Some(json!({"pipeline": "pdf"}))).await;
        let pdf = p["id"].as_i64().unwrap();

        // Listing: filters and paging, newest first.
        let (_, all) = api.get("/jobs").await;
        let ids: Vec<i64> = all["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![pdf, k, a], "{label}");
        assert!(all["jobs"][2]["payload"].is_object(), "{label}");
        let (_, only_pdf) = api.get("/jobs?pipeline=pdf&state=pending").await;
        assert_eq!(only_pdf["jobs"].as_array().unwrap().len(), 1);
        assert_eq!(only_pdf["jobs"][0]["id"], pdf);
        let (_, page) = api.get(&format!("/jobs?limit=1&before={pdf}")).await;
        assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
        assert_eq!(page["jobs"][0]["id"], k, "{label}");
        let (_, none) = api.get("/jobs?state=running").await;
        assert_eq!(none["jobs"], json!([]));

        // A worker claims the first job (lowest priority value first).
        let w = q.register(&worker("w1")).await.unwrap();
        let claims = q.claim(w, &media(), 1, 60_000).await.unwrap();
        assert_eq!(claims.len(), 1);
        let lease = claims[0].lease;
        let running = claims[0].job.id;
        assert!(q.log(&lease, "info", "probing").await.unwrap());
        let (_, got) = api.get(&format!("/jobs/{running}")).await;
        assert_eq!(got["state"], "running", "{label}");
        assert_eq!(got["worker_id"], w);
        assert_eq!(got["attempts"][0]["attempt"], 1);
        assert_eq!(got["attempts"][0]["worker_id"], w);
        assert!(got["attempts"][0]["finished_ms"].is_null());
        assert_eq!(got["logs"][0]["level"], "info");
        assert_eq!(got["logs"][0]["message"], "probing");
        let (_, list) = api.get("/jobs?state=running").await;
        assert_eq!(list["jobs"][0]["id"], running, "{label}");

        // Retrying a running job is a conflict; cancelling it flags it.
        let r = api.post(&format!("/jobs/{running}/retry"), None).await;
        assert_error(&r, StatusCode::CONFLICT, "retry running");
        assert!(r.1["message"].as_str().unwrap().contains("retried"));
        let (s, c) = api.post(&format!("/jobs/{running}/cancel"), None).await;
        assert_eq!(s, StatusCode::OK, "{label}: {c}");
        assert_eq!(c, json!({"id": running, "state": "running"}));
        let (_, got) = api.get(&format!("/jobs/{running}")).await;
        assert_eq!(got["cancel_requested"], true, "{label}");

        // The worker finishes it anyway: result and steps show as JSON.
        let step = StepRecord {
            name: "transcode".into(),
            state: "succeeded".into(),
            started_ms: 1,
            finished_ms: 2,
            output: json!({"file": "out.mp4"}),
            error: None,
        };
        let done = Outcome::Succeeded {
            result: json!({"outputs": ["out.mp4"]}),
            steps: vec![step],
        };
        assert!(q.finish(&lease, &done).await.unwrap());
        let (_, got) = api.get(&format!("/jobs/{running}")).await;
        assert_eq!(got["state"], "succeeded", "{label}");
        assert_eq!(got["result"], json!({"outputs": ["out.mp4"]}));
        assert_eq!(got["steps"][0]["name"], "transcode");
        assert_eq!(got["steps"][0]["output"], json!({"file": "out.mp4"}));
        assert_eq!(got["attempts"][0]["outcome"], "succeeded");
        let r = api.post(&format!("/jobs/{running}/cancel"), None).await;
        assert_error(&r, StatusCode::CONFLICT, "cancel succeeded");
        assert!(r.1["message"].as_str().unwrap().contains("succeeded"));

        // Cancel a pending job, then retry it.
        let (s, c) = api.post(&format!("/jobs/{pdf}/cancel"), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(c, json!({"id": pdf, "state": "cancelled"}), "{label}");
        let (s, r) = api.post(&format!("/jobs/{pdf}/retry"), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(r, json!({"id": pdf, "state": "pending"}));
        assert_eq!(q.get(pdf).await.unwrap().unwrap().state, "pending");

        // Unknown and non-numeric ids.
        for path in ["/jobs/999999", "/jobs/-1"] {
            assert_error(&api.get(path).await, StatusCode::NOT_FOUND, path);
        }
        for path in ["/jobs/999999/cancel", "/jobs/999999/retry"] {
            assert_error(&api.post(path, None).await, StatusCode::NOT_FOUND, path);
        }
        assert_error(&api.get("/jobs/abc").await, StatusCode::BAD_REQUEST, "abc");
        assert_error(
            &api.post("/jobs/1x/cancel", None).await,
            StatusCode::BAD_REQUEST,
            "1x",
        );

        // Workers and the summary.
        let (_, ws) = api.get("/workers").await;
        assert_eq!(ws["workers"][0]["id"], w, "{label}");
        assert_eq!(ws["workers"][0]["capabilities"], json!({"ffmpeg": "7.1"}));
        assert_eq!(ws["workers"][0]["runnable"], json!(["media"]));
        let (_, sum) = api.get("/summary").await;
        assert_eq!(sum["jobs"]["pending"], 2, "{label}: {sum}");
        assert_eq!(sum["jobs"]["succeeded"], 1);
        assert_eq!(sum["jobs"]["dead"], 0);
        assert_eq!(sum["workers_active"], 1);
        assert_eq!(sum["slots"], 3);
        q.unregister(w).await.unwrap();
        let (_, ws) = api.get("/workers").await;
        assert_eq!(ws["workers"], json!([]), "{label}");
        let (_, ws) = api.get("/workers?all=true").await;
        assert_eq!(ws["workers"][0]["state"], "stopped", "{label}");
        let (_, sum) = api.get("/summary").await;
        assert_eq!(sum["workers_active"], 0);
        assert_eq!(sum["slots"], 0);

        drop(api);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_a_json_body() {
    let db = TestDb::sqlite().await;
    let q = Queue::new(db.store.clone());
    let api = Api::start(q.clone(), Some(TOKEN), &["media", "pdf"]).await;

    let bad_json = [
        ("malformed", "{\"pipeline\": \"media\""),
        ("not an object", "[1, 2]"),
        ("missing pipeline", "{\"priority\": 1}"),
        ("pipeline type", "{\"pipeline\": 5}"),
        (
            "priority type",
            "{\"pipeline\": \"media\", \"priority\": \"high\"}",
        ),
        (
            "payload type",
            "{\"pipeline\": \"media\", \"payload\": [1]}",
        ),
        (
            "dry_run type",
            "{\"pipeline\": \"media\", \"dry_run\": \"yes\"}",
        ),
        ("unknown field", "{\"pipeline\": \"media\", \"prio\": 1}"),
        ("empty body", ""),
    ];
    for (what, body) in bad_json {
        let r = api.post_raw("/jobs", body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, what);
    }
    let r = api
        .post_raw("/jobs", "{\"pipeline\": \"media\", \"prio\": 1}")
        .await;
    assert!(
        r.1["message"].as_str().unwrap().contains("prio"),
        "the message names the unknown field: {}",
        r.1
    );

    let refused = [
        ("unknown pipeline", json!({"pipeline": "ftp"})),
        (
            "no attempts",
            json!({"pipeline": "media", "max_attempts": 0}),
        ),
        (
            "input twice",
            json!({"pipeline": "media", "input": "a", "payload": {"input": "b"}}),
        ),
        (
            "long key",
            json!({"pipeline": "media", "unique_key": "k".repeat(600)}),
        ),
    ];
    for (what, body) in refused {
        let r = api.post("/jobs", Some(body)).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, what);
    }
    let r = api.post("/jobs", Some(json!({"pipeline": "ftp"}))).await;
    assert!(r.1["message"].as_str().unwrap().contains("ftp"), "{}", r.1);
    assert!(q.counts().await.unwrap().is_empty(), "nothing was queued");
    // An allowed pipeline passes.
    let (s, _) = api.post("/jobs", Some(json!({"pipeline": "pdf"}))).await;
    assert_eq!(s, StatusCode::CREATED);

    assert_error(
        &api.get("/jobs?state=finished").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad state",
    );
    assert_error(
        &api.get("/jobs?limit=ten").await,
        StatusCode::BAD_REQUEST,
        "bad limit",
    );
    assert_error(
        &api.get("/workers?all=maybe").await,
        StatusCode::BAD_REQUEST,
        "bad all",
    );
    assert_error(
        &api.get("/events?since_ms=yesterday").await,
        StatusCode::BAD_REQUEST,
        "bad since_ms",
    );
    assert_error(
        &api.get("/nothing/here").await,
        StatusCode::NOT_FOUND,
        "unknown endpoint",
    );
    assert_error(
        &api.get("/jobs/1/cancel").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "GET on cancel",
    );
    drop(api);
    db.cleanup().await;
}

// ------------------------------------------------------------- events

/// Reads Server-Sent Events from a response.
struct Events {
    stream: BoxStream<'static, reqwest::Result<String>>,
    buf: String,
}

impl Events {
    async fn open(api: &Api, query: &str) -> Events {
        let r = api
            .http
            .get(api.url(&format!("/events{query}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        let stream = r
            .bytes_stream()
            .map(|c| c.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .boxed();
        Events {
            stream,
            buf: String::new(),
        }
    }

    /// The next event `(name, data)` (comments skipped), or `None` when
    /// nothing comes within `within`.
    async fn next(&mut self, within: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if !data.is_empty() {
                    let value = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"));
                    return Some((name, value));
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(chunk)) => self.buf.push_str(&chunk.unwrap()),
                Ok(None) => panic!("the event stream ended"),
                Err(_) => return None,
            }
        }
    }

    /// Events until one matches, within `within`; all of them.
    async fn until(
        &mut self,
        within: Duration,
        want: impl Fn(&str, &Value) -> bool,
    ) -> Vec<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some((name, data)) = self.next(left).await else {
                panic!("no matching event within {within:?}; got {got:?}");
            };
            let hit = want(&name, &data);
            got.push((name, data));
            if hit {
                return got;
            }
        }
    }
}

const SOON: Duration = Duration::from_secs(5);

#[tokio::test]
async fn events_stream_job_and_worker_changes_once_each() {
    for db in TestDb::both().await {
        let label = db.label;
        let q = Queue::new(db.store.clone());
        let api = Api::start(q.clone(), Some(TOKEN), &[]).await;

        // A job changed before the stream starts is not sent...
        let (before, _) = q
            .submit(&NewJob::new("media", json!({})), actor())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut ev = Events::open(&api, "").await;

        let (_, body) = api.post("/jobs", Some(json!({"pipeline": "media"}))).await;
        let id = body["id"].as_i64().unwrap();
        let got = ev.until(SOON, |n, d| n == "job" && d["id"] == id).await;
        let (_, job) = got.last().unwrap();
        assert_eq!(job["state"], "pending", "{label}");
        assert!(job["payload"].is_object());
        assert!(
            !got.iter().any(|(n, d)| n == "job" && d["id"] == before),
            "{label}: a change from before the start was sent: {got:?}"
        );

        // A worker registers and claims both jobs.
        let w = q.register(&worker("w1")).await.unwrap();
        let claims = q.claim(w, &media(), 2, 60_000).await.unwrap();
        assert_eq!(claims.len(), 2);
        let mut seen = got.clone();
        seen.extend(
            ev.until(SOON, |n, d| {
                n == "job" && d["id"] == id && d["state"] == "running"
            })
            .await,
        );
        assert_eq!(seen.last().unwrap().1["worker_id"], w, "{label}");
        // The worker shows up too (maybe already, maybe next poll).
        if !seen.iter().any(|(n, d)| n == "worker" && d["id"] == w) {
            seen.extend(ev.until(SOON, |n, d| n == "worker" && d["id"] == w).await);
        }
        let wev = seen
            .iter()
            .find(|(n, d)| n == "worker" && d["id"] == w)
            .unwrap();
        assert_eq!(wev.1["state"], "active", "{label}");
        assert_eq!(wev.1["capabilities"], json!({"ffmpeg": "7.1"}));

        // Across the overlap window, each change is sent exactly once.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let drain_until = tokio::time::Instant::now() + SOON;
        while tokio::time::Instant::now() < drain_until {
            match ev.next(Duration::from_millis(1500)).await {
                Some(e) => seen.push(e),
                None => break,
            }
        }
        let pending_events = seen
            .iter()
            .filter(|(n, d)| n == "job" && d["id"] == id && d["state"] == "pending")
            .count();
        let running_events = seen
            .iter()
            .filter(|(n, d)| n == "job" && d["id"] == id && d["state"] == "running")
            .count();
        assert_eq!(
            (pending_events, running_events),
            (1, 1),
            "{label}: {seen:?}"
        );
        // The job of before was sent once it changed (claimed).
        assert!(
            seen.iter()
                .any(|(n, d)| n == "job" && d["id"] == before && d["state"] == "running"),
            "{label}: {seen:?}"
        );

        // A stopping worker is sent, and so is its job going back.
        q.unregister(w).await.unwrap();
        let mut stop = ev
            .until(SOON, |n, d| n == "worker" && d["state"] == "stopped")
            .await;
        if !stop
            .iter()
            .any(|(n, d)| n == "job" && d["id"] == id && d["state"] == "pending")
        {
            stop.extend(
                ev.until(SOON, |n, d| {
                    n == "job" && d["id"] == id && d["state"] == "pending"
                })
                .await,
            );
        }
        // `since_ms` replays older changes.
        let mut replay = Events::open(&api, "?since_ms=0").await;
        replay
            .until(SOON, |n, d| n == "job" && d["id"] == before)
            .await;
        drop(replay);
        drop(ev);
        drop(api);
        db.cleanup().await;
    }
}

/// Renames the job table away or back, to make the store fail.
async fn rename(db: &TestDb, from: &str, to: &str) {
    let sql = format!("ALTER TABLE {from} RENAME TO {to}");
    match db.store.pool() {
        Pool::Sqlite(p) => sqlx::query(&sql).execute(p).await.map(|_| ()),
        Pool::Postgres(p) => sqlx::query(&sql).execute(p).await.map(|_| ()),
    }
    .unwrap();
}

#[tokio::test]
async fn events_survive_a_store_error() {
    for db in TestDb::both().await {
        let label = db.label;
        let q = Queue::new(db.store.clone());
        let api = Api::start(q.clone(), Some(TOKEN), &[]).await;
        let mut ev = Events::open(&api, "").await;
        // Let the stream poll once while the store works.
        tokio::time::sleep(Duration::from_millis(700)).await;

        rename(&db, "ingest_job", "ingest_job_away").await;
        let mut seen = ev.until(SOON, |n, _| n == "error").await;
        assert_eq!(seen.last().unwrap().1["error"], "store_error", "{label}");
        // Several failing polls later, still one error event.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        rename(&db, "ingest_job_away", "ingest_job").await;

        let (id, _) = q
            .submit(&NewJob::new("media", json!({})), actor())
            .await
            .unwrap();
        seen.extend(ev.until(SOON, |n, d| n == "job" && d["id"] == id).await);
        let errors = seen.iter().filter(|(n, _)| n == "error").count();
        assert_eq!(errors, 1, "{label}: {seen:?}");
        drop(ev);
        drop(api);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn events_report_an_overflow_instead_of_stalling() {
    let db = TestDb::sqlite().await;
    let q = Queue::new(db.store.clone());
    let api = Api::start(q.clone(), Some(TOKEN), &[]).await;
    let mut ev = Events::open(&api, "").await;
    // 1500 jobs changed in the same millisecond: more than one read holds.
    let jobs: Vec<NewJob> = (0..1500)
        .map(|i| NewJob::new("noop", json!({ "n": i })))
        .collect();
    assert_eq!(q.submit_many(&jobs, actor()).await.unwrap(), 1500);
    let got = ev.until(SOON, |n, _| n == "overflow").await;
    let job_events = got.iter().filter(|(n, _)| n == "job").count();
    assert_eq!(job_events, 1000, "one full read is sent, each job once");
    assert!(got.last().unwrap().1["message"]
        .as_str()
        .unwrap()
        .contains("reload"));
    // The stream goes on with later changes.
    let (id, _) = q
        .submit(&NewJob::new("media", json!({})), actor())
        .await
        .unwrap();
    ev.until(SOON, |n, d| n == "job" && d["id"] == id).await;
    drop(ev);
    drop(api);
    db.cleanup().await;
}
