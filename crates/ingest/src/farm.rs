//! The ingest farm's settings, read once from `[ingest]` of the config:
//! timing, folders, mounts, hot folders and pipelines, all checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use efir_core::config::Config;

use crate::hotfolder::HotFolderConfig;
use crate::pipeline::{parse_pipelines, Pipeline};

/// Checked ingest settings.
#[derive(Debug, Clone)]
pub struct Farm {
    /// Between heartbeats.
    pub heartbeat: Duration,
    /// A lease's life; a worker silent this long is lost.
    pub lease: Duration,
    /// Between looks for work without a wake-up.
    pub poll: Duration,
    /// Scratch space.
    pub work_dir: PathBuf,
    /// Finished outputs (`<output_dir>/<stem>-<job>/`).
    pub output_dir: PathBuf,
    /// Named mounts a worker checks.
    pub mounts: BTreeMap<String, PathBuf>,
    /// Hot folders.
    pub hot_folders: Vec<HotFolderConfig>,
    /// Pipelines (with the built-in `noop`).
    pub pipelines: Vec<Pipeline>,
    /// Default worker slots (0: one per CPU).
    pub worker_slots: u32,
}

/// A problem in `[ingest]`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FarmError(pub String);

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl Farm {
    /// Reads and checks `[ingest]` (relative paths are taken from
    /// `data_dir`).
    pub fn from_config(config: &Config) -> Result<Farm, FarmError> {
        let ing = &config.ingest;
        let base = &config.data_dir;
        let mut pipelines = parse_pipelines(&ing.pipeline).map_err(|e| FarmError(e.to_string()))?;
        pipelines.push(Pipeline::noop());
        let mut hot_folders = Vec::new();
        for (i, v) in ing.hot_folder.iter().enumerate() {
            let mut cfg: HotFolderConfig = v
                .clone()
                .try_into()
                .map_err(|e| FarmError(format!("ingest.hot_folder #{}: {e}", i + 1)))?;
            cfg.path = absolute(base, &cfg.path);
            cfg.validate()
                .map_err(|e| FarmError(format!("ingest.hot_folder #{}: {e}", i + 1)))?;
            if !pipelines.iter().any(|p| p.name == cfg.pipeline) {
                return Err(FarmError(format!(
                    "ingest.hot_folder `{}`: no pipeline named `{}`",
                    cfg.name, cfg.pipeline
                )));
            }
            if hot_folders
                .iter()
                .any(|h: &HotFolderConfig| h.name == cfg.name)
            {
                return Err(FarmError(format!(
                    "ingest.hot_folder `{}` is declared twice",
                    cfg.name
                )));
            }
            hot_folders.push(cfg);
        }
        let secs = |s: f64| Duration::from_secs_f64(s.max(0.001));
        Ok(Farm {
            heartbeat: secs(ing.heartbeat_secs),
            lease: secs(ing.lease_secs),
            poll: secs(ing.poll_secs),
            work_dir: absolute(
                base,
                ing.work_dir.as_deref().unwrap_or(Path::new("ingest/work")),
            ),
            output_dir: absolute(
                base,
                ing.output_dir
                    .as_deref()
                    .unwrap_or(Path::new("ingest/output")),
            ),
            mounts: ing
                .mounts
                .iter()
                .map(|(k, v)| (k.clone(), absolute(base, v)))
                .collect(),
            hot_folders,
            pipelines,
            worker_slots: ing.worker_slots,
        })
    }

    /// The pipeline called `name`.
    pub fn pipeline(&self, name: &str) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.name == name)
    }

    /// The hot folder called `name`.
    pub fn hot_folder(&self, name: &str) -> Option<&HotFolderConfig> {
        self.hot_folders.iter().find(|h| h.name == name)
    }

    /// Checks that every mount, the work and the output folder are
    /// readable and writable; the first problem, if any.
    pub fn check_mounts(&self) -> Result<(), String> {
        for (name, path) in &self.mounts {
            check_dir(path, false)
                .map_err(|e| format!("mount `{name}` ({}): {e}", path.display()))?;
        }
        for (what, path) in [
            ("work_dir", &self.work_dir),
            ("output_dir", &self.output_dir),
        ] {
            check_dir(path, true).map_err(|e| format!("{what} ({}): {e}", path.display()))?;
        }
        Ok(())
    }
}

/// A directory that exists and takes a file. Own folders are created when
/// missing; a missing mount is never recreated (that would hide it).
fn check_dir(path: &Path, create: bool) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err("not a directory".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                return Err("missing".into());
            }
            std::fs::create_dir_all(path).map_err(|e| format!("cannot create: {e}"))?;
        }
        Err(e) => return Err(e.to_string()),
    }
    let probe = path.join(format!(".efir-check-{}", std::process::id()));
    std::fs::write(&probe, b"ok").map_err(|e| format!("not writable: {e}"))?;
    std::fs::remove_file(&probe).map_err(|e| format!("cannot remove a file: {e}"))?;
    std::fs::read_dir(path).map_err(|e| format!("not readable: {e}"))?;
    Ok(())
}
