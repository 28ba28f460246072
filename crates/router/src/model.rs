//! Regions, subnets and edges in the store, and the snapshot every router
//! node builds from them.
//!
//! Every change bumps the `router_version` counter (`efir_meta`); nodes
//! poll it and reload their snapshot when it moves.

use std::collections::{HashMap, HashSet};

use efir_store::audit::Arg;
use efir_store::{with_db, with_tx, Actor, Store, StoreError};
use serde::Serialize;
use serde_json::json;

use crate::health::HealthTarget;
use crate::select::{self, ContentKind, RegionId};
use crate::subnets::{parse_subnets, ImportError, SubnetTable, SubnetTableBuilder};

/// The `efir_meta` counter bumped by every change of the router's data.
pub const VERSION_KEY: &str = "router_version";
/// PostgreSQL channel on which changes are announced (payload: version).
pub const NOTIFY_CHANNEL: &str = "efir_router";
/// Subnets inserted per statement.
const SUBNET_BATCH: usize = 500;

/// What can go wrong with the router's data.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad input from the operator.
    #[error("{0}")]
    Invalid(String),
    /// An edge or region that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A subnet file that does not parse.
    #[error("{0}")]
    Import(#[from] ImportError),
}

impl From<sqlx::Error> for RouterError {
    fn from(e: sqlx::Error) -> Self {
        RouterError::Store(StoreError::from(e))
    }
}

/// What `router-edge-add` creates.
#[derive(Debug, Clone)]
pub struct NewEdge {
    /// Unique name.
    pub name: String,
    /// Where redirects point (`https://edge1.example.net`).
    pub base_url: String,
    /// Region name (created when missing).
    pub region: String,
    /// Relative share, 1..=1000.
    pub weight: u32,
    /// Sessions at once; `None` = unlimited.
    pub capacity: Option<u64>,
    /// Mbit/s at most; `None` = unlimited.
    pub capacity_mbps: Option<u64>,
    /// What it serves.
    pub serves: Vec<ContentKind>,
    /// Channels it carries; empty = all.
    pub channels: Vec<String>,
    /// Health URL; '' = not polled.
    pub health_url: String,
}

/// The items of a comma-separated list, trimmed, without empty ones.
pub fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

/// Parses `live,catchup,vod`.
pub fn parse_serves(s: &str) -> Result<Vec<ContentKind>, RouterError> {
    let mut out = Vec::new();
    for part in split_list(s) {
        let kind = match part.to_ascii_lowercase().as_str() {
            "live" => ContentKind::Live,
            "catchup" | "catch-up" | "dvr" => ContentKind::Catchup,
            "vod" => ContentKind::Vod,
            other => {
                return Err(RouterError::Invalid(format!(
                    "`{other}` is not live, catchup or vod"
                )))
            }
        };
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    if out.is_empty() {
        return Err(RouterError::Invalid(
            "an edge must serve at least one of live, catchup, vod".into(),
        ));
    }
    Ok(out)
}

fn serves_text(serves: &[ContentKind]) -> String {
    serves
        .iter()
        .map(|k| match k {
            ContentKind::Live => "live",
            ContentKind::Catchup => "catchup",
            ContentKind::Vod => "vod",
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn check_url(what: &str, url: &str) -> Result<(), RouterError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        Some(host)
            if !host.is_empty() && !host.starts_with('/') && !url.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(RouterError::Invalid(format!(
            "{what} must be an http(s) URL with a host, not `{url}`"
        ))),
    }
}

/// The id of region `name`, created when missing (inside `tx`).
async fn region_id(tx: &mut efir_store::Tx, name: &str) -> Result<i64, RouterError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.contains(',') {
        return Err(RouterError::Invalid(format!(
            "region name `{name}` must be 1 to 100 characters without commas"
        )));
    }
    let found: Option<i64> = with_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM router_region WHERE name = $1")
        .bind(name)
        .fetch_optional(c)
        .await)?;
    if let Some(id) = found {
        return Ok(id);
    }
    let id: i64 = with_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO router_region (name, created_at) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(efir_store::now())
        .fetch_one(c)
        .await)?;
    tx.mark_changed("router_region");
    Ok(id)
}

/// Adds an edge; returns its id.
pub async fn add_edge(store: &Store, actor: Actor, new: &NewEdge) -> Result<i64, RouterError> {
    let name = new.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(RouterError::Invalid(
            "--name must be 1 to 100 characters".into(),
        ));
    }
    check_url("--url", new.base_url.trim())?;
    if !new.health_url.is_empty() {
        check_url("--health-url", new.health_url.trim())?;
    }
    if !(1..=1000).contains(&new.weight) {
        return Err(RouterError::Invalid("--weight must be 1 to 1000".into()));
    }
    let mut tx = store.begin(actor).await?;
    let exists: Option<i64> = with_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM router_edge WHERE name = $1")
        .bind(name)
        .fetch_optional(c)
        .await)?;
    if exists.is_some() {
        tx.rollback().await?;
        return Err(RouterError::Invalid(format!(
            "an edge named `{name}` exists already"
        )));
    }
    let region = region_id(&mut tx, &new.region).await?;
    let now = efir_store::now();
    let capacity = new.capacity.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
    let capacity_mbps = new
        .capacity_mbps
        .map(|c| i64::try_from(c).unwrap_or(i64::MAX));
    let id: i64 = with_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO router_edge (name, base_url, region_id, weight, capacity, serves, channels, \
         health_url, created_at, updated_at, capacity_mbps) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING id")
        .bind(name)
        .bind(new.base_url.trim().trim_end_matches('/'))
        .bind(region)
        .bind(i64::from(new.weight))
        .bind(capacity)
        .bind(serves_text(&new.serves))
        .bind(new.channels.join(","))
        .bind(new.health_url.trim())
        .bind(now)
        .bind(capacity_mbps)
        .fetch_one(c)
        .await)?;
    tx.mark_changed("router_edge");
    commit_change(
        tx,
        store,
        "create",
        "router_edge",
        Some(id.to_string()),
        json!({ "name": name, "base_url": new.base_url, "region": new.region,
                "weight": new.weight, "capacity": new.capacity, "capacity_mbps": new.capacity_mbps,
                "serves": serves_text(&new.serves), "channels": new.channels }),
    )
    .await?;
    Ok(id)
}

/// Turns an edge on or off, or drains it.
pub async fn set_edge(
    store: &Store,
    actor: Actor,
    name: &str,
    enabled: Option<bool>,
    draining: Option<bool>,
) -> Result<(), RouterError> {
    if enabled.is_none() && draining.is_none() {
        return Err(RouterError::Invalid(
            "nothing to change: give --enabled or --drain".into(),
        ));
    }
    let mut tx = store.begin(actor).await?;
    let id: Option<i64> = with_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM router_edge WHERE name = $1")
        .bind(name)
        .fetch_optional(c)
        .await)?;
    let Some(id) = id else {
        tx.rollback().await?;
        return Err(RouterError::NotFound(format!("no edge named `{name}`")));
    };
    let now = efir_store::now();
    if let Some(on) = enabled {
        tx.execute(
            "router_edge",
            "UPDATE router_edge SET enabled = $1, updated_at = $2 WHERE id = $3",
            &[Arg::Bool(on), Arg::I64(now), Arg::I64(id)],
        )
        .await?;
    }
    if let Some(on) = draining {
        tx.execute(
            "router_edge",
            "UPDATE router_edge SET draining = $1, updated_at = $2 WHERE id = $3",
            &[Arg::Bool(on), Arg::I64(now), Arg::I64(id)],
        )
        .await?;
    }
    commit_change(
        tx,
        store,
        "update",
        "router_edge",
        Some(id.to_string()),
        json!({ "name": name, "enabled": enabled, "draining": draining }),
    )
    .await?;
    Ok(())
}

/// Sets a region's fallback order (region names) and whether it is a
/// default region; creates it when missing.
pub async fn set_region(
    store: &Store,
    actor: Actor,
    name: &str,
    fallback: Option<&[String]>,
    is_default: Option<bool>,
    countries: Option<&[String]>,
) -> Result<(), RouterError> {
    let mut tx = store.begin(actor).await?;
    let id = region_id(&mut tx, name).await?;
    if let Some(list) = countries {
        let mut codes = Vec::new();
        for c in list.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
                tx.rollback().await?;
                return Err(RouterError::Invalid(format!(
                    "`{c}` is not a two-letter country code"
                )));
            }
            codes.push(c.to_ascii_uppercase());
        }
        tx.execute(
            "router_region",
            "UPDATE router_region SET countries = $1 WHERE id = $2",
            &[Arg::Text(codes.join(",")), Arg::I64(id)],
        )
        .await?;
    }
    if let Some(list) = fallback {
        let mut names = Vec::new();
        for f in list.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
            if f == name.trim() {
                tx.rollback().await?;
                return Err(RouterError::Invalid(format!(
                    "region `{name}` cannot fall back to itself"
                )));
            }
            region_id(&mut tx, f).await?;
            names.push(f.to_string());
        }
        tx.execute(
            "router_region",
            "UPDATE router_region SET fallback = $1 WHERE id = $2",
            &[Arg::Text(names.join(",")), Arg::I64(id)],
        )
        .await?;
    }
    if let Some(on) = is_default {
        tx.execute(
            "router_region",
            "UPDATE router_region SET is_default = $1 WHERE id = $2",
            &[Arg::Bool(on), Arg::I64(id)],
        )
        .await?;
    }
    tx.mark_changed("router_region");
    commit_change(tx, store,
        "update",
        "router_region",
        Some(id.to_string()),
        json!({ "name": name, "fallback": fallback, "is_default": is_default, "countries": countries }),
    )
    .await?;
    Ok(())
}

/// What `router-import-subnets` did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Subnets now in the table.
    pub subnets: u64,
    /// Subnets there before.
    pub previous: u64,
    /// Regions created for names seen for the first time.
    pub regions_created: u64,
}

/// Replaces every subnet with the file's (CSV `cidr,region` or a
/// coverage-zone JSON), in one transaction: a bad file changes nothing.
pub async fn import_subnets(
    store: &Store,
    actor: Actor,
    input: &[u8],
) -> Result<ImportReport, RouterError> {
    let parsed = parse_subnets(input)?;
    // The last line for a subnet wins.
    let mut by_cidr: HashMap<String, String> = HashMap::with_capacity(parsed.len());
    for s in parsed {
        by_cidr.insert(s.subnet.to_string(), s.region);
    }
    let mut tx = store.begin(actor).await?;
    let before: Vec<i64> = with_tx!(tx, c => sqlx::query_scalar("SELECT id FROM router_region")
        .fetch_all(c)
        .await)?;
    let mut regions: HashMap<String, i64> = HashMap::new();
    let names: HashSet<&String> = by_cidr.values().collect();
    let mut names: Vec<&String> = names.into_iter().collect();
    names.sort();
    for name in names {
        let id = region_id(&mut tx, name).await?;
        regions.insert(name.clone(), id);
    }
    let created = regions.values().filter(|id| !before.contains(id)).count() as u64;
    let previous = tx
        .execute("router_subnet", "DELETE FROM router_subnet", &[])
        .await?;
    let mut rows: Vec<(&String, i64)> = by_cidr
        .iter()
        .map(|(cidr, region)| (cidr, regions[region]))
        .collect();
    rows.sort();
    for chunk in rows.chunks(SUBNET_BATCH) {
        let mut sql = String::from("INSERT INTO router_subnet (cidr, region_id) VALUES ");
        let mut args = Vec::with_capacity(chunk.len() * 2);
        for (i, (cidr, region)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${})", 2 * i + 1, 2 * i + 2));
            args.push(Arg::Text((*cidr).clone()));
            args.push(Arg::I64(*region));
        }
        tx.execute("router_subnet", &sql, &args).await?;
    }
    let report = ImportReport {
        subnets: rows.len() as u64,
        previous,
        regions_created: created,
    };
    commit_change(
        tx,
        store,
        "import",
        "router_subnet",
        None,
        serde_json::to_value(&report).unwrap_or_default(),
    )
    .await?;
    Ok(report)
}

/// Makes every router node reload now; returns the new version.
pub async fn resync(store: &Store) -> Result<i64, RouterError> {
    bump(store).await
}

/// Records the change's audit event, commits, and announces the new
/// version to the router nodes.
async fn commit_change(
    mut tx: efir_store::Tx,
    store: &Store,
    action: &str,
    entity: &str,
    entity_id: Option<String>,
    data: serde_json::Value,
) -> Result<(), RouterError> {
    tx.audit(None, action, entity, entity_id, data).await?;
    tx.commit().await?;
    bump(store).await?;
    Ok(())
}

/// Bumps the version and, on PostgreSQL, announces it on
/// [`NOTIFY_CHANNEL`] so that listening nodes reload at once (the others
/// see it at their next poll).
async fn bump(store: &Store) -> Result<i64, RouterError> {
    let v = store.bump_counter(VERSION_KEY).await?;
    if let efir_store::Pool::Postgres(p) = store.pool() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(v.to_string())
            .execute(p)
            .await?;
    }
    Ok(v)
}

/// The current version of the router's data.
pub async fn version(store: &Store) -> Result<String, RouterError> {
    let v: Option<String> = with_db!(store.pool(), p => sqlx::query_scalar(
        "SELECT value FROM efir_meta WHERE key = $1")
        .bind(VERSION_KEY)
        .fetch_optional(p)
        .await)?;
    Ok(v.unwrap_or_else(|| "0".into()))
}

/// Where an override sends content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// To this edge, when it can serve.
    Edge(select::EdgeId),
    /// To this region (then its fallbacks).
    Region(RegionId),
}

fn kind_text(kind: ContentKind) -> &'static str {
    match kind {
        ContentKind::Live => "live",
        ContentKind::Catchup => "catchup",
        ContentKind::Vod => "vod",
    }
}

/// Pins content (`kind`, `key`: a channel id, or a VOD path or prefix
/// ending in '/') to an edge or a region, replacing an earlier pin.
pub async fn set_override(
    store: &Store,
    actor: Actor,
    kind: ContentKind,
    key: &str,
    edge: Option<&str>,
    region: Option<&str>,
) -> Result<(), RouterError> {
    let key = key.trim().trim_start_matches('/');
    if key.is_empty() || key.len() > 1024 {
        return Err(RouterError::Invalid(
            "--key must be 1 to 1024 characters".into(),
        ));
    }
    let mut tx = store.begin(actor).await?;
    let (edge_id, region_id) = match (edge, region) {
        (Some(name), None) => {
            let id: Option<i64> = with_tx!(tx, c => sqlx::query_scalar(
                "SELECT id FROM router_edge WHERE name = $1")
                .bind(name)
                .fetch_optional(c)
                .await)?;
            let Some(id) = id else {
                tx.rollback().await?;
                return Err(RouterError::NotFound(format!("no edge named `{name}`")));
            };
            (Some(id), None)
        }
        (None, Some(name)) => {
            let id: Option<i64> = with_tx!(tx, c => sqlx::query_scalar(
                "SELECT id FROM router_region WHERE name = $1")
                .bind(name)
                .fetch_optional(c)
                .await)?;
            let Some(id) = id else {
                tx.rollback().await?;
                return Err(RouterError::NotFound(format!("no region named `{name}`")));
            };
            (None, Some(id))
        }
        _ => {
            tx.rollback().await?;
            return Err(RouterError::Invalid(
                "give exactly one of --edge and --region".into(),
            ));
        }
    };
    tx.execute(
        "router_override",
        "DELETE FROM router_override WHERE kind = $1 AND content_key = $2",
        &[Arg::Text(kind_text(kind).into()), Arg::Text(key.into())],
    )
    .await?;
    tx.execute(
        "router_override",
        "INSERT INTO router_override (kind, content_key, edge_id, region_id) VALUES ($1, $2, $3, $4)",
        &[
            Arg::Text(kind_text(kind).into()),
            Arg::Text(key.into()),
            Arg::OptI64(edge_id),
            Arg::OptI64(region_id),
        ],
    )
    .await?;
    commit_change(
        tx,
        store,
        "set",
        "router_override",
        Some(format!("{}:{key}", kind_text(kind))),
        json!({ "edge": edge, "region": region }),
    )
    .await?;
    Ok(())
}

/// Removes a pin; `NotFound` when there is none.
pub async fn remove_override(
    store: &Store,
    actor: Actor,
    kind: ContentKind,
    key: &str,
) -> Result<(), RouterError> {
    let key = key.trim().trim_start_matches('/');
    let mut tx = store.begin(actor).await?;
    let n = tx
        .execute(
            "router_override",
            "DELETE FROM router_override WHERE kind = $1 AND content_key = $2",
            &[Arg::Text(kind_text(kind).into()), Arg::Text(key.into())],
        )
        .await?;
    if n == 0 {
        tx.rollback().await?;
        return Err(RouterError::NotFound(format!(
            "no override for {} `{key}`",
            kind_text(kind)
        )));
    }
    commit_change(
        tx,
        store,
        "remove",
        "router_override",
        Some(format!("{}:{key}", kind_text(kind))),
        json!({}),
    )
    .await?;
    Ok(())
}

/// Everything a router node routes with.
#[derive(Debug)]
pub struct Loaded {
    /// The data version it was built from.
    pub version: String,
    /// Client address → region.
    pub subnets: SubnetTable,
    /// Edges, by region, with fallbacks.
    pub edges: select::Snapshot,
    /// Region names by id (for metrics and the state page).
    pub region_names: HashMap<RegionId, String>,
    /// What the health poller polls.
    pub targets: Vec<HealthTarget>,
    /// Pinned content by kind and key (channel id, VOD path or prefix).
    pub overrides: HashMap<(ContentKind, String), Pin>,
    /// Geolocation fallback: address ranges (16-byte keys as u128) of the
    /// countries regions claim, sorted by start, with their region.
    pub geo: Vec<(u128, u128, RegionId)>,
}

impl Loaded {
    /// The region of `ip` by geolocation (for clients no subnet matches):
    /// the region claiming the country of the range holding `ip`.
    pub fn geo_region(&self, ip: std::net::IpAddr) -> Option<RegionId> {
        if self.geo.is_empty() {
            return None;
        }
        let key = u128::from_be_bytes(efir_core::net::ip_key(ip));
        let i = self.geo.partition_point(|r| r.0 <= key);
        let (from, to, region) = *self.geo.get(i.checked_sub(1)?)?;
        (from <= key && key <= to).then_some(region)
    }

    /// The pin of a request: the channel's, or for VOD the asset path's or
    /// that of its longest prefix ending in '/'.
    pub fn pin(&self, kind: ContentKind, key: &str) -> Option<Pin> {
        if self.overrides.is_empty() {
            return None;
        }
        let key = key.trim_start_matches('/');
        let lookup = |k: &str| self.overrides.get(&(kind, k.to_string())).copied();
        if let Some(p) = lookup(key) {
            return Some(p);
        }
        if kind != ContentKind::Vod {
            return None;
        }
        let mut end = key.len();
        while let Some(slash) = key[..end].rfind('/') {
            if let Some(p) = lookup(&key[..=slash]) {
                return Some(p);
            }
            end = slash;
        }
        None
    }
}

#[derive(sqlx::FromRow)]
struct EdgeRow {
    id: i64,
    name: String,
    base_url: String,
    region_id: i64,
    weight: i64,
    capacity: Option<i64>,
    capacity_mbps: Option<i64>,
    enabled: bool,
    draining: bool,
    serves: String,
    channels: String,
    health_url: String,
}

fn small_id(id: i64) -> Result<u32, RouterError> {
    u32::try_from(id).map_err(|_| RouterError::Invalid(format!("id {id} is too large")))
}

/// Reads the whole configuration (version first, so a change during the
/// read is seen again at the next poll).
pub async fn load(store: &Store) -> Result<Loaded, RouterError> {
    let version = version(store).await?;
    let regions: Vec<(i64, String, String, bool)> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT id, name, fallback, is_default FROM router_region ORDER BY id")
        .fetch_all(p)
        .await)?;
    let by_name: HashMap<&str, i64> = regions.iter().map(|r| (r.1.as_str(), r.0)).collect();
    let mut fallback: HashMap<RegionId, Vec<RegionId>> = HashMap::new();
    let mut defaults = Vec::new();
    let mut region_names = HashMap::new();
    for (id, name, fb, is_default) in &regions {
        let id = small_id(*id)?;
        region_names.insert(id, name.clone());
        let mut list = Vec::new();
        for f in split_list(fb) {
            if let Some(&fid) = by_name.get(f) {
                list.push(small_id(fid)?);
            }
        }
        fallback.insert(id, list);
        if *is_default {
            defaults.push(id);
        }
    }
    let subnets: Vec<(String, i64)> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT cidr, region_id FROM router_subnet")
        .fetch_all(p)
        .await)?;
    let mut builder = SubnetTableBuilder::new();
    for (cidr, region) in subnets {
        match cidr.parse() {
            Ok(subnet) => builder.insert(subnet, small_id(region)?),
            Err(e) => tracing::warn!(%cidr, error = %e, "skipping a stored subnet"),
        }
    }
    let rows: Vec<EdgeRow> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT id, name, base_url, region_id, weight, capacity, capacity_mbps, enabled, \
         draining, serves, channels, health_url FROM router_edge ORDER BY id")
        .fetch_all(p)
        .await)?;
    let mut edges = Vec::with_capacity(rows.len());
    let mut targets = Vec::with_capacity(rows.len());
    for r in rows {
        let id = small_id(r.id)?;
        edges.push(select::Edge {
            id,
            name: r.name.clone(),
            region: small_id(r.region_id)?,
            base_url: r.base_url,
            weight: u32::try_from(r.weight.clamp(1, 1000)).unwrap_or(1),
            capacity: r.capacity.and_then(|c| u64::try_from(c).ok()),
            capacity_mbps: r.capacity_mbps.and_then(|c| u64::try_from(c).ok()),
            enabled: r.enabled,
            draining: r.draining,
            serves: parse_serves(&r.serves).unwrap_or_default(),
            channels: split_list(&r.channels).map(str::to_string).collect(),
        });
        targets.push(HealthTarget {
            edge: id,
            name: r.name,
            url: r.health_url,
        });
    }
    let pins: Vec<(String, String, Option<i64>, Option<i64>)> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT kind, content_key, edge_id, region_id FROM router_override")
        .fetch_all(p)
        .await)?;
    let mut overrides = HashMap::new();
    for (kind, key, edge, region) in pins {
        let Ok(kinds) = parse_serves(&kind) else {
            continue;
        };
        let pin = match (edge, region) {
            (Some(e), _) => Pin::Edge(small_id(e)?),
            (None, Some(r)) => Pin::Region(small_id(r)?),
            (None, None) => continue,
        };
        for k in kinds {
            overrides.insert((k, key.clone()), pin);
        }
    }
    let claims: Vec<(i64, String)> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT id, countries FROM router_region WHERE countries <> ''")
        .fetch_all(p)
        .await)?;
    let mut by_country: HashMap<String, RegionId> = HashMap::new();
    for (id, list) in claims {
        for c in split_list(&list) {
            by_country
                .entry(c.to_ascii_uppercase())
                .or_insert(small_id(id)?);
        }
    }
    let mut geo = Vec::new();
    if !by_country.is_empty() {
        let ranges: Vec<(Vec<u8>, Vec<u8>, String)> = with_db!(store.pool(), p => sqlx::query_as(
            "SELECT g.ip_from, g.ip_to, c.code FROM geo_ip_range g \
             JOIN country c ON c.id = g.country_id")
            .fetch_all(p)
            .await)?;
        for (from, to, code) in ranges {
            let (Ok(from), Ok(to)) = (
                <[u8; 16]>::try_from(from.as_slice()),
                <[u8; 16]>::try_from(to.as_slice()),
            ) else {
                continue;
            };
            if let Some(&region) = by_country.get(&code.to_ascii_uppercase()) {
                geo.push((u128::from_be_bytes(from), u128::from_be_bytes(to), region));
            }
        }
        geo.sort_unstable();
    }
    Ok(Loaded {
        geo,
        overrides,
        version,
        subnets: builder.build(),
        edges: select::Snapshot::new(edges, fallback, defaults),
        region_names,
        targets,
    })
}
