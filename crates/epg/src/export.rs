//! The guide of one operator as an XMLTV document.
//!
//! [`export`] writes the enabled channels of an operator that have a guide
//! (`channel.epg_channel_id` set, pointing at an EPG channel of a source
//! that is shared or the operator's own), then their programmes from the
//! start of today (UTC) to `days` days ahead. [`export_to_file`] does the
//! same into a temporary file next to the target and renames it over the
//! target only when everything was written.
//!
//! The document follows the XMLTV DTD: every `<channel>` before every
//! `<programme>`, and the children of each in DTD order.
//!
//! * Channel ids are Efir channel ids (`<channel id="17">`); each channel
//!   has a `<display-name>` in the operator's default language and in each
//!   additional language it has a name for (`name_lang1` … `name_lang5`
//!   belong to the operator's `language1` … `language5`), all with `lang`
//!   attributes, and an `<icon src>` when it has an icon.
//! * Programme texts (title, sub-title, description) are written first as
//!   stored, **without** a `lang` attribute: the guide they came from named
//!   their language and that name is not kept, so claiming the operator's
//!   language for them could be wrong. Then every language of the
//!   programme's `i18n` follows with its `lang` attribute: the operator's
//!   languages first (default, then the additional ones), then the others
//!   alphabetically.
//! * Categories are the programme's genres (or its category when it has no
//!   genres), each first by name without `lang`, then in the operator's
//!   languages the category has a name in.
//! * Times are `YYYYMMDDhhmmss +0000`; a programme stored without a stop
//!   (stop not after start) has no `stop` attribute.
//! * A programme is in the window when it overlaps it: it stops after the
//!   start of today and starts before the end of the last day.
//! * `episode-num` is written as `xmltv_ns` (zero-based `season.episode.`)
//!   and `onscreen` (`S01E02`) when the season or the episode is known; an
//!   episode number whose system the import did not recognise is not
//!   exported, since its system is not stored.
//!
//! Programmes are read channel by channel in pages of [`PAGE`] rows, so the
//! memory used does not grow with the size of the guide.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use efir_store::clients::Client;
use efir_store::{with_db, Store, StoreError};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::EpgError;

/// Programmes read per query.
pub const PAGE: i64 = 500;

/// Most days one export may cover.
pub const MAX_DAYS: i64 = 366;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The credit kinds of the DTD, in the order `<credits>` wants them.
const CREDIT_KINDS: [&str; 10] = [
    "director",
    "actor",
    "writer",
    "adapter",
    "producer",
    "composer",
    "editor",
    "presenter",
    "commentator",
    "guest",
];

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// `<channel>` elements.
    pub channels: u64,
    /// `<programme>` elements.
    pub programmes: u64,
    /// Bytes of the document.
    pub bytes: u64,
}

/// Writes valid XMLTV for the enabled channels of operator `client_id` that
/// have a guide, with their programmes from the start of today (UTC) to
/// `days` days ahead (1 to [`MAX_DAYS`]), to `out`. See the
/// [module documentation](self) for what the document holds.
///
/// Unknown operator: [`EpgError::NotFound`]; `days` out of range:
/// [`EpgError::Invalid`]; `out` failing: [`EpgError::Io`].
pub async fn export<W: Write + Send>(
    store: &Store,
    client_id: i64,
    days: i64,
    out: W,
) -> Result<ExportSummary, EpgError> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(EpgError::Invalid(format!(
            "days must be 1 to {MAX_DAYS}, not {days}"
        )));
    }
    let client = match store.client(client_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound { .. }) => {
            return Err(EpgError::NotFound(format!("client {client_id} not found")))
        }
        Err(e) => return Err(e.into()),
    };
    let from = chrono::Utc::now().timestamp().div_euclid(DAY) * DAY;
    let to = from + days * DAY;

    let mut xml = Writer::new_with_indent(
        Counting {
            inner: out,
            bytes: 0,
        },
        b' ',
        2,
    );
    let mut summary = write_document(store, &client, from, to, &mut xml).await?;
    let mut counting = xml.into_inner();
    counting.flush().map_err(io)?;
    summary.bytes = counting.bytes;
    Ok(summary)
}

/// [`export`] to the file `path`: written to a temporary file in the same
/// directory, flushed to disk and renamed over `path`, so that a failure
/// never leaves a half-written file (a previous file stays as it was).
/// The file is readable by everyone (mode 0644 on Unix), as guides are
/// served to devices.
pub async fn export_to_file(
    store: &Store,
    client_id: i64,
    days: i64,
    path: &Path,
) -> Result<ExportSummary, EpgError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.file_name().is_none() {
        return Err(EpgError::Invalid(format!(
            "{} is not a file name",
            path.display()
        )));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".efir-xmltv-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| {
            EpgError::Io(format!(
                "cannot create a temporary file in {}: {e}",
                dir.display()
            ))
        })?;
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, tmp);
    // The temporary file is removed when dropped on any error below.
    let summary = export(store, client_id, days, &mut buffered).await?;
    let tmp = buffered
        .into_inner()
        .map_err(|e| EpgError::Io(format!("writing {}: {}", path.display(), e.error())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| EpgError::Io(format!("writing {}: {e}", path.display())))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| EpgError::Io(format!("writing {}: {e}", path.display())))?;
    tmp.persist(path)
        .map_err(|e| EpgError::Io(format!("cannot replace {}: {}", path.display(), e.error)))?;
    Ok(summary)
}

/// A writer that counts what passes through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A write error as an [`EpgError`].
fn io(e: std::io::Error) -> EpgError {
    EpgError::Io(format!("writing the guide: {e}"))
}

/// A database error as an [`EpgError`].
fn db(e: sqlx::Error) -> EpgError {
    EpgError::Store(StoreError::from(e))
}

/// An exported channel.
#[derive(Debug, sqlx::FromRow)]
struct ChannelRow {
    id: i64,
    name: String,
    name_lang1: Option<String>,
    name_lang2: Option<String>,
    name_lang3: Option<String>,
    name_lang4: Option<String>,
    name_lang5: Option<String>,
    icon: String,
    epg_channel_id: i64,
}

/// An exported programme.
#[derive(Debug, sqlx::FromRow)]
struct ProgrammeRow {
    start_at: i64,
    stop_at: i64,
    title: String,
    sub_title: String,
    description: String,
    i18n: String,
    category: Option<String>,
    genres: String,
    details: String,
    year: Option<i64>,
    season: Option<i64>,
    episode: Option<i64>,
    icon: String,
    rating: String,
    premiere: bool,
    is_new: bool,
}

/// The operator's languages: the default first, then the additional ones,
/// each with the `name_lang` slot (1 to 5) it names, without repeats.
fn languages(client: &Client) -> Vec<(String, Option<usize>)> {
    let mut out: Vec<(String, Option<usize>)> = Vec::new();
    let default = client.default_language.trim();
    if !default.is_empty() {
        out.push((default.to_string(), None));
    }
    let slots = [
        &client.language1,
        &client.language2,
        &client.language3,
        &client.language4,
        &client.language5,
    ];
    for (i, lang) in slots.into_iter().enumerate() {
        let Some(lang) = lang.as_deref().map(str::trim).filter(|l| !l.is_empty()) else {
            continue;
        };
        if !out.iter().any(|(l, _)| l.eq_ignore_ascii_case(lang)) {
            out.push((lang.to_string(), Some(i + 1)));
        }
    }
    out
}

/// The whole document.
async fn write_document<W: Write + Send>(
    store: &Store,
    client: &Client,
    from: i64,
    to: i64,
    xml: &mut Writer<W>,
) -> Result<ExportSummary, EpgError> {
    let langs = languages(client);
    let channels = channels(store, client.id).await?;
    let categories = categories(store).await?;

    xml.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(io)?;
    xml.write_event(Event::DocType(BytesText::from_escaped(
        r#"tv SYSTEM "xmltv.dtd""#,
    )))
    .map_err(io)?;
    let mut tv = BytesStart::new("tv");
    tv.push_attribute(("generator-info-name", "Efir"));
    xml.write_event(Event::Start(tv)).map_err(io)?;

    let mut summary = ExportSummary::default();
    for ch in &channels {
        write_channel(xml, ch, &langs)?;
        summary.channels += 1;
    }
    for ch in &channels {
        let channel_id = ch.id.to_string();
        let mut after = i64::MIN;
        loop {
            let page = programmes(store, ch.epg_channel_id, from, to, after).await?;
            let Some(last) = page.last() else { break };
            after = last.start_at;
            let full = page.len() as i64 == PAGE;
            for p in &page {
                if write_programme(xml, &channel_id, p, &langs, &categories)? {
                    summary.programmes += 1;
                }
            }
            if !full {
                break;
            }
        }
    }

    xml.write_event(Event::End(BytesEnd::new("tv")))
        .map_err(io)?;
    xml.get_mut().write_all(b"\n").map_err(io)?;
    Ok(summary)
}

/// The operator's enabled channels with a guide, by sort and id.
async fn channels(store: &Store, client_id: i64) -> Result<Vec<ChannelRow>, EpgError> {
    let sql = "SELECT c.id, c.name, c.name_lang1, c.name_lang2, c.name_lang3, c.name_lang4, \
        c.name_lang5, c.icon, c.epg_channel_id FROM channel c \
        JOIN epg_channel e ON e.id = c.epg_channel_id \
        JOIN epg_source s ON s.id = e.source_id \
        WHERE c.client_id = $1 AND c.enabled = TRUE \
        AND (s.client_id IS NULL OR s.client_id = c.client_id) \
        ORDER BY c.sort, c.id";
    with_db!(store.pool(), p => sqlx::query_as::<_, ChannelRow>(sql)
        .bind(client_id)
        .fetch_all(p)
        .await)
    .map_err(db)
}

/// Every Efir EPG category's names in other languages, by name (a small
/// table).
async fn categories(store: &Store) -> Result<HashMap<String, Map<String, Value>>, EpgError> {
    let rows: Vec<(String, String)> = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT name, names FROM epg_category"
    )
    .fetch_all(p)
    .await)
    .map_err(db)?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, names)| match serde_json::from_str(&names) {
            Ok(Value::Object(map)) if !map.is_empty() => Some((name, map)),
            _ => None,
        })
        .collect())
}

/// One page of an EPG channel's programmes overlapping `from..to` that
/// start after `after`, by start.
async fn programmes(
    store: &Store,
    epg_channel_id: i64,
    from: i64,
    to: i64,
    after: i64,
) -> Result<Vec<ProgrammeRow>, EpgError> {
    let sql = "SELECT p.start_at, p.stop_at, p.title, p.sub_title, p.description, p.i18n, \
        c.name AS category, p.genres, p.details, p.year, p.season, p.episode, p.icon, \
        p.rating, p.premiere, p.is_new FROM epg_programme p \
        LEFT JOIN epg_category c ON c.id = p.category_id \
        WHERE p.epg_channel_id = $1 AND p.start_at < $2 \
        AND (p.stop_at > $3 OR (p.stop_at <= p.start_at AND p.start_at >= $3)) \
        AND p.start_at > $4 ORDER BY p.start_at LIMIT $5";
    with_db!(store.pool(), p => sqlx::query_as::<_, ProgrammeRow>(sql)
        .bind(epg_channel_id)
        .bind(to)
        .bind(from)
        .bind(after)
        .bind(PAGE)
        .fetch_all(p)
        .await)
    .map_err(db)
}

/// `s` without the characters XML 1.0 does not allow (control characters
/// other than tab and line ends, unpaired surrogates cannot occur in a
/// `str`, U+FFFE and U+FFFF).
fn clean(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if s.chars().any(bad) {
        Cow::Owned(s.chars().filter(|c| !bad(*c)).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// `<name attrs…>text</name>`, text escaped.
fn text_element<W: Write>(
    xml: &mut Writer<W>,
    name: &str,
    attrs: &[(&str, &str)],
    text: &str,
) -> Result<(), EpgError> {
    let mut start = BytesStart::new(name);
    for (k, v) in attrs {
        start.push_attribute((*k, clean(v).as_ref()));
    }
    xml.write_event(Event::Start(start)).map_err(io)?;
    xml.write_event(Event::Text(BytesText::new(&clean(text))))
        .map_err(io)?;
    xml.write_event(Event::End(BytesEnd::new(name))).map_err(io)
}

/// `<name attrs…/>`.
fn empty_element<W: Write>(
    xml: &mut Writer<W>,
    name: &str,
    attrs: &[(&str, &str)],
) -> Result<(), EpgError> {
    let mut start = BytesStart::new(name);
    for (k, v) in attrs {
        start.push_attribute((*k, clean(v).as_ref()));
    }
    xml.write_event(Event::Empty(start)).map_err(io)
}

/// `<name><value>value</value></name>` (rating, star-rating), with an
/// optional `system` attribute.
fn value_element<W: Write>(
    xml: &mut Writer<W>,
    name: &str,
    system: Option<&str>,
    value: &str,
) -> Result<(), EpgError> {
    let mut start = BytesStart::new(name);
    if let Some(system) = system.filter(|s| !s.is_empty()) {
        start.push_attribute(("system", clean(system).as_ref()));
    }
    xml.write_event(Event::Start(start)).map_err(io)?;
    text_element(xml, "value", &[], value)?;
    xml.write_event(Event::End(BytesEnd::new(name))).map_err(io)
}

/// One `<channel>`.
fn write_channel<W: Write>(
    xml: &mut Writer<W>,
    ch: &ChannelRow,
    langs: &[(String, Option<usize>)],
) -> Result<(), EpgError> {
    let id = ch.id.to_string();
    let mut start = BytesStart::new("channel");
    start.push_attribute(("id", id.as_str()));
    xml.write_event(Event::Start(start)).map_err(io)?;
    let slots = [
        &ch.name_lang1,
        &ch.name_lang2,
        &ch.name_lang3,
        &ch.name_lang4,
        &ch.name_lang5,
    ];
    let mut wrote = false;
    for (lang, slot) in langs {
        let name = match slot {
            None => Some(ch.name.as_str()),
            Some(i) => slots[i - 1].as_deref(),
        };
        let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
            continue;
        };
        text_element(xml, "display-name", &[("lang", lang)], name)?;
        wrote = true;
    }
    if !wrote {
        // display-name+: the name even when the operator has no language.
        text_element(xml, "display-name", &[], &ch.name)?;
    }
    if !ch.icon.trim().is_empty() {
        empty_element(xml, "icon", &[("src", ch.icon.trim())])?;
    }
    xml.write_event(Event::End(BytesEnd::new("channel")))
        .map_err(io)
}

/// An XMLTV time, `YYYYMMDDhhmmss +0000`; `None` out of four-digit years.
fn xmltv_time(secs: i64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp(secs, 0)?;
    use chrono::Datelike;
    (0..=9999)
        .contains(&t.year())
        .then(|| t.format("%Y%m%d%H%M%S +0000").to_string())
}

/// The strings of a JSON value that is a list of strings (or one string).
fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// A JSON object from text (empty when it is not one).
fn object(text: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The language-tagged texts of a programme: `(lang, title, sub-title,
/// description)`, the operator's languages first.
fn translations<'a>(
    i18n: &'a Map<String, Value>,
    langs: &[(String, Option<usize>)],
) -> Vec<(&'a str, &'a Map<String, Value>)> {
    let mut all: Vec<(&str, &Map<String, Value>)> = i18n
        .iter()
        .filter(|(code, _)| !code.trim().is_empty())
        .filter_map(|(code, v)| v.as_object().map(|m| (code.as_str(), m)))
        .collect();
    let rank = |code: &str| {
        langs
            .iter()
            .position(|(l, _)| l.eq_ignore_ascii_case(code))
            .unwrap_or(usize::MAX)
    };
    all.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then_with(|| a.0.cmp(b.0)));
    all
}

/// One `<programme>`; false when its times cannot be written.
fn write_programme<W: Write>(
    xml: &mut Writer<W>,
    channel_id: &str,
    p: &ProgrammeRow,
    langs: &[(String, Option<usize>)],
    categories: &HashMap<String, Map<String, Value>>,
) -> Result<bool, EpgError> {
    let Some(start_time) = xmltv_time(p.start_at) else {
        return Ok(false);
    };
    let stop_time = if p.stop_at > p.start_at {
        xmltv_time(p.stop_at)
    } else {
        None
    };
    let i18n = object(&p.i18n);
    let details = object(&p.details);
    let tr = translations(&i18n, langs);

    let mut start = BytesStart::new("programme");
    start.push_attribute(("start", start_time.as_str()));
    if let Some(stop) = &stop_time {
        start.push_attribute(("stop", stop.as_str()));
    }
    start.push_attribute(("channel", channel_id));
    xml.write_event(Event::Start(start)).map_err(io)?;

    // title+, sub-title*, desc*: the stored texts, then each language.
    for (element, key, default) in [
        ("title", "title", &p.title),
        ("sub-title", "sub_title", &p.sub_title),
        ("desc", "description", &p.description),
    ] {
        if element == "title" || !default.trim().is_empty() {
            text_element(xml, element, &[], default)?;
        }
        for (lang, texts) in &tr {
            if let Some(text) = field_of_map(texts, key) {
                text_element(xml, element, &[("lang", lang)], text)?;
            }
        }
    }

    // credits?
    if let Some(Value::Array(credits)) = details.get("credits") {
        let mut wrote = false;
        for kind in CREDIT_KINDS {
            for c in credits {
                if c.get("kind").and_then(Value::as_str) != Some(kind) {
                    continue;
                }
                let Some(name) = field_of(c, "name") else {
                    continue;
                };
                if !wrote {
                    xml.write_event(Event::Start(BytesStart::new("credits")))
                        .map_err(io)?;
                    wrote = true;
                }
                match field_of(c, "role").filter(|_| kind == "actor") {
                    Some(role) => text_element(xml, kind, &[("role", role)], name)?,
                    None => text_element(xml, kind, &[], name)?,
                }
            }
        }
        if wrote {
            xml.write_event(Event::End(BytesEnd::new("credits")))
                .map_err(io)?;
        }
    }

    // date?
    if let Some(year) = p.year {
        text_element(xml, "date", &[], &year.to_string())?;
    }

    // category*: genres, else the category; each then in other languages.
    let genres: Vec<String> = match serde_json::from_str::<Value>(&p.genres) {
        Ok(v) => strings(Some(&v)).into_iter().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    };
    let genres = if genres.is_empty() {
        p.category
            .iter()
            .filter(|c| !c.trim().is_empty())
            .cloned()
            .collect()
    } else {
        genres
    };
    for genre in &genres {
        text_element(xml, "category", &[], genre)?;
        if let Some(names) = categories.get(genre) {
            for (lang, _) in langs {
                let name = names
                    .iter()
                    .find(|(code, _)| code.eq_ignore_ascii_case(lang))
                    .and_then(|(_, v)| v.as_str())
                    .filter(|n| !n.trim().is_empty());
                if let Some(name) = name {
                    text_element(xml, "category", &[("lang", lang)], name)?;
                }
            }
        }
    }

    // keyword*
    for keyword in strings(details.get("keywords")) {
        text_element(xml, "keyword", &[], keyword)?;
    }

    // icon*
    if !p.icon.trim().is_empty() {
        empty_element(xml, "icon", &[("src", p.icon.trim())])?;
    }

    // country*
    for country in strings(details.get("countries")) {
        text_element(xml, "country", &[], country)?;
    }

    // episode-num*
    let season = p.season.filter(|s| *s >= 1);
    let episode = p.episode.filter(|e| *e >= 1);
    if season.is_some() || episode.is_some() {
        let ns = format!(
            "{}.{}.",
            season.map(|s| (s - 1).to_string()).unwrap_or_default(),
            episode.map(|e| (e - 1).to_string()).unwrap_or_default()
        );
        text_element(xml, "episode-num", &[("system", "xmltv_ns")], &ns)?;
        let onscreen = format!(
            "{}{}",
            season.map(|s| format!("S{s:02}")).unwrap_or_default(),
            episode.map(|e| format!("E{e:02}")).unwrap_or_default()
        );
        text_element(xml, "episode-num", &[("system", "onscreen")], &onscreen)?;
    }

    // previously-shown?, premiere?, new?
    if details.get("previously_shown").and_then(Value::as_bool) == Some(true) {
        empty_element(xml, "previously-shown", &[])?;
    }
    if p.premiere {
        empty_element(xml, "premiere", &[])?;
    }
    if p.is_new {
        empty_element(xml, "new", &[])?;
    }

    // rating*
    if !p.rating.trim().is_empty() {
        value_element(xml, "rating", None, p.rating.trim())?;
    }

    // star-rating*
    match details.get("star_rating") {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            value_element(xml, "star-rating", None, s.trim())?;
        }
        Some(Value::Number(n)) => value_element(xml, "star-rating", None, &n.to_string())?,
        Some(Value::Object(m)) => {
            if let Some(value) = field_of_map(m, "value") {
                value_element(xml, "star-rating", field_of_map(m, "system"), value)?;
            }
        }
        _ => {}
    }

    xml.write_event(Event::End(BytesEnd::new("programme")))
        .map_err(io)?;
    Ok(true)
}

/// A non-blank string field of a JSON object value.
fn field_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.as_object().and_then(|m| field_of_map(m, key))
}

/// A non-blank string field of a JSON object.
fn field_of_map<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}
