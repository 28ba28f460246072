//! Signa-like sample sheets for tests, examples and benchmarks: pages with
//! `HDAG_ColorantNames`, the `Outputter`, `Machine` and `Paper` marks as
//! `pssMO*` Form XObjects, and the MediaBox on the page tree.

use lopdf::{dictionary, Document, Object, Stream, StringFormat};

/// What a sample sheet holds.
#[derive(Debug, Clone)]
pub struct Sheet<'a> {
    /// Plate size in mm (the MediaBox).
    pub plate_mm: (f64, f64),
    /// Inks of each page (one page per entry).
    pub inks: Vec<Vec<&'a str>>,
    /// The `Outputter` mark, if any.
    pub outputter: Option<&'a str>,
    /// The `Machine` mark, if any.
    pub machine: Option<&'a str>,
    /// The `Paper` mark's size in mm, if any.
    pub paper_mm: Option<(f64, f64)>,
}

fn pt(mm: f64) -> Object {
    Object::Real((mm / 25.4 * 72.0) as f32)
}

fn lit(s: &str) -> Object {
    Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
}

/// The sheet as PDF bytes.
pub fn sheet(s: &Sheet<'_>) -> Vec<u8> {
    let mut doc = Document::with_version("1.6");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let mut marks = Vec::new();
    let texts = [
        ("Outputter", s.outputter.map(|o| format!("Outputter: {o}"))),
        ("Machine", s.machine.map(|m| format!("Machine: {m}"))),
        (
            "Paper",
            s.paper_mm.map(|(w, h)| format!("Paper: {w:.1} x {h:.1}")),
        ),
    ];
    for (creation, text) in texts {
        let Some(text) = text else { continue };
        marks.push(doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), 300.into(), 20.into()],
                "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
                "PieceInfo" => dictionary! {
                    "HDAG_SignaMarkInfo" => dictionary! {
                        "Private" => dictionary! { "CreationName" => lit(creation) },
                    },
                },
            },
            format!("BT /F1 8 Tf 2 2 Td ({text}) Tj ET").into_bytes(),
        )));
    }
    let mut kids = Vec::new();
    for inks in &s.inks {
        let mut xobjects = lopdf::Dictionary::new();
        let mut content = String::from("q 0.5 g 50 50 200 200 re f Q\n");
        for (k, id) in marks.iter().enumerate() {
            xobjects.set(format!("pssMO{}", k + 1), *id);
            content.push_str(&format!(
                "q 1 0 0 1 {} 20 cm /pssMO{} Do Q\n",
                200 * (k + 1),
                k + 1
            ));
        }
        let content = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let names: Vec<Object> = inks
            .iter()
            .map(|n| Object::Name(n.as_bytes().to_vec()))
            .collect();
        let page = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font }, "XObject" => xobjects },
            "PieceInfo" => dictionary! {
                "HDAG_COLORANT" => dictionary! {
                    "Private" => dictionary! { "HDAG_ColorantNames" => names },
                },
            },
        });
        kids.push(Object::Reference(page));
    }
    let (w, h) = s.plate_mm;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => s.inks.len() as i64,
            "MediaBox" => vec![0.into(), 0.into(), pt(w), pt(h)],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let info = doc.add_object(dictionary! { "Creator" => lit("PrinectSignaStation 2016") });
    doc.trailer.set("Info", info);
    let mut out = Vec::new();
    // Writing to memory fails only on allocation failure.
    let _ = doc.save_to(&mut out);
    out
}
