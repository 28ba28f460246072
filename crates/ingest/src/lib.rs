//! Efir's ingest farm.
//!
//! Hot folders, the fenced job queue, the dispatcher and worker nodes, and
//! the media and PDF pipelines; runs as the `dispatcher` and `worker`
//! roles. It may touch the store and the core.
//!
//! - [`pdf`]: PDF pre-press analysis (`pdf-inspect`) and page previews.
//! - [`media`]: ffmpeg/ffprobe steps run as supervised subprocesses.
//! - [`hotfolder`]: watched directories whose stable files become jobs.
//! - [`output`]: copying, moving and FTP/FTPS uploading of results.
//! - [`queue`]: the job queue in the store, with fenced leases.
//! - [`pipeline`]: pipelines from the config and how one attempt runs them.
//! - [`farm`]: the checked `[ingest]` settings.
//! - [`worker`]: a worker node; [`dispatcher`]: reaping, hot folders, gauges.
//! - [`api`]: the operator REST API and live event stream.

use axum::Router;
use efir_store::Store;

pub mod api;
pub mod dispatcher;
pub mod farm;
pub mod hotfolder;
pub mod media;
pub mod output;
pub mod pdf;
pub mod pipeline;
pub mod queue;
pub mod worker;

/// The HTTP routes of this part, mounted by `efir serve`: the operator API
/// under [`api::BASE`].
pub fn routes(store: Store, opts: api::ApiOptions) -> Router {
    api::api_routes(queue::Queue::new(store), opts)
}
