use std::fmt;
use std::str::FromStr;

/// A part of Efir that a process can run (`efir serve --role …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Subscriber middleware, EPG and back-office HTTP APIs.
    Api,
    /// The CDN request router.
    Router,
    /// An ingest worker node.
    Worker,
    /// The ingest dispatcher.
    Dispatcher,
    /// The built-in scheduler that replaces crontab.
    Scheduler,
}

impl Role {
    /// Every role, in the order they start.
    pub const ALL: [Role; 5] = [
        Role::Api,
        Role::Router,
        Role::Dispatcher,
        Role::Worker,
        Role::Scheduler,
    ];

    /// The role's name as written on the command line and in the config.
    pub fn name(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Router => "router",
            Role::Worker => "worker",
            Role::Dispatcher => "dispatcher",
            Role::Scheduler => "scheduler",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown role `{s}`, expected one of: all, {}",
                    Role::ALL.map(Role::name).join(", ")
                )
            })
    }
}

/// A set of roles, parsed from a comma-separated list such as `api,scheduler`
/// or `all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSet(Vec<Role>);

impl RoleSet {
    /// All roles.
    pub fn all() -> Self {
        RoleSet(Role::ALL.to_vec())
    }

    /// Whether this set includes `role`.
    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// The roles in start order.
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
}

impl FromStr for RoleSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut roles = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                return Ok(RoleSet::all());
            }
            let role: Role = part.parse()?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        if roles.is_empty() {
            return Err("no role given".into());
        }
        roles.sort();
        Ok(RoleSet(roles))
    }
}

impl fmt::Display for RoleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|r| r.name()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_all() {
        let set: RoleSet = "scheduler, api".parse().unwrap();
        assert!(set.contains(Role::Api) && set.contains(Role::Scheduler));
        assert!(!set.contains(Role::Router));
        assert_eq!(set.to_string(), "api,scheduler");
        assert_eq!("all".parse::<RoleSet>().unwrap(), RoleSet::all());
        assert!("api,bogus"
            .parse::<RoleSet>()
            .unwrap_err()
            .contains("bogus"));
        assert!("".parse::<RoleSet>().is_err());
    }
}
