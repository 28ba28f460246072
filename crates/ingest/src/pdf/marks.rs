//! Signa marks: the text of the `pssMO*` Form XObjects and what it says.
//!
//! Signa Station draws each mark as a Form XObject named `pssMO…` in the
//! page resources; `/PieceInfo/HDAG_SignaMarkInfo/Private/CreationName`
//! names the mark. Since mid-2015 there are three marks, `Outputter`,
//! `Machine` and `Paper`; older versions wrote a single `tes_Outputter` mark
//! (`Выведено: Vonoel Speedmaster 900.0 x 640.0`). Everything here is best
//! effort: a mark that cannot be read is skipped.

use std::collections::HashMap;
use std::sync::LazyLock;

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, Stream};
use regex::Regex;

use super::inspect::{deref, dict_entry, dict_path, inherited, round1, text_of};
use super::{Marks, PaperMm};

/// Bound on a mark's decompressed content stream or ToUnicode CMap.
const MAX_STREAM: usize = 4 * 1024 * 1024;

/// How deep Form XObjects nested inside a mark are followed.
const MAX_FORM_DEPTH: usize = 4;

/// Bound on the text kept from one mark.
const MAX_TEXT: usize = 4096;

static MACHINE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r":\s*(\S+)").ok());
static PAPER_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(\d+[.,]?\d*)\s*[xх×]\s*(\d+[.,]?\d*)").ok());

/// Reads the Signa marks of one page into `marks` (values already set are kept).
pub(super) fn page_marks(doc: &Document, page: &Dictionary, marks: &mut Marks) {
    if marks.outputter.is_some() && marks.machine.is_some() && marks.paper.is_some() {
        return;
    }
    let Some(resources) = inherited(doc, page, b"Resources").and_then(|o| o.as_dict().ok()) else {
        return;
    };
    let Some(xobjects) = dict_entry(doc, resources, b"XObject") else {
        return;
    };
    for (name, obj) in xobjects.iter() {
        if !name.starts_with(b"pssMO") {
            continue;
        }
        let Some(Object::Stream(form)) = deref(doc, obj) else {
            continue;
        };
        let path: [&[u8]; 4] = [
            b"PieceInfo",
            b"HDAG_SignaMarkInfo",
            b"Private",
            b"CreationName",
        ];
        let creation = dict_path(doc, &form.dict, &path).and_then(text_of);
        let Some(creation) = creation else {
            continue;
        };
        let text = form_text(doc, form, Some(resources));
        apply_mark(marks, &creation, &text);
    }
}

/// Applies the text of one mark, named by its CreationName.
pub(super) fn apply_mark(marks: &mut Marks, creation_name: &str, text: &str) {
    let kind = creation_name.trim().to_lowercase();
    match kind.as_str() {
        "outputter" if marks.outputter.is_none() => {
            let value = after_colon(text).trim();
            marks.outputter = (!value.is_empty()).then(|| value.to_string());
        }
        "machine" if marks.machine.is_none() => marks.machine = machine_of(text),
        "paper" if marks.paper.is_none() => marks.paper = paper_of(text),
        "tes_outputter" => {
            let mut words = after_colon(text).split_whitespace();
            let outputter = words.next();
            let machine = words.next();
            if marks.outputter.is_none() {
                marks.outputter = outputter.map(str::to_string);
            }
            if marks.machine.is_none() {
                marks.machine = machine
                    .filter(|m| paper_of(m).is_none())
                    .map(str::to_string);
            }
            if marks.paper.is_none() {
                marks.paper = paper_of(text);
            }
        }
        _ => {}
    }
}

/// The text after the first colon, or all of it when there is none.
fn after_colon(text: &str) -> &str {
    text.split_once(':').map_or(text, |(_, rest)| rest)
}

fn machine_of(text: &str) -> Option<String> {
    if let Some(re) = MACHINE_RE.as_ref() {
        if let Some(c) = re.captures(text) {
            return c.get(1).map(|m| m.as_str().to_string());
        }
    }
    if text.contains(':') {
        return None;
    }
    text.split_whitespace().next().map(str::to_string)
}

fn paper_of(text: &str) -> Option<PaperMm> {
    let c = PAPER_RE.as_ref()?.captures(text)?;
    let num = |i| -> Option<f64> {
        let s = c.get(i)?.as_str().replace(',', ".");
        let v: f64 = s.trim_end_matches('.').parse().ok()?;
        (v.is_finite() && v > 0.0).then_some(round1(v))
    };
    Some(PaperMm {
        width_mm: num(1)?,
        height_mm: num(2)?,
    })
}

/// How the strings of one font are turned into text.
enum Decoder<'a> {
    Font(Encoding<'a>),
    Latin1,
}

impl Decoder<'_> {
    fn push(&self, bytes: &[u8], out: &mut String) {
        if let Decoder::Font(enc) = self {
            if let Ok(s) = enc.bytes_to_string(bytes) {
                out.push_str(&s);
                return;
            }
        }
        out.extend(bytes.iter().map(|&b| b as char));
    }
}

/// The fonts of a resource dictionary, prepared so that lopdf decodes with
/// the /ToUnicode CMap whenever the font has one.
fn prepared_fonts(
    doc: &Document,
    resources: Option<&Dictionary>,
) -> HashMap<Vec<u8>, Option<Dictionary>> {
    let mut fonts = HashMap::new();
    let Some(font_dict) = resources.and_then(|r| dict_entry(doc, r, b"Font")) else {
        return fonts;
    };
    for (name, obj) in font_dict.iter() {
        let Some(font) = deref(doc, obj).and_then(|o| o.as_dict().ok()) else {
            continue;
        };
        let has_to_unicode = font
            .get(b"ToUnicode")
            .ok()
            .and_then(|o| deref(doc, o))
            .is_some_and(|o| matches!(o, Object::Stream(_)));
        let prepared = if has_to_unicode {
            let mut f = font.clone();
            f.remove(b"Encoding");
            f.set("Type", Object::Name(b"Font".to_vec()));
            Some(f)
        } else if font.has(b"Encoding") {
            let mut f = font.clone();
            f.set("Type", Object::Name(b"Font".to_vec()));
            Some(f)
        } else {
            None
        };
        fonts.insert(name.clone(), prepared);
    }
    fonts
}

fn decoder_for<'a>(
    doc: &'a Document,
    fonts: &'a HashMap<Vec<u8>, Option<Dictionary>>,
    name: &[u8],
) -> Decoder<'a> {
    match fonts.get(name) {
        Some(Some(font)) => match font.get_font_encoding_with_limit(doc, MAX_STREAM) {
            Ok(enc) => Decoder::Font(enc),
            Err(_) => Decoder::Latin1,
        },
        _ => Decoder::Latin1,
    }
}

/// The text shown by a Form XObject (and forms it draws), whitespace collapsed.
fn form_text(doc: &Document, form: &Stream, parent_resources: Option<&Dictionary>) -> String {
    let mut out = String::new();
    collect_text(doc, form, parent_resources, 0, &mut out);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn push_space(out: &mut String) {
    if !out.is_empty() && !out.ends_with(' ') {
        out.push(' ');
    }
}

fn collect_text(
    doc: &Document,
    form: &Stream,
    parent_resources: Option<&Dictionary>,
    depth: usize,
    out: &mut String,
) {
    if depth > MAX_FORM_DEPTH {
        return;
    }
    let resources = dict_entry(doc, &form.dict, b"Resources").or(parent_resources);
    let Ok(content) = form.get_plain_content_with_limit(MAX_STREAM) else {
        return;
    };
    let fonts = prepared_fonts(doc, resources);
    let mut decoder = Decoder::Latin1;
    for op in Content::decode_iter(&content) {
        let Ok(op) = op else { break };
        if out.len() > MAX_TEXT {
            break;
        }
        let operands = &op.operands;
        match op.operator.as_str() {
            "Tf" => {
                if let Some(Object::Name(name)) = operands.first() {
                    decoder = decoder_for(doc, &fonts, name);
                }
            }
            "Tj" => {
                if let Some(Object::String(s, _)) = operands.first() {
                    decoder.push(s, out);
                }
            }
            "'" => {
                push_space(out);
                if let Some(Object::String(s, _)) = operands.first() {
                    decoder.push(s, out);
                }
            }
            "\"" => {
                push_space(out);
                if let Some(Object::String(s, _)) = operands.get(2) {
                    decoder.push(s, out);
                }
            }
            "TJ" => {
                if let Some(Object::Array(items)) = operands.first() {
                    for item in items {
                        match item {
                            Object::String(s, _) => decoder.push(s, out),
                            // A large negative adjustment is a word gap.
                            Object::Integer(n) if *n <= -250 => push_space(out),
                            Object::Real(n) if *n <= -250.0 => push_space(out),
                            _ => {}
                        }
                    }
                }
            }
            "BT" | "ET" | "Td" | "TD" | "T*" | "Tm" => push_space(out),
            "Do" => {
                let Some(Object::Name(name)) = operands.first() else {
                    continue;
                };
                let inner = resources
                    .and_then(|r| dict_entry(doc, r, b"XObject"))
                    .and_then(|x| x.get(name).ok())
                    .and_then(|o| deref(doc, o));
                if let Some(Object::Stream(inner)) = inner {
                    if inner.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Form") {
                        push_space(out);
                        collect_text(doc, inner, resources, depth + 1, out);
                        push_space(out);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let mut m = Marks::default();
        apply_mark(&mut m, "Outputter", "Outputter: Vonoel");
        apply_mark(&mut m, "Machine", "Machine: Speedmaster SM74");
        apply_mark(&mut m, "Paper", "Paper: 900,0 x 640.0 mm");
        assert_eq!(m.outputter.as_deref(), Some("Vonoel"));
        assert_eq!(m.machine.as_deref(), Some("Speedmaster"));
        assert_eq!(
            m.paper,
            Some(PaperMm {
                width_mm: 900.0,
                height_mm: 640.0
            })
        );

        let mut old = Marks::default();
        apply_mark(
            &mut old,
            "tes_Outputter",
            "Выведено: Vonoel Speedmaster 900.0 x 640.0",
        );
        assert_eq!(old.outputter.as_deref(), Some("Vonoel"));
        assert_eq!(old.machine.as_deref(), Some("Speedmaster"));
        assert_eq!(old.paper.map(|p| p.height_mm), Some(640.0));

        let mut none = Marks::default();
        apply_mark(&mut none, "Paper", "no size here");
        apply_mark(&mut none, "Outputter", "Outputter:  ");
        assert_eq!(none, Marks::default());
    }
}
