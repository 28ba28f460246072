//! Backups with retention in `backup.dir` and on a backup host over SSH,
//! restore by name, `mirror` (staging from production) and the database's
//! environment marker.
//!
//! Backup files are named `efir-<environment>-<UTC time>.<db|pgdump>`
//! (`efir-production-20261205T013000.123Z.pgdump`); retention only ever
//! deletes files of that form, of the same environment and database kind.
//! The backup host is reached with the OpenSSH client in batch mode with
//! strict host key checking against `backup.ssh_known_hosts`; a file is
//! streamed to a hidden temporary name and renamed once its size matches,
//! so a failed copy never leaves a file under a backup's name.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, bail, Context as _, Result};
use chrono::{DateTime, NaiveDateTime, Utc};
use efir_core::config::{BackupConfig, BackupRemote, DatabaseKind};
use efir_store::{Actor, Store};
use serde_json::json;

use crate::cli::EnvironmentCommand;
use crate::context::Ctx;
use crate::manage::Report;

/// Environment part of a backup's name when the database has no marker.
pub const UNMARKED: &str = "unmarked";

const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// The file extension of backups of a database kind.
pub fn extension(kind: DatabaseKind) -> &'static str {
    match kind {
        DatabaseKind::Sqlite => "db",
        DatabaseKind::Postgres => "pgdump",
    }
}

/// A backup's name taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupName {
    /// The file name.
    pub name: String,
    /// Environment marker of the database it was taken from.
    pub environment: String,
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// `db` or `pgdump`.
    pub ext: String,
}

impl BackupName {
    /// A new name for a backup taken now.
    pub fn new(environment: &str, kind: DatabaseKind, at: DateTime<Utc>) -> BackupName {
        let ext = extension(kind);
        BackupName {
            name: format!("efir-{environment}-{}.{ext}", at.format(TIME_FORMAT)),
            environment: environment.to_string(),
            at,
            ext: ext.to_string(),
        }
    }

    /// Parses a file name of Efir's own form; `None` for anything else.
    pub fn parse(name: &str) -> Option<BackupName> {
        let rest = name.strip_prefix("efir-")?;
        let (stem, ext) = rest.rsplit_once('.')?;
        if ext != "db" && ext != "pgdump" {
            return None;
        }
        let (environment, time) = stem.rsplit_once('-')?;
        if environment != UNMARKED && efir_store::meta::check_environment(environment).is_err() {
            return None;
        }
        let at = NaiveDateTime::parse_from_str(time, TIME_FORMAT)
            .ok()?
            .and_utc();
        // Only the canonical spelling, so that names are safe in a shell.
        if at.format(TIME_FORMAT).to_string() != time {
            return None;
        }
        Some(BackupName {
            name: name.to_string(),
            environment: environment.to_string(),
            at,
            ext: ext.to_string(),
        })
    }
}

/// One backup found in a place.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    /// `local` or `remote`.
    pub place: &'static str,
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was taken (from its name), RFC 3339.
    pub at: String,
    #[serde(skip)]
    parsed: Option<BackupName>,
}

impl Listed {
    fn new(place: &'static str, parsed: BackupName, bytes: u64) -> Listed {
        Listed {
            place,
            name: parsed.name.clone(),
            bytes,
            at: parsed.at.to_rfc3339(),
            parsed: Some(parsed),
        }
    }

    fn parsed(&self) -> Option<&BackupName> {
        self.parsed.as_ref()
    }
}

/// The names retention removes from `found`: of the group (`environment`,
/// `ext`), all but the `keep` newest, and with `keep_days` those older than
/// that; the newest of the group is always kept.
pub fn to_remove(
    found: &[Listed],
    environment: &str,
    ext: &str,
    keep: u32,
    keep_days: u32,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut group: Vec<&BackupName> = found
        .iter()
        .filter_map(Listed::parsed)
        .filter(|b| b.environment == environment && b.ext == ext)
        .collect();
    group.sort_by_key(|b| std::cmp::Reverse(b.at));
    let oldest_kept = now - chrono::Duration::days(i64::from(keep_days));
    group
        .iter()
        .enumerate()
        .filter(|(i, b)| *i > 0 && (*i >= keep as usize || (keep_days > 0 && b.at < oldest_kept)))
        .map(|(_, b)| b.name.clone())
        .collect()
}

/// A path of the configuration, relative ones taken from `data_dir`.
fn resolve(ctx: &Ctx, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        ctx.config().data_dir.join(p)
    }
}

/// Logs a step, and shows it on stderr when run from the command line.
fn step(ctx: &Ctx, msg: &str) {
    tracing::info!("{msg}");
    if ctx.interactive {
        eprintln!("{msg}");
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        0..=9_999 => format!("{n} B"),
        10_000..=9_999_999 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

// ---------------------------------------------------------------- local

fn list_local(dir: &Path) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let Some(parsed) = entry.file_name().to_str().and_then(BackupName::parse) else {
            continue;
        };
        let meta = entry
            .metadata()
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        if meta.is_file() {
            out.push(Listed::new("local", parsed, meta.len()));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn fsync(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", path.display()))
}

/// Writes a backup of `store` as `dir/name`: to a hidden temporary name
/// first, synced, then renamed.
async fn write_local(store: &Store, dir: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{name}.partial"));
    let done = dir.join(name);
    let _ = std::fs::remove_file(&tmp);
    let written = async {
        store.backup(&tmp).await?;
        fsync(&tmp)?;
        std::fs::rename(&tmp, &done)
            .with_context(|| format!("cannot rename to {}", done.display()))?;
        fsync(dir)
    }
    .await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(done)
}

// ---------------------------------------------------------------- SSH

/// The backup host as the OpenSSH client reaches it.
pub struct Ssh {
    remote: BackupRemote,
    port: u16,
    identity: Option<PathBuf>,
    known_hosts: PathBuf,
}

impl Ssh {
    /// The backup host of `cfg`, `None` when `backup.remote` is unset.
    fn from_config(ctx: &Ctx, cfg: &BackupConfig) -> Result<Option<Ssh>> {
        let Some(remote) = &cfg.remote else {
            return Ok(None);
        };
        let remote = BackupRemote::parse(remote).map_err(|e| anyhow!("backup.remote: {e}"))?;
        let known_hosts = cfg
            .ssh_known_hosts
            .as_deref()
            .map(|p| resolve(ctx, p))
            .ok_or_else(|| anyhow!("backup.ssh_known_hosts is required with backup.remote"))?;
        if !known_hosts.is_file() {
            bail!(
                "backup.ssh_known_hosts: {} does not exist; put the backup host's key there \
                 (ssh-keyscan -p {} {} >> {} and check its fingerprint)",
                known_hosts.display(),
                cfg.ssh_port,
                remote.host,
                known_hosts.display()
            );
        }
        let identity = cfg.ssh_identity.as_deref().map(|p| resolve(ctx, p));
        if let Some(id) = &identity {
            if !id.is_file() {
                bail!("backup.ssh_identity: {} does not exist", id.display());
            }
        }
        Ok(Some(Ssh {
            remote,
            port: cfg.ssh_port,
            identity,
            known_hosts,
        }))
    }

    /// `user@host:/path`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}@{}:{}",
            self.remote.user, self.remote.host, self.remote.path
        )
    }

    fn command(&self, remote_cmd: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("ssh");
        c.arg("-o")
            .arg("BatchMode=yes")
            .arg("-o")
            .arg("StrictHostKeyChecking=yes")
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .arg("-o")
            .arg("GlobalKnownHostsFile=/dev/null")
            .arg("-o")
            .arg("ConnectTimeout=10")
            .arg("-o")
            .arg("ServerAliveInterval=15")
            .arg("-o")
            .arg("ServerAliveCountMax=4")
            .arg("-o")
            .arg("LogLevel=ERROR")
            .arg("-p")
            .arg(self.port.to_string());
        if let Some(id) = &self.identity {
            c.arg("-i").arg(id).arg("-o").arg("IdentitiesOnly=yes");
        }
        c.arg("--")
            .arg(format!("{}@{}", self.remote.user, self.remote.host))
            .arg(remote_cmd)
            .kill_on_drop(true);
        c
    }

    /// Runs `remote_cmd` with `stdin` and `stdout`; returns stdout when it
    /// was captured.
    async fn run(
        &self,
        what: &str,
        remote_cmd: &str,
        stdin: Stdio,
        stdout: Option<Stdio>,
    ) -> Result<String> {
        let mut cmd = self.command(remote_cmd);
        cmd.stdin(stdin).stderr(Stdio::piped());
        let capture = stdout.is_none();
        cmd.stdout(stdout.unwrap_or_else(Stdio::piped));
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!("ssh is not installed; install the OpenSSH client (Debian: apt-get install openssh-client)")
            } else {
                anyhow!("cannot run ssh: {e}")
            }
        })?;
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| anyhow!("ssh: {e}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            bail!(
                "{what} on {} (port {}) failed{}: {}",
                self.describe(),
                self.port,
                match out.status.code() {
                    Some(255) => " (ssh could not connect or log in)".to_string(),
                    Some(c) => format!(" (exit {c})"),
                    None => String::new(),
                },
                if stderr.is_empty() {
                    "no message"
                } else {
                    stderr
                }
            );
        }
        Ok(if capture {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            String::new()
        })
    }

    /// The backups in the remote directory.
    pub async fn list(&self) -> Result<Vec<Listed>> {
        let dir = &self.remote.path;
        let text = self
            .run(
                "listing backups",
                &format!(
                    "test -d {dir} || exit 0; find {dir} -maxdepth 1 -type f -name 'efir-*' -printf '%s %f\\n'"
                ),
                Stdio::null(),
                None,
            )
            .await?;
        let mut out = Vec::new();
        for line in text.lines() {
            let Some((size, name)) = line.split_once(' ') else {
                continue;
            };
            let (Ok(bytes), Some(parsed)) = (size.parse(), BackupName::parse(name)) else {
                continue;
            };
            out.push(Listed::new("remote", parsed, bytes));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Copies `file` to the remote directory as `name` (through a hidden
    /// temporary name, renamed once its size is right).
    pub async fn upload(&self, file: &Path, name: &str) -> Result<()> {
        let bytes = std::fs::metadata(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .len();
        let input =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        let dir = &self.remote.path;
        let tmp = format!(".{name}.partial");
        let cmd = format!(
            "umask 077 && mkdir -p {dir} && cd {dir} && cat > {tmp} && \
             test \"$(wc -c < {tmp})\" -eq {bytes} && mv -f {tmp} {name} || \
             {{ rm -f {dir}/{tmp}; exit 1; }}"
        );
        self.run("copying the backup", &cmd, Stdio::from(input), None)
            .await
            .map(|_| ())
    }

    /// Copies the remote backup `name` (of `bytes` bytes) to `to`.
    pub async fn fetch(&self, name: &str, bytes: u64, to: &Path) -> Result<()> {
        let out =
            std::fs::File::create(to).with_context(|| format!("cannot create {}", to.display()))?;
        let cmd = format!("cat {}/{name}", self.remote.path);
        self.run(
            "fetching the backup",
            &cmd,
            Stdio::null(),
            Some(Stdio::from(out)),
        )
        .await?;
        let got = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
        if got != bytes {
            let _ = std::fs::remove_file(to);
            bail!("fetching {name}: got {got} bytes of {bytes}");
        }
        Ok(())
    }

    /// Deletes the remote backups `names` (each of Efir's own form).
    pub async fn remove(&self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        if let Some(bad) = names.iter().find(|n| BackupName::parse(n).is_none()) {
            bail!("refusing to delete `{bad}`: not an Efir backup name");
        }
        let cmd = format!("cd {} && rm -f -- {}", self.remote.path, names.join(" "));
        self.run("removing old backups", &cmd, Stdio::null(), None)
            .await
            .map(|_| ())
    }
}

// ---------------------------------------------------------------- commands

/// The environment part of a new backup's name; a marker written other
/// than by `environment set` (so perhaps unsafe in a file name or a remote
/// command) is refused.
async fn environment_of(store: &Store) -> Result<String> {
    match store.environment().await? {
        None => Ok(UNMARKED.to_string()),
        Some(env) => {
            efir_store::meta::check_environment(&env).map_err(|e| {
                anyhow!("the database's environment marker is not valid ({e}); fix it with `efir manage environment set NAME`")
            })?;
            Ok(env)
        }
    }
}

/// `efir manage backup` without `--output`: to `backup.dir` and/or
/// `backup.remote` with retention; with `list`, lists both places.
pub async fn configured_backup(ctx: &Ctx, list: bool) -> Result<Report> {
    let cfg = ctx.config().backup.clone();
    if !cfg.configured() {
        bail!(
            "no --output given and no [backup] place configured: \
             set backup.dir and/or backup.remote (EFIR_BACKUP_DIR, EFIR_BACKUP_REMOTE)"
        );
    }
    let dir = cfg.dir.as_deref().map(|d| resolve(ctx, d));
    let ssh = Ssh::from_config(ctx, &cfg)?;
    if list {
        return list_backups(dir.as_deref(), ssh.as_ref()).await;
    }

    let store = ctx.store();
    let environment = environment_of(store).await?;
    let kind = store.kind();
    let name = BackupName::new(&environment, kind, Utc::now());
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut out = json!({ "name": name.name, "environment": environment });

    // The local copy (or a temporary one when only the remote keeps it).
    let scratch;
    let file = match &dir {
        Some(dir) => {
            step(
                ctx,
                &format!("backing up {} to {}", store.describe(), dir.display()),
            );
            write_local(store, dir, &name.name)
                .await
                .with_context(|| format!("backup to {} failed", dir.display()))?
        }
        None => {
            scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
            step(ctx, &format!("backing up {}", store.describe()));
            write_local(store, scratch.path(), &name.name)
                .await
                .context("backup failed")?
        }
    };
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    out["bytes"] = json!(bytes);
    if dir.is_some() {
        lines.push(format!(
            "backup written to {} ({})",
            file.display(),
            human_bytes(bytes)
        ));
        out["local"] = json!(file);
    }

    if let Some(ssh) = &ssh {
        step(ctx, &format!("copying {} to {}", name.name, ssh.describe()));
        let started = std::time::Instant::now();
        match ssh.upload(&file, &name.name).await {
            Ok(()) => {
                lines.push(format!(
                    "copied to {}/{} in {:.1} s",
                    ssh.describe(),
                    name.name,
                    started.elapsed().as_secs_f64()
                ));
                out["remote"] = json!(format!("{}/{}", ssh.describe(), name.name));
                match remote_retention(ssh, &cfg, &name).await {
                    Ok(removed) => {
                        if !removed.is_empty() {
                            lines.push(format!(
                                "retention on {}: removed {}",
                                ssh.describe(),
                                removed.join(", ")
                            ));
                        }
                        out["remote_removed"] = json!(removed);
                    }
                    Err(e) => failures.push(format!("{e:#}")),
                }
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }

    if let Some(dir) = &dir {
        let found = list_local(dir)?;
        let removed = to_remove(
            &found,
            &name.environment,
            &name.ext,
            cfg.keep,
            cfg.keep_days,
            Utc::now(),
        );
        for n in &removed {
            std::fs::remove_file(dir.join(n))
                .with_context(|| format!("cannot remove {}", dir.join(n).display()))?;
        }
        if !removed.is_empty() {
            lines.push(format!(
                "retention in {}: removed {}",
                dir.display(),
                removed.join(", ")
            ));
        }
        out["local_removed"] = json!(removed);
    }
    for f in &failures {
        lines.push(format!("FAILED: {f}"));
    }
    let mut report = Report::new(lines.join("\n"), out);
    if !failures.is_empty() {
        report.failed = Some(failures.join("; "));
    }
    Ok(report)
}

async fn remote_retention(ssh: &Ssh, cfg: &BackupConfig, name: &BackupName) -> Result<Vec<String>> {
    let found = ssh.list().await?;
    let removed = to_remove(
        &found,
        &name.environment,
        &name.ext,
        cfg.keep,
        cfg.keep_days,
        Utc::now(),
    );
    ssh.remove(&removed).await?;
    Ok(removed)
}

async fn list_backups(dir: Option<&Path>, ssh: Option<&Ssh>) -> Result<Report> {
    let mut all = Vec::new();
    let mut text = String::new();
    if let Some(dir) = dir {
        let found = list_local(dir)?;
        text.push_str(&format!("{} ({} backups)\n", dir.display(), found.len()));
        all.extend(found);
    }
    if let Some(ssh) = ssh {
        let found = ssh.list().await?;
        text.push_str(&format!("{} ({} backups)\n", ssh.describe(), found.len()));
        all.extend(found);
    }
    for b in &all {
        text.push_str(&format!(
            "{:<6} {:<56} {:>10}  {}\n",
            b.place,
            b.name,
            human_bytes(b.bytes),
            b.at
        ));
    }
    Ok(Report::new(text.trim_end(), json!(all)))
}

/// What `restore` restores.
#[derive(Debug, Clone)]
pub enum RestoreFrom {
    /// A file.
    File(PathBuf),
    /// A backup by name, from `backup.dir` or `backup.remote`.
    Name(String),
    /// The newest backup of this database's kind and environment.
    Latest,
}

/// `efir manage restore`: finds (and if need be fetches) the backup, then
/// replaces the database with it.
pub async fn restore(ctx: Ctx, from: RestoreFrom, yes: bool) -> Result<Report> {
    let file = match from {
        RestoreFrom::File(f) => return crate::manage::restore(ctx, &f, yes).await,
        other => other,
    };
    if !yes {
        bail!(
            "restore replaces every row of {}; run again with --yes to confirm",
            ctx.store().describe()
        );
    }
    let cfg = ctx.config().backup.clone();
    if !cfg.configured() {
        bail!("--latest and --name pick from backup.dir or backup.remote, and neither is set");
    }
    let dir = cfg.dir.as_deref().map(|d| resolve(&ctx, d));
    let ssh = Ssh::from_config(&ctx, &cfg)?;
    let ext = extension(ctx.store().kind());
    let mut found = match &dir {
        Some(d) => list_local(d)?,
        None => Vec::new(),
    };
    if let Some(ssh) = &ssh {
        found.extend(ssh.list().await?);
    }
    let wanted: &Listed = match &file {
        RestoreFrom::Name(name) => {
            let parsed = BackupName::parse(name)
                .ok_or_else(|| anyhow!("`{name}` is not the name of an Efir backup"))?;
            if parsed.ext != ext {
                bail!(
                    "{name} is a backup of {} and this database is {}; \
                     a backup can only be restored into a database of the same kind",
                    kind_name(&parsed.ext),
                    kind_name(ext)
                );
            }
            // The local copy first.
            found
                .iter()
                .filter(|b| &b.name == name)
                .min_by_key(|b| b.place != "local")
                .ok_or_else(|| anyhow!("no backup named {name} in {}", places(&dir, &ssh)))?
        }
        _ => {
            let marker = ctx.store().environment().await.ok().flatten();
            found
                .iter()
                .filter(|b| {
                    b.parsed().is_some_and(|p| {
                        p.ext == ext && marker.as_ref().is_none_or(|m| &p.environment == m)
                    })
                })
                .max_by(|a, b| {
                    a.name
                        .cmp(&b.name)
                        .then((a.place == "local").cmp(&(b.place == "local")))
                })
                .ok_or_else(|| {
                    anyhow!(
                        "no {} backup{} in {}",
                        kind_name(ext),
                        marker
                            .as_ref()
                            .map(|m| format!(" of environment {m}"))
                            .unwrap_or_default(),
                        places(&dir, &ssh)
                    )
                })?
        }
    };
    let scratch;
    let path = match (&dir, wanted.place) {
        (Some(d), "local") => d.join(&wanted.name),
        _ => {
            let ssh = ssh
                .as_ref()
                .ok_or_else(|| anyhow!("backup.remote is not set"))?;
            scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
            let to = scratch.path().join(&wanted.name);
            step(
                &ctx,
                &format!("fetching {} from {}", wanted.name, ssh.describe()),
            );
            ssh.fetch(&wanted.name, wanted.bytes, &to).await?;
            to
        }
    };
    step(&ctx, &format!("restoring {}", wanted.name));
    let mut report = crate::manage::restore(ctx, &path, true).await?;
    report.text = format!("{} ({} backup {})", report.text, wanted.place, wanted.name);
    report.json["backup"] = json!(wanted.name);
    report.json["place"] = json!(wanted.place);
    Ok(report)
}

fn kind_name(ext: &str) -> &'static str {
    if ext == "db" {
        "SQLite"
    } else {
        "PostgreSQL"
    }
}

fn places(dir: &Option<PathBuf>, ssh: &Option<Ssh>) -> String {
    let mut p = Vec::new();
    if let Some(d) = dir {
        p.push(d.display().to_string());
    }
    if let Some(s) = ssh {
        p.push(s.describe());
    }
    p.join(" or ")
}

/// `efir manage environment show|set`.
pub async fn environment(ctx: &Ctx, cmd: EnvironmentCommand, actor: Actor) -> Result<Report> {
    match cmd {
        EnvironmentCommand::Show => {
            let env = ctx.store().environment().await?;
            Ok(Report::new(
                env.clone().unwrap_or_else(|| "(not set)".into()),
                json!({ "environment": env }),
            ))
        }
        EnvironmentCommand::Set { name } => {
            let before = ctx.store().environment().await?;
            ctx.store().set_environment(actor, Some(&name)).await?;
            Ok(Report::new(
                format!(
                    "{} is now marked {name} (was {})",
                    ctx.store().describe(),
                    before.as_deref().unwrap_or("not set")
                ),
                json!({ "environment": name, "before": before }),
            ))
        }
    }
}

/// The key of the probe `mirror` writes to tell whether two URLs name the
/// same database.
const MIRROR_PROBE: &str = "mirror_probe";

/// `efir manage mirror --from URL`: replaces this database (the target)
/// with a copy of the one at `from_url` (the source).
pub async fn mirror(ctx: Ctx, from_url: &str, yes: bool) -> Result<Report> {
    let actor = Actor::Command("mirror".into());
    let source_kind = DatabaseKind::of(from_url).map_err(|e| anyhow!("--from: {e}"))?;
    let target = ctx.store();
    let target_desc = target.describe();
    if source_kind != target.kind() {
        bail!(
            "--from is a {} database and {target_desc} is not; mirror copies between databases of the same kind",
            if source_kind == DatabaseKind::Sqlite { "SQLite" } else { "PostgreSQL" }
        );
    }
    let marker = target.environment().await?;
    if marker.as_deref() == Some("production") {
        bail!("refusing to mirror over {target_desc}: it is marked production");
    }
    let from_url = efir_core::config::resolve_sqlite_url(from_url, &ctx.config().data_dir);
    if source_kind == DatabaseKind::Sqlite {
        let path = from_url
            .trim_start_matches("sqlite:")
            .trim_start_matches("//");
        let path = path.split('?').next().unwrap_or(path);
        if !Path::new(path).is_file() {
            bail!("--from: {path} does not exist");
        }
    }
    let source = Store::connect(&from_url, &ctx.connect_options())
        .await
        .with_context(|| {
            format!(
                "cannot open the source database {}",
                efir_core::config::redact_url(&from_url)
            )
        })?;
    let source_desc = source.describe();

    // Same database? Write a random probe into the target and look for it
    // in the source.
    let nonce = efir_core::secret::random_hex(16);
    let mut tx = target.begin(actor.clone()).await?;
    target.set_meta(&mut tx, MIRROR_PROBE, &nonce).await?;
    tx.audit(
        None,
        "probe",
        "mirror",
        None,
        json!({ "source": source_desc }),
    )
    .await?;
    tx.commit().await?;
    let seen = source.meta(MIRROR_PROBE).await;
    let mut tx = target.begin(actor.clone()).await?;
    target.delete_meta(&mut tx, MIRROR_PROBE).await?;
    tx.audit(
        None,
        "probe_done",
        "mirror",
        None,
        json!({ "source": source_desc }),
    )
    .await?;
    tx.commit().await?;
    match seen {
        Ok(Some(v)) if v == nonce => {
            source.close().await;
            bail!("--from names this very database ({target_desc}); nothing to mirror");
        }
        Ok(_) => {}
        Err(e) => {
            source.close().await;
            bail!("{source_desc} is not an Efir database: {e}");
        }
    }
    if !yes {
        source.close().await;
        bail!(
            "mirror replaces every row of {target_desc} with the data of {source_desc}; \
             run again with --yes to confirm"
        );
    }

    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let copy = scratch
        .path()
        .join(format!("mirror.{}", extension(source_kind)));
    step(&ctx, &format!("copying {source_desc}"));
    let started = std::time::Instant::now();
    let written = source.backup(&copy).await;
    source.close().await;
    written.with_context(|| format!("cannot copy {source_desc}"))?;
    let bytes = std::fs::metadata(&copy).map(|m| m.len()).unwrap_or(0);

    step(&ctx, &format!("replacing {target_desc}"));
    let cache = ctx.cache().clone();
    let opts = ctx.connect_options();
    let store = ctx.into_store();
    let store = store.restore(&copy, &opts).await?;
    store
        .set_environment(actor.clone(), marker.as_deref())
        .await?;
    let flushed = efir_store::cache::flush_all(&store, &cache, actor).await?;
    let clients = store.client_count().await?;
    let version = store.schema_version().await?;
    store.close().await;
    Ok(Report::new(
        format!(
            "mirrored {source_desc} into {target_desc} in {:.1} s ({}): schema version {version}, \
             {clients} operators; environment kept: {}; caches flushed (epoch {}, {} Redis keys)",
            started.elapsed().as_secs_f64(),
            human_bytes(bytes),
            marker.as_deref().unwrap_or("not set"),
            flushed.epoch,
            flushed.redis_keys_removed
        ),
        json!({
            "source": source_desc, "target": target_desc, "bytes": bytes,
            "schema_version": version, "clients": clients, "environment": marker,
            "cache": flushed,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_are_ignored() {
        let at = DateTime::parse_from_rfc3339("2026-12-05T01:30:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let n = BackupName::new("pre_prod", DatabaseKind::Postgres, at);
        assert_eq!(n.name, "efir-pre_prod-20261205T013000.123Z.pgdump");
        assert_eq!(BackupName::parse(&n.name), Some(n));
        for foreign in [
            "efir.db",
            "notes.txt",
            "efir-production-20261205T013000.123Z.sql",
            "efir-production-20261205T013000.123Z.db.partial",
            ".efir-production-20261205T013000.123Z.db.partial",
            "efir-Prod-20261205T013000.123Z.db",
            "efir-x-20261205T013000.123Z;rm.db",
            "efir-x-2026.db",
        ] {
            assert!(BackupName::parse(foreign).is_none(), "{foreign}");
        }
    }

    #[test]
    fn retention_keeps_the_newest() {
        let now = Utc::now();
        let mk = |env: &str, days: i64| {
            let b = BackupName::new(
                env,
                DatabaseKind::Sqlite,
                now - chrono::Duration::days(days),
            );
            Listed::new("local", b, 1)
        };
        let found = vec![
            mk("prod", 0),
            mk("prod", 1),
            mk("prod", 2),
            mk("prod", 3),
            mk("test", 9),
        ];
        let removed = to_remove(&found, "prod", "db", 2, 0, now);
        assert_eq!(removed, vec![found[2].name.clone(), found[3].name.clone()]);
        let removed = to_remove(
            &found,
            "prod",
            "db",
            10,
            2,
            now + chrono::Duration::hours(1),
        );
        assert_eq!(removed, vec![found[2].name.clone(), found[3].name.clone()]);
        // The newest is kept even when it is too old.
        let removed = to_remove(&found, "test", "db", 10, 1, now);
        assert!(removed.is_empty());
    }
}
