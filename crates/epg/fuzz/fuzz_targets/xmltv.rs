//! Feeds arbitrary bytes to the XMLTV reader: it must return Ok or Err,
//! never panic, loop or blow up memory.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = efir_epg::xmltv::Limits {
        max_text_bytes: 4096,
        max_items_per_programme: 64,
    };
    let mut reader = efir_epg::xmltv::XmltvReader::with_limits(data, limits);
    let mut n = 0usize;
    while let Ok(Some(_)) = reader.next_item() {
        n += 1;
        assert!(n <= data.len() + 1, "more items than bytes");
    }
    assert!(reader.position() <= data.len() as u64);
    let _ = efir_epg::xmltv::check(data);
});
