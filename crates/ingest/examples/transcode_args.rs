//! Prints the exact ffmpeg command line a `transcode` step runs, one
//! argument per line, so a benchmark can run the same command directly.
//!
//! `transcode_args PROFILE.toml INPUT OUT_DIR [--no-audio]`, where the TOML
//! file holds the step's parameters (`profile = "archive"`, …).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [profile, input, out_dir, rest @ ..] = args.as_slice() else {
        eprintln!("usage: transcode_args PROFILE.toml INPUT OUT_DIR [--no-audio]");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(profile) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{profile}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let profile: efir_ingest::media::TranscodeProfile = match toml::from_str(&text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{profile}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let has_audio = !rest.iter().any(|a| a == "--no-audio");
    match efir_ingest::media::transcode_args(
        &profile,
        Path::new(input),
        Path::new(out_dir),
        has_audio,
    ) {
        Ok(argv) => {
            for a in argv {
                println!("{}", a.to_string_lossy());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
