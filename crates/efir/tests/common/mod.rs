//! Helpers for driving the real `efir` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use efir_store::testing::TestDb;

/// One database for a test, with a working directory for the binary. The
/// database starts empty: the binary migrates it.
pub struct Env {
    pub url: String,
    label: &'static str,
    pub dir: tempfile::TempDir,
    pg: Option<TestDb>,
}

impl Env {
    pub async fn sqlite() -> Env {
        let dir = tempfile::tempdir().unwrap();
        Env {
            url: format!("sqlite://{}", dir.path().join("efir.db").display()),
            label: "sqlite",
            dir,
            pg: None,
        }
    }

    pub async fn postgres() -> Env {
        let db = TestDb::postgres_empty().await;
        Env {
            url: db.url.clone(),
            label: "postgres",
            dir: tempfile::tempdir().unwrap(),
            pg: Some(db),
        }
    }

    pub async fn both() -> Vec<Env> {
        vec![Env::sqlite().await, Env::postgres().await]
    }

    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Opens the database directly, to check what the binary did.
    pub async fn store(&self) -> efir_store::Store {
        efir_store::Store::connect(&self.url, &Default::default())
            .await
            .unwrap()
    }

    /// `efir` with this database and a clean environment.
    pub fn cmd(&self) -> Command {
        self.cmd_of(Path::new(env!("CARGO_BIN_EXE_efir")))
    }

    /// Another efir binary (an older build, say) with this database and a
    /// clean environment.
    pub fn cmd_of(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        for (k, _) in std::env::vars() {
            if k.starts_with("EFIR_") || k == "RUST_LOG" {
                c.env_remove(k);
            }
        }
        c.current_dir(self.dir.path())
            .env("EFIR_DATABASE_URL", &self.url)
            .env("EFIR_DATA_DIR", self.dir.path())
            .env("EFIR_ROUTER_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null());
        c
    }

    /// Runs `efir manage ARGS`.
    pub fn manage(&self, args: &[&str]) -> Output {
        self.cmd().arg("manage").args(args).output().unwrap()
    }

    /// Runs `efir manage ARGS --json` and parses the output; panics on failure.
    pub fn manage_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self
            .cmd()
            .arg("manage")
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: efir manage {args:?} failed: {}",
            self.label(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub async fn cleanup(self) {
        if let Some(db) = self.pg {
            db.cleanup().await;
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child that is killed if the test ends early.
pub struct Running(pub Option<Child>);

impl Running {
    pub fn spawn(mut cmd: Command, log: &Path) -> Running {
        let file = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start efir");
        Running(Some(child))
    }

    pub fn pid(&self) -> u32 {
        self.0.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("efir did not stop within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until `url` answers 200.
pub async fn wait_http(url: &str, log: &Path) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if Instant::now() > deadline {
            panic!(
                "{url} did not answer; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The older efir the upgrade tests start from (scripts/test builds it at
/// a commit one migration behind and exports EFIR_TEST_BASE_EFIR).
pub fn base_efir() -> PathBuf {
    let path = std::env::var_os("EFIR_TEST_BASE_EFIR").map(PathBuf::from).expect(
        "EFIR_TEST_BASE_EFIR is not set: run the tests through scripts/test, which builds efir at the base commit",
    );
    assert!(
        path.is_file(),
        "EFIR_TEST_BASE_EFIR={} is not a file",
        path.display()
    );
    path
}

/// Logs a box in through the device API at `base`; returns the authkey.
pub async fn device_login(
    base: &str,
    client_id: &str,
    api_key: &str,
    abonement: &str,
    password: &str,
    device_uid: &str,
) -> String {
    let login: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/tvmiddleware/api/login/"))
        .query(&[
            ("client_id", client_id),
            ("api_key", api_key),
            ("abonement", abonement),
            ("password", password),
            ("device_uid", device_uid),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["error"], 0, "{login}");
    login["authkey"].as_str().unwrap().to_string()
}
