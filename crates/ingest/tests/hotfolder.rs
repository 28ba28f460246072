//! Hot folders against the real file system and inotify.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use efir_ingest::hotfolder::{
    safe_join, Claimed, HotFolder, HotFolderConfig, HotFolderError, Outcome,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Long enough that a claim can only come from an inotify event, not a rescan.
const NO_RESCAN: f64 = 3600.0;
const WAIT: Duration = Duration::from_secs(15);

fn config(path: &Path, stable_secs: f64, rescan_secs: f64) -> HotFolderConfig {
    HotFolderConfig {
        stable_secs,
        rescan_secs,
        ..HotFolderConfig::new("test", path, "pdf-inspect")
    }
}

struct Running {
    rx: mpsc::Receiver<Claimed>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    hf: Arc<HotFolder>,
}

impl Running {
    async fn next(&mut self) -> Claimed {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(c)) => c,
            Ok(None) => panic!("watcher stopped"),
            Err(_) => panic!("no file claimed within {WAIT:?}"),
        }
    }

    /// Asserts that nothing more is claimed during `d`.
    async fn none_for(&mut self, d: Duration) {
        if let Ok(Some(c)) = tokio::time::timeout(d, self.rx.recv()).await {
            panic!("unexpected claim: {c:?}");
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("watcher did not stop on cancel")
            .expect("watcher task panicked");
    }
}

async fn start(cfg: HotFolderConfig) -> Running {
    let hf = Arc::new(HotFolder::open(cfg).expect("open hot folder"));
    let (tx, rx) = mpsc::channel(1000);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&hf).watch(tx, cancel.clone()));
    // Let the watcher register its inotify watch and do its first scan.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Running {
        rx,
        cancel,
        task,
        hf,
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("list dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

async fn wait_for(path: &Path) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while fs::symlink_metadata(path).is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} did not appear",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_and_closed_file_is_claimed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = start(config(tmp.path(), 0.3, NO_RESCAN)).await;
    fs::write(tmp.path().join("order 1.pdf"), b"%PDF-1.4 hello").unwrap();

    let c = w.next().await;
    assert_eq!(c.folder, "test");
    assert_eq!(c.original_name, "order 1.pdf");
    assert_eq!(c.size, 14);
    assert_eq!(c.path, w.hf.processing_dir().join("order 1.pdf"));
    assert_eq!(fs::read(&c.path).unwrap(), b"%PDF-1.4 hello");
    assert!(!tmp.path().join("order 1.pdf").exists());
    w.none_for(Duration::from_millis(1500)).await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_renamed_into_the_folder_is_claimed() {
    let tmp = tempfile::tempdir().unwrap();
    let hot = tmp.path().join("hot");
    let outside = tmp.path().join("outside");
    fs::create_dir(&hot).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("moved.pdf"), b"moved in").unwrap();
    let mut w = start(config(&hot, 0.3, NO_RESCAN)).await;

    fs::rename(outside.join("moved.pdf"), hot.join("moved.pdf")).unwrap();
    let c = w.next().await;
    assert_eq!(c.original_name, "moved.pdf");
    assert_eq!(fs::read(&c.path).unwrap(), b"moved in");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_file_is_claimed_only_after_it_stops() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let mut w = start(config(tmp.path(), 1.0, 0.5)).await;

    let path = tmp.path().join("growing.mxf");
    let finished = Arc::new(AtomicBool::new(false));
    let writer = {
        let finished = Arc::clone(&finished);
        let path = path.clone();
        std::thread::spawn(move || {
            let mut f = fs::File::create(&path).unwrap();
            // Appended every 300 ms for 2 s, each write closing nothing.
            for _ in 0..7 {
                f.write_all(&[7u8; 1000]).unwrap();
                f.flush().unwrap();
                std::thread::sleep(Duration::from_millis(300));
            }
            f.write_all(&[7u8; 1000]).unwrap();
            f.sync_all().unwrap();
            finished.store(true, Ordering::SeqCst);
        })
    };
    let c = w.next().await;
    assert!(
        finished.load(Ordering::SeqCst),
        "file claimed while still being written"
    );
    writer.join().unwrap();
    assert_eq!(c.size, 8000);
    assert_eq!(fs::metadata(&c.path).unwrap().len(), 8000);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_present_before_watch_is_claimed_by_the_rescan() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("early.pdf"), b"early").unwrap();
    let mut w = start(config(tmp.path(), 0.3, NO_RESCAN)).await;
    let c = w.next().await;
    assert_eq!(c.original_name, "early.pdf");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_watchers_claim_each_of_100_files_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let hf1 = Arc::new(HotFolder::open(config(tmp.path(), 0.3, 0.5)).unwrap());
    let hf2 = Arc::new(HotFolder::open(config(tmp.path(), 0.3, 0.5)).unwrap());
    let (tx, mut rx) = mpsc::channel(1000);
    let cancel = CancellationToken::new();
    let t1 = tokio::spawn(Arc::clone(&hf1).watch(tx.clone(), cancel.clone()));
    let t2 = tokio::spawn(Arc::clone(&hf2).watch(tx, cancel.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let names: Vec<String> = (0..100).map(|i| format!("f{i:03}.txt")).collect();
    for n in &names {
        fs::write(tmp.path().join(n), n.as_bytes()).unwrap();
    }
    let mut claimed = Vec::new();
    while claimed.len() < 100 {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some(c)) => claimed.push(c),
            _ => panic!("only {} of 100 files claimed", claimed.len()),
        }
    }
    // Give both watchers time to (wrongly) claim anything twice.
    if let Ok(Some(c)) = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
        panic!("file claimed twice: {c:?}");
    }
    cancel.cancel();
    t1.await.unwrap();
    t2.await.unwrap();

    let got: HashSet<&str> = claimed.iter().map(|c| c.original_name.as_str()).collect();
    let want: HashSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    assert_eq!(files_in(hf1.processing_dir()), names);
    for c in &claimed {
        assert_eq!(fs::read(&c.path).unwrap(), c.original_name.as_bytes());
    }
    assert_eq!(files_in(tmp.path()), ["done", "failed", "processing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_name_dropped_again_gets_a_unique_name_in_processing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = start(config(tmp.path(), 0.3, NO_RESCAN)).await;
    fs::write(tmp.path().join("dup.pdf"), b"first").unwrap();
    let first = w.next().await;
    fs::write(tmp.path().join("dup.pdf"), b"second").unwrap();
    let second = w.next().await;
    assert_eq!(second.original_name, "dup.pdf");
    assert_eq!(second.path, w.hf.processing_dir().join("dup-2.pdf"));
    assert_eq!(fs::read(&first.path).unwrap(), b"first");
    assert_eq!(fs::read(&second.path).unwrap(), b"second");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_to_outside_is_refused_and_its_target_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let hot = tmp.path().join("hot");
    fs::create_dir(&hot).unwrap();
    let secret = tmp.path().join("secret.pdf");
    fs::write(&secret, b"do not touch").unwrap();
    let mut w = start(config(&hot, 0.3, NO_RESCAN)).await;

    std::os::unix::fs::symlink(&secret, hot.join("link.pdf")).unwrap();
    let moved = w.hf.failed_dir().join("link.pdf");
    wait_for(&w.hf.failed_dir().join("link.pdf.reason.txt")).await;

    assert!(fs::symlink_metadata(&moved)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_link(&moved).unwrap(), secret);
    let reason = fs::read_to_string(w.hf.failed_dir().join("link.pdf.reason.txt")).unwrap();
    assert!(reason.contains("symbolic link"), "reason: {reason}");
    assert_eq!(fs::read(&secret).unwrap(), b"do not touch");
    assert!(fs::symlink_metadata(hot.join("link.pdf")).is_err());
    assert!(files_in(w.hf.processing_dir()).is_empty());
    w.none_for(Duration::from_millis(500)).await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_that_is_not_utf8_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = start(config(tmp.path(), 0.3, NO_RESCAN)).await;
    let bad = OsStr::from_bytes(b"bad\xff.pdf");
    fs::write(tmp.path().join(bad), b"x").unwrap();
    wait_for(&w.hf.failed_dir().join("bad\u{fffd}.pdf.reason.txt")).await;
    assert_eq!(
        fs::read(w.hf.failed_dir().join("bad\u{fffd}.pdf")).unwrap(),
        b"x"
    );
    let reason = fs::read_to_string(w.hf.failed_dir().join("bad\u{fffd}.pdf.reason.txt")).unwrap();
    assert!(reason.contains("UTF-8"), "reason: {reason}");
    w.none_for(Duration::from_millis(300)).await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_files_partial_files_and_other_patterns_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = HotFolderConfig {
        patterns: vec!["*.pdf".into()],
        ..config(tmp.path(), 0.3, 0.3)
    };
    let mut w = start(cfg).await;
    let ignored = [
        ".hidden.pdf",
        "upload.pdf.part",
        "x.pdf.tmp",
        "y.pdf.crdownload",
        "backup.pdf~",
        "notes.txt",
    ];
    for n in ignored {
        fs::write(tmp.path().join(n), b"ignored").unwrap();
    }
    fs::write(tmp.path().join("Real.PDF"), b"taken").unwrap();
    assert_eq!(w.next().await.original_name, "Real.PDF");
    // Several rescans pass; none of the others may be taken or refused.
    w.none_for(Duration::from_millis(1500)).await;
    for n in ignored {
        assert!(tmp.path().join(n).exists(), "{n} was touched");
    }
    assert!(files_in(w.hf.failed_dir()).is_empty());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_names_are_claimed_and_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = start(config(tmp.path(), 0.3, NO_RESCAN)).await;
    let names = [
        "with space.pdf",
        "quote's \"x\".pdf",
        "Заказ №5 Привет.pdf",
        "-leading-dash.pdf",
    ];
    for n in names {
        fs::write(tmp.path().join(n), n.as_bytes()).unwrap();
    }
    let mut got = Vec::new();
    for _ in names {
        let c = w.next().await;
        assert_eq!(fs::read(&c.path).unwrap(), c.original_name.as_bytes());
        let done = w.hf.finish(&c, Outcome::Done).unwrap();
        assert_eq!(done, w.hf.done_dir().join(&c.original_name));
        got.push(c.original_name);
    }
    got.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(files_in(w.hf.done_dir()), want);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_places_done_and_failed_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = start(config(tmp.path(), 0.3, NO_RESCAN)).await;
    fs::write(tmp.path().join("ok.pdf"), b"ok").unwrap();
    let ok = w.next().await;
    fs::write(tmp.path().join("bad.pdf"), b"bad").unwrap();
    let bad = w.next().await;

    let done = w.hf.finish(&ok, Outcome::Done).unwrap();
    assert_eq!(done, w.hf.done_dir().join("ok.pdf"));
    assert_eq!(fs::read(&done).unwrap(), b"ok");

    let reason = "page 2: Trim box missing — проверьте макет";
    let failed =
        w.hf.finish(
            &bad,
            Outcome::Failed {
                reason: reason.into(),
            },
        )
        .unwrap();
    assert_eq!(failed, w.hf.failed_dir().join("bad.pdf"));
    assert_eq!(fs::read(&failed).unwrap(), b"bad");
    let text = fs::read_to_string(w.hf.failed_dir().join("bad.pdf.reason.txt")).unwrap();
    assert!(text.starts_with(reason), "reason file: {text}");
    let year = chrono::Utc::now().format("%Y").to_string();
    assert!(
        text.contains(&format!("time: {year}")),
        "no timestamp: {text}"
    );
    assert!(files_in(w.hf.processing_dir()).is_empty());

    // Finishing again: the file is gone from processing/.
    let again = w.hf.finish(&ok, Outcome::Done).unwrap_err();
    assert!(again.to_string().contains("ok.pdf"), "{again}");

    // A second "ok.pdf" lands next to the first under a new name.
    fs::write(tmp.path().join("ok.pdf"), b"ok again").unwrap();
    let ok2 = w.next().await;
    let done2 = w.hf.finish(&ok2, Outcome::Done).unwrap();
    assert_eq!(done2, w.hf.done_dir().join("ok-2.pdf"));
    assert_eq!(fs::read(&done).unwrap(), b"ok");
    w.stop().await;
}

#[test]
fn finish_refuses_paths_outside_processing() {
    let tmp = tempfile::tempdir().unwrap();
    let hf = HotFolder::open(config(tmp.path(), 0.3, NO_RESCAN)).unwrap();
    let outside = tmp.path().join("victim.pdf");
    fs::write(&outside, b"x").unwrap();
    let forged = Claimed {
        folder: "test".into(),
        original_name: "victim.pdf".into(),
        path: outside.clone(),
        size: 1,
        claimed_at: std::time::SystemTime::now(),
    };
    let err = hf.finish(&forged, Outcome::Done).unwrap_err();
    assert!(matches!(err, HotFolderError::NotClaimed { .. }), "{err}");
    assert!(outside.exists());

    // A claimed file whose original name tries to escape.
    fs::write(hf.processing_dir().join("x.pdf"), b"x").unwrap();
    let escaping = Claimed {
        original_name: "../../escape.pdf".into(),
        path: hf.processing_dir().join("x.pdf"),
        ..forged
    };
    let err = hf.finish(&escaping, Outcome::Done).unwrap_err();
    assert!(matches!(err, HotFolderError::UnsafeName { .. }), "{err}");
    assert!(hf.processing_dir().join("x.pdf").exists());
}

#[test]
fn recover_lists_files_left_in_processing() {
    let tmp = tempfile::tempdir().unwrap();
    let hf = HotFolder::open(config(tmp.path(), 0.3, NO_RESCAN)).unwrap();
    fs::write(hf.processing_dir().join("b.pdf"), b"bb").unwrap();
    fs::write(hf.processing_dir().join("a.pdf"), b"a").unwrap();
    let found = hf.recover().unwrap();
    let names: Vec<(&str, u64)> = found
        .iter()
        .map(|c| (c.original_name.as_str(), c.size))
        .collect();
    assert_eq!(names, [("a.pdf", 1), ("b.pdf", 2)]);
    assert_eq!(found[0].path, hf.processing_dir().join("a.pdf"));
    // Recovered files can be finished.
    hf.finish(
        &found[0],
        Outcome::Failed {
            reason: "crashed".into(),
        },
    )
    .unwrap();
    assert!(hf.failed_dir().join("a.pdf.reason.txt").exists());
}

#[test]
fn safe_join_rejects_unsafe_names() {
    let base = Path::new("/srv/hot");
    for bad in [
        "",
        ".",
        "..",
        "/etc/passwd",
        "a/b",
        "../x",
        "a\\b",
        "a\0b",
        "line\nbreak",
    ] {
        let err = safe_join(base, bad).unwrap_err();
        assert!(
            matches!(err, HotFolderError::UnsafeName { .. }),
            "{bad:?}: {err}"
        );
    }
    for good in ["ok.pdf", "-dash", "Привет мир.pdf", "..pdf", "a..b"] {
        assert_eq!(
            safe_join(base, good).unwrap(),
            PathBuf::from("/srv/hot").join(good)
        );
    }
}

#[test]
fn open_creates_subfolders_and_refuses_non_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let hf = HotFolder::open(config(tmp.path(), 0.3, 1.0)).unwrap();
    for d in ["processing", "done", "failed"] {
        assert!(tmp.path().join(d).is_dir(), "{d} missing");
    }
    assert_eq!(hf.name(), "test");
    // Opening again is fine.
    HotFolder::open(config(tmp.path(), 0.3, 1.0)).unwrap();

    let file = tmp.path().join("plain.txt");
    fs::write(&file, b"x").unwrap();
    let err = HotFolder::open(config(&file, 0.3, 1.0)).unwrap_err();
    assert!(matches!(err, HotFolderError::NotADirectory { .. }), "{err}");
    assert!(err.to_string().contains("plain.txt"), "{err}");
    let err = HotFolder::open(config(&tmp.path().join("missing"), 0.3, 1.0)).unwrap_err();
    assert!(matches!(err, HotFolderError::NotADirectory { .. }), "{err}");
}

#[test]
fn config_defaults_and_validation() {
    let cfg: HotFolderConfig =
        serde_json::from_str(r#"{"name":"pdf","path":"/srv/hot","pipeline":"pdf-inspect"}"#)
            .unwrap();
    assert_eq!(cfg.stable_secs, 2.0);
    assert_eq!(cfg.rescan_secs, 10.0);
    assert_eq!(cfg.patterns, ["*"]);
    assert!(!cfg.dry_run && !cfg.import);
    cfg.validate().unwrap();

    let unknown = serde_json::from_str::<HotFolderConfig>(
        r#"{"name":"pdf","path":"/x","pipeline":"p","stable":1}"#,
    );
    assert!(unknown.is_err());

    let bad = HotFolderConfig {
        stable_secs: -1.0,
        ..cfg.clone()
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("stable_secs"));
    let bad = HotFolderConfig {
        patterns: vec![],
        ..cfg.clone()
    };
    assert!(bad.validate().unwrap_err().to_string().contains("patterns"));
    let bad = HotFolderConfig {
        patterns: vec!["sub/*.pdf".into()],
        ..cfg.clone()
    };
    assert!(bad.validate().is_err());
    let bad = HotFolderConfig {
        rescan_secs: 0.0,
        ..cfg
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("rescan_secs"));
}
