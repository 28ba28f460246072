//! The command line: `efir serve | router | worker | manage … | config …`.
//!
//! Management commands accept the snake_case names and options of the
//! Smarty commands they replace (`create_client --api_key=… --is_admin=True`)
//! so that operators' crontabs and runbooks translate one to one.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use efir_core::RoleSet;

/// Efir: one binary that runs a TV and video service for an operator.
#[derive(Debug, Parser)]
#[command(name = "efir", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Without one, built-in defaults and EFIR_*
    /// environment variables are used.
    #[arg(long, global = true, env = "EFIR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB
    /// [default: sqlite://efir.db under the data directory]
    #[arg(
        long,
        global = true,
        env = "EFIR_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Data directory for the SQLite file, icons, previews and logs [default: data]
    #[arg(long, global = true, env = "EFIR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log level or filter directives (overrides log.level; RUST_LOG wins)
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Efir: HTTP APIs, router, scheduler and workers, as the roles say.
    Serve(ServeArgs),
    /// Run only the CDN request router (same as `serve --role router`).
    Router(RouterArgs),
    /// Run only an ingest worker node (same as `serve --role worker`).
    Worker(WorkerArgs),
    /// Management commands (migrations, operators, users, backups, caches…).
    Manage(ManageArgs),
    /// Check or show the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `efir serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP API [default: 127.0.0.1:8080]
    #[arg(long, env = "EFIR_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Roles to run: all, or a comma-separated list of api, router,
    /// dispatcher, worker, scheduler [default: server.roles, which is all]
    #[arg(long, value_name = "ROLES")]
    pub role: Option<RoleSet>,
    /// Do not run pending migrations at start (fail if any are pending).
    #[arg(long)]
    pub no_migrate: bool,
}

/// `efir router`.
#[derive(Debug, Args)]
pub struct RouterArgs {
    /// Address of the router [default: router.listen, 127.0.0.1:8081]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Do not run pending migrations at start.
    #[arg(long)]
    pub no_migrate: bool,
}

/// `efir worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Jobs run at once [default: ingest.worker_slots, or one per CPU]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub slots: Option<u32>,
    /// Name shown to operators [default: <host>:<pid>]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Do not run pending migrations at start.
    #[arg(long)]
    pub no_migrate: bool,
}

/// `efir config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file (and EFIR_* variables); print every
    /// problem with its key and line.
    Check {
        /// The file [default: --config / EFIR_CONFIG]
        file: Option<PathBuf>,
    },
    /// Print the effective configuration (secrets hidden).
    Show,
    /// Print the default configuration as a starting efir.toml.
    Default,
}

/// `efir manage …`.
#[derive(Debug, Args)]
pub struct ManageArgs {
    /// Print a machine-readable JSON result.
    #[arg(long, global = true)]
    pub json: bool,
    /// Accepted and ignored, so that Smarty command lines work unchanged
    /// (Efir reads efir.toml).
    #[arg(long, global = true, hide = true, value_name = "MODULE")]
    pub settings: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: ManageCommand,
}

/// Parses `True`/`False`/`1`/`0`/`yes`/`no` as the Smarty commands did.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "0" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!("`{s}` is not True or False")),
    }
}

/// A management command; also what `[[schedule]]` entries name.
#[derive(Debug, Clone, Subcommand)]
pub enum ManageCommand {
    /// Cases and tasks of the back office.
    #[command(flatten)]
    Cases(crate::cases::CasesCommand),
    /// Apply pending database migrations (or show their status).
    Migrate {
        /// Only list migrations and whether they are applied.
        #[arg(long)]
        status: bool,
        /// Back the database up into this directory first, only when
        /// migrations are pending (efir-<schema>-<UTC time>.db or .dump).
        #[arg(long, value_name = "DIR", conflicts_with = "status")]
        backup_dir: Option<PathBuf>,
    },
    /// Create a superuser: interactively, or with --username and --password.
    #[command(name = "createsuperuser", alias = "create-superuser")]
    CreateSuperuser {
        /// Login name.
        #[arg(long)]
        username: Option<String>,
        /// Password (prompted for when absent and interactive).
        #[arg(long)]
        password: Option<String>,
        /// E-mail.
        #[arg(long)]
        email: Option<String>,
        /// Never prompt; fail when something is missing.
        #[arg(long, alias = "noinput", alias = "no_input")]
        no_input: bool,
    },
    /// Create system objects and a sample operator to start from.
    #[command(alias = "setup_initial_data")]
    SetupInitialData {
        /// Only system objects, no sample operator.
        #[arg(long, alias = "no_sample_data")]
        no_sample_data: bool,
    },
    /// Create an operator (client); prints its id and generated keys.
    #[command(alias = "create_client")]
    CreateClient(CreateClientArgs),
    /// Create a staff user, or with --reset-password change the password of
    /// an existing one.
    #[command(alias = "create_user")]
    CreateUser(CreateUserArgs),
    /// Copy an operator's settings (and, on request, its content) into a new
    /// operator.
    #[command(alias = "clone_client")]
    CloneClient(CloneClientArgs),
    /// List operators.
    #[command(alias = "list_clients")]
    ListClients,
    /// Clear every cache (in-process caches of running nodes and Redis).
    Flushall,
    /// Write a consistent backup of the database: to --output, or (without
    /// it) to `backup.dir` and/or `backup.remote`, applying retention.
    Backup {
        /// Output file; strftime patterns such as %Y%m%d-%H%M are expanded.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// List the backups in `backup.dir` and on `backup.remote` instead.
        #[arg(long, conflicts_with = "output")]
        list: bool,
    },
    /// Replace the database with a backup (stop Efir first).
    Restore {
        /// The backup file.
        #[arg(long, short, required_unless_present_any = ["latest", "name"], conflicts_with_all = ["latest", "name"])]
        input: Option<PathBuf>,
        /// The newest backup of this database's kind and environment in
        /// `backup.dir` or on `backup.remote`.
        #[arg(long, conflicts_with = "name")]
        latest: bool,
        /// This backup (as `backup --list` shows it), from `backup.dir` or
        /// `backup.remote`.
        #[arg(long)]
        name: Option<String>,
        /// Confirm that the current data is to be replaced.
        #[arg(long)]
        yes: bool,
    },
    /// The built-in scheduler: upcoming and recent runs.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// The nodes of the cluster (every `efir serve`, `router` and `worker`
    /// sharing this database).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Probe every stream service (HTTP check URL or TCP) and record its
    /// health; scheduled every minute by default.
    #[command(alias = "check_stream_services")]
    CheckStreamServices {
        /// Only this operator's services.
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
        /// Seconds to wait for each service.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=120))]
        timeout_secs: u64,
    },
    /// Make every node rebuild its cached channel lists (Efir rebuilds them
    /// on demand; kept so that Smarty crontabs keep working).
    #[command(alias = "cache_channel_list")]
    CacheChannelList {
        /// Only this operator.
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
    },
    /// Replace the IP geolocation table (tariff geography) from a CSV file:
    /// `FIRST,LAST,CC[,City]` or `NETWORK/PREFIX,CC[,City]` per line.
    #[command(alias = "geoip_import")]
    GeoipImport {
        /// The CSV file.
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Log every device of an operator out (end all its sessions).
    #[command(alias = "delete_authkeys")]
    DeleteAuthkeys {
        /// The operator.
        #[arg(long, alias = "client_id")]
        client_id: i64,
    },
    /// Add an EPG source (an XMLTV guide at a URL or path) and print its id.
    #[command(alias = "epg_source_add")]
    EpgSourceAdd {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// http(s) URL (`{date}` becomes YYYYMMDD) or a path; plain, gzip or xz.
        #[arg(long)]
        url: String,
        /// Offset of times written without a zone, in hours (e.g. 3, -5.5).
        #[arg(
            long,
            alias = "offset_hours",
            allow_hyphen_values = true,
            conflicts_with = "time_zone"
        )]
        offset_hours: Option<f64>,
        /// Time zone of times written without one (IANA name, DST-aware).
        #[arg(long, alias = "time_zone")]
        time_zone: Option<String>,
        /// The operator owning it (default: shared by all operators).
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
    },
    /// Load the EPG channels (names and icons) of a source.
    #[command(alias = "epg_channel_import")]
    EpgChannelImport {
        /// The source, by id.
        #[arg(
            long,
            alias = "epg_source_id",
            required_unless_present = "epg_source_name"
        )]
        epg_source_id: Option<i64>,
        /// The source, by name.
        #[arg(long, alias = "epg_source_name", conflicts_with = "epg_source_id")]
        epg_source_name: Option<String>,
        /// Only this EPG channel.
        #[arg(long, alias = "epg_channel_id")]
        epg_channel_id: Option<i64>,
        /// Only the EPG channel of this Efir channel.
        #[arg(long, alias = "channel_id")]
        channel_id: Option<i64>,
        /// Download the icons again even when they did not change.
        #[arg(long, alias = "reimport_icons")]
        reimport_icons: bool,
        /// Load every channel of the source (other filters are ignored).
        #[arg(long, alias = "force_import")]
        force_import: bool,
        /// Merge EPG channels of the source that share an external id.
        #[arg(long, alias = "fix_duplicates")]
        fix_duplicates: bool,
        /// One line per icon.
        #[arg(long)]
        verbose: bool,
    },
    /// Import programmes from the EPG sources; scheduled at 05:00, 09:00 and
    /// 13:00 by default.
    #[command(alias = "epg_import")]
    EpgImport {
        /// Only this source, by id.
        #[arg(long, alias = "epg_source_id")]
        epg_source_id: Option<i64>,
        /// Only this source, by name.
        #[arg(long, alias = "epg_source_name", conflicts_with = "epg_source_id")]
        epg_source_name: Option<String>,
        /// Only this EPG channel.
        #[arg(long, alias = "epg_channel_id")]
        epg_channel_id: Option<i64>,
        /// Delete programmes that ended more than N days ago.
        #[arg(long, alias = "actual_days", value_parser = clap::value_parser!(i64).range(0..=3650))]
        actual_days: Option<i64>,
        /// Import even when the guide did not change.
        #[arg(long, alias = "force_reimport")]
        force_reimport: bool,
        /// Only this operator's sources (and the shared ones).
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
        /// Create channels of this operator (--client-id) for EPG channels
        /// not yet mapped to one.
        #[arg(long, alias = "create_content", requires = "client_id")]
        create_content: bool,
        /// With --create-content: only create content, import no programmes.
        #[arg(long, alias = "ignore_epg_import", requires = "create_content")]
        ignore_epg_import: bool,
    },
    /// List the EPG sources with their last import.
    #[command(alias = "epg_source_list")]
    EpgSourceList,
    /// List the EPG channels of a source with the channels that show them.
    #[command(alias = "epg_channel_list")]
    EpgChannelList {
        /// The source, by id.
        #[arg(long, alias = "epg_source_id")]
        epg_source_id: i64,
    },
    /// Change an EPG channel: its offset for times written without a zone,
    /// whether its guide is imported, and which channels show it.
    #[command(alias = "epg_channel_set")]
    EpgChannelSet {
        /// The EPG channel.
        #[arg(long, alias = "epg_channel_id")]
        epg_channel_id: i64,
        /// Offset of zoneless times in hours (e.g. 3, -5.5).
        #[arg(
            long,
            alias = "offset_hours",
            allow_hyphen_values = true,
            conflicts_with = "source_zone"
        )]
        offset_hours: Option<f64>,
        /// Use the source's zone for zoneless times again.
        #[arg(long, alias = "source_zone")]
        source_zone: bool,
        /// Import its guide (True/False).
        #[arg(long, value_parser = parse_bool)]
        enabled: Option<bool>,
        /// Show its guide on this channel (repeatable).
        #[arg(long = "map-channel-id", alias = "map_channel_id")]
        map_channel_ids: Vec<i64>,
    },
    /// Rebuild the premiere list from programmes marked as premieres.
    #[command(alias = "epg_premiere_import")]
    EpgPremiereImport {
        /// Only this EPG channel.
        #[arg(long, alias = "epg_channel_id")]
        epg_channel_id: Option<i64>,
        /// How many days ahead.
        #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(i64).range(1..=60))]
        days: i64,
    },
    /// Check the stored icons of every EPG channel and fetch missing sizes.
    #[command(alias = "recache_icons")]
    RecacheIcons,
    /// Write the guide of an operator's channels as XMLTV.
    #[command(alias = "epg_export")]
    EpgExport {
        /// The operator.
        #[arg(long, alias = "client_id")]
        client_id: i64,
        /// Days ahead (and today).
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(i64).range(1..=60))]
        days: i64,
        /// The XMLTV file to write (`-` for standard output).
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Parse an XMLTV file (plain, gzip or xz) without storing anything and
    /// report what it holds and every malformed programme.
    #[command(alias = "epg_check")]
    EpgCheck {
        /// The guide.
        file: PathBuf,
    },
    /// Replace the router's subnet table from a file: CSV `cidr,region` or an
    /// Apache Traffic Control coverage-zone JSON (detected by content).
    #[command(alias = "router_import_subnets")]
    RouterImportSubnets {
        /// The file.
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Add an edge server to the CDN router.
    #[command(alias = "router_edge_add")]
    RouterEdgeAdd {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// Base URL redirects point to (`https://edge1.example.net`).
        #[arg(long)]
        url: String,
        /// Region (created when missing).
        #[arg(long)]
        region: String,
        /// Relative share of requests, 1 to 1000.
        #[arg(long, default_value_t = 100)]
        weight: u32,
        /// Sessions it takes at once (default: unlimited).
        #[arg(long)]
        capacity: Option<u64>,
        /// Mbit/s it delivers at most, compared with the `mbps` its health
        /// URL reports (default: unlimited).
        #[arg(long, alias = "capacity_mbps")]
        capacity_mbps: Option<u64>,
        /// What it serves: live, catchup, vod (comma-separated).
        #[arg(long, default_value = "live,catchup,vod")]
        serves: String,
        /// Health URL polled by the router (default: not polled).
        #[arg(long, alias = "health_url")]
        health_url: Option<String>,
        /// Channels it carries, comma-separated (default: all).
        #[arg(long)]
        channels: Option<String>,
    },
    /// Enable, disable or drain an edge server.
    #[command(alias = "router_edge_set")]
    RouterEdgeSet {
        /// The edge.
        #[arg(long)]
        name: String,
        /// Whether it takes requests at all.
        #[arg(long, value_parser = parse_bool)]
        enabled: Option<bool>,
        /// Drain it: no new requests.
        #[arg(long, value_parser = parse_bool)]
        drain: Option<bool>,
    },
    /// Set a router region's fallback regions and whether it is a default.
    #[command(alias = "router_region_set")]
    RouterRegionSet {
        /// The region (created when missing).
        #[arg(long)]
        name: String,
        /// Regions tried next, in order, comma-separated ('' for none).
        #[arg(long)]
        fallback: Option<String>,
        /// Serve clients of no region (and be tried last).
        #[arg(long = "default", value_parser = parse_bool)]
        is_default: Option<bool>,
        /// Countries (ISO codes, comma-separated) whose clients come here
        /// when no subnet matches (geolocation from `geoip-import`).
        #[arg(long)]
        countries: Option<String>,
    },
    /// Pin a channel (live, catchup) or VOD assets (path, or prefix ending
    /// in '/') to an edge or a region.
    #[command(alias = "router_override_set")]
    RouterOverrideSet {
        /// live, catchup or vod.
        #[arg(long)]
        kind: String,
        /// Channel id, or VOD asset path or prefix.
        #[arg(long)]
        key: String,
        /// Send it to this edge (when that one can serve).
        #[arg(long, conflicts_with = "region", required_unless_present = "region")]
        edge: Option<String>,
        /// Send it to this region (then its fallbacks).
        #[arg(long)]
        region: Option<String>,
    },
    /// Remove a pin set with router-override-set.
    #[command(alias = "router_override_remove")]
    RouterOverrideRemove {
        /// live, catchup or vod.
        #[arg(long)]
        kind: String,
        /// Channel id, or VOD asset path or prefix.
        #[arg(long)]
        key: String,
    },
    /// Make every router node reload its configuration now.
    #[command(alias = "router_resync")]
    RouterResync,
    /// Queue an ingest job: run a pipeline on a file.
    #[command(alias = "job_submit")]
    JobSubmit {
        /// The pipeline (`[[ingest.pipeline]]` name, or `noop`).
        #[arg(long)]
        pipeline: String,
        /// The input file (made absolute).
        #[arg(long)]
        input: PathBuf,
        /// Lower runs first.
        #[arg(long, default_value_t = 0)]
        priority: i64,
        /// Process fully but deliver nothing.
        #[arg(long)]
        dry_run: bool,
        /// Record only: no delivery, no notification.
        #[arg(long)]
        import: bool,
        /// Submit this many copies (no-op throughput checks).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        count: u32,
    },
    /// List ingest jobs, newest first.
    #[command(alias = "job_list")]
    JobList {
        /// Only this state (pending, running, succeeded, failed, cancelled, dead).
        #[arg(long)]
        state: Option<String>,
        /// Only this pipeline.
        #[arg(long)]
        pipeline: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Cancel an ingest job (a running one stops at its next heartbeat).
    #[command(alias = "job_cancel")]
    JobCancel {
        /// The job id.
        id: i64,
    },
    /// Run a failed, dead or cancelled ingest job again.
    #[command(alias = "job_retry")]
    JobRetry {
        /// The job id.
        id: i64,
    },
    /// List ingest workers (with --all also lost and stopped ones).
    #[command(alias = "worker_list")]
    WorkerList {
        /// Include lost and stopped workers.
        #[arg(long)]
        all: bool,
    },
    /// Messages: outbox delivery, cleaning, expiry notices.
    #[command(flatten)]
    Messages(crate::messages::MessagesCommand),
    /// Statistics and reports.
    #[command(flatten)]
    Stats(crate::stats::StatsCommand),
    /// Show the latest audit events.
    #[command(alias = "audit_log")]
    AuditLog {
        /// Only this entity kind (client, user, cache, …).
        #[arg(long)]
        entity: Option<String>,
        /// Only this operator.
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Set or remove settings of an operator: `sms.backend=smsc-ru`,
    /// `billing.mode=prepaid`, `sms.sender=` (empty removes); every pair is
    /// checked before anything is written. `client-settings` lists the keys.
    #[command(alias = "client_set")]
    ClientSet {
        /// The operator.
        #[arg(long, alias = "client_id")]
        client_id: i64,
        /// KEY=VALUE pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Show an operator's settings (secrets as ***) and every known key.
    #[command(alias = "client_settings")]
    ClientSettings {
        /// The operator.
        #[arg(long, alias = "client_id")]
        client_id: i64,
    },
    /// Remove admin request-log entries older than the retention
    /// (`admin.request_log_days`, or --days); scheduled daily.
    #[command(alias = "clear_request_log")]
    ClearRequestLog {
        /// Keep this many days instead of `admin.request_log_days`.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: Option<u32>,
    },
    /// Built-in billing runs.
    #[command(flatten)]
    Billing(crate::billing::BillingCommand),
    /// The environment marker of this database (production, staging, …).
    #[command(subcommand)]
    Environment(EnvironmentCommand),
    /// Make this database (the target, say staging) a copy of the one at
    /// --from (say production); refused when the target is marked
    /// production. The target keeps its own environment marker.
    Mirror {
        /// URL of the source database (same kind as this one).
        #[arg(long)]
        from: String,
        /// Confirm that every row of this database is to be replaced.
        #[arg(long)]
        yes: bool,
    },
}

/// `efir manage environment …`.
#[derive(Debug, Clone, Subcommand)]
pub enum EnvironmentCommand {
    /// Show the marker.
    Show,
    /// Set the marker (`production`, `staging`, `development`, …).
    Set {
        /// The environment name: a-z 0-9 _, starting with a letter.
        name: String,
    },
}

/// `efir manage create-client`.
#[derive(Debug, Clone, Args)]
pub struct CreateClientArgs {
    /// Operator name.
    #[arg(long)]
    pub name: String,
    /// Device (TVMW) API key.
    #[arg(long, alias = "api_key")]
    pub api_key: String,
    /// Domain prefix of the operator's portal.
    #[arg(long, alias = "domain_prefix")]
    pub domain_prefix: String,
    /// Contact e-mail.
    #[arg(long)]
    pub email: String,
    /// Billing API key [default: generated and printed]
    #[arg(long, alias = "billing_api_key")]
    pub billing_api_key: Option<String>,
    /// Content API key [default: generated and printed]
    #[arg(long, alias = "content_api_key")]
    pub content_api_key: Option<String>,
    /// Currency (ISO 4217) [default: USD]
    #[arg(long)]
    pub currency: Option<String>,
    /// Default language (ISO 639-1) [default: en]
    #[arg(long, alias = "default_language")]
    pub default_language: Option<String>,
    /// Up to 5 additional languages, comma-separated (ru,uk).
    #[arg(long, value_delimiter = ',')]
    pub languages: Vec<String>,
}

/// `efir manage create-user`.
#[derive(Debug, Clone, Args)]
pub struct CreateUserArgs {
    /// Login name.
    #[arg(long)]
    pub username: String,
    /// Password.
    #[arg(long)]
    pub password: String,
    /// E-mail.
    #[arg(long, default_value = "")]
    pub email: String,
    /// Access to the staff part of the site.
    #[arg(long, alias = "is_admin", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub is_admin: bool,
    /// The operator the user belongs to.
    #[arg(long, alias = "client_id")]
    pub client_id: Option<i64>,
    /// Superuser (every permission, every operator).
    #[arg(long, alias = "is_superuser", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub is_superuser: bool,
    /// Device-monitoring operator.
    #[arg(long, alias = "monitoring_user", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub monitoring_user: bool,
    /// If the username exists, change its password instead of failing.
    #[arg(long, alias = "reset_password", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool)]
    pub reset_password: bool,
}

/// `efir manage clone-client`.
#[derive(Debug, Clone, Args)]
pub struct CloneClientArgs {
    /// The operator to copy.
    #[arg(long, alias = "src_client_id")]
    pub src_client_id: i64,
    /// Name of the copy [default: "<name> (copy)"]
    #[arg(long)]
    pub name: Option<String>,
    /// Domain prefix of the copy [default: "<prefix>-copy", numbered if taken]
    #[arg(long, alias = "domain_prefix")]
    pub domain_prefix: Option<String>,
    /// Device API key of the copy [default: generated]
    #[arg(long, alias = "api_key")]
    pub api_key: Option<String>,
    /// E-mail of the copy [default: the source's]
    #[arg(long)]
    pub email: Option<String>,
    /// Also copy channels and categories.
    #[arg(long, alias = "clone_channels")]
    pub clone_channels: bool,
    /// Also copy VOD.
    #[arg(long, alias = "clone_video")]
    pub clone_video: bool,
    /// Also copy radio stations.
    #[arg(long, alias = "clone_radio")]
    pub clone_radio: bool,
    /// Also copy cameras.
    #[arg(long, alias = "clone_cameras")]
    pub clone_cameras: bool,
    /// Also copy apps.
    #[arg(long, alias = "clone_apps")]
    pub clone_apps: bool,
}

/// `efir manage schedule …`.
#[derive(Debug, Clone, Subcommand)]
pub enum ScheduleCommand {
    /// The configured entries and their next run times.
    List {
        /// How many next times to show per entry.
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
    /// Recent runs recorded in the database, on every node.
    Runs {
        /// Only this entry.
        #[arg(long)]
        name: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// `efir manage cluster …`.
#[derive(Debug, Clone, Subcommand)]
pub enum ClusterCommand {
    /// The nodes that are alive (a heartbeat in the database within
    /// --stale-after seconds) with their roles, version and load; nodes not
    /// heard from since are listed as stale.
    Status {
        /// Seconds without a heartbeat after which a node counts as dead.
        #[arg(long, default_value_t = efir_store::nodes::STALE_SECS)]
        stale_after: i64,
        /// Exit with status 1 when no node is alive.
        #[arg(long)]
        require_alive: bool,
    },
}

impl ManageCommand {
    /// The command's canonical name, as in `[[schedule]]`.
    pub fn name(&self) -> &'static str {
        match self {
            ManageCommand::Migrate { .. } => "migrate",
            ManageCommand::Cases(c) => c.name(),
            ManageCommand::CreateSuperuser { .. } => "createsuperuser",
            ManageCommand::SetupInitialData { .. } => "setup-initial-data",
            ManageCommand::CreateClient(_) => "create-client",
            ManageCommand::CreateUser(_) => "create-user",
            ManageCommand::CloneClient(_) => "clone-client",
            ManageCommand::ListClients => "list-clients",
            ManageCommand::Flushall => "flushall",
            ManageCommand::Backup { .. } => "backup",
            ManageCommand::Restore { .. } => "restore",
            ManageCommand::Schedule(_) => "schedule",
            ManageCommand::Cluster(_) => "cluster",
            ManageCommand::AuditLog { .. } => "audit-log",
            ManageCommand::ClientSet { .. } => "client-set",
            ManageCommand::ClientSettings { .. } => "client-settings",
            ManageCommand::ClearRequestLog { .. } => "clear-request-log",
            ManageCommand::Billing(cmd) => cmd.name(),
            ManageCommand::CheckStreamServices { .. } => "check-stream-services",
            ManageCommand::DeleteAuthkeys { .. } => "delete-authkeys",
            ManageCommand::CacheChannelList { .. } => "cache-channel-list",
            ManageCommand::GeoipImport { .. } => "geoip-import",
            ManageCommand::EpgSourceAdd { .. } => "epg-source-add",
            ManageCommand::EpgChannelImport { .. } => "epg-channel-import",
            ManageCommand::EpgImport { .. } => "epg-import",
            ManageCommand::EpgPremiereImport { .. } => "epg-premiere-import",
            ManageCommand::RecacheIcons => "recache-icons",
            ManageCommand::EpgExport { .. } => "epg-export",
            ManageCommand::EpgCheck { .. } => "epg-check",
            ManageCommand::EpgSourceList => "epg-source-list",
            ManageCommand::EpgChannelList { .. } => "epg-channel-list",
            ManageCommand::EpgChannelSet { .. } => "epg-channel-set",
            ManageCommand::RouterImportSubnets { .. } => "router-import-subnets",
            ManageCommand::RouterEdgeAdd { .. } => "router-edge-add",
            ManageCommand::RouterEdgeSet { .. } => "router-edge-set",
            ManageCommand::RouterRegionSet { .. } => "router-region-set",
            ManageCommand::RouterResync => "router-resync",
            ManageCommand::RouterOverrideSet { .. } => "router-override-set",
            ManageCommand::RouterOverrideRemove { .. } => "router-override-remove",
            ManageCommand::JobSubmit { .. } => "job-submit",
            ManageCommand::JobList { .. } => "job-list",
            ManageCommand::JobCancel { .. } => "job-cancel",
            ManageCommand::JobRetry { .. } => "job-retry",
            ManageCommand::WorkerList { .. } => "worker-list",
            ManageCommand::Messages(m) => m.name(),
            ManageCommand::Stats(c) => c.name(),
            ManageCommand::Environment(_) => "environment",
            ManageCommand::Mirror { .. } => "mirror",
        }
    }

    /// Whether the scheduler may run it (restore replaces the database under
    /// the running process; createsuperuser may prompt).
    pub fn schedulable(&self) -> bool {
        !matches!(
            self,
            ManageCommand::Restore { .. }
                | ManageCommand::CreateSuperuser { .. }
                | ManageCommand::Mirror { .. }
        )
    }
}

/// Parses a management command line as the scheduler gets it.
pub fn parse_manage(command: &str, args: &[String]) -> Result<ManageArgs, String> {
    #[derive(Debug, Parser)]
    #[command(name = "efir manage", no_binary_name = false)]
    struct Wrapper {
        #[command(flatten)]
        manage: ManageArgs,
    }
    let argv = std::iter::once("efir manage".to_string())
        .chain(std::iter::once(command.to_string()))
        .chain(args.iter().cloned());
    Wrapper::try_parse_from(argv)
        .map(|w| w.manage)
        .map_err(|e| {
            let text = e.to_string();
            text.lines()
                .next()
                .unwrap_or("invalid command")
                .trim_start_matches("error: ")
                .to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn smarty_spellings_parse() {
        let m = parse_manage(
            "create_user",
            &[
                "--username=u".into(),
                "--password=p".into(),
                "--is_admin=True".into(),
                "--client_id=1".into(),
                "--is_superuser=False".into(),
                "--reset_password".into(),
            ],
        )
        .unwrap();
        let ManageCommand::CreateUser(a) = m.command else {
            panic!("wrong command")
        };
        assert!(a.is_admin && !a.is_superuser && a.reset_password);
        assert_eq!(a.client_id, Some(1));
        assert!(parse_manage("create_client", &["--name=x".into()]).is_err());
        let err = parse_manage("no-such-command", &[]).unwrap_err();
        assert!(err.contains("no-such-command"), "{err}");
        let m = parse_manage("clean", &[]);
        assert!(m.is_err());
    }
}
