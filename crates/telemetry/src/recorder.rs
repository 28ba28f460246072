//! The metrics recorder: Prometheus, statsd, or both through a fan-out.
//!
//! Histograms whose name ends in `_duration_seconds` get buckets from
//! 0.5 ms to 10 s; other histograms are summaries. The statsd exporter sends
//! each metric in its own datagram (labels become DogStatsD tags) from a
//! background thread fed by a bounded queue of `statsd.queue_size` entries:
//! when statsd is slow or gone, new metrics are dropped rather than queued.

use std::sync::OnceLock;
use std::time::Duration;

use efir_core::Config;
use metrics::{describe_counter, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_exporter_statsd::StatsdBuilder;
use metrics_util::layers::{Fanout, FanoutBuilder};

use crate::TelemetryError;

/// Counter of HTTP requests, labelled `method`, `route`, `status`.
pub const HTTP_REQUESTS: &str = "efir_http_requests_total";
/// Histogram of HTTP request durations, labelled `method`, `route`.
pub const HTTP_DURATION: &str = "efir_http_request_duration_seconds";
/// Histogram of database query durations, labelled `op`.
pub const DB_QUERY_DURATION: &str = "efir_db_query_duration_seconds";
/// Counter of log messages that could not be sent to syslog.
pub const SYSLOG_ERRORS: &str = "efir_log_syslog_errors_total";

/// Histogram buckets of `*_duration_seconds` metrics, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often the Prometheus registry is tidied (histogram windows drained).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The Prometheus handle of the recorder installed by this crate, if any.
static INSTALLED: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Recorders built from the configuration and not yet installed.
pub struct Recorders {
    /// Every configured recorder behind one fan-out.
    pub recorder: Fanout,
    /// Handle rendering the Prometheus registry, when `metrics.enabled`.
    pub prometheus: Option<PrometheusHandle>,
}

/// Builds the recorders `cfg` asks for: Prometheus when `metrics.enabled`,
/// statsd when `statsd.host` is set. `None` when neither is.
pub fn build_recorders(cfg: &Config) -> Result<Option<Recorders>, TelemetryError> {
    let statsd_host = cfg
        .statsd
        .host
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty());
    if !cfg.metrics.enabled && statsd_host.is_none() {
        return Ok(None);
    }
    let mut fanout = FanoutBuilder::default();
    let mut prometheus = None;
    if cfg.metrics.enabled {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_duration_seconds".into()),
                DURATION_BUCKETS,
            )?
            .build_recorder();
        prometheus = Some(recorder.handle());
        fanout = fanout.add_recorder(recorder);
    }
    if let Some(host) = statsd_host {
        // An IPv6 literal needs an IPv6 local socket.
        let local = if host.contains(':') { "::" } else { "0.0.0.0" };
        let prefix = cfg.statsd.prefix.trim();
        let recorder = StatsdBuilder::from(host, cfg.statsd.port)
            .with_client_udp_host(local)
            .with_queue_size(cfg.statsd.queue_size.max(1))
            // Any metric is longer than one byte, so none is held back in
            // a buffer that only a later metric would flush.
            .with_buffer_size(1)
            .build((!prefix.is_empty()).then_some(prefix))
            .map_err(|source| TelemetryError::Statsd {
                host: host.to_owned(),
                port: cfg.statsd.port,
                source,
            })?;
        fanout = fanout.add_recorder(recorder);
    }
    Ok(Some(Recorders {
        recorder: fanout.build(),
        prometheus,
    }))
}

/// Builds and installs the global recorder, starts Prometheus upkeep and
/// describes Efir's metrics. When a global recorder is already installed,
/// installs nothing and returns the handle of an earlier call, if any.
pub(crate) fn install(cfg: &Config) -> Result<Option<PrometheusHandle>, TelemetryError> {
    let Some(recorders) = build_recorders(cfg)? else {
        return Ok(installed());
    };
    let handle = recorders.prometheus.clone();
    if metrics::set_global_recorder(recorders.recorder).is_err() {
        return Ok(installed());
    }
    // Only the call that installed the recorder gets here.
    let _ = INSTALLED.set(handle.clone());
    if let Some(h) = &handle {
        let h = h.clone();
        let spawned = std::thread::Builder::new()
            .name("efir-metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                h.run_upkeep();
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start metrics upkeep thread");
        }
    }
    describe_metrics();
    Ok(handle)
}

/// The Prometheus handle of the installed global recorder, if this crate
/// installed one with Prometheus enabled.
pub(crate) fn installed() -> Option<PrometheusHandle> {
    INSTALLED.get().cloned().flatten()
}

/// Registers units and descriptions of Efir's HTTP, database and logging
/// metrics with the global recorder.
pub fn describe_metrics() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time taken to answer HTTP requests"
    );
    describe_histogram!(
        DB_QUERY_DURATION,
        Unit::Seconds,
        "Time taken by database queries"
    );
    describe_counter!(
        SYSLOG_ERRORS,
        "Log messages that could not be sent to syslog"
    );
    metrics::describe_gauge!(
        "efir_db_replicas_healthy",
        "Read replicas (database.replicas) in use: answering, in recovery, within the lag limit"
    );
    describe_counter!(
        "efir_db_reads_total",
        "Read-only queries by where they ran (target: replica or primary)"
    );
    describe_counter!(
        "efir_db_replica_read_retries_total",
        "Reads that failed on a replica and were run again on the primary"
    );
}

/// Records how long a database operation `op` (`select_channels`) took in
/// `efir_db_query_duration_seconds{op}`.
pub fn record_db_query(op: &'static str, elapsed: Duration) {
    metrics::histogram!(DB_QUERY_DURATION, "op" => op).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Instant;

    use super::*;

    fn statsd_config(port: u16) -> Config {
        let mut cfg = Config::default();
        cfg.metrics.enabled = false;
        cfg.statsd.host = Some("127.0.0.1".into());
        cfg.statsd.port = port;
        cfg.statsd.prefix = "efirtest".into();
        cfg.statsd.queue_size = 100;
        cfg
    }

    #[test]
    fn nothing_configured_builds_nothing() {
        let mut cfg = Config::default();
        cfg.metrics.enabled = false;
        assert!(build_recorders(&cfg).unwrap().is_none());
    }

    #[test]
    fn prometheus_uses_duration_buckets() {
        let r = build_recorders(&Config::default()).unwrap().unwrap();
        let handle = r.prometheus.unwrap();
        metrics::with_local_recorder(&r.recorder, || {
            record_db_query("select_test", Duration::from_millis(3));
        });
        let text = handle.render();
        assert!(
            text.contains(
                "efir_db_query_duration_seconds_bucket{op=\"select_test\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "efir_db_query_duration_seconds_bucket{op=\"select_test\",le=\"0.0025\"} 0"
            ),
            "{text}"
        );
    }

    #[test]
    fn statsd_receives_counters() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let cfg = statsd_config(server.local_addr().unwrap().port());
        let r = build_recorders(&cfg).unwrap().unwrap();
        assert!(r.prometheus.is_none());
        metrics::with_local_recorder(&r.recorder, || {
            metrics::counter!("statsd_test_hits").increment(1);
        });
        let mut buf = [0u8; 1024];
        let n = server.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(msg, "efirtest.statsd_test_hits:1|c");
    }

    #[test]
    fn unreachable_statsd_never_blocks() {
        // A port nobody listens on: bind, note it, close.
        let port = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let r = build_recorders(&statsd_config(port)).unwrap().unwrap();
        let start = Instant::now();
        metrics::with_local_recorder(&r.recorder, || {
            let counter = metrics::counter!("statsd_test_flood");
            for _ in 0..100_000 {
                counter.increment(1);
            }
        });
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn bad_statsd_port_is_an_error() {
        let cfg = statsd_config(0);
        let err = build_recorders(&cfg).err().unwrap();
        assert!(err.to_string().starts_with("statsd:"), "{err}");
    }
}
