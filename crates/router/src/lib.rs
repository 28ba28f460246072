//! Efir's CDN request router.
//!
//! Answers `/btv/live/…`, `/btv/catchup/…` and `/vod/…` with a 302 to the
//! nearest healthy edge by client subnet, load and health; runs as
//! `efir router` or the `router` role. It may touch the store and the core.
//!
//! * [`path`]: the request paths, parsed strictly (ids, extensions, asset
//!   paths that cannot climb out of the content root).
//! * [`subnets`]: the subnet table (IPv4 and IPv6 longest-prefix match) and
//!   its import formats (CSV, coverage-zone JSON).
//! * [`select`]: choosing an edge: candidates by health, drain, content and
//!   capacity, weighted rendezvous hashing, region fallback.
//!
//! The HTTP side is built by its own issue (issue 5); today this crate
//! contributes no routes, and `efir serve` mounts what [`routes`] returns.

#![warn(missing_docs)]

pub mod path;
pub mod select;
pub mod subnets;

use axum::Router;
use efir_store::Store;

/// The HTTP routes of this part, mounted by `efir serve`.
pub fn routes(_store: Store) -> Router {
    Router::new()
}
