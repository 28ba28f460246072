//! Efir's subscriber middleware.
//!
//! Operators' customers, accounts, devices and sessions, channels, VOD,
//! tariffs and stream routing, behind the Smarty-compatible device (TVMW),
//! Billing and Content APIs (`/tvmiddleware/api/`, `/billing/api/`,
//! `/content/api/`). It may touch the store and the core, nothing else.
//!
//! This crate is the place for that part; it is filled in by its own issue
//! (issue 3). Today it contributes no routes, and `efir serve` mounts what
//! [`routes`] returns so that adding them needs no change elsewhere.

use axum::Router;
use efir_store::Store;

/// The HTTP routes of this part, mounted by `efir serve`.
pub fn routes(_store: Store) -> Router {
    Router::new()
}
