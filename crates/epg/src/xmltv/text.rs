//! Entities, character checks and line-ending normalisation.

use std::borrow::Cow;

/// Resolves one entity name (what is between `&` and `;`): the five
/// predefined ones and numeric character references. Anything else is an
/// error: DOCTYPE entity declarations are never expanded.
pub(crate) fn resolve_entity(name: &str) -> Result<char, String> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let Some(num) = name.strip_prefix('#') else {
                return Err(format!("undefined entity &{};", shorten(name)));
            };
            let code = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()
                }
                Some(_) => None,
                None if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => {
                    num.parse().ok()
                }
                None => None,
            };
            match code.and_then(char::from_u32) {
                Some(c) if is_xml_char(c) => c,
                _ => return Err(format!("invalid character reference &{};", shorten(name))),
            }
        }
    };
    Ok(c)
}

/// A character XML 1.0 allows in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Checks for the control characters XML 1.0 forbids (all of C0 but tab,
/// line feed and carriage return).
#[inline]
pub(crate) fn check_chars(s: &str) -> Result<(), String> {
    // The fast path: a branch-free scan of fixed chunks, which the compiler
    // vectorises (`any` would stop at each byte).
    fn bad(chunk: &[u8]) -> bool {
        let mut acc = 0u8;
        for &b in chunk {
            acc |= u8::from((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r'));
        }
        acc != 0
    }
    if !s.as_bytes().chunks(64).any(bad) {
        return Ok(());
    }
    let c = s
        .chars()
        .find(|&c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
        .unwrap_or('\0');
    Err(format!("invalid character U+{:04X}", c as u32))
}

/// Unescapes an attribute value: predefined entities and character
/// references are resolved, a lone `&` (no `;` before the next space, `&`
/// or `<`) is kept as it is, an undefined entity is an error.
pub(crate) fn unescape(s: &str) -> Result<Cow<'_, str>, String> {
    if !s.contains('&') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(|c: char| c == ';' || c == '&' || c == '<' || c.is_whitespace());
        match end {
            Some(j) if after.as_bytes()[j] == b';' => {
                out.push(resolve_entity(&after[..j])?);
                rest = &after[j + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Trims and normalises line endings (`\r\n` and lone `\r` become `\n`).
pub(crate) fn finish(s: &str) -> String {
    let t = s.trim();
    if t.contains('\r') {
        t.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        t.to_owned()
    }
}

/// At most 40 characters of `s`, for messages.
pub(crate) fn shorten(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(40) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        assert_eq!(resolve_entity("amp"), Ok('&'));
        assert_eq!(resolve_entity("#65"), Ok('A'));
        assert_eq!(resolve_entity("#x416"), Ok('Ж'));
        assert_eq!(resolve_entity("#X1F600"), Ok('😀'));
        assert!(resolve_entity("lol9").unwrap_err().contains("&lol9;"));
        assert!(resolve_entity("#0").is_err());
        assert!(resolve_entity("#1").is_err());
        assert!(resolve_entity("#xD800").is_err());
        assert!(resolve_entity("#x110000").is_err());
        assert!(resolve_entity("#").is_err());
        assert!(resolve_entity("#x").is_err());
        assert!(resolve_entity("#99999999999999999999").is_err());
        assert!(resolve_entity("").is_err());
    }

    #[test]
    fn attribute_values() {
        assert_eq!(unescape("a &amp; b").unwrap(), "a & b");
        assert_eq!(unescape("Tom & Jerry").unwrap(), "Tom & Jerry");
        assert_eq!(unescape("a&b").unwrap(), "a&b");
        assert_eq!(unescape("&#x41;&lt;&gt;&quot;&apos;").unwrap(), "A<>\"'");
        assert!(unescape("x &lol; y").is_err());
        assert!(matches!(unescape("plain").unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn chars_and_finish() {
        assert!(check_chars("ok\t\r\n").is_ok());
        assert_eq!(
            check_chars("a\u{1}b").unwrap_err(),
            "invalid character U+0001"
        );
        assert_eq!(finish("  a\r\nb\rc  "), "a\nb\nc");
        assert_eq!(shorten(&"x".repeat(50)).chars().count(), 41);
    }
}
