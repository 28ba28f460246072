//! The subscriber's messages: `message/list/`, `message/detail/` (marks
//! the message read) and `message/delete/` (hides it).
//!
//! An account sees the messages addressed to it and those addressed to
//! its whole customer (`account_id` NULL). Read and deleted flags live on
//! the message, so a customer-wide message read on one account is read
//! on all of the customer's accounts.

use efir_store::with_db;
use serde_json::{json, Value};

use crate::device::{Call, DeviceError, Session, ERR_BAD_REQUEST, ERR_NOT_FOUND};
use crate::Middleware;

/// Which messages an account sees (`$1` operator, `$2` account, `$3`
/// customer).
const VISIBLE: &str = "client_id = $1 AND NOT deleted \
    AND (account_id = $2 OR (account_id IS NULL AND customer_id = $3))";

#[derive(Debug, sqlx::FromRow)]
struct MessageRow {
    id: i64,
    uuid: String,
    subject: String,
    text: String,
    urgent: bool,
    no_confirmation: bool,
    was_read: bool,
    created_at: i64,
}

const COLUMNS: &str = "id, uuid, subject, text, urgent, no_confirmation, was_read, created_at";

/// The session and its account's customer.
async fn owner(mw: &Middleware, call: &Call) -> Result<(Session, i64), DeviceError> {
    let session = call.session(mw).await?;
    let customer: i64 = with_db!(mw.store.pool(), p => sqlx::query_scalar(
        "SELECT customer_id FROM account WHERE id = $1")
        .bind(session.account_id)
        .fetch_one(p)
        .await)?;
    Ok((session, customer))
}

/// The `uuid` parameter; a 400 when missing or oversized.
fn uuid_param(call: &Call) -> Result<&str, DeviceError> {
    match call.params.get("uuid").map(str::trim) {
        Some(u) if !u.is_empty() && u.len() <= 200 => Ok(u),
        _ => Err(DeviceError::new(ERR_BAD_REQUEST, "uuid is required")),
    }
}

fn not_found() -> DeviceError {
    DeviceError::new(ERR_NOT_FOUND, "no such message")
}

/// `message/list/`: the account's messages, newest first.
pub(super) async fn message_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (session, customer) = owner(mw, call).await?;
    let sql =
        format!("SELECT {COLUMNS} FROM message WHERE {VISIBLE} ORDER BY created_at DESC, id DESC");
    let rows: Vec<MessageRow> =
        fetch_rows!(mw, &sql, &[call.client.id, session.account_id, customer])?;
    let messages: Vec<Value> = rows
        .iter()
        .map(|m| {
            json!({
                "uuid": m.uuid,
                "subject": m.subject,
                "created_at": m.created_at,
                "urgent": i64::from(m.urgent),
                "was_read": i64::from(m.was_read),
            })
        })
        .collect();
    Ok(json!({ "messages": messages }))
}

/// `message/detail/` (`uuid`): the message with its `text` and
/// `no_confirmation`; it is marked read.
pub(super) async fn message_detail(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (session, customer) = owner(mw, call).await?;
    let uuid = uuid_param(call)?;
    let sql = format!("SELECT {COLUMNS} FROM message WHERE {VISIBLE} AND uuid = $4");
    let found: Option<MessageRow> = with_db!(mw.store.pool(), p => sqlx::query_as(&sql)
        .bind(call.client.id)
        .bind(session.account_id)
        .bind(customer)
        .bind(uuid)
        .fetch_optional(p)
        .await)?;
    let m = found.ok_or_else(not_found)?;
    if !m.was_read {
        with_db!(mw.store.pool(), p => sqlx::query(
            "UPDATE message SET was_read = TRUE WHERE id = $1")
            .bind(m.id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(json!({
        "uuid": m.uuid,
        "subject": m.subject,
        "text": m.text,
        "created_at": m.created_at,
        "urgent": i64::from(m.urgent),
        "was_read": 1,
        "no_confirmation": i64::from(m.no_confirmation),
    }))
}

/// `message/delete/` (`uuid`): hides the message from the account.
pub(super) async fn message_delete(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (session, customer) = owner(mw, call).await?;
    let uuid = uuid_param(call)?;
    let sql = format!("UPDATE message SET deleted = TRUE WHERE {VISIBLE} AND uuid = $4");
    let changed: u64 = with_db!(mw.store.pool(), p => sqlx::query(&sql)
        .bind(call.client.id)
        .bind(session.account_id)
        .bind(customer)
        .bind(uuid)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    if changed == 0 {
        return Err(not_found());
    }
    Ok(json!({}))
}
