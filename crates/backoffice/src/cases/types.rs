//! Case types: each a small state machine (states, the initial one, allowed
//! transitions with optional role guards, closed and SLA-paused states, an
//! SLA in hours). The four built-in types are data here, exactly like the
//! operator-defined `[[cases.type]]` ones, so one engine runs them all.

use efir_core::config::{CaseTransitionConfig, CaseTypeConfig, CasesConfig};
use serde::Serialize;

use super::Role;

/// Who may take a transition besides superusers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// Operator admins and support staff.
    Anyone,
    /// Operator admins only.
    AdminOnly,
}

/// One allowed transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// From this state.
    pub from: String,
    /// To this state.
    pub to: String,
    /// Who may take it.
    pub guard: Guard,
}

/// A case type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseType {
    /// Identifier.
    pub name: String,
    /// Human title.
    pub title: String,
    /// States in display order.
    pub states: Vec<String>,
    /// Where a new case starts.
    pub initial: String,
    /// Closed states.
    pub closed: Vec<String>,
    /// States that pause the SLA clock.
    pub waiting: Vec<String>,
    /// Hours from creation to the due time.
    pub sla_hours: Option<u32>,
    /// Default reminder offset of tasks, minutes before the deadline.
    pub remind_before_minutes: u32,
    /// Whether a case needs a set-top-box serial number.
    pub needs_serial: bool,
    /// Allowed transitions.
    pub transitions: Vec<Transition>,
    /// Whether the type is built in.
    pub builtin: bool,
}

impl CaseType {
    /// The transition `from → to`, if allowed.
    pub fn transition(&self, from: &str, to: &str) -> Option<&Transition> {
        self.transitions
            .iter()
            .find(|t| t.from == from && t.to == to)
    }

    /// Whether `state` is one of this type's states.
    pub fn has_state(&self, state: &str) -> bool {
        self.states.iter().any(|s| s == state)
    }

    /// Whether `state` closes a case.
    pub fn is_closed(&self, state: &str) -> bool {
        self.closed.iter().any(|s| s == state)
    }

    /// Whether `state` pauses the SLA clock.
    pub fn is_waiting(&self, state: &str) -> bool {
        self.waiting.iter().any(|s| s == state)
    }
}

impl Guard {
    /// Whether `role` passes this guard.
    pub fn allows(self, role: Role) -> bool {
        match role {
            Role::Superuser => true,
            Role::OperatorAdmin => true,
            Role::Support => self == Guard::Anyone,
            Role::Monitoring => false,
        }
    }
}

fn from_config(c: &CaseTypeConfig, default_remind: u32, builtin: bool) -> CaseType {
    CaseType {
        name: c.name.clone(),
        title: c.title.clone(),
        states: c.states.clone(),
        initial: c.initial.clone(),
        closed: c.closed.clone(),
        waiting: c.waiting.clone(),
        sla_hours: c.sla_hours,
        remind_before_minutes: c.remind_before_minutes.unwrap_or(default_remind),
        needs_serial: false,
        transitions: c
            .transitions
            .iter()
            .map(|t| Transition {
                from: t.from.clone(),
                to: t.to.clone(),
                guard: if !t.roles.is_empty() && t.roles.iter().all(|r| r == "admin") {
                    Guard::AdminOnly
                } else {
                    Guard::Anyone
                },
            })
            .collect(),
        builtin,
    }
}

fn builtin(
    name: &str,
    title: &str,
    states: &[&str],
    closed: &[&str],
    waiting: &[&str],
    sla_hours: u32,
    transitions: &[(&str, &str, bool)],
) -> CaseTypeConfig {
    let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    CaseTypeConfig {
        name: name.into(),
        title: title.into(),
        states: v(states),
        initial: states[0].into(),
        closed: v(closed),
        waiting: v(waiting),
        sla_hours: Some(sla_hours),
        remind_before_minutes: None,
        transitions: transitions
            .iter()
            .map(|(from, to, admin)| CaseTransitionConfig {
                from: from.to_string(),
                to: to.to_string(),
                roles: if *admin {
                    vec!["admin".into()]
                } else {
                    Vec::new()
                },
            })
            .collect(),
    }
}

/// The built-in case types as configuration.
fn builtin_configs() -> Vec<CaseTypeConfig> {
    vec![
        builtin(
            "connection_request",
            "Connection request",
            &[
                "new",
                "contacted",
                "install_scheduled",
                "equipment_issued",
                "activated",
                "closed",
                "cancelled",
            ],
            &["closed", "cancelled"],
            &[],
            72,
            &[
                ("new", "contacted", false),
                ("contacted", "install_scheduled", false),
                ("install_scheduled", "equipment_issued", false),
                ("equipment_issued", "activated", false),
                ("activated", "closed", false),
                ("new", "cancelled", false),
                ("contacted", "cancelled", false),
                ("install_scheduled", "cancelled", false),
                ("equipment_issued", "cancelled", false),
            ],
        ),
        builtin(
            "support_ticket",
            "Support ticket",
            &[
                "new",
                "in_progress",
                "waiting_customer",
                "resolved",
                "closed",
            ],
            &["closed"],
            &["waiting_customer"],
            24,
            &[
                ("new", "in_progress", false),
                ("in_progress", "waiting_customer", false),
                ("waiting_customer", "in_progress", false),
                ("in_progress", "resolved", false),
                ("resolved", "closed", false),
                ("resolved", "in_progress", false),
                ("closed", "in_progress", false),
            ],
        ),
        builtin(
            "payment_dispute",
            "Payment dispute",
            &["opened", "evidence", "approved", "rejected", "closed"],
            &["closed"],
            &[],
            120,
            &[
                ("opened", "evidence", false),
                ("evidence", "approved", true),
                ("evidence", "rejected", true),
                ("approved", "closed", false),
                ("rejected", "closed", false),
            ],
        ),
        builtin(
            "box_swap",
            "Set-top-box swap or return",
            &["requested", "box_sent", "box_received", "checked", "closed"],
            &["closed"],
            &[],
            72,
            &[
                ("requested", "box_sent", false),
                ("requested", "box_received", false),
                ("box_sent", "box_received", false),
                ("box_received", "checked", false),
                ("checked", "closed", false),
            ],
        ),
    ]
}

/// Every case type: the built-in ones, then the configured ones.
#[derive(Debug, Clone)]
pub struct CaseTypes(Vec<CaseType>);

impl CaseTypes {
    /// The built-in types plus those of `config` (checked by
    /// [`CasesConfig::problems`] at startup).
    pub fn new(config: &CasesConfig) -> CaseTypes {
        let remind = config.remind_before_minutes;
        let mut all: Vec<CaseType> = builtin_configs()
            .iter()
            .map(|c| from_config(c, remind, true))
            .collect();
        if let Some(t) = all.iter_mut().find(|t| t.name == "box_swap") {
            t.needs_serial = true;
        }
        all.extend(config.types.iter().map(|c| from_config(c, remind, false)));
        CaseTypes(all)
    }

    /// The type named `name`.
    pub fn get(&self, name: &str) -> Option<&CaseType> {
        self.0.iter().find(|t| t.name == name)
    }

    /// All types.
    pub fn all(&self) -> &[CaseType] {
        &self.0
    }
}

impl Default for CaseTypes {
    fn default() -> Self {
        CaseTypes::new(&CasesConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_types_are_valid_config() {
        let cfg = CasesConfig::default();
        // Checked with the same rules as operator-defined types.
        for mut t in builtin_configs() {
            t.name = format!("x_{}", t.name);
            let c = CasesConfig {
                types: vec![t],
                ..cfg.clone()
            };
            assert!(c.problems().is_empty(), "{:?}", c.problems());
        }
    }

    #[test]
    fn dispute_approval_is_admin_only() {
        let types = CaseTypes::default();
        let t = types.get("payment_dispute").unwrap();
        let tr = t.transition("evidence", "approved").unwrap();
        assert!(!tr.guard.allows(Role::Support));
        assert!(tr.guard.allows(Role::OperatorAdmin));
        assert!(t.transition("opened", "approved").is_none());
    }
}
