//! Efir telemetry: logs, metrics and error reports, set up once per process
//! by [`init`] from the `[log]`, `[metrics]`, `[statsd]` and `[sentry]`
//! sections of the configuration.
//!
//! * Logs go to stderr as text or JSON lines, and optionally to daily files
//!   `<log.dir>/<component>/<host>/<YYYY-MM-DD>.log` ([`file_writer`]) and
//!   to syslog ([`SyslogLayer`]). `RUST_LOG`, when set, replaces `log.level`.
//! * Metrics go to a Prometheus registry ([`Telemetry::prometheus`],
//!   [`metrics_router`]) and optionally to statsd ([`build_recorders`]).
//!   [`track_http`] measures axum requests, [`record_db_query`] database
//!   queries.
//! * With `sentry.dsn`, panics and `ERROR` events are reported to Sentry.
//!
//! ```no_run
//! # fn main() -> Result<(), efir_telemetry::TelemetryError> {
//! let cfg = efir_core::Config::default();
//! let telemetry = efir_telemetry::init(&cfg, "api")?;
//! tracing::info!("ready");
//! # drop(telemetry);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod error;
mod http;
mod logging;
mod recorder;
mod syslog;

use std::io::IsTerminal;
use std::time::Duration;

use efir_core::Config;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub use error::TelemetryError;
pub use http::{
    metrics_handler, metrics_router, track_http, PROMETHEUS_CONTENT_TYPE, UNMATCHED_ROUTE,
};
pub use logging::{file_writer, fmt_layer, log_file_dir, log_filter};
pub use metrics_exporter_prometheus::PrometheusHandle;
pub use recorder::{
    build_recorders, describe_metrics, record_db_query, Recorders, DB_QUERY_DURATION,
    DURATION_BUCKETS, HTTP_DURATION, HTTP_REQUESTS, SYSLOG_ERRORS,
};
pub use syslog::{Facility, Rfc3164, Severity, SyslogLayer, MAX_MESSAGE_BYTES};

/// How long dropping [`Telemetry`] waits for Sentry to send queued events.
const SENTRY_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The subscriber layers are stacked on: the registry behind the filter.
type Base = Layered<EnvFilter, Registry>;

/// One boxed output layer.
type BoxedLayer = Box<dyn Layer<Base> + Send + Sync + 'static>;

/// What [`init`] set up. Keep it alive for the life of the process:
/// dropping it flushes log files and pending Sentry events.
#[must_use = "dropping Telemetry stops file logging and Sentry reporting"]
pub struct Telemetry {
    prometheus: Option<PrometheusHandle>,
    file_guard: Option<WorkerGuard>,
    sentry: Option<sentry::ClientInitGuard>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("prometheus", &self.prometheus.is_some())
            .field("log_files", &self.file_guard.is_some())
            .field("sentry", &self.sentry.is_some())
            .finish()
    }
}

impl Telemetry {
    /// The handle of the global Prometheus registry, when metrics are enabled.
    pub fn prometheus(&self) -> Option<PrometheusHandle> {
        self.prometheus.clone()
    }

    /// The Prometheus registry in text format; empty when metrics are off.
    pub fn render_metrics(&self) -> String {
        self.prometheus
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(client) = &self.sentry {
            client.flush(Some(SENTRY_FLUSH_TIMEOUT));
        }
        // Dropping the guard writes out buffered log lines.
        drop(self.file_guard.take());
    }
}

/// Sets up logging, metrics and Sentry for `component` (`api`, `router`,
/// `worker`, a command name …), which names log directories and the syslog
/// tag `efir-<component>`.
///
/// Installs the global tracing subscriber and metrics recorder. When either
/// is already installed (a second call, or tests), that part is skipped and
/// the call still succeeds; a second call gets the Prometheus handle of the
/// first.
pub fn init(cfg: &Config, component: &str) -> Result<Telemetry, TelemetryError> {
    let mut telemetry = Telemetry {
        prometheus: recorder::install(cfg)?,
        file_guard: None,
        sentry: None,
    };
    if tracing::dispatcher::has_been_set() {
        return Ok(telemetry);
    }

    let filter = log_filter(&cfg.log.level)?;
    let ansi = std::io::stderr().is_terminal();
    let mut layers: Vec<BoxedLayer> = vec![fmt_layer(cfg.log.format, std::io::stderr, ansi)];
    let mut log_dir = None;
    if let Some(dir) = &cfg.log.dir {
        let dir = if dir.is_absolute() {
            dir.clone()
        } else {
            cfg.data_dir.join(dir)
        };
        let (writer, guard) = file_writer(&dir, component)?;
        layers.push(fmt_layer(cfg.log.format, writer, false));
        telemetry.file_guard = Some(guard);
        log_dir = Some(log_file_dir(&dir, component));
    }
    if cfg.log.syslog {
        layers.push(Box::new(SyslogLayer::from_config(&cfg.log, component)?));
    }
    if let Some(dsn) = cfg.sentry.dsn.as_deref().filter(|d| !d.trim().is_empty()) {
        let dsn: sentry::types::Dsn = dsn.trim().parse().map_err(TelemetryError::SentryDsn)?;
        telemetry.sentry = Some(sentry::init(sentry::ClientOptions {
            dsn: Some(dsn),
            release: Some(efir_core::VERSION.into()),
            environment: cfg.sentry.environment.clone().map(Into::into),
            ..Default::default()
        }));
        layers.push(Box::new(sentry::integrations::tracing::layer()));
    }

    // This fails when another thread installed a subscriber meanwhile, or
    // when a `log` logger was already set (ours is then installed but not
    // fed by the `log` crate). Either way the guards are harmless to keep.
    if let Err(e) = tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
    {
        tracing::debug!(error = %e, "telemetry: subscriber not fully installed");
    }
    tracing::debug!(
        component,
        format = ?cfg.log.format,
        log_dir = ?log_dir,
        syslog = cfg.log.syslog,
        prometheus = telemetry.prometheus.is_some(),
        statsd = cfg.statsd.host.is_some(),
        sentry = telemetry.sentry.is_some(),
        "telemetry set up"
    );
    Ok(telemetry)
}
