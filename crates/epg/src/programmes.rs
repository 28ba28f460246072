//! The guide as the device API reads it.
//!
//! Every query here is written once, with `$n` placeholders, and runs on
//! both SQLite and PostgreSQL. Times are Unix seconds in UTC, as stored;
//! shifting them for a viewer (time shift offsets) is the caller's job.
//! Queries over many EPG channels take them all at once: a channel list of
//! 300 channels costs one or two queries, never one per channel.

use std::collections::HashMap;

use efir_store::Store;
use serde::Serialize;
use serde_json::Value;

/// Most EPG channel ids bound into one query; longer lists are split.
const CHUNK: usize = 500;

/// One programme, with the name of its category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Programme {
    /// Programme id.
    pub id: i64,
    /// Its EPG channel.
    pub epg_channel_id: i64,
    /// Start (Unix seconds, UTC).
    pub start_at: i64,
    /// Stop (Unix seconds, UTC).
    pub stop_at: i64,
    /// Title in the guide's default language.
    pub title: String,
    /// Sub-title (episode title) in the default language.
    pub sub_title: String,
    /// Description in the default language.
    pub description: String,
    /// Other languages, JSON: `{"en": {"title", "sub_title", "description"}}`.
    pub i18n: String,
    /// Efir category.
    pub category_id: Option<i64>,
    /// The category's name (`epg_category.name`).
    pub category: Option<String>,
    /// The category's names in other languages, JSON `{"en": "News"}`.
    pub category_names: Option<String>,
    /// Every mapped category name, JSON list.
    pub genres: String,
    /// Credits, countries, keywords and more, JSON object.
    pub details: String,
    /// Year of production.
    pub year: Option<i64>,
    /// Season number.
    pub season: Option<i64>,
    /// Episode number.
    pub episode: Option<i64>,
    /// Picture URL.
    pub icon: String,
    /// Age rating.
    pub rating: String,
    /// Whether it is a premiere.
    pub premiere: bool,
    /// Whether it is new.
    pub is_new: bool,
}

/// A programme's texts in one language.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Texts {
    /// Title.
    pub title: String,
    /// Sub-title.
    pub sub_title: String,
    /// Description.
    pub description: String,
}

/// One credit of [`Programme::details`]: `{"kind", "name", "role"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// `actor`, `director`, `writer`, `producer`, `composer`, …
    pub kind: String,
    /// The person.
    pub name: String,
    /// The role played, when given.
    pub role: String,
}

impl Programme {
    /// Title, sub-title and description in `lang` (a language code such as
    /// `en`) where [`Programme::i18n`] has them, each else the default.
    pub fn texts(&self, lang: Option<&str>) -> Texts {
        let mut texts = Texts {
            title: self.title.clone(),
            sub_title: self.sub_title.clone(),
            description: self.description.clone(),
        };
        let Some(lang) = lang.filter(|l| !l.is_empty()) else {
            return texts;
        };
        let Ok(Value::Object(all)) = serde_json::from_str::<Value>(&self.i18n) else {
            return texts;
        };
        let found = all
            .iter()
            .find(|(code, _)| code.eq_ignore_ascii_case(lang))
            .map(|(_, v)| v);
        if let Some(Value::Object(tr)) = found {
            let pick = |field: &str, into: &mut String| {
                if let Some(v) = tr.get(field).and_then(Value::as_str) {
                    if !v.is_empty() {
                        *into = v.to_string();
                    }
                }
            };
            pick("title", &mut texts.title);
            pick("sub_title", &mut texts.sub_title);
            pick("description", &mut texts.description);
        }
        texts
    }

    /// The category's name in `lang` when it has one, else its name ('' for
    /// none).
    pub fn category_name(&self, lang: Option<&str>) -> String {
        let default = self.category.clone().unwrap_or_default();
        let (Some(lang), Some(names)) = (lang, self.category_names.as_deref()) else {
            return default;
        };
        match serde_json::from_str::<Value>(names) {
            Ok(Value::Object(map)) => map
                .iter()
                .find(|(code, _)| code.eq_ignore_ascii_case(lang))
                .and_then(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
                .map_or(default, str::to_string),
            _ => default,
        }
    }

    /// The genre names ([`Programme::genres`]); none when it is not a JSON
    /// list of strings.
    pub fn genre_list(&self) -> Vec<String> {
        strings(serde_json::from_str::<Value>(&self.genres).ok().as_ref())
    }

    /// [`Programme::details`] as JSON (an empty object when it is not one).
    pub fn details_json(&self) -> serde_json::Map<String, Value> {
        match serde_json::from_str::<Value>(&self.details) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }

    /// The credits of [`Programme::details`], in order.
    pub fn credits(&self) -> Vec<Credit> {
        let details = self.details_json();
        let Some(Value::Array(list)) = details.get("credits") else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|c| {
                let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let credit = Credit {
                    kind: text("kind"),
                    name: text("name"),
                    role: text("role"),
                };
                (!credit.name.is_empty()).then_some(credit)
            })
            .collect()
    }

    /// The countries of [`Programme::details`].
    pub fn countries(&self) -> Vec<String> {
        strings(self.details_json().get("countries"))
    }
}

/// The strings of a JSON list (other items skipped).
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The columns of a [`Programme`], from `epg_programme p` and
/// `epg_category c`.
const SELECT: &str = "SELECT p.id, p.epg_channel_id, p.start_at, p.stop_at, p.title, \
    p.sub_title, p.description, p.i18n, p.category_id, c.name AS category, \
    c.names AS category_names, p.genres, p.details, p.year, p.season, p.episode, p.icon, \
    p.rating, p.premiere, p.is_new FROM epg_programme p \
    LEFT JOIN epg_category c ON c.id = p.category_id";

/// `$first, $first+1, …` placeholders for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A bound value.
#[derive(Debug, Clone)]
enum Arg {
    I(i64),
    S(String),
}

/// Every programme `sql` selects with `args` bound in order: the guide is
/// read-only here, so on a read replica when there is a healthy one
/// ([`efir_store::read_db!`]).
async fn fetch(store: &Store, sql: &str, args: &[Arg]) -> Result<Vec<Programme>, sqlx::Error> {
    efir_store::read_db!(store, p => {
        let mut q = sqlx::query_as::<_, Programme>(sql);
        for a in args {
            q = match a {
                Arg::I(v) => q.bind(*v),
                Arg::S(v) => q.bind(v.clone()),
            };
        }
        q.fetch_all(p).await
    })
}

/// Clamps a limit to something a query can bind.
fn limit_arg(limit: i64) -> Arg {
    Arg::I(limit.max(0))
}

/// Programmes of one EPG channel that overlap `from..to` (stop after
/// `from`, start before `to`), by start, at most `limit`.
pub async fn for_channel(
    store: &Store,
    epg_channel_id: i64,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<Programme>, sqlx::Error> {
    let sql = format!(
        "{SELECT} WHERE p.epg_channel_id = $1 AND p.stop_at > $2 AND p.start_at < $3 \
         ORDER BY p.start_at, p.id LIMIT $4"
    );
    fetch(
        store,
        &sql,
        &[
            Arg::I(epg_channel_id),
            Arg::I(from),
            Arg::I(to),
            limit_arg(limit),
        ],
    )
    .await
}

/// Programmes of several EPG channels that overlap `from..to`, by channel
/// and start, at most `limit` in all: one query per [`CHUNK`] channels.
pub async fn for_channels(
    store: &Store,
    epg_channel_ids: &[i64],
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<Programme>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in epg_channel_ids.chunks(CHUNK) {
        let left = limit - out.len() as i64;
        if left <= 0 {
            break;
        }
        let sql = format!(
            "{SELECT} WHERE p.epg_channel_id IN ({}) AND p.stop_at > $1 AND p.start_at < $2 \
             ORDER BY p.epg_channel_id, p.start_at, p.id LIMIT $3",
            placeholders(4, chunk.len())
        );
        let mut args = vec![Arg::I(from), Arg::I(to), limit_arg(left)];
        args.extend(chunk.iter().map(|id| Arg::I(*id)));
        out.extend(fetch(store, &sql, &args).await?);
    }
    Ok(out)
}

/// The programme on and the one after it, of an EPG channel.
pub type NowNext = (Option<Programme>, Option<Programme>);

/// For each of `epg_channel_ids` with any: the programme on at `at` (the
/// latest to start at or before `at`, if it has not stopped) and the next
/// one (the first to start after `at`). Two queries for up to [`CHUNK`]
/// channels, whatever their number.
pub async fn now_and_next(
    store: &Store,
    epg_channel_ids: &[i64],
    at: i64,
) -> Result<HashMap<i64, NowNext>, sqlx::Error> {
    let mut ids = epg_channel_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out: HashMap<i64, NowNext> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let list = placeholders(2, chunk.len());
        // Both use the (epg_channel_id, start_at) index per channel.
        let current = format!(
            "{SELECT} WHERE p.epg_channel_id IN ({list}) AND p.stop_at > $1 AND p.start_at = ( \
             SELECT MAX(q.start_at) FROM epg_programme q \
             WHERE q.epg_channel_id = p.epg_channel_id AND q.start_at <= $1)"
        );
        let next = format!(
            "{SELECT} WHERE p.epg_channel_id IN ({list}) AND p.start_at = ( \
             SELECT MIN(q.start_at) FROM epg_programme q \
             WHERE q.epg_channel_id = p.epg_channel_id AND q.start_at > $1)"
        );
        let mut args = vec![Arg::I(at)];
        args.extend(chunk.iter().map(|id| Arg::I(*id)));
        for p in fetch(store, &current, &args).await? {
            let id = p.epg_channel_id;
            out.entry(id).or_default().0 = Some(p);
        }
        for p in fetch(store, &next, &args).await? {
            let id = p.epg_channel_id;
            out.entry(id).or_default().1 = Some(p);
        }
    }
    Ok(out)
}

/// The instant after `at` when [`now_and_next`] over the same channels
/// would answer differently (given the same guide): the earliest stop of
/// the current programmes and start of the next ones; `i64::MAX` when
/// nothing is scheduled.
pub fn valid_until(map: &HashMap<i64, NowNext>, at: i64) -> i64 {
    map.values()
        .flat_map(|(now, next)| {
            [
                now.as_ref().map(|p| p.stop_at),
                next.as_ref().map(|p| p.start_at),
            ]
        })
        .flatten()
        .filter(|t| *t > at)
        .min()
        .unwrap_or(i64::MAX)
}

/// One programme by id.
pub async fn by_id(store: &Store, id: i64) -> Result<Option<Programme>, sqlx::Error> {
    let sql = format!("{SELECT} WHERE p.id = $1");
    Ok(fetch(store, &sql, &[Arg::I(id)]).await?.into_iter().next())
}

/// `text` as a `LIKE` pattern matching it anywhere, its `%`, `_` and `\`
/// escaped (with `ESCAPE '\'`).
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// Programmes of `epg_channel_ids` whose title contains `query` (case
/// aside, for the letters the database folds), not stopped by `from`, by
/// start, at most `limit`.
pub async fn search(
    store: &Store,
    epg_channel_ids: &[i64],
    query: &str,
    from: i64,
    limit: i64,
) -> Result<Vec<Programme>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in epg_channel_ids.chunks(CHUNK) {
        let left = limit - out.len() as i64;
        if left <= 0 {
            break;
        }
        let sql = format!(
            "{SELECT} WHERE p.epg_channel_id IN ({}) AND p.stop_at > $1 \
             AND LOWER(p.title) LIKE LOWER($2) ESCAPE '\\' ORDER BY p.start_at, p.id LIMIT $3",
            placeholders(4, chunk.len())
        );
        let mut args = vec![Arg::I(from), Arg::S(like_pattern(query)), limit_arg(left)];
        args.extend(chunk.iter().map(|id| Arg::I(*id)));
        out.extend(fetch(store, &sql, &args).await?);
    }
    out.sort_by_key(|p| (p.start_at, p.id));
    Ok(out)
}

/// Premieres (`epg_premiere`) of `epg_channel_ids` that overlap
/// `from..to`, by start, at most `limit`.
pub async fn premieres(
    store: &Store,
    epg_channel_ids: &[i64],
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<Programme>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in epg_channel_ids.chunks(CHUNK) {
        let left = limit - out.len() as i64;
        if left <= 0 {
            break;
        }
        let sql = format!(
            "{SELECT} JOIN epg_premiere pr ON pr.epg_programme_id = p.id \
             WHERE pr.epg_channel_id IN ({}) AND pr.start_at < $2 AND p.stop_at > $1 \
             ORDER BY p.start_at, p.id LIMIT $3",
            placeholders(4, chunk.len())
        );
        let mut args = vec![Arg::I(from), Arg::I(to), limit_arg(left)];
        args.extend(chunk.iter().map(|id| Arg::I(*id)));
        out.extend(fetch(store, &sql, &args).await?);
    }
    out.sort_by_key(|p| (p.start_at, p.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programme(i18n: &str) -> Programme {
        Programme {
            id: 1,
            epg_channel_id: 1,
            start_at: 100,
            stop_at: 200,
            title: "Новости".into(),
            sub_title: "".into(),
            description: "О главном".into(),
            i18n: i18n.into(),
            category_id: None,
            category: Some("News".into()),
            category_names: Some(r#"{"ru": "Новости"}"#.into()),
            genres: r#"["News", 5]"#.into(),
            details: r#"{"credits":[{"kind":"actor","name":"Ann","role":"Host"},{"kind":"director"}],"countries":["RU"]}"#.into(),
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
    fn languages_fall_back_field_by_field() {
        let p = programme(r#"{"en": {"title": "News", "description": ""}}"#);
        let en = p.texts(Some("EN"));
        assert_eq!(en.title, "News");
        assert_eq!(en.description, "О главном");
        assert_eq!(p.texts(None).title, "Новости");
        assert_eq!(p.texts(Some("de")).title, "Новости");
        assert_eq!(programme("garbage").texts(Some("en")).title, "Новости");
        assert_eq!(p.category_name(Some("ru")), "Новости");
        assert_eq!(p.category_name(Some("en")), "News");
    }

    #[test]
    fn json_columns_are_read_leniently() {
        let p = programme("{}");
        assert_eq!(p.genre_list(), vec!["News"]);
        assert_eq!(p.countries(), vec!["RU"]);
        let credits = p.credits();
        assert_eq!(credits.len(), 1);
        assert_eq!(credits[0].role, "Host");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn validity_ends_at_the_first_change() {
        let mut a = programme("{}");
        a.stop_at = 300;
        let mut b = programme("{}");
        b.start_at = 250;
        let mut map = HashMap::new();
        map.insert(1, (Some(a), None));
        map.insert(2, (None, Some(b)));
        assert_eq!(valid_until(&map, 120), 250);
        assert_eq!(valid_until(&HashMap::new(), 120), i64::MAX);
    }
}
