//! Exact money amounts: fixed-point with four decimals, stored as `BIGINT`.
//!
//! `Money(1_234_500)` is 123.45. Amounts from outside are parsed from
//! decimal strings (`"123.45"`, `"-7"`, `"0.0001"`), never through floats,
//! and printed with at least two decimals (`"123.45"`, `"-7.00"`,
//! `"0.0001"`), which is how the Smarty APIs send money (as strings).

use std::fmt;
use std::str::FromStr;

/// Units per whole currency unit.
pub const SCALE: i64 = 10_000;

/// An exact amount of money in ten-thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub i64);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// The amount in ten-thousandths, as stored.
    pub fn units(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// Whether the amount is below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

/// Why a string is not an amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMoneyError(String);

impl fmt::Display for ParseMoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseMoneyError {}

impl FromStr for Money {
    type Err = ParseMoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseMoneyError(format!("`{s}` is not an amount such as 12.50"));
        let t = s.trim();
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (whole, frac) = match digits.split_once(['.', ',']) {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if frac.len() > 4 {
            return Err(ParseMoneyError(format!(
                "`{s}` has more than 4 decimal places"
            )));
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let mut frac_units: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_units += i64::from(b - b'0') * 10i64.pow(3 - i as u32);
        }
        let units = whole
            .checked_mul(SCALE)
            .and_then(|w| w.checked_add(frac_units))
            .ok_or_else(|| ParseMoneyError(format!("`{s}` is too large")))?;
        Ok(Money(if negative { -units } else { units }))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / SCALE as u64;
        let frac = abs % SCALE as u64;
        if frac.is_multiple_of(100) {
            write!(f, "{sign}{whole}.{:02}", frac / 100)
        } else {
            let text = format!("{frac:04}");
            write!(f, "{sign}{whole}.{}", text.trim_end_matches('0'))
        }
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_exactly() {
        assert_eq!(m("123.45"), Money(1_234_500));
        assert_eq!(m("123,45"), Money(1_234_500));
        assert_eq!(m("-7"), Money(-70_000));
        assert_eq!(m("0.0001"), Money(1));
        assert_eq!(m(".5"), Money(5_000));
        assert_eq!(m("+3."), Money(30_000));
        assert_eq!(Money(1_234_500).to_string(), "123.45");
        assert_eq!(Money(-70_000).to_string(), "-7.00");
        assert_eq!(Money(1).to_string(), "0.0001");
        assert_eq!(Money(-5).to_string(), "-0.0005");
        assert_eq!(Money(12_340).to_string(), "1.234");
        // 0.1 + 0.2 is exactly 0.3 here.
        assert_eq!(m("0.1").checked_add(m("0.2")), Some(m("0.3")));
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        for bad in [
            "", "-", ".", "1e3", "1.00001", "12a", "1.2.3", " - 1", "NaN", "١٢",
        ] {
            assert!(bad.parse::<Money>().is_err(), "{bad:?}");
        }
        assert!("99999999999999999999".parse::<Money>().is_err());
        assert!(
            "922337203685478".parse::<Money>().is_err(),
            "overflows i64 units"
        );
    }

    #[test]
    fn round_trips() {
        for units in [
            0,
            1,
            -1,
            99,
            100,
            12_345,
            -9_999_999,
            i64::MAX / 2,
            i64::MIN / 2,
        ] {
            let text = Money(units).to_string();
            assert_eq!(text.parse::<Money>().unwrap(), Money(units), "{text}");
        }
    }
}
