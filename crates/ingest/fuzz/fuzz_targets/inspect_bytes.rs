//! Feeds arbitrary bytes to the PDF inspector: it must return Ok or Err,
//! never panic (lopdf panics are caught and become `Broken`), loop or blow
//! up memory.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = efir_ingest::pdf::inspect_bytes(data, "12345_Fuzz_sheet.pdf") {
        assert_eq!(info.page_boxes.len(), info.pages as usize);
        assert_eq!(info.colorants.len(), info.pages as usize);
        let plates: usize = info.colorants.iter().map(Vec::len).sum();
        assert_eq!(plates, info.plates as usize);
    }
});
