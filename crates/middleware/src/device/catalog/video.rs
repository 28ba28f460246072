//! The VOD catalog: `video/list/`, `video/detail/`, `video/episode/list/`.
//!
//! A video is open to an account when it is enabled and one of the
//! tariffs that apply now opens it (`tariff_video`). Lists hold open
//! videos only; the detail of a video that exists but is not open is
//! refused with error 11.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{in_list, name_columns, number, open_tariffs, required_id, Names};
use crate::device::urls::ERR_NO_ACCESS;
use crate::device::{Call, DeviceError, ERR_BAD_REQUEST, ERR_NOT_FOUND};
use crate::Middleware;

/// Default `limit` of `video/list/`.
const DEFAULT_LIMIT: i64 = 20;
/// Largest `limit` of `video/list/`.
const MAX_LIMIT: i64 = 100;

/// A video as the lists show it.
#[derive(Debug, sqlx::FromRow)]
struct VideoRow {
    id: i64,
    name: String,
    #[sqlx(flatten)]
    names: Names,
    name_orig: String,
    description: String,
    description_lang1: Option<String>,
    description_lang2: Option<String>,
    description_lang3: Option<String>,
    description_lang4: Option<String>,
    description_lang5: Option<String>,
    short_description: String,
    year: Option<i64>,
    countries: String,
    director: String,
    thumbnail_small: String,
    thumbnail_big: String,
    horizontal_poster: String,
    rating: String,
    kinopoisk_rating: String,
    imdb_rating: String,
    duration: i64,
    is_season: bool,
    is_4k: bool,
}

const VIDEO_COLUMNS: &str = "v.id, v.name, v.name_lang1, v.name_lang2, v.name_lang3, \
    v.name_lang4, v.name_lang5, v.name_orig, v.description, v.description_lang1, \
    v.description_lang2, v.description_lang3, v.description_lang4, v.description_lang5, \
    v.short_description, v.year, v.countries, v.director, v.thumbnail_small, v.thumbnail_big, \
    v.horizontal_poster, v.rating, v.kinopoisk_rating, v.imdb_rating, v.duration, v.is_season, \
    v.is_4k";

/// The fields `video/list/` matches and sorts on.
#[derive(Debug, sqlx::FromRow)]
struct Candidate {
    id: i64,
    name: String,
    #[sqlx(flatten)]
    names: Names,
    name_orig: String,
}

#[derive(Debug, sqlx::FromRow)]
struct GenreRow {
    video_id: i64,
    name: String,
    #[sqlx(flatten)]
    names: Names,
}

#[derive(Debug, sqlx::FromRow)]
struct ActorRow {
    video_id: i64,
    id: i64,
    name: String,
    name_orig: String,
    photo: String,
}

/// A file of a video or an episode.
#[derive(Debug, sqlx::FromRow)]
struct FileRow {
    id: i64,
    video_id: i64,
    episode_id: Option<i64>,
    name: String,
    duration: i64,
    ext_id: String,
    quality: String,
    is_trailer: bool,
}

impl FileRow {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "duration": self.duration,
            "ext_id": self.ext_id,
            "position": 0,
            "quality": self.quality,
        })
    }
}

/// Genres, actors and files of some videos.
#[derive(Debug, Default)]
struct Extras {
    genres: HashMap<i64, Vec<GenreRow>>,
    actors: HashMap<i64, Vec<ActorRow>>,
    files: HashMap<i64, Vec<FileRow>>,
}

async fn extras(mw: &Middleware, ids: &[i64]) -> Result<Extras, DeviceError> {
    let mut out = Extras::default();
    if ids.is_empty() {
        return Ok(out);
    }
    let list = in_list(1, ids);
    let sql = format!(
        "SELECT vg.video_id, g.name, {} FROM video_genre vg JOIN genre g ON g.id = vg.genre_id \
         WHERE vg.video_id IN ({list}) ORDER BY g.sort, g.id",
        name_columns("g")
    );
    let genres: Vec<GenreRow> = fetch_rows!(mw, &sql, ids)?;
    for g in genres {
        out.genres.entry(g.video_id).or_default().push(g);
    }
    let sql = format!(
        "SELECT va.video_id, a.id, a.name, a.name_orig, a.photo FROM video_actor va \
         JOIN actor a ON a.id = va.actor_id WHERE va.video_id IN ({list}) ORDER BY a.id"
    );
    let actors: Vec<ActorRow> = fetch_rows!(mw, &sql, ids)?;
    for a in actors {
        out.actors.entry(a.video_id).or_default().push(a);
    }
    let sql = format!(
        "SELECT id, video_id, episode_id, name, duration, ext_id, quality, is_trailer \
         FROM video_file WHERE video_id IN ({list}) AND episode_id IS NULL ORDER BY id"
    );
    let files: Vec<FileRow> = fetch_rows!(mw, &sql, ids)?;
    for f in files {
        out.files.entry(f.video_id).or_default().push(f);
    }
    Ok(out)
}

/// The list fields of a video.
fn video_json(call: &Call, v: &VideoRow, extras: &Extras) -> Value {
    let genres = extras
        .genres
        .get(&v.id)
        .map(|gs| {
            gs.iter()
                .map(|g| g.names.pick(call, &g.name))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let actors = extras
        .actors
        .get(&v.id)
        .map(|a| {
            a.iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let files: Vec<Value> = extras
        .files
        .get(&v.id)
        .map(|fs| {
            fs.iter()
                .filter(|f| !f.is_trailer)
                .map(FileRow::to_json)
                .collect()
        })
        .unwrap_or_default();
    let description = call.localised(
        &v.description,
        [
            &v.description_lang1,
            &v.description_lang2,
            &v.description_lang3,
            &v.description_lang4,
            &v.description_lang5,
        ],
    );
    json!({
        "id": v.id,
        "name": v.names.pick(call, &v.name),
        "name_orig": v.name_orig,
        "thumbnail_small": v.thumbnail_small,
        "thumbnail_big": v.thumbnail_big,
        "description": description,
        "short_description": v.short_description,
        "year": v.year,
        "actors": actors,
        "director": v.director,
        "genres": genres,
        "countries": v.countries,
        "is_favorited": 0,
        "is_viewed": 0,
        "is_season": i64::from(v.is_season),
        "is_package": 0,
        "has_subscription": 1,
        "rating": v.rating,
        "kinopoisk_rating": v.kinopoisk_rating,
        "imdb_rating": v.imdb_rating,
        "duration": v.duration,
        "files": files,
        "is_purchased": 0,
        "position": 0,
        "is_4k": i64::from(v.is_4k),
        "horizontal_poster": v.horizontal_poster,
    })
}

/// The `ORDER BY` of an `order` value: newest first by default; a field
/// name sorts ascending, `-field` descending.
fn order_by(order: Option<&str>) -> Result<&'static str, DeviceError> {
    Ok(match order.map(str::trim).unwrap_or("") {
        "" | "-created_at" | "new" => "v.created_at DESC, v.id DESC",
        "created_at" => "v.created_at, v.id",
        "name" => "v.name, v.id",
        "-name" => "v.name DESC, v.id DESC",
        "year" => "v.year, v.id",
        "-year" => "v.year DESC, v.id DESC",
        "id" => "v.id",
        "-id" => "v.id DESC",
        other => {
            return Err(DeviceError::new(
                ERR_BAD_REQUEST,
                format!(
                    "unknown order `{}`; use created_at, name, year or id, with - for descending",
                    other.chars().take(40).collect::<String>()
                ),
            ))
        }
    })
}

/// `video/list/` (`limit` ≤ 100, default 20; `page`; `gid` genre; `year`;
/// `search` in the name, localised name and original name, ignoring case;
/// `order`): `count` of the matching open videos and the page of them.
pub(super) async fn video_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let limit = number(call, "limit", 1, i64::MAX)?
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_LIMIT);
    let page = number(call, "page", 1, 1_000_000)?.unwrap_or(1);
    let genre = number(call, "gid", 1, i64::MAX)?;
    let year = number(call, "year", 0, 9999)?;
    let order = order_by(call.params.get("order"))?;
    let search = call
        .params
        .get("search")
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let (_, tariffs) = open_tariffs(mw, call).await?;
    if tariffs.is_empty() {
        return Ok(json!({ "count": 0, "videos": [] }));
    }

    let mut args = vec![call.client.id];
    args.extend(&tariffs);
    let mut sql = format!(
        "SELECT v.id, v.name, {}, v.name_orig FROM video v \
         WHERE v.client_id = $1 AND v.enabled AND EXISTS (SELECT 1 FROM tariff_video tv \
         WHERE tv.video_id = v.id AND tv.tariff_id IN ({}))",
        name_columns("v"),
        in_list(2, &tariffs)
    );
    if let Some(genre) = genre {
        args.push(genre);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM video_genre vg WHERE vg.video_id = v.id \
             AND vg.genre_id = ${})",
            args.len()
        ));
    }
    if let Some(year) = year {
        args.push(year);
        sql.push_str(&format!(" AND v.year = ${}", args.len()));
    }
    sql.push_str(" ORDER BY ");
    sql.push_str(order);
    let candidates: Vec<Candidate> = fetch_rows!(mw, &sql, &args)?;
    // Matched here rather than with SQL LIKE: SQLite folds ASCII only.
    let matching: Vec<i64> = candidates
        .iter()
        .filter(|c| match &search {
            None => true,
            Some(s) => {
                c.name.to_lowercase().contains(s)
                    || c.names.pick(call, &c.name).to_lowercase().contains(s)
                    || c.name_orig.to_lowercase().contains(s)
            }
        })
        .map(|c| c.id)
        .collect();
    let count = matching.len();
    let skip = usize::try_from((page - 1).saturating_mul(limit)).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let ids: Vec<i64> = matching.into_iter().skip(skip).take(take).collect();
    if ids.is_empty() {
        return Ok(json!({ "count": count, "videos": [] }));
    }

    let sql = format!(
        "SELECT {VIDEO_COLUMNS} FROM video v WHERE v.id IN ({})",
        in_list(1, &ids)
    );
    let rows: Vec<VideoRow> = fetch_rows!(mw, &sql, &ids)?;
    let extras = extras(mw, &ids).await?;
    let by_id: HashMap<i64, &VideoRow> = rows.iter().map(|r| (r.id, r)).collect();
    let videos: Vec<Value> = ids
        .iter()
        .filter_map(|id| by_id.get(id))
        .map(|v| video_json(call, v, &extras))
        .collect();
    Ok(json!({ "count": count, "videos": videos }))
}

/// Whether video `id` of the call's operator is enabled and opened by one
/// of `tariffs`: `Ok` if so, error 11 if it exists but is not open, 404
/// if there is no such video.
pub(super) async fn check_video_open(
    mw: &Middleware,
    call: &Call,
    id: i64,
    tariffs: &[i64],
) -> Result<(), DeviceError> {
    // Placeholders numbered in the order they appear.
    let mut args = tariffs.to_vec();
    let sql = format!(
        "SELECT v.enabled, EXISTS (SELECT 1 FROM tariff_video tv WHERE tv.video_id = v.id \
         AND tv.tariff_id IN ({})) AS open FROM video v WHERE v.id = ${} AND v.client_id = ${}",
        in_list(1, tariffs),
        args.len() + 1,
        args.len() + 2
    );
    args.extend([id, call.client.id]);
    let found: Vec<(bool, bool)> = fetch_rows!(mw, &sql, &args)?;
    match found.first() {
        None | Some((false, _)) => Err(DeviceError::new(ERR_NOT_FOUND, "no such video")),
        Some((true, false)) => Err(DeviceError::new(
            ERR_NO_ACCESS,
            "the video is not in your tariffs",
        )),
        Some((true, true)) => Ok(()),
    }
}

#[derive(Debug, sqlx::FromRow)]
struct SeasonRow {
    id: i64,
    name: String,
    number: i64,
}

/// `video/detail/` (`vid`): the list fields plus `actions`, `seasons`,
/// `actors_info` and `reviews`.
pub(super) async fn video_detail(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (_, tariffs) = open_tariffs(mw, call).await?;
    let vid = required_id(call, "vid")?;
    check_video_open(mw, call, vid, &tariffs).await?;
    let sql = format!("SELECT {VIDEO_COLUMNS} FROM video v WHERE v.id = $1");
    let rows: Vec<VideoRow> = fetch_rows!(mw, &sql, &[vid])?;
    let video = rows
        .first()
        .ok_or_else(|| DeviceError::new(ERR_NOT_FOUND, "no such video"))?;
    let extras = extras(mw, &[vid]).await?;
    let mut body = video_json(call, video, &extras);

    let files = extras.files.get(&vid).map(Vec::as_slice).unwrap_or(&[]);
    let actions: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "action": if f.is_trailer { "get_trailer_url" } else { "get_video_url" },
                "caption": f.name,
                "price": "0",
                "cost": "0",
                "file_id": f.id,
                "episode_id": f.episode_id,
                "tariff_id": Value::Null,
                "periodical": 0,
            })
        })
        .collect();
    let seasons: Vec<SeasonRow> = fetch_rows!(
        mw,
        "SELECT id, name, number FROM season WHERE video_id = $1 ORDER BY number, id",
        &[vid]
    )?;
    let seasons: Vec<Value> = seasons
        .iter()
        .map(|s| json!({ "id": s.id, "name": s.name, "number": s.number }))
        .collect();
    let actors_info: Vec<Value> = extras
        .actors
        .get(&vid)
        .map(|a| {
            a.iter()
                .map(|a| json!({ "id": a.id, "name": a.name, "name_orig": a.name_orig, "photo": a.photo }))
                .collect()
        })
        .unwrap_or_default();
    if let Value::Object(map) = &mut body {
        map.insert("actions".into(), json!(actions));
        map.insert("seasons".into(), json!(seasons));
        map.insert("actors_info".into(), json!(actors_info));
        map.insert("reviews".into(), json!([]));
    }
    Ok(body)
}

#[derive(Debug, sqlx::FromRow)]
struct EpisodeRow {
    id: i64,
    name: String,
    number: i64,
    duration: i64,
    preview_url: String,
    is_free: bool,
}

/// `video/episode/list/` (`season_id`): the season's episodes with their
/// files, when the season's video is open to the account.
pub(super) async fn episode_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (_, tariffs) = open_tariffs(mw, call).await?;
    let season = required_id(call, "season_id")?;
    let found: Vec<(i64,)> = fetch_rows!(
        mw,
        "SELECT s.video_id FROM season s JOIN video v ON v.id = s.video_id \
         WHERE s.id = $1 AND v.client_id = $2",
        &[season, call.client.id]
    )?;
    let (video_id,) = *found
        .first()
        .ok_or_else(|| DeviceError::new(ERR_NOT_FOUND, "no such season"))?;
    check_video_open(mw, call, video_id, &tariffs).await?;
    let episodes: Vec<EpisodeRow> = fetch_rows!(
        mw,
        "SELECT id, name, number, duration, preview_url, is_free FROM episode \
         WHERE season_id = $1 ORDER BY number, id",
        &[season]
    )?;
    let ids: Vec<i64> = episodes.iter().map(|e| e.id).collect();
    let mut files: HashMap<i64, Vec<Value>> = HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT id, video_id, episode_id, name, duration, ext_id, quality, is_trailer \
             FROM video_file WHERE episode_id IN ({}) AND NOT is_trailer ORDER BY id",
            in_list(1, &ids)
        );
        let rows: Vec<FileRow> = fetch_rows!(mw, &sql, &ids)?;
        for f in &rows {
            if let Some(e) = f.episode_id {
                files.entry(e).or_default().push(f.to_json());
            }
        }
    }
    let episodes: Vec<Value> = episodes
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "name": e.name,
                "number": e.number,
                "duration": e.duration,
                "preview_url": e.preview_url,
                "is_free": i64::from(e.is_free),
                "files": files.remove(&e.id).unwrap_or_default(),
            })
        })
        .collect();
    Ok(json!({ "episodes": episodes }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn orders_are_known_fields_only() {
        assert_eq!(
            super::order_by(None).unwrap(),
            "v.created_at DESC, v.id DESC"
        );
        assert_eq!(
            super::order_by(Some("-name")).unwrap(),
            "v.name DESC, v.id DESC"
        );
        assert!(super::order_by(Some("name; DROP TABLE video")).is_err());
    }
}
