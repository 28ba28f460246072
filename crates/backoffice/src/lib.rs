//! Efir's back office.
//!
//! Built-in billing runs, messages and SMS gateways, statistics, cases and
//! tasks with deadlines. It may touch the store, the core and the
//! middleware's model.
//!
//! - [`sms`]: SMS gateway backends (smsc.ru/ua, mobipace, pulseem,
//!   sms-assistent.by, log, webhook) and sending with retries.
//!
//! This crate is the place for that part; it is filled in by its own issue
//! (issue 7). Today it contributes no routes, and `efir serve` mounts what
//! [`routes`] returns so that adding them needs no change elsewhere.

pub mod sms;

use axum::Router;
use efir_store::Store;

/// The HTTP routes of this part, mounted by `efir serve`.
pub fn routes(_store: Store) -> Router {
    Router::new()
}
