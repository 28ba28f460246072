//! The admin API's error answer: an HTTP status and
//! `{"error": {"code", "message", "fields"}}`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use efir_store::StoreError;
use serde_json::json;

/// An error of the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short machine-readable code (`invalid`, `not_found`, …).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Errors per input field.
    pub fields: BTreeMap<String, String>,
}

/// Result of admin handlers.
pub type AdminResult<T> = Result<T, AdminError>;

impl AdminError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AdminError {
        AdminError {
            status,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// 422: one field is invalid.
    pub fn field(name: &str, message: impl Into<String>) -> AdminError {
        let message = message.into();
        let mut e = AdminError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("{name}: {message}"),
        );
        e.fields.insert(name.to_string(), message);
        e
    }

    /// 422 with several field errors; `None` when `fields` is empty.
    pub fn fields(fields: BTreeMap<String, String>) -> Option<AdminError> {
        if fields.is_empty() {
            return None;
        }
        let message = fields
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut e = AdminError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
        e.fields = fields;
        Some(e)
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no valid login.
    pub fn unauthorized(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: logged in, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such object (or not one this user may see).
    pub fn not_found(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the object's state does not allow it.
    pub fn conflict(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413: the body is too large.
    pub fn too_large(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// 415: the content type is not accepted.
    pub fn unsupported(message: impl Into<String>) -> AdminError {
        AdminError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 429: too many attempts.
    pub fn too_many(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
    }

    /// 500: something failed on our side (details are logged, not shown).
    pub fn internal() -> AdminError {
        AdminError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity, id } => {
                AdminError::not_found(format!("{entity} {id} not found"))
            }
            StoreError::Conflict {
                entity,
                field,
                value,
            } => {
                let mut err =
                    AdminError::conflict(format!("{entity} with {field} `{value}` already exists"));
                err.fields.insert(field, "already exists".into());
                err
            }
            StoreError::Invalid(msg) => {
                AdminError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", msg)
            }
            other => {
                tracing::error!(error = %other, "admin API: store error");
                AdminError::internal()
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": self.fields,
            }
        });
        (self.status, Json(body)).into_response()
    }
}
