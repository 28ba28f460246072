//! Transcode profiles (`archive`, `hls`) and the ffmpeg command lines they
//! produce.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    check_input, ffmpeg_preamble, run_tool, stem_of, tool_err, MediaError, Probe, RunOptions,
    Staging, StdoutMode, Tools,
};

/// The x264/x265 preset names accepted in parameters.
pub const X264_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// A bit rate in bits per second, written as `"3000k"`, `"3M"`, `"2.5M"`
/// or a plain number (`128000`) in parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bitrate(pub u64);

impl Bitrate {
    /// Bits per second.
    pub fn bps(self) -> u64 {
        self.0
    }

    /// Parses `"3000k"`, `"3M"`, `"2.5m"`, `"1G"` or `"128000"`.
    pub fn parse(text: &str) -> Result<Bitrate, String> {
        let t = text.trim();
        let (number, factor) = match t.char_indices().last() {
            Some((i, 'k' | 'K')) => (&t[..i], 1e3),
            Some((i, 'm' | 'M')) => (&t[..i], 1e6),
            Some((i, 'g' | 'G')) => (&t[..i], 1e9),
            _ => (t, 1.0),
        };
        let bad = || {
            format!("invalid bitrate {text:?}: expected a number with an optional k/M/G suffix, like 3000k or 3M")
        };
        let value: f64 = number.trim().parse().map_err(|_| bad())?;
        let bps = value * factor;
        if !bps.is_finite() || !(1000.0..=10e9).contains(&bps) {
            return Err(format!("bitrate {text:?} is out of range (1k..10G)"));
        }
        Ok(Bitrate(bps.round() as u64))
    }

    fn arg(self) -> OsString {
        self.0.to_string().into()
    }
}

impl fmt::Display for Bitrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1_000_000) {
            write!(f, "{}M", self.0 / 1_000_000)
        } else if self.0.is_multiple_of(1000) {
            write!(f, "{}k", self.0 / 1000)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for Bitrate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bitrate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => Bitrate::parse(&t).map_err(serde::de::Error::custom),
            Raw::Number(n) => Bitrate::parse(&n.to_string()).map_err(serde::de::Error::custom),
        }
    }
}

/// Video encoder of the archive profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 via libx264.
    #[default]
    X264,
    /// H.265/HEVC via libx265.
    X265,
}

/// Container of the archive profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// MP4 with `+faststart`.
    #[default]
    Mp4,
    /// Matroska.
    Mkv,
}

/// Video encoder of the HLS profile (only x264 for player compatibility).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HlsCodec {
    /// H.264 via libx264.
    #[default]
    X264,
}

/// A transcode profile, chosen by the `profile` key of a step's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "profile", rename_all = "kebab-case")]
pub enum TranscodeProfile {
    /// One file at constant quality: `<out_dir>/<stem>.mp4|mkv`.
    Archive(ArchiveParams),
    /// An HLS ladder: `<out_dir>/master.m3u8` and `<out_dir>/<name>/index.m3u8`.
    Hls(HlsParams),
}

/// Parameters of the `archive` profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveParams {
    /// `x264` (default) or `x265`.
    #[serde(default)]
    pub codec: VideoCodec,
    /// Constant rate factor, 0..=51 (default 20).
    #[serde(default = "default_crf")]
    pub crf: u8,
    /// Encoder preset (default `medium`).
    #[serde(default = "default_archive_preset")]
    pub preset: String,
    /// AAC bit rate (default `192k`).
    #[serde(default = "default_archive_audio")]
    pub audio_bitrate: Bitrate,
    /// `mp4` (default) or `mkv`.
    #[serde(default)]
    pub container: Container,
}

/// Parameters of the `hls` profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HlsParams {
    /// The ladder, at least one rendition.
    pub renditions: Vec<Rendition>,
    /// Target segment length in seconds, 1..=60 (default 6).
    #[serde(default = "default_segment_seconds")]
    pub segment_seconds: u32,
    /// Video encoder (only `x264`).
    #[serde(default)]
    pub codec: HlsCodec,
    /// Encoder preset (default `veryfast`).
    #[serde(default = "default_hls_preset")]
    pub preset: String,
}

/// One HLS rendition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rendition {
    /// Directory name and variant name: letters, digits, `-`, `_`.
    pub name: String,
    /// Output height in pixels, even, 144..=4320 (width keeps the aspect).
    pub height: u32,
    /// Target video bit rate.
    pub video_bitrate: Bitrate,
    /// AAC bit rate.
    pub audio_bitrate: Bitrate,
    /// Optional peak video bit rate (VBV, buffer = 2 × maxrate).
    #[serde(default)]
    pub maxrate: Option<Bitrate>,
}

fn default_crf() -> u8 {
    20
}
fn default_archive_preset() -> String {
    "medium".to_owned()
}
fn default_archive_audio() -> Bitrate {
    Bitrate(192_000)
}
fn default_segment_seconds() -> u32 {
    6
}
fn default_hls_preset() -> String {
    "veryfast".to_owned()
}

fn check_preset(preset: &str) -> Result<(), MediaError> {
    if X264_PRESETS.contains(&preset) {
        Ok(())
    } else {
        Err(MediaError::Params(format!(
            "unknown preset {preset:?}; expected one of {}",
            X264_PRESETS.join(", ")
        )))
    }
}

impl TranscodeProfile {
    /// Checks value ranges and names; errors say which value is wrong.
    pub fn validate(&self) -> Result<(), MediaError> {
        match self {
            TranscodeProfile::Archive(p) => {
                if p.crf > 51 {
                    return Err(MediaError::Params(format!(
                        "archive crf {} is outside 0..=51",
                        p.crf
                    )));
                }
                check_preset(&p.preset)
            }
            TranscodeProfile::Hls(p) => {
                check_preset(&p.preset)?;
                if !(1..=60).contains(&p.segment_seconds) {
                    return Err(MediaError::Params(format!(
                        "hls segment_seconds {} is outside 1..=60",
                        p.segment_seconds
                    )));
                }
                if p.renditions.is_empty() {
                    return Err(MediaError::Params(
                        "hls needs at least one rendition".to_owned(),
                    ));
                }
                let mut names = HashSet::new();
                for r in &p.renditions {
                    let valid_name = !r.name.is_empty()
                        && r.name.len() <= 64
                        && r.name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if !valid_name {
                        return Err(MediaError::Params(format!(
                            "hls rendition name {:?} must be 1-64 letters, digits, '-' or '_'",
                            r.name
                        )));
                    }
                    if !names.insert(r.name.as_str()) {
                        return Err(MediaError::Params(format!(
                            "hls rendition name {:?} is used twice",
                            r.name
                        )));
                    }
                    if !r.height.is_multiple_of(2) || !(144..=4320).contains(&r.height) {
                        return Err(MediaError::Params(format!(
                            "hls rendition {:?}: height {} must be even and within 144..=4320",
                            r.name, r.height
                        )));
                    }
                    if let Some(max) = r.maxrate {
                        if max < r.video_bitrate {
                            return Err(MediaError::Params(format!(
                                "hls rendition {:?}: maxrate {max} is below video_bitrate {}",
                                r.name, r.video_bitrate
                            )));
                        }
                    }
                }
                Ok(())
            }
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

/// The exact ffmpeg argv (without the program) that [`transcode`] runs,
/// writing into `out_dir` directly; `has_audio` says whether the input has
/// an audio stream (see [`Probe::has_audio`]). The command prints progress
/// blocks on stdout (`-progress pipe:1`). Paths are made absolute so that
/// names starting with `-` are never read as options; `input` must exist.
pub fn transcode_args(
    profile: &TranscodeProfile,
    input: &Path,
    out_dir: &Path,
    has_audio: bool,
) -> Result<Vec<OsString>, MediaError> {
    profile.validate()?;
    let original = input;
    let input = check_input(input)?;
    let out_dir = std::path::absolute(out_dir).map_err(|source| MediaError::Output {
        path: out_dir.to_owned(),
        source,
    })?;
    let mut args = Vec::new();
    ffmpeg_preamble(&mut args);
    push(&mut args, ["-i".into(), input.as_os_str().to_owned()]);
    match profile {
        TranscodeProfile::Archive(p) => {
            let (output, _) = archive_output(p, original, &out_dir);
            push(&mut args, ["-map", "0:v:0"]);
            if has_audio {
                push(&mut args, ["-map", "0:a"]);
            }
            match p.codec {
                VideoCodec::X264 => push(&mut args, ["-c:v", "libx264"]),
                VideoCodec::X265 => push(
                    &mut args,
                    ["-c:v", "libx265", "-x265-params", "log-level=error"],
                ),
            }
            push(&mut args, ["-preset", p.preset.as_str(), "-crf"]);
            push(&mut args, [p.crf.to_string()]);
            push(&mut args, ["-pix_fmt", "yuv420p"]);
            if p.codec == VideoCodec::X265 && p.container == Container::Mp4 {
                push(&mut args, ["-tag:v", "hvc1"]);
            }
            if has_audio {
                push(
                    &mut args,
                    [
                        "-c:a".into(),
                        "aac".into(),
                        "-b:a".into(),
                        p.audio_bitrate.arg(),
                    ],
                );
            }
            if p.container == Container::Mp4 {
                push(&mut args, ["-movflags", "+faststart"]);
            }
            args.push(output.into_os_string());
        }
        TranscodeProfile::Hls(p) => {
            let dir = out_dir.to_str().filter(|d| !d.contains('%')).ok_or_else(|| {
                MediaError::Params(format!(
                    "hls output directory {} must be valid UTF-8 without '%' (ffmpeg treats '%' as a pattern)",
                    out_dir.display()
                ))
            })?;
            let n = p.renditions.len();
            let mut graph = format!("[0:v:0]split={n}");
            for i in 0..n {
                graph.push_str(&format!("[s{i}]"));
            }
            for (i, r) in p.renditions.iter().enumerate() {
                graph.push_str(&format!(";[s{i}]scale=-2:{}[v{i}]", r.height));
            }
            push(&mut args, ["-filter_complex".to_owned(), graph]);
            for i in 0..n {
                push(&mut args, ["-map".to_owned(), format!("[v{i}]")]);
            }
            if has_audio {
                for _ in 0..n {
                    push(&mut args, ["-map", "0:a:0"]);
                }
            }
            push(
                &mut args,
                [
                    "-c:v",
                    "libx264",
                    "-preset",
                    p.preset.as_str(),
                    "-pix_fmt",
                    "yuv420p",
                ],
            );
            for (i, r) in p.renditions.iter().enumerate() {
                push(
                    &mut args,
                    [format!("-b:v:{i}"), r.video_bitrate.0.to_string()],
                );
                if let Some(max) = r.maxrate {
                    push(&mut args, [format!("-maxrate:v:{i}"), max.0.to_string()]);
                    push(
                        &mut args,
                        [format!("-bufsize:v:{i}"), (max.0 * 2).to_string()],
                    );
                }
            }
            // Keyframes exactly at segment boundaries, none from scene cuts.
            let seg = p.segment_seconds;
            push(
                &mut args,
                [
                    "-force_key_frames".to_owned(),
                    format!("expr:gte(t,n_forced*{seg})"),
                ],
            );
            push(&mut args, ["-sc_threshold", "0"]);
            if has_audio {
                push(&mut args, ["-c:a", "aac", "-ac", "2"]);
                for (i, r) in p.renditions.iter().enumerate() {
                    push(
                        &mut args,
                        [format!("-b:a:{i}"), r.audio_bitrate.0.to_string()],
                    );
                }
            }
            let map: Vec<String> = p
                .renditions
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    if has_audio {
                        format!("v:{i},a:{i},name:{}", r.name)
                    } else {
                        format!("v:{i},name:{}", r.name)
                    }
                })
                .collect();
            push(
                &mut args,
                [
                    "-f".to_owned(),
                    "hls".to_owned(),
                    "-hls_time".to_owned(),
                    seg.to_string(),
                ],
            );
            push(
                &mut args,
                [
                    "-hls_playlist_type",
                    "vod",
                    "-hls_flags",
                    "independent_segments",
                    "-hls_segment_type",
                    "mpegts",
                ],
            );
            push(
                &mut args,
                [
                    "-hls_segment_filename".to_owned(),
                    format!("{dir}/%v/seg_%05d.ts"),
                    "-master_pl_name".to_owned(),
                    "master.m3u8".to_owned(),
                    "-var_stream_map".to_owned(),
                    map.join(" "),
                    format!("{dir}/%v/index.m3u8"),
                ],
            );
        }
    }
    Ok(args)
}

/// The archive output path and its name relative to `out_dir`.
fn archive_output(p: &ArchiveParams, input: &Path, out_dir: &Path) -> (PathBuf, PathBuf) {
    let mut name = stem_of(input);
    name.push(match p.container {
        Container::Mp4 => ".mp4",
        Container::Mkv => ".mkv",
    });
    let rel = PathBuf::from(name);
    (out_dir.join(&rel), rel)
}

/// Transcodes `input` with `profile` into `out_dir` and returns the output
/// files: for `archive` the one file, for `hls` the master playlist first,
/// then each variant playlist.
///
/// `probe` is the input's [`Probe`]; it supplies the duration for progress
/// (unless `run_opts.duration_s` is set) and whether there is audio. The
/// work happens in `<out_dir>.partial-<random>`, which is moved into place
/// only on success and removed on failure, cancellation or timeout.
pub async fn transcode(
    tools: &Tools,
    profile: &TranscodeProfile,
    input: &Path,
    out_dir: &Path,
    probe: &Probe,
    mut run_opts: RunOptions,
) -> Result<Vec<PathBuf>, MediaError> {
    profile.validate()?;
    if probe.video().is_none() {
        return Err(MediaError::MissingStream {
            path: input.to_owned(),
            kind: "video",
        });
    }
    let staging = Staging::new(out_dir)?;
    let args = transcode_args(profile, input, staging.path(), probe.has_audio())?;
    let produced: Vec<PathBuf> = match profile {
        TranscodeProfile::Archive(p) => vec![archive_output(p, input, staging.path()).1],
        TranscodeProfile::Hls(p) => std::iter::once(PathBuf::from("master.m3u8"))
            .chain(
                p.renditions
                    .iter()
                    .map(|r| Path::new(&r.name).join("index.m3u8")),
            )
            .collect(),
    };
    let mut cmd = tools.ffmpeg_cmd();
    cmd.args(&args);
    run_opts.stdout = StdoutMode::Progress;
    if run_opts.duration_s.is_none() {
        run_opts.duration_s = Some(probe.duration_s);
    }
    run_tool(cmd, run_opts).await.map_err(tool_err(input))?;
    for rel in &produced {
        let path = staging.path().join(rel);
        if !path.is_file() {
            return Err(MediaError::BadOutput {
                tool: "ffmpeg",
                path: input.to_owned(),
                reason: format!("expected output {} was not written", rel.display()),
            });
        }
    }
    staging.commit(&produced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates_parse() {
        assert_eq!(Bitrate::parse("3000k"), Ok(Bitrate(3_000_000)));
        assert_eq!(Bitrate::parse("3M"), Ok(Bitrate(3_000_000)));
        assert_eq!(Bitrate::parse("2.5m"), Ok(Bitrate(2_500_000)));
        assert_eq!(Bitrate::parse("128000"), Ok(Bitrate(128_000)));
        assert!(Bitrate::parse("fast").is_err());
        assert!(Bitrate::parse("3x").is_err());
        assert!(Bitrate::parse("-3M").is_err());
        assert!(Bitrate::parse("").is_err());
        assert_eq!(Bitrate(3_000_000).to_string(), "3M");
        assert_eq!(Bitrate(96_000).to_string(), "96k");
    }
}
