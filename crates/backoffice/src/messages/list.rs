//! Listing messages: the outbox and the screen messages in one list, newest
//! first, filtered by operator, channel, state, customer and date range.
//!
//! Screen messages have the states `unread`, `read` and `deleted`; outbox
//! rows `queued`, `sent` and `failed`. A state filter therefore also picks
//! the table. Every filter value is bound, never formatted into SQL.

use efir_store::Store;
use serde::Serialize;

use super::{Channel, MessageError, Result};

/// Screen message states.
pub const SCREEN_STATES: [&str; 3] = ["unread", "read", "deleted"];
/// Outbox states.
pub const OUTBOX_STATES: [&str; 3] = ["queued", "sent", "failed"];

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this operator's (None: every operator).
    pub client_id: Option<i64>,
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only this state.
    pub state: Option<String>,
    /// Only this customer's.
    pub customer_id: Option<i64>,
    /// Created at or after (Unix seconds).
    pub from: Option<i64>,
    /// Created before (Unix seconds).
    pub to: Option<i64>,
    /// At most this many.
    pub limit: i64,
    /// Skip this many.
    pub offset: i64,
}

/// One listed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Listed {
    /// `screen`, `sms` or `email`.
    pub channel: String,
    /// Id in its table (`message` for screen, `outbound_message` else).
    pub id: i64,
    /// The operator.
    pub client_id: i64,
    /// The customer.
    pub customer_id: Option<i64>,
    /// The account.
    pub account_id: Option<i64>,
    /// Phone number or address ('' for screen messages).
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Text, as given.
    pub body: String,
    /// State (see the module docs).
    pub state: String,
    /// Attempts (outbox).
    pub attempts: i64,
    /// Last failure (outbox).
    pub last_error: Option<String>,
    /// When created.
    pub created_at: i64,
    /// When sent (outbox).
    pub sent_at: Option<i64>,
}

/// Lists messages, newest first.
pub async fn list(store: &Store, filter: &ListFilter) -> Result<Vec<Listed>> {
    let Some((union, mut binds)) = matching(filter)? else {
        return Ok(Vec::new());
    };
    binds.push(Bind::I(filter.limit.clamp(0, 1000)));
    let limit = format!("${}", binds.len());
    binds.push(Bind::I(filter.offset.max(0)));
    let offset = format!("${}", binds.len());
    let sql = format!(
        "SELECT * FROM ({union}) m ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows: Vec<Listed> = efir_store::with_db!(store.pool(), p => {
        let mut q = sqlx::query_as(&sql);
        for b in &binds {
            q = match b {
                Bind::I(v) => q.bind(*v),
                Bind::B(v) => q.bind(*v),
                Bind::T(v) => q.bind(v.clone()),
            };
        }
        q.fetch_all(p).await
    })?;
    Ok(rows)
}

/// How many messages [`list`] would give without `limit` and `offset`.
pub async fn count(store: &Store, filter: &ListFilter) -> Result<i64> {
    let Some((union, binds)) = matching(filter)? else {
        return Ok(0);
    };
    let sql = format!("SELECT COUNT(*) FROM ({union}) m");
    let n: i64 = efir_store::with_db!(store.pool(), p => {
        let mut q = sqlx::query_scalar(&sql);
        for b in &binds {
            q = match b {
                Bind::I(v) => q.bind(*v),
                Bind::B(v) => q.bind(*v),
                Bind::T(v) => q.bind(v.clone()),
            };
        }
        q.fetch_one(p).await
    })?;
    Ok(n)
}

/// The query of the messages matching `filter` (a `UNION ALL` of the
/// screen messages and the outbox) and its values; `None` when the filter
/// matches nothing.
fn matching(filter: &ListFilter) -> Result<Option<(String, Vec<Bind>)>> {
    let (screen, outbox) = match (&filter.channel, filter.state.as_deref()) {
        (_, Some(s)) if !SCREEN_STATES.contains(&s) && !OUTBOX_STATES.contains(&s) => {
            return Err(MessageError::invalid(
                "state",
                "expected queued, sent, failed, unread, read or deleted",
            ))
        }
        (Some(Channel::Screen), Some(s)) if OUTBOX_STATES.contains(&s) => (false, false),
        (Some(Channel::Sms | Channel::Email), Some(s)) if SCREEN_STATES.contains(&s) => {
            (false, false)
        }
        (Some(Channel::Screen), _) => (true, false),
        (Some(_), _) => (false, true),
        (None, Some(s)) => (SCREEN_STATES.contains(&s), OUTBOX_STATES.contains(&s)),
        (None, None) => (true, true),
    };
    if !screen && !outbox {
        return Ok(None);
    }
    // Placeholders are numbered as values are pushed; each part of the
    // UNION gets its own copies.
    let mut binds: Vec<Bind> = Vec::new();
    let mut push = |b: Bind| -> String {
        binds.push(b);
        format!("${}", binds.len())
    };
    let mut parts = Vec::new();
    if screen {
        let mut w = vec!["1 = 1".to_string()];
        if let Some(c) = filter.client_id {
            w.push(format!("client_id = {}", push(Bind::I(c))));
        }
        if let Some(c) = filter.customer_id {
            w.push(format!("customer_id = {}", push(Bind::I(c))));
        }
        if let Some(t) = filter.from {
            w.push(format!("created_at >= {}", push(Bind::I(t))));
        }
        if let Some(t) = filter.to {
            w.push(format!("created_at < {}", push(Bind::I(t))));
        }
        match filter.state.as_deref() {
            Some("deleted") => w.push(format!("deleted = {}", push(Bind::B(true)))),
            Some("read") => {
                w.push(format!("deleted = {}", push(Bind::B(false))));
                w.push(format!("was_read = {}", push(Bind::B(true))));
            }
            Some("unread") => {
                w.push(format!("deleted = {}", push(Bind::B(false))));
                w.push(format!("was_read = {}", push(Bind::B(false))));
            }
            _ => {}
        }
        parts.push(format!(
            "SELECT 'screen' AS channel, id, client_id, customer_id, account_id, \
             '' AS recipient, subject, text AS body, \
             CASE WHEN deleted THEN 'deleted' WHEN was_read THEN 'read' ELSE 'unread' END \
             AS state, CAST(0 AS BIGINT) AS attempts, CAST(NULL AS TEXT) AS last_error, \
             created_at, CAST(NULL AS BIGINT) AS sent_at FROM message WHERE {}",
            w.join(" AND ")
        ));
    }
    if outbox {
        let mut w = vec!["1 = 1".to_string()];
        if let Some(c) = filter.client_id {
            w.push(format!("client_id = {}", push(Bind::I(c))));
        }
        if let Some(c) = filter.customer_id {
            w.push(format!("customer_id = {}", push(Bind::I(c))));
        }
        if let Some(t) = filter.from {
            w.push(format!("created_at >= {}", push(Bind::I(t))));
        }
        if let Some(t) = filter.to {
            w.push(format!("created_at < {}", push(Bind::I(t))));
        }
        if let Some(ch) = filter.channel {
            w.push(format!("channel = {}", push(Bind::T(ch.as_str().into()))));
        }
        if let Some(s) = filter.state.as_deref() {
            w.push(format!("state = {}", push(Bind::T(s.into()))));
        }
        parts.push(format!(
            "SELECT channel, id, client_id, customer_id, account_id, recipient, subject, body, \
             state, attempts, last_error, created_at, sent_at FROM outbound_message WHERE {}",
            w.join(" AND ")
        ));
    }
    Ok(Some((parts.join(" UNION ALL "), binds)))
}

enum Bind {
    I(i64),
    B(bool),
    T(String),
}
