//! Built-in billing runs (Smarty's built-in billing): the nightly
//! `check-accounts` run, autopayments and payment status checks.
//!
//! Each operator picks a mode with the setting `billing.mode`:
//!
//! - `off` (default): external billing; Efir never touches dates or
//!   balances.
//! - `dates`: an account is active between its `activation_date` and
//!   `deactivation_date` (the trial of `auto_activation_period` days is set
//!   at first login by the device API). [`check_accounts`] deactivates
//!   active accounts past their deactivation date (status `INACTIVE`),
//!   puts active accounts whose activation date lies ahead on `WAIT`, and
//!   activates `WAIT` accounts once their activation date has come.
//!   Blocked, debtor or manually deactivated accounts are left alone.
//! - `prepaid`: monthly prepaid; the charging rules are in
//!   [`efir_middleware::billing::charge`], which this run applies to the
//!   operator's customers in chunks of [`CHUNK`] (one transaction per
//!   chunk, a few bulk statements each). A payment through the Billing API
//!   or a confirmed autopayment retries the extension at once.
//!
//! Every run is idempotent: a second run the same night changes nothing.
//! [`nb::migrate_to_nb`] moves an operator to per-tariff subscriptions.
//! Autopayments ([`payments`]) go through a [`provider::PaymentProvider`].

pub mod nb;
pub mod payments;
pub mod provider;

use efir_middleware::billing::charge::{self, ChargeStats, Mode, MODE_KEY};
use efir_store::{with_db, Actor, Store, StoreError};
use serde::Serialize;
use serde_json::json;

use crate::settings::{check_range, SettingSpec};

/// Customers per transaction of the prepaid run.
pub const CHUNK: usize = 2000;

/// Default of `billing.autopayment_lead_days`.
pub const DEFAULT_LEAD_DAYS: i64 = 1;

fn check_mode(v: &str) -> Result<(), String> {
    Mode::parse(v)
        .map(|_| ())
        .ok_or_else(|| "expected off, dates or prepaid".to_string())
}

fn check_url(v: &str) -> Result<(), String> {
    match reqwest::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err("expected an http:// or https:// URL".into()),
    }
}

fn check_key(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 500 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Err("expected 1 to 500 characters without spaces".into())
    } else {
        Ok(())
    }
}

fn check_lead_days(v: &str) -> Result<(), String> {
    check_range(v, 0, 31)
}

/// The `billing.*` keys.
pub const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: MODE_KEY,
        help: "billing mode: off (external billing, default), dates or prepaid",
        check: check_mode,
    },
    SettingSpec {
        key: "billing.provider_url",
        help: "base URL of the payment provider used for autopayments",
        check: check_url,
    },
    SettingSpec {
        key: "billing.provider_key",
        help: "bearer key Efir sends to the payment provider",
        check: check_key,
    },
    SettingSpec {
        key: "billing.autopayment_lead_days",
        help: "days before the end of a paid period when autopayments start (default 1)",
        check: check_lead_days,
    },
];

/// Errors of the billing runs.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The operator does not exist.
    #[error("operator (client) {0} not found")]
    UnknownClient(i64),
    /// A setting is missing or wrong.
    #[error("operator {client_id}: {message}")]
    Config {
        /// The operator.
        client_id: i64,
        /// What is wrong.
        message: String,
    },
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BillingError {
    fn from(e: sqlx::Error) -> Self {
        BillingError::Store(e.into())
    }
}

/// What `check-accounts` did for one operator.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorRun {
    /// The operator.
    pub client_id: i64,
    /// Its billing mode.
    pub mode: Mode,
    /// Prepaid: what was charged and extended.
    #[serde(flatten)]
    pub stats: ChargeStats,
    /// Dates: accounts activated because their activation date came.
    pub activated: u64,
    /// Dates: accounts deactivated past their deactivation date or put on
    /// `WAIT` before their activation date.
    pub expired: u64,
}

/// The operators a run covers: `client_id` (which must exist) or all.
pub async fn operators(store: &Store, client_id: Option<i64>) -> Result<Vec<i64>, BillingError> {
    let ids: Vec<i64> = with_db!(store.pool(), p => sqlx::query_scalar(
        "SELECT id FROM client WHERE ($1 IS NULL OR id = $1) ORDER BY id")
        .bind(client_id)
        .fetch_all(p)
        .await)?;
    match client_id {
        Some(id) if ids.is_empty() => Err(BillingError::UnknownClient(id)),
        _ => Ok(ids),
    }
}

/// `check-accounts`: brings every account of the operators in line with
/// their billing mode at time `now`. `progress` is called after each
/// chunk with the number of customers done.
pub async fn check_accounts(
    store: &Store,
    actor: &Actor,
    client_id: Option<i64>,
    now: i64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<OperatorRun>, BillingError> {
    let mut runs = Vec::new();
    for id in operators(store, client_id).await? {
        let mode = Mode::of(store, id).await?;
        let mut run = OperatorRun {
            client_id: id,
            mode,
            stats: ChargeStats::default(),
            activated: 0,
            expired: 0,
        };
        match mode {
            Mode::Off => {}
            Mode::Dates => {
                let (activated, expired) = check_dates(store, actor, id, now).await?;
                run.activated = activated;
                run.expired = expired;
            }
            Mode::Prepaid => run.stats = check_prepaid(store, actor, id, now, progress).await?,
        }
        if run.stats.changed() || run.activated + run.expired > 0 {
            store
                .bump_counter(&efir_middleware::cache::generation_key(id))
                .await?;
        }
        runs.push(run);
    }
    Ok(runs)
}

/// The prepaid run of one operator, chunk by chunk.
async fn check_prepaid(
    store: &Store,
    actor: &Actor,
    client_id: i64,
    now: i64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ChargeStats, BillingError> {
    let mut total = ChargeStats::default();
    let mut done = 0u64;
    let mut after = i64::MIN;
    loop {
        // The next chunk's customer ids, by keyset.
        let chunk: Vec<i64> = with_db!(store.pool(), p => sqlx::query_scalar(
            "SELECT id FROM customer WHERE client_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(client_id)
            .bind(after)
            .bind(CHUNK as i64)
            .fetch_all(p)
            .await)?;
        let (Some(&lo), Some(&hi)) = (chunk.first(), chunk.last()) else {
            break;
        };
        after = hi;
        let mut tx = store.begin(actor.clone()).await?;
        let (stats, summary) = charge::charge_range(&mut tx, client_id, lo, hi, now).await?;
        if stats.changed() {
            tx.audit(
                Some(client_id),
                "charge",
                "billing_run",
                None,
                json!({"stats": stats, "details": summary}),
            )
            .await?;
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        total.add(&stats);
        done += chunk.len() as u64;
        progress(done);
    }
    Ok(total)
}

/// The dates run of one operator: returns (activated, deactivated or put
/// on `WAIT`).
async fn check_dates(
    store: &Store,
    actor: &Actor,
    client_id: i64,
    now: i64,
) -> Result<(u64, u64), BillingError> {
    let mut tx = store.begin(actor.clone()).await?;
    let expired_sql =
        "UPDATE account SET active = FALSE, status_reason = 'INACTIVE', updated_at = $2 \
         WHERE client_id = $1 AND active AND status_reason = 'ACTIVE' \
           AND deactivation_date IS NOT NULL AND deactivation_date <= $2 RETURNING id";
    let wait_sql = "UPDATE account SET active = FALSE, status_reason = 'WAIT', updated_at = $2 \
         WHERE client_id = $1 AND active AND status_reason = 'ACTIVE' \
           AND activation_date IS NOT NULL AND activation_date > $2 RETURNING id";
    let activate_sql =
        "UPDATE account SET active = TRUE, status_reason = 'ACTIVE', updated_at = $2 \
         WHERE client_id = $1 AND status_reason = 'WAIT' \
           AND (activation_date IS NULL OR activation_date <= $2) \
           AND (deactivation_date IS NULL OR deactivation_date > $2) RETURNING id";
    let mut out = Vec::new();
    for sql in [expired_sql, wait_sql, activate_sql] {
        tx.mark_changed("account");
        let changed: Vec<i64> = efir_store::with_tx!(tx, c => sqlx::query_scalar(sql)
            .bind(client_id)
            .bind(now)
            .fetch_all(c)
            .await)?;
        out.push(changed);
    }
    let (expired, waiting, activated) = (&out[0], &out[1], &out[2]);
    if expired.is_empty() && waiting.is_empty() && activated.is_empty() {
        tx.rollback().await?;
        return Ok((0, 0));
    }
    tx.audit(
        Some(client_id),
        "check_dates",
        "billing_run",
        None,
        json!({"deactivated": expired, "waiting": waiting, "activated": activated}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        activated.len() as u64,
        (expired.len() + waiting.len()) as u64,
    ))
}
