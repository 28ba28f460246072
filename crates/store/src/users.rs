//! Staff users: the people who manage Efir (admin panel, APIs for staff).

use serde::Serialize;
use serde_json::json;

use crate::clients::is_email;
use crate::{map_unique, now, Result, Store, StoreError, Tx};

/// A staff user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// argon2 hash (PHC string); never serialized.
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// May log in.
    pub is_active: bool,
    /// Has access to the staff part of the site.
    pub is_admin: bool,
    /// Has every permission, for every operator.
    pub is_superuser: bool,
    /// Device-monitoring operator.
    pub monitoring_user: bool,
    /// The operator the user belongs to (none for superusers).
    pub client_id: Option<i64>,
    /// Last login (Unix seconds).
    pub last_login: Option<i64>,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last changed (Unix seconds).
    pub updated_at: i64,
}

/// What is needed to create a user.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Plain password; hashed with argon2 before it is stored.
    pub password: String,
    /// E-mail (may be empty).
    pub email: String,
    /// Staff access.
    pub is_admin: bool,
    /// Superuser.
    pub is_superuser: bool,
    /// Monitoring operator.
    pub monitoring_user: bool,
    /// Operator.
    pub client_id: Option<i64>,
}

const COLUMNS: &str = "id, username, email, password_hash, is_active, is_admin, is_superuser, \
    monitoring_user, client_id, last_login, created_at, updated_at";

fn validate(new: &NewUser) -> Result<()> {
    let mut problems = Vec::new();
    let u = &new.username;
    if u.is_empty()
        || u.chars().count() > 150
        || !u
            .chars()
            .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
    {
        problems
            .push("username must be 1 to 150 letters, digits or @ . + - _ (no spaces)".to_string());
    }
    if let Err(e) = efir_core::password::validate(&new.password) {
        problems.push(e);
    }
    if !new.email.is_empty() && !is_email(&new.email) {
        problems.push(format!("email `{}` is not an e-mail address", new.email));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(problems.join("; ")))
    }
}

impl Store {
    /// Creates a staff user with an argon2-hashed password.
    pub async fn create_user(&self, tx: &mut Tx, new: &NewUser) -> Result<User> {
        validate(new)?;
        if let Some(client_id) = new.client_id {
            let found: Option<i64> = with_tx!(tx, c => sqlx::query_scalar("SELECT id FROM client WHERE id = $1")
                .bind(client_id)
                .fetch_optional(c)
                .await)?;
            if found.is_none() {
                return Err(StoreError::NotFound {
                    entity: "client",
                    id: client_id.to_string(),
                });
            }
        }
        let taken: Option<i64> = with_tx!(tx, c => sqlx::query_scalar("SELECT id FROM staff_user WHERE username = $1")
            .bind(&new.username)
            .fetch_optional(c)
            .await)?;
        if taken.is_some() {
            return Err(StoreError::Conflict {
                entity: "user",
                field: "username".into(),
                value: new.username.clone(),
            });
        }
        let hash = hash_blocking(&new.password).await?;
        let ts = now();
        let sql = format!(
            "INSERT INTO staff_user (username, email, password_hash, is_active, is_admin, \
             is_superuser, monitoring_user, client_id, created_at, updated_at) \
             VALUES ($1, $2, $3, TRUE, $4, $5, $6, $7, $8, $8) RETURNING {COLUMNS}"
        );
        tx.mark_changed("staff_user");
        let user: User = with_tx!(tx, c => sqlx::query_as(&sql)
            .bind(&new.username)
            .bind(&new.email)
            .bind(&hash)
            .bind(new.is_admin)
            .bind(new.is_superuser)
            .bind(new.monitoring_user)
            .bind(new.client_id)
            .bind(ts)
            .fetch_one(c)
            .await)
        .map_err(|e| map_unique(e, "staff_user", "user", |_| new.username.clone()))?;
        tx.audit(
            user.client_id,
            "create",
            "user",
            Some(user.id.to_string()),
            json!({
                "username": user.username,
                "email": user.email,
                "is_admin": user.is_admin,
                "is_superuser": user.is_superuser,
                "monitoring_user": user.monitoring_user,
                "client_id": user.client_id,
            }),
        )
        .await?;
        Ok(user)
    }

    /// Sets a user's password (hashed with argon2).
    pub async fn set_password(&self, tx: &mut Tx, username: &str, password: &str) -> Result<User> {
        efir_core::password::validate(password).map_err(StoreError::Invalid)?;
        let hash = hash_blocking(password).await?;
        let sql = format!(
            "UPDATE staff_user SET password_hash = $1, updated_at = $2 WHERE username = $3 \
             RETURNING {COLUMNS}"
        );
        tx.mark_changed("staff_user");
        let user: Option<User> = with_tx!(tx, c => sqlx::query_as(&sql)
            .bind(&hash)
            .bind(now())
            .bind(username)
            .fetch_optional(c)
            .await)?;
        let user = user.ok_or_else(|| StoreError::NotFound {
            entity: "user",
            id: username.to_string(),
        })?;
        tx.audit(
            user.client_id,
            "password_reset",
            "user",
            Some(user.id.to_string()),
            json!({ "username": user.username }),
        )
        .await?;
        Ok(user)
    }

    /// A user by login name.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {COLUMNS} FROM staff_user WHERE username = $1");
        Ok(with_db!(self.pool(), p => sqlx::query_as(&sql).bind(username).fetch_optional(p).await)?)
    }

    /// The user `username` if `password` is theirs and they may log in.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>> {
        let user = self.user_by_username(username).await?;
        // Unknown users are checked against a dummy hash so that response
        // times do not tell which usernames exist.
        let phc = match &user {
            Some(u) => u.password_hash.clone(),
            None => DUMMY_HASH.clone(),
        };
        let matches = efir_core::password::verify_off_thread(password.to_string(), phc).await;
        Ok(user.filter(|u| matches && u.is_active))
    }

    /// Every user, by id.
    pub async fn users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {COLUMNS} FROM staff_user ORDER BY id");
        Ok(with_db!(self.pool(), p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }
}

/// A hash verified against for unknown users, made once.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| efir_core::password::hash("efir-no-such-user").unwrap_or_default());

/// Hashes a password with argon2 off the async workers, one per core at a
/// time (tens of milliseconds of CPU that would otherwise stall other
/// requests).
async fn hash_blocking(password: &str) -> Result<String> {
    efir_core::password::hash_off_thread(password.to_string())
        .await
        .map_err(StoreError::Invalid)
}
