//! EPG channels and what hangs off them: `epg-channel-import` (names and
//! icons from a source), `recache-icons`, `epg-premiere-import` and the
//! channels `epg-import --create-content` makes for an operator.

use std::collections::HashMap;
use std::path::PathBuf;

use efir_store::audit::Arg;
use efir_store::{with_db, with_tx, Actor, Store, StoreError};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use crate::icons::IconStore;
use crate::import::{channel_names, fetch};
use crate::model::{self, EpgChannel, SourceRef};
use crate::xmltv::{self, Item, XmltvReader};
use crate::EpgError;

/// Icons downloaded at once.
const ICON_CONCURRENCY: usize = 8;

/// What `epg-channel-import` does.
#[derive(Debug, Clone)]
pub struct ChannelImportOptions {
    /// The source.
    pub source: SourceRef,
    /// Only this EPG channel.
    pub epg_channel_id: Option<i64>,
    /// Only the EPG channel of this Efir channel.
    pub channel_id: Option<i64>,
    /// Download icons again even when unchanged.
    pub reimport_icons: bool,
    /// Every channel of the source (the filters are ignored).
    pub force_import: bool,
    /// Merge EPG channels of the source sharing an external id first.
    pub fix_duplicates: bool,
    /// Where downloads go.
    pub work_dir: PathBuf,
}

/// What `epg-channel-import` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelImportSummary {
    /// `<channel>` elements in the guide.
    pub channels_seen: u64,
    /// EPG channels created.
    pub created: u64,
    /// EPG channels whose names or icon URL changed.
    pub updated: u64,
    /// EPG channels removed as duplicates (`--fix-duplicates`).
    pub duplicates_removed: u64,
    /// Icons downloaded and resized.
    pub icons_fetched: u64,
    /// Icons that could not be fetched.
    pub icons_failed: u64,
    /// One line per icon (`--verbose`).
    pub icon_log: Vec<String>,
    /// Problems, one line each.
    pub errors: Vec<String>,
}

/// Loads the EPG channels of a source: names and icon URLs, then icons.
pub async fn import_channels(
    store: &Store,
    http: &reqwest::Client,
    icons: &IconStore,
    actor: Actor,
    opts: &ChannelImportOptions,
) -> Result<ChannelImportSummary, EpgError> {
    let source = model::source(store, &opts.source).await?;
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|e| EpgError::Io(format!("{}: {e}", opts.work_dir.display())))?;
    let mut summary = ChannelImportSummary::default();
    if opts.fix_duplicates {
        summary.duplicates_removed = fix_duplicates(store, actor.clone(), source.id).await?;
    }
    // Which external id the filters name, if any.
    let mut only: Option<String> = None;
    if !opts.force_import {
        if let Some(id) = opts.epg_channel_id {
            let ch = model::channel(store, id).await?;
            if ch.source_id != source.id {
                return Err(EpgError::Invalid(format!(
                    "EPG channel {id} is not a channel of source `{}`",
                    source.name
                )));
            }
            only = Some(ch.ext_id);
        } else if let Some(cid) = opts.channel_id {
            let epg: Option<Option<i64>> = with_db!(store.pool(), p => sqlx::query_scalar(
                "SELECT epg_channel_id FROM channel WHERE id = $1")
                .bind(cid)
                .fetch_optional(p)
                .await)
            .map_err(StoreError::from)?;
            let epg = epg
                .ok_or_else(|| EpgError::NotFound(format!("no channel with id {cid}")))?
                .ok_or_else(|| EpgError::Invalid(format!("channel {cid} has no EPG channel")))?;
            only = Some(model::channel(store, epg).await?.ext_id);
        }
    }
    let (path, _checksum, _download) = fetch(http, &opts.work_dir, &source).await?;
    let declared = tokio::task::spawn_blocking(move || read_channels(&path))
        .await
        .map_err(|e| EpgError::Io(format!("parser thread: {e}")))??;
    summary.channels_seen = declared.len() as u64;
    let declared: Vec<xmltv::Channel> = declared
        .into_iter()
        .filter(|c| only.as_ref().is_none_or(|o| *o == c.id))
        .collect();
    if let Some(o) = &only {
        if declared.is_empty() {
            return Err(EpgError::NotFound(format!(
                "the guide of `{}` has no channel `{o}`",
                source.name
            )));
        }
    }

    // Names and icon URLs.
    let known: HashMap<String, EpgChannel> = model::channels(store, source.id)
        .await?
        .into_iter()
        .map(|c| (c.ext_id.clone(), c))
        .collect();
    let mut tx = store.begin(actor.clone()).await?;
    let now = efir_store::now();
    let mut wanted: Vec<(i64, String, bool)> = Vec::new();
    for ch in &declared {
        let (name, names) = channel_names(ch);
        let icon = ch.icons.first().map(|i| i.src.clone()).unwrap_or_default();
        match known.get(&ch.id) {
            Some(k) => {
                if k.name != name || k.names != names || k.icon_src != icon {
                    tx.execute(
                        "epg_channel",
                        "UPDATE epg_channel SET name = $1, names = $2, icon_src = $3, \
                         updated_at = $4 WHERE id = $5",
                        &[
                            Arg::Text(name),
                            Arg::Text(names),
                            Arg::Text(icon.clone()),
                            Arg::I64(now),
                            Arg::I64(k.id),
                        ],
                    )
                    .await?;
                    summary.updated += 1;
                }
                let stale = k.icon_key.is_empty() || k.icon_src != icon;
                wanted.push((k.id, icon, stale || opts.reimport_icons));
            }
            None => {
                let id =
                    model::insert_channel(&mut tx, source.id, &ch.id, &name, &names, &icon).await?;
                summary.created += 1;
                wanted.push((id, icon, true));
            }
        }
    }
    if summary.created + summary.updated > 0 {
        tx.audit(
            source.client_id,
            "import",
            "epg_channel",
            None,
            json!({ "source_id": source.id, "created": summary.created, "updated": summary.updated }),
        )
        .await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }

    // Icons.
    // A guide from the network may not make Efir read local files as icons.
    let remote = source.is_remote();
    let mut todo: Vec<(i64, String)> = Vec::new();
    for (id, src, fetch) in wanted {
        if !fetch || src.is_empty() {
            continue;
        }
        let lower = src.to_ascii_lowercase();
        if remote && !(lower.starts_with("http://") || lower.starts_with("https://")) {
            summary.icons_failed += 1;
            summary.errors.push(format!(
                "icon of EPG channel {id} ({src}): only http(s) icons are taken from a remote guide"
            ));
            continue;
        }
        todo.push((id, src));
    }
    fetch_icons(store, http, icons, actor, todo, &mut summary).await?;
    Ok(summary)
}

/// Downloads and stores the icons of `(epg channel id, src)` pairs,
/// recording what happened in `summary`.
async fn fetch_icons(
    store: &Store,
    http: &reqwest::Client,
    icons: &IconStore,
    actor: Actor,
    todo: Vec<(i64, String)>,
    summary: &mut ChannelImportSummary,
) -> Result<(), EpgError> {
    let results: Vec<(i64, String, Result<crate::icons::StoredIcon, String>)> =
        futures::stream::iter(todo)
            .map(|(id, src)| async move {
                let key = format!("epg/{id}");
                let got = icons
                    .fetch(http, &src, &key)
                    .await
                    .map_err(|e| e.to_string());
                (id, src, got)
            })
            .buffer_unordered(ICON_CONCURRENCY)
            .collect()
            .await;
    let mut stored: Vec<(i64, String, String)> = Vec::new();
    for (id, src, got) in results {
        match got {
            Ok(icon) => {
                summary.icons_fetched += 1;
                summary.icon_log.push(format!(
                    "EPG channel {id}: {src} → {} ({}x{})",
                    icon.key, icon.width, icon.height
                ));
                stored.push((id, icon.key, icon.sha256));
            }
            Err(e) => {
                summary.icons_failed += 1;
                summary
                    .icon_log
                    .push(format!("EPG channel {id}: {src}: {e}"));
                summary
                    .errors
                    .push(format!("icon of EPG channel {id} ({src}): {e}"));
            }
        }
    }
    if stored.is_empty() {
        return Ok(());
    }
    stored.sort();
    let mut tx = store.begin(actor).await?;
    for (id, key, sha) in &stored {
        tx.execute(
            "epg_channel",
            "UPDATE epg_channel SET icon_key = $1, icon_sha256 = $2, updated_at = $3 \
             WHERE id = $4",
            &[
                Arg::Text(key.clone()),
                Arg::Text(sha.clone()),
                Arg::I64(efir_store::now()),
                Arg::I64(*id),
            ],
        )
        .await?;
    }
    tx.audit(
        None,
        "icons",
        "epg_channel",
        None,
        json!({ "fetched": stored.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The `<channel>` elements of a guide (reading stops at the first
/// programme: XMLTV puts channels first).
fn read_channels(path: &std::path::Path) -> Result<Vec<xmltv::Channel>, EpgError> {
    let file = crate::input::open_file(path)
        .map_err(|e| EpgError::Source(format!("{}: {e}", path.display())))?;
    let mut reader = XmltvReader::new(file);
    let mut out = Vec::new();
    loop {
        match reader.next_item() {
            Ok(Some(Item::Channel(c))) => {
                if !out.iter().any(|o: &xmltv::Channel| o.id == c.id) {
                    out.push(c);
                }
            }
            Ok(Some(Item::Programme(_))) | Ok(None) => break,
            Ok(Some(Item::Skipped(_))) => {}
            Err(e) => return Err(EpgError::Malformed(e.to_string())),
        }
    }
    Ok(out)
}

/// Merges EPG channels of a source sharing an external id into the oldest:
/// Efir channels mapped to a duplicate are remapped, the duplicates (and
/// their programmes) removed. Returns how many were removed.
pub async fn fix_duplicates(store: &Store, actor: Actor, source_id: i64) -> Result<u64, EpgError> {
    let all = model::channels(store, source_id).await?;
    let mut first: HashMap<&str, i64> = HashMap::new();
    let mut dups: Vec<(i64, i64)> = Vec::new();
    for c in &all {
        match first.get(c.ext_id.as_str()) {
            Some(&keep) => dups.push((c.id, keep)),
            None => {
                first.insert(&c.ext_id, c.id);
            }
        }
    }
    if dups.is_empty() {
        return Ok(0);
    }
    let mut tx = store.begin(actor).await?;
    for (dup, keep) in &dups {
        tx.execute(
            "channel",
            "UPDATE channel SET epg_channel_id = $1 WHERE epg_channel_id = $2",
            &[Arg::I64(*keep), Arg::I64(*dup)],
        )
        .await?;
        tx.execute(
            "epg_channel",
            "DELETE FROM epg_channel WHERE id = $1",
            &[Arg::I64(*dup)],
        )
        .await?;
    }
    tx.audit(
        None,
        "merge_duplicates",
        "epg_channel",
        None,
        json!({ "source_id": source_id, "merged": dups }),
    )
    .await?;
    tx.commit().await?;
    Ok(dups.len() as u64)
}

/// What `recache-icons` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecacheSummary {
    /// EPG channels with an icon URL.
    pub checked: u64,
    /// Those whose every size was on disk.
    pub complete: u64,
    /// Icons fetched again.
    pub fetched: u64,
    /// Icons that could not be fetched.
    pub failed: u64,
    /// Problems, one line each.
    pub errors: Vec<String>,
}

/// Checks the stored sizes of every EPG channel's icon and fetches the
/// icons with sizes missing.
pub async fn recache_icons(
    store: &Store,
    http: &reqwest::Client,
    icons: &IconStore,
    actor: Actor,
) -> Result<RecacheSummary, EpgError> {
    let sql = format!(
        "SELECT {} FROM epg_channel WHERE icon_src <> '' ORDER BY id",
        model::CHANNEL_COLUMNS
    );
    let all: Vec<EpgChannel> = with_db!(store.pool(), p => sqlx::query_as(&sql)
        .fetch_all(p)
        .await)
    .map_err(StoreError::from)?;
    let mut out = RecacheSummary {
        checked: all.len() as u64,
        ..RecacheSummary::default()
    };
    let remote: HashMap<i64, bool> = model::sources(store, None)
        .await?
        .into_iter()
        .map(|s| (s.id, s.is_remote()))
        .collect();
    let mut todo = Vec::new();
    for c in all {
        let lower = c.icon_src.to_ascii_lowercase();
        let web = lower.starts_with("http://") || lower.starts_with("https://");
        if !web && remote.get(&c.source_id).copied().unwrap_or(true) {
            out.failed += 1;
            out.errors.push(format!(
                "icon of EPG channel {} ({}): only http(s) icons are taken from a remote guide",
                c.id, c.icon_src
            ));
            continue;
        }
        let present = if c.icon_key.is_empty() {
            Vec::new()
        } else {
            icons.sizes_present(&c.icon_key).unwrap_or_default()
        };
        if present.len() == crate::icons::ICON_SIZES.len() {
            out.complete += 1;
        } else {
            todo.push((c.id, c.icon_src));
        }
    }
    let mut summary = ChannelImportSummary::default();
    fetch_icons(store, http, icons, actor, todo, &mut summary).await?;
    out.fetched = summary.icons_fetched;
    out.failed = summary.icons_failed;
    out.errors = summary.errors;
    Ok(out)
}

/// What `epg-premiere-import` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PremiereSummary {
    /// Premieres listed now.
    pub premieres: u64,
    /// Premieres listed before.
    pub previous: u64,
}

/// Rebuilds the premiere list from programmes marked `<premiere/>` that
/// start within `days` days.
pub async fn import_premieres(
    store: &Store,
    actor: Actor,
    epg_channel_id: Option<i64>,
    days: i64,
) -> Result<PremiereSummary, EpgError> {
    let now = efir_store::now();
    let mut tx = store.begin(actor).await?;
    let previous = tx
        .execute(
            "epg_premiere",
            "DELETE FROM epg_premiere WHERE ($1 IS NULL OR epg_channel_id = $1)",
            &[Arg::OptI64(epg_channel_id)],
        )
        .await?;
    let premieres = tx
        .execute(
            "epg_premiere",
            "INSERT INTO epg_premiere (epg_programme_id, epg_channel_id, start_at, created_at) \
             SELECT id, epg_channel_id, start_at, $1 FROM epg_programme \
             WHERE premiere = TRUE AND stop_at > $1 AND start_at < $2 \
             AND ($3 IS NULL OR epg_channel_id = $3)",
            &[
                Arg::I64(now),
                Arg::I64(now + days * 86_400),
                Arg::OptI64(epg_channel_id),
            ],
        )
        .await?;
    tx.audit(
        None,
        "import",
        "epg_premiere",
        epg_channel_id.map(|i| i.to_string()),
        json!({ "premieres": premieres, "previous": previous, "days": days }),
    )
    .await?;
    tx.commit().await?;
    Ok(PremiereSummary {
        premieres,
        previous,
    })
}

/// Creates, for operator `client_id`, a channel for every enabled EPG
/// channel of `source_ids` that none of its channels shows yet, named
/// after the guide and mapped to it. Returns how many were created.
pub async fn create_content(
    store: &Store,
    actor: Actor,
    client_id: i64,
    source_ids: &[i64],
) -> Result<u64, EpgError> {
    let mut created = 0u64;
    let mut tx = store.begin(actor).await?;
    let mut sort: i64 = with_tx!(tx, c => sqlx::query_scalar(
        "SELECT COALESCE(MAX(sort), 0) FROM channel WHERE client_id = $1")
        .bind(client_id)
        .fetch_one(c)
        .await)
    .map_err(StoreError::from)?;
    let now = efir_store::now();
    for source_id in source_ids {
        let unmapped: Vec<(i64, String)> = with_tx!(tx, c => sqlx::query_as(
            "SELECT e.id, e.name FROM epg_channel e WHERE e.source_id = $1 AND e.enabled \
             AND NOT EXISTS (SELECT 1 FROM channel c WHERE c.client_id = $2 \
             AND c.epg_channel_id = e.id) ORDER BY e.id")
            .bind(source_id)
            .bind(client_id)
            .fetch_all(c)
            .await)
        .map_err(StoreError::from)?;
        for (epg_id, name) in unmapped {
            sort += 1;
            tx.execute(
                "channel",
                "INSERT INTO channel (client_id, name, epg_channel_id, sort, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
                &[
                    Arg::I64(client_id),
                    Arg::Text(name),
                    Arg::I64(epg_id),
                    Arg::I64(sort),
                    Arg::I64(now),
                ],
            )
            .await?;
            created += 1;
        }
    }
    if created == 0 {
        tx.rollback().await?;
        return Ok(0);
    }
    tx.audit(
        Some(client_id),
        "create_from_epg",
        "channel",
        None,
        json!({ "created": created, "sources": source_ids }),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}
