//! Staff logins to the admin API and the [`Staff`] extractor.
//!
//! `POST /admin/api/login {"username", "password"}` checks the password
//! (argon2) and answers a random token; later requests send it as
//! `Authorization: Bearer <token>`. Only a SHA-256 of the token is stored
//! (`staff_session`), so a copy of the database opens no session. A
//! session lasts `admin.session_hours` without use; each use extends it.
//! Failed logins are limited per user name and per address.
//!
//! Roles come from the staff user's flags: `is_superuser` → superuser
//! (every operator), `monitoring_user` → monitoring (read-only),
//! `is_admin` → operator admin, none → support.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap};
use axum::Json;
use efir_store::audit::Arg;
use efir_store::users::User;
use efir_store::{with_db, Actor, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::error::{AdminError, AdminResult};
use super::input::JsonBody;
use super::log::LogSlot;
use super::AdminState;

/// What a staff user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Everything, for every operator.
    Superuser,
    /// Everything of their own operator.
    OperatorAdmin,
    /// Day-to-day work (cases, messages) of their own operator.
    Support,
    /// Read-only dashboards of their own operator.
    Monitoring,
}

impl StaffRole {
    /// The role of a staff user's flags.
    pub fn of(is_superuser: bool, is_admin: bool, monitoring_user: bool) -> StaffRole {
        if is_superuser {
            StaffRole::Superuser
        } else if monitoring_user {
            StaffRole::Monitoring
        } else if is_admin {
            StaffRole::OperatorAdmin
        } else {
            StaffRole::Support
        }
    }
}

/// The logged-in staff user of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    /// Staff user id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: StaffRole,
    /// The operator (none for superusers).
    pub client_id: Option<i64>,
}

impl Staff {
    /// The actor of this user's changes in the audit log.
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.id,
            username: self.username.clone(),
        }
    }

    /// Whether this is a superuser.
    pub fn is_superuser(&self) -> bool {
        self.role == StaffRole::Superuser
    }

    /// Refuses read-only (monitoring) users.
    pub fn require_write(&self) -> AdminResult<()> {
        if self.role == StaffRole::Monitoring {
            return Err(AdminError::forbidden("monitoring users may only read"));
        }
        Ok(())
    }

    /// Refuses everyone but superusers and operator admins.
    pub fn require_admin(&self) -> AdminResult<()> {
        match self.role {
            StaffRole::Superuser | StaffRole::OperatorAdmin => Ok(()),
            _ => Err(AdminError::forbidden(
                "only an operator admin or a superuser may do this",
            )),
        }
    }

    /// The operators a request may cover: a superuser gets what was asked
    /// (`None` = every operator); anyone else always their own operator,
    /// and asking for another one is answered as if it did not exist.
    pub fn scope(&self, requested: Option<i64>) -> AdminResult<Option<i64>> {
        if self.is_superuser() {
            return Ok(requested);
        }
        let own = self.own_client()?;
        match requested {
            Some(id) if id != own => Err(AdminError::not_found(format!("client {id} not found"))),
            _ => Ok(Some(own)),
        }
    }

    /// Exactly one operator: a superuser must name it (`client_id`).
    pub fn client(&self, requested: Option<i64>) -> AdminResult<i64> {
        self.scope(requested)?
            .ok_or_else(|| AdminError::field("client_id", "a superuser must name the operator"))
    }

    /// Whether an object of operator `client_id` may be shown to this user
    /// (answer 404 when not, so ids of other operators are not confirmed).
    pub fn may_see(&self, client_id: i64) -> bool {
        self.is_superuser() || self.client_id == Some(client_id)
    }

    fn own_client(&self) -> AdminResult<i64> {
        self.client_id
            .ok_or_else(|| AdminError::forbidden("this staff user belongs to no operator"))
    }
}

/// SHA-256 of a token, hex.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 200)
}

/// Extends a session at most this often (seconds), to spare writes.
const TOUCH_EVERY: i64 = 60;

type SessionRow = (i64, String, bool, bool, bool, Option<i64>, bool, i64, i64);

impl FromRequestParts<AdminState> for Staff {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> AdminResult<Staff> {
        if let Some(staff) = parts.extensions.get::<Staff>() {
            return Ok(staff.clone());
        }
        let token = bearer(&parts.headers).ok_or_else(|| {
            AdminError::unauthorized("log in first: Authorization: Bearer <token>")
        })?;
        let staff = session_staff(&state.store, token, state.session_secs())
            .await?
            .ok_or_else(|| AdminError::unauthorized("the login has expired or is unknown"))?;
        if let Some(slot) = parts.extensions.get::<LogSlot>() {
            slot.set(&staff);
        }
        parts.extensions.insert(staff.clone());
        Ok(staff)
    }
}

/// The staff user of a session token, if the session is known, unexpired
/// and its user still active; extends the session (at most once a
/// minute). Shared by the admin API (bearer tokens) and the web panel
/// (cookies).
pub async fn session_staff(
    store: &Store,
    token: &str,
    session_secs: i64,
) -> efir_store::Result<Option<Staff>> {
    if token.is_empty() || token.len() > 200 {
        return Ok(None);
    }
    let hash = token_hash(token);
    let sql = "SELECT u.id, u.username, u.is_superuser, u.is_admin, u.monitoring_user, \
               u.client_id, u.is_active, s.expires_at, s.last_seen_at \
               FROM staff_session s JOIN staff_user u ON u.id = s.user_id \
               WHERE s.token_hash = $1";
    let row: Option<SessionRow> = with_db!(store.pool(), p => sqlx::query_as(sql)
        .bind(&hash)
        .fetch_optional(p)
        .await)
    .map_err(efir_store::StoreError::from)?;
    let now = efir_store::now();
    let Some((id, username, su, admin, monitoring, client_id, active, expires, seen)) = row else {
        return Ok(None);
    };
    if !active || expires <= now {
        return Ok(None);
    }
    if now - seen >= TOUCH_EVERY {
        let until = now + session_secs;
        let sql = "UPDATE staff_session SET last_seen_at = $1, expires_at = $2 \
                   WHERE token_hash = $3";
        let touched = with_db!(store.pool(), p => sqlx::query(sql)
            .bind(now)
            .bind(until)
            .bind(&hash)
            .execute(p)
            .await
            .map(|_| ()));
        if let Err(e) = touched {
            tracing::warn!(error = %e, "admin: cannot extend a session");
        }
    }
    Ok(Some(Staff {
        id,
        username,
        role: StaffRole::of(su, admin, monitoring),
        client_id,
    }))
}

/// Opens a session for `user` (already authenticated) from address `ip`:
/// answers the staff user, the new random token and when it expires.
/// Expired sessions of everyone are removed on the way.
pub async fn open_session(
    store: &Store,
    user: &User,
    ip: &str,
    session_secs: i64,
) -> efir_store::Result<(Staff, String, i64)> {
    let staff = Staff {
        id: user.id,
        username: user.username.clone(),
        role: StaffRole::of(user.is_superuser, user.is_admin, user.monitoring_user),
        client_id: user.client_id,
    };
    let token = efir_core::secret::random_hex(32);
    let now = efir_store::now();
    let expires = now + session_secs;
    let mut tx = store.begin(staff.actor()).await?;
    tx.execute(
        "staff_session",
        "DELETE FROM staff_session WHERE expires_at <= $1",
        &[Arg::I64(now)],
    )
    .await?;
    tx.execute(
        "staff_session",
        "INSERT INTO staff_session (token_hash, user_id, created_at, last_seen_at, expires_at, ip) \
         VALUES ($1, $2, $3, $3, $4, $5)",
        &[
            Arg::Text(token_hash(&token)),
            Arg::I64(user.id),
            Arg::I64(now),
            Arg::I64(expires),
            Arg::Text(ip.to_string()),
        ],
    )
    .await?;
    tx.execute(
        "staff_user",
        "UPDATE staff_user SET last_login = $1 WHERE id = $2",
        &[Arg::I64(now), Arg::I64(user.id)],
    )
    .await?;
    tx.audit(
        user.client_id,
        "login",
        "user",
        Some(user.id.to_string()),
        json!({ "username": user.username, "ip": ip }),
    )
    .await?;
    tx.commit().await?;
    Ok((staff, token, expires))
}

/// Ends the session of `token` (audited as `staff`'s logout).
pub async fn close_session(store: &Store, staff: &Staff, token: &str) -> efir_store::Result<()> {
    let mut tx = store.begin(staff.actor()).await?;
    tx.execute(
        "staff_session",
        "DELETE FROM staff_session WHERE token_hash = $1",
        &[Arg::Text(token_hash(token))],
    )
    .await?;
    tx.audit(
        staff.client_id,
        "logout",
        "user",
        Some(staff.id.to_string()),
        json!({ "username": staff.username }),
    )
    .await?;
    tx.commit().await
}

/// Changes `staff`'s password after checking the old one, and ends every
/// other session of the user (all but `keep_token`'s). Answers how many
/// sessions were ended; field errors name `old_password` or
/// `new_password`.
pub async fn set_own_password(
    store: &Store,
    staff: &Staff,
    keep_token: &str,
    old_password: &str,
    new_password: &str,
) -> AdminResult<u64> {
    if store
        .authenticate(&staff.username, old_password)
        .await?
        .is_none()
    {
        return Err(AdminError::field("old_password", "is wrong"));
    }
    efir_core::password::validate(new_password)
        .map_err(|e| AdminError::field("new_password", e))?;
    let mut tx = store.begin(staff.actor()).await?;
    store
        .set_password(&mut tx, &staff.username, new_password)
        .await?;
    let ended = tx
        .execute(
            "staff_session",
            "DELETE FROM staff_session WHERE user_id = $1 AND token_hash <> $2",
            &[Arg::I64(staff.id), Arg::Text(token_hash(keep_token))],
        )
        .await?;
    tx.commit().await?;
    Ok(ended)
}

/// Failed logins allowed per user name and per address within the window.
pub const LOGIN_MAX_FAILURES: u32 = 5;
/// The window, in seconds.
pub const LOGIN_WINDOW_SECS: u64 = 900;

/// Failed logins per key (user name, address) in this process.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    /// Whether `key` has failed too often within the window.
    pub fn blocked(&self, key: &str) -> bool {
        let Ok(map) = self.failures.lock() else {
            return false;
        };
        matches!(map.get(key), Some((n, since))
            if *n >= LOGIN_MAX_FAILURES && since.elapsed().as_secs() < LOGIN_WINDOW_SECS)
    }

    /// Counts a failure of `key`.
    pub fn failed(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            if map.len() > 100_000 {
                map.retain(|_, (_, since)| since.elapsed().as_secs() < LOGIN_WINDOW_SECS);
            }
            let entry = map.entry(key.to_string()).or_insert((0, Instant::now()));
            if entry.1.elapsed().as_secs() >= LOGIN_WINDOW_SECS {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    /// Forgets the failures of `key` after a success.
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

/// Checks a staff login from address `ip` against the failed-login limit
/// (429 when over it) and the password (401 when wrong, counted as a
/// failure for the user name and the address).
pub async fn check_login(
    state: &AdminState,
    username: &str,
    password: &str,
    ip: &str,
) -> AdminResult<User> {
    let keys = [format!("user:{username}"), format!("ip:{ip}")];
    if keys.iter().any(|k| state.limiter.blocked(k)) {
        return Err(AdminError::too_many(
            "too many failed logins; try again in 15 minutes",
        ));
    }
    if username.is_empty() || username.len() > 150 || password.len() > 1000 {
        return Err(AdminError::unauthorized("wrong user name or password"));
    }
    let Some(user) = state.store.authenticate(username, password).await? else {
        for k in &keys {
            state.limiter.failed(k);
        }
        return Err(AdminError::unauthorized("wrong user name or password"));
    };
    for k in &keys {
        state.limiter.succeeded(k);
    }
    Ok(user)
}

/// The body of `POST /admin/api/login`.
#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /admin/api/login`: a token for a staff user's name and password.
pub async fn login(
    State(state): State<AdminState>,
    headers: HeaderMap,
    ext: Extensions,
    JsonBody(req): JsonBody<LoginRequest>,
) -> AdminResult<Json<Value>> {
    let ip = super::log::client_ip(&headers, &ext, &state);
    let user = match check_login(&state, &req.username, &req.password, &ip).await {
        Ok(user) => user,
        Err(e) => {
            if let Some(slot) = ext.get::<LogSlot>() {
                slot.set_name(&req.username);
            }
            return Err(e);
        }
    };
    let (staff, token, expires) =
        open_session(&state.store, &user, &ip, state.session_secs()).await?;
    if let Some(slot) = ext.get::<LogSlot>() {
        slot.set(&staff);
    }
    Ok(Json(
        json!({ "token": token, "expires_at": expires, "user": staff }),
    ))
}

/// `POST /admin/api/logout`: ends this login.
pub async fn logout(
    State(state): State<AdminState>,
    staff: Staff,
    headers: HeaderMap,
) -> AdminResult<Json<Value>> {
    let token = bearer(&headers).unwrap_or_default();
    close_session(&state.store, &staff, token).await?;
    Ok(Json(json!({ "logged_out": true })))
}

/// `GET /admin/api/me`: who is logged in.
pub async fn me(staff: Staff) -> Json<Value> {
    Json(json!({ "user": staff }))
}

/// The body of `POST /admin/api/password`.
#[derive(Debug, Deserialize)]
pub struct PasswordChange {
    /// The current password.
    pub old_password: String,
    /// The new one.
    pub new_password: String,
}

/// `POST /admin/api/password`: changes one's own password and ends every
/// other login of the user.
pub async fn change_password(
    State(state): State<AdminState>,
    staff: Staff,
    headers: HeaderMap,
    JsonBody(req): JsonBody<PasswordChange>,
) -> AdminResult<Json<Value>> {
    let token = bearer(&headers).unwrap_or_default();
    let ended = set_own_password(
        &state.store,
        &staff,
        token,
        &req.old_password,
        &req.new_password,
    )
    .await?;
    Ok(Json(
        json!({ "password_changed": true, "other_logins_ended": ended }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_flags() {
        assert_eq!(StaffRole::of(true, true, true), StaffRole::Superuser);
        assert_eq!(StaffRole::of(false, true, true), StaffRole::Monitoring);
        assert_eq!(StaffRole::of(false, true, false), StaffRole::OperatorAdmin);
        assert_eq!(StaffRole::of(false, false, false), StaffRole::Support);
    }

    #[test]
    fn scoping() {
        let support = Staff {
            id: 2,
            username: "s".into(),
            role: StaffRole::Support,
            client_id: Some(7),
        };
        assert_eq!(support.scope(None), Ok(Some(7)));
        assert_eq!(support.scope(Some(7)), Ok(Some(7)));
        assert_eq!(
            support.scope(Some(8)).map_err(|e| e.status.as_u16()),
            Err(404)
        );
        assert!(support.require_write().is_ok());
        assert!(support.require_admin().is_err());
        assert!(!support.may_see(8));
        let root = Staff {
            role: StaffRole::Superuser,
            client_id: None,
            ..support.clone()
        };
        assert_eq!(root.scope(None), Ok(None));
        assert_eq!(root.scope(Some(8)), Ok(Some(8)));
        assert_eq!(root.client(None).map_err(|e| e.status.as_u16()), Err(422));
        let watcher = Staff {
            role: StaffRole::Monitoring,
            ..support
        };
        assert_eq!(
            watcher.require_write().map_err(|e| e.status.as_u16()),
            Err(403)
        );
    }
}
