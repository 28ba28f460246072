//! Page previews: JPEGs rendered by poppler's `pdftoppm`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::PdfError;

const TOOL: &str = "pdftoppm";

/// How much of the tool's standard error is kept for the error message.
const MAX_STDERR: usize = 16 * 1024;

/// What [`preview`] renders. All fields are optional in config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreviewOptions {
    /// Resolution in dots per inch, 1..=1200 (default 72).
    pub dpi: u32,
    /// First page to render, from 1 (default 1).
    pub first_page: u32,
    /// Last page to render (default: the last page of the document).
    pub last_page: Option<u32>,
    /// Scale each page so its longer side has this many pixels, 1..=20000
    /// (`pdftoppm -scale-to`; overrides `dpi`).
    pub scale_to: Option<u32>,
    /// File name prefix: pages are written as `<prefix>-<n>.jpg` (default `page`).
    pub prefix: String,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        Self {
            dpi: 72,
            first_page: 1,
            last_page: None,
            scale_to: None,
            prefix: "page".into(),
        }
    }
}

impl PreviewOptions {
    /// Checks that every value is in range.
    pub fn validate(&self) -> Result<(), PdfError> {
        let bad = |m: String| Err(PdfError::InvalidOptions(m));
        if !(1..=1200).contains(&self.dpi) {
            return bad(format!("dpi must be 1..=1200, not {}", self.dpi));
        }
        if self.first_page == 0 {
            return bad("first_page counts from 1".into());
        }
        if let Some(last) = self.last_page {
            if last < self.first_page {
                return bad(format!(
                    "last_page {last} is before first_page {}",
                    self.first_page
                ));
            }
        }
        if let Some(px) = self.scale_to {
            if !(1..=20000).contains(&px) {
                return bad(format!("scale_to must be 1..=20000 pixels, not {px}"));
            }
        }
        let p = &self.prefix;
        if p.is_empty() || p.len() > 100 || p == "." || p == ".." || p.contains(['/', '\\', '\0']) {
            return bad(format!(
                "prefix {p:?} must be 1 to 100 characters with no path separators"
            ));
        }
        Ok(())
    }
}

/// Renders pages of `pdf` to JPEG files `<out_dir>/<prefix>-<n>.jpg` with
/// `pdftoppm` and returns their paths in page order.
///
/// `pdftoppm` writes into a temporary directory inside `out_dir`; the
/// pages are moved into `out_dir` only when it succeeds (replacing files of
/// the same name). When `cancel` fires, `pdftoppm` is killed, nothing is
/// left behind and [`PdfError::Cancelled`] is returned.
pub async fn preview(
    pdf: &Path,
    out_dir: &Path,
    opts: &PreviewOptions,
    cancel: &CancellationToken,
) -> Result<Vec<PathBuf>, PdfError> {
    opts.validate()?;
    let file = pdf.display().to_string();
    if cancel.is_cancelled() {
        return Err(PdfError::Cancelled { file });
    }
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| PdfError::Io { file: path, source }
    };
    let tmp = tempfile::Builder::new()
        .prefix(".pdftoppm-")
        .tempdir_in(out_dir)
        .map_err(io(out_dir))?;

    // A relative path starting with '-' would be read as an option.
    let pdf_arg = if pdf.is_relative() && pdf.as_os_str().as_encoded_bytes().starts_with(b"-") {
        Path::new(".").join(pdf)
    } else {
        pdf.to_path_buf()
    };
    let mut cmd = Command::new(TOOL);
    cmd.arg("-jpeg")
        .arg("-r")
        .arg(opts.dpi.to_string())
        .arg("-f")
        .arg(opts.first_page.to_string());
    if let Some(last) = opts.last_page {
        cmd.arg("-l").arg(last.to_string());
    }
    if let Some(px) = opts.scale_to {
        cmd.arg("-scale-to").arg(px.to_string());
    }
    cmd.arg(&pdf_arg)
        .arg(tmp.path().join(&opts.prefix))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|source| PdfError::ToolMissing { tool: TOOL, source })?;
    let stderr = child.stderr.take();
    let read_stderr = async move {
        let mut kept = Vec::new();
        if let Some(mut s) = stderr {
            let mut chunk = [0u8; 4096];
            // Drain it all so the tool never blocks on a full pipe; keep the start.
            while let Ok(n @ 1..) = s.read(&mut chunk).await {
                let room = MAX_STDERR.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
        kept
    };

    let finished = tokio::select! {
        done = async { tokio::join!(child.wait(), read_stderr) } => Some(done),
        _ = cancel.cancelled() => None,
    };
    let Some((status, stderr)) = finished else {
        // Best effort: kill_on_drop kills it anyway if this fails.
        let _ = child.kill().await;
        return Err(PdfError::Cancelled { file });
    };
    let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
    let status = status.map_err(|source| PdfError::Io {
        file: file.clone(),
        source,
    })?;
    if !status.success() {
        return Err(PdfError::ToolFailed {
            file,
            tool: TOOL,
            status: status.to_string(),
            stderr,
        });
    }

    let mut pages = Vec::new();
    let mut entries = tokio::fs::read_dir(tmp.path())
        .await
        .map_err(io(tmp.path()))?;
    while let Some(entry) = entries.next_entry().await.map_err(io(tmp.path()))? {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = page_number(name, &opts.prefix) {
            pages.push((n, name.to_string()));
        }
    }
    if pages.is_empty() {
        return Err(PdfError::ToolFailed {
            file,
            tool: TOOL,
            status: "it wrote no pages (page range beyond the document?)".into(),
            stderr,
        });
    }
    pages.sort();
    let mut out = Vec::with_capacity(pages.len());
    for (_, name) in pages {
        let to = out_dir.join(&name);
        tokio::fs::rename(tmp.path().join(&name), &to)
            .await
            .map_err(io(&to))?;
        out.push(to);
    }
    Ok(out)
}

/// `n` for a file named `<prefix>-<n>.jpg` (pdftoppm pads `n` with zeros).
fn page_number(name: &str, prefix: &str) -> Option<u32> {
    let digits = name
        .strip_prefix(prefix)?
        .strip_prefix('-')?
        .strip_suffix(".jpg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
