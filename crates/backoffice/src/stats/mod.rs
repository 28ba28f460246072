//! Statistics and reports: sessions online and the daily maximum, daily
//! statistics per operator, subscriber dynamics per hour/day/month, the
//! viewing events devices push, the clean-ups of old data and the admin
//! API that serves all of it as time series.
//!
//! Everything is counted in UTC: a day is `[00:00, 24:00)` UTC, stored as
//! the Unix second it starts at. Library functions take the time (`now`)
//! as an argument so that tests run a whole day with a frozen clock; the
//! commands pass `efir_store::now()`, which honours `EFIR_NOW`.
//!
//! Statistics are derived data: recomputing a period replaces its rows.
//! Every write goes through an audited transaction with one summary event
//! per run and operator, so the audit log says who computed or deleted
//! what without one event per row.

// `admin.rs` (the admin endpoints) is declared here with `pub mod admin;`
// once `crate::admin` lands on main.
pub mod admin;
pub mod cleanup;
pub mod daily;
pub mod dynamic;
pub mod online;
pub mod viewing;

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use efir_store::{with_db, Store, StoreError};

use crate::settings::SettingSpec;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Longest retention or look-back accepted by the commands, in days
/// (100 years): beyond it a days value is surely a typo.
pub const MAX_DAYS: i64 = 36_500;

/// The per-operator settings of this part.
pub const SETTINGS: &[SettingSpec] = &[SettingSpec {
    key: "stats.online_window_secs",
    help: "a session seen within this many seconds counts as online (60..=3600, default 300)",
    check: |v| crate::settings::check_range(v, 60, 3600),
}];

/// Errors of the statistics part.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// Bad input (a parameter of a command or a request).
    #[error("{0}")]
    Invalid(String),
    /// An operator that does not exist.
    #[error("unknown operator (client id) {0}")]
    UnknownClient(i64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for StatsError {
    fn from(e: sqlx::Error) -> Self {
        StatsError::Store(StoreError::Database(e))
    }
}

/// Result of this part.
pub type Result<T, E = StatsError> = std::result::Result<T, E>;

/// The start (00:00 UTC) of the day holding `t`.
pub fn day_start(t: i64) -> i64 {
    t.div_euclid(DAY) * DAY
}

/// The start of the UTC month holding `t`.
pub fn month_start(t: i64) -> i64 {
    let d = utc(t);
    Utc.with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0)
        .single()
        .map_or(day_start(t), |m| m.timestamp())
}

/// The start of the UTC month after the one starting at `start`.
pub fn next_month(start: i64) -> i64 {
    let d = utc(start);
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .map_or(start + 31 * DAY, |m| m.timestamp())
}

fn utc(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

/// `YYYY-MM-DD` of the day holding `t`.
pub fn date_string(t: i64) -> String {
    utc(t).format("%Y-%m-%d").to_string()
}

/// RFC 3339 of `t` (UTC), for people and CSV.
pub fn time_string(t: i64) -> String {
    utc(t).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a `YYYY-MM-DD` date into the Unix second its UTC day starts at.
pub fn parse_date(s: &str) -> Result<i64> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| StatsError::Invalid(format!("`{s}` is not a date (YYYY-MM-DD)")))?;
    Ok(d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default())
}

/// Parses a time given as `YYYY-MM-DD` (its day's start) or Unix seconds.
pub fn parse_time(s: &str) -> Result<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .filter(|t| *t <= 253_402_300_799)
            .ok_or_else(|| StatsError::Invalid(format!("`{s}` is out of range")));
    }
    parse_date(s).map_err(|_| {
        StatsError::Invalid(format!(
            "`{s}` is neither a date (YYYY-MM-DD) nor Unix seconds"
        ))
    })
}

/// Checks a days value of a clean-up: at least 1, at most [`MAX_DAYS`].
pub fn check_days(flag: &str, days: i64) -> Result<i64> {
    if days < 1 {
        return Err(StatsError::Invalid(format!(
            "{flag} must be at least 1 (got {days}); nothing was deleted"
        )));
    }
    if days > MAX_DAYS {
        return Err(StatsError::Invalid(format!(
            "{flag} must be at most {MAX_DAYS} (got {days})"
        )));
    }
    Ok(days)
}

/// Parses a comma-separated list of operator ids (`1,2,3`); every id must
/// be a positive number. Duplicates are dropped.
pub fn parse_client_ids(list: &str) -> Result<Vec<i64>> {
    let mut ids = BTreeSet::new();
    for part in list.split(',') {
        let part = part.trim();
        match part.parse::<i64>() {
            Ok(id) if id > 0 => {
                ids.insert(id);
            }
            _ => {
                return Err(StatsError::Invalid(format!(
                    "--client-id: `{part}` is not an operator id (expected positive numbers separated by commas, such as 1,2)"
                )))
            }
        }
    }
    Ok(ids.into_iter().collect())
}

/// The operators to work on: the given ones (each must exist), or every
/// operator when `ids` is `None`.
pub async fn resolve_clients(store: &Store, ids: Option<&[i64]>) -> Result<Vec<i64>> {
    let all: Vec<i64> = with_db!(store.pool(), p => sqlx::query_scalar(
        "SELECT id FROM client ORDER BY id")
        .fetch_all(p)
        .await)?;
    match ids {
        None => Ok(all),
        Some(ids) => {
            for id in ids {
                if !all.contains(id) {
                    return Err(StatsError::UnknownClient(*id));
                }
            }
            Ok(ids.to_vec())
        }
    }
}

/// The online window of an operator in seconds (setting
/// `stats.online_window_secs`, default [`online::DEFAULT_ONLINE_WINDOW_SECS`]).
pub async fn online_window(store: &Store, client_id: i64) -> Result<i64> {
    let settings = store.client_settings(client_id).await?;
    Ok(settings
        .get("stats.online_window_secs")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| (60..=3600).contains(v))
        .unwrap_or(online::DEFAULT_ONLINE_WINDOW_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months() {
        let t = parse_date("2026-03-15").unwrap();
        assert_eq!(date_string(t), "2026-03-15");
        assert_eq!(day_start(t + 3600), t);
        assert_eq!(date_string(month_start(t)), "2026-03-01");
        assert_eq!(date_string(next_month(month_start(t))), "2026-04-01");
        let dec = parse_date("2025-12-01").unwrap();
        assert_eq!(date_string(next_month(dec)), "2026-01-01");
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("'; DROP TABLE client; --").is_err());
    }

    #[test]
    fn times_and_lists() {
        assert_eq!(parse_time("86400").unwrap(), DAY);
        assert_eq!(parse_time("1970-01-02").unwrap(), DAY);
        assert!(parse_time("-5").is_err());
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("99999999999999999999").is_err());
        assert_eq!(parse_client_ids("2, 1,2").unwrap(), vec![1, 2]);
        assert!(parse_client_ids("1,x").is_err());
        assert!(parse_client_ids("0").is_err());
        assert!(parse_client_ids("").is_err());
        assert!(check_days("--days", 0).is_err());
        assert!(check_days("--days", -3).is_err());
        assert_eq!(check_days("--days", 30).unwrap(), 30);
    }
}
