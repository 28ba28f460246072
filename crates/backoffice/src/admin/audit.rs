//! `GET /admin/api/audit`: the insert-only audit log, searchable.

use axum::extract::State;
use axum::response::Response;
use efir_store::{with_db, AuditEvent};

use super::auth::Staff;
use super::error::{AdminError, AdminResult};
use super::input::{Format, Page, Params};
use super::output::respond;
use super::AdminState;

const COLUMNS: [&str; 8] = [
    "id",
    "at",
    "actor",
    "client_id",
    "action",
    "entity",
    "entity_id",
    "data",
];

/// Search by `entity`, `entity_id`, `action`, `actor` (exact, e.g.
/// `user:3:anna`, or a prefix ending in `:` such as `scheduler:`), `q`
/// (text contained in the details), `from`/`to` and `client_id`
/// (superusers); newest first. Operator admins see their operator's events.
pub async fn search(
    State(state): State<AdminState>,
    staff: Staff,
    params: Params,
    page: Page,
    format: Format,
) -> AdminResult<Response> {
    staff.require_admin()?;
    let client = staff.scope(params.i64("client_id")?)?;
    let (from, to) = params.range("from", "to")?;
    let actor = params.str("actor");
    let (actor_exact, actor_prefix) = match actor {
        Some(a) if a.ends_with(':') => {
            (None, Some(format!("{}%", a.replace(['%', '_', '\\'], ""))))
        }
        Some(a) => (Some(a.to_string()), None),
        None => (None, None),
    };
    let sql = "SELECT id, at, actor, client_id, action, entity, entity_id, data FROM audit_event \
               WHERE ($1 IS NULL OR client_id = $1) \
                 AND ($2 IS NULL OR entity = $2) \
                 AND ($3 IS NULL OR entity_id = $3) \
                 AND ($4 IS NULL OR action = $4) \
                 AND ($5 IS NULL OR actor = $5) \
                 AND ($6 IS NULL OR actor LIKE $6) \
                 AND ($7 IS NULL OR LOWER(data) LIKE $7 ESCAPE '\\') \
                 AND ($8 IS NULL OR at >= $8) \
                 AND ($9 IS NULL OR at < $9) \
               ORDER BY id DESC LIMIT $10 OFFSET $11";
    let rows: Vec<AuditEvent> = with_db!(state.store.pool(), p => sqlx::query_as(sql)
        .bind(client)
        .bind(params.str("entity"))
        .bind(params.str("entity_id"))
        .bind(params.str("action"))
        .bind(actor_exact)
        .bind(actor_prefix)
        .bind(params.str("q").map(efir_store::like_contains))
        .bind(from)
        .bind(to)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(p)
        .await)
    .map_err(|e| AdminError::from(efir_store::StoreError::from(e)))?;
    let items = rows
        .into_iter()
        .map(|e| {
            let mut v = serde_json::to_value(&e).unwrap_or_default();
            // Details are JSON text in the table; answer them as JSON in
            // JSON lists and as text in CSV.
            if format == Format::Json {
                if let Ok(data) = serde_json::from_str::<serde_json::Value>(&e.data) {
                    v["data"] = data;
                }
            }
            v
        })
        .collect();
    Ok(respond(format, &COLUMNS, items))
}
