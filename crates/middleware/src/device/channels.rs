//! `channel/list/`, `v2/channel/list/` and `category/list/`: what the
//! account's tariffs open, in the call's language.

use efir_epg::programmes::Programme;
use efir_store::with_db;
use serde_json::{json, Value};

use super::login::account_active;
use super::{epg, Call, DeviceError, Reply, ERR_BAD_REQUEST};
use crate::access;
use crate::Middleware;

#[derive(Debug, sqlx::FromRow)]
struct ChannelRow {
    id: i64,
    name: String,
    name_lang1: Option<String>,
    name_lang2: Option<String>,
    name_lang3: Option<String>,
    name_lang4: Option<String>,
    name_lang5: Option<String>,
    category_id: Option<i64>,
    parent_control: bool,
    uri: String,
    recording_days: i64,
    icon: String,
    sort: i64,
    lcn_number: i64,
    aspect_ratio: i64,
    show_in_all: bool,
    option1: String,
    option2: String,
    option3: String,
    /// The channel's guide.
    epg_channel_id: Option<i64>,
    /// Icon set of the guide's channel ('' for none).
    epg_icon_key: String,
}

/// An account's own marks on a channel.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
struct Marks {
    channel_id: i64,
    is_favorited: bool,
    is_hidden: bool,
    is_parent_locked: bool,
}

/// Rewrites an icon URL for a requested size: `a/b.png` → `a/b40_40.png`.
pub fn sized_icon(icon: &str, width: Option<i64>, height: Option<i64>) -> String {
    let (Some(w), Some(h)) = (width, height) else {
        return icon.to_string();
    };
    if icon.is_empty() {
        return String::new();
    }
    let slash = icon.rfind('/').map_or(0, |i| i + 1);
    match icon[slash..].rfind('.') {
        Some(dot) => {
            let at = slash + dot;
            format!("{}{w}_{h}{}", &icon[..at], &icon[at..])
        }
        None => format!("{icon}{w}_{h}"),
    }
}

/// What an account may see now, as cached per content generation, account
/// and place.
#[derive(Debug, Clone)]
pub(crate) struct AccountAccess {
    /// The tariffs that apply now.
    pub tariff_ids: Vec<i64>,
    /// When its channel list last changed.
    pub channel_list_changed_at: i64,
}

/// The session's account's access, from the cache when fresh.
pub(crate) async fn account_access(
    mw: &Middleware,
    call: &Call,
    account_id: i64,
) -> Result<std::sync::Arc<AccountAccess>, DeviceError> {
    let generation = mw.caches.generation(&mw.store, call.client.id).await?;
    let place = mw.caches.place(&mw.store, call.ip).await?;
    let key = format!(
        "access:{account_id}:{generation}:{:?}:{:?}",
        place.country_id, place.city_id
    );
    mw.caches
        .get_or_load(key, async {
            let (active, _, customer_id) = account_active(mw, account_id).await?;
            let tariffs = access::customer_tariffs(&mw.store, customer_id).await?;
            let tariff_ids = access::applicable(&mw.store, &tariffs, active, place).await?;
            let changed: i64 = with_db!(mw.store.pool(), p => sqlx::query_scalar(
                "SELECT channel_list_changed_at FROM account WHERE id = $1")
                .bind(account_id)
                .fetch_one(p)
                .await)?;
            Ok::<_, DeviceError>(AccountAccess {
                tariff_ids,
                channel_list_changed_at: changed,
            })
        })
        .await
}

/// An account's own settings that shape its lists: channel marks and the
/// guide's time shift. Cached for [`crate::cache::SHORT_TTL`]: a change
/// through `settings/save/` forgets it on that node at once, other nodes
/// follow within that time. Spares two queries on every list call.
#[derive(Debug, Clone)]
pub(crate) struct AccountView {
    /// Favourite, hidden and parent-locked channels.
    marks: std::sync::Arc<std::collections::HashMap<i64, Marks>>,
    /// `account.timeshift_offset`, hours.
    pub timeshift_hours: i64,
}

/// Cache key of an account's [`AccountView`].
pub(crate) fn account_view_key(account_id: i64) -> String {
    format!("account_view:{account_id}")
}

/// The account's [`AccountView`], cached.
pub(crate) async fn account_view(
    mw: &Middleware,
    account_id: i64,
) -> Result<AccountView, DeviceError> {
    mw.caches
        .short_get_or_load(account_view_key(account_id), async {
            let marks: Vec<Marks> = with_db!(mw.store.pool(), p => sqlx::query_as(
                "SELECT channel_id, is_favorited, is_hidden, is_parent_locked \
                 FROM account_channel WHERE account_id = $1")
                .bind(account_id)
                .fetch_all(p)
                .await)?;
            let shift: Option<i64> = with_db!(mw.store.pool(), p => sqlx::query_scalar(
                "SELECT timeshift_offset FROM account WHERE id = $1")
                .bind(account_id)
                .fetch_optional(p)
                .await)?;
            Ok::<_, DeviceError>(AccountView {
                marks: std::sync::Arc::new(marks.into_iter().map(|m| (m.channel_id, m)).collect()),
                timeshift_hours: shift.unwrap_or(0),
            })
        })
        .await
}

/// The ids of the tariffs that apply to the session's account now.
pub(crate) async fn tariff_ids(
    mw: &Middleware,
    call: &Call,
    account_id: i64,
) -> Result<Vec<i64>, DeviceError> {
    Ok(account_access(mw, call, account_id)
        .await?
        .tariff_ids
        .clone())
}

/// An optional whole-number parameter within `min..=max`; anything else
/// sent is a 400.
pub(crate) fn number(
    call: &Call,
    name: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, DeviceError> {
    match call
        .params
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(DeviceError::new(
                ERR_BAD_REQUEST,
                format!("{name} must be a whole number from {min} to {max}"),
            )),
        },
    }
}

/// `channel/list/` (and `v2/channel/list/` with `v2`).
pub async fn channel_list(mw: &Middleware, call: &Call, v2: bool) -> Result<Reply, DeviceError> {
    let session = call.session(mw).await?;
    let width = number(call, "icon_width", 1, 4096)?;
    let height = number(call, "icon_height", 1, 4096)?;
    let limit = number(call, "limit", 1, 10_000)?;
    let page = number(call, "page", 1, 1_000_000)?.unwrap_or(1);
    let compact = call.params.get("compact") == Some("1");
    let search = call
        .params
        .get("search")
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());

    let access = account_access(mw, call, session.account_id).await?;
    // Remember that this session has the list, when the status poll would
    // otherwise keep reporting a change (no write on the common path).
    if access.channel_list_changed_at > 0
        && access.channel_list_changed_at >= session.channel_list_loaded_at
    {
        let now = efir_store::now();
        let loaded = "UPDATE account_authkey SET channel_list_loaded_at = $1 WHERE id = $2";
        with_db!(mw.store.pool(), p => sqlx::query(loaded)
            .bind(now)
            .bind(session.id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        let mut cached = session.clone();
        cached.channel_list_loaded_at = now;
        mw.caches.short_put(cached.cache_key.clone(), cached).await;
    }
    let ids = &access.tariff_ids;
    if ids.is_empty() {
        return Ok(json!({ "channels": [] }).into());
    }
    let generation = mw.caches.generation(&mw.store, call.client.id).await?;
    let key = format!(
        "channels:{}:{generation}:{}",
        call.client.id,
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    );
    let rows = mw
        .caches
        .get_or_load(key, async {
            let sql = format!(
                "SELECT c.id, c.name, c.name_lang1, c.name_lang2, c.name_lang3, c.name_lang4, \
                 c.name_lang5, c.category_id, c.parent_control, c.uri, c.recording_days, c.icon, \
                 c.sort, c.lcn_number, c.aspect_ratio, c.show_in_all, c.option1, c.option2, \
                 c.option3, c.epg_channel_id, COALESCE(ec.icon_key, '') AS epg_icon_key \
                 FROM channel c LEFT JOIN epg_channel ec ON ec.id = c.epg_channel_id \
                 WHERE c.client_id = $1 AND c.enabled AND c.id IN ( \
                 SELECT tc.channel_id FROM tariff_channel tc WHERE tc.tariff_id IN ({})) \
                 ORDER BY c.sort, c.id",
                access::placeholders(2, ids.len())
            );
            // Cached under `generation`: on a replica only when it has it.
            let reader = mw
                .caches
                .reader_at(&mw.store, call.client.id, &generation)
                .await;
            let rows: Vec<ChannelRow> = efir_store::read_on!(mw.store, reader, p => {
                let mut q = sqlx::query_as(&sql).bind(call.client.id);
                for id in ids {
                    q = q.bind(*id);
                }
                q.fetch_all(p).await
            })?;
            Ok::<_, DeviceError>(rows)
        })
        .await?;
    let own = account_view(mw, session.account_id).await?;
    let marks = &own.marks;
    // The programme on now and next (not in v2): the viewer's time shift
    // and the instant the guide's state stops being true go in the keys.
    let (offset, guide) = if v2 {
        (0, None)
    } else {
        let offset = epg::offset_hours(call, own.timeshift_hours)? * 3600;
        let mut epg_ids: Vec<i64> = rows.iter().filter_map(|c| c.epg_channel_id).collect();
        epg_ids.sort_unstable();
        epg_ids.dedup();
        let base = format!(
            "nownext:{}:{generation}:{}:{offset}",
            call.client.id,
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        );
        let at = efir_store::now() - offset;
        (offset, Some(epg::guide_now(mw, &base, &epg_ids, at).await?))
    };
    let lang = epg::lang_code(call);
    let view = View {
        width,
        height,
        compact,
        v2,
        search: search.as_deref(),
        offset,
        guide: guide.as_deref(),
        lang: lang.as_deref(),
    };
    // The common case (no marks, no search, no paging, JSON) is one cached,
    // already serialized answer per operator, tariff set and view, time
    // shift and guide state: the state's `until` (see `epg::guide_now`)
    // names it, so once the programme on a channel ends the key changes
    // and the answer is rebuilt.
    if marks.is_empty() && search.is_none() && limit.is_none() && !call.xml {
        let until = guide.as_ref().map_or(0, |g| g.until);
        let key = format!(
            "rendered:{}:{generation}:{}:{}:{width:?}:{height:?}:{compact}:{v2}:{offset}:{until}",
            call.client.id,
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
            call.lang
        );
        let raw = mw
            .caches
            .get_or_load_bytes(key, async {
                let channels = render(call, &rows, marks, &view);
                serde_json::to_vec(
                    &json!({ "channels": channels, "error": 0, "error_message": "" }),
                )
                .map_err(|e| DeviceError::new(super::ERR_INTERNAL, e.to_string()))
            })
            .await?;
        return Ok(Reply {
            body: Value::Null,
            cookies: Vec::new(),
            redirect: None,
            raw_json: Some(raw),
        });
    }
    let mut channels = render(call, &rows, marks, &view);
    if let Some(limit) = limit {
        let skip = usize::try_from((page - 1).saturating_mul(limit)).unwrap_or(usize::MAX);
        channels = channels
            .into_iter()
            .skip(skip)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
    }
    Ok(json!({ "channels": channels }).into())
}

/// How a channel list is shown.
struct View<'a> {
    width: Option<i64>,
    height: Option<i64>,
    compact: bool,
    v2: bool,
    search: Option<&'a str>,
    /// The viewer's time shift, in seconds.
    offset: i64,
    /// The guide's now and next (none in v2).
    guide: Option<&'a epg::GuideNow>,
    /// The call's language code (none for the default).
    lang: Option<&'a str>,
}

/// Size of EPG channel icons when none is asked for.
const DEFAULT_EPG_ICON: (u32, u32) = (120, 91);

/// The channel's icon: its own (resized as asked), else its guide
/// channel's stored icon set at the closest size, else ''.
fn channel_icon(c: &ChannelRow, width: Option<i64>, height: Option<i64>) -> String {
    if !c.icon.is_empty() || c.epg_icon_key.is_empty() {
        return sized_icon(&c.icon, width, height);
    }
    let size =
        |v: Option<i64>, default: u32| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(default);
    efir_epg::icons::url_path(
        &c.epg_icon_key,
        size(width, DEFAULT_EPG_ICON.0),
        size(height, DEFAULT_EPG_ICON.1),
    )
}

/// Fills the `<prefix>*` programme fields of a channel item from `p`.
fn programme_fields(item: &mut Value, prefix: &str, p: &Programme, view: &View<'_>) {
    let t = p.texts(view.lang);
    let fields = [
        ("id", json!(p.id)),
        ("name", json!(t.title)),
        ("begin_time", json!(p.start_at + view.offset)),
        ("end_time", json!(p.stop_at + view.offset)),
        ("category_id", json!(p.category_id)),
        ("category", json!(p.category_name(view.lang))),
        ("description", json!(t.description)),
        ("preview_url", json!(p.icon)),
        ("rating", json!(p.rating)),
    ];
    for (name, value) in fields {
        item[format!("{prefix}{name}")] = value;
    }
}

/// The channel items of `rows` for `view`, with the account's `marks`.
fn render(
    call: &Call,
    rows: &[ChannelRow],
    marks: &std::collections::HashMap<i64, Marks>,
    view: &View<'_>,
) -> Vec<Value> {
    let (width, height, compact, v2) = (view.width, view.height, view.compact, view.v2);
    let search = view.search;
    let mut channels: Vec<Value> = Vec::with_capacity(rows.len());
    for c in rows.iter() {
        let mark = marks.get(&c.id).copied().unwrap_or_default();
        let name = call.localised(
            &c.name,
            [
                &c.name_lang1,
                &c.name_lang2,
                &c.name_lang3,
                &c.name_lang4,
                &c.name_lang5,
            ],
        );
        if let Some(s) = search {
            if !name.to_lowercase().contains(s) {
                continue;
            }
        }
        let icon = channel_icon(c, width, height);
        let hidden = i64::from(mark.is_hidden);
        let favorited = i64::from(mark.is_favorited);
        let parent = i64::from(c.parent_control || mark.is_parent_locked);
        let item = if v2 {
            json!({
                "id": c.id, "name": name, "category_id": c.category_id, "sort": c.sort,
                "lcn_number": c.lcn_number, "has_subscription": 1, "is_hidden": hidden,
                "is_parent_control": parent, "is_favorited": favorited,
                "show_in_all": i64::from(c.show_in_all), "icon": icon,
            })
        } else {
            let mut item = json!({
                "id": c.id, "name": name, "icon": icon, "category_id": c.category_id,
                "url": c.uri, "has_record": i64::from(c.recording_days > 0),
                "max_archive_duration": c.recording_days, "is_hidden": hidden,
                "is_favorited": favorited, "has_subscription": 1, "is_parent_control": parent,
                "timeshift_offset": view.offset / 3600, "channel_sort": c.sort,
                "program_id": Value::Null, "program_name": "", "program_begin_time": 0,
                "program_end_time": 0, "program_category_id": Value::Null, "program_category": "",
                "program_description": "", "program_preview_url": "", "program_rating": "",
                "pause_live_tv_shift": 0, "aspect_ratio": c.aspect_ratio,
                "lcn_number": c.lcn_number, "hbb": [], "additional_categories": [],
                "show_in_all": i64::from(c.show_in_all), "ads_available": 0, "drm_available": 0,
            });
            if !compact {
                item["option1"] = json!(c.option1);
                item["option2"] = json!(c.option2);
                item["option3"] = json!(c.option3);
                item["next_program_id"] = Value::Null;
                item["next_program_name"] = json!("");
                item["next_program_begin_time"] = json!(0);
                item["next_program_end_time"] = json!(0);
                item["next_program_category_id"] = Value::Null;
                item["next_program_category"] = json!("");
                item["next_program_description"] = json!("");
                item["next_program_preview_url"] = json!("");
                item["next_program_rating"] = json!("");
            }
            let on = c
                .epg_channel_id
                .and_then(|g| view.guide.and_then(|guide| guide.map.get(&g)));
            if let Some((now, next)) = on {
                if let Some(p) = now {
                    programme_fields(&mut item, "program_", p, view);
                }
                if let (Some(p), false) = (next, compact) {
                    programme_fields(&mut item, "next_program_", p, view);
                }
            }
            item
        };
        channels.push(item);
    }
    channels
}

#[derive(Debug, sqlx::FromRow)]
struct CategoryRow {
    id: i64,
    name: String,
    name_lang1: Option<String>,
    name_lang2: Option<String>,
    name_lang3: Option<String>,
    name_lang4: Option<String>,
    name_lang5: Option<String>,
    description: String,
    color: String,
    icon_url: String,
}

/// `category/list/`: the operator's categories with how many of the
/// account's channels each holds.
pub async fn category_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let session = call.session(mw).await?;
    let ids = tariff_ids(mw, call, session.account_id).await?;
    let sql = "SELECT id, name, name_lang1, name_lang2, name_lang3, name_lang4, name_lang5, \
               description, color, icon_url FROM category WHERE client_id = $1 ORDER BY sort, id";
    let rows: Vec<CategoryRow> = efir_store::read_db!(mw.store, p => sqlx::query_as(sql)
        .bind(call.client.id)
        .fetch_all(p)
        .await)?;
    let mut counts = std::collections::HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT c.category_id, COUNT(DISTINCT c.id) FROM channel c JOIN tariff_channel tc \
             ON tc.channel_id = c.id WHERE c.client_id = $1 AND c.enabled \
             AND tc.tariff_id IN ({}) AND c.category_id IS NOT NULL GROUP BY c.category_id",
            access::placeholders(2, ids.len())
        );
        let rows: Vec<(i64, i64)> = efir_store::read_db!(mw.store, p => {
            let mut q = sqlx::query_as(&sql).bind(call.client.id);
            for id in &ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await
        })?;
        counts.extend(rows);
    }
    let categories: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": call.localised(&c.name, [&c.name_lang1, &c.name_lang2, &c.name_lang3, &c.name_lang4, &c.name_lang5]),
                "description": c.description,
                "color": c.color,
                "channels_count": counts.get(&c.id).copied().unwrap_or(0),
                "icon_url": c.icon_url,
                "icon_tv_url": c.icon_url,
                "dashboard_icon_url": c.icon_url,
            })
        })
        .collect();
    Ok(json!({ "categories": categories }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn icon_sizes_go_before_the_extension() {
        assert_eq!(
            super::sized_icon("http://x/i/a.png", Some(40), Some(30)),
            "http://x/i/a40_30.png"
        );
        assert_eq!(
            super::sized_icon("http://x.y/i/a", Some(4), Some(3)),
            "http://x.y/i/a4_3"
        );
        assert_eq!(super::sized_icon("a.png", None, Some(3)), "a.png");
        assert_eq!(super::sized_icon("", Some(1), Some(1)), "");
    }
}
