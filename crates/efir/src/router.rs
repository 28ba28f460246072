//! `efir manage router-*`: the CDN router's regions, subnets and edges.

use anyhow::{bail, Context as _, Result};
use efir_router::model::{self, NewEdge};
use efir_store::Actor;
use serde_json::json;

use crate::cli::ManageCommand;
use crate::context::Ctx;
use crate::manage::Report;

/// Largest subnet file read.
const MAX_SUBNET_FILE: u64 = 512 << 20;

/// Runs one router command.
pub async fn run(ctx: &Ctx, cmd: ManageCommand, actor: Actor) -> Result<Report> {
    let store = ctx.store();
    match cmd {
        ManageCommand::RouterImportSubnets { file } => {
            let size = std::fs::metadata(&file)
                .with_context(|| format!("{}", file.display()))?
                .len();
            if size > MAX_SUBNET_FILE {
                bail!(
                    "{}: {size} bytes is more than the {MAX_SUBNET_FILE} bytes accepted",
                    file.display()
                );
            }
            let bytes = std::fs::read(&file).with_context(|| format!("{}", file.display()))?;
            let bar = crate::manage::spinner(ctx, "importing subnets");
            let report = model::import_subnets(store, actor, &bytes)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            Ok(Report::new(
                format!(
                    "{} subnets imported (were {}), {} regions created; routers reload within seconds",
                    report.subnets, report.previous, report.regions_created
                ),
                serde_json::to_value(&report)?,
            ))
        }
        ManageCommand::RouterEdgeAdd {
            name,
            url,
            region,
            weight,
            capacity,
            capacity_mbps,
            serves,
            health_url,
            channels,
        } => {
            let edge = NewEdge {
                name: name.clone(),
                base_url: url,
                region,
                weight,
                capacity,
                capacity_mbps,
                serves: model::parse_serves(&serves)?,
                channels: list(channels.as_deref()).unwrap_or_default(),
                health_url: health_url.unwrap_or_default(),
            };
            let id = model::add_edge(store, actor, &edge).await?;
            Ok(Report::new(
                format!("edge `{name}` added (id {id})"),
                json!({ "id": id, "name": name }),
            ))
        }
        ManageCommand::RouterEdgeSet {
            name,
            enabled,
            drain,
        } => {
            model::set_edge(store, actor, &name, enabled, drain).await?;
            Ok(Report::new(
                format!("edge `{name}` updated"),
                json!({ "name": name, "enabled": enabled, "draining": drain }),
            ))
        }
        ManageCommand::RouterRegionSet {
            name,
            fallback,
            is_default,
            countries,
        } => {
            let fallback = list(fallback.as_deref());
            let countries = list(countries.as_deref());
            if fallback.is_none() && is_default.is_none() && countries.is_none() {
                bail!("nothing to change: give --fallback, --default or --countries");
            }
            model::set_region(
                store,
                actor,
                &name,
                fallback.as_deref(),
                is_default,
                countries.as_deref(),
            )
            .await?;
            Ok(Report::new(
                format!("region `{name}` updated"),
                json!({ "name": name, "fallback": fallback, "default": is_default, "countries": countries }),
            ))
        }
        ManageCommand::RouterResync => {
            let v = model::resync(store).await?;
            Ok(Report::new(
                format!(
                    "router configuration version is now {v}; every node reloads within seconds"
                ),
                json!({ "version": v }),
            ))
        }
        ManageCommand::RouterOverrideSet {
            kind,
            key,
            edge,
            region,
        } => {
            let k = one_kind(&kind)?;
            model::set_override(store, actor, k, &key, edge.as_deref(), region.as_deref()).await?;
            Ok(Report::new(
                format!("{kind} `{key}` pinned"),
                json!({ "kind": kind, "key": key, "edge": edge, "region": region }),
            ))
        }
        ManageCommand::RouterOverrideRemove { kind, key } => {
            model::remove_override(store, actor, one_kind(&kind)?, &key).await?;
            Ok(Report::new(
                format!("{kind} `{key}` no longer pinned"),
                json!({ "kind": kind, "key": key }),
            ))
        }
        other => bail!("`{}` is not a router command", other.name()),
    }
}

/// One content kind (`live`, `catchup` or `vod`).
fn one_kind(kind: &str) -> Result<efir_router::select::ContentKind> {
    match model::parse_serves(kind)?.as_slice() {
        [k] => Ok(*k),
        _ => bail!("--kind takes one of live, catchup, vod"),
    }
}

/// A comma-separated option as a list (`None` when not given).
fn list(s: Option<&str>) -> Option<Vec<String>> {
    s.map(|s| model::split_list(s).map(str::to_string).collect())
}
