//! Pipelines: ordered steps declared in the config, run by a worker for
//! one job attempt.
//!
//! ```toml
//! [[ingest.pipeline]]
//! name = "media"
//! mounts = ["output"]          # mounts this pipeline needs (informational)
//!
//! [[ingest.pipeline.step]]
//! kind = "probe"
//!
//! [[ingest.pipeline.step]]
//! kind = "transcode"
//! profile = "hls"
//! renditions = [{ name = "360p", height = 360, video_bitrate = "800k", audio_bitrate = "96k" }]
//!
//! [[ingest.pipeline.step]]
//! kind = "deliver"
//! what = "outputs"             # input | outputs | previews
//! target = { kind = "ftp", host = "ftp.example", user = "u", password = "p" }
//! ```
//!
//! Step kinds: `probe`, `transcode` (the media module's profiles),
//! `preview`, `thumbnail`, `loudness`, `pdf-inspect`, `pdf-preview`,
//! `deliver` (copy/move to a directory or upload by FTP/FTPS), `notify`
//! and `noop`. Every step may have a `name`; steps that write files may
//! have a `dir` (sub-folder of the job's output). A job in **import** mode
//! skips `deliver` and `notify`; a **dry run** runs `deliver` in its
//! checking-only mode and skips `notify`.
//!
//! An attempt writes into its own staging folder; the worker moves it to
//! the final output folder only when the queue accepts the result under the
//! attempt's lease, so a fenced attempt leaves nothing behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::media::{self, MediaError, RunOptions, Tools};
use crate::output::{self, DeliverOptions, OutputError, OutputTarget};
use crate::pdf;
use crate::queue::{now_ms, StepRecord};

/// A pipeline that cannot be read from the config.
#[derive(Debug, thiserror::Error)]
#[error("ingest.pipeline {pipeline}: {message}")]
pub struct PipelineError {
    /// The pipeline (name or position).
    pub pipeline: String,
    /// What is wrong.
    pub message: String,
}

/// A tool a step needs on the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// ffmpeg and ffprobe.
    Ffmpeg,
    /// pdftoppm (poppler).
    Pdftoppm,
}

/// What to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum What {
    /// The input file.
    Input,
    /// Every file the job produced.
    Outputs,
    /// The previews and thumbnails only.
    Previews,
}

/// One step's work.
#[derive(Debug, Clone)]
pub enum Action {
    /// ffprobe the input.
    Probe,
    /// Transcode into `dir`.
    Transcode {
        /// Profile.
        profile: media::TranscodeProfile,
        /// Sub-folder.
        dir: String,
    },
    /// A low-bitrate preview.
    Preview {
        /// Parameters.
        params: media::PreviewParams,
        /// Sub-folder.
        dir: String,
    },
    /// Poster frames.
    Thumbnail {
        /// Parameters.
        params: media::ThumbParams,
        /// Sub-folder.
        dir: String,
    },
    /// Loudness measurement; `required` fails the job when out of range.
    Loudness {
        /// Parameters.
        params: media::LoudnessParams,
        /// Whether a miss fails the job.
        required: bool,
    },
    /// PDF pre-press analysis and routing.
    PdfInspect {
        /// Printing presses known to the shop.
        presses: Vec<pdf::Press>,
        /// Outputters (CTP bureaus) known to the shop.
        outputters: Vec<String>,
        /// Fail when no press is recognised.
        require_press: bool,
        /// Fail when no outputter is recognised.
        require_outputter: bool,
    },
    /// JPEG pages of a PDF.
    PdfPreview {
        /// Options.
        opts: pdf::PreviewOptions,
        /// Sub-folder.
        dir: String,
    },
    /// Copy, move or upload files.
    Deliver {
        /// Where.
        target: OutputTarget,
        /// Which files.
        what: What,
        /// Only when the detected outputter is this one.
        outputter: Option<String>,
        /// Only when the detected press is this one.
        press: Option<String>,
    },
    /// A message (a log line until the messaging layer exists).
    Notify {
        /// Template: `{name}`, `{job}`, `{order}`, `{plates}`, `{press}`,
        /// `{outputter}`, `{pages}`, `{duration}`.
        message: String,
    },
    /// Nothing.
    Noop,
}

/// A step of a pipeline.
#[derive(Debug, Clone)]
pub struct Step {
    /// Name shown to operators.
    pub name: String,
    /// Work.
    pub action: Action,
}

impl Step {
    /// The tool it needs.
    pub fn tool(&self) -> Option<Tool> {
        match self.action {
            Action::Probe
            | Action::Transcode { .. }
            | Action::Preview { .. }
            | Action::Thumbnail { .. }
            | Action::Loudness { .. } => Some(Tool::Ffmpeg),
            Action::PdfPreview { .. } => Some(Tool::Pdftoppm),
            _ => None,
        }
    }
}

/// A pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Name, as jobs name it.
    pub name: String,
    /// Attempts per job.
    pub max_attempts: i64,
    /// Priority of its jobs (lower first).
    pub priority: i64,
    /// Steps in order.
    pub steps: Vec<Step>,
}

impl Pipeline {
    /// The built-in no-op pipeline.
    pub fn noop() -> Pipeline {
        Pipeline {
            name: crate::queue::NOOP.into(),
            max_attempts: 3,
            priority: 0,
            steps: Vec::new(),
        }
    }

    /// Tools its steps need.
    pub fn tools(&self) -> Vec<Tool> {
        let mut t: Vec<Tool> = self.steps.iter().filter_map(Step::tool).collect();
        t.sort();
        t.dedup();
        t
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineDef {
    name: String,
    #[serde(default)]
    mounts: Vec<String>,
    #[serde(default = "three")]
    max_attempts: i64,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    step: Vec<toml::Table>,
}

fn three() -> i64 {
    3
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PdfInspectDef {
    #[serde(default)]
    presses: Vec<pdf::Press>,
    #[serde(default)]
    outputters: Vec<String>,
    #[serde(default)]
    require_press: bool,
    #[serde(default)]
    require_outputter: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverDef {
    target: OutputTarget,
    #[serde(default = "outputs")]
    what: What,
    #[serde(default)]
    outputter: Option<String>,
    #[serde(default)]
    press: Option<String>,
}

fn outputs() -> What {
    What::Outputs
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoudnessDef {
    #[serde(flatten)]
    params: media::LoudnessParams,
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyDef {
    #[serde(default = "default_message")]
    message: String,
}

fn default_message() -> String {
    "{name}: job {job} done".into()
}

/// Reads the `[[ingest.pipeline]]` tables; names must be unique and may
/// not be `noop` (built in).
pub fn parse_pipelines(values: &[toml::Value]) -> Result<Vec<Pipeline>, PipelineError> {
    let mut out: Vec<Pipeline> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let at = |message: String| PipelineError {
            pipeline: format!("#{}", i + 1),
            message,
        };
        let def: PipelineDef = v.clone().try_into().map_err(|e| at(e.to_string()))?;
        let err = |message: String| PipelineError {
            pipeline: format!("`{}`", def.name),
            message,
        };
        let name_ok = !def.name.is_empty()
            && def.name.len() <= 64
            && def
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(at(format!(
                "name `{}` is not 1-64 letters, digits, `-` or `_`",
                def.name
            )));
        }
        if def.name == crate::queue::NOOP || out.iter().any(|p| p.name == def.name) {
            return Err(err("the name is taken (or is the built-in `noop`)".into()));
        }
        if !(1..=100).contains(&def.max_attempts) {
            return Err(err("max_attempts must be 1-100".into()));
        }
        let _ = def.mounts;
        if def.step.is_empty() {
            return Err(err("has no [[ingest.pipeline.step]]".into()));
        }
        let mut steps = Vec::new();
        for (n, table) in def.step.iter().enumerate() {
            let step = parse_step(table).map_err(|m| err(format!("step {}: {m}", n + 1)))?;
            steps.push(step);
        }
        out.push(Pipeline {
            name: def.name,
            max_attempts: def.max_attempts,
            priority: def.priority,
            steps,
        });
    }
    Ok(out)
}

fn take_str(t: &mut toml::Table, key: &str) -> Result<Option<String>, String> {
    match t.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn parse_step(table: &toml::Table) -> Result<Step, String> {
    let mut t = table.clone();
    let kind = take_str(&mut t, "kind")?.ok_or("has no `kind`")?;
    let name = take_str(&mut t, "name")?.unwrap_or_else(|| kind.clone());
    let dir = take_str(&mut t, "dir")?;
    if let Some(d) = &dir {
        crate::hotfolder::safe_join(Path::new("/"), d)
            .map_err(|_| format!("dir `{d}` must be a plain folder name"))?;
    }
    let dir_or = |default: &str| dir.clone().unwrap_or_else(|| default.to_string());
    let rest = toml::Value::Table(t);
    let parse = |what: &str| -> String { format!("`{what}` step: ") };
    let action = match kind.as_str() {
        "probe" | "noop" => {
            if rest.as_table().is_some_and(|t| !t.is_empty()) {
                return Err(format!("`{kind}` takes no parameters"));
            }
            if kind == "probe" {
                Action::Probe
            } else {
                Action::Noop
            }
        }
        "transcode" => {
            let profile: media::TranscodeProfile = rest
                .try_into()
                .map_err(|e| parse("transcode") + &e.to_string())?;
            profile.validate().map_err(|e| e.to_string())?;
            let default = match profile {
                media::TranscodeProfile::Hls(_) => "hls",
                _ => "archive",
            };
            Action::Transcode {
                profile,
                dir: dir_or(default),
            }
        }
        "preview" => Action::Preview {
            params: rest
                .try_into()
                .map_err(|e| parse("preview") + &e.to_string())?,
            dir: dir_or("preview"),
        },
        "thumbnail" => Action::Thumbnail {
            params: rest
                .try_into()
                .map_err(|e| parse("thumbnail") + &e.to_string())?,
            dir: dir_or("preview"),
        },
        "loudness" => {
            let d: LoudnessDef = rest
                .try_into()
                .map_err(|e| parse("loudness") + &e.to_string())?;
            Action::Loudness {
                params: d.params,
                required: d.required,
            }
        }
        "pdf-inspect" => {
            let d: PdfInspectDef = rest
                .try_into()
                .map_err(|e| parse("pdf-inspect") + &e.to_string())?;
            Action::PdfInspect {
                presses: d.presses,
                outputters: d.outputters,
                require_press: d.require_press,
                require_outputter: d.require_outputter,
            }
        }
        "pdf-preview" => Action::PdfPreview {
            opts: rest
                .try_into()
                .map_err(|e| parse("pdf-preview") + &e.to_string())?,
            dir: dir_or("preview"),
        },
        "deliver" => {
            let d: DeliverDef = rest
                .try_into()
                .map_err(|e| parse("deliver") + &e.to_string())?;
            d.target.validate().map_err(|e| e.to_string())?;
            Action::Deliver {
                target: d.target,
                what: d.what,
                outputter: d.outputter,
                press: d.press,
            }
        }
        "notify" => {
            let d: NotifyDef = rest
                .try_into()
                .map_err(|e| parse("notify") + &e.to_string())?;
            Action::Notify { message: d.message }
        }
        other => {
            return Err(format!(
                "unknown kind `{other}`; one of probe, transcode, preview, thumbnail, loudness, \
                 pdf-inspect, pdf-preview, deliver, notify, noop"
            ))
        }
    };
    Ok(Step { name, action })
}

/// Live progress of a running attempt, read by the heartbeat.
#[derive(Debug, Default)]
pub struct Live {
    /// 0.0 to 1.0.
    pub progress: f64,
    /// The step it is on.
    pub activity: String,
}

/// Where and how one attempt runs.
pub struct Attempt {
    /// The job.
    pub job: i64,
    /// The attempt.
    pub attempt: i64,
    /// The input file.
    pub input: PathBuf,
    /// The input's name as delivered (hot folder), for reports.
    pub original_name: String,
    /// The attempt's own output folder (staging).
    pub staging: PathBuf,
    /// Dry run.
    pub dry_run: bool,
    /// Import only.
    pub import_only: bool,
    /// Cancelled on fencing, operator cancel or shutdown.
    pub cancel: CancellationToken,
    /// Progress for heartbeats.
    pub live: Arc<Mutex<Live>>,
    /// ffmpeg and ffprobe, when the worker has them.
    pub tools: Option<Tools>,
}

/// How an attempt ended, before the queue hears of it.
#[derive(Debug)]
pub struct Ran {
    /// Steps.
    pub steps: Vec<StepRecord>,
    /// The result to register (on success).
    pub result: Value,
    /// The error, if a step failed: (message, whether a retry could help).
    pub error: Option<(String, bool)>,
    /// The attempt was cancelled.
    pub cancelled: bool,
}

/// A failed step: message and whether a retry could help.
struct StepFail(String, bool);

impl From<MediaError> for StepFail {
    fn from(e: MediaError) -> Self {
        let retry = matches!(
            e,
            MediaError::ToolNotFound { .. } | MediaError::Tool { .. } | MediaError::Output { .. }
        ) && !e.is_cancelled();
        StepFail(e.to_string(), retry)
    }
}

impl From<OutputError> for StepFail {
    fn from(e: OutputError) -> Self {
        let retry = !matches!(
            e,
            OutputError::InvalidTarget(_)
                | OutputError::FtpLogin { .. }
                | OutputError::DuplicateName(_)
                | OutputError::Exists(_)
        );
        StepFail(e.to_string(), retry)
    }
}

impl From<pdf::PdfError> for StepFail {
    fn from(e: pdf::PdfError) -> Self {
        let retry = matches!(e, pdf::PdfError::Io { .. });
        StepFail(e.to_string(), retry)
    }
}

/// Runs `pipeline` for one attempt. Never panics on bad input: every
/// failure becomes the attempt's error.
pub async fn run(pipeline: &Pipeline, a: &Attempt) -> Ran {
    let mut steps = Vec::new();
    let mut result = serde_json::Map::new();
    result.insert("input".into(), json!(a.original_name));
    if a.dry_run {
        result.insert("dry_run".into(), json!(true));
    }
    if a.import_only {
        result.insert("import".into(), json!(true));
    }
    let mut ctx = Ctx::default();
    let n = pipeline.steps.len().max(1) as f64;
    if let Err(e) = check_input(&a.input).await {
        steps.push(record(
            "input",
            "failed",
            now_ms(),
            json!({}),
            Some(e.clone()),
        ));
        return Ran {
            steps,
            result: Value::Object(result),
            error: Some((e, false)),
            cancelled: false,
        };
    }
    for (i, step) in pipeline.steps.iter().enumerate() {
        if a.cancel.is_cancelled() {
            return Ran {
                steps,
                result: Value::Object(result),
                error: None,
                cancelled: true,
            };
        }
        set_live(a, i as f64 / n, &step.name);
        let started = now_ms();
        let outcome = run_step(step, a, &mut ctx, i as f64 / n, 1.0 / n).await;
        match outcome {
            Ok(Some(output)) => {
                steps.push(record(&step.name, "succeeded", started, output, None));
            }
            Ok(None) => {
                steps.push(record(&step.name, "skipped", started, json!({}), None));
            }
            Err(StepFail(message, retry)) => {
                let cancelled = a.cancel.is_cancelled();
                steps.push(record(
                    &step.name,
                    "failed",
                    started,
                    json!({}),
                    Some(message.clone()),
                ));
                for (k, v) in ctx.into_result() {
                    result.insert(k, v);
                }
                return Ran {
                    steps,
                    result: Value::Object(result),
                    error: (!cancelled).then(|| (format!("{}: {message}", step.name), retry)),
                    cancelled,
                };
            }
        }
    }
    set_live(a, 1.0, "");
    for (k, v) in ctx.into_result() {
        result.insert(k, v);
    }
    Ran {
        steps,
        result: Value::Object(result),
        error: None,
        cancelled: false,
    }
}

fn record(
    name: &str,
    state: &str,
    started: i64,
    output: Value,
    error: Option<String>,
) -> StepRecord {
    StepRecord {
        name: name.into(),
        state: state.into(),
        started_ms: started,
        finished_ms: now_ms(),
        output,
        error,
    }
}

fn set_live(a: &Attempt, progress: f64, activity: &str) {
    if let Ok(mut l) = a.live.lock() {
        l.progress = progress.clamp(0.0, 1.0);
        l.activity = activity.to_string();
    }
}

async fn check_input(input: &Path) -> Result<(), String> {
    match tokio::fs::symlink_metadata(input).await {
        Err(e) => Err(format!("input {} cannot be read: {e}", input.display())),
        Ok(m) if !m.is_file() => Err(format!("input {} is not a regular file", input.display())),
        Ok(m) if m.len() == 0 => Err(format!("input {} is empty (0 bytes)", input.display())),
        Ok(_) => Ok(()),
    }
}

/// What earlier steps found, for later ones.
#[derive(Default)]
struct Ctx {
    probe: Option<media::Probe>,
    pdf: Option<pdf::PdfInfo>,
    press: Option<String>,
    outputter: Option<String>,
    outputs: Vec<PathBuf>,
    previews: Vec<PathBuf>,
    extra: BTreeMap<String, Value>,
}

impl Ctx {
    fn into_result(self) -> BTreeMap<String, Value> {
        let mut m = self.extra;
        if let Some(p) = &self.probe {
            m.insert(
                "probe".into(),
                json!({ "duration_s": p.duration_s, "format": p.format_name, "streams": p.streams }),
            );
        }
        if let Some(p) = &self.pdf {
            m.insert("pdf".into(), serde_json::to_value(p).unwrap_or(Value::Null));
        }
        if let Some(p) = &self.press {
            m.insert("press".into(), json!(p));
        }
        if let Some(o) = &self.outputter {
            m.insert("outputter".into(), json!(o));
        }
        m
    }
}

fn tools(a: &Attempt) -> Result<&Tools, StepFail> {
    a.tools.as_ref().ok_or_else(|| {
        StepFail(
            "ffmpeg/ffprobe are not available on this worker".into(),
            true,
        )
    })
}

async fn ensure_probe(a: &Attempt, ctx: &mut Ctx) -> Result<media::Probe, StepFail> {
    if let Some(p) = &ctx.probe {
        return Ok(p.clone());
    }
    let p = media::probe(tools(a)?, &a.input, &a.cancel).await?;
    ctx.probe = Some(p.clone());
    Ok(p)
}

fn rel(a: &Attempt, files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            f.strip_prefix(&a.staging)
                .unwrap_or(f)
                .display()
                .to_string()
        })
        .collect()
}

fn progress_opts(a: &Attempt, base: f64, span: f64, duration: Option<f64>) -> RunOptions {
    let live = a.live.clone();
    let mut opts = RunOptions::with_cancel(a.cancel.clone());
    opts.duration_s = duration;
    opts.on_progress = Some(Box::new(move |p: media::Progress| {
        if let (Some(pct), Ok(mut l)) = (p.percent, live.lock()) {
            l.progress = (base + span * f64::from(pct) / 100.0).clamp(0.0, 1.0);
        }
    }));
    opts
}

async fn run_step(
    step: &Step,
    a: &Attempt,
    ctx: &mut Ctx,
    base: f64,
    span: f64,
) -> Result<Option<Value>, StepFail> {
    match &step.action {
        Action::Noop => Ok(Some(json!({}))),
        Action::Probe => {
            let p = ensure_probe(a, ctx).await?;
            Ok(Some(
                json!({ "duration_s": p.duration_s, "format": p.format_name, "streams": p.streams.len() }),
            ))
        }
        Action::Transcode { profile, dir } => {
            let p = ensure_probe(a, ctx).await?;
            let out = a.staging.join(dir);
            let files = media::transcode(
                tools(a)?,
                profile,
                &a.input,
                &out,
                &p,
                progress_opts(a, base, span, Some(p.duration_s)),
            )
            .await?;
            ctx.outputs.extend(all_files(&out));
            Ok(Some(json!({ "files": rel(a, &files) })))
        }
        Action::Preview { params, dir } => {
            let p = ensure_probe(a, ctx).await?;
            let out = a.staging.join(dir);
            let file = media::preview(
                tools(a)?,
                &a.input,
                &out,
                params,
                progress_opts(a, base, span, Some(p.duration_s)),
            )
            .await?;
            ctx.outputs.push(file.clone());
            ctx.previews.push(file.clone());
            Ok(Some(json!({ "files": rel(a, &[file]) })))
        }
        Action::Thumbnail { params, dir } => {
            let p = ensure_probe(a, ctx).await?;
            let out = a.staging.join(dir);
            let files =
                media::thumbnails(tools(a)?, &a.input, &out, params, p.duration_s, &a.cancel)
                    .await?;
            ctx.outputs.extend(files.iter().cloned());
            ctx.previews.extend(files.iter().cloned());
            Ok(Some(json!({ "files": rel(a, &files) })))
        }
        Action::Loudness { params, required } => {
            let l = media::loudness(tools(a)?, &a.input, params, &a.cancel).await?;
            let value = serde_json::to_value(&l).unwrap_or(Value::Null);
            ctx.extra.insert("loudness".into(), value.clone());
            if *required && !l.passed {
                return Err(StepFail(
                    format!(
                        "loudness out of range: {}",
                        l.reason.unwrap_or_else(|| "no reason given".into())
                    ),
                    false,
                ));
            }
            Ok(Some(value))
        }
        Action::PdfInspect {
            presses,
            outputters,
            require_press,
            require_outputter,
        } => {
            let input = a.input.clone();
            let info = tokio::task::spawn_blocking(move || pdf::inspect(&input))
                .await
                .map_err(|e| StepFail(format!("pdf-inspect stopped: {e}"), true))??;
            let press = pdf::detect_press(&info, presses).map(|p| p.name.clone());
            let outputter = pdf::detect_outputter(&info, &a.original_name, outputters);
            if *require_press && press.is_none() {
                return Err(StepFail(
                    "no printing press recognised (no Machine mark and no plate size match)".into(),
                    false,
                ));
            }
            if *require_outputter && outputter.is_none() {
                return Err(StepFail(
                    "no outputter recognised (no Outputter mark and no name token)".into(),
                    false,
                ));
            }
            let out = json!({
                "pages": info.pages, "plates": info.plates, "creator": info.creator,
                "press": press, "outputter": outputter,
            });
            ctx.pdf = Some(info);
            ctx.press = press;
            ctx.outputter = outputter;
            Ok(Some(out))
        }
        Action::PdfPreview { opts, dir } => {
            let out = a.staging.join(dir);
            tokio::fs::create_dir_all(&out)
                .await
                .map_err(|e| StepFail(format!("cannot create {}: {e}", out.display()), true))?;
            let files = pdf::preview(&a.input, &out, opts, &a.cancel).await?;
            ctx.outputs.extend(files.iter().cloned());
            ctx.previews.extend(files.iter().cloned());
            Ok(Some(json!({ "files": rel(a, &files) })))
        }
        Action::Deliver {
            target,
            what,
            outputter,
            press,
        } => {
            if a.import_only {
                return Ok(None);
            }
            let wanted = |want: &Option<String>, got: &Option<String>| match want {
                None => true,
                Some(w) => got.as_ref().is_some_and(|g| g.eq_ignore_ascii_case(w)),
            };
            if !wanted(outputter, &ctx.outputter) || !wanted(press, &ctx.press) {
                return Ok(None);
            }
            let files: Vec<PathBuf> = match what {
                What::Input => vec![a.input.clone()],
                What::Outputs => ctx.outputs.clone(),
                What::Previews => ctx.previews.clone(),
            };
            if files.is_empty() {
                return Ok(None);
            }
            let report = output::deliver(
                &files,
                target,
                &DeliverOptions { dry_run: a.dry_run },
                &a.cancel,
            )
            .await?;
            let list: Vec<Value> = report
                .delivered
                .iter()
                .map(|d| json!({ "destination": d.destination, "bytes": d.bytes, "attempts": d.attempts }))
                .collect();
            let entry = ctx
                .extra
                .entry("delivered".into())
                .or_insert_with(|| json!([]));
            if let Value::Array(arr) = entry {
                arr.extend(list.iter().cloned());
            }
            Ok(Some(
                json!({ "dry_run": report.dry_run, "delivered": list }),
            ))
        }
        Action::Notify { message } => {
            if a.import_only || a.dry_run {
                return Ok(None);
            }
            let text = render(message, a, ctx);
            tracing::info!(job = a.job, message = %text, "ingest notification");
            ctx.extra.insert("notified".into(), json!(text));
            Ok(Some(json!({ "message": text, "channel": "log" })))
        }
    }
}

fn render(template: &str, a: &Attempt, ctx: &Ctx) -> String {
    let mut vars: Vec<(&str, String)> = vec![
        ("name", a.original_name.clone()),
        ("job", a.job.to_string()),
        ("press", ctx.press.clone().unwrap_or_default()),
        ("outputter", ctx.outputter.clone().unwrap_or_default()),
    ];
    if let Some(p) = &ctx.pdf {
        vars.push(("plates", p.plates.to_string()));
        vars.push(("pages", p.pages.to_string()));
        vars.push(("order", p.order.clone().unwrap_or_default()));
    }
    if let Some(p) = &ctx.probe {
        vars.push(("duration", format!("{:.1}", p.duration_s)));
    }
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), &v);
    }
    out
}

/// Every regular file under `dir`, sorted.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipelines(text: &str) -> Result<Vec<Pipeline>, PipelineError> {
        #[derive(Deserialize)]
        struct Doc {
            pipeline: Vec<toml::Value>,
        }
        let doc: Doc = toml::from_str(text).map_err(|e| PipelineError {
            pipeline: "?".into(),
            message: e.to_string(),
        })?;
        parse_pipelines(&doc.pipeline)
    }

    #[test]
    fn reads_steps_and_refuses_mistakes() {
        let p = pipelines(
            r#"
            [[pipeline]]
            name = "media"
            [[pipeline.step]]
            kind = "probe"
            [[pipeline.step]]
            kind = "transcode"
            profile = "archive"
            codec = "x264"
            [[pipeline.step]]
            kind = "deliver"
            what = "outputs"
            target = { kind = "dir", path = "/tmp/out" }
            "#,
        )
        .unwrap();
        assert_eq!(p[0].steps.len(), 3);
        assert_eq!(p[0].tools(), vec![Tool::Ffmpeg]);
        assert!(
            matches!(p[0].steps[1].action, Action::Transcode { ref dir, .. } if dir == "archive")
        );

        for (bad, says) in [
            ("[[pipeline]]\nname = \"a\"\n", "has no"),
            ("[[pipeline]]\nname = \"a b\"\n[[pipeline.step]]\nkind = \"noop\"\n", "is not"),
            ("[[pipeline]]\nname = \"noop\"\n[[pipeline.step]]\nkind = \"noop\"\n", "taken"),
            ("[[pipeline]]\nname = \"a\"\n[[pipeline.step]]\nkind = \"fly\"\n", "unknown kind"),
            ("[[pipeline]]\nname = \"a\"\n[[pipeline.step]]\nkind = \"probe\"\nx = 1\n", "no parameters"),
            ("[[pipeline]]\nname = \"a\"\n[[pipeline.step]]\nkind = \"transcode\"\nprofile = \"archive\"\ncrf = 99\n", "crf"),
            ("[[pipeline]]\nname = \"a\"\n[[pipeline.step]]\nkind = \"preview\"\ndir = \"../x\"\n", "plain folder"),
            ("[[pipeline]]\nname = \"a\"\n[[pipeline.step]]\nkind = \"deliver\"\n", "target"),
        ] {
            let e = pipelines(bad).expect_err(bad).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
