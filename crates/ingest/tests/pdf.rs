//! The PDF pre-press module against PDFs generated here with lopdf, and
//! page previews with the real `pdftoppm` (Debian poppler-utils).

use std::path::{Path, PathBuf};
use std::time::Duration;

use efir_ingest::pdf::{
    detect_outputter, detect_press, inspect, inspect_bytes, parse_name, preview, BoxMm, Marks,
    PaperMm, PdfError, PdfInfo, Press, PreviewOptions,
};
use lopdf::{dictionary, Dictionary, Document, Object, ObjectId, Stream, StringFormat};
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------
// Building Signa-like PDFs
// ---------------------------------------------------------------------------

fn mm(v: f64) -> Object {
    Object::Real((v / 25.4 * 72.0) as f32)
}

fn rect_mm(w: f64, h: f64) -> Object {
    Object::Array(vec![0.into(), 0.into(), mm(w), mm(h)])
}

fn lit(s: &str) -> Object {
    Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
}

fn utf16(s: &str) -> Object {
    let mut b = vec![0xFE, 0xFF];
    b.extend(s.encode_utf16().flat_map(u16::to_be_bytes));
    Object::String(b, StringFormat::Hexadecimal)
}

/// A ToUnicode CMap for a one-byte font whose 0xC0..=0xFF are Cyrillic
/// А..я (as in cp1251) and whose 0x20..=0x7E are ASCII.
const CP1251_TO_UNICODE: &str = "/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Test-UCS def
/CMapType 2 def
1 begincodespacerange
<00> <FF>
endcodespacerange
2 beginbfrange
<20> <7E> <0020>
<C0> <FF> <0410>
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end
";

/// Encodes text as cp1251 for the font above (only ASCII and А..я).
fn cp1251(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c as u32 {
            0x20..=0x7E => c as u8,
            0x410..=0x44F => (c as u32 - 0x410 + 0xC0) as u8,
            _ => b'?',
        })
        .collect()
}

/// Content of a mark drawing one string with /F1.
fn show(text: &[u8]) -> Vec<u8> {
    let mut c = b"BT /F1 8 Tf 2 2 Td <".to_vec();
    for b in text {
        c.extend(format!("{b:02X}").bytes());
    }
    c.extend(b"> Tj ET");
    c
}

struct Mark {
    xobject: &'static str,
    creation: &'static str,
    content: Vec<u8>,
}

struct Sheet {
    creator: Option<&'static str>,
    pages: usize,
    media_mm: (f64, f64),
    colorants: Vec<Vec<&'static str>>,
    marks: Vec<Mark>,
    /// Page-level /Rotate for each page (None: not set).
    rotate: Vec<Option<i64>>,
    pages_rotate: Option<i64>,
    compress: bool,
}

impl Default for Sheet {
    fn default() -> Self {
        Sheet {
            creator: Some("PrinectSignaStation 2016"),
            pages: 2,
            media_mm: (1030.0, 770.0),
            colorants: vec![
                vec!["Cyan", "Magenta", "Yellow", "Black"],
                vec!["PANTONE Warm Red C", "Black"],
            ],
            marks: vec![
                Mark {
                    xobject: "pssMO1",
                    creation: "Outputter",
                    content: show(b"Outputter: Vonoel"),
                },
                Mark {
                    xobject: "pssMO2",
                    creation: "Machine",
                    // TJ with a word gap and a kerning step.
                    content: b"BT /F1 8 Tf 2 2 Td [(Machine:) -400 (Speed) 20 (master)] TJ ET"
                        .to_vec(),
                },
                Mark {
                    xobject: "pssMO3",
                    creation: "Paper",
                    content: b"BT /F1 8 Tf 2 2 Td (Paper: ) Tj 40 0 Td (900,0 x 640.0) Tj ET"
                        .to_vec(),
                },
                // Not a mark (wrong name), must be ignored.
                Mark {
                    xobject: "Fm9",
                    creation: "Machine",
                    content: show(b"Machine: Wrong"),
                },
            ],
            rotate: vec![],
            pages_rotate: None,
            compress: true,
        }
    }
}

fn font(doc: &mut Document) -> ObjectId {
    let cmap = doc.add_object(Stream::new(
        dictionary! {},
        CP1251_TO_UNICODE.as_bytes().to_vec(),
    ));
    doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        // Without the ToUnicode CMap, Cyrillic would come out as Latin-1.
        "Encoding" => "WinAnsiEncoding",
        "ToUnicode" => cmap,
    })
}

fn build(sheet: &Sheet) -> Document {
    let mut doc = Document::with_version("1.6");
    let pages_id = doc.new_object_id();
    let font_id = font(&mut doc);

    let mut xobjects = Dictionary::new();
    for m in &sheet.marks {
        let form = Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), 200.into(), 20.into()],
                "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
                "PieceInfo" => dictionary! {
                    "HDAG_SignaMarkInfo" => dictionary! {
                        "LastModified" => lit("D:20160101000000"),
                        "Private" => dictionary! {
                            "CreationName" => lit(m.creation),
                            "SubType" => lit("Text"),
                        },
                    },
                },
            },
            m.content.clone(),
        );
        let id = doc.add_object(form);
        xobjects.set(m.xobject, id);
    }
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
        "XObject" => xobjects,
    });

    let mut draw = String::new();
    for (i, m) in sheet.marks.iter().enumerate() {
        draw.push_str(&format!(
            "q 1 0 0 1 {} 100 cm /{} Do Q\n",
            100 + 250 * i,
            m.xobject
        ));
    }
    let mut kids = Vec::new();
    for p in 0..sheet.pages {
        let content = doc.add_object(Stream::new(dictionary! {}, draw.clone().into_bytes()));
        let mut page = dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content,
            "Resources" => resources,
            "TrimBox" => Object::Array(vec![mm(10.0), mm(10.0), mm(910.0), mm(650.0)]),
        };
        if p == 0 {
            page.set("BleedBox", rect_mm(920.0, 660.0));
        }
        if let Some(names) = sheet.colorants.get(p) {
            let names: Vec<Object> = names
                .iter()
                .map(|n| Object::Name(n.as_bytes().to_vec()))
                .collect();
            page.set(
                "PieceInfo",
                dictionary! {
                    "HDAG_COLORANT" => dictionary! {
                        "LastModified" => lit("D:20160101000000"),
                        "Private" => dictionary! { "HDAG_ColorantNames" => names },
                    },
                },
            );
        }
        if let Some(Some(r)) = sheet.rotate.get(p) {
            page.set("Rotate", *r);
        }
        kids.push(doc.add_object(page).into());
    }
    let mut pages = dictionary! {
        "Type" => "Pages",
        "Kids" => kids,
        "Count" => sheet.pages as i64,
        // Inherited by every page.
        "MediaBox" => rect_mm(sheet.media_mm.0, sheet.media_mm.1),
        "CropBox" => rect_mm(sheet.media_mm.0, sheet.media_mm.1),
    };
    if let Some(r) = sheet.pages_rotate {
        pages.set("Rotate", r);
    }
    doc.objects.insert(pages_id, Object::Dictionary(pages));
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut info = dictionary! {
        "Producer" => lit("PDF Library 15.0"),
        "Title" => utf16("Заказ 123 «Журнал»"),
    };
    if let Some(c) = sheet.creator {
        info.set("Creator", lit(c));
    }
    let info = doc.add_object(info);
    doc.trailer.set("Info", info);
    if sheet.compress {
        doc.compress();
    }
    doc
}

fn bytes_of(mut doc: Document) -> Vec<u8> {
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save generated PDF");
    out
}

fn signa_bytes() -> Vec<u8> {
    bytes_of(build(&Sheet::default()))
}

fn plain_bytes() -> Vec<u8> {
    bytes_of(build(&Sheet {
        creator: Some("Adobe InDesign 18.0"),
        pages: 1,
        media_mm: (210.0, 297.0),
        colorants: vec![],
        marks: vec![],
        ..Sheet::default()
    }))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

fn mm_box(w: f64, h: f64) -> Option<BoxMm> {
    Some(BoxMm {
        width_mm: w,
        height_mm: h,
    })
}

// ---------------------------------------------------------------------------
// inspect
// ---------------------------------------------------------------------------

#[test]
fn signa_sheet_all_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "12345_Vonoel_Журнал 5.pdf", &signa_bytes());
    let info = inspect(&path).unwrap();

    assert_eq!(info.version, "1.6");
    assert_eq!(info.creator.as_deref(), Some("PrinectSignaStation 2016"));
    assert_eq!(info.producer.as_deref(), Some("PDF Library 15.0"));
    assert_eq!(info.title.as_deref(), Some("Заказ 123 «Журнал»"));
    assert!(info.signastation);
    assert_eq!(info.pages, 2);
    assert_eq!(info.page_boxes.len(), 2);
    for b in &info.page_boxes {
        assert_eq!(b.media, mm_box(1030.0, 770.0), "inherited MediaBox");
        assert_eq!(b.crop, mm_box(1030.0, 770.0), "inherited CropBox");
        assert_eq!(b.trim, mm_box(900.0, 640.0));
        assert_eq!(b.rotate, 0);
    }
    assert_eq!(info.page_boxes[0].bleed, mm_box(920.0, 660.0));
    assert_eq!(info.page_boxes[1].bleed, None);
    assert_eq!(
        info.colorants,
        vec![
            vec!["Cyan", "Magenta", "Yellow", "Black"],
            vec!["PANTONE Warm Red C", "Black"],
        ]
    );
    assert_eq!(info.plates, 6);
    assert_eq!(
        info.marks,
        Marks {
            outputter: Some("Vonoel".into()),
            machine: Some("Speedmaster".into()),
            paper: Some(PaperMm {
                width_mm: 900.0,
                height_mm: 640.0
            }),
        }
    );
    assert_eq!(info.paper, info.marks.paper);
    assert_eq!(info.order.as_deref(), Some("12345"));
    assert_eq!(info.order_name, "Vonoel_Журнал 5");

    // Serialises and reads back.
    let json = serde_json::to_string(&info).unwrap();
    let back: PdfInfo = serde_json::from_str(&json).unwrap();
    assert_eq!(back, info);

    // inspect_bytes gives the same, with the name it is told.
    let from_bytes = inspect_bytes(&signa_bytes(), "12345_Vonoel_Журнал 5.pdf").unwrap();
    assert_eq!(from_bytes, info);
}

#[test]
fn uncompressed_sheet_reads_the_same() {
    let info = inspect_bytes(
        &bytes_of(build(&Sheet {
            compress: false,
            ..Sheet::default()
        })),
        "x.pdf",
    )
    .unwrap();
    assert_eq!(info.plates, 6);
    assert_eq!(info.marks.machine.as_deref(), Some("Speedmaster"));
}

#[test]
fn old_single_mark_with_cyrillic_font() {
    let sheet = Sheet {
        creator: Some("PrinectSignaStation 15.00"),
        marks: vec![Mark {
            xobject: "pssMO7",
            creation: "tes_Outputter",
            content: show(&cp1251("Выведено: Vonoel Speedmaster 900.0 x 640.0")),
        }],
        ..Sheet::default()
    };
    let info = inspect_bytes(&bytes_of(build(&sheet)), "777_test.pdf").unwrap();
    assert_eq!(info.marks.outputter.as_deref(), Some("Vonoel"));
    assert_eq!(info.marks.machine.as_deref(), Some("Speedmaster"));
    assert_eq!(
        info.paper,
        Some(PaperMm {
            width_mm: 900.0,
            height_mm: 640.0
        })
    );
}

#[test]
fn cyrillic_mark_text_is_decoded_with_to_unicode() {
    let sheet = Sheet {
        marks: vec![Mark {
            xobject: "pssMO1",
            creation: "Outputter",
            content: show(&cp1251("Вывод: Типография")),
        }],
        ..Sheet::default()
    };
    let info = inspect_bytes(&bytes_of(build(&sheet)), "1.pdf").unwrap();
    assert_eq!(info.marks.outputter.as_deref(), Some("Типография"));
}

#[test]
fn non_signa_pdf_has_no_plates() {
    let info = inspect_bytes(&plain_bytes(), "flyer.pdf").unwrap();
    assert!(!info.signastation);
    assert_eq!(info.creator.as_deref(), Some("Adobe InDesign 18.0"));
    assert_eq!(info.pages, 1);
    assert_eq!(info.plates, 0);
    assert_eq!(info.colorants, vec![Vec::<String>::new()]);
    assert_eq!(info.marks, Marks::default());
    assert_eq!(info.paper, None);
    assert_eq!(info.page_boxes[0].media, mm_box(210.0, 297.0));
    assert_eq!(info.order, None);
    assert_eq!(info.order_name, "flyer");
}

#[test]
fn rotated_pages_swap_width_and_height() {
    let sheet = Sheet {
        pages: 4,
        media_mm: (210.0, 297.0),
        rotate: vec![Some(90), None, Some(-90), Some(180)],
        pages_rotate: Some(270),
        ..Sheet::default()
    };
    let info = inspect_bytes(&bytes_of(build(&sheet)), "r.pdf").unwrap();
    let got: Vec<_> = info
        .page_boxes
        .iter()
        .map(|b| (b.rotate, b.media, b.trim))
        .collect();
    assert_eq!(
        got,
        vec![
            (90, mm_box(297.0, 210.0), mm_box(640.0, 900.0)),
            (270, mm_box(297.0, 210.0), mm_box(640.0, 900.0)), // inherited /Rotate
            (270, mm_box(297.0, 210.0), mm_box(640.0, 900.0)), // -90
            (180, mm_box(210.0, 297.0), mm_box(900.0, 640.0)),
        ]
    );
}

fn assert_message(e: &PdfError, file: &str, words: &str) {
    let msg = e.to_string();
    assert!(msg.contains(file), "{msg:?} should name {file:?}");
    assert!(msg.contains(words), "{msg:?} should say {words:?}");
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "empty.pdf", b"");
    let e = inspect(&path).unwrap_err();
    assert!(matches!(e, PdfError::Empty { .. }), "{e:?}");
    assert_message(&e, "empty.pdf", "empty");
    assert!(matches!(
        inspect_bytes(b"", "e.pdf"),
        Err(PdfError::Empty { .. })
    ));
}

#[test]
fn text_file_is_not_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "notes.pdf", b"hello, this is not a PDF\n");
    let e = inspect(&path).unwrap_err();
    assert!(matches!(e, PdfError::NotPdf { .. }), "{e:?}");
    assert_message(&e, "notes.pdf", "not a PDF");
    // The header may start anywhere in the first 1024 bytes, not later.
    let mut late = vec![b' '; 1100];
    late.extend(signa_bytes());
    assert!(matches!(
        inspect_bytes(&late, "late.pdf"),
        Err(PdfError::NotPdf { .. })
    ));
}

#[test]
fn missing_file_is_io() {
    let dir = tempfile::tempdir().unwrap();
    let e = inspect(&dir.path().join("gone.pdf")).unwrap_err();
    assert!(matches!(e, PdfError::Io { .. }), "{e:?}");
    assert_message(&e, "gone.pdf", "No such file");
}

#[test]
fn truncated_pdf_is_broken() {
    let full = signa_bytes();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "cut.pdf", &full[..full.len() / 3]);
    let e = inspect(&path).unwrap_err();
    assert!(matches!(e, PdfError::Broken { .. }), "{e:?}");
    assert_message(&e, "cut.pdf", "broken PDF");
}

#[test]
fn garbage_after_header_is_broken() {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    let mut x: u32 = 12345;
    for _ in 0..5000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push((x >> 16) as u8);
    }
    let e = inspect_bytes(&bytes, "junk.pdf").unwrap_err();
    assert!(matches!(e, PdfError::Broken { .. }), "{e:?}");
    assert_message(&e, "junk.pdf", "broken PDF");
}

fn encrypted(user_password: &str) -> Vec<u8> {
    use lopdf::{EncryptionState, EncryptionVersion, Permissions};
    let mut doc = build(&Sheet {
        compress: false,
        ..Sheet::default()
    });
    let id = Object::String(b"0123456789abcdef".to_vec(), StringFormat::Hexadecimal);
    doc.trailer.set("ID", vec![id.clone(), id]);
    let state = EncryptionState::try_from(EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner-secret",
        user_password,
        key_length: 128,
        permissions: Permissions::PRINTABLE,
    })
    .unwrap();
    doc.encrypt(&state).unwrap();
    bytes_of(doc)
}

#[test]
fn encrypted_pdf_needs_a_password() {
    let e = inspect_bytes(&encrypted("user-secret"), "locked.pdf").unwrap_err();
    assert!(matches!(e, PdfError::Encrypted { .. }), "{e:?}");
    assert_message(&e, "locked.pdf", "encrypted");
}

#[test]
fn encrypted_with_empty_user_password_is_read() {
    // Owner-password-only files (print restrictions) open without a password.
    let info = inspect_bytes(&encrypted(""), "restricted.pdf").unwrap();
    assert_eq!(info.plates, 6);
    assert_eq!(info.creator.as_deref(), Some("PrinectSignaStation 2016"));
    assert_eq!(info.marks.outputter.as_deref(), Some("Vonoel"));
}

#[test]
fn file_names_with_spaces_quotes_and_cyrillic() {
    let dir = tempfile::tempdir().unwrap();
    let name = "0042_Vonoel_\"Буклет\" it's A4 .pdf";
    let path = write(dir.path(), name, &plain_bytes());
    let info = inspect(&path).unwrap();
    assert_eq!(info.order.as_deref(), Some("0042"));
    assert_eq!(info.order_name, "Vonoel_\"Буклет\" it's A4");

    let n = parse_name(name);
    assert_eq!(n.tokens, vec!["0042", "Vonoel", "\"Буклет\" it's A4"]);
    let n = parse_name("/in/hot folder/Журнал_Korol.final.PDF");
    assert_eq!(n.order, None);
    assert_eq!(n.tokens, vec!["Журнал", "Korol.final"]);
    assert_eq!(n.order_name, "Журнал_Korol.final");
    let n = parse_name("987.pdf");
    assert_eq!(
        (n.order.as_deref(), n.order_name.as_str()),
        (Some("987"), "987")
    );
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

fn presses() -> Vec<Press> {
    vec![
        Press {
            name: "Dominant".into(),
            plate_w_mm: 650.0,
            plate_h_mm: 550.0,
        },
        Press {
            name: "Planeta".into(),
            plate_w_mm: 900.0,
            plate_h_mm: 700.0,
        },
        Press {
            name: "Speedmaster".into(),
            // Other orientation and 0.6 mm off the 1030 x 770 sheet.
            plate_w_mm: 770.6,
            plate_h_mm: 1030.0,
        },
    ]
}

#[test]
fn press_by_machine_mark() {
    let mut info = inspect_bytes(&signa_bytes(), "1.pdf").unwrap();
    let presses = presses();
    info.marks.machine = Some("PLANETA".into());
    assert_eq!(
        detect_press(&info, &presses).map(|p| p.name.as_str()),
        Some("Planeta")
    );
}

#[test]
fn press_by_plate_size() {
    let mut info = inspect_bytes(&signa_bytes(), "1.pdf").unwrap();
    let mut presses = presses();
    // A mark naming no configured press falls back to the plate size.
    info.marks.machine = Some("Unknown".into());
    assert_eq!(
        detect_press(&info, &presses).map(|p| p.name.as_str()),
        Some("Speedmaster")
    );
    // More than 1 mm off: no press.
    presses[2].plate_w_mm = 772.0;
    assert_eq!(detect_press(&info, &presses), None);
}

#[test]
fn outputter_by_mark_and_by_name_token() {
    let outputters = vec!["VONOEL".to_string(), "Korol".to_string()];
    let signa = inspect_bytes(&signa_bytes(), "1_Korol_x.pdf").unwrap();
    // The mark wins over the name token, spelled as configured.
    assert_eq!(
        detect_outputter(&signa, "1_Korol_x.pdf", &outputters).as_deref(),
        Some("VONOEL")
    );
    let plain = inspect_bytes(&plain_bytes(), "555_korol_Flyer.pdf").unwrap();
    assert_eq!(
        detect_outputter(&plain, "555_korol_Flyer.pdf", &outputters).as_deref(),
        Some("Korol")
    );
    // A token must be a whole `_` part of the name.
    assert_eq!(
        detect_outputter(&plain, "555_Korolev_Flyer.pdf", &outputters),
        None
    );
}

// ---------------------------------------------------------------------------
// Preview with pdftoppm
// ---------------------------------------------------------------------------

fn jpegs_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn preview_renders_one_jpeg_per_page() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = write(dir.path(), "12 Журнал \"A\".pdf", &signa_bytes());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let opts = PreviewOptions {
        dpi: 10,
        ..PreviewOptions::default()
    };
    let pages = preview(&pdf, &out, &opts, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(pages, vec![out.join("page-1.jpg"), out.join("page-2.jpg")]);
    for p in &pages {
        let b = std::fs::read(p).unwrap();
        assert!(
            b.starts_with(&[0xFF, 0xD8, 0xFF]),
            "{} is not a JPEG",
            p.display()
        );
    }
    // Nothing else is left in the output directory.
    assert_eq!(jpegs_in(&out), vec!["page-1.jpg", "page-2.jpg"]);

    // A page range and a pixel size.
    let opts = PreviewOptions {
        first_page: 2,
        last_page: Some(2),
        scale_to: Some(175),
        prefix: "thumb".into(),
        ..PreviewOptions::default()
    };
    let pages = preview(&pdf, &out, &opts, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(pages, vec![out.join("thumb-2.jpg")]);
}

#[tokio::test]
async fn preview_of_a_broken_file_reports_pdftoppm_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = write(dir.path(), "bad.pdf", b"%PDF-1.4\nnothing here\n");
    let e = preview(
        &pdf,
        dir.path(),
        &PreviewOptions::default(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    match &e {
        PdfError::ToolFailed { stderr, .. } => assert!(!stderr.is_empty(), "{e}"),
        other => panic!("expected ToolFailed, got {other:?}"),
    }
    assert_message(&e, "bad.pdf", "pdftoppm failed");
    // The temporary directory is gone.
    assert_eq!(jpegs_in(dir.path()), vec!["bad.pdf"]);
}

#[test]
fn preview_options_defaults_and_validation() {
    let o: PreviewOptions = serde_json::from_str("{}").unwrap();
    assert_eq!(o, PreviewOptions::default());
    assert_eq!((o.dpi, o.first_page, o.prefix.as_str()), (72, 1, "page"));
    assert!(serde_json::from_str::<PreviewOptions>(r#"{"dpi": 100, "dip": 3}"#).is_err());
    let bad = [
        PreviewOptions {
            dpi: 0,
            ..PreviewOptions::default()
        },
        PreviewOptions {
            dpi: 1201,
            ..PreviewOptions::default()
        },
        PreviewOptions {
            first_page: 0,
            ..PreviewOptions::default()
        },
        PreviewOptions {
            first_page: 3,
            last_page: Some(2),
            ..PreviewOptions::default()
        },
        PreviewOptions {
            scale_to: Some(0),
            ..PreviewOptions::default()
        },
        PreviewOptions {
            prefix: "../x".into(),
            ..PreviewOptions::default()
        },
        PreviewOptions {
            prefix: String::new(),
            ..PreviewOptions::default()
        },
    ];
    for o in bad {
        assert!(
            matches!(o.validate(), Err(PdfError::InvalidOptions(_))),
            "{o:?}"
        );
    }
    assert!(PreviewOptions::default().validate().is_ok());
}

/// Whether a process whose command line mentions `needle` is running.
fn process_mentions(needle: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(|e| e.ok()).any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(needle))
            .unwrap_or(false)
    })
}

#[tokio::test]
async fn preview_cancel_kills_pdftoppm() {
    let dir = tempfile::tempdir().unwrap();
    let many = bytes_of(build(&Sheet {
        pages: 150,
        media_mm: (210.0, 297.0),
        colorants: vec![],
        ..Sheet::default()
    }));
    let pdf = write(dir.path(), "many.pdf", &many);
    let out = dir.path().join("cancel-out");
    std::fs::create_dir(&out).unwrap();
    let cancel = CancellationToken::new();
    let opts = PreviewOptions {
        dpi: 150,
        ..PreviewOptions::default()
    };
    let task = {
        let (pdf, out, cancel) = (pdf.clone(), out.clone(), cancel.clone());
        tokio::spawn(async move { preview(&pdf, &out, &opts, &cancel).await })
    };
    // Wait until pdftoppm has written its first page, then cancel.
    let mut started = false;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tmp = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().starts_with(".pdftoppm-"));
        if let Some(tmp) = tmp {
            if std::fs::read_dir(tmp.path())
                .map(|d| d.count() > 0)
                .unwrap_or(false)
            {
                started = true;
                break;
            }
        }
    }
    assert!(started, "pdftoppm never wrote a page");
    assert!(process_mentions(&out.display().to_string()));
    cancel.cancel();
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, PdfError::Cancelled { .. }), "{e:?}");
    assert_message(&e, "many.pdf", "cancelled");
    assert!(
        !process_mentions(&out.display().to_string()),
        "pdftoppm still running"
    );
    assert!(
        jpegs_in(&out).is_empty(),
        "left behind: {:?}",
        jpegs_in(&out)
    );
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn seeded_mutations_never_panic() {
    // Uncompressed, so mutations hit the objects, not only deflate data.
    let base = bytes_of(build(&Sheet {
        compress: false,
        ..Sheet::default()
    }));
    let tokens: [&[u8]; 10] = [
        b"<<",
        b">>",
        b"[",
        b"]",
        b" 0 R",
        b"/Kids",
        b"(",
        b"\\",
        b"stream\n",
        b"-99999999999",
    ];
    let mut rng = Rng(0x5eed_0000_0000_0bdf_u64);
    let (mut ok, mut err, mut crashed) = (0, 0, 0);
    for _ in 0..3000 {
        let mut d = base.clone();
        for _ in 0..1 + rng.below(4) {
            let len = d.len();
            match rng.below(6) {
                0 => {
                    let i = rng.below(len);
                    d[i] ^= 1 << rng.below(8);
                }
                1 => d.truncate(rng.below(len)),
                2 => {
                    let a = rng.below(len);
                    let b = (a + rng.below(100)).min(len);
                    d.drain(a..b);
                }
                3 => {
                    let a = rng.below(len);
                    let b = (a + rng.below(300)).min(len);
                    let copy = d[a..b].to_vec();
                    let at = rng.below(len);
                    d.splice(at..at, copy);
                }
                4 => {
                    let at = rng.below(len);
                    let t = tokens[rng.below(tokens.len())];
                    d.splice(at..at, t.iter().copied());
                }
                _ => {
                    let i = rng.below(len);
                    d[i] = rng.next() as u8;
                }
            }
            if d.is_empty() {
                break;
            }
        }
        match inspect_bytes(&d, "m.pdf") {
            Ok(_) => ok += 1,
            Err(PdfError::Broken { reason, .. }) if reason.contains("crashed") => crashed += 1,
            Err(_) => err += 1,
        }
    }
    eprintln!("mutations: {ok} ok, {err} errors, {crashed} parser panics caught");
    assert!(
        ok > 0 && err + crashed > 0,
        "mutations should both pass and fail"
    );
}
