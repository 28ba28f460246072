//! XMLTV times: `YYYYMMDDhhmmss ±HHMM` and every shorter form.

use chrono::{Duration, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use serde::{Deserialize, Serialize};

/// A time as written: local wall-clock time plus the zone when one was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmltvTime {
    /// The wall-clock time as written (missing fields are the start of the
    /// period: `202611` is 2026-11-01 00:00:00).
    pub local: chrono::NaiveDateTime,
    /// The written zone as seconds east of UTC, `None` when no zone was written.
    pub offset_secs: Option<i32>,
}

/// The zone applied to times written without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultZone {
    /// A fixed offset, seconds east of UTC.
    Offset(i32),
    /// An IANA zone, with its daylight-saving rules.
    Named(chrono_tz::Tz),
}

impl DefaultZone {
    /// UTC: the zone of times without one unless the source says otherwise.
    pub const UTC: DefaultZone = DefaultZone::Offset(0);
}

impl XmltvTime {
    /// Parses `YYYYMMDDhhmmss`, `YYYYMMDDhhmm`, `YYYYMMDDhh`, `YYYYMMDD`,
    /// `YYYYMM` or `YYYY`, optionally followed (with or without a space) by
    /// a zone: `+HHMM`, `-HHMM`, `+HH:MM`, `+HH`, `Z`, `UTC` or `GMT`.
    pub fn parse(s: &str) -> Result<XmltvTime, String> {
        let t = s.trim();
        let b = t.as_bytes();
        let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if !matches!(n, 4 | 6 | 8 | 10 | 12 | 14) {
            return Err(format!(
                "bad time {s:?}: expected YYYY[MM[DD[hh[mm[ss]]]]] and an optional zone"
            ));
        }
        let num = |at: usize| -> u32 {
            if at + 2 <= n {
                u32::from(b[at] - b'0') * 10 + u32::from(b[at + 1] - b'0')
            } else {
                0
            }
        };
        let year = (num(0) * 100 + num(2)) as i32;
        let month = if n >= 6 { num(4) } else { 1 };
        let day = if n >= 8 { num(6) } else { 1 };
        let date = NaiveDate::from_ymd_opt(year, month, day)
            .ok_or_else(|| format!("bad time {s:?}: no such date"))?;
        let time = NaiveTime::from_hms_opt(num(8), num(10), num(12))
            .ok_or_else(|| format!("bad time {s:?}: no such time of day"))?;
        let offset_secs = parse_zone(t[n..].trim_start())
            .map_err(|()| format!("bad time {s:?}: unrecognised zone"))?;
        Ok(XmltvTime {
            local: NaiveDateTime::new(date, time),
            offset_secs,
        })
    }

    /// UTC unix seconds: with the written zone, else with `default` (a fixed offset or an IANA zone; for an IANA zone a local time that is ambiguous at a DST fall-back takes the EARLIER instant, one that falls in a spring-forward gap is moved forward by the gap).
    pub fn to_utc(&self, default: &DefaultZone) -> i64 {
        let as_utc = self.local.and_utc().timestamp();
        if let Some(off) = self.offset_secs {
            return as_utc - i64::from(off);
        }
        match default {
            DefaultZone::Offset(off) => as_utc - i64::from(*off),
            DefaultZone::Named(tz) => match tz.from_local_datetime(&self.local) {
                MappedLocalTime::Single(t) => t.timestamp(),
                MappedLocalTime::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
                MappedLocalTime::None => {
                    // In a gap: read the wall clock with the offset in force
                    // before the transition, which is the same as moving it
                    // forward by the length of the gap. Transitions are far
                    // more than a day apart, so a day earlier is "before".
                    let before = self
                        .local
                        .checked_sub_signed(Duration::days(1))
                        .unwrap_or(self.local);
                    let off = tz.offset_from_utc_datetime(&before).fix().local_minus_utc();
                    as_utc - i64::from(off)
                }
            },
        }
    }
}

impl std::fmt::Display for XmltvTime {
    /// Writes the XMLTV form back: `YYYYMMDDhhmmss +HHMM` (no zone when none
    /// was written).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.local.format("%Y%m%d%H%M%S"))?;
        if let Some(off) = self.offset_secs {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            write!(f, " {sign}{:02}{:02}", a / 3600, a % 3600 / 60)?;
        }
        Ok(())
    }
}

/// `""` → no zone; `Z`, `UTC`, `GMT`, `+HHMM`, `-HHMM`, `+HH:MM`, `+HH`.
fn parse_zone(z: &str) -> Result<Option<i32>, ()> {
    if z.is_empty() {
        return Ok(None);
    }
    if z.eq_ignore_ascii_case("z") || z.eq_ignore_ascii_case("utc") || z.eq_ignore_ascii_case("gmt")
    {
        return Ok(Some(0));
    }
    let b = z.as_bytes();
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return Err(()),
    };
    let r = &b[1..];
    let d = |i: usize| -> Result<i32, ()> {
        match r.get(i) {
            Some(c) if c.is_ascii_digit() => Ok(i32::from(c - b'0')),
            _ => Err(()),
        }
    };
    let (h, m) = match r.len() {
        2 => (d(0)? * 10 + d(1)?, 0),
        4 => (d(0)? * 10 + d(1)?, d(2)? * 10 + d(3)?),
        5 if r[2] == b':' => (d(0)? * 10 + d(1)?, d(3)? * 10 + d(4)?),
        _ => return Err(()),
    };
    if h > 23 || m > 59 {
        return Err(());
    }
    Ok(Some(sign * (h * 3600 + m * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn every_length() {
        let cases = [
            ("20261123153045", "2026-11-23 15:30:45"),
            ("202611231530", "2026-11-23 15:30:00"),
            ("2026112315", "2026-11-23 15:00:00"),
            ("20261123", "2026-11-23 00:00:00"),
            ("202611", "2026-11-01 00:00:00"),
            ("2026", "2026-01-01 00:00:00"),
        ];
        for (s, want) in cases {
            let t = XmltvTime::parse(s).unwrap();
            assert_eq!(t.local, dt(want), "{s}");
            assert_eq!(t.offset_secs, None, "{s}");
        }
    }

    #[test]
    fn every_zone() {
        let cases = [
            ("20261123153045 +0300", Some(10800)),
            ("20261123153045+0300", Some(10800)),
            ("20261123153045 -0530", Some(-19800)),
            ("20261123153045 +05:30", Some(19800)),
            ("20261123153045 +03", Some(10800)),
            ("20261123153045 Z", Some(0)),
            ("20261123153045Z", Some(0)),
            ("20261123153045 UTC", Some(0)),
            ("20261123153045 gmt", Some(0)),
            ("20261123153045", None),
            ("  20261123153045  ", None),
        ];
        for (s, want) in cases {
            assert_eq!(XmltvTime::parse(s).unwrap().offset_secs, want, "{s}");
        }
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            "abc",
            "202",
            "20261",
            "2026112315304",
            "202611231530451",
            "20261323000000",
            "20261131000000",
            "20261123250000",
            "20261123153045 +2500",
            "20261123153045 +03000",
            "20261123153045 EST",
            "20261123153045 +0300 x",
            "20261123153045 + 0300",
        ] {
            assert!(XmltvTime::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn to_utc_fixed() {
        let t = XmltvTime::parse("20261123153045 +0300").unwrap();
        assert_eq!(t.to_utc(&DefaultZone::UTC), 1_795_447_845 - 3 * 3600);
        let t = XmltvTime::parse("20261123153045").unwrap();
        assert_eq!(t.to_utc(&DefaultZone::UTC), 1_795_447_845);
        assert_eq!(t.to_utc(&DefaultZone::Offset(-3600)), 1_795_447_845 + 3600);
    }

    #[test]
    fn display_round_trip() {
        for s in [
            "20261123153045 +0300",
            "20261123153045 -0530",
            "20261123153045",
        ] {
            let t = XmltvTime::parse(s).unwrap();
            assert_eq!(t.to_string(), s);
            assert_eq!(XmltvTime::parse(&t.to_string()).unwrap(), t);
        }
    }
}
