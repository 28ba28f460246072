//! Efir's electronic programme guide.
//!
//! * [`xmltv`]: a streaming XMLTV reader that never holds the whole
//!   document, with every XMLTV time form and per-programme error reports.
//! * [`input`]: opening guides from disk or HTTP(S), plain, gzip or xz.
//! * [`model`]: EPG sources and channels in the store.
//! * [`import`]: `epg-import`, the guide into the store, atomically per channel.
//! * [`channels`]: EPG channels and icons, premieres, channels made from the guide.
//! * [`icons`]: channel icons downloaded, resized and served over HTTP.
//! * [`programmes`]: the guide as the device API reads it.
//! * [`export`]: an operator's guide written as an XMLTV document or file.
//!
//! It may touch the store and the core; the middleware reads the
//! programmes it writes.

#![warn(missing_docs)]

pub mod channels;
pub mod export;
pub mod icons;
pub mod import;
pub mod input;
pub mod model;
pub mod programmes;
pub mod xmltv;

use axum::Router;
use efir_store::{Store, StoreError};

/// What can go wrong in the EPG part.
#[derive(Debug, thiserror::Error)]
pub enum EpgError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad input from the operator.
    #[error("{0}")]
    Invalid(String),
    /// A source, channel or programme that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The guide cannot be read or downloaded.
    #[error("{0}")]
    Source(String),
    /// The guide is not a well-formed XMLTV document.
    #[error("malformed guide: {0}")]
    Malformed(String),
    /// A local file operation failed.
    #[error("{0}")]
    Io(String),
}

/// The HTTP routes of this part, mounted by `efir serve`: the stored
/// icons under [`icons::ICONS_URL_PREFIX`] (the programme API is part of
/// the device API, in the middleware).
pub fn routes(_store: Store, data_dir: &std::path::Path) -> Router {
    icons::routes(icons::IconStore::new(data_dir))
}
