//! A streaming XMLTV reader.
//!
//! [`XmltvReader`] turns a guide of any size into a stream of [`Item`]s —
//! channels, programmes, and reports of the ones that were malformed and
//! skipped — holding a single channel or programme at a time. [`check`]
//! reads a whole guide and counts. Times keep the zone they were written
//! with ([`XmltvTime`]); [`XmltvTime::to_utc`] applies a [`DefaultZone`] to
//! those written without one.

mod model;
mod reader;
mod text;
mod time;

pub use model::{
    Channel, CheckSummary, Credit, EpisodeNum, Icon, Item, Limits, ParseError, Programme, Rating,
    Skipped, Text,
};
pub use reader::{check, XmltvReader};
pub use time::{DefaultZone, XmltvTime};
