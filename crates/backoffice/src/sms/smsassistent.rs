//! sms-assistent.by: `send_sms/plain`, answering an id or a negative code.

use super::{body_excerpt, fetch_text, Secret, Sms, SmsBackend, SmsError, SmsReceipt};

const NAME: &str = "sms-assistent";

/// Sends through `{base}/api/v1/send_sms/plain`.
pub(super) struct SmsAssistentBackend {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) login: String,
    pub(super) password: Secret,
    pub(super) sender: String,
}

/// Meaning of the documented negative reply codes.
fn describe(code: i64) -> &'static str {
    match code {
        -1 => "not enough money on the account",
        -2 => "wrong user name or password",
        -3 => "no recipient",
        -4 => "invalid recipient number",
        -5 => "no sender name",
        -6 => "sender name not registered",
        -7 => "empty message",
        -8 => "message too long",
        -10 => "the HTTP API is not enabled for the account",
        -13 => "traffic is blocked",
        _ => "gateway error",
    }
}

#[async_trait::async_trait]
impl SmsBackend for SmsAssistentBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, msg: &Sms) -> Result<SmsReceipt, SmsError> {
        msg.validate()?;
        let sender = msg.sender.as_deref().unwrap_or(&self.sender);
        let form = [
            ("user", self.login.as_str()),
            ("password", self.password.expose()),
            ("recipient", msg.digits()),
            ("message", msg.text.as_str()),
            ("sender", sender),
        ];
        let url = format!("{}/api/v1/send_sms/plain", self.base);
        let body = fetch_text(NAME, self.http.post(url).form(&form)).await?;
        let reply = body.trim();
        match reply.parse::<i64>() {
            Ok(id) if id > 0 => Ok(SmsReceipt {
                provider_id: Some(id.to_string()),
                parts: None,
            }),
            Ok(code) => Err(SmsError::Rejected {
                backend: NAME,
                reason: format!("error {code}: {}", describe(code)),
            }),
            Err(_) => Err(SmsError::Temporary {
                backend: NAME,
                reason: format!("unexpected reply{}", body_excerpt(reply)),
            }),
        }
    }
}
