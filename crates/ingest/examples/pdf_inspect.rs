//! `pdf_inspect FILE...` prints one JSON line per file: `{"file", "info"}`,
//! or `{"file", "error"}` for a file that cannot be inspected (the exit
//! status is then 1).
//!
//! `pdf_inspect --generate DIR N` writes N Signa-like sample PDFs (1–16
//! pages, 50 KB–2 MB, some with embedded image data) for the benchmark in
//! `bench/pdf_inspect.sh`.

use std::path::Path;
use std::process::ExitCode;

use efir_ingest::pdf::inspect;
use lopdf::{dictionary, Dictionary, Document, Object, Stream, StringFormat};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("-h" | "--help") => {
            eprintln!("usage: pdf_inspect FILE...\n       pdf_inspect --generate DIR N");
            ExitCode::from(2)
        }
        Some("--generate") => {
            let (Some(dir), Some(Ok(n))) = (args.get(1), args.get(2).map(|n| n.parse::<usize>()))
            else {
                eprintln!("usage: pdf_inspect --generate DIR N");
                return ExitCode::from(2);
            };
            match generate(Path::new(dir), n) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pdf_inspect: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(_) => {
            let mut failed = false;
            for file in &args {
                let line = match inspect(Path::new(file)) {
                    Ok(info) => serde_json::json!({ "file": file, "info": info }),
                    Err(e) => {
                        failed = true;
                        serde_json::json!({ "file": file, "error": e.to_string() })
                    }
                };
                println!("{line}");
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

/// A small deterministic generator (splitmix64), so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

const OUTPUTTERS: [&str; 3] = ["Vonoel", "Korol", "Leonov"];
const PRESSES: [(&str, f64, f64); 3] = [
    ("Speedmaster", 1030.0, 770.0),
    ("Dominant", 650.0, 550.0),
    ("Planeta", 900.0, 700.0),
];
const INKS: [&str; 7] = [
    "Cyan",
    "Magenta",
    "Yellow",
    "Black",
    "PANTONE Warm Red C",
    "PANTONE 286 C",
    "Varnish",
];

fn generate(dir: &Path, n: usize) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut rng = Rng(0x00ef_1200_0000_0001);
    for i in 0..n {
        let pages = rng.range(1, 16);
        // Half the files carry image data, so sizes spread over 50 KB–2 MB.
        let target = if i % 2 == 0 {
            rng.range(50_000, 2_000_000)
        } else {
            rng.range(60_000, 200_000)
        };
        let outputter = OUTPUTTERS[rng.range(0, OUTPUTTERS.len() - 1)];
        let press = PRESSES[rng.range(0, PRESSES.len() - 1)];
        let mut doc = sheet(&mut rng, pages, press, outputter, target);
        let path = dir.join(format!("{}_{outputter}_sample-{i:04}.pdf", 10_000 + i));
        doc.save(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn pt(mm: f64) -> Object {
    Object::Real((mm / 25.4 * 72.0) as f32)
}

fn lit(s: &str) -> Object {
    Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
}

fn mark(doc: &mut Document, font: lopdf::ObjectId, creation: &str, text: &str) -> lopdf::ObjectId {
    let content = format!("BT /F1 8 Tf 2 2 Td ({text}) Tj ET");
    doc.add_object(Stream::new(
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
        content.into_bytes(),
    ))
}

fn sheet(
    rng: &mut Rng,
    pages: usize,
    (press, w, h): (&str, f64, f64),
    outputter: &str,
    target_bytes: usize,
) -> Document {
    let mut doc = Document::with_version("1.6");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let marks = [
        mark(
            &mut doc,
            font,
            "Outputter",
            &format!("Outputter: {outputter}"),
        ),
        mark(&mut doc, font, "Machine", &format!("Machine: {press}")),
        mark(
            &mut doc,
            font,
            "Paper",
            &format!("Paper: {:.1} x {:.1}", w - 40.0, h - 30.0),
        ),
    ];
    let per_page = target_bytes / pages;
    let mut kids = Vec::with_capacity(pages);
    for _ in 0..pages {
        let mut xobjects = Dictionary::new();
        for (k, id) in marks.iter().enumerate() {
            xobjects.set(format!("pssMO{}", k + 1), *id);
        }
        // Compressible vector artwork plus incompressible image samples.
        let mut art = String::new();
        for _ in 0..(per_page / 400).min(4000) {
            let (x, y) = (rng.range(0, 2800), rng.range(0, 2100));
            art.push_str(&format!(
                "{} {} {} {} re f\n",
                x,
                y,
                rng.range(5, 90),
                rng.range(5, 90)
            ));
        }
        let side = ((per_page * 9 / 10) as f64).sqrt() as usize;
        let samples: Vec<u8> = (0..side * side).map(|_| rng.next() as u8).collect();
        let image = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image",
                "Width" => side as i64, "Height" => side as i64,
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            },
            samples,
        ));
        xobjects.set("Im1", image);
        let mut content = format!("q 0.5 g\n{art}Q\nq 400 0 0 400 100 100 cm /Im1 Do Q\n");
        for k in 1..=3 {
            content.push_str(&format!("q 1 0 0 1 {} 20 cm /pssMO{k} Do Q\n", 200 * k));
        }
        let mut content = Stream::new(dictionary! {}, content.into_bytes());
        // Compression failure only makes the file bigger.
        let _ = content.compress();
        let content = doc.add_object(content);
        let inks: Vec<Object> = (0..rng.range(1, 6))
            .map(|_| Object::Name(INKS[rng.range(0, INKS.len() - 1)].as_bytes().to_vec()))
            .collect();
        let page = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font }, "XObject" => xobjects },
            "TrimBox" => vec![pt(20.0), pt(15.0), pt(w - 20.0), pt(h - 15.0)],
            "PieceInfo" => dictionary! {
                "HDAG_COLORANT" => dictionary! {
                    "Private" => dictionary! { "HDAG_ColorantNames" => inks },
                },
            },
        });
        kids.push(Object::Reference(page));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => pages as i64,
            "MediaBox" => vec![0.into(), 0.into(), pt(w), pt(h)],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let info = doc.add_object(dictionary! {
        "Creator" => lit("PrinectSignaStation 2016"),
        "Producer" => lit("PDF Library 15.0"),
        "Title" => lit("Sample sheet"),
    });
    doc.trailer.set("Info", info);
    doc
}
