//! The back office: cases with their transitions, comments, attachments
//! and tasks (deadlines and reminders), the staff user's notifications, the
//! audit log and the request log, and the messages sent (screen messages,
//! SMS and e-mail) with a resend button.
//!
//! Everything goes through the back office's own functions
//! ([`efir_backoffice::cases::Cases`], [`efir_backoffice::messages`]), so the
//! rules are those of the JSON admin API: cases are operator-scoped
//! (another operator's case answers 404), monitoring users only read,
//! admin-only transitions need an operator admin. The audit log and the
//! request log need an operator admin or a superuser, as in the JSON API;
//! operator admins see their own operator's entries only.
//!
//! Attachments: the upload form posts `multipart/form-data` (the CSRF
//! token in the query, as the panel does for files); the handler reads the
//! one file part itself (axum's multipart support is not built in). A raw
//! body with the name in `X-File-Name`, as the JSON API takes it, works as
//! well. Files are checked by [`Cases::add_attachment`] (size, type by the
//! bytes) and downloaded from `GET /admin/cases/{id}/attachments/{att}`.
//!
//! Resending a failed SMS or e-mail queues it again; the scheduled
//! `resend-sms` run delivers it (within two minutes by default).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use efir_backoffice::admin::{parse_time, AdminError, StaffRole};
use efir_backoffice::cases::{
    CaseError, CaseFilter, Cases, NewCase, NewTask, Role, TaskUpdate, Who,
};
use efir_backoffice::messages::list::{count as count_messages, list as list_messages, ListFilter};
use efir_backoffice::messages::{outbox, Channel};
use efir_store::{with_db, AuditEvent};
use minijinja::context;
use serde::Serialize;

use super::{operator_options, operator_scope, Chart, Form, NavItem, Query};
use crate::render::{
    columns, page_of, param, param_nonempty, see_other, Action, Cell, DetailView, Filter,
    FormField, FormView, ListView, PageError, PageResult, PAGE_SIZE,
};
use crate::session::User;
use crate::Panel;

/// Interface strings of these pages: `(key, English, Russian)`.
pub static STRINGS: &[(&str, &str, &str)] = &[
    ("bo_cases", "Cases", "Обращения"),
    ("bo_case", "Case", "Обращение"),
    ("bo_new_case", "New case", "Новое обращение"),
    ("bo_case_type", "Case type", "Тип обращения"),
    ("bo_title", "Title", "Заголовок"),
    ("bo_priority", "Priority", "Приоритет"),
    ("bo_owner", "Owner", "Ответственный"),
    ("bo_author", "Author", "Автор"),
    ("bo_due", "Due", "Срок"),
    ("bo_overdue", "Overdue", "Просрочено"),
    ("bo_closed", "Closed", "Закрыто"),
    (
        "bo_box_serial",
        "Set-top box serial",
        "Серийный номер приставки",
    ),
    ("bo_customer", "Customer", "Абонент"),
    ("bo_history", "History", "История"),
    ("bo_from_state", "From", "Из"),
    ("bo_to_state", "To", "В"),
    ("bo_comments", "Comments", "Комментарии"),
    ("bo_add_comment", "Add a comment", "Добавить комментарий"),
    ("bo_comment_text", "Comment", "Текст комментария"),
    ("bo_tasks", "Tasks", "Задачи"),
    ("bo_add_task", "Add a task", "Добавить задачу"),
    ("bo_task_title", "Task", "Задача"),
    ("bo_due_at", "Deadline (UTC)", "Срок (UTC)"),
    ("bo_remind_at", "Remind at (UTC)", "Напомнить (UTC)"),
    ("bo_reminded", "Reminded", "Напомнено"),
    ("bo_done", "Done", "Выполнено"),
    ("bo_mark_done", "Mark done", "Выполнено"),
    ("bo_reopen_task", "Reopen", "Вернуть в работу"),
    ("bo_attachments", "Attachments", "Вложения"),
    ("bo_upload", "Attach a file", "Приложить файл"),
    (
        "bo_file",
        "File (PDF, PNG, JPEG, text)",
        "Файл (PDF, PNG, JPEG, текст)",
    ),
    ("bo_size", "Size", "Размер"),
    ("bo_notifications", "Notifications", "Уведомления"),
    ("bo_mark_read", "Mark read", "Прочитано"),
    ("bo_unread_only", "Unread only", "Только непрочитанные"),
    ("bo_yes", "Yes", "Да"),
    ("bo_kind", "Kind", "Вид"),
    ("bo_text", "Text", "Текст"),
    ("bo_read_at", "Read", "Прочитано в"),
    ("bo_entity", "Object", "Объект"),
    ("bo_entity_id", "Object id", "Id объекта"),
    ("bo_action", "Action", "Действие"),
    ("bo_actor", "Who", "Кто"),
    ("bo_data", "Details", "Подробности изменения"),
    ("bo_from", "From (YYYY-MM-DD)", "С (ГГГГ-ММ-ДД)"),
    ("bo_to", "Before (YYYY-MM-DD)", "До (ГГГГ-ММ-ДД)"),
    ("bo_path", "Path", "Путь"),
    ("bo_method", "Method", "Метод"),
    ("bo_duration", "ms", "мс"),
    ("bo_ip", "Address", "Адрес"),
    ("bo_channel", "Channel", "Канал связи"),
    ("bo_recipient", "Recipient", "Получатель"),
    ("bo_subject", "Subject", "Тема"),
    ("bo_body", "Text", "Текст сообщения"),
    ("bo_attempts", "Attempts", "Попытки отправки"),
    ("bo_last_error", "Last error", "Последняя ошибка"),
    ("bo_sent_at", "Sent", "Отправлено"),
    ("bo_resend", "Resend", "Отправить снова"),
    ("bo_open", "Open", "Открытые"),
    (
        "bo_utc_hint",
        "Times are UTC, e.g. 2026-12-31T18:00",
        "Время в UTC, например 2026-12-31T18:00",
    ),
    (
        "bo_cases_open",
        "Open cases by state",
        "Открытые обращения по состояниям",
    ),
];

/// Templates of these pages: `(name, source)`.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("bo_case.html", include_str!("../../templates/bo_case.html")),
    ("bo_rows.html", include_str!("../../templates/bo_rows.html")),
];

/// The routes of these pages.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route("/admin/cases", get(cases_list))
        .route("/admin/cases/new", get(new_case_form).post(create_case))
        .route("/admin/cases/{id}", get(case_detail))
        .route("/admin/cases/{id}/transition", post(transition))
        .route("/admin/cases/{id}/comments", post(add_comment))
        .route("/admin/cases/{id}/tasks", post(add_task))
        .route("/admin/cases/{id}/tasks/{task}/done", post(task_done))
        .route(
            "/admin/cases/{id}/attachments",
            post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/admin/cases/{id}/attachments/{att}", get(download))
        .route("/admin/notifications", get(notifications))
        .route("/admin/notifications/{id}/read", post(mark_read))
        .route("/admin/audit", get(audit))
        .route("/admin/request-log", get(request_log))
        .route("/admin/messages", get(messages))
        .route("/admin/messages/{id}/resend", post(resend))
}

/// The largest upload body read (the case engine enforces its own,
/// usually smaller, limit).
const UPLOAD_LIMIT: usize = 64 * 1024 * 1024;

/// Menu entries for `user`: the logs only for admins.
pub fn nav_items(user: &User) -> Vec<NavItem> {
    let mut items = vec![
        super::item("bo_cases", "/admin/cases"),
        super::item("bo_notifications", "/admin/notifications"),
        super::item("messages", "/admin/messages"),
    ];
    if user.can_admin() {
        items.push(super::item("audit_log", "/admin/audit"));
        items.push(super::item("request_log", "/admin/request-log"));
    }
    items
}

/// Charts these pages add to the dashboard: open cases by state.
pub async fn charts(panel: &Panel, user: &User, scope: Option<i64>) -> PageResult<Vec<Chart>> {
    let sql = "SELECT state, COUNT(*) FROM case_item WHERE deleted = FALSE AND closed = FALSE \
               AND ($1 IS NULL OR client_id = $1) GROUP BY state ORDER BY state";
    let rows: Vec<(String, i64)> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(sql).bind(scope).fetch_all(p).await)?;
    let bars: Vec<(String, f64)> = rows.into_iter().map(|(s, n)| (s, n as f64)).collect();
    let lang = user.lang;
    Ok(vec![Chart {
        title: "bo_cases_open",
        svg: crate::chart::bars(
            crate::i18n::t(lang, "bo_cases_open"),
            &bars,
            crate::i18n::t(lang, "chart_no_data"),
        ),
    }])
}

// ------------------------------------------------------------- helpers

fn engine(panel: &Panel) -> Cases {
    Cases::new(
        panel.store.clone(),
        &panel.options.config.cases,
        panel.admin.data_dir.clone(),
    )
}

/// The case engine's view of the staff user.
fn who(user: &User) -> Who {
    Who {
        user_id: user.staff.id,
        username: user.staff.username.clone(),
        role: match user.staff.role {
            StaffRole::Superuser => Role::Superuser,
            StaffRole::OperatorAdmin => Role::OperatorAdmin,
            StaffRole::Support => Role::Support,
            StaffRole::Monitoring => Role::Monitoring,
        },
        client_id: user.staff.client_id,
    }
}

fn now() -> i64 {
    efir_core::clock::now()
}

fn case_error(e: CaseError) -> PageError {
    AdminError::from(e).into()
}

/// Renames the engine's field of an error to the form's field.
fn rename_field(mut e: PageError, from: &str, to: &str) -> PageError {
    if let Some(v) = e.fields.remove(from) {
        e.fields.insert(to.into(), v);
    }
    e
}

/// Whether an error is the user's input (the form is shown again).
fn is_input_error(e: &PageError) -> bool {
    matches!(
        e.status,
        StatusCode::UNPROCESSABLE_ENTITY
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
    )
}

fn field_error(field: &str, message: &str) -> PageError {
    let mut e = PageError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("{field}: {message}"),
    );
    e.fields.insert(field.into(), message.into());
    e
}

fn parse_id(s: &str) -> PageResult<i64> {
    s.parse().map_err(|_| PageError::not_found())
}

/// Unix seconds as `YYYY-MM-DD HH:MM` (UTC).
fn time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn opt_time(t: Option<i64>) -> String {
    t.map(time).unwrap_or_default()
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM[:SS]`, UTC) as Unix
/// seconds; empty is none.
fn parse_local(field: &str, form: &[(String, String)]) -> PageResult<Option<i64>> {
    let Some(v) = param_nonempty(form, field) else {
        return Ok(None);
    };
    let parsed = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M"));
    match parsed {
        Ok(t) => Ok(Some(t.and_utc().timestamp())),
        Err(_) => Err(field_error(field, "expected a time like 2026-12-31T18:00")),
    }
}

fn text_filter(name: &str, label: &str, q: &[(String, String)]) -> Filter {
    Filter {
        name: name.into(),
        label: label.into(),
        value: param(q, name).unwrap_or_default().to_string(),
        options: Vec::new(),
    }
}

fn select_filter(
    name: &str,
    label: &str,
    q: &[(String, String)],
    options: Vec<(String, String)>,
) -> Filter {
    Filter {
        options,
        ..text_filter(name, label, q)
    }
}

fn pairs<S: ToString>(items: impl IntoIterator<Item = S>) -> Vec<(String, String)> {
    items
        .into_iter()
        .map(|s| (s.to_string(), s.to_string()))
        .collect()
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// `(id, user name)` of the active staff users of operator `scope` (all
/// for `None`).
async fn staff_of(panel: &Panel, scope: Option<i64>) -> PageResult<Vec<(i64, String)>> {
    let sql = "SELECT id, username FROM staff_user WHERE is_active = TRUE \
               AND ($1 IS NULL OR client_id = $1) ORDER BY username LIMIT 500";
    Ok(with_db!(panel.store.pool(), p =>
        sqlx::query_as(sql).bind(scope).fetch_all(p).await)?)
}

/// The `from`/`to` filters as Unix seconds (422 when unreadable).
fn range(q: &[(String, String)]) -> PageResult<(Option<i64>, Option<i64>)> {
    let one = |name: &str| -> PageResult<Option<i64>> {
        match param_nonempty(q, name) {
            Some(v) => Ok(Some(parse_time(name, v)?)),
            None => Ok(None),
        }
    };
    Ok((one("from")?, one("to")?))
}

/// One row of a list with buttons.
#[derive(Debug, Serialize)]
struct Row {
    cells: Vec<Cell>,
    actions: Vec<Action>,
}

fn rows_page(
    panel: &Panel,
    user: &User,
    view: ListView,
    rows: Vec<Row>,
    notice: Option<&str>,
) -> PageResult {
    panel
        .views
        .page("bo_rows.html", user, context! { view, rows, notice })
}

// --------------------------------------------------------------- cases

/// `GET /admin/cases`: filters `q`, `state`, `type`, `owner` (and
/// `client` for superusers); newest first.
async fn cases_list(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let (client_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let c = engine(&panel);
    let owner = match param_nonempty(&q, "owner") {
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| field_error("owner", "not a user"))?,
        ),
        None => None,
    };
    let filter = CaseFilter {
        q: param_nonempty(&q, "q").map(str::to_string),
        case_type: param_nonempty(&q, "type").map(str::to_string),
        state: param_nonempty(&q, "state").map(str::to_string),
        owner_id: owner,
        open: match param_nonempty(&q, "open") {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        },
        ..CaseFilter::default()
    };
    let now = now();
    let w = who(&user);
    let total = c.count(&w, scope, &filter, now).await.map_err(case_error)?;
    let staff = staff_of(&panel, scope).await?;
    let mut states: Vec<String> = Vec::new();
    for ty in c.types().all() {
        for s in &ty.states {
            if !states.contains(s) {
                states.push(s.clone());
            }
        }
    }
    let mut filters = vec![text_filter("q", "search", &q)];
    filters.extend(client_filter);
    filters.push(select_filter(
        "type",
        "bo_case_type",
        &q,
        c.types()
            .all()
            .iter()
            .map(|t| (t.name.clone(), t.title.clone()))
            .collect(),
    ));
    filters.push(select_filter("state", "state", &q, pairs(states)));
    filters.push(select_filter(
        "owner",
        "bo_owner",
        &q,
        staff
            .iter()
            .map(|(id, name)| (id.to_string(), name.clone()))
            .collect(),
    ));
    filters.push(select_filter(
        "open",
        "bo_open",
        &q,
        vec![
            ("1".into(), crate::i18n::t(user.lang, "bo_yes").into()),
            ("0".into(), crate::i18n::t(user.lang, "bo_closed").into()),
        ],
    ));
    let mut view = ListView {
        title: "bo_cases".into(),
        columns: columns(&[
            "id",
            "bo_title",
            "bo_case_type",
            "state",
            "bo_priority",
            "bo_owner",
            "bo_due",
            "created",
        ]),
        filters,
        create: Some("/admin/cases/new".into()),
        ..ListView::default()
    };
    view.paginate(total, page_of(&q), &q);
    let rows = c
        .list(
            &w,
            scope,
            &filter,
            PAGE_SIZE,
            (view.page - 1) * PAGE_SIZE,
            now,
        )
        .await
        .map_err(case_error)?;
    view.rows = rows
        .iter()
        .map(|case| {
            let href = format!("/admin/cases/{}", case.id);
            let owner = case
                .owner_id
                .map(|o| {
                    staff
                        .iter()
                        .find(|(id, _)| *id == o)
                        .map(|(_, n)| n.clone())
                        .unwrap_or_else(|| o.to_string())
                })
                .unwrap_or_default();
            let due = Cell::text(opt_time(case.due_at));
            vec![
                Cell::link(case.id, href.clone()),
                Cell::link(&case.title, href),
                Cell::text(&case.case_type),
                Cell::text(&case.state).class(if case.closed { "muted" } else { "" }),
                Cell::text(&case.priority),
                Cell::text(owner),
                if case.overdue(now) {
                    due.class("bad")
                } else {
                    due
                },
                Cell::text(time(case.created_at)),
            ]
        })
        .collect();
    panel.views.page(
        "list.html",
        &user,
        context! { view, notice => None::<String> },
    )
}

async fn case_form(panel: &Panel, user: &User) -> PageResult<FormView> {
    let c = engine(panel);
    let mut fields = Vec::new();
    if user.staff.is_superuser() {
        fields.push(
            FormField::new("client_id", "operator", "select")
                .options(operator_options(panel, user).await?)
                .required(),
        );
    }
    fields.push(
        FormField::new("case_type", "bo_case_type", "select")
            .options(
                c.types()
                    .all()
                    .iter()
                    .map(|t| (t.name.clone(), t.title.clone()))
                    .collect(),
            )
            .value("support_ticket")
            .required(),
    );
    fields.push(FormField::new("title", "bo_title", "text").required());
    fields.push(FormField::new("description", "description", "textarea"));
    fields.push(
        FormField::new("priority", "bo_priority", "select")
            .options(pairs(["low", "normal", "high", "urgent"]))
            .value("normal")
            .required(),
    );
    fields.push(FormField::new("box_serial", "bo_box_serial", "text"));
    Ok(FormView {
        title: "bo_new_case".into(),
        action: "/admin/cases/new".into(),
        fields,
        back: "/admin/cases".into(),
        error: None,
        multipart: false,
    })
}

/// `GET /admin/cases/new`.
async fn new_case_form(State(panel): State<Panel>, user: User) -> PageResult {
    user.require_write()?;
    let view = case_form(&panel, &user).await?;
    panel.views.page("form.html", &user, context! { view })
}

/// `POST /admin/cases/new` (`client_id` for superusers, `case_type`,
/// `title`, `description`, `priority`, `box_serial`).
async fn create_case(State(panel): State<Panel>, user: User, Form(form): Form) -> PageResult {
    user.require_write()?;
    let result = async {
        let client = super::form_client(&user, &form)?;
        let new = NewCase {
            client_id: Some(client),
            case_type: param(&form, "case_type").unwrap_or_default().to_string(),
            title: param(&form, "title").unwrap_or_default().to_string(),
            description: param(&form, "description").unwrap_or_default().to_string(),
            priority: param_nonempty(&form, "priority").map(str::to_string),
            box_serial: param_nonempty(&form, "box_serial").map(str::to_string),
            ..NewCase::default()
        };
        engine(&panel)
            .create(&who(&user), client, &new, now())
            .await
            .map_err(case_error)
    }
    .await;
    match result {
        Ok(case) => Ok(see_other(&format!("/admin/cases/{}", case.id))),
        Err(e) if is_input_error(&e) => {
            let mut view = case_form(&panel, &user).await?;
            view.refill(&form, &e);
            let mut res = panel.views.page("form.html", &user, context! { view })?;
            *res.status_mut() = e.status;
            Ok(res)
        }
        Err(e) => Err(e),
    }
}

/// A task as the case page shows it.
#[derive(Debug, Serialize)]
struct TaskView {
    id: i64,
    title: String,
    deadline: String,
    remind_at: String,
    reminded_at: String,
    done: bool,
    overdue: bool,
}

/// The forms of a case page, one of which may come back with errors.
enum Failed {
    None,
    Comment(Vec<(String, String)>, PageError),
    Task(Vec<(String, String)>, PageError),
    Upload(PageError),
}

async fn render_case(panel: &Panel, user: &User, id: i64, failed: Failed) -> PageResult {
    let c = engine(panel);
    let w = who(user);
    let case = c.get(&w, id).await.map_err(case_error)?;
    let now = now();
    let history = c.history(&w, id).await.map_err(case_error)?;
    let comments = c.comments(&w, id).await.map_err(case_error)?;
    let tasks = c.tasks(&w, id).await.map_err(case_error)?;
    let attachments = c.attachments(&w, id).await.map_err(case_error)?;
    let owner = match case.owner_id {
        Some(o) => staff_of(panel, Some(case.client_id))
            .await?
            .into_iter()
            .find(|(i, _)| *i == o)
            .map(|(_, n)| n)
            .unwrap_or_else(|| o.to_string()),
        None => String::new(),
    };
    let mut facts = vec![
        ("id".to_string(), Cell::text(case.id)),
        ("bo_case_type".into(), Cell::text(&case.case_type)),
        (
            "state".into(),
            Cell::text(&case.state).class(if case.closed { "muted" } else { "ok" }),
        ),
        ("bo_priority".into(), Cell::text(&case.priority)),
        ("bo_owner".into(), Cell::text(owner)),
        ("bo_author".into(), Cell::text(&case.author)),
        ("created".into(), Cell::text(time(case.created_at))),
        (
            "bo_due".into(),
            if case.overdue(now) {
                Cell::text(format!("{} ({})", opt_time(case.due_at), "!")).class("bad")
            } else {
                Cell::text(opt_time(case.due_at))
            },
        ),
        ("description".into(), Cell::text(&case.description)),
    ];
    if let Some(cust) = case.customer_id {
        facts.push((
            "bo_customer".into(),
            Cell::link(cust, format!("/admin/customers/{cust}")),
        ));
    }
    if let Some(serial) = &case.box_serial {
        facts.push(("bo_box_serial".into(), Cell::text(serial)));
    }
    if user.staff.is_superuser() {
        facts.push(("operator".into(), Cell::text(case.client_id)));
    }
    let mut actions = Vec::new();
    if let Some(ty) = c.types().get(&case.case_type) {
        for tr in ty.transitions.iter().filter(|t| t.from == case.state) {
            if tr.guard.allows(w.role) {
                actions.push(Action {
                    action: format!("/admin/cases/{id}/transition"),
                    label: format!("→ {}", tr.to),
                    confirm: None,
                    hidden: vec![("to".into(), tr.to.clone())],
                    danger: false,
                });
            }
        }
    }
    let section = |title: &str, cols: &[&str], rows: Vec<Vec<Cell>>| ListView {
        title: title.into(),
        columns: columns(cols),
        total: rows.len() as i64,
        rows,
        ..ListView::default()
    };
    let sections = vec![
        section(
            "bo_comments",
            &["time", "bo_author", "bo_text"],
            comments
                .iter()
                .map(|cm| {
                    vec![
                        Cell::text(time(cm.at)),
                        Cell::text(&cm.author),
                        Cell::text(&cm.text),
                    ]
                })
                .collect(),
        ),
        section(
            "bo_attachments",
            &["name", "type", "bo_size", "bo_author", "time"],
            attachments
                .iter()
                .map(|a| {
                    vec![
                        Cell::link(
                            &a.file_name,
                            format!("/admin/cases/{id}/attachments/{}", a.id),
                        ),
                        Cell::text(&a.content_type),
                        Cell::text(a.size).class("num"),
                        Cell::text(&a.author),
                        Cell::text(time(a.at)),
                    ]
                })
                .collect(),
        ),
        section(
            "bo_history",
            &[
                "time",
                "bo_actor",
                "bo_from_state",
                "bo_to_state",
                "comment",
            ],
            history
                .iter()
                .map(|h| {
                    vec![
                        Cell::text(time(h.at)),
                        Cell::text(&h.actor),
                        Cell::text(h.from_state.clone().unwrap_or_default()),
                        Cell::text(&h.to_state),
                        Cell::text(&h.comment),
                    ]
                })
                .collect(),
        ),
    ];
    let mut comment_form = FormView {
        title: "bo_add_comment".into(),
        action: format!("/admin/cases/{id}/comments"),
        fields: vec![FormField::new("body", "bo_comment_text", "textarea").required()],
        back: String::new(),
        error: None,
        multipart: false,
    };
    let mut task_form = FormView {
        title: "bo_add_task".into(),
        action: format!("/admin/cases/{id}/tasks"),
        fields: vec![
            FormField::new("title", "bo_task_title", "text").required(),
            FormField::new("due_at", "bo_due_at", "datetime-local").help("bo_utc_hint"),
            FormField::new("remind_at", "bo_remind_at", "datetime-local").help("bo_utc_hint"),
        ],
        back: String::new(),
        error: None,
        multipart: false,
    };
    let mut upload_form = FormView {
        title: "bo_upload".into(),
        action: format!("/admin/cases/{id}/attachments"),
        fields: vec![FormField::new("file", "bo_file", "file").required()],
        back: String::new(),
        error: None,
        multipart: true,
    };
    let status = match failed {
        Failed::None => StatusCode::OK,
        Failed::Comment(form, e) => {
            comment_form.refill(&form, &e);
            e.status
        }
        Failed::Task(form, e) => {
            task_form.refill(&form, &e);
            e.status
        }
        Failed::Upload(e) => {
            upload_form.refill(&[], &e);
            e.status
        }
    };
    let tasks: Vec<TaskView> = tasks
        .iter()
        .map(|t| TaskView {
            id: t.id,
            title: t.title.clone(),
            deadline: opt_time(t.deadline),
            remind_at: opt_time(t.remind_at),
            reminded_at: opt_time(t.reminded_at),
            done: t.done,
            overdue: !t.done && t.deadline.is_some_and(|d| d < now),
        })
        .collect();
    let view = DetailView {
        title: case.title.clone(),
        kind: "bo_case".into(),
        facts,
        actions,
        links: vec![Cell::link("←", "/admin/cases")],
        sections,
        forms: vec![comment_form, task_form, upload_form],
        notice: None,
    };
    let mut res = panel.views.page(
        "bo_case.html",
        user,
        context! { view, tasks, case_id => id },
    )?;
    *res.status_mut() = status;
    Ok(res)
}

/// `GET /admin/cases/{id}`.
async fn case_detail(State(panel): State<Panel>, user: User, Path(id): Path<String>) -> PageResult {
    render_case(&panel, &user, parse_id(&id)?, Failed::None).await
}

/// `POST /admin/cases/{id}/transition` (field `to`, optional `comment`).
async fn transition(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<String>,
    Form(form): Form,
) -> PageResult {
    user.require_write()?;
    let id = parse_id(&id)?;
    let to = param(&form, "to").unwrap_or_default();
    let comment = param(&form, "comment").unwrap_or_default();
    engine(&panel)
        .transition(&who(&user), id, to, comment, now())
        .await
        .map_err(case_error)?;
    Ok(see_other(&format!("/admin/cases/{id}")))
}

/// `POST /admin/cases/{id}/comments` (field `body`).
async fn add_comment(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<String>,
    Form(form): Form,
) -> PageResult {
    user.require_write()?;
    let id = parse_id(&id)?;
    let body = param(&form, "body").unwrap_or_default();
    match engine(&panel)
        .add_comment(&who(&user), id, body, now())
        .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/cases/{id}"))),
        Err(e) => {
            let e = rename_field(case_error(e), "text", "body");
            if is_input_error(&e) {
                render_case(&panel, &user, id, Failed::Comment(form, e)).await
            } else {
                Err(e)
            }
        }
    }
}

/// `POST /admin/cases/{id}/tasks` (fields `title`, `due_at`, `remind_at`
/// as `YYYY-MM-DDTHH:MM` in UTC).
async fn add_task(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<String>,
    Form(form): Form,
) -> PageResult {
    user.require_write()?;
    let id = parse_id(&id)?;
    let result = async {
        let new = NewTask {
            title: param(&form, "title").unwrap_or_default().to_string(),
            deadline: parse_local("due_at", &form)?,
            remind_at: parse_local("remind_at", &form)?,
            ..NewTask::default()
        };
        engine(&panel)
            .add_task(&who(&user), id, &new, now())
            .await
            .map_err(|e| rename_field(case_error(e), "deadline", "due_at"))
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/admin/cases/{id}"))),
        Err(e) if is_input_error(&e) => render_case(&panel, &user, id, Failed::Task(form, e)).await,
        Err(e) => Err(e),
    }
}

/// `POST /admin/cases/{id}/tasks/{task}/done` (field `done`: `1` or `0`).
async fn task_done(
    State(panel): State<Panel>,
    user: User,
    Path((id, task)): Path<(String, String)>,
    Form(form): Form,
) -> PageResult {
    user.require_write()?;
    let id = parse_id(&id)?;
    let task = parse_id(&task)?;
    let c = engine(&panel);
    let w = who(&user);
    let (t, _) = c.task(&w, task).await.map_err(case_error)?;
    if t.case_id != id {
        return Err(PageError::not_found());
    }
    let up = TaskUpdate {
        done: Some(param(&form, "done") != Some("0")),
        ..TaskUpdate::default()
    };
    c.update_task(&w, task, &up, now())
        .await
        .map_err(case_error)?;
    Ok(see_other(&format!("/admin/cases/{id}")))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first file part of a `multipart/form-data` body: `(file name,
/// declared type, bytes)`.
fn multipart_file(content_type: &str, body: &[u8]) -> Option<(String, Option<String>, Vec<u8>)> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    if boundary.is_empty() {
        return None;
    }
    let delim = format!("--{boundary}");
    let next_delim = format!("\r\n--{boundary}");
    let mut rest = &body[find(body, delim.as_bytes())? + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            return None;
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let content = &rest[head_end + 4..];
        let end = find(content, next_delim.as_bytes())?;
        let data = &content[..end];
        let mut file_name = None;
        let mut part_type = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':')?;
            if name.trim().eq_ignore_ascii_case("content-disposition") {
                file_name = value
                    .split(';')
                    .map(str::trim)
                    .find_map(|p| p.strip_prefix("filename="))
                    .map(|f| f.trim_matches('"').to_string());
            } else if name.trim().eq_ignore_ascii_case("content-type") {
                part_type = Some(value.trim().to_string());
            }
        }
        if let Some(name) = file_name {
            return Some((name, part_type, data.to_vec()));
        }
        rest = &content[end + next_delim.len()..];
    }
}

/// `POST /admin/cases/{id}/attachments`: a `multipart/form-data` form with
/// a `file` field (CSRF token in `?_csrf=`), or the raw file with its name
/// in `X-File-Name` (CSRF token in `X-CSRF-Token`).
async fn upload(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    user.require_write()?;
    let id = parse_id(&id)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let raw_name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(|n| {
            form_urlencoded::parse(format!("n={n}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        });
    let file = match raw_name {
        Some(name) => Some((name, Some(content_type.clone()), body.to_vec())),
        None if content_type.starts_with("multipart/form-data") => {
            multipart_file(&content_type, &body)
        }
        None => None,
    };
    let result = match file {
        Some((name, _, bytes)) if name.is_empty() && bytes.is_empty() => {
            Err(field_error("file", "choose a file"))
        }
        Some((name, declared, bytes)) => engine(&panel)
            .add_attachment(&who(&user), id, &name, declared.as_deref(), &bytes, now())
            .await
            .map(|_| ())
            .map_err(case_error),
        None => Err(field_error("file", "choose a file")),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/admin/cases/{id}"))),
        Err(mut e) if is_input_error(&e) => {
            if e.fields.is_empty() {
                e.fields.insert("file".into(), e.message.clone());
            }
            render_case(&panel, &user, id, Failed::Upload(e)).await
        }
        Err(e) => Err(e),
    }
}

/// `GET /admin/cases/{id}/attachments/{att}`: the file, as a download.
async fn download(
    State(panel): State<Panel>,
    user: User,
    Path((id, att)): Path<(String, String)>,
) -> PageResult {
    let (meta, bytes) = engine(&panel)
        .attachment(&who(&user), parse_id(&id)?, parse_id(&att)?)
        .await
        .map_err(case_error)?;
    let ascii: String = meta
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&meta.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\""))
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    Ok(res)
}

// ------------------------------------------------------- notifications

/// `GET /admin/notifications`: the user's own notifications, newest first
/// (`?unread=1` for unread only).
async fn notifications(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let unread = param(&q, "unread") == Some("1");
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM staff_notification WHERE user_id = $1 AND ($2 = FALSE OR read_at IS NULL)")
        .bind(user.staff.id).bind(unread).fetch_one(p).await)?;
    let mut view = ListView {
        title: "bo_notifications".into(),
        columns: columns(&["time", "bo_kind", "bo_text", "bo_case", "bo_read_at"]),
        filters: vec![select_filter(
            "unread",
            "bo_unread_only",
            &q,
            vec![("1".into(), crate::i18n::t(user.lang, "bo_yes").into())],
        )],
        ..ListView::default()
    };
    view.paginate(total, page_of(&q), &q);
    let items = engine(&panel)
        .notifications(&who(&user), unread, PAGE_SIZE, (view.page - 1) * PAGE_SIZE)
        .await
        .map_err(case_error)?;
    let rows = items
        .iter()
        .map(|n| Row {
            cells: vec![
                Cell::text(time(n.at)),
                Cell::text(&n.kind),
                Cell::text(&n.text).class(if n.read_at.is_none() { "" } else { "muted" }),
                n.case_id
                    .map(|c| Cell::link(c, format!("/admin/cases/{c}")))
                    .unwrap_or_default(),
                Cell::text(opt_time(n.read_at)),
            ],
            actions: if n.read_at.is_none() {
                vec![Action {
                    action: format!("/admin/notifications/{}/read", n.id),
                    label: "bo_mark_read".into(),
                    confirm: None,
                    hidden: Vec::new(),
                    danger: false,
                }]
            } else {
                Vec::new()
            },
        })
        .collect();
    rows_page(&panel, &user, view, rows, None)
}

/// `POST /admin/notifications/{id}/read` (one's own only; 404 else).
async fn mark_read(State(panel): State<Panel>, user: User, Path(id): Path<String>) -> PageResult {
    engine(&panel)
        .mark_read(&who(&user), parse_id(&id)?, now())
        .await
        .map_err(case_error)?;
    Ok(see_other("/admin/notifications"))
}

// ---------------------------------------------------------------- logs

/// `GET /admin/audit`: filters `entity`, `entity_id`, `action`, `actor`
/// (exact, or a prefix ending in `:`), `q` (text in the details),
/// `from`/`to` (and `client` for superusers). Admins only, as in the JSON
/// API; operator admins see their operator's events.
async fn audit(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    user.require_admin()?;
    let (client_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let (from, to) = range(&q)?;
    let (actor_exact, actor_prefix) = match param_nonempty(&q, "actor") {
        Some(a) if a.ends_with(':') => {
            (None, Some(format!("{}%", a.replace(['%', '_', '\\'], ""))))
        }
        Some(a) => (Some(a.to_string()), None),
        None => (None, None),
    };
    let entity = param_nonempty(&q, "entity").map(str::to_string);
    let entity_id = param_nonempty(&q, "entity_id").map(str::to_string);
    let action = param_nonempty(&q, "action").map(str::to_string);
    let text = param_nonempty(&q, "q").map(efir_store::like_contains);
    let cond = "($1 IS NULL OR client_id = $1) \
                AND ($2 IS NULL OR entity = $2) \
                AND ($3 IS NULL OR entity_id = $3) \
                AND ($4 IS NULL OR action = $4) \
                AND ($5 IS NULL OR actor = $5) \
                AND ($6 IS NULL OR actor LIKE $6) \
                AND ($7 IS NULL OR LOWER(data) LIKE $7 ESCAPE '\\') \
                AND ($8 IS NULL OR at >= $8) \
                AND ($9 IS NULL OR at < $9)";
    let count_sql = format!("SELECT COUNT(*) FROM audit_event WHERE {cond}");
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(&count_sql)
        .bind(scope).bind(&entity).bind(&entity_id).bind(&action).bind(&actor_exact)
        .bind(&actor_prefix).bind(&text).bind(from).bind(to)
        .fetch_one(p).await)?;
    let mut filters = vec![text_filter("q", "search", &q)];
    filters.extend(client_filter);
    for (name, label) in [
        ("entity", "bo_entity"),
        ("entity_id", "bo_entity_id"),
        ("action", "bo_action"),
        ("actor", "bo_actor"),
        ("from", "bo_from"),
        ("to", "bo_to"),
    ] {
        filters.push(text_filter(name, label, &q));
    }
    let mut view = ListView {
        title: "audit_log".into(),
        columns: columns(&[
            "time",
            "bo_actor",
            "operator",
            "bo_action",
            "bo_entity",
            "bo_entity_id",
            "bo_data",
        ]),
        filters,
        ..ListView::default()
    };
    view.paginate(total, page_of(&q), &q);
    let sql = format!(
        "SELECT id, at, actor, client_id, action, entity, entity_id, data FROM audit_event \
         WHERE {cond} ORDER BY id DESC LIMIT $10 OFFSET $11"
    );
    let offset = (view.page - 1) * PAGE_SIZE;
    let rows: Vec<AuditEvent> = with_db!(panel.store.pool(), p => sqlx::query_as(&sql)
        .bind(scope).bind(&entity).bind(&entity_id).bind(&action).bind(&actor_exact)
        .bind(&actor_prefix).bind(&text).bind(from).bind(to).bind(PAGE_SIZE).bind(offset)
        .fetch_all(p).await)?;
    view.rows = rows
        .iter()
        .map(|e| {
            let id = e.entity_id.clone().unwrap_or_default();
            let id_cell = if e.entity == "case" && !id.is_empty() {
                Cell::link(&id, format!("/admin/cases/{id}"))
            } else {
                Cell::text(&id)
            };
            vec![
                Cell::text(time(e.at)),
                Cell::text(&e.actor),
                Cell::text(e.client_id.map(|c| c.to_string()).unwrap_or_default()),
                Cell::text(&e.action),
                Cell::text(&e.entity),
                id_cell,
                Cell::text(shorten(&e.data, 300)),
            ]
        })
        .collect();
    panel.views.page(
        "list.html",
        &user,
        context! { view, notice => None::<String> },
    )
}

/// `GET /admin/request-log`: filters `user`, `method`, `path` (contains),
/// `status`, `from`/`to` (and `client` for superusers). Admins only, as in
/// the JSON API; operator admins see their operator's staff.
async fn request_log(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    user.require_admin()?;
    let (client_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let (from, to) = range(&q)?;
    let status = match param_nonempty(&q, "status") {
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (100..=599).contains(&n) => Some(n),
            _ => return Err(field_error("status", "must be an HTTP status (100-599)")),
        },
        None => None,
    };
    let username = param_nonempty(&q, "user").map(str::to_string);
    let method = param_nonempty(&q, "method").map(str::to_ascii_uppercase);
    let path = param_nonempty(&q, "path").map(efir_store::like_contains);
    let cond = "($1 IS NULL OR client_id = $1) \
                AND ($2 IS NULL OR username = $2) \
                AND ($3 IS NULL OR method = $3) \
                AND ($4 IS NULL OR LOWER(path) LIKE $4 ESCAPE '\\') \
                AND ($5 IS NULL OR status = $5) \
                AND ($6 IS NULL OR at >= $6) \
                AND ($7 IS NULL OR at < $7)";
    let count_sql = format!("SELECT COUNT(*) FROM request_log WHERE {cond}");
    let total: i64 = with_db!(panel.store.pool(), p => sqlx::query_scalar(&count_sql)
        .bind(scope).bind(&username).bind(&method).bind(&path).bind(status).bind(from).bind(to)
        .fetch_one(p).await)?;
    let mut filters = vec![text_filter("path", "bo_path", &q)];
    filters.extend(client_filter);
    filters.push(text_filter("user", "user", &q));
    filters.push(select_filter(
        "method",
        "bo_method",
        &q,
        pairs(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ));
    for (name, label) in [("status", "status"), ("from", "bo_from"), ("to", "bo_to")] {
        filters.push(text_filter(name, label, &q));
    }
    let mut view = ListView {
        title: "request_log".into(),
        columns: columns(&[
            "time",
            "user",
            "bo_method",
            "bo_path",
            "status",
            "bo_duration",
            "bo_ip",
        ]),
        filters,
        ..ListView::default()
    };
    view.paginate(total, page_of(&q), &q);
    let sql = format!(
        "SELECT id, at, user_id, username, client_id, method, path, query, status, duration_ms, ip \
         FROM request_log WHERE {cond} ORDER BY id DESC LIMIT $8 OFFSET $9"
    );
    let offset = (view.page - 1) * PAGE_SIZE;
    let rows: Vec<efir_backoffice::admin::log::RequestEntry> = with_db!(panel.store.pool(), p =>
        sqlx::query_as(&sql)
        .bind(scope).bind(&username).bind(&method).bind(&path).bind(status).bind(from).bind(to)
        .bind(PAGE_SIZE).bind(offset)
        .fetch_all(p).await)?;
    view.rows = rows
        .iter()
        .map(|r| {
            let target = if r.query.is_empty() {
                r.path.clone()
            } else {
                format!("{}?{}", r.path, r.query)
            };
            let class = if r.status >= 500 {
                "bad"
            } else if r.status >= 400 {
                "muted"
            } else {
                ""
            };
            vec![
                Cell::text(time(r.at)),
                Cell::text(&r.username),
                Cell::text(&r.method),
                Cell::text(shorten(&target, 200)),
                Cell::text(r.status).class(class),
                Cell::text(r.duration_ms).class("num"),
                Cell::text(&r.ip),
            ]
        })
        .collect();
    panel.views.page(
        "list.html",
        &user,
        context! { view, notice => None::<String> },
    )
}

// ------------------------------------------------------------ messages

/// `GET /admin/messages`: screen messages, SMS and e-mails, newest first;
/// filters `channel`, `state`, `from`/`to` (and `client` for superusers).
async fn messages(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let (client_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let channel = match param_nonempty(&q, "channel") {
        Some(c) => Some(Channel::parse(c).map_err(|e| PageError::from(AdminError::from(e)))?),
        None => None,
    };
    let (from, to) = range(&q)?;
    let mut filter = ListFilter {
        client_id: scope,
        channel,
        state: param_nonempty(&q, "state").map(str::to_string),
        customer_id: None,
        from,
        to,
        limit: PAGE_SIZE,
        offset: 0,
    };
    let to_page = |e| PageError::from(AdminError::from(e));
    let total = count_messages(&panel.store, &filter)
        .await
        .map_err(to_page)?;
    let mut filters = Vec::new();
    filters.extend(client_filter);
    filters.push(select_filter(
        "channel",
        "bo_channel",
        &q,
        pairs(["screen", "sms", "email"]),
    ));
    filters.push(select_filter(
        "state",
        "state",
        &q,
        pairs(["queued", "sent", "failed", "unread", "read", "deleted"]),
    ));
    filters.push(text_filter("from", "bo_from", &q));
    filters.push(text_filter("to", "bo_to", &q));
    let mut view = ListView {
        title: "messages".into(),
        columns: columns(&[
            "time",
            "bo_channel",
            "bo_recipient",
            "bo_subject",
            "bo_body",
            "state",
            "bo_attempts",
            "bo_last_error",
            "bo_sent_at",
        ]),
        filters,
        ..ListView::default()
    };
    view.paginate(total, page_of(&q), &q);
    filter.offset = (view.page - 1) * PAGE_SIZE;
    let listed = list_messages(&panel.store, &filter)
        .await
        .map_err(to_page)?;
    let rows = listed
        .iter()
        .map(|m| {
            let class = match m.state.as_str() {
                "failed" => "bad",
                "sent" | "read" => "ok",
                "deleted" => "muted",
                _ => "",
            };
            let recipient = match (m.recipient.is_empty(), m.customer_id) {
                (true, Some(c)) => Cell::link(c, format!("/admin/customers/{c}")),
                _ => Cell::text(&m.recipient),
            };
            let resendable = m.channel != "screen" && m.state == "failed" && user.can_write();
            Row {
                cells: vec![
                    Cell::text(time(m.created_at)),
                    Cell::text(&m.channel),
                    recipient,
                    Cell::text(shorten(&m.subject, 80)),
                    Cell::text(shorten(&m.body, 200)),
                    Cell::text(&m.state).class(class),
                    Cell::text(m.attempts).class("num"),
                    Cell::text(m.last_error.clone().unwrap_or_default()),
                    Cell::text(opt_time(m.sent_at)),
                ],
                actions: if resendable {
                    vec![Action {
                        action: format!("/admin/messages/{}/resend", m.id),
                        label: "bo_resend".into(),
                        confirm: None,
                        hidden: Vec::new(),
                        danger: false,
                    }]
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    rows_page(
        &panel,
        &user,
        view,
        rows,
        param(&q, "notice").filter(|n| *n == "saved"),
    )
}

/// `POST /admin/messages/{id}/resend`: queues a failed SMS or e-mail
/// again (the scheduled `resend-sms` run delivers it).
async fn resend(State(panel): State<Panel>, user: User, Path(id): Path<String>) -> PageResult {
    user.require_write()?;
    let id = parse_id(&id)?;
    let to_page = |e| PageError::from(AdminError::from(e));
    let msg = outbox::get(&panel.store, id)
        .await
        .map_err(to_page)?
        .ok_or_else(PageError::not_found)?;
    user.check(msg.client_id)?;
    outbox::resend(&panel.store, user.staff.actor(), id, now())
        .await
        .map_err(to_page)?;
    Ok(see_other("/admin/messages?notice=saved"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_file_part_of_a_multipart_body() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\nabc\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.txt\"\r\n\
Content-Type: text/plain\r\n\r\nhello\r\nworld\r\n--XyZ--\r\n";
        let (name, ty, data) =
            multipart_file("multipart/form-data; boundary=XyZ", body).unwrap_or_default();
        assert_eq!(name, "note.txt");
        assert_eq!(ty.as_deref(), Some("text/plain"));
        assert_eq!(data, b"hello\r\nworld");
        assert!(multipart_file("multipart/form-data; boundary=Q", body).is_none());
    }
}
