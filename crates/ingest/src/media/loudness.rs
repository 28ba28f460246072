//! EBU R128 loudness measurement with ffmpeg's `ebur128` filter.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{check_input, probe, run_tool, tool_err, MediaError, RunOptions, Tools};

/// Loudness targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoudnessParams {
    /// Target integrated loudness in LUFS (default -23, EBU R128).
    pub target_lufs: f64,
    /// Allowed deviation from the target in LU (default 1).
    pub tolerance_lu: f64,
    /// Highest allowed true peak in dBTP (default -1).
    pub max_true_peak_dbtp: f64,
}

impl Default for LoudnessParams {
    fn default() -> Self {
        LoudnessParams {
            target_lufs: -23.0,
            tolerance_lu: 1.0,
            max_true_peak_dbtp: -1.0,
        }
    }
}

/// A loudness measurement and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    /// Integrated loudness in LUFS.
    pub integrated_lufs: f64,
    /// Loudness range in LU.
    pub range_lu: f64,
    /// True peak in dBTP; `None` for digital silence (-inf).
    pub true_peak_dbtp: Option<f64>,
    /// True when loudness and peak are within the targets.
    pub passed: bool,
    /// Why it did not pass.
    pub reason: Option<String>,
}

/// Measures the first audio stream of `input` (`ebur128=peak=true`) and
/// judges it against `params`. A file without audio is an error.
pub async fn loudness(
    tools: &Tools,
    input: &Path,
    params: &LoudnessParams,
    cancel: &CancellationToken,
) -> Result<Loudness, MediaError> {
    let p = params;
    if !(p.target_lufs.is_finite() && (-70.0..=0.0).contains(&p.target_lufs)) {
        return Err(MediaError::Params(format!(
            "loudness target_lufs {} is outside -70..=0",
            p.target_lufs
        )));
    }
    if !(p.tolerance_lu.is_finite() && p.tolerance_lu >= 0.0) {
        return Err(MediaError::Params(format!(
            "loudness tolerance_lu {} must be zero or positive",
            p.tolerance_lu
        )));
    }
    if !p.max_true_peak_dbtp.is_finite() {
        return Err(MediaError::Params(
            "loudness max_true_peak_dbtp must be a number".to_owned(),
        ));
    }
    let abs = check_input(input)?;
    let info = probe(tools, input, cancel).await?;
    if !info.has_audio() {
        return Err(MediaError::MissingStream {
            path: input.to_owned(),
            kind: "audio",
        });
    }
    let mut cmd = tools.ffmpeg_cmd();
    // Info level is needed for the summary; per-frame lines go to verbose.
    cmd.args([
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        "-i",
    ])
    .arg(&abs)
    .args([
        "-map",
        "0:a:0",
        "-filter:a",
        "ebur128=peak=true:framelog=verbose",
        "-f",
        "null",
        "-",
    ]);
    let out = run_tool(cmd, RunOptions::with_cancel(cancel.clone()))
        .await
        .map_err(tool_err(input))?;
    let summary = parse_summary(&out.stderr_tail).ok_or_else(|| MediaError::BadOutput {
        tool: "ffmpeg",
        path: input.to_owned(),
        reason: "no ebur128 summary (integrated loudness, range, true peak) in its log".to_owned(),
    })?;
    Ok(judge(summary, p))
}

/// Values read from the ebur128 summary.
#[derive(Debug, PartialEq)]
struct Summary {
    integrated: f64,
    range: f64,
    peak: Option<f64>,
}

/// Reads `I:`, `LRA:` and the true-peak `Peak:` after the last `Summary:`.
fn parse_summary(stderr: &str) -> Option<Summary> {
    let start = stderr.rfind("Summary:")?;
    let mut integrated = None;
    let mut range = None;
    let mut peak = None;
    let mut in_true_peak = false;
    for line in stderr[start..].lines() {
        let line = line.trim();
        if line.starts_with("True peak:") {
            in_true_peak = true;
            continue;
        }
        let number = |rest: &str| rest.split_whitespace().next().map(str::to_owned);
        if let Some(rest) = line.strip_prefix("I:") {
            integrated = number(rest).and_then(|v| v.parse::<f64>().ok());
        } else if let Some(rest) = line.strip_prefix("LRA:") {
            range = number(rest).and_then(|v| v.parse::<f64>().ok());
        } else if let (true, Some(rest)) = (in_true_peak, line.strip_prefix("Peak:")) {
            peak = Some(number(rest)?.parse::<f64>().ok().filter(|v| v.is_finite()));
        }
    }
    Some(Summary {
        integrated: integrated.filter(|v| v.is_finite())?,
        range: range.filter(|v| v.is_finite())?,
        peak: peak?,
    })
}

/// Compares a measurement with the targets.
fn judge(s: Summary, p: &LoudnessParams) -> Loudness {
    let mut reasons = Vec::new();
    let delta = s.integrated - p.target_lufs;
    if delta.abs() > p.tolerance_lu {
        reasons.push(format!(
            "integrated loudness {:.1} LUFS is {:.1} LU {} the target {:.1} LUFS (tolerance {:.1} LU)",
            s.integrated,
            delta.abs(),
            if delta < 0.0 { "below" } else { "above" },
            p.target_lufs,
            p.tolerance_lu
        ));
    }
    if let Some(peak) = s.peak {
        if peak > p.max_true_peak_dbtp {
            reasons.push(format!(
                "true peak {peak:.1} dBTP exceeds the limit {:.1} dBTP",
                p.max_true_peak_dbtp
            ));
        }
    }
    Loudness {
        integrated_lufs: s.integrated,
        range_lu: s.range,
        true_peak_dbtp: s.peak,
        passed: reasons.is_empty(),
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -21.1 LUFS\n    Threshold: -31.1 LUFS\n\n  Loudness range:\n    LRA:         0.5 LU\n    Threshold: -41.1 LUFS\n    LRA low:   -21.1 LUFS\n    LRA high:  -21.1 LUFS\n\n  True peak:\n    Peak:      -16.5 dBFS\n";

    #[test]
    fn summary_is_parsed() {
        assert_eq!(
            parse_summary(LOG),
            Some(Summary {
                integrated: -21.1,
                range: 0.5,
                peak: Some(-16.5)
            })
        );
        let silent = LOG.replace("-16.5 dBFS", "-inf dBFS");
        assert_eq!(parse_summary(&silent).map(|s| s.peak), Some(None));
        assert_eq!(parse_summary("no summary here"), None);
    }

    #[test]
    fn verdicts() {
        let s = || parse_summary(LOG);
        let ok = s().map(|s| {
            judge(
                s,
                &LoudnessParams {
                    target_lufs: -21.0,
                    ..Default::default()
                },
            )
        });
        assert_eq!(ok.map(|l| l.passed), Some(true));
        let low = s().map(|s| judge(s, &LoudnessParams::default()));
        assert!(low
            .and_then(|l| l.reason)
            .is_some_and(|r| r.contains("above the target -23.0")));
        let peak = s().map(|s| {
            judge(
                s,
                &LoudnessParams {
                    target_lufs: -21.0,
                    max_true_peak_dbtp: -20.0,
                    ..Default::default()
                },
            )
        });
        assert!(peak
            .and_then(|l| l.reason)
            .is_some_and(|r| r.contains("true peak")));
    }
}
