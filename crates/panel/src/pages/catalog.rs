//! Content: channels, categories, radio, cameras, apps and VOD (videos,
//! seasons, episodes, files, genres, actors).
//!
//! One set of generic pages serves every kind, built from the Content
//! API's own description of it ([`efir_middleware::content::kinds`]): the
//! form fields, their types and limits, references to other kinds and the
//! tariff/genre/actor links. Lists, creates, edits and deletes are Content
//! API calls on behalf of the staff user, so validation, scoping to the
//! operator and the audit log are the API's. Localised names
//! (`name_lang1…5`) are shown side by side, labelled with the operator's
//! languages; slots the operator has no language for are left out.
//! Operator admins and superusers change content; others read.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use efir_middleware::content::{FieldInfo, Input, KindInfo};
use efir_middleware::Api;
use minijinja::context;
use serde::Serialize;
use serde_json::Value;

use super::{api, form_client, operator_options, operator_scope, Chart, Form, NavItem, Query};
use crate::render::{
    page_of, param, param_nonempty, see_other, Cell, Filter, FormField, FormView, ListView,
    PageError, PageResult, PAGE_SIZE,
};
use crate::session::User;
use crate::Panel;

/// Interface strings of these pages: `(key, English, Russian)`.
pub static STRINGS: &[(&str, &str, &str)] = &[
    ("content_channel", "Channels", "Каналы"),
    ("content_category", "Categories", "Категории"),
    ("content_radio", "Radio", "Радио"),
    ("content_camera", "Cameras", "Камеры"),
    ("content_application", "Apps", "Приложения"),
    ("content_video", "VOD: videos", "VOD: фильмы"),
    ("content_season", "VOD: seasons", "VOD: сезоны"),
    ("content_episode", "VOD: episodes", "VOD: эпизоды"),
    ("content_file", "VOD: files", "VOD: файлы"),
    ("content_genre", "VOD: genres", "VOD: жанры"),
    ("content_actor", "VOD: actors", "VOD: актёры"),
    ("content_new", "New", "Создать"),
    ("content_links_tariff_id", "Tariffs", "Тарифы"),
    ("content_links_genre_id", "Genres", "Жанры"),
    ("content_links_actor_id", "Actors", "Актёры"),
    ("content_deleted", "Deleted.", "Удалено."),
    (
        "content_pick_operator",
        "Choose an operator to see its content.",
        "Выберите оператора, чтобы увидеть его контент.",
    ),
    ("radio", "Radio", "Радио"),
    ("cameras", "Cameras", "Камеры"),
    ("videos", "Videos", "Фильмы"),
    ("applications", "Apps", "Приложения"),
    (
        "aspect_ratio",
        "Aspect ratio (0–3)",
        "Соотношение сторон (0–3)",
    ),
    ("attrs", "Attributes (JSON)", "Атрибуты (JSON)"),
    ("category_id", "Category", "Категория"),
    ("city_id", "City", "Город"),
    ("color", "Colour", "Цвет"),
    ("countries", "Countries", "Страны"),
    ("css_style", "CSS style", "CSS-стиль"),
    ("director", "Director", "Режиссёр"),
    ("duration", "Duration (s)", "Длительность (с)"),
    ("episode_id", "Episode", "Эпизод"),
    ("filename", "File name", "Имя файла"),
    (
        "horizontal_poster",
        "Horizontal poster",
        "Горизонтальный постер",
    ),
    ("icon", "Icon", "Иконка"),
    ("icon_focus", "Icon in focus", "Иконка в фокусе"),
    ("icon_url", "Icon address", "Адрес иконки"),
    (
        "id_for_stream_service",
        "Id at the stream service",
        "Id на стриминг-сервисе",
    ),
    ("imdb_rating", "IMDb rating", "Рейтинг IMDb"),
    ("is_4k", "4K", "4K"),
    (
        "is_category",
        "Shown as a category",
        "Показывать как категорию",
    ),
    ("is_free", "Free", "Бесплатно"),
    ("is_season", "Series", "Сериал"),
    ("is_trailer", "Trailer", "Трейлер"),
    ("kinopoisk_id", "Kinopoisk id", "Id Кинопоиска"),
    ("kinopoisk_rating", "Kinopoisk rating", "Рейтинг Кинопоиска"),
    ("lcn_number", "Channel number (LCN)", "Номер канала (LCN)"),
    ("logo_url", "Logo address", "Адрес логотипа"),
    ("multicast_address", "Multicast address", "Мультикаст-адрес"),
    ("name_orig", "Original name", "Оригинальное название"),
    ("number", "Number", "Номер"),
    ("option1", "Option 1", "Опция 1"),
    ("option2", "Option 2", "Опция 2"),
    ("option3", "Option 3", "Опция 3"),
    (
        "parent_control",
        "Parental control",
        "Родительский контроль",
    ),
    ("photo", "Photo", "Фото"),
    ("preview_url", "Preview address", "Адрес превью"),
    ("quality", "Quality", "Качество"),
    ("rating", "Age rating", "Возрастной рейтинг"),
    ("recording_days", "Archive days", "Дней архива"),
    ("season_id", "Season", "Сезон"),
    ("short_description", "Short description", "Краткое описание"),
    (
        "show_in_all",
        "Shown in “All channels”",
        "Показывать во «Всех каналах»",
    ),
    ("show_in_main_menu", "In the main menu", "В главном меню"),
    ("system_name", "System name", "Системное имя"),
    ("thumbnail_big", "Large thumbnail", "Большая миниатюра"),
    ("thumbnail_small", "Small thumbnail", "Малая миниатюра"),
    ("uri", "Stream address", "Адрес потока"),
    ("url", "Address", "Адрес"),
    ("url_prefix", "Address prefix", "Префикс адреса"),
    ("video_id", "Video", "Фильм"),
    ("year", "Year", "Год"),
    ("genres", "Genres", "Жанры"),
    ("ext_id", "External id", "Внешний id"),
    ("actors", "Actors", "Актёры"),
    ("enabled", "Enabled", "Включён"),
    ("sort", "Order", "Порядок"),
];

/// Templates of these pages: `(name, source)`.
pub const TEMPLATES: &[(&str, &str)] = &[(
    "catalog_form.html",
    include_str!("../../templates/catalog_form.html"),
)];

/// The routes of these pages.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route("/admin/content/{kind}", get(list))
        .route("/admin/content/{kind}/new", get(new).post(create))
        .route("/admin/content/{kind}/{id}", get(edit).post(update))
        .route("/admin/content/{kind}/{id}/delete", post(delete))
}

/// Menu entries for `user`: one per kind.
pub fn nav_items(_user: &User) -> Vec<NavItem> {
    const ITEMS: [(&str, &str); 11] = [
        ("content_channel", "/admin/content/channel"),
        ("content_category", "/admin/content/category"),
        ("content_radio", "/admin/content/radio"),
        ("content_camera", "/admin/content/camera"),
        ("content_application", "/admin/content/application"),
        ("content_video", "/admin/content/video"),
        ("content_season", "/admin/content/season"),
        ("content_episode", "/admin/content/episode"),
        ("content_file", "/admin/content/file"),
        ("content_genre", "/admin/content/genre"),
        ("content_actor", "/admin/content/actor"),
    ];
    ITEMS.iter().map(|(l, h)| super::item(l, h)).collect()
}

/// Charts these pages add to the dashboard.
pub async fn charts(_panel: &Panel, _user: &User, _scope: Option<i64>) -> PageResult<Vec<Chart>> {
    Ok(Vec::new())
}

/// The kind of a URL segment (`channel`, `season`), or 404.
fn kind_of(segment: &str) -> PageResult<KindInfo> {
    efir_middleware::content::kinds()
        .into_iter()
        .find(|k| k.name == segment)
        .ok_or_else(PageError::not_found)
}

/// The column a list shows as the object's name.
fn title_field(k: &KindInfo) -> &'static str {
    ["filename", "name", "number"]
        .into_iter()
        .find(|n| k.fields.iter().any(|f| f.param == *n))
        .unwrap_or("id")
}

/// The operator a content page works on: a superuser's `?client=` (or
/// the first operator), anyone else's own.
async fn page_client(
    panel: &Panel,
    user: &User,
    q: &[(String, String)],
) -> PageResult<(Option<Filter>, i64)> {
    let (filter, scope) = operator_scope(panel, user, q).await?;
    let client = match scope {
        Some(c) => c,
        None => {
            let first = operator_options(panel, user).await?;
            let id = first
                .first()
                .and_then(|(id, _)| id.parse::<i64>().ok())
                .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "no operator yet"))?;
            id
        }
    };
    let filter = filter.map(|mut f| {
        f.value = client.to_string();
        f
    });
    Ok((filter, client))
}

async fn list(
    State(panel): State<Panel>,
    user: User,
    Path(kind): Path<String>,
    Query(q): Query,
) -> PageResult {
    let k = kind_of(&kind)?;
    let (op_filter, client) = page_client(&panel, &user, &q).await?;
    let page = page_of(&q);
    let mut params = vec![
        ("page".to_string(), page.to_string()),
        ("limit".to_string(), PAGE_SIZE.to_string()),
    ];
    let search = param_nonempty(&q, "q").map(str::to_string);
    if let Some(s) = &search {
        params.push(("search".into(), s.clone()));
    }
    for f in k.filters {
        if let Some(v) = param_nonempty(&q, f) {
            params.push(((*f).to_string(), v.to_string()));
        }
    }
    let v = match api(
        &panel,
        &user,
        client,
        Api::Content,
        &format!("{}/list", k.path),
        params,
    )
    .await
    {
        Ok(v) => v,
        // A bad filter value: an empty list with the error shown.
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            serde_json::json!({ "count": 0, "error": e.message })
        }
        Err(e) => return Err(e),
    };
    let title = title_field(&k);
    let has_enabled = k.fields.iter().any(|f| f.param == "enabled");
    let mut columns = vec!["ID", title];
    if has_enabled {
        columns.push("enabled");
    }
    columns.extend(k.links.iter().map(|(_, out)| *out));
    let mut view = ListView {
        title: format!("content_{}", k.name),
        columns: crate::render::columns(&columns),
        create: Some(with_client(
            &format!("/admin/content/{}/new", k.name),
            &user,
            client,
        )),
        ..Default::default()
    };
    view.filters.push(Filter {
        name: "q".into(),
        label: "search".into(),
        value: search.unwrap_or_default(),
        options: Vec::new(),
    });
    for f in k.filters {
        view.filters.push(Filter {
            name: (*f).to_string(),
            label: (*f).to_string(),
            value: param(&q, f).unwrap_or_default().to_string(),
            options: Vec::new(),
        });
    }
    view.filters.extend(op_filter);
    let total = v.get("count").and_then(Value::as_i64).unwrap_or(0);
    view.paginate(total, page, &q);
    let items = v
        .get(k.plural)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    view.rows = items
        .iter()
        .map(|item| {
            let id = item.get("id").and_then(Value::as_i64).unwrap_or(0);
            let href = format!("/admin/content/{}/{id}", k.name);
            let mut row = vec![
                Cell::link(id, &href),
                Cell::link(show(item.get(title)), &href),
            ];
            if has_enabled {
                let on = item.get("enabled").and_then(Value::as_i64) == Some(1);
                row.push(if on {
                    Cell::text("✔").class("ok")
                } else {
                    Cell::text("✘").class("bad")
                });
            }
            for (_, out) in &k.links {
                row.push(
                    Cell::text(item.get(*out).and_then(Value::as_array).map_or(0, Vec::len))
                        .class("num"),
                );
            }
            row
        })
        .collect();
    let error = v.get("error").and_then(Value::as_str).map(str::to_string);
    panel
        .views
        .page("list.html", &user, context! { view, error })
}

fn with_client(path: &str, user: &User, client: i64) -> String {
    if user.staff.is_superuser() {
        format!("{path}?client={client}")
    } else {
        path.to_string()
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A group of form fields: one field, or the localised set side by side.
#[derive(Debug, Serialize)]
struct Group {
    side_by_side: bool,
    fields: Vec<FormField>,
}

/// The content form of kind `k` for operator `client`, with `values`.
async fn form_of(
    panel: &Panel,
    user: &User,
    k: &KindInfo,
    client: i64,
    action: String,
    values: Option<&Value>,
) -> PageResult<(FormView, Vec<Group>)> {
    let operator = super::client(panel, client).await?;
    let langs = [
        &operator.language1,
        &operator.language2,
        &operator.language3,
        &operator.language4,
        &operator.language5,
    ];
    let mut fields = Vec::new();
    for f in &k.fields {
        if let Some(slot) = f.lang_slot {
            let Some(Some(code)) = langs.get(usize::from(slot) - 1) else {
                continue;
            };
            let base = f.param.rsplit_once("_lang").map_or(f.param, |(b, _)| b);
            let mut field = FormField::new(f.param, &format!("{base} · {code}"), "text");
            field.value = show(values.and_then(|v| v.get(f.param)));
            fields.push(field);
            continue;
        }
        fields.push(field_of(panel, user, f, client, values).await?);
    }
    for (param, out) in &k.links {
        let target = match *param {
            "tariff_id" => "tariff",
            "genre_id" => "genre",
            _ => "actor",
        };
        let options = options_of(panel, user, client, target).await?;
        let chosen: Vec<String> = values
            .and_then(|v| v.get(*out))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|x| show(Some(x))).collect())
            .unwrap_or_default();
        let mut field =
            FormField::new(param, &format!("content_links_{param}"), "multi").options(options);
        field.chosen = chosen;
        fields.push(field);
    }
    if values.is_none() && user.staff.is_superuser() {
        let mut f = FormField::new("client_id", "operator", "select")
            .required()
            .options(operator_options(panel, user).await?);
        f.value = client.to_string();
        fields.insert(0, f);
    }
    let view = FormView {
        title: if values.is_some() {
            show(values.and_then(|v| v.get(title_field(k))))
        } else {
            "content_new".into()
        },
        action,
        fields,
        back: with_client(&format!("/admin/content/{}", k.name), user, client),
        ..Default::default()
    };
    let groups = group(&view.fields);
    Ok((view, groups))
}

fn group(fields: &[FormField]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for f in fields {
        let base = f.name.rsplit_once("_lang").map(|(b, _)| b.to_string());
        let joins = match (&base, out.last()) {
            (Some(b), Some(g)) => g.fields.first().is_some_and(|first| {
                first.name == *b || first.name.starts_with(&format!("{b}_lang"))
            }),
            _ => false,
        };
        if joins {
            if let Some(g) = out.last_mut() {
                g.side_by_side = true;
                g.fields.push(f.clone());
            }
        } else {
            out.push(Group {
                side_by_side: false,
                fields: vec![f.clone()],
            });
        }
    }
    out
}

/// `(id, name)` of every object of kind `path` of operator `client`.
async fn options_of(
    panel: &Panel,
    user: &User,
    client: i64,
    path: &str,
) -> PageResult<Vec<(String, String)>> {
    if path == "tariff" {
        let rows: Vec<(i64, String)> = efir_store::with_db!(panel.store.pool(), p => sqlx::query_as(
            "SELECT id, name FROM tariff WHERE client_id = $1 AND NOT archived ORDER BY name, id LIMIT 1000")
            .bind(client).fetch_all(p).await)?;
        return Ok(rows
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect());
    }
    if path == "city" {
        let rows: Vec<(i64, String)> = efir_store::with_db!(panel.store.pool(), p => sqlx::query_as(
            "SELECT id, name FROM city ORDER BY name, id LIMIT 1000").fetch_all(p).await)?;
        return Ok(rows
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect());
    }
    let Some(k) = efir_middleware::content::kind(path) else {
        return Ok(Vec::new());
    };
    let params = vec![("limit".to_string(), "1000".to_string())];
    let v = api(
        panel,
        user,
        client,
        Api::Content,
        &format!("{}/list", k.path),
        params,
    )
    .await?;
    let title = title_field(&k);
    Ok(v.get(k.plural)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        show(i.get("id")),
                        format!("{} (#{})", show(i.get(title)), show(i.get("id"))),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

async fn field_of(
    panel: &Panel,
    user: &User,
    f: &FieldInfo,
    client: i64,
    values: Option<&Value>,
) -> PageResult<FormField> {
    let (kind, help) = match f.input {
        Input::Text(_) => ("text", None),
        Input::LongText(_) | Input::Json => ("textarea", None),
        Input::Url => ("url", None),
        Input::Number { .. } => ("number", None),
        Input::Flag => ("checkbox", None),
        Input::Reference(_) => ("select", None),
    };
    let mut field = FormField::new(f.param, f.param, kind);
    field.help = help;
    if f.required {
        field = field.required();
    }
    if let Input::Reference(target) = f.input {
        field.options = options_of(panel, user, client, target).await?;
    }
    if let Input::Number { min, max } = f.input {
        if min > i64::MIN / 2 && max < i64::MAX / 2 {
            field.help = None;
        }
    }
    match values {
        Some(v) => {
            field.value = match v.get(f.param) {
                Some(Value::Object(_)) | Some(Value::Array(_)) => {
                    v.get(f.param).map(Value::to_string).unwrap_or_default()
                }
                other => show(other),
            };
        }
        None => {
            if f.param == "enabled" {
                field.value = "1".into();
            }
        }
    }
    Ok(field)
}

async fn new(
    State(panel): State<Panel>,
    user: User,
    Path(kind): Path<String>,
    Query(q): Query,
) -> PageResult {
    user.require_admin()?;
    let k = kind_of(&kind)?;
    let (_, client) = page_client(&panel, &user, &q).await?;
    let (view, groups) = form_of(
        &panel,
        &user,
        &k,
        client,
        with_client(&format!("/admin/content/{}/new", k.name), &user, client),
        None,
    )
    .await?;
    panel
        .views
        .page("catalog_form.html", &user, context! { view, groups })
}

/// The API parameters of a submitted content form: checkboxes absent from
/// the form mean 0, link sets are sent whole (or cleared).
fn params_of(k: &KindInfo, f: &[(String, String)], creating: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for field in &k.fields {
        if matches!(field.input, Input::Flag) {
            let on = param(f, field.param).is_some();
            out.push((
                field.param.to_string(),
                if on { "1" } else { "0" }.to_string(),
            ));
        } else if let Some(v) = param(f, field.param) {
            // An empty number or reference means "the default" on create,
            // "clear it" on edit when it may be cleared, else "unchanged".
            let numeric = matches!(field.input, Input::Number { .. } | Input::Reference(_));
            if numeric && v.trim().is_empty() && (creating || !field.nullable) {
                continue;
            }
            out.push((field.param.to_string(), v.to_string()));
        }
    }
    for (link, _) in &k.links {
        let chosen: Vec<&str> = f
            .iter()
            .filter(|(n, _)| n == link)
            .map(|(_, v)| v.as_str())
            .collect();
        if chosen.is_empty() {
            let clear = match *link {
                "tariff_id" => "clear_tariffs",
                "genre_id" => "clear_genres",
                _ => "clear_actors",
            };
            out.push((clear.to_string(), "1".to_string()));
        }
        out.extend(
            chosen
                .into_iter()
                .map(|v| (link.to_string(), v.to_string())),
        );
    }
    out
}

/// The form a failed submit goes back to.
struct Failed<'a> {
    k: &'a KindInfo,
    client: i64,
    action: String,
    values: Option<&'a Value>,
}

async fn render_failed(
    panel: &Panel,
    user: &User,
    target: Failed<'_>,
    f: &[(String, String)],
    err: PageError,
) -> PageResult {
    let Failed {
        k,
        client,
        action,
        values,
    } = target;
    if err.status != StatusCode::UNPROCESSABLE_ENTITY {
        return Err(err);
    }
    let (mut view, _) = form_of(panel, user, k, client, action, values).await?;
    view.refill(f, &err);
    let groups = group(&view.fields);
    let mut res = panel
        .views
        .page("catalog_form.html", user, context! { view, groups })?;
    *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(res)
}

async fn create(
    State(panel): State<Panel>,
    user: User,
    Path(kind): Path<String>,
    Query(q): Query,
    Form(f): Form,
) -> PageResult {
    user.require_admin()?;
    let k = kind_of(&kind)?;
    let (_, default_client) = page_client(&panel, &user, &q).await?;
    let action = with_client(
        &format!("/admin/content/{}/new", k.name),
        &user,
        default_client,
    );
    let client = match form_client(&user, &f) {
        Ok(c) => c,
        Err(e) => {
            return render_failed(
                &panel,
                &user,
                Failed {
                    k: &k,
                    client: default_client,
                    action,
                    values: None,
                },
                &f,
                e,
            )
            .await
        }
    };
    match api(
        &panel,
        &user,
        client,
        Api::Content,
        &format!("{}/create", k.path),
        params_of(&k, &f, true),
    )
    .await
    {
        Ok(v) => {
            let id = v.get("id").and_then(Value::as_i64).unwrap_or(0);
            Ok(see_other(&format!("/admin/content/{}/{id}", k.name)))
        }
        Err(e) => {
            render_failed(
                &panel,
                &user,
                Failed {
                    k: &k,
                    client,
                    action,
                    values: None,
                },
                &f,
                e,
            )
            .await
        }
    }
}

/// Object `id` of kind `k` with its operator, or 404 (also for another
/// operator's object).
async fn find(panel: &Panel, user: &User, k: &KindInfo, id: i64) -> PageResult<(i64, Value)> {
    let client = object_client(panel, k, id)
        .await?
        .ok_or_else(PageError::not_found)?;
    user.check(client)?;
    let c = super::client(panel, client).await?;
    let item = efir_middleware::content::get(&panel.mw, &c, k.path, id)
        .await?
        .ok_or_else(PageError::not_found)?;
    Ok((client, item))
}

/// The operator an object of kind `k` belongs to, from its table.
async fn object_client(panel: &Panel, k: &KindInfo, id: i64) -> PageResult<Option<i64>> {
    let sql = match k.name {
        "season" => "SELECT v.client_id FROM season t JOIN video v ON v.id = t.video_id WHERE t.id = $1",
        "episode" => "SELECT v.client_id FROM episode t JOIN season s ON s.id = t.season_id JOIN video v ON v.id = s.video_id WHERE t.id = $1",
        "file" => "SELECT v.client_id FROM video_file t JOIN video v ON v.id = t.video_id WHERE t.id = $1",
        "channel" => "SELECT client_id FROM channel WHERE id = $1",
        "category" => "SELECT client_id FROM category WHERE id = $1",
        "radio" => "SELECT client_id FROM radio WHERE id = $1",
        "camera" => "SELECT client_id FROM camera WHERE id = $1",
        "application" => "SELECT client_id FROM application WHERE id = $1",
        "video" => "SELECT client_id FROM video WHERE id = $1",
        "genre" => "SELECT client_id FROM genre WHERE id = $1",
        "actor" => "SELECT client_id FROM actor WHERE id = $1",
        _ => return Ok(None),
    };
    let c: Option<i64> = efir_store::with_db!(panel.store.pool(), p => sqlx::query_scalar(sql).bind(id).fetch_optional(p).await)?;
    Ok(c)
}

async fn edit(
    State(panel): State<Panel>,
    user: User,
    Path((kind, id)): Path<(String, i64)>,
) -> PageResult {
    let k = kind_of(&kind)?;
    let (client, item) = find(&panel, &user, &k, id).await?;
    let (view, groups) = form_of(
        &panel,
        &user,
        &k,
        client,
        format!("/admin/content/{}/{id}", k.name),
        Some(&item),
    )
    .await?;
    let delete = format!("/admin/content/{}/{id}/delete", k.name);
    // What hangs off this object, as filtered lists.
    let related: Vec<(&str, String)> = match k.name {
        "video" => vec![
            (
                "content_season",
                format!("/admin/content/season?video_id={id}"),
            ),
            ("content_file", format!("/admin/content/file?video_id={id}")),
        ],
        "season" => vec![(
            "content_episode",
            format!("/admin/content/episode?season_id={id}"),
        )],
        "episode" => vec![(
            "content_file",
            format!("/admin/content/file?episode_id={id}"),
        )],
        "category" => vec![(
            "content_channel",
            format!("/admin/content/channel?category_id={id}"),
        )],
        _ => Vec::new(),
    };
    panel.views.page(
        "catalog_form.html",
        &user,
        context! { view, groups, delete, id, related },
    )
}

async fn update(
    State(panel): State<Panel>,
    user: User,
    Path((kind, id)): Path<(String, i64)>,
    Form(f): Form,
) -> PageResult {
    user.require_admin()?;
    let k = kind_of(&kind)?;
    let (client, item) = find(&panel, &user, &k, id).await?;
    let mut params = vec![("id".to_string(), id.to_string())];
    params.extend(params_of(&k, &f, false));
    match api(
        &panel,
        &user,
        client,
        Api::Content,
        &format!("{}/modify", k.path),
        params,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/content/{}/{id}", k.name))),
        Err(e) => {
            let target = Failed {
                k: &k,
                client,
                action: format!("/admin/content/{}/{id}", k.name),
                values: Some(&item),
            };
            render_failed(&panel, &user, target, &f, e).await
        }
    }
}

async fn delete(
    State(panel): State<Panel>,
    user: User,
    Path((kind, id)): Path<(String, i64)>,
) -> PageResult {
    user.require_admin()?;
    let k = kind_of(&kind)?;
    let client = object_client(&panel, &k, id)
        .await?
        .ok_or_else(PageError::not_found)?;
    user.check(client)?;
    api(
        &panel,
        &user,
        client,
        Api::Content,
        &format!("{}/delete", k.path),
        vec![("id".into(), id.to_string())],
    )
    .await?;
    Ok(see_other(&with_client(
        &format!("/admin/content/{}", k.name),
        &user,
        client,
    )))
}
