//! The Content API (`/content/api/<method>/`): channels, categories, radio,
//! cameras, applications and VOD (videos, seasons, episodes, files, genres,
//! actors), for the operator's content tools.
//!
//! Every object kind has `<kind>/create`, `<kind>/modify`, `<kind>/delete`
//! and `<kind>/list` (files also as `video/file/…`). The kinds and their
//! parameters are described in the `spec` submodule; one generic implementation serves
//! them all:
//!
//! * `create` takes the object's parameters (those marked required must be
//!   present) and answers `id` and the object under its singular name
//!   (`channel`);
//! * `modify` takes `id` and the parameters to change (absent ones stay);
//! * `delete` takes `id` (a video takes its seasons, episodes and files
//!   with it);
//! * `list` takes `page` (from 1), `limit` (1 to 1000, default 100) and the
//!   kind's filters, and answers the objects under the plural name
//!   (`channels`) with `count` (all matches), `page` and `limit`; as an
//!   Efir extension, `search` keeps the objects whose name contains it
//!   (case-insensitive).
//!
//! Objects of other operators do not exist for a caller. Channels, radio,
//! cameras, videos and applications take a repeatable `tariff_id` (on
//! `modify` it replaces the set; `clear_tariffs=1` empties it) and list
//! their `tariffs`; videos likewise take `genre_id` and `actor_id`
//! (`clear_genres`, `clear_actors`) and list `genres` and `actors`. Flags
//! are answered as 0/1. Every change is one audited transaction (actor
//! `api:content:client-<id>`); changes to channels and categories also mark
//! the channel lists of the operator's accounts as changed.

mod spec;

use std::collections::{BTreeMap, BTreeSet};

use efir_store::audit::Arg;
use efir_store::clients::Client;
use efir_store::{Actor, Tx};
use serde_json::{Map, Value};

use crate::api::{ApiError, Fields, Params};
use crate::{unknown_method, Middleware};
use spec::{Entity, Field, Kind, Link, Scope};

/// Most objects one `list` call returns.
const MAX_LIMIT: i64 = 1000;
/// Objects a `list` call returns when `limit` is not given.
const DEFAULT_LIMIT: i64 = 100;
/// Longest accepted address.
const URL_MAX: usize = 2000;
/// Longest accepted JSON text (`attrs`).
const JSON_MAX: usize = 20_000;

/// Runs one Content API method for `client`.
pub async fn dispatch(
    mw: &Middleware,
    client: &Client,
    method: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    let entity = method
        .rsplit_once('/')
        .and_then(|(path, action)| Some((spec::by_path(path)?, action)));
    match entity {
        Some((e, "create")) => create(mw, client, e, p).await,
        Some((e, "modify")) => modify(mw, client, e, p).await,
        Some((e, "delete")) => delete(mw, client, e, p).await,
        Some((e, "list")) => list(mw, client, e, p).await,
        _ => Err(unknown_method("Content", method)),
    }
}

/// How a Content API parameter is entered, for forms built from the same
/// description the API validates with (the admin panel's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One line of text, at most this many characters.
    Text(usize),
    /// Longer text (a text area), at most this many characters.
    LongText(usize),
    /// An address.
    Url,
    /// A whole number in a range.
    Number {
        /// Least value.
        min: i64,
        /// Greatest value.
        max: i64,
    },
    /// A 0/1 flag.
    Flag,
    /// The id of another kind of the same operator (its method path).
    Reference(&'static str),
    /// A JSON object.
    Json,
}

/// One parameter of a kind.
#[derive(Debug, Clone)]
pub struct FieldInfo {
    /// The parameter (and output) name.
    pub param: &'static str,
    /// How it is entered.
    pub input: Input,
    /// Whether create needs it.
    pub required: bool,
    /// Whether an empty value clears it (stored as NULL).
    pub nullable: bool,
    /// For localised names (`name_lang2`): the language slot, 1 to 5.
    pub lang_slot: Option<u8>,
}

/// One kind of the Content API, described for forms and lists.
#[derive(Debug, Clone)]
pub struct KindInfo {
    /// Its method path (`channel`, `video/file`).
    pub path: &'static str,
    /// Singular name (`channel`).
    pub name: &'static str,
    /// The list key (`channels`).
    pub plural: &'static str,
    /// Its parameters.
    pub fields: Vec<FieldInfo>,
    /// Its link parameters `(repeatable parameter, output key)`:
    /// (`tariff_id`, `tariffs`).
    pub links: Vec<(&'static str, &'static str)>,
    /// The parameters its `list` filters by.
    pub filters: &'static [&'static str],
}

/// Every kind of the Content API, in menu order.
pub fn kinds() -> Vec<KindInfo> {
    spec::PATHS.iter().filter_map(|p| kind(p)).collect()
}

/// The kind of a method path (`channel`, `video/file`).
pub fn kind(path: &str) -> Option<KindInfo> {
    let e = spec::by_path(path)?;
    let path = spec::PATHS
        .iter()
        .find(|p| spec::by_path(p).is_some_and(|o| std::ptr::eq(o, e)))?;
    let fields = e
        .fields
        .iter()
        .map(|f| {
            let (input, nullable) = match f.kind {
                Kind::Text(max) if max > 1000 => (Input::LongText(max), false),
                Kind::Text(max) => (Input::Text(max), false),
                Kind::OptText(max) => (Input::Text(max), true),
                Kind::Url => (Input::Url, false),
                Kind::Int { min, max, nullable } => (Input::Number { min, max }, nullable),
                Kind::Bool => (Input::Flag, false),
                Kind::Ref { entity, nullable } => {
                    let target = spec::PATHS
                        .iter()
                        .find(|p| spec::by_path(p).is_some_and(|o| std::ptr::eq(o, entity)))
                        .copied()
                        .unwrap_or(entity.name);
                    (Input::Reference(target), nullable)
                }
                Kind::Json => (Input::Json, false),
            };
            let lang_slot = f
                .param
                .rsplit_once("_lang")
                .and_then(|(_, n)| n.parse::<u8>().ok())
                .filter(|n| (1..=5).contains(n));
            FieldInfo {
                param: f.param,
                input,
                required: f.required,
                nullable,
                lang_slot,
            }
        })
        .collect();
    Some(KindInfo {
        path,
        name: e.name,
        plural: e.plural,
        fields,
        links: e.links.iter().map(|l| (l.param, l.output)).collect(),
        filters: e.filters,
    })
}

/// A query text and its arguments, numbered as they are added.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    /// Adds an argument; returns its placeholder.
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    /// The condition that ties rows of `e` (alias `t`) to `client`.
    fn scope(&mut self, e: &Entity, client: i64) -> String {
        match e.scope {
            Scope::Direct => format!("t.client_id = {}", self.arg(Arg::I64(client))),
            Scope::Via(cond) => cond.replace("{c}", &self.arg(Arg::I64(client))),
            Scope::Global => "1 = 1".to_string(),
        }
    }
}

/// `sqlx::query` of a [`Sql`] with its arguments bound.
macro_rules! bound {
    ($q:expr, $make:path) => {
        efir_store::bind_args!($make(&$q.text), $q.args)
    };
}

/// Turns rows of `SELECT t.id, <every field's column>` into `(id, object)`.
macro_rules! decode_rows {
    ($rows:expr, $e:expr) => {{
        use sqlx::Row as _;
        let mut items: Vec<(i64, Map<String, Value>)> = Vec::with_capacity($rows.len());
        for row in $rows.iter() {
            let id: i64 = row.try_get(0usize)?;
            let mut m = Map::new();
            m.insert("id".into(), Value::from(id));
            for (i, f) in $e.fields.iter().enumerate() {
                let v = match f.kind {
                    Kind::Bool => row
                        .try_get::<Option<bool>, _>(i + 1)?
                        .map_or(Value::Null, |b| Value::from(i64::from(b))),
                    Kind::Int { .. } | Kind::Ref { .. } => row
                        .try_get::<Option<i64>, _>(i + 1)?
                        .map_or(Value::Null, Value::from),
                    Kind::Json => row
                        .try_get::<Option<String>, _>(i + 1)?
                        .map_or(Value::Null, |s| {
                            serde_json::from_str(&s).unwrap_or(Value::String(s))
                        }),
                    Kind::Text(_) | Kind::OptText(_) | Kind::Url => row
                        .try_get::<Option<String>, _>(i + 1)?
                        .map_or(Value::Null, Value::from),
                };
                m.insert(f.param.into(), v);
            }
            items.push((id, m));
        }
        items
    }};
}

/// One parsed parameter: the field, the name it came under, its value.
type Parsed = (&'static Field, &'static str, Arg);

/// A link set sent: which link, the ids.
type LinkSet = (&'static Link, BTreeSet<i64>);

fn actor_of(client: &Client) -> Actor {
    crate::api::caller("content", client)
}

fn not_found(e: &Entity, id: i64) -> ApiError {
    ApiError::field("id", format!("{} {id} not found", e.name))
}

/// The value of `f` and the name it was sent under.
fn param<'a>(p: &'a Params, f: &Field) -> Option<(&'static str, &'a str)> {
    std::iter::once(f.param)
        .chain(f.aliases.iter().copied())
        .find_map(|n| p.get(n).map(|v| (n, v)))
}

fn check_text(v: &str, max: usize) -> Result<(), String> {
    if v.chars().count() > max {
        return Err(format!("At most {max} characters."));
    }
    if v.contains('\0') {
        return Err("Must not contain NUL characters.".into());
    }
    Ok(())
}

/// Whether `v` is an `http(s)://`, `udp://`, `rtp://` or `rtsp://` address.
fn check_url(v: &str) -> Result<(), String> {
    check_text(v, URL_MAX)?;
    let lower = v.to_ascii_lowercase();
    let scheme_ok = ["http://", "https://", "udp://", "rtp://", "rtsp://"]
        .iter()
        .any(|s| lower.starts_with(s) && lower.len() > s.len());
    if !scheme_ok || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{v}` is not an http(s)://, udp://, rtp:// or rtsp:// address."
        ));
    }
    Ok(())
}

fn parse_int(v: &str) -> Result<i64, String> {
    v.parse()
        .map_err(|_| format!("`{v}` is not a whole number."))
}

/// Parses one value of `f` (already trimmed).
fn parse_value(f: &Field, v: &str) -> Result<Arg, String> {
    let required = || Err("This field is required.".to_string());
    match f.kind {
        Kind::Text(max) => {
            check_text(v, max)?;
            if f.required && v.is_empty() {
                return required();
            }
            Ok(Arg::Text(v.to_string()))
        }
        Kind::OptText(max) => {
            check_text(v, max)?;
            Ok(Arg::OptText((!v.is_empty()).then(|| v.to_string())))
        }
        Kind::Url => {
            if !v.is_empty() {
                check_url(v)?;
            }
            Ok(Arg::Text(v.to_string()))
        }
        Kind::Int { min, max, nullable } => {
            if v.is_empty() {
                return if nullable {
                    Ok(Arg::OptI64(None))
                } else {
                    Err("A whole number is required.".into())
                };
            }
            let n = parse_int(v)?;
            if !(min..=max).contains(&n) {
                return Err(format!("Must be from {min} to {max}."));
            }
            Ok(if nullable {
                Arg::OptI64(Some(n))
            } else {
                Arg::I64(n)
            })
        }
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "1" | "true" => Ok(Arg::Bool(true)),
            "0" | "false" => Ok(Arg::Bool(false)),
            _ => Err(format!("`{v}` is not 0 or 1.")),
        },
        Kind::Ref { nullable, .. } => {
            if v.is_empty() {
                return if nullable {
                    Ok(Arg::OptI64(None))
                } else {
                    required()
                };
            }
            let n = parse_int(v)?;
            if n <= 0 {
                return Err(format!("`{v}` is not an id."));
            }
            Ok(Arg::OptI64(Some(n)))
        }
        Kind::Json => {
            let v = if v.is_empty() { "{}" } else { v };
            check_text(v, JSON_MAX)?;
            match serde_json::from_str::<Value>(v) {
                Ok(Value::Object(_)) => Ok(Arg::Text(v.to_string())),
                _ => Err("Must be a JSON object.".into()),
            }
        }
    }
}

/// Reads the parameters of `e` present in `p`; on create, missing required
/// ones are errors.
fn read_values(e: &'static Entity, p: &Params, creating: bool, errs: &mut Fields) -> Vec<Parsed> {
    let mut out = Vec::new();
    for f in e.fields {
        match param(p, f) {
            None => {
                if creating && f.required {
                    errs.error(f.param, "This field is required.");
                }
            }
            Some((name, v)) => match parse_value(f, v.trim()) {
                Ok(a) => out.push((f, name, a)),
                Err(problem) => errs.error(name, problem),
            },
        }
    }
    out
}

/// The link sets sent (e.g. `tariff_id`, repeatable, or `clear_tariffs=1`);
/// links not sent are left alone.
fn read_links(e: &'static Entity, p: &Params, errs: &mut Fields) -> Vec<LinkSet> {
    for name in spec::LINK_PARAMS {
        if p.has(name) && !e.links.iter().any(|l| l.param == name) {
            errs.error(name, format!("Not a parameter of {}.", e.plural));
        }
    }
    let mut out = Vec::new();
    for link in e.links {
        let clear = match p.get(link.clear).map(str::trim) {
            None | Some("") | Some("0") => false,
            Some("1") => true,
            Some(v) => {
                errs.error(link.clear, format!("`{v}` is not 0 or 1."));
                false
            }
        };
        if !p.has(link.param) && !clear {
            continue;
        }
        let mut set = BTreeSet::new();
        for v in p.all(link.param).into_iter().map(str::trim) {
            if v.is_empty() {
                continue;
            }
            match parse_int(v) {
                Ok(n) => {
                    set.insert(n);
                }
                Err(problem) => errs.error(link.param, problem),
            }
        }
        out.push((link, set));
    }
    out
}

fn read_id(p: &Params, errs: &mut Fields) -> i64 {
    match p.get("id").map(str::trim) {
        None | Some("") => {
            errs.error("id", "This field is required.");
            0
        }
        Some(v) => match parse_int(v) {
            Ok(n) => n,
            Err(problem) => {
                errs.error("id", problem);
                0
            }
        },
    }
}

fn arg_json(a: &Arg) -> Value {
    match a {
        Arg::I64(v) => Value::from(*v),
        Arg::OptI64(v) => v.map_or(Value::Null, Value::from),
        Arg::Text(v) => Value::from(v.as_str()),
        Arg::OptText(v) => v.as_deref().map_or(Value::Null, Value::from),
        Arg::Bool(v) => Value::from(i64::from(*v)),
    }
}

/// Whether object `id` of kind `e` exists and belongs to `client`.
async fn exists(tx: &mut Tx, e: &Entity, client: i64, id: i64) -> Result<bool, ApiError> {
    let mut q = Sql::default();
    let idp = q.arg(Arg::I64(id));
    let scope = q.scope(e, client);
    q.text = format!(
        "SELECT COUNT(*) FROM {} t WHERE t.id = {idp} AND {scope}",
        e.table
    );
    let n: i64 = efir_store::with_tx!(tx, c => bound!(q, sqlx::query_scalar).fetch_one(c).await)?;
    Ok(n > 0)
}

/// Checks that referenced and linked objects belong to `client`.
async fn check_owned(
    tx: &mut Tx,
    client: i64,
    values: &[Parsed],
    links: &[LinkSet],
) -> Result<(), ApiError> {
    let mut errs = Fields::new();
    for (f, name, a) in values {
        if let (Kind::Ref { entity, .. }, Arg::OptI64(Some(id))) = (f.kind, a) {
            if !exists(tx, entity, client, *id).await? {
                errs.error(name, format!("{} {id} not found.", entity.name));
            }
        }
    }
    for (link, set) in links {
        for id in set {
            if !exists(tx, link.target, client, *id).await? {
                errs.error(link.param, format!("{} {id} not found.", link.target.name));
            }
        }
    }
    errs.finish()
}

/// For files: the episode, when set, must be one of the video's.
async fn check_file_episode(
    tx: &mut Tx,
    e: &Entity,
    id: Option<i64>,
    values: &[Parsed],
) -> Result<(), ApiError> {
    if !std::ptr::eq(e, &spec::FILE) {
        return Ok(());
    }
    let given = |col: &str| {
        values
            .iter()
            .find(|(f, _, _)| f.column == col)
            .map(|(_, _, a)| match a {
                Arg::OptI64(v) => *v,
                _ => None,
            })
    };
    let (video, episode) = (given("video_id"), given("episode_id"));
    if video.is_none() && episode.is_none() {
        return Ok(());
    }
    let (mut video_id, mut episode_id) = (None, None);
    if let Some(id) = id {
        let sql = "SELECT video_id, episode_id FROM video_file WHERE id = $1";
        let row: Option<(i64, Option<i64>)> = efir_store::with_tx!(tx, c => sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(c)
            .await)?;
        if let Some((v, ep)) = row {
            video_id = Some(v);
            episode_id = ep;
        }
    }
    if let Some(v) = video {
        video_id = v;
    }
    if let Some(ep) = episode {
        episode_id = ep;
    }
    let (Some(video_id), Some(episode_id)) = (video_id, episode_id) else {
        return Ok(());
    };
    let sql = "SELECT COUNT(*) FROM episode e JOIN season s ON s.id = e.season_id \
               WHERE e.id = $1 AND s.video_id = $2";
    let n: i64 = efir_store::with_tx!(tx, c => sqlx::query_scalar(sql)
        .bind(episode_id)
        .bind(video_id)
        .fetch_one(c)
        .await)?;
    if n == 0 {
        return Err(ApiError::field(
            "episode_id",
            format!("episode {episode_id} is not one of video {video_id}'s."),
        ));
    }
    Ok(())
}

/// Replaces the linked sets of object `id` that were sent.
async fn set_links(tx: &mut Tx, id: i64, links: &[LinkSet]) -> Result<(), ApiError> {
    for (link, set) in links {
        tx.execute(
            link.table,
            &format!("DELETE FROM {} WHERE {} = $1", link.table, link.item),
            &[Arg::I64(id)],
        )
        .await?;
        let sql = format!(
            "INSERT INTO {} ({}, {}) VALUES ($1, $2)",
            link.table, link.other, link.item
        );
        for other in set {
            tx.execute(link.table, &sql, &[Arg::I64(*other), Arg::I64(id)])
                .await?;
        }
    }
    Ok(())
}

/// Tells the apps of the operator's accounts to reload their channel lists.
async fn touch_channel_lists(tx: &mut Tx, e: &Entity, client: i64) -> Result<(), ApiError> {
    if e.touches_channels {
        tx.execute(
            "account",
            "UPDATE account SET channel_list_changed_at = $1 WHERE client_id = $2",
            &[Arg::I64(efir_store::now()), Arg::I64(client)],
        )
        .await?;
    }
    Ok(())
}

/// A write error: a taken unique value names its parameter.
fn write_error(e: &Entity, err: sqlx::Error, values: &[Parsed]) -> ApiError {
    if let (sqlx::Error::Database(db), Some(param)) = (&err, e.unique) {
        if db.is_unique_violation() {
            let value = values
                .iter()
                .find(|(f, _, _)| f.param == param)
                .map(|(_, _, a)| arg_json(a).to_string())
                .unwrap_or_default();
            return ApiError::field(param, format!("{value} is already taken."));
        }
    }
    err.into()
}

fn audit_data(values: &[Parsed], links: &[LinkSet]) -> Value {
    let mut m = Map::new();
    for (f, _, a) in values {
        m.insert(f.param.into(), arg_json(a));
    }
    for (link, set) in links {
        m.insert(link.output.into(), set.iter().copied().collect());
    }
    Value::Object(m)
}

/// Objects of `e` owned by `client` matching `conds` (column = value), in
/// list order; with `page` (limit, offset) also the number of all matches.
async fn fetch(
    mw: &Middleware,
    e: &Entity,
    client: i64,
    conds: &[(&str, i64)],
    search: Option<&str>,
    page: Option<(i64, i64)>,
) -> Result<(i64, Vec<Value>), ApiError> {
    let mut q = Sql::default();
    let mut filter = q.scope(e, client);
    for (col, v) in conds {
        filter.push_str(&format!(" AND t.{col} = {}", q.arg(Arg::I64(*v))));
    }
    let name = e
        .fields
        .iter()
        .find(|f| f.param == "name")
        .or_else(|| e.fields.iter().find(|f| f.param == "filename"));
    if let (Some(text), Some(name)) = (search, name) {
        let like = q.arg(Arg::Text(efir_store::like_contains(text)));
        filter.push_str(&format!(
            " AND LOWER(t.{}) LIKE {like} ESCAPE '\\'",
            name.column
        ));
    }
    let pool = mw.store.pool();
    let count = match page {
        Some(_) => {
            let mut cq = Sql {
                text: String::new(),
                args: q.args.clone(),
            };
            cq.text = format!("SELECT COUNT(*) FROM {} t WHERE {filter}", e.table);
            efir_store::with_db!(pool, c => bound!(cq, sqlx::query_scalar).fetch_one(c).await)?
        }
        None => 0,
    };
    let columns: String = e
        .fields
        .iter()
        .map(|f| format!(", t.{}", f.column))
        .collect();
    let paging = match page {
        Some((limit, offset)) => format!(
            " LIMIT {} OFFSET {}",
            q.arg(Arg::I64(limit)),
            q.arg(Arg::I64(offset))
        ),
        None => String::new(),
    };
    q.text = format!(
        "SELECT t.id{columns} FROM {} t WHERE {filter} ORDER BY {}{paging}",
        e.table, e.order
    );
    let items = efir_store::with_db!(pool, c => {
        let rows = bound!(q, sqlx::query).fetch_all(c).await?;
        decode_rows!(rows, e)
    });
    // The linked ids of the objects found; the ids are numbers read from
    // the database, so they are written into the query as they are.
    let ids: Vec<String> = items.iter().map(|(id, _)| id.to_string()).collect();
    let mut linked: Vec<BTreeMap<i64, Vec<i64>>> = Vec::new();
    for link in e.links {
        let mut map: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        if !ids.is_empty() {
            let sql = format!(
                "SELECT {item}, {other} FROM {table} WHERE {item} IN ({ids}) ORDER BY {other}",
                item = link.item,
                other = link.other,
                table = link.table,
                ids = ids.join(", ")
            );
            let rows: Vec<(i64, i64)> =
                efir_store::with_db!(pool, c => sqlx::query_as(&sql).fetch_all(c).await)?;
            for (item, other) in rows {
                map.entry(item).or_default().push(other);
            }
        }
        linked.push(map);
    }
    let out = items
        .into_iter()
        .map(|(id, mut m)| {
            for (link, map) in e.links.iter().zip(linked.iter_mut()) {
                let set = map.remove(&id).unwrap_or_default();
                m.insert(link.output.into(), Value::from(set));
            }
            Value::Object(m)
        })
        .collect();
    Ok((count, out))
}

/// One object of kind `path` (`channel`, `video/file`) of `client`, as
/// `list` shows it; `None` when the operator has no such object.
pub async fn get(
    mw: &Middleware,
    client: &Client,
    path: &str,
    id: i64,
) -> Result<Option<Value>, ApiError> {
    let e = spec::by_path(path).ok_or_else(|| unknown_method("Content", path))?;
    let (_, mut items) = fetch(mw, e, client.id, &[("id", id)], None, None).await?;
    Ok(items.pop())
}

/// One object as answered after a change.
async fn answer(mw: &Middleware, e: &Entity, client: i64, id: i64) -> Result<Value, ApiError> {
    let (_, items) = fetch(mw, e, client, &[("id", id)], None, None).await?;
    let mut m = Map::new();
    m.insert("id".into(), Value::from(id));
    m.insert(
        e.name.into(),
        items.into_iter().next().unwrap_or(Value::Null),
    );
    Ok(Value::Object(m))
}

async fn create(
    mw: &Middleware,
    client: &Client,
    e: &'static Entity,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut errs = Fields::new();
    let values = read_values(e, p, true, &mut errs);
    let links = read_links(e, p, &mut errs);
    errs.finish()?;
    let mut tx = mw.store.begin(actor_of(client)).await?;
    check_owned(&mut tx, client.id, &values, &links).await?;
    check_file_episode(&mut tx, e, None, &values).await?;

    let mut q = Sql::default();
    let mut cols: Vec<&str> = Vec::new();
    let mut placeholders: Vec<String> = Vec::new();
    if matches!(e.scope, Scope::Direct) {
        cols.push("client_id");
        placeholders.push(q.arg(Arg::I64(client.id)));
    }
    for (f, _, a) in &values {
        cols.push(f.column);
        placeholders.push(q.arg(a.clone()));
    }
    let now = efir_store::now();
    for (has, col) in [(e.created_at, "created_at"), (e.updated_at, "updated_at")] {
        if has {
            cols.push(col);
            placeholders.push(q.arg(Arg::I64(now)));
        }
    }
    q.text = format!(
        "INSERT INTO {} ({}) VALUES ({}) RETURNING id",
        e.table,
        cols.join(", "),
        placeholders.join(", ")
    );
    tx.mark_changed(e.table);
    let id: i64 = efir_store::with_tx!(tx, c => bound!(q, sqlx::query_scalar).fetch_one(c).await)
        .map_err(|err| write_error(e, err, &values))?;
    set_links(&mut tx, id, &links).await?;
    touch_channel_lists(&mut tx, e, client.id).await?;
    tx.audit(
        Some(client.id),
        "create",
        e.table,
        Some(id.to_string()),
        audit_data(&values, &links),
    )
    .await?;
    tx.commit().await?;
    answer(mw, e, client.id, id).await
}

async fn modify(
    mw: &Middleware,
    client: &Client,
    e: &'static Entity,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut errs = Fields::new();
    let id = read_id(p, &mut errs);
    let values = read_values(e, p, false, &mut errs);
    let links = read_links(e, p, &mut errs);
    errs.finish()?;
    let mut tx = mw.store.begin(actor_of(client)).await?;
    if !exists(&mut tx, e, client.id, id).await? {
        return Err(not_found(e, id));
    }
    check_owned(&mut tx, client.id, &values, &links).await?;
    check_file_episode(&mut tx, e, Some(id), &values).await?;

    let mut q = Sql::default();
    let mut sets: Vec<String> = values
        .iter()
        .map(|(f, _, a)| format!("{} = {}", f.column, q.arg(a.clone())))
        .collect();
    if e.updated_at {
        sets.push(format!(
            "updated_at = {}",
            q.arg(Arg::I64(efir_store::now()))
        ));
    }
    if !sets.is_empty() {
        let idp = q.arg(Arg::I64(id));
        q.text = format!(
            "UPDATE {} SET {} WHERE id = {idp}",
            e.table,
            sets.join(", ")
        );
        tx.mark_changed(e.table);
        efir_store::with_tx!(tx, c => bound!(q, sqlx::query)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|err| write_error(e, err, &values))?;
    }
    set_links(&mut tx, id, &links).await?;
    touch_channel_lists(&mut tx, e, client.id).await?;
    tx.audit(
        Some(client.id),
        "modify",
        e.table,
        Some(id.to_string()),
        audit_data(&values, &links),
    )
    .await?;
    tx.commit().await?;
    answer(mw, e, client.id, id).await
}

async fn delete(
    mw: &Middleware,
    client: &Client,
    e: &'static Entity,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut errs = Fields::new();
    let id = read_id(p, &mut errs);
    errs.finish()?;
    let mut tx = mw.store.begin(actor_of(client)).await?;
    if !exists(&mut tx, e, client.id, id).await? {
        return Err(not_found(e, id));
    }
    // Every kind has a `name` column; the log keeps what was deleted.
    let sql = format!("SELECT name FROM {} WHERE id = $1", e.table);
    let name: String = efir_store::with_tx!(tx, c => sqlx::query_scalar(&sql)
        .bind(id)
        .fetch_one(c)
        .await)?;
    tx.execute(
        e.table,
        &format!("DELETE FROM {} WHERE id = $1", e.table),
        &[Arg::I64(id)],
    )
    .await?;
    touch_channel_lists(&mut tx, e, client.id).await?;
    tx.audit(
        Some(client.id),
        "delete",
        e.table,
        Some(id.to_string()),
        serde_json::json!({ "name": name }),
    )
    .await?;
    tx.commit().await?;
    let mut m = Map::new();
    m.insert("id".into(), Value::from(id));
    Ok(Value::Object(m))
}

async fn list(
    mw: &Middleware,
    client: &Client,
    e: &'static Entity,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut errs = Fields::new();
    let page = errs.optional_i64(p, "page").unwrap_or(1);
    if page < 1 {
        errs.error("page", "Must be 1 or more.");
    }
    let limit = errs.optional_i64(p, "limit").unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        errs.error("limit", format!("Must be from 1 to {MAX_LIMIT}."));
    }
    let mut conds: Vec<(&str, i64)> = Vec::new();
    for name in e.filters {
        let Some(f) = e.fields.iter().find(|f| f.param == *name) else {
            continue;
        };
        let Some((used, v)) = param(p, f) else {
            continue;
        };
        match v.trim() {
            "" => {}
            v => match parse_int(v) {
                Ok(n) => conds.push((f.column, n)),
                Err(problem) => errs.error(used, problem),
            },
        }
    }
    let search = p.get("search").map(str::trim).filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > 200) {
        errs.error("search", "At most 200 characters.");
    }
    errs.finish()?;
    let offset = (page - 1).saturating_mul(limit);
    let (count, items) = fetch(mw, e, client.id, &conds, search, Some((limit, offset))).await?;
    let mut m = Map::new();
    m.insert(e.plural.into(), Value::from(items));
    m.insert("count".into(), Value::from(count));
    m.insert("page".into(), Value::from(page));
    m.insert("limit".into(), Value::from(limit));
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_a_stream_or_web_scheme() {
        for ok in [
            "http://a.tv/x",
            "HTTPS://a.tv",
            "udp://@239.0.0.1:1234",
            "rtp://239.0.0.1:5000",
            "rtsp://cam/1",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in ["ftp://a", "http://", "a.tv", "http://a b", "javascript:x"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_parsed_by_kind() {
        let days = spec::CHANNEL
            .fields
            .iter()
            .find(|f| f.param == "recording_days")
            .expect("recording_days");
        assert!(matches!(parse_value(days, "365"), Ok(Arg::I64(365))));
        assert!(parse_value(days, "366").is_err());
        assert!(parse_value(days, "").is_err());
        let category = spec::CHANNEL
            .fields
            .iter()
            .find(|f| f.param == "category_id")
            .expect("category_id");
        assert!(matches!(parse_value(category, ""), Ok(Arg::OptI64(None))));
        assert!(parse_value(category, "-3").is_err());
        let name = &spec::CHANNEL.fields[0];
        assert!(parse_value(name, "").is_err());
        assert!(parse_value(name, &"я".repeat(255)).is_ok());
        assert!(parse_value(name, &"я".repeat(256)).is_err());
    }

    #[test]
    fn every_kind_is_consistent() {
        for path in [
            "channel",
            "category",
            "radio",
            "camera",
            "application",
            "genre",
            "actor",
            "video",
            "season",
            "episode",
            "file",
            "video/file",
        ] {
            let e = spec::by_path(path).expect(path);
            assert!(e.fields.iter().any(|f| f.column == "name"), "{path}");
            for name in e.filters {
                assert!(e.fields.iter().any(|f| f.param == *name), "{path}: {name}");
            }
            for link in e.links {
                assert!(spec::LINK_PARAMS.contains(&link.param), "{path}");
            }
        }
        assert!(spec::by_path("tariff").is_none());
        assert!(spec::by_path("city").is_none());
    }
}
