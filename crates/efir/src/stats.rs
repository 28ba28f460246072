//! `efir manage` commands of the statistics part: sampling sessions online,
//! daily statistics, subscriber dynamics and the clean-ups. The work is in
//! `efir_backoffice::stats`; this file parses the command lines (with the
//! Smarty snake_case spellings) and prints the reports.

use anyhow::Result;
use clap::Subcommand;
use efir_backoffice::stats::{self, cleanup::Cleanup, date_string, time_string};
use efir_store::Actor;
use serde_json::json;

use crate::context::Ctx;
use crate::manage::Report;

/// The statistics commands.
#[derive(Debug, Clone, Subcommand)]
pub enum StatsCommand {
    /// Sample the sessions online now per operator (a session seen within
    /// `stats.online_window_secs`, default 300 s) and keep the UTC day's
    /// maximum with the time it was reached. Built into the schedule
    /// every 5 minutes.
    #[command(alias = "cache_max_online")]
    CacheMaxOnline {
        /// Only these operators (comma-separated ids); all by default.
        #[arg(long, alias = "client_id", value_name = "IDS")]
        client_id: Option<String>,
    },
    /// Compute today's (UTC) statistics so far for every operator:
    /// customers, accounts, active accounts, new customers, deactivations,
    /// maximum online, payments and charges, viewing. Replaces today's
    /// row; `collect-daily-stats` finalises the day after it ends.
    #[command(alias = "save_stats")]
    SaveStats {
        /// Only these operators (comma-separated ids); all by default.
        #[arg(long, alias = "client_id", value_name = "IDS")]
        client_id: Option<String>,
    },
    /// Compute the statistics of a finished UTC day (yesterday by default)
    /// for every operator; computing a day again replaces its rows. Built
    /// into the schedule at 00:10 UTC.
    #[command(alias = "collect_daily_stats")]
    CollectDailyStats {
        /// The UTC day, YYYY-MM-DD [default: yesterday].
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// Only these operators (comma-separated ids); all by default.
        #[arg(long, alias = "client_id", value_name = "IDS")]
        client_id: Option<String>,
    },
    /// Compute subscriber dynamics per hour, day and month (customers,
    /// accounts, active, new, deactivated). The first run starts at the
    /// beginning of the previous month; later runs compute only the
    /// buckets finished since. Built into the schedule hourly.
    #[command(alias = "cache_customers_dynamic")]
    CacheCustomersDynamic {
        /// Only these operators (comma-separated ids); all by default.
        #[arg(long, alias = "client_id", value_name = "IDS")]
        client_id: Option<String>,
    },
    /// Delete daily report rows (save-stats, collect-daily-stats) of days
    /// older than N days.
    #[command(alias = "delete_old_reports")]
    DeleteOldReports {
        /// Days of reports to keep (at least 1).
        #[arg(long, alias = "save_days", allow_negative_numbers = true)]
        save_days: i64,
    },
    /// Delete customer log entries (subscribers' logins and logouts)
    /// older than N days.
    #[command(alias = "clear_customer_log")]
    ClearCustomerLog {
        /// Entries older than this many days are deleted (at least 1).
        #[arg(long, allow_negative_numbers = true)]
        days: i64,
    },
    /// Delete one operator's viewed content history (viewing events pushed
    /// by devices through stat/push/) older than N days.
    #[command(alias = "remove_viewed_content_history")]
    RemoveViewedContentHistory {
        /// The operator.
        #[arg(long, alias = "client_id", allow_negative_numbers = true)]
        client_id: i64,
        /// Events that started more than this many days ago are deleted
        /// (at least 1).
        #[arg(long, allow_negative_numbers = true)]
        days: i64,
    },
    /// Delete the data behind the statistics charts (online samples, daily
    /// online maxima, dynamics buckets) older than N days.
    #[command(alias = "reports_remove_old_data")]
    ReportsRemoveOldData {
        /// Data older than this many days is deleted (at least 1).
        #[arg(long, allow_negative_numbers = true)]
        days: i64,
    },
}

impl StatsCommand {
    /// The command's canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            StatsCommand::CacheMaxOnline { .. } => "cache-max-online",
            StatsCommand::SaveStats { .. } => "save-stats",
            StatsCommand::CollectDailyStats { .. } => "collect-daily-stats",
            StatsCommand::CacheCustomersDynamic { .. } => "cache-customers-dynamic",
            StatsCommand::DeleteOldReports { .. } => "delete-old-reports",
            StatsCommand::ClearCustomerLog { .. } => "clear-customer-log",
            StatsCommand::RemoveViewedContentHistory { .. } => "remove-viewed-content-history",
            StatsCommand::ReportsRemoveOldData { .. } => "reports-remove-old-data",
        }
    }
}

/// The schedule entries of this part: (command, cron in UTC).
pub const SCHEDULE: &[(&str, &str)] = &[
    ("cache-max-online", "*/5 * * * *"),
    ("save-stats", "55 23 * * *"),
    ("collect-daily-stats", "10 0 * * *"),
    ("cache-customers-dynamic", "2 * * * *"),
];

fn clients(list: Option<&str>) -> Result<Option<Vec<i64>>> {
    Ok(match list {
        Some(l) => Some(stats::parse_client_ids(l)?),
        None => None,
    })
}

fn cleanup_report(c: &Cleanup) -> Report {
    let mut text = format!(
        "{}: deleted {} rows older than {}",
        c.command,
        c.total(),
        time_string(c.cutoff)
    );
    for (table, n) in &c.deleted {
        text.push_str(&format!("\n  {table}: {n}"));
    }
    Report::new(text, serde_json::to_value(c).unwrap_or_default())
}

/// Runs one statistics command.
pub async fn run(ctx: &Ctx, cmd: StatsCommand, actor: Actor) -> Result<Report> {
    let store = ctx.store();
    let now = efir_store::now();
    match cmd {
        StatsCommand::CacheMaxOnline { client_id } => {
            let ids = clients(client_id.as_deref())?;
            let samples =
                stats::online::cache_max_online(store, actor, now, ids.as_deref()).await?;
            let mut text = String::new();
            for s in &samples {
                text.push_str(&format!(
                    "client {:>4}: {} online now; maximum of {}: {} at {}\n",
                    s.client_id,
                    s.online,
                    date_string(s.day),
                    s.max_online,
                    time_string(s.max_at)
                ));
            }
            if samples.is_empty() {
                text.push_str("no operators");
            }
            Ok(Report::new(
                text.trim_end(),
                json!({ "at": now, "samples": samples }),
            ))
        }
        StatsCommand::SaveStats { client_id } => {
            let ids = clients(client_id.as_deref())?;
            daily(ctx, actor, now, now, ids).await
        }
        StatsCommand::CollectDailyStats { date, client_id } => {
            let ids = clients(client_id.as_deref())?;
            let day = match date {
                Some(d) => stats::parse_date(&d)?,
                None => stats::day_start(now) - stats::DAY,
            };
            daily(ctx, actor, day, now, ids).await
        }
        StatsCommand::CacheCustomersDynamic { client_id } => {
            let ids = clients(client_id.as_deref())?;
            let bar = crate::manage::spinner(ctx, "computing subscriber dynamics");
            let progress = |done: usize, total: usize| {
                if let Some(b) = &bar {
                    b.set_message(format!(
                        "computing subscriber dynamics: {done}/{total} operators"
                    ));
                }
            };
            let runs = stats::dynamic::cache_customers_dynamic(
                store,
                actor,
                now,
                ids.as_deref(),
                &progress,
            )
            .await?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let total: usize = runs.iter().map(|r| r.computed).sum();
            let mut text = format!("{total} buckets computed\n");
            for r in &runs {
                text.push_str(&format!(
                    "client {:>4} {:<5}: {} buckets computed{}, next from {}\n",
                    r.client_id,
                    r.granularity.as_str(),
                    r.computed,
                    if r.first_run { " (first run)" } else { "" },
                    time_string(r.next_bucket)
                ));
            }
            Ok(Report::new(
                text.trim_end(),
                json!({ "computed": total, "runs": runs }),
            ))
        }
        StatsCommand::DeleteOldReports { save_days } => Ok(cleanup_report(
            &stats::cleanup::delete_old_reports(store, actor, save_days, now).await?,
        )),
        StatsCommand::ClearCustomerLog { days } => Ok(cleanup_report(
            &stats::cleanup::clear_customer_log(store, actor, days, now).await?,
        )),
        StatsCommand::RemoveViewedContentHistory { client_id, days } => Ok(cleanup_report(
            &stats::cleanup::remove_viewed_content_history(store, actor, client_id, days, now)
                .await?,
        )),
        StatsCommand::ReportsRemoveOldData { days } => Ok(cleanup_report(
            &stats::cleanup::reports_remove_old_data(store, actor, days, now).await?,
        )),
    }
}

async fn daily(
    ctx: &Ctx,
    actor: Actor,
    day: i64,
    now: i64,
    ids: Option<Vec<i64>>,
) -> Result<Report> {
    let rows = stats::daily::collect(ctx.store(), actor, day, now, ids.as_deref()).await?;
    let mut text = String::new();
    for r in &rows {
        text.push_str(&format!(
            "{} client {:>4}: {} customers (+{}), {} accounts ({} active, +{}, {} deactivated), max online {}, payments {} ({}), charges {} ({}), viewing {} events / {} min\n",
            date_string(r.day),
            r.client_id,
            r.customers,
            r.new_customers,
            r.accounts,
            r.active_accounts,
            r.new_accounts,
            r.deactivations,
            r.max_online,
            efir_core::money::Money(r.payments),
            r.payments_count,
            efir_core::money::Money(r.charges),
            r.charges_count,
            r.viewing_events,
            r.viewing_seconds / 60,
        ));
    }
    if rows.is_empty() {
        text.push_str("no operators");
    }
    let items: Vec<_> = rows.iter().map(|r| r.to_json()).collect();
    Ok(Report::new(
        text.trim_end(),
        json!({ "date": date_string(day), "stats": items }),
    ))
}
