//! Watched directories ("hot folders") whose stable files become jobs.
//!
//! A hot folder is a directory that operators (or other systems, often over
//! SMB or NFS) drop files into. [`HotFolder::watch`] notices new files through
//! inotify (via `notify`) and a periodic full rescan, waits until a file's
//! size and modification time have stopped changing, and then *claims* it by
//! renaming it into `processing/`. The rename is atomic and never replaces an
//! existing file, so several watchers (even in several processes) on the same
//! folder claim each file exactly once. When the job ends, [`HotFolder::finish`]
//! moves the file to `done/` or `failed/` (with a `.reason.txt` next to it).
//!
//! Layout of a hot folder:
//!
//! ```text
//! <path>/            input; only regular files directly inside are taken
//! <path>/processing/ claimed files, while their job runs
//! <path>/done/       files whose job succeeded
//! <path>/failed/     failed and refused files, each with <name>.reason.txt
//! ```
//!
//! Dot-files and names ending in `.part`, `.tmp`, `.crdownload` or `~` are
//! left alone (they are files still being written by common tools). Symlinks,
//! other non-regular files and names that are not valid UTF-8 or not safe as a
//! single path component are refused: moved to `failed/`, never followed.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Name of the subfolder holding claimed files while their job runs.
pub const PROCESSING_DIR: &str = "processing";
/// Name of the subfolder receiving files whose job succeeded.
pub const DONE_DIR: &str = "done";
/// Name of the subfolder receiving failed and refused files.
pub const FAILED_DIR: &str = "failed";

/// Suffixes of names that are still being written by common tools; ignored.
const IGNORED_SUFFIXES: [&str; 4] = [".part", ".tmp", ".crdownload", "~"];

/// Errors of hot folders. Messages name the folder and the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum HotFolderError {
    /// The configuration is not usable.
    #[error("hot folder {folder:?}: invalid configuration: {reason}")]
    InvalidConfig {
        /// The folder's configured name.
        folder: String,
        /// What is wrong.
        reason: String,
    },
    /// The configured path exists but is not a directory, or does not exist.
    #[error("hot folder {folder:?}: {path} does not exist or is not a directory")]
    NotADirectory {
        /// The folder's configured name.
        folder: String,
        /// The configured path.
        path: PathBuf,
    },
    /// A file name that cannot safely become a single path component.
    #[error("unsafe file name {name:?}: {reason}")]
    UnsafeName {
        /// The offending name (lossy if it was not UTF-8).
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// [`HotFolder::finish`] was given a file that is not in this folder's `processing/`.
    #[error("hot folder {folder:?}: {path} is not a claimed file in {dir}")]
    NotClaimed {
        /// The folder's configured name.
        folder: String,
        /// The path that was given.
        path: PathBuf,
        /// The `processing/` directory of the folder.
        dir: PathBuf,
    },
    /// A file system operation failed.
    #[error("hot folder {folder:?}: cannot {action} {path}: {source}")]
    Io {
        /// The folder's configured name.
        folder: String,
        /// What was being done ("create", "rename", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

fn default_stable_secs() -> f64 {
    2.0
}

fn default_patterns() -> Vec<String> {
    vec!["*".to_owned()]
}

fn default_rescan_secs() -> f64 {
    10.0
}

/// Configuration of one hot folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotFolderConfig {
    /// Unique name of the folder, used in logs and in [`Claimed::folder`].
    pub name: String,
    /// The watched directory.
    pub path: PathBuf,
    /// Name of the pipeline that processes the folder's files.
    pub pipeline: String,
    /// Seconds a file's size and mtime must stay unchanged before it is claimed.
    #[serde(default = "default_stable_secs")]
    pub stable_secs: f64,
    /// Case-insensitive globs (`*`, `?`) on the file name; `["*"]` takes everything.
    #[serde(default = "default_patterns")]
    pub patterns: Vec<String>,
    /// Seconds between full rescans (catches NFS/SMB writes inotify misses).
    #[serde(default = "default_rescan_secs")]
    pub rescan_secs: f64,
    /// Jobs from this folder run without writing or uploading outputs.
    #[serde(default)]
    pub dry_run: bool,
    /// Jobs from this folder back-fill history (no notifications, file mtime as date).
    #[serde(default)]
    pub import: bool,
}

impl HotFolderConfig {
    /// A configuration with the default timings and patterns.
    pub fn new(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        pipeline: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            pipeline: pipeline.into(),
            stable_secs: default_stable_secs(),
            patterns: default_patterns(),
            rescan_secs: default_rescan_secs(),
            dry_run: false,
            import: false,
        }
    }

    /// Checks the values; the error says which field is wrong and why.
    pub fn validate(&self) -> Result<(), HotFolderError> {
        let bad = |reason: String| HotFolderError::InvalidConfig {
            folder: self.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(bad("name must not be empty".into()));
        }
        if self.name.chars().any(char::is_control) {
            return Err(bad("name must not contain control characters".into()));
        }
        if self.pipeline.trim().is_empty() {
            return Err(bad("pipeline must not be empty".into()));
        }
        if self.path.as_os_str().is_empty() {
            return Err(bad("path must not be empty".into()));
        }
        if !self.stable_secs.is_finite() || !(0.0..=86_400.0).contains(&self.stable_secs) {
            return Err(bad(format!(
                "stable_secs must be between 0 and 86400, got {}",
                self.stable_secs
            )));
        }
        if !self.rescan_secs.is_finite() || !(0.1..=86_400.0).contains(&self.rescan_secs) {
            return Err(bad(format!(
                "rescan_secs must be between 0.1 and 86400, got {}",
                self.rescan_secs
            )));
        }
        if self.patterns.is_empty() {
            return Err(bad(
                "patterns must not be empty (use [\"*\"] for all files)".into(),
            ));
        }
        for p in &self.patterns {
            if p.is_empty() || p.contains(['/', '\\', '\0']) {
                return Err(bad(format!(
                    "pattern {p:?} must be a non-empty file name glob without separators"
                )));
            }
        }
        Ok(())
    }
}

/// A file claimed from a hot folder: it now lives in `processing/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimed {
    /// Name of the hot folder ([`HotFolderConfig::name`]).
    pub folder: String,
    /// The file's name when it was dropped into the folder.
    pub original_name: String,
    /// Where the file is now, inside `processing/` (its name may carry a suffix).
    pub path: PathBuf,
    /// Size in bytes at claim time.
    pub size: u64,
    /// When it was claimed.
    pub claimed_at: SystemTime,
}

/// How a claimed file's job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The job succeeded: the file goes to `done/`.
    Done,
    /// The job failed: the file goes to `failed/` with a reason file.
    Failed {
        /// Human-readable reason, written to `<name>.reason.txt`.
        reason: String,
    },
}

/// Joins a single file name onto `base`, refusing anything that could leave it.
///
/// Rejects empty names, `.`, `..`, absolute paths, names containing `/` or
/// `\`, NUL or other control characters.
pub fn safe_join(base: &Path, name: &str) -> Result<PathBuf, HotFolderError> {
    check_name(OsStr::new(name))?;
    Ok(base.join(name))
}

/// Checks that `name` is one plain path component (see [`safe_join`]).
fn check_name(name: &OsStr) -> Result<(), HotFolderError> {
    let reason = name_problem(name);
    match reason {
        None => Ok(()),
        Some(reason) => Err(HotFolderError::UnsafeName {
            name: name.to_string_lossy().into_owned(),
            reason,
        }),
    }
}

fn name_problem(name: &OsStr) -> Option<&'static str> {
    let lossy = name.to_string_lossy();
    if lossy.is_empty() {
        Some("the name is empty")
    } else if lossy == "." || lossy == ".." {
        Some("the name is a relative directory reference")
    } else if lossy.starts_with('/') {
        Some("the name is an absolute path")
    } else if lossy.contains(['/', '\\']) {
        Some("the name contains a path separator")
    } else if lossy.contains('\0') {
        Some("the name contains a NUL byte")
    } else if lossy.chars().any(char::is_control) {
        Some("the name contains control characters")
    } else {
        None
    }
}

/// Case-insensitive glob match of `name` against `pattern` (`*` any run, `?` one char).
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    // Position of the last `*` seen in the pattern and the name index it matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Renames `src` to `dst` without ever replacing an existing `dst`.
///
/// Uses `renameat2(RENAME_NOREPLACE)` where the kernel and file system support
/// it (atomic); otherwise checks for `dst` first (racy only between watchers
/// on such file systems).
pub(crate) fn rename_noreplace(src: &Path, dst: &Path) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        use rustix::io::Errno;
        match renameat_with(CWD, src, CWD, dst, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::NOTSUP => {}
            Err(e) => return Err(e.into()),
        }
    }
    match fs::symlink_metadata(dst) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "destination exists",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(src, dst),
        Err(e) => Err(e),
    }
}

/// `name` with `-n` inserted before the extension (`a.pdf` → `a-2.pdf`); `n == 0` keeps it.
pub(crate) fn numbered_name(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}-{n}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}-{n}"),
    }
}

/// Moves `src` into `dir` under `name`, or `name-2`, `name-3`… if taken.
/// Returns the new path. A missing `src` gives an error of kind NotFound.
fn move_unique(src: &Path, dir: &Path, name: &str) -> Result<PathBuf, io::Error> {
    for n in 0..10_000u32 {
        let candidate = numbered_name(name, if n == 0 { 0 } else { n + 1 });
        let dst = dir.join(&candidate);
        match rename_noreplace(src, &dst) {
            Ok(()) => return Ok(dst),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "too many files with this name",
    ))
}

/// A name made safe for `failed/` from a refused one (lossy UTF-8, no separators).
fn sanitized(name: &OsStr) -> String {
    let s: String = name
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    match s.as_str() {
        "" | "." | ".." => "unnamed".to_owned(),
        _ => s,
    }
}

/// What changes when a file is still being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: Option<SystemTime>,
    ino: u64,
    ctime: (i64, i64),
    regular: bool,
}

impl Stamp {
    fn of(md: &fs::Metadata) -> Self {
        #[cfg(unix)]
        let (ino, ctime) = {
            use std::os::unix::fs::MetadataExt;
            (md.ino(), (md.ctime(), md.ctime_nsec()))
        };
        #[cfg(not(unix))]
        let (ino, ctime) = (0, (0, 0));
        Self {
            len: md.len(),
            mtime: md.modified().ok(),
            ino,
            ctime,
            regular: md.file_type().is_file(),
        }
    }
}

/// A file seen in the folder and waiting to become stable.
#[derive(Debug)]
struct Candidate {
    stamp: Option<Stamp>,
    since: Instant,
}

/// What the watcher remembers between steps.
#[derive(Debug, Default)]
struct WatchState {
    candidates: HashMap<OsString, Candidate>,
    noticed: Vec<PathBuf>,
    rescan_due: bool,
}

/// Messages from the notify callback thread.
enum Notice {
    Path(PathBuf),
    Rescan,
}

/// How a name found in the folder is treated.
enum Verdict {
    Ignore,
    Take,
    Refuse(&'static str),
}

/// An opened hot folder. Share it with `Arc` to watch and finish concurrently.
#[derive(Debug)]
pub struct HotFolder {
    cfg: HotFolderConfig,
    processing: PathBuf,
    done: PathBuf,
    failed: PathBuf,
}

impl HotFolder {
    /// Validates `cfg`, checks that its path is a directory and creates
    /// `processing/`, `done/` and `failed/` inside it.
    pub fn open(cfg: HotFolderConfig) -> Result<HotFolder, HotFolderError> {
        cfg.validate()?;
        match fs::metadata(&cfg.path) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                return Err(HotFolderError::NotADirectory {
                    folder: cfg.name.clone(),
                    path: cfg.path.clone(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(HotFolderError::NotADirectory {
                    folder: cfg.name.clone(),
                    path: cfg.path.clone(),
                })
            }
            Err(source) => {
                return Err(HotFolderError::Io {
                    folder: cfg.name.clone(),
                    action: "read",
                    path: cfg.path.clone(),
                    source,
                })
            }
        }
        let sub = |name: &str| -> Result<PathBuf, HotFolderError> {
            let dir = cfg.path.join(name);
            match fs::create_dir(&dir) {
                Ok(()) => Ok(dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(dir),
                Err(source) => Err(HotFolderError::Io {
                    folder: cfg.name.clone(),
                    action: "create directory",
                    path: dir,
                    source,
                }),
            }
        };
        let processing = sub(PROCESSING_DIR)?;
        let done = sub(DONE_DIR)?;
        let failed = sub(FAILED_DIR)?;
        Ok(HotFolder {
            cfg,
            processing,
            done,
            failed,
        })
    }

    /// The configuration the folder was opened with.
    pub fn config(&self) -> &HotFolderConfig {
        &self.cfg
    }

    /// The folder's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The `processing/` directory.
    pub fn processing_dir(&self) -> &Path {
        &self.processing
    }

    /// The `done/` directory.
    pub fn done_dir(&self) -> &Path {
        &self.done
    }

    /// The `failed/` directory.
    pub fn failed_dir(&self) -> &Path {
        &self.failed
    }

    fn io_err(&self, action: &'static str, path: &Path, source: io::Error) -> HotFolderError {
        HotFolderError::Io {
            folder: self.cfg.name.clone(),
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// Watches the folder until `cancel` fires, sending each claimed file to `tx`.
    ///
    /// Reacts to inotify close-write, rename-into and create events and rescans
    /// the whole folder every `rescan_secs` (also right at start). A file is
    /// claimed once it has been unchanged for `stable_secs`. If inotify cannot be
    /// used the watcher logs a warning and relies on the rescans. Returns when
    /// cancelled or when `tx` is closed; a claimed file that could not be sent
    /// stays in `processing/` for [`HotFolder::recover`].
    pub async fn watch(self: Arc<Self>, tx: mpsc::Sender<Claimed>, cancel: CancellationToken) {
        let (notice_tx, mut notice_rx) = mpsc::unbounded_channel::<Notice>();
        let watcher = self.start_notify(notice_tx);
        let mut rescan = tokio::time::interval(Duration::from_secs_f64(self.cfg.rescan_secs));
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let check = (self.cfg.stable_secs / 4.0).clamp(0.05, 1.0);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(check));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut state = WatchState::default();
        debug!(folder = %self.cfg.name, path = %self.cfg.path.display(), "watching hot folder");
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(notice) = notice_rx.recv() => {
                    match notice {
                        Notice::Path(p) => state.noticed.push(p),
                        Notice::Rescan => state.rescan_due = true,
                    }
                    while let Ok(more) = notice_rx.try_recv() {
                        match more {
                            Notice::Path(p) => state.noticed.push(p),
                            Notice::Rescan => state.rescan_due = true,
                        }
                    }
                }
                _ = rescan.tick() => state.rescan_due = true,
                _ = tick.tick(), if !state.candidates.is_empty() => {}
            }
            let me = Arc::clone(&self);
            let mut taken = std::mem::take(&mut state);
            let joined = tokio::task::spawn_blocking(move || {
                let claims = me.step(&mut taken);
                (taken, claims)
            })
            .await;
            let claims = match joined {
                Ok((back, claims)) => {
                    state = back;
                    claims
                }
                Err(e) => {
                    warn!(folder = %self.cfg.name, error = %e, "hot folder scan task failed; rescanning");
                    state.rescan_due = true;
                    Vec::new()
                }
            };
            for claimed in claims {
                let claimed_path = claimed.path.clone();
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {
                        info!(folder = %self.cfg.name, file = %claimed_path.display(),
                            "watcher cancelled; claimed file left in processing/");
                        drop(watcher);
                        return;
                    }
                    sent = tx.send(claimed) => {
                        if let Err(e) = sent {
                            warn!(folder = %self.cfg.name, file = %e.0.path.display(),
                                "job receiver closed; claimed file left in processing/");
                            drop(watcher);
                            return;
                        }
                    }
                }
            }
        }
        drop(watcher);
        debug!(folder = %self.cfg.name, "hot folder watcher stopped");
    }

    /// Starts the inotify watcher; `None` (with a warning) when it cannot run.
    fn start_notify(
        &self,
        notice_tx: mpsc::UnboundedSender<Notice>,
    ) -> Option<notify::RecommendedWatcher> {
        let folder = self.cfg.name.clone();
        let handler = move |res: notify::Result<Event>| match res {
            Ok(event) => {
                if event.need_rescan() {
                    let _ = notice_tx.send(Notice::Rescan);
                }
                let relevant = matches!(
                    event.kind,
                    EventKind::Access(AccessKind::Close(AccessMode::Write))
                        | EventKind::Modify(ModifyKind::Name(
                            RenameMode::To | RenameMode::Both | RenameMode::Any
                        ))
                        | EventKind::Create(_)
                );
                if relevant {
                    for p in event.paths {
                        let _ = notice_tx.send(Notice::Path(p));
                    }
                }
            }
            Err(e) => {
                warn!(folder = %folder, error = %e, "hot folder notification error; rescanning");
                let _ = notice_tx.send(Notice::Rescan);
            }
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                warn!(folder = %self.cfg.name, error = %e,
                    "cannot start file notifications; relying on periodic rescans");
                return None;
            }
        };
        if let Err(e) = watcher.watch(&self.cfg.path, RecursiveMode::NonRecursive) {
            warn!(folder = %self.cfg.name, path = %self.cfg.path.display(), error = %e,
                "cannot watch hot folder; relying on periodic rescans");
            return None;
        }
        Some(watcher)
    }

    /// Decides how a name found directly in the folder is treated.
    fn verdict(&self, name: &OsStr) -> Verdict {
        let lossy = name.to_string_lossy();
        if lossy.starts_with('.') {
            return Verdict::Ignore;
        }
        let lower = lossy.to_lowercase();
        if IGNORED_SUFFIXES.iter().any(|s| lower.ends_with(s)) {
            return Verdict::Ignore;
        }
        if [PROCESSING_DIR, DONE_DIR, FAILED_DIR].contains(&lossy.as_ref()) {
            return Verdict::Ignore;
        }
        if !self.cfg.patterns.iter().any(|p| glob_match(p, &lossy)) {
            return Verdict::Ignore;
        }
        if name.to_str().is_none() {
            return Verdict::Refuse("the file name is not valid UTF-8");
        }
        match name_problem(name) {
            Some(reason) => Verdict::Refuse(reason),
            None => Verdict::Take,
        }
    }

    /// One pass: rescan if due, note new names, check candidates, claim stable files.
    fn step(&self, st: &mut WatchState) -> Vec<Claimed> {
        let now = Instant::now();
        let add = |name: OsString, cands: &mut HashMap<OsString, Candidate>| {
            if matches!(self.verdict(&name), Verdict::Ignore) {
                return;
            }
            cands.entry(name).or_insert(Candidate {
                stamp: None,
                since: now,
            });
        };
        if std::mem::take(&mut st.rescan_due) {
            match fs::read_dir(&self.cfg.path) {
                Ok(entries) => {
                    for entry in entries.flatten() {
                        add(entry.file_name(), &mut st.candidates);
                    }
                }
                Err(e) => {
                    warn!(folder = %self.cfg.name, path = %self.cfg.path.display(), error = %e,
                        "cannot list hot folder");
                }
            }
        }
        for path in std::mem::take(&mut st.noticed) {
            if path.parent() != Some(self.cfg.path.as_path()) {
                continue;
            }
            if let Some(name) = path.file_name() {
                add(name.to_owned(), &mut st.candidates);
            }
        }

        let stable = Duration::from_secs_f64(self.cfg.stable_secs);
        let mut claims = Vec::new();
        let mut ready = Vec::new();
        st.candidates.retain(|name, cand| {
            // `name` is a single component: it came from read_dir or file_name().
            let path = self.cfg.path.join(name);
            let md = match fs::symlink_metadata(&path) {
                Ok(md) => md,
                Err(e) => {
                    if e.kind() != io::ErrorKind::NotFound {
                        warn!(folder = %self.cfg.name, file = %path.display(), error = %e,
                            "cannot inspect file in hot folder");
                    }
                    return false;
                }
            };
            let stamp = Stamp::of(&md);
            if cand.stamp != Some(stamp) {
                cand.stamp = Some(stamp);
                cand.since = now;
                return true;
            }
            if now.duration_since(cand.since) < stable {
                return true;
            }
            ready.push((name.clone(), md));
            false
        });
        for (name, md) in ready {
            match self.verdict(&name) {
                Verdict::Ignore => {}
                Verdict::Refuse(reason) => self.refuse(&name, reason),
                Verdict::Take if md.file_type().is_symlink() => {
                    self.refuse(&name, "symbolic links are not accepted")
                }
                Verdict::Take if !md.file_type().is_file() => {
                    self.refuse(&name, "only regular files are accepted")
                }
                Verdict::Take => {
                    if let Some(c) = self.claim(&name, md.len()) {
                        claims.push(c);
                    }
                }
            }
        }
        claims
    }

    /// Claims a stable file by renaming it into `processing/`; `None` if another watcher won.
    fn claim(&self, name: &OsStr, size: u64) -> Option<Claimed> {
        let name = name.to_str()?;
        let src = match safe_join(&self.cfg.path, name) {
            Ok(p) => p,
            Err(e) => {
                warn!(folder = %self.cfg.name, error = %e, "not claiming file");
                return None;
            }
        };
        match move_unique(&src, &self.processing, name) {
            Ok(path) => {
                let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(size);
                info!(folder = %self.cfg.name, file = %name, to = %path.display(), size,
                    "claimed file from hot folder");
                Some(Claimed {
                    folder: self.cfg.name.clone(),
                    original_name: name.to_owned(),
                    path,
                    size,
                    claimed_at: SystemTime::now(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                debug!(folder = %self.cfg.name, file = %name, "file taken by another watcher");
                None
            }
            Err(e) => {
                warn!(folder = %self.cfg.name, file = %src.display(), error = %e,
                    "cannot claim file; will retry at the next rescan");
                None
            }
        }
    }

    /// Moves a refused entry (link, directory, bad name…) to `failed/` with a reason file.
    fn refuse(&self, name: &OsStr, reason: &str) {
        // `name` is a single component from read_dir/file_name(); the link itself is moved.
        let src = self.cfg.path.join(name);
        let target = sanitized(name);
        match move_unique(&src, &self.failed, &target) {
            Ok(dst) => {
                warn!(folder = %self.cfg.name, file = %name.to_string_lossy(), to = %dst.display(),
                    reason, "refused file in hot folder");
                let text = format!("refused {:?}: {reason}", name.to_string_lossy());
                if let Err(e) = self.write_reason(&dst, &text) {
                    warn!(error = %e, "cannot write reason file");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(folder = %self.cfg.name, file = %src.display(), error = %e, reason,
                    "cannot move refused file to failed/");
            }
        }
    }

    /// Writes `<file>.reason.txt` next to `file` in `failed/`.
    fn write_reason(&self, file: &Path, reason: &str) -> Result<PathBuf, HotFolderError> {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = safe_join(&self.failed, &format!("{name}.reason.txt"))?;
        let text = format!(
            "{reason}\n\nfile: {name}\nfolder: {}\ntime: {}\n",
            self.cfg.name,
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        fs::write(&path, text).map_err(|e| self.io_err("write reason file", &path, e))?;
        Ok(path)
    }

    /// Moves a claimed file from `processing/` to `done/` or `failed/`.
    ///
    /// The file keeps its original name (with `-2`, `-3`… if taken). For
    /// failures, `<name>.reason.txt` holds the reason and a UTC timestamp.
    /// Returns the file's new path. If the file was moved but its reason file
    /// could not be written, the error says so (the file stays in `failed/`).
    pub fn finish(&self, claimed: &Claimed, outcome: Outcome) -> Result<PathBuf, HotFolderError> {
        let not_claimed = || HotFolderError::NotClaimed {
            folder: self.cfg.name.clone(),
            path: claimed.path.clone(),
            dir: self.processing.clone(),
        };
        let in_processing = claimed.path.parent() == Some(self.processing.as_path());
        let current = claimed.path.file_name().ok_or_else(not_claimed)?;
        if !in_processing || name_problem(current).is_some() {
            return Err(not_claimed());
        }
        let src = self.processing.join(current);
        // The original name came from outside: check it before it becomes a path.
        safe_join(&self.processing, &claimed.original_name)?;
        let dir = match outcome {
            Outcome::Done => &self.done,
            Outcome::Failed { .. } => &self.failed,
        };
        let dst = move_unique(&src, dir, &claimed.original_name)
            .map_err(|e| self.io_err("move", &src, e))?;
        match outcome {
            Outcome::Done => {
                info!(folder = %self.cfg.name, file = %claimed.original_name, to = %dst.display(), "file done");
            }
            Outcome::Failed { reason } => {
                warn!(folder = %self.cfg.name, file = %claimed.original_name, to = %dst.display(),
                    reason = %reason, "file failed");
                self.write_reason(&dst, &reason)?;
            }
        }
        Ok(dst)
    }

    /// Lists files left in `processing/` (after a crash), sorted by name, so
    /// the caller can re-enqueue or fail them. Call it before watchers of other
    /// processes start on the same folder: it cannot tell their files apart.
    pub fn recover(&self) -> Result<Vec<Claimed>, HotFolderError> {
        let entries =
            fs::read_dir(&self.processing).map_err(|e| self.io_err("list", &self.processing, e))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io_err("list", &self.processing, e))?;
            let os_name = entry.file_name();
            let path = entry.path();
            let Some(name) = os_name
                .to_str()
                .filter(|n| name_problem(OsStr::new(n)).is_none())
            else {
                warn!(folder = %self.cfg.name, file = %path.display(), "skipping unsafe name in processing/");
                continue;
            };
            let md = match fs::symlink_metadata(&path) {
                Ok(md) if md.file_type().is_file() => md,
                Ok(_) => continue,
                Err(e) => return Err(self.io_err("inspect", &path, e)),
            };
            found.push(Claimed {
                folder: self.cfg.name.clone(),
                original_name: name.to_owned(),
                path,
                size: md.len(),
                claimed_at: md.modified().unwrap_or_else(|_| SystemTime::now()),
            });
        }
        found.sort_by(|a, b| a.original_name.cmp(&b.original_name));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_case_insensitive() {
        assert!(glob_match("*.pdf", "Order 12.PDF"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(glob_match("*", "x"));
        assert!(!glob_match("*.pdf", "file.pdf.txt"));
        assert!(glob_match("*a*b", "xxaxxb"));
        assert!(!glob_match("?", ""));
    }

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered_name("a.pdf", 2), "a-2.pdf");
        assert_eq!(numbered_name(".x", 3), ".x-3");
        assert_eq!(numbered_name("noext", 2), "noext-2");
    }
}
