//! Screen messages from the back office: to one account, to every account
//! of one customer, or to every account of an operator, with optional SMS
//! and e-mail copies through the outbox, all in one transaction.
//!
//! The device API (`message/list`, `account/status/`) shows what is
//! written here; texts are stored as given and never interpreted.

use efir_store::{Actor, Store};
use serde::Serialize;
use serde_json::json;

use super::outbox::{self, NewOutbound};
use super::{check_subject, check_text, Channel, MessageError, Result, MAX_SCREEN_TEXT_CHARS};

/// Who receives a screen message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One account.
    Account(i64),
    /// Every account of one customer.
    Customer(i64),
    /// Every account of the operator.
    Operator,
}

/// A screen message and its copies.
#[derive(Debug, Clone, Default)]
pub struct ScreenMessage {
    /// Subject ('' for none).
    pub subject: String,
    /// Text, as given.
    pub text: String,
    /// Shown at once on `account/status/` until read.
    pub urgent: bool,
    /// Also send the text by SMS to the customer's mobile number.
    pub sms: bool,
    /// Also send it by e-mail to the customer's address.
    pub email: bool,
    /// Write no screen message: only the SMS and e-mail copies.
    pub no_screen: bool,
}

/// What [`send_screen`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScreenSummary {
    /// Screen messages written (one per account).
    pub screen: u64,
    /// Ids of the screen messages.
    pub message_ids: Vec<i64>,
    /// Ids of the queued SMS and e-mail copies.
    pub outbound_ids: Vec<i64>,
    /// Customers whose copy was skipped (no valid number or address); only
    /// when sending to a whole operator.
    pub skipped: u64,
}

/// An account of an operator: id, customer, abonement.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    /// Id.
    pub id: i64,
    /// Its customer.
    pub customer_id: i64,
    /// Login.
    pub abonement: String,
}

/// One account of `client_id`, or [`MessageError::NotFound`].
pub async fn account(store: &Store, client_id: i64, account_id: i64) -> Result<AccountRow> {
    let sql = "SELECT id, customer_id, abonement FROM account WHERE id = $1 AND client_id = $2";
    let row: Option<AccountRow> = efir_store::with_db!(store.pool(), p => sqlx::query_as(sql)
        .bind(account_id)
        .bind(client_id)
        .fetch_optional(p)
        .await)?;
    row.ok_or_else(|| MessageError::NotFound(format!("account {account_id}")))
}

/// Checks a screen message's fields.
pub fn validate(msg: &ScreenMessage) -> Result<()> {
    if msg.no_screen && !msg.sms && !msg.email {
        return Err(MessageError::invalid(
            "channels",
            "choose at least one of screen, sms and email",
        ));
    }
    check_subject(&msg.subject)?;
    check_text("text", &msg.text, MAX_SCREEN_TEXT_CHARS)?;
    if msg.sms && msg.text.chars().count() > crate::sms::MAX_TEXT_CHARS {
        return Err(MessageError::invalid(
            "text",
            format!(
                "an SMS copy holds at most {} characters",
                crate::sms::MAX_TEXT_CHARS
            ),
        ));
    }
    Ok(())
}

/// Writes a screen message for every account of `target` (unless
/// `no_screen`) and queues the copies asked for (one per customer). When sending to one account or
/// customer, a copy that cannot go (no valid number or address) is an
/// error and nothing is written; for a whole operator it is skipped and
/// counted.
pub async fn send_screen(
    store: &Store,
    actor: Actor,
    client_id: i64,
    target: Target,
    msg: &ScreenMessage,
    now: i64,
) -> Result<ScreenSummary> {
    validate(msg)?;
    super::client(store, client_id).await?;
    let accounts: Vec<AccountRow> = match target {
        Target::Account(id) => vec![account(store, client_id, id).await?],
        Target::Customer(id) => {
            super::customer(store, client_id, id).await?;
            let sql = "SELECT id, customer_id, abonement FROM account \
                       WHERE client_id = $1 AND customer_id = $2 ORDER BY id";
            efir_store::with_db!(store.pool(), p => sqlx::query_as(sql)
                .bind(client_id)
                .bind(id)
                .fetch_all(p)
                .await)?
        }
        Target::Operator => {
            let sql = "SELECT id, customer_id, abonement FROM account \
                       WHERE client_id = $1 ORDER BY id";
            efir_store::with_db!(store.pool(), p => sqlx::query_as(sql)
                .bind(client_id)
                .fetch_all(p)
                .await)?
        }
    };
    if accounts.is_empty() {
        return Err(MessageError::NotFound("accounts to send to".into()));
    }
    if msg.sms {
        outbox::require_channel(store, client_id, Channel::Sms).await?;
    }
    if msg.email {
        outbox::require_channel(store, client_id, Channel::Email).await?;
    }
    // The copies, one per customer, checked before anything is written.
    let strict = !matches!(target, Target::Operator);
    let mut copies = Vec::new();
    let mut skipped = 0;
    let mut customers: Vec<i64> = accounts.iter().map(|a| a.customer_id).collect();
    customers.sort_unstable();
    customers.dedup();
    if msg.sms || msg.email {
        for customer_id in customers {
            let customer = super::customer(store, client_id, customer_id).await?;
            let account_id = match target {
                Target::Account(id) => Some(id),
                _ => None,
            };
            let mut wanted = Vec::new();
            if msg.sms {
                wanted.push(NewOutbound {
                    client_id,
                    customer_id: Some(customer_id),
                    account_id,
                    channel: Channel::Sms,
                    recipient: customer.mobile_phone_number.trim().to_string(),
                    subject: String::new(),
                    body: msg.text.clone(),
                });
            }
            if msg.email {
                let subject = if msg.subject.trim().is_empty() {
                    "Message".to_string()
                } else {
                    msg.subject.clone()
                };
                wanted.push(NewOutbound {
                    client_id,
                    customer_id: Some(customer_id),
                    account_id,
                    channel: Channel::Email,
                    recipient: customer.email.trim().to_string(),
                    subject,
                    body: msg.text.clone(),
                });
            }
            for copy in wanted {
                match outbox::validate(&copy) {
                    Ok(()) => copies.push(copy),
                    Err(e) if strict => {
                        return Err(match e {
                            MessageError::Invalid { field, message } => MessageError::Invalid {
                                field,
                                message: format!("customer {customer_id}: {message}"),
                            },
                            other => other,
                        })
                    }
                    Err(_) => skipped += 1,
                }
            }
        }
    }
    let mut tx = store.begin(actor).await?;
    let mut summary = ScreenSummary {
        skipped,
        ..ScreenSummary::default()
    };
    let sql = "INSERT INTO message (client_id, customer_id, account_id, uuid, subject, text, \
               urgent, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
    for acc in accounts.iter().filter(|_| !msg.no_screen) {
        tx.mark_changed("message");
        let uuid = uuid::Uuid::new_v4().to_string();
        let id: i64 = efir_store::with_tx!(tx, c => sqlx::query_scalar(sql)
            .bind(client_id)
            .bind(acc.customer_id)
            .bind(acc.id)
            .bind(&uuid)
            .bind(&msg.subject)
            .bind(&msg.text)
            .bind(msg.urgent)
            .bind(now)
            .fetch_one(c)
            .await)?;
        summary.message_ids.push(id);
        summary.screen += 1;
    }
    for copy in &copies {
        summary
            .outbound_ids
            .push(outbox::queue_in(&mut tx, copy, now).await?);
    }
    let target_json = match target {
        Target::Account(id) => json!({"account_id": id}),
        Target::Customer(id) => json!({"customer_id": id}),
        Target::Operator => json!({"operator": true}),
    };
    tx.audit(
        Some(client_id),
        "send",
        "message",
        None,
        json!({
            "target": target_json,
            "subject": msg.subject,
            "urgent": msg.urgent,
            "screen": summary.screen,
            "copies": summary.outbound_ids.len(),
            "skipped": summary.skipped,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}
