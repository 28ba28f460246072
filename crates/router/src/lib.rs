//! Efir's CDN request router.
//!
//! Answers `/btv/live/…`, `/btv/catchup/…` and `/vod/…` with a 302 to the
//! nearest healthy edge by client subnet, load and health; runs as
//! `efir router` or the `router` role. It may touch the store and the core.
//!
//! This crate is the place for that part; it is filled in by its own issue
//! (issue 5). Today it contributes no routes, and `efir serve` mounts what
//! [`routes`] returns so that adding them needs no change elsewhere.

use axum::Router;
use efir_store::Store;

/// The HTTP routes of this part, mounted by `efir serve`.
pub fn routes(_store: Store) -> Router {
    Router::new()
}
