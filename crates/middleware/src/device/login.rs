//! `login/` and `logout/`.
//!
//! Login modes, each only when the account allows it: abonement and
//! password; abonement alone (`allow_login_by_abonement`); a known device
//! (`allow_login_by_device_uid`); the subscriber's address
//! (`allow_login_by_ip`, matched against the account's subnets). Error codes
//! follow the Smarty API: 1 not found or wrong password, 2 inactive, 4 bad
//! `api_key`/`client_id`, 5 session limit (with the list of `devices`), 6
//! device bound to another account, 8 no tariff, 9 address outside the
//! account's subnets, 12 ambiguous IP login, 15 device group not allowed,
//! 28 too many attempts.

use serde_json::{json, Value};

use efir_store::with_db;

use super::{Call, DeviceError, Reply, ERR_BAD_REQUEST};
use crate::access;
use crate::Middleware;

/// Sessions last this long without a new login.
pub const SESSION_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone, sqlx::FromRow)]
struct AccountRow {
    id: i64,
    customer_id: i64,
    abonement: String,
    password_hash: String,
    active: bool,
    status_reason: String,
    activation_date: Option<i64>,
    deactivation_date: Option<i64>,
    auto_activation_period: Option<i64>,
    first_login_at: Option<i64>,
    allow_multiple_login: bool,
    allow_login_by_abonement: bool,
    subnets: String,
    allowed_device_groups: String,
    parent_code: String,
    data_center_id: Option<i64>,
    use_timeshift: bool,
    template: String,
    last_channel_id: Option<i64>,
}

const ACCOUNT_COLUMNS: &str = "a.id, a.customer_id, a.abonement, a.password_hash, a.active, \
    a.status_reason, a.activation_date, a.deactivation_date, a.auto_activation_period, \
    a.first_login_at, a.allow_multiple_login, a.allow_login_by_abonement, \
    a.subnets, a.allowed_device_groups, \
    a.parent_code, a.data_center_id, a.use_timeshift, a.template, a.last_channel_id";

#[derive(Debug, Clone, sqlx::FromRow)]
struct CustomerRow {
    firstname: String,
    lastname: String,
    ext_id: Option<String>,
    currency: String,
    contract_number: String,
}

fn err(code: i64, message: &str) -> DeviceError {
    DeviceError::new(code, message)
}

/// Whether the account is active now, by its flag and its dates.
fn is_active(a: &AccountRow, now: i64) -> bool {
    a.active
        && a.activation_date.is_none_or(|t| t <= now)
        && a.deactivation_date.is_none_or(|t| t > now)
}

async fn find_account(mw: &Middleware, call: &Call) -> Result<AccountRow, DeviceError> {
    let p = &call.params;
    let client_id = call.client.id;
    let abonement = p.get("abonement").map(str::trim).filter(|s| !s.is_empty());
    let password = p.get("password").filter(|s| !s.is_empty());
    let device_uid = p.get("device_uid").map(str::trim).filter(|s| !s.is_empty());
    if let Some(abonement) = abonement {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM account a WHERE a.client_id = $1 AND a.abonement = $2"
        );
        let found: Option<AccountRow> = with_db!(mw.store.pool(), p => sqlx::query_as(&sql)
            .bind(client_id)
            .bind(abonement)
            .fetch_optional(p)
            .await)?;
        let account = found.ok_or_else(|| err(1, "account not found or wrong password"))?;
        return match password {
            Some(pw) if verify(pw, &account.password_hash).await => Ok(account),
            Some(_) => Err(err(1, "account not found or wrong password")),
            None if account.allow_login_by_abonement => Ok(account),
            None => Err(err(1, "password required")),
        };
    }
    if let Some(uid) = device_uid {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM account a JOIN account_device d ON d.account_id = a.id \
             WHERE a.client_id = $1 AND d.device_uid = $2 AND a.allow_login_by_device_uid"
        );
        let found: Vec<AccountRow> = with_db!(mw.store.pool(), p => sqlx::query_as(&sql)
            .bind(client_id)
            .bind(uid)
            .fetch_all(p)
            .await)?;
        if let [account] = found.as_slice() {
            return Ok(account.clone());
        }
        if found.len() > 1 {
            return Err(err(6, "device is bound to several accounts"));
        }
    }
    // Login by address: accounts that allow it and whose subnets hold it.
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM account a WHERE a.client_id = $1 AND a.allow_login_by_ip \
         AND a.subnets <> ''"
    );
    let candidates: Vec<AccountRow> = with_db!(mw.store.pool(), p => sqlx::query_as(&sql)
        .bind(client_id)
        .fetch_all(p)
        .await)?;
    let matching: Vec<&AccountRow> = candidates
        .iter()
        .filter(|a| {
            efir_core::net::parse_list(&a.subnets)
                .map(|nets| nets.iter().any(|n| n.contains(call.ip)))
                .unwrap_or(false)
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(err(1, "account not found")),
        _ => Err(err(12, "several accounts match this address")),
    }
}

/// `login/`.
pub async fn login(mw: &Middleware, call: &Call) -> Result<Reply, DeviceError> {
    let p = &call.params;
    let api_key = p.get("api_key").unwrap_or("");
    if !efir_core::secret::constant_time_eq(api_key.as_bytes(), call.client.api_key.as_bytes()) {
        return Err(err(4, "wrong api_key or client_id"));
    }
    let ip_key = format!("ip:{}:{}", call.client.id, call.ip);
    let account_key = format!(
        "account:{}:{}",
        call.client.id,
        p.get("abonement").unwrap_or("").trim()
    );
    let limiter = &mw.device.limiter;
    if limiter.blocked(&mw.caches, &ip_key).await || limiter.blocked(&mw.caches, &account_key).await
    {
        return Err(err(
            28,
            "too many login attempts; try again in a few minutes",
        ));
    }
    let account = match find_account(mw, call).await {
        Ok(a) => a,
        Err(e) => {
            if e.code == 1 || e.code == 12 {
                limiter.failed(&mw.caches, &ip_key).await;
                limiter.failed(&mw.caches, &account_key).await;
            }
            return Err(e);
        }
    };
    limiter.succeeded(&mw.caches, &account_key).await;

    let now = efir_store::now();
    if !account.subnets.trim().is_empty() {
        let nets = efir_core::net::parse_list(&account.subnets).unwrap_or_default();
        if !nets.iter().any(|n| n.contains(call.ip)) {
            return Err(err(9, "login from this address is not allowed"));
        }
    }

    // Device class rules.
    let device = p.get("device").unwrap_or("").trim().to_string();
    let play_device: Option<(i64, i64)> = if device.is_empty() {
        None
    } else {
        let sql = "SELECT id, device_group FROM play_device WHERE system_name = $1";
        with_db!(mw.store.pool(), p => sqlx::query_as(sql).bind(&device).fetch_optional(p).await)?
    };
    if !account.allowed_device_groups.trim().is_empty() {
        let group = play_device.map_or(3, |(_, g)| g);
        let allowed: Vec<i64> = account
            .allowed_device_groups
            .split(',')
            .filter_map(|g| g.trim().parse().ok())
            .collect();
        if !allowed.contains(&group) {
            return Err(err(
                15,
                "this kind of device is not allowed for the account",
            ));
        }
    }

    // Trial: the auto-activation period starts at the first login.
    let mut account = account;
    if account.first_login_at.is_none() {
        let mut deactivation = account.deactivation_date;
        if let (Some(days), None) = (account.auto_activation_period, deactivation) {
            if days > 0 {
                deactivation = Some(now + days * 86_400);
            }
        }
        let sql = "UPDATE account SET first_login_at = $1, deactivation_date = $2 WHERE id = $3";
        with_db!(mw.store.pool(), p => sqlx::query(sql)
            .bind(now)
            .bind(deactivation)
            .bind(account.id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        account.first_login_at = Some(now);
        account.deactivation_date = deactivation;
    }

    let active = is_active(&account, now);
    let tariffs = access::customer_tariffs(&mw.store, account.customer_id).await?;
    if tariffs.is_empty() {
        return Err(err(8, "no tariff is assigned"));
    }
    if !active && !tariffs.iter().any(|t| t.available_for_inactive_accounts) {
        return Err(err(2, "account is not active"));
    }

    // Sessions: one per device; the tariffs say how many devices at once.
    let device_uid = p
        .get("device_uid")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("ip-{}", call.ip));
    if device_uid.chars().count() > 255 {
        return Err(err(
            ERR_BAD_REQUEST,
            "device_uid is longer than 255 characters",
        ));
    }
    let limit = if account.allow_multiple_login {
        tariffs
            .iter()
            .map(|t| t.sessions_count)
            .max()
            .unwrap_or(1)
            .max(1)
    } else {
        1
    };
    if let Some(unbind) = p.get("device_id_for_unbinding").filter(|s| !s.is_empty()) {
        let id: i64 = unbind
            .trim()
            .parse()
            .map_err(|_| err(27, "device_id_for_unbinding is not a device id"))?;
        let sql = "DELETE FROM account_authkey WHERE account_id = $1 AND device_uid = \
                   (SELECT device_uid FROM account_device WHERE id = $2 AND account_id = $1)";
        let removed = with_db!(mw.store.pool(), p => sqlx::query(sql)
            .bind(account.id)
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if removed == 0 {
            return Err(err(27, "no such device to unbind"));
        }
    }
    let sql = "SELECT d.id, d.device_uid, d.device_model FROM account_device d \
               WHERE d.account_id = $1 AND d.device_uid <> $2 AND EXISTS ( \
               SELECT 1 FROM account_authkey s WHERE s.account_id = d.account_id \
               AND s.device_uid = d.device_uid AND s.expires_at > $3)";
    let others: Vec<(i64, String, String)> = with_db!(mw.store.pool(), p => sqlx::query_as(sql)
        .bind(account.id)
        .bind(&device_uid)
        .bind(now)
        .fetch_all(p)
        .await)?;
    if others.len() as i64 >= limit {
        let devices: Vec<Value> = others
            .iter()
            .map(|(id, uid, model)| json!({ "id": id, "device_uid": uid, "device_model": model }))
            .collect();
        let mut e = err(
            5,
            "too many devices are logged in; unbind one with device_id_for_unbinding",
        );
        e.extra = json!({ "devices": devices });
        return Err(e);
    }

    let play_device_id = play_device.map(|(id, _)| id);
    let upsert = "INSERT INTO account_device (account_id, device_uid, play_device_id, device_serial, \
                  device_model, is_basic, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6) \
                  ON CONFLICT (account_id, device_uid) DO UPDATE SET play_device_id = excluded.play_device_id, \
                  device_serial = excluded.device_serial, device_model = excluded.device_model, \
                  last_seen_at = excluded.last_seen_at";
    let serial = p
        .get("device_serial")
        .unwrap_or("")
        .chars()
        .take(255)
        .collect::<String>();
    let model = p
        .get("device_model")
        .unwrap_or("")
        .chars()
        .take(255)
        .collect::<String>();
    with_db!(mw.store.pool(), p => sqlx::query(upsert)
        .bind(account.id)
        .bind(&device_uid)
        .bind(play_device_id)
        .bind(&serial)
        .bind(&model)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    let drop_old = "DELETE FROM account_authkey WHERE account_id = $1 AND device_uid = $2";
    with_db!(mw.store.pool(), p => sqlx::query(drop_old)
        .bind(account.id)
        .bind(&device_uid)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    let authkey = efir_core::secret::random_hex(64);
    let insert =
        "INSERT INTO account_authkey (account_id, authkey, device_uid, play_device_id, ip, \
                  created_at, expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6)";
    with_db!(mw.store.pool(), p => sqlx::query(insert)
        .bind(account.id)
        .bind(&authkey)
        .bind(&device_uid)
        .bind(play_device_id)
        .bind(call.ip.to_string())
        .bind(now)
        .bind(now + SESSION_SECS)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    super::catalog::viewstats::log_customer_event(mw, account.id, "login", call).await;

    let sql =
        "SELECT firstname, lastname, ext_id, currency, contract_number FROM customer WHERE id = $1";
    let customer: CustomerRow = with_db!(mw.store.pool(), p => sqlx::query_as(sql)
        .bind(account.customer_id)
        .fetch_one(p)
        .await)?;
    let data_centers: Vec<(i64, String, String)> = with_db!(mw.store.pool(), p => sqlx::query_as(
        "SELECT id, name, location FROM data_center WHERE client_id = $1 ORDER BY id")
        .bind(call.client.id)
        .fetch_all(p)
        .await)?;
    let days_left = account
        .deactivation_date
        .map_or(-1, |t| ((t - now).max(0) + 86_399) / 86_400);
    let status_reason = if active {
        account.status_reason.clone()
    } else if account.status_reason == "ACTIVE" {
        "INACTIVE".to_string()
    } else {
        account.status_reason.clone()
    };
    let currency = if customer.currency.is_empty() {
        call.client.currency.clone()
    } else {
        customer.currency
    };
    let body = json!({
        "authkey": authkey,
        "utc_time": now,
        "firstname": customer.firstname,
        "lastname": customer.lastname,
        "abonement": account.abonement,
        "account_id": account.id,
        "customer_id": account.customer_id,
        "meta": {},
        "customer_ext_id": customer.ext_id.unwrap_or_default(),
        "currency": currency,
        "ip_address": call.ip.to_string(),
        "activation_days_left": days_left,
        "parent_code": account.parent_code,
        "last_channel": account.last_channel_id.unwrap_or(-1),
        "device_uid": device_uid,
        "template": account.template,
        "use_timeshift": i64::from(account.use_timeshift),
        "contract_number": customer.contract_number,
        "status_reason": status_reason,
        "data_center_id": account.data_center_id,
        "data_centers": data_centers
            .iter()
            .map(|(id, name, location)| json!({ "id": id, "name": name, "location": location }))
            .collect::<Vec<_>>(),
        "reset_settings": 0,
        "confirmation_phone": "",
    });
    let cookie = |name: &str, value: &str| {
        format!("{name}={value}; Path=/; Max-Age={SESSION_SECS}; HttpOnly; SameSite=Lax")
    };
    Ok(Reply {
        body,
        cookies: vec![
            cookie("authkey", &authkey),
            cookie("device_uid", &device_uid),
        ],
        redirect: None,
        raw_json: None,
    })
}

/// `logout/`: ends the session.
pub async fn logout(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let session = call.session(mw).await?;
    mw.caches.short_forget(&session.cache_key).await;
    super::catalog::viewstats::log_customer_event(mw, session.account_id, "logout", call).await;
    let sql = "DELETE FROM account_authkey WHERE id = $1";
    with_db!(mw.store.pool(), p => sqlx::query(sql)
        .bind(session.id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(json!({}))
}

/// Whether an account row is active now (for other device methods).
pub(crate) async fn account_active(
    mw: &Middleware,
    account_id: i64,
) -> Result<(bool, String, i64), DeviceError> {
    let sql = "SELECT active, activation_date, deactivation_date, status_reason, customer_id \
               FROM account WHERE id = $1";
    type Row = (bool, Option<i64>, Option<i64>, String, i64);
    let row: Option<Row> = with_db!(mw.store.pool(), p => sqlx::query_as(sql)
        .bind(account_id)
        .fetch_optional(p)
        .await)?;
    // A session whose account was just deleted (still cached for a few
    // seconds) is simply no longer valid.
    let (flag, from, to, reason, customer) =
        row.ok_or_else(|| DeviceError::new(super::ERR_AUTH, "authorization required"))?;
    let now = efir_store::now();
    let active = flag && from.is_none_or(|t| t <= now) && to.is_none_or(|t| t > now);
    Ok((active, reason, customer))
}

/// Checks a password off the async workers: argon2 takes tens of
/// milliseconds of CPU, which on a worker thread would stall every other
/// request it serves.
async fn verify(password: &str, phc: &str) -> bool {
    efir_core::password::verify_off_thread(password.to_string(), phc.to_string()).await
}
