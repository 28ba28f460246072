//! `radio/list/`, `camera/list/` and `application/list/`.

use serde_json::{json, Value};

use super::{name_columns, number, open_tariffs, Names};
use crate::device::channels::sized_icon;
use crate::device::{Call, DeviceError};
use crate::Middleware;

#[derive(Debug, sqlx::FromRow)]
struct RadioRow {
    id: i64,
    name: String,
    #[sqlx(flatten)]
    names: Names,
    url: String,
    logo_url: String,
    description: String,
}

/// `radio/list/`: the enabled radio stations the account's tariffs open,
/// by `sort`.
pub(super) async fn radio_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (_, tariffs) = open_tariffs(mw, call).await?;
    if tariffs.is_empty() {
        return Ok(json!({ "radio": [] }));
    }
    let sql = format!(
        "SELECT r.id, r.name, {}, r.url, r.logo_url, r.description FROM radio r \
         WHERE r.client_id = $1 AND r.enabled AND EXISTS (SELECT 1 FROM tariff_radio tr \
         WHERE tr.radio_id = r.id AND tr.tariff_id IN ({})) ORDER BY r.sort, r.id",
        name_columns("r"),
        super::in_list(2, &tariffs)
    );
    let mut args = vec![call.client.id];
    args.extend(&tariffs);
    let rows: Vec<RadioRow> = fetch_rows!(mw, &sql, &args)?;
    let radio: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.names.pick(call, &r.name),
                "url": r.url,
                "logo_url": r.logo_url,
                "channel_name": "",
                "description": r.description,
                "has_subscription": 1,
            })
        })
        .collect();
    Ok(json!({ "radio": radio }))
}

#[derive(Debug, sqlx::FromRow)]
struct CameraRow {
    id: i64,
    name: String,
    #[sqlx(flatten)]
    names: Names,
    category_id: Option<i64>,
    city_id: Option<i64>,
    city_name: Option<String>,
    url: String,
    icon: String,
    preview_url: String,
    recording_days: i64,
}

/// `camera/list/` (`city_id`, `category_id`, `icon_width`, `icon_height`):
/// the enabled cameras the account's tariffs open, by `sort`.
pub(super) async fn camera_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let city = number(call, "city_id", 1, i64::MAX)?;
    let category = number(call, "category_id", 1, i64::MAX)?;
    let width = number(call, "icon_width", 1, 4096)?;
    let height = number(call, "icon_height", 1, 4096)?;
    let (_, tariffs) = open_tariffs(mw, call).await?;
    if tariffs.is_empty() {
        return Ok(json!({ "cameras": [] }));
    }
    let mut args = vec![call.client.id];
    args.extend(&tariffs);
    let mut sql = format!(
        "SELECT c.id, c.name, {}, c.category_id, c.city_id, ci.name AS city_name, c.url, \
         c.icon, c.preview_url, c.recording_days FROM camera c \
         LEFT JOIN city ci ON ci.id = c.city_id \
         WHERE c.client_id = $1 AND c.enabled AND EXISTS (SELECT 1 FROM tariff_camera tc \
         WHERE tc.camera_id = c.id AND tc.tariff_id IN ({}))",
        name_columns("c"),
        super::in_list(2, &tariffs)
    );
    if let Some(city) = city {
        args.push(city);
        sql.push_str(&format!(" AND c.city_id = ${}", args.len()));
    }
    if let Some(category) = category {
        args.push(category);
        sql.push_str(&format!(" AND c.category_id = ${}", args.len()));
    }
    sql.push_str(" ORDER BY c.sort, c.id");
    let rows: Vec<CameraRow> = fetch_rows!(mw, &sql, &args)?;
    let cameras: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.names.pick(call, &c.name),
                "icon": sized_icon(&c.icon, width, height),
                "category_id": c.category_id,
                "city_id": c.city_id,
                "city_name": c.city_name.as_deref().unwrap_or(""),
                "url": c.url,
                "has_record": i64::from(c.recording_days > 0),
                "max_archive_duration": c.recording_days,
                "is_favorited": 0,
                "preview_url": c.preview_url,
                "program_id": Value::Null,
                "program_name": "",
                "program_begin_time": 0,
                "program_end_time": 0,
            })
        })
        .collect();
    Ok(json!({ "cameras": cameras }))
}

#[derive(Debug, sqlx::FromRow)]
struct ApplicationRow {
    id: i64,
    name: String,
    #[sqlx(flatten)]
    names: Names,
    system_name: String,
    app_type: String,
    url: String,
    show_in_main_menu: bool,
    css_style: String,
    icon: String,
    icon_focus: String,
    attrs: String,
}

/// `attrs` as a JSON object; anything else stored reads as `{}`.
fn attrs_object(raw: &str) -> Value {
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// `application/list/`: the enabled applications the account's tariffs
/// open, by `sort`.
pub(super) async fn application_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (_, tariffs) = open_tariffs(mw, call).await?;
    if tariffs.is_empty() {
        return Ok(json!({ "applications": [] }));
    }
    let sql = format!(
        "SELECT a.id, a.name, {}, a.system_name, a.app_type, a.url, a.show_in_main_menu, \
         a.css_style, a.icon, a.icon_focus, a.attrs FROM application a \
         WHERE a.client_id = $1 AND a.enabled AND EXISTS (SELECT 1 FROM tariff_application ta \
         WHERE ta.application_id = a.id AND ta.tariff_id IN ({})) ORDER BY a.sort, a.id",
        name_columns("a"),
        super::in_list(2, &tariffs)
    );
    let mut args = vec![call.client.id];
    args.extend(&tariffs);
    let rows: Vec<ApplicationRow> = fetch_rows!(mw, &sql, &args)?;
    let applications: Vec<Value> = rows
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "name": a.names.pick(call, &a.name),
                "system_name": a.system_name,
                "type": a.app_type,
                "url": a.url,
                "show_in_main_menu": i64::from(a.show_in_main_menu),
                "css_style": a.css_style,
                "icon": a.icon,
                "icon_focus": a.icon_focus,
                "attrs": attrs_object(&a.attrs),
            })
        })
        .collect();
    Ok(json!({ "applications": applications }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn attrs_are_an_object_or_empty() {
        assert_eq!(super::attrs_object(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(super::attrs_object("[1]"), json!({}));
        assert_eq!(super::attrs_object("not json"), json!({}));
    }
}
