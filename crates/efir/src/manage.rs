//! `efir manage …`: the management commands, also run in-process by the
//! scheduler.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use efir_store::cache::flush_all;
use efir_store::clients::{Client, NewClient};
use efir_store::users::NewUser;
use efir_store::{Actor, Store, StoreError};
use serde_json::{json, Value};

use crate::cli::{
    CloneClientArgs, CreateClientArgs, CreateUserArgs, ManageCommand, ScheduleCommand,
};
use crate::context::Ctx;

/// What a command produced: lines for people and the same as JSON.
#[derive(Debug)]
pub struct Report {
    /// Text for a terminal.
    pub text: String,
    /// The result for `--json`.
    pub json: Value,
    /// Whether the command failed after all (its report is still shown,
    /// then the exit code is 1).
    pub failed: Option<String>,
}

impl Report {
    pub(crate) fn new(text: impl Into<String>, json: Value) -> Report {
        Report {
            text: text.into(),
            json,
            failed: None,
        }
    }
}

/// A spinner on stderr for a long step, when stderr is a terminal and the
/// command was started by a person (not the scheduler).
pub(crate) fn spinner(ctx: &Ctx, message: &str) -> Option<indicatif::ProgressBar> {
    if !ctx.interactive || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

/// Runs one management command on behalf of `actor`.
pub async fn run(ctx: &Ctx, cmd: ManageCommand, actor: Actor) -> Result<Report> {
    match cmd {
        ManageCommand::Migrate { status, backup_dir } => {
            migrate(ctx, status, backup_dir.as_deref()).await
        }
        ManageCommand::Cases(cmd) => crate::cases::run(ctx, cmd, actor).await,
        ManageCommand::CreateSuperuser {
            username,
            password,
            email,
            no_input,
        } => create_superuser(ctx, username, password, email, no_input, actor).await,
        ManageCommand::SetupInitialData { no_sample_data } => {
            setup_initial_data(ctx, no_sample_data, actor).await
        }
        ManageCommand::CreateClient(args) => create_client(ctx, args, actor).await,
        ManageCommand::CreateUser(args) => create_user(ctx, args, actor).await,
        ManageCommand::CloneClient(args) => clone_client(ctx, args, actor).await,
        ManageCommand::ListClients => list_clients(ctx).await,
        ManageCommand::Flushall => {
            let report = flush_all(ctx.store(), ctx.cache(), actor).await?;
            Ok(Report::new(
                format!(
                    "caches cleared: cache epoch is now {} (running nodes drop their in-process caches); {} Redis keys removed",
                    report.epoch, report.redis_keys_removed
                ),
                serde_json::to_value(&report)?,
            ))
        }
        ManageCommand::Backup {
            output: Some(output),
            ..
        } => backup(ctx, &output).await,
        ManageCommand::Backup { output: None, list } => {
            crate::backup::configured_backup(ctx, list).await
        }
        ManageCommand::Restore { .. } => {
            bail!("restore runs only from the command line (it replaces the open database)")
        }
        ManageCommand::Environment(cmd) => crate::backup::environment(ctx, cmd, actor).await,
        ManageCommand::Mirror { .. } => {
            bail!("mirror runs only from the command line (it replaces the open database)")
        }
        ManageCommand::Schedule(sc) => schedule(ctx, sc).await,
        ManageCommand::Cluster(cc) => cluster(ctx, cc).await,
        ManageCommand::AuditLog {
            entity,
            client_id,
            limit,
        } => audit_log(ctx, entity, client_id, limit).await,
        ManageCommand::ClientSet { client_id, pairs } => {
            client_set(ctx, client_id, &pairs, actor).await
        }
        ManageCommand::ClientSettings { client_id } => client_settings(ctx, client_id).await,
        ManageCommand::ClearRequestLog { days } => {
            let days = days.unwrap_or(ctx.config().admin.request_log_days);
            let before = efir_store::now() - i64::from(days) * 86_400;
            let removed = efir_backoffice::admin::log::purge(ctx.store(), actor, before).await?;
            Ok(Report::new(
                format!("request log: {removed} entries older than {days} days removed"),
                json!({ "removed": removed, "days": days }),
            ))
        }
        ManageCommand::CheckStreamServices {
            client_id,
            timeout_secs,
        } => {
            let report = efir_middleware::ops::check_stream_services(
                ctx.store(),
                client_id,
                std::time::Duration::from_secs(timeout_secs),
            )
            .await?;
            let mut text = String::new();
            for h in &report {
                text.push_str(&format!(
                    "{:>5} {:<24} {:<8} {}{}\n",
                    h.id,
                    h.name,
                    h.health,
                    h.target,
                    if h.error.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", h.error)
                    }
                ));
            }
            if report.is_empty() {
                text.push_str("no enabled stream services");
            }
            Ok(Report::new(text.trim_end(), serde_json::to_value(&report)?))
        }
        ManageCommand::GeoipImport { file } => geoip_import(ctx, &file, actor).await,
        ManageCommand::Billing(cmd) => crate::billing::run(ctx, cmd, actor).await,
        ManageCommand::CacheChannelList { client_id } => {
            let ids = efir_middleware::ops::refresh_channel_lists(ctx.store(), client_id).await?;
            Ok(Report::new(
                format!(
                    "channel lists of {} operators will be rebuilt on next use",
                    ids.len()
                ),
                json!({ "clients": ids }),
            ))
        }
        cmd @ (ManageCommand::EpgSourceAdd { .. }
        | ManageCommand::EpgChannelImport { .. }
        | ManageCommand::EpgImport { .. }
        | ManageCommand::EpgPremiereImport { .. }
        | ManageCommand::RecacheIcons
        | ManageCommand::EpgExport { .. }
        | ManageCommand::EpgCheck { .. }
        | ManageCommand::EpgSourceList
        | ManageCommand::EpgChannelList { .. }
        | ManageCommand::EpgChannelSet { .. }) => crate::epg::run(ctx, cmd, actor).await,
        cmd @ (ManageCommand::RouterImportSubnets { .. }
        | ManageCommand::RouterEdgeAdd { .. }
        | ManageCommand::RouterEdgeSet { .. }
        | ManageCommand::RouterRegionSet { .. }
        | ManageCommand::RouterResync
        | ManageCommand::RouterOverrideSet { .. }
        | ManageCommand::RouterOverrideRemove { .. }) => crate::router::run(ctx, cmd, actor).await,
        cmd @ (ManageCommand::JobSubmit { .. }
        | ManageCommand::JobList { .. }
        | ManageCommand::JobCancel { .. }
        | ManageCommand::JobRetry { .. }
        | ManageCommand::WorkerList { .. }) => crate::ingest::run(ctx, cmd, actor).await,
        ManageCommand::Messages(cmd) => crate::messages::run(ctx, cmd, actor).await,
        ManageCommand::Stats(c) => crate::stats::run(ctx, c, actor).await,
        ManageCommand::DeleteAuthkeys { client_id } => {
            let removed =
                efir_middleware::ops::delete_authkeys(ctx.store(), client_id, actor).await?;
            Ok(Report::new(
                format!("ended {removed} sessions of client {client_id}"),
                json!({ "client_id": client_id, "sessions": removed }),
            ))
        }
    }
}

async fn migrate(ctx: &Ctx, status_only: bool, backup_dir: Option<&Path>) -> Result<Report> {
    let store = ctx.store();
    if !status_only {
        let backup = match backup_dir {
            Some(dir) => backup_before_migrate(ctx, dir).await?,
            None => None,
        };
        let bar = spinner(ctx, "applying migrations");
        let result = store.migrate().await;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let applied = result?;
        let names: Vec<String> = applied
            .iter()
            .map(|m| format!("{} ({})", m.version, m.name))
            .collect();
        let version = store.schema_version().await?;
        let mut text = if names.is_empty() {
            format!("no migrations to apply; schema version {version}")
        } else {
            format!("applied {}; schema version {version}", names.join(", "))
        };
        if let Some(path) = &backup {
            text = format!("backup written to {}; {text}", path.display());
        }
        return Ok(Report::new(
            text,
            json!({ "applied": applied.iter().map(|m| m.version).collect::<Vec<_>>(), "schema_version": version, "backup": backup }),
        ));
    }
    let status = store.migration_status().await?;
    let mut text = String::new();
    for m in &status {
        text.push_str(&format!(
            "[{}] {:04} {}\n",
            if m.applied_at.is_some() { "x" } else { " " },
            m.version,
            m.name
        ));
    }
    let json = json!(status
        .iter()
        .map(|m| json!({ "version": m.version, "name": m.name, "applied_at": m.applied_at }))
        .collect::<Vec<_>>());
    Ok(Report::new(text.trim_end(), json))
}

/// `migrate --backup-dir`: when migrations are pending on a database that
/// has a schema already, backs it up into `dir` first and returns the file. A database newer than this
/// build is refused before anything is written.
async fn backup_before_migrate(ctx: &Ctx, dir: &Path) -> Result<Option<PathBuf>> {
    let store = ctx.store();
    if !dir.is_dir() {
        bail!("--backup-dir {}: not a directory", dir.display());
    }
    // Refuses a newer schema (and a changed migration) with a clear error.
    store.check_schema().await?;
    let pending = store
        .migration_status()
        .await?
        .iter()
        .any(|m| m.applied_at.is_none());
    let version = store.schema_version().await?;
    // Nothing pending, or an empty database: nothing worth keeping.
    if !pending || version == 0 {
        return Ok(None);
    }
    let ext = crate::backup::extension(store.kind());
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let path = dir.join(format!("efir-{version:04}-{stamp}.{ext}"));
    store
        .backup(&path)
        .await
        .with_context(|| format!("backup before migrating to {} failed", path.display()))?;
    Ok(Some(path))
}

fn prompt(label: &str) -> Result<String> {
    use std::io::Write;
    eprint!("{label}: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

async fn create_superuser(
    ctx: &Ctx,
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
    no_input: bool,
    actor: Actor,
) -> Result<Report> {
    let interactive = !no_input && ctx.interactive && std::io::stdin().is_terminal();
    let username = match username {
        Some(u) => u,
        None if interactive => prompt("Username")?,
        None => bail!("--username is required when not run interactively"),
    };
    let email = match email {
        Some(e) => e,
        None if interactive => prompt("E-mail (may be empty)")?,
        None => String::new(),
    };
    let password = match password {
        Some(p) => p,
        None if interactive => {
            let first = rpassword::prompt_password("Password: ")?;
            let again = rpassword::prompt_password("Password (again): ")?;
            if first != again {
                bail!("the passwords do not match");
            }
            first
        }
        None => bail!("--password is required when not run interactively"),
    };
    let store = ctx.store();
    let mut tx = store.begin(actor).await?;
    let user = store
        .create_user(
            &mut tx,
            &NewUser {
                username,
                password,
                email,
                is_admin: true,
                is_superuser: true,
                monitoring_user: false,
                client_id: None,
            },
        )
        .await;
    let user = finish(tx, user).await?;
    Ok(Report::new(
        format!("created superuser {} (id {})", user.username, user.id),
        json!({ "id": user.id, "username": user.username }),
    ))
}

/// Commits `tx` when `result` is Ok, rolls back otherwise.
async fn finish<T>(tx: efir_store::Tx, result: Result<T, StoreError>) -> Result<T> {
    match result {
        Ok(v) => {
            tx.commit().await?;
            Ok(v)
        }
        Err(e) => {
            tx.rollback().await.ok();
            Err(e.into())
        }
    }
}

const SAMPLE_PREFIX: &str = "sample";

async fn setup_initial_data(ctx: &Ctx, no_sample: bool, actor: Actor) -> Result<Report> {
    let store = ctx.store();
    store.migrate().await?;
    let mut lines = vec![format!(
        "system objects: schema version {}",
        store.schema_version().await?
    )];
    let mut out = json!({ "schema_version": store.schema_version().await? });
    if no_sample {
        lines.push("sample operator: skipped (--no-sample-data)".into());
    } else if let Some(c) = store.client_by_domain_prefix(SAMPLE_PREFIX).await? {
        lines.push(format!("sample operator: already present (id {})", c.id));
        out["sample_client_id"] = json!(c.id);
    } else {
        let api_key = efir_core::secret::random_hex(16);
        let mut tx = store.begin(actor).await?;
        let created = store
            .create_client(
                &mut tx,
                &NewClient {
                    name: "Sample operator".into(),
                    api_key: api_key.clone(),
                    domain_prefix: SAMPLE_PREFIX.into(),
                    email: "admin@example.com".into(),
                    currency: Some("EUR".into()),
                    default_language: Some("en".into()),
                    languages: vec!["ru".into()],
                    ..NewClient::default()
                },
            )
            .await;
        let created = match created {
            Ok(client) => efir_middleware::ops::create_sample_content(&mut tx, client.id)
                .await
                .map(|sample| (client, sample)),
            Err(e) => Err(e),
        };
        let (client, sample) = finish(tx, created).await?;
        lines.push(format!(
            "sample operator: created id {} (api_key {}, billing_api_key {}, content_api_key {})",
            client.id, client.api_key, client.billing_api_key, client.content_api_key
        ));
        lines.push(format!(
            "sample content: {} categories, {} channels, tariff {} (Basic), stream service {}",
            sample.categories.len(),
            sample.channels.len(),
            sample.tariff,
            sample.stream_service
        ));
        out["sample"] = serde_json::to_value(&sample)?;
        out["sample_client_id"] = json!(client.id);
        out["api_key"] = json!(client.api_key);
        out["billing_api_key"] = json!(client.billing_api_key);
        out["content_api_key"] = json!(client.content_api_key);
    }
    Ok(Report::new(lines.join("\n"), out))
}

async fn create_client(ctx: &Ctx, a: CreateClientArgs, actor: Actor) -> Result<Report> {
    let store = ctx.store();
    let generated_billing = a.billing_api_key.is_none();
    let generated_content = a.content_api_key.is_none();
    let mut tx = store.begin(actor).await?;
    let created = store
        .create_client(
            &mut tx,
            &NewClient {
                name: a.name,
                api_key: a.api_key,
                billing_api_key: a.billing_api_key,
                content_api_key: a.content_api_key,
                domain_prefix: a.domain_prefix,
                email: a.email,
                currency: a.currency,
                default_language: a.default_language,
                languages: a.languages,
            },
        )
        .await;
    let client = finish(tx, created).await?;
    let mut text = format!("created client {} ({})", client.id, client.name);
    let mut out = client_json(&client);
    if generated_billing {
        text.push_str(&format!(
            "\nbilling_api_key: {} (generated; shown once)",
            client.billing_api_key
        ));
        out["billing_api_key"] = json!(client.billing_api_key);
    }
    if generated_content {
        text.push_str(&format!(
            "\ncontent_api_key: {} (generated; shown once)",
            client.content_api_key
        ));
        out["content_api_key"] = json!(client.content_api_key);
    }
    Ok(Report::new(text, out))
}

fn client_json(c: &Client) -> Value {
    serde_json::to_value(c).unwrap_or_else(|_| json!({ "id": c.id }))
}

async fn create_user(ctx: &Ctx, a: CreateUserArgs, actor: Actor) -> Result<Report> {
    let store = ctx.store();
    let mut tx = store.begin(actor).await?;
    if a.reset_password && store.user_by_username(&a.username).await?.is_some() {
        let changed = store.set_password(&mut tx, &a.username, &a.password).await;
        let user = finish(tx, changed).await?;
        return Ok(Report::new(
            format!(
                "password of user {} (id {}) changed",
                user.username, user.id
            ),
            json!({ "id": user.id, "username": user.username, "password_reset": true }),
        ));
    }
    let created = store
        .create_user(
            &mut tx,
            &NewUser {
                username: a.username,
                password: a.password,
                email: a.email,
                is_admin: a.is_admin,
                is_superuser: a.is_superuser,
                monitoring_user: a.monitoring_user,
                client_id: a.client_id,
            },
        )
        .await;
    let user = match finish(tx, created).await {
        Err(e) if is_conflict(&e) => {
            return Err(anyhow!("{e} (use --reset-password to change its password)"))
        }
        other => other?,
    };
    Ok(Report::new(
        format!("created user {} (id {})", user.username, user.id),
        serde_json::to_value(&user)?,
    ))
}

fn is_conflict(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<StoreError>(),
        Some(StoreError::Conflict { .. })
    )
}

async fn clone_client(ctx: &Ctx, a: CloneClientArgs, actor: Actor) -> Result<Report> {
    let store = ctx.store();
    let src = store.client(a.src_client_id).await?;
    let prefix = match a.domain_prefix {
        Some(p) => p,
        None => free_prefix(store, &src.domain_prefix).await?,
    };
    let languages = src
        .additional_languages()
        .into_iter()
        .map(String::from)
        .collect();
    let mut tx = store.begin(actor).await?;
    let created = store
        .create_client(
            &mut tx,
            &NewClient {
                name: a.name.unwrap_or_else(|| format!("{} (copy)", src.name)),
                api_key: a
                    .api_key
                    .unwrap_or_else(|| efir_core::secret::random_hex(16)),
                billing_api_key: None,
                content_api_key: None,
                domain_prefix: prefix,
                email: a.email.unwrap_or_else(|| src.email.clone()),
                currency: Some(src.currency.clone()),
                default_language: Some(src.default_language.clone()),
                languages,
            },
        )
        .await;
    let what = efir_middleware::ops::CloneWhat {
        channels: a.clone_channels,
        video: a.clone_video,
        radio: a.clone_radio,
        cameras: a.clone_cameras,
        apps: a.clone_apps,
    };
    let created = match created {
        Ok(c) => {
            tx.audit(
                Some(c.id),
                "clone",
                "client",
                Some(c.id.to_string()),
                json!({ "source_client_id": src.id }),
            )
            .await?;
            efir_middleware::ops::clone_content(&mut tx, src.id, c.id, what)
                .await
                .map(|copied| (c, copied))
        }
        Err(e) => Err(e),
    };
    let (client, copied) = finish(tx, created).await?;
    // Report only the kinds that were asked for.
    let all = serde_json::to_value(&copied)?;
    let mut content = serde_json::Map::new();
    for (asked, keys) in [
        (a.clone_channels, &["categories", "channels"][..]),
        (
            a.clone_video,
            &["videos", "seasons", "episodes", "files"][..],
        ),
        (a.clone_radio, &["radio"][..]),
        (a.clone_cameras, &["cameras"][..]),
        (a.clone_apps, &["apps"][..]),
    ] {
        for key in keys.iter().filter(|_| asked) {
            content.insert((*key).to_string(), all[*key].clone());
        }
    }
    let mut text = format!(
        "cloned client {} ({}) into client {} ({}), domain prefix {}\napi_key: {}\nbilling_api_key: {}\ncontent_api_key: {}",
        src.id, src.name, client.id, client.name, client.domain_prefix,
        client.api_key, client.billing_api_key, client.content_api_key
    );
    for (k, v) in &content {
        text.push_str(&format!("\n{k}: {v} copied"));
    }
    let mut out = client_json(&client);
    out["source_client_id"] = json!(src.id);
    out["api_key"] = json!(client.api_key);
    out["billing_api_key"] = json!(client.billing_api_key);
    out["content_api_key"] = json!(client.content_api_key);
    out["copied"] = Value::Object(content);
    Ok(Report::new(text, out))
}

/// `<prefix>-copy`, or `<prefix>-copy2`, … whichever is free.
async fn free_prefix(store: &Store, base: &str) -> Result<String> {
    for n in 1..1000 {
        let candidate = if n == 1 {
            format!("{base}-copy")
        } else {
            format!("{base}-copy{n}")
        };
        let candidate: String = candidate.chars().take(63).collect();
        if store.client_by_domain_prefix(&candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    bail!("no free domain prefix for the copy; give one with --domain-prefix")
}

async fn list_clients(ctx: &Ctx) -> Result<Report> {
    let clients = ctx.store().clients().await?;
    let mut text = format!(
        "{:>5}  {:<24} {:<20} {}",
        "id", "name", "domain_prefix", "email"
    );
    for c in &clients {
        text.push_str(&format!(
            "\n{:>5}  {:<24} {:<20} {}",
            c.id, c.name, c.domain_prefix, c.email
        ));
    }
    Ok(Report::new(text, serde_json::to_value(&clients)?))
}

async fn backup(ctx: &Ctx, output: &Path) -> Result<Report> {
    let expanded = expand_time(output)?;
    let bar = spinner(ctx, &format!("backing up {}", ctx.store().describe()));
    let result = ctx.store().backup(&expanded).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let format = result.with_context(|| format!("backup to {} failed", expanded.display()))?;
    let size = std::fs::metadata(&expanded).map(|m| m.len()).unwrap_or(0);
    Ok(Report::new(
        format!(
            "backup written to {} ({:?}, {size} bytes)",
            expanded.display(),
            format
        ),
        json!({ "output": expanded, "format": format!("{format:?}"), "bytes": size }),
    ))
}

/// Expands strftime patterns (`%Y%m%d`) in a path, in UTC.
fn expand_time(path: &Path) -> Result<PathBuf> {
    let s = path.to_string_lossy();
    if !s.contains('%') {
        return Ok(path.to_path_buf());
    }
    use std::fmt::Write;
    let mut out = String::new();
    write!(out, "{}", chrono::Utc::now().format(&s))
        .map_err(|_| anyhow!("invalid time pattern in `{s}`"))?;
    Ok(PathBuf::from(out))
}

/// `efir manage restore`: replaces the database; handled outside [`run`]
/// because it consumes the store.
pub async fn restore(ctx: Ctx, input: &Path, yes: bool) -> Result<Report> {
    if !yes {
        bail!(
            "restore replaces every row of {} with {}; run again with --yes to confirm",
            ctx.store().describe(),
            input.display()
        );
    }
    let described = ctx.store().describe();
    let opts = ctx.connect_options();
    let bar = spinner(&ctx, &format!("restoring {described}"));
    let store = ctx.into_store();
    let result = store.restore(input, &opts).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let restored = result?;
    let version = restored.schema_version().await?;
    let clients = restored.client_count().await?;
    restored.close().await;
    Ok(Report::new(
        format!(
            "restored {described} from {}: schema version {version}, {clients} operators",
            input.display()
        ),
        json!({ "schema_version": version, "clients": clients }),
    ))
}

async fn geoip_import(ctx: &Ctx, file: &Path, actor: Actor) -> Result<Report> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let ranges = efir_middleware::ops::parse_geo_csv(&text).map_err(|errors| {
        let shown: Vec<&String> = errors.iter().take(10).collect();
        let more = errors.len().saturating_sub(shown.len());
        anyhow!(
            "{}: {}{}; nothing was imported",
            file.display(),
            shown
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        )
    })?;
    let bar = if ctx.interactive && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(ranges.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} ranges ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let report = efir_middleware::ops::import_geo(ctx.store(), &ranges, actor, |n| {
        if let Some(bar) = &bar {
            bar.set_position(n);
        }
    })
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report?;
    Ok(Report::new(
        format!(
            "imported {} ranges ({} new countries, {} new cities)",
            report.ranges, report.new_countries, report.new_cities
        ),
        serde_json::to_value(&report)?,
    ))
}

async fn cluster(ctx: &Ctx, cmd: crate::cli::ClusterCommand) -> Result<Report> {
    let crate::cli::ClusterCommand::Status {
        stale_after,
        require_alive,
    } = cmd;
    if stale_after < 1 {
        bail!("--stale-after must be at least 1 second");
    }
    let now = efir_store::now();
    // Rows of nodes dead for a day are forgotten.
    let nodes = ctx.store().nodes(now, 86_400).await?;
    let alive = nodes.iter().filter(|n| n.alive(now, stale_after)).count();
    let mut text = format!(
        "{alive} node(s) alive, {} stale\nNODE\tSTATE\tROLES\tVERSION\tLISTEN\tUP\tLAST SEEN\tLOAD\tRSS\n",
        nodes.len() - alive
    );
    let mut rows = Vec::new();
    for n in &nodes {
        let state = if n.alive(now, stale_after) {
            "alive"
        } else {
            "stale"
        };
        text.push_str(&format!(
            "{}\t{state}\t{}\t{}\t{}\t{}\t{}s ago\t{:.2}\t{} MiB\n",
            n.name,
            n.roles,
            n.version,
            if n.listen.is_empty() { "-" } else { &n.listen },
            human_secs(now - n.started_at),
            now - n.last_seen_at,
            n.load1,
            n.rss_bytes / (1024 * 1024),
        ));
        let mut v = json!(n);
        v["state"] = json!(state);
        rows.push(v);
    }
    if require_alive && alive == 0 {
        bail!("no node is alive (none sent a heartbeat in the last {stale_after} s)");
    }
    // The read replicas (database.replicas), as this command finds them.
    ctx.store().check_replicas().await;
    let replicas = ctx
        .store()
        .replicas()
        .map(|r| r.status())
        .unwrap_or_default();
    if !replicas.is_empty() {
        let healthy = replicas.iter().filter(|r| r.healthy).count();
        text.push_str(&format!(
            "\n{healthy} of {} read replica(s) healthy\nREPLICA\tSTATE\tLAG\tREASON\n",
            replicas.len()
        ));
        for r in &replicas {
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                r.url,
                if r.healthy { "healthy" } else { "out" },
                r.lag_secs.map_or("-".into(), |l| format!("{l:.1}s")),
                r.reason.as_deref().unwrap_or("-"),
            ));
        }
    }
    Ok(Report::new(
        text.trim_end(),
        json!({ "alive": alive, "nodes": rows, "replicas": replicas }),
    ))
}

/// `3d4h`, `2h5m`, `40s`.
fn human_secs(s: i64) -> String {
    let s = s.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

async fn schedule(ctx: &Ctx, cmd: ScheduleCommand) -> Result<Report> {
    match cmd {
        ScheduleCommand::List { count } => {
            let entries = efir_scheduler::entries(&crate::schedule_entries(ctx.config()))
                .map_err(|e| anyhow!(e))?;
            let now = chrono::Utc::now();
            let mut text = String::new();
            let mut rows = Vec::new();
            if entries.is_empty() {
                text.push_str("no [[schedule]] entries in the configuration");
            }
            for e in &entries {
                let next: Vec<String> = e
                    .upcoming(now, count.max(1))
                    .iter()
                    .map(|t| t.with_timezone(&e.tz).to_rfc3339())
                    .collect();
                let cmdline = std::iter::once(e.command.clone())
                    .chain(e.args.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" ");
                text.push_str(&format!(
                    "{}\t{} ({})\t{}\tnext: {}\n",
                    e.name,
                    e.expr,
                    e.tz,
                    cmdline,
                    next.join(", ")
                ));
                rows.push(json!({
                    "name": e.name, "cron": e.expr, "timezone": e.tz.to_string(),
                    "command": e.command, "args": e.args, "next": next,
                }));
            }
            Ok(Report::new(text.trim_end(), json!(rows)))
        }
        ScheduleCommand::Runs { name, limit } => {
            let runs = ctx.store().schedule_runs(name.as_deref(), limit).await?;
            let mut text = String::new();
            for r in &runs {
                let slot = chrono::DateTime::from_timestamp(r.slot, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default();
                text.push_str(&format!(
                    "{slot}\t{}\t{}\t{}\t{} ms{}\n",
                    r.name,
                    r.node,
                    r.outcome,
                    r.duration_ms.unwrap_or(0),
                    r.error
                        .as_deref()
                        .map(|e| format!("\t{e}"))
                        .unwrap_or_default()
                ));
            }
            if runs.is_empty() {
                text.push_str("no runs recorded");
            }
            Ok(Report::new(text.trim_end(), serde_json::to_value(&runs)?))
        }
    }
}

async fn audit_log(
    ctx: &Ctx,
    entity: Option<String>,
    client_id: Option<i64>,
    limit: i64,
) -> Result<Report> {
    let events = ctx
        .store()
        .audit_events(&efir_store::audit::AuditFilter {
            entity,
            entity_id: None,
            client_id,
            limit,
        })
        .await?;
    let mut text = String::new();
    for e in &events {
        let at = chrono::DateTime::from_timestamp(e.at, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        text.push_str(&format!(
            "{:>6} {at} {:<24} {} {}/{} {}\n",
            e.id,
            e.actor,
            e.action,
            e.entity,
            e.entity_id.as_deref().unwrap_or("-"),
            e.data
        ));
    }
    Ok(Report::new(text.trim_end(), serde_json::to_value(&events)?))
}

/// `client-set`: checks every pair, then writes them in one transaction.
async fn client_set(ctx: &Ctx, client_id: i64, pairs: &[String], actor: Actor) -> Result<Report> {
    let client = ctx.store().client(client_id).await?;
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            problems.push(format!("`{pair}`: expected KEY=VALUE"));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let checked = if value.is_empty() {
            efir_backoffice::settings::spec(key)
                .map(|_| ())
                .ok_or_else(|| format!("unknown setting `{key}`"))
        } else {
            efir_backoffice::settings::validate(key, value)
        };
        match checked {
            Ok(()) => changes.push((
                key.to_string(),
                (!value.is_empty()).then(|| value.to_string()),
            )),
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        bail!("nothing written: {}", problems.join("; "));
    }
    let mut tx = ctx.store().begin(actor).await?;
    for (key, value) in &changes {
        ctx.store()
            .set_client_setting(&mut tx, client.id, key, value.as_deref())
            .await?;
    }
    tx.commit().await?;
    let text = changes
        .iter()
        .map(|(k, v)| match v {
            Some(_) if efir_store::settings::is_secret_key(k) => format!("{k} = ***"),
            Some(v) => format!("{k} = {v}"),
            None => format!("{k} removed"),
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Report::new(
        format!("operator {} ({}):\n{text}", client.id, client.name),
        json!({ "client_id": client.id, "changed": changes.iter().map(|(k, _)| k).collect::<Vec<_>>() }),
    ))
}

/// `client-settings`: an operator's settings, secrets hidden, and the keys
/// Efir understands.
async fn client_settings(ctx: &Ctx, client_id: i64) -> Result<Report> {
    let client = ctx.store().client(client_id).await?;
    let settings = ctx.store().client_settings(client.id).await?;
    let shown: serde_json::Map<String, Value> = settings
        .into_iter()
        .map(|(k, v)| {
            let v = if efir_store::settings::is_secret_key(&k) {
                "***".to_string()
            } else {
                v
            };
            (k, Value::String(v))
        })
        .collect();
    let mut text = format!("operator {} ({})\n", client.id, client.name);
    for spec in efir_backoffice::settings::specs() {
        let value = shown
            .get(spec.key)
            .and_then(Value::as_str)
            .unwrap_or("(not set)");
        text.push_str(&format!("  {:<20} {:<16} {}\n", spec.key, value, spec.help));
    }
    Ok(Report::new(
        text.trim_end(),
        json!({ "client_id": client.id, "settings": shown }),
    ))
}
