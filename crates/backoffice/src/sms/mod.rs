//! SMS gateways: one [`SmsBackend`] per provider an operator can configure.
//!
//! The old middleware let each operator pick an SMS backend (`SMS_BACKEND`)
//! and a number of attempts (`SMS_ATTEMPTS`). Here the choice is an
//! [`SmsConfig`] (usually inside [`SmsSettings`]), [`backend`] turns it into a
//! boxed [`SmsBackend`], and [`send_with_retries`] sends a message, retrying
//! only errors that may go away ([`SmsError::Temporary`]).
//!
//! Backends and the request each one makes (`base_url` replaces the scheme,
//! host and port, which is how tests point a backend at a local fake):
//!
//! - `smsc-ru` / `smsc-ua`: `POST {base}/sys/send.php` with the form fields
//!   `login, psw, phones, mes, sender, fmt=3, charset=utf-8` (the documented
//!   `send.php` accepts GET or POST; POST keeps the password out of URLs and
//!   proxy logs). The number is sent with its leading `+` so that smsc does
//!   not "correct" it. Reply `{"id":..,"cnt":..}` or
//!   `{"error":..,"error_code":..}`; codes 4 (IP blocked for a while) and 9
//!   (too many requests) are temporary, the others permanent.
//! - `mobipace`: the MOBIPACE HTTP API 4.0. `POST {base}/v4/Authorize` with
//!   JSON `{"Username","Password"}` answering `{"StatusCode":101,
//!   "SessionId":..}`, then `POST {base}/v4/SendSMS` with
//!   `{"SessionId","Sender","Messages":[{"Recipient","Body"}]}` answering
//!   `{"StatusCode":101,"Status":..}`. Assumed from public client code (no
//!   official page was found): 101 is success, 102/103 (session invalid) and
//!   104 (session busy) are temporary, any other code is a rejection. A
//!   session is opened for every message (no session cache).
//! - `pulseem`: `POST {base}/api/v1/SmsApi/SendSms` with header `APIKEY` and
//!   JSON `{"sendId","isAsync":false,"smsSendData":{"fromNumber",
//!   "toNumberList":[..],"referenceList":[..],"textList":[..]}}`. Assumed
//!   reply (the documentation says "returns JSON with SUCCESS"):
//!   `{"status":"Success",..}` is sent, any other `status` (e.g.
//!   `{"status":"Error","error":".."}`) is a rejection. The receipt's
//!   `provider_id` is the `sendId` we generated, which reports are keyed by.
//! - `sms-assistent`: `POST {base}/api/v1/send_sms/plain` with the form
//!   fields `user, password, recipient, message, sender` (number without
//!   `+`). The plain reply is the message id (a positive number) or a
//!   negative error code (-1 no money, -2 bad login/password, ...), all
//!   treated as permanent.
//! - `log`: writes a tracing line (masked number, text length), always sent.
//! - `webhook`: `POST {url}` with JSON `{"to","text","sender"}` and, when a
//!   token is set, `Authorization: Bearer <token>`. Any 2xx is sent; an `id`
//!   string in a JSON reply becomes the receipt's `provider_id`.
//!
//! For every HTTP backend: connection errors, timeouts, HTTP 5xx, 408 and 429
//! are [`SmsError::Temporary`]; other non-2xx statuses are
//! [`SmsError::Rejected`]. Error messages name the gateway and never contain
//! a password, API key or token (request URLs are stripped from transport
//! errors).

mod log;
mod mobipace;
mod pulseem;
mod settings;
mod smsassistent;
mod smsc;
mod webhook;

pub use settings::SETTINGS;

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Longest text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;
/// Attempts used when the settings do not say.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// First pause between attempts in [`send_with_retries`]; it doubles after
/// every failed attempt.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// Time limit of one HTTP request to a gateway.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// Recipient in international (E.164) form: 7 to 15 digits, optionally
    /// preceded by `+`.
    pub to: String,
    /// Message text: not blank, at most [`MAX_TEXT_CHARS`] characters.
    pub text: String,
    /// Sender name overriding the backend's configured one.
    pub sender: Option<String>,
}

impl Sms {
    /// Checks the number and the text; backends call this before any request.
    pub fn validate(&self) -> Result<(), SmsError> {
        let digits = self.to.strip_prefix('+').unwrap_or(&self.to);
        if digits.len() < 7 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SmsError::InvalidNumber {
                number: self.to.clone(),
            });
        }
        let chars = self.text.chars().count();
        if self.text.trim().is_empty() {
            return Err(SmsError::InvalidText {
                reason: "the text is empty".to_string(),
            });
        }
        if chars > MAX_TEXT_CHARS {
            return Err(SmsError::InvalidText {
                reason: format!(
                    "the text has {chars} characters, at most {MAX_TEXT_CHARS} are allowed"
                ),
            });
        }
        Ok(())
    }

    /// The recipient's digits, without the `+` (call after [`Sms::validate`]).
    pub fn digits(&self) -> &str {
        self.to.strip_prefix('+').unwrap_or(&self.to)
    }
}

/// What a gateway reported for an accepted message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsReceipt {
    /// The gateway's id of the message, when it gives one.
    pub provider_id: Option<String>,
    /// Number of SMS parts billed, when the gateway says.
    pub parts: Option<u32>,
}

/// Why an SMS was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The recipient is not 7 to 15 digits with an optional leading `+`.
    #[error(
        "invalid phone number {number:?}: expected 7 to 15 digits, optionally preceded by '+'"
    )]
    InvalidNumber {
        /// The number as given.
        number: String,
    },
    /// The text is empty or too long.
    #[error("invalid SMS text: {reason}")]
    InvalidText {
        /// What is wrong with it.
        reason: String,
    },
    /// The gateway refused the message for good (bad number, bad
    /// credentials, no money...): do not retry.
    #[error("{backend} rejected the SMS: {reason}")]
    Rejected {
        /// The backend's name.
        backend: &'static str,
        /// The gateway's reason.
        reason: String,
    },
    /// The message may go through later (network, timeout, 5xx, rate limit).
    #[error("{backend} could not take the SMS for now: {reason}")]
    Temporary {
        /// The backend's name.
        backend: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl SmsError {
    /// Whether trying again may help.
    pub fn is_temporary(&self) -> bool {
        matches!(self, SmsError::Temporary { .. })
    }
}

/// A way of sending SMS.
#[async_trait::async_trait]
pub trait SmsBackend: Send + Sync {
    /// Short name of the backend (the `backend` value of its config).
    fn name(&self) -> &'static str;
    /// Sends one message. Validates it first and makes no request when it is
    /// invalid.
    async fn send(&self, msg: &Sms) -> Result<SmsReceipt, SmsError>;
}

/// A password, API key or token: deserialises from a string, never shown by
/// `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for building a request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// The SMS part of an operator's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// Attempts per message (old `SMS_ATTEMPTS`), default [`DEFAULT_ATTEMPTS`].
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The gateway.
    pub gateway: SmsConfig,
}

fn default_attempts() -> u32 {
    DEFAULT_ATTEMPTS
}

/// Which gateway to use and its credentials; `backend` selects the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "backend", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SmsConfig {
    /// smsc.ru (old `SMSC_LOGIN`, `SMSC_PASSWORD`, `SMSC_SENDER`).
    SmscRu {
        /// Account login.
        login: String,
        /// Account password (or API key).
        password: Secret,
        /// Default sender name; smsc uses the account's default when absent.
        #[serde(default)]
        sender: Option<String>,
        /// Replaces `https://smsc.ru`.
        #[serde(default)]
        base_url: Option<String>,
    },
    /// smsc.ua: the same API as smsc.ru on its own host.
    SmscUa {
        /// Account login.
        login: String,
        /// Account password (or API key).
        password: Secret,
        /// Default sender name.
        #[serde(default)]
        sender: Option<String>,
        /// Replaces `https://smsc.ua`.
        #[serde(default)]
        base_url: Option<String>,
    },
    /// mobipace.com (old `MOBIPACE_LOGIN`, `MOBIPACE_PASSWORD`,
    /// `MOBIPACE_SENDER`).
    Mobipace {
        /// Account user name.
        login: String,
        /// Account password.
        password: Secret,
        /// Sender name.
        sender: String,
        /// Replaces `https://endpoint.mobipace.com:444`.
        #[serde(default)]
        base_url: Option<String>,
    },
    /// pulseem.co.il (old `PULSEEM_APIKEY`, `PULSEEM_SENDER_NAME`).
    Pulseem {
        /// API key.
        api_key: Secret,
        /// Sender name or number.
        sender: String,
        /// Replaces `https://api.pulseem.com`.
        #[serde(default)]
        base_url: Option<String>,
    },
    /// sms-assistent.by (old `SMS_ASSIST_USERNAME`, `SMS_ASSIST_PASSWORD`,
    /// `SMS_ASSIST_SENDER_NAME`).
    SmsAssistent {
        /// Account user name.
        login: String,
        /// Account password.
        password: Secret,
        /// Sender name.
        sender: String,
        /// Replaces `https://userarea.sms-assistent.by`.
        #[serde(default)]
        base_url: Option<String>,
    },
    /// No gateway: every message is written to the log and counts as sent.
    Log,
    /// A generic HTTP endpoint receiving JSON `{to, text, sender}`.
    Webhook {
        /// Where to POST.
        url: String,
        /// Sent as `Authorization: Bearer <token>` when set.
        #[serde(default)]
        token: Option<Secret>,
    },
}

/// Builds the backend a config describes; `http` is shared by all requests.
pub fn backend(cfg: &SmsConfig, http: reqwest::Client) -> Box<dyn SmsBackend> {
    match cfg {
        SmsConfig::SmscRu {
            login,
            password,
            sender,
            base_url,
        } => Box::new(smsc::SmscBackend::new(
            "smsc-ru",
            http,
            base_url.as_deref().unwrap_or("https://smsc.ru"),
            login,
            password.clone(),
            sender.clone(),
        )),
        SmsConfig::SmscUa {
            login,
            password,
            sender,
            base_url,
        } => Box::new(smsc::SmscBackend::new(
            "smsc-ua",
            http,
            base_url.as_deref().unwrap_or("https://smsc.ua"),
            login,
            password.clone(),
            sender.clone(),
        )),
        SmsConfig::Mobipace {
            login,
            password,
            sender,
            base_url,
        } => Box::new(mobipace::MobipaceBackend {
            http,
            base: trim_base(
                base_url
                    .as_deref()
                    .unwrap_or("https://endpoint.mobipace.com:444"),
            ),
            login: login.clone(),
            password: password.clone(),
            sender: sender.clone(),
        }),
        SmsConfig::Pulseem {
            api_key,
            sender,
            base_url,
        } => Box::new(pulseem::PulseemBackend {
            http,
            base: trim_base(base_url.as_deref().unwrap_or("https://api.pulseem.com")),
            api_key: api_key.clone(),
            sender: sender.clone(),
        }),
        SmsConfig::SmsAssistent {
            login,
            password,
            sender,
            base_url,
        } => Box::new(smsassistent::SmsAssistentBackend {
            http,
            base: trim_base(
                base_url
                    .as_deref()
                    .unwrap_or("https://userarea.sms-assistent.by"),
            ),
            login: login.clone(),
            password: password.clone(),
            sender: sender.clone(),
        }),
        SmsConfig::Log => Box::new(log::LogBackend),
        SmsConfig::Webhook { url, token } => Box::new(webhook::WebhookBackend {
            http,
            url: url.clone(),
            token: token.clone(),
        }),
    }
}

/// Sends `msg`, trying up to `attempts` times (at least once) while the
/// error is [`SmsError::Temporary`], pausing [`DEFAULT_BACKOFF`] and then
/// twice as long after each failure. Returns the receipt and the number of
/// attempts used, or the last error.
pub async fn send_with_retries(
    backend: &dyn SmsBackend,
    msg: &Sms,
    attempts: u32,
) -> Result<(SmsReceipt, u32), SmsError> {
    send_with_retries_backoff(backend, msg, attempts, DEFAULT_BACKOFF).await
}

/// [`send_with_retries`] with the first pause given.
pub async fn send_with_retries_backoff(
    backend: &dyn SmsBackend,
    msg: &Sms,
    attempts: u32,
    first_backoff: Duration,
) -> Result<(SmsReceipt, u32), SmsError> {
    msg.validate()?;
    let attempts = attempts.max(1);
    let mut pause = first_backoff;
    let mut attempt = 1;
    loop {
        match backend.send(msg).await {
            Ok(receipt) => return Ok((receipt, attempt)),
            Err(err) if err.is_temporary() && attempt < attempts => {
                tracing::warn!(
                    backend = backend.name(),
                    attempt,
                    attempts,
                    error = %err,
                    "SMS attempt failed, retrying"
                );
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

fn trim_base(base: &str) -> String {
    base.trim_end_matches('/').to_string()
}

/// Turns a transport error into a [`SmsError::Temporary`] without the URL
/// (which may carry credentials).
fn transport_error(backend: &'static str, err: reqwest::Error) -> SmsError {
    let what = if err.is_timeout() {
        "the request timed out".to_string()
    } else if err.is_connect() {
        "could not connect".to_string()
    } else {
        let err = err.without_url();
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    };
    SmsError::Temporary {
        backend,
        reason: what,
    }
}

/// Classifies a non-2xx HTTP status: 5xx, 408 and 429 are temporary.
fn status_error(backend: &'static str, status: reqwest::StatusCode, body: &str) -> SmsError {
    let reason = format!("HTTP {status}{}", body_excerpt(body));
    if status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        SmsError::Temporary { backend, reason }
    } else {
        SmsError::Rejected { backend, reason }
    }
}

/// A short, single-line excerpt of a reply body for error messages.
fn body_excerpt(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return String::new();
    }
    let short: String = line.chars().take(200).collect();
    format!(": {short}")
}

/// Sends a request and reads the whole reply body; non-2xx replies become
/// errors via [`status_error`].
async fn fetch_text(
    backend: &'static str,
    req: reqwest::RequestBuilder,
) -> Result<String, SmsError> {
    let resp = req
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| transport_error(backend, e))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| transport_error(backend, e))?;
    if !status.is_success() {
        return Err(status_error(backend, status, &body));
    }
    Ok(body)
}

/// Parses a JSON reply; an unreadable reply is temporary (a proxy or
/// maintenance page answered instead of the gateway).
fn parse_json<T: serde::de::DeserializeOwned>(
    backend: &'static str,
    body: &str,
) -> Result<T, SmsError> {
    serde_json::from_str(body).map_err(|e| SmsError::Temporary {
        backend,
        reason: format!("unexpected reply ({e}){}", body_excerpt(body)),
    })
}
