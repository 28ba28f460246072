//! `/admin/api/clients/{id}/settings`: an operator's settings (`billing.*`,
//! `sms.*`, …), read by its staff and changed by its admins. Values of
//! secret keys (passwords, tokens, keys) are never answered.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::Json;
use efir_store::settings::is_secret_key;
use serde_json::{json, Value};

use super::auth::Staff;
use super::error::{AdminError, AdminResult};
use super::input::JsonBody;
use super::AdminState;

/// The operator `id` as this user may see it (404 otherwise).
async fn visible_client(state: &AdminState, staff: &Staff, id: i64) -> AdminResult<()> {
    if !staff.may_see(id) {
        return Err(AdminError::not_found(format!("client {id} not found")));
    }
    state.store.client(id).await?;
    Ok(())
}

fn shown(settings: BTreeMap<String, String>) -> Value {
    let map: serde_json::Map<String, Value> = settings
        .into_iter()
        .map(|(k, v)| {
            let v = if is_secret_key(&k) {
                "***".to_string()
            } else {
                v
            };
            (k, Value::String(v))
        })
        .collect();
    Value::Object(map)
}

/// `GET /admin/api/clients/{id}/settings`: the settings and every key the
/// back office understands.
pub async fn get(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> AdminResult<Json<Value>> {
    visible_client(&state, &staff, id).await?;
    let settings = state.store.client_settings(id).await?;
    let known: Vec<Value> = crate::settings::specs()
        .into_iter()
        .map(|s| json!({ "key": s.key, "help": s.help, "secret": is_secret_key(s.key) }))
        .collect();
    Ok(Json(
        json!({ "client_id": id, "settings": shown(settings), "known": known }),
    ))
}

/// `PATCH /admin/api/clients/{id}/settings` with `{"key": "value" | null}`:
/// sets (or with `null` removes) settings; every key is checked first and
/// nothing is written when one is wrong.
pub async fn patch(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    JsonBody(changes): JsonBody<BTreeMap<String, Option<String>>>,
) -> AdminResult<Json<Value>> {
    staff.require_admin()?;
    visible_client(&state, &staff, id).await?;
    if changes.is_empty() {
        return Err(AdminError::bad_request("no settings given"));
    }
    let mut errors = BTreeMap::new();
    for (key, value) in &changes {
        let checked = match value {
            Some(v) => crate::settings::validate(key, v),
            None => crate::settings::spec(key)
                .map(|_| ())
                .ok_or_else(|| format!("unknown setting `{key}`")),
        };
        if let Err(e) = checked {
            errors.insert(key.clone(), e);
        }
    }
    if let Some(e) = AdminError::fields(errors) {
        return Err(e);
    }
    let mut tx = state.store.begin(staff.actor()).await?;
    for (key, value) in &changes {
        state
            .store
            .set_client_setting(&mut tx, id, key, value.as_deref())
            .await?;
    }
    tx.commit().await?;
    let settings = state.store.client_settings(id).await?;
    Ok(Json(
        json!({ "client_id": id, "settings": shown(settings) }),
    ))
}
