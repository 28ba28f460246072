//! The router port's own HTTP/1.1 server.
//!
//! A redirect is a few hundred bytes decided in well under a microsecond, so
//! on the router port the generic HTTP machinery (hyper's connection state
//! machine, header maps, axum's routing and extractors) costs more than the
//! decision. This server parses each request head with `httparse` (the
//! parser hyper itself uses), answers `GET`/`HEAD` on `/btv/…` and `/vod/…`
//! straight from [`RouterService::decide`] into the connection's output
//! buffer, and hands every other request (`/router/state`, `/health`,
//! `/metrics`, …) to an axum [`Router`], so those keep their usual code.
//!
//! What it does and does not do:
//! - HTTP/1.0 and 1.1, keep-alive by the version's default and the
//!   `Connection` header, pipelined requests answered in order with one
//!   write per batch;
//! - request heads up to [`MAX_HEAD`] bytes (else `431`), at most 64
//!   headers, request bodies by `Content-Length` up to [`MAX_BODY`] (else
//!   `413`); chunked request bodies are refused with `411`, since nothing on
//!   this port takes a body;
//! - malformed requests get `400` with a plain-text reason and the
//!   connection is closed; an idle keep-alive connection is closed after
//!   [`IDLE_TIMEOUT`], a request head that does not complete within
//!   [`HEAD_TIMEOUT`] gets `408`;
//! - no TLS, no HTTP/2 and no upgrades: TLS ends at the nginx in front
//!   (`deploy/nginx-router.conf`).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{self, header, StatusCode};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::service::{Answer, RouterService, StreamRequest, REDIRECT_CACHE_CONTROL};

/// The largest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// The largest request body accepted (nothing on this port needs one).
pub const MAX_BODY: usize = 64 * 1024;
/// The largest response body read from the fallback router.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// How long a keep-alive connection may sit idle between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// How long a started request head may take to arrive.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_HEADERS: usize = 64;

/// Serves `listener` until `shutdown` resolves, then stops accepting, lets
/// every connection finish the request it is on, and returns once they
/// have closed.
pub async fn serve(
    listener: TcpListener,
    service: RouterService,
    fallback: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let conn = Connection {
                    service: service.clone(),
                    fallback: fallback.clone(),
                    peer,
                    stop: stop_rx.clone(),
                };
                tracker.spawn(conn.run(stream));
            }
            Err(e) => {
                // Out of descriptors or a connection reset before accept:
                // not fatal, but do not spin on it.
                tracing::warn!(error = %e, "router: accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Binds `threads` listening sockets to `addr` with `SO_REUSEPORT`, so the
/// kernel spreads connections over them; with port 0 the first one picks
/// the port and the others share it. Call from within a tokio runtime.
pub fn bind_reuseport(addr: SocketAddr, threads: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::new();
    let mut addr = addr;
    for _ in 0..threads.max(1) {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(4096)?.into_std()?;
        addr = listener.local_addr()?;
        out.push(listener);
    }
    Ok(out)
}

/// Serves each listener on its own thread with its own single-threaded
/// runtime, the way nginx runs one worker process per core: a connection
/// lives on one thread, and no thread wakes another. Requests for the
/// fallback router run on the calling runtime (where the store's
/// connections live). Returns when `shutdown` resolved and every thread
/// has finished its connections.
pub async fn serve_threads(
    listeners: Vec<std::net::TcpListener>,
    service: RouterService,
    fallback: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let fallback = on_runtime(tokio::runtime::Handle::current(), fallback);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut finished = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let (service, fallback, mut stop) = (service.clone(), fallback.clone(), stop_rx.clone());
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("efir-router-{i}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|rt| {
                        rt.block_on(async move {
                            listener.set_nonblocking(true)?;
                            let listener = TcpListener::from_std(listener)?;
                            let stopped = async move {
                                let _ = stop.wait_for(|s| *s).await.is_ok();
                            };
                            serve(listener, service, fallback, stopped).await
                        })
                    });
                if let Err(e) = &result {
                    tracing::error!(error = %e, "router server thread failed");
                }
                let _ = done_tx.send(result);
            })?;
        finished.push(done_rx);
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    for done in finished {
        if let Ok(Err(e)) = done.await {
            return Err(e);
        }
    }
    Ok(())
}

/// `router`, run on the runtime of `handle` whatever runtime calls it.
fn on_runtime(handle: tokio::runtime::Handle, router: Router) -> Router {
    Router::new().fallback(move |req: axum::extract::Request| {
        let (handle, router) = (handle.clone(), router.clone());
        async move {
            match handle.spawn(router.oneshot(req)).await {
                Ok(Ok(response)) => response,
                _ => axum::response::IntoResponse::into_response(StatusCode::INTERNAL_SERVER_ERROR),
            }
        }
    })
}

/// One client connection.
struct Connection {
    service: RouterService,
    fallback: Router,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
}

/// A parsed request head, by offsets into the connection buffer.
struct Head {
    method: http::Method,
    target: (usize, usize),
    version: u8,
    keep_alive: bool,
    head_len: usize,
    body_len: usize,
    real_ip: Option<(usize, usize)>,
    forwarded_for: Option<(usize, usize)>,
}

/// What parsing the buffered bytes gave.
enum Parsed {
    /// A complete head (its body may still be arriving).
    Head(Head),
    /// More bytes are needed.
    Partial,
    /// A request that cannot be served: answer and close.
    Bad(StatusCode, &'static str),
}

impl Connection {
    async fn run(self, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        // Registered once per connection (not per read: the watch's waiter
        // list is shared by every connection and takes a lock).
        let mut stop_rx = self.stop.clone();
        let stop = async move {
            let _ = stop_rx.wait_for(|stopping| *stopping).await.is_ok();
        };
        tokio::pin!(stop);
        let mut stopping = *self.stop.borrow();
        let mut buf: Vec<u8> = vec![0; 4096];
        let mut have = 0usize;
        let mut out: Vec<u8> = Vec::with_capacity(1024);
        let mut last_activity = Instant::now();
        let mut armed = last_activity + IDLE_TIMEOUT;
        let idle = tokio::time::sleep_until(armed.into());
        tokio::pin!(idle);
        loop {
            // Answer every complete request already buffered.
            let mut start = 0usize;
            let mut close = false;
            while start < have {
                let head = match parse(&buf[start..have]) {
                    Parsed::Head(h) => h,
                    Parsed::Partial => break,
                    Parsed::Bad(status, why) => {
                        write_plain(&mut out, status, why, false, true);
                        close = true;
                        break;
                    }
                };
                let total = head.head_len + head.body_len;
                if start + total > have {
                    break; // the body is still arriving
                }
                let request = &buf[start..start + total];
                if !self.answer(request, &head, &mut out).await {
                    close = true;
                }
                if !head.keep_alive {
                    close = true;
                }
                start += total;
                if close {
                    break;
                }
            }
            if !out.is_empty() {
                if stream.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
            if close {
                let _ = stream.shutdown().await;
                return;
            }
            buf.copy_within(start..have, 0);
            have -= start;
            if have == 0 && stopping {
                return;
            }
            if have == buf.len() {
                if buf.len() >= MAX_HEAD + MAX_BODY {
                    return;
                }
                buf.resize((buf.len() * 2).min(MAX_HEAD + MAX_BODY), 0);
            }
            // A started head must complete soon: bring the deadline forward
            // (rare: heads nearly always arrive in one read).
            if have > 0 && armed > last_activity + HEAD_TIMEOUT {
                armed = last_activity + HEAD_TIMEOUT;
                idle.as_mut().reset(armed.into());
            }
            // Wait for more bytes, the idle deadline or shutdown.
            let n = loop {
                tokio::select! {
                    biased;
                    r = stream.read(&mut buf[have..]) => break r,
                    () = &mut idle => {
                        let limit = if have == 0 { IDLE_TIMEOUT } else { HEAD_TIMEOUT };
                        let deadline = last_activity + limit;
                        if Instant::now() >= deadline {
                            if have > 0 {
                                write_plain(&mut out, StatusCode::REQUEST_TIMEOUT,
                                    "the request head did not arrive in time", false, true);
                                let _ = stream.write_all(&out).await;
                            }
                            return;
                        }
                        armed = deadline;
                        idle.as_mut().reset(armed.into());
                    }
                    _ = &mut stop, if !stopping => {
                        stopping = true;
                        if have == 0 {
                            return;
                        }
                    }
                }
            };
            match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if have == 0 {
                        last_activity = Instant::now();
                    }
                    have += n;
                }
            }
        }
    }

    /// Answers one request into `out`; `false` when the connection must
    /// close afterwards.
    async fn answer(&self, request: &[u8], head: &Head, out: &mut Vec<u8>) -> bool {
        let text = |(a, b): (usize, usize)| std::str::from_utf8(&request[a..b]).ok();
        let Some(target) = text(head.target) else {
            write_plain(
                out,
                StatusCode::BAD_REQUEST,
                "the request target is not text",
                false,
                true,
            );
            return false;
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let is_head = head.method == http::Method::HEAD;
        if path.starts_with("/btv/") || path.starts_with("/vod/") {
            if !(is_head || head.method == http::Method::GET) {
                write_plain(
                    out,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "only GET and HEAD are routed",
                    is_head,
                    !head.keep_alive,
                );
                return head.keep_alive;
            }
            let req = StreamRequest {
                path,
                query,
                peer: self.peer.ip(),
                real_ip: head.real_ip.map(text),
                forwarded_for: head.forwarded_for.map(text),
            };
            match self.service.decide(&req) {
                Answer::Redirect { location, cors } => {
                    out.extend_from_slice(b"HTTP/1.1 302 Found\r\nlocation: ");
                    out.extend_from_slice(location.as_bytes());
                    out.extend_from_slice(b"\r\ncache-control: ");
                    out.extend_from_slice(REDIRECT_CACHE_CONTROL.as_bytes());
                    if cors {
                        out.extend_from_slice(b"\r\naccess-control-allow-origin: *");
                    }
                    out.extend_from_slice(b"\r\ncontent-length: 0\r\n");
                    end_head(out, !head.keep_alive);
                }
                Answer::Refused { status, body } => {
                    write_plain(out, status, &body, is_head, !head.keep_alive);
                }
            }
            return head.keep_alive;
        }
        self.fallback(request, head, target, is_head, out).await
    }

    /// Hands a request that is not a stream request to the axum router.
    async fn fallback(
        &self,
        request: &[u8],
        head: &Head,
        target: &str,
        is_head: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut builder = http::Request::builder()
            .method(head.method.clone())
            .uri(target)
            .version(if head.version == 0 {
                http::Version::HTTP_10
            } else {
                http::Version::HTTP_11
            });
        // The head parsed before; parse it again for all its headers (only
        // this slow path needs them).
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut again = httparse::Request::new(&mut slots);
        if again.parse(&request[..head.head_len]).is_ok() {
            for h in again.headers.iter() {
                builder = builder.header(h.name, h.value);
            }
        }
        let body = Body::from(request[head.head_len..].to_vec());
        let mut req = match builder.body(body) {
            Ok(r) => r,
            Err(_) => {
                write_plain(
                    out,
                    StatusCode::BAD_REQUEST,
                    "malformed request target or header",
                    is_head,
                    true,
                );
                return false;
            }
        };
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let Ok(response) = self.fallback.clone().oneshot(req).await;
        let (parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_RESPONSE).await else {
            write_plain(
                out,
                StatusCode::INTERNAL_SERVER_ERROR,
                "the response could not be produced",
                is_head,
                true,
            );
            return false;
        };
        status_line(out, parts.status);
        let mut has_date = false;
        for (name, value) in &parts.headers {
            if name == header::CONTENT_LENGTH
                || name == header::TRANSFER_ENCODING
                || name == header::CONNECTION
            {
                continue;
            }
            has_date |= name == header::DATE;
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(bytes.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        if has_date {
            if !head.keep_alive {
                out.extend_from_slice(b"connection: close\r\n");
            }
            out.extend_from_slice(b"\r\n");
        } else {
            end_head(out, !head.keep_alive);
        }
        if !is_head {
            out.extend_from_slice(&bytes);
        }
        head.keep_alive
    }
}

/// Parses one request head at the start of `bytes`.
fn parse(bytes: &[u8]) -> Parsed {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if bytes.len() > MAX_HEAD {
                Parsed::Bad(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "the request head is larger than 64 KiB",
                )
            } else {
                Parsed::Partial
            };
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Bad(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "more than 64 request headers",
            )
        }
        Err(_) => return Parsed::Bad(StatusCode::BAD_REQUEST, "malformed HTTP request"),
    };
    if head_len > MAX_HEAD {
        return Parsed::Bad(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request head is larger than 64 KiB",
        );
    }
    let base = bytes.as_ptr() as usize;
    let span = |s: &[u8]| {
        let a = s.as_ptr() as usize - base;
        (a, a + s.len())
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Parsed::Bad(StatusCode::BAD_REQUEST, "malformed HTTP request");
    };
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return Parsed::Bad(StatusCode::BAD_REQUEST, "malformed request method");
    };
    let mut keep_alive = version == 1;
    let mut body_len = 0usize;
    let mut real_ip = None;
    let mut forwarded_for = None;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
            match len {
                Some(n) if n <= MAX_BODY => body_len = n,
                Some(_) => {
                    return Parsed::Bad(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request bodies are limited to 64 KiB",
                    )
                }
                None => return Parsed::Bad(StatusCode::BAD_REQUEST, "malformed Content-Length"),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Bad(
                StatusCode::LENGTH_REQUIRED,
                "chunked request bodies are not accepted here",
            );
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("x-real-ip") {
            real_ip = Some(span(h.value));
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = Some(span(h.value));
        }
    }
    Parsed::Head(Head {
        method,
        target: span(target.as_bytes()),
        version,
        keep_alive,
        head_len,
        body_len,
        real_ip,
        forwarded_for,
    })
}

fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A plain-text answer: `body` and a newline.
fn write_plain(out: &mut Vec<u8>, status: StatusCode, body: &str, is_head: bool, close: bool) {
    status_line(out, status);
    out.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\ncontent-length: ");
    out.extend_from_slice((body.len() + 1).to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    end_head(out, close);
    if !is_head {
        out.extend_from_slice(body.as_bytes());
        out.push(b'\n');
    }
}

/// The `date` header, `connection: close` when closing, and the blank line.
fn end_head(out: &mut Vec<u8>, close: bool) {
    out.extend_from_slice(b"date: ");
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if d.0 != secs {
            *d = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(d.1.as_bytes());
    });
    if close {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
}

thread_local! {
    /// The formatted `Date` of the current second, per thread.
    static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> Head {
        match parse(bytes) {
            Parsed::Head(h) => h,
            Parsed::Partial => panic!("partial"),
            Parsed::Bad(s, why) => panic!("bad: {s} {why}"),
        }
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        assert!(head(b"GET / HTTP/1.1\r\n\r\n").keep_alive);
        assert!(!head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!head(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let bad = |b: &[u8]| match parse(b) {
            Parsed::Bad(s, _) => s,
            _ => panic!("accepted {:?}", String::from_utf8_lossy(b)),
        };
        assert_eq!(bad(b"GE T / HTTP/1.1\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            StatusCode::LENGTH_REQUIRED
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            StatusCode::BAD_REQUEST
        );
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..70 {
            many.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(bad(&many), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let mut long = b"GET / HTTP/1.1\r\nx: ".to_vec();
        long.resize(MAX_HEAD + 10, b'a');
        assert_eq!(bad(&long), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    #[test]
    fn finds_address_headers_and_body_length() {
        let raw = b"GET /btv/live/hls/a HTTP/1.1\r\nX-Real-IP: 10.0.0.1\r\nx-forwarded-for: 1.1.1.1, 2.2.2.2\r\nContent-Length: 3\r\n\r\nabc";
        let h = head(raw);
        let at = |(a, b): (usize, usize)| std::str::from_utf8(&raw[a..b]).unwrap_or("?");
        assert_eq!(at(h.target), "/btv/live/hls/a");
        assert_eq!(h.real_ip.map(at), Some("10.0.0.1"));
        assert_eq!(h.forwarded_for.map(at), Some("1.1.1.1, 2.2.2.2"));
        assert_eq!(h.body_len, 3);
        assert_eq!(h.head_len + h.body_len, raw.len());
        assert!(matches!(
            parse(b"GET /btv/live/hls/a HTTP/1.1\r\nHost: x"),
            Parsed::Partial
        ));
    }
}
