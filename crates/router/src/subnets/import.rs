//! Parsing the operator's subnet files: CSV or coverage-zone JSON.

use serde_json::Value;

use super::{shorten, Subnet};

/// At most this many line errors are collected before giving up.
const MAX_ERRORS: usize = 20;

/// One subnet read from an operator's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedSubnet {
    /// The (normalised) subnet.
    pub subnet: Subnet,
    /// The region name as written in the file.
    pub region: String,
    /// The 1-based line in a CSV file; 0 for JSON.
    pub line: u64,
}

/// Why a subnet file was rejected. Nothing is imported when there is any
/// error.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Bad entries, at most 20, reported together so the operator can fix
    /// the file in one go: `(line, message)` where the line is 1-based for
    /// CSV and 0 for JSON entries (whose message names the coverage zone).
    #[error("{}", format_lines(.0))]
    Lines(Vec<(u64, String)>),
    /// The document looks like JSON (starts with `{`) but is not valid JSON.
    #[error("malformed coverage-zone JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
        /// What serde_json reported.
        message: String,
    },
    /// Valid JSON that is not a coverage-zone document (e.g. no
    /// `coverageZones` object).
    #[error("not a coverage-zone document: {0}")]
    Format(String),
}

fn format_lines(lines: &[(u64, String)]) -> String {
    let mut s = format!(
        "{} bad entr{} in the subnet file{}:",
        lines.len(),
        if lines.len() == 1 { "y" } else { "ies" },
        if lines.len() >= MAX_ERRORS {
            " (at most 20 are reported)"
        } else {
            ""
        }
    );
    for (line, msg) in lines {
        if *line > 0 {
            s.push_str(&format!("\n  line {line}: {msg}"));
        } else {
            s.push_str(&format!("\n  {msg}"));
        }
    }
    s
}

/// Parses a whole subnet file; the format is detected by content.
///
/// A document starting (after whitespace and a UTF-8 BOM) with `{` is an
/// Apache Traffic Control coverage-zone JSON document
/// (`{"coverageZones": {"<region>": {"network": [...], "network6": [...]}}}`);
/// anything else is CSV: `cidr,region_name` lines, an optional `cidr,region`
/// header, blank lines and `#` comments skipped, fields trimmed, `"…"`
/// quoting allowed (`""` inside quotes is a quote).
///
/// Any bad entry fails the whole import: up to 20 of them are collected and
/// returned together in [`ImportError::Lines`]. Empty input is `Ok(vec![])`.
pub fn parse_subnets(input: &[u8]) -> Result<Vec<ImportedSubnet>, ImportError> {
    let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        parse_json(body)
    } else {
        parse_csv(body)
    }
}

fn parse_csv(input: &[u8]) -> Result<Vec<ImportedSubnet>, ImportError> {
    let mut out = Vec::new();
    let mut errors: Vec<(u64, String)> = Vec::new();
    let mut seen_data = false;
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(_) => {
                errors.push((line_no, "not valid UTF-8".to_string()));
                if errors.len() >= MAX_ERRORS {
                    break;
                }
                continue;
            }
        };
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let first_data = !seen_data;
        seen_data = true;
        match parse_csv_line(trimmed, first_data) {
            Ok(None) => {}
            Ok(Some((subnet, region))) => out.push(ImportedSubnet {
                subnet,
                region,
                line: line_no,
            }),
            Err(msg) => {
                errors.push((line_no, msg));
                if errors.len() >= MAX_ERRORS {
                    break;
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ImportError::Lines(errors))
    }
}

/// One non-blank, non-comment line: `Ok(None)` for the header.
fn parse_csv_line(line: &str, may_be_header: bool) -> Result<Option<(Subnet, String)>, String> {
    let fields = split_csv(line).map_err(|e| format!("{e}: {:?}", shorten(line)))?;
    if may_be_header
        && fields.len() == 2
        && fields[0].eq_ignore_ascii_case("cidr")
        && fields[1].eq_ignore_ascii_case("region")
    {
        return Ok(None);
    }
    match fields.len() {
        1 => return Err(format!("missing region: {:?}", shorten(line))),
        2 => {}
        n => {
            return Err(format!(
                "expected 2 fields (cidr,region), found {n}: {:?}",
                shorten(line)
            ))
        }
    }
    let subnet: Subnet = fields[0].parse().map_err(|e| format!("{e}"))?;
    if fields[1].is_empty() {
        return Err(format!("missing region: {:?}", shorten(line)));
    }
    Ok(Some((subnet, fields[1].clone())))
}

/// Splits one CSV line on commas; fields are trimmed, `"…"` quoting with
/// `""` escapes is honoured.
fn split_csv(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        // Skip leading whitespace of the field.
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    field.push(c);
                }
            }
            if !closed {
                return Err("unterminated quoted field");
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field.trim().to_string());
                    return Ok(fields);
                }
                Some(',') => fields.push(field.trim().to_string()),
                Some(_) => return Err("text after a closing quote"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim().to_string());
                        return Ok(fields);
                    }
                    Some(',') => {
                        fields.push(field.trim().to_string());
                        break;
                    }
                    Some('"') => return Err("quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

fn parse_json(input: &[u8]) -> Result<Vec<ImportedSubnet>, ImportError> {
    let doc: Value = serde_json::from_slice(input).map_err(|e| ImportError::Json {
        line: e.line(),
        column: e.column(),
        message: shorten(&e.to_string()),
    })?;
    let zones = match doc.get("coverageZones") {
        Some(Value::Object(z)) => z,
        Some(_) => {
            return Err(ImportError::Format(
                "\"coverageZones\" is not an object".to_string(),
            ))
        }
        None => {
            return Err(ImportError::Format(
                "no \"coverageZones\" object".to_string(),
            ))
        }
    };
    let mut out = Vec::new();
    let mut errors: Vec<(u64, String)> = Vec::new();
    'zones: for (name, zone) in zones {
        let zname = shorten(name);
        let Value::Object(zone) = zone else {
            errors.push((0, format!("coverage zone {zname:?}: not an object")));
            if errors.len() >= MAX_ERRORS {
                break;
            }
            continue;
        };
        if name.trim().is_empty() {
            errors.push((0, "coverage zone with an empty name".to_string()));
            if errors.len() >= MAX_ERRORS {
                break;
            }
            continue;
        }
        for key in ["network", "network6"] {
            let list = match zone.get(key) {
                None | Some(Value::Null) => continue,
                Some(Value::Array(list)) => list,
                Some(_) => {
                    errors.push((
                        0,
                        format!("coverage zone {zname:?}: \"{key}\" is not an array"),
                    ));
                    if errors.len() >= MAX_ERRORS {
                        break 'zones;
                    }
                    continue;
                }
            };
            for (i, item) in list.iter().enumerate() {
                let parsed = match item {
                    Value::String(s) => s.parse::<Subnet>().map_err(|e| e.to_string()),
                    other => Err(format!("not a string: {}", shorten(&other.to_string()))),
                };
                match parsed {
                    Ok(subnet) => out.push(ImportedSubnet {
                        subnet,
                        region: name.clone(),
                        line: 0,
                    }),
                    Err(msg) => {
                        errors.push((0, format!("coverage zone {zname:?} {key}[{i}]: {msg}")));
                        if errors.len() >= MAX_ERRORS {
                            break 'zones;
                        }
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ImportError::Lines(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split() {
        assert_eq!(split_csv("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(
            split_csv(" \"a,x\" , \"b\"\"c\" ").unwrap(),
            vec!["a,x", "b\"c"]
        );
        assert_eq!(split_csv("a,").unwrap(), vec!["a", ""]);
        assert!(split_csv("\"a").is_err());
        assert!(split_csv("\"a\"x,b").is_err());
    }
}
