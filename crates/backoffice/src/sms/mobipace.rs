//! mobipace.com, HTTP API 4.0: authorize for a session, then send with it.

use serde::{Deserialize, Serialize};

use super::{fetch_text, parse_json, Secret, Sms, SmsBackend, SmsError, SmsReceipt};

const NAME: &str = "mobipace";
/// The status code of a successful call.
const OK: i64 = 101;

/// Sends through `{base}/v4/Authorize` and `{base}/v4/SendSMS`.
pub(super) struct MobipaceBackend {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) login: String,
    pub(super) password: Secret,
    pub(super) sender: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Authorize<'a> {
    username: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Send<'a> {
    session_id: &'a str,
    sender: &'a str,
    messages: [Message<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Message<'a> {
    recipient: &'a str,
    body: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reply {
    status_code: Option<i64>,
    status: Option<String>,
    session_id: Option<String>,
    message_id: Option<serde_json::Value>,
    message_count: Option<u32>,
}

impl Reply {
    fn reason(&self) -> String {
        format!(
            "status {}: {}",
            self.status_code
                .map_or("none".to_string(), |c| c.to_string()),
            self.status.as_deref().unwrap_or("no description")
        )
    }
}

#[async_trait::async_trait]
impl SmsBackend for MobipaceBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, msg: &Sms) -> Result<SmsReceipt, SmsError> {
        msg.validate()?;
        let auth = Authorize {
            username: &self.login,
            password: self.password.expose(),
        };
        let body = fetch_text(
            NAME,
            self.http
                .post(format!("{}/v4/Authorize", self.base))
                .json(&auth),
        )
        .await?;
        let reply: Reply = parse_json(NAME, &body)?;
        let session = match (&reply.status_code, &reply.session_id) {
            (Some(OK), Some(session)) if !session.is_empty() => session.clone(),
            _ => {
                return Err(SmsError::Rejected {
                    backend: NAME,
                    reason: format!("login failed ({})", reply.reason()),
                })
            }
        };

        let send = Send {
            session_id: &session,
            sender: msg.sender.as_deref().unwrap_or(&self.sender),
            messages: [Message {
                recipient: msg.digits(),
                body: &msg.text,
            }],
        };
        let body = fetch_text(
            NAME,
            self.http
                .post(format!("{}/v4/SendSMS", self.base))
                .json(&send),
        )
        .await?;
        let reply: Reply = parse_json(NAME, &body)?;
        match reply.status_code {
            Some(OK) => Ok(SmsReceipt {
                provider_id: match reply.message_id {
                    Some(serde_json::Value::String(s)) => Some(s),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                },
                parts: reply.message_count,
            }),
            // Session expired, invalid or busy: a new attempt opens a new one.
            Some(102..=104) => Err(SmsError::Temporary {
                backend: NAME,
                reason: reply.reason(),
            }),
            _ => Err(SmsError::Rejected {
                backend: NAME,
                reason: reply.reason(),
            }),
        }
    }
}
