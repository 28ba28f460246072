//! Low-bitrate preview MP4s and poster thumbnails.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::transcode::Bitrate;
use super::{
    cancel_only, check_input, ffmpeg_preamble, run_tool, stem_of, tool_err, MediaError, RunOptions,
    Staging, StdoutMode, Tools,
};

/// Parameters of the preview step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreviewParams {
    /// Maximum output height, even, 144..=4320 (default 360); smaller
    /// sources are not upscaled.
    pub height: u32,
    /// Video bit rate (default `400k`), also used as the peak rate.
    pub video_bitrate: Bitrate,
    /// AAC bit rate (default `64k`).
    pub audio_bitrate: Bitrate,
    /// Only the first this many seconds (default: all).
    pub max_seconds: Option<f64>,
}

impl Default for PreviewParams {
    fn default() -> Self {
        PreviewParams {
            height: 360,
            video_bitrate: Bitrate(400_000),
            audio_bitrate: Bitrate(64_000),
            max_seconds: None,
        }
    }
}

/// Parameters of the thumbnails step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThumbParams {
    /// Number of posters, 1..=50 (default 3).
    pub count: u32,
    /// Width in pixels, 16..=7680 (default 320); height keeps the aspect.
    pub width: u32,
}

impl Default for ThumbParams {
    fn default() -> Self {
        ThumbParams {
            count: 3,
            width: 320,
        }
    }
}

fn push<I, S>(args: &mut Vec<OsString>, items: I)
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    args.extend(items.into_iter().map(Into::into));
}

/// Encodes a small H.264/AAC MP4 preview, `<out_dir>/<stem>.preview.mp4`,
/// and returns its path. Progress goes to `run_opts.on_progress`; set
/// `run_opts.duration_s` (e.g. from [`super::Probe`]) to get percentages.
pub async fn preview(
    tools: &Tools,
    input: &Path,
    out_dir: &Path,
    params: &PreviewParams,
    mut run_opts: RunOptions,
) -> Result<PathBuf, MediaError> {
    let p = params;
    if !p.height.is_multiple_of(2) || !(144..=4320).contains(&p.height) {
        return Err(MediaError::Params(format!(
            "preview height {} must be even and within 144..=4320",
            p.height
        )));
    }
    if let Some(max) = p.max_seconds {
        if !(max.is_finite() && max > 0.0) {
            return Err(MediaError::Params(format!(
                "preview max_seconds {max} must be positive"
            )));
        }
    }
    let abs = check_input(input)?;
    let staging = Staging::new(out_dir)?;
    let mut name = stem_of(input);
    name.push(".preview.mp4");
    let rel = PathBuf::from(name);

    let mut args = Vec::new();
    ffmpeg_preamble(&mut args);
    push(&mut args, ["-i".into(), abs.as_os_str().to_owned()]);
    if let Some(max) = p.max_seconds {
        push(&mut args, ["-t".to_owned(), format!("{max:.3}")]);
    }
    push(&mut args, ["-map", "0:v:0", "-map", "0:a:0?"]);
    push(
        &mut args,
        [
            "-vf".to_owned(),
            format!("scale=w=-2:h=trunc(min({}\\,ih)/2)*2", p.height),
        ],
    );
    push(
        &mut args,
        [
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ],
    );
    let v = p.video_bitrate.bps();
    push(
        &mut args,
        [
            "-b:v".to_owned(),
            v.to_string(),
            "-maxrate".to_owned(),
            v.to_string(),
            "-bufsize".to_owned(),
            (v * 2).to_string(),
        ],
    );
    push(
        &mut args,
        [
            "-c:a".to_owned(),
            "aac".to_owned(),
            "-ac".to_owned(),
            "2".to_owned(),
        ],
    );
    push(
        &mut args,
        ["-b:a".to_owned(), p.audio_bitrate.bps().to_string()],
    );
    push(&mut args, ["-movflags", "+faststart"]);
    args.push(staging.path().join(&rel).into_os_string());

    let mut cmd = tools.ffmpeg_cmd();
    cmd.args(&args);
    run_opts.stdout = StdoutMode::Progress;
    if let (Some(max), Some(d)) = (p.max_seconds, run_opts.duration_s) {
        run_opts.duration_s = Some(d.min(max));
    }
    run_tool(cmd, run_opts).await.map_err(tool_err(input))?;
    if !staging.path().join(&rel).is_file() {
        return Err(MediaError::BadOutput {
            tool: "ffmpeg",
            path: input.to_owned(),
            reason: "the preview file was not written".to_owned(),
        });
    }
    let mut out = staging.commit(&[rel])?;
    out.pop().ok_or_else(|| MediaError::BadOutput {
        tool: "ffmpeg",
        path: input.to_owned(),
        reason: "no preview produced".to_owned(),
    })
}

/// Writes `count` JPEG posters `<out_dir>/<stem>.thumb-NN.jpg` taken at
/// evenly spaced times strictly inside the file (`duration_s · i/(count+1)`),
/// and returns their paths in time order.
pub async fn thumbnails(
    tools: &Tools,
    input: &Path,
    out_dir: &Path,
    params: &ThumbParams,
    duration_s: f64,
    cancel: &CancellationToken,
) -> Result<Vec<PathBuf>, MediaError> {
    if !(1..=50).contains(&params.count) {
        return Err(MediaError::Params(format!(
            "thumbnail count {} is outside 1..=50",
            params.count
        )));
    }
    if !(16..=7680).contains(&params.width) {
        return Err(MediaError::Params(format!(
            "thumbnail width {} is outside 16..=7680",
            params.width
        )));
    }
    if !(duration_s.is_finite() && duration_s > 0.0) {
        return Err(MediaError::ZeroDuration {
            path: input.to_owned(),
        });
    }
    let abs = check_input(input)?;
    let staging = Staging::new(out_dir)?;
    let stem = stem_of(input);
    let mut produced = Vec::new();
    for i in 1..=params.count {
        let at = duration_s * f64::from(i) / f64::from(params.count + 1);
        let mut name = stem.clone();
        name.push(format!(".thumb-{i:02}.jpg"));
        let rel = PathBuf::from(name);
        let mut args = Vec::new();
        ffmpeg_preamble(&mut args);
        push(&mut args, ["-ss".to_owned(), format!("{at:.3}")]);
        push(&mut args, ["-i".into(), abs.as_os_str().to_owned()]);
        push(&mut args, ["-map", "0:v:0", "-frames:v", "1"]);
        push(
            &mut args,
            ["-vf".to_owned(), format!("scale={}:-2", params.width)],
        );
        push(&mut args, ["-q:v", "3", "-f", "image2", "-update", "1"]);
        args.push(staging.path().join(&rel).into_os_string());
        let mut cmd = tools.ffmpeg_cmd();
        cmd.args(&args);
        run_tool(cmd, cancel_only(cancel))
            .await
            .map_err(tool_err(input))?;
        if !staging.path().join(&rel).is_file() {
            return Err(MediaError::BadOutput {
                tool: "ffmpeg",
                path: input.to_owned(),
                reason: format!("no frame at {at:.3} s for {}", rel.display()),
            });
        }
        produced.push(rel);
    }
    staging.commit(&produced)
}
