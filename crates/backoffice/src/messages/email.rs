//! E-mail through the operator's SMTP server (`email.*` settings), sent
//! with `lettre` over tokio and rustls.
//!
//! Bodies are plain text (`text/plain; charset=utf-8`): a text holding HTML
//! is delivered as those characters, never rendered.

use std::time::Duration;

use efir_store::settings::Settings;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::settings::check_range;
use crate::sms::Secret;

/// Attempts used when `email.attempts` is not set.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Time limit of one SMTP conversation.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// How the SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text (a local relay).
    None,
    /// Plain connection upgraded with STARTTLS (required).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl TlsMode {
    fn parse(s: &str) -> Option<TlsMode> {
        match s {
            "none" => Some(TlsMode::None),
            "starttls" => Some(TlsMode::Starttls),
            "tls" => Some(TlsMode::Tls),
            _ => None,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        }
    }
}

/// The e-mail part of an operator's settings.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// SMTP host.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// Login, when the server wants one.
    pub username: Option<String>,
    /// Password (never shown by `Debug`).
    pub password: Option<Secret>,
    /// Sender mailbox.
    pub from: String,
    /// Encryption.
    pub tls: TlsMode,
    /// Attempts per message.
    pub attempts: u32,
}

impl EmailSettings {
    /// The e-mail settings of an operator, or `None` when `email.host` is
    /// not set; an error names what is missing or wrong.
    pub fn from_settings(settings: &Settings) -> Result<Option<EmailSettings>, String> {
        let Some(host) = settings.get("email.host") else {
            return Ok(None);
        };
        check_host(host).map_err(|e| format!("email.host: {e}"))?;
        let tls = match settings.get("email.tls") {
            Some(v) => TlsMode::parse(v)
                .ok_or_else(|| format!("email.tls: `{v}` is not one of starttls, tls, none"))?,
            None => TlsMode::Starttls,
        };
        let port = match settings.get("email.port") {
            Some(v) => v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("email.port: `{v}` is not a port number"))?,
            None => tls.default_port(),
        };
        let from = settings
            .get("email.from")
            .ok_or("email settings: email.from is not set")?;
        check_from(from).map_err(|e| format!("email.from: {e}"))?;
        let attempts = match settings.get("email.attempts") {
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=20).contains(n))
                .ok_or_else(|| format!("email.attempts: `{v}` is not a number from 1 to 20"))?,
            None => DEFAULT_ATTEMPTS,
        };
        let username = settings.get("email.username").cloned();
        let password = settings.get("email.password").map(Secret::new);
        if username.is_some() != password.is_some() {
            return Err(
                "email settings: set both email.username and email.password, or neither".into(),
            );
        }
        Ok(Some(EmailSettings {
            host: host.clone(),
            port,
            username,
            password,
            from: from.clone(),
            tls,
            attempts,
        }))
    }
}

/// One e-mail to send.
#[derive(Debug, Clone)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Why an e-mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The server or the message refused for good: do not retry.
    #[error("SMTP rejected the e-mail: {0}")]
    Rejected(String),
    /// It may go through later (connection, timeout, 4xx reply).
    #[error("SMTP could not take the e-mail for now: {0}")]
    Temporary(String),
}

impl EmailError {
    /// Whether trying again may help.
    pub fn is_temporary(&self) -> bool {
        matches!(self, EmailError::Temporary(_))
    }
}

/// Sends one e-mail with `settings`; returns the server's reply to DATA.
pub async fn send(settings: &EmailSettings, mail: &Email) -> Result<Option<String>, EmailError> {
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| EmailError::Rejected(format!("sender address: {e}")))?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| EmailError::Rejected(format!("recipient address: {e}")))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| EmailError::Rejected(format!("cannot build the message: {e}")))?;
    let host = settings.host.as_str();
    let tls = || {
        TlsParameters::new(host.to_string())
            .map_err(|e| EmailError::Rejected(format!("TLS parameters: {e}")))
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(settings.port)
        .timeout(Some(SMTP_TIMEOUT));
    builder = match settings.tls {
        TlsMode::None => builder.tls(Tls::None),
        TlsMode::Starttls => builder.tls(Tls::Required(tls()?)),
        TlsMode::Tls => builder.tls(Tls::Wrapper(tls()?)),
    };
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    let transport = builder.build();
    match transport.send(message).await {
        Ok(reply) => Ok(reply.message().next().map(str::to_string)),
        Err(e) if e.is_permanent() => Err(EmailError::Rejected(smtp_error(&e))),
        Err(e) => Err(EmailError::Temporary(smtp_error(&e))),
    }
}

/// The error's text with its causes, on one line (lettre never puts the
/// password in its errors).
fn smtp_error(err: &lettre::transport::smtp::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks `email.host`.
pub fn check_host(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err("expected a host name or IP address".into())
    }
}

/// Checks `email.port`.
pub fn check_port(v: &str) -> Result<(), String> {
    check_range(v, 1, 65_535)
}

/// Checks a one-line value (login, password).
pub fn check_line(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
        Err("expected 1 to 200 printable characters".into())
    } else {
        Ok(())
    }
}

/// Checks `email.from`.
pub fn check_from(v: &str) -> Result<(), String> {
    match v.parse::<Mailbox>() {
        Ok(_) => Ok(()),
        Err(_) => Err("expected an address such as noreply@example.com".into()),
    }
}

/// Checks `email.tls`.
pub fn check_tls(v: &str) -> Result<(), String> {
    match TlsMode::parse(v) {
        Some(_) => Ok(()),
        None => Err("expected starttls, tls or none".into()),
    }
}

/// Checks `email.attempts`.
pub fn check_attempts(v: &str) -> Result<(), String> {
    check_range(v, 1, 20)
}

/// Checks a recipient address.
pub fn check_address(v: &str) -> bool {
    efir_store::clients::is_email(v) && v.parse::<Mailbox>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn settings_defaults_and_errors() {
        assert!(EmailSettings::from_settings(&settings(&[]))
            .unwrap()
            .is_none());
        let s = EmailSettings::from_settings(&settings(&[
            ("email.host", "smtp.example.com"),
            ("email.from", "noreply@example.com"),
            ("email.tls", "tls"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((s.port, s.tls, s.attempts), (465, TlsMode::Tls, 3));
        let s = EmailSettings::from_settings(&settings(&[
            ("email.host", "smtp.example.com"),
            ("email.from", "noreply@example.com"),
            ("email.username", "u"),
            ("email.password", "pw-S3cret"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((s.port, s.tls), (587, TlsMode::Starttls));
        assert!(!format!("{s:?}").contains("pw-S3cret"));
        let err = EmailSettings::from_settings(&settings(&[("email.host", "smtp.example.com")]))
            .unwrap_err();
        assert!(err.contains("email.from"), "{err}");
        let err = EmailSettings::from_settings(&settings(&[
            ("email.host", "smtp.example.com"),
            ("email.from", "noreply@example.com"),
            ("email.username", "u"),
        ]))
        .unwrap_err();
        assert!(err.contains("email.password"), "{err}");
    }
}
