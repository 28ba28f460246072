//! Media steps against the real ffmpeg/ffprobe, on tiny generated sources.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use efir_ingest::media::{
    self, probe, run_tool, transcode, ArchiveParams, Bitrate, Container, HlsParams, LoudnessParams,
    MediaError, PreviewParams, Progress, Rendition, RunOptions, StdoutMode, ThumbParams, ToolError,
    Tools, TranscodeProfile, VideoCodec,
};
use tempfile::TempDir;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

async fn tools() -> Tools {
    Tools::detect()
        .await
        .expect("ffmpeg and ffprobe must be installed")
}

/// Writes a 4 s 640x360 25 fps x264 + 1 kHz sine AAC mp4 at `path`;
/// `audio_filter` adjusts the tone (e.g. its volume), `None` for no audio.
fn make_source(path: &Path, audio_filter: Option<&str>) {
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=4:size=640x360:rate=25",
        ]);
    if let Some(af) = audio_filter {
        cmd.args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=1000:duration=4{af}"));
    }
    cmd.args(["-map", "0:v"]);
    if audio_filter.is_some() {
        cmd.args(["-map", "1:a", "-c:a", "aac", "-b:a", "96k"]);
    }
    cmd.args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "25",
    ]);
    let mut target = std::ffi::OsString::from("file:");
    target.push(path);
    cmd.arg(target);
    let status = cmd.status().expect("run ffmpeg");
    assert!(status.success(), "generating {} failed", path.display());
}

fn source(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("src.mp4");
    make_source(&path, Some(""));
    path
}

fn archive(codec: VideoCodec, container: Container) -> TranscodeProfile {
    TranscodeProfile::Archive(ArchiveParams {
        codec,
        crf: 28,
        preset: "ultrafast".to_owned(),
        audio_bitrate: Bitrate(96_000),
        container,
    })
}

/// A transcode that takes minutes: an 8K placebo HLS ladder.
fn heavy_profile() -> TranscodeProfile {
    TranscodeProfile::Hls(HlsParams {
        renditions: vec![Rendition {
            name: "8k".to_owned(),
            height: 4320,
            video_bitrate: Bitrate(40_000_000),
            audio_bitrate: Bitrate(128_000),
            maxrate: None,
        }],
        segment_seconds: 2,
        codec: Default::default(),
        preset: "placebo".to_owned(),
    })
}

/// Entries next to `out_dir` whose names start with `<name>.partial-`.
fn partials(out_dir: &Path) -> Vec<PathBuf> {
    let name = out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!("{name}.partial-");
    fs::read_dir(out_dir.parent().expect("parent"))
        .expect("read parent")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// True when `/proc/<pid>` is gone (the process has exited and been reaped).
fn reaped(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// True when the process is gone or only a zombie awaiting its parent.
fn dead(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

async fn wait_for(mut cond: impl FnMut() -> bool, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// Run options that record the child's pid.
fn opts_with_pid(cancel: &CancellationToken) -> (RunOptions, Arc<Mutex<Option<u32>>>) {
    let pid = Arc::new(Mutex::new(None));
    let slot = pid.clone();
    let opts = RunOptions {
        on_spawn: Some(Box::new(move |p| {
            if let Ok(mut s) = slot.lock() {
                *s = Some(p);
            }
        })),
        ..RunOptions::with_cancel(cancel.clone())
    };
    (opts, pid)
}

fn pid_of(slot: &Arc<Mutex<Option<u32>>>) -> Option<u32> {
    slot.lock().ok().and_then(|p| *p)
}

fn playlist_entries(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect()
}

#[tokio::test]
async fn detect_reports_versions() {
    let t = tools().await;
    let versions = t.versions();
    let names: Vec<&str> = versions.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["ffmpeg", "ffprobe"]);
    assert!(versions
        .iter()
        .all(|(_, v)| v.chars().next().is_some_and(|c| c.is_ascii_digit())));
    assert!(t.ffmpeg.is_absolute() && t.ffprobe.is_absolute());
}

#[tokio::test]
async fn probe_reads_format_and_streams() {
    let dir = TempDir::new().unwrap();
    let src = source(&dir);
    let p = probe(&tools().await, &src, &CancellationToken::new())
        .await
        .unwrap();
    assert!(
        (p.duration_s - 4.0).abs() < 0.2,
        "duration {}",
        p.duration_s
    );
    assert!(p.format_name.contains("mp4"), "{}", p.format_name);
    assert_eq!(p.size_bytes, Some(fs::metadata(&src).unwrap().len()));
    assert!(p.bit_rate.is_some_and(|b| b > 0));
    let v = p.video().expect("video stream");
    assert_eq!(v.codec_name.as_deref(), Some("h264"));
    assert_eq!((v.width, v.height), (Some(640), Some(360)));
    assert!(v.fps.is_some_and(|f| (f - 25.0).abs() < 0.01));
    let a = p.audio().expect("audio stream");
    assert_eq!(a.codec_name.as_deref(), Some("aac"));
    assert_eq!((a.sample_rate, a.channels), (Some(44100), Some(1)));
    assert!(p.raw.get("format").is_some() && p.raw.get("streams").is_some());
    // It round-trips through JSON for storage in a job row.
    let back: media::Probe = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[tokio::test]
async fn archive_x264_mp4_and_x265_mkv() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let src = source(&dir);
    let cancel = CancellationToken::new();
    let info = probe(&t, &src, &cancel).await.unwrap();
    for (codec, container, expect_codec, ext) in [
        (VideoCodec::X264, Container::Mp4, "h264", "mp4"),
        (VideoCodec::X265, Container::Mkv, "hevc", "mkv"),
    ] {
        let out_dir = dir.path().join(format!("out-{ext}"));
        let outputs = transcode(
            &t,
            &archive(codec, container),
            &src,
            &out_dir,
            &info,
            RunOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(outputs, vec![out_dir.join(format!("src.{ext}"))]);
        let p = probe(&t, &outputs[0], &cancel).await.unwrap();
        assert_eq!(
            p.video().and_then(|v| v.codec_name.as_deref()),
            Some(expect_codec)
        );
        assert_eq!(p.audio().and_then(|a| a.codec_name.as_deref()), Some("aac"));
        assert!(
            (p.duration_s - 4.0).abs() <= 0.5,
            "{ext} duration {}",
            p.duration_s
        );
        assert!(partials(&out_dir).is_empty());
    }
}

#[tokio::test]
async fn archive_into_existing_dir_replaces_only_its_file() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let src = source(&dir);
    let info = probe(&t, &src, &CancellationToken::new()).await.unwrap();
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    fs::write(out_dir.join("keep.txt"), b"other step").unwrap();
    fs::write(out_dir.join("src.mp4"), b"stale").unwrap();
    let profile = archive(VideoCodec::X264, Container::Mp4);
    let outputs = transcode(&t, &profile, &src, &out_dir, &info, RunOptions::default())
        .await
        .unwrap();
    assert_eq!(fs::read(out_dir.join("keep.txt")).unwrap(), b"other step");
    assert!(fs::metadata(&outputs[0]).unwrap().len() > 1000);
    assert!(partials(&out_dir).is_empty());
}

#[tokio::test]
async fn hls_ladder_in_one_run() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let src = source(&dir);
    let info = probe(&t, &src, &CancellationToken::new()).await.unwrap();
    let toml_like = serde_json::json!({
        "profile": "hls",
        "segment_seconds": 2,
        "preset": "ultrafast",
        "renditions": [
            { "name": "360p", "height": 360, "video_bitrate": "800k", "audio_bitrate": "96k", "maxrate": "900k" },
            { "name": "240p", "height": 240, "video_bitrate": "0.4M", "audio_bitrate": "64k" },
        ],
    });
    let profile: TranscodeProfile = serde_json::from_value(toml_like).unwrap();
    let out_dir = dir.path().join("hls out");
    let outputs = transcode(&t, &profile, &src, &out_dir, &info, RunOptions::default())
        .await
        .unwrap();
    assert_eq!(
        outputs,
        vec![
            out_dir.join("master.m3u8"),
            out_dir.join("360p/index.m3u8"),
            out_dir.join("240p/index.m3u8")
        ]
    );
    let master = fs::read_to_string(&outputs[0]).unwrap();
    for (name, resolution) in [("360p", "640x360"), ("240p", "426x240")] {
        let inf = master
            .lines()
            .zip(master.lines().skip(1))
            .find(|(_, uri)| *uri == format!("{name}/index.m3u8"))
            .map(|(inf, _)| inf)
            .unwrap_or_else(|| panic!("{name} missing from master:\n{master}"));
        assert!(
            inf.starts_with("#EXT-X-STREAM-INF:") && inf.contains("BANDWIDTH="),
            "{inf}"
        );
        assert!(inf.contains(&format!("RESOLUTION={resolution}")), "{inf}");
        let variant = fs::read_to_string(out_dir.join(name).join("index.m3u8")).unwrap();
        let segments = playlist_entries(&variant);
        assert!(segments.len() >= 2, "{name}: {variant}");
        for seg in &segments {
            assert!(
                out_dir.join(name).join(seg).is_file(),
                "{name}/{seg} missing"
            );
        }
        assert!(variant.contains("#EXT-X-ENDLIST"));
        // Keyframes on segment boundaries: every full segment is 2 s long.
        let durations: Vec<f64> = variant
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .filter_map(|l| l.trim_end_matches(',').split(',').next()?.parse().ok())
            .collect();
        for d in &durations[..durations.len() - 1] {
            assert!((d - 2.0).abs() < 0.05, "{name} segment of {d} s: {variant}");
        }
    }
    assert!(partials(&out_dir).is_empty());
}

#[tokio::test]
async fn hls_and_archive_parameters_are_validated() {
    let bad = [
        (r#"{"profile":"archive","crf":60}"#, "crf 60"),
        (r#"{"profile":"archive","preset":"warp"}"#, "unknown preset"),
        (
            r#"{"profile":"hls","renditions":[{"name":"a","height":361,"video_bitrate":"1M","audio_bitrate":"96k"}]}"#,
            "height 361",
        ),
        (
            r#"{"profile":"hls","renditions":[{"name":"a","height":100,"video_bitrate":"1M","audio_bitrate":"96k"}]}"#,
            "144..=4320",
        ),
        (
            r#"{"profile":"hls","renditions":[{"name":"a b","height":360,"video_bitrate":"1M","audio_bitrate":"96k"}]}"#,
            "rendition name",
        ),
        (r#"{"profile":"hls","renditions":[]}"#, "at least one"),
    ];
    for (json, expected) in bad {
        let profile: TranscodeProfile = serde_json::from_str(json).unwrap();
        let err = profile.validate().expect_err(json).to_string();
        assert!(err.contains(expected), "{json}: {err}");
    }
    // Unknown keys and malformed bit rates are rejected when parsing.
    let unknown =
        serde_json::from_str::<TranscodeProfile>(r#"{"profile":"archive","crf":20,"bogus":1}"#);
    assert!(unknown.is_err_and(|e| e.to_string().contains("bogus")));
    let rate = serde_json::from_str::<TranscodeProfile>(
        r#"{"profile":"hls","renditions":[{"name":"a","height":360,"video_bitrate":"fast","audio_bitrate":"96k"}]}"#,
    );
    assert!(rate.is_err_and(|e| e.to_string().contains("invalid bitrate")));
}

#[tokio::test]
async fn progress_reaches_100_and_never_goes_back() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let src = source(&dir);
    let info = probe(&t, &src, &CancellationToken::new()).await.unwrap();
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = seen.clone();
    let opts = RunOptions {
        on_progress: Some(Box::new(move |p| sink.lock().unwrap().push(p))),
        ..RunOptions::default()
    };
    let profile = archive(VideoCodec::X265, Container::Mp4);
    transcode(&t, &profile, &src, &dir.path().join("out"), &info, opts)
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    let percents: Vec<f32> = seen.iter().filter_map(|p| p.percent).collect();
    assert!(percents.len() >= 2, "{seen:?}");
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert!(percents[..percents.len() - 1].iter().all(|p| *p <= 99.9));
    assert_eq!(percents.last(), Some(&100.0));
    assert!(seen.last().and_then(|p| p.frame).is_some_and(|f| f >= 99));
}

#[tokio::test]
async fn run_tool_reports_increasing_progress() {
    // `-re` paces the 2 s input in real time, so several reports arrive.
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-progress",
        "pipe:1",
        "-re",
    ])
    .args([
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=2:size=160x120:rate=25",
    ])
    .args(["-f", "null", "-"]);
    let seen: Arc<Mutex<Vec<f32>>> = Arc::default();
    let sink = seen.clone();
    let opts = RunOptions {
        stdout: StdoutMode::Progress,
        duration_s: Some(2.0),
        on_progress: Some(Box::new(move |p| {
            if let Some(pc) = p.percent {
                sink.lock().unwrap().push(pc)
            }
        })),
        ..RunOptions::default()
    };
    let out = run_tool(cmd, opts).await.unwrap();
    assert_eq!(out.last_progress.and_then(|p| p.percent), Some(100.0));
    let seen = seen.lock().unwrap();
    let intermediate: Vec<f32> = seen
        .iter()
        .copied()
        .filter(|p| *p > 0.0 && *p < 100.0)
        .collect();
    assert!(intermediate.len() >= 2, "{seen:?}");
    // Never backwards; a report may repeat (the clamp at 99.9 near the end,
    // or ffmpeg's last `continue` and `end` blocks with the same time).
    assert!(intermediate.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(
        intermediate[0] < intermediate[intermediate.len() - 1],
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&100.0));
}

#[tokio::test]
async fn preview_and_thumbnails() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let src = source(&dir);
    let cancel = CancellationToken::new();
    let out_dir = dir.path().join("previews");
    let params = PreviewParams {
        height: 240,
        max_seconds: Some(2.0),
        ..PreviewParams::default()
    };
    let file = media::preview(&t, &src, &out_dir, &params, RunOptions::default())
        .await
        .unwrap();
    assert_eq!(file, out_dir.join("src.preview.mp4"));
    let p = probe(&t, &file, &cancel).await.unwrap();
    assert_eq!(p.video().and_then(|v| v.height), Some(240));
    assert_eq!(
        p.video().and_then(|v| v.codec_name.as_deref()),
        Some("h264")
    );
    assert!((p.duration_s - 2.0).abs() < 0.3, "{}", p.duration_s);

    let thumbs = media::thumbnails(&t, &src, &out_dir, &ThumbParams::default(), 4.0, &cancel)
        .await
        .unwrap();
    assert_eq!(thumbs.len(), 3);
    for (i, thumb) in thumbs.iter().enumerate() {
        assert_eq!(thumb, &out_dir.join(format!("src.thumb-{:02}.jpg", i + 1)));
        let bytes = fs::read(thumb).unwrap();
        assert_eq!(
            &bytes[..3],
            &[0xFF, 0xD8, 0xFF],
            "{} is not a JPEG",
            thumb.display()
        );
    }
    // The preview written first is still there (steps share the directory).
    assert!(file.is_file());
    assert!(partials(&out_dir).is_empty());
}

#[tokio::test]
async fn loudness_of_a_sine() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let cancel = CancellationToken::new();
    // A mono 1 kHz sine of amplitude 1/8, 6 dB quieter: about -27.1 LUFS.
    let src = dir.path().join("quiet.mp4");
    make_source(&src, Some(",volume=-6dB"));
    let near = LoudnessParams {
        target_lufs: -27.0,
        ..LoudnessParams::default()
    };
    let l = media::loudness(&t, &src, &near, &cancel).await.unwrap();
    assert!((l.integrated_lufs + 27.1).abs() < 0.7, "{l:?}");
    assert!(l.range_lu.abs() < 1.0, "{l:?}");
    assert!(
        l.true_peak_dbtp.is_some_and(|p| (p + 24.1).abs() < 1.0),
        "{l:?}"
    );
    assert!(l.passed && l.reason.is_none(), "{l:?}");

    let ebu = media::loudness(&t, &src, &LoudnessParams::default(), &cancel)
        .await
        .unwrap();
    assert!(!ebu.passed);
    assert!(
        ebu.reason
            .as_deref()
            .is_some_and(|r| r.contains("below the target -23.0")),
        "{ebu:?}"
    );

    let silent_video = dir.path().join("no audio.mp4");
    make_source(&silent_video, None);
    let err = media::loudness(&t, &silent_video, &LoudnessParams::default(), &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MediaError::MissingStream { kind: "audio", .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("no audio.mp4") && err.to_string().contains("no audio stream")
    );
}

#[tokio::test]
async fn cancel_kills_a_long_ffmpeg_run() {
    let cancel = CancellationToken::new();
    let (opts, pid) = opts_with_pid(&cancel);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostats", "-loglevel", "error"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=600:size=640x360:rate=25",
        ])
        .args(["-c:v", "libx264", "-preset", "slow", "-f", "null", "-"]);
    let run = tokio::spawn(run_tool(cmd, opts));
    assert!(wait_for(|| pid_of(&pid).is_some(), Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pid = pid_of(&pid).unwrap();
    assert!(!dead(pid), "ffmpeg should still be encoding");
    let cancelled_at = Instant::now();
    cancel.cancel();
    let res = run.await.unwrap();
    assert!(cancelled_at.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(res, Err(ToolError::Cancelled { ref tool }) if tool == "ffmpeg"),
        "{res:?}"
    );
    assert!(reaped(pid), "ffmpeg {pid} still exists");
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group() {
    let dir = TempDir::new().unwrap();
    let pidfile = dir.path().join("grandchild");
    let cancel = CancellationToken::new();
    let (opts, pid) = opts_with_pid(&cancel);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("sleep 600 & echo $! > \"$1\"; wait")
        .arg("sh")
        .arg(&pidfile);
    let run = tokio::spawn(run_tool(cmd, opts));
    let read_grandchild = || {
        fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
    };
    assert!(wait_for(|| read_grandchild().is_some(), Duration::from_secs(10)).await);
    let grandchild = read_grandchild().unwrap();
    assert!(!dead(grandchild));
    cancel.cancel();
    assert!(run.await.unwrap().is_err_and(|e| e.is_cancelled()));
    assert!(pid_of(&pid).is_some_and(reaped));
    assert!(
        wait_for(|| dead(grandchild), Duration::from_secs(5)).await,
        "sleep {grandchild} survived"
    );
}

#[tokio::test]
async fn dropping_the_run_kills_the_tool() {
    let (opts, pid) = opts_with_pid(&CancellationToken::new());
    let mut cmd = Command::new("sleep");
    cmd.arg("600");
    let run = tokio::spawn(run_tool(cmd, opts));
    assert!(wait_for(|| pid_of(&pid).is_some(), Duration::from_secs(10)).await);
    let pid = pid_of(&pid).unwrap();
    run.abort();
    assert!(run.await.is_err_and(|e| e.is_cancelled()));
    assert!(
        wait_for(|| dead(pid), Duration::from_secs(5)).await,
        "sleep {pid} survived"
    );
}

#[tokio::test]
async fn cancelled_transcode_leaves_nothing_behind() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let src = source(&dir);
    let info = probe(&t, &src, &CancellationToken::new()).await.unwrap();
    let out_dir = dir.path().join("out");
    let cancel = CancellationToken::new();
    let (opts, pid) = opts_with_pid(&cancel);
    let trigger = cancel.clone();
    let watcher = pid.clone();
    tokio::spawn(async move {
        wait_for(|| pid_of(&watcher).is_some(), Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        trigger.cancel();
    });
    let profile = heavy_profile();
    let err = transcode(&t, &profile, &src, &out_dir, &info, opts)
        .await
        .unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert!(
        err.to_string().contains("src.mp4") && err.to_string().contains("cancelled"),
        "{err}"
    );
    assert!(pid_of(&pid).is_some_and(reaped));
    assert!(!out_dir.exists());
    assert!(partials(&out_dir).is_empty(), "{:?}", partials(&out_dir));
}

#[tokio::test]
async fn timed_out_transcode_leaves_nothing_behind() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let src = source(&dir);
    let info = probe(&t, &src, &CancellationToken::new()).await.unwrap();
    let out_dir = dir.path().join("out");
    let (mut opts, pid) = opts_with_pid(&CancellationToken::new());
    opts.timeout = Some(Duration::from_secs(1));
    let err = transcode(&t, &heavy_profile(), &src, &out_dir, &info, opts)
        .await
        .unwrap_err();
    assert!(err.is_timed_out(), "{err}");
    assert!(err.to_string().contains("timed out after 1s"), "{err}");
    assert!(pid_of(&pid).is_some_and(reaped));
    assert!(!out_dir.exists());
    assert!(partials(&out_dir).is_empty());
}

#[tokio::test]
async fn bad_inputs_give_readable_errors() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let cancel = CancellationToken::new();

    let corrupt = dir.path().join("corrupt.mp4");
    let noise: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(&corrupt, noise).unwrap();
    let err = probe(&t, &corrupt, &cancel).await.unwrap_err();
    assert!(matches!(err, MediaError::Unreadable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("corrupt.mp4") && msg.contains("Invalid data"),
        "{msg}"
    );

    let out_dir = dir.path().join("out");
    let err = media::preview(
        &t,
        &corrupt,
        &out_dir,
        &PreviewParams::default(),
        RunOptions::default(),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("corrupt.mp4") && msg.contains("ffmpeg exited with status"),
        "{msg}"
    );
    assert!(!out_dir.exists() && partials(&out_dir).is_empty());

    let empty = dir.path().join("empty.mp4");
    fs::write(&empty, b"").unwrap();
    let err = probe(&t, &empty, &cancel).await.unwrap_err();
    assert!(matches!(err, MediaError::EmptyInput { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.mp4") && err.to_string().contains("0 bytes"));

    let missing = dir.path().join("missing.mp4");
    let err = probe(&t, &missing, &cancel).await.unwrap_err();
    assert!(matches!(err, MediaError::Input { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.mp4") && err.to_string().contains("No such file"));

    let info_err = media::loudness(&t, &missing, &LoudnessParams::default(), &cancel).await;
    assert!(info_err.is_err_and(|e| e.to_string().contains("missing.mp4")));
}

#[tokio::test]
async fn odd_file_names_are_passed_safely() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let cancel = CancellationToken::new();
    let original = dir.path().join("src.mp4");
    make_source(&original, Some(""));
    for name in [
        "with space 'single' \"double\".mp4",
        "Новости дня.mp4",
        "-x.mp4",
        "http:x.mp4",
    ] {
        let src = dir.path().join(name);
        fs::copy(&original, &src).unwrap();
        let info = probe(&t, &src, &cancel)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!((info.duration_s - 4.0).abs() < 0.2);
        let out_dir = dir.path().join(format!("out {name}"));
        let profile = archive(VideoCodec::X264, Container::Mkv);
        let outputs = transcode(&t, &profile, &src, &out_dir, &info, RunOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let stem = Path::new(name).file_stem().unwrap();
        assert_eq!(outputs[0].file_stem(), Some(stem));
        assert_eq!(outputs[0].extension(), Some(OsStr::new("mkv")));
        assert!(outputs[0].is_file(), "{name}");
        let thumbs = media::thumbnails(
            &t,
            &src,
            &out_dir,
            &ThumbParams {
                count: 1,
                width: 64,
            },
            4.0,
            &cancel,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(thumbs[0].is_file());
    }
    // A relative name starting with '-' is never taken as an option.
    let before = std::env::current_dir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let relative = probe(&t, Path::new("-x.mp4"), &cancel).await;
    let args = media::transcode_args(
        &archive(VideoCodec::X264, Container::Mp4),
        Path::new("-x.mp4"),
        Path::new("rel-out"),
        true,
    );
    std::env::set_current_dir(before).unwrap();
    assert!(relative.is_ok_and(|p| p.video().is_some()));
    let args = args.unwrap();
    let input_at = args.iter().position(|a| a == "-i").unwrap() + 1;
    assert_eq!(
        Path::new(&args[input_at]),
        dir.path().canonicalize().unwrap().join("-x.mp4")
    );
    assert!(Path::new(args.last().unwrap()).is_absolute());
}

#[test]
fn module_doc_toml_example_parses() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Steps {
        archive: TranscodeProfile,
        hls: TranscodeProfile,
        preview: PreviewParams,
        thumbnails: ThumbParams,
        loudness: LoudnessParams,
    }
    let doc = include_str!("../src/media/mod.rs");
    let toml_text: String = doc
        .lines()
        .skip_while(|l| l.trim() != "//! ```toml")
        .skip(1)
        .take_while(|l| l.trim() != "//! ```")
        .map(|l| {
            format!(
                "{}\n",
                l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")
            )
        })
        .collect();
    let steps: Steps = toml::from_str(&toml_text).unwrap_or_else(|e| panic!("{e}\n{toml_text}"));
    assert!(matches!(
        steps.archive,
        TranscodeProfile::Archive(ArchiveParams {
            codec: VideoCodec::X265,
            crf: 24,
            container: Container::Mkv,
            ..
        })
    ));
    let TranscodeProfile::Hls(hls) = &steps.hls else {
        panic!("hls table parsed as {:?}", steps.hls)
    };
    assert_eq!(hls.renditions.len(), 2);
    assert_eq!(hls.renditions[0].maxrate, Some(Bitrate(3_300_000)));
    assert_eq!(hls.renditions[1].video_bitrate, Bitrate(800_000));
    steps.archive.validate().unwrap();
    steps.hls.validate().unwrap();
    assert_eq!(steps.preview.max_seconds, Some(60.0));
    assert_eq!(steps.thumbnails, ThumbParams::default());
    assert_eq!(steps.loudness, LoudnessParams::default());
}

#[tokio::test]
async fn hls_without_audio() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let src = dir.path().join("mute.mp4");
    make_source(&src, None);
    let info = probe(&t, &src, &CancellationToken::new()).await.unwrap();
    assert!(!info.has_audio());
    let profile = TranscodeProfile::Hls(HlsParams {
        renditions: vec![Rendition {
            name: "low".to_owned(),
            height: 180,
            video_bitrate: Bitrate(200_000),
            audio_bitrate: Bitrate(64_000),
            maxrate: None,
        }],
        segment_seconds: 2,
        codec: Default::default(),
        preset: "ultrafast".to_owned(),
    });
    let out_dir = dir.path().join("hls");
    let outputs = transcode(&t, &profile, &src, &out_dir, &info, RunOptions::default())
        .await
        .unwrap();
    let master = fs::read_to_string(&outputs[0]).unwrap();
    assert!(
        master.contains("RESOLUTION=320x180") && master.contains("low/index.m3u8"),
        "{master}"
    );
    let variant = fs::read_to_string(&outputs[1]).unwrap();
    assert!(playlist_entries(&variant).len() >= 2, "{variant}");
}

#[tokio::test]
async fn already_cancelled_run_does_not_start() {
    let cancel = CancellationToken::new();
    cancel.cancel();
    let (opts, pid) = opts_with_pid(&cancel);
    let res = run_tool(Command::new("sleep"), opts).await;
    assert!(res.is_err_and(|e| e.is_cancelled()));
    assert_eq!(pid_of(&pid), None);
}

#[tokio::test]
async fn dropped_transcode_leaves_nothing_behind() {
    let t = tools().await;
    let dir = TempDir::new().unwrap();
    let src = source(&dir);
    let info = probe(&t, &src, &CancellationToken::new()).await.unwrap();
    let out_dir = dir.path().join("out");
    let (opts, pid) = opts_with_pid(&CancellationToken::new());
    let job = {
        let (t, src, out_dir) = (t.clone(), src.clone(), out_dir.clone());
        tokio::spawn(
            async move { transcode(&t, &heavy_profile(), &src, &out_dir, &info, opts).await },
        )
    };
    assert!(wait_for(|| pid_of(&pid).is_some(), Duration::from_secs(10)).await);
    assert!(wait_for(|| partials(&out_dir).len() == 1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    job.abort();
    assert!(job.await.is_err_and(|e| e.is_cancelled()));
    let pid = pid_of(&pid).unwrap();
    assert!(
        wait_for(|| dead(pid), Duration::from_secs(5)).await,
        "ffmpeg {pid} survived"
    );
    assert!(wait_for(|| partials(&out_dir).is_empty(), Duration::from_secs(5)).await);
    assert!(!out_dir.exists());
}
