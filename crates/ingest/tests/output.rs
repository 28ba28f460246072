//! Outputs: directory copy/move and FTP uploads against a real pyftpdlib server.
//!
//! The FTP tests need Python with `pyftpdlib` (`$EFIR_TEST_PYTHON`, else
//! `python3`); they fail, not skip, when it is missing.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use efir_ingest::output::{
    deliver, DeliverOptions, DirMode, DirTarget, FtpTarget, FtpTls, OutputError, OutputTarget,
    Password,
};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "s3cret-pass";
/// Bytes that ASCII-mode transfers would mangle.
const BINARY: &[u8] = b"%PDF-1.4\n\r\n\x00\xff binary \n end\r";

/// pyftpdlib with the `SIZE` command removed; args: port, root, password.
const NO_SIZE_SERVER: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
port, root, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
auth = DummyAuthorizer()
auth.add_user("u", password, root, perm="elradfmwMT")
class NoSize(FTPHandler):
    proto_cmds = {k: v for k, v in FTPHandler.proto_cmds.items() if k != "SIZE"}
NoSize.authorizer = auth
FTPServer(("127.0.0.1", port), NoSize).serve_forever()
"#;

fn python() -> String {
    std::env::var("EFIR_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A pyftpdlib server on 127.0.0.1, killed on drop.
struct FtpServer {
    child: Child,
    root: tempfile::TempDir,
    log: PathBuf,
}

impl FtpServer {
    /// Starts the server and waits until the port accepts connections.
    fn start(port: u16) -> FtpServer {
        let server = Self::spawn(port);
        server.wait_ready(port);
        server
    }

    fn spawn(port: u16) -> FtpServer {
        Self::spawn_with(port, None)
    }

    /// A server that answers `500` to `SIZE`, like servers predating RFC 3659.
    fn start_without_size(port: u16) -> FtpServer {
        let server = Self::spawn_with(port, Some(NO_SIZE_SERVER));
        server.wait_ready(port);
        server
    }

    fn spawn_with(port: u16, script: Option<&str>) -> FtpServer {
        let py = python();
        let check = Command::new(&py)
            .args(["-c", "import pyftpdlib"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {py}: {e}; set EFIR_TEST_PYTHON"));
        assert!(
            check.status.success(),
            "the FTP tests need the Python module pyftpdlib for {py} \
             (pip install pyftpdlib, or set EFIR_TEST_PYTHON): {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let root = tempfile::tempdir().expect("server root");
        let log = root.path().with_extension("ftpd.log");
        let log_file = fs::File::create(&log).expect("server log");
        let mut cmd = Command::new(&py);
        match script {
            None => cmd
                .args(["-m", "pyftpdlib", "-i", "127.0.0.1", "-p"])
                .arg(port.to_string())
                .args(["-u", "u", "-P", PASSWORD, "-w", "-d"])
                .arg(root.path()),
            Some(script) => cmd
                .args(["-c", script])
                .arg(port.to_string())
                .arg(root.path())
                .arg(PASSWORD),
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {py} -m pyftpdlib: {e}"));
        FtpServer { child, root, log }
    }

    fn wait_ready(&self, port: u16) {
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "pyftpdlib did not listen on port {port}: {}",
            fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log);
    }
}

fn ftp_target(port: u16, dir: &str) -> FtpTarget {
    FtpTarget {
        host: "127.0.0.1".into(),
        port,
        user: "u".into(),
        password: Password::new(PASSWORD),
        dir: dir.into(),
        passive: true,
        tls: FtpTls::None,
        retries: 3,
        timeout_secs: 10,
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("list dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Two source files in a fresh directory.
fn sources() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.pdf");
    let b = dir.path().join("Заказ 2.pdf");
    fs::write(&a, BINARY).unwrap();
    fs::write(&b, b"second file").unwrap();
    (dir, vec![a, b])
}

fn dir_target(path: &Path, mode: DirMode, overwrite: bool) -> OutputTarget {
    OutputTarget::Dir(DirTarget {
        path: path.to_owned(),
        mode,
        overwrite,
    })
}

const REAL: DeliverOptions = DeliverOptions { dry_run: false };
const DRY: DeliverOptions = DeliverOptions { dry_run: true };

#[tokio::test]
async fn dir_copy_creates_the_directory_and_keeps_sources() {
    let (_src, files) = sources();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("press/2026");
    let report = deliver(
        &files,
        &dir_target(&dest, DirMode::Copy, false),
        &REAL,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(!report.dry_run);
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(report.delivered[0].bytes, BINARY.len() as u64);
    assert_eq!(
        report.delivered[0].destination,
        dest.join("a.pdf").display().to_string()
    );
    assert_eq!(fs::read(dest.join("a.pdf")).unwrap(), BINARY);
    assert_eq!(fs::read(dest.join("Заказ 2.pdf")).unwrap(), b"second file");
    // No temporary files left, sources kept.
    assert_eq!(names_in(&dest), ["a.pdf", "Заказ 2.pdf"]);
    assert!(files.iter().all(|f| f.exists()));
}

#[tokio::test]
async fn dir_move_removes_sources_after_delivery() {
    let (_src, files) = sources();
    let out = tempfile::tempdir().unwrap();
    let report = deliver(
        &files,
        &dir_target(out.path(), DirMode::Move, false),
        &REAL,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(fs::read(out.path().join("a.pdf")).unwrap(), BINARY);
    assert!(files.iter().all(|f| !f.exists()));
    assert_eq!(names_in(out.path()), ["a.pdf", "Заказ 2.pdf"]);
}

#[tokio::test]
async fn dir_refuses_to_overwrite_unless_asked() {
    let (_src, files) = sources();
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("a.pdf"), b"older").unwrap();
    for mode in [DirMode::Copy, DirMode::Move] {
        let err = deliver(
            &files,
            &dir_target(out.path(), mode, false),
            &REAL,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, OutputError::Exists(_)), "{err}");
        assert!(err.to_string().contains("a.pdf"), "{err}");
        assert_eq!(fs::read(out.path().join("a.pdf")).unwrap(), b"older");
        assert!(files[0].exists(), "source removed on a refused move");
        assert_eq!(names_in(out.path()), ["a.pdf"]);
    }
    deliver(
        &files,
        &dir_target(out.path(), DirMode::Copy, true),
        &REAL,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(fs::read(out.path().join("a.pdf")).unwrap(), BINARY);
    assert_eq!(names_in(out.path()), ["a.pdf", "Заказ 2.pdf"]);
}

#[tokio::test]
async fn dir_dry_run_checks_but_writes_nothing() {
    let (_src, files) = sources();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("new");
    let report = deliver(
        &files,
        &dir_target(&dest, DirMode::Move, false),
        &DRY,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(report.delivered[1].attempts, 0);
    assert!(!dest.exists());
    assert!(files.iter().all(|f| f.exists()));

    // Checks still apply in a dry run.
    let missing = out.path().join("missing.pdf");
    let err = deliver(
        std::slice::from_ref(&missing),
        &dir_target(&dest, DirMode::Copy, false),
        &DRY,
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OutputError::Source { .. }), "{err}");
    assert!(err.to_string().contains("missing.pdf"), "{err}");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("a.pdf"), b"old").unwrap();
    let err = deliver(
        &files,
        &dir_target(&dest, DirMode::Copy, false),
        &DRY,
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OutputError::Exists(_)), "{err}");
}

#[tokio::test]
async fn dir_delivery_stops_when_cancelled() {
    let (_src, files) = sources();
    let out = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = deliver(
        &files,
        &dir_target(out.path(), DirMode::Copy, false),
        &REAL,
        &cancel,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OutputError::Cancelled(_)), "{err}");
    assert!(names_in(out.path()).is_empty());
}

#[tokio::test]
async fn duplicate_names_and_unsafe_targets_are_refused() {
    let (src, files) = sources();
    let other = src.path().join("sub");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("a.pdf"), b"x").unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = deliver(
        &[files[0].clone(), other.join("a.pdf")],
        &dir_target(out.path(), DirMode::Copy, false),
        &REAL,
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OutputError::DuplicateName(_)), "{err}");

    let injected = OutputTarget::Ftp(FtpTarget {
        user: "u\r\nDELE a.pdf".into(),
        ..ftp_target(21, "/")
    });
    let err = deliver(&files, &injected, &DRY, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, OutputError::InvalidTarget(_)), "{err}");
}

#[tokio::test]
async fn ftp_upload_creates_directories_and_leaves_no_part_files() {
    let port = free_port();
    let server = FtpServer::start(port);
    let (_src, files) = sources();
    let target = OutputTarget::Ftp(ftp_target(port, "/in/2026/orders"));
    let report = deliver(&files, &target, &REAL, &CancellationToken::new())
        .await
        .unwrap();
    let remote = server.root().join("in/2026/orders");
    assert_eq!(fs::read(remote.join("a.pdf")).unwrap(), BINARY);
    assert_eq!(
        fs::read(remote.join("Заказ 2.pdf")).unwrap(),
        b"second file"
    );
    assert_eq!(names_in(&remote), ["a.pdf", "Заказ 2.pdf"]);
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(report.delivered[0].attempts, 1);
    assert_eq!(report.delivered[0].bytes, BINARY.len() as u64);
    assert_eq!(
        report.delivered[0].destination,
        format!("ftp://u@127.0.0.1:{port}/in/2026/orders/a.pdf")
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(PASSWORD));

    // Again into the now existing directory, relative to the login directory.
    let again = OutputTarget::Ftp(ftp_target(port, "in/2026/orders"));
    deliver(&files[..1], &again, &REAL, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(names_in(&remote), ["a.pdf", "Заказ 2.pdf"]);
}

#[tokio::test]
async fn ftp_active_mode_uploads() {
    let port = free_port();
    let server = FtpServer::start(port);
    let (_src, files) = sources();
    let target = OutputTarget::Ftp(FtpTarget {
        passive: false,
        ..ftp_target(port, "/active")
    });
    deliver(&files[..1], &target, &REAL, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        fs::read(server.root().join("active/a.pdf")).unwrap(),
        BINARY
    );
}

#[tokio::test]
async fn ftp_server_without_size_still_gets_the_file() {
    let port = free_port();
    let server = FtpServer::start_without_size(port);
    let (_src, files) = sources();
    let target = OutputTarget::Ftp(ftp_target(port, "/nosize"));
    let report = deliver(&files, &target, &REAL, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(report.delivered[0].attempts, 1);
    assert_eq!(
        fs::read(server.root().join("nosize/a.pdf")).unwrap(),
        BINARY
    );
    assert_eq!(
        names_in(&server.root().join("nosize")),
        ["a.pdf", "Заказ 2.pdf"]
    );
}

#[tokio::test]
async fn ftp_wrong_password_fails_at_once_with_a_readable_error() {
    let port = free_port();
    let server = FtpServer::start(port);
    let (_src, files) = sources();
    let target = OutputTarget::Ftp(FtpTarget {
        password: Password::new("wrong"),
        ..ftp_target(port, "/out")
    });
    let err = deliver(&files, &target, &REAL, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, OutputError::FtpLogin { .. }), "{err}");
    assert_eq!(err.attempts(), Some(1));
    let msg = err.to_string();
    assert!(msg.contains("login") && msg.contains("530"), "{msg}");
    assert!(
        msg.contains(&format!("ftp://u@127.0.0.1:{port}/out/")),
        "{msg}"
    );
    assert!(!msg.contains("wrong") && !format!("{err:?}").contains("wrong"));
    assert!(names_in(server.root()).is_empty());
}

#[tokio::test]
async fn ftp_retries_until_the_server_comes_up() {
    let port = free_port();
    let (_src, files) = sources();
    let target = OutputTarget::Ftp(FtpTarget {
        retries: 5,
        ..ftp_target(port, "late")
    });
    let delivery =
        tokio::spawn(
            async move { deliver(&files, &target, &REAL, &CancellationToken::new()).await },
        );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server = FtpServer::spawn(port);
    let report = delivery.await.unwrap().unwrap();
    assert!(report.delivered[0].attempts > 1, "{report:?}");
    assert_eq!(fs::read(server.root().join("late/a.pdf")).unwrap(), BINARY);
}

#[tokio::test]
async fn ftp_dry_run_uploads_nothing() {
    let port = free_port();
    let server = FtpServer::start(port);
    let (_src, files) = sources();
    let target = OutputTarget::Ftp(ftp_target(port, "/dry"));
    let report = deliver(&files, &target, &DRY, &CancellationToken::new())
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(report.delivered[0].attempts, 0);
    assert_eq!(
        report.delivered[0].destination,
        format!("ftp://u@127.0.0.1:{port}/dry/a.pdf")
    );
    assert!(names_in(server.root()).is_empty());
}

#[tokio::test]
async fn ftp_explicit_tls_against_a_plain_server_fails_at_once() {
    let port = free_port();
    let _server = FtpServer::start(port);
    let (_src, files) = sources();
    let target = OutputTarget::Ftp(FtpTarget {
        tls: FtpTls::Explicit,
        ..ftp_target(port, "/")
    });
    let err = deliver(&files, &target, &REAL, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, OutputError::Ftp { .. }), "{err}");
    assert_eq!(err.attempts(), Some(1));
    assert!(err.to_string().contains("AUTH TLS"), "{err}");
    assert!(err.to_string().contains("ftpes://"), "{err}");
}

#[tokio::test]
async fn ftp_cancellation_stops_the_retries() {
    // Nothing listens: the delivery would retry for a minute.
    let port = free_port();
    let (_src, files) = sources();
    let target = OutputTarget::Ftp(FtpTarget {
        retries: 10,
        ..ftp_target(port, "/")
    });
    let cancel = CancellationToken::new();
    let delivery = {
        let cancel = cancel.clone();
        tokio::spawn(async move { deliver(&files, &target, &REAL, &cancel).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), delivery)
        .await
        .expect("delivery did not stop after cancellation")
        .unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, OutputError::Cancelled(_)), "{err}");
}
