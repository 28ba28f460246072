//! `efir manage` commands of the back office's cases: the per-minute
//! reminder run, the daily overdue sweep and setting a staff user's
//! manager. Both read the time from
//! `efir_core::clock::now()`, so `EFIR_NOW` freezes them for tests.

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use efir_backoffice::cases::Cases;
use efir_store::audit::Arg;
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
    /// Set (or with `--none` clear) the manager a staff user's overdue
    /// cases escalate to; both must belong to the same operator.
    #[command(alias = "set_staff_manager")]
    SetStaffManager {
        /// The staff user.
        username: String,
        /// Their manager.
        #[arg(required_unless_present = "none", conflicts_with = "none")]
        manager: Option<String>,
        /// Clear the manager.
        #[arg(long)]
        none: bool,
    },
}

impl CasesCommand {
    /// The canonical command name.
    pub fn name(&self) -> &'static str {
        match self {
            CasesCommand::SendCaseReminders => "send-case-reminders",
            CasesCommand::EscalateCases => "escalate-cases",
            CasesCommand::SetStaffManager { .. } => "set-staff-manager",
        }
    }
}

/// Runs one cases command on behalf of `actor`.
pub async fn run(ctx: &Ctx, cmd: CasesCommand, actor: Actor) -> Result<Report> {
    let config = ctx.config();
    let cases = Cases::new(ctx.store().clone(), &config.cases, config.data_dir.clone());
    let now = efir_core::clock::now();
    match cmd {
        CasesCommand::SetStaffManager {
            username, manager, ..
        } => set_manager(ctx, &username, manager.as_deref(), actor).await,
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

async fn set_manager(
    ctx: &Ctx,
    username: &str,
    manager: Option<&str>,
    actor: Actor,
) -> Result<Report> {
    let store = ctx.store();
    let user = store
        .user_by_username(username)
        .await?
        .ok_or_else(|| anyhow!("no staff user `{username}`"))?;
    let boss = match manager {
        None => None,
        Some(m) => {
            let b = store
                .user_by_username(m)
                .await?
                .ok_or_else(|| anyhow!("no staff user `{m}`"))?;
            if b.id == user.id {
                bail!("a staff user cannot be their own manager");
            }
            if b.client_id != user.client_id {
                bail!("`{m}` belongs to another operator than `{username}`");
            }
            Some(b)
        }
    };
    let mut tx = store.begin(actor).await?;
    tx.execute(
        "staff_user",
        "UPDATE staff_user SET manager_id = $1 WHERE id = $2",
        &[Arg::OptI64(boss.as_ref().map(|b| b.id)), Arg::I64(user.id)],
    )
    .await?;
    tx.audit(
        user.client_id,
        "staff.manager",
        "staff_user",
        Some(user.id.to_string()),
        json!({"after": {"manager": manager}}),
    )
    .await?;
    tx.commit().await?;
    let text = match manager {
        Some(m) => format!("{username}'s overdue cases now escalate to {m}"),
        None => format!("{username} has no manager now"),
    };
    Ok(Report::new(
        text,
        json!({"user": username, "manager": manager}),
    ))
}
