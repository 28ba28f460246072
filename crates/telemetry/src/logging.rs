//! Log filters, line formats and daily-rotated log files.

use std::path::{Path, PathBuf};

use efir_core::config::LogFormat;
use tracing::Subscriber;
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use crate::TelemetryError;

/// The log filter: `RUST_LOG` when it is set and not blank, `level` (the
/// value of `log.level`) otherwise. Both take `EnvFilter` directives such
/// as `info` or `efir_store=debug,info`.
pub fn log_filter(level: &str) -> Result<EnvFilter, TelemetryError> {
    let (source_name, value) = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => ("RUST_LOG", v),
        _ => ("log.level", level.to_owned()),
    };
    EnvFilter::builder()
        .parse(&value)
        .map_err(|source| TelemetryError::Filter {
            source_name,
            value,
            source,
        })
}

/// A formatting layer writing to `writer` in `format`: human-readable lines
/// (with colours when `ansi`) or one JSON object per line with `timestamp`,
/// `level`, `target`, `fields` (the message included) and the current span.
pub fn fmt_layer<S, W>(
    format: LogFormat,
    writer: W,
    ansi: bool,
) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .with_ansi(false)
            .boxed(),
    }
}

/// The directory daily log files of `component` go to under `dir`:
/// `<dir>/<component>/<host>`.
pub fn log_file_dir(dir: &Path, component: &str) -> PathBuf {
    dir.join(sanitize_path_part(component))
        .join(sanitize_path_part(&host_name()))
}

/// A non-blocking writer to daily-rotated files
/// `<dir>/<component>/<host>/<YYYY-MM-DD>.log` (UTC date), creating the
/// directories. Lines are written by a background thread and dropped, never
/// waited for, when it falls far behind; dropping the guard flushes them.
pub fn file_writer(
    dir: &Path,
    component: &str,
) -> Result<(NonBlocking, WorkerGuard), TelemetryError> {
    let path = log_file_dir(dir, component);
    std::fs::create_dir_all(&path).map_err(|source| TelemetryError::LogDir {
        path: path.clone(),
        source,
    })?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("")
        .filename_suffix("log")
        .build(&path)
        .map_err(|source| TelemetryError::LogFile { path, source })?;
    Ok(
        tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(true)
            .thread_name("efir-log-writer")
            .finish(appender),
    )
}

/// This machine's host name, reduced to characters safe in a path or a
/// syslog header (`localhost` when unknown).
pub(crate) fn host_name() -> String {
    let raw = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    sanitize_path_part(&raw)
}

/// `s` with every character other than ASCII letters, digits, `-`, `_` and
/// `.` replaced by `_`, leading dots removed (no `..`), `localhost` if
/// nothing is left.
pub(crate) fn sanitize_path_part(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "localhost".to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_path_parts() {
        assert_eq!(sanitize_path_part("web-1.example.org"), "web-1.example.org");
        assert_eq!(sanitize_path_part("../etc/passwd"), "_etc_passwd");
        assert_eq!(sanitize_path_part("a b/c"), "a_b_c");
        assert_eq!(sanitize_path_part(".."), "localhost");
        assert_eq!(sanitize_path_part(""), "localhost");
    }

    #[test]
    fn bad_filter_names_its_source() {
        // RUST_LOG may be set in the environment running the tests; only
        // check when it is not.
        if std::env::var("RUST_LOG").is_err() {
            let err = log_filter("info,[[[").unwrap_err();
            assert!(err.to_string().starts_with("log.level:"), "{err}");
            assert!(log_filter("efir_store=debug,info").is_ok());
        }
    }
}
