//! Sentry reporting, against a minimal local HTTP server standing in for
//! Sentry. A test binary of its own: it installs the global subscriber.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use efir_core::Config;

/// Accepts HTTP/1.1 requests, answers 200 and sends each body to the channel.
fn fake_sentry() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap();
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    reader.read_exact(&mut body).unwrap();
                    let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
                    stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                        .unwrap();
                }
            });
        }
    });
    (port, rx)
}

#[test]
fn errors_reach_sentry_and_dsns_stay_secret() {
    // A bad DSN is refused without being repeated. This runs first: once a
    // subscriber is installed, init no longer looks at sentry.dsn.
    let mut cfg = Config::default();
    cfg.metrics.enabled = false;
    cfg.sentry.dsn = Some("ftp://topsecretkey@127.0.0.1/1".into());
    let err = efir_telemetry::init(&cfg, "sentrytest").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("sentry.dsn:"), "{msg}");
    assert!(!msg.contains("topsecretkey"), "{msg}");

    let (port, bodies) = fake_sentry();
    cfg.sentry.dsn = Some(format!("http://publickey@127.0.0.1:{port}/1"));
    cfg.sentry.environment = Some("testing".into());
    let telemetry = efir_telemetry::init(&cfg, "sentrytest").unwrap();
    tracing::info!("breadcrumb only");
    tracing::error!(channel = 7, "sentry-marker-error");
    drop(telemetry);

    let body = bodies
        .recv_timeout(Duration::from_secs(5))
        .expect("an event sent to the fake Sentry");
    assert!(body.contains("sentry-marker-error"), "{body}");
    assert!(body.contains(efir_core::VERSION), "{body}");
    assert!(body.contains("\"environment\":\"testing\""), "{body}");
    assert!(body.contains("breadcrumb only"), "{body}");
}
