//! Versioned migrations that run on SQLite and PostgreSQL.
//!
//! Each migration is one SQL file under `crates/store/migrations/`, embedded
//! in the binary. A file serves both databases: `{{id}}` becomes the
//! dialect's auto-increment primary key, and blocks after `-- @sqlite` or
//! `-- @postgres` run on that database only (until `-- @all`). Applied
//! migrations are recorded in `efir_migrations` with a checksum; a changed
//! file, or a database newer than the binary, is refused. Each migration
//! runs in its own transaction, so a failure leaves the previous version.
//! Later parts of Efir add their tables by appending to [`MIGRATIONS`].

use std::time::Instant;

use efir_core::config::DatabaseKind;

use crate::{now, record_query, Result, Store, StoreError};

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version, strictly increasing.
    pub version: i64,
    /// Short name.
    pub name: &'static str,
    /// The SQL file.
    pub sql: &'static str,
}

/// Every migration this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sql: include_str!("../migrations/0001_core.sql"),
    },
    Migration {
        version: 2,
        name: "middleware",
        sql: include_str!("../migrations/0002_middleware.sql"),
    },
    Migration {
        version: 3,
        name: "epg",
        sql: include_str!("../migrations/0003_epg.sql"),
    },
    Migration {
        version: 4,
        name: "router",
        sql: include_str!("../migrations/0004_router.sql"),
    },
    Migration {
        version: 5,
        name: "ingest",
        sql: include_str!("../migrations/0005_ingest.sql"),
    },
    Migration {
        version: 6,
        name: "admin",
        sql: include_str!("../migrations/0006_admin.sql"),
    },
    Migration {
        version: 7,
        name: "billing",
        sql: include_str!("../migrations/0007_billing.sql"),
    },
    Migration {
        version: 8,
        name: "messages",
        sql: include_str!("../migrations/0008_messages.sql"),
    },
    Migration {
        version: 9,
        name: "stats",
        sql: include_str!("../migrations/0009_stats.sql"),
    },
    Migration {
        version: 10,
        name: "cases",
        sql: include_str!("../migrations/0010_cases.sql"),
    },
    Migration {
        version: 11,
        name: "panel",
        sql: include_str!("../migrations/0011_panel.sql"),
    },
    Migration {
        version: 12,
        name: "nodes",
        sql: include_str!("../migrations/0012_nodes.sql"),
    },
];

/// The state of one migration in a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// When it was applied (Unix seconds), if it was.
    pub applied_at: Option<i64>,
}

impl Migration {
    /// The SQL for `kind`, with dialect blocks and placeholders resolved.
    pub fn sql_for(&self, kind: DatabaseKind) -> String {
        let mut out = String::new();
        let mut active = true;
        for line in self.sql.lines() {
            match line.trim() {
                "-- @sqlite" => active = kind == DatabaseKind::Sqlite,
                "-- @postgres" => active = kind == DatabaseKind::Postgres,
                "-- @all" => active = true,
                _ if active => {
                    out.push_str(line);
                    out.push('\n');
                }
                _ => {}
            }
        }
        let id = match kind {
            DatabaseKind::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            DatabaseKind::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        let bytes = match kind {
            DatabaseKind::Sqlite => "BLOB",
            DatabaseKind::Postgres => "BYTEA",
        };
        out.replace("{{id}}", id).replace("{{bytes}}", bytes)
    }

    /// A checksum of the embedded file (FNV-1a, hex), to notice edits of
    /// applied migrations.
    pub fn checksum(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.sql.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS efir_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

impl Store {
    /// The highest migration version this build knows.
    pub fn latest_version() -> i64 {
        MIGRATIONS.last().map_or(0, |m| m.version)
    }

    /// Applies every pending migration; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<Migration>> {
        self.migrate_to(Self::latest_version()).await
    }

    /// Applies pending migrations up to and including `target`.
    pub async fn migrate_to(&self, target: i64) -> Result<Vec<Migration>> {
        let started = Instant::now();
        with_db!(self.pool(), p => sqlx::query(CREATE_TABLE).execute(p).await.map(|_| ()))?;
        let applied = self.applied().await?;
        self.check_applied(&applied)?;
        let mut done = Vec::new();
        for m in MIGRATIONS.iter().filter(|m| m.version <= target) {
            if applied.iter().any(|(v, _)| *v == m.version) {
                continue;
            }
            if self.apply(m).await? {
                tracing::info!(version = m.version, name = m.name, "applied migration");
                done.push(*m);
            }
        }
        record_query("migrate", started);
        Ok(done)
    }

    /// Versions and checksums recorded in the database (empty when none).
    async fn applied(&self) -> Result<Vec<(i64, String)>> {
        let q = "SELECT version, checksum FROM efir_migrations ORDER BY version";
        Ok(with_db!(self.pool(), p => sqlx::query_as::<_, (i64, String)>(q).fetch_all(p).await)?)
    }

    fn check_applied(&self, applied: &[(i64, String)]) -> Result<()> {
        for (version, checksum) in applied {
            match MIGRATIONS.iter().find(|m| m.version == *version) {
                None => {
                    return Err(StoreError::Migration(format!(
                        "the database is at schema version {version}, newer than this build of \
                         Efir knows ({}); refusing to run an older Efir against it",
                        Self::latest_version()
                    )))
                }
                Some(m) if m.checksum() != *checksum => {
                    return Err(StoreError::Migration(format!(
                        "migration {version} ({}) differs from the one applied to this database",
                        m.name
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Applies one migration in a transaction. Returns false when another
    /// process applied it first.
    async fn apply(&self, m: &Migration) -> Result<bool> {
        let sql = m.sql_for(self.kind());
        let insert = "INSERT INTO efir_migrations (version, name, checksum, applied_at) \
                      VALUES ($1, $2, $3, $4)";
        let fail = |e: sqlx::Error| {
            StoreError::Migration(format!("migration {} ({}) failed: {e}", m.version, m.name))
        };
        // Take the write lock first so that concurrent processes serialise
        // here instead of failing half-way.
        let lock = match self.kind() {
            DatabaseKind::Sqlite => "UPDATE efir_migrations SET version = version WHERE 1 = 0",
            DatabaseKind::Postgres => "LOCK TABLE efir_migrations IN EXCLUSIVE MODE",
        };
        with_db!(self.pool(), p => {
            let mut tx = p.begin().await?;
            sqlx::query(lock).execute(&mut *tx).await?;
            let seen: Option<i64> =
                sqlx::query_scalar("SELECT version FROM efir_migrations WHERE version = $1")
                    .bind(m.version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if seen.is_some() {
                return Ok(false);
            }
            sqlx::Executor::execute(&mut *tx, sql.as_str())
                .await
                .map_err(fail)?;
            sqlx::query(insert)
                .bind(m.version)
                .bind(m.name)
                .bind(m.checksum())
                .bind(now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Every known migration with whether it is applied.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>> {
        with_db!(self.pool(), p => sqlx::query(CREATE_TABLE).execute(p).await.map(|_| ()))?;
        let q = "SELECT version, applied_at FROM efir_migrations";
        let rows: Vec<(i64, i64)> =
            with_db!(self.pool(), p => sqlx::query_as(q).fetch_all(p).await)?;
        Ok(MIGRATIONS
            .iter()
            .map(|m| MigrationStatus {
                version: m.version,
                name: m.name.to_string(),
                applied_at: rows.iter().find(|(v, _)| *v == m.version).map(|r| r.1),
            })
            .collect())
    }

    /// The highest applied version, 0 for an empty database.
    pub async fn schema_version(&self) -> Result<i64> {
        let status = self.migration_status().await?;
        Ok(status
            .iter()
            .filter(|s| s.applied_at.is_some())
            .map(|s| s.version)
            .max()
            .unwrap_or(0))
    }

    /// Errors when the database holds a migration this build does not know
    /// (a newer schema) or one whose file changed; pending migrations are
    /// fine. Writes nothing but the (empty) bookkeeping table.
    pub async fn check_schema(&self) -> Result<()> {
        with_db!(self.pool(), p => sqlx::query(CREATE_TABLE).execute(p).await.map(|_| ()))?;
        let applied = self.applied().await?;
        self.check_applied(&applied)
    }

    /// Errors unless every known migration is applied (for processes that
    /// run with `auto_migrate = false`).
    pub async fn require_migrated(&self) -> Result<()> {
        let applied = self.applied().await.unwrap_or_default();
        self.check_applied(&applied)?;
        let pending: Vec<String> = MIGRATIONS
            .iter()
            .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
            .map(|m| format!("{} ({})", m.version, m.name))
            .collect();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Migration(format!(
                "pending migrations: {}; run `efir manage migrate`",
                pending.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_blocks_are_selected() {
        let m = MIGRATIONS[0];
        let lite = m.sql_for(DatabaseKind::Sqlite);
        let pg = m.sql_for(DatabaseKind::Postgres);
        assert!(lite.contains("INTEGER PRIMARY KEY AUTOINCREMENT"));
        assert!(lite.contains("RAISE(ABORT"));
        assert!(!lite.contains("plpgsql"));
        assert!(pg.contains("BIGSERIAL PRIMARY KEY"));
        assert!(pg.contains("plpgsql"));
        assert!(!pg.contains("RAISE(ABORT"));
        assert!(!pg.contains("{{id}}"));
    }

    #[test]
    fn versions_strictly_increase() {
        for w in MIGRATIONS.windows(2) {
            assert!(w[0].version < w[1].version);
        }
    }
}
