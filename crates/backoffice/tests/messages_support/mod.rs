//! Local fakes of the outside services messages go to: an HTTP server that
//! records requests and answers scripted replies (SMS gateways) and a small
//! SMTP server that records what it is given. Plus helpers that create an
//! operator, customers and accounts.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use efir_store::clients::NewClient;
use efir_store::{Actor, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One request the HTTP fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn form(&self) -> HashMap<String, String> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.body) {
            Ok(v) => v,
            Err(e) => panic!("request body is not JSON ({e}): {}", self.body),
        }
    }
}

type Script = HashMap<String, VecDeque<(u16, String)>>;

/// A local HTTP server answering, per path, the scripted replies in order
/// (the last one repeats).
pub struct FakeHttp {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeHttp {
    pub async fn start(script: Vec<(&str, u16, &str)>) -> FakeHttp {
        let mut replies: Script = HashMap::new();
        for (path, status, body) in script {
            replies
                .entry(path.to_string())
                .or_default()
                .push_back((status, body.to_string()));
        }
        let replies = Arc::new(Mutex::new(replies));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let replies = replies.clone();
                let seen = seen2.clone();
                async move {
                    let path = uri.path().to_string();
                    seen.lock().unwrap().push(Seen {
                        method,
                        path: path.clone(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let mut replies = replies.lock().unwrap();
                    let (status, body) = match replies.get_mut(&path) {
                        Some(queue) if queue.len() > 1 => queue.pop_front().unwrap(),
                        Some(queue) if queue.len() == 1 => queue[0].clone(),
                        _ => (404, "no such path".to_string()),
                    };
                    (StatusCode::from_u16(status).unwrap(), body)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeHttp { addr, seen }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

/// One e-mail the SMTP fake accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub helo: String,
    pub auth: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A plain-text SMTP server: greeting, EHLO/HELO, AUTH PLAIN, MAIL FROM,
/// RCPT TO, DATA, RSET, NOOP, QUIT. `reject_rcpt` answers `550` to every
/// RCPT TO (a permanent rejection); `busy` answers `421` to the greeting
/// (a temporary failure).
pub struct FakeSmtp {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SmtpMode {
    pub reject_rcpt: bool,
    pub busy: bool,
}

impl FakeSmtp {
    pub async fn start(mode: SmtpMode) -> FakeSmtp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let mails2 = mails.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let mails = mails2.clone();
                tokio::spawn(async move {
                    let _ = session(sock, mails, mode).await;
                });
            }
        });
        FakeSmtp { addr, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

async fn session(
    sock: tokio::net::TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
    mode: SmtpMode,
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    if mode.busy {
        w.write_all(b"421 fake.smtp busy, try later\r\n").await?;
        return Ok(());
    }
    w.write_all(b"220 fake.smtp ESMTP ready\r\n").await?;
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            mail.helo = cmd[4..].trim().to_string();
            w.write_all(b"250-fake.smtp\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
                .await?;
        } else if upper.starts_with("AUTH PLAIN") {
            mail.auth = Some(cmd[10..].trim().to_string());
            w.write_all(b"235 2.7.0 Authentication successful\r\n")
                .await?;
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = cmd[10..].trim().to_string();
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            if mode.reject_rcpt {
                w.write_all(b"550 5.1.1 no such user\r\n").await?;
            } else {
                mail.to.push(cmd[8..].trim().to_string());
                w.write_all(b"250 OK\r\n").await?;
            }
        } else if upper == "DATA" {
            w.write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = if line.starts_with("..") {
                    &line[1..]
                } else {
                    &line[..]
                };
                data.push_str(unstuffed);
            }
            mail.data = data;
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            w.write_all(b"250 OK queued as fake-1\r\n").await?;
        } else if upper == "RSET" || upper == "NOOP" {
            w.write_all(b"250 OK\r\n").await?;
        } else if upper == "QUIT" {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 unknown command\r\n").await?;
        }
    }
}

/// An operator with the given default language.
pub async fn operator(store: &Store, prefix: &str, language: &str) -> i64 {
    let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
    let client = store
        .create_client(
            &mut tx,
            &NewClient {
                name: format!("Operator {prefix}"),
                api_key: format!("test-key-{prefix}"),
                domain_prefix: prefix.into(),
                email: format!("ops@{prefix}.example.com"),
                default_language: Some(language.into()),
                ..NewClient::default()
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    client.id
}

/// Sets operator settings (validated like the back office does).
pub async fn set(store: &Store, client_id: i64, pairs: &[(&str, &str)]) {
    let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
    for (k, v) in pairs {
        efir_backoffice::settings::validate(k, v).unwrap();
        store
            .set_client_setting(&mut tx, client_id, k, Some(v))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// A customer; returns its id.
pub async fn customer(store: &Store, client_id: i64, phone: &str, email: &str) -> i64 {
    let sql = "INSERT INTO customer (client_id, mobile_phone_number, email, created_at, \
               updated_at) VALUES ($1, $2, $3, 0, 0) RETURNING id";
    efir_store::with_db!(store.pool(), p => sqlx::query_scalar::<_, i64>(sql)
        .bind(client_id)
        .bind(phone)
        .bind(email)
        .fetch_one(p)
        .await)
    .unwrap()
}

/// An account; returns its id.
pub async fn account(
    store: &Store,
    client_id: i64,
    customer_id: i64,
    abonement: &str,
    deactivation: Option<i64>,
) -> i64 {
    let sql = "INSERT INTO account (client_id, customer_id, abonement, deactivation_date, \
               created_at, updated_at) VALUES ($1, $2, $3, $4, 0, 0) RETURNING id";
    efir_store::with_db!(store.pool(), p => sqlx::query_scalar::<_, i64>(sql)
        .bind(client_id)
        .bind(customer_id)
        .bind(abonement)
        .bind(deactivation)
        .fetch_one(p)
        .await)
    .unwrap()
}

/// Rows of a table (optionally of one operator).
pub async fn count(store: &Store, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    efir_store::with_db!(store.pool(), p => sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(p)
        .await)
    .unwrap()
}
