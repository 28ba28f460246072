//! `efir manage epg-import`: a guide from its source into the store.
//!
//! An import runs in two phases so that a bad document changes nothing
//! and memory stays bounded whatever the guide's size:
//!
//! 1. **Parse** (a blocking thread): the guide is streamed through
//!    [`XmltvReader`]; every programme is converted (times to UTC with the
//!    EPG channel's zone, categories through the source's map) and spooled
//!    to a temporary file, indexed by channel. Malformed programmes are
//!    reported and skipped; a malformed document stops here, before any
//!    write.
//! 2. **Apply**, one transaction per EPG channel: the channel's programmes
//!    are normalised (sorted, duplicates dropped, missing stops taken from
//!    the next start, overlaps clipped) and compared by digest with what
//!    the store holds from the first new start on. Only differences are
//!    written, so re-importing an unchanged guide writes nothing, and a
//!    subscriber never sees a half-replaced channel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use efir_store::audit::Arg;
use efir_store::{with_db, with_tx, Actor, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::model::{self, Source, SourceRef};
use crate::xmltv::{self, DefaultZone, Item, XmltvReader};
use crate::EpgError;

/// Most skipped-programme messages kept in a summary (all are counted).
const MAX_REPORTED: usize = 50;
/// Rows per multi-row `INSERT`.
const INSERT_BATCH: usize = 50;
/// Largest guide downloaded, in bytes.
pub const MAX_DOWNLOAD_BYTES: u64 = 8 << 30;

/// Progress of a long import, shown as a bar on a terminal.
pub trait Progress: Send + Sync {
    /// A phase starts: `label`, and its length (bytes or channels) when known.
    fn start(&self, label: &str, total: Option<u64>);
    /// The current position in the phase.
    fn set(&self, position: u64);
    /// The phase ended.
    fn finish(&self);
}

/// What `epg-import` does.
#[derive(Clone, Default)]
pub struct ImportOptions {
    /// Only this source (else every enabled one).
    pub source: Option<SourceRef>,
    /// Only this EPG channel.
    pub epg_channel_id: Option<i64>,
    /// Delete programmes that ended more than this many days ago.
    pub actual_days: Option<i64>,
    /// Import even when the guide did not change since the last import.
    pub force: bool,
    /// Only this operator's sources (and the shared ones).
    pub client_id: Option<i64>,
    /// Where downloads and spool files go (created when missing).
    pub work_dir: PathBuf,
    /// Progress display.
    pub progress: Option<Arc<dyn Progress>>,
}

/// What an import did; `epg-import --json` prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// Sources looked at.
    pub sources: u64,
    /// Sources skipped because their guide did not change.
    pub sources_unchanged: u64,
    /// Sources whose import failed (their previous guide is intact).
    pub sources_failed: u64,
    /// EPG channels with programmes in the imported guides.
    pub channels: u64,
    /// EPG channels created from `<channel>` elements seen for the first time.
    pub channels_created: u64,
    /// Programmes read.
    pub programmes: u64,
    /// Programmes written for the first time.
    pub programmes_added: u64,
    /// Programmes whose content changed.
    pub programmes_updated: u64,
    /// Programmes no longer in the guide.
    pub programmes_removed: u64,
    /// Programmes older than `--actual-days`, deleted.
    pub programmes_expired: u64,
    /// Programmes dropped as duplicates or without any end time.
    pub programmes_dropped: u64,
    /// Malformed programmes skipped.
    pub programmes_skipped: u64,
    /// Programmes of channels neither declared in the guide nor known.
    pub programmes_unknown_channel: u64,
    /// What went wrong, one line each (the first few skipped programmes too).
    pub errors: Vec<String>,
    /// Wall time.
    pub seconds: f64,
}

impl ImportSummary {
    /// Whether the store's guide changed.
    pub fn changed(&self) -> bool {
        self.programmes_added
            + self.programmes_updated
            + self.programmes_removed
            + self.programmes_expired
            + self.channels_created
            > 0
    }

    fn absorb(&mut self, o: ImportSummary) {
        self.sources += o.sources;
        self.sources_unchanged += o.sources_unchanged;
        self.sources_failed += o.sources_failed;
        self.channels += o.channels;
        self.channels_created += o.channels_created;
        self.programmes += o.programmes;
        self.programmes_added += o.programmes_added;
        self.programmes_updated += o.programmes_updated;
        self.programmes_removed += o.programmes_removed;
        self.programmes_expired += o.programmes_expired;
        self.programmes_dropped += o.programmes_dropped;
        self.programmes_skipped += o.programmes_skipped;
        self.programmes_unknown_channel += o.programmes_unknown_channel;
        self.errors.extend(o.errors);
    }
}

/// Imports the selected sources. A failing source is reported in the
/// summary (`sources_failed`, `errors`) and the others still run; the
/// error return is for failures of the store itself.
pub async fn run(
    store: &Store,
    http: &reqwest::Client,
    actor: Actor,
    opts: &ImportOptions,
) -> Result<ImportSummary, EpgError> {
    let started = Instant::now();
    let mut selected = match &opts.source {
        Some(which) => vec![model::source(store, which).await?],
        None => model::sources(store, opts.client_id)
            .await?
            .into_iter()
            .filter(|s| s.enabled)
            .collect(),
    };
    if let Some(id) = opts.epg_channel_id {
        let ch = model::channel(store, id).await?;
        selected.retain(|s| s.id == ch.source_id);
        if selected.is_empty() {
            return Err(EpgError::Invalid(format!(
                "EPG channel {id} belongs to none of the selected sources"
            )));
        }
    }
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|e| EpgError::Io(format!("{}: {e}", opts.work_dir.display())))?;
    let mut summary = ImportSummary::default();
    for source in selected {
        let one = import_source(store, http, actor.clone(), opts, &source).await;
        match one {
            Ok(s) => summary.absorb(s),
            Err(EpgError::Store(e)) => return Err(EpgError::Store(e)),
            Err(e) => {
                let message = e.to_string();
                tracing::warn!(source = %source.name, error = %message, "EPG import failed");
                summary.sources += 1;
                summary.sources_failed += 1;
                summary
                    .errors
                    .push(format!("source `{}`: {message}", source.name));
                record_result(store, actor.clone(), &source, None, &message).await?;
            }
        }
    }
    summary.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    Ok(summary)
}

/// Imports one source.
async fn import_source(
    store: &Store,
    http: &reqwest::Client,
    actor: Actor,
    opts: &ImportOptions,
    source: &Source,
) -> Result<ImportSummary, EpgError> {
    let mut summary = ImportSummary {
        sources: 1,
        ..ImportSummary::default()
    };
    let (path, checksum, _download) = fetch(http, &opts.work_dir, source).await?;
    if !opts.force
        && opts.epg_channel_id.is_none()
        && source.last_error.is_empty()
        && source.last_checksum == checksum
    {
        summary.sources_unchanged = 1;
        return Ok(summary);
    }
    let known = model::channels(store, source.id).await?;
    let only = match opts.epg_channel_id {
        Some(id) => known.iter().find(|c| c.id == id).map(|c| c.ext_id.clone()),
        None => None,
    };
    let categories = category_map(store, source.id).await?;
    let spool = tempfile::Builder::new()
        .prefix(&format!("epg-spool-{}-", source.id))
        .tempfile_in(&opts.work_dir)
        .map_err(|e| EpgError::Io(format!("{}: {e}", opts.work_dir.display())))?;
    let plan = ParsePlan {
        path: path.clone(),
        source_zone: source.default_zone(),
        zones: known
            .iter()
            .map(|c| (c.ext_id.clone(), (c.default_zone(source), c.enabled)))
            .collect(),
        only,
        categories: categories.clone(),
        spool: spool.reopen().map_err(|e| EpgError::Io(e.to_string()))?,
        progress: opts.progress.clone(),
    };
    let parsed = tokio::task::spawn_blocking(move || parse(plan))
        .await
        .map_err(|e| EpgError::Io(format!("parser thread: {e}")))??;
    summary.programmes = parsed.programmes;
    summary.programmes_skipped = parsed.skipped;
    summary.programmes_unknown_channel = parsed.unknown.values().sum();
    summary.errors.extend(
        parsed
            .reports
            .iter()
            .map(|r| format!("source `{}`: {r}", source.name)),
    );
    if !parsed.unknown.is_empty() {
        let mut ids: Vec<&String> = parsed.unknown.keys().collect();
        ids.sort();
        let shown: Vec<&str> = ids.iter().take(5).map(|s| s.as_str()).collect();
        summary.errors.push(format!(
            "source `{}`: {} programmes of {} unknown channels skipped ({}{})",
            source.name,
            summary.programmes_unknown_channel,
            ids.len(),
            shown.join(", "),
            if ids.len() > 5 { ", …" } else { "" }
        ));
    }

    // New EPG channels and newly seen categories.
    let mut ids: HashMap<String, i64> = known.iter().map(|c| (c.ext_id.clone(), c.id)).collect();
    if !parsed.declared.is_empty() {
        summary.channels_created =
            create_channels(store, actor.clone(), source, &parsed.declared, &mut ids).await?;
    }
    if !parsed.unmapped.is_empty() {
        remember_categories(store, actor.clone(), source, &parsed.unmapped).await?;
    }

    // Apply, channel by channel.
    let spool_file = Arc::new(parsed.spool);
    let mut channels: Vec<(&String, &Vec<(u64, u32)>)> = parsed.index.iter().collect();
    channels.sort();
    if let Some(p) = &opts.progress {
        p.start(
            &format!("{}: applying", source.name),
            Some(channels.len() as u64),
        );
    }
    for (n, (ext_id, records)) in channels.into_iter().enumerate() {
        let Some(&channel_id) = ids.get(ext_id) else {
            continue;
        };
        let file = spool_file.clone();
        let records = records.clone();
        let rows = tokio::task::spawn_blocking(move || read_rows(&file, &records))
            .await
            .map_err(|e| EpgError::Io(format!("spool reader: {e}")))??;
        let (rows, dropped) = normalise(rows);
        summary.programmes_dropped += dropped;
        summary.channels += 1;
        let done = apply_channel(store, actor.clone(), channel_id, ext_id, rows).await?;
        summary.programmes_added += done.0;
        summary.programmes_updated += done.1;
        summary.programmes_removed += done.2;
        if let Some(p) = &opts.progress {
            p.set(n as u64 + 1);
        }
    }
    if let Some(p) = &opts.progress {
        p.finish();
    }
    if let Some(days) = opts.actual_days {
        summary.programmes_expired = expire(store, actor.clone(), source, days).await?;
    }
    let result = json!({
        "channels": summary.channels, "programmes": summary.programmes,
        "added": summary.programmes_added, "updated": summary.programmes_updated,
        "removed": summary.programmes_removed, "skipped": summary.programmes_skipped,
    });
    record_result(store, actor, source, Some((&checksum, result)), "").await?;
    Ok(summary)
}

/// The guide of `source` as a file on disk, its SHA-256, and the download
/// to delete afterwards (for remote sources).
pub(crate) async fn fetch(
    http: &reqwest::Client,
    work_dir: &Path,
    source: &Source,
) -> Result<(PathBuf, String, Option<tempfile::TempPath>), EpgError> {
    if source.is_remote() {
        let url = source.resolved_url(efir_store::now());
        let dest = tempfile::Builder::new()
            .prefix(&format!("epg-download-{}-", source.id))
            .tempfile_in(work_dir)
            .map_err(|e| EpgError::Io(e.to_string()))?
            .into_temp_path();
        let got = crate::input::download(http, &url, &dest, MAX_DOWNLOAD_BYTES)
            .await
            .map_err(|e| EpgError::Source(e.to_string()))?;
        Ok((dest.to_path_buf(), got.sha256, Some(dest)))
    } else {
        let path = PathBuf::from(source.url.strip_prefix("file://").unwrap_or(&source.url));
        let p = path.clone();
        let sum = tokio::task::spawn_blocking(move || crate::input::sha256_file(&p))
            .await
            .map_err(|e| EpgError::Io(e.to_string()))?
            .map_err(|e| EpgError::Source(format!("{}: {e}", path.display())))?;
        Ok((path, sum, None))
    }
}

/// A programme as stored: every column of `epg_programme` but the ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Start, UTC seconds.
    pub start_at: i64,
    /// End, UTC seconds (0 while unknown, before normalisation).
    pub stop_at: i64,
    /// Title in the default language.
    pub title: String,
    /// Sub-title in the default language.
    pub sub_title: String,
    /// Description in the default language.
    pub description: String,
    /// Other languages, JSON.
    pub i18n: String,
    /// First mapped category.
    pub category_id: Option<i64>,
    /// Mapped category names, JSON list.
    pub genres: String,
    /// Everything else, JSON object.
    pub details: String,
    /// Year of production.
    pub year: Option<i64>,
    /// Season, 1-based.
    pub season: Option<i64>,
    /// Episode, 1-based.
    pub episode: Option<i64>,
    /// Picture URL.
    pub icon: String,
    /// Age rating.
    pub rating: String,
    /// A premiere.
    pub premiere: bool,
    /// New.
    pub is_new: bool,
}

impl Row {
    /// Digest of the content: equal digests, nothing to write.
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(&Sha256::digest(&bytes)[..16])
    }
}

/// What the parse thread needs.
struct ParsePlan {
    path: PathBuf,
    source_zone: DefaultZone,
    /// Known channels: zone and whether enabled.
    zones: HashMap<String, (DefaultZone, bool)>,
    only: Option<String>,
    categories: HashMap<String, (i64, String)>,
    spool: std::fs::File,
    progress: Option<Arc<dyn Progress>>,
}

/// What the parse thread found.
struct Parsed {
    programmes: u64,
    skipped: u64,
    reports: Vec<String>,
    unknown: HashMap<String, u64>,
    declared: Vec<xmltv::Channel>,
    unmapped: HashSet<String>,
    /// Spool records per channel ext id: (offset, length).
    index: HashMap<String, Vec<(u64, u32)>>,
    spool: std::fs::File,
}

/// A reader that counts the bytes read through it (the compressed bytes,
/// for the progress bar).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn parse(plan: ParsePlan) -> Result<Parsed, EpgError> {
    let file = std::fs::File::open(&plan.path)
        .map_err(|e| EpgError::Source(format!("{}: {e}", plan.path.display())))?;
    let total = file.metadata().map(|m| m.len()).ok();
    let count = Arc::new(AtomicU64::new(0));
    let counted = Counting {
        inner: file,
        count: count.clone(),
    };
    let input = crate::input::open_reader(counted)
        .map_err(|e| EpgError::Source(format!("{}: {e}", plan.path.display())))?;
    let mut reader = XmltvReader::new(input);
    if let Some(p) = &plan.progress {
        p.start("parsing", total);
    }
    let mut out = Parsed {
        programmes: 0,
        skipped: 0,
        reports: Vec::new(),
        unknown: HashMap::new(),
        declared: Vec::new(),
        unmapped: HashSet::new(),
        index: HashMap::new(),
        spool: plan
            .spool
            .try_clone()
            .map_err(|e| EpgError::Io(e.to_string()))?,
    };
    let mut declared: HashSet<String> = HashSet::new();
    let mut spool = BufWriter::with_capacity(1 << 20, plan.spool);
    let mut offset = 0u64;
    let mut buf = Vec::with_capacity(4096);
    let mut n = 0u64;
    loop {
        let item = reader
            .next_item()
            .map_err(|e| EpgError::Malformed(format!("{e}; the previous guide is kept")))?;
        let Some(item) = item else { break };
        n += 1;
        if n.is_multiple_of(4096) {
            if let Some(p) = &plan.progress {
                p.set(count.load(Ordering::Relaxed));
            }
        }
        match item {
            Item::Channel(ch) => {
                if !plan.zones.contains_key(&ch.id) && declared.insert(ch.id.clone()) {
                    out.declared.push(ch);
                }
            }
            Item::Skipped(s) => {
                out.skipped += 1;
                if out.reports.len() < MAX_REPORTED {
                    out.reports.push(format!(
                        "line {}: {} skipped: {}",
                        s.line, s.element, s.message
                    ));
                }
            }
            Item::Programme(p) => {
                out.programmes += 1;
                if plan.only.as_ref().is_some_and(|o| *o != p.channel) {
                    continue;
                }
                let zone = match plan.zones.get(&p.channel) {
                    Some((_, false)) => continue,
                    Some((zone, true)) => zone,
                    None if declared.contains(&p.channel) => &plan.source_zone,
                    None => {
                        *out.unknown.entry(p.channel.clone()).or_default() += 1;
                        continue;
                    }
                };
                let row = convert(&p, zone, &plan.categories, &mut out.unmapped);
                buf.clear();
                serde_json::to_writer(&mut buf, &row)
                    .map_err(|e| EpgError::Io(format!("spool: {e}")))?;
                spool
                    .write_all(&buf)
                    .map_err(|e| EpgError::Io(format!("spool: {e}")))?;
                let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
                out.index
                    .entry(p.channel.clone())
                    .or_default()
                    .push((offset, len));
                offset += buf.len() as u64;
            }
        }
    }
    spool
        .flush()
        .map_err(|e| EpgError::Io(format!("spool: {e}")))?;
    if let Some(p) = &plan.progress {
        p.set(count.load(Ordering::Relaxed));
        p.finish();
    }
    Ok(out)
}

/// Reads a channel's spooled rows.
fn read_rows(file: &std::fs::File, records: &[(u64, u32)]) -> Result<Vec<Row>, EpgError> {
    let mut rows = Vec::with_capacity(records.len());
    let mut buf = Vec::new();
    for &(offset, len) in records {
        buf.resize(len as usize, 0);
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| EpgError::Io(format!("spool: {e}")))?;
        rows.push(serde_json::from_slice(&buf).map_err(|e| EpgError::Io(format!("spool: {e}")))?);
    }
    Ok(rows)
}

/// Language code of a text, lowercased; '' when none.
fn lang_of(t: &xmltv::Text) -> String {
    t.lang.as_deref().unwrap_or("").trim().to_ascii_lowercase()
}

/// The text of `lang` among `texts`: that language, else one without a
/// language, else the first.
fn pick<'a>(texts: &'a [xmltv::Text], lang: &str) -> Option<&'a str> {
    texts
        .iter()
        .find(|t| lang_of(t) == lang)
        .or_else(|| texts.iter().find(|t| t.lang.is_none()))
        .or_else(|| texts.first())
        .map(|t| t.value.as_str())
}

/// A parsed programme as a row (stop 0 when the guide gives none).
pub fn convert(
    p: &xmltv::Programme,
    zone: &DefaultZone,
    categories: &HashMap<String, (i64, String)>,
    unmapped: &mut HashSet<String>,
) -> Row {
    let start_at = p.start.to_utc(zone);
    let stop_at = match (p.stop, p.length_secs) {
        (Some(stop), _) => stop.to_utc(zone),
        (None, Some(len)) if len > 0 => start_at + len,
        _ => 0,
    };
    let default_lang = p.titles.first().map(lang_of).unwrap_or_default();
    let title = pick(&p.titles, &default_lang).unwrap_or("").to_string();
    let sub_title = pick(&p.sub_titles, &default_lang).unwrap_or("").to_string();
    let description = pick(&p.descs, &default_lang).unwrap_or("").to_string();
    // Other languages, each with its own title, sub-title and description.
    let mut langs: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (field, texts) in [
        ("title", &p.titles),
        ("sub_title", &p.sub_titles),
        ("description", &p.descs),
    ] {
        for t in texts.iter() {
            let l = lang_of(t);
            if l.is_empty() || l == default_lang {
                continue;
            }
            langs
                .entry(l)
                .or_default()
                .entry(field)
                .or_insert_with(|| Value::String(t.value.clone()));
        }
    }
    let i18n = if langs.is_empty() {
        "{}".to_string()
    } else {
        serde_json::to_string(&langs).unwrap_or_else(|_| "{}".into())
    };
    let mut category_id = None;
    let mut genres: Vec<&str> = Vec::new();
    for c in &p.categories {
        match categories.get(c.value.as_str()) {
            Some((id, name)) => {
                category_id.get_or_insert(*id);
                if !genres.contains(&name.as_str()) {
                    genres.push(name);
                }
            }
            None => {
                if unmapped.len() < 10_000 {
                    unmapped.insert(c.value.clone());
                }
            }
        }
    }
    let mut details = Map::new();
    if !p.credits.is_empty() {
        details.insert(
            "credits".into(),
            Value::Array(
                p.credits
                    .iter()
                    .map(|c| json!({ "kind": c.kind, "name": c.name, "role": c.role }))
                    .collect(),
            ),
        );
    }
    let plain = |texts: &[xmltv::Text]| -> Value {
        Value::Array(
            texts
                .iter()
                .map(|t| Value::String(t.value.clone()))
                .collect(),
        )
    };
    if !p.countries.is_empty() {
        details.insert("countries".into(), plain(&p.countries));
    }
    if !p.keywords.is_empty() {
        details.insert("keywords".into(), plain(&p.keywords));
    }
    if !p.categories.is_empty() {
        details.insert("categories".into(), plain(&p.categories));
    }
    if let Some(e) = p.episode_nums.first() {
        details.insert("episode_num".into(), json!(e.value));
    }
    if let Some(s) = &p.star_rating {
        details.insert("star_rating".into(), json!(s));
    }
    if p.previously_shown {
        details.insert("previously_shown".into(), json!(true));
    }
    if p.icons.len() > 1 {
        details.insert(
            "previews".into(),
            Value::Array(p.icons.iter().map(|i| json!(i.src)).collect()),
        );
    }
    let year = p
        .date
        .as_deref()
        .and_then(|d| d.get(..4))
        .and_then(|y| y.parse::<i64>().ok())
        .filter(|y| (1800..=3000).contains(y));
    let (season, episode) = p.episode().unwrap_or((None, None));
    Row {
        start_at,
        stop_at,
        title,
        sub_title,
        description,
        i18n,
        category_id,
        genres: serde_json::to_string(&genres).unwrap_or_else(|_| "[]".into()),
        details: Value::Object(details).to_string(),
        year,
        season: season.map(i64::from),
        episode: episode.map(i64::from),
        icon: p.icons.first().map(|i| i.src.clone()).unwrap_or_default(),
        rating: p
            .ratings
            .first()
            .map(|r| r.value.clone())
            .unwrap_or_default(),
        premiere: p.premiere,
        is_new: p.new,
    }
}

/// Orders a channel's rows and resolves conflicts deterministically: by
/// start (guide order among equal starts), the first of equal starts kept,
/// a missing stop taken from the next start, a stop past the next start
/// clipped to it, rows left without a positive length dropped. Returns
/// the rows and how many were dropped.
pub fn normalise(mut rows: Vec<Row>) -> (Vec<Row>, u64) {
    rows.sort_by_key(|r| r.start_at);
    let before = rows.len();
    rows.dedup_by_key(|r| r.start_at);
    let mut out = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let next = rows.get(i + 1).map(|r| r.start_at);
        let mut row = rows[i].clone();
        if row.stop_at == 0 {
            match next {
                Some(n) => row.stop_at = n,
                None => continue,
            }
        }
        if let Some(n) = next {
            row.stop_at = row.stop_at.min(n);
        }
        if row.stop_at > row.start_at {
            out.push(row);
        }
    }
    let dropped = (before - out.len()) as u64;
    (out, dropped)
}

#[derive(sqlx::FromRow)]
struct Existing {
    id: i64,
    start_at: i64,
    hash: String,
}

/// Column list of `epg_programme` inserts, after `epg_channel_id`.
const ROW_COLUMNS: &str = "start_at, stop_at, title, sub_title, description, i18n, \
    category_id, genres, details, year, season, episode, icon, rating, premiere, is_new, hash";

fn row_args(row: &Row, hash: String) -> [Arg; 17] {
    [
        Arg::I64(row.start_at),
        Arg::I64(row.stop_at),
        Arg::Text(row.title.clone()),
        Arg::Text(row.sub_title.clone()),
        Arg::Text(row.description.clone()),
        Arg::Text(row.i18n.clone()),
        Arg::OptI64(row.category_id),
        Arg::Text(row.genres.clone()),
        Arg::Text(row.details.clone()),
        Arg::OptI64(row.year),
        Arg::OptI64(row.season),
        Arg::OptI64(row.episode),
        Arg::Text(row.icon.clone()),
        Arg::Text(row.rating.clone()),
        Arg::Bool(row.premiere),
        Arg::Bool(row.is_new),
        Arg::Text(hash),
    ]
}

/// Replaces a channel's guide from the first new start on with `rows`,
/// writing only the differences, in one transaction. Returns (added,
/// updated, removed).
async fn apply_channel(
    store: &Store,
    actor: Actor,
    channel_id: i64,
    ext_id: &str,
    rows: Vec<Row>,
) -> Result<(u64, u64, u64), EpgError> {
    let Some(first) = rows.first().map(|r| r.start_at) else {
        return Ok((0, 0, 0));
    };
    let mut tx = store.begin(actor).await?;
    let existing: Vec<Existing> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, start_at, hash FROM epg_programme \
         WHERE epg_channel_id = $1 AND start_at >= $2")
        .bind(channel_id)
        .bind(first)
        .fetch_all(c)
        .await)
    .map_err(StoreError::from)?;
    let mut by_start: HashMap<i64, Existing> =
        existing.into_iter().map(|e| (e.start_at, e)).collect();
    let mut inserts: Vec<(Row, String)> = Vec::new();
    let mut updates: Vec<(i64, Row, String)> = Vec::new();
    for row in rows {
        let hash = row.digest();
        match by_start.remove(&row.start_at) {
            Some(e) if e.hash == hash => {}
            Some(e) => updates.push((e.id, row, hash)),
            None => inserts.push((row, hash)),
        }
    }
    let mut removed: Vec<i64> = by_start.into_values().map(|e| e.id).collect();
    removed.sort_unstable();
    if inserts.is_empty() && updates.is_empty() && removed.is_empty() {
        tx.rollback().await?;
        return Ok((0, 0, 0));
    }
    for chunk in removed.chunks(500) {
        let sql = format!(
            "DELETE FROM epg_programme WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let args: Vec<Arg> = chunk.iter().map(|id| Arg::I64(*id)).collect();
        tx.execute("epg_programme", &sql, &args).await?;
    }
    let update_sql = "UPDATE epg_programme SET start_at = $1, stop_at = $2, title = $3, \
        sub_title = $4, description = $5, i18n = $6, category_id = $7, genres = $8, \
        details = $9, year = $10, season = $11, episode = $12, icon = $13, rating = $14, \
        premiere = $15, is_new = $16, hash = $17 WHERE id = $18";
    for (id, row, hash) in &updates {
        let mut args = row_args(row, hash.clone()).to_vec();
        args.push(Arg::I64(*id));
        tx.execute("epg_programme", update_sql, &args).await?;
    }
    for chunk in inserts.chunks(INSERT_BATCH) {
        let mut sql = format!("INSERT INTO epg_programme (epg_channel_id, {ROW_COLUMNS}) VALUES ");
        let mut args: Vec<Arg> = Vec::with_capacity(chunk.len() * 18);
        for (i, (row, hash)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&placeholders(args.len() + 1, 18));
            sql.push(')');
            args.push(Arg::I64(channel_id));
            args.extend(row_args(row, hash.clone()));
        }
        tx.execute("epg_programme", &sql, &args).await?;
    }
    let counts = (
        inserts.len() as u64,
        updates.len() as u64,
        removed.len() as u64,
    );
    tx.audit(
        None,
        "import",
        "epg_channel",
        Some(channel_id.to_string()),
        json!({ "ext_id": ext_id, "added": counts.0, "updated": counts.1, "removed": counts.2 }),
    )
    .await?;
    tx.commit().await?;
    Ok(counts)
}

/// `$from, $from+1, …` (`count` of them).
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The source's category map: source name → (category id, category name).
async fn category_map(
    store: &Store,
    source_id: i64,
) -> Result<HashMap<String, (i64, String)>, EpgError> {
    let rows: Vec<(String, i64, String)> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT m.source_category, c.id, c.name FROM epg_source_category_map m \
         JOIN epg_category c ON c.id = m.epg_category_id WHERE m.source_id = $1")
        .bind(source_id)
        .fetch_all(p)
        .await)
    .map_err(StoreError::from)?;
    Ok(rows.into_iter().map(|(s, id, n)| (s, (id, n))).collect())
}

/// Records category names seen and not mapped, so operators can map them.
async fn remember_categories(
    store: &Store,
    actor: Actor,
    source: &Source,
    names: &HashSet<String>,
) -> Result<(), EpgError> {
    let mut tx = store.begin(actor).await?;
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    let mut added = 0;
    for name in sorted {
        added += tx
            .execute(
                "epg_source_category_map",
                "INSERT INTO epg_source_category_map (source_id, source_category) \
                 VALUES ($1, $2) ON CONFLICT (source_id, source_category) DO NOTHING",
                &[Arg::I64(source.id), Arg::Text(name.clone())],
            )
            .await?;
    }
    if added == 0 {
        tx.rollback().await?;
        return Ok(());
    }
    tx.audit(
        source.client_id,
        "discover",
        "epg_source_category_map",
        Some(source.id.to_string()),
        json!({ "unmapped_categories": added }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates EPG channels for `<channel>` elements seen for the first time.
async fn create_channels(
    store: &Store,
    actor: Actor,
    source: &Source,
    declared: &[xmltv::Channel],
    ids: &mut HashMap<String, i64>,
) -> Result<u64, EpgError> {
    let mut tx = store.begin(actor).await?;
    let mut created = 0;
    for ch in declared {
        let (name, names) = channel_names(ch);
        let icon = ch.icons.first().map(|i| i.src.clone()).unwrap_or_default();
        let id = model::insert_channel(&mut tx, source.id, &ch.id, &name, &names, &icon).await?;
        ids.insert(ch.id.clone(), id);
        created += 1;
    }
    tx.audit(
        source.client_id,
        "create",
        "epg_channel",
        None,
        json!({ "source_id": source.id, "created": created }),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// A channel's first display name and all of them as `{"lang": "name"}`.
pub fn channel_names(ch: &xmltv::Channel) -> (String, String) {
    let name = ch
        .display_names
        .first()
        .map(|t| t.value.clone())
        .unwrap_or_else(|| ch.id.clone());
    let mut names = Map::new();
    for t in &ch.display_names {
        names
            .entry(lang_of(t))
            .or_insert_with(|| Value::String(t.value.clone()));
    }
    (name, Value::Object(names).to_string())
}

/// Deletes the source's programmes that ended more than `days` days ago.
async fn expire(store: &Store, actor: Actor, source: &Source, days: i64) -> Result<u64, EpgError> {
    let before = efir_store::now() - days.max(0) * 86_400;
    let mut tx = store.begin(actor).await?;
    let n = tx
        .execute(
            "epg_programme",
            "DELETE FROM epg_programme WHERE stop_at < $1 AND epg_channel_id IN \
             (SELECT id FROM epg_channel WHERE source_id = $2)",
            &[Arg::I64(before), Arg::I64(source.id)],
        )
        .await?;
    if n == 0 {
        tx.rollback().await?;
        return Ok(0);
    }
    tx.audit(
        source.client_id,
        "expire",
        "epg_programme",
        Some(source.id.to_string()),
        json!({ "before": before, "deleted": n }),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Records the outcome of an import on the source.
async fn record_result(
    store: &Store,
    actor: Actor,
    source: &Source,
    ok: Option<(&str, Value)>,
    error: &str,
) -> Result<(), EpgError> {
    let mut tx = store.begin(actor).await?;
    let now = efir_store::now();
    match &ok {
        Some((checksum, result)) => {
            tx.execute(
                "epg_source",
                "UPDATE epg_source SET last_import_at = $1, last_checksum = $2, \
                 last_result = $3, last_error = '', updated_at = $1 WHERE id = $4",
                &[
                    Arg::I64(now),
                    Arg::Text(checksum.to_string()),
                    Arg::Text(result.to_string()),
                    Arg::I64(source.id),
                ],
            )
            .await?;
        }
        None => {
            tx.execute(
                "epg_source",
                "UPDATE epg_source SET last_error = $1, updated_at = $2 WHERE id = $3",
                &[
                    Arg::Text(error.to_string()),
                    Arg::I64(now),
                    Arg::I64(source.id),
                ],
            )
            .await?;
        }
    }
    tx.audit(
        source.client_id,
        if ok.is_some() {
            "import"
        } else {
            "import_failed"
        },
        "epg_source",
        Some(source.id.to_string()),
        ok.map(|(_, r)| r)
            .unwrap_or_else(|| json!({ "error": error })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Where spool and download files go under the data directory.
pub fn work_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(start: i64, stop: i64, title: &str) -> Row {
        Row {
            start_at: start,
            stop_at: stop,
            title: title.into(),
            sub_title: String::new(),
            description: String::new(),
            i18n: "{}".into(),
            category_id: None,
            genres: "[]".into(),
            details: "{}".into(),
            year: None,
            season: None,
            episode: None,
            icon: String::new(),
            rating: String::new(),
            premiere: false,
            is_new: false,
        }
    }

    #[test]
    fn normalise_orders_dedups_and_clips() {
        let rows = vec![
            row(300, 0, "c"),
            row(100, 250, "a"),
            row(100, 200, "a-duplicate"),
            row(200, 0, "b"),
            row(500, 0, "last without stop"),
            row(400, 400, "empty"),
        ];
        let (out, dropped) = normalise(rows);
        let got: Vec<(i64, i64, &str)> = out
            .iter()
            .map(|r| (r.start_at, r.stop_at, r.title.as_str()))
            .collect();
        assert_eq!(got, vec![(100, 200, "a"), (200, 300, "b"), (300, 400, "c")]);
        assert_eq!(dropped, 3);
    }

    #[test]
    fn digest_follows_content() {
        let a = row(1, 2, "x");
        let mut b = a.clone();
        assert_eq!(a.digest(), b.digest());
        b.title.push('!');
        assert_ne!(a.digest(), b.digest());
    }
}
