//! The one configuration file, `efir.toml`.
//!
//! Precedence, lowest first: built-in defaults, the TOML file (`--config` or
//! `EFIR_CONFIG`), environment variables, command-line flags. Every scalar
//! key has an environment variable made of `EFIR_`, the section and the key
//! in upper case: `database.url` is `EFIR_DATABASE_URL`, `log.level` is
//! `EFIR_LOG_LEVEL`, `data_dir` is `EFIR_DATA_DIR`. `EFIR_LISTEN` is a short
//! alias of `EFIR_SERVER_LISTEN`, `EFIR_REDIS_URL` of `EFIR_CACHE_REDIS_URL`.
//! List values (`server.roles`) are comma-separated. `[[schedule]]` entries
//! come from the file only.
//!
//! Errors name the key and, when it came from the file, the line:
//!
//! ```text
//! efir.toml:7: database.max_connections: invalid type: string "ten", expected u32
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::RoleSet;

/// The whole configuration of an Efir process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where Efir keeps its files (SQLite database, icons, previews, logs
    /// unless `log.dir` says otherwise). Relative paths in the rest of the
    /// config (a relative SQLite path included) are taken from here.
    pub data_dir: PathBuf,
    /// The HTTP server of `efir serve`.
    pub server: ServerConfig,
    /// The subscriber-facing APIs.
    pub api: ApiConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// The shared cache.
    pub cache: CacheConfig,
    /// The CDN request router (`efir router`).
    pub router: RouterConfig,
    /// Logging.
    pub log: LogConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
    /// Optional statsd export.
    pub statsd: StatsdConfig,
    /// Optional error reporting to Sentry.
    pub sentry: SentryConfig,
    /// The built-in scheduler.
    pub scheduler: SchedulerConfig,
    /// Scheduled management commands (`[[schedule]]`).
    pub schedule: Vec<ScheduleEntry>,
    /// The ingest farm: queue timing, mounts, hot folders, pipelines.
    pub ingest: IngestConfig,
    /// The admin API of the back office.
    pub admin: AdminConfig,
    /// Cases and tasks of the back office (`[cases]`).
    pub cases: CasesConfig,
    /// Backups to a directory and/or over SSH, with retention (`[backup]`).
    pub backup: BackupConfig,
}

/// `[backup]`: where `efir manage backup` (without `--output`) writes, and
/// how many backups it keeps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Local directory of backups (relative to `data_dir`).
    pub dir: Option<PathBuf>,
    /// Backup host as `user@host:/absolute/path`, reached with the OpenSSH
    /// client (`ssh`, batch mode, strict host key checking).
    pub remote: Option<String>,
    /// SSH port of the backup host.
    pub ssh_port: u16,
    /// Private key for the backup host (relative to `data_dir`); the SSH
    /// client's defaults when unset.
    pub ssh_identity: Option<PathBuf>,
    /// known_hosts file holding the backup host's key (relative to
    /// `data_dir`); required with `remote`.
    pub ssh_known_hosts: Option<PathBuf>,
    /// How many backups to keep in each place (per environment and
    /// database kind).
    pub keep: u32,
    /// Also remove backups older than this many days; 0: no age limit.
    pub keep_days: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            dir: None,
            remote: None,
            ssh_port: 22,
            ssh_identity: None,
            ssh_known_hosts: None,
            keep: 7,
            keep_days: 0,
        }
    }
}

/// A parsed `backup.remote`: `user@host:/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRemote {
    /// Login on the backup host.
    pub user: String,
    /// Host name or address.
    pub host: String,
    /// Absolute directory on the host.
    pub path: String,
}

impl BackupRemote {
    /// Parses `user@host:/path`. The path is restricted to letters, digits
    /// and `._-/` so that it needs no quoting in a remote shell command.
    pub fn parse(s: &str) -> Result<BackupRemote, String> {
        let bad = || format!("`{s}` is not of the form user@host:/absolute/path");
        let (user, rest) = s.split_once('@').ok_or_else(bad)?;
        let (host, path) = rest.split_once(':').ok_or_else(bad)?;
        let word = |w: &str| {
            !w.is_empty()
                && !w.starts_with('-')
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if !word(user) || !word(host) {
            return Err(bad());
        }
        if !path.starts_with('/')
            || path.split('/').any(|seg| seg == "..")
            || !path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        {
            return Err(format!(
                "`{path}`: the remote path must be absolute and made of letters, digits and ._-/"
            ));
        }
        let path = path.trim_end_matches('/');
        Ok(BackupRemote {
            user: user.into(),
            host: host.into(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        })
    }
}

impl BackupConfig {
    /// Whether backups have somewhere to go (a directory or a remote).
    pub fn configured(&self) -> bool {
        self.dir.is_some() || self.remote.is_some()
    }

    /// Problems of this section as (dotted key, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if matches!(&self.dir, Some(d) if d.as_os_str().is_empty()) {
            out.push(("backup.dir".into(), "must not be empty when set".into()));
        }
        if let Some(remote) = &self.remote {
            if let Err(e) = BackupRemote::parse(remote) {
                out.push(("backup.remote".into(), e));
            }
            if self.ssh_known_hosts.is_none() {
                out.push((
                    "backup.ssh_known_hosts".into(),
                    "required with backup.remote (host keys are always checked)".into(),
                ));
            }
        }
        if self.ssh_port == 0 {
            out.push(("backup.ssh_port".into(), "must be 1 to 65535".into()));
        }
        if self.keep == 0 {
            out.push(("backup.keep".into(), "must be at least 1".into()));
        }
        out
    }
}

/// `[admin]`: the staff-facing admin API (`/admin/api/`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Hours a staff login stays valid without use (each request extends
    /// it).
    pub session_hours: u32,
    /// Days admin requests are kept in the request log
    /// (`clear-request-log`, run daily, removes older ones).
    pub request_log_days: u32,
    /// Always mark the admin panel's session cookie `Secure` (it is anyway
    /// when a trusted proxy reports `X-Forwarded-Proto: https`); set it
    /// when the panel is only reached over TLS.
    pub secure_cookies: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            session_hours: 12,
            request_log_days: 90,
            secure_cookies: false,
        }
    }
}

/// `[cases]`: the back office's cases and tasks. Operator-defined case
/// types (`[[cases.type]]`) come on top of the built-in ones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CasesConfig {
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: u64,
    /// An overdue case escalates to its owner's manager after this many
    /// days past its due time.
    pub escalate_after_days: u32,
    /// A task without an explicit reminder time is reminded this many
    /// minutes before its deadline, unless its case type says otherwise.
    pub remind_before_minutes: u32,
    /// IANA time zone of the daily escalation sweep.
    pub timezone: String,
    /// Operator-defined case types.
    #[serde(rename = "type")]
    pub types: Vec<CaseTypeConfig>,
}

impl Default for CasesConfig {
    fn default() -> Self {
        CasesConfig {
            max_attachment_bytes: 10 * 1024 * 1024,
            escalate_after_days: 3,
            remind_before_minutes: 60,
            timezone: "UTC".into(),
            types: Vec::new(),
        }
    }
}

/// One `[[cases.type]]`: a case type's states and allowed transitions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CaseTypeConfig {
    /// Identifier (`[a-z0-9_]`), unique among built-in and configured types.
    pub name: String,
    /// Human title.
    pub title: String,
    /// Every state, in display order.
    pub states: Vec<String>,
    /// The state a new case starts in.
    pub initial: String,
    /// States in which a case is closed (no SLA, no escalation).
    #[serde(default)]
    pub closed: Vec<String>,
    /// States in which the SLA clock is paused (waiting on the customer).
    #[serde(default)]
    pub waiting: Vec<String>,
    /// Hours from creation to the due time; none: no due time.
    #[serde(default)]
    pub sla_hours: Option<u32>,
    /// Default reminder offset of this type's tasks, in minutes.
    #[serde(default)]
    pub remind_before_minutes: Option<u32>,
    /// Allowed transitions.
    #[serde(default, rename = "transition")]
    pub transitions: Vec<CaseTransitionConfig>,
}

/// One `[[cases.type.transition]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CaseTransitionConfig {
    /// From this state.
    pub from: String,
    /// To this state.
    pub to: String,
    /// Staff roles allowed (`admin`, `support`); empty: every writing role.
    /// Superusers may always.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Case-type names built into Efir; configured types may not reuse them.
pub const BUILTIN_CASE_TYPES: &[&str] = &[
    "connection_request",
    "support_ticket",
    "payment_dispute",
    "box_swap",
];

impl CasesConfig {
    /// Problems of this section as (dotted key, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.max_attachment_bytes == 0 {
            out.push((
                "cases.max_attachment_bytes".into(),
                "must be at least 1".into(),
            ));
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            out.push((
                "cases.timezone".into(),
                format!("unknown time zone `{}`", self.timezone),
            ));
        }
        let ident = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.types.iter().enumerate() {
            let key = |k: &str| format!("cases.type[{i}].{k}");
            if !ident(&t.name) {
                out.push((
                    key("name"),
                    format!("`{}` must be 1 to 64 of a-z 0-9 _", t.name),
                ));
            } else if BUILTIN_CASE_TYPES.contains(&t.name.as_str()) {
                out.push((key("name"), format!("`{}` is a built-in case type", t.name)));
            } else if !names.insert(t.name.clone()) {
                out.push((
                    key("name"),
                    format!("another type is already named `{}`", t.name),
                ));
            }
            if t.title.trim().is_empty() {
                out.push((key("title"), "must not be empty".into()));
            }
            if t.states.is_empty() {
                out.push((key("states"), "must list at least one state".into()));
            }
            let mut seen = std::collections::HashSet::new();
            for s in &t.states {
                if !ident(s) {
                    out.push((
                        key("states"),
                        format!("state `{s}` must be 1 to 64 of a-z 0-9 _"),
                    ));
                } else if !seen.insert(s.as_str()) {
                    out.push((key("states"), format!("state `{s}` is listed twice")));
                }
            }
            let known = |s: &str| t.states.iter().any(|x| x == s);
            if !known(&t.initial) {
                out.push((
                    key("initial"),
                    format!("`{}` is not one of the states", t.initial),
                ));
            }
            for (k, list) in [("closed", &t.closed), ("waiting", &t.waiting)] {
                for s in list {
                    if !known(s) {
                        out.push((key(k), format!("`{s}` is not one of the states")));
                    }
                }
            }
            if let Some(s) = t.waiting.iter().find(|s| t.closed.contains(s)) {
                out.push((
                    key("waiting"),
                    format!("`{s}` cannot be both waiting and closed"),
                ));
            }
            if t.sla_hours == Some(0) {
                out.push((key("sla_hours"), "must be at least 1 when set".into()));
            }
            for (j, tr) in t.transitions.iter().enumerate() {
                let tkey = |k: &str| format!("cases.type[{i}].transition[{j}].{k}");
                if !known(&tr.from) {
                    out.push((
                        tkey("from"),
                        format!("`{}` is not one of the states", tr.from),
                    ));
                }
                if !known(&tr.to) {
                    out.push((tkey("to"), format!("`{}` is not one of the states", tr.to)));
                }
                if tr.from == tr.to {
                    out.push((tkey("to"), "a transition must change the state".into()));
                }
                for r in &tr.roles {
                    if !["admin", "support"].contains(&r.as_str()) {
                        out.push((
                            tkey("roles"),
                            format!("unknown role `{r}`, expected admin or support"),
                        ));
                    }
                }
            }
        }
        out
    }
}

/// `[ingest]`: the ingest farm. Hot folders (`[[ingest.hot_folder]]`) and
/// pipelines (`[[ingest.pipeline]]`) are kept as TOML here and read (and
/// checked) by the ingest part.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Seconds between a worker's heartbeats.
    pub heartbeat_secs: f64,
    /// Seconds without a heartbeat after which a worker is lost and its
    /// jobs move to other workers.
    pub lease_secs: f64,
    /// Seconds between a worker's looks for work when no wake-up comes.
    pub poll_secs: f64,
    /// Scratch space of workers (default `<data_dir>/ingest/work`).
    pub work_dir: Option<PathBuf>,
    /// Where finished outputs go (default `<data_dir>/ingest/output`).
    pub output_dir: Option<PathBuf>,
    /// Bearer token of the operator API (`/api/ingest/…`); unset: off.
    pub api_token: Option<String>,
    /// Jobs a worker runs at once when `efir worker --slots` is not given
    /// (0: one per CPU).
    pub worker_slots: u32,
    /// Directories a worker checks before it takes work, by name
    /// (`source`, `output`, `preview`, `cache`); while one is missing or
    /// not writable the worker refuses all work.
    pub mounts: std::collections::BTreeMap<String, PathBuf>,
    /// Watched folders (`[[ingest.hot_folder]]`).
    pub hot_folder: Vec<toml::Value>,
    /// Pipelines (`[[ingest.pipeline]]`).
    pub pipeline: Vec<toml::Value>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            heartbeat_secs: 2.0,
            lease_secs: 10.0,
            poll_secs: 1.0,
            work_dir: None,
            output_dir: None,
            api_token: None,
            worker_slots: 0,
            mounts: std::collections::BTreeMap::new(),
            hot_folder: Vec::new(),
            pipeline: Vec::new(),
        }
    }
}

/// `[server]`: the HTTP server of `efir serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`EFIR_LISTEN`).
    pub listen: String,
    /// Roles run by `efir serve` when `--role` is not given: `all` or a
    /// list of `api`, `router`, `dispatcher`, `worker`, `scheduler`.
    pub roles: Vec<String>,
    /// Seconds given to in-flight requests on shutdown.
    pub shutdown_timeout_secs: u64,
}

/// `[api]`: the subscriber-facing APIs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Proxies (networks) whose `X-Real-IP` / `X-Forwarded-For` headers give
    /// the subscriber's address; requests from elsewhere use the socket
    /// address.
    pub trusted_proxies: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            trusted_proxies: vec!["127.0.0.1/32".into(), "::1/128".into()],
        }
    }
}

impl ApiConfig {
    /// The trusted proxy networks, parsed.
    pub fn trusted_proxies(&self) -> Result<Vec<crate::net::Cidr>, String> {
        self.trusted_proxies
            .iter()
            .map(|n| {
                n.parse()
                    .map_err(|e: crate::net::ParseCidrError| e.to_string())
            })
            .collect()
    }
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (relative to `data_dir`) or `postgres://…`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// Seconds to wait for a connection.
    pub connect_timeout_secs: u64,
    /// Run pending migrations when `efir serve` starts.
    pub auto_migrate: bool,
    /// PostgreSQL read replicas (`postgres://…`) for the device API's
    /// read-only queries; only with a PostgreSQL `url`.
    pub replicas: Vec<String>,
    /// A replica further behind the primary than this many seconds is
    /// taken out of use until it catches up.
    pub replica_max_lag_secs: u64,
    /// Seconds between two health checks of every replica.
    pub replica_check_secs: u64,
}

/// `[cache]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Redis URL for a cache shared by several nodes; in-process when unset.
    pub redis_url: Option<String>,
    /// Seed nodes of a Redis Cluster (`redis://host:port` each), instead of
    /// `redis_url`.
    pub redis_cluster: Vec<String>,
    /// Prefix of every key Efir writes to Redis.
    pub key_prefix: String,
    /// Default time to live of a cached value, in seconds.
    pub ttl_secs: u64,
    /// Most entries held by the in-process cache.
    pub max_entries: u64,
}

/// `[router]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// Address `efir router` listens on.
    pub listen: String,
    /// Bearer token for `GET /router/state`; unset: the page is off.
    pub admin_token: Option<String>,
    /// nginx `secure_link` secret of the edges; when set, every redirect
    /// carries `md5` and `expires` parameters the edge can check.
    pub secure_link_secret: Option<String>,
    /// Threads answering on the router port, each with its own listening
    /// socket (`SO_REUSEPORT`) like nginx's worker processes; 0: one per
    /// CPU. On a machine that also runs other busy processes, fewer
    /// threads than CPUs can serve more.
    pub threads: u32,
    /// How long a signed redirect stays valid, in seconds.
    pub secure_link_ttl: u64,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Level or filter directives (`info`, `efir_store=debug,info`);
    /// `RUST_LOG` wins when set.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
    /// Also write daily files `<dir>/<component>/<host>/<YYYY-MM-DD>.log`.
    pub dir: Option<PathBuf>,
    /// Also send to syslog, tagged with the service name.
    pub syslog: bool,
    /// Syslog socket: a Unix socket path, or `udp://host:port`.
    pub syslog_socket: String,
    /// Syslog facility (`daemon`, `user`, `local0` … `local7`).
    pub syslog_facility: String,
}

/// `[metrics]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve Prometheus metrics at `/metrics`.
    pub enabled: bool,
}

/// `[statsd]`: optional export of the same metrics to statsd over UDP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsdConfig {
    /// statsd host; export is off when unset.
    pub host: Option<String>,
    /// statsd UDP port.
    pub port: u16,
    /// Prefix added to every metric name.
    pub prefix: String,
    /// Most metrics waiting to be sent; more are dropped, so an unreachable
    /// statsd never grows memory.
    pub queue_size: usize,
}

/// `[sentry]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentryConfig {
    /// DSN of the Sentry project; reporting is off when unset.
    pub dsn: Option<String>,
    /// Environment name shown in Sentry.
    pub environment: Option<String>,
}

/// `[scheduler]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Run `[[schedule]]` entries in processes that have the scheduler role.
    pub enabled: bool,
    /// Also run Efir's built-in entries (stream service checks every
    /// minute); a `[[schedule]]` entry of the same name replaces one.
    pub builtin: bool,
}

/// One `[[schedule]]` entry: a management command run on a cron schedule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    /// Unique name; the command name when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Cron expression: 5 fields (minute hour day month weekday) or 6 with
    /// seconds first.
    pub cron: String,
    /// IANA time zone the expression is read in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Management command, as after `efir manage` (`check-accounts`).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Whether the entry runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl ScheduleEntry {
    /// The entry's unique name.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.command)
    }
}

fn default_timezone() -> String {
    "UTC".into()
}

fn default_true() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            server: ServerConfig::default(),
            api: ApiConfig::default(),
            database: DatabaseConfig::default(),
            cache: CacheConfig::default(),
            router: RouterConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            statsd: StatsdConfig::default(),
            sentry: SentryConfig::default(),
            scheduler: SchedulerConfig::default(),
            schedule: Vec::new(),
            ingest: IngestConfig::default(),
            admin: AdminConfig::default(),
            cases: CasesConfig::default(),
            backup: BackupConfig::default(),
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            enabled: true,
            builtin: true,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            roles: vec!["all".into()],
            shutdown_timeout_secs: 10,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://efir.db".into(),
            max_connections: 10,
            connect_timeout_secs: 10,
            auto_migrate: true,
            replicas: Vec::new(),
            replica_max_lag_secs: 5,
            replica_check_secs: 2,
        }
    }
}

impl DatabaseConfig {
    /// Checks `replicas`: PostgreSQL URLs, and only with a PostgreSQL
    /// primary.
    pub fn check_replicas(&self) -> Result<(), String> {
        if self.replicas.is_empty() {
            return Ok(());
        }
        if DatabaseKind::of(&self.url) != Ok(DatabaseKind::Postgres) {
            return Err("read replicas need a PostgreSQL database.url".into());
        }
        for r in &self.replicas {
            if DatabaseKind::of(r) != Ok(DatabaseKind::Postgres) {
                return Err(format!(
                    "`{}` is not a PostgreSQL URL (postgres://USER@HOST/DB)",
                    redact_url(r)
                ));
            }
        }
        Ok(())
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            redis_url: None,
            redis_cluster: Vec::new(),
            key_prefix: "efir:".into(),
            ttl_secs: 300,
            max_entries: 100_000,
        }
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            listen: "127.0.0.1:8081".into(),
            admin_token: None,
            secure_link_secret: None,
            threads: 0,
            secure_link_ttl: 3600,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
            dir: None,
            syslog: false,
            syslog_socket: "/dev/log".into(),
            syslog_facility: "daemon".into(),
        }
    }
}

impl Default for StatsdConfig {
    fn default() -> Self {
        StatsdConfig {
            host: None,
            port: 8125,
            prefix: "efir".into(),
            queue_size: 10_000,
        }
    }
}

/// Keys whose default is unset and so do not show in the serialized
/// defaults; all take strings.
const OPTIONAL_KEYS: &[&str] = &[
    "cache.redis_url",
    "log.dir",
    "statsd.host",
    "sentry.dsn",
    "sentry.environment",
    "router.admin_token",
    "router.secure_link_secret",
    "ingest.work_dir",
    "ingest.output_dir",
    "ingest.api_token",
    "backup.dir",
    "backup.remote",
    "backup.ssh_identity",
    "backup.ssh_known_hosts",
];

/// Short environment aliases: (variable, key).
const ENV_ALIASES: &[(&str, &str)] = &[
    ("EFIR_LISTEN", "server.listen"),
    ("EFIR_REDIS_URL", "cache.redis_url"),
];

/// Environment variables that are not configuration keys.
const ENV_NOT_KEYS: &[&str] = &["EFIR_CONFIG"];

/// What kind of value a key takes, to read an environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    String,
    Integer,
    Float,
    Bool,
    List,
}

/// One configuration problem, with the key and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when the problem is in one.
    pub file: Option<PathBuf>,
    /// 1-based line in the file.
    pub line: Option<usize>,
    /// Dotted key (`database.url`, `schedule[2].cron`).
    pub key: Option<String>,
    /// The environment variable the value came from.
    pub env: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line, &self.env) {
            (_, _, Some(env)) => write!(f, "{env}: ")?,
            (Some(file), Some(line), None) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None, None) => write!(f, "{}: ", file.display())?,
            _ => {}
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// All problems found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A loaded configuration together with what it was loaded from, so that
/// later checks (say, of scheduled command names) can report lines too.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The file, when one was read.
    pub file: Option<PathBuf>,
    text: Option<String>,
    /// Key → environment variable it was overridden by.
    env_keys: BTreeMap<String, String>,
    /// `EFIR_*` variables that name no key.
    pub unknown_env: Vec<String>,
}

impl Loaded {
    /// An error about `key`, placed at the key's line in the file or at the
    /// environment variable that set it.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let env = self.env_keys.get(key).cloned();
        let line = if env.is_some() {
            None
        } else {
            self.text.as_deref().and_then(|t| line_of_key(t, key))
        };
        ConfigError {
            file: if env.is_some() {
                None
            } else {
                self.file.clone()
            },
            line,
            key: Some(key.to_string()),
            env,
            message: message.into(),
        }
    }
}

impl Config {
    /// Loads the configuration: defaults, then `file` if given, then the
    /// `EFIR_*` variables of `env`. Checks types and values; every problem
    /// found is returned, not only the first.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigErrors> {
        let (text, mut table) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigErrors(vec![ConfigError {
                        file: Some(path.to_path_buf()),
                        line: None,
                        key: None,
                        env: None,
                        message: format!("cannot read: {e}"),
                    }])
                })?;
                let table = toml::from_str::<toml::Table>(&text).map_err(|e| {
                    let line = e.span().map(|s| line_of_offset(&text, s.start));
                    ConfigErrors(vec![ConfigError {
                        file: Some(path.to_path_buf()),
                        line,
                        key: None,
                        env: None,
                        message: format!("invalid TOML: {}", e.message()),
                    }])
                })?;
                (Some(text), table)
            }
            None => (None, toml::Table::new()),
        };

        let mut loaded = Loaded {
            config: Config::default(),
            file: file.map(Path::to_path_buf),
            text,
            env_keys: BTreeMap::new(),
            unknown_env: Vec::new(),
        };

        let kinds = key_kinds();
        let mut errors = Vec::new();
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("EFIR_") && !ENV_NOT_KEYS.contains(&k.as_str()))
            .collect();
        // Aliases first so that the long names win when both are set.
        env.sort_by_key(|(k, _)| !ENV_ALIASES.iter().any(|(a, _)| a == k));
        for (var, value) in env {
            let Some((key, kind)) = env_key(&var, &kinds) else {
                loaded.unknown_env.push(var);
                continue;
            };
            match env_value(&value, kind) {
                Ok(v) => {
                    set_path(&mut table, &key, v);
                    loaded.env_keys.insert(key, var);
                }
                Err(msg) => errors.push(ConfigError {
                    file: None,
                    line: None,
                    key: Some(key),
                    env: Some(var),
                    message: msg,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }

        let config: Config = match serde_path_to_error::deserialize(toml::Value::Table(table)) {
            Ok(c) => c,
            Err(e) => {
                let mut key = path_to_key(e.path());
                let message = e.inner().message().to_string();
                // serde_path_to_error already ends the path with the unknown
                // field for nested tables, but not at the top level.
                if let Some(field) = unknown_field(&message) {
                    if key.is_empty() {
                        key = field;
                    } else if key != field && !key.ends_with(&format!(".{field}")) {
                        key = format!("{key}.{field}");
                    }
                }
                return Err(ConfigErrors(vec![loaded.error_at(&key, message)]));
            }
        };
        loaded.config = config;
        let problems = loaded.config.check(&loaded);
        if problems.is_empty() {
            Ok(loaded)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// Loads from the process environment: the file named by `file` or
    /// `EFIR_CONFIG`, then `EFIR_*` variables.
    pub fn from_env(file: Option<&Path>) -> Result<Loaded, ConfigErrors> {
        let from_var = std::env::var_os("EFIR_CONFIG").map(PathBuf::from);
        let file = file.map(Path::to_path_buf).or(from_var);
        Config::load(file.as_deref(), std::env::vars())
    }

    /// Semantic checks that types alone do not catch.
    fn check(&self, at: &Loaded) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut err = |key: &str, msg: String| errors.push(at.error_at(key, msg));

        for (key, value) in [
            ("server.listen", &self.server.listen),
            ("router.listen", &self.router.listen),
        ] {
            if let Err(e) = SocketAddr::from_str(value) {
                err(key, format!("`{value}` is not a HOST:PORT address ({e})"));
            }
        }
        if let Err(e) = self.roles() {
            err("server.roles", e);
        }
        if let Err(e) = self.api.trusted_proxies() {
            err("api.trusted_proxies", e);
        }
        if let Err(e) = DatabaseKind::of(&self.database.url) {
            err("database.url", e);
        }
        if self.database.max_connections == 0 {
            err("database.max_connections", "must be at least 1".into());
        }
        if let Err(e) = self.database.check_replicas() {
            err("database.replicas", e);
        }
        if self.database.replica_check_secs == 0 {
            err("database.replica_check_secs", "must be at least 1".into());
        }
        if self.data_dir.as_os_str().is_empty() {
            err("data_dir", "must not be empty".into());
        }
        if let Some(url) = &self.cache.redis_url {
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://"))
            {
                err(
                    "cache.redis_url",
                    format!("`{url}` is not a redis:// or rediss:// URL"),
                );
            }
        }
        for url in &self.cache.redis_cluster {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                err(
                    "cache.redis_cluster",
                    format!("`{url}` is not a redis:// or rediss:// URL"),
                );
            }
        }
        if self.cache.redis_url.is_some() && !self.cache.redis_cluster.is_empty() {
            err(
                "cache.redis_cluster",
                "set either cache.redis_url or cache.redis_cluster, not both".into(),
            );
        }
        if let Err(e) = check_log_level(&self.log.level) {
            err("log.level", e);
        }
        if !SYSLOG_FACILITIES.contains(&self.log.syslog_facility.as_str()) {
            err(
                "log.syslog_facility",
                format!(
                    "unknown facility `{}`, expected one of: {}",
                    self.log.syslog_facility,
                    SYSLOG_FACILITIES.join(", ")
                ),
            );
        }
        if matches!(&self.statsd.host, Some(h) if h.trim().is_empty()) {
            err("statsd.host", "must not be empty when set".into());
        }
        if !(1..=24 * 90).contains(&self.admin.session_hours) {
            err(
                "admin.session_hours",
                "must be from 1 to 2160 (90 days)".into(),
            );
        }
        if self.admin.request_log_days == 0 {
            err("admin.request_log_days", "must be at least 1".into());
        }
        if self.statsd.queue_size == 0 {
            err("statsd.queue_size", "must be at least 1".into());
        }
        if matches!(&self.router.admin_token, Some(t) if t.len() < 16) {
            err(
                "router.admin_token",
                "must be at least 16 characters when set".into(),
            );
        }
        if matches!(&self.router.secure_link_secret, Some(t) if t.is_empty()) {
            err(
                "router.secure_link_secret",
                "must not be empty when set".into(),
            );
        }
        if matches!(&self.ingest.api_token, Some(t) if t.len() < 16) {
            err(
                "ingest.api_token",
                "must be at least 16 characters when set".into(),
            );
        }
        let ingest = &self.ingest;
        for (key, v, lo, hi) in [
            ("ingest.heartbeat_secs", ingest.heartbeat_secs, 0.05, 3600.0),
            ("ingest.lease_secs", ingest.lease_secs, 0.1, 86_400.0),
            ("ingest.poll_secs", ingest.poll_secs, 0.01, 3600.0),
        ] {
            if !(lo..=hi).contains(&v) {
                err(key, format!("must be between {lo} and {hi}"));
            }
        }
        if ingest.lease_secs < 2.0 * ingest.heartbeat_secs {
            err(
                "ingest.lease_secs",
                "must be at least twice ingest.heartbeat_secs".into(),
            );
        }
        if self.router.threads > 1024 {
            err(
                "router.threads",
                "must be at most 1024 (0: one per CPU)".into(),
            );
        }
        if !(1..=31_536_000).contains(&self.router.secure_link_ttl) {
            err(
                "router.secure_link_ttl",
                "must be 1 to 31536000 seconds".into(),
            );
        }
        if let Some(dsn) = &self.sentry.dsn {
            if !(dsn.starts_with("http://") || dsn.starts_with("https://")) || !dsn.contains('@') {
                err(
                    "sentry.dsn",
                    "expected a DSN such as https://KEY@HOST/PROJECT".into(),
                );
            }
        }
        for (key, msg) in self.cases.problems() {
            err(&key, msg);
        }
        for (key, msg) in self.backup.problems() {
            err(&key, msg);
        }
        let mut names = std::collections::HashSet::new();
        for (i, entry) in self.schedule.iter().enumerate() {
            if let Err(e) = parse_cron(&entry.cron) {
                err(&format!("schedule[{i}].cron"), e);
            }
            if let Err(e) = entry.timezone.parse::<chrono_tz::Tz>() {
                err(
                    &format!("schedule[{i}].timezone"),
                    format!("unknown time zone: {e}"),
                );
            }
            if entry.command.trim().is_empty() {
                err(
                    &format!("schedule[{i}].command"),
                    "must not be empty".into(),
                );
            }
            if !names.insert(entry.name().to_string()) {
                err(
                    &format!("schedule[{i}].name"),
                    format!(
                        "another entry is already named `{}`; give each entry a unique `name`",
                        entry.name()
                    ),
                );
            }
        }
        errors
    }

    /// The roles `efir serve` runs when `--role` is not given.
    pub fn roles(&self) -> Result<RoleSet, String> {
        self.server.roles.join(",").parse()
    }

    /// The database URL with a relative SQLite path resolved against
    /// `data_dir`.
    pub fn database_url(&self) -> String {
        resolve_sqlite_url(&self.database.url, &self.data_dir)
    }

    /// The default configuration as a commented TOML document.
    pub fn default_toml() -> String {
        toml::to_string_pretty(&Config::default()).unwrap_or_default()
    }
}

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// `sqlite:`.
    Sqlite,
    /// `postgres:` or `postgresql:`.
    Postgres,
}

impl DatabaseKind {
    /// The kind selected by `url`'s scheme.
    pub fn of(url: &str) -> Result<Self, String> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or("");
            if path.is_empty() {
                return Err(format!("`{url}` names no SQLite file"));
            }
            Ok(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres)
        } else {
            Err(format!(
                "unsupported database URL `{}`: expected sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            ))
        }
    }
}

/// `url` with any password replaced by `***`, fit for logs.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

/// Resolves a relative SQLite path against `base`; other URLs pass through.
pub fn resolve_sqlite_url(url: &str, base: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_string();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path == ":memory:" || Path::new(path).is_absolute() {
        return url.to_string();
    }
    let full = base.join(path);
    match query {
        Some(q) => format!("sqlite://{}?{q}", full.display()),
        None => format!("sqlite://{}", full.display()),
    }
}

const SYSLOG_FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

fn check_log_level(value: &str) -> Result<(), String> {
    for directive in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "`{directive}`: unknown level `{level}`, expected one of: {}",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}

/// Parses a cron expression of 5 fields, or 6 with seconds first.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::Cron::new(expr)
        .with_seconds_optional()
        .parse()
        .map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where dotted `key` (with `[i]` indexes) is written in `text`.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for seg in split_key(key) {
        match seg {
            Seg::Key(k) => {
                let table = item.as_table_like()?;
                let (kk, it) = table.get_key_value(k)?;
                span = kk.span().or_else(|| it.span()).or(span);
                item = it;
            }
            Seg::Index(i) => {
                if let Some(arr) = item.as_array_of_tables() {
                    let t = arr.get(i)?;
                    span = t.span().or(span);
                    // toml_edit keeps tables as items through a reference.
                    return line_in_table(text, t, key, span);
                }
                let arr = item.as_array()?;
                let v = arr.get(i)?;
                span = v.span().or(span);
                return span.map(|s| line_of_offset(text, s.start));
            }
        }
    }
    span.map(|s| line_of_offset(text, s.start))
}

/// Continues [`line_of_key`] inside one table of an array of tables.
fn line_in_table(
    text: &str,
    table: &toml_edit::Table,
    key: &str,
    span: Option<std::ops::Range<usize>>,
) -> Option<usize> {
    // The remaining path after the first `[i]`.
    let rest = key.split_once(']').map(|(_, r)| r.trim_start_matches('.'));
    let mut span = span;
    if let Some(rest) = rest.filter(|r| !r.is_empty()) {
        let first = rest.split(['.', '[']).next().unwrap_or(rest);
        if let Some((k, it)) = table.get_key_value(first) {
            span = k.span().or_else(|| it.span()).or(span);
        }
    }
    span.map(|s| line_of_offset(text, s.start))
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_key(key: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Seg::Key(name));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            if let Ok(i) = stripped[..end].parse() {
                out.push(Seg::Index(i));
            }
            rest = &stripped[end + 1..];
        }
    }
    out
}

fn path_to_key(path: &serde_path_to_error::Path) -> String {
    let mut key = String::new();
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key: k } => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            serde_path_to_error::Segment::Enum { variant } => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(variant);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    key
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// Every scalar key with the kind of value it takes.
fn key_kinds() -> BTreeMap<String, KeyKind> {
    let mut kinds = BTreeMap::new();
    if let Ok(toml::Value::Table(t)) = toml::Value::try_from(Config::default()) {
        collect_kinds(&t, "", &mut kinds);
    }
    for key in OPTIONAL_KEYS {
        kinds.insert((*key).to_string(), KeyKind::String);
    }
    kinds.remove("schedule");
    kinds
}

fn collect_kinds(table: &toml::Table, prefix: &str, out: &mut BTreeMap<String, KeyKind>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let kind = match v {
            toml::Value::Table(t) => {
                collect_kinds(t, &key, out);
                continue;
            }
            toml::Value::Integer(_) => KeyKind::Integer,
            toml::Value::Float(_) => KeyKind::Float,
            toml::Value::Boolean(_) => KeyKind::Bool,
            toml::Value::Array(_) => KeyKind::List,
            _ => KeyKind::String,
        };
        out.insert(key, kind);
    }
}

/// The key an `EFIR_*` variable sets.
fn env_key(var: &str, kinds: &BTreeMap<String, KeyKind>) -> Option<(String, KeyKind)> {
    if let Some((_, key)) = ENV_ALIASES.iter().find(|(a, _)| *a == var) {
        return kinds.get(*key).map(|k| (key.to_string(), *k));
    }
    let wanted = var.strip_prefix("EFIR_")?;
    kinds
        .iter()
        .find(|(key, _)| key.replace('.', "_").to_ascii_uppercase() == wanted)
        .map(|(k, kind)| (k.clone(), *kind))
}

fn env_value(value: &str, kind: KeyKind) -> Result<toml::Value, String> {
    let v = value.trim();
    match kind {
        KeyKind::String => Ok(toml::Value::String(value.to_string())),
        KeyKind::Integer => v
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("`{value}` is not a whole number")),
        KeyKind::Float => v
            .parse::<f64>()
            .map(toml::Value::Float)
            .map_err(|_| format!("`{value}` is not a number")),
        KeyKind::Bool => match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "0" | "false" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("`{value}` is not true/false")),
        },
        KeyKind::List => Ok(toml::Value::Array(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        )),
    }
}

fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut t = table;
    for p in parts {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        t = next;
    }
    t.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile_lite::File {
        tempfile_lite::File::new(text)
    }

    /// A tiny temp-file helper so the core has no dev-dependency on tempfile.
    mod tempfile_lite {
        pub struct File(pub std::path::PathBuf);
        impl File {
            pub fn new(text: &str) -> Self {
                let path = std::env::temp_dir().join(format!(
                    "efir-config-test-{}.toml",
                    crate::secret::random_hex(8)
                ));
                let mut f = std::fs::File::create(&path).unwrap();
                super::Write::write_all(&mut f, text.as_bytes()).unwrap();
                File(path)
            }
        }
        impl Drop for File {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn defaults_need_no_file() {
        let loaded = Config::load(None, no_env()).unwrap();
        let c = loaded.config;
        assert_eq!(c.database.url, "sqlite://efir.db");
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert!(c.database.auto_migrate);
        assert_eq!(
            c.database_url(),
            format!("sqlite://{}", Path::new("data").join("efir.db").display())
        );
    }

    #[test]
    fn file_then_env_override() {
        let f = write("[database]\nurl = \"postgres://u@h/db\"\nmax_connections = 3\n[server]\nlisten = \"0.0.0.0:9000\"\n");
        let env = vec![
            ("EFIR_DATABASE_MAX_CONNECTIONS".to_string(), "7".to_string()),
            ("EFIR_LISTEN".to_string(), "127.0.0.1:9999".to_string()),
            ("EFIR_LOG_FORMAT".to_string(), "json".to_string()),
            (
                "EFIR_SERVER_ROLES".to_string(),
                "api, scheduler".to_string(),
            ),
            ("EFIR_STATSD_HOST".to_string(), "10.0.0.1".to_string()),
            ("EFIR_METRICS_ENABLED".to_string(), "false".to_string()),
            ("EFIR_CONFIG".to_string(), "ignored".to_string()),
            ("EFIR_NOT_A_KEY".to_string(), "x".to_string()),
        ];
        let loaded = Config::load(Some(&f.0), env).unwrap();
        let c = &loaded.config;
        assert_eq!(c.database.url, "postgres://u@h/db");
        assert_eq!(c.database.max_connections, 7);
        assert_eq!(c.server.listen, "127.0.0.1:9999");
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.statsd.host.as_deref(), Some("10.0.0.1"));
        assert!(!c.metrics.enabled);
        assert_eq!(c.roles().unwrap().to_string(), "api,scheduler");
        assert_eq!(loaded.unknown_env, vec!["EFIR_NOT_A_KEY".to_string()]);
    }

    #[test]
    fn type_error_names_key_and_line() {
        let f =
            write("# comment\n[database]\nurl = \"sqlite://x.db\"\nmax_connections = \"ten\"\n");
        let err = Config::load(Some(&f.0), no_env()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(":4: database.max_connections: "), "{text}");
        assert!(text.contains("invalid type"), "{text}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let f = write("[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n");
        let err = Config::load(Some(&f.0), no_env()).unwrap_err();
        let e = &err.0[0];
        assert_eq!(e.key.as_deref(), Some("server.lisen"));
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn syntax_error_has_line() {
        let f = write("[server]\nlisten = \n");
        let err = Config::load(Some(&f.0), no_env()).unwrap_err();
        assert_eq!(err.0[0].line, Some(2), "{err}");
        assert!(err.to_string().contains("invalid TOML"));
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let f = write(
            "[server]\nlisten = \"nowhere\"\n[database]\nurl = \"mysql://x\"\n\n[[schedule]]\ncron = \"0 3 * * *\"\ncommand = \"a\"\n\n[[schedule]]\ncron = \"61 * * * *\"\ntimezone = \"Mars/Olympus\"\ncommand = \"b\"\n",
        );
        let err = Config::load(Some(&f.0), no_env()).unwrap_err();
        let keys: Vec<_> = err
            .0
            .iter()
            .map(|e| (e.key.clone().unwrap(), e.line))
            .collect();
        assert!(
            keys.contains(&("server.listen".into(), Some(2))),
            "{keys:?}"
        );
        assert!(keys.contains(&("database.url".into(), Some(4))), "{keys:?}");
        assert!(
            keys.contains(&("schedule[1].cron".into(), Some(11))),
            "{keys:?}"
        );
        assert!(
            keys.contains(&("schedule[1].timezone".into(), Some(12))),
            "{keys:?}"
        );
        assert_eq!(keys.len(), 4, "{err}");
    }

    #[test]
    fn bad_env_value_names_variable() {
        let env = vec![(
            "EFIR_DATABASE_MAX_CONNECTIONS".to_string(),
            "lots".to_string(),
        )];
        let err = Config::load(None, env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "EFIR_DATABASE_MAX_CONNECTIONS: database.max_connections: `lots` is not a whole number"
        );
        let env = vec![("EFIR_DATABASE_URL".to_string(), "oracle://x".to_string())];
        let err = Config::load(None, env).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("EFIR_DATABASE_URL: database.url: "));
    }

    #[test]
    fn replicas_are_checked() {
        let env = vec![(
            "EFIR_DATABASE_REPLICAS".to_string(),
            "postgres://r1/db, postgres://u:pw@r2/db".to_string(),
        )];
        let f = write("[database]\nurl = \"postgres://p/db\"\nreplica_max_lag_secs = 3\n");
        let loaded = Config::load(Some(&f.0), env).unwrap();
        assert_eq!(
            loaded.config.database.replicas,
            vec![
                "postgres://r1/db".to_string(),
                "postgres://u:pw@r2/db".to_string()
            ]
        );
        assert_eq!(loaded.config.database.replica_max_lag_secs, 3);
        assert_eq!(loaded.config.database.replica_check_secs, 2);
        let f = write("[database]\nurl = \"sqlite://x.db\"\nreplicas = [\"postgres://r/db\"]\n");
        let text = Config::load(Some(&f.0), no_env()).unwrap_err().to_string();
        assert!(
            text.contains("database.replicas: read replicas need a PostgreSQL"),
            "{text}"
        );
        let f = write(
            "[database]\nurl = \"postgres://p/db\"\nreplicas = [\"mysql://u:secret@r/db\"]\n",
        );
        let text = Config::load(Some(&f.0), no_env()).unwrap_err().to_string();
        assert!(
            text.contains("database.replicas: `mysql://u:***@r/db` is not a PostgreSQL URL"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn trusted_proxies_are_checked() {
        let env = vec![(
            "EFIR_API_TRUSTED_PROXIES".to_string(),
            "10.0.0.0/8, nope".to_string(),
        )];
        let err = Config::load(None, env).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("EFIR_API_TRUSTED_PROXIES: api.trusted_proxies: `nope`"),
            "{err}"
        );
        let env = vec![(
            "EFIR_API_TRUSTED_PROXIES".to_string(),
            "10.0.0.0/8,::1".to_string(),
        )];
        let loaded = Config::load(None, env).unwrap();
        assert_eq!(loaded.config.api.trusted_proxies().unwrap().len(), 2);
    }

    #[test]
    fn duplicate_schedule_names_rejected() {
        let f = write("[[schedule]]\ncron = \"* * * * *\"\ncommand = \"flushall\"\n[[schedule]]\ncron = \"0 * * * *\"\ncommand = \"flushall\"\n");
        let err = Config::load(Some(&f.0), no_env()).unwrap_err();
        assert_eq!(err.0[0].key.as_deref(), Some("schedule[1].name"));
    }

    #[test]
    fn urls_are_redacted_and_resolved() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite:///abs/x.db", Path::new("/d")),
            "sqlite:///abs/x.db"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite://x.db?mode=rwc", Path::new("/d")),
            "sqlite:///d/x.db?mode=rwc"
        );
        assert_eq!(
            DatabaseKind::of("postgresql://h/db"),
            Ok(DatabaseKind::Postgres)
        );
        assert!(DatabaseKind::of("sqlite://").is_err());
    }

    #[test]
    fn default_toml_round_trips() {
        let text = Config::default_toml();
        let f = write(&text);
        Config::load(Some(&f.0), no_env()).unwrap();
    }

    #[test]
    fn backup_section_is_checked() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let ok = Config::load(
            None,
            env(&[
                (
                    "EFIR_BACKUP_REMOTE",
                    "efir@backup-1.example:/srv/backups/efir/",
                ),
                ("EFIR_BACKUP_SSH_KNOWN_HOSTS", "/etc/efir/known_hosts"),
                ("EFIR_BACKUP_KEEP", "3"),
            ]),
        )
        .unwrap()
        .config;
        assert_eq!(ok.backup.keep, 3);
        let r = BackupRemote::parse(ok.backup.remote.as_deref().unwrap()).unwrap();
        assert_eq!(
            (r.user.as_str(), r.host.as_str(), r.path.as_str()),
            ("efir", "backup-1.example", "/srv/backups/efir")
        );
        let errors = Config::load(
            None,
            env(&[
                ("EFIR_BACKUP_REMOTE", "efir@host:/srv/$(reboot)"),
                ("EFIR_BACKUP_KEEP", "0"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(errors.contains("backup.remote"), "{errors}");
        assert!(
            errors.contains("backup.ssh_known_hosts: required"),
            "{errors}"
        );
        assert!(
            errors.contains("backup.keep: must be at least 1"),
            "{errors}"
        );
        for bad in [
            "host:/x",
            "u@h",
            "u@h:relative",
            "u@-oProxy=x:/p",
            "u@h:/a/../b",
        ] {
            assert!(BackupRemote::parse(bad).is_err(), "{bad}");
        }
    }
}
