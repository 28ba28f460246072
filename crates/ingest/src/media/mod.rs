//! Media steps over ffmpeg and ffprobe, run as supervised subprocesses.
//!
//! - [`process`]: [`run_tool`], the subprocess supervisor (process group,
//!   cancel/timeout kill, stderr tail, ffmpeg progress).
//! - [`Tools`]: where ffmpeg and ffprobe are and which versions they are.
//! - [`probe`](probe()): ffprobe's view of a file ([`Probe`]).
//! - [`transcode`](transcode()): the `archive` and `hls` profiles.
//! - [`preview`](preview()) and [`thumbnails`]: a low-bitrate MP4 and posters.
//! - [`loudness`](loudness()): an EBU R128 measurement with a pass/fail verdict.
//!
//! Every step writes into a sibling staging directory
//! `<out_dir>.partial-<random>` and moves its results into `out_dir` only on
//! success, so a failed, cancelled or dropped step leaves nothing behind.
//! Input paths are made absolute before they reach ffmpeg, so a file named
//! `-x.mp4` or `http:x.mp4` is never read as an option or a protocol.
//!
//! Step parameters come from a pipeline step's TOML table. Each table below
//! is what one step receives ([`TranscodeProfile`], [`PreviewParams`],
//! [`ThumbParams`], [`LoudnessParams`]); unknown keys are rejected, so the
//! pipeline strips its own keys (step kind, name, ...) first. Bit rates are
//! strings like `"3000k"` or `"3M"` (see [`Bitrate`]).
//!
//! ```toml
//! [archive]                # transcode, profile "archive"
//! profile = "archive"
//! codec = "x265"           # x264 (default) | x265
//! crf = 24                 # 0..=51, default 20
//! preset = "slow"          # x264/x265 preset, default medium
//! audio_bitrate = "192k"   # default 192k
//! container = "mkv"        # mp4 (default, +faststart) | mkv
//!
//! [hls]                    # transcode, profile "hls": one ffmpeg run
//! profile = "hls"
//! segment_seconds = 6      # 1..=60, default 6
//! preset = "veryfast"      # default veryfast
//! renditions = [
//!   { name = "720p", height = 720, video_bitrate = "3M", audio_bitrate = "128k", maxrate = "3300k" },
//!   { name = "360p", height = 360, video_bitrate = "800k", audio_bitrate = "96k" },
//! ]
//!
//! [preview]                # all keys optional
//! height = 360             # max height, default 360
//! video_bitrate = "400k"
//! audio_bitrate = "64k"
//! max_seconds = 60.0       # default: whole file
//!
//! [thumbnails]             # all keys optional
//! count = 3
//! width = 320
//!
//! [loudness]               # all keys optional
//! target_lufs = -23.0
//! tolerance_lu = 1.0
//! max_true_peak_dbtp = -1.0
//! ```

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

mod loudness;
mod preview;
mod probe;
pub mod process;
mod transcode;

pub use loudness::{loudness, Loudness, LoudnessParams};
pub use preview::{preview, thumbnails, PreviewParams, ThumbParams};
pub use probe::{probe, Probe, StreamInfo};
pub use process::{run_tool, Progress, ProgressFn, RunOptions, StdoutMode, ToolError, ToolOutput};
pub use transcode::{
    transcode, transcode_args, ArchiveParams, Bitrate, Container, HlsCodec, HlsParams, Rendition,
    TranscodeProfile, VideoCodec, X264_PRESETS,
};

/// Why a media step failed. Messages name the file and the reason.
#[derive(Debug, Error)]
pub enum MediaError {
    /// A tool was not found on `PATH` (or at its configured path).
    #[error("{tool} not found: {reason}")]
    ToolNotFound {
        /// `ffmpeg` or `ffprobe`.
        tool: String,
        /// Where it was looked for.
        reason: String,
    },
    /// The input file cannot be opened or read.
    #[error("cannot read input {}: {source}", path.display())]
    Input {
        /// The input path as given.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The input file is empty.
    #[error("input {} is empty (0 bytes)", path.display())]
    EmptyInput {
        /// The input path.
        path: PathBuf,
    },
    /// ffprobe could not read the input.
    #[error("{} is not readable media: {reason}", path.display())]
    Unreadable {
        /// The input path.
        path: PathBuf,
        /// ffprobe's explanation.
        reason: String,
    },
    /// The input lacks a stream the step needs (or has none at all).
    #[error("{} has no {kind} stream", path.display())]
    MissingStream {
        /// The input path.
        path: PathBuf,
        /// `audio`, `video` or `audio or video`.
        kind: &'static str,
    },
    /// The input reports no usable duration.
    #[error("{} has a zero or unknown duration", path.display())]
    ZeroDuration {
        /// The input path.
        path: PathBuf,
    },
    /// Step parameters are invalid.
    #[error("invalid media parameters: {0}")]
    Params(String),
    /// A tool failed, was cancelled or timed out while processing a file.
    #[error("processing {}: {source}", path.display())]
    Tool {
        /// The input path.
        path: PathBuf,
        /// What happened to the tool.
        source: ToolError,
    },
    /// The tool's output could not be understood.
    #[error("unexpected {tool} output for {}: {reason}", path.display())]
    BadOutput {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The input path.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Creating, moving or cleaning output files failed.
    #[error("writing output {}: {source}", path.display())]
    Output {
        /// The output path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl MediaError {
    /// True when the step stopped because its token was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, MediaError::Tool { source, .. } if source.is_cancelled())
    }

    /// True when the step stopped because it exceeded its time limit.
    pub fn is_timed_out(&self) -> bool {
        matches!(self, MediaError::Tool { source, .. } if source.is_timed_out())
    }
}

/// Locations and versions of ffmpeg and ffprobe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// Path of the ffmpeg binary.
    pub ffmpeg: PathBuf,
    /// Path of the ffprobe binary.
    pub ffprobe: PathBuf,
    ffmpeg_version: String,
    ffprobe_version: String,
}

impl Tools {
    /// Finds `ffmpeg` and `ffprobe` on `PATH` and reads their versions.
    pub async fn detect() -> Result<Tools, MediaError> {
        let ffmpeg = find_on_path("ffmpeg")?;
        let ffprobe = find_on_path("ffprobe")?;
        Tools::from_paths(ffmpeg, ffprobe).await
    }

    /// Uses the given binaries (e.g. from configuration) after checking
    /// that `-version` runs.
    pub async fn from_paths(ffmpeg: PathBuf, ffprobe: PathBuf) -> Result<Tools, MediaError> {
        let ffmpeg_version = tool_version(&ffmpeg, "ffmpeg").await?;
        let ffprobe_version = tool_version(&ffprobe, "ffprobe").await?;
        Ok(Tools {
            ffmpeg,
            ffprobe,
            ffmpeg_version,
            ffprobe_version,
        })
    }

    /// `(tool, version)` pairs, e.g. `("ffmpeg", "5.1.9-0+deb12u1")`, for
    /// advertising worker capabilities.
    pub fn versions(&self) -> Vec<(String, String)> {
        vec![
            ("ffmpeg".to_owned(), self.ffmpeg_version.clone()),
            ("ffprobe".to_owned(), self.ffprobe_version.clone()),
        ]
    }

    /// A `Command` for ffmpeg.
    fn ffmpeg_cmd(&self) -> Command {
        Command::new(&self.ffmpeg)
    }

    /// A `Command` for ffprobe.
    fn ffprobe_cmd(&self) -> Command {
        Command::new(&self.ffprobe)
    }
}

/// Searches `PATH` for an executable file called `name`.
fn find_on_path(name: &str) -> Result<PathBuf, MediaError> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or_else(|| MediaError::ToolNotFound {
            tool: name.to_owned(),
            reason: "no executable of that name on PATH".to_owned(),
        })
}

/// Runs `<bin> -version` and returns the version word of the first line.
async fn tool_version(bin: &Path, name: &str) -> Result<String, MediaError> {
    let mut cmd = Command::new(bin);
    cmd.arg("-version");
    let opts = RunOptions {
        stdout: StdoutMode::Collect { limit: 1024 * 1024 },
        timeout: Some(std::time::Duration::from_secs(30)),
        ..RunOptions::default()
    };
    let out = run_tool(cmd, opts)
        .await
        .map_err(|err| MediaError::ToolNotFound {
            tool: name.to_owned(),
            reason: format!("{} -version failed: {err}", bin.display()),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) ..."
    let first = text.lines().next().unwrap_or_default();
    let mut words = first.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(_), Some("version"), Some(version)) => Ok(version.to_owned()),
        _ => Err(MediaError::ToolNotFound {
            tool: name.to_owned(),
            reason: format!("{} -version printed no version line", bin.display()),
        }),
    }
}

/// Checks the input exists, is a non-empty file, and returns its absolute
/// path (so it can never be mistaken for an option or a protocol).
fn check_input(input: &Path) -> Result<PathBuf, MediaError> {
    let abs = std::fs::canonicalize(input).map_err(|source| MediaError::Input {
        path: input.to_owned(),
        source,
    })?;
    let meta = std::fs::metadata(&abs).map_err(|source| MediaError::Input {
        path: input.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(MediaError::Input {
            path: input.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    if meta.len() == 0 {
        return Err(MediaError::EmptyInput {
            path: input.to_owned(),
        });
    }
    Ok(abs)
}

/// The input's file stem, for naming outputs.
fn stem_of(input: &Path) -> OsString {
    input
        .file_stem()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("output"))
}

/// A staging directory next to `out_dir`, removed unless committed.
struct Staging {
    dir: tempfile::TempDir,
    out_dir: PathBuf,
}

impl Staging {
    /// Creates `<out_dir>.partial-<random>` (and `out_dir`'s parent).
    fn new(out_dir: &Path) -> Result<Staging, MediaError> {
        let out_err = |source| MediaError::Output {
            path: out_dir.to_owned(),
            source,
        };
        let abs = std::path::absolute(out_dir).map_err(out_err)?;
        let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
            return Err(MediaError::Params(format!(
                "output directory {} must name a directory below a parent",
                out_dir.display()
            )));
        };
        std::fs::create_dir_all(parent).map_err(out_err)?;
        let mut prefix = name.to_owned();
        prefix.push(".partial-");
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(parent)
            .map_err(out_err)?;
        Ok(Staging {
            dir,
            out_dir: abs.clone(),
        })
    }

    /// The staging directory.
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Moves the staged results into `out_dir` and returns the final paths
    /// of `produced` (given relative to the staging directory).
    ///
    /// If `out_dir` does not exist the staging directory is renamed onto it;
    /// otherwise each top-level entry replaces its namesake in `out_dir`.
    fn commit(self, produced: &[PathBuf]) -> Result<Vec<PathBuf>, MediaError> {
        let out_dir = self.out_dir.clone();
        let out_err = |path: &Path| {
            let path = path.to_owned();
            move |source| MediaError::Output { path, source }
        };
        if !out_dir.exists() {
            let staged = self.dir.path().to_owned();
            std::fs::rename(&staged, &out_dir).map_err(out_err(&out_dir))?;
            // The directory is now `out_dir`; do not let TempDir remove it.
            let _ = self.dir.keep();
        } else {
            let entries = std::fs::read_dir(self.dir.path()).map_err(out_err(self.dir.path()))?;
            for entry in entries {
                let entry = entry.map_err(out_err(self.dir.path()))?;
                let target = out_dir.join(entry.file_name());
                match std::fs::symlink_metadata(&target) {
                    Ok(meta) if meta.is_dir() => {
                        std::fs::remove_dir_all(&target).map_err(out_err(&target))?
                    }
                    Ok(_) => std::fs::remove_file(&target).map_err(out_err(&target))?,
                    Err(_) => {}
                }
                std::fs::rename(entry.path(), &target).map_err(out_err(&target))?;
            }
            // Dropping `self.dir` removes the now empty staging directory.
        }
        Ok(produced.iter().map(|rel| out_dir.join(rel)).collect())
    }
}

/// Wraps a tool error with the input path.
fn tool_err(path: &Path) -> impl FnOnce(ToolError) -> MediaError + '_ {
    move |source| MediaError::Tool {
        path: path.to_owned(),
        source,
    }
}

/// Common leading ffmpeg arguments: quiet, no stdin, progress on stdout.
fn ffmpeg_preamble(args: &mut Vec<OsString>) {
    for a in [
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-progress",
        "pipe:1",
        "-y",
    ] {
        args.push(a.into());
    }
}

/// A run-options value with the cancel token only.
fn cancel_only(cancel: &CancellationToken) -> RunOptions {
    RunOptions::with_cancel(cancel.clone())
}
