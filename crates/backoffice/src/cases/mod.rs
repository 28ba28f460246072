//! Cases and tasks: the operator's case management (issue 7).
//!
//! One generic engine runs every case type ([`types`]): a case moves only
//! along its type's allowed transitions, role-guarded where the type says
//! so; every move is logged. A case's due time comes from its type's SLA
//! and moves forward by the time it spends in waiting states (the SLA
//! clock pauses while the operator waits on the customer). Tasks on cases
//! carry deadlines and reminders; two scheduled jobs
//! ([`Cases::send_reminders`], [`Cases::escalate`]) turn due reminders and
//! overdue cases into in-app staff notifications, each exactly once.
//! Attachments ([`attachments`]) are size-limited and type-checked by their
//! bytes. Every call takes the time (`now`) explicitly so that tests and
//! scheduled runs use a frozen clock.

pub mod api;
pub mod attachments;
mod engine;
mod jobs;
pub mod types;

use std::path::PathBuf;

use efir_core::config::CasesConfig;
use efir_store::{Actor, Store, StoreError};
use serde::Serialize;

pub use engine::{Case, CaseFilter, Comment, NewCase, NewTask, Task, TaskUpdate, TransitionLog};
pub use jobs::{EscalationReport, Notification};
pub use types::{CaseType, CaseTypes};

/// A staff user's role, as far as cases are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every operator, every action.
    Superuser,
    /// Everything of their own operator.
    OperatorAdmin,
    /// Works cases of their own operator; no admin-only transitions.
    Support,
    /// Read-only.
    Monitoring,
}

/// The staff user a call acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// Staff user id.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Operator (none for superusers).
    pub client_id: Option<i64>,
}

impl Who {
    /// Whether this user may see objects of operator `client_id`.
    pub fn may_see(&self, client_id: i64) -> bool {
        self.role == Role::Superuser || self.client_id == Some(client_id)
    }

    /// The audit actor.
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.user_id,
            username: self.username.clone(),
        }
    }

    fn require_write(&self) -> Result<(), CaseError> {
        if self.role == Role::Monitoring {
            return Err(CaseError::Forbidden(
                "monitoring users are read-only".into(),
            ));
        }
        Ok(())
    }

    fn require_admin(&self) -> Result<(), CaseError> {
        match self.role {
            Role::Superuser | Role::OperatorAdmin => Ok(()),
            _ => Err(CaseError::Forbidden(
                "only an operator admin may do this".into(),
            )),
        }
    }
}

/// Errors of case operations; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// Unknown, deleted or another operator's object (404).
    #[error("{0} not found")]
    NotFound(String),
    /// Bad input in one field (422).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Not allowed in the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// Too large (413).
    #[error("{0}")]
    TooLarge(String),
    /// A type of file that is not accepted (415).
    #[error("{0}")]
    Unsupported(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file operation failed.
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
}

impl CaseError {
    fn field(field: &str, message: impl Into<String>) -> CaseError {
        CaseError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Result of case operations.
pub type CaseResult<T> = Result<T, CaseError>;

/// The case engine: the store, the case types, the `[cases]` settings and
/// the data directory (for attachments).
#[derive(Debug, Clone)]
pub struct Cases {
    store: Store,
    types: CaseTypes,
    config: CasesConfig,
    data_dir: PathBuf,
}

impl Cases {
    /// The engine over `store` with the types and limits of `config`.
    pub fn new(store: Store, config: &CasesConfig, data_dir: PathBuf) -> Cases {
        Cases {
            store,
            types: CaseTypes::new(config),
            config: config.clone(),
            data_dir,
        }
    }

    /// The case types.
    pub fn types(&self) -> &CaseTypes {
        &self.types
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}
