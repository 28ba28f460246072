//! `settings/save/`, `account/parent_code/set/` and
//! `portal/settings/list/`.

use std::collections::BTreeSet;

use efir_store::{with_tx, Tx};
use serde_json::{json, Value};

use super::{bad, begin, session_account, store_err};
use crate::device::{Call, DeviceError, ERR_AUTH};
use crate::Middleware;

/// `error` of `account/parent_code/set/` when `old_parent_code` is wrong.
const ERR_WRONG_CODE: i64 = 1;

/// The per-channel flags `settings/save/` sets: parameter, column, value.
const CHANNEL_FLAGS: [(&str, &str, bool); 4] = [
    ("favorite_channel", "is_favorited", true),
    ("unfavorite_channel", "is_favorited", false),
    ("parent_lock_channel", "is_parent_locked", true),
    ("parent_unlock_channel", "is_parent_locked", false),
];

/// Whether `code` is a parent code: 4 to 8 digits.
fn valid_parent_code(code: &str) -> bool {
    (4..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

/// A parent code parameter, checked; `None` when absent.
fn parent_code_param(call: &Call, name: &str) -> Result<Option<String>, DeviceError> {
    match call.params.get(name).map(str::trim) {
        None => Ok(None),
        Some(code) if valid_parent_code(code) => Ok(Some(code.to_string())),
        Some(_) => Err(bad(format!("{name} must be 4 to 8 digits"))),
    }
}

/// Largest `preferred_timeshift_offset`, in hours either way.
const MAX_TIMESHIFT_HOURS: i64 = 24;

/// Most channel ids one `settings/save/` parameter may name.
const MAX_IDS: usize = 1000;

/// Channel ids of a parameter: repeated and/or comma-separated.
fn id_list(call: &Call, name: &str) -> Result<Vec<i64>, DeviceError> {
    let mut ids = Vec::new();
    for value in call.params.all(name) {
        for part in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if ids.len() >= MAX_IDS {
                return Err(bad(format!("{name}: more than {MAX_IDS} channels")));
            }
            match part.parse::<i64>() {
                Ok(id) if id > 0 => ids.push(id),
                _ => return Err(bad(format!("{name}: `{part}` is not a channel id"))),
            }
        }
    }
    Ok(ids)
}

/// What `settings/save/` was asked to change.
#[derive(Debug, Default)]
struct Changes {
    parent_code: Option<String>,
    use_timeshift: Option<bool>,
    /// `preferred_timeshift_offset`: hours the guide's times are shifted.
    timeshift_offset: Option<i64>,
    data_center_id: Option<i64>,
    /// `(column, value, channel ids)`.
    channels: Vec<(&'static str, bool, Vec<i64>)>,
}

impl Changes {
    fn from_call(call: &Call) -> Result<Changes, DeviceError> {
        let mut ch = Changes {
            parent_code: parent_code_param(call, "parent_code")?,
            ..Changes::default()
        };
        if let Some(v) = call.params.get("use_timeshift").map(str::trim) {
            ch.use_timeshift = match v {
                "0" => Some(false),
                "1" => Some(true),
                _ => return Err(bad("use_timeshift must be 0 or 1")),
            };
        }
        if let Some(v) = call
            .params
            .get("preferred_timeshift_offset")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            match v.parse::<i64>() {
                Ok(h) if (-MAX_TIMESHIFT_HOURS..=MAX_TIMESHIFT_HOURS).contains(&h) => {
                    ch.timeshift_offset = Some(h);
                }
                _ => {
                    return Err(bad(format!(
                        "preferred_timeshift_offset must be whole hours from \
                         -{MAX_TIMESHIFT_HOURS} to {MAX_TIMESHIFT_HOURS}"
                    )))
                }
            }
        }
        if let Some(v) = call
            .params
            .get("data_center_id")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            match v.parse::<i64>() {
                Ok(id) if id > 0 => ch.data_center_id = Some(id),
                _ => return Err(bad(format!("data_center_id `{v}` is not a data center id"))),
            }
        }
        for (param, column, value) in CHANNEL_FLAGS {
            let ids = id_list(call, param)?;
            if !ids.is_empty() {
                ch.channels.push((column, value, ids));
            }
        }
        // The same channel both set and cleared is a contradiction.
        for column in ["is_favorited", "is_parent_locked"] {
            let on: BTreeSet<i64> = ch.flag_ids(column, true);
            let off: BTreeSet<i64> = ch.flag_ids(column, false);
            if let Some(id) = on.intersection(&off).next() {
                return Err(bad(format!(
                    "channel {id} is both set and cleared for {column}"
                )));
            }
        }
        Ok(ch)
    }

    fn flag_ids(&self, column: &str, value: bool) -> BTreeSet<i64> {
        self.channels
            .iter()
            .filter(|(c, v, _)| *c == column && *v == value)
            .flat_map(|(_, _, ids)| ids.iter().copied())
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.parent_code.is_none()
            && self.use_timeshift.is_none()
            && self.timeshift_offset.is_none()
            && self.data_center_id.is_none()
            && self.channels.is_empty()
    }
}

/// Runs an `UPDATE account SET <column> = $1 WHERE id = $2`.
macro_rules! set_account {
    ($tx:expr, $column:literal, $value:expr, $account:expr) => {{
        $tx.mark_changed("account");
        let sql = concat!("UPDATE account SET ", $column, " = $1, updated_at = $2 WHERE id = $3");
        with_tx!($tx, c => sqlx::query(sql)
            .bind($value)
            .bind(efir_store::now())
            .bind($account)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }};
}

/// Whether `id` is a channel of the operator.
async fn operator_channel(tx: &mut Tx, client_id: i64, id: i64) -> Result<bool, DeviceError> {
    let sql = "SELECT COUNT(*) FROM channel WHERE id = $1 AND client_id = $2";
    let n: i64 = with_tx!(tx, c => sqlx::query_scalar(sql)
        .bind(id)
        .bind(client_id)
        .fetch_one(c)
        .await)?;
    Ok(n > 0)
}

/// Checks and applies `ch` inside `tx`.
async fn apply(
    tx: &mut Tx,
    client_id: i64,
    account_id: i64,
    ch: &Changes,
) -> Result<(), DeviceError> {
    // Every check first, so that a refusal has written nothing.
    if let Some(dc) = ch.data_center_id {
        let sql = "SELECT COUNT(*) FROM data_center WHERE id = $1 AND client_id = $2";
        let n: i64 = with_tx!(tx, c => sqlx::query_scalar(sql)
            .bind(dc)
            .bind(client_id)
            .fetch_one(c)
            .await)?;
        if n == 0 {
            return Err(bad(format!("data center {dc} not found")));
        }
    }
    for (_, _, ids) in &ch.channels {
        for id in ids {
            if !operator_channel(tx, client_id, *id).await? {
                return Err(bad(format!("channel {id} not found")));
            }
        }
    }

    if let Some(code) = &ch.parent_code {
        set_account!(tx, "parent_code", code, account_id);
    }
    if let Some(on) = ch.use_timeshift {
        set_account!(tx, "use_timeshift", on, account_id);
    }
    if let Some(hours) = ch.timeshift_offset {
        set_account!(tx, "timeshift_offset", hours, account_id);
    }
    if let Some(dc) = ch.data_center_id {
        set_account!(tx, "data_center_id", dc, account_id);
    }
    for (column, value, ids) in &ch.channels {
        tx.mark_changed("account_channel");
        let sql = format!(
            "INSERT INTO account_channel (account_id, channel_id, {column}) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id, channel_id) DO UPDATE SET {column} = excluded.{column}"
        );
        for id in ids {
            with_tx!(tx, c => sqlx::query(&sql)
                .bind(account_id)
                .bind(*id)
                .bind(*value)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?;
        }
    }
    Ok(())
}

/// `settings/save/`: `parent_code`, `favorite_channel`,
/// `unfavorite_channel`, `parent_lock_channel`, `parent_unlock_channel`
/// (ids, repeated or comma-separated), `use_timeshift`, `data_center_id`,
/// `preferred_timeshift_offset` (hours, -24..=24). All or nothing; audited.
pub(super) async fn settings_save(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (account_id, _) = session_account(mw, call).await?;
    let ch = Changes::from_call(call)?;
    if ch.is_empty() {
        return Ok(json!({}));
    }
    let client_id = call.client.id;
    let mut tx = begin(mw, account_id).await?;
    if let Err(e) = apply(&mut tx, client_id, account_id, &ch).await {
        tx.rollback().await.map_err(store_err)?;
        return Err(e);
    }
    let mut data = serde_json::Map::new();
    if ch.parent_code.is_some() {
        data.insert("parent_code".into(), json!("changed"));
    }
    if let Some(on) = ch.use_timeshift {
        data.insert("use_timeshift".into(), json!(on));
    }
    if let Some(hours) = ch.timeshift_offset {
        data.insert("preferred_timeshift_offset".into(), json!(hours));
    }
    if let Some(dc) = ch.data_center_id {
        data.insert("data_center_id".into(), json!(dc));
    }
    for (param, column, value) in CHANNEL_FLAGS {
        let ids = ch.flag_ids(column, value);
        if !ids.is_empty() {
            data.insert(param.into(), json!(ids));
        }
    }
    tx.audit(
        Some(client_id),
        "settings_save",
        "account",
        Some(account_id.to_string()),
        Value::Object(data),
    )
    .await
    .map_err(store_err)?;
    tx.commit().await.map_err(store_err)?;
    mw.caches
        .short_forget(&crate::device::channels::account_view_key(account_id))
        .await;
    Ok(json!({}))
}

/// `account/parent_code/set/` (`parent_code`, `old_parent_code`): changes
/// the parent code when the old one matches (else error 1).
pub(super) async fn parent_code_set(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (account_id, _) = session_account(mw, call).await?;
    let code =
        parent_code_param(call, "parent_code")?.ok_or_else(|| bad("parent_code is required"))?;
    let old = call
        .params
        .get("old_parent_code")
        .map(str::trim)
        .unwrap_or("");
    let mut tx = begin(mw, account_id).await?;
    let sql = "SELECT parent_code FROM account WHERE id = $1";
    let current: String = with_tx!(tx, c => sqlx::query_scalar(sql)
        .bind(account_id)
        .fetch_one(c)
        .await)?;
    if !efir_core::secret::constant_time_eq(old.as_bytes(), current.as_bytes()) {
        tx.rollback().await.map_err(store_err)?;
        return Err(DeviceError::new(
            ERR_WRONG_CODE,
            "old_parent_code does not match the current parent code",
        ));
    }
    set_account!(tx, "parent_code", &code, account_id);
    tx.audit(
        Some(call.client.id),
        "parent_code_set",
        "account",
        Some(account_id.to_string()),
        json!({ "parent_code": "changed" }),
    )
    .await
    .map_err(store_err)?;
    tx.commit().await.map_err(store_err)?;
    Ok(json!({}))
}

/// `portal/settings/list/` (`api_key`, no session): what the portal shows
/// and the operator's languages (default first).
pub(super) async fn portal_settings(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let api_key = call.params.get("api_key").unwrap_or("");
    let expected = call.client.api_key.as_bytes();
    if api_key.is_empty() || !efir_core::secret::constant_time_eq(api_key.as_bytes(), expected) {
        return Err(DeviceError::new(ERR_AUTH, "wrong api_key or client_id"));
    }
    let mut languages = vec![call.client.default_language.as_str()];
    languages.extend(call.client.additional_languages());
    let new_billing: i64 = efir_store::with_db!(mw.store.pool(), p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM billing_nb_client WHERE client_id = $1")
        .bind(call.client.id)
        .fetch_one(p)
        .await)?;
    Ok(json!({
        "show_tvchannels": 1,
        "show_archive": 1,
        "show_videocatalog": 1,
        "show_cctv": 1,
        "show_radio": 1,
        "template": "",
        "custom_api_url": "",
        "client_logo_url": "",
        "standby_timer": 0,
        "auth_mode": "password",
        "has_child_clients": 0,
        "use_new_billing_logic": i64::from(new_billing > 0),
        "portal_config": {},
        "default_language": call.client.default_language,
        "languages": languages,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parent_codes_are_four_to_eight_digits() {
        assert!(super::valid_parent_code("0000"));
        assert!(super::valid_parent_code("12345678"));
        assert!(!super::valid_parent_code("123"));
        assert!(!super::valid_parent_code("123456789"));
        assert!(!super::valid_parent_code("12a4"));
        assert!(!super::valid_parent_code("١٢٣٤"));
    }
}
