//! Operators ("clients"): the tenants of an Efir installation.

use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use crate::{map_unique, now, record_query, Result, Store, StoreError, Tx};

/// An operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Client {
    /// Id (`client_id` in the APIs).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Key of the device (TVMW) API.
    #[serde(skip_serializing)]
    pub api_key: String,
    /// Key that signs Billing API calls.
    #[serde(skip_serializing)]
    pub billing_api_key: String,
    /// Key that signs Content API calls.
    #[serde(skip_serializing)]
    pub content_api_key: String,
    /// Domain prefix of the operator's portal.
    pub domain_prefix: String,
    /// Contact e-mail.
    pub email: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Default language (ISO 639-1).
    pub default_language: String,
    /// Additional language 1 (fields `*_lang1`).
    pub language1: Option<String>,
    /// Additional language 2.
    pub language2: Option<String>,
    /// Additional language 3.
    pub language3: Option<String>,
    /// Additional language 4.
    pub language4: Option<String>,
    /// Additional language 5.
    pub language5: Option<String>,
    /// Whether the operator is active.
    pub is_active: bool,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last changed (Unix seconds).
    pub updated_at: i64,
}

impl Client {
    /// The additional languages in slot order (`lang1` first).
    pub fn additional_languages(&self) -> Vec<&str> {
        [
            &self.language1,
            &self.language2,
            &self.language3,
            &self.language4,
            &self.language5,
        ]
        .into_iter()
        .filter_map(|l| l.as_deref())
        .collect()
    }
}

/// What is needed to create an operator.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Name.
    pub name: String,
    /// Device API key.
    pub api_key: String,
    /// Billing API key; generated when `None`.
    pub billing_api_key: Option<String>,
    /// Content API key; generated when `None`.
    pub content_api_key: Option<String>,
    /// Domain prefix.
    pub domain_prefix: String,
    /// Contact e-mail.
    pub email: String,
    /// Currency code; `USD` when `None`.
    pub currency: Option<String>,
    /// Default language; `en` when `None`.
    pub default_language: Option<String>,
    /// Up to 5 additional languages.
    pub languages: Vec<String>,
}

const COLUMNS: &str = "id, name, api_key, billing_api_key, content_api_key, domain_prefix, email, \
    currency, default_language, language1, language2, language3, language4, language5, \
    is_active, created_at, updated_at";

/// Checks a client's fields; every problem is named.
pub fn validate(new: &NewClient) -> Result<()> {
    let mut problems = Vec::new();
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        problems.push("name must be 1 to 200 characters".to_string());
    }
    for (field, value) in [
        ("api_key", Some(&new.api_key)),
        ("billing_api_key", new.billing_api_key.as_ref()),
        ("content_api_key", new.content_api_key.as_ref()),
    ] {
        if let Some(v) = value {
            if v.len() < 8
                || v.len() > 128
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!(
                    "{field} must be 8 to 128 characters of letters, digits, '-' or '_'"
                ));
            }
        }
    }
    let dp = &new.domain_prefix;
    if dp.is_empty()
        || dp.len() > 63
        || dp.starts_with('-')
        || dp.ends_with('-')
        || !dp
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        problems.push(
            "domain_prefix must be a DNS label: 1 to 63 of a-z, 0-9 and '-', not at either end"
                .into(),
        );
    }
    if !is_email(&new.email) {
        problems.push(format!("email `{}` is not an e-mail address", new.email));
    }
    if let Some(c) = &new.currency {
        if c.len() != 3 || !c.chars().all(|c| c.is_ascii_uppercase()) {
            problems.push(format!(
                "currency `{c}` must be a 3-letter ISO 4217 code such as EUR"
            ));
        }
    }
    let mut langs: Vec<&String> = new.default_language.iter().collect();
    langs.extend(new.languages.iter());
    for l in &langs {
        if !(2..=3).contains(&l.len()) || !l.chars().all(|c| c.is_ascii_lowercase()) {
            problems.push(format!(
                "language `{l}` must be an ISO 639 code such as en or ru"
            ));
        }
    }
    if new.languages.len() > 5 {
        problems.push(format!(
            "at most 5 additional languages, {} given",
            new.languages.len()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(problems.join("; ")))
    }
}

/// A loose but useful e-mail check: one `@`, something on each side, a dot
/// in the domain, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.chars().any(char::is_whitespace)
        && s.len() <= 254
}

impl Store {
    /// Sets operator `id`'s interface languages: the default one and the
    /// five additional slots (`*_lang1` … `*_lang5`; `None` leaves a slot
    /// unused). Slots keep their numbers, so localised names already
    /// stored stay with their language. Codes are ISO 639 (`en`, `ru`),
    /// each at most once; the caller audits the change.
    pub async fn set_client_languages(
        &self,
        tx: &mut Tx,
        id: i64,
        default: &str,
        slots: &[Option<String>; 5],
    ) -> Result<()> {
        let mut problems = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (field, code) in std::iter::once(("default_language", Some(default))).chain(
            [
                "language1",
                "language2",
                "language3",
                "language4",
                "language5",
            ]
            .into_iter()
            .zip(slots.iter().map(Option::as_deref)),
        ) {
            let Some(code) = code else { continue };
            if !(2..=3).contains(&code.len()) || !code.chars().all(|c| c.is_ascii_lowercase()) {
                problems.push(format!(
                    "{field}: `{code}` must be an ISO 639 code such as en or ru"
                ));
            } else if seen.contains(&code) {
                problems.push(format!("{field}: `{code}` is given twice"));
            } else {
                seen.push(code);
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems.join("; ")));
        }
        use crate::audit::Arg;
        let mut args = vec![Arg::Text(default.to_string())];
        args.extend(slots.iter().map(|s| Arg::OptText(s.clone())));
        args.push(Arg::I64(now()));
        args.push(Arg::I64(id));
        let changed = tx
            .execute(
                "client",
                "UPDATE client SET default_language = $1, language1 = $2, language2 = $3, \
                 language3 = $4, language4 = $5, language5 = $6, updated_at = $7 WHERE id = $8",
                &args,
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                entity: "client",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Creates an operator and records it in the audit log. A duplicate
    /// `api_key`, `domain_prefix` or API key is a [`StoreError::Conflict`]
    /// and leaves nothing behind.
    pub async fn create_client(&self, tx: &mut Tx, new: &NewClient) -> Result<Client> {
        validate(new)?;
        let started = Instant::now();
        let billing = new
            .billing_api_key
            .clone()
            .unwrap_or_else(|| efir_core::secret::random_hex(16));
        let content = new
            .content_api_key
            .clone()
            .unwrap_or_else(|| efir_core::secret::random_hex(16));
        for (field, value) in [
            ("api_key", &new.api_key),
            ("domain_prefix", &new.domain_prefix),
        ] {
            let sql = format!("SELECT id FROM client WHERE {field} = $1");
            let found: Option<i64> = with_tx!(tx, c => sqlx::query_scalar(&sql)
                .bind(value)
                .fetch_optional(c)
                .await)?;
            if found.is_some() {
                return Err(StoreError::Conflict {
                    entity: "client",
                    field: field.into(),
                    value: if field == "api_key" {
                        "***".into()
                    } else {
                        value.clone()
                    },
                });
            }
        }
        let lang = |i: usize| new.languages.get(i).cloned();
        let ts = now();
        let sql = format!(
            "INSERT INTO client (name, api_key, billing_api_key, content_api_key, domain_prefix, \
             email, currency, default_language, language1, language2, language3, language4, \
             language5, is_active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, TRUE, $14, $14) \
             RETURNING {COLUMNS}"
        );
        tx.mark_changed("client");
        let client: Client = with_tx!(tx, c => sqlx::query_as(&sql)
            .bind(new.name.trim())
            .bind(&new.api_key)
            .bind(&billing)
            .bind(&content)
            .bind(&new.domain_prefix)
            .bind(&new.email)
            .bind(new.currency.as_deref().unwrap_or("USD"))
            .bind(new.default_language.as_deref().unwrap_or("en"))
            .bind(lang(0))
            .bind(lang(1))
            .bind(lang(2))
            .bind(lang(3))
            .bind(lang(4))
            .bind(ts)
            .fetch_one(c)
            .await)
        .map_err(|e| {
            map_unique(e, "client", "client", |f| match f {
                "domain_prefix" => new.domain_prefix.clone(),
                _ => "***".into(),
            })
        })?;
        tx.audit(
            Some(client.id),
            "create",
            "client",
            Some(client.id.to_string()),
            json!({
                "name": client.name,
                "domain_prefix": client.domain_prefix,
                "email": client.email,
                "currency": client.currency,
                "default_language": client.default_language,
                "languages": client.additional_languages(),
            }),
        )
        .await?;
        record_query("create_client", started);
        Ok(client)
    }

    /// One operator by id.
    pub async fn client(&self, id: i64) -> Result<Client> {
        let sql = format!("SELECT {COLUMNS} FROM client WHERE id = $1");
        let found: Option<Client> =
            with_db!(self.pool(), p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
        found.ok_or(StoreError::NotFound {
            entity: "client",
            id: id.to_string(),
        })
    }

    /// Every operator, by id.
    pub async fn clients(&self) -> Result<Vec<Client>> {
        let sql = format!("SELECT {COLUMNS} FROM client ORDER BY id");
        Ok(with_db!(self.pool(), p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// The operator whose device API key is `api_key`.
    pub async fn client_by_api_key(&self, api_key: &str) -> Result<Option<Client>> {
        let sql = format!("SELECT {COLUMNS} FROM client WHERE api_key = $1");
        Ok(with_db!(self.pool(), p => sqlx::query_as(&sql).bind(api_key).fetch_optional(p).await)?)
    }

    /// The operator with this domain prefix.
    pub async fn client_by_domain_prefix(&self, prefix: &str) -> Result<Option<Client>> {
        let sql = format!("SELECT {COLUMNS} FROM client WHERE domain_prefix = $1");
        Ok(with_db!(self.pool(), p => sqlx::query_as(&sql).bind(prefix).fetch_optional(p).await)?)
    }

    /// Number of operators.
    pub async fn client_count(&self) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM client";
        Ok(with_db!(self.pool(), p => sqlx::query_scalar(sql).fetch_one(p).await)?)
    }
}
