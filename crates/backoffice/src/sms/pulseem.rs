//! pulseem.co.il: the REST `SmsApi/SendSms` call with an `APIKEY` header.

use serde::{Deserialize, Serialize};

use super::{fetch_text, parse_json, Secret, Sms, SmsBackend, SmsError, SmsReceipt};

const NAME: &str = "pulseem";

/// Sends through `{base}/api/v1/SmsApi/SendSms`.
pub(super) struct PulseemBackend {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) api_key: Secret,
    pub(super) sender: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    send_id: &'a str,
    is_async: bool,
    sms_send_data: SendData<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SendData<'a> {
    from_number: &'a str,
    to_number_list: [&'a str; 1],
    reference_list: [&'a str; 1],
    text_list: [&'a str; 1],
}

#[derive(Deserialize)]
struct Reply {
    #[serde(alias = "Status")]
    status: Option<String>,
    #[serde(alias = "Error")]
    error: Option<String>,
}

#[async_trait::async_trait]
impl SmsBackend for PulseemBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, msg: &Sms) -> Result<SmsReceipt, SmsError> {
        msg.validate()?;
        let send_id = uuid::Uuid::new_v4().to_string();
        let request = Request {
            send_id: &send_id,
            is_async: false,
            sms_send_data: SendData {
                from_number: msg.sender.as_deref().unwrap_or(&self.sender),
                to_number_list: [msg.digits()],
                reference_list: [&send_id],
                text_list: [&msg.text],
            },
        };
        let req = self
            .http
            .post(format!("{}/api/v1/SmsApi/SendSms", self.base))
            .header("APIKEY", self.api_key.expose())
            .json(&request);
        let body = fetch_text(NAME, req).await?;
        let reply: Reply = parse_json(NAME, &body)?;
        match reply.status.as_deref() {
            Some(s) if s.eq_ignore_ascii_case("success") => Ok(SmsReceipt {
                provider_id: Some(send_id),
                parts: None,
            }),
            other => Err(SmsError::Rejected {
                backend: NAME,
                reason: format!(
                    "status {}: {}",
                    other.unwrap_or("none"),
                    reply.error.as_deref().unwrap_or("no description")
                ),
            }),
        }
    }
}
