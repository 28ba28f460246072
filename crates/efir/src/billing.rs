//! `efir manage check-accounts | make-autopayments | check-payment-status`:
//! the built-in billing runs of the back office
//! ([`efir_backoffice::billing`]).

use anyhow::Result;
use clap::Subcommand;
use efir_backoffice::billing::{self, nb, payments};
use efir_store::Actor;
use serde_json::json;

use crate::context::Ctx;
use crate::manage::Report;

/// The billing commands.
#[derive(Debug, Clone, Subcommand)]
pub enum BillingCommand {
    /// Nightly billing run: for operators whose `billing.mode` is `dates`,
    /// bring accounts in line with their activation and deactivation
    /// dates; for `prepaid`, charge every tariff of accounts whose paid
    /// period ended and extend them, or deactivate them with status DEBT
    /// when the balance is short. Idempotent: a second run the same night
    /// changes nothing. Operators with mode `off` are not touched.
    #[command(alias = "check_accounts")]
    CheckAccounts {
        /// Only this operator.
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
    },
    /// Ask the payment provider of each prepaid operator for the missing
    /// amount of customers with autopayment whose paid period ends within
    /// `billing.autopayment_lead_days` and whose balance is short. Run it
    /// right before check-accounts.
    #[command(alias = "make_autopayments")]
    MakeAutopayments {
        /// Send up to 8 provider requests at once (default: one at a time).
        #[arg(long, alias = "use_pool")]
        use_pool: bool,
        /// Only this operator.
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
    },
    /// Ask the payment providers about pending payments: confirmed ones
    /// are credited (and extend the accounts at once), payments pending
    /// longer than the timeout become expired.
    #[command(alias = "check_payment_status")]
    CheckPaymentStatus {
        /// Minutes after which a pending payment is given up.
        #[arg(long, alias = "timeout_minutes", value_parser = clap::value_parser!(i64).range(1..=525_600))]
        timeout_minutes: i64,
        /// Only this operator.
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
    },
    /// Move an operator to the subscription model ("new billing"): one
    /// subscription per customer and tariff, each charged and extended on
    /// its own end date. IRREVERSIBLE: take a backup first. Without --yes
    /// it only prints what it would do and exits with an error.
    #[command(name = "migrate-to-nb", alias = "migrate_to_nb")]
    MigrateToNb {
        /// The operator.
        #[arg(long, alias = "client_id")]
        client_id: i64,
        /// Really migrate.
        #[arg(long)]
        yes: bool,
    },
}

impl BillingCommand {
    /// The command's name (kebab-case).
    pub fn name(&self) -> &'static str {
        match self {
            BillingCommand::CheckAccounts { .. } => "check-accounts",
            BillingCommand::MakeAutopayments { .. } => "make-autopayments",
            BillingCommand::CheckPaymentStatus { .. } => "check-payment-status",
            BillingCommand::MigrateToNb { .. } => "migrate-to-nb",
        }
    }
}

/// Runs one billing command.
pub async fn run(ctx: &Ctx, cmd: BillingCommand, actor: Actor) -> Result<Report> {
    let store = ctx.store();
    let now = efir_store::now();
    match cmd {
        BillingCommand::CheckAccounts { client_id } => {
            let bar = crate::manage::spinner(ctx, "check-accounts");
            let tick = |done: u64| {
                if let Some(b) = &bar {
                    b.set_message(format!("check-accounts: {done} customers"));
                }
            };
            let runs = billing::check_accounts(store, &actor, client_id, now, &tick).await?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let mut text = String::new();
            let mut total = efir_middleware::billing::charge::ChargeStats::default();
            for r in &runs {
                total.add(&r.stats);
                text.push_str(&format!(
                    "operator {} ({}): checked {}, charged {} ({}), extended {}, deactivated {}, reactivated {}, dates: activated {}, deactivated {}\n",
                    r.client_id,
                    r.mode.as_str(),
                    r.stats.checked,
                    r.stats.charged,
                    efir_core::money::Money(r.stats.amount),
                    r.stats.extended,
                    r.stats.deactivated,
                    r.stats.reactivated,
                    r.activated,
                    r.expired,
                ));
            }
            if runs.is_empty() {
                text.push_str("no operators");
            }
            Ok(Report::new(
                text.trim_end(),
                json!({
                    "checked": total.checked,
                    "charged": total.charged,
                    "amount": efir_core::money::Money(total.amount).to_string(),
                    "extended": total.extended,
                    "deactivated": total.deactivated,
                    "reactivated": total.reactivated,
                    "operators": runs,
                }),
            ))
        }
        BillingCommand::MakeAutopayments {
            use_pool,
            client_id,
        } => {
            let runs = payments::make_autopayments(store, &actor, client_id, use_pool, now).await?;
            let mut text = String::new();
            for r in &runs {
                match &r.skipped {
                    Some(why) => text.push_str(&format!("operator {}: skipped ({why})\n", r.client_id)),
                    None => text.push_str(&format!(
                        "operator {}: requested {} ({}), confirmed {}, declined {}, pending {}, failed {}\n",
                        r.client_id, r.requested, r.amount, r.confirmed, r.declined, r.pending, r.failed
                    )),
                }
            }
            let failed: u64 = runs.iter().map(|r| r.failed).sum();
            let mut report = Report::new(text.trim_end(), json!({ "operators": runs }));
            if failed > 0 {
                report.failed = Some(format!(
                    "{failed} provider requests failed (sent again next run)"
                ));
            }
            Ok(report)
        }
        BillingCommand::MigrateToNb { client_id, yes } => {
            let plan = nb::migrate_to_nb(store, &actor, client_id, yes, now).await?;
            let text = if plan.already_migrated {
                format!("operator {client_id} already uses the subscription model; nothing to do")
            } else if plan.applied {
                format!(
                "operator {client_id} moved to the subscription model: {} subscriptions for {} customers",
                plan.subscriptions, plan.customers
            )
            } else {
                format!(
                "would create {} subscriptions for {} customers of operator {client_id} (irreversible)",
                plan.subscriptions, plan.customers
            )
            };
            let mut report = Report::new(text, serde_json::to_value(&plan)?);
            if !plan.applied && !plan.already_migrated {
                report.failed = Some(
                    "nothing changed: run again with --yes to migrate (take a backup first)".into(),
                );
            }
            Ok(report)
        }
        BillingCommand::CheckPaymentStatus {
            timeout_minutes,
            client_id,
        } => {
            let r = payments::check_payment_status(store, &actor, client_id, timeout_minutes, now)
                .await?;
            Ok(Report::new(
                format!(
                    "pending payments checked {}: confirmed {}, declined {}, expired {}, still pending {}, failed {}",
                    r.checked, r.confirmed, r.declined, r.expired, r.pending, r.failed
                ),
                serde_json::to_value(&r)?,
            ))
        }
    }
}
