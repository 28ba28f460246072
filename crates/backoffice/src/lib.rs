//! Efir's back office.
//!
//! What an operator's staff rely on every day behind the subscriber APIs.
//! It may touch the store, the core and the middleware's model.
//!
//! - [`admin`]: the staff admin REST API under `/admin/api/` (logins,
//!   roles, operator scoping, errors, JSON/CSV lists, the request log, the
//!   audit-log search, operator settings), which the other parts extend;
//! - [`billing`]: built-in billing runs (`check-accounts`, autopayments
//!   through a payment provider, payment status checks);
//! - [`cases`]: cases and tasks (state machines per case type, SLA with
//!   pauses, reminders, escalation, attachments);
//! - [`settings`]: the per-operator settings the back office reads
//!   (`billing.*`, `sms.*`, …) and their validation;
//! - [`messages`]: the outbox of SMS and e-mail, screen messages to
//!   accounts, customers or a whole operator, expiry notices, cleaning;
//! - [`sms`]: SMS gateway backends (smsc.ru/ua, mobipace, pulseem,
//!   sms-assistent.by, log, webhook) and sending with retries;
//! - [`stats`]: sessions online, daily statistics, subscriber dynamics,
//!   viewing events, clean-ups and their admin API.

pub mod admin;
pub mod billing;
pub mod cases;
pub mod messages;
pub mod settings;
pub mod sms;
pub mod stats;

use axum::Router;
use efir_store::Store;

pub use admin::AdminOptions;

/// The HTTP routes of this part, mounted by `efir serve`.
pub fn routes(store: Store, opts: AdminOptions) -> Router {
    admin::routes(admin::AdminState::new(store, opts))
}
