//! The subscriber's own data: `customer/info`, tariff list, subscribe and
//! unsubscribe, `settings/save`, `account/parent_code/set`,
//! `portal/settings/list`.
//!
//! Every change of business data (tariffs, balance, settings, parent code)
//! runs in one audited transaction whose actor is
//! `api:device:account-<id>`; a refused call writes nothing.

mod settings;
mod tariffs;

use efir_core::money::Money;
use efir_store::{with_db, Actor, StoreError, Tx};
use serde_json::{json, Value};

use super::{Call, DeviceError, Reply, ERR_BAD_REQUEST};
use crate::api::{format_date, ApiError};
use crate::Middleware;

/// Runs `method` if it belongs here.
pub(crate) async fn dispatch(
    mw: &Middleware,
    call: &Call,
    method: &str,
) -> Option<Result<Reply, DeviceError>> {
    let result = match method {
        "customer/info" => customer_info(mw, call).await,
        "v2/customer/info" => v2_customer_info(mw, call).await,
        "customer/tariff/list" => tariffs::tariff_list(mw, call).await,
        "customer/tariff/subscribe" => tariffs::subscribe(mw, call).await,
        "customer/tariff/unsubscribe" => tariffs::unsubscribe(mw, call).await,
        "settings/save" => settings::settings_save(mw, call).await,
        "account/parent_code/set" => settings::parent_code_set(mw, call).await,
        "portal/settings/list" => settings::portal_settings(mw, call).await,
        _ => return None,
    };
    Some(result.map(Reply::from))
}

/// A store error as a device API error (500 unless it is the caller's).
fn store_err(e: StoreError) -> DeviceError {
    ApiError::from(e).into()
}

/// A 400 error.
fn bad(message: impl Into<String>) -> DeviceError {
    DeviceError::new(ERR_BAD_REQUEST, message)
}

/// Opens the audited transaction of a change made by `account_id`.
async fn begin(mw: &Middleware, account_id: i64) -> Result<Tx, DeviceError> {
    mw.store
        .begin(Actor::Api(format!("device:account-{account_id}")))
        .await
        .map_err(store_err)
}

/// Money as the APIs print it (`"12.50"`).
fn money(units: i64) -> String {
    Money(units).to_string()
}

/// The session's account: its id and its customer.
async fn session_account(mw: &Middleware, call: &Call) -> Result<(i64, i64), DeviceError> {
    let session = call.session(mw).await?;
    let sql = "SELECT customer_id FROM account WHERE id = $1 AND client_id = $2";
    let customer: Option<i64> = with_db!(mw.store.pool(), p => sqlx::query_scalar(sql)
        .bind(session.account_id)
        .bind(call.client.id)
        .fetch_optional(p)
        .await)?;
    let customer =
        customer.ok_or_else(|| DeviceError::new(super::ERR_AUTH, "authorization required"))?;
    Ok((session.account_id, customer))
}

/// An optional date parameter: Unix seconds, `YYYY-MM-DD` or
/// `YYYY-MM-DD HH:MM[:SS]`. With `end_of_day`, a bare date means the end of
/// that day.
fn date_param(call: &Call, name: &str, end_of_day: bool) -> Result<Option<i64>, DeviceError> {
    let Some(v) = call
        .params
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let t = crate::api::parse_date(v).ok_or_else(|| {
        bad(format!(
            "{name}: `{v}` is not a date (YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or Unix seconds)"
        ))
    })?;
    let bare_date = v.len() == 10 && v.contains('-');
    Ok(Some(if end_of_day && bare_date {
        t + 86_399
    } else {
        t
    }))
}

#[derive(Debug, sqlx::FromRow)]
struct CustomerRow {
    firstname: String,
    lastname: String,
    balance: i64,
    email: String,
    mobile_phone_number: String,
    id_for_payment: String,
}

#[derive(Debug, sqlx::FromRow)]
struct PaymentRow {
    amount: i64,
    transaction_type: i64,
    comment: String,
    created_at: i64,
}

/// `customer/info/` (`date_from`, `date_to` filter the payments): the
/// customer, balance, payments by kind, assigned tariffs and subscriptions.
/// `v2/customer/info/`: `customer/info/` plus `deactivation_date`,
/// `deactivation_date_to` (Unix seconds, 0 when none), `is_trial` (a trial
/// that started at the first login is running) and `autopayment_enabled`.
async fn v2_customer_info(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let mut body = customer_info(mw, call).await?;
    let (account_id, customer_id) = session_account(mw, call).await?;
    let sql = "SELECT a.deactivation_date, a.auto_activation_period, a.first_login_at, \
               c.autopayment_enabled FROM account a JOIN customer c ON c.id = a.customer_id \
               WHERE a.id = $1 AND c.id = $2";
    type Row = (Option<i64>, Option<i64>, Option<i64>, bool);
    let row: Option<Row> = with_db!(mw.store.pool(), p => sqlx::query_as(sql)
            .bind(account_id)
            .bind(customer_id)
            .fetch_optional(p)
            .await)?;
    let (deactivation, trial_days, first_login, autopayment) =
        row.ok_or_else(|| DeviceError::new(super::ERR_AUTH, "authorization required"))?;
    let now = efir_store::now();
    let is_trial = matches!(
        (trial_days, first_login, deactivation),
        (Some(days), Some(first), Some(until)) if days > 0 && until == first + days * 86_400 && until > now
    );
    if let Value::Object(map) = &mut body {
        map.insert("deactivation_date".into(), json!(deactivation.unwrap_or(0)));
        map.insert(
            "deactivation_date_to".into(),
            json!(deactivation.unwrap_or(0)),
        );
        map.insert("is_trial".into(), json!(i64::from(is_trial)));
        map.insert("autopayment_enabled".into(), json!(i64::from(autopayment)));
    }
    Ok(body)
}

async fn customer_info(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (account_id, customer_id) = session_account(mw, call).await?;
    let from = date_param(call, "date_from", false)?;
    let to = date_param(call, "date_to", true)?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(bad("date_from is after date_to"));
        }
    }
    let sql = "SELECT firstname, lastname, balance, email, mobile_phone_number, id_for_payment \
               FROM customer WHERE id = $1";
    let customer: CustomerRow = with_db!(mw.store.pool(), p => sqlx::query_as(sql)
        .bind(customer_id)
        .fetch_one(p)
        .await)?;
    let sql = "SELECT abonement, deactivation_date FROM account WHERE id = $1";
    let (abonement, deactivation): (String, Option<i64>) = with_db!(mw.store.pool(), p =>
        sqlx::query_as(sql).bind(account_id).fetch_one(p).await)?;

    let sql = "SELECT amount, transaction_type, comment, created_at FROM customer_transaction \
               WHERE customer_id = $1 AND processed AND created_at >= $2 AND created_at <= $3 \
               ORDER BY created_at DESC, id DESC";
    let payments: Vec<PaymentRow> = with_db!(mw.store.pool(), p => sqlx::query_as(sql)
        .bind(customer_id)
        .bind(from.unwrap_or(i64::MIN))
        .bind(to.unwrap_or(i64::MAX))
        .fetch_all(p)
        .await)?;
    let mut btv = Vec::new();
    let mut vod = Vec::new();
    for pay in &payments {
        let item = json!({
            "comment": pay.comment,
            "datetime": format_date(Some(pay.created_at)),
            "amount": money(pay.amount),
        });
        if pay.transaction_type == 1 {
            vod.push(item);
        } else {
            btv.push(item);
        }
    }

    let assigned: Vec<tariffs::TariffRow> = tariffs::tariff_rows(mw, call, customer_id)
        .await?
        .into_iter()
        .filter(|t| t.assigned_at.is_some())
        .collect();
    let payment_sum = assigned
        .iter()
        .filter(|t| t.period > 0)
        .fold(0i64, |sum, t| sum.saturating_add(t.price));
    let payment_period = assigned
        .iter()
        .filter(|t| t.period > 0)
        .map(|t| t.period)
        .min()
        .unwrap_or(1);
    let subscriptions: Vec<Value> = assigned
        .iter()
        .map(|t| {
            json!({
                "tariff_id": t.id,
                "tariff_name": t.localised_name(call),
                "start_date": format_date(t.assigned_at),
                "end_date": format_date(deactivation),
                "is_periodical": i64::from(t.period > 0),
                "api_name": t.ext_id.clone().unwrap_or_default(),
                "price": money(t.price),
            })
        })
        .collect();
    let now = efir_store::now();
    let days_left = deactivation.map_or(-1, |t| ((t - now).max(0) + 86_399) / 86_400);
    Ok(json!({
        "firstname": customer.firstname,
        "lastname": customer.lastname,
        "balance": money(customer.balance),
        "email": customer.email,
        "mobile_phone_number": customer.mobile_phone_number,
        "id_for_payment": customer.id_for_payment,
        "abonement": abonement,
        "payments": { "btv": btv, "vod": vod, "other": [] },
        "tariffs": assigned.iter().map(|t| t.to_json(call)).collect::<Vec<_>>(),
        "subscriptions": subscriptions,
        "payment_sum": money(payment_sum),
        "payment_sum_no_discount": money(payment_sum),
        "payment_period": payment_period,
        "current_debt_amount": money(customer.balance.min(0).saturating_neg()),
        "activation_days_left": days_left,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_prints_two_decimals() {
        assert_eq!(super::money(125_000), "12.50");
        assert_eq!(super::money(-50_000), "-5.00");
    }
}
