//! Parse-only benchmark: `cargo run --release -p efir-epg --example xmltv_check -- FILE`
//! reads a guide (plain, gzip or xz) and prints one JSON line with the
//! channels, programmes, skipped items, bytes, seconds and MB/s.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: xmltv_check FILE");
        return ExitCode::from(2);
    };
    let path = std::path::PathBuf::from(path);
    let input = match efir_epg::input::open_file(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let t = Instant::now();
    match efir_epg::xmltv::check(input) {
        Ok(s) => {
            let secs = t.elapsed().as_secs_f64();
            let line = serde_json::json!({
                "channels": s.channels,
                "programmes": s.programmes,
                "skipped": s.skipped.len(),
                "bytes": s.bytes,
                "seconds": (secs * 1000.0).round() / 1000.0,
                "mb_per_s": ((s.bytes as f64 / 1e6 / secs) * 10.0).round() / 10.0,
            });
            println!("{line}");
            for k in s.skipped.iter().take(10) {
                eprintln!("{k}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
