//! `customer/tariff/list/`, `customer/tariff/subscribe/` and
//! `customer/tariff/unsubscribe/`.
//!
//! Rules: a subscriber has one basic tariff (`basic_tariff_priority` > 0);
//! additional tariffs need a basic one. Subscribing charges the tariff's
//! price from the balance at once (a negative transaction); unsubscribing
//! refunds nothing. Error codes follow the Smarty API: 2 not enough money,
//! 3 already subscribed, 4 not subscribed, 5 basic tariff rule, 6 the
//! tariff cannot be unsubscribed.

use efir_store::{with_db, with_tx, Tx};
use serde_json::{json, Value};

use super::{bad, begin, money, session_account, store_err};
use crate::device::{Call, DeviceError};
use crate::Middleware;

/// `error` when the balance does not cover the price.
const ERR_NO_FUNDS: i64 = 2;
/// `error` when the tariff is assigned already.
const ERR_ALREADY: i64 = 3;
/// `error` when the tariff is not assigned.
const ERR_NOT_SUBSCRIBED: i64 = 4;
/// `error` when the basic-tariff rule forbids the change.
const ERR_BASIC_RULE: i64 = 5;
/// `error` when the tariff cannot be unsubscribed.
const ERR_NO_UNSUBSCRIBE: i64 = 6;

/// A tariff of the operator, with whether the customer has it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct TariffRow {
    pub(super) id: i64,
    pub(super) ext_id: Option<String>,
    name: String,
    name_lang1: Option<String>,
    name_lang2: Option<String>,
    name_lang3: Option<String>,
    name_lang4: Option<String>,
    name_lang5: Option<String>,
    description: String,
    pub(super) period: i64,
    pub(super) price: i64,
    basic_tariff_priority: i64,
    available_to_unsubscribe: bool,
    icon: String,
    archived: bool,
    channels_count: i64,
    videos_count: i64,
    /// When the customer got it; `None` if not assigned.
    pub(super) assigned_at: Option<i64>,
    /// End of the subscription (operators on the subscription model).
    pub(super) subscription_end: Option<i64>,
}

impl TariffRow {
    /// The name in the call's language.
    pub(super) fn localised_name(&self, call: &Call) -> String {
        call.localised(
            &self.name,
            [
                &self.name_lang1,
                &self.name_lang2,
                &self.name_lang3,
                &self.name_lang4,
                &self.name_lang5,
            ],
        )
        .to_string()
    }

    /// The tariff as `customer/tariff/list/` shows it.
    pub(super) fn to_json(&self, call: &Call) -> Value {
        json!({
            "id": self.id,
            "name": self.localised_name(call),
            "description": self.description,
            "period": self.period,
            "price": money(self.price),
            "price_after_activation": money(self.price),
            "basic_tariff_priority": self.basic_tariff_priority,
            "is_assigned": i64::from(self.assigned_at.is_some()),
            "subscription_end_date": crate::api::format_date(self.subscription_end),
            "is_virtual": 0,
            "available_to_unsubscribe": i64::from(self.available_to_unsubscribe),
            "channels_count": self.channels_count,
            "is_periodical": i64::from(self.period > 0),
            "icon": self.icon,
            "icon_tv": self.icon,
            "videos_count": self.videos_count,
            "archived": i64::from(self.archived),
            "meta": {},
        })
    }
}

const TARIFF_SQL: &str = "SELECT t.id, t.ext_id, t.name, t.name_lang1, t.name_lang2, \
    t.name_lang3, t.name_lang4, t.name_lang5, t.description, t.period, t.price, \
    t.basic_tariff_priority, t.available_to_unsubscribe, t.icon, t.archived, \
    (SELECT COUNT(*) FROM tariff_channel tc JOIN channel c ON c.id = tc.channel_id \
       WHERE tc.tariff_id = t.id AND c.enabled) AS channels_count, \
    (SELECT COUNT(*) FROM tariff_video tv JOIN video v ON v.id = tv.video_id \
       WHERE tv.tariff_id = t.id AND v.enabled) AS videos_count, \
    ct.assigned_at, bs.end_date AS subscription_end \
    FROM tariff t LEFT JOIN customer_tariff ct ON ct.tariff_id = t.id AND ct.customer_id = $2 \
    LEFT JOIN billing_subscription bs ON bs.tariff_id = t.id AND bs.customer_id = $2 \
    WHERE t.client_id = $1 AND NOT t.archived";

/// The operator's non-archived tariffs, basic ones first, each with
/// whether `customer_id` has it.
pub(super) async fn tariff_rows(
    mw: &Middleware,
    call: &Call,
    customer_id: i64,
) -> Result<Vec<TariffRow>, DeviceError> {
    let sql = format!("{TARIFF_SQL} ORDER BY t.basic_tariff_priority DESC, t.id");
    Ok(with_db!(mw.store.pool(), p => sqlx::query_as(&sql)
        .bind(call.client.id)
        .bind(customer_id)
        .fetch_all(p)
        .await)?)
}

/// The same as [`tariff_rows`] for one tariff, read inside `tx`.
async fn tariff_in_tx(
    tx: &mut Tx,
    client_id: i64,
    customer_id: i64,
    tariff_id: i64,
) -> Result<Option<TariffRow>, DeviceError> {
    let sql = format!("{TARIFF_SQL} AND t.id = $3");
    Ok(with_tx!(tx, c => sqlx::query_as(&sql)
        .bind(client_id)
        .bind(customer_id)
        .bind(tariff_id)
        .fetch_optional(c)
        .await)?)
}

/// `customer/tariff/list/`: every non-archived tariff of the operator.
pub(super) async fn tariff_list(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (_, customer_id) = session_account(mw, call).await?;
    let rows = tariff_rows(mw, call, customer_id).await?;
    let tariffs: Vec<Value> = rows.iter().map(|t| t.to_json(call)).collect();
    Ok(json!({ "tariffs": tariffs }))
}

/// `tariff_id`, a positive whole number.
fn tariff_id_param(call: &Call) -> Result<i64, DeviceError> {
    let raw = call
        .params
        .get("tariff_id")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad("tariff_id is required"))?;
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(bad(format!("tariff_id `{raw}` is not a tariff id"))),
    }
}

/// Locks the customer row for the rest of `tx` (PostgreSQL; SQLite holds
/// the write lock from BEGIN) and returns the balance.
async fn lock_customer(tx: &mut Tx, customer_id: i64) -> Result<i64, DeviceError> {
    let sql = "UPDATE customer SET balance = balance WHERE id = $1 RETURNING balance";
    Ok(with_tx!(tx, c => sqlx::query_scalar(sql).bind(customer_id).fetch_one(c).await)?)
}

/// The customer's tariffs as `(id, basic_tariff_priority)`.
async fn assigned(tx: &mut Tx, customer_id: i64) -> Result<Vec<(i64, i64)>, DeviceError> {
    let sql = "SELECT t.id, t.basic_tariff_priority FROM customer_tariff ct \
               JOIN tariff t ON t.id = ct.tariff_id WHERE ct.customer_id = $1 AND NOT t.archived";
    Ok(with_tx!(tx, c => sqlx::query_as(sql).bind(customer_id).fetch_all(c).await)?)
}

/// Flags the customer's accounts so that devices reload their channels.
async fn touch_accounts(tx: &mut Tx, customer_id: i64, now: i64) -> Result<(), DeviceError> {
    tx.mark_changed("account");
    let sql = "UPDATE account SET channel_list_changed_at = $1 WHERE customer_id = $2";
    with_tx!(tx, c => sqlx::query(sql)
        .bind(now)
        .bind(customer_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Runs one statement with `i64`/text arguments inside `tx`.
async fn run(
    tx: &mut Tx,
    what: &'static str,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<u64, DeviceError> {
    tx.mark_changed(what);
    Ok(with_tx!(tx, c => {
        let mut q = sqlx::query(sql);
        for a in args {
            q = match a {
                Arg::I(v) => q.bind(*v),
                Arg::S(v) => q.bind(v.to_string()),
            };
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?)
}

/// An argument of [`run`].
enum Arg<'a> {
    I(i64),
    S(&'a str),
}

/// Drops `tx` and returns `e`.
async fn refuse<T>(tx: Tx, e: DeviceError) -> Result<T, DeviceError> {
    tx.rollback().await.map_err(store_err)?;
    Err(e)
}

/// `customer/tariff/subscribe/` (`tariff_id`): assigns the tariff and
/// charges its price, in one audited transaction.
pub(super) async fn subscribe(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (account_id, customer_id) = session_account(mw, call).await?;
    let tariff_id = tariff_id_param(call)?;
    let client_id = call.client.id;
    let mut tx = begin(mw, account_id).await?;
    let balance = lock_customer(&mut tx, customer_id).await?;
    let Some(tariff) = tariff_in_tx(&mut tx, client_id, customer_id, tariff_id).await? else {
        return refuse(tx, bad(format!("tariff {tariff_id} not found"))).await;
    };
    if tariff.assigned_at.is_some() {
        let e = DeviceError::new(ERR_ALREADY, "the tariff is already subscribed");
        return refuse(tx, e).await;
    }
    let current = assigned(&mut tx, customer_id).await?;
    let has_basic = current.iter().any(|(_, priority)| *priority > 0);
    if tariff.basic_tariff_priority > 0 && has_basic {
        let e = DeviceError::new(
            ERR_BASIC_RULE,
            "a basic tariff is already subscribed; only one basic tariff is allowed",
        );
        return refuse(tx, e).await;
    }
    if tariff.basic_tariff_priority == 0 && !has_basic {
        let e = DeviceError::new(
            ERR_BASIC_RULE,
            "additional tariffs need a basic tariff; subscribe to a basic tariff first",
        );
        return refuse(tx, e).await;
    }
    if tariff.price > balance {
        let e = DeviceError::new(
            ERR_NO_FUNDS,
            format!(
                "not enough money: the tariff costs {}, the balance is {}",
                money(tariff.price),
                money(balance)
            ),
        );
        return refuse(tx, e).await;
    }

    let now = efir_store::now();
    run(
        &mut tx,
        "customer_tariff",
        "INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES ($1, $2, $3)",
        &[Arg::I(customer_id), Arg::I(tariff.id), Arg::I(now)],
    )
    .await?;
    if tariff.price > 0 {
        let comment = format!("Subscription to {}", tariff.name);
        run(
            &mut tx,
            "customer_transaction",
            "INSERT INTO customer_transaction (client_id, customer_id, amount, processed, \
             transaction_type, comment, created_at) VALUES ($1, $2, $3, TRUE, 0, $4, $5)",
            &[
                Arg::I(client_id),
                Arg::I(customer_id),
                Arg::I(-tariff.price),
                Arg::S(&comment),
                Arg::I(now),
            ],
        )
        .await?;
        run(
            &mut tx,
            "customer",
            "UPDATE customer SET balance = balance - $1, updated_at = $2 WHERE id = $3",
            &[Arg::I(tariff.price), Arg::I(now), Arg::I(customer_id)],
        )
        .await?;
    }
    touch_accounts(&mut tx, customer_id, now).await?;
    tx.audit(
        Some(client_id),
        "subscribe",
        "customer_tariff",
        Some(format!("{customer_id}:{}", tariff.id)),
        json!({
            "customer_id": customer_id,
            "account_id": account_id,
            "tariff_id": tariff.id,
            "price": money(tariff.price),
            "balance_before": money(balance),
            "balance_after": money(balance.saturating_sub(tariff.price.max(0))),
        }),
    )
    .await
    .map_err(store_err)?;
    tx.commit().await.map_err(store_err)?;
    Ok(json!({ "payment_info": { "is_awaiting_payment": 0, "invoice_id": "" } }))
}

/// `customer/tariff/unsubscribe/` (`tariff_id`): removes an assigned
/// tariff that allows it. The last basic tariff cannot go while additional
/// tariffs remain (error 5). Nothing is refunded.
pub(super) async fn unsubscribe(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let (account_id, customer_id) = session_account(mw, call).await?;
    let tariff_id = tariff_id_param(call)?;
    let client_id = call.client.id;
    let mut tx = begin(mw, account_id).await?;
    lock_customer(&mut tx, customer_id).await?;
    let Some(tariff) = tariff_in_tx(&mut tx, client_id, customer_id, tariff_id).await? else {
        return refuse(tx, bad(format!("tariff {tariff_id} not found"))).await;
    };
    if tariff.assigned_at.is_none() {
        let e = DeviceError::new(ERR_NOT_SUBSCRIBED, "the tariff is not subscribed");
        return refuse(tx, e).await;
    }
    if !tariff.available_to_unsubscribe {
        let e = DeviceError::new(ERR_NO_UNSUBSCRIBE, "this tariff cannot be unsubscribed");
        return refuse(tx, e).await;
    }
    if tariff.basic_tariff_priority > 0 {
        let others = assigned(&mut tx, customer_id).await?;
        let other_basic = others.iter().any(|(id, p)| *id != tariff.id && *p > 0);
        let additional = others.iter().any(|(_, p)| *p == 0);
        if additional && !other_basic {
            let e = DeviceError::new(
                ERR_BASIC_RULE,
                "additional tariffs need a basic tariff; unsubscribe them first",
            );
            return refuse(tx, e).await;
        }
    }
    let now = efir_store::now();
    run(
        &mut tx,
        "customer_tariff",
        "DELETE FROM customer_tariff WHERE customer_id = $1 AND tariff_id = $2",
        &[Arg::I(customer_id), Arg::I(tariff.id)],
    )
    .await?;
    touch_accounts(&mut tx, customer_id, now).await?;
    tx.audit(
        Some(client_id),
        "unsubscribe",
        "customer_tariff",
        Some(format!("{customer_id}:{}", tariff.id)),
        json!({
            "customer_id": customer_id,
            "account_id": account_id,
            "tariff_id": tariff.id,
        }),
    )
    .await
    .map_err(store_err)?;
    tx.commit().await.map_err(store_err)?;
    Ok(json!({}))
}
