//! `transaction/create`: payments and charges on a customer's balance.

use efir_core::money::Money;
use efir_store::audit::Arg;
use efir_store::clients::Client;
use serde_json::{json, Value};

use super::{begin, begin_read, exec, flag, ident, insert_id, ranged_i64, row, unique};
use crate::api::{ApiError, Fields, Params};
use crate::Middleware;

/// `transaction/create`: `customer_id`|`customer_ext_id`, `amount`
/// (required, may be negative), `ext_id` (unique per operator: the same
/// `ext_id` again answers the first transaction with `duplicate: true` and
/// changes nothing), `processed` (default 1; only processed transactions
/// change the balance), `transaction_type` (0 default, 1 film), `comment`,
/// `activate_accounts` (with a resulting balance ≥ 0, activates the
/// customer's accounts) → `transaction_id`, `customer_id`, `balance`,
/// `duplicate`, `accounts_extended` (a positive processed payment on a
/// prepaid operator retries the extension of the customer's accounts,
/// [`super::charge::retry_customer`]).
pub(super) async fn create(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut f = Fields::new();
    let who = ident(&mut f, p, "customer_id", "customer_ext_id");
    let amount = f.optional_money(p, "amount");
    if !p.has("amount") {
        f.error("amount", "This field is required.");
    }
    let ext_id = f.optional_str(p, "ext_id", 100).filter(|v| !v.is_empty());
    let processed = f.optional_bool(p, "processed").unwrap_or(true);
    let kind = ranged_i64(&mut f, p, "transaction_type", 0, 1).unwrap_or(0);
    let comment = f.optional_str(p, "comment", 2000).unwrap_or_default();
    let activate = f.optional_bool(p, "activate_accounts").unwrap_or(false);
    f.finish()?;
    let (Some(who), Some(amount)) = (who, amount) else {
        return Err(ApiError::field("amount", "This field is required."));
    };
    let mut tx = begin(mw, client).await?;
    let customer = super::customer::find(&mut tx, client, &who, "customer_id").await?;
    if let Some(ext) = &ext_id {
        let first: Option<(i64, i64)> = row(
            &mut tx,
            "SELECT id, customer_id FROM customer_transaction WHERE client_id = $1 AND ext_id = $2",
            &[Arg::I64(client.id), Arg::Text(ext.clone())],
        )
        .await?;
        if let Some((id, customer_id)) = first {
            tx.rollback().await?;
            return duplicate(mw, client, id, customer_id).await;
        }
    }
    let balance = Money(customer.balance);
    let mut new_balance = if processed {
        balance
            .checked_add(amount)
            .ok_or_else(|| ApiError::field("amount", "The balance would overflow."))?
    } else {
        balance
    };
    let now = efir_store::now();
    let inserted = insert_id(
        &mut tx,
        "customer_transaction",
        "INSERT INTO customer_transaction (client_id, customer_id, ext_id, amount, processed, \
         transaction_type, comment, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING id",
        &[
            Arg::I64(client.id),
            Arg::I64(customer.id),
            Arg::OptText(ext_id.clone()),
            Arg::I64(amount.units()),
            Arg::Bool(processed),
            Arg::I64(kind),
            Arg::Text(comment),
            Arg::I64(now),
        ],
    )
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) => {
            let err = unique(e, "ext_id", ext_id.as_deref().unwrap_or_default());
            // A concurrent call with the same ext_id won the race.
            if err.fields.contains_key("ext_id") {
                if let Some(ext) = &ext_id {
                    tx.rollback().await?;
                    let mut tx = begin_read(mw, client).await?;
                    let first: Option<(i64, i64)> = row(
                        &mut tx,
                        "SELECT id, customer_id FROM customer_transaction \
                         WHERE client_id = $1 AND ext_id = $2",
                        &[Arg::I64(client.id), Arg::Text(ext.clone())],
                    )
                    .await?;
                    tx.rollback().await?;
                    if let Some((id, customer_id)) = first {
                        return duplicate(mw, client, id, customer_id).await;
                    }
                }
            }
            return Err(err);
        }
    };
    if processed {
        // An atomic increment, so that a concurrent change is never lost.
        let updated: Option<(i64,)> = row(
            &mut tx,
            "UPDATE customer SET balance = balance + $1, updated_at = $2 WHERE id = $3 \
             RETURNING balance",
            &[
                Arg::I64(amount.units()),
                Arg::I64(now),
                Arg::I64(customer.id),
            ],
        )
        .await?;
        tx.mark_changed("customer");
        let (b,) = updated.ok_or_else(|| {
            ApiError::field("customer_id", format!("customer {} not found", customer.id))
        })?;
        new_balance = Money(b);
    }
    let mut activated = 0;
    if activate && !new_balance.is_negative() {
        activated = exec(
            &mut tx,
            "account",
            "UPDATE account SET active = TRUE, status_reason = 'ACTIVE', updated_at = $1 \
             WHERE customer_id = $2 AND (active = FALSE OR status_reason <> 'ACTIVE')",
            &[Arg::I64(now), Arg::I64(customer.id)],
        )
        .await?;
    }
    tx.audit(
        Some(client.id),
        "create",
        "transaction",
        Some(id.to_string()),
        json!({
            "customer_id": customer.id,
            "ext_id": ext_id,
            "amount": amount.to_string(),
            "processed": processed,
            "transaction_type": kind,
            "balance": new_balance.to_string(),
            "accounts_activated": activated,
        }),
    )
    .await?;
    tx.commit().await?;
    // A payment on a prepaid operator retries the extension at once: a
    // debtor becomes active again when the balance now covers its tariffs.
    let mut extended = 0;
    if processed && amount.units() > 0 {
        let actor = crate::api::caller("billing", client);
        if let Some(stats) =
            super::charge::retry_customer(&mw.store, actor, client.id, customer.id, now).await?
        {
            extended = stats.extended;
            if stats.charged > 0 {
                let (b,): (i64,) = efir_store::with_db!(mw.store.pool(), p => sqlx::query_as(
                    "SELECT balance FROM customer WHERE id = $1")
                    .bind(customer.id)
                    .fetch_one(p)
                    .await)?;
                new_balance = Money(b);
            }
        }
    }
    Ok(json!({
        "transaction_id": id,
        "customer_id": customer.id,
        "balance": new_balance.to_string(),
        "duplicate": false,
        "accounts_activated": activated,
        "accounts_extended": extended,
        "processed": flag(processed),
    }))
}

/// The answer for an `ext_id` seen before.
async fn duplicate(
    mw: &Middleware,
    client: &Client,
    id: i64,
    customer_id: i64,
) -> Result<Value, ApiError> {
    let mut tx = begin_read(mw, client).await?;
    let balance: Option<(i64,)> = row(
        &mut tx,
        "SELECT balance FROM customer WHERE id = $1",
        &[Arg::I64(customer_id)],
    )
    .await?;
    tx.rollback().await?;
    Ok(json!({
        "transaction_id": id,
        "customer_id": customer_id,
        "balance": balance.map(|(b,)| Money(b).to_string()),
        "duplicate": true,
    }))
}
