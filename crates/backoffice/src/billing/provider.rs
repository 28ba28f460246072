//! Payment providers: what `make-autopayments` and `check-payment-status`
//! ask to charge a subscriber's saved card.
//!
//! [`PaymentProvider`] is the trait; [`HttpProvider`] speaks Efir's small
//! JSON protocol, which an operator's payment gateway (or an adapter in
//! front of it) implements:
//!
//! - `POST {base}/payments` with header `Authorization: Bearer <key>`
//!   (`billing.provider_key`) and JSON
//!   `{"idempotency_key": "autopay:12:1767225600", "customer_id": 12,
//!   "amount": "10.00", "description": "…"}`. The provider must charge at
//!   most once per `idempotency_key` (a retried request answers the first
//!   payment).
//! - `GET {base}/payments/{reference}` with the same header.
//!
//! Both answer 200 with `{"reference": "…", "status":
//! "pending"|"confirmed"|"declined", "message": "…"}` (`message`
//! optional). Any other status code, or a body that does not parse, is a
//! [`ProviderError`]; the payment then stays pending and is asked again.

use std::time::Duration;

use async_trait::async_trait;
use efir_core::money::Money;
use serde::{Deserialize, Serialize};

/// What the provider says about a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderState {
    /// Not decided yet; ask again later.
    Pending,
    /// The money was taken.
    Confirmed,
    /// Refused (no funds, card expired…).
    Declined,
}

/// The provider's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderPayment {
    /// The provider's reference of the payment.
    pub reference: String,
    /// Its state.
    pub status: ProviderState,
    /// Why, for a declined payment.
    #[serde(default)]
    pub message: String,
}

/// A payment to ask for.
#[derive(Debug, Clone, Serialize)]
pub struct NewPayment {
    /// At most one charge per key.
    pub idempotency_key: String,
    /// The customer charged.
    pub customer_id: i64,
    /// How much (positive).
    pub amount: Money,
    /// A line for the statement.
    pub description: String,
}

/// A failed call to the provider.
#[derive(Debug, Clone, thiserror::Error)]
#[error("payment provider: {0}")]
pub struct ProviderError(pub String);

/// A payment provider.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Asks for a payment (idempotent by `idempotency_key`).
    async fn create_payment(&self, payment: &NewPayment) -> Result<ProviderPayment, ProviderError>;
    /// The state of a payment by its reference.
    async fn payment_status(&self, reference: &str) -> Result<ProviderPayment, ProviderError>;
}

/// The HTTP implementation of the protocol in the module docs.
#[derive(Clone)]
pub struct HttpProvider {
    base: reqwest::Url,
    key: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProvider")
            .field("base", &self.base.as_str())
            .field("key", &"***")
            .finish()
    }
}

impl HttpProvider {
    /// A provider at `base` (http or https) with bearer `key`.
    pub fn new(base: &str, key: &str) -> Result<HttpProvider, ProviderError> {
        let mut base = reqwest::Url::parse(base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| ProviderError(format!("`{base}` is not an http(s) URL")))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ProviderError(e.to_string()))?;
        Ok(HttpProvider {
            base,
            key: key.to_string(),
            http,
        })
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, ProviderError> {
        self.base
            .join(path)
            .map_err(|e| ProviderError(format!("bad URL: {e}")))
    }

    async fn answer(resp: reqwest::Response) -> Result<ProviderPayment, ProviderError> {
        let status = resp.status();
        if !status.is_success() {
            return Err(ProviderError(format!("HTTP {status}")));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| ProviderError(e.to_string()))?;
        let p: ProviderPayment = serde_json::from_slice(&body)
            .map_err(|e| ProviderError(format!("unexpected answer: {e}")))?;
        if p.reference.is_empty() || p.reference.len() > 200 {
            return Err(ProviderError("answer without a valid reference".into()));
        }
        Ok(p)
    }
}

#[async_trait]
impl PaymentProvider for HttpProvider {
    async fn create_payment(&self, payment: &NewPayment) -> Result<ProviderPayment, ProviderError> {
        let body = serde_json::json!({
            "idempotency_key": payment.idempotency_key,
            "customer_id": payment.customer_id,
            "amount": payment.amount.to_string(),
            "description": payment.description,
        });
        let resp = self
            .http
            .post(self.url("payments")?)
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .map_err(|e| ProviderError(e.without_url().to_string()))?;
        Self::answer(resp).await
    }

    async fn payment_status(&self, reference: &str) -> Result<ProviderPayment, ProviderError> {
        let mut url = self.url("payments/")?;
        url.path_segments_mut()
            .map_err(|_| ProviderError("bad URL".into()))?
            .pop_if_empty()
            .push(reference);
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| ProviderError(e.without_url().to_string()))?;
        Self::answer(resp).await
    }
}
