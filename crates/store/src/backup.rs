//! Online backup and restore.
//!
//! SQLite: `VACUUM INTO` writes a consistent copy while Efir runs; restore
//! checks the copy (integrity, schema version) and swaps it in, refusing
//! while another Efir process has the database open. PostgreSQL:
//! `pg_dump --format=custom` and `pg_restore --clean --single-transaction`,
//! with the password passed through `PGPASSWORD`, never on the command line.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

use crate::{ConnectOptions as StoreConnectOptions, Pool, Result, Store, StoreError};

/// The kind of a backup file, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupFormat {
    /// An SQLite database file.
    Sqlite,
    /// A `pg_dump` custom-format archive.
    PgDump,
}

fn err(msg: impl Into<String>) -> StoreError {
    StoreError::Backup(msg.into())
}

/// Reads the format of the backup at `path`.
pub fn detect_format(path: &Path) -> Result<BackupFormat> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut f =
        File::open(path).map_err(|e| err(format!("cannot open {}: {e}", path.display())))?;
    let n = f
        .read(&mut head)
        .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    if n >= 16 && &head == b"SQLite format 3\0" {
        Ok(BackupFormat::Sqlite)
    } else if n >= 5 && &head[..5] == b"PGDMP" {
        Ok(BackupFormat::PgDump)
    } else {
        Err(err(format!(
            "{} is neither an SQLite database nor a pg_dump custom archive",
            path.display()
        )))
    }
}

/// Splits the password out of a PostgreSQL URL, to pass it by environment.
fn split_password(url: &str) -> (String, Option<String>) {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, pass)) = userinfo.split_once(':') {
                return (format!("{scheme}://{user}@{host}"), Some(pass.to_string()));
            }
        }
    }
    (url.to_string(), None)
}

fn run_tool(tool: &str, args: &[&str], password: Option<&str>) -> Result<()> {
    let mut cmd = Command::new(tool);
    cmd.args(args);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            err(format!(
                "{tool} is not installed; install the PostgreSQL client tools \
                 (Debian: apt-get install postgresql-client) to back up or restore PostgreSQL"
            ))
        } else {
            err(format!("cannot run {tool}: {e}"))
        }
    })?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(err(format!("{tool} failed: {}", stderr.trim())))
    }
}

impl Store {
    /// Writes a consistent backup of the database to `output`, which must
    /// not exist yet.
    pub async fn backup(&self, output: &Path) -> Result<BackupFormat> {
        if output.exists() {
            return Err(err(format!(
                "{} already exists; choose another file or remove it",
                output.display()
            )));
        }
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                return Err(err(format!(
                    "directory {} does not exist",
                    parent.display()
                )));
            }
        }
        match self.pool() {
            Pool::Sqlite(p) => {
                let target = output.to_string_lossy().to_string();
                sqlx::query("VACUUM INTO $1")
                    .bind(&target)
                    .execute(p)
                    .await?;
                Ok(BackupFormat::Sqlite)
            }
            Pool::Postgres(_) => {
                let (url, password) = split_password(self.url());
                let out = output.to_string_lossy().to_string();
                let partial = format!("{out}.partial");
                let result = run_tool(
                    "pg_dump",
                    &[
                        "--format=custom",
                        "--no-owner",
                        "--file",
                        &partial,
                        "--dbname",
                        &url,
                    ],
                    password.as_deref(),
                );
                match result {
                    Ok(()) => std::fs::rename(&partial, &out)
                        .map_err(|e| err(format!("cannot write {out}: {e}")))?,
                    Err(e) => {
                        let _ = std::fs::remove_file(&partial);
                        return Err(e);
                    }
                }
                Ok(BackupFormat::PgDump)
            }
        }
    }

    /// Replaces the database with the backup at `input`, then applies any
    /// migrations the backup lacks. Consumes the store (its connections are
    /// closed) and returns a new one.
    pub async fn restore(self, input: &Path, opts: &StoreConnectOptions) -> Result<Store> {
        let format = detect_format(input)?;
        match (&self.pool, format) {
            (Pool::Sqlite(_), BackupFormat::Sqlite) => self.restore_sqlite(input, opts).await,
            (Pool::Postgres(_), BackupFormat::PgDump) => {
                let (url, password) = split_password(self.url());
                let input_s = input.to_string_lossy().to_string();
                run_tool(
                    "pg_restore",
                    &[
                        "--clean",
                        "--if-exists",
                        "--no-owner",
                        "--single-transaction",
                        "--exit-on-error",
                        "--dbname",
                        &url,
                        &input_s,
                    ],
                    password.as_deref(),
                )?;
                self.migrate().await?;
                Ok(self)
            }
            (Pool::Sqlite(_), BackupFormat::PgDump) => Err(err(
                "this is a PostgreSQL backup and the database is SQLite; \
                 set --database-url to the PostgreSQL database",
            )),
            (Pool::Postgres(_), BackupFormat::Sqlite) => Err(err(
                "this is an SQLite backup and the database is PostgreSQL; \
                 restore it with --database-url sqlite://FILE",
            )),
        }
    }

    async fn restore_sqlite(self, input: &Path, opts: &StoreConnectOptions) -> Result<Store> {
        let version = check_sqlite_backup(input).await?;
        if version > Store::latest_version() {
            return Err(err(format!(
                "the backup is at schema version {version}, newer than this build of Efir ({})",
                Store::latest_version()
            )));
        }
        let db = self
            .sqlite_path()
            .map(Path::to_path_buf)
            .ok_or_else(|| err("not an SQLite store"))?;
        let url = self.url().to_string();
        self.close().await;
        drop(self);

        // Another Efir process holding the database open holds a shared
        // lock on its lock file.
        let lock = File::create(lock_path(&db))
            .map_err(|e| err(format!("cannot create lock file: {e}")))?;
        if lock.try_lock().is_err() {
            return Err(err(format!(
                "{} is in use by a running Efir process; stop it before restoring",
                db.display()
            )));
        }
        let tmp = db.with_extension("restore-tmp");
        std::fs::copy(input, &tmp).map_err(|e| err(format!("cannot copy backup: {e}")))?;
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", db.display()));
            if side.exists() {
                std::fs::remove_file(&side)
                    .map_err(|e| err(format!("cannot remove {}: {e}", side.display())))?;
            }
        }
        std::fs::rename(&tmp, &db).map_err(|e| err(format!("cannot replace database: {e}")))?;
        drop(lock);
        let store = Store::connect(&url, opts).await?;
        store.migrate().await?;
        Ok(store)
    }
}

/// The lock file beside an SQLite database.
pub fn lock_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.lock", db.display()))
}

/// Opens an SQLite backup read-only, checks its integrity and returns its
/// schema version.
async fn check_sqlite_backup(input: &Path) -> Result<i64> {
    let opts =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", input.display()))?.read_only(true);
    let mut conn = opts
        .connect()
        .await
        .map_err(|e| err(format!("cannot open backup: {e}")))?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| err(format!("backup is damaged: {e}")))?;
    if check != "ok" {
        return Err(err(format!("backup is damaged: {check}")));
    }
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM efir_migrations")
        .fetch_one(&mut conn)
        .await
        .map_err(|_| err("this SQLite file is not an Efir database (no efir_migrations table)"))?;
    Ok(version.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn password_is_split_out() {
        assert_eq!(
            super::split_password("postgres://u:p%40ss@h:5432/db"),
            (
                "postgres://u@h:5432/db".to_string(),
                Some("p%40ss".to_string())
            )
        );
        assert_eq!(
            super::split_password("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), None)
        );
    }
}
