//! Reading admin requests: query parameters, JSON bodies, pages, times and
//! the output format, each failing with the admin API's own error answer.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::{AdminError, AdminResult};

/// Longest query value accepted.
const MAX_VALUE: usize = 2000;

/// The query string as a map (the last value of a repeated name wins).
#[derive(Debug, Clone, Default)]
pub struct Params(pub BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> AdminResult<Params> {
        let query = parts.uri.query().unwrap_or("");
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if v.len() > MAX_VALUE {
                return Err(AdminError::field(&k, "value too long"));
            }
            map.insert(k.into_owned(), v.into_owned());
        }
        Ok(Params(map))
    }
}

impl Params {
    /// A non-empty text value.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A whole number, when given.
    pub fn i64(&self, name: &str) -> AdminResult<Option<i64>> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| AdminError::field(name, format!("`{v}` is not a whole number"))),
        }
    }

    /// A time, when given: `YYYY-MM-DD` (midnight UTC), Unix seconds or RFC
    /// 3339.
    pub fn time(&self, name: &str) -> AdminResult<Option<i64>> {
        self.str(name).map(|v| parse_time(name, v)).transpose()
    }

    /// A `from`/`to` pair of times with `from <= to`.
    pub fn range(&self, from: &str, to: &str) -> AdminResult<(Option<i64>, Option<i64>)> {
        let (f, t) = (self.time(from)?, self.time(to)?);
        if let (Some(a), Some(b)) = (f, t) {
            if a > b {
                return Err(AdminError::field(from, format!("must not be after `{to}`")));
            }
        }
        Ok((f, t))
    }
}

/// Parses `YYYY-MM-DD` (midnight UTC), Unix seconds or an RFC 3339 time.
pub fn parse_time(field: &str, v: &str) -> AdminResult<i64> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp());
        }
    }
    efir_core::clock::parse(v).map_err(|_| {
        AdminError::field(
            field,
            format!("`{v}` is not a date (YYYY-MM-DD), Unix seconds or an RFC 3339 time"),
        )
    })
}

/// A page of a list: `limit` (default 50, at most 1000) and `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Most items.
    pub limit: i64,
    /// Items skipped.
    pub offset: i64,
}

/// The default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page.
pub const MAX_LIMIT: i64 = 1000;

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> AdminResult<Page> {
        let p = Params::from_request_parts(parts, state).await?;
        let limit = p.i64("limit")?.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AdminError::field(
                "limit",
                format!("must be from 1 to {MAX_LIMIT}"),
            ));
        }
        let offset = p.i64("offset")?.unwrap_or(0);
        if offset < 0 {
            return Err(AdminError::field("offset", "must not be negative"));
        }
        Ok(Page { limit, offset })
    }
}

/// How a list is answered: `format=json` (default) or `format=csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `{"count": n, "items": […]}`.
    #[default]
    Json,
    /// A CSV table with a header line.
    Csv,
}

impl<S: Send + Sync> FromRequestParts<S> for Format {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> AdminResult<Format> {
        let p = Params::from_request_parts(parts, state).await?;
        match p.str("format") {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(other) => Err(AdminError::field(
                "format",
                format!("`{other}` is not json or csv"),
            )),
        }
    }
}

/// A JSON request body; a malformed one is a 400 in the admin format.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> AdminResult<JsonBody<T>> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(AdminError::bad_request(e.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times() {
        assert_eq!(parse_time("from", "2026-01-01").unwrap(), 1_767_225_600);
        assert_eq!(parse_time("from", "1767225600").unwrap(), 1_767_225_600);
        assert_eq!(
            parse_time("from", "2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600
        );
        let e = parse_time("from", "1' OR '1'='1").unwrap_err();
        assert_eq!(e.fields.get("from").map(String::is_empty), Some(false));
    }
}
