//! The three Efir APIs as the load generator uses them: the signed Billing
//! and Content APIs (for seeding) and the device API (for the day itself).

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::Value;

/// Where and as whom to talk to Efir.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL of an API node, e.g. `http://127.0.0.1:8000`.
    pub api: String,
    /// Base URL of a router node.
    pub router: String,
    /// The operator (`client_id`).
    pub client_id: u32,
    /// The operator's device API key.
    pub api_key: String,
    /// The operator's Billing API key (seeding only).
    pub billing_key: String,
    /// The operator's Content API key (seeding only).
    pub content_key: String,
}

/// Abonement (login) of subscriber `i`.
pub fn abonement(i: usize) -> String {
    format!("{}", 700_000 + i)
}

/// Password of subscriber `i`.
pub fn password(i: usize) -> String {
    format!("load-{i}")
}

/// The Smarty signature: md5 of base64 of the sorted `key:value;` pairs
/// followed by the API key, in hex.
pub fn signature(pairs: &[(String, String)], key: &str) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    let mut src = String::new();
    for (k, v) in sorted {
        src.push_str(k);
        src.push(':');
        src.push_str(v);
        src.push(';');
    }
    src.push_str(key);
    let b64 = base64::engine::general_purpose::STANDARD.encode(src.as_bytes());
    hex(&Md5::digest(b64.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Target {
    /// A signed call of the Billing (`billing`) or Content (`content`) API;
    /// an answer with a non-zero `error` is an error.
    pub async fn signed(
        &self,
        http: &reqwest::Client,
        api: &str,
        method: &str,
        params: &[(&str, String)],
    ) -> Result<Value> {
        let key = match api {
            "billing" => &self.billing_key,
            "content" => &self.content_key,
            other => bail!("no signed API called {other}"),
        };
        let mut pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        pairs.push(("client_id".into(), self.client_id.to_string()));
        let sig = signature(&pairs, key);
        pairs.push(("signature".into(), sig));
        let url = format!("{}/{api}/api/{method}/", self.api);
        let out: Value = http
            .post(&url)
            .form(&pairs)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?
            .json()
            .await
            .with_context(|| format!("{api} {method}: not JSON"))?;
        if out.get("error").is_some_and(|e| e != &Value::from(0)) {
            bail!("{api} {method}: {out}");
        }
        Ok(out)
    }

    /// The URL of a device API call with the operator's key.
    pub fn device_url(&self, method: &str, params: &[(&str, &str)]) -> String {
        let mut q = form_query(&[
            ("client_id", &self.client_id.to_string()),
            ("api_key", &self.api_key),
        ]);
        if !params.is_empty() {
            q.push('&');
            q.push_str(&form_query(params));
        }
        format!("{}/tvmiddleware/api/{method}/?{q}", self.api)
    }

    /// Logs subscriber `i` in; returns the authkey.
    pub async fn login(&self, http: &reqwest::Client, i: usize) -> Result<String> {
        let ab = abonement(i);
        let pw = password(i);
        let uid = format!("load-device-{i}");
        let url = self.device_url(
            "login",
            &[("abonement", &ab), ("password", &pw), ("device_uid", &uid)],
        );
        let v = device_json(http.get(&url).send().await?).await?;
        v.get("authkey")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| anyhow!("login of {ab}: no authkey in {v}"))
    }
}

/// A device API answer as JSON; a non-zero `error` or a non-2xx status is
/// an error.
pub async fn device_json(resp: reqwest::Response) -> Result<Value> {
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .with_context(|| format!("HTTP {status}: not JSON"))?;
    if !status.is_success() {
        bail!("HTTP {status}: {v}");
    }
    match v.get("error") {
        None => Ok(v),
        Some(e) if e == &Value::from(0) => Ok(v),
        Some(_) => bail!("device API error: {v}"),
    }
}

/// `k=v&k=v`, form-encoded.
fn form_query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_sorts_pairs_and_appends_the_key() {
        let a = signature(
            &[("b".into(), "2".into()), ("a".into(), "1".into())],
            "secret",
        );
        let b = signature(
            &[("a".into(), "1".into()), ("b".into(), "2".into())],
            "secret",
        );
        assert_eq!(a, b);
        // md5(base64("a:1;b:2;secret")) computed independently with coreutils:
        // printf 'a:1;b:2;secret' | base64 -w0 | md5sum
        assert_eq!(a, "9be02fed25cc3b88395c735077f89b44");
        assert_ne!(a, signature(&[("a".into(), "1".into())], "secret"));
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(form_query(&[("a b", "x&y=z")]), "a%20b=x%26y%3Dz");
    }
}
