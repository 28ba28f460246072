//! The wall clock every part of Efir reads, with a frozen clock for tests.
//!
//! [`now`] is the current Unix time in seconds. When the process starts with
//! `EFIR_NOW` set (Unix seconds or an RFC 3339 time such as
//! `2026-03-01T02:00:00Z`), the clock reads that time instead, so that a
//! test can run nightly commands for a whole month in a few seconds and get
//! the same answer every time. Library code that must be testable without
//! the environment takes the time as an argument instead.
//!
//! `EFIR_NOW` is meant for tests and drills: `efir` logs a warning at
//! startup when it is set.

use std::sync::OnceLock;

/// The environment variable that freezes the clock.
pub const FROZEN_ENV: &str = "EFIR_NOW";

static FROZEN: OnceLock<Option<i64>> = OnceLock::new();

/// Seconds since the Unix epoch, now (or the frozen time of `EFIR_NOW`).
pub fn now() -> i64 {
    match frozen() {
        Some(t) => t,
        None => chrono::Utc::now().timestamp(),
    }
}

/// The frozen time, when `EFIR_NOW` is set and valid.
pub fn frozen() -> Option<i64> {
    *FROZEN.get_or_init(|| std::env::var(FROZEN_ENV).ok().and_then(|v| parse(&v).ok()))
}

/// Checks `EFIR_NOW` when set: `Ok(None)` when unset, the time when valid,
/// an error naming the variable when not.
pub fn check_env() -> Result<Option<i64>, String> {
    match std::env::var(FROZEN_ENV) {
        Err(_) => Ok(None),
        Ok(v) => parse(&v)
            .map(Some)
            .map_err(|e| format!("{FROZEN_ENV}=`{v}`: {e}")),
    }
}

/// Parses Unix seconds or an RFC 3339 time.
pub fn parse(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = s.parse::<i64>() {
        return Ok(t);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp())
        .map_err(|_| "expected Unix seconds or an RFC 3339 time (2026-03-01T02:00:00Z)".into())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_both_forms() {
        assert_eq!(parse("1767225600"), Ok(1_767_225_600));
        assert_eq!(parse("2026-01-01T00:00:00Z"), Ok(1_767_225_600));
        assert_eq!(parse("2026-01-01T03:00:00+03:00"), Ok(1_767_225_600));
        assert!(parse("yesterday").is_err());
        assert!(parse("").is_err());
    }
}
