//! Config loading never panics, whatever the file holds: random mutations
//! of a valid file (bytes flipped, lines cut, garbage inserted) and random
//! environment values either load or give errors that name something.

use std::io::Write;

use efir_core::Config;

/// xorshift64*: deterministic, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEED_FILE: &str = r#"data_dir = "/var/lib/efir"
[server]
listen = "0.0.0.0:8080"
roles = ["api", "scheduler"]
[database]
url = "postgres://efir:secret@db/efir"
max_connections = 20
[log]
level = "info,efir_store=debug"
format = "json"
[statsd]
host = "127.0.0.1"
port = 8125
[[schedule]]
name = "nightly"
cron = "0 3 * * *"
timezone = "Europe/Moscow"
command = "flushall"
args = ["--json"]
"#;

const JUNK: &[&str] = &[
    "=",
    "[",
    "]",
    "\"",
    "[[schedule]]",
    "\n",
    "\u{0}",
    "é",
    "999999999999999999999",
    "-1",
    "true",
    "{}",
    "'''",
    "#",
    "x = 1",
    ".",
    "[database]",
    "\\u0000",
];

#[test]
fn mutated_files_never_panic() {
    let dir = std::env::temp_dir().join(format!("efir-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("efir.toml");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ok = 0;
    let mut errors = 0;
    for _ in 0..3000 {
        let mut text: Vec<u8> = SEED_FILE.as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            match rng.below(4) {
                0 if !text.is_empty() => {
                    let i = rng.below(text.len());
                    text[i] = (rng.next() & 0xff) as u8;
                }
                1 if !text.is_empty() => {
                    let i = rng.below(text.len());
                    let j = (i + rng.below(40)).min(text.len());
                    text.drain(i..j);
                }
                _ => {
                    let i = rng.below(text.len() + 1);
                    let junk = JUNK[rng.below(JUNK.len())].as_bytes();
                    text.splice(i..i, junk.iter().copied());
                }
            }
        }
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&text)
            .unwrap();
        match Config::load(Some(&path), Vec::new()) {
            Ok(_) => ok += 1,
            Err(e) => {
                errors += 1;
                assert!(!e.0.is_empty());
                for problem in &e.0 {
                    assert!(!problem.message.is_empty());
                    if let Some(line) = problem.line {
                        assert!(line >= 1 && line <= text.split(|b| *b == b'\n').count() + 1);
                    }
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        ok > 0 && errors > 0,
        "both outcomes exercised: {ok} ok, {errors} errors"
    );
}

#[test]
fn random_environment_values_never_panic() {
    let mut rng = Rng(42);
    let vars = [
        "EFIR_DATABASE_URL",
        "EFIR_DATABASE_MAX_CONNECTIONS",
        "EFIR_LISTEN",
        "EFIR_SERVER_ROLES",
        "EFIR_LOG_LEVEL",
        "EFIR_LOG_FORMAT",
        "EFIR_STATSD_PORT",
        "EFIR_METRICS_ENABLED",
        "EFIR_SENTRY_DSN",
        "EFIR_CACHE_REDIS_URL",
        "EFIR_DATA_DIR",
    ];
    for _ in 0..2000 {
        let var = vars[rng.below(vars.len())];
        let value: String = (0..rng.below(12))
            .map(|_| JUNK[rng.below(JUNK.len())])
            .collect();
        if let Err(e) = Config::load(None, vec![(var.to_string(), value)]) {
            assert!(
                e.to_string().starts_with(var) || e.0.iter().all(|p| p.key.is_some()),
                "{e}"
            );
        }
    }
}
