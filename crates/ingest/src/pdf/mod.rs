//! PDF pre-press analysis (`pdf-inspect`) and page previews (`pdf-preview`).
//!
//! This is the Rust port of the analysis half of pdfupload: for an imposed
//! sheet PDF written by Heidelberg Prinect Signa Station it reads the
//! document information, the page (plate) sizes, the colorants Signa
//! records per page (and so the number of printing plates), and the text of
//! the Signa marks that name the outputter (CtP bureau), the press and the
//! paper. [`detect_press`] and [`detect_outputter`] turn that into routing
//! decisions, and [`preview`] renders pages to JPEG with poppler's
//! `pdftoppm`.
//!
//! [`inspect`] and [`inspect_bytes`] are synchronous and CPU-bound: call
//! them from `tokio::task::spawn_blocking`. They never panic on bad input: a
//! panic inside the PDF parser becomes [`PdfError::Broken`].

use serde::{Deserialize, Serialize};

mod inspect;
mod marks;
mod name;
mod preview;
mod route;
pub mod sample;

pub use inspect::{inspect, inspect_bytes};
pub use name::{parse_name, NameInfo};
pub use preview::{preview, PreviewOptions};
pub use route::{detect_outputter, detect_press, Press};

/// Why a PDF could not be inspected or previewed.
///
/// Every message names the file, so it can be shown to operators as is.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The file has zero bytes.
    #[error("{file}: the file is empty (0 bytes)")]
    Empty {
        /// The file, as given.
        file: String,
    },
    /// The first 1024 bytes hold no `%PDF-` header.
    #[error("{file}: not a PDF file (no %PDF- header in the first 1024 bytes)")]
    NotPdf {
        /// The file, as given.
        file: String,
    },
    /// The PDF is encrypted and cannot be opened without a password.
    #[error("{file}: the PDF is encrypted and cannot be opened without a password")]
    Encrypted {
        /// The file, as given.
        file: String,
    },
    /// The PDF could not be parsed (the parser's message, or a crash of it).
    #[error("{file}: broken PDF: {reason}")]
    Broken {
        /// The file, as given.
        file: String,
        /// What the parser reported.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{file}: {source}")]
    Io {
        /// The file or directory concerned.
        file: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Preview options out of range.
    #[error("invalid preview options: {0}")]
    InvalidOptions(String),
    /// An external tool (`pdftoppm`) could not be started.
    #[error("cannot run {tool} (is poppler-utils installed?): {source}")]
    ToolMissing {
        /// The program name.
        tool: &'static str,
        /// The error from spawning it.
        #[source]
        source: std::io::Error,
    },
    /// An external tool failed; `stderr` is its (possibly shortened) error output.
    #[error("{file}: {tool} failed ({status}): {stderr}")]
    ToolFailed {
        /// The PDF being rendered.
        file: String,
        /// The program name.
        tool: &'static str,
        /// Its exit status, or what else went wrong.
        status: String,
        /// Its standard error output, trimmed.
        stderr: String,
    },
    /// The work was cancelled and the tool killed.
    #[error("{file}: cancelled")]
    Cancelled {
        /// The PDF being processed.
        file: String,
    },
}

/// A width and height in millimetres, rounded to 0.1 mm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoxMm {
    /// Width in mm.
    pub width_mm: f64,
    /// Height in mm.
    pub height_mm: f64,
}

/// A paper size in millimetres, as written in the Signa `Paper` mark.
pub type PaperMm = BoxMm;

/// The page boxes of one page, in millimetres.
///
/// MediaBox and CropBox are inherited from the page tree; all boxes are
/// given as displayed, i.e. width and height swapped when the page is
/// rotated by 90 or 270 degrees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageBoxes {
    /// MediaBox (the plate, for Signa sheets).
    pub media: Option<BoxMm>,
    /// CropBox.
    pub crop: Option<BoxMm>,
    /// TrimBox.
    pub trim: Option<BoxMm>,
    /// BleedBox.
    pub bleed: Option<BoxMm>,
    /// The page's /Rotate, normalised to 0, 90, 180 or 270.
    pub rotate: u16,
}

/// What the Signa marks say (the first value found, pages in order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Marks {
    /// The outputter (CtP bureau) named by the `Outputter` mark.
    pub outputter: Option<String>,
    /// The press named by the `Machine` mark.
    pub machine: Option<String>,
    /// The paper size from the `Paper` mark.
    pub paper: Option<PaperMm>,
}

/// Everything `pdf-inspect` reports about one PDF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdfInfo {
    /// The PDF version from the header, e.g. `1.4`.
    pub version: String,
    /// /Info /Creator.
    pub creator: Option<String>,
    /// /Info /Producer.
    pub producer: Option<String>,
    /// /Info /Title.
    pub title: Option<String>,
    /// Number of pages (Signa: one page per plate set).
    pub pages: u32,
    /// Page boxes, one entry per page.
    pub page_boxes: Vec<PageBoxes>,
    /// Colorant names per page from `/PieceInfo/HDAG_COLORANT` (empty when absent).
    pub colorants: Vec<Vec<String>>,
    /// Printing plates: the colorant counts summed over all pages (0 when absent).
    pub plates: u32,
    /// Whether /Creator names Prinect Signa Station.
    pub signastation: bool,
    /// The text of the Signa marks.
    pub marks: Marks,
    /// The paper size (from the `Paper` mark).
    pub paper: Option<PaperMm>,
    /// The order number: the leading digits of the file name.
    pub order: Option<String>,
    /// The order name (see [`NameInfo::order_name`]).
    pub order_name: String,
}
