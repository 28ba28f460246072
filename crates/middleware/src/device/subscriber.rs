//! The subscriber's own data: `customer/info`, tariff list, subscribe and
//! unsubscribe, `settings/save`, `account/parent_code/set`,
//! `portal/settings/list`.

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
