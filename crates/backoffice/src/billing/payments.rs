//! Autopayments (`make-autopayments`) and payment status checks
//! (`check-payment-status`).
//!
//! For a prepaid operator, a customer with `autopayment_enabled` whose
//! active account's paid period ends within `billing.autopayment_lead_days`
//! and whose balance does not cover the next period of all such accounts
//! gets one payment asked of the operator's provider for the missing
//! amount. The payment is recorded first (`payment`, state `pending`, one
//! per customer and period end), then the provider is asked with the
//! payment's idempotency key, so that a crash or a retry never charges
//! twice. A confirmed payment becomes exactly one `customer_transaction`
//! (ext_id `payment:<id>`) and retries the extension at once
//! ([`efir_middleware::billing::charge::retry_customer`]); a declined one is
//! kept as such (the nightly run then deactivates the debtor). A payment
//! whose request failed stays pending and is sent again by the next run
//! with the same key; `check-payment-status` asks the provider about
//! pending payments and expires those older than the timeout.

use std::sync::Arc;

use efir_core::money::Money;
use efir_middleware::billing::charge::{retry_customer, Mode};
use efir_store::{with_db, with_tx, Actor, Store};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use super::provider::{HttpProvider, NewPayment, PaymentProvider, ProviderPayment, ProviderState};
use super::{operators, BillingError, DEFAULT_LEAD_DAYS};

/// Concurrent provider calls with `--use-pool`.
pub const POOL_SIZE: usize = 8;

/// What `make-autopayments` did for one operator.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AutopayRun {
    /// The operator.
    pub client_id: i64,
    /// Why nothing was done (mode off or dates, no provider).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Payments asked for.
    pub requested: u64,
    /// Confirmed at once.
    pub confirmed: u64,
    /// Declined.
    pub declined: u64,
    /// Still pending (or the request failed; sent again next time).
    pub pending: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Total asked for.
    pub amount: Money,
}

/// What `check-payment-status` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusRun {
    /// Pending payments looked at.
    pub checked: u64,
    /// Now confirmed.
    pub confirmed: u64,
    /// Now declined.
    pub declined: u64,
    /// Pending longer than the timeout, now expired.
    pub expired: u64,
    /// Still pending.
    pub pending: u64,
    /// Provider calls that failed.
    pub failed: u64,
}

#[derive(Debug, sqlx::FromRow)]
struct Candidate {
    customer_id: i64,
    balance: i64,
    total: i64,
    accounts: i64,
    period_end: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct PaymentRow {
    id: i64,
    client_id: i64,
    customer_id: i64,
    amount: i64,
    state: String,
    idempotency_key: String,
    provider_ref: String,
    created_at: i64,
}

/// The operator's provider from its `billing.provider_*` settings, or
/// `None` when `billing.provider_url` is not set.
pub async fn provider_for(
    store: &Store,
    client_id: i64,
) -> Result<Option<Arc<dyn PaymentProvider>>, BillingError> {
    let settings = store.client_settings(client_id).await?;
    let Some(url) = settings.get("billing.provider_url") else {
        return Ok(None);
    };
    let key = settings
        .get("billing.provider_key")
        .map(String::as_str)
        .unwrap_or_default();
    let p = HttpProvider::new(url, key).map_err(|e| BillingError::Config {
        client_id,
        message: e.to_string(),
    })?;
    Ok(Some(Arc::new(p)))
}

/// `make-autopayments`: asks the providers of prepaid operators for the
/// missing amounts; with `use_pool`, up to [`POOL_SIZE`] requests at once.
pub async fn make_autopayments(
    store: &Store,
    actor: &Actor,
    client_id: Option<i64>,
    use_pool: bool,
    now: i64,
) -> Result<Vec<AutopayRun>, BillingError> {
    let mut runs = Vec::new();
    for id in operators(store, client_id).await? {
        let mut run = AutopayRun {
            client_id: id,
            ..AutopayRun::default()
        };
        let mode = Mode::of(store, id).await?;
        if mode != Mode::Prepaid {
            run.skipped = Some(format!("billing mode is {}", mode.as_str()));
            runs.push(run);
            continue;
        }
        let Some(provider) = provider_for(store, id).await? else {
            run.skipped = Some("billing.provider_url is not set".into());
            runs.push(run);
            continue;
        };
        let settings = store.client_settings(id).await?;
        let lead_days = settings
            .get("billing.autopayment_lead_days")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(DEFAULT_LEAD_DAYS);
        let horizon = now + lead_days * 86_400;
        let sql = "SELECT c.id AS customer_id, c.balance, \
               (SELECT CAST(COALESCE(SUM(t.price), 0) AS BIGINT) FROM customer_tariff ct \
                  JOIN tariff t ON t.id = ct.tariff_id \
                  WHERE ct.customer_id = c.id AND t.period > 0 AND NOT t.archived \
                    AND t.price > 0) AS total, \
               COUNT(a.id) AS accounts, MIN(a.deactivation_date) AS period_end \
               FROM customer c JOIN account a ON a.customer_id = c.id \
               WHERE c.client_id = $1 AND c.autopayment_enabled \
                 AND a.active AND a.status_reason = 'ACTIVE' \
                 AND a.deactivation_date IS NOT NULL AND a.deactivation_date <= $2 \
               GROUP BY c.id, c.balance ORDER BY c.id";
        let candidates: Vec<Candidate> = with_db!(store.pool(), p => sqlx::query_as(sql)
            .bind(id)
            .bind(horizon)
            .fetch_all(p)
            .await)?;
        let mut payments = Vec::new();
        for c in candidates {
            let need = c.total.saturating_mul(c.accounts);
            let missing = need.saturating_sub(c.balance);
            if missing <= 0 {
                continue;
            }
            if let Some(p) = open_payment(store, actor, id, &c, missing, now).await? {
                payments.push(p);
            }
        }
        let width = if use_pool { POOL_SIZE } else { 1 };
        let results: Vec<_> = futures::stream::iter(payments)
            .map(|p| {
                let provider = provider.clone();
                async move {
                    let req = NewPayment {
                        idempotency_key: p.idempotency_key.clone(),
                        customer_id: p.customer_id,
                        amount: Money(p.amount),
                        description: format!("autopayment for customer {}", p.customer_id),
                    };
                    let answer = provider.create_payment(&req).await;
                    (p, answer)
                }
            })
            .buffer_unordered(width)
            .collect()
            .await;
        for (p, answer) in results {
            run.requested += 1;
            run.amount = Money(run.amount.units() + p.amount);
            match answer {
                Ok(a) => match record(store, actor, &p, &a, now).await? {
                    ProviderState::Confirmed => run.confirmed += 1,
                    ProviderState::Declined => run.declined += 1,
                    ProviderState::Pending => run.pending += 1,
                },
                Err(e) => {
                    tracing::warn!(payment = p.id, error = %e, "autopayment request failed");
                    note_error(store, p.id, &e.to_string(), now).await?;
                    run.failed += 1;
                    run.pending += 1;
                }
            }
        }
        runs.push(run);
    }
    Ok(runs)
}

/// The payment for a candidate's period: a new one, or one whose request
/// never reached the provider; `None` when this period was handled.
async fn open_payment(
    store: &Store,
    actor: &Actor,
    client_id: i64,
    c: &Candidate,
    missing: i64,
    now: i64,
) -> Result<Option<PaymentRow>, BillingError> {
    let select = "SELECT id, client_id, customer_id, amount, state, idempotency_key, \
                  provider_ref, created_at FROM payment WHERE customer_id = $1 AND period_end = $2";
    let existing: Option<PaymentRow> = with_db!(store.pool(), p => sqlx::query_as(select)
        .bind(c.customer_id)
        .bind(c.period_end)
        .fetch_optional(p)
        .await)?;
    if let Some(p) = existing {
        let resend = p.state == "pending" && p.provider_ref.is_empty();
        return Ok(resend.then_some(p));
    }
    let key = format!("autopay:{}:{}", c.customer_id, c.period_end);
    let mut tx = store.begin(actor.clone()).await?;
    tx.mark_changed("payment");
    let id: Option<i64> = with_tx!(tx, conn => sqlx::query_scalar(
        "INSERT INTO payment (client_id, customer_id, amount, state, idempotency_key, \
         period_end, created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6) \
         ON CONFLICT DO NOTHING RETURNING id")
        .bind(client_id)
        .bind(c.customer_id)
        .bind(missing)
        .bind(&key)
        .bind(c.period_end)
        .bind(now)
        .fetch_optional(conn)
        .await)?;
    let Some(id) = id else {
        tx.rollback().await?;
        return Ok(None);
    };
    tx.audit(
        Some(client_id),
        "create",
        "payment",
        Some(id.to_string()),
        json!({"customer_id": c.customer_id, "amount": Money(missing).to_string(),
               "period_end": c.period_end, "balance": Money(c.balance).to_string()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(PaymentRow {
        id,
        client_id,
        customer_id: c.customer_id,
        amount: missing,
        state: "pending".into(),
        idempotency_key: key,
        provider_ref: String::new(),
        created_at: now,
    }))
}

/// Records a provider's answer about a pending payment; a confirmed one
/// becomes a transaction and retries the extension.
async fn record(
    store: &Store,
    actor: &Actor,
    p: &PaymentRow,
    answer: &ProviderPayment,
    now: i64,
) -> Result<ProviderState, BillingError> {
    let state = match answer.status {
        ProviderState::Pending => "pending",
        ProviderState::Confirmed => "confirmed",
        ProviderState::Declined => "declined",
    };
    let mut tx = store.begin(actor.clone()).await?;
    tx.mark_changed("payment");
    let updated = with_tx!(tx, c => sqlx::query(
        "UPDATE payment SET state = $1, provider_ref = $2, error = $3, updated_at = $4 \
         WHERE id = $5 AND state = 'pending'")
        .bind(state)
        .bind(&answer.reference)
        .bind(&answer.message)
        .bind(now)
        .bind(p.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if updated == 0 {
        tx.rollback().await?;
        return Ok(answer.status);
    }
    let mut credited = false;
    if answer.status == ProviderState::Confirmed {
        tx.mark_changed("customer_transaction");
        let inserted: Option<i64> = with_tx!(tx, c => sqlx::query_scalar(
            "INSERT INTO customer_transaction (client_id, customer_id, ext_id, amount, processed, \
             transaction_type, comment, created_at) VALUES ($1, $2, $3, $4, TRUE, 0, $5, $6) \
             ON CONFLICT (client_id, ext_id) DO NOTHING RETURNING id")
            .bind(p.client_id)
            .bind(p.customer_id)
            .bind(format!("payment:{}", p.id))
            .bind(p.amount)
            .bind(format!("autopayment {}", answer.reference))
            .bind(now)
            .fetch_optional(c)
            .await)?;
        if inserted.is_some() {
            with_tx!(tx, c => sqlx::query(
                "UPDATE customer SET balance = balance + $1, updated_at = $2 WHERE id = $3")
                .bind(p.amount)
                .bind(now)
                .bind(p.customer_id)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?;
            credited = true;
        }
    }
    tx.audit(
        Some(p.client_id),
        state,
        "payment",
        Some(p.id.to_string()),
        json!({"customer_id": p.customer_id, "amount": Money(p.amount).to_string(),
               "reference": answer.reference, "message": answer.message, "credited": credited}),
    )
    .await?;
    tx.commit().await?;
    if credited {
        retry_customer(store, actor.clone(), p.client_id, p.customer_id, now).await?;
        store
            .bump_counter(&efir_middleware::cache::generation_key(p.client_id))
            .await?;
    }
    Ok(answer.status)
}

/// Notes a failed request on a payment (operational, not audited: the
/// payment's business state does not change).
async fn note_error(store: &Store, id: i64, error: &str, now: i64) -> Result<(), BillingError> {
    with_db!(store.pool(), p => sqlx::query(
        "UPDATE payment SET error = $1, updated_at = $2 WHERE id = $3")
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// `check-payment-status`: asks the provider about every pending payment
/// (of `client_id`, or all); confirmed → transaction and extension,
/// declined → declined, pending longer than `timeout_minutes` → expired.
pub async fn check_payment_status(
    store: &Store,
    actor: &Actor,
    client_id: Option<i64>,
    timeout_minutes: i64,
    now: i64,
) -> Result<StatusRun, BillingError> {
    if timeout_minutes < 1 {
        return Err(BillingError::Invalid(
            "--timeout-minutes must be at least 1".into(),
        ));
    }
    let ops = operators(store, client_id).await?;
    let mut run = StatusRun::default();
    for id in ops {
        let pending: Vec<PaymentRow> = with_db!(store.pool(), p => sqlx::query_as(
            "SELECT id, client_id, customer_id, amount, state, idempotency_key, provider_ref, \
             created_at FROM payment WHERE client_id = $1 AND state = 'pending' ORDER BY id")
            .bind(id)
            .fetch_all(p)
            .await)?;
        if pending.is_empty() {
            continue;
        }
        let provider = provider_for(store, id).await?;
        for p in pending {
            run.checked += 1;
            let mut state = ProviderState::Pending;
            if let (Some(provider), false) = (&provider, p.provider_ref.is_empty()) {
                match provider.payment_status(&p.provider_ref).await {
                    Ok(answer) => state = record(store, actor, &p, &answer, now).await?,
                    Err(e) => {
                        run.failed += 1;
                        note_error(store, p.id, &e.to_string(), now).await?;
                    }
                }
            }
            match state {
                ProviderState::Confirmed => run.confirmed += 1,
                ProviderState::Declined => run.declined += 1,
                ProviderState::Pending if p.created_at <= now - timeout_minutes * 60 => {
                    expire(store, actor, &p, now).await?;
                    run.expired += 1;
                }
                ProviderState::Pending => run.pending += 1,
            }
        }
    }
    Ok(run)
}

async fn expire(
    store: &Store,
    actor: &Actor,
    p: &PaymentRow,
    now: i64,
) -> Result<(), BillingError> {
    let mut tx = store.begin(actor.clone()).await?;
    tx.mark_changed("payment");
    let n = with_tx!(tx, c => sqlx::query(
        "UPDATE payment SET state = 'expired', updated_at = $1 WHERE id = $2 AND state = 'pending'")
        .bind(now)
        .bind(p.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if n == 0 {
        tx.rollback().await?;
        return Ok(());
    }
    tx.audit(
        Some(p.client_id),
        "expire",
        "payment",
        Some(p.id.to_string()),
        json!({"customer_id": p.customer_id, "amount": Money(p.amount).to_string(),
               "idempotency_key": p.idempotency_key}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
