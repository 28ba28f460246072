//! What the server-to-server APIs (Billing `/billing/api/`, Content
//! `/content/api/`) share: parameters, the Smarty signature, the error
//! format and field validation.
//!
//! A call is a form POST (a query string is read too) with `client_id` and
//! `signature`. The signature is the md5 hex digest of the base64 of every
//! other parameter as `name:value;`, sorted by name and, for repeated names,
//! by value, followed by the operator's API key. It is compared in constant
//! time. Answers are HTTP 200 JSON objects with `error` (0 on success) and,
//! on failure, `error_message` and `error_fields`
//! (`{"field": ["what is wrong"]}`).

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use efir_core::money::Money;
use efir_store::clients::Client;
use efir_store::Store;
use md5::{Digest, Md5};
use serde_json::{json, Value};

/// Unknown or generic error, also invalid parameters (see `error_fields`).
pub const ERR_GENERIC: i64 = -1;
/// The signature is missing or wrong.
pub const ERR_SIGNATURE: i64 = -2;
/// `client_id` names no operator.
pub const ERR_CLIENT: i64 = -3;

/// Which key signs the calls of an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The Billing API key.
    Billing,
    /// The Content API key.
    Content,
}

/// An API error in the Smarty format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `error`: a negative code.
    pub code: i64,
    /// `error_message`.
    pub message: String,
    /// `error_fields`: problems per parameter.
    pub fields: BTreeMap<String, Vec<String>>,
}

impl ApiError {
    /// An error without field details.
    pub fn new(code: i64, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// An error about one parameter.
    pub fn field(name: &str, problem: impl Into<String>) -> ApiError {
        let problem = problem.into();
        let mut fields = BTreeMap::new();
        fields.insert(name.to_string(), vec![problem.clone()]);
        ApiError {
            code: ERR_GENERIC,
            message: format!("{name}: {problem}"),
            fields,
        }
    }

    /// A generic error.
    pub fn generic(message: impl Into<String>) -> ApiError {
        ApiError::new(ERR_GENERIC, message)
    }

    /// The JSON body.
    pub fn to_json(&self) -> Value {
        json!({
            "error": self.code,
            "error_message": self.message,
            "error_fields": self.fields,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        Json(self.to_json()).into_response()
    }
}

impl From<efir_store::StoreError> for ApiError {
    fn from(e: efir_store::StoreError) -> Self {
        use efir_store::StoreError as E;
        match e {
            E::Conflict { field, value, .. } => {
                ApiError::field(&field, format!("`{value}` is already taken"))
            }
            E::NotFound { entity, id } => ApiError::generic(format!("{entity} {id} not found")),
            E::Invalid(msg) => ApiError::generic(msg),
            other => {
                tracing::error!(error = %other, "API call failed");
                ApiError::generic("internal error")
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        efir_store::StoreError::from(e).into()
    }
}

tokio::task_local! {
    static CALLER: efir_store::Actor;
}

/// Runs `fut` (calls of [`crate::billing::dispatch`] or
/// [`crate::content::dispatch`]) with its changes audited as `actor`
/// instead of the operator's API key: the admin panel calls the APIs on
/// behalf of a staff user, so one code path validates and audits both.
pub async fn on_behalf_of<F: std::future::Future>(actor: efir_store::Actor, fut: F) -> F::Output {
    CALLER.scope(actor, fut).await
}

/// The actor of a Billing or Content API change: the staff user of
/// [`on_behalf_of`], else `api:<api>:client-<id>`.
pub(crate) fn caller(api: &str, client: &Client) -> efir_store::Actor {
    CALLER
        .try_with(|a| a.clone())
        .unwrap_or_else(|_| efir_store::Actor::Api(format!("{api}:client-{}", client.id)))
}

/// The parameters of a call: query string and form body, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses a query string and an `application/x-www-form-urlencoded`
    /// body.
    pub fn parse(query: Option<&str>, body: &[u8]) -> Params {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(q) = query {
            pairs.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        pairs.extend(form_urlencoded::parse(body).into_owned());
        Params(pairs)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `name` was sent (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// The Smarty signature of `params` (any `signature` parameter left out)
/// under `key`.
pub fn signature(params: &[(String, String)], key: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort();
    let mut source = String::new();
    for (k, v) in pairs {
        source.push_str(k);
        source.push(':');
        source.push_str(v);
        source.push(';');
    }
    source.push_str(key);
    let encoded = base64::engine::general_purpose::STANDARD.encode(source.as_bytes());
    hex::encode(Md5::digest(encoded.as_bytes()))
}

/// Finds the operator of a call and checks its signature with the key of
/// `kind`.
pub async fn authenticate(
    store: &Store,
    params: &Params,
    kind: KeyKind,
) -> Result<Client, ApiError> {
    let raw = params
        .get("client_id")
        .ok_or_else(|| ApiError::new(ERR_CLIENT, "client_id is required"))?;
    let id: i64 = raw
        .trim()
        .parse()
        .map_err(|_| ApiError::new(ERR_CLIENT, format!("client_id `{raw}` is not a number")))?;
    let client = match store.client(id).await {
        Ok(c) => c,
        Err(efir_store::StoreError::NotFound { .. }) => {
            return Err(ApiError::new(ERR_CLIENT, format!("unknown client {id}")))
        }
        Err(e) => return Err(e.into()),
    };
    if !client.is_active {
        return Err(ApiError::new(
            ERR_CLIENT,
            format!("client {id} is disabled"),
        ));
    }
    let given = params.get("signature").unwrap_or("");
    let key = match kind {
        KeyKind::Billing => &client.billing_api_key,
        KeyKind::Content => &client.content_api_key,
    };
    let expected = signature(&params.0, key);
    if !efir_core::secret::constant_time_eq(
        given.trim().to_ascii_lowercase().as_bytes(),
        expected.as_bytes(),
    ) {
        return Err(ApiError::new(ERR_SIGNATURE, "invalid signature"));
    }
    Ok(client)
}

/// Collects parameter problems so that a call reports all of them at once.
#[derive(Debug, Default)]
pub struct Fields {
    errors: BTreeMap<String, Vec<String>>,
}

impl Fields {
    /// A new, empty collector.
    pub fn new() -> Fields {
        Fields::default()
    }

    /// Records a problem with `name`.
    pub fn error(&mut self, name: &str, problem: impl Into<String>) {
        self.errors
            .entry(name.to_string())
            .or_default()
            .push(problem.into());
    }

    /// A required non-empty text value.
    pub fn required_str(&mut self, p: &Params, name: &str) -> String {
        match p.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => v.to_string(),
            _ => {
                self.error(name, "This field is required.");
                String::new()
            }
        }
    }

    /// An optional text value (absent → `None`), at most `max` characters.
    pub fn optional_str(&mut self, p: &Params, name: &str, max: usize) -> Option<String> {
        let v = p.get(name)?.trim().to_string();
        if v.chars().count() > max {
            self.error(name, format!("At most {max} characters."));
        }
        Some(v)
    }

    /// A required integer.
    pub fn required_i64(&mut self, p: &Params, name: &str) -> i64 {
        match p.get(name) {
            None => {
                self.error(name, "This field is required.");
                0
            }
            Some(v) => self.parse_i64(name, v),
        }
    }

    /// An optional integer (absent or empty → `None`).
    pub fn optional_i64(&mut self, p: &Params, name: &str) -> Option<i64> {
        match p.get(name).map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(self.parse_i64(name, v)),
        }
    }

    fn parse_i64(&mut self, name: &str, v: &str) -> i64 {
        match v.trim().parse() {
            Ok(n) => n,
            Err(_) => {
                self.error(name, format!("`{v}` is not a whole number."));
                0
            }
        }
    }

    /// An optional flag: `1`/`0`, `true`/`false` (absent → `None`).
    pub fn optional_bool(&mut self, p: &Params, name: &str) -> Option<bool> {
        let v = p.get(name)?;
        match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" | "" => Some(false),
            _ => {
                self.error(name, format!("`{v}` is not 0 or 1."));
                None
            }
        }
    }

    /// An optional amount of money (absent → `None`).
    pub fn optional_money(&mut self, p: &Params, name: &str) -> Option<Money> {
        let v = p.get(name)?;
        match v.parse::<Money>() {
            Ok(m) => Some(m),
            Err(e) => {
                self.error(name, e.to_string());
                None
            }
        }
    }

    /// An optional date: Unix seconds, `YYYY-MM-DD` or
    /// `YYYY-MM-DD HH:MM[:SS]` (UTC). Empty means "clear" (`Some(None)`).
    pub fn optional_date(&mut self, p: &Params, name: &str) -> Option<Option<i64>> {
        let v = p.get(name)?.trim();
        if v.is_empty() {
            return Some(None);
        }
        match parse_date(v) {
            Some(t) => Some(Some(t)),
            None => {
                self.error(
                    name,
                    format!(
                        "`{v}` is not a date (YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or Unix seconds)."
                    ),
                );
                None
            }
        }
    }

    /// Ends validation: an error listing every problem, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let message = self
            .errors
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.join(" ")))
            .collect::<Vec<_>>()
            .join("; ");
        Err(ApiError {
            code: ERR_GENERIC,
            message,
            fields: self.errors,
        })
    }
}

/// Parses Unix seconds, `YYYY-MM-DD` or `YYYY-MM-DD HH:MM[:SS]` (UTC).
pub fn parse_date(v: &str) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime};
    if let Ok(n) = v.parse::<i64>() {
        return (0..=253_402_300_799).contains(&n).then_some(n);
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), as the APIs print
/// dates.
pub fn format_date(t: Option<i64>) -> Value {
    match t.and_then(|t| chrono::DateTime::from_timestamp(t, 0)) {
        Some(d) => Value::String(d.format("%Y-%m-%d %H:%M:%S").to_string()),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signature_matches_the_documented_example() {
        // The reference's verified example: multi-valued parameters repeat,
        // sorted by value; the signature parameter itself is left out.
        let p = pairs(&[
            ("customer_id", "1"),
            ("allowed_device_groups", "3"),
            ("client_id", "1"),
            ("allowed_device_groups", "1"),
            ("signature", "whatever"),
        ]);
        assert_eq!(
            signature(&p, "secretkey"),
            "7e4210d744341f4e3bbdf1d779bd4142"
        );
    }

    #[test]
    fn fields_collect_every_problem() {
        let p = Params::parse(Some("age=x&flag=maybe&amount=1.23456"), b"name=");
        let mut f = Fields::new();
        f.required_str(&p, "name");
        f.optional_i64(&p, "age");
        f.optional_bool(&p, "flag");
        f.optional_money(&p, "amount");
        f.optional_date(&p, "missing");
        let err = f.finish().unwrap_err();
        assert_eq!(err.code, ERR_GENERIC);
        assert_eq!(
            err.fields.keys().collect::<Vec<_>>(),
            vec!["age", "amount", "flag", "name"]
        );
        assert_eq!(
            err.to_json()["error_fields"]["name"][0],
            "This field is required."
        );
    }

    #[test]
    fn dates_in_every_accepted_form() {
        assert_eq!(parse_date("2026-11-23"), Some(1_795_392_000));
        assert_eq!(parse_date("2026-11-23 01:00:00"), Some(1_795_395_600));
        assert_eq!(parse_date("2026-11-23T01:00:00"), Some(1_795_395_600));
        assert_eq!(parse_date("1795392000"), Some(1_795_392_000));
        assert_eq!(parse_date("23.11.2026"), None);
        assert_eq!(parse_date("-5"), None);
        assert_eq!(format_date(Some(1_795_395_600)), "2026-11-23 01:00:00");
    }
}
