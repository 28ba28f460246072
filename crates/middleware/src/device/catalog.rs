//! Content lists and playback URLs beyond live channels: radio, cameras,
//! applications, VOD (`video/list|detail|url`), catch-up (`program/url`)
//! and the subscriber's messages.

use super::{Call, DeviceError, Reply};
use crate::Middleware;

/// Runs `method` if it belongs here.
pub(crate) async fn dispatch(
    _mw: &Middleware,
    _call: &Call,
    method: &str,
) -> Option<Result<Reply, DeviceError>> {
    let _ = method;
    None
}
