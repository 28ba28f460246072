//! The `efir` binary: `serve`, `router`, `worker`, `manage …`, `config …`.
//!
//! Exit codes: 0 on success, 1 when a command fails, 2 for usage and
//! configuration errors. Errors are one line on stderr (configuration
//! checks print one line per problem).

/// The allocator of every efir process: jemalloc. Under glibc's malloc an
/// API node grew to 2.3 GiB resident after 3,000 account creations: each
/// argon2 hash allocates 19 MiB, glibc then raises its mmap threshold and
/// serves those blocks from per-thread heaps that fragment and are never
/// given back. jemalloc reuses and releases them (about 50 MiB after the
/// same run; `bench/load/run.sh` records it per rate).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod backup;
mod billing;
mod cases;
mod cli;
mod context;
mod epg;
mod ingest;
mod manage;
mod messages;
mod router;
mod runner;
mod serve;
mod stats;

use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::Parser;
use efir_core::config::{ConfigErrors, DatabaseKind, Loaded};
use efir_core::{Config, Role, RoleSet};
use efir_store::Actor;

use crate::cli::{Cli, Command, ConfigCommand, ManageCommand};
use crate::context::Ctx;

/// How a command ended.
enum Failure {
    /// Bad configuration or usage: exit 2.
    Config(String),
    /// The command failed: exit 1.
    Command(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Command(e)
    }
}

impl From<ConfigErrors> for Failure {
    fn from(e: ConfigErrors) -> Self {
        Failure::Config(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
        Err(Failure::Command(e)) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Loads the configuration and applies the global command-line flags.
fn load_config(cli: &Cli, file: Option<&std::path::Path>) -> Result<Loaded, Failure> {
    match efir_core::clock::check_env() {
        Ok(Some(t)) => eprintln!("warning: the clock is frozen by EFIR_NOW at {t} (Unix seconds)"),
        Ok(None) => {}
        Err(e) => return Err(Failure::Config(format!("error: {e}"))),
    }
    let mut loaded = Config::from_env(file.or(cli.config.as_deref()))?;
    if let Some(url) = &cli.database_url {
        DatabaseKind::of(url).map_err(|e| Failure::Config(format!("--database-url: {e}")))?;
        loaded.config.database.url = url.clone();
    }
    if let Some(dir) = &cli.data_dir {
        loaded.config.data_dir = dir.clone();
    }
    if let Some(level) = &cli.log_level {
        loaded.config.log.level = level.clone();
    }
    Ok(loaded)
}

/// Problems with `[[schedule]]` commands, which only this binary knows.
fn check_schedule_commands(loaded: &Loaded) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, entry) in loaded.config.schedule.iter().enumerate() {
        match cli::parse_manage(&entry.command, &entry.args) {
            Ok(m) if !m.command.schedulable() => problems.push(
                loaded
                    .error_at(
                        &format!("schedule[{i}].command"),
                        format!("`{}` cannot be scheduled", m.command.name()),
                    )
                    .to_string(),
            ),
            Ok(_) => {}
            Err(e) => problems.push(
                loaded
                    .error_at(&format!("schedule[{i}].command"), e)
                    .to_string(),
            ),
        }
    }
    problems
}

/// The scheduled entries: the configured ones plus, unless
/// `scheduler.builtin = false`, Efir's built-in entries that no configured
/// entry of the same name replaces.
pub(crate) fn schedule_entries(config: &Config) -> Vec<efir_core::config::ScheduleEntry> {
    let mut entries = config.schedule.clone();
    if config.scheduler.builtin {
        for builtin in builtin_schedule(config) {
            if !entries.iter().any(|e| e.name() == builtin.name()) {
                entries.push(builtin);
            }
        }
    }
    entries
}

/// What Efir schedules by itself: stream service health every minute, the
/// EPG import at 05:00, 09:00 and 13:00, the premieres twice a day, case
/// reminders every minute and the overdue-case sweep at 09:00 in
/// `cases.timezone`.
fn builtin_schedule(config: &Config) -> Vec<efir_core::config::ScheduleEntry> {
    let entry = |name: &str, cron: &str| efir_core::config::ScheduleEntry {
        name: Some(name.into()),
        cron: cron.into(),
        timezone: "UTC".into(),
        command: name.into(),
        args: Vec::new(),
        enabled: true,
    };
    vec![
        entry("check-stream-services", "* * * * *"),
        entry("epg-import", "0 5,9,13 * * *"),
        entry("epg-premiere-import", "30 5,13 * * *"),
        entry("clear-request-log", "15 4 * * *"),
        // Billing: autopayments right before the nightly run; both do
        // nothing for operators whose billing.mode is off.
        entry("make-autopayments", "50 2 * * *"),
        entry("check-accounts", "0 3 * * *"),
        entry("resend-sms", "*/2 * * * *"),
        entry("send-case-reminders", "* * * * *"),
        efir_core::config::ScheduleEntry {
            timezone: config.cases.timezone.clone(),
            ..entry("escalate-cases", "0 9 * * *")
        },
    ]
    .into_iter()
    .chain(stats::SCHEDULE.iter().map(|(name, cron)| entry(name, cron)))
    // The nightly backup, when `[backup]` says where to.
    .chain(
        config
            .backup
            .configured()
            .then(|| entry("backup", "30 1 * * *")),
    )
    .collect()
}

fn init_telemetry(config: &Config, component: &str) -> Result<efir_telemetry::Telemetry> {
    efir_telemetry::init(config, component).map_err(|e| anyhow!("{e}"))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Config(cmd) => config_command(&cli, cmd),
        Command::Serve(args) => {
            let loaded = load_config(&cli, None)?;
            let roles = match &args.role {
                Some(r) => r.clone(),
                None => loaded.config.roles().map_err(Failure::Config)?,
            };
            let listen = args
                .listen
                .clone()
                .unwrap_or_else(|| loaded.config.server.listen.clone());
            let router_listen = loaded.config.router.listen.clone();
            let migrate = loaded.config.database.auto_migrate && !args.no_migrate;
            serve(loaded, roles, listen, router_listen, migrate, "serve").await
        }
        Command::Router(args) => {
            let loaded = load_config(&cli, None)?;
            let listen = args
                .listen
                .clone()
                .unwrap_or_else(|| loaded.config.router.listen.clone());
            let migrate = loaded.config.database.auto_migrate && !args.no_migrate;
            let roles: RoleSet = Role::Router.name().parse().map_err(Failure::Config)?;
            serve(loaded, roles, listen.clone(), listen, migrate, "router").await
        }
        Command::Worker(args) => {
            let mut loaded = load_config(&cli, None)?;
            let migrate = loaded.config.database.auto_migrate && !args.no_migrate;
            let roles: RoleSet = Role::Worker.name().parse().map_err(Failure::Config)?;
            let listen = loaded.config.server.listen.clone();
            if let Some(slots) = args.slots {
                loaded.config.ingest.worker_slots = slots;
            }
            WORKER_NAME.get_or_init(|| args.name.clone());
            serve(loaded, roles, listen.clone(), listen, migrate, "worker").await
        }
        Command::Manage(args) => {
            let mut loaded = load_config(&cli, None)?;
            if cli.log_level.is_none() && std::env::var_os("RUST_LOG").is_none() {
                // Keep command output clean; warnings and errors still show.
                loaded.config.log.level = "warn".into();
            }
            if let Some(settings) = &args.settings {
                eprintln!("note: --settings={settings} is ignored; Efir reads its configuration from efir.toml and EFIR_* variables");
            }
            let _telemetry = init_telemetry(&loaded.config, "manage")?;
            let cmd = args.command.clone();
            let report = match cmd {
                ManageCommand::Migrate { .. } => {
                    let ctx = Ctx::open(loaded, context::Open::AsIs).await?;
                    manage::run(&ctx, cmd, actor(&args.command)).await?
                }
                ManageCommand::Restore {
                    input,
                    latest,
                    name,
                    yes,
                } => {
                    let ctx = Ctx::open(loaded, context::Open::AsIs).await?;
                    let from = match (input, name) {
                        (Some(file), _) => backup::RestoreFrom::File(file),
                        (None, Some(name)) => backup::RestoreFrom::Name(name),
                        (None, None) if latest => backup::RestoreFrom::Latest,
                        (None, None) => {
                            return Err(Failure::Config(
                                "give --input FILE, --name NAME or --latest".into(),
                            ))
                        }
                    };
                    backup::restore(ctx, from, yes).await?
                }
                ManageCommand::Mirror { from, yes } => {
                    let ctx = Ctx::open(loaded, context::Open::Migrate).await?;
                    backup::mirror(ctx, &from, yes).await?
                }
                _ => {
                    let mode = if loaded.config.database.auto_migrate {
                        context::Open::Migrate
                    } else {
                        context::Open::Require
                    };
                    let ctx = Ctx::open(loaded, mode).await?;
                    let report = manage::run(&ctx, cmd, actor(&args.command)).await;
                    ctx.store().close().await;
                    report?
                }
            };
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.json).map_err(anyhow::Error::from)?
                );
            } else if !report.text.is_empty() {
                println!("{}", report.text);
            }
            match report.failed {
                Some(why) => Err(Failure::Command(anyhow::anyhow!(why))),
                None => Ok(()),
            }
        }
    }
}

fn actor(cmd: &ManageCommand) -> Actor {
    Actor::Command(cmd.name().to_string())
}

/// `efir worker --name`, read by the worker role.
pub static WORKER_NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

async fn serve(
    loaded: Loaded,
    roles: RoleSet,
    listen: String,
    router_listen: String,
    migrate: bool,
    component: &str,
) -> Result<(), Failure> {
    let problems = check_schedule_commands(&loaded);
    if !problems.is_empty() {
        return Err(Failure::Config(problems.join("\n")));
    }
    let telemetry = init_telemetry(&loaded.config, component)?;
    let mode = if migrate {
        context::Open::Migrate
    } else {
        context::Open::Require
    };
    // The database may still be starting (a boot, a failover): retry a few
    // times with growing pauses before giving up.
    let mut delay = std::time::Duration::from_secs(1);
    let ctx = loop {
        match Ctx::open(loaded.clone(), mode).await {
            Ok(ctx) => break ctx,
            Err(e) if delay <= std::time::Duration::from_secs(8) && is_transient(&e) => {
                tracing::warn!(error = %format!("{e:#}"), retry_in_secs = delay.as_secs(), "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    };
    serve::run(
        ctx,
        serve::ServeOptions {
            roles,
            listen,
            router_listen,
        },
        &telemetry,
    )
    .await?;
    Ok(())
}

/// Whether an opening error may go away by itself (connection refused,
/// timeouts), as opposed to a wrong schema or URL.
fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<efir_store::StoreError>(),
            Some(efir_store::StoreError::Database(
                sqlx_error
            )) if matches!(sqlx_error, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
        )
    })
}

fn config_command(cli: &Cli, cmd: &ConfigCommand) -> Result<(), Failure> {
    match cmd {
        ConfigCommand::Check { file } => {
            let loaded = match load_config(cli, file.as_deref()) {
                Ok(l) => l,
                Err(Failure::Config(msg)) => {
                    return Err(Failure::Config(msg));
                }
                Err(e) => return Err(e),
            };
            let mut problems = check_schedule_commands(&loaded);
            let farm = efir_ingest::farm::Farm::from_config(&loaded.config);
            if let Err(e) = &farm {
                problems.push(e.to_string());
            }
            if !problems.is_empty() {
                return Err(Failure::Config(problems.join("\n")));
            }
            for var in &loaded.unknown_env {
                eprintln!("warning: {var} names no configuration key and is ignored");
            }
            let source = loaded
                .file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "defaults and environment".into());
            let (pipelines, folders) = farm
                .map(|f| (f.pipelines.len() - 1, f.hot_folders.len()))
                .unwrap_or_default();
            println!(
                "{source}: OK (database {}, {} schedule entries, {pipelines} pipelines, {folders} hot folders)",
                efir_core::config::redact_url(&loaded.config.database.url),
                loaded.config.schedule.len()
            );
            Ok(())
        }
        ConfigCommand::Show => {
            let loaded = load_config(cli, None)?;
            let mut config = loaded.config;
            config.database.url = efir_core::config::redact_url(&config.database.url);
            if let Some(url) = &config.cache.redis_url {
                config.cache.redis_url = Some(efir_core::config::redact_url(url));
            }
            if config.sentry.dsn.is_some() {
                config.sentry.dsn = Some("***".into());
            }
            for secret in [
                &mut config.router.admin_token,
                &mut config.router.secure_link_secret,
                &mut config.ingest.api_token,
            ] {
                if secret.is_some() {
                    *secret = Some("***".into());
                }
            }
            // FTP passwords and the like inside pipeline steps.
            for v in config
                .ingest
                .pipeline
                .iter_mut()
                .chain(config.ingest.hot_folder.iter_mut())
            {
                redact_passwords(v);
            }
            let text = toml::to_string_pretty(&config)
                .map_err(|e| Failure::Command(anyhow!("cannot print configuration: {e}")))?;
            print!("{text}");
            Ok(())
        }
        ConfigCommand::Default => {
            print!("{}", efir_core::Config::default_toml());
            Ok(())
        }
    }
}

/// Replaces the value of every `password` key inside `v` with `***`.
fn redact_passwords(v: &mut toml::Value) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                if k == "password" || k.ends_with("_password") {
                    *v = toml::Value::String("***".into());
                } else {
                    redact_passwords(v);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(redact_passwords),
        _ => {}
    }
}
