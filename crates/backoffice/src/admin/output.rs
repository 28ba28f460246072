//! Answers of list endpoints: JSON `{"count", "items"}` or CSV.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::input::Format;

/// Answers `items` (JSON objects) in `format`; CSV has `columns` as its
/// header and each item's fields in that order.
pub fn respond(format: Format, columns: &[&str], items: Vec<Value>) -> Response {
    match format {
        Format::Json => Json(json!({ "count": items.len(), "items": items })).into_response(),
        Format::Csv => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"export.csv\"",
                ),
            ],
            to_csv(columns, &items),
        )
            .into_response(),
    }
}

/// A CSV table (RFC 4180, CRLF line ends).
pub fn to_csv(columns: &[&str], items: &[Value]) -> String {
    let mut out = String::new();
    let header: Vec<String> = columns.iter().map(|c| cell(&Value::from(*c))).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for item in items {
        let row: Vec<String> = columns
            .iter()
            .map(|c| cell(item.get(*c).unwrap_or(&Value::Null)))
            .collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV cell. Text that a spreadsheet would run as a formula (`=`, `+`,
/// `-`, `@`, tab, CR at the start) gets a leading `'`; numbers stay numbers.
fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => return String::new(),
        Value::Bool(b) => return u8::from(*b).to_string(),
        Value::Number(n) => return n.to_string(),
        Value::String(s) => {
            if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{s}")
            } else {
                s.clone()
            }
        }
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::to_csv;
    use serde_json::json;

    #[test]
    fn quoting_and_formulas() {
        let items = vec![
            json!({"a": "plain", "b": 12, "c": null}),
            json!({"a": "x,\"y\"", "b": -3, "c": "=HYPERLINK(\"evil\")"}),
        ];
        let csv = to_csv(&["a", "b", "c"], &items);
        assert_eq!(
            csv,
            "a,b,c\r\nplain,12,\r\n\"x,\"\"y\"\"\",-3,\"'=HYPERLINK(\"\"evil\"\")\"\r\n"
        );
    }
}
