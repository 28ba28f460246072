//! The scheduled jobs of cases (`send-case-reminders`, `escalate-cases`)
//! and the staff notifications they write. Each reminder and each
//! escalation level is claimed by a conditional update in the same
//! transaction that writes its notification, so it fires exactly once even
//! when two runs overlap.

use efir_store::audit::Arg;
use efir_store::{with_db, Actor, StoreError};
use serde::Serialize;
use serde_json::json;

use super::{CaseError, CaseResult, Cases, Who};

/// An in-app notification for a staff user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Notification {
    /// Id.
    pub id: i64,
    /// Operator.
    pub client_id: i64,
    /// Recipient.
    pub user_id: i64,
    /// Case.
    pub case_id: Option<i64>,
    /// Task.
    pub task_id: Option<i64>,
    /// `reminder`, `overdue` or `escalation`.
    pub kind: String,
    /// Text.
    pub text: String,
    /// Created.
    pub at: i64,
    /// Read, when.
    pub read_at: Option<i64>,
}

/// What one `escalate-cases` run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EscalationReport {
    /// Owners told about an overdue case.
    pub owners_notified: u64,
    /// Managers told about a case overdue for more than N days.
    pub managers_notified: u64,
}

#[derive(sqlx::FromRow)]
struct DueTask {
    id: i64,
    case_id: i64,
    client_id: i64,
    title: String,
    recipient: Option<i64>,
    deadline: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Overdue {
    id: i64,
    client_id: i64,
    title: String,
    due_at: i64,
    recipient: i64,
}

fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

impl Cases {
    /// Fires every reminder due at `now` that has not fired: one
    /// notification to the task's assignee (or the case owner). Returns how
    /// many fired.
    pub async fn send_reminders(&self, now: i64, actor: Actor) -> CaseResult<u64> {
        let sql = "SELECT t.id, t.case_id, c.client_id, t.title, \
                   COALESCE(t.assignee_id, c.owner_id) AS recipient, t.deadline \
                   FROM case_task t JOIN case_item c ON c.id = t.case_id \
                   WHERE t.done = FALSE AND t.reminded_at IS NULL AND t.remind_at IS NOT NULL \
                   AND t.remind_at <= $1 AND c.deleted = FALSE ORDER BY t.remind_at, t.id";
        let due: Vec<DueTask> = with_db!(self.store.pool(), p => sqlx::query_as::<_, DueTask>(sql)
            .bind(now)
            .fetch_all(p)
            .await)
        .map_err(StoreError::from)?;
        let mut fired = 0;
        for t in due {
            let mut tx = self.store.begin(actor.clone()).await?;
            let claimed = tx
                .execute(
                    "case_task",
                    "UPDATE case_task SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL",
                    &[Arg::I64(now), Arg::I64(t.id)],
                )
                .await?;
            if claimed != 1 {
                tx.rollback().await?;
                continue;
            }
            if let Some(user) = t.recipient {
                let text = match t.deadline {
                    Some(d) => format!("Reminder: task \"{}\" is due {}", t.title, when(d)),
                    None => format!("Reminder: task \"{}\"", t.title),
                };
                notify(
                    &mut tx,
                    t.client_id,
                    user,
                    Some(t.case_id),
                    Some(t.id),
                    "reminder",
                    &text,
                    now,
                )
                .await?;
            }
            tx.audit(
                Some(t.client_id),
                "case.task.remind",
                "case_task",
                Some(t.id.to_string()),
                json!({"case_id": t.case_id, "recipient": t.recipient, "at": now}),
            )
            .await?;
            tx.commit().await?;
            fired += 1;
        }
        Ok(fired)
    }

    /// The daily overdue sweep: every open overdue case notifies its owner
    /// once; one overdue more than `escalate_after_days` notifies the
    /// owner's manager once.
    pub async fn escalate(&self, now: i64, actor: Actor) -> CaseResult<EscalationReport> {
        let mut report = EscalationReport::default();
        let days = i64::from(self.config.escalate_after_days) * 86_400;
        let base = "FROM case_item c JOIN staff_user u ON u.id = c.owner_id \
                    WHERE c.deleted = FALSE AND c.closed = FALSE AND c.paused_since IS NULL \
                    AND c.due_at IS NOT NULL";
        let levels = [
            (
                1_i64,
                format!("SELECT c.id, c.client_id, c.title, c.due_at, c.owner_id AS recipient {base} \
                         AND c.due_at < $1 AND c.escalated_level < 1 ORDER BY c.id"),
                0_i64,
            ),
            (
                2,
                format!("SELECT c.id, c.client_id, c.title, c.due_at, u.manager_id AS recipient {base} \
                         AND u.manager_id IS NOT NULL AND c.due_at < $1 AND c.escalated_level < 2 \
                         ORDER BY c.id"),
                days,
            ),
        ];
        for (level, sql, extra) in levels {
            let cases: Vec<Overdue> =
                with_db!(self.store.pool(), p => sqlx::query_as::<_, Overdue>(&sql)
                .bind(now - extra)
                .fetch_all(p)
                .await)
                .map_err(StoreError::from)?;
            for c in cases {
                let mut tx = self.store.begin(actor.clone()).await?;
                let claimed = tx
                    .execute(
                        "case_item",
                        "UPDATE case_item SET escalated_level = $1 WHERE id = $2 AND escalated_level < $1",
                        &[Arg::I64(level), Arg::I64(c.id)],
                    )
                    .await?;
                if claimed != 1 {
                    tx.rollback().await?;
                    continue;
                }
                let (kind, text) = if level == 1 {
                    (
                        "overdue",
                        format!(
                            "Case #{} \"{}\" is overdue since {}",
                            c.id,
                            c.title,
                            when(c.due_at)
                        ),
                    )
                } else {
                    (
                        "escalation",
                        format!(
                            "Escalation: case #{} \"{}\" is overdue for more than {} days (due {})",
                            c.id,
                            c.title,
                            self.config.escalate_after_days,
                            when(c.due_at)
                        ),
                    )
                };
                notify(
                    &mut tx,
                    c.client_id,
                    c.recipient,
                    Some(c.id),
                    None,
                    kind,
                    &text,
                    now,
                )
                .await?;
                tx.audit(
                    Some(c.client_id),
                    "case.escalate",
                    "case",
                    Some(c.id.to_string()),
                    json!({"level": level, "recipient": c.recipient}),
                )
                .await?;
                tx.commit().await?;
                if level == 1 {
                    report.owners_notified += 1;
                } else {
                    report.managers_notified += 1;
                }
            }
        }
        Ok(report)
    }

    /// Notifications of the calling staff user, newest first.
    pub async fn notifications(
        &self,
        who: &Who,
        unread_only: bool,
        limit: i64,
        offset: i64,
    ) -> CaseResult<Vec<Notification>> {
        let sql = "SELECT id, client_id, user_id, case_id, task_id, kind, text, at, read_at \
                   FROM staff_notification WHERE user_id = $1 AND ($2 = FALSE OR read_at IS NULL) \
                   ORDER BY id DESC LIMIT $3 OFFSET $4";
        Ok(
            with_db!(self.store.pool(), p => sqlx::query_as::<_, Notification>(sql)
            .bind(who.user_id)
            .bind(unread_only)
            .bind(limit.clamp(1, 1000))
            .bind(offset.max(0))
            .fetch_all(p)
            .await)
            .map_err(StoreError::from)?,
        )
    }

    /// Marks one of the caller's notifications read (404 for others').
    pub async fn mark_read(&self, who: &Who, id: i64, now: i64) -> CaseResult<()> {
        let mut tx = self.store.begin(who.actor()).await?;
        let n = tx
            .execute(
                "staff_notification",
                "UPDATE staff_notification SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND user_id = $3",
                &[Arg::I64(now), Arg::I64(id), Arg::I64(who.user_id)],
            )
            .await?;
        if n != 1 {
            tx.rollback().await?;
            return Err(CaseError::NotFound(format!("notification {id}")));
        }
        tx.audit(
            who.client_id,
            "notification.read",
            "staff_notification",
            Some(id.to_string()),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
async fn notify(
    tx: &mut efir_store::Tx,
    client_id: i64,
    user_id: i64,
    case_id: Option<i64>,
    task_id: Option<i64>,
    kind: &str,
    text: &str,
    now: i64,
) -> CaseResult<()> {
    tx.execute(
        "staff_notification",
        "INSERT INTO staff_notification (client_id, user_id, case_id, task_id, kind, text, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            Arg::I64(client_id),
            Arg::I64(user_id),
            Arg::OptI64(case_id),
            Arg::OptI64(task_id),
            Arg::Text(kind.into()),
            Arg::Text(text.into()),
            Arg::I64(now),
        ],
    )
    .await?;
    Ok(())
}
