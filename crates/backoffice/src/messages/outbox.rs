//! The outbox: every SMS and e-mail Efir sends, queued, attempted and
//! recorded in `outbound_message`.
//!
//! A message is `queued` with a `next_attempt_at`; [`deliver_due`] claims
//! the due ones (the claim, with the attempt number, is an audited change
//! that moves `next_attempt_at` a lease ahead so that two runs never send
//! the same message), makes one attempt each and records the outcome:
//! `sent` with the gateway's id, `queued` again a little later after a
//! temporary failure, or `failed` with the reason after a rejection or the
//! last allowed attempt. Errors stored never contain credentials: the
//! backends strip them.

use efir_store::audit::Arg;
use efir_store::{Actor, Store, Tx};
use serde::Serialize;
use serde_json::json;

use super::email::{self, Email, EmailSettings};
use super::{check_subject, check_text, Channel, MessageError, Result, MAX_EMAIL_BODY_CHARS};
use crate::sms::{self, Sms, SmsSettings};

/// Seconds a claimed message stays reserved for the run sending it.
pub const LEASE_SECS: i64 = 300;
/// Pause after the first temporary failure; doubles after each one.
pub const RETRY_BASE_SECS: i64 = 60;
/// Longest pause between attempts.
pub const RETRY_MAX_SECS: i64 = 3600;

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    /// The operator.
    pub client_id: i64,
    /// The customer it concerns, if any.
    pub customer_id: Option<i64>,
    /// The account it concerns, if any.
    pub account_id: Option<i64>,
    /// [`Channel::Sms`] or [`Channel::Email`].
    pub channel: Channel,
    /// Phone number or e-mail address.
    pub recipient: String,
    /// Subject (e-mail only; '' for SMS).
    pub subject: String,
    /// Text.
    pub body: String,
}

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Outbound {
    /// Id.
    pub id: i64,
    /// The operator.
    pub client_id: i64,
    /// The customer, if any.
    pub customer_id: Option<i64>,
    /// The account, if any.
    pub account_id: Option<i64>,
    /// `sms` or `email`.
    pub channel: String,
    /// Phone number or address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Text.
    pub body: String,
    /// `queued`, `sent` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (Unix seconds).
    pub next_attempt_at: i64,
    /// The last failure, without secrets.
    pub last_error: Option<String>,
    /// The gateway's id of the sent message.
    pub gateway_id: Option<String>,
    /// When queued.
    pub created_at: i64,
    /// When sent.
    pub sent_at: Option<i64>,
}

const COLUMNS: &str = "id, client_id, customer_id, account_id, channel, recipient, subject, \
    body, state, attempts, next_attempt_at, last_error, gateway_id, created_at, sent_at";

/// Checks a message before it is queued.
pub fn validate(msg: &NewOutbound) -> Result<()> {
    match msg.channel {
        Channel::Sms => {
            let sms = Sms {
                to: msg.recipient.clone(),
                text: msg.body.clone(),
                sender: None,
            };
            sms.validate().map_err(|e| match e {
                sms::SmsError::InvalidNumber { .. } => MessageError::invalid(
                    "phone",
                    format!(
                        "invalid phone number {:?}: expected 7 to 15 digits, optionally \
                         preceded by '+'",
                        msg.recipient
                    ),
                ),
                other => MessageError::invalid("text", other.to_string()),
            })
        }
        Channel::Email => {
            if !email::check_address(&msg.recipient) {
                return Err(MessageError::invalid(
                    "email",
                    format!("invalid e-mail address {:?}", msg.recipient),
                ));
            }
            check_subject(&msg.subject)?;
            if msg.subject.trim().is_empty() {
                return Err(MessageError::invalid("subject", "must not be empty"));
            }
            check_text("text", &msg.body, MAX_EMAIL_BODY_CHARS)
        }
        Channel::Screen => Err(MessageError::invalid(
            "channel",
            "screen messages do not go through the outbox",
        )),
    }
}

/// Checks that the operator can send on `channel` (its settings are
/// complete); a clear error otherwise.
pub async fn require_channel(store: &Store, client_id: i64, channel: Channel) -> Result<()> {
    let settings = store.client_settings(client_id).await?;
    match channel {
        Channel::Sms => match SmsSettings::from_settings(&settings) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(MessageError::Settings(format!(
                "operator {client_id} has no SMS gateway (set sms.backend)"
            ))),
            Err(e) => Err(MessageError::Settings(e)),
        },
        Channel::Email => match EmailSettings::from_settings(&settings) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(MessageError::Settings(format!(
                "operator {client_id} has no SMTP server (set email.host and email.from)"
            ))),
            Err(e) => Err(MessageError::Settings(e)),
        },
        Channel::Screen => Ok(()),
    }
}

/// Queues a validated message inside `tx` (audited); returns its id.
pub async fn queue_in(tx: &mut Tx, msg: &NewOutbound, now: i64) -> Result<i64> {
    validate(msg)?;
    tx.mark_changed("outbound_message");
    let sql = "INSERT INTO outbound_message (client_id, customer_id, account_id, channel, \
               recipient, subject, body, state, attempts, next_attempt_at, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $8) RETURNING id";
    let id: i64 = efir_store::with_tx!(tx, c => sqlx::query_scalar(sql)
        .bind(msg.client_id)
        .bind(msg.customer_id)
        .bind(msg.account_id)
        .bind(msg.channel.as_str())
        .bind(&msg.recipient)
        .bind(&msg.subject)
        .bind(&msg.body)
        .bind(now)
        .fetch_one(c)
        .await)?;
    tx.audit(
        Some(msg.client_id),
        "queue",
        "outbound_message",
        Some(id.to_string()),
        json!({
            "channel": msg.channel.as_str(),
            "customer_id": msg.customer_id,
            "account_id": msg.account_id,
            "recipient": mask(msg.channel, &msg.recipient),
            "chars": msg.body.chars().count(),
        }),
    )
    .await?;
    Ok(id)
}

/// Validates and queues one message in its own transaction, after checking
/// that the operator has settings for its channel and that the customer
/// and account (when given) are the operator's.
pub async fn queue(store: &Store, actor: Actor, msg: &NewOutbound, now: i64) -> Result<i64> {
    validate(msg)?;
    super::client(store, msg.client_id).await?;
    if let Some(customer) = msg.customer_id {
        super::customer(store, msg.client_id, customer).await?;
    }
    if let Some(account) = msg.account_id {
        super::screen::account(store, msg.client_id, account).await?;
    }
    require_channel(store, msg.client_id, msg.channel).await?;
    let mut tx = store.begin(actor).await?;
    let id = queue_in(&mut tx, msg, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Queues an SMS to `to` (see [`queue`]).
pub async fn queue_sms(
    store: &Store,
    actor: Actor,
    client_id: i64,
    customer_id: Option<i64>,
    to: &str,
    text: &str,
    now: i64,
) -> Result<i64> {
    let msg = NewOutbound {
        client_id,
        customer_id,
        account_id: None,
        channel: Channel::Sms,
        recipient: to.to_string(),
        subject: String::new(),
        body: text.to_string(),
    };
    queue(store, actor, &msg, now).await
}

/// Queues an e-mail to `to` (see [`queue`]).
#[allow(clippy::too_many_arguments)]
pub async fn queue_email(
    store: &Store,
    actor: Actor,
    client_id: i64,
    customer_id: Option<i64>,
    to: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> Result<i64> {
    let msg = NewOutbound {
        client_id,
        customer_id,
        account_id: None,
        channel: Channel::Email,
        recipient: to.to_string(),
        subject: subject.to_string(),
        body: body.to_string(),
    };
    queue(store, actor, &msg, now).await
}

/// One outbox row by id.
pub async fn get(store: &Store, id: i64) -> Result<Option<Outbound>> {
    let sql = format!("SELECT {COLUMNS} FROM outbound_message WHERE id = $1");
    Ok(efir_store::with_db!(store.pool(), p => sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?)
}

/// What [`deliver_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliverySummary {
    /// Messages attempted.
    pub attempted: u64,
    /// Sent.
    pub sent: u64,
    /// Queued again after a temporary failure.
    pub retrying: u64,
    /// Failed for good.
    pub failed: u64,
}

/// Which due messages [`deliver_due`] sends.
#[derive(Debug, Clone, Default)]
pub struct DueFilter {
    /// Only this operator's.
    pub client_id: Option<i64>,
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only these ids.
    pub ids: Option<Vec<i64>>,
}

/// Sends every queued message due at `now` (one attempt each) and records
/// each outcome. `http` is shared by the SMS gateways' requests.
pub async fn deliver_due(
    store: &Store,
    http: &reqwest::Client,
    actor: Actor,
    filter: &DueFilter,
    now: i64,
) -> Result<DeliverySummary> {
    let mut sql = String::from(
        "SELECT id FROM outbound_message WHERE state = 'queued' AND next_attempt_at <= $1",
    );
    if filter.client_id.is_some() {
        sql.push_str(" AND client_id = $2");
    }
    if filter.channel.is_some() {
        sql.push_str(if filter.client_id.is_some() {
            " AND channel = $3"
        } else {
            " AND channel = $2"
        });
    }
    sql.push_str(" ORDER BY next_attempt_at, id");
    let channel = filter.channel.map(Channel::as_str);
    let ids: Vec<i64> = efir_store::with_db!(store.pool(), p => {
        let mut q = sqlx::query_scalar(&sql).bind(now);
        if let Some(c) = filter.client_id {
            q = q.bind(c);
        }
        if let Some(ch) = channel {
            q = q.bind(ch);
        }
        q.fetch_all(p).await
    })?;
    let mut summary = DeliverySummary::default();
    let mut settings_cache: std::collections::HashMap<i64, efir_store::settings::Settings> =
        std::collections::HashMap::new();
    for id in ids {
        if let Some(only) = &filter.ids {
            if !only.contains(&id) {
                continue;
            }
        }
        let Some(msg) = claim(store, actor.clone(), id, now).await? else {
            continue;
        };
        let settings = match settings_cache.get(&msg.client_id) {
            Some(s) => s.clone(),
            None => {
                let s = store.client_settings(msg.client_id).await?;
                settings_cache.insert(msg.client_id, s.clone());
                s
            }
        };
        summary.attempted += 1;
        let outcome = attempt(&msg, &settings, http).await;
        match record(store, actor.clone(), &msg, outcome, now).await? {
            State::Sent => summary.sent += 1,
            State::Retrying => summary.retrying += 1,
            State::Failed => summary.failed += 1,
        }
    }
    Ok(summary)
}

/// Makes a failed message due again with a fresh count of attempts
/// (audited). Only `failed` messages can be resent.
pub async fn resend(store: &Store, actor: Actor, id: i64, now: i64) -> Result<Outbound> {
    let Some(msg) = get(store, id).await? else {
        return Err(MessageError::NotFound(format!("message {id}")));
    };
    if msg.state != "failed" {
        return Err(MessageError::Conflict(format!(
            "message {id} is {}; only failed messages can be resent",
            msg.state
        )));
    }
    let mut tx = store.begin(actor).await?;
    let n = tx
        .execute(
            "outbound_message",
            "UPDATE outbound_message SET state = 'queued', attempts = 0, next_attempt_at = $1 \
             WHERE id = $2 AND state = 'failed'",
            &[Arg::I64(now), Arg::I64(id)],
        )
        .await?;
    if n == 0 {
        tx.rollback().await?;
        return Err(MessageError::Conflict(format!(
            "message {id} changed meanwhile"
        )));
    }
    tx.audit(
        Some(msg.client_id),
        "resend",
        "outbound_message",
        Some(id.to_string()),
        json!({"before": {"state": "failed", "attempts": msg.attempts}, "after": {"state": "queued"}}),
    )
    .await?;
    tx.commit().await?;
    get(store, id)
        .await?
        .ok_or_else(|| MessageError::NotFound(format!("message {id}")))
}

enum State {
    Sent,
    Retrying,
    Failed,
}

/// The result of one attempt: the gateway id, or the error and whether it
/// is temporary.
type Outcome = std::result::Result<Option<String>, (String, bool)>;

/// Reserves message `id` for this run and counts the attempt (audited);
/// `None` when another run took it or it is no longer due.
async fn claim(store: &Store, actor: Actor, id: i64, now: i64) -> Result<Option<Outbound>> {
    let mut tx = store.begin(actor).await?;
    let n = tx
        .execute(
            "outbound_message",
            "UPDATE outbound_message SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id = $2 AND state = 'queued' AND next_attempt_at <= $3",
            &[Arg::I64(now + LEASE_SECS), Arg::I64(id), Arg::I64(now)],
        )
        .await?;
    if n == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let sql = format!("SELECT {COLUMNS} FROM outbound_message WHERE id = $1");
    let msg: Outbound = efir_store::with_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id)
        .fetch_one(c)
        .await)?;
    tx.audit(
        Some(msg.client_id),
        "attempt",
        "outbound_message",
        Some(id.to_string()),
        json!({"channel": msg.channel, "attempt": msg.attempts}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(msg))
}

/// Makes one attempt to send `msg` with the operator's settings.
async fn attempt(
    msg: &Outbound,
    settings: &efir_store::settings::Settings,
    http: &reqwest::Client,
) -> (Outcome, u32) {
    match msg.channel.as_str() {
        "sms" => {
            let cfg = match SmsSettings::from_settings(settings) {
                Ok(Some(cfg)) => cfg,
                Ok(None) => {
                    return (
                        Err(("no SMS gateway is set (sms.backend)".into(), false)),
                        1,
                    )
                }
                Err(e) => return (Err((e, false)), 1),
            };
            let gw = sms::backend(&cfg.gateway, http.clone());
            let sms = Sms {
                to: msg.recipient.clone(),
                text: msg.body.clone(),
                sender: None,
            };
            let outcome = match gw.send(&sms).await {
                Ok(receipt) => Ok(receipt.provider_id),
                Err(e) => Err((e.to_string(), e.is_temporary())),
            };
            (outcome, cfg.attempts.max(1))
        }
        "email" => {
            let cfg = match EmailSettings::from_settings(settings) {
                Ok(Some(cfg)) => cfg,
                Ok(None) => return (Err(("no SMTP server is set (email.host)".into(), false)), 1),
                Err(e) => return (Err((e, false)), 1),
            };
            let mail = Email {
                to: msg.recipient.clone(),
                subject: msg.subject.clone(),
                body: msg.body.clone(),
            };
            let outcome = match email::send(&cfg, &mail).await {
                Ok(reply) => Ok(reply),
                Err(e) => Err((e.to_string(), e.is_temporary())),
            };
            (outcome, cfg.attempts.max(1))
        }
        other => (Err((format!("unknown channel `{other}`"), false)), 1),
    }
}

/// Records the outcome of an attempt (audited).
async fn record(
    store: &Store,
    actor: Actor,
    msg: &Outbound,
    (outcome, max_attempts): (Outcome, u32),
    now: i64,
) -> Result<State> {
    let mut tx = store.begin(actor).await?;
    let (state, action, data) = match outcome {
        Ok(gateway_id) => {
            tx.execute(
                "outbound_message",
                "UPDATE outbound_message SET state = 'sent', sent_at = $1, gateway_id = $2, \
                 last_error = NULL WHERE id = $3",
                &[
                    Arg::I64(now),
                    Arg::OptText(gateway_id.clone()),
                    Arg::I64(msg.id),
                ],
            )
            .await?;
            (
                State::Sent,
                "sent",
                json!({"attempt": msg.attempts, "gateway_id": gateway_id}),
            )
        }
        Err((error, temporary)) if temporary && msg.attempts < i64::from(max_attempts) => {
            let exp = u32::try_from(msg.attempts.saturating_sub(1))
                .unwrap_or(0)
                .min(16);
            let pause = (RETRY_BASE_SECS << exp).min(RETRY_MAX_SECS);
            tx.execute(
                "outbound_message",
                "UPDATE outbound_message SET next_attempt_at = $1, last_error = $2 WHERE id = $3",
                &[
                    Arg::I64(now + pause),
                    Arg::Text(error.clone()),
                    Arg::I64(msg.id),
                ],
            )
            .await?;
            (
                State::Retrying,
                "retry",
                json!({"attempt": msg.attempts, "error": error, "next_attempt_at": now + pause}),
            )
        }
        Err((error, _)) => {
            tx.execute(
                "outbound_message",
                "UPDATE outbound_message SET state = 'failed', last_error = $1 WHERE id = $2",
                &[Arg::Text(error.clone()), Arg::I64(msg.id)],
            )
            .await?;
            (
                State::Failed,
                "fail",
                json!({"attempt": msg.attempts, "error": error}),
            )
        }
    };
    tx.audit(
        Some(msg.client_id),
        action,
        "outbound_message",
        Some(msg.id.to_string()),
        data,
    )
    .await?;
    tx.commit().await?;
    Ok(state)
}

/// A recipient shortened for the audit log (`+7999***67`, `a***@example.com`).
pub fn mask(channel: Channel, recipient: &str) -> String {
    match channel {
        Channel::Email => match recipient.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".into(),
        },
        _ => {
            let chars: Vec<char> = recipient.chars().collect();
            if chars.len() <= 6 {
                return "***".into();
            }
            let head: String = chars[..5].iter().collect();
            let tail: String = chars[chars.len() - 2..].iter().collect();
            format!("{head}***{tail}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_masked() {
        assert_eq!(mask(Channel::Sms, "+79991234567"), "+7999***67");
        assert_eq!(mask(Channel::Email, "ann@example.com"), "a***@example.com");
        assert_eq!(mask(Channel::Sms, "123"), "***");
    }
}
