//! Latency histograms per action and the report: a Markdown table for
//! people and JSON for scripts.

use crate::scenario::Action;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// How many distinct error messages are kept per action.
const ERROR_SAMPLES: usize = 5;

#[derive(Default)]
struct Row {
    hist: Option<Histogram<u64>>,
    ok: u64,
    errors: u64,
    dropped: u64,
    samples: Vec<String>,
}

impl Row {
    fn hist(&mut self) -> &mut Histogram<u64> {
        // 1 µs to 10 min at 3 significant figures.
        self.hist.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| {
                Histogram::new(3)
                    .unwrap_or_else(|_| unreachable!("3 significant figures are valid"))
            })
        })
    }

    fn add(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.hist().saturating_record(us);
    }
}

/// Collects outcomes while the run goes on.
pub struct Recorder {
    rows: Mutex<BTreeMap<&'static str, Row>>,
    phases: Mutex<Vec<PhaseLine>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder {
            rows: Mutex::new(BTreeMap::new()),
            phases: Mutex::new(Vec::new()),
        }
    }

    fn with_row(&self, name: &'static str, f: impl FnOnce(&mut Row)) {
        if let Ok(mut rows) = self.rows.lock() {
            f(rows.entry(name).or_default());
        }
    }

    /// One finished arrival: its latency from the scheduled time, and the
    /// error if it failed.
    pub fn record(&self, action: Action, latency: Duration, error: Option<anyhow::Error>) {
        self.with_row(action.name(), |r| {
            r.add(latency);
            match error {
                None => r.ok += 1,
                Some(e) => {
                    r.errors += 1;
                    let msg = format!("{e:#}");
                    let msg: String = msg.chars().take(300).collect();
                    if r.samples.len() < ERROR_SAMPLES && !r.samples.contains(&msg) {
                        r.samples.push(msg);
                    }
                }
            }
        });
    }

    /// An arrival that found `max_in_flight` requests outstanding.
    pub fn dropped(&self, action: Action) {
        self.with_row(action.name(), |r| r.dropped += 1);
    }

    /// The router's own part of a zap (its 302), measured alone.
    pub fn router(&self, latency: Duration, ok: bool) {
        self.with_row("router_302_only", |r| {
            r.add(latency);
            if ok {
                r.ok += 1;
            } else {
                r.errors += 1;
            }
        });
    }

    /// A phase that ended.
    pub fn phase(&self, name: &str, rate: f64, seconds: f64) {
        if let Ok(mut p) = self.phases.lock() {
            p.push(PhaseLine {
                name: name.to_string(),
                rate,
                seconds,
            });
        }
    }

    /// The report of the run so far.
    pub fn report(&self, scenario: &str, peak_rate: f64, elapsed: Duration) -> Report {
        let mut rows = Vec::new();
        let mut total = Totals::default();
        if let Ok(mut map) = self.rows.lock() {
            for (name, r) in map.iter_mut() {
                let ok = r.ok;
                let (errors, dropped) = (r.errors, r.dropped);
                let h = r.hist();
                let q = |x: f64| h.value_at_quantile(x) as f64 / 1000.0;
                let line = ReportRow {
                    action: (*name).to_string(),
                    requests: ok + errors,
                    ok,
                    errors,
                    dropped,
                    p50_ms: q(0.5),
                    p90_ms: q(0.9),
                    p99_ms: q(0.99),
                    p999_ms: q(0.999),
                    max_ms: h.max() as f64 / 1000.0,
                    error_samples: r.samples.clone(),
                };
                if *name != "router_302_only" {
                    total.requests += line.requests;
                    total.ok += line.ok;
                    total.errors += line.errors;
                    total.dropped += line.dropped;
                }
                rows.push(line);
            }
        }
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            scenario: scenario.to_string(),
            peak_rate,
            seconds: secs,
            achieved_rate: total.requests as f64 / secs,
            totals: total,
            phases: self.phases.lock().map(|p| p.clone()).unwrap_or_default(),
            rows,
        }
    }
}

/// A phase as run.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseLine {
    /// Its name.
    pub name: String,
    /// Arrivals per second.
    pub rate: f64,
    /// Its length.
    pub seconds: f64,
}

/// Sums over every action.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Arrivals that ran.
    pub requests: u64,
    /// … and succeeded.
    pub ok: u64,
    /// … and failed.
    pub errors: u64,
    /// Arrivals not sent because too many were in flight.
    pub dropped: u64,
}

/// One action's line.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    /// Action name.
    pub action: String,
    /// Arrivals that ran.
    pub requests: u64,
    /// Succeeded.
    pub ok: u64,
    /// Failed (error answer, timeout, connection error).
    pub errors: u64,
    /// Not sent (in-flight limit).
    pub dropped: u64,
    /// Median latency from the scheduled time, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Some distinct error messages.
    pub error_samples: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Arrivals per second at load 1.0.
    pub peak_rate: f64,
    /// Wall time of the run.
    pub seconds: f64,
    /// Arrivals run per second on average.
    pub achieved_rate: f64,
    /// Sums.
    pub totals: Totals,
    /// Phases as run.
    pub phases: Vec<PhaseLine>,
    /// Per action.
    pub rows: Vec<ReportRow>,
}

impl Report {
    /// A Markdown table.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "scenario {} at peak {:.0}/s for {:.0} s: {} requests ({:.1}/s), {} errors, {} dropped\n\n",
            self.scenario,
            self.peak_rate,
            self.seconds,
            self.totals.requests,
            self.achieved_rate,
            self.totals.errors,
            self.totals.dropped
        );
        s.push_str("| action | requests | errors | dropped | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
                r.action,
                r.requests,
                r.errors,
                r.dropped,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.p999_ms,
                r.max_ms
            ));
        }
        for r in &self.rows {
            for e in &r.error_samples {
                s.push_str(&format!("\n{} error: {e}", r.action));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_totals() {
        let r = Recorder::new();
        for ms in 1..=100u64 {
            r.record(Action::Epg, Duration::from_millis(ms), None);
        }
        r.record(
            Action::Login,
            Duration::from_millis(5),
            Some(anyhow::anyhow!("boom")),
        );
        r.record(
            Action::Login,
            Duration::from_millis(5),
            Some(anyhow::anyhow!("boom")),
        );
        r.dropped(Action::Login);
        r.router(Duration::from_millis(2), true);
        let rep = r.report("t", 10.0, Duration::from_secs(2));
        let epg = rep.rows.iter().find(|x| x.action == "epg").unwrap();
        assert_eq!(epg.requests, 100);
        assert!((epg.p50_ms - 50.0).abs() < 0.1, "{}", epg.p50_ms);
        assert!((epg.p99_ms - 99.0).abs() < 0.1, "{}", epg.p99_ms);
        let login = rep.rows.iter().find(|x| x.action == "login").unwrap();
        assert_eq!((login.errors, login.dropped), (2, 1));
        assert_eq!(login.error_samples, vec!["boom".to_string()]);
        // The router-only line is not counted twice in the totals.
        assert_eq!(rep.totals.requests, 102);
        assert_eq!(rep.totals.errors, 2);
        assert!((rep.achieved_rate - 51.0).abs() < 1e-9);
        assert!(rep.markdown().contains("| epg | 100 | 0 | 0 |"));
    }
}
