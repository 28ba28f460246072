//! The Billing API (`/billing/api/<method>/`): customers, accounts, tariffs
//! and transactions, for the operator's billing system.
//!
//! Every object is scoped to the calling operator: an id that belongs to
//! another operator is reported as not found. Every change runs in one
//! audited transaction whose actor is `api:billing:client-<id>`. Money is
//! printed as strings with at least two decimals, dates as
//! `YYYY-MM-DD HH:MM:SS` (UTC), flags as 0/1.
//!
//! Methods:
//! * `customer/create|modify|delete|info|list`, `customer/tariff/assign|remove`;
//! * `account/create|modify|delete|info|list|activate|deactivate`,
//!   `account/device/list|delete`, `account/message/create`;
//! * `tariff/create|modify|list`, `tariff/basic/list`, `tariff/additional/list`;
//! * `transaction/create` (a processed payment retries the extension of
//!   the customer's accounts at once when the operator bills prepaid,
//!   see [`charge`]).

mod account;
pub mod charge;
mod customer;
mod tariff;
mod transaction;

use efir_store::audit::Arg;
use efir_store::clients::Client;
use efir_store::Tx;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::api::{ApiError, Fields, Params};
use crate::{unknown_method, Middleware};

/// Runs one Billing API method for `client`.
pub async fn dispatch(
    mw: &Middleware,
    client: &Client,
    method: &str,
    p: &Params,
) -> Result<Value, ApiError> {
    match method {
        "customer/create" => customer::create(mw, client, p).await,
        "customer/modify" => customer::modify(mw, client, p).await,
        "customer/delete" => customer::delete(mw, client, p).await,
        "customer/info" => customer::info(mw, client, p).await,
        "customer/list" => customer::list(mw, client, p).await,
        "customer/tariff/assign" => customer::tariff_assign(mw, client, p).await,
        "customer/tariff/remove" => customer::tariff_remove(mw, client, p).await,
        "account/create" => account::create(mw, client, p).await,
        "account/modify" => account::modify(mw, client, p).await,
        "account/delete" => account::delete(mw, client, p).await,
        "account/info" => account::info(mw, client, p).await,
        "account/list" => account::list(mw, client, p).await,
        "account/activate" => account::set_active(mw, client, p, true).await,
        "account/deactivate" => account::set_active(mw, client, p, false).await,
        "account/device/list" => account::device_list(mw, client, p).await,
        "account/device/delete" => account::device_delete(mw, client, p).await,
        "account/message/create" => account::message_create(mw, client, p).await,
        "tariff/create" => tariff::create(mw, client, p).await,
        "tariff/modify" => tariff::modify(mw, client, p).await,
        "tariff/list" => tariff::list(mw, client, p, tariff::Kind::All).await,
        "tariff/basic/list" => tariff::list(mw, client, p, tariff::Kind::Basic).await,
        "tariff/additional/list" => tariff::list(mw, client, p, tariff::Kind::Additional).await,
        "transaction/create" => transaction::create(mw, client, p).await,
        _ => Err(unknown_method("Billing", method)),
    }
}

/// Opens the audited transaction of a call by `client` that reads only.
async fn begin_read(mw: &Middleware, client: &Client) -> Result<Tx, ApiError> {
    Ok(mw
        .store
        .begin(crate::api::caller("billing", client))
        .await?)
}

/// Opens the audited transaction of a call by `client` that may write
/// (on SQLite it holds the write lock from the start, so concurrent
/// payments serialise cleanly).
async fn begin(mw: &Middleware, client: &Client) -> Result<Tx, ApiError> {
    begin_read(mw, client).await
}

/// A row type that both drivers can decode.
trait DbRow:
    for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> DbRow for T where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

/// Every row of a query, in the transaction.
async fn rows<T: DbRow>(tx: &mut Tx, sql: &str, args: &[Arg]) -> Result<Vec<T>, sqlx::Error> {
    efir_store::with_tx!(tx, c => efir_store::bind_args!(sqlx::query_as::<_, T>(sql), args).fetch_all(c).await)
}

/// At most one row of a query, in the transaction.
async fn row<T: DbRow>(tx: &mut Tx, sql: &str, args: &[Arg]) -> Result<Option<T>, sqlx::Error> {
    efir_store::with_tx!(tx, c => efir_store::bind_args!(sqlx::query_as::<_, T>(sql), args)
        .fetch_optional(c)
        .await)
}

/// Runs a statement that changes `what` (a table); returns the rows
/// affected.
async fn exec(
    tx: &mut Tx,
    what: &'static str,
    sql: &str,
    args: &[Arg],
) -> Result<u64, sqlx::Error> {
    tx.mark_changed(what);
    efir_store::with_tx!(tx, c => efir_store::bind_args!(sqlx::query(sql), args)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
}

/// Runs an `INSERT … RETURNING id` into `what`.
async fn insert_id(
    tx: &mut Tx,
    what: &'static str,
    sql: &str,
    args: &[Arg],
) -> Result<i64, sqlx::Error> {
    tx.mark_changed(what);
    let (id,): (i64,) = efir_store::with_tx!(tx, c => efir_store::bind_args!(sqlx::query_as::<_, (i64,)>(sql), args)
        .fetch_one(c)
        .await)?;
    Ok(id)
}

/// A unique violation becomes an error about `field`; other errors pass.
fn unique(err: sqlx::Error, field: &str, value: &str) -> ApiError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return ApiError::field(field, format!("`{value}` is already taken."));
        }
    }
    err.into()
}

/// A 0/1 flag as the APIs print it.
fn flag(b: bool) -> Value {
    Value::from(i64::from(b))
}

/// How a call names one object: by id or by an external key.
#[derive(Debug, Clone)]
enum Ident {
    /// The internal id.
    Id(i64),
    /// The external key (`ext_id`, `abonement`).
    Key(String),
}

impl Ident {
    /// A description for messages.
    fn describe(&self) -> String {
        match self {
            Ident::Id(id) => id.to_string(),
            Ident::Key(k) => format!("`{k}`"),
        }
    }
}

/// Reads how a call names an object: `id_name` (a number) or `key_name`
/// (text). Records an error when neither is given.
fn ident(f: &mut Fields, p: &Params, id_name: &str, key_name: &str) -> Option<Ident> {
    if let Some(id) = f.optional_i64(p, id_name) {
        return Some(Ident::Id(id));
    }
    if p.get(id_name).is_some_and(|v| !v.trim().is_empty()) {
        return None; // malformed id, already recorded
    }
    match p.get(key_name).map(str::trim) {
        Some(k) if !k.is_empty() => Some(Ident::Key(k.to_string())),
        _ => {
            f.error(
                id_name,
                format!("This field is required (or `{key_name}`)."),
            );
            None
        }
    }
}

/// An optional integer within `min..=max`.
fn ranged_i64(f: &mut Fields, p: &Params, name: &str, min: i64, max: i64) -> Option<i64> {
    let v = f.optional_i64(p, name)?;
    if !(min..=max).contains(&v) {
        f.error(name, format!("Must be from {min} to {max}."));
    }
    Some(v)
}

/// Every non-empty value of a repeatable parameter; a value may also be a
/// comma-separated list.
fn list_values(p: &Params, name: &str) -> Vec<String> {
    p.all(name)
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// Random decimal digits (`n` ≤ 18).
fn random_digits(n: usize) -> String {
    let raw = efir_core::secret::random_hex(8);
    let v = u64::from_str_radix(&raw, 16).unwrap_or_default();
    let modulus = 10u64.pow(n.min(18) as u32);
    format!("{:0width$}", v % modulus, width = n.min(18))
}
