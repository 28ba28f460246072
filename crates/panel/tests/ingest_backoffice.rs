//! The ingest and back-office pages over real HTTP on SQLite and
//! PostgreSQL: jobs with live progress, cancel/retry and their roles, the
//! event stream; cases with transitions, comments, tasks, reminders and
//! attachments, notifications, the audit and request logs, messages.

mod common;

use std::time::Duration;

use common::{each_db, Browser, PanelServer};
use efir_backoffice::admin::StaffRole;
use efir_backoffice::cases::Cases;
use efir_ingest::queue::{LeaseKey, NewJob, Outcome, Queue, WorkerInfo};
use efir_store::testing::TestDb;
use efir_store::Actor;
use reqwest::StatusCode;
use serde_json::json;

/// The page as text with the slashes the template engine escapes.
fn unescape(body: &str) -> String {
    body.replace("&#x2f;", "/")
}

fn system() -> Actor {
    Actor::System("test".into())
}

async fn submit(q: &Queue, input: &str) -> i64 {
    let job = NewJob::new(
        "noop",
        json!({"input": input, "target": {"password": "hunter2-secret"}}),
    );
    q.submit(&job, system()).await.unwrap().0
}

async fn job_state(s: &PanelServer, id: i64) -> String {
    Queue::new(s.store.clone())
        .get(id)
        .await
        .unwrap()
        .unwrap()
        .state
}

/// Runs job `id` to success on a fresh worker.
async fn run_to_success(q: &Queue, id: i64) {
    let worker = q
        .register(&WorkerInfo {
            name: "w-test".into(),
            host: "render-01".into(),
            pid: 42,
            slots: 4,
            capabilities: json!({"tools": {"ffmpeg": "6.1"}, "mounts": {"source": "/mnt/src-share"}}),
            runnable: vec!["noop".into()],
            mounts_ok: true,
            mount_error: None,
        })
        .await
        .unwrap();
    let claims = q.claim(worker, &["noop".into()], 10, 60_000).await.unwrap();
    let claim = claims.into_iter().find(|c| c.job.id == id).unwrap();
    let lease: LeaseKey = claim.lease;
    q.log(&lease, "info", "probing <input>").await.unwrap();
    let ok = Outcome::Succeeded {
        result: json!({"files": 1}),
        steps: Vec::new(),
    };
    assert!(q.finish(&lease, &ok).await.unwrap());
}

#[tokio::test]
async fn jobs_list_detail_cancel_retry_and_roles() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let q = Queue::new(s.store.clone());
        let done = submit(&q, "trailer.mov").await;
        run_to_success(&q, done).await;
        let pending = submit(&q, "movie.mov").await;

        // Every role reads the farm.
        let watcher = s.login_as("watch", StaffRole::Monitoring, Some(a.id)).await;
        let page = watcher.get("/admin/ingest/jobs").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page
            .body
            .contains("data-events=\"/admin/ingest/events?since="));
        assert!(page.body.contains(&format!("data-job=\"{pending}\"")));
        assert!(page.body.contains(&format!("data-job=\"{done}\"")));
        // The state filter.
        let page = watcher.get("/admin/ingest/jobs?state=succeeded").await;
        assert!(page.body.contains(&format!("data-job=\"{done}\"")));
        assert!(!page.body.contains(&format!("data-job=\"{pending}\"")));
        assert!(page.body.contains("<span id=\"total\">1</span>"));

        // The detail of the finished job: state, 100 %, progress bar, log,
        // and no secret of the payload.
        let page = watcher.get(&format!("/admin/ingest/jobs/{done}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains(&format!("data-job=\"{done}\"")));
        assert!(page.body.contains(">succeeded</span>"), "{}", page.body);
        assert!(page
            .body
            .contains("<span data-field=\"progress\">100 %</span>"));
        assert!(page.body.contains("<progress max=\"100\" value=\"100"));
        assert!(page.body.contains("probing &lt;input&gt;"));
        assert!(page.body.contains("trailer.mov"));
        assert!(!page.body.contains("hunter2-secret"));
        assert!(page.body.contains("***"));
        // Monitoring and support users may not cancel; nothing changes.
        let path = format!("/admin/ingest/jobs/{pending}/cancel");
        assert_eq!(watcher.post(&path, &[]).await.status, StatusCode::FORBIDDEN);
        let support = s.login_as("sam", StaffRole::Support, Some(a.id)).await;
        assert_eq!(support.post(&path, &[]).await.status, StatusCode::FORBIDDEN);
        assert_eq!(job_state(&s, pending).await, "pending");
        // Without the CSRF token: refused.
        let admin = s
            .login_as("anna", StaffRole::OperatorAdmin, Some(a.id))
            .await;
        assert_eq!(
            admin.post_raw(&path, &[]).await.status,
            StatusCode::FORBIDDEN
        );
        // An admin cancels: audited as the staff user.
        let page = admin.post(&path, &[]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(job_state(&s, pending).await, "cancelled");
        let actor: String =
            efir_store::with_db!(s.store.pool(), p => sqlx::query_scalar::<_, String>(
            "SELECT actor FROM audit_event WHERE action = 'ingest.job.cancel' AND entity_id = $1")
            .bind(pending.to_string()).fetch_one(p).await)
            .unwrap();
        assert!(actor.contains("anna"), "{actor}");
        // Cancelling again is a conflict; retry runs it again.
        assert_eq!(admin.post(&path, &[]).await.status, StatusCode::CONFLICT);
        let page = admin
            .post(&format!("/admin/ingest/jobs/{pending}/retry"), &[])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(job_state(&s, pending).await, "pending");
        assert_eq!(
            admin.get("/admin/ingest/jobs/999999").await.status,
            StatusCode::NOT_FOUND
        );
        // Workers with slots and mounts; pipelines and hot folders.
        let page = watcher.get("/admin/ingest/workers").await;
        assert!(page.body.contains("w-test") && unescape(&page.body).contains("/mnt/src-share"));
        assert!(page.body.contains("render-01"));
        let page = watcher.get("/admin/ingest/pipelines").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("noop"));
        assert_eq!(
            watcher.get("/admin/ingest/hotfolders").await.status,
            StatusCode::OK
        );
        s
    })
    .await;
}

/// Reads the event stream until `want` shows up (or 15 s pass).
async fn read_until(resp: &mut reqwest::Response, want: &[&str]) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while want.iter().any(|w| !seen.contains(w)) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    seen
}

#[tokio::test]
async fn job_events_need_a_session_and_stream_changes() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let q = Queue::new(s.store.clone());
        let id = submit(&q, "live.mov").await;
        // Without a session: to the login page, no stream.
        let anon = s.browser();
        let page = anon.get("/admin/ingest/events").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert!(page
            .location
            .unwrap_or_default()
            .starts_with("/admin/login"));
        // With one: an event stream that reports the change of the job,
        // and, from the time the page was rendered (`since`), a change made
        // before the stream was opened.
        let b: Browser = s.login_as("watch", StaffRole::Monitoring, Some(a.id)).await;
        let rendered = efir_ingest::queue::now_ms();
        let early = submit(&q, "early.mov").await;
        q.cancel(early, system()).await.unwrap();
        let mut resp = b
            .http
            .get(format!("{}/admin/ingest/events?since={rendered}", s.base))
            .header(
                "cookie",
                format!("efir_session={}", b.session.clone().unwrap()),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let seen = read_until(&mut resp, &[&format!("\"id\":{early}")]).await;
        assert!(seen.contains("\"state\":\"cancelled\""), "{seen}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        q.cancel(id, system()).await.unwrap();
        let seen = read_until(
            &mut resp,
            &[&format!("\"id\":{id}"), "\"state\":\"cancelled\""],
        )
        .await;
        assert!(seen.contains("event: job"), "{seen}");
        assert!(seen.contains(&format!("\"id\":{id}")), "{seen}");
        assert!(seen.contains("\"state\":\"cancelled\""), "{seen}");
        assert!(!seen.contains("hunter2"), "{seen}");
        drop(resp);
        s
    })
    .await;
}

fn location_id(location: Option<String>) -> i64 {
    location
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn case_flow_with_task_reminder_and_notification() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let b_op = s.operator("beta").await;
        let sam = s.login_as("sam", StaffRole::Support, Some(a.id)).await;
        // Bad input: 422 with the field named.
        let page = sam
            .post(
                "/admin/cases/new",
                &[("case_type", "support_ticket"), ("title", "  ")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-title\""), "{}", page.body);
        let page = sam
            .post(
                "/admin/cases/new",
                &[("case_type", "no_such_type"), ("title", "x")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-case_type\""));
        // Create.
        let title = "<script>alert(1)</script> No picture";
        let page = sam
            .post(
                "/admin/cases/new",
                &[
                    ("case_type", "support_ticket"),
                    ("title", title),
                    ("description", "Channel 5 is black"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let id = location_id(page.location);
        // Escaped on the list and the detail.
        let list = sam.get("/admin/cases?q=picture").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(
            list.body
                .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; No picture")
                || list
                    .body
                    .contains("&lt;script&gt;alert(1)&lt;/script&gt; No picture"),
            "{}",
            list.body
        );
        assert!(!list.body.contains("<script>alert(1)"));
        assert!(sam
            .get("/admin/cases?q=nothing-like-this")
            .await
            .body
            .contains("<span id=\"total\">0</span>"));
        let page = sam.get(&format!("/admin/cases/{id}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("<script>alert(1)"));
        assert!(page.body.contains("→ in_progress"));
        // Transition: allowed, and not allowed from the new state.
        let page = sam
            .post(
                &format!("/admin/cases/{id}/transition"),
                &[("to", "in_progress")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let page = sam
            .post(
                &format!("/admin/cases/{id}/transition"),
                &[("to", "closed")],
            )
            .await;
        assert_eq!(page.status, StatusCode::CONFLICT);
        let page = sam.get(&format!("/admin/cases/{id}")).await;
        assert!(page.body.contains("in_progress"));
        assert!(page.body.contains("→ waiting_customer"));
        // Comments: empty is 422 on the field, text is kept and escaped.
        let page = sam
            .post(&format!("/admin/cases/{id}/comments"), &[("body", " ")])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-body\""), "{}", page.body);
        let page = sam
            .post(
                &format!("/admin/cases/{id}/comments"),
                &[("body", "Called the <b>customer</b>")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        // Tasks: a bad time is 422; a good one is stored.
        let page = sam
            .post(
                &format!("/admin/cases/{id}/tasks"),
                &[("title", "Call back"), ("due_at", "tomorrow")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("id=\"err-due_at\""));
        let page = sam
            .post(
                &format!("/admin/cases/{id}/tasks"),
                &[
                    ("title", "Call back Mrs Smith"),
                    ("due_at", "2030-01-01T12:00"),
                    ("remind_at", "2030-01-01T10:00"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let page = sam.get(&format!("/admin/cases/{id}")).await;
        assert!(
            page.body
                .contains("Called the &lt;b&gt;customer&lt;&#x2f;b&gt;")
                || page.body.contains("Called the &lt;b&gt;customer&lt;/b&gt;")
        );
        assert!(page.body.contains("Call back Mrs Smith"));
        assert!(page.body.contains("2030-01-01 12:00"));
        assert!(page.body.contains("2030-01-01 10:00"));
        // The reminder job (behind `send-case-reminders`) after remind_at:
        // the owner (the creator) sees it on the notifications page.
        assert!(!sam
            .get("/admin/notifications")
            .await
            .body
            .contains("Call back Mrs Smith"));
        let remind_at = chrono::NaiveDateTime::parse_from_str("2030-01-01T10:00", "%Y-%m-%dT%H:%M")
            .unwrap()
            .and_utc()
            .timestamp();
        let engine = Cases::new(
            s.store.clone(),
            &efir_core::config::CasesConfig::default(),
            s.data_dir.path().to_path_buf(),
        );
        assert_eq!(
            engine
                .send_reminders(remind_at + 60, system())
                .await
                .unwrap(),
            1
        );
        let page = sam.get("/admin/notifications").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Call back Mrs Smith"), "{}", page.body);
        let nid: i64 = efir_store::with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
            "SELECT id FROM staff_notification WHERE case_id = $1").bind(id).fetch_one(p).await)
        .unwrap();
        let page = sam
            .post(&format!("/admin/notifications/{nid}/read"), &[])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert!(!sam
            .get("/admin/notifications?unread=1")
            .await
            .body
            .contains("Call back Mrs Smith"));
        // The task is marked done.
        let task: i64 = efir_store::with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
            "SELECT id FROM case_task WHERE case_id = $1").bind(id).fetch_one(p).await)
        .unwrap();
        let page = sam
            .post(
                &format!("/admin/cases/{id}/tasks/{task}/done"),
                &[("done", "1")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let done: bool = efir_store::with_db!(s.store.pool(), p => sqlx::query_scalar::<_, bool>(
            "SELECT done FROM case_task WHERE id = $1").bind(task).fetch_one(p).await)
        .unwrap();
        assert!(done);

        // Monitoring users read but may not write.
        let watcher = s.login_as("watch", StaffRole::Monitoring, Some(a.id)).await;
        assert_eq!(
            watcher.get(&format!("/admin/cases/{id}")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            watcher
                .post(&format!("/admin/cases/{id}/comments"), &[("body", "hi")])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        // Another operator's staff: 404, and not in their list.
        let other = s.login_as("bob", StaffRole::Support, Some(b_op.id)).await;
        assert_eq!(
            other.get(&format!("/admin/cases/{id}")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            other
                .post(&format!("/admin/cases/{id}/comments"), &[("body", "hi")])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert!(!other.get("/admin/cases").await.body.contains("No picture"));

        // The audit log: admins only; the creation is found by its action.
        assert_eq!(sam.get("/admin/audit").await.status, StatusCode::FORBIDDEN);
        assert_eq!(
            sam.get("/admin/request-log").await.status,
            StatusCode::FORBIDDEN
        );
        let anna = s
            .login_as("anna", StaffRole::OperatorAdmin, Some(a.id))
            .await;
        let page = anna
            .get("/admin/audit?action=case.create&entity=case")
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            unescape(&page.body).contains(&format!("href=\"/admin/cases/{id}\"")),
            "{}",
            page.body
        );
        assert!(page.body.contains("<span id=\"total\">1</span>"));
        let page = anna.get("/admin/audit?q=nothing-like-this").await;
        assert!(page.body.contains("<span id=\"total\">0</span>"));
        assert_eq!(
            anna.get("/admin/audit?from=yesterday").await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // Operator B's admin does not see operator A's events.
        let bert = s
            .login_as("bert", StaffRole::OperatorAdmin, Some(b_op.id))
            .await;
        let page = bert.get("/admin/audit?action=case.create").await;
        assert!(
            page.body.contains("<span id=\"total\">0</span>"),
            "{}",
            page.body
        );
        s
    })
    .await;
}

fn multipart(name: &str, ty: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----efirTestBoundary7MA4YWxk";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: {ty}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn attachments_messages_and_request_log() {
    each_db(|s| async move {
        let a = s.operator("alpha").await;
        let b_op = s.operator("beta").await;
        let anna = s.login_as("anna", StaffRole::OperatorAdmin, Some(a.id)).await;
        let page = anna
            .post(
                "/admin/cases/new",
                &[("case_type", "support_ticket"), ("title", "Remote broken")],
            )
            .await;
        let id = location_id(page.location);
        // An upload from the form (multipart, token in the query).
        let send = |ct: String, body: Vec<u8>| {
            anna.http
                .post(format!(
                    "{}/admin/cases/{id}/attachments?_csrf={}",
                    s.base,
                    anna.csrf()
                ))
                .header("cookie", format!("efir_session={}", anna.session.clone().unwrap()))
                .header("content-type", ct)
                .body(body)
                .send()
        };
        let (ct, body) = multipart("notes.txt", "text/plain", b"the remote is dead");
        let resp = send(ct, body).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let page = anna.get(&format!("/admin/cases/{id}")).await;
        assert!(page.body.contains("notes.txt"), "{}", page.body);
        let att: i64 = efir_store::with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
            "SELECT id FROM case_attachment WHERE case_id = $1").bind(id).fetch_one(p).await)
        .unwrap();
        let page = anna.get(&format!("/admin/cases/{id}/attachments/{att}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body, "the remote is dead");
        // A file that is not an allowed kind: the form again with the error.
        let (ct, body) = multipart("tool.exe", "application/octet-stream", b"MZ\x90\x00\x03\x00");
        let resp = send(ct, body).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(resp.text().await.unwrap().contains("id=\"err-file\""));
        // Another operator's staff cannot download it.
        let bob = s.login_as("bob", StaffRole::OperatorAdmin, Some(b_op.id)).await;
        assert_eq!(
            bob.get(&format!("/admin/cases/{id}/attachments/{att}")).await.status,
            StatusCode::NOT_FOUND
        );

        // A failed SMS of operator A, with markup in its text.
        let now = efir_store::now();
        let msg: i64 = efir_store::with_db!(s.store.pool(), p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO outbound_message (client_id, channel, recipient, body, state, attempts, \
             next_attempt_at, last_error, created_at) \
             VALUES ($1, 'sms', '+79990001122', $2, 'failed', 3, $3, 'gateway said no', $3) RETURNING id")
            .bind(a.id).bind("<script>x()</script> pay now").bind(now).fetch_one(p).await)
        .unwrap();
        let page = anna.get("/admin/messages").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("+79990001122") && page.body.contains("gateway said no"));
        assert!(!page.body.contains("<script>x()"));
        assert!(unescape(&page.body).contains(&format!("action=\"/admin/messages/{msg}/resend\"")));
        assert!(page.body.contains("<span id=\"total\">1</span>"));
        let page = anna.get("/admin/messages?state=sent").await;
        assert!(page.body.contains("<span id=\"total\">0</span>"));
        let page = bob.get("/admin/messages").await;
        assert!(!page.body.contains("+79990001122"));
        assert!(page.body.contains("<span id=\"total\">0</span>"));
        assert_eq!(
            bob.post(&format!("/admin/messages/{msg}/resend"), &[]).await.status,
            StatusCode::NOT_FOUND
        );
        let watcher = s.login_as("watch", StaffRole::Monitoring, Some(a.id)).await;
        assert_eq!(
            watcher.post(&format!("/admin/messages/{msg}/resend"), &[]).await.status,
            StatusCode::FORBIDDEN
        );
        let page = anna.post(&format!("/admin/messages/{msg}/resend"), &[]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let state: String = efir_store::with_db!(s.store.pool(), p => sqlx::query_scalar::<_, String>(
            "SELECT state FROM outbound_message WHERE id = $1").bind(msg).fetch_one(p).await)
        .unwrap();
        assert_eq!(state, "queued");

        // The request log (written in the background): the admin's own
        // requests, filtered by path; a bad status filter is 422.
        let mut found = false;
        for _ in 0..50 {
            let page = anna.get("/admin/request-log?path=/admin/messages").await;
            assert_eq!(page.status, StatusCode::OK);
            if unescape(&page.body).contains("/admin/messages") && page.body.contains("anna") {
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(found);
        let page = bob.get("/admin/request-log?user=anna").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("<span id=\"total\">0</span>"));
        assert_eq!(
            anna.get("/admin/request-log?status=abc").await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        s
    })
    .await;
}

/// A panel whose configuration has `ingest` (the common server runs with
/// the defaults): `(base URL, server task)`.
async fn start_with_ingest(
    db: &TestDb,
    ingest: serde_json::Value,
    data_dir: &std::path::Path,
) -> (String, tokio::task::JoinHandle<()>) {
    let admin = efir_backoffice::admin::AdminState::new(
        db.store.clone(),
        efir_backoffice::AdminOptions {
            data_dir: data_dir.to_path_buf(),
            session_hours: 12,
            trusted_proxies: Vec::new(),
        },
    );
    let mw = efir_middleware::Middleware::new(
        db.store.clone(),
        efir_middleware::Options {
            trusted_proxies: Vec::new(),
            caches: Default::default(),
        },
    );
    let config = efir_core::config::Config {
        ingest: serde_json::from_value(ingest).unwrap(),
        ..Default::default()
    };
    let options = efir_panel::PanelOptions {
        config: std::sync::Arc::new(config),
        ..Default::default()
    };
    let panel = efir_panel::Panel::new(admin, mw, options);
    let app = efir_panel::routes(panel);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn pipelines_and_hot_folders_never_show_secrets() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let ingest = json!({
            "pipeline": [{
                "name": "press",
                "priority": 2,
                "step": [
                    {"kind": "probe"},
                    {"kind": "deliver", "name": "to-bureau", "target": {
                        "kind": "ftp", "host": "ftp.bureau.example", "user": "shop",
                        "password": "ftp-pass-s3cret", "dir": "/in"}}
                ]
            }],
            "hot_folder": [{"name": "drop-<b>", "path": "/srv/hot/press", "pipeline": "press"}],
            "api_token": "ingest-api-token-s3cret",
        });
        let (base, task) = start_with_ingest(&db, ingest, dir.path()).await;
        let mut tx = db.store.begin(system()).await.unwrap();
        db.store
            .create_user(
                &mut tx,
                &efir_store::users::NewUser {
                    username: "root".into(),
                    password: common::PASSWORD.into(),
                    email: "root@example.net".into(),
                    is_admin: false,
                    is_superuser: true,
                    monitoring_user: false,
                    client_id: None,
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut b = Browser {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            session: None,
        };
        assert_eq!(
            b.login("root", common::PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        let page = b.get("/admin/ingest/pipelines").await;
        assert_eq!(page.status, StatusCode::OK);
        let body = unescape(&page.body);
        assert!(
            body.contains("press") && body.contains("to-bureau"),
            "{body}"
        );
        assert!(
            body.contains("ftp://shop@ftp.bureau.example:21/in/"),
            "{body}"
        );
        assert!(!body.contains("ftp-pass-s3cret"));
        assert!(!body.contains("ingest-api-token-s3cret"));
        let page = b.get("/admin/ingest/hotfolders").await;
        let body = unescape(&page.body);
        assert!(
            body.contains("/srv/hot/press") && body.contains("drop-&lt;b&gt;"),
            "{body}"
        );
        let page = b.get("/admin/ingest/jobs").await;
        assert!(page.body.contains("<option value=\"press\">press</option>"));
        task.abort();
        db.cleanup().await;
    }
}
