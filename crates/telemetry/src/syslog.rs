//! Syslog output: a tracing layer sending every event as one RFC 3164
//! datagram to a local Unix socket (`/dev/log`) or to `udp://host:port`.
//!
//! A message looks like
//!
//! ```text
//! <27>Mar  7 14:02:11 efir-api[4242]: efir_store::pool: connection lost error="timed out"
//! ```
//!
//! where 27 is facility × 8 + severity (daemon, err). Messages to a remote
//! host over UDP carry this host's name after the timestamp; local ones do
//! not, as local syslog daemons add it. Sockets are non-blocking: when the
//! daemon is missing or slow the message is dropped and counted in
//! `efir_log_syslog_errors_total`.

use std::fmt::{self, Write as _};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Local};
use efir_core::config::LogConfig;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::recorder::SYSLOG_ERRORS;
use crate::TelemetryError;

/// Longest message text sent, in bytes; longer text is cut.
pub const MAX_MESSAGE_BYTES: usize = 8192;

/// A syslog facility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    /// `kern` (0).
    Kern,
    /// `user` (1).
    User,
    /// `mail` (2).
    Mail,
    /// `daemon` (3).
    Daemon,
    /// `auth` (4).
    Auth,
    /// `syslog` (5).
    Syslog,
    /// `lpr` (6).
    Lpr,
    /// `news` (7).
    News,
    /// `uucp` (8).
    Uucp,
    /// `cron` (9).
    Cron,
    /// `authpriv` (10).
    AuthPriv,
    /// `ftp` (11).
    Ftp,
    /// `local0` … `local7` (16 … 23); the number is 0 to 7.
    Local(u8),
}

impl Facility {
    /// The facility's number.
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Mail => 2,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Syslog => 5,
            Facility::Lpr => 6,
            Facility::News => 7,
            Facility::Uucp => 8,
            Facility::Cron => 9,
            Facility::AuthPriv => 10,
            Facility::Ftp => 11,
            Facility::Local(n) => 16 + n.min(7),
        }
    }
}

impl FromStr for Facility {
    type Err = TelemetryError;

    /// Parses a facility name, case-insensitively (`daemon`, `local3`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        Ok(match name.as_str() {
            "kern" => Facility::Kern,
            "user" => Facility::User,
            "mail" => Facility::Mail,
            "daemon" => Facility::Daemon,
            "auth" => Facility::Auth,
            "syslog" => Facility::Syslog,
            "lpr" => Facility::Lpr,
            "news" => Facility::News,
            "uucp" => Facility::Uucp,
            "cron" => Facility::Cron,
            "authpriv" => Facility::AuthPriv,
            "ftp" => Facility::Ftp,
            _ => match name
                .strip_prefix("local")
                .and_then(|n| n.parse::<u8>().ok())
            {
                Some(n @ 0..=7) if name.len() == 6 => Facility::Local(n),
                _ => return Err(TelemetryError::SyslogFacility(s.to_owned())),
            },
        })
    }
}

/// A syslog severity, as mapped from tracing levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `err` (3), from ERROR.
    Err,
    /// `warning` (4), from WARN.
    Warning,
    /// `info` (6), from INFO.
    Info,
    /// `debug` (7), from DEBUG and TRACE.
    Debug,
}

impl Severity {
    /// The severity's number.
    pub fn code(self) -> u8 {
        match self {
            Severity::Err => 3,
            Severity::Warning => 4,
            Severity::Info => 6,
            Severity::Debug => 7,
        }
    }
}

impl From<Level> for Severity {
    fn from(level: Level) -> Self {
        match level {
            Level::ERROR => Severity::Err,
            Level::WARN => Severity::Warning,
            Level::INFO => Severity::Info,
            _ => Severity::Debug,
        }
    }
}

/// The RFC 3164 message format of one sender.
#[derive(Debug, Clone)]
pub struct Rfc3164 {
    /// Facility of every message.
    pub facility: Facility,
    /// Tag (program name), `efir-<component>`.
    pub tag: String,
    /// Process id shown after the tag.
    pub pid: u32,
    /// Host name put in the header; `None` for local sockets.
    pub hostname: Option<String>,
}

impl Rfc3164 {
    /// One message: `<PRI>Mmm dd hh:mm:ss [host ]tag[pid]: text`, with
    /// `text` cut to [`MAX_MESSAGE_BYTES`].
    pub fn format(&self, severity: Severity, at: &DateTime<Local>, text: &str) -> String {
        let pri = u16::from(self.facility.code()) * 8 + u16::from(severity.code());
        let mut out = String::with_capacity(64 + text.len().min(MAX_MESSAGE_BYTES));
        // Writing to a String cannot fail.
        let _ = write!(out, "<{pri}>{} ", at.format("%b %e %H:%M:%S"));
        if let Some(host) = &self.hostname {
            out.push_str(host);
            out.push(' ');
        }
        let _ = write!(out, "{}[{}]: ", self.tag, self.pid);
        out.push_str(truncate(text, MAX_MESSAGE_BYTES));
        out
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Where messages go.
#[derive(Debug)]
enum Sink {
    Unix { socket: UnixDatagram, path: PathBuf },
    Udp { socket: UdpSocket, addr: SocketAddr },
}

impl Sink {
    fn send(&self, msg: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Unix { socket, path } => socket.send_to(msg, path),
            Sink::Udp { socket, addr } => socket.send_to(msg, addr),
        }
    }
}

/// A tracing layer sending every event it sees to syslog.
#[derive(Debug)]
pub struct SyslogLayer {
    format: Rfc3164,
    sink: Sink,
}

impl SyslogLayer {
    /// A layer for `component` (tag `efir-<component>`) sending to `socket`
    /// (a Unix datagram socket path or `udp://host:port`) with `facility`.
    /// The host of a UDP address is resolved now; the Unix socket need not
    /// exist yet.
    pub fn new(socket: &str, facility: &str, component: &str) -> Result<Self, TelemetryError> {
        let facility: Facility = facility.parse()?;
        let bad = |reason: String| TelemetryError::SyslogSocket {
            socket: socket.to_owned(),
            reason,
        };
        let (sink, hostname) = if let Some(hostport) = socket.strip_prefix("udp://") {
            let addr = hostport
                .to_socket_addrs()
                .map_err(|e| bad(format!("cannot resolve: {e}")))?
                .next()
                .ok_or_else(|| bad("no address".into()))?;
            let local: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let udp = UdpSocket::bind(local).map_err(|e| bad(e.to_string()))?;
            udp.set_nonblocking(true).map_err(|e| bad(e.to_string()))?;
            (
                Sink::Udp { socket: udp, addr },
                Some(crate::logging::host_name()),
            )
        } else if socket.contains("://") && !socket.starts_with("unix://") {
            return Err(bad("expected a Unix socket path or udp://host:port".into()));
        } else {
            let path = PathBuf::from(socket.strip_prefix("unix://").unwrap_or(socket));
            if path.as_os_str().is_empty() {
                return Err(bad("empty path".into()));
            }
            let unix = UnixDatagram::unbound().map_err(|e| bad(e.to_string()))?;
            unix.set_nonblocking(true).map_err(|e| bad(e.to_string()))?;
            (Sink::Unix { socket: unix, path }, None)
        };
        Ok(SyslogLayer {
            format: Rfc3164 {
                facility,
                tag: format!("efir-{component}"),
                pid: std::process::id(),
                hostname,
            },
            sink,
        })
    }

    /// The layer configured by `[log]` (`syslog_socket`, `syslog_facility`).
    pub fn from_config(cfg: &LogConfig, component: &str) -> Result<Self, TelemetryError> {
        SyslogLayer::new(&cfg.syslog_socket, &cfg.syslog_facility, component)
    }

    /// The message format used.
    pub fn rfc3164(&self) -> &Rfc3164 {
        &self.format
    }

    /// The text of an event: `target: message key=value …`.
    pub fn event_text(event: &Event<'_>) -> String {
        let mut v = EventText::default();
        event.record(&mut v);
        let target = v
            .log_target
            .as_deref()
            .unwrap_or_else(|| event.metadata().target());
        format!("{target}: {}{}", v.message, v.fields)
    }
}

impl<S: Subscriber> Layer<S> for SyslogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let severity = Severity::from(*event.metadata().level());
        let msg = self
            .format
            .format(severity, &Local::now(), &SyslogLayer::event_text(event));
        if self.sink.send(msg.as_bytes()).is_err() {
            metrics::counter!(SYSLOG_ERRORS).increment(1);
        }
    }
}

/// Collects the message and the other fields of an event.
#[derive(Default)]
struct EventText {
    message: String,
    fields: String,
    /// The real target of a record bridged from the `log` crate.
    log_target: Option<String>,
}

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "log.target" => self.log_target = Some(value.to_owned()),
            name if name.starts_with("log.") => {}
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            name if name.starts_with("log.") => {}
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;

    fn recv_unix(sock: &UnixDatagram) -> String {
        let mut buf = vec![0u8; 65536];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn parses_facilities() {
        assert_eq!("daemon".parse::<Facility>().unwrap().code(), 3);
        assert_eq!("LOCAL0".parse::<Facility>().unwrap().code(), 16);
        assert_eq!("local7".parse::<Facility>().unwrap().code(), 23);
        assert!("local8".parse::<Facility>().is_err());
        assert!("local01".parse::<Facility>().is_err());
        assert!("nope".parse::<Facility>().is_err());
    }

    #[test]
    fn formats_rfc3164() {
        let f = Rfc3164 {
            facility: Facility::Local(0),
            tag: "efir-api".into(),
            pid: 42,
            hostname: Some("web1".into()),
        };
        let at = Local.with_ymd_and_hms(2024, 3, 7, 14, 2, 11).unwrap();
        assert_eq!(
            f.format(Severity::Warning, &at, "x: hello"),
            "<132>Mar  7 14:02:11 web1 efir-api[42]: x: hello"
        );
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let msg = f.format(Severity::Info, &at, &long);
        assert!(msg.len() < MAX_MESSAGE_BYTES + 64);
    }

    #[test]
    fn rejects_bad_sockets() {
        assert!(SyslogLayer::new("tcp://localhost:514", "daemon", "t").is_err());
        assert!(SyslogLayer::new("", "daemon", "t").is_err());
        assert!(SyslogLayer::new("/dev/log", "bogus", "t").is_err());
    }

    #[test]
    fn sends_to_unix_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let layer = SyslogLayer::new(path.to_str().unwrap(), "daemon", "test").unwrap();
        let subscriber =
            tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(code = 7, "disk on fire");
            tracing::info!("all good");
        });
        let pid = std::process::id();
        let err = recv_unix(&server);
        assert!(err.starts_with("<27>"), "{err}");
        assert!(err.contains(&format!(" efir-test[{pid}]: ")), "{err}");
        assert!(err.contains("disk on fire code=7"), "{err}");
        let info = recv_unix(&server);
        assert!(info.starts_with("<30>"), "{info}");
        assert!(info.contains(&format!(" efir-test[{pid}]: ")), "{info}");
        assert!(info.contains("all good"), "{info}");
    }

    #[test]
    fn sends_over_udp() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let url = format!("udp://{}", server.local_addr().unwrap());
        let layer = SyslogLayer::new(&url, "local3", "udptest").unwrap();
        let host = layer.rfc3164().hostname.clone().unwrap();
        let subscriber =
            tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(user = "bob", "quota nearly used");
        });
        let mut buf = [0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        // local3 = 19, warning = 4.
        assert!(msg.starts_with("<156>"), "{msg}");
        assert!(
            msg.contains(&format!(" {host} efir-udptest[{}]: ", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("quota nearly used user=\"bob\""), "{msg}");
    }

    #[test]
    fn missing_socket_is_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.sock");
        let layer = SyslogLayer::new(path.to_str().unwrap(), "daemon", "test").unwrap();
        let subscriber =
            tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            tracing::subscriber::with_default(subscriber, || {
                tracing::error!("goes nowhere");
                tracing::warn!("nor does this");
            });
        });
        let text = handle.render();
        assert!(text.contains("efir_log_syslog_errors_total 2"), "{text}");
    }
}
