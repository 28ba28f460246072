//! The `sms.*` settings of an operator and how they become [`SmsSettings`].

use efir_store::settings::Settings;
use serde_json::{Map, Value};

use super::{SmsSettings, DEFAULT_ATTEMPTS};
use crate::settings::{check_range, SettingSpec};

const BACKENDS: [&str; 7] = [
    "smsc-ru",
    "smsc-ua",
    "mobipace",
    "pulseem",
    "sms-assistent",
    "log",
    "webhook",
];

fn check_backend(v: &str) -> Result<(), String> {
    if BACKENDS.contains(&v) {
        Ok(())
    } else {
        Err(format!("expected one of {}", BACKENDS.join(", ")))
    }
}

fn check_text(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
        Err("expected 1 to 200 printable characters".into())
    } else {
        Ok(())
    }
}

fn check_url(v: &str) -> Result<(), String> {
    match reqwest::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err("expected an http:// or https:// URL".into()),
    }
}

fn check_attempts(v: &str) -> Result<(), String> {
    check_range(v, 1, 20)
}

/// The `sms.*` keys.
pub const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "sms.backend",
        help: "SMS gateway: smsc-ru, smsc-ua, mobipace, pulseem, sms-assistent, log or webhook",
        check: check_backend,
    },
    SettingSpec {
        key: "sms.login",
        help: "gateway account login (smsc, mobipace, sms-assistent)",
        check: check_text,
    },
    SettingSpec {
        key: "sms.password",
        help: "gateway account password (smsc, mobipace, sms-assistent)",
        check: check_text,
    },
    SettingSpec {
        key: "sms.api_key",
        help: "gateway API key (pulseem)",
        check: check_text,
    },
    SettingSpec {
        key: "sms.sender",
        help: "sender name or number",
        check: check_text,
    },
    SettingSpec {
        key: "sms.base_url",
        help: "replaces the gateway's address (a test gateway or a proxy)",
        check: check_url,
    },
    SettingSpec {
        key: "sms.url",
        help: "where the webhook backend POSTs JSON {to, text, sender}",
        check: check_url,
    },
    SettingSpec {
        key: "sms.token",
        help: "bearer token of the webhook backend",
        check: check_text,
    },
    SettingSpec {
        key: "sms.attempts",
        help: "send attempts per message before it counts as failed (default 3)",
        check: check_attempts,
    },
];

impl SmsSettings {
    /// The SMS settings of an operator, or `None` when `sms.backend` is not
    /// set; an error names what is missing or wrong.
    pub fn from_settings(settings: &Settings) -> Result<Option<SmsSettings>, String> {
        let Some(backend) = settings.get("sms.backend") else {
            return Ok(None);
        };
        let mut gateway = Map::new();
        gateway.insert("backend".into(), Value::String(backend.clone()));
        for (key, value) in settings {
            let Some(field) = key.strip_prefix("sms.") else {
                continue;
            };
            if matches!(field, "backend" | "attempts") {
                continue;
            }
            gateway.insert(field.into(), Value::String(value.clone()));
        }
        let attempts = match settings.get("sms.attempts") {
            Some(v) => v
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("sms.attempts: `{v}` is not a whole number"))?,
            None => DEFAULT_ATTEMPTS,
        };
        let gateway = serde_json::from_value(Value::Object(gateway))
            .map_err(|e| format!("sms settings for backend `{backend}`: {e}"))?;
        Ok(Some(SmsSettings { attempts, gateway }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::SmsConfig;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn builds_gateway_from_keys() {
        let s = settings(&[
            ("sms.backend", "smsc-ru"),
            ("sms.login", "op"),
            ("sms.password", "pw"),
            ("sms.attempts", "5"),
            ("billing.mode", "prepaid"),
        ]);
        let got = SmsSettings::from_settings(&s).unwrap().unwrap();
        assert_eq!(got.attempts, 5);
        assert!(matches!(got.gateway, SmsConfig::SmscRu { ref login, .. } if login == "op"));
        assert!(SmsSettings::from_settings(&settings(&[]))
            .unwrap()
            .is_none());
    }

    #[test]
    fn missing_credentials_are_named() {
        let s = settings(&[("sms.backend", "mobipace"), ("sms.login", "op")]);
        let err = SmsSettings::from_settings(&s).unwrap_err();
        assert!(err.contains("password"), "{err}");
    }

    #[test]
    fn values_are_checked() {
        assert!(crate::settings::validate("sms.backend", "smsc-ru").is_ok());
        assert!(crate::settings::validate("sms.backend", "carrier-pigeon").is_err());
        assert!(crate::settings::validate("sms.attempts", "0").is_err());
        assert!(crate::settings::validate("sms.attempts", "-1").is_err());
        assert!(crate::settings::validate("sms.url", "ftp://x").is_err());
        assert!(crate::settings::validate("sms.colour", "red").is_err());
    }
}
