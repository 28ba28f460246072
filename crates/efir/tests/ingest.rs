//! The ingest farm through the real binary: hot folders, the dispatcher,
//! workers, real ffmpeg and pdftoppm, a real FTP server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{stderr, Env, Running};
use serde_json::Value;

/// Makes a small test video with real ffmpeg.
fn make_video(path: &Path, seconds: u32) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=duration={seconds}:size=320x180:rate=25"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=1000:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(path)
        .output()
        .expect("ffmpeg must be installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Puts `bytes` into `folder` the way uploads arrive: written under a
/// temporary name, then renamed into place.
fn drop_file(folder: &Path, name: &str, bytes: &[u8]) {
    let tmp = folder.join(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, folder.join(name)).unwrap();
}

/// Waits until every job has ended; returns them (newest first).
async fn wait_jobs(env: &Env, count: usize, within: Duration, log: &Path) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let r = env.manage_json(&["job-list", "--limit", "100"]);
        let jobs = r["jobs"].as_array().cloned().unwrap_or_default();
        let ended = jobs
            .iter()
            .filter(|j| {
                matches!(
                    j["state"].as_str(),
                    Some("succeeded" | "failed" | "dead" | "cancelled")
                )
            })
            .count();
        if jobs.len() >= count && ended == jobs.len() {
            return jobs;
        }
        if Instant::now() > deadline {
            panic!(
                "jobs did not end in {within:?}: {jobs:#?}\nlog:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn job_named<'a>(jobs: &'a [Value], name: &str) -> &'a Value {
    jobs.iter()
        .find(|j| {
            let payload: Value =
                serde_json::from_str(j["payload"].as_str().unwrap_or("{}")).unwrap_or_default();
            payload["original_name"] == name
        })
        .unwrap_or_else(|| panic!("no job for {name}: {jobs:#?}"))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_video_dropped_in_a_hot_folder_becomes_hls_archive_and_preview() {
    let env = Env::sqlite().await;
    let hot = env.path("hot/media");
    std::fs::create_dir_all(&hot).unwrap();
    std::fs::create_dir_all(env.path("out")).unwrap();
    std::fs::write(
        env.path("efir.toml"),
        r#"
[ingest]
heartbeat_secs = 0.5
lease_secs = 3.0
poll_secs = 0.2
worker_slots = 2
output_dir = "out"
[ingest.mounts]
output = "out"

[[ingest.hot_folder]]
name = "media"
path = "hot/media"
pipeline = "media"
stable_secs = 0.3
rescan_secs = 1.0

[[ingest.pipeline]]
name = "media"
max_attempts = 2
[[ingest.pipeline.step]]
kind = "probe"
[[ingest.pipeline.step]]
kind = "transcode"
profile = "hls"
preset = "ultrafast"
segment_seconds = 1
renditions = [
  { name = "180p", height = 180, video_bitrate = "300k", audio_bitrate = "64k" },
  { name = "144p", height = 144, video_bitrate = "200k", audio_bitrate = "48k" },
]
[[ingest.pipeline.step]]
kind = "transcode"
profile = "archive"
codec = "x264"
preset = "ultrafast"
[[ingest.pipeline.step]]
kind = "preview"
height = 144
[[ingest.pipeline.step]]
kind = "thumbnail"
count = 2
width = 160
[[ingest.pipeline.step]]
kind = "loudness"
"#,
    )
    .unwrap();
    let migrate = env.manage(&["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));

    let log = env.path("serve.log");
    let mut cmd = env.cmd();
    cmd.env("EFIR_CONFIG", env.path("efir.toml"))
        .args(["serve", "--role", "dispatcher,worker"]);
    let mut node = Running::spawn(cmd, &log);

    let src = env.path("src.mp4");
    make_video(&src, 3);
    drop_file(&hot, "Film One.mp4", &std::fs::read(&src).unwrap());
    // Bad input next to it: corrupt media, an empty file.
    drop_file(&hot, "broken.mp4", &vec![0x42; 50_000]);
    drop_file(&hot, "empty.mp4", b"");

    let jobs = wait_jobs(&env, 3, Duration::from_secs(120), &log).await;
    let good = job_named(&jobs, "Film One.mp4");
    assert_eq!(good["state"], "succeeded", "{good:#}");
    let result: Value = serde_json::from_str(good["result"].as_str().unwrap()).unwrap();
    let out = PathBuf::from(result["output_dir"].as_str().unwrap());
    assert!(out.starts_with(env.path("out")), "{out:?}");
    let master = std::fs::read_to_string(out.join("hls/master.m3u8")).unwrap();
    assert!(
        master.contains("RESOLUTION=320x180") || master.contains("180p"),
        "{master}"
    );
    assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 2, "{master}");
    for rendition in ["180p", "144p"] {
        let playlist =
            std::fs::read_to_string(out.join(format!("hls/{rendition}/index.m3u8"))).unwrap();
        assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    }
    assert!(files_in(&out.join("archive"))
        .iter()
        .any(|f| f.ends_with(".mp4")));
    let previews = files_in(&out.join("preview"));
    assert!(
        previews.iter().any(|f| f.ends_with(".preview.mp4")),
        "{previews:?}"
    );
    assert_eq!(previews.iter().filter(|f| f.ends_with(".jpg")).count(), 2);
    assert!(
        result["loudness"]["integrated_lufs"].is_number(),
        "{result:#}"
    );
    assert!((result["probe"]["duration_s"].as_f64().unwrap() - 3.0).abs() < 0.5);
    // Nothing staged is left behind.
    assert!(files_in(&env.path("out/.staging")).is_empty());

    // The bad files failed with a reason, at once (not retried), and are
    // filed in failed/ with a reason file; the good one is in done/.
    for name in ["broken.mp4", "empty.mp4"] {
        let j = job_named(&jobs, name);
        assert_eq!(j["state"], "failed", "{j:#}");
        assert_eq!(j["attempt"], 1, "{j:#}");
        assert!(!j["error"].as_str().unwrap_or("").is_empty());
    }
    let failed = files_in(&hot.join("failed"));
    assert!(failed.contains(&"broken.mp4".to_string()), "{failed:?}");
    assert!(failed.contains(&"empty.mp4".to_string()), "{failed:?}");
    let reason = std::fs::read_to_string(hot.join("failed/empty.mp4.reason.txt")).unwrap();
    assert!(reason.contains("empty"), "{reason}");
    assert_eq!(
        files_in(&hot.join("done")),
        vec!["Film One.mp4".to_string()]
    );
    assert!(files_in(&hot.join("processing")).is_empty());

    // The worker survived: a job submitted by hand still runs.
    let out = env
        .cmd()
        .env("EFIR_CONFIG", env.path("efir.toml"))
        .args([
            "manage",
            "job-submit",
            "--pipeline",
            "media",
            "--input",
            "src.mp4",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = r["id"].as_i64().unwrap();
    // Unknown pipelines and missing inputs are refused with a clear error.
    for (args, says) in [
        (
            ["--pipeline", "nope", "--input", "src.mp4"],
            "no pipeline named `nope`",
        ),
        (
            ["--pipeline", "media", "--input", "missing.mp4"],
            "missing.mp4",
        ),
    ] {
        let out = env
            .cmd()
            .env("EFIR_CONFIG", env.path("efir.toml"))
            .args(["manage", "job-submit"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = env.manage_json(&["job-list", "--state", "succeeded"]);
        if list["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == id)
        {
            break;
        }
        assert!(Instant::now() < deadline, "job {id} did not succeed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let status = node.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    env.cleanup().await;
}

/// A local FTP server (pyftpdlib, from PyPI) on a free port.
struct Ftp {
    child: std::process::Child,
    port: u16,
    root: PathBuf,
}

impl Ftp {
    async fn start(root: &Path) -> Ftp {
        std::fs::create_dir_all(root).unwrap();
        let port = common::free_port();
        let python = std::env::var("EFIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .args([
                "-m",
                "pyftpdlib",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .args(["-u", "u", "-P", "secret-pass", "-w", "-d"])
            .arg(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 with pyftpdlib is needed (scripts/test installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ftp {
                    child,
                    port,
                    root: root.to_path_buf(),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("pyftpdlib did not start (is it installed for {python}?)");
    }
}

impl Drop for Ftp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pdf_is_inspected_previewed_and_uploaded_unless_dry_run() {
    let env = Env::postgres().await;
    let ftp = Ftp::start(&env.path("ftp-root")).await;
    for d in ["hot/pdf", "hot/pdf-dry", "out"] {
        std::fs::create_dir_all(env.path(d)).unwrap();
    }
    std::fs::write(
        env.path("efir.toml"),
        format!(
            r#"
[ingest]
heartbeat_secs = 0.5
lease_secs = 3.0
poll_secs = 0.2
worker_slots = 2
output_dir = "out"
api_token = "test-token-0123456789"

[[ingest.hot_folder]]
name = "pdf"
path = "hot/pdf"
pipeline = "prepress"
stable_secs = 0.3
rescan_secs = 1.0
patterns = ["*.pdf"]

[[ingest.hot_folder]]
name = "pdf-dry"
path = "hot/pdf-dry"
pipeline = "prepress"
stable_secs = 0.3
rescan_secs = 1.0
dry_run = true

[[ingest.pipeline]]
name = "prepress"
[[ingest.pipeline.step]]
kind = "pdf-inspect"
presses = [{{ name = "Speedmaster", plate_w_mm = 1030, plate_h_mm = 770 }}]
outputters = ["Vonoel", "Korol"]
require_press = true
[[ingest.pipeline.step]]
kind = "pdf-preview"
dpi = 10
[[ingest.pipeline.step]]
kind = "deliver"
what = "input"
target = {{ kind = "ftp", host = "127.0.0.1", port = {port}, user = "u", password = "secret-pass", dir = "/plates/ctp" }}
[[ingest.pipeline.step]]
kind = "notify"
message = "{{order}} {{plates}}->{{press}} {{outputter}}"
"#,
            port = ftp.port
        ),
    )
    .unwrap();
    let migrate = env.manage(&["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let log = env.path("serve.log");
    let port = common::free_port();
    let mut cmd = env.cmd();
    cmd.env("EFIR_CONFIG", env.path("efir.toml"))
        .env("EFIR_LISTEN", format!("127.0.0.1:{port}"))
        .args(["serve", "--role", "api,dispatcher,worker"]);
    let mut node = Running::spawn(cmd, &log);
    let base = format!("http://127.0.0.1:{port}");
    common::wait_http(&format!("{base}/health"), &log).await;

    let sheet = efir_ingest::pdf::sample::sheet(&efir_ingest::pdf::sample::Sheet {
        plate_mm: (1030.0, 770.0),
        inks: vec![
            vec!["Cyan", "Magenta", "Yellow", "Black"],
            vec!["Black", "PANTONE Warm Red C"],
        ],
        outputter: Some("Vonoel"),
        machine: Some("Speedmaster"),
        paper_mm: Some((900.0, 640.0)),
    });
    drop_file(&env.path("hot/pdf"), "1234_Vonoel_Журнал №5.pdf", &sheet);
    drop_file(&env.path("hot/pdf-dry"), "777_Korol_dry.pdf", &sheet);
    // Broken input: garbage with a PDF header, and a text file.
    drop_file(
        &env.path("hot/pdf"),
        "broken.pdf",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog",
    );
    drop_file(&env.path("hot/pdf"), "notes.pdf", b"just text");

    let jobs = wait_jobs(&env, 4, Duration::from_secs(90), &log).await;
    let real = job_named(&jobs, "1234_Vonoel_Журнал №5.pdf");
    assert_eq!(real["state"], "succeeded", "{real:#}");
    let result: Value = serde_json::from_str(real["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["pdf"]["plates"], 6, "{result:#}");
    assert_eq!(result["pdf"]["pages"], 2);
    assert_eq!(result["press"], "Speedmaster");
    assert_eq!(result["outputter"], "Vonoel");
    assert_eq!(
        result["notified"], "1234 6->Speedmaster Vonoel",
        "{result:#}"
    );
    let uploaded = ftp.root.join("plates/ctp/1234_Vonoel_Журнал №5.pdf");
    assert_eq!(std::fs::read(&uploaded).unwrap(), sheet, "uploaded intact");
    let out = PathBuf::from(result["output_dir"].as_str().unwrap());
    let pages = files_in(&out.join("preview"));
    assert_eq!(pages.len(), 2, "{pages:?}");

    let dry = job_named(&jobs, "777_Korol_dry.pdf");
    assert_eq!(dry["state"], "succeeded", "{dry:#}");
    let dry_result: Value = serde_json::from_str(dry["result"].as_str().unwrap()).unwrap();
    assert_eq!(dry_result["dry_run"], true);
    assert!(dry_result.get("notified").is_none());
    assert_eq!(
        files_in(&ftp.root.join("plates/ctp")),
        vec!["1234_Vonoel_Журнал №5.pdf".to_string()],
        "the dry run uploaded nothing"
    );

    // The operator API and the metrics see the same.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{base}/api/ingest/jobs?state=succeeded"))
        .bearer_auth("test-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["jobs"].as_array().unwrap().len(), 2, "{body:#}");
    let r = http
        .get(format!("{base}/api/ingest/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "efir_ingest_jobs_finished_total{pipeline=\"prepress\",outcome=\"succeeded\"} 2"
        ),
        "{metrics}"
    );
    for name in ["broken.pdf", "notes.pdf"] {
        let j = job_named(&jobs, name);
        assert_eq!(j["state"], "failed", "{j:#}");
        let reason =
            std::fs::read_to_string(env.path(&format!("hot/pdf/failed/{name}.reason.txt")))
                .unwrap();
        assert!(!reason.trim().is_empty());
    }
    let status = node.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    drop(ftp);
    env.cleanup().await;
}

#[tokio::test]
async fn config_check_reads_pipelines_and_show_hides_their_passwords() {
    let env = Env::sqlite().await;
    let bad = env.path("bad.toml");
    std::fs::write(
        &bad,
        "[[ingest.pipeline]]\nname = \"media\"\n[[ingest.pipeline.step]]\nkind = \"transcode\"\nprofile = \"archive\"\ncrf = 99\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("`media`") && err.contains("step 1") && err.contains("crf"),
        "{err}"
    );

    let folder = env.path("bad-folder.toml");
    std::fs::write(
        &folder,
        "[[ingest.hot_folder]]\nname = \"in\"\npath = \"in\"\npipeline = \"nope\"\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["config", "check"])
        .arg(&folder)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no pipeline named `nope`"),
        "{}",
        stderr(&out)
    );

    let good = env.path("good.toml");
    std::fs::write(
        &good,
        "[ingest]\napi_token = \"0123456789abcdef-token\"\n[[ingest.pipeline]]\nname = \"up\"\n[[ingest.pipeline.step]]\nkind = \"deliver\"\nwhat = \"input\"\ntarget = { kind = \"ftp\", host = \"h\", user = \"u\", password = \"hunter2-secret\" }\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["config", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(common::stdout(&out).contains("1 pipelines"));
    let out = env
        .cmd()
        .env("EFIR_CONFIG", &good)
        .args(["config", "show"])
        .output()
        .unwrap();
    let shown = common::stdout(&out);
    assert!(out.status.success());
    assert!(
        !shown.contains("hunter2-secret") && !shown.contains("0123456789abcdef-token"),
        "{shown}"
    );
    assert!(shown.contains("password = \"***\""), "{shown}");
    env.cleanup().await;
}

#[tokio::test]
async fn jobs_are_cancelled_and_retried_from_the_command_line() {
    let env = Env::sqlite().await;
    let migrate = env.manage(&["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let r = env.manage_json(&["job-submit", "--pipeline", "noop", "--input", "x"]);
    let id = r["id"].as_i64().unwrap().to_string();
    let r = env.manage_json(&["job-cancel", &id]);
    assert_eq!(r["state"], "cancelled");
    let again = env.manage(&["job-cancel", &id]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("cancelled"), "{}", stderr(&again));
    let r = env.manage_json(&["job-retry", &id]);
    assert_eq!(r["state"], "pending");
    let list = env.manage_json(&["job-list", "--state", "pending"]);
    assert_eq!(list["jobs"][0]["id"].to_string(), id);
    let text = env.manage(&["job-list"]);
    assert!(
        common::stdout(&text).contains("pending"),
        "{}",
        common::stdout(&text)
    );
    for args in [
        vec!["job-retry", "999999"],
        vec!["job-list", "--state", "sleeping"],
        vec!["job-cancel", "abc"],
    ] {
        let out = env.manage(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!stderr(&out).is_empty());
    }
    let workers = env.manage(&["worker-list"]);
    assert!(common::stdout(&workers).contains("no workers"));
    env.cleanup().await;
}
