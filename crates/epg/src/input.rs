//! Opening guides: from disk (plain, gzip or xz, sniffed from the magic
//! bytes) and from HTTP(S) (streamed to disk with a size limit).

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// The buffer of the readers [`open_file`] and [`open_reader`] return.
const BUFFER: usize = 256 * 1024;
/// How long the server may take to answer with its headers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the body may stall between two chunks.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a whole download may take.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(60 * 60);

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

/// Opens a guide on disk, sniffing the compression from magic bytes: gzip (1f 8b; multi-member: flate2 MultiGzDecoder), xz (fd 37 7a 58 5a 00; xz2 XzDecoder::new_multi_decoder), else plain. Returned reader is buffered (256 KiB).
pub fn open_file(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    open_reader(std::fs::File::open(path)?)
}

/// Like [`open_file`] for any byte source (a file wrapped in a counter, a
/// socket, …): sniffs gzip or xz from the first bytes, else plain.
pub fn open_reader<R: Read + Send + 'static>(mut inner: R) -> io::Result<Box<dyn BufRead + Send>> {
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        match inner.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = &magic[..n];
    let compression = if head.starts_with(XZ_MAGIC) {
        Compression::Xz
    } else if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else {
        Compression::None
    };
    let raw = BufReader::with_capacity(BUFFER, io::Cursor::new(magic).take(n as u64).chain(inner));
    Ok(match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            BUFFER,
            flate2::bufread::MultiGzDecoder::new(raw),
        )),
        Compression::Xz => Box::new(BufReader::with_capacity(
            BUFFER,
            xz2::bufread::XzDecoder::new_multi_decoder(raw),
        )),
    })
}

enum Compression {
    None,
    Gzip,
    Xz,
}

/// SHA-256 hex of a file on disk (streamed).
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUFFER];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What [`download`] fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// How many bytes were written.
    pub bytes: u64,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The URL does not parse or is not http(s).
    #[error("bad guide URL {url}: {reason}")]
    BadUrl {
        /// The URL, without credentials or query.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server answered with a status other than 2xx.
    #[error("{url}: the server answered {status}")]
    Status {
        /// The URL, without credentials or query.
        url: String,
        /// The HTTP status, e.g. `404 Not Found`.
        status: reqwest::StatusCode,
    },
    /// The guide is larger than allowed.
    #[error("{url}: the guide is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The URL, without credentials or query.
        url: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The server did not answer, or stalled, in time.
    #[error("{url}: timed out {what}")]
    Timeout {
        /// The URL, without credentials or query.
        url: String,
        /// When: "waiting for the answer", "receiving the body".
        what: &'static str,
    },
    /// The connection or the transfer failed.
    #[error("{url}: download failed: {}", chain(.source))]
    Http {
        /// The URL, without credentials or query.
        url: String,
        /// The error of the HTTP client.
        source: reqwest::Error,
    },
    /// The file cannot be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// Removes the temporary file unless the download succeeded.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `url` for messages: no user, password or query (which may hold keys).
fn redact(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// A temporary name next to `dest`, unique in this process and across
/// processes.
fn temp_path(dest: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = format!(
        ".{name}.{}.{}.{nanos}.part",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    dest.with_file_name(tmp)
}

/// Downloads `url` (http/https) to `dest` by streaming (never whole in memory), with a timeout and a size limit, returning the SHA-256 hex of the bytes and their count. Non-2xx → error naming the status. Writes to a temp file next to dest and renames on success (nothing half-written is left at dest).
///
/// The server has a minute to answer and the body may not stall for more
/// than a minute; the whole download may take an hour. The size limit is
/// checked against `Content-Length` before anything is written and
/// against the bytes received as they come.
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    max_bytes: u64,
) -> Result<Downloaded, InputError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| InputError::BadUrl {
        url: url.split(['?', '#']).next().unwrap_or_default().to_string(),
        reason: e.to_string(),
    })?;
    let shown = redact(&parsed);
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(InputError::BadUrl {
            url: shown,
            reason: format!("the scheme {:?} is not http or https", parsed.scheme()),
        });
    }
    let request = client.get(parsed.clone()).timeout(TOTAL_TIMEOUT).send();
    let response = tokio::time::timeout(CONNECT_TIMEOUT, request)
        .await
        .map_err(|_| InputError::Timeout {
            url: shown.clone(),
            what: "waiting for the answer",
        })?
        .map_err(|e| timeout_or(e, &shown, "waiting for the answer"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(InputError::Status { url: shown, status });
    }
    if response.content_length().is_some_and(|n| n > max_bytes) {
        return Err(InputError::TooLarge {
            url: shown,
            limit: max_bytes,
        });
    }

    let tmp = temp_path(dest);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InputError::Io { path, source }
    };
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .await
        .map_err(io_err(&tmp))?;
    let mut guard = TempGuard {
        path: tmp.clone(),
        armed: true,
    };
    let mut out = tokio::io::BufWriter::with_capacity(BUFFER, file);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut body = response.bytes_stream();
    loop {
        let chunk = match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
            Err(_) => {
                return Err(InputError::Timeout {
                    url: shown,
                    what: "receiving the body",
                })
            }
            Ok(None) => break,
            Ok(Some(chunk)) => chunk.map_err(|e| timeout_or(e, &shown, "receiving the body"))?,
        };
        bytes += chunk.len() as u64;
        if bytes > max_bytes {
            return Err(InputError::TooLarge {
                url: shown,
                limit: max_bytes,
            });
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(io_err(&tmp))?;
    }
    out.flush().await.map_err(io_err(&tmp))?;
    let file = out.into_inner();
    file.sync_all().await.map_err(io_err(&tmp))?;
    drop(file);
    tokio::fs::rename(&tmp, dest).await.map_err(io_err(dest))?;
    guard.armed = false;
    Ok(Downloaded {
        sha256: hex::encode(hasher.finalize()),
        bytes,
    })
}

/// An error and its causes, `a: b: c` (reqwest's own message is vague).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn timeout_or(e: reqwest::Error, url: &str, what: &'static str) -> InputError {
    let e = e.without_url();
    if e.is_timeout() {
        InputError::Timeout {
            url: url.to_string(),
            what,
        }
    } else {
        InputError::Http {
            url: url.to_string(),
            source: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sniffs_and_sums() {
        let dir = std::env::temp_dir().join(format!("efir-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = b"<tv></tv>\n".repeat(1000);

        let plain = dir.join("g.xml");
        std::fs::write(&plain, &body).unwrap();
        let gz = dir.join("g.xml.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&body).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let xz = dir.join("g.xml.xz");
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(&body).unwrap();
        std::fs::write(&xz, enc.finish().unwrap()).unwrap();
        let tiny = dir.join("tiny");
        std::fs::write(&tiny, b"<").unwrap();
        let empty = dir.join("empty");
        std::fs::write(&empty, b"").unwrap();

        for p in [&plain, &gz, &xz] {
            let mut got = Vec::new();
            open_file(p).unwrap().read_to_end(&mut got).unwrap();
            assert_eq!(got, body, "{}", p.display());
        }
        let mut got = Vec::new();
        open_file(&tiny).unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, b"<");
        got.clear();
        open_file(&empty).unwrap().read_to_end(&mut got).unwrap();
        assert!(got.is_empty());
        assert!(open_file(&dir.join("missing")).is_err());

        assert_eq!(
            sha256_file(&empty).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn redacts() {
        let u = reqwest::Url::parse("https://user:pw@example.com/g.xml?key=secret#x").unwrap();
        assert_eq!(redact(&u), "https://example.com/g.xml");
    }
}
