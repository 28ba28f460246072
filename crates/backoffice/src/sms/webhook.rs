//! The `webhook` backend: JSON POST to an operator-chosen URL.

use serde::{Deserialize, Serialize};

use super::{fetch_text, Secret, Sms, SmsBackend, SmsError, SmsReceipt};

const NAME: &str = "webhook";

/// POSTs `{to, text, sender}` to `url`.
pub(super) struct WebhookBackend {
    pub(super) http: reqwest::Client,
    pub(super) url: String,
    pub(super) token: Option<Secret>,
}

#[derive(Serialize)]
struct Payload<'a> {
    to: &'a str,
    text: &'a str,
    sender: Option<&'a str>,
}

/// Optional JSON reply carrying an id.
#[derive(Deserialize)]
struct Reply {
    id: Option<serde_json::Value>,
}

#[async_trait::async_trait]
impl SmsBackend for WebhookBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, msg: &Sms) -> Result<SmsReceipt, SmsError> {
        msg.validate()?;
        let to = format!("+{}", msg.digits());
        let payload = Payload {
            to: &to,
            text: &msg.text,
            sender: msg.sender.as_deref(),
        };
        let mut req = self.http.post(&self.url).json(&payload);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token.expose());
        }
        let body = fetch_text(NAME, req).await?;
        let provider_id = serde_json::from_str::<Reply>(&body)
            .ok()
            .and_then(|r| r.id)
            .and_then(|id| match id {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        Ok(SmsReceipt {
            provider_id,
            parts: None,
        })
    }
}
