//! `efir manage` commands of the back office's cases: the per-minute
//! reminder run and the daily overdue sweep. Both read the time from
//! `efir_core::clock::now()`, so `EFIR_NOW` freezes them for tests.

use anyhow::Result;
use clap::Subcommand;
use efir_backoffice::cases::Cases;
use efir_store::Actor;
use serde_json::json;

use crate::context::Ctx;
use crate::manage::Report;

/// Commands of cases and tasks.
#[derive(Debug, Clone, Subcommand)]
pub enum CasesCommand {
    /// Fire every due task reminder once, as an in-app notification to the
    /// task's assignee (or the case owner). Scheduled every minute.
    #[command(alias = "send_case_reminders")]
    SendCaseReminders,
    /// Notify owners of overdue open cases, and their managers when a case
    /// is overdue for more than `cases.escalate_after_days`; each level
    /// once per case. Scheduled daily at 09:00.
    #[command(alias = "escalate_cases")]
    EscalateCases,
}

impl CasesCommand {
    /// The canonical command name.
    pub fn name(&self) -> &'static str {
        match self {
            CasesCommand::SendCaseReminders => "send-case-reminders",
            CasesCommand::EscalateCases => "escalate-cases",
        }
    }
}

/// Runs one cases command on behalf of `actor`.
pub async fn run(ctx: &Ctx, cmd: CasesCommand, actor: Actor) -> Result<Report> {
    let config = ctx.config();
    let cases = Cases::new(ctx.store().clone(), &config.cases, config.data_dir.clone());
    let now = efir_core::clock::now();
    match cmd {
        CasesCommand::SendCaseReminders => {
            let fired = cases.send_reminders(now, actor).await?;
            Ok(Report::new(
                format!("{fired} reminder(s) sent"),
                json!({"reminders_sent": fired, "now": now}),
            ))
        }
        CasesCommand::EscalateCases => {
            let r = cases.escalate(now, actor).await?;
            Ok(Report::new(
                format!(
                    "{} owner(s) notified of overdue cases, {} manager(s) notified of escalations",
                    r.owners_notified, r.managers_notified
                ),
                json!({"owners_notified": r.owners_notified,
                       "managers_notified": r.managers_notified, "now": now}),
            ))
        }
    }
}
