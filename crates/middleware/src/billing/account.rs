//! `account/*`: the logins of a customer, their devices and messages.

use efir_store::audit::Arg;
use efir_store::clients::Client;
use efir_store::Tx;
use serde_json::{json, Value};

use super::{
    begin, begin_read, exec, flag, ident, insert_id, list_values, random_digits, row, rows, unique,
};
use super::{ranged_i64, Ident};
use crate::api::{format_date, ApiError, Fields, Params};
use crate::Middleware;

/// The status reasons an account may have.
const STATUS_REASONS: [&str; 5] = ["ACTIVE", "DEBT", "BLOCK", "INACTIVE", "WAIT"];

/// An account as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct AccountRow {
    pub id: i64,
    pub customer_id: i64,
    pub abonement: String,
    pub active: bool,
    pub status_reason: String,
    pub activation_date: Option<i64>,
    pub deactivation_date: Option<i64>,
    pub extension_date: Option<i64>,
    pub auto_activation_period: Option<i64>,
    pub first_login_at: Option<i64>,
    pub allow_multiple_login: bool,
    pub allow_login_by_abonement: bool,
    pub allow_login_by_device_uid: bool,
    pub allow_login_by_ip: bool,
    pub subnets: String,
    pub allowed_device_groups: String,
    pub parent_code: String,
    pub data_center_id: Option<i64>,
    pub use_timeshift: bool,
    pub template: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, customer_id, abonement, active, status_reason, activation_date, \
    deactivation_date, extension_date, auto_activation_period, first_login_at, \
    allow_multiple_login, allow_login_by_abonement, allow_login_by_device_uid, \
    allow_login_by_ip, subnets, allowed_device_groups, parent_code, data_center_id, \
    use_timeshift, template, created_at, updated_at";

const DAY: i64 = 86_400;

impl AccountRow {
    /// Whether the trial (`auto_activation_period` days from the first
    /// login) runs now.
    pub fn on_trial_period(&self, now: i64) -> bool {
        match (self.auto_activation_period, self.first_login_at) {
            (Some(days), Some(first)) if days > 0 => now < first.saturating_add(days * DAY),
            _ => false,
        }
    }

    /// Whole days (rounded up) until the trial or the deactivation date
    /// ends; `None` when neither applies.
    pub fn activation_days_left(&self, now: i64) -> Option<i64> {
        let end = if self.on_trial_period(now) {
            self.first_login_at
                .zip(self.auto_activation_period)
                .map(|(first, days)| first.saturating_add(days * DAY))
        } else {
            self.deactivation_date
        }?;
        Some(((end - now).max(0) + DAY - 1) / DAY)
    }
}

fn account_json(a: &AccountRow) -> Value {
    let now = efir_store::now();
    let groups: Vec<i64> = a
        .allowed_device_groups
        .split(',')
        .filter_map(|g| g.trim().parse().ok())
        .collect();
    let subnets: Vec<&str> = a.subnets.split(',').filter(|s| !s.is_empty()).collect();
    json!({
        "id": a.id,
        "account_id": a.id,
        "customer_id": a.customer_id,
        "abonement": a.abonement,
        "active": flag(a.active),
        "status_reason": a.status_reason,
        "activation_date": format_date(a.activation_date),
        "deactivation_date": format_date(a.deactivation_date),
        "extension_date": format_date(a.extension_date),
        "auto_activation_period": a.auto_activation_period,
        "first_login_date": format_date(a.first_login_at),
        "activation_days_left": a.activation_days_left(now),
        "on_trial_period": flag(a.on_trial_period(now)),
        "allow_multiple_login": flag(a.allow_multiple_login),
        "allow_login_by_abonement": flag(a.allow_login_by_abonement),
        "allow_login_by_device_uid": flag(a.allow_login_by_device_uid),
        "allow_login_by_ip": flag(a.allow_login_by_ip),
        "subnets": subnets,
        "allowed_device_groups": groups,
        "parent_code": a.parent_code,
        "data_center": a.data_center_id,
        "use_timeshift": flag(a.use_timeshift),
        "template": a.template,
        "created_at": format_date(Some(a.created_at)),
        "updated_at": format_date(Some(a.updated_at)),
    })
}

/// Every account of a customer, by id.
pub(super) async fn of_customer(
    tx: &mut Tx,
    customer_id: i64,
) -> Result<Vec<AccountRow>, ApiError> {
    let sql = format!("SELECT {COLUMNS} FROM account WHERE customer_id = $1 ORDER BY id");
    Ok(rows(tx, &sql, &[Arg::I64(customer_id)]).await?)
}

/// The operator's account named by `who`.
async fn find(tx: &mut Tx, client: &Client, who: &Ident) -> Result<AccountRow, ApiError> {
    let found: Option<AccountRow> = match who {
        Ident::Id(id) => {
            let sql = format!("SELECT {COLUMNS} FROM account WHERE id = $1 AND client_id = $2");
            row(tx, &sql, &[Arg::I64(*id), Arg::I64(client.id)]).await?
        }
        Ident::Key(abonement) => {
            let sql =
                format!("SELECT {COLUMNS} FROM account WHERE abonement = $1 AND client_id = $2");
            row(
                tx,
                &sql,
                &[Arg::Text(abonement.clone()), Arg::I64(client.id)],
            )
            .await?
        }
    };
    found.ok_or_else(|| {
        ApiError::field(
            "account_id",
            format!("account {} not found", who.describe()),
        )
    })
}

/// The account named by `account_id` or `abonement`.
async fn find_by_params(tx: &mut Tx, client: &Client, p: &Params) -> Result<AccountRow, ApiError> {
    let mut f = Fields::new();
    let who = ident(&mut f, p, "account_id", "abonement");
    f.finish()?;
    let who = who.ok_or_else(|| ApiError::field("account_id", "This field is required."))?;
    find(tx, client, &who).await
}

/// Checks one subnet in CIDR notation (a bare address is a host route);
/// returns it normalised as `network/prefix`, as the device API reads it.
fn parse_subnet(s: &str) -> Option<String> {
    s.parse::<efir_core::net::Cidr>()
        .ok()
        .map(|c| c.to_string())
}

/// What `account/create` and `account/modify` may set; `None` = unchanged.
#[derive(Debug, Default)]
struct Changes {
    password: Option<String>,
    abonement: Option<String>,
    /// (column, value) pairs of every other field given.
    columns: Vec<(&'static str, Arg)>,
}

/// Validates the account fields present in `p`.
async fn read_changes(
    tx: &mut Tx,
    client: &Client,
    p: &Params,
    f: &mut Fields,
) -> Result<Changes, ApiError> {
    let mut ch = Changes::default();
    if let Some(pw) = p.get("password").filter(|v| !v.is_empty()) {
        if let Err(e) = efir_core::password::validate(pw) {
            f.error("password", e);
        }
        ch.password = Some(pw.to_string());
    }
    if let Some(a) = f.optional_str(p, "abonement", 64).filter(|a| !a.is_empty()) {
        if a.chars().any(char::is_whitespace) {
            f.error("abonement", "Must not contain spaces.");
        }
        ch.abonement = Some(a);
    }
    for name in [
        "active",
        "allow_multiple_login",
        "allow_login_by_abonement",
        "allow_login_by_device_uid",
        "allow_login_by_ip",
        "use_timeshift",
    ] {
        if let Some(b) = f.optional_bool(p, name) {
            ch.columns.push((name, Arg::Bool(b)));
        }
    }
    for name in ["activation_date", "deactivation_date", "extension_date"] {
        if let Some(d) = f.optional_date(p, name) {
            ch.columns.push((name, Arg::OptI64(d)));
        }
    }
    if p.has("auto_activation_period") {
        let v = ranged_i64(f, p, "auto_activation_period", 0, 3650);
        ch.columns.push(("auto_activation_period", Arg::OptI64(v)));
    }
    match f
        .optional_str(p, "status_reason", 16)
        .filter(|s| !s.is_empty())
    {
        Some(s) => {
            let s = s.to_ascii_uppercase();
            if !STATUS_REASONS.contains(&s.as_str()) {
                f.error(
                    "status_reason",
                    format!("Must be one of {}.", STATUS_REASONS.join(", ")),
                );
            }
            ch.columns.push(("status_reason", Arg::Text(s)));
        }
        None => {
            // A change of `active` alone sets the matching reason.
            let active = ch.columns.iter().find_map(|(c, a)| match (c, a) {
                (&"active", Arg::Bool(b)) => Some(*b),
                _ => None,
            });
            if let Some(active) = active {
                let reason = if active { "ACTIVE" } else { "INACTIVE" };
                ch.columns
                    .push(("status_reason", Arg::Text(reason.to_string())));
            }
        }
    }
    if let Some(code) = f.optional_str(p, "parent_code", 8) {
        if code.len() < 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
            f.error("parent_code", "Must be 4 to 8 digits.");
        }
        ch.columns.push(("parent_code", Arg::Text(code)));
    }
    if let Some(t) = f.optional_str(p, "template", 100) {
        ch.columns.push(("template", Arg::Text(t)));
    }
    if p.has("subnets") {
        let mut out = Vec::new();
        for s in list_values(p, "subnets") {
            match parse_subnet(&s) {
                Some(n) => out.push(n),
                None => f.error(
                    "subnets",
                    format!("`{s}` is not an IPv4 or IPv6 subnet (CIDR)."),
                ),
            }
        }
        ch.columns.push(("subnets", Arg::Text(out.join(","))));
    }
    if p.has("allowed_device_groups") {
        let mut out: Vec<i64> = Vec::new();
        for g in list_values(p, "allowed_device_groups") {
            match g.parse::<i64>() {
                Ok(n) if (0..=3).contains(&n) => {
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
                _ => f.error(
                    "allowed_device_groups",
                    format!("`{g}` is not 0 (STB), 1 (SmartTV), 2 (Mobile) or 3 (Other)."),
                ),
            }
        }
        out.sort_unstable();
        let text = out.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        ch.columns.push(("allowed_device_groups", Arg::Text(text)));
    }
    if p.has("data_center") {
        let dc = f.optional_i64(p, "data_center");
        if let Some(id) = dc {
            let found: Option<(i64,)> = row(
                tx,
                "SELECT id FROM data_center WHERE id = $1 AND client_id = $2",
                &[Arg::I64(id), Arg::I64(client.id)],
            )
            .await?;
            if found.is_none() {
                f.error("data_center", format!("data center {id} not found"));
            }
        }
        ch.columns.push(("data_center_id", Arg::OptI64(dc)));
    }
    Ok(ch)
}

/// Names of the changed fields, for the audit log (never the password).
fn changed_names(ch: &Changes) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = ch.columns.iter().map(|(c, _)| *c).collect();
    if ch.abonement.is_some() {
        names.push("abonement");
    }
    if ch.password.is_some() {
        names.push("password");
    }
    names
}

/// Hashes an account password off the async workers (argon2 takes tens of
/// milliseconds of CPU; on a worker thread it would stall other requests).
async fn hash(password: &str) -> Result<String, ApiError> {
    efir_core::password::hash_off_thread(password.to_string())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "hashing an account password failed");
            ApiError::generic("internal error")
        })
}

/// A free numeric abonement of the operator.
async fn free_abonement(tx: &mut Tx, client: &Client) -> Result<String, ApiError> {
    for _ in 0..20 {
        let candidate = format!("1{}", random_digits(9));
        let taken: Option<(i64,)> = row(
            tx,
            "SELECT id FROM account WHERE client_id = $1 AND abonement = $2",
            &[Arg::I64(client.id), Arg::Text(candidate.clone())],
        )
        .await?;
        if taken.is_none() {
            return Ok(candidate);
        }
    }
    Err(ApiError::generic("cannot generate a free abonement"))
}

/// `account/create`: `customer_id`|`ext_id`, optional `abonement`
/// (generated, numeric), `password` (generated, 8 digits), `active`,
/// `status_reason`, `activation_date`, `deactivation_date`,
/// `extension_date`, `auto_activation_period`, `allow_multiple_login`,
/// `allow_login_by_abonement|device_uid|ip`, `subnets`,
/// `allowed_device_groups`, `parent_code`, `data_center`, `template`,
/// `use_timeshift` → `account_id`, `abonement`, `password` (plain, once).
pub(super) async fn create(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    // Hash before the transaction: argon2's tens of milliseconds must not
    // be spent holding the database's write lock.
    let early_password = p
        .get("password")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| random_digits(8));
    let early_hash = hash(&early_password).await?;
    let mut tx = begin(mw, client).await?;
    let mut f = Fields::new();
    let who = ident(&mut f, p, "customer_id", "ext_id");
    let ch = read_changes(&mut tx, client, p, &mut f).await?;
    f.finish()?;
    let who = who.ok_or_else(|| ApiError::field("customer_id", "This field is required."))?;
    let customer = super::customer::find(&mut tx, client, &who, "customer_id").await?;
    let abonement = match &ch.abonement {
        Some(a) => a.clone(),
        None => free_abonement(&mut tx, client).await?,
    };
    let password = ch.password.clone().unwrap_or(early_password);
    let password_hash = if ch.password.is_none() || p.get("password") == Some(password.as_str()) {
        early_hash
    } else {
        hash(&password).await?
    };
    let now = efir_store::now();
    let mut columns = vec![
        "client_id",
        "customer_id",
        "abonement",
        "password_hash",
        "created_at",
        "updated_at",
    ];
    let mut args = vec![
        Arg::I64(client.id),
        Arg::I64(customer.id),
        Arg::Text(abonement.clone()),
        Arg::Text(password_hash),
        Arg::I64(now),
        Arg::I64(now),
    ];
    for (c, a) in &ch.columns {
        columns.push(c);
        args.push(a.clone());
    }
    let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO account ({}) VALUES ({}) RETURNING id",
        columns.join(", "),
        placeholders.join(", ")
    );
    let id = insert_id(&mut tx, "account", &sql, &args)
        .await
        .map_err(|e| unique(e, "abonement", &abonement))?;
    tx.audit(
        Some(client.id),
        "create",
        "account",
        Some(id.to_string()),
        json!({
            "customer_id": customer.id,
            "abonement": abonement,
            "fields": changed_names(&ch),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"account_id": id, "abonement": abonement, "password": password}))
}

/// `account/modify`: the account by `account_id` (then `abonement` is a
/// new value) or `abonement`; any field of `account/create` → the account.
pub(super) async fn modify(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut tx = begin(mw, client).await?;
    let mut f = Fields::new();
    let who = ident(&mut f, p, "account_id", "abonement");
    let mut ch = read_changes(&mut tx, client, p, &mut f).await?;
    f.finish()?;
    let who = who.ok_or_else(|| ApiError::field("account_id", "This field is required."))?;
    if matches!(who, Ident::Key(_)) {
        ch.abonement = None;
    }
    let account = find(&mut tx, client, &who).await?;
    let mut sets = Vec::new();
    let mut args = Vec::new();
    for (c, a) in &ch.columns {
        args.push(a.clone());
        sets.push(format!("{c} = ${}", args.len()));
    }
    if let Some(a) = &ch.abonement {
        args.push(Arg::Text(a.clone()));
        sets.push(format!("abonement = ${}", args.len()));
    }
    if let Some(pw) = &ch.password {
        args.push(Arg::Text(hash(pw).await?));
        sets.push(format!("password_hash = ${}", args.len()));
    }
    args.push(Arg::I64(efir_store::now()));
    sets.push(format!("updated_at = ${}", args.len()));
    args.push(Arg::I64(account.id));
    let sql = format!(
        "UPDATE account SET {} WHERE id = ${}",
        sets.join(", "),
        args.len()
    );
    exec(&mut tx, "account", &sql, &args)
        .await
        .map_err(|e| unique(e, "abonement", ch.abonement.as_deref().unwrap_or_default()))?;
    tx.audit(
        Some(client.id),
        "update",
        "account",
        Some(account.id.to_string()),
        json!({"fields": changed_names(&ch)}),
    )
    .await?;
    let account = find(&mut tx, client, &Ident::Id(account.id)).await?;
    tx.commit().await?;
    Ok(account_json(&account))
}

/// `account/delete`: `account_id` or `abonement`.
pub(super) async fn delete(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut tx = begin(mw, client).await?;
    let account = find_by_params(&mut tx, client, p).await?;
    exec(
        &mut tx,
        "account",
        "DELETE FROM account WHERE id = $1 AND client_id = $2",
        &[Arg::I64(account.id), Arg::I64(client.id)],
    )
    .await?;
    tx.audit(
        Some(client.id),
        "delete",
        "account",
        Some(account.id.to_string()),
        json!({"abonement": account.abonement, "customer_id": account.customer_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"account_id": account.id}))
}

/// `account/info`: `account_id` or `abonement` → the account's fields.
pub(super) async fn info(mw: &Middleware, client: &Client, p: &Params) -> Result<Value, ApiError> {
    let mut tx = begin_read(mw, client).await?;
    let account = find_by_params(&mut tx, client, p).await?;
    tx.rollback().await?;
    Ok(account_json(&account))
}

/// `account/list`: `customer_id` or `ext_id` → `accounts[…]`.
pub(super) async fn list(mw: &Middleware, client: &Client, p: &Params) -> Result<Value, ApiError> {
    let mut tx = begin_read(mw, client).await?;
    let customer = super::customer::find_by_params(&mut tx, client, p).await?;
    let accounts = of_customer(&mut tx, customer.id).await?;
    tx.rollback().await?;
    Ok(json!({
        "customer_id": customer.id,
        "accounts": accounts.iter().map(account_json).collect::<Vec<_>>(),
    }))
}

/// `account/activate` and `account/deactivate`: `account_id` or
/// `abonement`, optional `status_reason` (ACTIVE, DEBT, BLOCK, INACTIVE,
/// WAIT; default ACTIVE or INACTIVE) → `account_id`, `active`,
/// `status_reason`.
pub(super) async fn set_active(
    mw: &Middleware,
    client: &Client,
    p: &Params,
    active: bool,
) -> Result<Value, ApiError> {
    let mut f = Fields::new();
    let reason = match f
        .optional_str(p, "status_reason", 16)
        .filter(|s| !s.is_empty())
    {
        Some(s) => {
            let s = s.to_ascii_uppercase();
            if !STATUS_REASONS.contains(&s.as_str()) {
                f.error(
                    "status_reason",
                    format!("Must be one of {}.", STATUS_REASONS.join(", ")),
                );
            }
            s
        }
        None if active => "ACTIVE".to_string(),
        None => "INACTIVE".to_string(),
    };
    f.finish()?;
    let mut tx = begin(mw, client).await?;
    let account = find_by_params(&mut tx, client, p).await?;
    exec(
        &mut tx,
        "account",
        "UPDATE account SET active = $1, status_reason = $2, updated_at = $3 WHERE id = $4",
        &[
            Arg::Bool(active),
            Arg::Text(reason.clone()),
            Arg::I64(efir_store::now()),
            Arg::I64(account.id),
        ],
    )
    .await?;
    tx.audit(
        Some(client.id),
        if active { "activate" } else { "deactivate" },
        "account",
        Some(account.id.to_string()),
        json!({"status_reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"account_id": account.id, "active": flag(active), "status_reason": reason}))
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: i64,
    device_uid: String,
    device_serial: String,
    device_model: String,
    is_basic: bool,
    created_at: i64,
    last_seen_at: i64,
    system_name: Option<String>,
    device_group: Option<i64>,
}

/// `account/device/list`: `account_id` or `abonement` → `devices[{id,
/// device_uid, device_serial, device_model, device, device_group,
/// is_basic, created_at, last_seen_at}]`.
pub(super) async fn device_list(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut tx = begin_read(mw, client).await?;
    let account = find_by_params(&mut tx, client, p).await?;
    let devices: Vec<DeviceRow> = rows(
        &mut tx,
        "SELECT d.id, d.device_uid, d.device_serial, d.device_model, d.is_basic, d.created_at, \
         d.last_seen_at, pd.system_name, pd.device_group \
         FROM account_device d LEFT JOIN play_device pd ON pd.id = d.play_device_id \
         WHERE d.account_id = $1 ORDER BY d.id",
        &[Arg::I64(account.id)],
    )
    .await?;
    tx.rollback().await?;
    let devices: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "device_uid": d.device_uid,
                "device_serial": d.device_serial,
                "device_model": d.device_model,
                "device": d.system_name,
                "device_group": d.device_group,
                "is_basic": flag(d.is_basic),
                "created_at": format_date(Some(d.created_at)),
                "last_seen_at": format_date(Some(d.last_seen_at)),
            })
        })
        .collect();
    Ok(json!({"account_id": account.id, "devices": devices}))
}

/// `account/device/delete`: `account_id` or `abonement`, and `device_id`
/// or `device_uid`; unbinds the device and ends its sessions.
pub(super) async fn device_delete(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut f = Fields::new();
    let which = ident(&mut f, p, "device_id", "device_uid");
    f.finish()?;
    let which = which.ok_or_else(|| ApiError::field("device_id", "This field is required."))?;
    let mut tx = begin(mw, client).await?;
    let account = find_by_params(&mut tx, client, p).await?;
    let found: Option<(i64, String)> = match &which {
        Ident::Id(id) => {
            row(
                &mut tx,
                "SELECT id, device_uid FROM account_device WHERE id = $1 AND account_id = $2",
                &[Arg::I64(*id), Arg::I64(account.id)],
            )
            .await?
        }
        Ident::Key(uid) => row(
            &mut tx,
            "SELECT id, device_uid FROM account_device WHERE device_uid = $1 AND account_id = $2",
            &[Arg::Text(uid.clone()), Arg::I64(account.id)],
        )
        .await?,
    };
    let (device_id, uid) = found.ok_or_else(|| {
        ApiError::field(
            "device_id",
            format!("device {} not found", which.describe()),
        )
    })?;
    exec(
        &mut tx,
        "account_device",
        "DELETE FROM account_device WHERE id = $1",
        &[Arg::I64(device_id)],
    )
    .await?;
    exec(
        &mut tx,
        "account_authkey",
        "DELETE FROM account_authkey WHERE account_id = $1 AND device_uid = $2",
        &[Arg::I64(account.id), Arg::Text(uid.clone())],
    )
    .await?;
    tx.audit(
        Some(client.id),
        "device_delete",
        "account",
        Some(account.id.to_string()),
        json!({"device_id": device_id, "device_uid": uid}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"account_id": account.id, "device_id": device_id}))
}

/// A random version-4 UUID.
fn uuid4() -> String {
    let h = efir_core::secret::random_hex(16);
    let variant = ["8", "9", "a", "b"][usize::from(h.as_bytes()[16] % 4)];
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        variant,
        &h[17..20],
        &h[20..32]
    )
}

/// `account/message/create`: `account_id` or `abonement`, `text`
/// (required), `subject`, `urgent`, `no_confirmation` → `message_id`,
/// `uuid`.
pub(super) async fn message_create(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut f = Fields::new();
    let text = f.required_str(p, "text");
    if text.chars().count() > 10_000 {
        f.error("text", "At most 10000 characters.");
    }
    let subject = f.optional_str(p, "subject", 200).unwrap_or_default();
    let urgent = f.optional_bool(p, "urgent").unwrap_or(false);
    let no_confirmation = f.optional_bool(p, "no_confirmation").unwrap_or(false);
    f.finish()?;
    let mut tx = begin(mw, client).await?;
    let account = find_by_params(&mut tx, client, p).await?;
    let uuid = uuid4();
    let id = insert_id(
        &mut tx,
        "message",
        "INSERT INTO message (client_id, account_id, uuid, subject, text, urgent, \
         no_confirmation, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        &[
            Arg::I64(client.id),
            Arg::I64(account.id),
            Arg::Text(uuid.clone()),
            Arg::Text(subject.clone()),
            Arg::Text(text),
            Arg::Bool(urgent),
            Arg::Bool(no_confirmation),
            Arg::I64(efir_store::now()),
        ],
    )
    .await?;
    tx.audit(
        Some(client.id),
        "create",
        "message",
        Some(id.to_string()),
        json!({"account_id": account.id, "uuid": uuid, "subject": subject, "urgent": urgent}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"message_id": id, "uuid": uuid, "account_id": account.id}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_checked_and_normalised() {
        assert_eq!(parse_subnet("10.0.0.0/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(parse_subnet("192.0.2.7").as_deref(), Some("192.0.2.7/32"));
        assert_eq!(
            parse_subnet("192.0.2.7/24").as_deref(),
            Some("192.0.2.0/24")
        );
        assert_eq!(
            parse_subnet("2001:DB8::/32").as_deref(),
            Some("2001:db8::/32")
        );
        for bad in [
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0/8",
            "x/1",
            "10.0.0.0/-1",
            "",
        ] {
            assert_eq!(parse_subnet(bad), None, "{bad}");
        }
    }

    #[test]
    fn uuids_have_the_version_4_shape() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!("89ab".contains(&parts[3][..1]));
        assert_ne!(u, uuid4());
    }

    fn account() -> AccountRow {
        AccountRow {
            id: 1,
            customer_id: 1,
            abonement: "1".into(),
            active: true,
            status_reason: "ACTIVE".into(),
            activation_date: None,
            deactivation_date: None,
            extension_date: None,
            auto_activation_period: None,
            first_login_at: None,
            allow_multiple_login: true,
            allow_login_by_abonement: false,
            allow_login_by_device_uid: false,
            allow_login_by_ip: false,
            subnets: String::new(),
            allowed_device_groups: String::new(),
            parent_code: "0000".into(),
            data_center_id: None,
            use_timeshift: false,
            template: String::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn trial_and_days_left() {
        let now = 1_000_000;
        let mut a = account();
        assert_eq!(a.activation_days_left(now), None);
        a.deactivation_date = Some(now + DAY + 1);
        assert_eq!(a.activation_days_left(now), Some(2), "rounded up");
        a.deactivation_date = Some(now - 5);
        assert_eq!(a.activation_days_left(now), Some(0));
        a.auto_activation_period = Some(7);
        assert!(
            !a.on_trial_period(now),
            "the trial starts at the first login"
        );
        a.first_login_at = Some(now - DAY);
        assert!(a.on_trial_period(now));
        assert_eq!(a.activation_days_left(now), Some(6));
        a.first_login_at = Some(now - 8 * DAY);
        assert!(!a.on_trial_period(now));
    }
}
