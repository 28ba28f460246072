//! Efir's CDN request router.
//!
//! Answers `/btv/live/…`, `/btv/catchup/…` and `/vod/…` with a 302 to the
//! nearest healthy edge by client subnet, load and health; runs as
//! `efir router` or the `router` role. It may touch the store and the core.
//!
//! * [`http1`]: the router port's lean HTTP/1.1 server.
//! * [`health`]: polling edges' health URLs, live state and passive load.
//! * [`model`]: regions, subnets and edges in the store; the snapshot.
//! * [`service`]: the HTTP side: 302 to the chosen edge, reloads, health.
//! * [`path`]: the request paths, parsed strictly (ids, extensions, asset
//!   paths that cannot climb out of the content root).
//! * [`subnets`]: the subnet table (IPv4 and IPv6 longest-prefix match) and
//!   its import formats (CSV, coverage-zone JSON).
//! * [`select`]: choosing an edge: candidates by health, drain, content and
//!   capacity, weighted rendezvous hashing, region fallback.
//!
//! `efir serve` and `efir router` start a [`service::RouterService`] and
//! mount its routes.

#![warn(missing_docs)]

pub mod health;
pub mod http1;
pub mod model;
pub mod path;
pub mod select;
pub mod service;
pub mod subnets;
