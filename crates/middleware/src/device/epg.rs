//! The programme guide over the device API: `channel/programs/`,
//! `program/list/`, `channel/list/programs/`, `program/detail/`,
//! `program/list/search/` and `premiere/list/`; and the now/next of
//! `channel/list/`.
//!
//! Programmes belong to EPG channels (`efir_epg::programmes`); an Efir
//! channel shows its `epg_channel_id`'s guide, and several channels may
//! share one. Only channels the account may open are shown (the tariffs
//! that apply now, as for `channel/url/`).
//!
//! Every time is shifted by the viewer's time shift offset, in hours: the
//! `timeshift_offset` parameter when sent, else the account's
//! (`settings/save/` `preferred_timeshift_offset`). Times shown are the
//! real ones plus the offset; windows asked for are shifted back first.
//! Texts come in the call's `lang` where the guide has them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use efir_epg::programmes::{self, NowNext, Programme};
use serde_json::{json, Value};

use super::channels::{number, tariff_ids};
use super::urls::ERR_NO_ACCESS;
use super::{Call, DeviceError, Reply, ERR_BAD_REQUEST, ERR_NOT_FOUND};
use crate::access;
use crate::Middleware;

/// Seconds in a day.
const DAY: i64 = 86_400;
/// Largest time shift offset, in hours either way.
pub(crate) const MAX_OFFSET_HOURS: i64 = 24;
/// Largest time accepted in a parameter (the end of year 9999).
const MAX_TS: i64 = 253_402_300_799;
/// Most channels one `channel/list/programs/` may name.
const MAX_CHANNELS: usize = 1000;
/// Most programmes one list answers.
const MAX_PROGRAMMES: i64 = 50_000;

/// Runs `method` if it belongs here.
pub(crate) async fn dispatch(
    mw: &Middleware,
    call: &Call,
    method: &str,
) -> Option<Result<Reply, DeviceError>> {
    let result = match method {
        "channel/programs" => channel_programs(mw, call).await,
        "program/list" => program_list(mw, call).await,
        "channel/list/programs" => channel_list_programs(mw, call).await,
        "program/detail" => program_detail(mw, call).await,
        "program/list/search" => program_search(mw, call).await,
        "premiere/list" => premiere_list(mw, call).await,
        _ => return None,
    };
    Some(result.map(Reply::from))
}

fn bad(message: impl Into<String>) -> DeviceError {
    DeviceError::new(ERR_BAD_REQUEST, message)
}

fn no_access() -> DeviceError {
    DeviceError::new(ERR_NO_ACCESS, "the channel is not in your tariffs")
}

fn unknown_programme(pid: i64) -> DeviceError {
    DeviceError::new(ERR_NOT_FOUND, format!("programme {pid} not found"))
}

/// The viewer's time shift offset, in hours: the `timeshift_offset`
/// parameter when sent (-24..=24, else a 400), else the account's own
/// (`stored`, from its cached [`super::channels::AccountView`]).
pub(crate) fn offset_hours(call: &Call, stored: i64) -> Result<i64, DeviceError> {
    let sent = number(
        call,
        "timeshift_offset",
        -MAX_OFFSET_HOURS,
        MAX_OFFSET_HOURS,
    )?;
    Ok(sent.unwrap_or_else(|| stored.clamp(-MAX_OFFSET_HOURS, MAX_OFFSET_HOURS)))
}

/// The language code of the call's `lang` (one of the operator's
/// additional languages), `None` for the default language.
pub(crate) fn lang_code(call: &Call) -> Option<String> {
    let i = call.lang.checked_sub(1)?;
    call.client
        .additional_languages()
        .get(i)
        .map(|l| l.to_string())
}

/// A channel as the guide needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct GuideChannel {
    /// Channel id.
    pub id: i64,
    /// Its EPG channel.
    pub epg_channel_id: Option<i64>,
    /// Days of archive.
    pub recording_days: i64,
}

/// Which open channels [`open_channels`] returns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Only<'a> {
    /// Those with an EPG channel.
    WithGuide,
    /// These channel ids.
    Ids(&'a [i64]),
    /// Those showing these EPG channels.
    Guides(&'a [i64]),
}

/// The operator's enabled channels open to `tariffs` (the tariffs that
/// apply to the account now: the rule of `channel/url/`), narrowed by
/// `only`, by sort order.
pub(crate) async fn open_channels(
    mw: &Middleware,
    call: &Call,
    tariffs: &[i64],
    only: Only<'_>,
) -> Result<Vec<GuideChannel>, DeviceError> {
    let values: &[i64] = match only {
        Only::WithGuide => &[],
        Only::Ids(v) | Only::Guides(v) => v,
    };
    if tariffs.is_empty() || (values.is_empty() && !matches!(only, Only::WithGuide)) {
        return Ok(Vec::new());
    }
    let first = 2 + tariffs.len();
    let filter = match only {
        Only::WithGuide => "c.epg_channel_id IS NOT NULL".to_string(),
        Only::Ids(v) => format!("c.id IN ({})", access::placeholders(first, v.len())),
        Only::Guides(v) => format!(
            "c.epg_channel_id IN ({})",
            access::placeholders(first, v.len())
        ),
    };
    let sql = format!(
        "SELECT c.id, c.epg_channel_id, c.recording_days FROM channel c \
         WHERE c.client_id = $1 AND c.enabled AND {filter} AND EXISTS ( \
         SELECT 1 FROM tariff_channel tc WHERE tc.channel_id = c.id AND tc.tariff_id IN ({})) \
         ORDER BY c.sort, c.id",
        access::placeholders(2, tariffs.len())
    );
    let rows: Vec<GuideChannel> = efir_store::read_db!(mw.store, p => {
        let mut q = sqlx::query_as(&sql).bind(call.client.id);
        for id in tariffs.iter().chain(values) {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?;
    Ok(rows)
}

/// What every guide call knows about its viewer.
struct Viewer {
    tariffs: Vec<i64>,
    /// Time shift, in seconds.
    offset: i64,
    lang: Option<String>,
    /// Now, real.
    now: i64,
}

impl Viewer {
    /// Real now as the viewer sees it: what is on now on the shifted
    /// stream.
    fn at(&self) -> i64 {
        self.now - self.offset
    }

    fn shift(&self, t: i64) -> i64 {
        t.saturating_add(self.offset)
    }
}

async fn viewer(mw: &Middleware, call: &Call) -> Result<Viewer, DeviceError> {
    let session = call.session(mw).await?;
    let tariffs = tariff_ids(mw, call, session.account_id).await?;
    let stored = super::channels::account_view(mw, session.account_id)
        .await?
        .timeshift_hours;
    let offset = offset_hours(call, stored)? * 3600;
    Ok(Viewer {
        tariffs,
        offset,
        lang: lang_code(call),
        now: efir_store::now(),
    })
}

/// The channel of the required `cid`, open to the viewer (else error 11).
async fn channel_param(
    mw: &Middleware,
    call: &Call,
    v: &Viewer,
) -> Result<GuideChannel, DeviceError> {
    let cid = number(call, "cid", 1, i64::MAX)?.ok_or_else(|| bad("cid is required"))?;
    one_channel(mw, call, &v.tariffs, cid).await
}

/// Channel `cid` when open to `tariffs`, else error 11.
async fn one_channel(
    mw: &Middleware,
    call: &Call,
    tariffs: &[i64],
    cid: i64,
) -> Result<GuideChannel, DeviceError> {
    open_channels(mw, call, tariffs, Only::Ids(&[cid]))
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_access)
}

/// Programme `pid` and the channel it is watched on: the `cid` sent (open
/// to `tariffs` and showing the programme's EPG channel), else the first
/// open channel showing it. Unknown programme: 404; no open channel shows
/// it: error 11.
pub(crate) async fn programme_channel(
    mw: &Middleware,
    call: &Call,
    tariffs: &[i64],
    pid: i64,
) -> Result<(Programme, GuideChannel), DeviceError> {
    let programme = programmes::by_id(&mw.store, pid)
        .await?
        .ok_or_else(|| unknown_programme(pid))?;
    let channel = match number(call, "cid", 1, i64::MAX)? {
        Some(cid) => {
            let channel = one_channel(mw, call, tariffs, cid).await?;
            if channel.epg_channel_id != Some(programme.epg_channel_id) {
                return Err(DeviceError::new(
                    ERR_NOT_FOUND,
                    format!("programme {pid} is not on channel {cid}"),
                ));
            }
            channel
        }
        None => open_channels(mw, call, tariffs, Only::Guides(&[programme.epg_channel_id]))
            .await?
            .into_iter()
            .next()
            .ok_or_else(no_access)?,
    };
    Ok((programme, channel))
}

/// `YYYY-MM-DD HH:MM:SS` of Unix seconds `t`, UTC.
fn datetime(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The `meta` of a programme: `extra_name` (sub-title), `genres`,
/// `participants` by kind, `countries`, `year`, `season`, `episode`.
fn meta(p: &Programme, sub_title: &str) -> Value {
    let mut participants: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in p.credits() {
        let kind = if c.kind.is_empty() {
            "actor".to_string()
        } else {
            c.kind
        };
        participants.entry(kind).or_default().push(c.name);
    }
    json!({
        "extra_name": sub_title,
        "genres": p.genre_list(),
        "participants": participants,
        "countries": p.countries(),
        "year": p.year,
        "season": p.season,
        "episode": p.episode,
    })
}

/// Whether `p` can be watched from the archive of `channel` now: the
/// channel records, and the programme ended within its recording days.
fn has_record(p: &Programme, channel: &GuideChannel, now: i64) -> bool {
    channel.recording_days > 0
        && p.stop_at <= now
        && p.stop_at > now.saturating_sub(channel.recording_days.saturating_mul(DAY))
}

/// A programme as `program/list/` (and the lists like it) shows it.
fn list_item(p: &Programme, v: &Viewer, channel: &GuideChannel) -> Value {
    let lang = v.lang.as_deref();
    let t = p.texts(lang);
    json!({
        "id": p.id,
        "begin_time": v.shift(p.start_at),
        "end_time": v.shift(p.stop_at),
        "name": t.title,
        "short_name": t.title,
        "description": t.description,
        "category": p.category_name(lang),
        "category_id": p.category_id,
        "preview": p.icon,
        "rating": p.rating,
        "meta": meta(p, &t.sub_title),
        "url": "",
        "has_record": i64::from(has_record(p, channel, v.now)),
        "has_subscription": 1,
        "position": 0,
        "blocked": 0,
    })
}

/// A list item with the channel it is on.
fn item_on(p: &Programme, v: &Viewer, channel: &GuideChannel) -> Value {
    let mut item = list_item(p, v, channel);
    item["channel_id"] = json!(channel.id);
    item["datetime_begin"] = json!(datetime(v.shift(p.start_at)));
    item["datetime_end"] = json!(datetime(v.shift(p.stop_at)));
    item["genres"] = json!(p.genre_list());
    item
}

/// `channel/programs/` (`cid`, `limit` default 6, `timeshift_offset`):
/// the programme on now and the ones after it.
async fn channel_programs(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let v = viewer(mw, call).await?;
    let channel = channel_param(mw, call, &v).await?;
    let limit = number(call, "limit", 1, 1000)?.unwrap_or(6);
    let Some(epg) = channel.epg_channel_id else {
        return Ok(json!({ "programs": [] }));
    };
    let at = v.at();
    let list = programmes::for_channel(&mw.store, epg, at, i64::MAX, limit).await?;
    let lang = v.lang.as_deref();
    let programs: Vec<Value> = list
        .iter()
        .map(|p| {
            let t = p.texts(lang);
            json!({
                "id": p.id,
                "program_name": t.title,
                "program_begin_time": v.shift(p.start_at),
                "program_end_time": v.shift(p.stop_at),
                "program_preview_url": p.icon,
                "program_rating": p.rating,
                "program_category": p.category_name(lang),
                "program_description": t.description,
                "datetime_begin": datetime(v.shift(p.start_at)),
                "datetime_end": datetime(v.shift(p.stop_at)),
            })
        })
        .collect();
    Ok(json!({ "programs": programs }))
}

/// A time parameter (Unix seconds).
fn time_param(call: &Call, name: &str) -> Result<Option<i64>, DeviceError> {
    number(call, name, 0, MAX_TS)
}

/// The start of the UTC day of `t`.
fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

/// The shifted window of `program/list/`: `time_from` and `time_to`, or
/// the day `date` (dd.mm.YYYY), or today; and whether one was asked for.
fn list_window(call: &Call, v: &Viewer) -> Result<(i64, i64, bool), DeviceError> {
    let from = time_param(call, "time_from")?;
    let to = time_param(call, "time_to")?;
    let date = call
        .params
        .get("date")
        .map(str::trim)
        .filter(|d| !d.is_empty());
    match (from, to, date) {
        (Some(from), Some(to), _) => {
            if to <= from {
                return Err(bad("time_to must be after time_from"));
            }
            if to - from > 31 * DAY {
                return Err(bad("time_from to time_to may span 31 days at most"));
            }
            Ok((from, to, true))
        }
        (Some(_), None, _) | (None, Some(_), _) => {
            Err(bad("time_from and time_to must be sent together"))
        }
        (None, None, Some(d)) => {
            let day = chrono::NaiveDate::parse_from_str(d, "%d.%m.%Y")
                .map_err(|_| bad(format!("date `{d}` is not dd.mm.YYYY")))?;
            let start = day
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp())
                .ok_or_else(|| bad(format!("date `{d}` is not dd.mm.YYYY")))?;
            Ok((start, start + DAY, true))
        }
        (None, None, None) => {
            let start = day_start(v.now);
            Ok((start, start + DAY, false))
        }
    }
}

/// `program/list/` (`cid`; `time_from` and `time_to`, or `date`
/// dd.mm.YYYY, else today; `pid_from`): the channel's programmes in a
/// window of shifted time, from programme `pid_from` on when sent.
async fn program_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let v = viewer(mw, call).await?;
    if call.params.get("is_camera").map(str::trim) == Some("1") {
        return Err(bad("camera archives have no programmes"));
    }
    let channel = channel_param(mw, call, &v).await?;
    let (from, to, asked) = list_window(call, &v)?;
    let pid_from = number(call, "pid_from", 1, i64::MAX)?;
    let limit = number(call, "limit", 1, 5000)?.unwrap_or(5000);
    let Some(epg) = channel.epg_channel_id else {
        if let Some(pid) = pid_from {
            return Err(unknown_programme(pid));
        }
        return Ok(json!({ "programs": [] }));
    };
    // The window asked for is in shifted time: back to real time.
    let (mut real_from, mut real_to) = (from - v.offset, to - v.offset);
    let mut first: Option<(i64, i64)> = None;
    if let Some(pid) = pid_from {
        let p = programmes::by_id(&mw.store, pid)
            .await?
            .filter(|p| p.epg_channel_id == epg)
            .ok_or_else(|| unknown_programme(pid))?;
        first = Some((p.start_at, p.id));
        real_from = real_from.max(p.start_at);
        if !asked {
            real_to = p.start_at + DAY;
        }
    }
    let list = programmes::for_channel(&mw.store, epg, real_from, real_to, limit).await?;
    let programs: Vec<Value> = list
        .iter()
        .filter(|p| first.is_none_or(|f| (p.start_at, p.id) >= f))
        .map(|p| list_item(p, &v, &channel))
        .collect();
    Ok(json!({ "programs": programs }))
}

/// Channel ids of `channel_ids`: repeated and/or comma-separated.
fn channel_ids(call: &Call) -> Result<Vec<i64>, DeviceError> {
    let mut ids: Vec<i64> = Vec::new();
    for value in call.params.all("channel_ids") {
        for part in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id = part
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| bad(format!("channel_ids: `{part}` is not a channel id")))?;
            if !ids.contains(&id) {
                if ids.len() >= MAX_CHANNELS {
                    return Err(bad(format!("channel_ids: more than {MAX_CHANNELS}")));
                }
                ids.push(id);
            }
        }
    }
    if ids.is_empty() {
        return Err(bad("channel_ids is required"));
    }
    Ok(ids)
}

/// `POST channel/list/programs/` (`channel_ids`, `programs_from_ts`
/// default now, `programs_to_ts` default a day later): the programmes of
/// several channels, and the one on now of each. Channels the account may
/// not open are left out.
async fn channel_list_programs(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let v = viewer(mw, call).await?;
    let ids = channel_ids(call)?;
    let from = time_param(call, "programs_from_ts")?.unwrap_or(v.now);
    let to = time_param(call, "programs_to_ts")?.unwrap_or(from + DAY);
    if to <= from {
        return Err(bad("programs_to_ts must be after programs_from_ts"));
    }
    if to - from > 7 * DAY {
        return Err(bad(
            "programs_from_ts to programs_to_ts may span 7 days at most",
        ));
    }
    let open = open_channels(mw, call, &v.tariffs, Only::Ids(&ids)).await?;
    let mut epg_ids: Vec<i64> = open.iter().filter_map(|c| c.epg_channel_id).collect();
    epg_ids.sort_unstable();
    epg_ids.dedup();
    let list = programmes::for_channels(
        &mw.store,
        &epg_ids,
        from - v.offset,
        to - v.offset,
        MAX_PROGRAMMES,
    )
    .await?;
    let mut by_guide: HashMap<i64, Vec<&Programme>> = HashMap::new();
    for p in &list {
        by_guide.entry(p.epg_channel_id).or_default().push(p);
    }
    let current = programmes::now_and_next(&mw.store, &epg_ids, v.at()).await?;
    let open: HashMap<i64, &GuideChannel> = open.iter().map(|c| (c.id, c)).collect();
    let lang = v.lang.as_deref();
    let channels: Vec<Value> = ids
        .iter()
        .filter_map(|id| open.get(id))
        .map(|c| {
            let guide = c.epg_channel_id;
            let programs: Vec<Value> = guide
                .and_then(|g| by_guide.get(&g))
                .map(|list| {
                    list.iter()
                        .map(|p| {
                            let t = p.texts(lang);
                            json!({
                                "id": p.id,
                                "name": t.title,
                                "begin_time": v.shift(p.start_at),
                                "end_time": v.shift(p.stop_at),
                                "category_id": p.category_id,
                                "category": p.category_name(lang),
                                "description": t.description,
                                "preview_url": p.icon,
                                "rating": p.rating,
                                "program_meta": meta(p, &t.sub_title),
                                "program_genres": p.genre_list(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let on_now = guide
                .and_then(|g| current.get(&g))
                .and_then(|(now, _)| now.as_ref())
                .map(|p| p.id);
            json!({ "id": c.id, "current_program_id": on_now, "programs": programs })
        })
        .collect();
    Ok(json!({ "channels": channels }))
}

/// `program/detail/` (`pid`, optional `cid`): one programme with its
/// channel.
async fn program_detail(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let v = viewer(mw, call).await?;
    let pid = number(call, "pid", 1, i64::MAX)?.ok_or_else(|| bad("pid is required"))?;
    let (p, channel) = programme_channel(mw, call, &v.tariffs, pid).await?;
    Ok(json!({ "program": item_on(&p, &v, &channel) }))
}

/// The open channels with a guide (only `cid` when sent), and each EPG
/// channel's first such channel.
async fn guide_channels(
    mw: &Middleware,
    call: &Call,
    v: &Viewer,
) -> Result<HashMap<i64, GuideChannel>, DeviceError> {
    let channels = match number(call, "cid", 1, i64::MAX)? {
        Some(cid) => vec![one_channel(mw, call, &v.tariffs, cid).await?],
        None => open_channels(mw, call, &v.tariffs, Only::WithGuide).await?,
    };
    let mut first: HashMap<i64, GuideChannel> = HashMap::new();
    for c in channels {
        if let Some(g) = c.epg_channel_id {
            first.entry(g).or_insert(c);
        }
    }
    Ok(first)
}

/// The sorted keys of a map of EPG channels.
fn guide_ids(channels: &HashMap<i64, GuideChannel>) -> Vec<i64> {
    let mut ids: Vec<i64> = channels.keys().copied().collect();
    ids.sort_unstable();
    ids
}

/// `program/list/search/` (`search` or `query`; optional `cid`,
/// `time_from` default now, `limit` default 50): programmes whose title
/// contains the text, on the channels the account may open.
async fn program_search(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let v = viewer(mw, call).await?;
    let text = call
        .params
        .get("search")
        .or_else(|| call.params.get("query"))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("search is required"))?;
    if text.chars().count() > 200 {
        return Err(bad("search may be 200 characters at most"));
    }
    if text.chars().any(char::is_control) {
        return Err(bad("search may not hold control characters"));
    }
    let limit = number(call, "limit", 1, 500)?.unwrap_or(50);
    let from = time_param(call, "time_from")?.unwrap_or(v.now);
    let channels = guide_channels(mw, call, &v).await?;
    let list = programmes::search(
        &mw.store,
        &guide_ids(&channels),
        text,
        from - v.offset,
        limit,
    )
    .await?;
    let programs: Vec<Value> = list
        .iter()
        .filter_map(|p| Some(item_on(p, &v, channels.get(&p.epg_channel_id)?)))
        .collect();
    Ok(json!({ "programs": programs }))
}

/// `premiere/list/` (optional `cid`, `days` default 7, `limit` default
/// 100): premieres on the open channels from now on.
async fn premiere_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let v = viewer(mw, call).await?;
    let days = number(call, "days", 1, 31)?.unwrap_or(7);
    let limit = number(call, "limit", 1, 1000)?.unwrap_or(100);
    let channels = guide_channels(mw, call, &v).await?;
    let at = v.at();
    let list =
        programmes::premieres(&mw.store, &guide_ids(&channels), at, at + days * DAY, limit).await?;
    let premieres: Vec<Value> = list
        .iter()
        .filter_map(|p| Some(item_on(p, &v, channels.get(&p.epg_channel_id)?)))
        .collect();
    Ok(json!({ "premieres": premieres }))
}

/// The now and next of a set of EPG channels as seen at a moment, and the
/// instant it stops being true.
#[derive(Debug, Default)]
pub(crate) struct GuideNow {
    /// Programme on and next, by EPG channel.
    pub map: HashMap<i64, NowNext>,
    /// The earliest stop of a programme on and start of a next one (real
    /// time); `i64::MAX` when nothing is scheduled.
    pub until: i64,
}

/// Most cached states walked through before loading afresh.
const MAX_LINKS: usize = 64;

/// The now and next of `epg_ids` at real time `at`, cached under `base`
/// (which must name the channel set and the offset).
///
/// A state is only good until its `until`, and the caches can only add
/// entries, never replace them. So states form a chain: the first is
/// cached under `<base>:start`, and the one after a state that ended at
/// `u` under `<base>:<u>`, loaded when first asked for (at some time at or
/// after `u`). A call walks the chain (in memory) to the first state still
/// good at `at`, loading the missing link; entries expire after the cache
/// TTL, so the walk stays short and the chain restarts from a fresh state.
/// Two states with the same `until` are the same (the now/next only
/// changes at such instants), so `until` also names a state in the keys of
/// answers built from it.
pub(crate) async fn guide_now(
    mw: &Middleware,
    base: &str,
    epg_ids: &[i64],
    at: i64,
) -> Result<Arc<GuideNow>, DeviceError> {
    if epg_ids.is_empty() {
        return Ok(Arc::new(GuideNow {
            map: HashMap::new(),
            until: i64::MAX,
        }));
    }
    let load = || async {
        let map = programmes::now_and_next(&mw.store, epg_ids, at).await?;
        let until = programmes::valid_until(&map, at);
        Ok::<_, DeviceError>(GuideNow { map, until })
    };
    let mut link = "start".to_string();
    for _ in 0..MAX_LINKS {
        let state = mw
            .caches
            .get_or_load(format!("{base}:{link}"), load())
            .await?;
        if at < state.until {
            return Ok(state);
        }
        link = state.until.to_string();
    }
    Ok(Arc::new(load().await?))
}
