//! `efir manage epg-*` and `recache-icons`: the EPG commands.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{bail, Result};
use efir_epg::icons::IconStore;
use efir_epg::import::{ImportOptions, Progress};
use efir_epg::model::{NewSource, SourceRef};
use efir_store::Actor;
use serde_json::json;

use crate::cli::ManageCommand;
use crate::context::Ctx;
use crate::manage::Report;

/// How long one HTTP request for a guide or an icon may take.
const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// An indicatif bar on stderr for the import phases.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, label: &str, total: Option<u64>) {
        self.0.reset();
        self.0.set_message(label.to_string());
        match total {
            Some(t) => {
                self.0.set_length(t);
                let bytes = label == "parsing";
                let template = if bytes {
                    "{msg:>20} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
                } else {
                    "{msg:>20} [{bar:40}] {pos}/{len} channels eta {eta}"
                };
                self.0.set_style(
                    indicatif::ProgressStyle::with_template(template)
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
            }
            None => self
                .0
                .set_style(indicatif::ProgressStyle::default_spinner()),
        }
    }

    fn set(&self, position: u64) {
        self.0.set_position(position);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn progress(ctx: &Ctx) -> Option<Arc<dyn Progress>> {
    if ctx.interactive && std::io::stderr().is_terminal() {
        Some(Arc::new(Bar(indicatif::ProgressBar::new(0))))
    } else {
        None
    }
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(std::time::Duration::from_secs(15))
        .user_agent(concat!("efir/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// `+HH:MM` of an hour offset, checked (-14..=14 in quarter hours).
fn offset_minutes(hours: f64) -> Result<i64> {
    if !(-14.0..=14.0).contains(&hours) || (hours * 4.0).fract() != 0.0 {
        bail!("--offset-hours must be between -14 and 14 in quarter hours, not {hours}");
    }
    Ok((hours * 60.0).round() as i64)
}

/// One `error: …` line per problem under a summary.
fn append_errors(text: &mut String, errors: &[String]) {
    for e in errors {
        text.push_str("\nerror: ");
        text.push_str(e);
    }
}

fn source_ref(id: Option<i64>, name: Option<String>) -> Option<SourceRef> {
    match (id, name) {
        (Some(id), _) => Some(SourceRef::Id(id)),
        (None, Some(name)) => Some(SourceRef::Name(name)),
        (None, None) => None,
    }
}

/// Tells every node to rebuild channel lists (their current programme).
async fn guide_changed(ctx: &Ctx) {
    if let Err(e) = efir_middleware::ops::refresh_channel_lists(ctx.store(), None).await {
        tracing::warn!(error = %e, "cannot invalidate cached channel lists");
    }
}

/// Runs one EPG command.
pub async fn run(ctx: &Ctx, cmd: ManageCommand, actor: Actor) -> Result<Report> {
    let store = ctx.store();
    let data_dir = ctx.config().data_dir.clone();
    let work_dir = efir_epg::import::work_dir(&data_dir);
    match cmd {
        ManageCommand::EpgSourceAdd {
            name,
            url,
            offset_hours,
            time_zone,
            client_id,
        } => {
            let time_zone = match (offset_hours, time_zone) {
                (Some(h), _) => {
                    if !(-14.0..=14.0).contains(&h) || (h * 4.0).fract() != 0.0 {
                        bail!(
                            "--offset-hours must be between -14 and 14 in quarter hours, not {h}"
                        );
                    }
                    let minutes = (h * 60.0).round() as i64;
                    format!(
                        "{}{:02}:{:02}",
                        if minutes < 0 { '-' } else { '+' },
                        minutes.abs() / 60,
                        minutes.abs() % 60
                    )
                }
                (None, Some(tz)) => tz,
                (None, None) => String::new(),
            };
            if let Some(id) = client_id {
                store.client(id).await?;
            }
            let id = efir_epg::model::add_source(
                store,
                actor,
                &NewSource {
                    name: name.clone(),
                    url: url.clone(),
                    time_zone: time_zone.clone(),
                    client_id,
                },
            )
            .await?;
            Ok(Report::new(
                id.to_string(),
                json!({ "id": id, "name": name, "url": url, "time_zone": time_zone, "client_id": client_id }),
            ))
        }
        ManageCommand::EpgChannelImport {
            epg_source_id,
            epg_source_name,
            epg_channel_id,
            channel_id,
            reimport_icons,
            force_import,
            fix_duplicates,
            verbose,
        } => {
            let Some(source) = source_ref(epg_source_id, epg_source_name) else {
                bail!("name the source with --epg-source-id or --epg-source-name");
            };
            let icons = IconStore::new(&data_dir);
            let bar = crate::manage::spinner(ctx, "loading EPG channels and icons");
            let s = efir_epg::channels::import_channels(
                store,
                &http()?,
                &icons,
                actor,
                &efir_epg::channels::ChannelImportOptions {
                    source,
                    epg_channel_id,
                    channel_id,
                    reimport_icons,
                    force_import,
                    fix_duplicates,
                    work_dir,
                },
            )
            .await?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            if s.created + s.updated + s.icons_fetched + s.duplicates_removed > 0 {
                guide_changed(ctx).await;
            }
            let mut text = String::new();
            if verbose {
                for line in &s.icon_log {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            text.push_str(&format!(
                "{} channels in the guide: {} created, {} updated, {} duplicates removed; icons: {} fetched, {} failed",
                s.channels_seen, s.created, s.updated, s.duplicates_removed, s.icons_fetched, s.icons_failed
            ));
            append_errors(&mut text, &s.errors);
            Ok(Report::new(text, serde_json::to_value(&s)?))
        }
        ManageCommand::EpgImport {
            epg_source_id,
            epg_source_name,
            epg_channel_id,
            actual_days,
            force_reimport,
            client_id,
            create_content,
            ignore_epg_import,
        } => {
            let source = source_ref(epg_source_id, epg_source_name);
            if let Some(id) = client_id {
                store.client(id).await?;
            }
            let mut summary = efir_epg::import::ImportSummary::default();
            if !ignore_epg_import {
                summary = efir_epg::import::run(
                    store,
                    &http()?,
                    actor.clone(),
                    &ImportOptions {
                        source: source.clone(),
                        epg_channel_id,
                        actual_days,
                        force: force_reimport,
                        client_id,
                        work_dir,
                        progress: progress(ctx),
                    },
                )
                .await?;
            }
            let mut created = 0;
            if let (true, Some(client)) = (create_content, client_id) {
                let ids: Vec<i64> = match &source {
                    Some(s) => vec![efir_epg::model::source(store, s).await?.id],
                    None => efir_epg::model::sources(store, Some(client))
                        .await?
                        .into_iter()
                        .map(|s| s.id)
                        .collect(),
                };
                created = efir_epg::channels::create_content(store, actor, client, &ids).await?;
            }
            if summary.changed() || created > 0 {
                guide_changed(ctx).await;
            }
            let mut value = serde_json::to_value(&summary)?;
            if create_content {
                value["channels_created_for_client"] = json!(created);
            }
            let mut text = format!(
                "{} sources ({} unchanged, {} failed), {} channels: {} programmes read, {} added, {} updated, {} removed, {} expired, {} skipped, in {:.1} s",
                summary.sources,
                summary.sources_unchanged,
                summary.sources_failed,
                summary.channels,
                summary.programmes,
                summary.programmes_added,
                summary.programmes_updated,
                summary.programmes_removed,
                summary.programmes_expired,
                summary.programmes_skipped,
                summary.seconds
            );
            if create_content {
                text.push_str(&format!("\n{created} channels created from the guide"));
            }
            append_errors(&mut text, &summary.errors);
            let mut report = Report::new(text, value);
            if summary.sources_failed > 0 {
                report.failed = Some(format!(
                    "{} of {} EPG sources failed to import",
                    summary.sources_failed, summary.sources
                ));
            }
            Ok(report)
        }
        ManageCommand::EpgPremiereImport {
            epg_channel_id,
            days,
        } => {
            let s =
                efir_epg::channels::import_premieres(store, actor, epg_channel_id, days).await?;
            Ok(Report::new(
                format!(
                    "{} premieres in the next {days} days (were {})",
                    s.premieres, s.previous
                ),
                serde_json::to_value(&s)?,
            ))
        }
        ManageCommand::RecacheIcons => {
            let icons = IconStore::new(&data_dir);
            let s = efir_epg::channels::recache_icons(store, &http()?, &icons, actor).await?;
            let mut text = format!(
                "{} EPG channels with icons: {} complete, {} fetched, {} failed",
                s.checked, s.complete, s.fetched, s.failed
            );
            append_errors(&mut text, &s.errors);
            Ok(Report::new(text, serde_json::to_value(&s)?))
        }
        ManageCommand::EpgExport {
            client_id,
            days,
            output,
        } => {
            let s = if output.as_os_str() == "-" {
                efir_epg::export::export(store, client_id, days, std::io::stdout()).await?
            } else {
                efir_epg::export::export_to_file(store, client_id, days, &output).await?
            };
            let text = if output.as_os_str() == "-" {
                String::new()
            } else {
                format!(
                    "wrote {} channels and {} programmes ({} bytes) to {}",
                    s.channels,
                    s.programmes,
                    s.bytes,
                    output.display()
                )
            };
            Ok(Report::new(text, serde_json::to_value(&s)?))
        }
        ManageCommand::EpgCheck { file } => {
            let path = file.clone();
            let started = std::time::Instant::now();
            let checked = tokio::task::spawn_blocking(move || {
                let input = efir_epg::input::open_file(&path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                efir_epg::xmltv::check(input)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            })
            .await??;
            let secs = started.elapsed().as_secs_f64();
            let mb_s = checked.bytes as f64 / 1e6 / secs.max(1e-9);
            let mut text = format!(
                "{}: {} channels, {} programmes, {} skipped; {} bytes in {secs:.2} s ({mb_s:.0} MB/s)",
                file.display(),
                checked.channels,
                checked.programmes,
                checked.skipped.len(),
                checked.bytes
            );
            for s in checked.skipped.iter().take(20) {
                text.push_str(&format!(
                    "\nline {}: {} skipped: {}",
                    s.line, s.element, s.message
                ));
            }
            Ok(Report::new(
                text,
                json!({
                    "channels": checked.channels, "programmes": checked.programmes,
                    "skipped": checked.skipped.iter().map(|s| json!({"line": s.line, "element": s.element, "message": s.message})).collect::<Vec<_>>(),
                    "bytes": checked.bytes, "seconds": secs, "mb_per_second": mb_s,
                }),
            ))
        }
        ManageCommand::EpgSourceList => {
            let sources = efir_epg::model::sources(store, None).await?;
            let mut text = String::new();
            for s in &sources {
                let last = s.last_import_at.map_or("never".to_string(), |t| {
                    chrono::DateTime::from_timestamp(t, 0)
                        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default()
                });
                text.push_str(&format!(
                    "{:>4} {:<20} {:<8} last import {last}{} {}\n",
                    s.id,
                    s.name,
                    if s.enabled { "enabled" } else { "disabled" },
                    if s.last_error.is_empty() {
                        String::new()
                    } else {
                        format!(" (failed: {})", s.last_error)
                    },
                    s.url
                ));
            }
            if sources.is_empty() {
                text.push_str("no EPG sources; add one with efir manage epg-source-add");
            }
            Ok(Report::new(
                text.trim_end(),
                serde_json::to_value(&sources)?,
            ))
        }
        ManageCommand::EpgChannelList { epg_source_id } => {
            efir_epg::model::source(store, &SourceRef::Id(epg_source_id)).await?;
            let channels = efir_epg::model::channels(store, epg_source_id).await?;
            let mut text = String::new();
            for c in &channels {
                text.push_str(&format!(
                    "{:>6} {:<24} {:<32} {}{}\n",
                    c.id,
                    c.ext_id,
                    c.name,
                    if c.enabled { "" } else { "disabled " },
                    c.offset_minutes
                        .map_or(String::new(), |m| format!("offset {m} min"))
                ));
            }
            Ok(Report::new(
                text.trim_end(),
                serde_json::to_value(&channels)?,
            ))
        }
        ManageCommand::EpgChannelSet {
            epg_channel_id,
            offset_hours,
            source_zone,
            enabled,
            map_channel_ids,
        } => {
            efir_epg::model::channel(store, epg_channel_id).await?;
            if offset_hours.is_none()
                && !source_zone
                && enabled.is_none()
                && map_channel_ids.is_empty()
            {
                bail!("nothing to change: give --offset-hours, --source-zone, --enabled or --map-channel-id");
            }
            if let Some(h) = offset_hours {
                let m = offset_minutes(h)?;
                efir_epg::model::set_channel_offset(store, actor.clone(), epg_channel_id, Some(m))
                    .await?;
            } else if source_zone {
                efir_epg::model::set_channel_offset(store, actor.clone(), epg_channel_id, None)
                    .await?;
            }
            if let Some(on) = enabled {
                efir_epg::model::set_channel_enabled(store, actor.clone(), epg_channel_id, on)
                    .await?;
            }
            if !map_channel_ids.is_empty() {
                efir_epg::model::map_channels(store, actor, epg_channel_id, &map_channel_ids)
                    .await?;
                guide_changed(ctx).await;
            }
            let c = efir_epg::model::channel(store, epg_channel_id).await?;
            Ok(Report::new(
                format!("EPG channel {} ({}) updated", c.id, c.ext_id),
                serde_json::to_value(&c)?,
            ))
        }
        other => bail!("`{}` is not an EPG command", other.name()),
    }
}
