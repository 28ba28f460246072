//! ffprobe: format and stream information of an input file.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::process::{summarize, ToolError, DEFAULT_STDOUT_LIMIT};
use super::{check_input, run_tool, MediaError, RunOptions, StdoutMode, Tools};

/// What ffprobe reports about a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Duration in seconds (always > 0).
    pub duration_s: f64,
    /// Container format names, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub format_name: String,
    /// File size in bytes.
    pub size_bytes: Option<u64>,
    /// Overall bit rate in bits per second.
    pub bit_rate: Option<u64>,
    /// The streams, in file order.
    pub streams: Vec<StreamInfo>,
    /// ffprobe's complete JSON output.
    pub raw: serde_json::Value,
}

/// One stream of a probed file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Stream index in the container.
    pub index: u32,
    /// `video`, `audio`, `subtitle`, `data`, ...
    pub codec_type: String,
    /// Codec short name, e.g. `h264`, `hevc`, `aac`.
    pub codec_name: Option<String>,
    /// Picture width (video).
    pub width: Option<u32>,
    /// Picture height (video).
    pub height: Option<u32>,
    /// Frame rate (video), from `avg_frame_rate` or `r_frame_rate`.
    pub fps: Option<f64>,
    /// Sample rate in Hz (audio).
    pub sample_rate: Option<u32>,
    /// Channel count (audio).
    pub channels: Option<u32>,
}

impl Probe {
    /// The first video stream (attached pictures such as cover art excluded).
    pub fn video(&self) -> Option<&StreamInfo> {
        self.streams
            .iter()
            .find(|s| s.codec_type == "video" && !is_attached_pic(&self.raw, s.index))
    }

    /// The first audio stream.
    pub fn audio(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.codec_type == "audio")
    }

    /// True when the file has an audio stream.
    pub fn has_audio(&self) -> bool {
        self.audio().is_some()
    }
}

/// True when stream `index` is flagged as an attached picture.
fn is_attached_pic(raw: &serde_json::Value, index: u32) -> bool {
    raw.get("streams")
        .and_then(|s| s.as_array())
        .and_then(|streams| {
            streams
                .iter()
                .find(|s| s.get("index").and_then(|i| i.as_u64()) == Some(u64::from(index)))
        })
        .and_then(|s| s.pointer("/disposition/attached_pic"))
        .and_then(|v| v.as_u64())
        == Some(1)
}

#[derive(Deserialize)]
struct RawOutput {
    #[serde(default)]
    format: Option<RawFormat>,
    #[serde(default)]
    streams: Vec<RawStream>,
}

#[derive(Deserialize)]
struct RawFormat {
    format_name: Option<String>,
    duration: Option<String>,
    size: Option<String>,
    bit_rate: Option<String>,
}

#[derive(Deserialize)]
struct RawStream {
    index: u32,
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
    duration: Option<String>,
}

/// Parses "25/1" or "30000/1001"; `None` for "0/0" and garbage.
fn parse_rate(s: &str) -> Option<f64> {
    let (num, den) = s.split_once('/')?;
    let num: f64 = num.trim().parse().ok()?;
    let den: f64 = den.trim().parse().ok()?;
    let rate = num / den;
    (rate.is_finite() && rate > 0.0).then_some(rate)
}

fn parse_f64(s: &Option<String>) -> Option<f64> {
    s.as_deref()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

fn parse_u64(s: &Option<String>) -> Option<u64> {
    s.as_deref().and_then(|v| v.trim().parse().ok())
}

/// Runs `ffprobe -v error -show_format -show_streams -print_format json` on
/// `input`.
///
/// Fails with a readable reason for a missing or empty file, a file ffprobe
/// cannot read (its stderr), a file with neither audio nor video, and a zero
/// or unknown duration.
pub async fn probe(
    tools: &Tools,
    input: &Path,
    cancel: &CancellationToken,
) -> Result<Probe, MediaError> {
    let abs = check_input(input)?;
    let mut cmd = tools.ffprobe_cmd();
    cmd.args([
        "-v",
        "error",
        "-show_format",
        "-show_streams",
        "-print_format",
        "json",
    ])
    .arg(&abs);
    let opts = RunOptions {
        stdout: StdoutMode::Collect {
            limit: DEFAULT_STDOUT_LIMIT,
        },
        ..RunOptions::with_cancel(cancel.clone())
    };
    let out = match run_tool(cmd, opts).await {
        Ok(out) => out,
        Err(ToolError::Failed { stderr_tail, .. }) => {
            return Err(MediaError::Unreadable {
                path: input.to_owned(),
                reason: summarize(&strip_path(&stderr_tail, &abs)),
            })
        }
        Err(source) => {
            return Err(MediaError::Tool {
                path: input.to_owned(),
                source,
            })
        }
    };
    let bad = |reason: String| MediaError::BadOutput {
        tool: "ffprobe",
        path: input.to_owned(),
        reason,
    };
    let raw: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let parsed: RawOutput = serde_json::from_value(raw.clone())
        .map_err(|e| bad(format!("unexpected JSON shape: {e}")))?;
    let format = parsed.format.ok_or_else(|| MediaError::Unreadable {
        path: input.to_owned(),
        reason: "ffprobe found no container format".to_owned(),
    })?;

    let streams: Vec<StreamInfo> = parsed
        .streams
        .iter()
        .map(|s| StreamInfo {
            index: s.index,
            codec_type: s.codec_type.clone().unwrap_or_default(),
            codec_name: s.codec_name.clone(),
            width: s.width,
            height: s.height,
            fps: s
                .avg_frame_rate
                .as_deref()
                .and_then(parse_rate)
                .or_else(|| s.r_frame_rate.as_deref().and_then(parse_rate)),
            sample_rate: s.sample_rate.as_deref().and_then(|v| v.trim().parse().ok()),
            channels: s.channels,
        })
        .collect();
    if !streams
        .iter()
        .any(|s| s.codec_type == "audio" || s.codec_type == "video")
    {
        return Err(MediaError::MissingStream {
            path: input.to_owned(),
            kind: "audio or video",
        });
    }

    let duration_s = parse_f64(&format.duration)
        .or_else(|| {
            parsed
                .streams
                .iter()
                .filter_map(|s| parse_f64(&s.duration))
                .fold(None, |acc: Option<f64>, d| {
                    Some(acc.map_or(d, |a| a.max(d)))
                })
        })
        .filter(|d| *d > 0.0)
        .ok_or_else(|| MediaError::ZeroDuration {
            path: input.to_owned(),
        })?;

    Ok(Probe {
        duration_s,
        format_name: format.format_name.unwrap_or_default(),
        size_bytes: parse_u64(&format.size),
        bit_rate: parse_u64(&format.bit_rate),
        streams,
        raw,
    })
}

/// Removes the "<abs path>: " prefix ffprobe puts before its messages (the
/// error already names the file).
fn strip_path(stderr: &str, abs: &Path) -> String {
    let prefix = format!("{}: ", abs.display());
    stderr
        .lines()
        .map(|l| l.strip_prefix(prefix.as_str()).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("25/1"), Some(25.0));
        assert!(parse_rate("30000/1001").is_some_and(|r| (r - 29.97).abs() < 0.01));
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_rate("x"), None);
    }
}
