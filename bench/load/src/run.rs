//! The open-model driver: arrivals at a fixed rate per phase, whatever the
//! server's speed, with latency counted from each arrival's scheduled time
//! (so a slow server cannot hide its queueing: no coordinated omission).

use crate::api::{device_json, Target};
use crate::report::{Recorder, Report};
use crate::scenario::{Action, Scenario};
use anyhow::{bail, Context, Result};
use rand::Rng;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Total duration in seconds (split over the scenario's phases).
    pub seconds: f64,
    /// Peak arrival rate override.
    pub rate: Option<f64>,
    /// Subscribers that exist (seeded with `efir-load seed`).
    pub subscribers: usize,
    /// Sessions logged in before the run (the boxes already switched on).
    pub sessions: usize,
}

/// Shared state of the run: authkeys of logged-in boxes and channel ids.
struct Pool {
    target: Target,
    http: reqwest::Client,
    /// Client for the router: never follows redirects (the 302 is the answer).
    router_http: reqwest::Client,
    authkeys: Vec<RwLock<String>>,
    channels: Vec<i64>,
    subscribers: usize,
}

impl Pool {
    fn authkey(&self, slot: usize) -> String {
        self.authkeys[slot]
            .read()
            .map(|k| k.clone())
            .unwrap_or_default()
    }
}

/// Logs in the boxes, then replays the scenario and returns the report.
pub async fn run(target: Target, scenario: &Scenario, opts: &RunOptions) -> Result<Report> {
    if opts.subscribers == 0 {
        bail!("--subscribers must be at least 1");
    }
    if !(opts.seconds.is_finite() && opts.seconds > 0.0) {
        bail!("--seconds must be above 0");
    }
    let timeout = Duration::from_secs_f64(scenario.timeout_secs);
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(scenario.max_in_flight)
        .build()?;
    let router_http = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(scenario.max_in_flight)
        .build()?;

    // The boxes that are on when the day starts.
    let sessions = opts.sessions.clamp(1, opts.subscribers);
    let bar = crate::seed::progress(sessions, "logging in");
    let mut authkeys = Vec::with_capacity(sessions);
    for chunk in (0..sessions).collect::<Vec<_>>().chunks(16) {
        let logins = chunk.iter().map(|i| {
            let (target, http, i) = (target.clone(), http.clone(), *i);
            async move { target.login(&http, i).await }
        });
        for key in futures_join(logins).await {
            authkeys.push(RwLock::new(key?));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let list_url = target.device_url(
        "channel/list",
        &[(
            "authkey",
            &authkeys[0].read().map(|k| k.clone()).unwrap_or_default(),
        )],
    );
    let list = device_json(http.get(&list_url).send().await?).await?;
    let channels: Vec<i64> = list
        .get("channels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("id").and_then(Value::as_i64))
                .collect()
        })
        .unwrap_or_default();
    if channels.is_empty() {
        bail!("the subscribers see no channels: seed first (efir-load seed)");
    }

    let pool = Arc::new(Pool {
        target,
        http,
        router_http,
        authkeys,
        channels,
        subscribers: opts.subscribers,
    });
    let recorder = Arc::new(Recorder::new());
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = opts.rate.unwrap_or(scenario.peak_rate);
    let timeline = scenario.timeline(opts.seconds);
    let planned: f64 = timeline.iter().map(|(p, d)| p.load * peak * d).sum();
    let bar = crate::seed::progress(planned.round() as usize, "arrivals");
    let started = Instant::now();
    let mut rng = rand::rng();
    let mut tasks = tokio::task::JoinSet::new();
    let mut phase_start = started;
    for (phase, secs) in &timeline {
        let phase_end = phase_start + Duration::from_secs_f64(*secs);
        let rate = phase.load * peak;
        bar.set_message(format!("{} ({rate:.0}/s)", phase.name));
        if rate <= 0.0 {
            tokio::time::sleep_until(phase_end).await;
            phase_start = phase_end;
            continue;
        }
        let gap = Duration::from_secs_f64(1.0 / rate);
        let mut at = phase_start;
        while at < phase_end {
            tokio::time::sleep_until(at).await;
            let action = scenario.pick(rng.random::<f64>());
            if in_flight.load(Ordering::Relaxed) >= scenario.max_in_flight {
                recorder.dropped(action);
            } else {
                in_flight.fetch_add(1, Ordering::Relaxed);
                let slot = rng.random_range(0..pool.authkeys.len());
                let channel = pool.channels[rng.random_range(0..pool.channels.len())];
                let who = rng.random_range(0..pool.subscribers);
                let (pool, recorder, in_flight) =
                    (pool.clone(), recorder.clone(), in_flight.clone());
                let scheduled = at;
                tasks.spawn(async move {
                    let outcome = perform(&pool, &recorder, action, slot, channel, who).await;
                    recorder.record(action, scheduled.elapsed(), outcome.err());
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                });
            }
            bar.inc(1);
            at += gap;
            // Reap finished tasks so the set does not grow without bound.
            while tasks.try_join_next().is_some() {}
        }
        recorder.phase(&phase.name, rate, *secs);
        phase_start = phase_end;
    }
    while tasks.join_next().await.is_some() {}
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    Ok(recorder.report(&scenario.name, peak, elapsed))
}

/// Runs futures concurrently and collects their results in order.
async fn futures_join<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

/// One arrival. Errors are what the report counts as failed.
async fn perform(
    pool: &Pool,
    recorder: &Recorder,
    action: Action,
    slot: usize,
    channel: i64,
    who: usize,
) -> Result<()> {
    let key = pool.authkey(slot);
    let cid = channel.to_string();
    let t = &pool.target;
    match action {
        Action::Login => {
            // A box switching on: a subscriber outside the pool of boxes
            // already on, so that no session in use is replaced under a
            // request (accounts allow one session unless configured).
            let n = pool.authkeys.len();
            if pool.subscribers > n {
                let who = n + who % (pool.subscribers - n);
                pool.target.login(&pool.http, who).await?;
            } else {
                let authkey = pool.target.login(&pool.http, slot).await?;
                if let Ok(mut k) = pool.authkeys[slot].write() {
                    *k = authkey;
                }
            }
        }
        Action::ChannelList => {
            get(pool, t.device_url("channel/list", &[("authkey", &key)])).await?
        }
        Action::CategoryList => {
            get(pool, t.device_url("category/list", &[("authkey", &key)])).await?
        }
        Action::Epg => {
            get(
                pool,
                t.device_url(
                    "channel/programs",
                    &[("authkey", &key), ("cid", &cid), ("limit", "10")],
                ),
            )
            .await?
        }
        Action::ProgramList => {
            get(
                pool,
                t.device_url("program/list", &[("authkey", &key), ("cid", &cid)]),
            )
            .await?
        }
        Action::ChannelUrl => {
            stream_url(pool, &key, &cid).await?;
        }
        Action::RouterRedirect => {
            let url = stream_url(pool, &key, &cid).await?;
            let start = std::time::Instant::now();
            let resp = pool
                .router_http
                .get(&url)
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            let status = resp.status();
            let location = resp.headers().get(reqwest::header::LOCATION).is_some();
            recorder.router(start.elapsed(), status.as_u16() == 302 && location);
            if status.as_u16() != 302 || !location {
                bail!("router answered {status} without a redirect for {url}");
            }
        }
    }
    Ok(())
}

async fn get(pool: &Pool, url: String) -> Result<()> {
    let resp = pool.http.get(&url).send().await?;
    device_json(resp).await.map(|_| ())
}

/// `channel/url/?redirect=0`: the stream URL the box would play.
async fn stream_url(pool: &Pool, key: &str, cid: &str) -> Result<String> {
    let url = pool.target.device_url(
        "channel/url",
        &[("authkey", key), ("cid", cid), ("redirect", "0")],
    );
    let v = device_json(pool.http.get(&url).send().await?).await?;
    // Smarty answers `uri` for a channel with a direct URI and `url` for
    // one played through a stream service.
    v.get("url")
        .or_else(|| v.get("uri"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .with_context(|| format!("channel/url: no url in {v}"))
}
