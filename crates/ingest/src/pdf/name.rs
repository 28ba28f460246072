//! Order number and name from a job's file name.

use serde::{Deserialize, Serialize};

/// What a file name like `12345_Vonoel_Magazine cover.pdf` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameInfo {
    /// The leading digits (`12345`), if the name starts with a digit.
    pub order: Option<String>,
    /// The name without its extension split on `_`, each part trimmed,
    /// empty parts dropped (`["12345", "Vonoel", "Magazine cover"]`).
    pub tokens: Vec<String>,
    /// The name without its extension and without the leading order number
    /// and the separators after it (`Vonoel_Magazine cover`); the whole
    /// name without extension when nothing else is left.
    pub order_name: String,
}

/// Splits a file name (a path is cut to its last component) into order
/// number, `_` tokens and order name. Never fails.
pub fn parse_name(file_name: &str) -> NameInfo {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = match base.rfind('.') {
        Some(dot) if dot > 0 => &base[..dot],
        _ => base,
    };
    let digits = stem.len() - stem.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let order = (digits > 0).then(|| stem[..digits].to_string());
    let tokens = stem
        .split('_')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let rest = stem[digits..]
        .trim_start_matches(|c: char| c == '_' || c == '-' || c == '.' || c.is_whitespace())
        .trim();
    let order_name = if rest.is_empty() { stem.trim() } else { rest }.to_string();
    NameInfo {
        order,
        tokens,
        order_name,
    }
}
