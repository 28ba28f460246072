//! `migrate-to-nb`: moves an operator to the "new billing" subscription
//! model, irreversibly.
//!
//! One `billing_subscription` per (customer, tariff) the customer has,
//! starting when the tariff was assigned and ending where the customer's
//! paid period ends now (the earliest `deactivation_date` of its accounts,
//! or the migration time when it has none, so that the next prepaid run
//! charges it). From then on the device API reports
//! `use_new_billing_logic=1` and each subscription's
//! `subscription_end_date`, and `check-accounts` charges and extends each
//! subscription on its own end date
//! ([`efir_middleware::billing::charge`]).

use efir_store::{with_db, with_tx, Actor, Store};
use serde::Serialize;
use serde_json::json;

use super::{operators, BillingError};

/// What the migration would do or did.
#[derive(Debug, Clone, Serialize)]
pub struct NbPlan {
    /// The operator.
    pub client_id: i64,
    /// Customers with at least one tariff.
    pub customers: i64,
    /// Subscriptions to create (one per customer and tariff).
    pub subscriptions: i64,
    /// The operator was migrated before: nothing to do.
    pub already_migrated: bool,
    /// The subscriptions were created now.
    pub applied: bool,
}

/// Plans the migration of `client_id` and, with `yes`, applies it in one
/// audited transaction.
pub async fn migrate_to_nb(
    store: &Store,
    actor: &Actor,
    client_id: i64,
    yes: bool,
    now: i64,
) -> Result<NbPlan, BillingError> {
    operators(store, Some(client_id)).await?;
    let migrated: i64 = with_db!(store.pool(), p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM billing_nb_client WHERE client_id = $1")
        .bind(client_id)
        .fetch_one(p)
        .await)?;
    let (customers, subscriptions): (i64, i64) = with_db!(store.pool(), p => sqlx::query_as(
        "SELECT COUNT(DISTINCT ct.customer_id), COUNT(*) FROM customer_tariff ct \
         JOIN customer c ON c.id = ct.customer_id WHERE c.client_id = $1")
        .bind(client_id)
        .fetch_one(p)
        .await)?;
    let mut plan = NbPlan {
        client_id,
        customers,
        subscriptions,
        already_migrated: migrated > 0,
        applied: false,
    };
    if plan.already_migrated || !yes {
        return Ok(plan);
    }
    let mut tx = store.begin(actor.clone()).await?;
    tx.mark_changed("billing_subscription");
    let marked = with_tx!(tx, c => sqlx::query(
        "INSERT INTO billing_nb_client (client_id, migrated_at) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING")
        .bind(client_id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if marked == 0 {
        tx.rollback().await?;
        plan.already_migrated = true;
        return Ok(plan);
    }
    let created = with_tx!(tx, c => sqlx::query(
        "INSERT INTO billing_subscription (client_id, customer_id, tariff_id, start_date, \
         end_date, created_at) \
         SELECT c.client_id, ct.customer_id, ct.tariff_id, ct.assigned_at, \
           COALESCE((SELECT MIN(a.deactivation_date) FROM account a \
                     WHERE a.customer_id = ct.customer_id), $2), $2 \
         FROM customer_tariff ct JOIN customer c ON c.id = ct.customer_id \
         WHERE c.client_id = $1")
        .bind(client_id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    plan.subscriptions = created as i64;
    tx.audit(
        Some(client_id),
        "migrate_to_nb",
        "client",
        Some(client_id.to_string()),
        json!({"customers": plan.customers, "subscriptions": created}),
    )
    .await?;
    tx.commit().await?;
    store
        .bump_counter(&efir_middleware::cache::generation_key(client_id))
        .await?;
    plan.applied = true;
    Ok(plan)
}
