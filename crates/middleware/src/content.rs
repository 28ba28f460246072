//! The Content API (`/content/api/<method>/`): channels, categories, radio,
//! cameras and VOD, for the operator's content tools.

use efir_store::clients::Client;
use serde_json::Value;

use crate::api::{ApiError, Params};
use crate::{unknown_method, Middleware};

/// Runs one Content API method for `client`.
pub async fn dispatch(
    _mw: &Middleware,
    _client: &Client,
    method: &str,
    _p: &Params,
) -> Result<Value, ApiError> {
    Err(unknown_method("Content", method))
}
