//! `send-activation-expires-messages`: warns the accounts whose paid period
//! ends within the next days.
//!
//! An account's end is its `deactivation_date`, or when that is not set its
//! `extension_date` (the end of the paid period). Each active account whose
//! end falls after now and within `days` days gets a screen message (and,
//! on request, an SMS to its customer's mobile number), at most once per
//! account and end date (optionally also by e-mail): `expiry_notice` remembers what was sent, so
//! running the command again the same day sends nothing new, and a renewed
//! account is warned again before its new end.
//!
//! The text is the operator's `messages.expiry_text` (and
//! `messages.expiry_subject`) with `{date}`, `{days}` and `{abonement}`
//! replaced, or a default in the operator's default language (Russian or
//! English).

use efir_store::{Actor, Store};
use serde::Serialize;
use serde_json::json;

use super::outbox::{self, NewOutbound};
use super::{Channel, MessageError, Result};

/// Largest `--days-count`.
pub const MAX_DAYS: i64 = 366;

const DEFAULT_SUBJECT_RU: &str = "Окончание подписки";
const DEFAULT_TEXT_RU: &str =
    "Срок действия вашей подписки ({abonement}) заканчивается {date}. Пожалуйста, пополните счёт, \
     чтобы продолжить просмотр.";
const DEFAULT_SUBJECT_EN: &str = "Your subscription ends soon";
const DEFAULT_TEXT_EN: &str = "Your subscription ({abonement}) ends on {date}. Please top up your \
     account to keep watching.";

/// Checks a template setting.
pub fn check_template(v: &str) -> Result<(), String> {
    if v.trim().is_empty() || v.chars().count() > 1000 || v.contains('\0') {
        Err("expected 1 to 1000 characters".into())
    } else {
        Ok(())
    }
}

/// What [`send_expiry_notices`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExpirySummary {
    /// Accounts whose end falls in the window.
    pub due: u64,
    /// Screen messages written now.
    pub screen: u64,
    /// SMS queued now.
    pub sms: u64,
    /// Accounts already warned for this end date.
    pub already_sent: u64,
    /// SMS not queued: the customer has no valid mobile number.
    pub sms_skipped: u64,
    /// E-mails queued now.
    pub email: u64,
    /// E-mails not queued: the customer has no valid address.
    pub email_skipped: u64,
}

/// Which copies of the notice to send besides the screen message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copies {
    /// An SMS to the customer's mobile number.
    pub sms: bool,
    /// An e-mail to the customer's address.
    pub email: bool,
}

#[derive(sqlx::FromRow)]
struct Due {
    id: i64,
    customer_id: i64,
    abonement: String,
    ends_at: i64,
    mobile_phone_number: String,
    email: String,
}

/// Fills a template.
pub fn render(template: &str, ends_at: i64, now: i64, abonement: &str) -> String {
    let date = chrono::DateTime::from_timestamp(ends_at, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let days = ((ends_at - now) + 86_399) / 86_400;
    template
        .replace("{date}", &date)
        .replace("{days}", &days.to_string())
        .replace("{abonement}", abonement)
}

/// Warns the accounts of `client_id` whose end falls within `days` days
/// after `now`; `copies` also queues an SMS to each customer's mobile
/// number and/or an e-mail to its address. Each account is warned once
/// per end date.
pub async fn send_expiry_notices(
    store: &Store,
    actor: Actor,
    client_id: i64,
    days: i64,
    copies: Copies,
    now: i64,
) -> Result<ExpirySummary> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(MessageError::invalid(
            "days_count",
            format!("expected a whole number of days from 1 to {MAX_DAYS}"),
        ));
    }
    let client = super::client(store, client_id).await?;
    if copies.sms {
        outbox::require_channel(store, client_id, Channel::Sms).await?;
    }
    if copies.email {
        outbox::require_channel(store, client_id, Channel::Email).await?;
    }
    let settings = store.client_settings(client_id).await?;
    let ru = client.default_language.starts_with("ru");
    let subject = settings
        .get("messages.expiry_subject")
        .cloned()
        .unwrap_or_else(|| {
            if ru {
                DEFAULT_SUBJECT_RU
            } else {
                DEFAULT_SUBJECT_EN
            }
            .into()
        });
    let template = settings
        .get("messages.expiry_text")
        .cloned()
        .unwrap_or_else(|| if ru { DEFAULT_TEXT_RU } else { DEFAULT_TEXT_EN }.into());
    let sql = "SELECT a.id, a.customer_id, a.abonement, \
               COALESCE(a.deactivation_date, a.extension_date) AS ends_at, \
               c.mobile_phone_number, c.email \
               FROM account a JOIN customer c ON c.id = a.customer_id \
               WHERE a.client_id = $1 AND a.active = $2 \
               AND COALESCE(a.deactivation_date, a.extension_date) > $3 \
               AND COALESCE(a.deactivation_date, a.extension_date) <= $4 \
               ORDER BY a.id";
    let due: Vec<Due> = efir_store::with_db!(store.pool(), p => sqlx::query_as(sql)
        .bind(client_id)
        .bind(true)
        .bind(now)
        .bind(now + days * 86_400)
        .fetch_all(p)
        .await)?;
    let mut summary = ExpirySummary {
        due: due.len() as u64,
        ..ExpirySummary::default()
    };
    for acc in due {
        let mut tx = store.begin(actor.clone()).await?;
        // Claim the (account, end) pair first: a concurrent run or a second
        // run the same day finds it taken and sends nothing.
        tx.mark_changed("expiry_notice");
        let claimed = efir_store::with_tx!(tx, c => sqlx::query(
                "INSERT INTO expiry_notice (client_id, account_id, expires_at, sent_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, expires_at) DO NOTHING")
            .bind(client_id)
            .bind(acc.id)
            .bind(acc.ends_at)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if claimed == 0 {
            tx.rollback().await?;
            summary.already_sent += 1;
            continue;
        }
        let text = render(&template, acc.ends_at, now, &acc.abonement);
        let subject = render(&subject, acc.ends_at, now, &acc.abonement);
        let uuid = uuid::Uuid::new_v4().to_string();
        let message_id: i64 = efir_store::with_tx!(tx, c => sqlx::query_scalar(
                "INSERT INTO message (client_id, customer_id, account_id, uuid, subject, text, \
                 urgent, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(client_id)
            .bind(acc.customer_id)
            .bind(acc.id)
            .bind(&uuid)
            .bind(&subject)
            .bind(&text)
            .bind(false)
            .bind(now)
            .fetch_one(c)
            .await)?;
        summary.screen += 1;
        let mut sms_id = None;
        let mut email_id = None;
        if copies.email {
            let copy = NewOutbound {
                client_id,
                customer_id: Some(acc.customer_id),
                account_id: Some(acc.id),
                channel: Channel::Email,
                recipient: acc.email.trim().to_string(),
                subject: subject.clone(),
                body: text.clone(),
            };
            if outbox::validate(&copy).is_ok() {
                email_id = Some(outbox::queue_in(&mut tx, &copy, now).await?);
                summary.email += 1;
            } else {
                summary.email_skipped += 1;
            }
        }
        if copies.sms {
            let copy = NewOutbound {
                client_id,
                customer_id: Some(acc.customer_id),
                account_id: Some(acc.id),
                channel: Channel::Sms,
                recipient: acc.mobile_phone_number.trim().to_string(),
                subject: String::new(),
                body: text.clone(),
            };
            if outbox::validate(&copy).is_ok() {
                sms_id = Some(outbox::queue_in(&mut tx, &copy, now).await?);
                summary.sms += 1;
            } else {
                summary.sms_skipped += 1;
            }
        }
        tx.audit(
            Some(client_id),
            "expiry_notice",
            "account",
            Some(acc.id.to_string()),
            json!({
                "ends_at": acc.ends_at,
                "message_id": message_id,
                "sms_id": sms_id,
                "email_id": email_id,
            }),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn templates_are_filled() {
        let now = 1_767_225_600; // 2026-01-01T00:00:00Z
        let text = render(
            "{abonement}: {date}, {days} d",
            now + 2 * 86_400 + 5,
            now,
            "ann1",
        );
        assert_eq!(text, "ann1: 2026-01-03, 3 d");
        assert_eq!(render("plain", now, now, "x"), "plain");
    }
}
