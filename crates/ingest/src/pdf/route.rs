//! Routing: which press a sheet is for, and which outputter makes its plates.

use serde::{Deserialize, Serialize};

use super::name::parse_name;
use super::PdfInfo;

/// A printing press, as far as routing needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Press {
    /// The press name; the Signa `Machine` mark names the press with it.
    pub name: String,
    /// Plate width in mm.
    pub plate_w_mm: f64,
    /// Plate height in mm.
    pub plate_h_mm: f64,
}

/// How far a page size may be from a plate size and still match, in mm.
const PLATE_TOLERANCE_MM: f64 = 1.0;

fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// The press the sheet is for: the one the `Machine` mark names
/// (case-insensitive), else the first whose plate size equals the first
/// page's MediaBox within 1 mm, in either orientation.
pub fn detect_press<'a>(info: &PdfInfo, presses: &'a [Press]) -> Option<&'a Press> {
    if let Some(machine) = &info.marks.machine {
        if let Some(p) = presses.iter().find(|p| same_name(&p.name, machine)) {
            return Some(p);
        }
    }
    let media = info.page_boxes.first()?.media?;
    let close = |a: f64, b: f64| (a - b).abs() <= PLATE_TOLERANCE_MM;
    presses.iter().find(|p| {
        (close(media.width_mm, p.plate_w_mm) && close(media.height_mm, p.plate_h_mm))
            || (close(media.width_mm, p.plate_h_mm) && close(media.height_mm, p.plate_w_mm))
    })
}

/// The outputter (CtP bureau) of the sheet, spelled as in `outputters`:
/// the one the `Outputter` mark names, else the first `_`-separated token
/// of `file_name` equal to one of them (both case-insensitive). Names not
/// in `outputters` are never returned.
pub fn detect_outputter(info: &PdfInfo, file_name: &str, outputters: &[String]) -> Option<String> {
    if let Some(mark) = &info.marks.outputter {
        if let Some(o) = outputters.iter().find(|o| same_name(o, mark)) {
            return Some(o.clone());
        }
    }
    parse_name(file_name)
        .tokens
        .iter()
        .find_map(|t| outputters.iter().find(|o| same_name(o, t)))
        .cloned()
}
