//! XML output for legacy set-top boxes (`device=mag` and the others whose
//! play device says `xml`): the JSON answer as elements, lists as `<item>`.

use serde_json::Value;

/// Renders `value` as an XML document with root `<response>`: object keys
/// become elements, array entries `<item>` elements, `true`/`false` become
/// `1`/`0`, `null` an empty element.
pub fn render(value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    element(&mut out, "response", value);
    out.push('\n');
    out
}

fn element(out: &mut String, name: &str, value: &Value) {
    let name = tag_name(name);
    out.push('<');
    out.push_str(&name);
    out.push('>');
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push(if *b { '1' } else { '0' }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => escape_into(out, s),
        Value::Array(items) => {
            for item in items {
                element(out, "item", item);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                element(out, k, v);
            }
        }
    }
    out.push_str("</");
    out.push_str(&name);
    out.push('>');
}

/// A valid element name: keys are ours, but be safe with any text.
fn tag_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn lists_become_items_and_text_is_escaped() {
        let xml = super::render(&json!({
            "channels": [{"id": 1, "name": "A&B <TV>", "is_hidden": false}],
            "error": 0,
            "none": null,
            "2bad key": "x\u{1}y",
        }));
        assert!(xml.contains(
            "<channels><item><id>1</id><name>A&amp;B &lt;TV&gt;</name><is_hidden>0</is_hidden></item></channels>"
        ), "{xml}");
        assert!(xml.contains("<error>0</error>"));
        assert!(xml.contains("<none></none>"));
        assert!(xml.contains("<_2bad_key>xy</_2bad_key>"), "{xml}");
        assert!(xml.starts_with("<?xml"));
    }
}
