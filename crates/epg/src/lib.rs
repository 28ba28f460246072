//! Efir's electronic programme guide.
//!
//! Streaming XMLTV import (file, URL, gzip), EPG channels and icons, the
//! programme API and XMLTV export. It may touch the store and the core.
//!
//! This crate is the place for that part; it is filled in by its own issue
//! (issue 4). Today it contributes no routes, and `efir serve` mounts what
//! [`routes`] returns so that adding them needs no change elsewhere.

use axum::Router;
use efir_store::Store;

/// The HTTP routes of this part, mounted by `efir serve`.
pub fn routes(_store: Store) -> Router {
    Router::new()
}
