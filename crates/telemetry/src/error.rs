//! The error returned when telemetry cannot be set up.

use std::io;
use std::path::PathBuf;

/// Why telemetry could not be set up. Every message names the configuration
/// key or the path involved; none contains the Sentry DSN.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A log filter (`log.level` or `RUST_LOG`) does not parse.
    #[error("{source_name}: invalid log filter {value:?}: {source}")]
    Filter {
        /// Where the filter came from: `log.level` or `RUST_LOG`.
        source_name: &'static str,
        /// The filter as given.
        value: String,
        /// What is wrong with it.
        source: tracing_subscriber::filter::ParseError,
    },
    /// The log directory cannot be created.
    #[error("log.dir: cannot create log directory {}: {source}", path.display())]
    LogDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A log file cannot be opened for writing in the log directory.
    #[error("log.dir: cannot write log files in {}: {source}", path.display())]
    LogFile {
        /// The directory the files go to.
        path: PathBuf,
        /// Why.
        source: tracing_appender::rolling::InitError,
    },
    /// `log.syslog_facility` names no syslog facility.
    #[error("log.syslog_facility: unknown syslog facility {0:?} (expected kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp or local0 … local7)")]
    SyslogFacility(String),
    /// `log.syslog_socket` is not usable.
    #[error("log.syslog_socket: {socket:?}: {reason}")]
    SyslogSocket {
        /// The socket as configured.
        socket: String,
        /// What is wrong.
        reason: String,
    },
    /// The statsd exporter cannot be built (bad or unresolvable host, port 0).
    #[error("statsd: cannot send to {host}:{port}: {source}")]
    Statsd {
        /// `statsd.host`.
        host: String,
        /// `statsd.port`.
        port: u16,
        /// Why.
        source: metrics_exporter_statsd::StatsdError,
    },
    /// The Prometheus recorder cannot be built.
    #[error("metrics: {0}")]
    Prometheus(#[from] metrics_exporter_prometheus::BuildError),
    /// `sentry.dsn` does not parse. The DSN itself is not repeated.
    #[error("sentry.dsn: invalid DSN: {0}")]
    SentryDsn(#[source] sentry::types::ParseDsnError),
}
