//! `efir-load`: a realistic day of an IPTV service against Efir.
//!
//! ```text
//! efir-load xmltv --channels 100 --out guide.xml      # a guide to import
//! efir-load seed  --api URL --router URL ... --subscribers 3000
//! efir-load run   --api URL --router URL ... --subscribers 3000 --seconds 60
//! ```
//!
//! `run` replays `scenarios/day.toml` (or `--scenario FILE`): arrivals at a
//! fixed rate per phase of the day (open model), each one a device API call
//! or a zap (stream URL, then the CDN router's 302), and prints latency
//! percentiles and errors per action. See bench/load/run.sh and
//! docs/operations.md.

mod api;
mod report;
mod run;
mod scenario;
mod seed;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "efir-load",
    version,
    about = "Load generator for Efir: a realistic day at a fixed arrival rate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write an XMLTV guide for the load test's channels.
    Xmltv {
        /// Number of channels.
        #[arg(long, default_value_t = 100)]
        channels: usize,
        /// Programmes from this many hours ago to this many hours ahead.
        #[arg(long, default_value_t = 24)]
        hours: u64,
        /// Length of each programme in minutes.
        #[arg(long, default_value_t = 30)]
        slot_minutes: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Put the operator's channels in a tariff and create subscribers
    /// through the Billing and Content APIs.
    Seed {
        #[command(flatten)]
        target: TargetArgs,
        /// Subscribers to create (abonement 700000 + i, password load-i).
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Calls in flight while seeding.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Replay a day and report latency percentiles and errors.
    Run {
        #[command(flatten)]
        target: TargetArgs,
        /// Scenario file (default: the built-in day).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Length of the whole day in seconds.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Arrivals per second at the peak (overrides the scenario).
        #[arg(long)]
        rate: Option<f64>,
        /// Subscribers that exist (as seeded).
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Boxes logged in before the day starts.
        #[arg(long, default_value_t = 200)]
        sessions: usize,
        /// Also write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Exit non-zero when the error rate (errors + dropped) exceeds
        /// this fraction.
        #[arg(long, default_value_t = 0.001)]
        max_error_rate: f64,
    },
}

#[derive(Args)]
struct TargetArgs {
    /// Base URL of an API node (device, Billing and Content APIs).
    #[arg(long, env = "EFIR_LOAD_API", default_value = "http://127.0.0.1:8000")]
    api: String,
    /// Base URL of a router node.
    #[arg(
        long,
        env = "EFIR_LOAD_ROUTER",
        default_value = "http://127.0.0.1:8080"
    )]
    router: String,
    /// The operator's id.
    #[arg(long, default_value_t = 1)]
    client_id: u32,
    /// The operator's device API key.
    #[arg(long, env = "EFIR_LOAD_API_KEY")]
    api_key: String,
    /// The operator's Billing API key (seed).
    #[arg(long, env = "EFIR_LOAD_BILLING_KEY", default_value = "")]
    billing_key: String,
    /// The operator's Content API key (seed).
    #[arg(long, env = "EFIR_LOAD_CONTENT_KEY", default_value = "")]
    content_key: String,
}

impl TargetArgs {
    fn target(&self) -> Result<api::Target> {
        for (name, url) in [("--api", &self.api), ("--router", &self.router)] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("{name} must be an http(s) URL, not {url:?}");
            }
        }
        Ok(api::Target {
            api: self.api.trim_end_matches('/').to_string(),
            router: self.router.trim_end_matches('/').to_string(),
            client_id: self.client_id,
            api_key: self.api_key.clone(),
            billing_key: self.billing_key.clone(),
            content_key: self.content_key.clone(),
        })
    }
}

const DAY: &str = include_str!("../scenarios/day.toml");

#[tokio::main]
async fn main() -> ExitCode {
    match real_main(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("efir-load: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn real_main(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Xmltv {
            channels,
            hours,
            slot_minutes,
            out,
        } => {
            seed::write_xmltv(&out, channels, hours, slot_minutes)?;
            eprintln!("wrote {} ({channels} channels)", out.display());
        }
        Command::Seed {
            target,
            subscribers,
            concurrency,
        } => {
            let t = target.target()?;
            if t.billing_key.is_empty() || t.content_key.is_empty() {
                bail!("seed needs --billing-key and --content-key");
            }
            let started = std::time::Instant::now();
            let s = seed::seed(&t, subscribers, concurrency).await?;
            eprintln!(
                "seeded {} channels and {} subscribers in {:.1} s",
                s.channels,
                s.subscribers,
                started.elapsed().as_secs_f64()
            );
        }
        Command::Run {
            target,
            scenario,
            seconds,
            rate,
            subscribers,
            sessions,
            json,
            max_error_rate,
        } => {
            let sc = match &scenario {
                Some(p) => scenario::Scenario::load(p)?,
                None => scenario::Scenario::parse(DAY)?,
            };
            if let Some(r) = rate {
                if !(r.is_finite() && r > 0.0) {
                    bail!("--rate must be above 0");
                }
            }
            let opts = run::RunOptions {
                seconds,
                rate,
                subscribers,
                sessions,
            };
            let report = run::run(target.target()?, &sc, &opts).await?;
            println!("{}", report.markdown());
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
            }
            let bad = report.totals.errors + report.totals.dropped;
            let all = (report.totals.requests + report.totals.dropped).max(1);
            if bad as f64 / all as f64 > max_error_rate {
                eprintln!("efir-load: {bad} of {all} arrivals failed or were dropped");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
