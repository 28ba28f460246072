//! Reading a PDF with lopdf: document information, page boxes, colorants.

use std::collections::HashSet;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use super::marks::page_marks;
use super::name::parse_name;
use super::{BoxMm, Marks, PageBoxes, PdfError, PdfInfo};

/// How far into the file the `%PDF-` header may start.
const HEADER_WINDOW: usize = 1024;

/// Bound on any stream lopdf decompresses while loading (object and xref streams).
const MAX_DECOMPRESSED: usize = 256 * 1024 * 1024;

/// Bound on the depth of the page tree walked for inherited attributes.
const MAX_TREE_DEPTH: usize = 64;

/// Inspects the PDF file at `path` (synchronous: call it from `spawn_blocking`).
///
/// The order number and name come from the file's name.
pub fn inspect(path: &Path) -> Result<PdfInfo, PdfError> {
    let file = path.display().to_string();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let io = |source| PdfError::Io {
        file: file.clone(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    // Look at the head first, so a large non-PDF file is not read whole.
    let mut bytes = Vec::with_capacity(HEADER_WINDOW);
    (&mut f)
        .take(HEADER_WINDOW as u64)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    check_header(&bytes, &file)?;
    f.read_to_end(&mut bytes).map_err(io)?;
    analyse(&bytes, &file, &file_name)
}

/// Inspects a PDF held in memory; `file_name` names it in errors and gives
/// the order number and name.
pub fn inspect_bytes(bytes: &[u8], file_name: &str) -> Result<PdfInfo, PdfError> {
    check_header(bytes, file_name)?;
    analyse(bytes, file_name, file_name)
}

fn check_header(bytes: &[u8], file: &str) -> Result<(), PdfError> {
    if bytes.is_empty() {
        return Err(PdfError::Empty { file: file.into() });
    }
    let head = &bytes[..bytes.len().min(HEADER_WINDOW)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfError::NotPdf { file: file.into() });
    }
    Ok(())
}

fn analyse(bytes: &[u8], file: &str, file_name: &str) -> Result<PdfInfo, PdfError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        analyse_unguarded(bytes, file, file_name)
    }));
    match outcome {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(PdfError::Broken {
                file: file.into(),
                reason: format!("the PDF parser crashed: {what}"),
            })
        }
    }
}

fn analyse_unguarded(bytes: &[u8], file: &str, file_name: &str) -> Result<PdfInfo, PdfError> {
    let broken = |reason: String| PdfError::Broken {
        file: file.into(),
        reason,
    };
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_DECOMPRESSED),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(doc) => doc,
        Err(
            lopdf::Error::Decryption(_)
            | lopdf::Error::InvalidPassword
            | lopdf::Error::AlreadyEncrypted,
        ) => return Err(PdfError::Encrypted { file: file.into() }),
        Err(e) => return Err(broken(error_text(&e))),
    };
    // lopdf opens files with an empty user password itself and then drops
    // /Encrypt from the trailer; one that is still there needs a password.
    if doc.trailer.has(b"Encrypt") {
        return Err(PdfError::Encrypted { file: file.into() });
    }

    let page_ids: Vec<ObjectId> = doc.get_pages().into_values().collect();
    if page_ids.is_empty() {
        return Err(broken("no pages found".into()));
    }
    // Fewer pages than declared means lost pages (and a wrong plate count);
    // more is only a wrong /Count.
    if let Some(declared) = declared_page_count(&doc) {
        if declared > page_ids.len() as i64 {
            return Err(broken(format!(
                "the page tree declares {declared} pages but only {} were found",
                page_ids.len()
            )));
        }
    }
    let pages = u32::try_from(page_ids.len()).map_err(|_| broken("too many pages".into()))?;

    let info = info_dict(&doc);
    let info_text = |key: &[u8]| info.and_then(|d| text_entry(&doc, d, key));
    let creator = info_text(b"Creator");
    let producer = info_text(b"Producer");
    let title = info_text(b"Title");

    let mut page_boxes = Vec::with_capacity(page_ids.len());
    let mut colorants = Vec::with_capacity(page_ids.len());
    let mut marks = Marks::default();
    for &id in &page_ids {
        let Ok(page) = doc.get_dictionary(id) else {
            return Err(broken(format!("page object {} {} is missing", id.0, id.1)));
        };
        page_boxes.push(boxes(&doc, page));
        colorants.push(page_colorants(&doc, page));
        page_marks(&doc, page, &mut marks);
    }
    let plates = colorants.iter().map(|c| c.len() as u32).sum();
    let signastation = creator
        .as_deref()
        .is_some_and(|c| c.to_ascii_lowercase().contains("prinectsignastation"));
    let name = parse_name(file_name);
    Ok(PdfInfo {
        version: doc.version.clone(),
        creator,
        producer,
        title,
        pages,
        page_boxes,
        colorants,
        plates,
        signastation,
        paper: marks.paper,
        marks,
        order: name.order,
        order_name: name.order_name,
    })
}

/// lopdf's error with its source chain, in one line.
fn error_text(e: &lopdf::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// /Count of the root /Pages node, when readable.
fn declared_page_count(doc: &Document) -> Option<i64> {
    let catalog = doc.catalog().ok()?;
    let pages = deref(doc, catalog.get(b"Pages").ok()?)?.as_dict().ok()?;
    deref(doc, pages.get(b"Count").ok()?)?.as_i64().ok()
}

/// Follows references (a bounded number of hops).
pub(super) fn deref<'a>(doc: &'a Document, mut obj: &'a Object) -> Option<&'a Object> {
    for _ in 0..32 {
        match obj {
            Object::Reference(id) => obj = doc.get_object(*id).ok()?,
            other => return Some(other),
        }
    }
    None
}

/// `dict[key]` as a dictionary (the dictionary of a stream too), references followed.
pub(super) fn dict_entry<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Dictionary> {
    match deref(doc, dict.get(key).ok()?)? {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// Follows a path of keys through nested dictionaries.
pub(super) fn dict_path<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    path: &[&[u8]],
) -> Option<&'a Object> {
    let (last, init) = path.split_last()?;
    let mut cur = dict;
    for key in init {
        cur = dict_entry(doc, cur, key)?;
    }
    deref(doc, cur.get(last).ok()?)
}

fn info_dict(doc: &Document) -> Option<&Dictionary> {
    dict_entry(doc, &doc.trailer, b"Info")
}

/// A text string entry (PDFDocEncoding, or UTF-16BE/UTF-8 with a BOM), trimmed; None when empty.
fn text_entry(doc: &Document, dict: &Dictionary, key: &[u8]) -> Option<String> {
    let obj = deref(doc, dict.get(key).ok()?)?;
    let text = text_of(obj)?;
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!text.is_empty()).then(|| text.to_string())
}

/// Decodes a string or name object as text.
pub(super) fn text_of(obj: &Object) -> Option<String> {
    match obj {
        Object::String(bytes, _) => Some(match lopdf::decode_text_string(obj) {
            Ok(s) => s,
            Err(_) if bytes.starts_with(b"\xFE\xFF") => {
                let units = bytes[2..]
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]));
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect()
            }
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }),
        Object::Name(bytes) => Some(match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            Err(_) => bytes.iter().map(|&b| b as char).collect(),
        }),
        _ => None,
    }
}

/// An attribute of the page, or of the nearest ancestor in the page tree that has it.
pub(super) fn inherited<'a>(
    doc: &'a Document,
    page: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Object> {
    let mut node = page;
    let mut seen = HashSet::new();
    for _ in 0..MAX_TREE_DEPTH {
        if let Ok(value) = node.get(key) {
            return deref(doc, value);
        }
        let parent = node.get(b"Parent").ok()?;
        if let Object::Reference(id) = parent {
            if !seen.insert(*id) {
                return None;
            }
        }
        node = deref(doc, parent)?.as_dict().ok()?;
    }
    None
}

fn boxes(doc: &Document, page: &Dictionary) -> PageBoxes {
    let rotate = match inherited(doc, page, b"Rotate").and_then(|o| o.as_i64().ok()) {
        Some(r) => match r.rem_euclid(360) {
            r @ (90 | 180 | 270) => r as u16,
            _ => 0,
        },
        None => 0,
    };
    let swap = rotate == 90 || rotate == 270;
    let media = inherited(doc, page, b"MediaBox").and_then(|o| box_mm(doc, o, swap));
    let crop = inherited(doc, page, b"CropBox").and_then(|o| box_mm(doc, o, swap));
    let own = |key: &[u8]| {
        page.get(key)
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| box_mm(doc, o, swap))
    };
    PageBoxes {
        media,
        crop,
        trim: own(b"TrimBox"),
        bleed: own(b"BleedBox"),
        rotate,
    }
}

/// Points to millimetres, rounded to 0.1 mm.
pub(super) fn pt_to_mm(pt: f64) -> f64 {
    round1(pt * 25.4 / 72.0)
}

/// Rounds to one decimal.
pub(super) fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn box_mm(doc: &Document, obj: &Object, swap: bool) -> Option<BoxMm> {
    let arr = obj.as_array().ok()?;
    if arr.len() != 4 {
        return None;
    }
    let mut v = [0f64; 4];
    for (slot, o) in v.iter_mut().zip(arr) {
        *slot = f64::from(deref(doc, o)?.as_float().ok()?);
    }
    let w = pt_to_mm((v[2] - v[0]).abs());
    let h = pt_to_mm((v[3] - v[1]).abs());
    if !w.is_finite() || !h.is_finite() {
        return None;
    }
    Some(if swap {
        BoxMm {
            width_mm: h,
            height_mm: w,
        }
    } else {
        BoxMm {
            width_mm: w,
            height_mm: h,
        }
    })
}

/// `/PieceInfo/HDAG_COLORANT/Private/HDAG_ColorantNames` of a page.
fn page_colorants(doc: &Document, page: &Dictionary) -> Vec<String> {
    let path: [&[u8]; 4] = [
        b"PieceInfo",
        b"HDAG_COLORANT",
        b"Private",
        b"HDAG_ColorantNames",
    ];
    let Some(Object::Array(names)) = dict_path(doc, page, &path) else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|o| deref(doc, o).and_then(text_of))
        .collect()
}
