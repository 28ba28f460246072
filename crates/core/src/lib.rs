//! Efir's small shared core.
//!
//! Everything here is used by several parts of Efir and depends on nothing
//! else in the workspace:
//!
//! * [`clock`]: the wall clock, frozen by `EFIR_NOW` in tests;
//! * [`config`]: the one TOML configuration file, its defaults, environment
//!   overrides (`EFIR_*`) and validation with errors that name key and line;
//! * [`money`]: exact fixed-point amounts for balances and prices;
//! * [`net`]: IPv4/IPv6 networks (CIDR);
//! * [`password`]: argon2 password hashing and verification;
//! * [`secret`]: random API keys and tokens, constant-time comparison;
//! * [`Role`]: the parts of Efir that one process can run.

pub mod clock;
pub mod config;
pub mod money;
pub mod net;
pub mod password;
pub mod secret;

mod role;

pub use config::Config;
pub use role::{Role, RoleSet};

/// The version of Efir, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
