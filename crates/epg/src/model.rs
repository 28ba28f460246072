//! EPG sources and EPG channels in the store.

use efir_store::audit::Arg;
use efir_store::{with_db, Actor, Store, StoreError};
use serde::Serialize;
use serde_json::json;

use crate::xmltv::DefaultZone;
use crate::EpgError;

/// Columns of [`Source`] in `SELECT` order.
const SOURCE_COLUMNS: &str = "id, client_id, name, parser, url, time_zone, enabled, \
    last_import_at, last_checksum, last_result, last_error";

/// An EPG source: where a guide comes from.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Source {
    /// Row id.
    pub id: i64,
    /// The operator it belongs to; `None` when shared by all.
    pub client_id: Option<i64>,
    /// Unique name.
    pub name: String,
    /// Parser kind (`xmltv`).
    pub parser: String,
    /// An http(s) URL (mask) or a path on disk.
    pub url: String,
    /// Zone of times written without one: IANA name, fixed offset or ''.
    pub time_zone: String,
    /// Whether `epg-import` takes it.
    pub enabled: bool,
    /// When it was last imported.
    pub last_import_at: Option<i64>,
    /// SHA-256 of the guide last imported.
    pub last_checksum: String,
    /// JSON summary of the last import.
    pub last_result: String,
    /// Error of the last import, '' when it worked.
    pub last_error: String,
}

impl Source {
    /// The zone of times written without one (the source's own, else UTC).
    pub fn default_zone(&self) -> DefaultZone {
        parse_zone(&self.time_zone).unwrap_or(DefaultZone::UTC)
    }

    /// The URL with `{date}` replaced by today's date (YYYYMMDD, UTC).
    pub fn resolved_url(&self, now: i64) -> String {
        let date = chrono::DateTime::from_timestamp(now, 0)
            .map(|d| d.format("%Y%m%d").to_string())
            .unwrap_or_default();
        self.url.replace("{date}", &date)
    }

    /// Whether the guide is fetched over HTTP(S).
    pub fn is_remote(&self) -> bool {
        let lower = self.url.to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    }
}

/// Parses a zone: '' (none), `UTC`, `+03:00`, `-0530`, `+3` or an IANA name.
pub fn parse_zone(s: &str) -> Result<DefaultZone, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") {
        return Ok(DefaultZone::UTC);
    }
    if let Some(rest) = s.strip_prefix(['+', '-']) {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        let bad = || format!("`{s}` is not an offset like +03:00");
        if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let (h, m) = if digits.len() <= 2 {
            (digits.parse::<i32>().map_err(|_| bad())?, 0)
        } else {
            let (h, m) = digits.split_at(digits.len() - 2);
            (
                h.parse::<i32>().map_err(|_| bad())?,
                m.parse::<i32>().map_err(|_| bad())?,
            )
        };
        if h > 14 || m > 59 {
            return Err(bad());
        }
        return Ok(DefaultZone::Offset(sign * (h * 3600 + m * 60)));
    }
    s.parse::<chrono_tz::Tz>()
        .map(DefaultZone::Named)
        .map_err(|_| format!("`{s}` is neither an offset like +03:00 nor a time zone name"))
}

/// What `epg-source-add` creates.
#[derive(Debug, Clone, Default)]
pub struct NewSource {
    /// Unique name.
    pub name: String,
    /// URL (mask) or path.
    pub url: String,
    /// Zone of times written without one.
    pub time_zone: String,
    /// Owning operator; `None` for a shared source.
    pub client_id: Option<i64>,
}

/// Which source a command names.
#[derive(Debug, Clone)]
pub enum SourceRef {
    /// By id.
    Id(i64),
    /// By name.
    Name(String),
}

/// An EPG channel of a source.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EpgChannel {
    /// Row id.
    pub id: i64,
    /// The source.
    pub source_id: i64,
    /// The channel's id in the guide.
    pub ext_id: String,
    /// Its first display name.
    pub name: String,
    /// `{"lang": "name"}`.
    pub names: String,
    /// Icon URL in the guide.
    pub icon_src: String,
    /// Stored icon set, '' when none.
    pub icon_key: String,
    /// SHA-256 of the stored icon.
    pub icon_sha256: String,
    /// Offset of zoneless times, minutes east of UTC.
    pub offset_minutes: Option<i64>,
    /// Whether its guide is imported.
    pub enabled: bool,
}

impl EpgChannel {
    /// The zone of this channel's times written without one.
    pub fn default_zone(&self, source: &Source) -> DefaultZone {
        match self.offset_minutes {
            Some(m) => DefaultZone::Offset(i32::try_from(m * 60).unwrap_or(0)),
            None => source.default_zone(),
        }
    }
}

/// Columns of [`EpgChannel`] in `SELECT` order.
pub(crate) const CHANNEL_COLUMNS: &str = "id, source_id, ext_id, name, names, icon_src, \
    icon_key, icon_sha256, offset_minutes, enabled";

/// Adds a source; refuses a duplicate name or a bad zone.
pub async fn add_source(store: &Store, actor: Actor, new: &NewSource) -> Result<i64, EpgError> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(EpgError::Invalid("--name must not be empty".into()));
    }
    let url = new.url.trim();
    if url.is_empty() {
        return Err(EpgError::Invalid("--url must not be empty".into()));
    }
    parse_zone(&new.time_zone).map_err(EpgError::Invalid)?;
    let mut tx = store.begin(actor).await?;
    let now = efir_store::now();
    tx.execute(
        "epg_source",
        "INSERT INTO epg_source (client_id, name, parser, url, time_zone, created_at, updated_at) \
         VALUES ($1, $2, 'xmltv', $3, $4, $5, $5)",
        &[
            Arg::OptI64(new.client_id),
            Arg::Text(name.to_string()),
            Arg::Text(url.to_string()),
            Arg::Text(new.time_zone.trim().to_string()),
            Arg::I64(now),
        ],
    )
    .await
    .map_err(|e| unique(e, format!("an EPG source named `{name}` exists already")))?;
    let id: i64 = efir_store::with_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM epg_source WHERE name = $1")
        .bind(name)
        .fetch_one(c)
        .await)
    .map_err(StoreError::from)?;
    tx.audit(
        new.client_id,
        "create",
        "epg_source",
        Some(id.to_string()),
        json!({ "name": name, "url": url, "time_zone": new.time_zone }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A unique violation as [`EpgError::Invalid`] with `message`.
fn unique(e: StoreError, message: String) -> EpgError {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            EpgError::Invalid(message)
        }
        other => EpgError::Store(other),
    }
}

/// One source by id or name.
pub async fn source(store: &Store, which: &SourceRef) -> Result<Source, EpgError> {
    let found: Option<Source> = match which {
        SourceRef::Id(id) => {
            let sql = format!("SELECT {SOURCE_COLUMNS} FROM epg_source WHERE id = $1");
            with_db!(store.pool(), p => sqlx::query_as(&sql)
                .bind(id)
                .fetch_optional(p)
                .await)
        }
        SourceRef::Name(name) => {
            let sql = format!("SELECT {SOURCE_COLUMNS} FROM epg_source WHERE name = $1");
            with_db!(store.pool(), p => sqlx::query_as(&sql)
                .bind(name)
                .fetch_optional(p)
                .await)
        }
    }
    .map_err(StoreError::from)?;
    found.ok_or_else(|| match which {
        SourceRef::Id(id) => EpgError::NotFound(format!("no EPG source with id {id}")),
        SourceRef::Name(n) => EpgError::NotFound(format!("no EPG source named `{n}`")),
    })
}

/// Every source, by id; with `client_id`, that operator's and the shared ones.
pub async fn sources(store: &Store, client_id: Option<i64>) -> Result<Vec<Source>, EpgError> {
    let sql = format!(
        "SELECT {SOURCE_COLUMNS} FROM epg_source \
         WHERE ($1 IS NULL OR client_id IS NULL OR client_id = $1) ORDER BY id"
    );
    let rows = with_db!(store.pool(), p => sqlx::query_as(&sql)
        .bind(client_id)
        .fetch_all(p)
        .await)
    .map_err(StoreError::from)?;
    Ok(rows)
}

/// The EPG channels of a source, by id.
pub async fn channels(store: &Store, source_id: i64) -> Result<Vec<EpgChannel>, EpgError> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM epg_channel WHERE source_id = $1 ORDER BY id");
    let rows = with_db!(store.pool(), p => sqlx::query_as(&sql)
        .bind(source_id)
        .fetch_all(p)
        .await)
    .map_err(StoreError::from)?;
    Ok(rows)
}

/// One EPG channel.
pub async fn channel(store: &Store, id: i64) -> Result<EpgChannel, EpgError> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM epg_channel WHERE id = $1");
    let row: Option<EpgChannel> = with_db!(store.pool(), p => sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)
    .map_err(StoreError::from)?;
    row.ok_or_else(|| EpgError::NotFound(format!("no EPG channel with id {id}")))
}

/// Inserts an EPG channel of `source_id` (inside `tx`); returns its id.
pub(crate) async fn insert_channel(
    tx: &mut efir_store::Tx,
    source_id: i64,
    ext_id: &str,
    name: &str,
    names: &str,
    icon_src: &str,
) -> Result<i64, EpgError> {
    let id: i64 = efir_store::with_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO epg_channel (source_id, ext_id, name, names, icon_src, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id")
        .bind(source_id)
        .bind(ext_id)
        .bind(name)
        .bind(names)
        .bind(icon_src)
        .bind(efir_store::now())
        .fetch_one(c)
        .await)
    .map_err(StoreError::from)?;
    tx.mark_changed("epg_channel");
    Ok(id)
}

/// Sets the hour offset of an EPG channel's zoneless times.
pub async fn set_channel_offset(
    store: &Store,
    actor: Actor,
    epg_channel_id: i64,
    offset_minutes: Option<i64>,
) -> Result<(), EpgError> {
    let mut tx = store.begin(actor).await?;
    let n = tx
        .execute(
            "epg_channel",
            "UPDATE epg_channel SET offset_minutes = $1, updated_at = $2 WHERE id = $3",
            &[
                Arg::OptI64(offset_minutes),
                Arg::I64(efir_store::now()),
                Arg::I64(epg_channel_id),
            ],
        )
        .await?;
    if n == 0 {
        tx.rollback().await?;
        return Err(EpgError::NotFound(format!(
            "no EPG channel with id {epg_channel_id}"
        )));
    }
    tx.audit(
        None,
        "update",
        "epg_channel",
        Some(epg_channel_id.to_string()),
        json!({ "offset_minutes": offset_minutes }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns an EPG channel's guide import on or off.
pub async fn set_channel_enabled(
    store: &Store,
    actor: Actor,
    epg_channel_id: i64,
    enabled: bool,
) -> Result<(), EpgError> {
    let mut tx = store.begin(actor).await?;
    let n = tx
        .execute(
            "epg_channel",
            "UPDATE epg_channel SET enabled = $1, updated_at = $2 WHERE id = $3",
            &[
                Arg::Bool(enabled),
                Arg::I64(efir_store::now()),
                Arg::I64(epg_channel_id),
            ],
        )
        .await?;
    if n == 0 {
        tx.rollback().await?;
        return Err(EpgError::NotFound(format!(
            "no EPG channel with id {epg_channel_id}"
        )));
    }
    tx.audit(
        None,
        "update",
        "epg_channel",
        Some(epg_channel_id.to_string()),
        json!({ "enabled": enabled }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Shows the guide of `epg_channel_id` on the Efir channels `channel_ids`.
/// A source owned by an operator may only feed that operator's channels.
pub async fn map_channels(
    store: &Store,
    actor: Actor,
    epg_channel_id: i64,
    channel_ids: &[i64],
) -> Result<(), EpgError> {
    let epg = channel(store, epg_channel_id).await?;
    let owner = source(store, &SourceRef::Id(epg.source_id))
        .await?
        .client_id;
    let mut tx = store.begin(actor).await?;
    for id in channel_ids {
        let client: Option<i64> = efir_store::with_tx!(tx, c => sqlx::query_scalar(
            "SELECT client_id FROM channel WHERE id = $1")
            .bind(id)
            .fetch_optional(c)
            .await)
        .map_err(StoreError::from)?;
        let Some(client) = client else {
            tx.rollback().await?;
            return Err(EpgError::NotFound(format!("no channel with id {id}")));
        };
        if owner.is_some_and(|o| o != client) {
            tx.rollback().await?;
            return Err(EpgError::Invalid(format!(
                "channel {id} belongs to another operator than EPG channel {epg_channel_id}'s source"
            )));
        }
        tx.execute(
            "channel",
            "UPDATE channel SET epg_channel_id = $1, updated_at = $2 WHERE id = $3",
            &[
                Arg::I64(epg_channel_id),
                Arg::I64(efir_store::now()),
                Arg::I64(*id),
            ],
        )
        .await?;
        tx.audit(
            Some(client),
            "map_epg",
            "channel",
            Some(id.to_string()),
            json!({ "epg_channel_id": epg_channel_id }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones() {
        assert!(matches!(parse_zone(""), Ok(DefaultZone::Offset(0))));
        assert!(matches!(
            parse_zone("+03:00"),
            Ok(DefaultZone::Offset(10800))
        ));
        assert!(matches!(
            parse_zone("-0530"),
            Ok(DefaultZone::Offset(-19800))
        ));
        assert!(matches!(parse_zone("+3"), Ok(DefaultZone::Offset(10800))));
        assert!(matches!(
            parse_zone("Europe/Berlin"),
            Ok(DefaultZone::Named(_))
        ));
        for bad in ["+25:00", "+3:75", "Mars/Olympus", "+", "+abc", "+12345"] {
            assert!(parse_zone(bad).is_err(), "{bad}");
        }
    }
}
