//! Admin REST API of cases and tasks, under `/admin/api/`.
//!
//! Every route is operator-scoped through the [`Staff`] extractor:
//! superusers see every operator, everybody else only their own; another
//! operator's ids answer 404. Monitoring users read only (403 on every
//! write); admin-only transitions need an operator admin. Attachments are
//! uploaded as the raw request body with the file name in `X-File-Name`
//! and the type in `Content-Type`.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use efir_core::config::CasesConfig;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{CaseError, CaseFilter, Cases, NewCase, NewTask, Role, TaskUpdate, Who};
use crate::admin::{
    respond, AdminError, AdminResult, AdminState, Format, JsonBody, Page, Staff, StaffRole,
};

static CONFIG: OnceLock<CasesConfig> = OnceLock::new();

/// Sets the `[cases]` configuration the API uses (called once by
/// `efir serve`; the defaults apply otherwise).
pub fn configure(config: &CasesConfig) {
    let _ = CONFIG.set(config.clone());
}

fn cases(state: &AdminState) -> Cases {
    let config = CONFIG.get_or_init(CasesConfig::default);
    Cases::new(state.store.clone(), config, state.data_dir.clone())
}

fn who(staff: &Staff) -> Who {
    Who {
        user_id: staff.id,
        username: staff.username.clone(),
        role: match staff.role {
            StaffRole::Superuser => Role::Superuser,
            StaffRole::OperatorAdmin => Role::OperatorAdmin,
            StaffRole::Support => Role::Support,
            StaffRole::Monitoring => Role::Monitoring,
        },
        client_id: staff.client_id,
    }
}

impl From<CaseError> for AdminError {
    fn from(e: CaseError) -> Self {
        match e {
            CaseError::NotFound(m) => AdminError::not_found(m),
            CaseError::Invalid { field, message } => AdminError::field(&field, &message),
            CaseError::Forbidden(m) => AdminError::forbidden(m),
            CaseError::Conflict(m) => AdminError::conflict(m),
            CaseError::TooLarge(m) => AdminError::too_large(m),
            CaseError::Unsupported(m) => AdminError::unsupported(m),
            CaseError::Store(s) => AdminError::from(s),
            CaseError::Io(e) => AdminError::from(efir_store::StoreError::Backup(format!(
                "attachment storage: {e}"
            ))),
        }
    }
}

/// The routes of cases, tasks and notifications.
pub fn admin_routes() -> Router<AdminState> {
    let limit = CONFIG
        .get_or_init(CasesConfig::default)
        .max_attachment_bytes
        .saturating_add(64 * 1024);
    Router::new()
        .route("/admin/api/case-types", get(case_types))
        .route("/admin/api/cases", get(list).post(create))
        .route("/admin/api/cases/{id}", get(detail).delete(delete))
        .route("/admin/api/cases/{id}/transition", post(transition))
        .route("/admin/api/cases/{id}/owner", post(set_owner))
        .route(
            "/admin/api/cases/{id}/comments",
            get(comments).post(add_comment),
        )
        .route(
            "/admin/api/cases/{id}/attachments",
            get(attachments).post(upload).layer(DefaultBodyLimit::max(
                usize::try_from(limit).unwrap_or(usize::MAX),
            )),
        )
        .route("/admin/api/cases/{id}/attachments/{att}", get(download))
        .route("/admin/api/cases/{id}/tasks", get(tasks).post(add_task))
        .route("/admin/api/tasks/{id}", get(task).patch(update_task))
        .route("/admin/api/tasks/{id}/complete", post(complete_task))
        .route("/admin/api/notifications", get(notifications))
        .route("/admin/api/notifications/{id}/read", post(mark_read))
}

fn now() -> i64 {
    efir_core::clock::now()
}

async fn case_types(State(st): State<AdminState>, _staff: Staff) -> AdminResult<Json<Value>> {
    let c = cases(&st);
    let items: Vec<Value> = c
        .types()
        .all()
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or_default())
        .collect();
    Ok(Json(json!({"count": items.len(), "items": items})))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    client_id: Option<i64>,
    #[serde(flatten)]
    filter: CaseFilter,
}

const CASE_COLUMNS: &[&str] = &[
    "id",
    "client_id",
    "case_type",
    "state",
    "title",
    "priority",
    "customer_id",
    "account_id",
    "owner_id",
    "author",
    "created_at",
    "updated_at",
    "due_at",
    "paused_total",
    "closed",
    "overdue",
];

async fn list(
    State(st): State<AdminState>,
    staff: Staff,
    format: Format,
    page: Page,
    Query(q): Query<ListQuery>,
) -> AdminResult<Response> {
    let scope = staff.scope(q.client_id)?;
    let now = now();
    let rows = cases(&st)
        .list(&who(&staff), scope, &q.filter, page.limit, page.offset, now)
        .await?;
    let items = rows.iter().map(|c| c.to_json(now)).collect();
    Ok(respond(format, CASE_COLUMNS, items))
}

async fn create(
    State(st): State<AdminState>,
    staff: Staff,
    JsonBody(new): JsonBody<NewCase>,
) -> AdminResult<(StatusCode, Json<Value>)> {
    staff.require_write()?;
    let client = staff.client(new.client_id)?;
    let now = now();
    let case = cases(&st).create(&who(&staff), client, &new, now).await?;
    Ok((StatusCode::CREATED, Json(case.to_json(now))))
}

async fn detail(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> AdminResult<Json<Value>> {
    let c = cases(&st);
    let w = who(&staff);
    let now = now();
    let case = c.get(&w, id).await?;
    let mut v = case.to_json(now);
    v["history"] = json!(c.history(&w, id).await?);
    v["comments"] = json!(c.comments(&w, id).await?);
    v["tasks"] = json!(c.tasks(&w, id).await?);
    v["attachments"] = json!(c.attachments(&w, id).await?);
    Ok(Json(v))
}

async fn delete(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> AdminResult<StatusCode> {
    cases(&st).delete(&who(&staff), id, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionBody {
    to: String,
    #[serde(default)]
    comment: String,
}

async fn transition(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    JsonBody(t): JsonBody<TransitionBody>,
) -> AdminResult<Json<Value>> {
    staff.require_write()?;
    let now = now();
    let case = cases(&st)
        .transition(&who(&staff), id, &t.to, &t.comment, now)
        .await?;
    Ok(Json(case.to_json(now)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerBody {
    owner_id: i64,
}

async fn set_owner(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    JsonBody(o): JsonBody<OwnerBody>,
) -> AdminResult<Json<Value>> {
    staff.require_write()?;
    let now = now();
    let case = cases(&st)
        .set_owner(&who(&staff), id, o.owner_id, now)
        .await?;
    Ok(Json(case.to_json(now)))
}

async fn comments(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> AdminResult<Json<Value>> {
    let items = cases(&st).comments(&who(&staff), id).await?;
    Ok(Json(json!({"count": items.len(), "items": items})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    text: String,
}

async fn add_comment(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    JsonBody(c): JsonBody<CommentBody>,
) -> AdminResult<(StatusCode, Json<Value>)> {
    staff.require_write()?;
    let comment = cases(&st)
        .add_comment(&who(&staff), id, &c.text, now())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(comment))))
}

async fn attachments(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> AdminResult<Json<Value>> {
    let items = cases(&st).attachments(&who(&staff), id).await?;
    Ok(Json(json!({"count": items.len(), "items": items})))
}

async fn upload(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    headers: HeaderMap,
    bytes: Bytes,
) -> AdminResult<(StatusCode, Json<Value>)> {
    staff.require_write()?;
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .ok_or_else(|| {
            AdminError::field("X-File-Name", "the header with the file name is required")
        })?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let att = cases(&st)
        .add_attachment(&who(&staff), id, &name, declared, &bytes, now())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(att))))
}

/// Decodes `%XX` escapes (for non-ASCII file names in a header).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn download(
    State(st): State<AdminState>,
    staff: Staff,
    Path((id, att)): Path<(i64, i64)>,
) -> AdminResult<Response> {
    let (meta, bytes) = cases(&st).attachment(&who(&staff), id, att).await?;
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
    let encoded: String = meta
        .file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&meta.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

async fn tasks(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> AdminResult<Json<Value>> {
    let items = cases(&st).tasks(&who(&staff), id).await?;
    Ok(Json(json!({"count": items.len(), "items": items})))
}

async fn add_task(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    JsonBody(t): JsonBody<NewTask>,
) -> AdminResult<(StatusCode, Json<Value>)> {
    staff.require_write()?;
    let task = cases(&st).add_task(&who(&staff), id, &t, now()).await?;
    Ok((StatusCode::CREATED, Json(json!(task))))
}

async fn task(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> AdminResult<Json<Value>> {
    let (task, _) = cases(&st).task(&who(&staff), id).await?;
    Ok(Json(json!(task)))
}

async fn update_task(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    JsonBody(up): JsonBody<TaskUpdate>,
) -> AdminResult<Json<Value>> {
    staff.require_write()?;
    let task = cases(&st).update_task(&who(&staff), id, &up, now()).await?;
    Ok(Json(json!(task)))
}

async fn complete_task(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> AdminResult<Json<Value>> {
    staff.require_write()?;
    let up = TaskUpdate {
        done: Some(true),
        ..Default::default()
    };
    let task = cases(&st).update_task(&who(&staff), id, &up, now()).await?;
    Ok(Json(json!(task)))
}

#[derive(Debug, Deserialize)]
struct NotificationQuery {
    #[serde(default)]
    unread: bool,
}

async fn notifications(
    State(st): State<AdminState>,
    staff: Staff,
    format: Format,
    page: Page,
    Query(q): Query<NotificationQuery>,
) -> AdminResult<Response> {
    let rows = cases(&st)
        .notifications(&who(&staff), q.unread, page.limit, page.offset)
        .await?;
    let items = rows.iter().map(|n| json!(n)).collect();
    Ok(respond(
        format,
        &[
            "id",
            "client_id",
            "user_id",
            "case_id",
            "task_id",
            "kind",
            "text",
            "at",
            "read_at",
        ],
        items,
    ))
}

async fn mark_read(
    State(st): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> AdminResult<StatusCode> {
    cases(&st).mark_read(&who(&staff), id, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
