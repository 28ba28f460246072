//! Scenarios: a TOML file describing the day to replay.
//!
//! A scenario has a peak arrival rate, a mix of actions with relative
//! weights and a list of phases (night, morning, day, evening peak, …),
//! each taking a share of the run's duration at a fraction of the peak
//! rate. See `scenarios/day.toml`.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What one arrival does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `login/` with abonement and password (argon2 on the server).
    Login,
    /// `channel/list/` of a logged-in subscriber.
    ChannelList,
    /// `category/list/`.
    CategoryList,
    /// `channel/programs/` of one channel (the guide of a channel).
    Epg,
    /// `program/list/` around now for a page of channels.
    ProgramList,
    /// `channel/url/?redirect=0`: the stream URL a set-top box asks for.
    ChannelUrl,
    /// A zap: `channel/url/` then the CDN router's 302 for that URL.
    RouterRedirect,
}

impl Action {
    /// Every action, in report order.
    #[cfg(test)]
    pub const ALL: [Action; 7] = [
        Action::Login,
        Action::ChannelList,
        Action::CategoryList,
        Action::Epg,
        Action::ProgramList,
        Action::ChannelUrl,
        Action::RouterRedirect,
    ];

    /// The name used in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::ChannelList => "channel_list",
            Action::CategoryList => "category_list",
            Action::Epg => "epg",
            Action::ProgramList => "program_list",
            Action::ChannelUrl => "channel_url",
            Action::RouterRedirect => "router_redirect",
        }
    }
}

/// One part of the day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Shown in progress and reports.
    pub name: String,
    /// Share of the run's duration (shares are normalised to sum to 1).
    pub share: f64,
    /// Arrival rate as a fraction of the peak rate.
    pub load: f64,
}

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name shown in reports.
    pub name: String,
    /// Arrivals per second at `load = 1.0`.
    pub peak_rate: f64,
    /// Arrivals that may be in flight at once; an arrival beyond it is
    /// counted as `dropped` (the server is not keeping up).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    /// Relative weight of each action.
    pub mix: BTreeMap<Action, u32>,
    /// The parts of the day, in order.
    #[serde(rename = "phase")]
    pub phases: Vec<Phase>,
}

fn default_in_flight() -> usize {
    1024
}

fn default_timeout() -> f64 {
    10.0
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scenario {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("scenario {}", path.display()))
    }

    /// Parses and validates scenario text.
    pub fn parse(text: &str) -> Result<Scenario> {
        let s: Scenario = toml::from_str(text)?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<()> {
        if !(self.peak_rate.is_finite() && self.peak_rate > 0.0 && self.peak_rate <= 1e6) {
            bail!("peak_rate must be in (0, 1000000], not {}", self.peak_rate);
        }
        if self.max_in_flight == 0 || self.max_in_flight > 1_000_000 {
            bail!("max_in_flight must be in 1..=1000000");
        }
        if !(self.timeout_secs.is_finite() && self.timeout_secs > 0.0 && self.timeout_secs <= 600.0)
        {
            bail!("timeout_secs must be in (0, 600]");
        }
        if self.mix.values().all(|w| *w == 0) {
            bail!("mix: at least one action needs a weight above 0");
        }
        if self.phases.is_empty() {
            bail!("at least one [[phase]] is needed");
        }
        for p in &self.phases {
            if !(p.share.is_finite() && p.share > 0.0) {
                bail!("phase {}: share must be above 0", p.name);
            }
            if !(p.load.is_finite() && (0.0..=10.0).contains(&p.load)) {
                bail!("phase {}: load must be in [0, 10]", p.name);
            }
        }
        Ok(())
    }

    /// The phases with absolute durations (seconds) for a run of `total`.
    pub fn timeline(&self, total: f64) -> Vec<(Phase, f64)> {
        let sum: f64 = self.phases.iter().map(|p| p.share).sum();
        self.phases
            .iter()
            .map(|p| (p.clone(), total * p.share / sum))
            .collect()
    }

    /// Picks an action for a uniform `r` in [0, 1).
    pub fn pick(&self, r: f64) -> Action {
        let total: u32 = self.mix.values().sum();
        let mut x = r * f64::from(total);
        for (a, w) in &self.mix {
            if x < f64::from(*w) {
                return *a;
            }
            x -= f64::from(*w);
        }
        // Rounding at the very top end: the last action with a weight.
        self.mix
            .iter()
            .rev()
            .find(|(_, w)| **w > 0)
            .map(|(a, _)| *a)
            .unwrap_or(Action::ChannelList)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: &str = include_str!("../scenarios/day.toml");

    #[test]
    fn the_shipped_day_parses_and_covers_every_action() {
        let s = Scenario::parse(DAY).unwrap();
        for a in Action::ALL {
            assert!(s.mix.get(&a).copied().unwrap_or(0) > 0, "{}", a.name());
        }
        let t = s.timeline(100.0);
        let total: f64 = t.iter().map(|(_, d)| d).sum();
        assert!((total - 100.0).abs() < 1e-9);
    }

    #[test]
    fn pick_follows_weights() {
        let s = Scenario::parse(
            "name='x'\npeak_rate=1\n[mix]\nlogin=1\nepg=3\n[[phase]]\nname='a'\nshare=1\nload=1\n",
        )
        .unwrap();
        let n = 10_000;
        let epg = (0..n)
            .filter(|i| s.pick(f64::from(*i) / f64::from(n)) == Action::Epg)
            .count();
        assert_eq!(epg, 7_500);
        assert_eq!(s.pick(0.999_999_9), Action::Epg);
    }

    #[test]
    fn bad_scenarios_are_refused() {
        for bad in [
            "name='x'\npeak_rate=0\n[mix]\nlogin=1\n[[phase]]\nname='a'\nshare=1\nload=1\n",
            "name='x'\npeak_rate=1\n[mix]\nlogin=0\n[[phase]]\nname='a'\nshare=1\nload=1\n",
            "name='x'\npeak_rate=1\n[mix]\nlogin=1\n",
            "name='x'\npeak_rate=1\n[mix]\nnope=1\n[[phase]]\nname='a'\nshare=1\nload=1\n",
            "name='x'\npeak_rate=1\n[mix]\nlogin=1\n[[phase]]\nname='a'\nshare=-1\nload=1\n",
        ] {
            assert!(Scenario::parse(bad).is_err(), "{bad}");
        }
    }
}
