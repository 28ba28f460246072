//! Channel icons: downloaded once, resized and served over HTTP.
//!
//! XMLTV channels (and Efir channels) name their icon by URL
//! (`<icon src="http://…/1.png"/>`). [`IconStore::fetch`] downloads such an
//! icon (or reads it from a local path), decodes it with strict limits and
//! stores, under `<data_dir>/icons/<key>/`:
//!
//! * `original.png`: the decoded picture re-encoded as PNG;
//! * `<W>x<H>.png` for every entry of [`ICON_SIZES`]: the picture scaled to
//!   fit inside `W`x`H`, keeping its aspect ratio, centred on a transparent
//!   canvas of exactly `W`x`H` pixels.
//!
//! [`routes`] serves these files under [`ICONS_URL_PREFIX`], and
//! [`url_path`] gives the URL path of the stored size closest to what a
//! set-top box asks for.
//!
//! Keys are chosen by callers, e.g. `epg/<epg_channel_id>` or
//! `channel/<channel_id>`; see [`validate_key`] for their syntax.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits, RgbaImage};
use sha2::{Digest, Sha256};

/// The sizes every icon is stored in.
pub const ICON_SIZES: [(u32, u32); 3] = [(500, 500), (120, 91), (40, 40)];

/// URL path prefix under which icons are served.
pub const ICONS_URL_PREFIX: &str = "/icons";

/// The largest icon accepted, in bytes of the downloaded (or read) file.
pub const MAX_ICON_BYTES: u64 = 10 * 1024 * 1024;

/// The largest icon accepted, in pixels, in either dimension.
pub const MAX_ICON_DIMENSION: u32 = 8192;

/// How long a download may take, from connecting to the last byte.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest icon key accepted, in characters.
pub const MAX_KEY_LEN: usize = 128;

/// `Cache-Control` sent with every served icon.
const CACHE_CONTROL: &str = "public, max-age=86400";

/// Name of the re-encoded original picture inside a key's directory.
const ORIGINAL_FILE: &str = "original.png";

/// Prefix of the temporary files written before being renamed into place.
const TEMP_PREFIX: &str = ".tmp-";

/// Why an icon could not be stored, removed or inspected.
#[derive(Debug, thiserror::Error)]
pub enum IconError {
    /// The icon key does not follow the rules of [`validate_key`].
    #[error("invalid icon key {key:?}: {reason}")]
    BadKey {
        /// The rejected key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The icon source is neither an http(s) URL, a `file://` URL nor an
    /// absolute local path.
    #[error(
        "unsupported icon source {0:?}: expected an http:// or https:// URL, \
         a file:// URL or an absolute local path"
    )]
    UnsupportedSource(String),
    /// The server answered with a status other than success.
    #[error("downloading icon {url}: the server answered HTTP {status}")]
    HttpStatus {
        /// The URL asked for.
        url: String,
        /// The status received.
        status: reqwest::StatusCode,
    },
    /// The download failed (connection, TLS, timeout, interrupted body…).
    #[error("downloading icon {url}: {detail}")]
    Download {
        /// The URL asked for.
        url: String,
        /// What went wrong, with the underlying causes.
        detail: String,
    },
    /// The icon file is larger than [`MAX_ICON_BYTES`].
    #[error("icon {src} is too large: more than {limit} bytes")]
    TooLarge {
        /// The source of the icon.
        src: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The data is not in any image format this build recognises.
    #[error(
        "icon {src} is not an image (or not in a supported format: PNG, JPEG, GIF, WebP, BMP)"
    )]
    NotAnImage {
        /// The source of the icon.
        src: String,
    },
    /// The data looks like an image in a format or variant that cannot be
    /// decoded.
    #[error("icon {src} is in an unsupported image format: {detail}")]
    UnsupportedFormat {
        /// The source of the icon.
        src: String,
        /// The decoder's explanation.
        detail: String,
    },
    /// The image data is corrupt or truncated.
    #[error("icon {src} could not be decoded: {detail}")]
    Corrupt {
        /// The source of the icon.
        src: String,
        /// The decoder's explanation.
        detail: String,
    },
    /// The picture is wider or taller than [`MAX_ICON_DIMENSION`] pixels,
    /// or would need too much memory to decode.
    #[error("icon {src} is too big: more than {max}x{max} pixels or too much memory to decode")]
    TooManyPixels {
        /// The source of the icon.
        src: String,
        /// The limit, in pixels, in either dimension.
        max: u32,
    },
    /// Reading or writing a file failed.
    #[error("icon file {}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// Encoding a resized copy failed, or the worker thread died.
    #[error("processing icon {src}: {detail}")]
    Internal {
        /// The source of the icon.
        src: String,
        /// What went wrong.
        detail: String,
    },
}

impl IconError {
    fn io(path: &Path, source: std::io::Error) -> IconError {
        IconError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What [`IconStore::fetch`] stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredIcon {
    /// The icon key.
    pub key: String,
    /// Width of the original picture, in pixels.
    pub width: u32,
    /// Height of the original picture, in pixels.
    pub height: u32,
    /// SHA-256 of the downloaded bytes, in lowercase hex.
    pub sha256: String,
}

/// Icons on disk under `<data_dir>/icons`.
#[derive(Clone, Debug)]
pub struct IconStore {
    root: PathBuf,
}

impl IconStore {
    /// A store rooted at `<data_dir>/icons`. Nothing is created until an
    /// icon is fetched.
    pub fn new(data_dir: &Path) -> IconStore {
        IconStore {
            root: data_dir.join("icons"),
        }
    }

    /// The directory holding the icons.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding the icons of `key` (which must be valid).
    fn key_dir(&self, key: &str) -> PathBuf {
        let mut dir = self.root.clone();
        for segment in key.split('/') {
            dir.push(segment);
        }
        dir
    }

    /// Downloads (http/https URL) or reads (absolute local path or
    /// `file://` URL) the image `src`, decodes it (at most
    /// [`MAX_ICON_BYTES`] bytes and [`MAX_ICON_DIMENSION`] pixels either
    /// way, format guessed from the content), and writes
    /// `<root>/<key>/original.png` and `<root>/<key>/<W>x<H>.png` for every
    /// [`ICON_SIZES`] entry: the picture scaled to fit inside `W`x`H`
    /// keeping its aspect ratio, centred on a transparent canvas of exactly
    /// `W`x`H`.
    ///
    /// Files are written to temporary names and renamed, so a failure
    /// leaves the previous icon set intact. Returns what was stored.
    pub async fn fetch(
        &self,
        http: &reqwest::Client,
        src: &str,
        key: &str,
    ) -> Result<StoredIcon, IconError> {
        validate_key(key)?;
        let bytes = load_source(http, src).await?;
        let dir = self.key_dir(key);
        let src_owned = src.to_owned();
        let (width, height, sha256) = tokio::task::spawn_blocking(move || {
            let sha256 = hex::encode(Sha256::digest(&bytes));
            process_and_store(&src_owned, &bytes, &dir).map(|(w, h)| (w, h, sha256))
        })
        .await
        .map_err(|e| IconError::Internal {
            src: src.to_owned(),
            detail: format!("worker task failed: {e}"),
        })??;
        tracing::debug!(key, src, width, height, "icon stored");
        Ok(StoredIcon {
            key: key.to_owned(),
            width,
            height,
            sha256,
        })
    }

    /// Which of [`ICON_SIZES`] exist on disk for `key` (for
    /// `recache-icons`), in the order of [`ICON_SIZES`].
    pub fn sizes_present(&self, key: &str) -> Result<Vec<(u32, u32)>, IconError> {
        validate_key(key)?;
        let dir = self.key_dir(key);
        let mut present = Vec::new();
        for (w, h) in ICON_SIZES {
            let path = dir.join(size_file(w, h));
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => present.push((w, h)),
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(IconError::io(&path, e)),
            }
        }
        Ok(present)
    }

    /// Removes the icons of `key` (when an EPG channel is deleted).
    ///
    /// Only the files this store writes are removed (so icons of longer
    /// keys nested below, like `a/b` under `a`, survive), then the key's
    /// directory and its parents up to the root if they are left empty.
    /// Removing a key that has no icons is not an error.
    pub fn remove(&self, key: &str) -> Result<(), IconError> {
        validate_key(key)?;
        let dir = self.key_dir(key);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(IconError::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| IconError::io(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !(is_icon_file_name(name) || name.starts_with(TEMP_PREFIX)) {
                continue;
            }
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(IconError::io(&path, e)),
            }
        }
        // Prune now-empty directories; a non-empty one stops the walk.
        let mut current = Some(dir.as_path());
        while let Some(d) = current {
            if d == self.root || !d.starts_with(&self.root) {
                break;
            }
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            current = d.parent();
        }
        Ok(())
    }
}

/// URL path of `key` at the stored size closest to `(w, h)`: the smallest
/// of [`ICON_SIZES`] at least as large in both dimensions, else the
/// largest. E.g. `url_path("epg/12", 100, 80)` is
/// `"/icons/epg/12/120x91.png"`.
pub fn url_path(key: &str, w: u32, h: u32) -> String {
    let (sw, sh) = closest_size(w, h);
    format!("{ICONS_URL_PREFIX}/{key}/{}", size_file(sw, sh))
}

/// The entry of [`ICON_SIZES`] that [`url_path`] picks for `(w, h)`.
pub fn closest_size(w: u32, h: u32) -> (u32, u32) {
    let area = |&(sw, sh): &(u32, u32)| u64::from(sw) * u64::from(sh);
    ICON_SIZES
        .iter()
        .filter(|&&(sw, sh)| sw >= w && sh >= h)
        .min_by_key(|s| area(s))
        .or_else(|| ICON_SIZES.iter().max_by_key(|s| area(s)))
        .copied()
        .unwrap_or(ICON_SIZES[0])
}

/// Validates an icon key: 1–128 characters of `[a-z0-9_-]` segments
/// separated by single `/`, no leading or trailing `/`, no `.` anywhere (so
/// no path traversal).
pub fn validate_key(key: &str) -> Result<(), IconError> {
    let bad = |reason| {
        Err(IconError::BadKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("it is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("it is longer than 128 characters");
    }
    if key.starts_with('/') || key.ends_with('/') {
        return bad("it starts or ends with '/'");
    }
    if key.contains("//") {
        return bad("it contains an empty segment ('//')");
    }
    if !key
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'/'))
    {
        return bad("only lowercase letters a-z, digits, '_', '-' and '/' are allowed");
    }
    Ok(())
}

/// Router serving `GET|HEAD /icons/{*path}` from the store's root, with
/// `Cache-Control: public, max-age=86400` and `Content-Type: image/png`.
///
/// Only `<key>/original.png` and `<key>/<W>x<H>.png` with a valid key are
/// served; anything else, anything missing, and anything that resolves
/// outside the root (`..`, percent-encoded dots or slashes, backslashes,
/// absolute paths, symlinks pointing out) is a 404.
pub fn routes(store: IconStore) -> Router {
    Router::new()
        .route(&format!("{ICONS_URL_PREFIX}/{{*path}}"), get(serve_icon))
        .with_state(store)
}

async fn serve_icon(
    State(store): State<IconStore>,
    path: Result<UrlPath<String>, PathRejection>,
    req: Request<Body>,
) -> Response {
    // Undecodable paths are just as missing as any other bad path.
    let Ok(UrlPath(path)) = path else {
        return not_found();
    };
    let Some(file) = resolve_served_path(store.root(), &path).await else {
        return not_found();
    };
    let (parts, _body) = req.into_parts();
    let req = Request::from_parts(parts, Body::empty());
    match tower_http::services::ServeFile::new(&file)
        .try_call(req)
        .await
    {
        Ok(resp) => {
            if resp.status() == StatusCode::NOT_FOUND {
                return not_found();
            }
            let mut resp = resp.map(Body::new);
            let status = resp.status();
            if status.is_success() || status == StatusCode::NOT_MODIFIED {
                let headers = resp.headers_mut();
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(CACHE_CONTROL),
                );
                if status.is_success() {
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
                }
            }
            resp
        }
        Err(e) => {
            tracing::warn!(path = %file.display(), error = %e, "serving icon failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "icon not found").into_response()
}

/// The file to serve for the (percent-decoded) wildcard `path`, if it is a
/// well-formed icon path and, symlinks resolved, a regular file inside
/// `root`.
async fn resolve_served_path(root: &Path, path: &str) -> Option<PathBuf> {
    let (key, name) = path.rsplit_once('/')?;
    validate_key(key).ok()?;
    if !is_icon_file_name(name) {
        return None;
    }
    let mut candidate = root.to_path_buf();
    candidate.extend(key.split('/'));
    candidate.push(name);
    let real_root = tokio::fs::canonicalize(root).await.ok()?;
    let real_file = tokio::fs::canonicalize(&candidate).await.ok()?;
    if !real_file.starts_with(&real_root) {
        return None;
    }
    let meta = tokio::fs::metadata(&real_file).await.ok()?;
    meta.is_file().then_some(real_file)
}

/// `original.png` or `<W>x<H>.png` for one of [`ICON_SIZES`].
fn is_icon_file_name(name: &str) -> bool {
    name == ORIGINAL_FILE || ICON_SIZES.iter().any(|&(w, h)| name == size_file(w, h))
}

fn size_file(w: u32, h: u32) -> String {
    format!("{w}x{h}.png")
}

fn is_not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

/// Downloads or reads `src`, at most [`MAX_ICON_BYTES`] bytes.
async fn load_source(http: &reqwest::Client, src: &str) -> Result<Vec<u8>, IconError> {
    let trimmed = src.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return download(http, trimmed).await;
    }
    if lower.starts_with("file:") {
        let url = reqwest::Url::parse(trimmed)
            .map_err(|_| IconError::UnsupportedSource(src.to_owned()))?;
        let path = url
            .to_file_path()
            .map_err(|_| IconError::UnsupportedSource(src.to_owned()))?;
        return read_local(src, path).await;
    }
    let path = Path::new(trimmed);
    if path.is_absolute() {
        return read_local(src, path.to_path_buf()).await;
    }
    Err(IconError::UnsupportedSource(src.to_owned()))
}

async fn download(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, IconError> {
    let dl_err = |e: reqwest::Error| IconError::Download {
        url: url.to_owned(),
        detail: describe_reqwest_error(e),
    };
    let mut resp = http
        .get(url)
        .timeout(DOWNLOAD_TIMEOUT)
        .send()
        .await
        .map_err(dl_err)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(IconError::HttpStatus {
            url: url.to_owned(),
            status,
        });
    }
    let too_large = || IconError::TooLarge {
        src: url.to_owned(),
        limit: MAX_ICON_BYTES,
    };
    // Content-Length gives an early answer; the count below is what counts.
    if resp.content_length().is_some_and(|n| n > MAX_ICON_BYTES) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(
        resp.content_length()
            .map_or(64 * 1024, |n| n as usize)
            .min(MAX_ICON_BYTES as usize),
    );
    while let Some(chunk) = resp.chunk().await.map_err(dl_err)? {
        if bytes.len() as u64 + chunk.len() as u64 > MAX_ICON_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A reqwest error with its causes (its own message hides them).
fn describe_reqwest_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out after {} s", DOWNLOAD_TIMEOUT.as_secs());
    }
    let e = e.without_url();
    let mut parts = vec![e.to_string()];
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

async fn read_local(src: &str, path: PathBuf) -> Result<Vec<u8>, IconError> {
    let src_owned = src.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(|e| IconError::io(&path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_ICON_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| IconError::io(&path, e))?;
        if bytes.len() as u64 > MAX_ICON_BYTES {
            return Err(IconError::TooLarge {
                src: src_owned,
                limit: MAX_ICON_BYTES,
            });
        }
        Ok(bytes)
    })
    .await
    .map_err(|e| IconError::Internal {
        src: src.to_owned(),
        detail: format!("worker task failed: {e}"),
    })?
}

/// Decodes `bytes`, renders every size and writes them into `dir`
/// atomically per file. Returns the original's dimensions. Blocking.
fn process_and_store(src: &str, bytes: &[u8], dir: &Path) -> Result<(u32, u32), IconError> {
    let image = decode(src, bytes)?;
    let (width, height) = (image.width(), image.height());

    // Render and encode everything before touching the disk.
    let mut files: Vec<(String, Vec<u8>)> = Vec::with_capacity(ICON_SIZES.len() + 1);
    let original = match image {
        DynamicImage::ImageRgb32F(_) | DynamicImage::ImageRgba32F(_) => {
            DynamicImage::ImageRgba8(image.to_rgba8())
        }
        other => other,
    };
    files.push((ORIGINAL_FILE.to_owned(), encode_png(src, &original)?));
    let rgba = original.to_rgba8();
    drop(original);
    for (w, h) in ICON_SIZES {
        let canvas = DynamicImage::ImageRgba8(fit_centred(&rgba, w, h));
        files.push((size_file(w, h), encode_png(src, &canvas)?));
    }

    std::fs::create_dir_all(dir).map_err(|e| IconError::io(dir, e))?;
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(files.len());
    let result = (|| {
        for (name, data) in &files {
            let tmp = dir.join(temp_name(name));
            // Record before writing so a failed write is cleaned up too.
            temps.push((tmp.clone(), dir.join(name)));
            std::fs::write(&tmp, data).map_err(|e| IconError::io(&tmp, e))?;
        }
        for (tmp, dest) in &temps {
            std::fs::rename(tmp, dest).map_err(|e| IconError::io(dest, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        for (tmp, _) in &temps {
            let _ = std::fs::remove_file(tmp);
        }
    }
    result.map(|()| (width, height))
}

fn decode(src: &str, bytes: &[u8]) -> Result<DynamicImage, IconError> {
    let not_an_image = || IconError::NotAnImage {
        src: src.to_owned(),
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| not_an_image())?;
    if reader.format().is_none() {
        return Err(not_an_image());
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_ICON_DIMENSION);
    limits.max_image_height = Some(MAX_ICON_DIMENSION);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => IconError::TooManyPixels {
            src: src.to_owned(),
            max: MAX_ICON_DIMENSION,
        },
        image::ImageError::Unsupported(u) => IconError::UnsupportedFormat {
            src: src.to_owned(),
            detail: u.to_string(),
        },
        image::ImageError::Decoding(d) => IconError::Corrupt {
            src: src.to_owned(),
            detail: d.to_string(),
        },
        other => IconError::Corrupt {
            src: src.to_owned(),
            detail: other.to_string(),
        },
    })?;
    if image.width() > MAX_ICON_DIMENSION || image.height() > MAX_ICON_DIMENSION {
        return Err(IconError::TooManyPixels {
            src: src.to_owned(),
            max: MAX_ICON_DIMENSION,
        });
    }
    if image.width() == 0 || image.height() == 0 {
        return Err(IconError::Corrupt {
            src: src.to_owned(),
            detail: "the image has no pixels".to_owned(),
        });
    }
    Ok(image)
}

/// `image` scaled to fit inside `w`x`h` keeping its aspect ratio, centred
/// on a transparent canvas of exactly `w`x`h`.
fn fit_centred(image: &RgbaImage, w: u32, h: u32) -> RgbaImage {
    let (iw, ih) = image.dimensions();
    let scale = f64::min(f64::from(w) / f64::from(iw), f64::from(h) / f64::from(ih));
    let nw = ((f64::from(iw) * scale).round() as u32).clamp(1, w);
    let nh = ((f64::from(ih) * scale).round() as u32).clamp(1, h);
    let mut canvas = RgbaImage::new(w, h);
    let x = i64::from((w - nw) / 2);
    let y = i64::from((h - nh) / 2);
    if (nw, nh) == (iw, ih) {
        image::imageops::replace(&mut canvas, image, x, y);
    } else {
        let scaled = image::imageops::resize(image, nw, nh, FilterType::Lanczos3);
        image::imageops::replace(&mut canvas, &scaled, x, y);
    }
    canvas
}

fn encode_png(src: &str, image: &DynamicImage) -> Result<Vec<u8>, IconError> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|e| IconError::Internal {
            src: src.to_owned(),
            detail: format!("encoding PNG: {e}"),
        })?;
    Ok(out.into_inner())
}

fn temp_name(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEMP_PREFIX}{}-{n}-{name}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_sizes() {
        assert_eq!(closest_size(100, 80), (120, 91));
        assert_eq!(closest_size(120, 91), (120, 91));
        assert_eq!(closest_size(121, 91), (500, 500));
        assert_eq!(closest_size(1000, 1000), (500, 500));
        assert_eq!(closest_size(30, 30), (40, 40));
        assert_eq!(closest_size(0, 0), (40, 40));
        assert_eq!(closest_size(40, 41), (120, 91));
    }

    #[test]
    fn keys() {
        assert!(validate_key("epg/12").is_ok());
        assert!(validate_key("channel/a_b-c").is_ok());
        assert!(validate_key(&"a".repeat(128)).is_ok());
        assert!(validate_key(&"a".repeat(129)).is_err());
        for bad in [
            "", "/a", "a/", "a//b", "A", "../x", "a/../b", "a.b", "a\\b", "é",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn fit_keeps_aspect_and_centres() {
        let img = RgbaImage::from_pixel(300, 200, image::Rgba([255, 0, 0, 255]));
        let out = fit_centred(&img, 120, 91);
        assert_eq!(out.dimensions(), (120, 91));
        // 300x200 scaled to 120x80, padded 5 rows top and bottom (91-80=11: 5 above).
        assert_eq!(out.get_pixel(60, 2)[3], 0);
        assert_eq!(out.get_pixel(60, 45)[3], 255);
        assert_eq!(out.get_pixel(0, 45)[3], 255);
    }

    #[test]
    fn served_file_names() {
        assert!(is_icon_file_name("original.png"));
        assert!(is_icon_file_name("40x40.png"));
        assert!(!is_icon_file_name("41x40.png"));
        assert!(!is_icon_file_name(".tmp-1-2-40x40.png"));
    }
}
