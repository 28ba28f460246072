//! `customer/*`: the operator's subscribers, their tariffs and balance.

use efir_core::money::Money;
use efir_store::audit::Arg;
use efir_store::clients::Client;
use efir_store::Tx;
use serde_json::{json, Value};

use super::{begin, begin_read, exec, flag, ident, insert_id, row, rows, unique, Ident};
use crate::api::{format_date, ApiError, Fields, Params};
use crate::Middleware;

/// A customer as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct CustomerRow {
    pub id: i64,
    pub ext_id: Option<String>,
    pub firstname: String,
    pub lastname: String,
    pub middlename: String,
    pub email: String,
    pub mobile_phone_number: String,
    pub phone: String,
    pub address: String,
    pub comment: String,
    pub contract_number: String,
    pub id_for_payment: String,
    pub balance: i64,
    pub currency: String,
    pub autopayment_enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, ext_id, firstname, lastname, middlename, email, mobile_phone_number, \
    phone, address, comment, contract_number, id_for_payment, balance, currency, \
    autopayment_enabled, created_at, updated_at";

/// The text fields a call may set: (API name, column, longest).
const TEXT_FIELDS: [(&str, &str, usize); 10] = [
    ("firstname", "firstname", 100),
    ("lastname", "lastname", 100),
    ("middlename", "middlename", 100),
    ("email", "email", 254),
    ("mobile_phone_number", "mobile_phone_number", 32),
    ("phone_number_1", "phone", 32),
    ("address", "address", 500),
    ("comment", "comment", 2000),
    ("contract_number", "contract_number", 100),
    ("id_for_payment", "id_for_payment", 100),
];

fn customer_json(c: &CustomerRow) -> Value {
    json!({
        "id": c.id,
        "ext_id": c.ext_id,
        "firstname": c.firstname,
        "middlename": c.middlename,
        "lastname": c.lastname,
        "email": c.email,
        "mobile_phone_number": c.mobile_phone_number,
        "phone_number_1": c.phone,
        "address": c.address,
        "comment": c.comment,
        "contract_number": c.contract_number,
        "id_for_payment": c.id_for_payment,
        "balance": Money(c.balance).to_string(),
        "currency": c.currency,
        "autopayment_enabled": flag(c.autopayment_enabled),
        "created_at": format_date(Some(c.created_at)),
        "updated_at": format_date(Some(c.updated_at)),
    })
}

/// Finds the operator's customer named by `who`; `field` is the parameter
/// blamed when there is none.
pub(super) async fn find(
    tx: &mut Tx,
    client: &Client,
    who: &Ident,
    field: &str,
) -> Result<CustomerRow, ApiError> {
    let found: Option<CustomerRow> = match who {
        Ident::Id(id) => {
            let sql = format!("SELECT {COLUMNS} FROM customer WHERE id = $1 AND client_id = $2");
            row(tx, &sql, &[Arg::I64(*id), Arg::I64(client.id)]).await?
        }
        Ident::Key(ext) => {
            let sql =
                format!("SELECT {COLUMNS} FROM customer WHERE ext_id = $1 AND client_id = $2");
            row(tx, &sql, &[Arg::Text(ext.clone()), Arg::I64(client.id)]).await?
        }
    };
    found.ok_or_else(|| ApiError::field(field, format!("customer {} not found", who.describe())))
}

/// The operator's customer named by `customer_id` or `ext_id`.
pub(super) async fn find_by_params(
    tx: &mut Tx,
    client: &Client,
    p: &Params,
) -> Result<CustomerRow, ApiError> {
    let mut f = Fields::new();
    let who = ident(&mut f, p, "customer_id", "ext_id");
    f.finish()?;
    let who = who.ok_or_else(|| ApiError::field("customer_id", "This field is required."))?;
    find(tx, client, &who, "customer_id").await
}

/// Validates the text fields present in `p`: (column, value).
fn text_fields(f: &mut Fields, p: &Params) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (name, column, max) in TEXT_FIELDS {
        if let Some(v) = f.optional_str(p, name, max) {
            if name == "email" && !v.is_empty() && !efir_store::clients::is_email(&v) {
                f.error(name, format!("`{v}` is not an e-mail address."));
            }
            out.push((column, v));
        }
    }
    // Accepted for compatibility; the schema keeps neither.
    f.optional_date(p, "birthdate");
    super::ranged_i64(f, p, "auto_activation_period", 0, 3650);
    out
}

/// `customer/create`: `firstname, middlename, lastname, email,
/// mobile_phone_number, phone_number_1, address, comment, contract_number,
/// id_for_payment, ext_id` (one of the names or `comment` required) →
/// `customer_id` and the customer's fields.
pub(super) async fn create(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut f = Fields::new();
    let texts = text_fields(&mut f, p);
    let ext_id = f.optional_str(p, "ext_id", 100).filter(|v| !v.is_empty());
    let named = texts.iter().any(|(c, v)| {
        matches!(*c, "firstname" | "lastname" | "middlename" | "comment") && !v.is_empty()
    });
    if !named {
        f.error(
            "firstname",
            "One of firstname, lastname, middlename or comment is required.",
        );
    }
    f.finish()?;
    let value = |c: &str| {
        texts
            .iter()
            .find(|(col, _)| *col == c)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let now = efir_store::now();
    let mut tx = begin(mw, client).await?;
    let sql = "INSERT INTO customer (client_id, ext_id, firstname, lastname, middlename, email, \
               mobile_phone_number, phone, address, comment, contract_number, id_for_payment, \
               currency, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
               RETURNING id";
    let mut args = vec![Arg::I64(client.id), Arg::OptText(ext_id.clone())];
    for (_, column, _) in TEXT_FIELDS {
        args.push(Arg::Text(value(column)));
    }
    args.push(Arg::Text(client.currency.clone()));
    args.push(Arg::I64(now));
    let id = insert_id(&mut tx, "customer", sql, &args)
        .await
        .map_err(|e| unique(e, "ext_id", ext_id.as_deref().unwrap_or_default()))?;
    let customer = find(&mut tx, client, &Ident::Id(id), "customer_id").await?;
    tx.audit(
        Some(client.id),
        "create",
        "customer",
        Some(id.to_string()),
        json!({"ext_id": ext_id, "firstname": customer.firstname, "lastname": customer.lastname}),
    )
    .await?;
    tx.commit().await?;
    let mut out = customer_json(&customer);
    out["customer_id"] = json!(id);
    Ok(out)
}

/// `customer/modify`: the customer by `customer_id` (then `ext_id` is a new
/// value) or `ext_id`; any field of `customer/create` → the customer.
pub(super) async fn modify(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut f = Fields::new();
    let who = ident(&mut f, p, "customer_id", "ext_id");
    let texts = text_fields(&mut f, p);
    let new_ext = match who {
        Some(Ident::Id(_)) => f.optional_str(p, "ext_id", 100),
        _ => None,
    };
    f.finish()?;
    let Some(who) = who else {
        return Err(ApiError::field("customer_id", "This field is required."));
    };
    let mut tx = begin(mw, client).await?;
    let customer = find(&mut tx, client, &who, "customer_id").await?;
    let mut sets = Vec::new();
    let mut args = Vec::new();
    for (column, v) in &texts {
        args.push(Arg::Text(v.clone()));
        sets.push(format!("{column} = ${}", args.len()));
    }
    if let Some(ext) = &new_ext {
        args.push(Arg::OptText(Some(ext.clone()).filter(|v| !v.is_empty())));
        sets.push(format!("ext_id = ${}", args.len()));
    }
    args.push(Arg::I64(efir_store::now()));
    sets.push(format!("updated_at = ${}", args.len()));
    args.push(Arg::I64(customer.id));
    let sql = format!(
        "UPDATE customer SET {} WHERE id = ${}",
        sets.join(", "),
        args.len()
    );
    exec(&mut tx, "customer", &sql, &args)
        .await
        .map_err(|e| unique(e, "ext_id", new_ext.as_deref().unwrap_or_default()))?;
    let changed: Vec<&str> = texts
        .iter()
        .map(|(c, _)| *c)
        .chain(new_ext.iter().map(|_| "ext_id"))
        .collect();
    tx.audit(
        Some(client.id),
        "update",
        "customer",
        Some(customer.id.to_string()),
        json!({"fields": changed}),
    )
    .await?;
    let customer = find(&mut tx, client, &Ident::Id(customer.id), "customer_id").await?;
    tx.commit().await?;
    Ok(customer_json(&customer))
}

/// `customer/delete`: `customer_id` or `ext_id`; its accounts go with it.
pub(super) async fn delete(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut tx = begin(mw, client).await?;
    let customer = find_by_params(&mut tx, client, p).await?;
    exec(
        &mut tx,
        "customer",
        "DELETE FROM customer WHERE id = $1 AND client_id = $2",
        &[Arg::I64(customer.id), Arg::I64(client.id)],
    )
    .await?;
    tx.audit(
        Some(client.id),
        "delete",
        "customer",
        Some(customer.id.to_string()),
        json!({"ext_id": customer.ext_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"customer_id": customer.id}))
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    tariff_id: i64,
    price: i64,
    period: i64,
    assigned_at: i64,
}

/// `customer/info`: `customer_id` or `ext_id` → the customer's fields,
/// `balance`, `accounts[{id, abonement, activation_days_left,
/// on_trial_period}]`, `tariffs` (ids) and `subscriptions[{tariff_id,
/// price, start_date, end_date, is_periodical, …}]`.
pub(super) async fn info(mw: &Middleware, client: &Client, p: &Params) -> Result<Value, ApiError> {
    let mut tx = begin_read(mw, client).await?;
    let customer = find_by_params(&mut tx, client, p).await?;
    let accounts = super::account::of_customer(&mut tx, customer.id).await?;
    let subs: Vec<SubscriptionRow> = rows(
        &mut tx,
        "SELECT ct.tariff_id, t.price, t.period, ct.assigned_at \
         FROM customer_tariff ct JOIN tariff t ON t.id = ct.tariff_id \
         WHERE ct.customer_id = $1 ORDER BY ct.tariff_id",
        &[Arg::I64(customer.id)],
    )
    .await?;
    tx.rollback().await?;
    let now = efir_store::now();
    let mut out = customer_json(&customer);
    out["customer_id"] = json!(customer.id);
    out["accounts"] = accounts
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "abonement": a.abonement,
                "activation_days_left": a.activation_days_left(now),
                "on_trial_period": flag(a.on_trial_period(now)),
            })
        })
        .collect();
    out["tariffs"] = subs.iter().map(|s| s.tariff_id).collect();
    out["subscriptions"] = subs
        .iter()
        .map(|s| {
            json!({
                "tariff_id": s.tariff_id,
                "price": Money(s.price).to_string(),
                "start_date": format_date(Some(s.assigned_at)),
                "end_date": Value::Null,
                "is_periodical": flag(s.period > 0),
                "price_expiration": Value::Null,
                "is_price_overridden": 0,
                "is_closed": 0,
            })
        })
        .collect();
    Ok(out)
}

/// `customer/list`: optional `ext_id`, `limit` (default 100, at most
/// 1000), `offset` → `customers[…]`, `total`.
pub(super) async fn list(mw: &Middleware, client: &Client, p: &Params) -> Result<Value, ApiError> {
    let mut f = Fields::new();
    let ext = f.optional_str(p, "ext_id", 100).filter(|v| !v.is_empty());
    let limit = super::ranged_i64(&mut f, p, "limit", 1, 1000).unwrap_or(100);
    let offset = super::ranged_i64(&mut f, p, "offset", 0, i64::MAX).unwrap_or(0);
    f.finish()?;
    let mut tx = begin_read(mw, client).await?;
    let filter = "client_id = $1 AND ($2 IS NULL OR ext_id = $2)";
    let sql =
        format!("SELECT {COLUMNS} FROM customer WHERE {filter} ORDER BY id LIMIT $3 OFFSET $4");
    let found: Vec<CustomerRow> = rows(
        &mut tx,
        &sql,
        &[
            Arg::I64(client.id),
            Arg::OptText(ext.clone()),
            Arg::I64(limit),
            Arg::I64(offset),
        ],
    )
    .await?;
    let total: Option<(i64,)> = row(
        &mut tx,
        &format!("SELECT COUNT(*) FROM customer WHERE {filter}"),
        &[Arg::I64(client.id), Arg::OptText(ext)],
    )
    .await?;
    tx.rollback().await?;
    Ok(json!({
        "customers": found.iter().map(customer_json).collect::<Vec<_>>(),
        "total": total.map_or(0, |t| t.0),
    }))
}

#[derive(sqlx::FromRow)]
struct TariffBrief {
    id: i64,
    basic_tariff_priority: i64,
}

/// Reads `customer_id`|`ext_id` and `tariff_id`|`tariff_ext_id`.
async fn customer_and_tariff(
    tx: &mut Tx,
    client: &Client,
    p: &Params,
) -> Result<(CustomerRow, TariffBrief), ApiError> {
    let mut f = Fields::new();
    let who = ident(&mut f, p, "customer_id", "ext_id");
    let which = ident(&mut f, p, "tariff_id", "tariff_ext_id");
    f.finish()?;
    let (Some(who), Some(which)) = (who, which) else {
        return Err(ApiError::generic("customer and tariff are required"));
    };
    let customer = find(tx, client, &who, "customer_id").await?;
    let tariff: Option<TariffBrief> =
        match &which {
            Ident::Id(id) => {
                row(
                    tx,
                    "SELECT id, basic_tariff_priority FROM tariff WHERE id = $1 AND client_id = $2",
                    &[Arg::I64(*id), Arg::I64(client.id)],
                )
                .await?
            }
            Ident::Key(ext) => row(
                tx,
                "SELECT id, basic_tariff_priority FROM tariff WHERE ext_id = $1 AND client_id = $2",
                &[Arg::Text(ext.clone()), Arg::I64(client.id)],
            )
            .await?,
        };
    let tariff = tariff.ok_or_else(|| {
        ApiError::field(
            "tariff_id",
            format!("tariff {} not found", which.describe()),
        )
    })?;
    Ok((customer, tariff))
}

/// Tells the customer's devices that their channel list changed.
async fn touch_channel_lists(tx: &mut Tx, customer_id: i64) -> Result<(), ApiError> {
    exec(
        tx,
        "account",
        "UPDATE account SET channel_list_changed_at = $1 WHERE customer_id = $2",
        &[Arg::I64(efir_store::now()), Arg::I64(customer_id)],
    )
    .await?;
    Ok(())
}

/// `customer/tariff/assign`: `customer_id`|`ext_id`,
/// `tariff_id`|`tariff_ext_id`. A customer has one basic tariff: a new
/// basic tariff replaces the old one (`replaced_tariff_id`). Assigning a
/// tariff the customer has already is a success that changes nothing
/// (`assigned: 0`).
pub(super) async fn tariff_assign(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut tx = begin(mw, client).await?;
    let (customer, tariff) = customer_and_tariff(&mut tx, client, p).await?;
    let current: Vec<TariffBrief> = rows(
        &mut tx,
        "SELECT t.id, t.basic_tariff_priority FROM customer_tariff ct \
         JOIN tariff t ON t.id = ct.tariff_id WHERE ct.customer_id = $1",
        &[Arg::I64(customer.id)],
    )
    .await?;
    if current.iter().any(|t| t.id == tariff.id) {
        tx.rollback().await?;
        return Ok(json!({
            "customer_id": customer.id,
            "tariff_id": tariff.id,
            "assigned": 0,
            "replaced_tariff_id": Value::Null,
        }));
    }
    let mut replaced = None;
    if tariff.basic_tariff_priority > 0 {
        for old in current.iter().filter(|t| t.basic_tariff_priority > 0) {
            exec(
                &mut tx,
                "customer_tariff",
                "DELETE FROM customer_tariff WHERE customer_id = $1 AND tariff_id = $2",
                &[Arg::I64(customer.id), Arg::I64(old.id)],
            )
            .await?;
            replaced = Some(old.id);
        }
    }
    exec(
        &mut tx,
        "customer_tariff",
        "INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES ($1, $2, $3)",
        &[
            Arg::I64(customer.id),
            Arg::I64(tariff.id),
            Arg::I64(efir_store::now()),
        ],
    )
    .await?;
    touch_channel_lists(&mut tx, customer.id).await?;
    tx.audit(
        Some(client.id),
        "tariff_assign",
        "customer",
        Some(customer.id.to_string()),
        json!({"tariff_id": tariff.id, "replaced_tariff_id": replaced}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({
        "customer_id": customer.id,
        "tariff_id": tariff.id,
        "assigned": 1,
        "replaced_tariff_id": replaced,
    }))
}

/// `customer/tariff/remove`: `customer_id`|`ext_id`,
/// `tariff_id`|`tariff_ext_id` → `removed` (0 when it was not assigned).
pub(super) async fn tariff_remove(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut tx = begin(mw, client).await?;
    let (customer, tariff) = customer_and_tariff(&mut tx, client, p).await?;
    let n = exec(
        &mut tx,
        "customer_tariff",
        "DELETE FROM customer_tariff WHERE customer_id = $1 AND tariff_id = $2",
        &[Arg::I64(customer.id), Arg::I64(tariff.id)],
    )
    .await?;
    if n == 0 {
        tx.rollback().await?;
        return Ok(json!({"customer_id": customer.id, "tariff_id": tariff.id, "removed": 0}));
    }
    touch_channel_lists(&mut tx, customer.id).await?;
    tx.audit(
        Some(client.id),
        "tariff_remove",
        "customer",
        Some(customer.id.to_string()),
        json!({"tariff_id": tariff.id}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"customer_id": customer.id, "tariff_id": tariff.id, "removed": 1}))
}
