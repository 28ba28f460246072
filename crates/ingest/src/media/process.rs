//! Supervision of external tools (ffmpeg, ffprobe and any other CLI).
//!
//! [`run_tool`] starts a command in its own process group with stdin closed,
//! keeps the tail of its stderr for error messages, collects or parses its
//! stdout, and kills the whole process group when the run is cancelled, times
//! out or is dropped. Progress of ffmpeg runs started with
//! `-progress pipe:1` is delivered through [`RunOptions::on_progress`].

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Default number of stderr lines kept for error messages.
pub const DEFAULT_STDERR_LINES: usize = 50;
/// Default bound on collected stdout (16 MiB).
pub const DEFAULT_STDOUT_LIMIT: usize = 16 * 1024 * 1024;
/// Lines longer than this are cut (the rest of the line is dropped).
const MAX_LINE_BYTES: usize = 4096;
/// Stderr lines shown in an error message.
const SUMMARY_LINES: usize = 5;

/// Callback receiving progress updates. It runs on the task that awaits
/// [`run_tool`], between reads of the tool's stdout, so it must not block:
/// store the value, send it on a channel, or update a `watch`.
pub type ProgressFn = Box<dyn FnMut(Progress) + Send>;

/// Callback receiving the process id (which is also the process group id)
/// right after the tool has started.
pub type SpawnFn = Box<dyn FnOnce(u32) + Send>;

/// What to do with the tool's stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StdoutMode {
    /// Discard it (stdout is connected to `/dev/null`).
    #[default]
    Ignore,
    /// Collect it into [`ToolOutput::stdout`]; the run fails with
    /// [`ToolError::OutputTooLarge`] beyond `limit` bytes.
    Collect {
        /// Maximum number of bytes accepted.
        limit: usize,
    },
    /// Parse it as ffmpeg `-progress pipe:1` blocks and report each block
    /// to [`RunOptions::on_progress`].
    Progress,
}

/// How [`run_tool`] supervises a run.
pub struct RunOptions {
    /// Cancelling this token kills the tool's process group; the run then
    /// returns [`ToolError::Cancelled`].
    pub cancel: CancellationToken,
    /// Wall-clock limit; when reached the process group is killed and the
    /// run returns [`ToolError::TimedOut`].
    pub timeout: Option<Duration>,
    /// Total media duration in seconds, used to compute
    /// [`Progress::percent`].
    pub duration_s: Option<f64>,
    /// What to do with stdout.
    pub stdout: StdoutMode,
    /// Progress callback (only used with [`StdoutMode::Progress`]).
    pub on_progress: Option<ProgressFn>,
    /// Called once with the child's pid right after it started.
    pub on_spawn: Option<SpawnFn>,
    /// Number of stderr lines kept (default [`DEFAULT_STDERR_LINES`]).
    pub stderr_lines: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            cancel: CancellationToken::new(),
            timeout: None,
            duration_s: None,
            stdout: StdoutMode::Ignore,
            on_progress: None,
            on_spawn: None,
            stderr_lines: DEFAULT_STDERR_LINES,
        }
    }
}

impl RunOptions {
    /// Options with the given cancellation token and defaults otherwise.
    pub fn with_cancel(cancel: CancellationToken) -> Self {
        RunOptions {
            cancel,
            ..RunOptions::default()
        }
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("cancelled", &self.cancel.is_cancelled())
            .field("timeout", &self.timeout)
            .field("duration_s", &self.duration_s)
            .field("stdout", &self.stdout)
            .field("on_progress", &self.on_progress.is_some())
            .field("on_spawn", &self.on_spawn.is_some())
            .field("stderr_lines", &self.stderr_lines)
            .finish()
    }
}

/// One ffmpeg progress report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Output position in microseconds (`out_time_us`).
    pub out_time_us: Option<i64>,
    /// Frames written so far.
    pub frame: Option<u64>,
    /// Current encoding rate in frames per second.
    pub fps: Option<f32>,
    /// Encoding speed relative to real time (`1.5` for `1.5x`).
    pub speed: Option<f32>,
    /// Percent done: 0..=99.9 while running, 100 after a successful exit;
    /// `None` while the total duration is unknown.
    pub percent: Option<f32>,
}

/// The result of a successful run.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    /// Exit status (always a success).
    pub status: ExitStatus,
    /// Collected stdout (empty unless [`StdoutMode::Collect`]).
    pub stdout: Vec<u8>,
    /// The last stderr lines, joined with `\n`.
    pub stderr_tail: String,
    /// The last progress report (percent 100), if any was parsed.
    pub last_progress: Option<Progress>,
}

/// Why a tool run failed.
#[derive(Debug, Error)]
pub enum ToolError {
    /// The program could not be started.
    #[error("could not start {tool}: {source}")]
    Spawn {
        /// Program name.
        tool: String,
        /// The OS error.
        source: io::Error,
    },
    /// The program exited unsuccessfully.
    #[error("{tool} exited with {}: {}", describe_status(.status), summarize(.stderr_tail))]
    Failed {
        /// Program name.
        tool: String,
        /// Exit status.
        status: ExitStatus,
        /// Last stderr lines, joined with `\n`.
        stderr_tail: String,
    },
    /// The run was cancelled and the process group killed.
    #[error("{tool} was cancelled and killed")]
    Cancelled {
        /// Program name.
        tool: String,
    },
    /// The run exceeded its time limit and the process group was killed.
    #[error("{tool} timed out after {after:?} and was killed")]
    TimedOut {
        /// Program name.
        tool: String,
        /// The limit that was exceeded.
        after: Duration,
    },
    /// Stdout exceeded the collection limit; the process group was killed.
    #[error("{tool} wrote more than {limit} bytes to stdout and was killed")]
    OutputTooLarge {
        /// Program name.
        tool: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// Reading the tool's output or waiting for it failed.
    #[error("reading the output of {tool}: {source}")]
    Io {
        /// Program name.
        tool: String,
        /// The OS error.
        source: io::Error,
    },
}

impl ToolError {
    /// True when the run was cancelled through its token.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ToolError::Cancelled { .. })
    }

    /// True when the run hit its time limit.
    pub fn is_timed_out(&self) -> bool {
        matches!(self, ToolError::TimedOut { .. })
    }
}

/// "status 1" or "signal 9".
fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("status {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        (None, None) => "an unknown status".to_owned(),
    }
}

/// The last few non-empty stderr lines on one line, for error messages.
pub fn summarize(stderr_tail: &str) -> String {
    let lines: Vec<&str> = stderr_tail
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return "no error output".to_owned();
    }
    let start = lines.len().saturating_sub(SUMMARY_LINES);
    lines[start..].join(" / ")
}

/// Kills the process group on drop unless disarmed.
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            match killpg(Pid::from_raw(pgid), Signal::SIGKILL) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(err) => tracing::warn!(pgid, %err, "could not kill process group"),
            }
        }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Parser state for `-progress pipe:1` blocks.
struct ProgressParser {
    current: Progress,
    duration_us: Option<f64>,
    last: Option<Progress>,
}

impl ProgressParser {
    fn new(duration_s: Option<f64>) -> Self {
        let duration_us = duration_s
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(|d| d * 1e6);
        ProgressParser {
            current: Progress::default(),
            duration_us,
            last: None,
        }
    }

    /// Feeds one line; returns a finished report at `progress=...`.
    fn line(&mut self, line: &str) -> Option<Progress> {
        let (key, value) = line.split_once('=')?;
        let value = value.trim();
        match key.trim() {
            "out_time_us" => self.current.out_time_us = value.parse().ok(),
            "frame" => self.current.frame = value.parse().ok(),
            "fps" => self.current.fps = value.parse().ok(),
            "speed" => self.current.speed = value.trim_end_matches('x').trim().parse().ok(),
            "progress" => {
                let mut done = self.current.clone();
                done.percent = match (self.duration_us, done.out_time_us) {
                    (Some(total), Some(t)) => {
                        Some(((t as f64 / total) * 100.0).clamp(0.0, 99.9) as f32)
                    }
                    _ => None,
                };
                self.last = Some(done.clone());
                return Some(done);
            }
            _ => {}
        }
        None
    }
}

/// Reads `reader` to the end, calling `f` for each line (split on `\n` or
/// `\r`, lossy UTF-8, long lines cut).
async fn for_each_line<R, F>(mut reader: R, mut f: F) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    F: FnMut(&str),
{
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            if !line.is_empty() {
                f(&String::from_utf8_lossy(&line));
            }
            return Ok(());
        }
        for &b in &buf[..n] {
            if b == b'\n' || b == b'\r' {
                if !line.is_empty() {
                    f(&String::from_utf8_lossy(&line));
                    line.clear();
                }
            } else if line.len() < MAX_LINE_BYTES {
                line.push(b);
            }
        }
    }
}

/// Reads stdout up to `limit` bytes; `Ok(None)` when the limit is exceeded.
async fn collect_bounded<R: AsyncRead + Unpin>(
    mut reader: R,
    limit: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(Some(out));
        }
        if out.len() + n > limit {
            return Ok(None);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// The program's file name, for messages.
fn tool_name(cmd: &Command) -> String {
    let program = cmd.as_std().get_program();
    std::path::Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned()
}

enum Ending {
    Done(Result<(Vec<u8>, ExitStatus), ToolError>),
    Cancelled,
    TimedOut(Duration),
}

/// Runs `cmd` under supervision.
///
/// The child gets its own process group and a null stdin; stdout and stderr
/// are piped. On cancellation, timeout, too much stdout, or when the returned
/// future is dropped, SIGKILL is sent to the whole group; in the first three
/// cases the child is also reaped before returning. A non-zero exit becomes
/// [`ToolError::Failed`] carrying the stderr tail. With
/// [`StdoutMode::Progress`], every `progress=continue|end` block is passed to
/// `opts.on_progress` (percent clamped to 99.9), followed by a final report
/// with percent 100 after a successful exit.
///
/// After a successful exit nothing is killed: background children a tool
/// leaves behind keep running. A run that was cancelled before it started
/// returns
/// [`ToolError::Cancelled`] without spawning. Output pipes are read to their
/// end before the exit status is taken, so a tool that leaves a background
/// child holding them open is bounded only by `opts.timeout`.
pub async fn run_tool(mut cmd: Command, mut opts: RunOptions) -> Result<ToolOutput, ToolError> {
    let tool = tool_name(&cmd);
    if opts.cancel.is_cancelled() {
        return Err(ToolError::Cancelled { tool });
    }
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(match opts.stdout {
            StdoutMode::Ignore => Stdio::null(),
            _ => Stdio::piped(),
        })
        .kill_on_drop(true);
    // If the worker itself dies (kill -9, OOM), the kernel kills the tool
    // too, rather than leaving an orphan writing outputs nobody will take.
    // Safety: prctl is async-signal-safe and touches no memory of ours.
    #[cfg(target_os = "linux")]
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }

    let mut child = cmd.spawn().map_err(|source| ToolError::Spawn {
        tool: tool.clone(),
        source,
    })?;
    let pid = child.id();
    let mut guard = GroupGuard {
        pgid: pid.and_then(|p| i32::try_from(p).ok()),
    };
    tracing::debug!(tool = %tool, pid, "tool started");
    if let (Some(pid), Some(on_spawn)) = (pid, opts.on_spawn.take()) {
        on_spawn(pid);
    }

    let stderr = child.stderr.take();
    let stdout = child.stdout.take();
    let keep = opts.stderr_lines.max(1);
    let mut tail: VecDeque<String> = VecDeque::with_capacity(keep);
    let mut parser = ProgressParser::new(opts.duration_s);
    let mut on_progress = opts.on_progress.take();
    let mode = opts.stdout;

    let ending = {
        let tail = &mut tail;
        let parser = &mut parser;
        let on_progress = &mut on_progress;
        let child = &mut child;
        let tool_ref = &tool;
        let work = async move {
            let read_err = async {
                if let Some(stderr) = stderr {
                    for_each_line(stderr, |line| {
                        if tail.len() == keep {
                            tail.pop_front();
                        }
                        tail.push_back(line.to_owned());
                    })
                    .await
                } else {
                    Ok(())
                }
            };
            let read_out = async {
                match (mode, stdout) {
                    (StdoutMode::Collect { limit }, Some(out)) => collect_bounded(out, limit).await,
                    (StdoutMode::Progress, Some(out)) => for_each_line(out, |line| {
                        if let Some(p) = parser.line(line) {
                            if let Some(cb) = on_progress.as_mut() {
                                cb(p);
                            }
                        }
                    })
                    .await
                    .map(|()| Some(Vec::new())),
                    _ => Ok(Some(Vec::new())),
                }
            };
            let (err_res, out_res) = tokio::join!(read_err, read_out);
            let io_err = |source| ToolError::Io {
                tool: tool_ref.clone(),
                source,
            };
            err_res.map_err(io_err)?;
            let Some(collected) = out_res.map_err(io_err)? else {
                return Err(ToolError::OutputTooLarge {
                    tool: tool_ref.clone(),
                    limit: match mode {
                        StdoutMode::Collect { limit } => limit,
                        _ => 0,
                    },
                });
            };
            let status = child.wait().await.map_err(io_err)?;
            Ok((collected, status))
        };
        let deadline = async {
            match opts.timeout {
                Some(after) => {
                    tokio::time::sleep(after).await;
                    after
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            res = work => Ending::Done(res),
            () = opts.cancel.cancelled() => Ending::Cancelled,
            after = deadline => Ending::TimedOut(after),
        }
    };

    let result = match ending {
        Ending::Done(Ok((stdout, status))) => {
            guard.disarm();
            Ok((stdout, status))
        }
        Ending::Done(Err(err)) => Err(err),
        Ending::Cancelled => Err(ToolError::Cancelled { tool: tool.clone() }),
        Ending::TimedOut(after) => Err(ToolError::TimedOut {
            tool: tool.clone(),
            after,
        }),
    };
    let (stdout, status) = match result {
        Ok(done) => done,
        Err(err) => {
            // Kill the group while the leader is still unreaped (its pid
            // cannot be reused yet), then reap it.
            guard.kill();
            if let Err(wait_err) = child.wait().await {
                tracing::warn!(tool = %tool, %wait_err, "could not reap killed tool");
            }
            tracing::debug!(tool = %tool, pid, %err, "tool stopped");
            return Err(err);
        }
    };

    let stderr_tail = Vec::from(tail).join("\n");
    if !status.success() {
        return Err(ToolError::Failed {
            tool,
            status,
            stderr_tail,
        });
    }
    let last_progress = parser.last.take().map(|mut p| {
        p.percent = Some(100.0);
        p
    });
    if let (Some(p), Some(cb)) = (last_progress.clone(), on_progress.as_mut()) {
        cb(p);
    }
    Ok(ToolOutput {
        status,
        stdout,
        stderr_tail,
        last_progress,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_blocks_are_parsed_and_clamped() {
        let mut p = ProgressParser::new(Some(2.0));
        for line in [
            "frame=25",
            "fps=50.0",
            "out_time_us=1000000",
            "out_time_ms=1000000",
            "speed=2.5x",
        ] {
            assert!(p.line(line).is_none());
        }
        let first = p.line("progress=continue");
        assert_eq!(
            first,
            Some(Progress {
                out_time_us: Some(1_000_000),
                frame: Some(25),
                fps: Some(50.0),
                speed: Some(2.5),
                percent: Some(50.0),
            })
        );
        p.line("out_time_us=2500000");
        let end = p.line("progress=end").and_then(|p| p.percent);
        assert_eq!(end, Some(99.9));
        p.line("out_time_us=N/A");
        assert_eq!(p.line("progress=continue").and_then(|p| p.percent), None);
    }

    #[test]
    fn summary_keeps_last_meaningful_lines() {
        let tail = "a\n\n b \nc\nd\ne\nf\n\n";
        assert_eq!(summarize(tail), "b / c / d / e / f");
        assert_eq!(summarize(""), "no error output");
    }
}
