//! The Billing API (`/billing/api/<method>/`): customers, accounts, tariffs
//! and transactions, for the operator's billing system.

use efir_store::clients::Client;
use serde_json::Value;

use crate::api::{ApiError, Params};
use crate::{unknown_method, Middleware};

/// Runs one Billing API method for `client`.
pub async fn dispatch(
    _mw: &Middleware,
    _client: &Client,
    method: &str,
    _p: &Params,
) -> Result<Value, ApiError> {
    Err(unknown_method("Billing", method))
}
