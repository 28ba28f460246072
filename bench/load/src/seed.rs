//! Test data: an XMLTV guide for the channels, and subscribers created
//! through the real Billing and Content APIs.

use crate::api::{abonement, password, Target};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes an XMLTV guide: `channels` channels `load-<i>`, each with a
/// programme every `slot_minutes` from `hours` before now to `hours` after.
pub fn write_xmltv(path: &Path, channels: usize, hours: u64, slot_minutes: u64) -> Result<()> {
    if channels == 0 || channels > 100_000 {
        bail!("--channels must be in 1..=100000");
    }
    if slot_minutes == 0 || hours == 0 || hours > 24 * 31 {
        bail!("--hours must be in 1..=744 and --slot-minutes above 0");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let slot = slot_minutes * 60;
    let start = (now - hours * 3600) / slot * slot;
    let stop = now + hours * 3600;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv generator-info-name=\"efir-load\">\n",
    );
    for c in 0..channels {
        let _ = writeln!(
            out,
            "  <channel id=\"load-{c}\"><display-name>Load {c}</display-name></channel>"
        );
    }
    for c in 0..channels {
        let mut t = start;
        let mut n = 0;
        while t < stop {
            let _ = writeln!(
                out,
                "  <programme channel=\"load-{c}\" start=\"{}\" stop=\"{}\"><title>Programme {n} of channel {c}</title><desc>A programme for the load test.</desc></programme>",
                xmltv_time(t),
                xmltv_time(t + slot)
            );
            t += slot;
            n += 1;
        }
    }
    out.push_str("</tv>\n");
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(out.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// `YYYYMMDDhhmmss +0000` for a Unix time.
fn xmltv_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02} +0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// What seeding made.
#[derive(Debug)]
pub struct Seeded {
    /// Channels put in the tariff (with their router URL).
    pub channels: usize,
    /// Subscribers created.
    pub subscribers: usize,
}

/// Puts every channel of the operator into one new tariff with a stream
/// URL on the router, then creates `subscribers` customers with one
/// account each on that tariff. `concurrency` calls run at once.
pub async fn seed(target: &Target, subscribers: usize, concurrency: usize) -> Result<Seeded> {
    let http = reqwest::Client::new();
    let tariff = target
        .signed(
            &http,
            "billing",
            "tariff/create",
            &[
                ("name", "Load test".into()),
                ("basic_tariff_priority", "1".into()),
            ],
        )
        .await?;
    let tariff_id = tariff
        .get("tariff_id")
        .or_else(|| tariff.get("id"))
        .and_then(Value::as_i64)
        .with_context(|| format!("tariff/create: no id in {tariff}"))?;

    // Every channel of the operator (made by `epg-import --create-content`).
    let mut ids = Vec::new();
    for page in 1.. {
        let list = target
            .signed(
                &http,
                "content",
                "channel/list",
                &[("limit", "1000".into()), ("page", page.to_string())],
            )
            .await?;
        let items = list
            .get("channels")
            .and_then(Value::as_array)
            .with_context(|| format!("channel/list: no channels in {list}"))?;
        ids.extend(
            items
                .iter()
                .filter_map(|c| c.get("id").and_then(Value::as_i64)),
        );
        if items.len() < 1000 {
            break;
        }
    }
    if ids.is_empty() {
        bail!("the operator has no channels: import the guide with `efir manage epg-import --client-id N --create-content` first");
    }
    let bar = progress(ids.len() + subscribers, "seeding");
    for id in &ids {
        target
            .signed(
                &http,
                "content",
                "channel/modify",
                &[
                    ("id", id.to_string()),
                    ("tariff_id", tariff_id.to_string()),
                    ("uri", format!("{}/btv/live/hls/ch{id}.m3u8", target.router)),
                ],
            )
            .await?;
        bar.inc(1);
    }

    let target = Arc::new(target.clone());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (target, next, http, bar) = (target.clone(), next.clone(), http.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= subscribers {
                    return Ok::<(), anyhow::Error>(());
                }
                let c = target
                    .signed(
                        &http,
                        "billing",
                        "customer/create",
                        &[("firstname", format!("Load {i}"))],
                    )
                    .await?;
                let cid = c
                    .get("customer_id")
                    .and_then(Value::as_i64)
                    .with_context(|| format!("customer/create: {c}"))?;
                target
                    .signed(
                        &http,
                        "billing",
                        "customer/tariff/assign",
                        &[
                            ("customer_id", cid.to_string()),
                            ("tariff_id", tariff_id.to_string()),
                        ],
                    )
                    .await?;
                target
                    .signed(
                        &http,
                        "billing",
                        "account/create",
                        &[
                            ("customer_id", cid.to_string()),
                            ("abonement", abonement(i)),
                            ("password", password(i)),
                        ],
                    )
                    .await?;
                bar.inc(1);
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    bar.finish_and_clear();
    Ok(Seeded {
        channels: ids.len(),
        subscribers,
    })
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} [{elapsed_precise}, eta {eta}]")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xmltv_times_are_utc_calendar_dates() {
        assert_eq!(xmltv_time(0), "19700101000000 +0000");
        // 2024-02-29 12:34:56 UTC (a leap day).
        assert_eq!(xmltv_time(1_709_210_096), "20240229123456 +0000");
        assert_eq!(xmltv_time(1_767_225_599), "20251231235959 +0000");
    }

    #[test]
    fn the_guide_has_every_channel_and_slot() {
        let dir = std::env::temp_dir().join(format!("efir-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("g.xml");
        write_xmltv(&p, 3, 2, 30).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.matches("<channel ").count(), 3);
        // 4 hours in 30-minute slots, maybe one more for the aligned start.
        let n = text.matches("<programme channel=\"load-1\"").count();
        assert!((8..=9).contains(&n), "{n}");
        assert!(write_xmltv(&p, 0, 2, 30).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
