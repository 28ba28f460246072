//! Outputs of a pipeline: copy or move to a directory, upload by FTP/FTPS.
//!
//! [`deliver`] hands a job's result files to one [`OutputTarget`]:
//!
//! - `dir`: each file is written to `<dest>/.<name>.part-<random>` and renamed
//!   into place, so no half-written file is ever visible under its final name.
//!   Existing files are kept unless `overwrite` is set; `move` removes the
//!   source only after the file is in place.
//! - `ftp`: plain FTP or explicit FTPS (`AUTH TLS`, rustls with the Mozilla
//!   root certificates). Each file is uploaded as `.<name>.part`, renamed to its
//!   final name and its `SIZE` checked against the local size. Connection and
//!   transfer errors are retried with exponential backoff (1 s, 2 s, 4 s…, at
//!   most 30 s); a refused login (530) and other permanent (5xx) replies fail
//!   at once.
//!
//! With [`DeliverOptions::dry_run`] the files and the target are checked but
//! nothing is written, uploaded or even connected to.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::tokio_rustls::rustls;
use suppaftp::types::FileType;
use suppaftp::{FtpError, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::hotfolder::{rename_noreplace, safe_join};

/// Longest pause between two FTP attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Size of the chunks files are copied and uploaded in.
const CHUNK: usize = 256 * 1024;

/// Errors of [`deliver`]. Messages name the file and the destination.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The target configuration is not usable.
    #[error("invalid output target: {0}")]
    InvalidTarget(String),
    /// A file to deliver is missing, unreadable or badly named.
    #[error("cannot deliver {path}: {reason}")]
    Source {
        /// The local file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Two files to deliver have the same name.
    #[error("two files to deliver are named {0:?}; they would overwrite each other")]
    DuplicateName(String),
    /// The destination file exists and `overwrite` is off.
    #[error("{0} already exists and overwrite is off")]
    Exists(PathBuf),
    /// A local file system operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The FTP server refused the user name or password (530).
    #[error("FTP login to {destination} refused: {reply}")]
    FtpLogin {
        /// The server, as `ftp://user@host:port/dir` (never the password).
        destination: String,
        /// The server's reply.
        reply: String,
        /// Attempts made (connection retries before the refusal included).
        attempts: u32,
    },
    /// An FTP upload failed: a permanent error or retries exhausted.
    #[error("uploading {file} to {destination} failed after {attempts} attempt(s): {message}")]
    Ftp {
        /// The local file.
        file: PathBuf,
        /// Where it was going (never the password).
        destination: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        message: String,
    },
    /// The delivery was cancelled; files delivered before stay delivered.
    #[error("delivery cancelled while delivering {0}")]
    Cancelled(PathBuf),
}

impl OutputError {
    /// FTP attempts made before the error, when it comes from an FTP upload.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            OutputError::FtpLogin { attempts, .. } | OutputError::Ftp { attempts, .. } => {
                Some(*attempts)
            }
            _ => None,
        }
    }
}

/// A secret that prints as `***` in `Debug` and `Display`.
///
/// It (de)serializes as the plain string so that targets can be stored in job
/// parameters; keep such stores private.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, to hand to the server. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Whether a directory target copies or moves the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirMode {
    /// Copy; the source stays.
    #[default]
    Copy,
    /// Move; the source is removed once the file is in place.
    Move,
}

/// TLS use of an FTP target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FtpTls {
    /// Plain FTP.
    #[default]
    None,
    /// Explicit FTPS: `AUTH TLS` on the control connection, protected data connections.
    Explicit,
}

/// A local (or mounted) directory target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirTarget {
    /// Destination directory; created if missing.
    pub path: PathBuf,
    /// Copy (default) or move.
    #[serde(default)]
    pub mode: DirMode,
    /// Replace existing files of the same name (default: refuse).
    #[serde(default)]
    pub overwrite: bool,
}

fn default_port() -> u16 {
    21
}

fn default_dir() -> String {
    "/".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_retries() -> u32 {
    3
}

fn default_timeout() -> u64 {
    20
}

/// An FTP or FTPS server target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtpTarget {
    /// Server host name or address.
    pub host: String,
    /// Control port (default 21).
    #[serde(default = "default_port")]
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password; printed as `***`.
    pub password: Password,
    /// Remote directory, created component by component if missing (default `/`).
    #[serde(default = "default_dir")]
    pub dir: String,
    /// Passive mode (default); `false` uses active mode.
    #[serde(default = "default_true")]
    pub passive: bool,
    /// `none` (default) or `explicit` FTPS.
    #[serde(default)]
    pub tls: FtpTls,
    /// Retries after the first attempt on connection or transfer errors (default 3).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Timeout of connecting and of each command or transfer chunk (default 20 s).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl FtpTarget {
    /// `ftp://user@host:port/dir` (`ftpes://` for explicit TLS), without the password.
    pub fn display_url(&self) -> String {
        let scheme = match self.tls {
            FtpTls::None => "ftp",
            FtpTls::Explicit => "ftpes",
        };
        let dir = self.dir.trim_matches('/');
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if dir.is_empty() {
            format!("{scheme}://{}@{host}:{}/", self.user, self.port)
        } else {
            format!("{scheme}://{}@{host}:{}/{dir}/", self.user, self.port)
        }
    }

    fn dir_components(&self) -> impl Iterator<Item = &str> {
        self.dir.split('/').filter(|c| !c.is_empty())
    }

    fn validate(&self) -> Result<(), OutputError> {
        let bad = |m: String| Err(OutputError::InvalidTarget(m));
        if self.host.is_empty()
            || self
                .host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/@?#".contains(c))
        {
            return bad(format!(
                "FTP host {:?} is not a host name or address",
                self.host
            ));
        }
        if self.port == 0 {
            return bad("FTP port must not be 0".into());
        }
        if self.user.is_empty() || self.user.chars().any(char::is_control) {
            return bad(format!(
                "FTP user {:?} must be non-empty without control characters",
                self.user
            ));
        }
        if self.password.0.chars().any(char::is_control) {
            return bad(format!(
                "FTP password of user {:?} contains control characters",
                self.user
            ));
        }
        if self.dir.chars().any(char::is_control) {
            return bad(format!(
                "FTP dir {:?} contains control characters",
                self.dir
            ));
        }
        if self.dir_components().any(|c| c == "." || c == "..") {
            return bad(format!(
                "FTP dir {:?} must not contain . or .. components",
                self.dir
            ));
        }
        if self.retries > 20 {
            return bad(format!(
                "FTP retries must be at most 20, got {}",
                self.retries
            ));
        }
        if !(1..=3600).contains(&self.timeout_secs) {
            return bad(format!(
                "FTP timeout_secs must be between 1 and 3600, got {}",
                self.timeout_secs
            ));
        }
        Ok(())
    }
}

/// Where [`deliver`] puts the files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OutputTarget {
    /// A directory (`kind = "dir"`).
    Dir(DirTarget),
    /// An FTP/FTPS server (`kind = "ftp"`).
    Ftp(FtpTarget),
}

impl OutputTarget {
    /// Checks the values; the error says which field is wrong and why.
    pub fn validate(&self) -> Result<(), OutputError> {
        match self {
            OutputTarget::Dir(d) => {
                if d.path.as_os_str().is_empty() {
                    return Err(OutputError::InvalidTarget(
                        "directory target path must not be empty".into(),
                    ));
                }
                Ok(())
            }
            OutputTarget::Ftp(f) => f.validate(),
        }
    }
}

/// Options of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeliverOptions {
    /// Check everything but write and upload nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// One delivered file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// The local file.
    pub file: PathBuf,
    /// Where it went: a path, or an `ftp://` URL without password.
    pub destination: String,
    /// Bytes written or uploaded (the file size in a dry run).
    pub bytes: u64,
    /// Attempts it took (0 in a dry run).
    pub attempts: u32,
}

/// What [`deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// The files, in the order given.
    pub delivered: Vec<Delivered>,
    /// True if nothing was actually written or uploaded.
    pub dry_run: bool,
}

/// A checked local file.
struct Source {
    path: PathBuf,
    name: String,
    size: u64,
}

/// Delivers `files` to `target`.
///
/// All files are checked first (they exist, are regular, readable and have
/// safe, distinct UTF-8 names); then they are delivered in order. On error,
/// files delivered before stay delivered. Cancellation stops between chunks
/// and leaves no temporary file in a directory target (an FTP target may keep
/// a `.<name>.part` file).
pub async fn deliver(
    files: &[PathBuf],
    target: &OutputTarget,
    opts: &DeliverOptions,
    cancel: &CancellationToken,
) -> Result<DeliveryReport, OutputError> {
    target.validate()?;
    let sources = check_sources(files).await?;
    let delivered = match target {
        OutputTarget::Dir(d) => deliver_dir(&sources, d, opts.dry_run, cancel).await?,
        OutputTarget::Ftp(f) => deliver_ftp(&sources, f, opts.dry_run, cancel).await?,
    };
    Ok(DeliveryReport {
        delivered,
        dry_run: opts.dry_run,
    })
}

async fn check_sources(files: &[PathBuf]) -> Result<Vec<Source>, OutputError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let source_err = |reason: String| OutputError::Source {
            path: path.clone(),
            reason,
        };
        let md = tokio::fs::metadata(path).await.map_err(|e| {
            source_err(if e.kind() == io::ErrorKind::NotFound {
                "the file does not exist".into()
            } else {
                format!("cannot inspect it: {e}")
            })
        })?;
        if !md.is_file() {
            return Err(source_err("it is not a regular file".into()));
        }
        tokio::fs::File::open(path)
            .await
            .map_err(|e| source_err(format!("cannot read it: {e}")))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| source_err("its name is missing or not valid UTF-8".into()))?;
        safe_join(Path::new("."), name).map_err(|e| source_err(e.to_string()))?;
        if !names.insert(name.to_owned()) {
            return Err(OutputError::DuplicateName(name.to_owned()));
        }
        out.push(Source {
            path: path.clone(),
            name: name.to_owned(),
            size: md.len(),
        });
    }
    Ok(out)
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> OutputError {
    let path = path.to_owned();
    move |source| OutputError::Io {
        action,
        path,
        source,
    }
}

async fn exists(path: &Path) -> Result<bool, OutputError> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("inspect", path)(e)),
    }
}

async fn deliver_dir(
    sources: &[Source],
    t: &DirTarget,
    dry_run: bool,
    cancel: &CancellationToken,
) -> Result<Vec<Delivered>, OutputError> {
    match tokio::fs::metadata(&t.path).await {
        Ok(md) if !md.is_dir() => {
            return Err(OutputError::InvalidTarget(format!(
                "{} is not a directory",
                t.path.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound && dry_run => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tokio::fs::create_dir_all(&t.path)
                .await
                .map_err(io_err("create directory", &t.path))?
        }
        Err(e) => return Err(io_err("inspect", &t.path)(e)),
    }
    let mut out = Vec::with_capacity(sources.len());
    for src in sources {
        if cancel.is_cancelled() {
            return Err(OutputError::Cancelled(src.path.clone()));
        }
        let dst = safe_join(&t.path, &src.name).map_err(|e| OutputError::Source {
            path: src.path.clone(),
            reason: e.to_string(),
        })?;
        if !t.overwrite && exists(&dst).await? {
            return Err(OutputError::Exists(dst));
        }
        let bytes = if dry_run {
            src.size
        } else {
            put_in_dir(src, &dst, t, cancel).await?
        };
        if !dry_run {
            info!(file = %src.path.display(), to = %dst.display(), bytes, "delivered file");
        }
        out.push(Delivered {
            file: src.path.clone(),
            destination: dst.display().to_string(),
            bytes,
            attempts: u32::from(!dry_run),
        });
    }
    Ok(out)
}

/// Places one file at `dst`: a rename for moves on the same file system, else a
/// copy through a hidden temporary file.
async fn put_in_dir(
    src: &Source,
    dst: &Path,
    t: &DirTarget,
    cancel: &CancellationToken,
) -> Result<u64, OutputError> {
    let place = |from: PathBuf, to: PathBuf, overwrite: bool| async move {
        tokio::task::spawn_blocking(move || {
            if overwrite {
                std::fs::rename(&from, &to)
            } else {
                rename_noreplace(&from, &to)
            }
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
    };
    if t.mode == DirMode::Move {
        match place(src.path.clone(), dst.to_owned(), t.overwrite).await {
            Ok(()) => return Ok(src.size),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(OutputError::Exists(dst.to_owned()))
            }
            // Another file system (or a rename the OS refuses): copy instead.
            Err(_) => {}
        }
    }
    let tmp_name = format!(".{}.part-{:016x}", src.name, rand::random::<u64>());
    let tmp = safe_join(&t.path, &tmp_name).map_err(|e| OutputError::Source {
        path: src.path.clone(),
        reason: e.to_string(),
    })?;
    let copied = copy_file(&src.path, &tmp, cancel).await;
    let bytes = match copied {
        Ok(b) => b,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    if let Err(e) = place(tmp.clone(), dst.to_owned(), t.overwrite).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(if e.kind() == io::ErrorKind::AlreadyExists {
            OutputError::Exists(dst.to_owned())
        } else {
            io_err("rename into place", dst)(e)
        });
    }
    if t.mode == DirMode::Move {
        if let Err(e) = tokio::fs::remove_file(&src.path).await {
            warn!(file = %src.path.display(), to = %dst.display(), error = %e,
                "file delivered but the source could not be removed");
        }
    }
    Ok(bytes)
}

/// Copies `from` to a new file `to` chunk by chunk, stopping on cancellation.
async fn copy_file(from: &Path, to: &Path, cancel: &CancellationToken) -> Result<u64, OutputError> {
    let mut input = tokio::fs::File::open(from)
        .await
        .map_err(io_err("open", from))?;
    let mut output = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .await
        .map_err(io_err("create", to))?;
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(OutputError::Cancelled(from.to_owned()));
        }
        let n = input.read(&mut buf).await.map_err(io_err("read", from))?;
        if n == 0 {
            break;
        }
        output
            .write_all(&buf[..n])
            .await
            .map_err(io_err("write", to))?;
        total += n as u64;
    }
    output.sync_all().await.map_err(io_err("write", to))?;
    Ok(total)
}

/// Why one FTP attempt failed.
enum Failure {
    /// The login was refused: never retried.
    Login(String),
    /// A permanent error (5xx reply, TLS, local file): not retried.
    Permanent(String),
    /// A connection or transfer error: retried.
    Transient(String),
}

fn reply_text(r: &suppaftp::types::Response) -> String {
    let body = String::from_utf8_lossy(&r.body).trim().to_owned();
    if body.is_empty() {
        format!("{} {}", r.status.code(), r.status)
    } else {
        body
    }
}

fn classify(e: FtpError) -> Failure {
    match e {
        FtpError::UnexpectedResponse(r) => {
            let code = r.status.code();
            let text = format!("server replied {}", reply_text(&r));
            if (500..600).contains(&code) {
                Failure::Permanent(text)
            } else {
                Failure::Transient(text)
            }
        }
        FtpError::ConnectionError(e) => Failure::Transient(format!("connection error: {e}")),
        FtpError::SecureError(e) => Failure::Permanent(format!("TLS error: {e}")),
        FtpError::BadResponse => Failure::Transient("malformed reply from the server".into()),
        FtpError::InvalidAddress(e) => Failure::Permanent(format!("invalid address: {e}")),
        FtpError::DataConnectionAlreadyOpen => {
            Failure::Transient("data connection already open".into())
        }
    }
}

/// Runs one FTP operation with the target's timeout.
async fn step<T>(
    timeout: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, FtpError>>,
) -> Result<T, Failure> {
    step_result(timeout, what, tokio::time::timeout(timeout, fut).await)
}

/// Turns the outcome of a timed FTP operation into a [`Failure`] naming the operation.
fn step_result<T>(
    timeout: Duration,
    what: &str,
    res: Result<Result<T, FtpError>, tokio::time::error::Elapsed>,
) -> Result<T, Failure> {
    match res {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(match classify(e) {
            Failure::Login(m) => Failure::Login(m),
            Failure::Permanent(m) => Failure::Permanent(format!("{what}: {m}")),
            Failure::Transient(m) => Failure::Transient(format!("{what}: {m}")),
        }),
        Err(_) => Err(Failure::Transient(format!(
            "{what}: no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

fn tls_connector() -> Result<AsyncRustlsConnector, Failure> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Permanent(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(AsyncRustlsConnector::from(
        suppaftp::tokio_rustls::TlsConnector::from(Arc::new(config)),
    ))
}

/// Connects, secures (if asked), logs in and enters the remote directory.
async fn connect(t: &FtpTarget) -> Result<AsyncRustlsFtpStream, Failure> {
    let timeout = Duration::from_secs(t.timeout_secs);
    let tcp = match tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect((t.host.as_str(), t.port)),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(Failure::Transient(format!(
                "cannot connect to {}:{}: {e}",
                t.host, t.port
            )))
        }
        Err(_) => {
            return Err(Failure::Transient(format!(
                "cannot connect to {}:{}: no answer within {} s",
                t.host, t.port, t.timeout_secs
            )))
        }
    };
    let mut ftp = step(
        timeout,
        "greeting",
        AsyncRustlsFtpStream::connect_with_stream(tcp),
    )
    .await?;
    if t.tls == FtpTls::Explicit {
        let connector = tls_connector()?;
        ftp = step(timeout, "AUTH TLS", ftp.into_secure(connector, &t.host)).await?;
    }
    if t.passive {
        ftp.set_passive_nat_workaround(true);
    } else {
        ftp = ftp.active_mode(timeout);
    }
    match tokio::time::timeout(timeout, ftp.login(t.user.as_str(), t.password.expose())).await {
        Ok(Ok(())) => {}
        Ok(Err(FtpError::UnexpectedResponse(r))) if r.status == Status::NotLoggedIn => {
            return Err(Failure::Login(reply_text(&r)))
        }
        Ok(Err(e)) => {
            return Err(match classify(e) {
                Failure::Transient(m) => Failure::Transient(format!("login: {m}")),
                Failure::Permanent(m) | Failure::Login(m) => Failure::Login(m),
            })
        }
        Err(_) => {
            return Err(Failure::Transient(format!(
                "login: no answer within {} s",
                t.timeout_secs
            )))
        }
    }
    step(timeout, "TYPE I", ftp.transfer_type(FileType::Binary)).await?;
    if t.dir.starts_with('/') {
        step(timeout, "CWD /", ftp.cwd("/")).await?;
    }
    for comp in t.dir_components() {
        if tokio::time::timeout(timeout, ftp.cwd(comp))
            .await
            .is_ok_and(|r| r.is_ok())
        {
            continue;
        }
        // Missing: create it; "exists" (a race with another uploader) is fine.
        let _ = tokio::time::timeout(timeout, ftp.mkdir(comp)).await;
        step(timeout, "CWD", ftp.cwd(comp)).await?;
    }
    Ok(ftp)
}

/// Uploads one file on `session` (connecting first if needed). Returns bytes sent.
async fn upload_once(
    session: &mut Option<AsyncRustlsFtpStream>,
    t: &FtpTarget,
    src: &Source,
    cancel: &CancellationToken,
) -> Result<u64, Failure> {
    let timeout = Duration::from_secs(t.timeout_secs);
    let ftp = match session {
        Some(ftp) => ftp,
        None => session.insert(connect(t).await?),
    };
    let mut file = tokio::fs::File::open(&src.path)
        .await
        .map_err(|e| Failure::Permanent(format!("cannot open {}: {e}", src.path.display())))?;
    let part = format!(".{}.part", src.name);
    let mut stream = step(timeout, "STOR", ftp.put_with_stream(part.as_str())).await?;
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(Failure::Permanent("cancelled".into()));
        }
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| Failure::Permanent(format!("cannot read {}: {e}", src.path.display())))?;
        if n == 0 {
            break;
        }
        match tokio::time::timeout(timeout, stream.write_all(&buf[..n])).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Failure::Transient(format!("transfer: {e}"))),
            Err(_) => {
                return Err(Failure::Transient(format!(
                    "transfer stalled for {} s",
                    t.timeout_secs
                )))
            }
        }
        sent += n as u64;
    }
    step(timeout, "end of transfer", stream.finish()).await?;
    step(
        timeout,
        "rename",
        ftp.rename(part.as_str(), src.name.as_str()),
    )
    .await?;
    let size_reply = tokio::time::timeout(timeout, ftp.size(src.name.as_str())).await;
    let remote = match size_reply {
        // Servers without SIZE (RFC 3659): the 226 after the transfer has to do.
        Ok(Err(FtpError::UnexpectedResponse(r))) if matches!(r.status.code(), 500 | 502 | 504) => {
            warn!(host = %t.host, file = %src.name, reply = %reply_text(&r),
                "FTP server does not support SIZE; upload not size-checked");
            None
        }
        other => Some(step_result(timeout, "SIZE", other)?),
    };
    if let Some(remote) = remote.filter(|&r| r as u64 != src.size) {
        return Err(Failure::Transient(format!(
            "size check: the server has {remote} bytes, the local file {} bytes",
            src.size
        )));
    }
    Ok(sent)
}

fn backoff(attempt: u32) -> Duration {
    let secs = 1u64 << attempt.saturating_sub(1).min(5);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

async fn deliver_ftp(
    sources: &[Source],
    t: &FtpTarget,
    dry_run: bool,
    cancel: &CancellationToken,
) -> Result<Vec<Delivered>, OutputError> {
    let base = t.display_url();
    let mut out = Vec::with_capacity(sources.len());
    if dry_run {
        for src in sources {
            out.push(Delivered {
                file: src.path.clone(),
                destination: format!("{base}{}", src.name),
                bytes: src.size,
                attempts: 0,
            });
        }
        return Ok(out);
    }
    let mut session: Option<AsyncRustlsFtpStream> = None;
    for src in sources {
        let destination = format!("{base}{}", src.name);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(OutputError::Cancelled(src.path.clone())),
                r = upload_once(&mut session, t, src, cancel) => r,
            };
            let message = match result {
                Ok(bytes) => {
                    info!(file = %src.path.display(), to = %destination, bytes, attempts,
                        "uploaded file");
                    out.push(Delivered {
                        file: src.path.clone(),
                        destination: destination.clone(),
                        bytes,
                        attempts,
                    });
                    break;
                }
                Err(_) if cancel.is_cancelled() => {
                    return Err(OutputError::Cancelled(src.path.clone()))
                }
                Err(Failure::Login(reply)) => {
                    return Err(OutputError::FtpLogin {
                        destination: base.clone(),
                        reply,
                        attempts,
                    })
                }
                Err(Failure::Permanent(message)) => {
                    return Err(OutputError::Ftp {
                        file: src.path.clone(),
                        destination,
                        attempts,
                        message,
                    })
                }
                Err(Failure::Transient(message)) => message,
            };
            // The connection may be in any state: start afresh.
            session = None;
            if attempts > t.retries {
                return Err(OutputError::Ftp {
                    file: src.path.clone(),
                    destination,
                    attempts,
                    message,
                });
            }
            let delay = backoff(attempts);
            warn!(file = %src.path.display(), to = %destination, attempts, error = %message,
                retry_in_secs = delay.as_secs(), "FTP upload failed; retrying");
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(OutputError::Cancelled(src.path.clone())),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
    if let Some(mut ftp) = session {
        let _ = tokio::time::timeout(Duration::from_secs(t.timeout_secs), ftp.quit()).await;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(20), MAX_BACKOFF);
    }

    #[test]
    fn password_is_hidden() {
        let t: OutputTarget =
            serde_json::from_str(r#"{"kind":"ftp","host":"h","user":"u","password":"s3cret"}"#)
                .unwrap();
        assert!(!format!("{t:?}").contains("s3cret"));
        let OutputTarget::Ftp(f) = &t else {
            panic!("not ftp")
        };
        assert_eq!(f.port, 21);
        assert_eq!(f.dir, "/");
        assert!(f.passive);
        assert_eq!(f.password.to_string(), "***");
        assert!(!f.display_url().contains("s3cret"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<OutputTarget, _> =
            serde_json::from_str(r#"{"kind":"dir","path":"/x","overwrit":true}"#);
        assert!(r.is_err());
        let r: Result<OutputTarget, _> = serde_json::from_str(r#"{"kind":"smb","path":"/x"}"#);
        assert!(r.is_err());
        let d: OutputTarget =
            serde_json::from_str(r#"{"kind":"dir","path":"/x","mode":"move"}"#).unwrap();
        assert_eq!(
            d,
            OutputTarget::Dir(DirTarget {
                path: "/x".into(),
                mode: DirMode::Move,
                overwrite: false
            })
        );
    }
}
