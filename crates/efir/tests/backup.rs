//! Backups with retention (directory and a real sshd), restore by name and
//! `--latest`, `mirror` and the environment marker, driving the real binary
//! on SQLite and PostgreSQL.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, stderr, stdout, Env, Running};

fn create_client(env: &Env, extra: &[(&str, &str)], prefix: &str) {
    let key = format!("key-{prefix}-0001");
    let mut cmd = env.cmd();
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd
        .args([
            "manage",
            "create-client",
            "--name",
            "Test TV",
            "--api-key",
            &key,
            "--domain-prefix",
            prefix,
            "--email",
            "ops@test.tv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn prefixes(env: &Env) -> Vec<String> {
    let clients = env.manage_json(&["list-clients"]);
    let mut v: Vec<String> = clients
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["domain_prefix"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// `efir manage ARGS` with extra environment variables.
fn manage_with(env: &Env, vars: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = env.cmd();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.arg("manage").args(args).output().unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn ext(env: &Env) -> &'static str {
    if env.label() == "sqlite" {
        "db"
    } else {
        "pgdump"
    }
}

#[tokio::test]
async fn backup_to_a_directory_keeps_the_newest_and_nothing_else_is_touched() {
    for env in Env::both().await {
        let label = env.label();
        let dir = env.path("backups");
        std::fs::create_dir_all(&dir).unwrap();
        let foreign = [
            "notes.txt".to_string(),
            format!("efir.{}", ext(&env)),
            format!("efir-staging-20200101T000000.000Z.{}", ext(&env)),
        ];
        for f in &foreign {
            std::fs::write(dir.join(f), b"not ours").unwrap();
        }
        let vars = [
            ("EFIR_BACKUP_DIR", dir.display().to_string()),
            ("EFIR_BACKUP_KEEP", "3".to_string()),
        ];
        create_client(&env, &[], "kept");
        let out = manage_with(&env, &vars, &["environment", "set", "production"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let mut made = Vec::new();
        let started = Instant::now();
        for _ in 0..5 {
            let out = manage_with(&env, &vars, &["backup", "--json"]);
            assert!(out.status.success(), "{label}: {}", stderr(&out));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let name = v["name"].as_str().unwrap().to_string();
            assert!(
                name.starts_with("efir-production-") && name.ends_with(ext(&env)),
                "{name}"
            );
            made.push(name);
        }
        eprintln!(
            "{label}: 5 backups with retention in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        let mut expected: Vec<String> = made[2..].to_vec();
        expected.extend(foreign.iter().cloned());
        expected.sort();
        assert_eq!(files_in(&dir), expected, "{label}");
        for f in &foreign {
            assert_eq!(std::fs::read(dir.join(f)).unwrap(), b"not ours");
        }

        // --list shows our backups (the foreign-environment one too).
        let out = manage_with(&env, &vars, &["backup", "--list", "--json"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let names: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 4, "{label}: {names:?}");
        assert!(listed[0]["bytes"].as_u64().unwrap() > 0);

        // restore --latest gives back the data of the newest backup.
        create_client(&env, &[], "lost");
        let out = manage_with(&env, &vars, &["restore", "--latest"]);
        assert_eq!(out.status.code(), Some(1), "{label}: --yes required");
        assert_eq!(prefixes(&env), vec!["kept", "lost"]);
        let out = manage_with(&env, &vars, &["restore", "--latest", "--yes"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        assert!(stdout(&out).contains(&made[4]), "{}", stdout(&out));
        assert_eq!(prefixes(&env), vec!["kept"], "{label}");

        // A backup of the other kind is refused by name, clearly.
        let other = if ext(&env) == "db" { "pgdump" } else { "db" };
        let name = format!("efir-production-20200101T000000.000Z.{other}");
        let out = manage_with(&env, &vars, &["restore", "--name", &name, "--yes"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("same kind"),
            "{label}: {}",
            stderr(&out)
        );
        env.cleanup().await;
    }
}

/// A real OpenSSH server on a loopback port, run as the current user with
/// keys made for the test.
struct Sshd {
    _proc: Running,
    port: u16,
    dir: tempfile::TempDir,
    user: String,
}

impl Sshd {
    fn start() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for key in ["host_key", "client_key", "other_host_key"] {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .status()
                .expect("ssh-keygen (openssh-client) is installed");
            assert!(st.success());
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\n\
                 AuthorizedKeysFile {ak}\nStrictModes no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nLogLevel ERROR\n",
                hk = d.join("host_key").display(),
                pid = d.join("sshd.pid").display(),
                ak = d.join("authorized_keys").display(),
            ),
        )
        .unwrap();
        let mut cmd = Command::new("/usr/sbin/sshd");
        cmd.args(["-D", "-e", "-f"]).arg(d.join("sshd_config"));
        let proc = Running::spawn(cmd, &d.join("sshd.log"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {host_pub}"),
        )
        .unwrap();
        let other_pub = std::fs::read_to_string(d.join("other_host_key.pub")).unwrap();
        std::fs::write(
            d.join("wrong_known_hosts"),
            format!("[127.0.0.1]:{port} {other_pub}"),
        )
        .unwrap();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        Sshd {
            _proc: proc,
            port,
            dir,
            user,
        }
    }

    fn remote_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn vars(&self, remote: &str) -> Vec<(&'static str, String)> {
        vec![
            (
                "EFIR_BACKUP_REMOTE",
                format!(
                    "{}@127.0.0.1:{}",
                    self.user,
                    self.remote_dir(remote).display()
                ),
            ),
            ("EFIR_BACKUP_SSH_PORT", self.port.to_string()),
            (
                "EFIR_BACKUP_SSH_IDENTITY",
                self.dir.path().join("client_key").display().to_string(),
            ),
            (
                "EFIR_BACKUP_SSH_KNOWN_HOSTS",
                self.dir.path().join("known_hosts").display().to_string(),
            ),
            ("EFIR_BACKUP_KEEP", "2".to_string()),
        ]
    }
}

#[tokio::test]
async fn backup_over_ssh_with_remote_retention_and_restore_latest_from_remote() {
    let sshd = Sshd::start();
    for env in Env::both().await {
        let label = env.label();
        let remote = format!("remote-{label}");
        let vars = sshd.vars(&remote);
        create_client(&env, &[], "before");
        let mut made = Vec::new();
        for _ in 0..4 {
            let started = Instant::now();
            let out = manage_with(&env, &vars, &["backup", "--json"]);
            assert!(out.status.success(), "{label}: {}", stderr(&out));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            eprintln!(
                "{label}: backup of {} bytes over ssh with retention in {:.2} s",
                v["bytes"],
                started.elapsed().as_secs_f64()
            );
            assert!(v.get("local").is_none(), "no backup.dir: no local copy");
            made.push(v["name"].as_str().unwrap().to_string());
        }
        // Retention on the backup host: the two newest, nothing partial.
        assert_eq!(
            files_in(&sshd.remote_dir(&remote)),
            made[2..].to_vec(),
            "{label}"
        );
        let out = manage_with(&env, &vars, &["backup", "--list"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        assert!(stdout(&out).contains(&made[3]), "{}", stdout(&out));

        create_client(&env, &[], "after");
        assert_eq!(prefixes(&env), vec!["after", "before"]);
        let started = Instant::now();
        let out = manage_with(&env, &vars, &["restore", "--latest", "--yes"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        eprintln!(
            "{label}: restore --latest from the backup host in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        assert!(stdout(&out).contains(&made[3]), "{}", stdout(&out));
        assert_eq!(prefixes(&env), vec!["before"], "{label}");

        // A host key that does not match is refused, and nothing is left.
        let mut wrong = vars.clone();
        wrong.retain(|(k, _)| *k != "EFIR_BACKUP_SSH_KNOWN_HOSTS");
        wrong.push((
            "EFIR_BACKUP_SSH_KNOWN_HOSTS",
            sshd.dir
                .path()
                .join("wrong_known_hosts")
                .display()
                .to_string(),
        ));
        let out = manage_with(&env, &wrong, &["backup"]);
        assert_eq!(out.status.code(), Some(1), "{label}");
        assert!(
            stderr(&out).contains("ssh could not connect"),
            "{label}: {}",
            stderr(&out)
        );
        assert_eq!(files_in(&sshd.remote_dir(&remote)), made[2..].to_vec());
        env.cleanup().await;
    }
}

#[tokio::test]
async fn bad_backup_settings_are_clear_errors_and_leave_no_partial_files() {
    let env = Env::sqlite().await;
    create_client(&env, &[], "one");
    let dir = env.path("backups");
    let kh = env.path("known_hosts");
    std::fs::write(&kh, "[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOaHaFH7mAx0fUaVUF0nzgtM4XjrcGI/9XCoVxnxBG8E\n").unwrap();
    let port = free_port();
    let base = vec![
        ("EFIR_BACKUP_DIR", dir.display().to_string()),
        ("EFIR_BACKUP_REMOTE", "efir@127.0.0.1:/srv/efir".to_string()),
        ("EFIR_BACKUP_SSH_PORT", port.to_string()),
    ];

    // No known_hosts: a configuration error naming the key.
    let out = manage_with(&env, &base, &["backup"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("backup.ssh_known_hosts: required"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.exists(), "nothing written");

    // A known_hosts file that does not exist.
    let mut vars = base.clone();
    vars.push((
        "EFIR_BACKUP_SSH_KNOWN_HOSTS",
        env.path("missing").display().to_string(),
    ));
    let out = manage_with(&env, &vars, &["backup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));

    // Unreachable backup host: the local backup is complete, the command
    // fails, no partial file anywhere.
    let mut vars = base.clone();
    vars.push(("EFIR_BACKUP_SSH_KNOWN_HOSTS", kh.display().to_string()));
    let started = Instant::now();
    let out = manage_with(&env, &vars, &["backup"]);
    eprintln!(
        "unreachable backup host reported in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("ssh could not connect"), "{text}");
    let files = files_in(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("efir-unmarked-") && files[0].ends_with(".db"));

    // Remote only: nothing is left behind locally either.
    vars.retain(|(k, _)| *k != "EFIR_BACKUP_DIR");
    let out = manage_with(&env, &vars, &["backup"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(files_in(&dir), files);

    // Bad remote and keep values.
    let out = manage_with(
        &env,
        &[
            ("EFIR_BACKUP_REMOTE", "efir@host:srv;reboot".to_string()),
            ("EFIR_BACKUP_KEEP", "0".to_string()),
        ],
        &["backup"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("backup.remote"), "{}", stderr(&out));
    assert!(stderr(&out).contains("backup.keep"), "{}", stderr(&out));

    // No place configured and no --output.
    let out = env.manage(&["backup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("backup.dir"), "{}", stderr(&out));

    // A bad environment name.
    let out = env.manage(&["environment", "set", "Prod;"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("environment"), "{}", stderr(&out));
    env.cleanup().await;
}

fn environment(env: &Env) -> serde_json::Value {
    env.manage_json(&["environment", "show"])["environment"].clone()
}

#[tokio::test]
async fn mirror_makes_staging_identical_and_never_overwrites_production() {
    for (prod, staging) in [
        (Env::sqlite().await, Env::sqlite().await),
        (Env::postgres().await, Env::postgres().await),
    ] {
        let label = prod.label();
        for p in ["alpha", "beta", "gamma"] {
            create_client(&prod, &[], p);
        }
        create_client(&staging, &[], "stale");
        prod.manage_json(&["environment", "set", "production"]);
        staging.manage_json(&["environment", "set", "staging"]);

        // Without --yes, the same database, or into production: refused.
        let out = staging.manage(&["mirror", "--from", &prod.url]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
        let out = staging.manage(&["mirror", "--from", &staging.url, "--yes"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("this very database"),
            "{label}: {}",
            stderr(&out)
        );
        let out = prod.manage(&["mirror", "--from", &staging.url, "--yes"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("marked production"),
            "{label}: {}",
            stderr(&out)
        );
        assert_eq!(prefixes(&prod), vec!["alpha", "beta", "gamma"]);
        assert_eq!(prefixes(&staging), vec!["stale"]);

        // A database of the other kind: refused.
        let other = if label == "sqlite" {
            "postgres://postgres@127.0.0.1:5432/nonexistent".to_string()
        } else {
            format!("sqlite://{}", staging.path("x.db").display())
        };
        let out = staging.manage(&["mirror", "--from", &other, "--yes"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("same kind"), "{}", stderr(&out));

        let started = Instant::now();
        let out = staging.manage(&["mirror", "--from", &prod.url, "--yes"]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        eprintln!(
            "{label}: mirror of 3 operators in {:.2} s: {}",
            started.elapsed().as_secs_f64(),
            stdout(&out).trim()
        );
        assert_eq!(prefixes(&staging), vec!["alpha", "beta", "gamma"]);
        let a = prod.manage_json(&["list-clients"]);
        let b = staging.manage_json(&["list-clients"]);
        assert_eq!(a, b, "{label}: same records");
        assert_eq!(environment(&staging), "staging");
        assert_eq!(environment(&prod), "production");
        prod.cleanup().await;
        staging.cleanup().await;
    }
}

/// The migrations `migrate --status --json` lists as not applied yet.
fn pending(env: &Env, bin: &Path) -> Vec<i64> {
    let out = env
        .cmd_of(bin)
        .args(["manage", "migrate", "--status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    status
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["applied_at"].is_null())
        .map(|m| m["version"].as_i64().unwrap())
        .collect()
}

/// `migrate --backup-dir` (what the package's postinst runs on upgrade):
/// a database one migration behind is backed up before the migration, the
/// backup holds the old schema and its data, and a bad directory is refused
/// before anything changes. Both databases, with efir built at the base
/// commit making the older schema.
#[tokio::test]
async fn migrate_backs_up_a_database_with_pending_migrations_first() {
    let base = common::base_efir();
    let current = Path::new(env!("CARGO_BIN_EXE_efir"));
    for env in Env::both().await {
        let label = env.label();
        let out = env
            .cmd_of(&base)
            .args(["manage", "migrate"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let out = env
            .cmd_of(&base)
            .args([
                "manage",
                "create-client",
                "--name",
                "Old TV",
                "--api-key",
                "key-old-0001",
                "--domain-prefix",
                "old",
                "--email",
                "ops@old.tv",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let behind = pending(&env, current);
        assert!(!behind.is_empty(), "{label}: the base build is not behind");

        // A directory that does not exist: refused, nothing migrated.
        let missing = env.path("no-such-dir");
        let out = env.manage(&["migrate", "--backup-dir", missing.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{label}");
        assert!(
            stderr(&out).contains("not a directory"),
            "{label}: {}",
            stderr(&out)
        );
        assert_eq!(
            pending(&env, current),
            behind,
            "{label}: a refused migrate applied something"
        );

        let dir = env.path("pre-migrate");
        std::fs::create_dir(&dir).unwrap();
        let started = Instant::now();
        let report = env.manage_json(&["migrate", "--backup-dir", dir.to_str().unwrap()]);
        eprintln!(
            "{label}: backup and {} migration(s) in {:.2} s",
            behind.len(),
            started.elapsed().as_secs_f64()
        );
        let applied: Vec<i64> = report["applied"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(applied, behind, "{label}");
        let backup = PathBuf::from(report["backup"].as_str().expect("a backup path"));
        assert_eq!(backup.parent(), Some(dir.as_path()), "{label}");
        let name = backup.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.ends_with(&format!(".{}", ext(&env))),
            "{label}: {name}"
        );
        assert_eq!(files_in(&dir), vec![name.clone()], "{label}");
        assert!(pending(&env, current).is_empty());

        // Nothing pending: no second backup.
        let report = env.manage_json(&["migrate", "--backup-dir", dir.to_str().unwrap()]);
        assert!(report["backup"].is_null(), "{label}: {report}");
        assert_eq!(files_in(&dir), vec![name], "{label}");

        // The backup is the database as it was: restored into a fresh one,
        // it is one migration behind again and holds the operator.
        let fresh = if label == "sqlite" {
            Env::sqlite().await
        } else {
            Env::postgres().await
        };
        let out = fresh
            .cmd_of(&base)
            .args([
                "manage",
                "restore",
                "--input",
                backup.to_str().unwrap(),
                "--yes",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        assert_eq!(pending(&fresh, &base), Vec::<i64>::new(), "{label}");
        assert_eq!(
            pending(&fresh, current),
            behind,
            "{label}: the restored schema is not the old one"
        );
        let out = fresh
            .cmd_of(&base)
            .args(["manage", "list-clients", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("\"old\""),
            "{label}: {}",
            stdout(&out)
        );
        fresh.cleanup().await;
        env.cleanup().await;
    }
}

#[test]
fn nightly_backup_is_scheduled_only_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let run = |vars: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_efir"));
        for (k, _) in std::env::vars() {
            if k.starts_with("EFIR_") {
                c.env_remove(k);
            }
        }
        c.env(
            "EFIR_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("e.db").display()),
        );
        for (k, v) in vars {
            c.env(k, v);
        }
        c.args(["manage", "schedule", "list"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).lines().any(|l| l.starts_with("backup\t")));
    let out = run(&[("EFIR_BACKUP_DIR", "/var/backups/efir")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.starts_with("backup\t"))
        .map(str::to_string)
        .expect("a backup entry");
    assert!(line.contains("30 1 * * *"), "{line}");
}
