//! The messages part of the admin REST API:
//!
//! - `POST /admin/api/messages`: a screen message, SMS and/or e-mail to an
//!   account, a customer or every account of the operator. Body:
//!   `{"client_id"?, "target": "account"|"customer"|"operator",
//!   "account_id"?, "customer_id"?, "channels": ["screen","sms","email"],
//!   "subject"?, "text", "urgent"?}`. SMS and e-mail are queued in the
//!   outbox and a delivery is started at once (what fails temporarily is
//!   retried by `resend-sms`).
//! - `GET /admin/api/messages`: the outbox and the screen messages, newest
//!   first; filters `client_id` (superusers), `channel`, `state`,
//!   `customer_id`, `from`, `to`; `limit`/`offset`; `format=json|csv`.
//! - `POST /admin/api/messages/{id}/resend`: queues a failed SMS or e-mail
//!   (outbox id) again.
//!
//! Staff of one operator only ever see and send their operator's messages;
//! another operator's ids answer 404.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::list::{list, ListFilter};
use super::outbox::{self, DueFilter};
use super::screen::{send_screen, ScreenMessage, Target};
use super::{Channel, MessageError};
use crate::admin::{
    respond, AdminError, AdminResult, AdminState, Format, JsonBody, Page, Params, Staff,
};

/// The routes of this part, with full paths.
pub fn admin_routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/api/messages", get(search).post(create))
        .route("/admin/api/messages/{id}/resend", post(resend))
}

impl From<MessageError> for AdminError {
    fn from(e: MessageError) -> AdminError {
        match e {
            MessageError::Invalid { field, message } => AdminError::field(field, message),
            MessageError::NotFound(what) => AdminError::not_found(format!("{what} not found")),
            MessageError::Settings(message) => AdminError::field("channels", message),
            MessageError::Conflict(message) => AdminError::conflict(message),
            MessageError::Store(e) => e.into(),
        }
    }
}

/// The body of `POST /admin/api/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// The operator (superusers only; others send for their own).
    #[serde(default)]
    pub client_id: Option<i64>,
    /// `account`, `customer` or `operator`.
    pub target: String,
    /// With `target: account`.
    #[serde(default)]
    pub account_id: Option<i64>,
    /// With `target: customer`.
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// Any of `screen`, `sms`, `email` (default: screen).
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Subject (screen and e-mail).
    #[serde(default)]
    pub subject: Option<String>,
    /// Text, stored as given.
    pub text: String,
    /// Urgent screen message.
    #[serde(default)]
    pub urgent: bool,
}

async fn create(
    State(state): State<AdminState>,
    staff: Staff,
    JsonBody(body): JsonBody<NewMessage>,
) -> AdminResult<Json<Value>> {
    staff.require_write()?;
    let client_id = staff.client(body.client_id)?;
    let target = match body.target.as_str() {
        "account" => Target::Account(
            body.account_id
                .ok_or_else(|| AdminError::field("account_id", "required with target account"))?,
        ),
        "customer" => Target::Customer(
            body.customer_id
                .ok_or_else(|| AdminError::field("customer_id", "required with target customer"))?,
        ),
        "operator" => Target::Operator,
        _ => {
            return Err(AdminError::field(
                "target",
                "expected account, customer or operator",
            ))
        }
    };
    let channels = body.channels.unwrap_or_else(|| vec!["screen".into()]);
    let mut wanted = Vec::new();
    for c in &channels {
        wanted.push(Channel::parse(c)?);
    }
    let msg = ScreenMessage {
        subject: body.subject.unwrap_or_default(),
        text: body.text,
        urgent: body.urgent,
        sms: wanted.contains(&Channel::Sms),
        email: wanted.contains(&Channel::Email),
        no_screen: !wanted.contains(&Channel::Screen),
    };
    let summary = send_screen(
        &state.store,
        staff.actor(),
        client_id,
        target,
        &msg,
        efir_store::now(),
    )
    .await?;
    if !summary.outbound_ids.is_empty() {
        deliver_now(&state, &staff, client_id, summary.outbound_ids.clone());
    }
    Ok(Json(json!({
        "client_id": client_id,
        "screen": summary.screen,
        "message_ids": summary.message_ids,
        "outbound_ids": summary.outbound_ids,
        "skipped": summary.skipped,
    })))
}

/// Starts delivering freshly queued messages without holding the request;
/// what does not go through now is retried by `resend-sms`.
fn deliver_now(state: &AdminState, staff: &Staff, client_id: i64, ids: Vec<i64>) {
    let store = state.store.clone();
    let actor = staff.actor();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let filter = DueFilter {
            client_id: Some(client_id),
            channel: None,
            ids: Some(ids),
        };
        if let Err(e) = outbox::deliver_due(&store, &http, actor, &filter, efir_store::now()).await
        {
            tracing::warn!(error = %e, "delivering new messages failed; resend-sms retries");
        }
    });
}

const COLUMNS: &[&str] = &[
    "channel",
    "id",
    "client_id",
    "customer_id",
    "account_id",
    "recipient",
    "subject",
    "body",
    "state",
    "attempts",
    "last_error",
    "created_at",
    "sent_at",
];

async fn search(
    State(state): State<AdminState>,
    staff: Staff,
    params: Params,
    page: Page,
    format: Format,
) -> AdminResult<Response> {
    let client_id = staff.scope(params.i64("client_id")?)?;
    let channel = params.str("channel").map(Channel::parse).transpose()?;
    let (from, to) = params.range("from", "to")?;
    let filter = ListFilter {
        client_id,
        channel,
        state: params.str("state").map(str::to_string),
        customer_id: params.i64("customer_id")?,
        from,
        to,
        limit: page.limit,
        offset: page.offset,
    };
    let rows = list(&state.store, &filter).await?;
    let items: Vec<Value> = rows.into_iter().map(|r| json!(r)).collect();
    Ok(respond(format, COLUMNS, items))
}

async fn resend(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    staff.require_write()?;
    let id: i64 = id
        .parse()
        .map_err(|_| AdminError::not_found(format!("message {id} not found")))?;
    let msg = outbox::get(&state.store, id)
        .await?
        .filter(|m| staff.may_see(m.client_id))
        .ok_or_else(|| AdminError::not_found(format!("message {id} not found")))?;
    let row = outbox::resend(&state.store, staff.actor(), id, efir_store::now()).await?;
    deliver_now(&state, &staff, msg.client_id, vec![id]);
    Ok(Json(json!(row)))
}
