//! smsc.ru and smsc.ua: the same `send.php` API on two hosts.

use serde::Deserialize;

use super::{body_excerpt, fetch_text, parse_json, Secret, Sms, SmsBackend, SmsError, SmsReceipt};

/// Sends through `{base}/sys/send.php`.
pub(super) struct SmscBackend {
    name: &'static str,
    http: reqwest::Client,
    url: String,
    login: String,
    password: Secret,
    sender: Option<String>,
}

impl SmscBackend {
    pub(super) fn new(
        name: &'static str,
        http: reqwest::Client,
        base: &str,
        login: &str,
        password: Secret,
        sender: Option<String>,
    ) -> Self {
        SmscBackend {
            name,
            http,
            url: format!("{}/sys/send.php", base.trim_end_matches('/')),
            login: login.to_string(),
            password,
            sender,
        }
    }
}

/// The `fmt=3` (JSON) reply.
#[derive(Deserialize)]
struct Reply {
    id: Option<serde_json::Value>,
    cnt: Option<u32>,
    error: Option<String>,
    error_code: Option<i64>,
}

#[async_trait::async_trait]
impl SmsBackend for SmscBackend {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn send(&self, msg: &Sms) -> Result<SmsReceipt, SmsError> {
        msg.validate()?;
        let phone = format!("+{}", msg.digits());
        let mut form: Vec<(&str, &str)> = vec![
            ("login", &self.login),
            ("psw", self.password.expose()),
            ("phones", &phone),
            ("mes", &msg.text),
            ("fmt", "3"),
            ("charset", "utf-8"),
        ];
        if let Some(sender) = msg.sender.as_deref().or(self.sender.as_deref()) {
            form.push(("sender", sender));
        }
        let body = fetch_text(self.name, self.http.post(&self.url).form(&form)).await?;
        let reply: Reply = parse_json(self.name, &body)?;
        if reply.error.is_some() || reply.error_code.is_some() {
            let code = reply.error_code.unwrap_or(0);
            let reason = format!(
                "error {code}: {}",
                reply.error.as_deref().unwrap_or("no description")
            );
            // 4: the IP is blocked for a while; 9: too many requests.
            return Err(if code == 4 || code == 9 {
                SmsError::Temporary {
                    backend: self.name,
                    reason,
                }
            } else {
                SmsError::Rejected {
                    backend: self.name,
                    reason,
                }
            });
        }
        let provider_id = match reply.id {
            Some(serde_json::Value::String(s)) => Some(s),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if provider_id.is_none() {
            return Err(SmsError::Temporary {
                backend: self.name,
                reason: format!("reply has neither id nor error{}", body_excerpt(&body)),
            });
        }
        Ok(SmsReceipt {
            provider_id,
            parts: reply.cnt,
        })
    }
}
