//! Operators and their settings (languages, API keys shown once, SMS
//! gateway, billing mode).
//!
//! Only superusers (every operator) and operator admins (their own) see
//! these pages; support and monitoring users get 403, another operator's
//! pages answer 404.
//!
//! * `GET /admin/operators`: the list;
//! * `GET /admin/operators/{id}`: name, languages, domain prefix, counts
//!   and the API keys, masked to a prefix;
//! * `GET|POST /admin/operators/{id}/settings`: every `client_setting` key
//!   the back office understands ([`efir_backoffice::settings::specs`]),
//!   checked by the part that owns it before anything is written; secret
//!   values show as `***` and stay unchanged when submitted empty; an empty
//!   non-secret value removes the setting;
//! * `POST /admin/operators/{id}/keys/{kind}/rotate` (`kind` = `device`,
//!   `billing`, `content`): a new random key, stored and audited (the
//!   audit event names the kind, never the key), shown once on the answer.
//! * `POST /admin/operators/{id}/languages`: the default language and the
//!   five slots of localised fields (`*_lang1` … `*_lang5`), each an ISO
//!   639 code at most once ([`efir_store::Store::set_client_languages`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use efir_store::settings::is_secret_key;
use efir_store::with_db;
use minijinja::context;
use serde_json::json;

use super::{item, Chart, Form, NavItem, Query};
use crate::render::{
    columns, param, see_other, Action, Cell, DetailView, FormField, FormView, ListView, PageError,
    PageResult,
};
use crate::session::User;
use crate::Panel;

/// Interface strings of these pages: `(key, English, Russian)`.
pub static STRINGS: &[(&str, &str, &str)] = &[
    ("ops_operator_list", "Operators", "Операторы"),
    ("ops_id", "ID", "ID"),
    ("ops_operator", "Operator", "Оператор"),
    ("ops_domain_prefix", "Domain prefix", "Префикс домена"),
    ("ops_currency", "Currency", "Валюта"),
    ("ops_default_language", "Default language", "Основной язык"),
    (
        "ops_additional_languages",
        "Additional languages",
        "Дополнительные языки",
    ),
    ("ops_languages_form", "Languages", "Языки"),
    ("ops_language_slot1", "Language of *_lang1 fields", "Язык полей *_lang1"),
    ("ops_language_slot2", "Language of *_lang2 fields", "Язык полей *_lang2"),
    ("ops_language_slot3", "Language of *_lang3 fields", "Язык полей *_lang3"),
    ("ops_language_slot4", "Language of *_lang4 fields", "Язык полей *_lang4"),
    ("ops_language_slot5", "Language of *_lang5 fields", "Язык полей *_lang5"),
    (
        "ops_language_help",
        "ISO 639 code (en, ru, kk); empty: slot unused. Slots keep their names already entered.",
        "Код ISO 639 (en, ru, kk); пусто: слот не используется. Уже введённые названия остаются в своих слотах.",
    ),
    ("ops_customers", "Customers", "Абоненты"),
    ("ops_accounts", "Accounts", "Аккаунты"),
    ("ops_channels", "Channels", "Каналы"),
    ("ops_tariffs", "Tariffs", "Тарифы"),
    ("ops_stream_services", "Stream services", "Сервисы вещания"),
    ("ops_device_key", "Device API key", "Ключ API устройств"),
    ("ops_billing_key", "Billing API key", "Ключ Billing API"),
    ("ops_content_key", "Content API key", "Ключ Content API"),
    (
        "ops_rotate_device",
        "New device API key",
        "Новый ключ API устройств",
    ),
    (
        "ops_rotate_billing",
        "New Billing API key",
        "Новый ключ Billing API",
    ),
    (
        "ops_rotate_content",
        "New Content API key",
        "Новый ключ Content API",
    ),
    (
        "ops_rotate_confirm",
        "Replace this key? Whatever uses the old key stops working.",
        "Заменить ключ? Всё, что использует старый ключ, перестанет работать.",
    ),
    ("ops_new_key", "New key", "Новый ключ"),
    (
        "ops_key_shown_once",
        "Copy this key now: it is shown only once and cannot be shown again.",
        "Скопируйте ключ сейчас: он показывается один раз и больше показан не будет.",
    ),
    ("ops_settings", "Operator settings", "Настройки оператора"),
    (
        "ops_secret_kept",
        "*** is stored; leave empty to keep it.",
        "*** сохранён; оставьте пустым, чтобы не менять.",
    ),
    (
        "ops_settings_saved",
        "Settings saved.",
        "Настройки сохранены.",
    ),
    (
        "ops_back_to_operator",
        "Back to the operator",
        "К оператору",
    ),
];

/// Templates of these pages: `(name, source)`.
pub const TEMPLATES: &[(&str, &str)] =
    &[("ops_key.html", include_str!("../../templates/ops_key.html"))];

/// The routes of these pages.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route("/admin/operators", get(list))
        .route("/admin/operators/{id}", get(show))
        .route(
            "/admin/operators/{id}/settings",
            get(settings_page).post(save_settings),
        )
        .route("/admin/operators/{id}/keys/{kind}/rotate", post(rotate_key))
        .route("/admin/operators/{id}/languages", post(save_languages))
}

/// The languages form of operator `c`.
fn languages_form(c: &efir_store::clients::Client) -> FormView {
    let mut fields = vec![
        FormField::new("default_language", "ops_default_language", "text")
            .required()
            .value(&c.default_language),
    ];
    let slots = [
        &c.language1,
        &c.language2,
        &c.language3,
        &c.language4,
        &c.language5,
    ];
    for (i, slot) in slots.iter().enumerate() {
        let name = format!("language{}", i + 1);
        let label = format!("ops_language_slot{}", i + 1);
        let mut f =
            FormField::new(&name, &label, "text").value(slot.as_deref().unwrap_or_default());
        if i == 0 {
            f = f.help("ops_language_help");
        }
        fields.push(f);
    }
    FormView {
        title: "ops_languages_form".into(),
        action: format!("/admin/operators/{}/languages", c.id),
        fields,
        ..FormView::default()
    }
}

/// `POST /admin/operators/{id}/languages`: the default language and the
/// five slots; a bad or repeated code is a 422 naming its field.
async fn save_languages(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form,
) -> PageResult {
    let c = visible(&panel, &user, id).await?;
    let value = |name: &str| {
        param(&f, name)
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
    };
    let default = value("default_language").unwrap_or_default();
    let slots = [
        value("language1"),
        value("language2"),
        value("language3"),
        value("language4"),
        value("language5"),
    ];
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    let result = panel
        .store
        .set_client_languages(&mut tx, id, &default, &slots)
        .await;
    if let Err(efir_store::StoreError::Invalid(message)) = &result {
        tx.rollback().await?;
        let mut err = PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message.clone());
        for part in message.split("; ") {
            if let Some((field, problem)) = part.split_once(": ") {
                err.fields.insert(field.to_string(), problem.to_string());
            }
        }
        let mut form = languages_form(&c);
        form.refill(&f, &err);
        let mut res = panel
            .views
            .page("form.html", &user, context! { view => form })?;
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(res);
    }
    result?;
    tx.audit(
        Some(id),
        "update",
        "client",
        Some(id.to_string()),
        json!({ "default_language": default, "languages": slots }),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!("/admin/operators/{id}?notice=saved")))
}

/// Menu entries for `user`.
pub fn nav_items(user: &User) -> Vec<NavItem> {
    if user.can_admin() {
        vec![item("ops_operator_list", "/admin/operators")]
    } else {
        Vec::new()
    }
}

/// Charts these pages add to the dashboard (operator `scope`, `None` =
/// all).
pub async fn charts(_panel: &Panel, _user: &User, _scope: Option<i64>) -> PageResult<Vec<Chart>> {
    Ok(Vec::new())
}

/// 403 unless an admin, 404 unless the operator is theirs; the operator.
async fn visible(panel: &Panel, user: &User, id: i64) -> PageResult<efir_store::clients::Client> {
    user.require_admin()?;
    user.check(id)?;
    super::client(panel, id).await
}

/// The first characters of a key, the rest hidden.
fn masked(key: &str) -> String {
    let head: String = key.chars().take(4).collect();
    format!("{head}…")
}

async fn list(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    user.require_admin()?;
    let clients: Vec<_> = panel
        .store
        .clients()
        .await?
        .into_iter()
        .filter(|c| user.staff.may_see(c.id))
        .collect();
    let page = crate::render::page_of(&q);
    let size = crate::render::PAGE_SIZE;
    let mut view = ListView {
        title: "ops_operator_list".into(),
        columns: columns(&[
            "ops_id",
            "name",
            "ops_domain_prefix",
            "email",
            "languages",
            "status",
        ]),
        ..ListView::default()
    };
    view.paginate(clients.len() as i64, page, &q);
    let skip = ((view.page - 1) * size) as usize;
    view.rows = clients
        .iter()
        .skip(skip)
        .take(size as usize)
        .map(|c| {
            let href = format!("/admin/operators/{}", c.id);
            vec![
                Cell::link(c.id, href.clone()),
                Cell::link(&c.name, href),
                Cell::text(&c.domain_prefix),
                Cell::text(&c.email),
                Cell::text(languages(c)),
                active_cell(&user, c.is_active),
            ]
        })
        .collect();
    panel
        .views
        .page("list.html", &user, context! { view => view })
}

fn active_cell(user: &User, active: bool) -> Cell {
    if active {
        Cell::text(crate::i18n::t(user.lang, "active")).class("ok")
    } else {
        Cell::text(crate::i18n::t(user.lang, "inactive")).class("muted")
    }
}

fn languages(c: &efir_store::clients::Client) -> String {
    std::iter::once(c.default_language.as_str())
        .chain(c.additional_languages())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn count(panel: &Panel, table: &str, id: i64) -> PageResult<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE client_id = $1");
    let n: i64 =
        with_db!(panel.store.pool(), p => sqlx::query_scalar(&sql).bind(id).fetch_one(p).await)?;
    Ok(n)
}

/// The key kinds: `(kind in the URL, column, label key, rotate label key)`.
const KEYS: &[(&str, &str, &str, &str)] = &[
    ("device", "api_key", "ops_device_key", "ops_rotate_device"),
    (
        "billing",
        "billing_api_key",
        "ops_billing_key",
        "ops_rotate_billing",
    ),
    (
        "content",
        "content_api_key",
        "ops_content_key",
        "ops_rotate_content",
    ),
];

async fn show(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Query(q): Query,
) -> PageResult {
    let c = visible(&panel, &user, id).await?;
    let mut facts = vec![
        ("ops_id".to_string(), Cell::text(c.id)),
        ("name".into(), Cell::text(&c.name)),
        ("ops_domain_prefix".into(), Cell::text(&c.domain_prefix)),
        ("email".into(), Cell::text(&c.email)),
        ("ops_currency".into(), Cell::text(&c.currency)),
        (
            "ops_default_language".into(),
            Cell::text(&c.default_language),
        ),
        (
            "ops_additional_languages".into(),
            Cell::text(c.additional_languages().join(", ")),
        ),
        ("status".into(), active_cell(&user, c.is_active)),
    ];
    let scope = format!("?client={id}");
    for (label, table, href) in [
        ("ops_customers", "customer", "/admin/customers"),
        ("ops_accounts", "account", "/admin/accounts"),
        ("ops_channels", "channel", "/admin/content/channel"),
        ("ops_tariffs", "tariff", "/admin/tariffs"),
        (
            "ops_stream_services",
            "stream_service",
            "/admin/streams/services",
        ),
    ] {
        let n = count(&panel, table, id).await?;
        let link = if user.staff.is_superuser() {
            format!("{href}{scope}")
        } else {
            href.to_string()
        };
        facts.push((label.into(), Cell::link(n, link)));
    }
    for (_, column, label, _) in KEYS {
        let value = match *column {
            "api_key" => &c.api_key,
            "billing_api_key" => &c.billing_api_key,
            _ => &c.content_api_key,
        };
        facts.push(((*label).into(), Cell::text(masked(value)).class("muted")));
    }
    let actions = KEYS
        .iter()
        .map(|(kind, _, _, rotate)| Action {
            action: format!("/admin/operators/{id}/keys/{kind}/rotate"),
            label: (*rotate).into(),
            confirm: Some("ops_rotate_confirm".into()),
            hidden: Vec::new(),
            danger: true,
        })
        .collect();
    let notice = match param(&q, "notice") {
        Some("saved") => Some("ops_settings_saved".to_string()),
        _ => None,
    };
    let view = DetailView {
        title: c.name.clone(),
        kind: "ops_operator".into(),
        forms: vec![languages_form(&c)],
        facts,
        actions,
        links: vec![Cell::link(
            crate::i18n::t(user.lang, "settings"),
            format!("/admin/operators/{id}/settings"),
        )],
        notice,
        ..DetailView::default()
    };
    panel
        .views
        .page("detail.html", &user, context! { view => view })
}

/// Candidate values of settings offered as a choice (each one still has to
/// pass the owning part's check to be offered).
fn choices(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "billing.mode" => Some(&["off", "dates", "prepaid"]),
        "sms.backend" => Some(&[
            "smsc-ru",
            "smsc-ua",
            "mobipace",
            "pulseem",
            "sms-assistent",
            "log",
            "webhook",
        ]),
        _ => None,
    }
}

fn settings_form(id: i64, current: &efir_store::settings::Settings) -> FormView {
    let fields = efir_backoffice::settings::specs()
        .into_iter()
        .map(|spec| {
            let stored = current.get(spec.key);
            if is_secret_key(spec.key) {
                let f = FormField::new(spec.key, spec.key, "password");
                return match stored {
                    Some(_) => f.help("ops_secret_kept"),
                    None => f.help(spec.help),
                };
            }
            let value = stored.cloned().unwrap_or_default();
            match choices(spec.key) {
                Some(list) => FormField::new(spec.key, spec.key, "select")
                    .options(
                        list.iter()
                            .filter(|v| (spec.check)(v).is_ok())
                            .map(|v| (v.to_string(), v.to_string()))
                            .collect(),
                    )
                    .value(value)
                    .help(spec.help),
                None => FormField::new(spec.key, spec.key, "text")
                    .value(value)
                    .help(spec.help),
            }
        })
        .collect();
    FormView {
        title: "ops_settings".into(),
        action: format!("/admin/operators/{id}/settings"),
        fields,
        error: None,
        back: format!("/admin/operators/{id}"),
        multipart: false,
    }
}

async fn settings_page(State(panel): State<Panel>, user: User, Path(id): Path<i64>) -> PageResult {
    visible(&panel, &user, id).await?;
    let current = panel.store.client_settings(id).await?;
    let view = settings_form(id, &current);
    panel
        .views
        .page("form.html", &user, context! { view => view })
}

/// The changes a settings form asks for: `key → Some(value)` to set,
/// `None` to remove; an error per field otherwise.
fn settings_changes(
    form: &[(String, String)],
    current: &efir_store::settings::Settings,
) -> Result<Vec<(String, Option<String>)>, PageError> {
    let mut changes = Vec::new();
    let mut err = PageError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "check the marked settings",
    );
    for (key, raw) in form {
        let value = raw.trim();
        if efir_backoffice::settings::spec(key).is_none() {
            err.fields
                .insert(key.clone(), format!("unknown setting `{key}`"));
            continue;
        }
        let stored = current.get(key.as_str());
        if value.is_empty() {
            // An empty secret keeps what is stored; an empty value removes.
            if !is_secret_key(key) && stored.is_some() {
                changes.push((key.clone(), None));
            }
            continue;
        }
        if stored.map(String::as_str) == Some(value) {
            continue;
        }
        match efir_backoffice::settings::validate(key, value) {
            Ok(()) => changes.push((key.clone(), Some(value.to_string()))),
            Err(e) => {
                err.fields.insert(key.clone(), e);
            }
        }
    }
    if err.fields.is_empty() {
        Ok(changes)
    } else {
        Err(err)
    }
}

async fn save_settings(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Form(form): Form,
) -> PageResult {
    visible(&panel, &user, id).await?;
    let current = panel.store.client_settings(id).await?;
    let changes = match settings_changes(&form, &current) {
        Ok(c) => c,
        Err(err) => {
            let mut view = settings_form(id, &current);
            view.refill(&form, &err);
            let mut res = panel
                .views
                .page("form.html", &user, context! { view => view })?;
            *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(res);
        }
    };
    if !changes.is_empty() {
        let mut tx = panel.store.begin(user.staff.actor()).await?;
        for (key, value) in &changes {
            panel
                .store
                .set_client_setting(&mut tx, id, key, value.as_deref())
                .await?;
        }
        tx.commit().await?;
    }
    Ok(see_other(&format!("/admin/operators/{id}?notice=saved")))
}

async fn rotate_key(
    State(panel): State<Panel>,
    user: User,
    Path((id, kind)): Path<(i64, String)>,
) -> PageResult {
    let c = visible(&panel, &user, id).await?;
    let Some((kind, column, label, _)) = KEYS.iter().find(|k| k.0 == kind) else {
        return Err(PageError::not_found());
    };
    let key = efir_core::secret::random_hex(16);
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    let sql = format!("UPDATE client SET {column} = $1, updated_at = $2 WHERE id = $3");
    tx.execute(
        "client",
        &sql,
        &[
            efir_store::audit::Arg::Text(key.clone()),
            efir_store::audit::Arg::I64(efir_store::now()),
            efir_store::audit::Arg::I64(id),
        ],
    )
    .await?;
    // The audit event names the key, never its value.
    tx.audit(
        Some(id),
        "rotate_key",
        "client",
        Some(id.to_string()),
        json!({ "key": kind }),
    )
    .await?;
    tx.commit().await?;
    panel.views.page(
        "ops_key.html",
        &user,
        context! {
            operator => c.name,
            operator_id => id,
            label => *label,
            key,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_secrets_are_kept_and_empty_values_removed() {
        let mut current = efir_store::settings::Settings::new();
        current.insert("sms.password".into(), "old".into());
        current.insert("sms.sender".into(), "TV".into());
        let changes = settings_changes(
            &form(&[
                ("sms.password", ""),
                ("sms.sender", ""),
                ("billing.mode", "prepaid"),
            ]),
            &current,
        )
        .unwrap();
        assert_eq!(
            changes,
            vec![
                ("sms.sender".to_string(), None),
                ("billing.mode".to_string(), Some("prepaid".to_string()))
            ]
        );
        let err = settings_changes(&form(&[("billing.mode", "free")]), &current).unwrap_err();
        assert!(err.fields.contains_key("billing.mode"));
        assert_eq!(masked("abcdef123"), "abcd…");
    }
}
