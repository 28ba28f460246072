//! Efir's back office.
//!
//! What an operator's staff rely on every day behind the subscriber APIs.
//! It may touch the store, the core and the middleware's model.
//!
//! - [`cases`]: cases and tasks (state machines per case type, SLA with
//!   pauses, reminders, escalation, attachments);
//! - [`settings`]: the per-operator settings the back office reads
//!   (`billing.*`, `sms.*`, …) and their validation;
//! - [`sms`]: SMS gateway backends (smsc.ru/ua, mobipace, pulseem,
//!   sms-assistent.by, log, webhook) and sending with retries.

pub mod cases;
pub mod settings;
pub mod sms;

use axum::Router;
use efir_store::Store;

/// The HTTP routes of this part, mounted by `efir serve`.
pub fn routes(_store: Store) -> Router {
    Router::new()
}
