//! Efir's back office.
//!
//! What an operator's staff rely on every day behind the subscriber APIs.
//! It may touch the store, the core and the middleware's model.
//!
//! - [`settings`]: the per-operator settings the back office reads
//!   (`billing.*`, `sms.*`, …) and their validation;
//! - [`sms`]: SMS gateway backends (smsc.ru/ua, mobipace, pulseem,
//!   sms-assistent.by, log, webhook) and sending with retries;
//! - [`stats`]: sessions online, daily statistics, subscriber dynamics,
//!   viewing events, clean-ups and their admin API.

pub mod settings;
pub mod sms;
pub mod stats;

use axum::Router;
use efir_store::Store;

/// The HTTP routes of this part, mounted by `efir serve`.
pub fn routes(_store: Store) -> Router {
    Router::new()
}
