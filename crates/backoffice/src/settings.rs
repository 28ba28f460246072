//! The per-operator settings the back office understands.
//!
//! Settings live in the store as dotted keys ([`efir_store::settings`]).
//! Each part of the back office lists the keys it owns as [`SettingSpec`]s
//! (`billing.*`, `sms.*`, `email.*`, …); [`validate`] checks a key and a
//! value against that list before anything is written, so an operator can
//! never store a setting that no part reads or a value that a part would
//! reject later.

/// One setting a part of the back office reads.
#[derive(Debug, Clone, Copy)]
pub struct SettingSpec {
    /// The dotted key (`sms.backend`).
    pub key: &'static str,
    /// One line for `--help` and the admin API.
    pub help: &'static str,
    /// Checks a value; the error says what is expected.
    pub check: fn(&str) -> Result<(), String>,
}

/// Every setting, by part.
pub fn specs() -> Vec<&'static SettingSpec> {
    let parts: [&'static [SettingSpec]; 4] = [
        crate::billing::SETTINGS,
        crate::sms::SETTINGS,
        crate::messages::SETTINGS,
        crate::stats::SETTINGS,
    ];
    parts.iter().flat_map(|p| p.iter()).collect()
}

/// The spec of `key`, if any part owns it.
pub fn spec(key: &str) -> Option<&'static SettingSpec> {
    specs().into_iter().find(|s| s.key == key)
}

/// Checks `key = value` before it is stored.
pub fn validate(key: &str, value: &str) -> Result<(), String> {
    let Some(spec) = spec(key) else {
        let known: Vec<&str> = specs().iter().map(|s| s.key).collect();
        return Err(format!(
            "unknown setting `{key}`; known settings: {}",
            known.join(", ")
        ));
    };
    (spec.check)(value).map_err(|e| format!("{key}: {e}"))
}

/// A check for whole numbers between `min` and `max`.
pub fn check_range(value: &str, min: i64, max: i64) -> Result<(), String> {
    match value.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}
