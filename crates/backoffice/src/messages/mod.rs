//! Messages an operator sends to subscribers: screen messages, SMS and
//! e-mail.
//!
//! Every SMS and e-mail goes through one table, the outbox
//! (`outbound_message`): [`outbox::queue_sms`] and [`outbox::queue_email`]
//! validate and queue a message (audited), [`outbox::deliver_due`] sends
//! what is due with the operator's `sms.*` or `email.*` settings, one
//! attempt per message per run, and records every attempt. A temporary
//! failure (network, 5xx, rate limit) is tried again later, up to the
//! configured number of attempts; a rejection (invalid number, bad
//! credentials) fails the message at once. The `resend-sms` command runs
//! [`outbox::deliver_due`] every two minutes.
//!
//! Screen messages (table `message`, shown by the device API) are sent to
//! one account, one customer's accounts or all accounts of an operator by
//! [`screen::send_screen`], with optional SMS and e-mail copies through the
//! outbox. [`expiry::send_expiry_notices`] warns accounts whose paid period
//! ends soon, once per account and expiry date, and [`clean::clean_old`]
//! removes old messages. Texts are stored exactly as given (HTML included)
//! and never interpreted: they are sent as plain text.
//!
//! Library functions take the current time as an argument so that tests
//! can drive them with a frozen clock; commands pass [`efir_store::now`].

pub mod admin;
pub mod clean;
pub mod email;
pub mod expiry;
pub mod list;
pub mod outbox;
pub mod screen;

use std::fmt;

use efir_store::StoreError;

use crate::settings::SettingSpec;

/// The `email.*` and `messages.*` keys.
pub const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "email.host",
        help: "SMTP server host name",
        check: email::check_host,
    },
    SettingSpec {
        key: "email.port",
        help: "SMTP server port (default 587 with starttls, 465 with tls, 25 with none)",
        check: email::check_port,
    },
    SettingSpec {
        key: "email.username",
        help: "SMTP login (none: send without authentication)",
        check: email::check_line,
    },
    SettingSpec {
        key: "email.password",
        help: "SMTP password",
        check: email::check_line,
    },
    SettingSpec {
        key: "email.from",
        help: "sender address, `noreply@example.com` or `Efir TV <noreply@example.com>`",
        check: email::check_from,
    },
    SettingSpec {
        key: "email.tls",
        help: "SMTP encryption: starttls (default), tls or none",
        check: email::check_tls,
    },
    SettingSpec {
        key: "email.attempts",
        help: "send attempts per e-mail before it counts as failed (default 3)",
        check: email::check_attempts,
    },
    SettingSpec {
        key: "messages.expiry_subject",
        help: "subject of the expiry notice (send-activation-expires-messages)",
        check: expiry::check_template,
    },
    SettingSpec {
        key: "messages.expiry_text",
        help: "text of the expiry notice; {date}, {days} and {abonement} are replaced",
        check: expiry::check_template,
    },
];

/// Longest screen message text, in characters (as the Billing API allows).
pub const MAX_SCREEN_TEXT_CHARS: usize = 10_000;
/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest e-mail body, in characters.
pub const MAX_EMAIL_BODY_CHARS: usize = 100_000;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A screen message on the subscriber's devices.
    Screen,
    /// An SMS through the operator's gateway.
    Sms,
    /// An e-mail through the operator's SMTP server.
    Email,
}

impl Channel {
    /// The name stored and shown (`screen`, `sms`, `email`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Screen => "screen",
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    /// Parses `screen`, `sms` or `email`.
    pub fn parse(s: &str) -> Result<Channel, MessageError> {
        match s {
            "screen" => Ok(Channel::Screen),
            "sms" => Ok(Channel::Sms),
            "email" => Ok(Channel::Email),
            _ => Err(MessageError::invalid(
                "channel",
                "expected screen, sms or email",
            )),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// A parameter is wrong; nothing was written.
    #[error("{field}: {message}")]
    Invalid {
        /// The parameter.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An object does not exist (or belongs to another operator).
    #[error("{0} not found")]
    NotFound(String),
    /// The operator's settings do not allow this (e.g. no SMS gateway).
    #[error("{0}")]
    Settings(String),
    /// The action does not apply in the current state.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MessageError {
    /// An [`MessageError::Invalid`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> MessageError {
        MessageError::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for MessageError {
    fn from(e: sqlx::Error) -> Self {
        MessageError::Store(StoreError::from(e))
    }
}

/// Result of this module.
pub type Result<T, E = MessageError> = std::result::Result<T, E>;

/// Checks a text: not blank, at most `max` characters, no NUL.
pub fn check_text(field: &'static str, text: &str, max: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(MessageError::invalid(field, "must not be empty"));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(MessageError::invalid(
            field,
            format!("has {chars} characters, at most {max} are allowed"),
        ));
    }
    if text.contains('\0') {
        return Err(MessageError::invalid(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

/// Checks a subject: at most [`MAX_SUBJECT_CHARS`] characters on one line.
pub fn check_subject(subject: &str) -> Result<()> {
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(MessageError::invalid(
            "subject",
            format!("at most {MAX_SUBJECT_CHARS} characters are allowed"),
        ));
    }
    if subject.chars().any(char::is_control) {
        return Err(MessageError::invalid(
            "subject",
            "must be one line without control characters",
        ));
    }
    Ok(())
}

/// A customer of an operator, with the addresses copies go to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Customer {
    /// Id.
    pub id: i64,
    /// The operator.
    pub client_id: i64,
    /// Mobile number for SMS ('' when unknown).
    pub mobile_phone_number: String,
    /// E-mail address ('' when unknown).
    pub email: String,
}

/// One customer of `client_id`, or [`MessageError::NotFound`].
pub async fn customer(
    store: &efir_store::Store,
    client_id: i64,
    customer_id: i64,
) -> Result<Customer> {
    let sql = "SELECT id, client_id, mobile_phone_number, email FROM customer \
               WHERE id = $1 AND client_id = $2";
    let row: Option<Customer> = efir_store::with_db!(store.pool(), p => sqlx::query_as(sql)
        .bind(customer_id)
        .bind(client_id)
        .fetch_optional(p)
        .await)?;
    row.ok_or_else(|| MessageError::NotFound(format!("customer {customer_id}")))
}

/// The operator `client_id`, or [`MessageError::NotFound`].
pub async fn client(
    store: &efir_store::Store,
    client_id: i64,
) -> Result<efir_store::clients::Client> {
    match store.client(client_id).await {
        Ok(c) => Ok(c),
        Err(StoreError::NotFound { .. }) => {
            Err(MessageError::NotFound(format!("client {client_id}")))
        }
        Err(e) => Err(e.into()),
    }
}
