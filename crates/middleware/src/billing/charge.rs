//! Monthly prepaid charging (built-in billing, Smarty's mode B), shared by
//! the back office's nightly `check-accounts` run and by payments.
//!
//! An account's paid period ends on its `deactivation_date` (or, without
//! one, `extension_date` + 1 month; an account with neither is due at
//! once). When it ends, every tariff of the customer with `period > 0`
//! (system tariffs, period 0, are free; archived tariffs are not charged)
//! is charged with one negative `customer_transaction` whose `ext_id` is
//! `charge:<account>:<tariff>:<period start yyyymmdd>`, and the account is
//! extended by the shortest period of those tariffs (calendar months, UTC;
//! a day missing in the target month becomes its last day). The new
//! period starts where the old one ended, so the calendar day is kept when
//! the run comes a little late; when it ended more than [`LATE_GRACE_SECS`]
//! ago (the account had no service meanwhile: the device API refuses it
//! after its deactivation date), the new period starts now, and past
//! periods are never charged. When the balance does not cover every
//! tariff, nothing is charged and the account is deactivated with status
//! `DEBT`; a debtor that can pay again starts a new period now.
//!
//! Only accounts with status `ACTIVE` (and active) or `DEBT` take part:
//! blocked or manually deactivated accounts are left alone.
//!
//! An operator moved to the subscription model (`migrate-to-nb`, table
//! `billing_nb_client`) is charged per subscription instead: each
//! (customer, tariff) subscription on its own end date, extended by its
//! tariff's period.
//!
//! The routine works on a range of customer ids inside the caller's
//! transaction ([`charge_range`]), set-based: a few reads for the whole
//! range, then bulk inserts and updates, so that the nightly run over a
//! million accounts is a few thousand statements, not millions. The
//! `ext_id` is unique per operator and inserts skip an `ext_id` that
//! exists, and only inserted charges change balances, so the same period
//! is never charged twice however often the run happens. On PostgreSQL the
//! customers of the range are locked first, so a payment's retry
//! ([`retry_customer`]) and the nightly run never interleave; SQLite
//! transactions hold the write lock from the start.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Months};
use efir_store::audit::{Arg, DbTx};
use efir_store::{Actor, Store, StoreError, Tx};
use serde::Serialize;
use serde_json::json;

use super::{exec, rows};

/// The setting that selects the billing mode of an operator.
pub const MODE_KEY: &str = "billing.mode";

/// How long after the end of a period a run may come and still continue
/// the period from its end date (7 days).
pub const LATE_GRACE_SECS: i64 = 7 * 86_400;

/// Rows per bulk statement (each row binds at most 8 values, which keeps
/// a statement under SQLite's and PostgreSQL's parameter limits).
const BULK_ROWS: usize = 500;

/// The billing mode of an operator (`billing.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// External billing: Efir never touches dates or balances.
    Off,
    /// Accounts are active between their activation and deactivation dates.
    Dates,
    /// Monthly prepaid: charge and extend, or deactivate with `DEBT`.
    Prepaid,
}

impl Mode {
    /// Parses a setting value.
    pub fn parse(value: &str) -> Option<Mode> {
        match value.trim() {
            "off" => Some(Mode::Off),
            "dates" => Some(Mode::Dates),
            "prepaid" => Some(Mode::Prepaid),
            _ => None,
        }
    }

    /// The operator's mode (`off` when not set).
    pub async fn of(store: &Store, client_id: i64) -> Result<Mode, StoreError> {
        let settings = store.client_settings(client_id).await?;
        Ok(settings
            .get(MODE_KEY)
            .and_then(|v| Mode::parse(v))
            .unwrap_or(Mode::Off))
    }

    /// The setting value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Dates => "dates",
            Mode::Prepaid => "prepaid",
        }
    }
}

/// What a run over some customers did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChargeStats {
    /// Accounts whose period had ended (or that were debtors).
    pub checked: u64,
    /// Charge transactions written.
    pub charged: u64,
    /// Their total, in money units (positive).
    pub amount: i64,
    /// Accounts extended.
    pub extended: u64,
    /// Accounts deactivated with `DEBT`.
    pub deactivated: u64,
    /// Debtors activated again.
    pub reactivated: u64,
}

impl ChargeStats {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &ChargeStats) {
        self.checked += o.checked;
        self.charged += o.charged;
        self.amount += o.amount;
        self.extended += o.extended;
        self.deactivated += o.deactivated;
        self.reactivated += o.reactivated;
    }

    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        self.charged + self.extended + self.deactivated + self.reactivated > 0
    }
}

#[derive(Debug, sqlx::FromRow)]
struct DueAccount {
    id: i64,
    customer_id: i64,
    status_reason: String,
    deactivation_date: Option<i64>,
    extension_date: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
struct Chargeable {
    customer_id: i64,
    tariff_id: i64,
    price: i64,
    period: i64,
}

/// One account's new state.
struct AccountChange {
    id: i64,
    active: bool,
    reason: &'static str,
    deactivation_date: Option<i64>,
    extension_date: Option<i64>,
}

/// One charge to insert.
struct Charge {
    customer_id: i64,
    ext_id: String,
    amount: i64,
    comment: String,
}

/// `t` plus `months` calendar months (UTC).
pub fn add_months(t: i64, months: i64) -> Option<i64> {
    let m = u32::try_from(months).ok()?;
    DateTime::from_timestamp(t, 0)?
        .checked_add_months(Months::new(m))
        .map(|d| d.timestamp())
}

/// `yyyymmdd` of `t` (UTC).
fn day(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// The end of an account's paid period, if it has dates.
fn period_end(a: &DueAccount) -> Option<i64> {
    a.deactivation_date
        .or_else(|| a.extension_date.and_then(|e| add_months(e, 1)))
}

/// Charges and extends the due accounts of the operator's customers with
/// ids `lo..=hi`, at time `now`, inside `tx`. Returns the counts and an
/// audit summary; the caller records the audit event (when
/// [`ChargeStats::changed`]) and commits.
pub async fn charge_range(
    tx: &mut Tx,
    client_id: i64,
    lo: i64,
    hi: i64,
    now: i64,
) -> Result<(ChargeStats, serde_json::Value), sqlx::Error> {
    if let DbTx::Postgres(t) = tx.db() {
        sqlx::query(
            "SELECT id FROM customer WHERE client_id = $1 AND id BETWEEN $2 AND $3 \
             ORDER BY id FOR UPDATE",
        )
        .bind(client_id)
        .bind(lo)
        .bind(hi)
        .fetch_all(&mut **t)
        .await?;
    }
    let range = [
        Arg::I64(client_id),
        Arg::I64(lo),
        Arg::I64(hi),
        Arg::I64(now),
    ];
    let nb: Vec<(i64,)> = rows(
        tx,
        "SELECT client_id FROM billing_nb_client WHERE client_id = $1",
        &range[..1],
    )
    .await?;
    if !nb.is_empty() {
        return charge_subscriptions(tx, client_id, lo, hi, now).await;
    }
    let due: Vec<DueAccount> = rows(
        tx,
        "SELECT id, customer_id, status_reason, deactivation_date, extension_date FROM account \
         WHERE client_id = $1 AND customer_id BETWEEN $2 AND $3 \
           AND ((active AND status_reason = 'ACTIVE') OR status_reason = 'DEBT') \
           AND (activation_date IS NULL OR activation_date <= $4) \
           AND (deactivation_date IS NULL OR deactivation_date <= $4) \
         ORDER BY customer_id, id",
        &range,
    )
    .await?;
    let due: Vec<DueAccount> = due
        .into_iter()
        .filter(|a| a.status_reason == "DEBT" || period_end(a).is_none_or(|e| e <= now))
        .collect();
    let mut stats = ChargeStats::default();
    if due.is_empty() {
        return Ok((stats, json!({})));
    }
    let balances: HashMap<i64, i64> = rows::<(i64, i64)>(
        tx,
        "SELECT id, balance FROM customer WHERE client_id = $1 AND id BETWEEN $2 AND $3",
        &range[..3],
    )
    .await?
    .into_iter()
    .collect();
    let mut tariffs: HashMap<i64, Vec<Chargeable>> = HashMap::new();
    for t in rows::<Chargeable>(
        tx,
        "SELECT ct.customer_id, t.id AS tariff_id, t.price, t.period \
         FROM customer_tariff ct JOIN tariff t ON t.id = ct.tariff_id \
         WHERE t.client_id = $1 AND ct.customer_id BETWEEN $2 AND $3 \
           AND t.period > 0 AND NOT t.archived ORDER BY ct.customer_id, t.id",
        &range[..3],
    )
    .await?
    {
        tariffs.entry(t.customer_id).or_default().push(t);
    }

    let mut balances = balances;
    let mut changes = Vec::new();
    let mut charges = Vec::new();
    let mut debtors = Vec::new();
    let mut reactivated = Vec::new();
    for a in &due {
        stats.checked += 1;
        let list = tariffs
            .get(&a.customer_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let total: i64 = list.iter().map(|t| t.price.max(0)).sum();
        let months = list.iter().map(|t| t.period).min().unwrap_or(1);
        let debtor = a.status_reason == "DEBT";
        let start = match period_end(a) {
            Some(end) if !debtor && end > now - LATE_GRACE_SECS => end,
            _ => now,
        };
        let balance = balances.entry(a.customer_id).or_insert(0);
        let mut extended = None;
        if *balance >= total {
            if let Some(end) = add_months(start, months) {
                for t in list.iter().filter(|t| t.price > 0) {
                    charges.push(Charge {
                        customer_id: a.customer_id,
                        ext_id: format!("charge:{}:{}:{}", a.id, t.tariff_id, day(start)),
                        amount: -t.price,
                        comment: format!(
                            "tariff {} from {} (account {})",
                            t.tariff_id,
                            day(start),
                            a.id
                        ),
                    });
                }
                *balance -= total;
                extended = Some((start, end));
            }
        }
        match extended {
            Some((from, until)) => {
                stats.extended += 1;
                if debtor {
                    stats.reactivated += 1;
                    reactivated.push(a.id);
                }
                changes.push(AccountChange {
                    id: a.id,
                    active: true,
                    reason: "ACTIVE",
                    deactivation_date: Some(until),
                    extension_date: Some(from),
                });
            }
            None if !debtor => {
                stats.deactivated += 1;
                debtors.push(a.id);
                changes.push(AccountChange {
                    id: a.id,
                    active: false,
                    reason: "DEBT",
                    deactivation_date: a.deactivation_date,
                    extension_date: a.extension_date,
                });
            }
            None => {}
        }
    }

    // Charges: only those inserted now change balances.
    let mut deltas: BTreeMap<i64, i64> = BTreeMap::new();
    let mut written = Vec::new();
    for chunk in charges.chunks(BULK_ROWS) {
        let mut sql = String::from(
            "INSERT INTO customer_transaction (client_id, customer_id, ext_id, amount, processed, \
             transaction_type, comment, created_at) VALUES ",
        );
        let mut args = Vec::with_capacity(chunk.len() * 6);
        for (i, c) in chunk.iter().enumerate() {
            let b = i * 6;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, TRUE, 0, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6
            ));
            args.extend([
                Arg::I64(client_id),
                Arg::I64(c.customer_id),
                Arg::Text(c.ext_id.clone()),
                Arg::I64(c.amount),
                Arg::Text(c.comment.clone()),
                Arg::I64(now),
            ]);
        }
        sql.push_str(
            " ON CONFLICT (client_id, ext_id) DO NOTHING RETURNING customer_id, amount, ext_id",
        );
        tx.mark_changed("customer_transaction");
        let inserted: Vec<(i64, i64, String)> = rows(tx, &sql, &args).await?;
        for (customer, amount, ext) in inserted {
            *deltas.entry(customer).or_default() += amount;
            stats.charged += 1;
            stats.amount -= amount;
            written.push(ext);
        }
    }
    let deltas: Vec<(i64, i64)> = deltas.into_iter().filter(|(_, d)| *d != 0).collect();
    for chunk in deltas.chunks(BULK_ROWS) {
        let values = (0..chunk.len())
            .map(|i| {
                format!(
                    "(CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                    i * 2 + 2,
                    i * 2 + 3
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "WITH v (id, delta) AS (VALUES {values}) \
             UPDATE customer SET balance = customer.balance + v.delta, updated_at = $1 \
             FROM v WHERE customer.id = v.id"
        );
        let mut args = vec![Arg::I64(now)];
        for (id, d) in chunk {
            args.extend([Arg::I64(*id), Arg::I64(*d)]);
        }
        exec(tx, "customer", &sql, &args).await?;
    }
    for chunk in changes.chunks(BULK_ROWS) {
        let values = (0..chunk.len())
            .map(|i| {
                let b = i * 5 + 1;
                format!(
                    "(CAST(${} AS BIGINT), CAST(${} AS BOOLEAN), CAST(${} AS TEXT), \
                     CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "WITH v (id, active, reason, deact, ext) AS (VALUES {values}) \
             UPDATE account SET active = v.active, status_reason = v.reason, \
             deactivation_date = v.deact, extension_date = v.ext, updated_at = $1 \
             FROM v WHERE account.id = v.id"
        );
        let mut args = vec![Arg::I64(now)];
        for c in chunk {
            args.extend([
                Arg::I64(c.id),
                Arg::Bool(c.active),
                Arg::Text(c.reason.to_string()),
                Arg::OptI64(c.deactivation_date),
                Arg::OptI64(c.extension_date),
            ]);
        }
        exec(tx, "account", &sql, &args).await?;
    }
    let summary = json!({
        "customers": [lo, hi],
        "charges": written,
        "amount": efir_core::money::Money(stats.amount).to_string(),
        "extended": changes.iter().filter(|c| c.active).map(|c| json!({"account": c.id, "until": c.deactivation_date})).collect::<Vec<_>>(),
        "deactivated": debtors,
        "reactivated": reactivated,
    });
    Ok((stats, summary))
}

#[derive(Debug, sqlx::FromRow)]
struct DueSubscription {
    id: i64,
    customer_id: i64,
    tariff_id: i64,
    end_date: i64,
    price: i64,
    period: i64,
}

/// The subscription model (after `migrate-to-nb`): each due subscription
/// of a periodic tariff is charged (`charge:sub:<id>:<start yyyymmdd>`)
/// and extended by its tariff's period on its own end date; a customer
/// who cannot pay one has its active accounts deactivated with `DEBT`,
/// and gets them back once nothing is left unpaid. Accounts'
/// `deactivation_date` follows the earliest end of their periodic
/// subscriptions. Row by row (subscription customers are few; the bulk
/// path is the classic model's).
async fn charge_subscriptions(
    tx: &mut Tx,
    client_id: i64,
    lo: i64,
    hi: i64,
    now: i64,
) -> Result<(ChargeStats, serde_json::Value), sqlx::Error> {
    let range = [
        Arg::I64(client_id),
        Arg::I64(lo),
        Arg::I64(hi),
        Arg::I64(now),
    ];
    let due: Vec<DueSubscription> = rows(
        tx,
        "SELECT s.id, s.customer_id, s.tariff_id, s.end_date, t.price, t.period \
         FROM billing_subscription s JOIN tariff t ON t.id = s.tariff_id \
         WHERE s.client_id = $1 AND s.customer_id BETWEEN $2 AND $3 AND s.end_date <= $4 \
           AND t.period > 0 AND NOT t.archived ORDER BY s.customer_id, s.end_date, s.id",
        &range,
    )
    .await?;
    let debtors_before: Vec<(i64,)> = rows(
        tx,
        "SELECT DISTINCT customer_id FROM account WHERE client_id = $1 \
         AND customer_id BETWEEN $2 AND $3 AND status_reason = 'DEBT'",
        &range[..3],
    )
    .await?;
    let mut stats = ChargeStats::default();
    if due.is_empty() && debtors_before.is_empty() {
        return Ok((stats, json!({})));
    }
    let mut balances: HashMap<i64, i64> = rows::<(i64, i64)>(
        tx,
        "SELECT id, balance FROM customer WHERE client_id = $1 AND id BETWEEN $2 AND $3",
        &range[..3],
    )
    .await?
    .into_iter()
    .collect();
    let mut unpaid: BTreeMap<i64, bool> = debtors_before.iter().map(|(c,)| (*c, false)).collect();
    let mut written = Vec::new();
    let mut touched = Vec::new();
    for d in &due {
        stats.checked += 1;
        let balance = balances.entry(d.customer_id).or_insert(0);
        let start = if d.end_date > now - LATE_GRACE_SECS {
            d.end_date
        } else {
            now
        };
        let Some(end) = add_months(start, d.period) else {
            continue;
        };
        if *balance < d.price {
            unpaid.insert(d.customer_id, true);
            continue;
        }
        unpaid.entry(d.customer_id).or_insert(false);
        if d.price > 0 {
            let ext = format!("charge:sub:{}:{}", d.id, day(start));
            tx.mark_changed("customer_transaction");
            let inserted: Vec<(i64,)> = rows(
                tx,
                "INSERT INTO customer_transaction (client_id, customer_id, ext_id, amount, \
                 processed, transaction_type, comment, created_at) \
                 VALUES ($1, $2, $3, $4, TRUE, 0, $5, $6) \
                 ON CONFLICT (client_id, ext_id) DO NOTHING RETURNING customer_id",
                &[
                    Arg::I64(client_id),
                    Arg::I64(d.customer_id),
                    Arg::Text(ext.clone()),
                    Arg::I64(-d.price),
                    Arg::Text(format!("tariff {} from {}", d.tariff_id, day(start))),
                    Arg::I64(now),
                ],
            )
            .await?;
            if !inserted.is_empty() {
                exec(
                    tx,
                    "customer",
                    "UPDATE customer SET balance = balance + $1, updated_at = $2 WHERE id = $3",
                    &[Arg::I64(-d.price), Arg::I64(now), Arg::I64(d.customer_id)],
                )
                .await?;
                stats.charged += 1;
                stats.amount += d.price;
                written.push(ext);
            }
        }
        *balance -= d.price;
        exec(
            tx,
            "billing_subscription",
            "UPDATE billing_subscription SET start_date = $1, end_date = $2 WHERE id = $3",
            &[Arg::I64(start), Arg::I64(end), Arg::I64(d.id)],
        )
        .await?;
        stats.extended += 1;
        touched.push(json!({"subscription": d.id, "until": end}));
    }
    let mut deactivated = Vec::new();
    let mut reactivated = Vec::new();
    for (customer, owes) in unpaid {
        let next_end: Vec<(Option<i64>,)> = rows(
            tx,
            "SELECT MIN(s.end_date) FROM billing_subscription s JOIN tariff t ON t.id = s.tariff_id \
             WHERE s.customer_id = $1 AND t.period > 0 AND NOT t.archived",
            &[Arg::I64(customer)],
        )
        .await?;
        let until = next_end.first().and_then(|(e,)| *e);
        let changed = if owes {
            exec(
                tx,
                "account",
                "UPDATE account SET active = FALSE, status_reason = 'DEBT', updated_at = $1 \
                 WHERE customer_id = $2 AND active AND status_reason = 'ACTIVE'",
                &[Arg::I64(now), Arg::I64(customer)],
            )
            .await?
        } else {
            exec(
                tx,
                "account",
                "UPDATE account SET active = TRUE, status_reason = 'ACTIVE', \
                 deactivation_date = $1, updated_at = $2 \
                 WHERE customer_id = $3 AND (status_reason = 'DEBT' \
                   OR (status_reason = 'ACTIVE' AND active \
                       AND (deactivation_date IS NULL OR deactivation_date <> $1)))",
                &[Arg::OptI64(until), Arg::I64(now), Arg::I64(customer)],
            )
            .await?
        };
        let was_debtor = debtors_before.iter().any(|(c,)| *c == customer);
        if owes && changed > 0 {
            stats.deactivated += changed;
            deactivated.push(customer);
        } else if !owes && was_debtor {
            stats.reactivated += changed;
            reactivated.push(customer);
        }
    }
    let summary = json!({
        "customers": [lo, hi],
        "model": "subscriptions",
        "charges": written,
        "amount": efir_core::money::Money(stats.amount).to_string(),
        "extended": touched,
        "deactivated_customers": deactivated,
        "reactivated_customers": reactivated,
    });
    Ok((stats, summary))
}

/// Retries the extension of one customer's accounts at time `now` (after
/// a payment), when the operator's mode is `prepaid`; an audited
/// transaction of its own. Returns `None` when the mode is not prepaid.
pub async fn retry_customer(
    store: &Store,
    actor: Actor,
    client_id: i64,
    customer_id: i64,
    now: i64,
) -> Result<Option<ChargeStats>, StoreError> {
    if Mode::of(store, client_id).await? != Mode::Prepaid {
        return Ok(None);
    }
    let mut tx = store.begin(actor).await?;
    let (stats, summary) = charge_range(&mut tx, client_id, customer_id, customer_id, now).await?;
    if stats.changed() {
        tx.audit(
            Some(client_id),
            "charge",
            "customer",
            Some(customer_id.to_string()),
            json!({"stats": stats, "details": summary}),
        )
        .await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(Some(stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_calendar_months_in_utc() {
        // 2026-01-31 00:00 UTC + 1 month = 2026-02-28.
        let jan31 = 1_769_817_600;
        assert_eq!(day(jan31), "20260131");
        assert_eq!(day(add_months(jan31, 1).unwrap()), "20260228");
        assert_eq!(day(add_months(jan31, 12).unwrap()), "20270131");
        assert_eq!(add_months(jan31, -1), None);
    }

    #[test]
    fn modes_parse() {
        assert_eq!(Mode::parse("prepaid"), Some(Mode::Prepaid));
        assert_eq!(Mode::parse("dates"), Some(Mode::Dates));
        assert_eq!(Mode::parse("off"), Some(Mode::Off));
        assert_eq!(Mode::parse("monthly"), None);
    }
}
