//! `efir manage resend-sms | clean-old-messages |
//! send-activation-expires-messages`: the message commands of the back
//! office (`efir_backoffice::messages`), with the Smarty names and options
//! (`resend_sms`, `--days_count`, `--client_id`, `--send_sms`).

use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::Subcommand;
use efir_backoffice::messages::outbox::DueFilter;
use efir_backoffice::messages::{clean, expiry, outbox};
use efir_store::Actor;

use crate::context::Ctx;
use crate::manage::Report;

/// The message commands.
#[derive(Debug, Clone, Subcommand)]
pub enum MessagesCommand {
    /// Send the SMS and e-mails of the outbox that are due (first sends and
    /// retries after a temporary failure); scheduled every 2 minutes.
    #[command(alias = "resend_sms")]
    ResendSms {
        /// Only this operator's messages.
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
    },
    /// Remove screen messages, sent or failed SMS and e-mails, and expiry
    /// notices older than N days.
    #[command(alias = "clean_old_messages")]
    CleanOldMessages {
        /// Age in days (at least 1).
        #[arg(long, alias = "days_count", allow_hyphen_values = true,
              value_parser = clap::value_parser!(i64).range(1..=36_500))]
        days_count: i64,
        /// Only this operator's messages.
        #[arg(long, alias = "client_id")]
        client_id: Option<i64>,
    },
    /// Warn the accounts whose deactivation date (or paid period end) falls
    /// within the next N days with a screen message and, with --send-sms or
    /// --send-email, an SMS or e-mail; each account once per end date (run
    /// it every evening).
    #[command(alias = "send_activation_expires_messages")]
    SendActivationExpiresMessages {
        /// The operator.
        #[arg(long, alias = "client_id")]
        client_id: i64,
        /// Days ahead, 1 to 366.
        #[arg(long, alias = "days_count", allow_hyphen_values = true,
              value_parser = clap::value_parser!(i64).range(1..=expiry::MAX_DAYS))]
        days_count: i64,
        /// Also send an SMS to the customer's mobile number.
        #[arg(long, alias = "send_sms")]
        send_sms: bool,
        /// Also send an e-mail to the customer's address.
        #[arg(long, alias = "send_email")]
        send_email: bool,
    },
}

impl MessagesCommand {
    /// The command's name (for the scheduler and logs).
    pub fn name(&self) -> &'static str {
        match self {
            MessagesCommand::ResendSms { .. } => "resend-sms",
            MessagesCommand::CleanOldMessages { .. } => "clean-old-messages",
            MessagesCommand::SendActivationExpiresMessages { .. } => {
                "send-activation-expires-messages"
            }
        }
    }
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(efir_backoffice::sms::REQUEST_TIMEOUT)
        .build()?)
}

/// Runs one message command on behalf of `actor`.
pub async fn run(ctx: &Ctx, cmd: MessagesCommand, actor: Actor) -> Result<Report> {
    let store = ctx.store();
    let now = efir_store::now();
    match cmd {
        MessagesCommand::ResendSms { client_id } => {
            if let Some(c) = client_id {
                efir_backoffice::messages::client(store, c).await?;
            }
            let bar = crate::manage::spinner(ctx, "sending due messages");
            let filter = DueFilter {
                client_id,
                ..DueFilter::default()
            };
            let summary = outbox::deliver_due(store, &http()?, actor, &filter, now).await?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            Ok(Report::new(
                format!(
                    "{} due messages: {} sent, {} to retry later, {} failed",
                    summary.attempted, summary.sent, summary.retrying, summary.failed
                ),
                serde_json::to_value(&summary)?,
            ))
        }
        MessagesCommand::CleanOldMessages {
            days_count,
            client_id,
        } => {
            let summary = clean::clean_old(store, actor, client_id, days_count, now).await?;
            Ok(Report::new(
                format!(
                    "removed {} screen messages, {} sent or failed SMS/e-mails and {} expiry \
                     notices older than {days_count} days",
                    summary.screen, summary.outbox, summary.notices
                ),
                serde_json::to_value(&summary)?,
            ))
        }
        MessagesCommand::SendActivationExpiresMessages {
            client_id,
            days_count,
            send_sms,
            send_email,
        } => {
            let bar = crate::manage::spinner(ctx, "warning accounts");
            let copies = expiry::Copies {
                sms: send_sms,
                email: send_email,
            };
            let summary = expiry::send_expiry_notices(
                store,
                actor.clone(),
                client_id,
                days_count,
                copies,
                now,
            )
            .await?;
            let mut text = format!(
                "{} accounts end within {days_count} days: {} warned now, {} already warned",
                summary.due, summary.screen, summary.already_sent
            );
            if send_sms || send_email {
                // Send the new copies right away; failures are retried by
                // resend-sms.
                let filter = DueFilter {
                    client_id: Some(client_id),
                    channel: None,
                    ids: None,
                };
                let sent = outbox::deliver_due(store, &http()?, actor, &filter, now)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                text.push_str(&format!(
                    "; {} SMS queued ({} without a valid number), {} e-mails queued ({} without \
                     a valid address), {} sent",
                    summary.sms,
                    summary.sms_skipped,
                    summary.email,
                    summary.email_skipped,
                    sent.sent
                ));
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            Ok(Report::new(text, serde_json::to_value(&summary)?))
        }
    }
}
