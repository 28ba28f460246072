//! Cases, their transitions, comments and tasks in the store.

use efir_store::audit::Arg;
use efir_store::{with_db, with_tx, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{CaseError, CaseResult, Cases, Role, Who};

/// A case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Case {
    /// Id.
    pub id: i64,
    /// Operator.
    pub client_id: i64,
    /// Case type name.
    pub case_type: String,
    /// Current state.
    pub state: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Linked customer.
    pub customer_id: Option<i64>,
    /// Linked account.
    pub account_id: Option<i64>,
    /// Responsible staff user.
    pub owner_id: Option<i64>,
    /// Who created it (audit actor).
    pub author: String,
    /// low, normal, high or urgent.
    pub priority: String,
    /// Set-top-box serial (swap/return cases).
    pub box_serial: Option<String>,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
    /// Due time (SLA), moved by paused time.
    pub due_at: Option<i64>,
    /// When the SLA clock was paused, while it is.
    pub paused_since: Option<i64>,
    /// Seconds spent paused so far (finished pauses).
    pub paused_total: i64,
    /// In a closed state.
    pub closed: bool,
    /// When it was closed.
    pub closed_at: Option<i64>,
    /// 0 none, 1 owner notified as overdue, 2 manager notified.
    pub escalated_level: i64,
    /// Soft-deleted.
    pub deleted: bool,
}

const CASE_COLUMNS: &str = "id, client_id, case_type, state, title, description, customer_id, \
    account_id, owner_id, author, priority, box_serial, created_at, updated_at, due_at, \
    paused_since, paused_total, closed, closed_at, escalated_level, deleted";

impl Case {
    /// Whether the case is past its due time at `now` (open, not paused).
    pub fn overdue(&self, now: i64) -> bool {
        !self.closed && self.paused_since.is_none() && self.due_at.is_some_and(|d| d < now)
    }

    /// JSON with the computed `overdue` flag.
    pub fn to_json(&self, now: i64) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["overdue"] = json!(self.overdue(now));
        v
    }
}

/// What is needed to open a case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    /// Operator (superusers must give it; others get their own).
    #[serde(default)]
    pub client_id: Option<i64>,
    /// Type name.
    pub case_type: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Customer of the same operator.
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// Account of the same operator (and of the customer, when both).
    #[serde(default)]
    pub account_id: Option<i64>,
    /// Responsible staff user of the same operator; the creator when absent
    /// and the creator belongs to the operator.
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// low, normal (default), high, urgent.
    #[serde(default)]
    pub priority: Option<String>,
    /// Set-top-box serial; required by swap/return cases.
    #[serde(default)]
    pub box_serial: Option<String>,
}

/// Filters of the case list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CaseFilter {
    /// Text in the title or description (plain text, case-insensitive).
    pub q: Option<String>,
    /// Type name.
    #[serde(rename = "type")]
    pub case_type: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Owner.
    pub owner_id: Option<i64>,
    /// Customer.
    pub customer_id: Option<i64>,
    /// Only overdue (true) or only not overdue (false).
    pub overdue: Option<bool>,
    /// Only open (true) or only closed (false).
    pub open: Option<bool>,
}

/// One entry of a case's transition log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TransitionLog {
    /// Id.
    pub id: i64,
    /// When.
    pub at: i64,
    /// Who (audit actor).
    pub actor: String,
    /// From (none when the case was opened).
    pub from_state: Option<String>,
    /// To.
    pub to_state: String,
    /// Why.
    pub comment: String,
}

/// A comment on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Comment {
    /// Id.
    pub id: i64,
    /// When.
    pub at: i64,
    /// Who (audit actor).
    pub author: String,
    /// Text.
    pub text: String,
}

/// A task on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Task {
    /// Id.
    pub id: i64,
    /// Case.
    pub case_id: i64,
    /// Title.
    pub title: String,
    /// Staff user who does it.
    pub assignee_id: Option<i64>,
    /// Deadline (Unix seconds).
    pub deadline: Option<i64>,
    /// When to remind.
    pub remind_at: Option<i64>,
    /// When the reminder fired.
    pub reminded_at: Option<i64>,
    /// Done.
    pub done: bool,
    /// When it was done.
    pub done_at: Option<i64>,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

const TASK_COLUMNS: &str = "id, case_id, title, assignee_id, deadline, remind_at, reminded_at, \
    done, done_at, created_at, updated_at";

/// A new task.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// Title.
    pub title: String,
    /// Staff user of the case's operator.
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// Deadline (Unix seconds).
    #[serde(default)]
    pub deadline: Option<i64>,
    /// Reminder time; default: deadline minus the type's offset.
    #[serde(default)]
    pub remind_at: Option<i64>,
}

/// Changes to a task (absent fields stay).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskUpdate {
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Assignee.
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// Deadline.
    #[serde(default)]
    pub deadline: Option<i64>,
    /// Reminder time.
    #[serde(default)]
    pub remind_at: Option<i64>,
    /// Done flag.
    #[serde(default)]
    pub done: Option<bool>,
}

const PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];

fn check_text(field: &str, value: &str, required: bool, max: usize) -> CaseResult<String> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(CaseError::field(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(CaseError::field(field, format!("at most {max} characters")));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(CaseError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

fn check_time(field: &str, v: Option<i64>) -> CaseResult<Option<i64>> {
    match v {
        Some(t) if !(0..=32_503_680_000).contains(&t) => Err(CaseError::field(
            field,
            "must be Unix seconds between 1970 and 3000",
        )),
        v => Ok(v),
    }
}

/// The conditions of the case list (`$1`..`$9`, see [`Cases::list`]).
const LIST_WHERE: &str = "deleted = FALSE \
     AND ($1 IS NULL OR client_id = $1) \
     AND ($2 IS NULL OR LOWER(title) LIKE $2 ESCAPE '\\' OR LOWER(description) LIKE $2 ESCAPE '\\') \
     AND ($3 IS NULL OR case_type = $3) \
     AND ($4 IS NULL OR state = $4) \
     AND ($5 IS NULL OR owner_id = $5) \
     AND ($6 IS NULL OR customer_id = $6) \
     AND ($7 IS NULL OR ($7 = 1) = (closed = FALSE AND paused_since IS NULL \
          AND due_at IS NOT NULL AND due_at < $8)) \
     AND ($9 IS NULL OR ($9 = 1) = (closed = FALSE))";

/// The operator a list covers: a superuser's choice, anyone else's own.
fn list_scope(who: &Who, scope: Option<i64>) -> CaseResult<Option<i64>> {
    Ok(match who.role {
        Role::Superuser => scope,
        _ => match (scope, who.client_id) {
            (Some(s), Some(own)) if s != own => {
                return Err(CaseError::NotFound(format!("operator {s}")))
            }
            (_, own) => Some(own.unwrap_or(-1)),
        },
    })
}

/// The search pattern and the overdue and open flags of a filter.
fn list_params(filter: &CaseFilter) -> (Option<String>, Option<i64>, Option<i64>) {
    let q = filter
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(efir_store::like_contains);
    (q, filter.overdue.map(i64::from), filter.open.map(i64::from))
}

async fn tx_scalar_i64(tx: &mut Tx, sql: &str, args: &[Arg]) -> CaseResult<Option<i64>> {
    let v: Option<i64> = with_tx!(tx, c => {
        efir_store::bind_args!(sqlx::query_scalar::<_, i64>(sql), args)
            .fetch_optional(c)
            .await
    })
    .map_err(efir_store::StoreError::from)?;
    Ok(v)
}

impl Cases {
    /// The case `id` as `who` may see it (404 otherwise, also when deleted).
    pub async fn get(&self, who: &Who, id: i64) -> CaseResult<Case> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM case_item WHERE id = $1 AND deleted = FALSE");
        let case: Option<Case> = with_db!(self.store.pool(), p => sqlx::query_as::<_, Case>(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)
        .map_err(efir_store::StoreError::from)?;
        match case {
            Some(c) if who.may_see(c.client_id) => Ok(c),
            _ => Err(CaseError::NotFound(format!("case {id}"))),
        }
    }

    async fn staff_of(
        &self,
        tx: &mut Tx,
        field: &str,
        user_id: i64,
        client_id: i64,
    ) -> CaseResult<()> {
        let found = tx_scalar_i64(
            tx,
            "SELECT id FROM staff_user WHERE id = $1 AND client_id = $2 AND is_active = TRUE",
            &[Arg::I64(user_id), Arg::I64(client_id)],
        )
        .await?;
        if found.is_none() {
            return Err(CaseError::field(
                field,
                format!("no active staff user {user_id} of this operator"),
            ));
        }
        Ok(())
    }

    /// Opens a case of `new.case_type` for operator `client_id`.
    pub async fn create(
        &self,
        who: &Who,
        client_id: i64,
        new: &NewCase,
        now: i64,
    ) -> CaseResult<Case> {
        who.require_write()?;
        if !who.may_see(client_id) {
            return Err(CaseError::NotFound(format!("operator {client_id}")));
        }
        let ty = self.types.get(&new.case_type).ok_or_else(|| {
            CaseError::field(
                "case_type",
                format!("unknown case type `{}`", new.case_type),
            )
        })?;
        let title = check_text("title", &new.title, true, 200)?;
        let description = check_text("description", &new.description, false, 20_000)?;
        let priority = new.priority.clone().unwrap_or_else(|| "normal".into());
        if !PRIORITIES.contains(&priority.as_str()) {
            return Err(CaseError::field(
                "priority",
                "must be low, normal, high or urgent",
            ));
        }
        let serial = match &new.box_serial {
            Some(s) => Some(check_text("box_serial", s, true, 64)?),
            None => None,
        };
        if ty.needs_serial && serial.is_none() {
            return Err(CaseError::field(
                "box_serial",
                "required for this case type",
            ));
        }
        let owner = new.owner_id.or(if who.client_id == Some(client_id) {
            Some(who.user_id)
        } else {
            None
        });

        let mut tx = self.store.begin(who.actor()).await?;
        if let Some(c) = new.customer_id {
            let ok = tx_scalar_i64(
                &mut tx,
                "SELECT id FROM customer WHERE id = $1 AND client_id = $2",
                &[Arg::I64(c), Arg::I64(client_id)],
            )
            .await?;
            if ok.is_none() {
                return Err(CaseError::field(
                    "customer_id",
                    format!("unknown customer {c}"),
                ));
            }
        }
        if let Some(a) = new.account_id {
            let cust = tx_scalar_i64(
                &mut tx,
                "SELECT customer_id FROM account WHERE id = $1 AND client_id = $2",
                &[Arg::I64(a), Arg::I64(client_id)],
            )
            .await?;
            match cust {
                None => {
                    return Err(CaseError::field(
                        "account_id",
                        format!("unknown account {a}"),
                    ))
                }
                Some(c) if new.customer_id.is_some_and(|x| x != c) => {
                    return Err(CaseError::field(
                        "account_id",
                        format!(
                            "account {a} does not belong to customer {}",
                            new.customer_id.unwrap_or_default()
                        ),
                    ))
                }
                _ => {}
            }
        }
        if let Some(o) = owner {
            self.staff_of(&mut tx, "owner_id", o, client_id).await?;
        }
        let due = ty.sla_hours.map(|h| now + i64::from(h) * 3600);
        let waiting = ty.is_waiting(&ty.initial);
        let closed = ty.is_closed(&ty.initial);
        let actor = tx.actor().to_string();
        let id = tx_scalar_i64(
            &mut tx,
            "INSERT INTO case_item (client_id, case_type, state, title, description, customer_id, \
             account_id, owner_id, author, priority, box_serial, created_at, updated_at, due_at, \
             paused_since, closed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15) RETURNING id",
            &[
                Arg::I64(client_id),
                Arg::Text(ty.name.clone()),
                Arg::Text(ty.initial.clone()),
                Arg::Text(title),
                Arg::Text(description),
                Arg::OptI64(new.customer_id),
                Arg::OptI64(new.account_id),
                Arg::OptI64(owner),
                Arg::Text(actor.clone()),
                Arg::Text(priority),
                Arg::OptText(serial),
                Arg::I64(now),
                Arg::OptI64(due),
                Arg::OptI64(waiting.then_some(now)),
                Arg::Bool(closed),
            ],
        )
        .await?
        .ok_or_else(|| CaseError::Conflict("case not created".into()))?;
        tx.mark_changed("case_item");
        tx.execute(
            "case_transition",
            "INSERT INTO case_transition (case_id, at, actor, from_state, to_state, comment) \
             VALUES ($1, $2, $3, NULL, $4, '')",
            &[
                Arg::I64(id),
                Arg::I64(now),
                Arg::Text(actor),
                Arg::Text(ty.initial.clone()),
            ],
        )
        .await?;
        let case = self.get_in(&mut tx, id).await?;
        tx.audit(
            Some(client_id),
            "case.create",
            "case",
            Some(id.to_string()),
            json!({"after": case}),
        )
        .await?;
        tx.commit().await?;
        Ok(case)
    }

    async fn get_in(&self, tx: &mut Tx, id: i64) -> CaseResult<Case> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM case_item WHERE id = $1");
        let c: Case =
            with_tx!(tx, c => sqlx::query_as::<_, Case>(&sql).bind(id).fetch_one(c).await)
                .map_err(efir_store::StoreError::from)?;
        Ok(c)
    }

    /// Cases of operator `scope` (all operators for `None`, superusers only)
    /// matching `filter`, newest first.
    pub async fn list(
        &self,
        who: &Who,
        scope: Option<i64>,
        filter: &CaseFilter,
        limit: i64,
        offset: i64,
        now: i64,
    ) -> CaseResult<Vec<Case>> {
        let scope = list_scope(who, scope)?;
        let (q, overdue, open) = list_params(filter);
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM case_item WHERE {LIST_WHERE} \
             ORDER BY id DESC LIMIT $10 OFFSET $11"
        );
        let rows = with_db!(self.store.pool(), p => sqlx::query_as::<_, Case>(&sql)
            .bind(scope)
            .bind(&q)
            .bind(&filter.case_type)
            .bind(&filter.state)
            .bind(filter.owner_id)
            .bind(filter.customer_id)
            .bind(overdue)
            .bind(now)
            .bind(open)
            .bind(limit.clamp(1, 1000))
            .bind(offset.max(0))
            .fetch_all(p)
            .await)
        .map_err(efir_store::StoreError::from)?;
        Ok(rows)
    }

    /// How many cases [`Cases::list`] would give without paging.
    pub async fn count(
        &self,
        who: &Who,
        scope: Option<i64>,
        filter: &CaseFilter,
        now: i64,
    ) -> CaseResult<i64> {
        let scope = list_scope(who, scope)?;
        let (q, overdue, open) = list_params(filter);
        let sql = format!("SELECT COUNT(*) FROM case_item WHERE {LIST_WHERE}");
        let n: i64 = with_db!(self.store.pool(), p => sqlx::query_scalar(&sql)
            .bind(scope)
            .bind(&q)
            .bind(&filter.case_type)
            .bind(&filter.state)
            .bind(filter.owner_id)
            .bind(filter.customer_id)
            .bind(overdue)
            .bind(now)
            .bind(open)
            .fetch_one(p)
            .await)
        .map_err(efir_store::StoreError::from)?;
        Ok(n)
    }

    /// Moves case `id` to `to`: 409 when the type does not allow it from
    /// the current state, 403 when the role may not take it. Pauses or
    /// resumes the SLA clock and closes or reopens the case as the states
    /// say.
    pub async fn transition(
        &self,
        who: &Who,
        id: i64,
        to: &str,
        comment: &str,
        now: i64,
    ) -> CaseResult<Case> {
        who.require_write()?;
        let comment = check_text("comment", comment, false, 5000)?;
        let before = self.get(who, id).await?;
        let ty = self.types.get(&before.case_type).ok_or_else(|| {
            CaseError::Conflict(format!(
                "case type `{}` is no longer configured",
                before.case_type
            ))
        })?;
        if !ty.has_state(to) {
            return Err(CaseError::field(
                "to",
                format!("`{to}` is not a state of {}", ty.name),
            ));
        }
        let tr = ty.transition(&before.state, to).ok_or_else(|| {
            CaseError::Conflict(format!(
                "{} cannot go from `{}` to `{to}`",
                ty.name, before.state
            ))
        })?;
        if !tr.guard.allows(who.role) {
            return Err(CaseError::Forbidden(format!(
                "only an operator admin may move a case from `{}` to `{to}`",
                before.state
            )));
        }
        // The SLA clock: a finished pause moves the due time by its length.
        let mut due = before.due_at;
        let mut paused_since = before.paused_since;
        let mut paused_total = before.paused_total;
        let closing = ty.is_closed(to);
        if let Some(since) = paused_since {
            if !ty.is_waiting(to) || closing {
                let paused = (now - since).max(0);
                due = due.map(|d| d + paused);
                paused_total += paused;
                paused_since = None;
            }
        } else if ty.is_waiting(to) {
            paused_since = Some(now);
        }
        let closed_at = if closing {
            before.closed_at.or(Some(now))
        } else {
            None
        };

        let mut tx = self.store.begin(who.actor()).await?;
        let n = tx
            .execute(
                "case_item",
                "UPDATE case_item SET state = $1, due_at = $2, paused_since = $3, paused_total = $4, \
                 closed = $5, closed_at = $6, updated_at = $7 WHERE id = $8 AND state = $9 AND deleted = FALSE",
                &[
                    Arg::Text(to.to_string()),
                    Arg::OptI64(due),
                    Arg::OptI64(paused_since),
                    Arg::I64(paused_total),
                    Arg::Bool(closing),
                    Arg::OptI64(closed_at),
                    Arg::I64(now),
                    Arg::I64(id),
                    Arg::Text(before.state.clone()),
                ],
            )
            .await?;
        if n != 1 {
            tx.rollback().await?;
            return Err(CaseError::Conflict(format!(
                "case {id} changed meanwhile; try again"
            )));
        }
        let actor = tx.actor().to_string();
        tx.execute(
            "case_transition",
            "INSERT INTO case_transition (case_id, at, actor, from_state, to_state, comment) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                Arg::I64(id),
                Arg::I64(now),
                Arg::Text(actor),
                Arg::Text(before.state.clone()),
                Arg::Text(to.to_string()),
                Arg::Text(comment.clone()),
            ],
        )
        .await?;
        let after = self.get_in(&mut tx, id).await?;
        tx.audit(
            Some(after.client_id),
            "case.transition",
            "case",
            Some(id.to_string()),
            json!({"before": {"state": before.state, "due_at": before.due_at},
                   "after": {"state": after.state, "due_at": after.due_at}, "comment": comment}),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Changes a case's owner (to a staff user of its operator).
    pub async fn set_owner(&self, who: &Who, id: i64, owner_id: i64, now: i64) -> CaseResult<Case> {
        who.require_write()?;
        let before = self.get(who, id).await?;
        let mut tx = self.store.begin(who.actor()).await?;
        self.staff_of(&mut tx, "owner_id", owner_id, before.client_id)
            .await?;
        tx.execute(
            "case_item",
            "UPDATE case_item SET owner_id = $1, updated_at = $2 WHERE id = $3",
            &[Arg::I64(owner_id), Arg::I64(now), Arg::I64(id)],
        )
        .await?;
        tx.audit(
            Some(before.client_id),
            "case.owner",
            "case",
            Some(id.to_string()),
            json!({"before": {"owner_id": before.owner_id}, "after": {"owner_id": owner_id}}),
        )
        .await?;
        tx.commit().await?;
        self.get(who, id).await
    }

    /// Soft-deletes a case (operator admins).
    pub async fn delete(&self, who: &Who, id: i64, now: i64) -> CaseResult<()> {
        who.require_write()?;
        let before = self.get(who, id).await?;
        who.require_admin()?;
        let mut tx = self.store.begin(who.actor()).await?;
        tx.execute(
            "case_item",
            "UPDATE case_item SET deleted = TRUE, updated_at = $1 WHERE id = $2",
            &[Arg::I64(now), Arg::I64(id)],
        )
        .await?;
        tx.audit(
            Some(before.client_id),
            "case.delete",
            "case",
            Some(id.to_string()),
            json!({"before": before}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The transition log of a case, oldest first.
    pub async fn history(&self, who: &Who, id: i64) -> CaseResult<Vec<TransitionLog>> {
        self.get(who, id).await?;
        let sql = "SELECT id, at, actor, from_state, to_state, comment FROM case_transition \
                   WHERE case_id = $1 ORDER BY id";
        Ok(
            with_db!(self.store.pool(), p => sqlx::query_as::<_, TransitionLog>(sql)
            .bind(id)
            .fetch_all(p)
            .await)
            .map_err(efir_store::StoreError::from)?,
        )
    }

    /// Adds a comment.
    pub async fn add_comment(
        &self,
        who: &Who,
        id: i64,
        text: &str,
        now: i64,
    ) -> CaseResult<Comment> {
        who.require_write()?;
        let text = check_text("text", text, true, 20_000)?;
        let case = self.get(who, id).await?;
        let mut tx = self.store.begin(who.actor()).await?;
        let actor = tx.actor().to_string();
        let cid = tx_scalar_i64(
            &mut tx,
            "INSERT INTO case_comment (case_id, at, author, text) VALUES ($1, $2, $3, $4) RETURNING id",
            &[Arg::I64(id), Arg::I64(now), Arg::Text(actor.clone()), Arg::Text(text.clone())],
        )
        .await?
        .unwrap_or_default();
        tx.mark_changed("case_comment");
        tx.execute(
            "case_item",
            "UPDATE case_item SET updated_at = $1 WHERE id = $2",
            &[Arg::I64(now), Arg::I64(id)],
        )
        .await?;
        tx.audit(
            Some(case.client_id),
            "case.comment",
            "case",
            Some(id.to_string()),
            json!({"after": {"comment_id": cid, "text": text}}),
        )
        .await?;
        tx.commit().await?;
        Ok(Comment {
            id: cid,
            at: now,
            author: actor,
            text,
        })
    }

    /// The comments of a case, oldest first.
    pub async fn comments(&self, who: &Who, id: i64) -> CaseResult<Vec<Comment>> {
        self.get(who, id).await?;
        let sql = "SELECT id, at, author, text FROM case_comment WHERE case_id = $1 ORDER BY id";
        Ok(
            with_db!(self.store.pool(), p => sqlx::query_as::<_, Comment>(sql)
            .bind(id)
            .fetch_all(p)
            .await)
            .map_err(efir_store::StoreError::from)?,
        )
    }

    /// Adds a task to case `case_id`. Without an explicit reminder time the
    /// reminder is the deadline minus the type's default offset.
    pub async fn add_task(
        &self,
        who: &Who,
        case_id: i64,
        new: &NewTask,
        now: i64,
    ) -> CaseResult<Task> {
        who.require_write()?;
        let case = self.get(who, case_id).await?;
        let title = check_text("title", &new.title, true, 200)?;
        let deadline = check_time("deadline", new.deadline)?;
        let remind = check_time("remind_at", new.remind_at)?;
        let offset = self
            .types
            .get(&case.case_type)
            .map_or(self.config.remind_before_minutes, |t| {
                t.remind_before_minutes
            });
        let remind = remind.or(deadline.map(|d| d - i64::from(offset) * 60));
        let mut tx = self.store.begin(who.actor()).await?;
        if let Some(a) = new.assignee_id {
            self.staff_of(&mut tx, "assignee_id", a, case.client_id)
                .await?;
        }
        let id = tx_scalar_i64(
            &mut tx,
            "INSERT INTO case_task (case_id, title, assignee_id, deadline, remind_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            &[
                Arg::I64(case_id),
                Arg::Text(title),
                Arg::OptI64(new.assignee_id),
                Arg::OptI64(deadline),
                Arg::OptI64(remind),
                Arg::I64(now),
            ],
        )
        .await?
        .unwrap_or_default();
        tx.mark_changed("case_task");
        let task = self.task_in(&mut tx, id).await?;
        tx.audit(
            Some(case.client_id),
            "case.task.create",
            "case_task",
            Some(id.to_string()),
            json!({"after": task}),
        )
        .await?;
        tx.commit().await?;
        Ok(task)
    }

    async fn task_in(&self, tx: &mut Tx, id: i64) -> CaseResult<Task> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM case_task WHERE id = $1");
        Ok(
            with_tx!(tx, c => sqlx::query_as::<_, Task>(&sql).bind(id).fetch_one(c).await)
                .map_err(efir_store::StoreError::from)?,
        )
    }

    /// The task `id` and its case, as `who` may see them.
    pub async fn task(&self, who: &Who, id: i64) -> CaseResult<(Task, Case)> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM case_task WHERE id = $1");
        let task: Option<Task> = with_db!(self.store.pool(), p => sqlx::query_as::<_, Task>(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)
        .map_err(efir_store::StoreError::from)?;
        let task = task.ok_or_else(|| CaseError::NotFound(format!("task {id}")))?;
        let case = self
            .get(who, task.case_id)
            .await
            .map_err(|_| CaseError::NotFound(format!("task {id}")))?;
        Ok((task, case))
    }

    /// The tasks of a case.
    pub async fn tasks(&self, who: &Who, case_id: i64) -> CaseResult<Vec<Task>> {
        self.get(who, case_id).await?;
        let sql = format!("SELECT {TASK_COLUMNS} FROM case_task WHERE case_id = $1 ORDER BY id");
        Ok(
            with_db!(self.store.pool(), p => sqlx::query_as::<_, Task>(&sql)
            .bind(case_id)
            .fetch_all(p)
            .await)
            .map_err(efir_store::StoreError::from)?,
        )
    }

    /// Changes a task. A new deadline or reminder time re-arms the reminder.
    pub async fn update_task(
        &self,
        who: &Who,
        id: i64,
        up: &TaskUpdate,
        now: i64,
    ) -> CaseResult<Task> {
        who.require_write()?;
        let (before, case) = self.task(who, id).await?;
        let title = match &up.title {
            Some(t) => check_text("title", t, true, 200)?,
            None => before.title.clone(),
        };
        let deadline = check_time("deadline", up.deadline)?.or(before.deadline);
        let offset = self
            .types
            .get(&case.case_type)
            .map_or(self.config.remind_before_minutes, |t| {
                t.remind_before_minutes
            });
        let remind = match (check_time("remind_at", up.remind_at)?, up.deadline) {
            (Some(r), _) => Some(r),
            (None, Some(d)) => Some(d - i64::from(offset) * 60),
            (None, None) => before.remind_at,
        };
        let reminded_at = if remind != before.remind_at {
            None
        } else {
            before.reminded_at
        };
        let done = up.done.unwrap_or(before.done);
        let done_at = match (done, before.done) {
            (true, true) => before.done_at,
            (true, false) => Some(now),
            (false, _) => None,
        };
        let assignee = up.assignee_id.or(before.assignee_id);
        let mut tx = self.store.begin(who.actor()).await?;
        if let Some(a) = up.assignee_id {
            self.staff_of(&mut tx, "assignee_id", a, case.client_id)
                .await?;
        }
        tx.execute(
            "case_task",
            "UPDATE case_task SET title = $1, assignee_id = $2, deadline = $3, remind_at = $4, \
             reminded_at = $5, done = $6, done_at = $7, updated_at = $8 WHERE id = $9",
            &[
                Arg::Text(title),
                Arg::OptI64(assignee),
                Arg::OptI64(deadline),
                Arg::OptI64(remind),
                Arg::OptI64(reminded_at),
                Arg::Bool(done),
                Arg::OptI64(done_at),
                Arg::I64(now),
                Arg::I64(id),
            ],
        )
        .await?;
        let after = self.task_in(&mut tx, id).await?;
        tx.audit(
            Some(case.client_id),
            "case.task.update",
            "case_task",
            Some(id.to_string()),
            json!({"before": before, "after": after}),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}
