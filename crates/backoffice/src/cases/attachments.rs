//! Case attachments: files kept under
//! `<data_dir>/attachments/<client>/<case>/<random name>`.
//!
//! A file is accepted only when it is within `cases.max_attachment_bytes`
//! and its bytes are one of the allowed kinds (PDF, PNG, JPEG, plain
//! UTF-8 text); a declared content type or a known file extension that
//! disagrees with the bytes is refused (415), so an executable named
//! `.pdf` or a "PNG" that is not one never lands. The uploader's file name
//! is display metadata only: the stored name is a fresh UUID, so no name
//! can point outside the case's directory. Checks run before anything is
//! written; a failed database insert removes the file again.

use std::path::PathBuf;

use efir_store::audit::Arg;
use efir_store::{with_db, StoreError};
use serde::Serialize;
use serde_json::json;

use super::{CaseError, CaseResult, Cases, Who};

/// One stored attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Attachment {
    /// Id.
    pub id: i64,
    /// Case.
    pub case_id: i64,
    /// Name on disk (a UUID), never shown to clients.
    #[serde(skip_serializing)]
    pub stored_name: String,
    /// The uploader's file name (display only).
    pub file_name: String,
    /// Content type, from the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size: i64,
    /// Who uploaded it.
    pub author: String,
    /// When.
    pub at: i64,
}

/// The allowed kinds: (content type, extensions, magic check).
const KINDS: &[(&str, &[&str])] = &[
    ("application/pdf", &["pdf"]),
    ("image/png", &["png"]),
    ("image/jpeg", &["jpg", "jpeg"]),
    ("text/plain", &["txt", "text", "log", "csv"]),
];

/// The content type of `bytes` if it is one of the allowed kinds.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if !bytes.is_empty()
        && std::str::from_utf8(bytes).is_ok_and(|s| {
            s.chars()
                .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
        })
    {
        Some("text/plain")
    } else {
        None
    }
}

/// The uploader's name reduced to a harmless display name: the last path
/// component, without control characters, at most 200 characters.
pub fn display_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    let clean = clean.trim().trim_start_matches('.').to_string();
    if clean.is_empty() {
        "attachment".into()
    } else {
        clean
    }
}

impl Cases {
    fn case_dir(&self, client_id: i64, case_id: i64) -> PathBuf {
        self.data_dir
            .join("attachments")
            .join(client_id.to_string())
            .join(case_id.to_string())
    }

    /// The largest accepted attachment, in bytes.
    pub fn max_attachment_bytes(&self) -> u64 {
        self.config.max_attachment_bytes
    }

    /// Stores `bytes` as an attachment of case `case_id`.
    pub async fn add_attachment(
        &self,
        who: &Who,
        case_id: i64,
        file_name: &str,
        declared_type: Option<&str>,
        bytes: &[u8],
        now: i64,
    ) -> CaseResult<Attachment> {
        who.require_write()?;
        let case = self.get(who, case_id).await?;
        if bytes.len() as u64 > self.config.max_attachment_bytes {
            return Err(CaseError::TooLarge(format!(
                "attachments are limited to {} bytes",
                self.config.max_attachment_bytes
            )));
        }
        let kind = sniff(bytes).ok_or_else(|| {
            CaseError::Unsupported("only PDF, PNG, JPEG and plain text files are accepted".into())
        })?;
        if let Some(declared) = declared_type {
            let declared = declared
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if !declared.is_empty() && declared != "application/octet-stream" && declared != kind {
                return Err(CaseError::Unsupported(format!(
                    "declared type {declared} but the file is {kind}"
                )));
            }
        }
        let name = display_name(file_name);
        if let Some((_, ext)) = name.rsplit_once('.') {
            let ext = ext.to_ascii_lowercase();
            let claimed = KINDS.iter().find(|(_, exts)| exts.contains(&ext.as_str()));
            match claimed {
                Some((t, _)) if *t != kind => {
                    return Err(CaseError::Unsupported(format!(
                        "the name says .{ext} but the file is {kind}"
                    )))
                }
                None if [
                    "exe", "dll", "bat", "cmd", "sh", "js", "html", "htm", "svg", "com", "scr",
                    "msi",
                ]
                .contains(&ext.as_str()) =>
                {
                    return Err(CaseError::Unsupported(format!(
                        ".{ext} files are not accepted"
                    )))
                }
                _ => {}
            }
        }

        let dir = self.case_dir(case.client_id, case_id);
        tokio::fs::create_dir_all(&dir).await?;
        let stored = uuid::Uuid::new_v4().simple().to_string();
        let tmp = dir.join(format!(".{stored}.part"));
        let path = dir.join(&stored);
        tokio::fs::write(&tmp, bytes).await?;
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        let result = self
            .insert_attachment(who, &case, &stored, &name, kind, bytes.len() as i64, now)
            .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_attachment(
        &self,
        who: &Who,
        case: &super::Case,
        stored: &str,
        name: &str,
        kind: &str,
        size: i64,
        now: i64,
    ) -> CaseResult<Attachment> {
        let mut tx = self.store.begin(who.actor()).await?;
        let author = tx.actor().to_string();
        tx.execute(
            "case_attachment",
            "INSERT INTO case_attachment (case_id, stored_name, file_name, content_type, size, author, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                Arg::I64(case.id),
                Arg::Text(stored.into()),
                Arg::Text(name.into()),
                Arg::Text(kind.into()),
                Arg::I64(size),
                Arg::Text(author.clone()),
                Arg::I64(now),
            ],
        )
        .await?;
        tx.audit(
            Some(case.client_id),
            "case.attachment",
            "case",
            Some(case.id.to_string()),
            json!({"after": {"file_name": name, "content_type": kind, "size": size}}),
        )
        .await?;
        tx.commit().await?;
        let sql = "SELECT id, case_id, stored_name, file_name, content_type, size, author, at \
                   FROM case_attachment WHERE stored_name = $1";
        Ok(
            with_db!(self.store.pool(), p => sqlx::query_as::<_, Attachment>(sql)
            .bind(stored)
            .fetch_one(p)
            .await)
            .map_err(StoreError::from)?,
        )
    }

    /// The attachments of a case.
    pub async fn attachments(&self, who: &Who, case_id: i64) -> CaseResult<Vec<Attachment>> {
        self.get(who, case_id).await?;
        let sql = "SELECT id, case_id, stored_name, file_name, content_type, size, author, at \
                   FROM case_attachment WHERE case_id = $1 ORDER BY id";
        Ok(
            with_db!(self.store.pool(), p => sqlx::query_as::<_, Attachment>(sql)
            .bind(case_id)
            .fetch_all(p)
            .await)
            .map_err(StoreError::from)?,
        )
    }

    /// Attachment `id` of case `case_id` and its bytes.
    pub async fn attachment(
        &self,
        who: &Who,
        case_id: i64,
        id: i64,
    ) -> CaseResult<(Attachment, Vec<u8>)> {
        let case = self.get(who, case_id).await?;
        let sql = "SELECT id, case_id, stored_name, file_name, content_type, size, author, at \
                   FROM case_attachment WHERE id = $1 AND case_id = $2";
        let att: Option<Attachment> =
            with_db!(self.store.pool(), p => sqlx::query_as::<_, Attachment>(sql)
            .bind(id)
            .bind(case_id)
            .fetch_optional(p)
            .await)
            .map_err(StoreError::from)?;
        let att = att.ok_or_else(|| CaseError::NotFound(format!("attachment {id}")))?;
        if !att.stored_name.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(CaseError::NotFound(format!("attachment {id}")));
        }
        let bytes = tokio::fs::read(
            self.case_dir(case.client_id, case_id)
                .join(&att.stored_name),
        )
        .await?;
        Ok((att, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_allowed_kinds_only() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff("привет\n".as_bytes()), Some("text/plain"));
        assert_eq!(sniff(b"MZ\x90\x00\x03\x00"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn display_names_lose_paths() {
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(display_name("/"), "attachment");
        assert_eq!(display_name("..."), "attachment");
    }
}
