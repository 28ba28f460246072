//! The Debian package, end to end, with the real tools: `scripts/build-deb`
//! (cargo-deb), `dpkg` inside a clean Debian root made by `scripts/debroot`
//! (entered with chroot), the installed `efir.service` run the way systemd
//! would (its User, WorkingDirectory, EnvironmentFile, ExecStartPre and
//! ExecStart), `/health` over HTTP, an upgrade from an older build
//! (`EFIR_TEST_BASE_EFIR`, one migration behind) with a backup first, a
//! refused downgrade, removal and purge. Also: the conffile documents every
//! configuration key, `systemd-analyze verify` accepts the units, and the
//! logrotate configuration never touches today's log file.
//!
//! Needs root (chroot), debootstrap, dpkg-dev, cargo-deb, logrotate and
//! systemd-analyze; scripts/test installs them and builds the base binary.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{base_efir, free_port, repo, stderr, stdout, wait_http, Running};

/// Runs a command, panicking with its output unless it succeeds.
fn ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// `scripts/build-deb --profile dev --binary BINARY --version VERSION --out OUT`
/// (dev: fast gzip compression).
fn build_deb(binary: &Path, version: &str, out: &Path) -> PathBuf {
    let o = ok(
        Command::new(repo().join("scripts/build-deb"))
            .args(["--profile", "dev", "--binary"])
            .arg(binary)
            .args(["--version", version, "--out"])
            .arg(out),
        "scripts/build-deb",
    );
    let deb = PathBuf::from(stdout(&o).trim());
    assert!(
        deb.is_file(),
        "build-deb printed {deb:?}, which is not a file"
    );
    deb
}

/// A clean Debian root, entered with chroot. Nothing is mounted in it, so
/// dropping the temporary directory removes it all.
struct Root {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}

impl Root {
    fn new() -> Root {
        let tmp = tempfile::Builder::new()
            .prefix("efir-pkg-")
            .tempdir()
            .unwrap();
        let path = tmp.path().join("root");
        ok(
            Command::new(repo().join("scripts/debroot")).arg(&path),
            "scripts/debroot",
        );
        Root { _tmp: tmp, path }
    }

    /// A path inside the root.
    fn file(&self, p: &str) -> PathBuf {
        self.path.join(p.trim_start_matches('/'))
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.file(p)).unwrap_or_else(|e| panic!("read {p}: {e}"))
    }

    /// A command run in the root as root, with a clean environment.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("chroot");
        c.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .arg(&self.path)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// `efir manage ARGS` as the efir user with the package's configuration.
    fn manage(&self, args: &[&str]) -> Output {
        let mut all = vec![
            "runuser",
            "-u",
            "efir",
            "--",
            "/usr/bin/efir",
            "--config",
            "/etc/efir/efir.toml",
            "manage",
        ];
        all.extend_from_slice(args);
        self.cmd(&all).output().unwrap()
    }

    /// Copies `deb` into the root and runs `dpkg -i` on it.
    fn dpkg_install(&self, deb: &Path) -> Output {
        let name = deb.file_name().unwrap().to_str().unwrap();
        std::fs::copy(deb, self.file("/tmp").join(name)).unwrap();
        self.cmd(&["dpkg", "-i", &format!("/tmp/{name}")])
            .output()
            .unwrap()
    }

    /// `Version Status` of the efir package in the root's dpkg database.
    fn package_state(&self) -> String {
        let o = self
            .cmd(&["dpkg-query", "-W", "-f", "${Version} ${Status}", "efir"])
            .output()
            .unwrap();
        stdout(&o).trim().to_string()
    }

    /// Applied migration versions, from `efir manage migrate --status`.
    fn applied(&self) -> Vec<i64> {
        let o = self.manage(&["migrate", "--status"]);
        assert!(o.status.success(), "migrate --status: {}", stderr(&o));
        stdout(&o)
            .lines()
            .filter_map(|l| l.strip_prefix("[x] "))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    fn has_user(&self, name: &str) -> bool {
        self.read("/etc/passwd")
            .lines()
            .any(|l| l.starts_with(&format!("{name}:")))
    }

    fn has_group(&self, name: &str) -> bool {
        self.read("/etc/group")
            .lines()
            .any(|l| l.starts_with(&format!("{name}:")))
    }

    /// Starts efir.service the way systemd would: its EnvironmentFile,
    /// ExecStartPre, then ExecStart as User:Group in WorkingDirectory; the
    /// listen addresses come from the environment (EFIR_LISTEN,
    /// EFIR_ROUTER_LISTEN), as a `systemctl edit` drop-in would set them.
    fn start_service(&self, port: u16, log: &Path) -> Running {
        let unit = self.read("/lib/systemd/system/efir.service");
        let one = |key: &str| -> String {
            let values = unit_values(&unit, key);
            assert_eq!(values.len(), 1, "efir.service: one {key}= expected");
            values[0].clone()
        };
        let user = one("User");
        let group = one("Group");
        let workdir = one("WorkingDirectory");
        let mut env: Vec<(String, String)> = Vec::new();
        for file in unit_values(&unit, "EnvironmentFile") {
            let optional = file.starts_with('-');
            let file = file.trim_start_matches('-');
            match std::fs::read_to_string(self.file(file)) {
                Ok(text) => env.extend(environment_file(&text)),
                Err(e) => assert!(optional, "EnvironmentFile {file}: {e}"),
            }
        }
        env.push(("EFIR_LISTEN".into(), format!("127.0.0.1:{port}")));
        env.push((
            "EFIR_ROUTER_LISTEN".into(),
            format!("127.0.0.1:{}", free_port()),
        ));
        let command = |line: &str| -> Command {
            let mut c = Command::new("chroot");
            c.env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("LANG", "C")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env("HOME", &workdir)
                .arg(format!("--userspec={user}:{group}"))
                .arg(&self.path)
                .args(["/bin/sh", "-c", &format!("cd {workdir} && exec {line}")])
                .stdin(Stdio::null());
            c
        };
        for pre in unit_values(&unit, "ExecStartPre") {
            ok(&mut command(&pre), &format!("ExecStartPre={pre}"));
        }
        let start = one("ExecStart");
        Running::spawn(command(&start), log)
    }
}

/// Values of `key=` in a unit file (in file order).
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_string())
        .collect()
}

/// KEY=VALUE assignments of an EnvironmentFile (comments and blanks skipped).
fn environment_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// uid of user `name` in the root's /etc/passwd.
fn uid_of(root: &Root, name: &str) -> u32 {
    root.read("/etc/passwd")
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == name).then(|| f[2].parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no user {name}"))
}

async fn health(port: u16, log: &Path) -> serde_json::Value {
    let url = format!("http://127.0.0.1:{port}/health");
    wait_http(&url, log).await;
    reqwest::get(&url).await.unwrap().json().await.unwrap()
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_upgrade_refused_downgrade_remove_purge() {
    let work = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let new_deb = build_deb(
        Path::new(env!("CARGO_BIN_EXE_efir")),
        "0.2.0-1",
        &work.path().join("new"),
    );
    let build_new = t.elapsed();
    let t = Instant::now();
    let old_deb = build_deb(&base_efir(), "0.1.0-1", &work.path().join("old"));
    let build_old = t.elapsed();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();

    let t = Instant::now();
    let root = Root::new();
    let debroot = t.elapsed();

    // An operator's file elsewhere, which no step may touch.
    std::fs::create_dir_all(root.file("/srv/operator")).unwrap();
    std::fs::write(root.file("/srv/operator/keep.txt"), "mine").unwrap();

    // ---- install the older package
    let t = Instant::now();
    let o = root.dpkg_install(&old_deb);
    let install = t.elapsed();
    assert!(
        o.status.success(),
        "dpkg -i old: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert_eq!(root.package_state(), "0.1.0-1 install ok installed");

    // Files, user, directories, modes, conffiles, efir on the PATH.
    assert!(root.has_user("efir") && root.has_group("efir"));
    let passwd = root.read("/etc/passwd");
    let efir_line = passwd.lines().find(|l| l.starts_with("efir:")).unwrap();
    assert!(
        efir_line.ends_with(":/var/lib/efir:/usr/sbin/nologin"),
        "{efir_line}"
    );
    let uid = uid_of(&root, "efir");
    assert!(uid < 1000, "efir must be a system user, got uid {uid}");
    assert_eq!(mode(&root.file("/usr/bin/efir")), 0o755);
    for dir in ["/var/lib/efir", "/var/log/efir"] {
        let m = std::fs::metadata(root.file(dir)).unwrap();
        assert_eq!(m.uid(), uid, "{dir} owner");
        assert_eq!(mode(&root.file(dir)), 0o750, "{dir} mode");
    }
    let conf = std::fs::metadata(root.file("/etc/efir/efir.toml")).unwrap();
    assert_eq!(
        (conf.uid(), mode(&root.file("/etc/efir/efir.toml"))),
        (0, 0o640)
    );
    let conffiles = stdout(&ok(
        &mut root.cmd(&["dpkg-query", "-W", "-f", "${Conffiles}", "efir"]),
        "dpkg-query Conffiles",
    ));
    for f in [
        "/etc/efir/efir.toml",
        "/etc/default/efir",
        "/etc/logrotate.d/efir",
    ] {
        assert!(conffiles.contains(f), "{f} is not a conffile: {conffiles}");
    }
    for unit in [
        "efir.service",
        "efir-router.service",
        "efir-worker@.service",
    ] {
        assert!(
            root.file(&format!("/lib/systemd/system/{unit}")).is_file(),
            "{unit}"
        );
    }
    let which = stdout(&ok(
        &mut root.cmd(&["sh", "-c", "command -v efir"]),
        "command -v efir",
    ));
    assert_eq!(which.trim(), "/usr/bin/efir");
    // The postinst created the SQLite database as efir, one migration behind.
    let db = root.file("/var/lib/efir/efir.db");
    assert_eq!(std::fs::metadata(&db).unwrap().uid(), uid);
    let old_applied = root.applied();
    assert_eq!(
        old_applied,
        (1..=11).collect::<Vec<i64>>(),
        "the base build's schema"
    );

    // ---- run it as systemd would; /health answers
    let port = free_port();
    let log = work.path().join("serve-old.log");
    let mut svc = root.start_service(port, &log);
    let h = health(port, &log).await;
    assert_eq!(h["status"], "ok", "{h}");
    // Data an operator would not want to lose.
    let o = root.manage(&[
        "create-client",
        "--name",
        "Upgrade Test TV",
        "--api-key",
        "upgrade-test-key",
        "--domain-prefix",
        "upgradetest",
        "--email",
        "ops@upgrade.example",
    ]);
    assert!(o.status.success(), "create-client: {}", stderr(&o));
    assert!(svc.terminate(Duration::from_secs(20)).success());
    // Efir's own daily log file, under the package's log directory.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let serve_logs = root.file("/var/log/efir/serve");
    let host_dirs: Vec<_> = std::fs::read_dir(&serve_logs).unwrap().collect();
    assert_eq!(host_dirs.len(), 1);
    let day_log = host_dirs[0]
        .as_ref()
        .unwrap()
        .path()
        .join(format!("{today}.log"));
    assert!(day_log.is_file(), "{} missing", day_log.display());

    // ---- upgrade to the new package, with a backup first
    let defaults = root.read("/etc/default/efir");
    assert!(defaults.contains("BACKUP_BEFORE_MIGRATE=no"));
    std::fs::write(
        root.file("/etc/default/efir"),
        defaults.replace("BACKUP_BEFORE_MIGRATE=no", "BACKUP_BEFORE_MIGRATE=yes"),
    )
    .unwrap();
    let t = Instant::now();
    let o = root.dpkg_install(&new_deb);
    let upgrade = t.elapsed();
    assert!(
        o.status.success(),
        "dpkg -i new: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(stdout(&o).contains("12 (nodes)"), "{}", stdout(&o));
    assert_eq!(root.package_state(), "0.2.0-1 install ok installed");
    assert_eq!(root.applied(), (1..=12).collect::<Vec<i64>>());
    // The operator's edit of the conffile survived the upgrade.
    assert!(root
        .read("/etc/default/efir")
        .contains("BACKUP_BEFORE_MIGRATE=yes"));
    let backups: Vec<PathBuf> = std::fs::read_dir(root.file("/var/lib/efir/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = &backups[0];
    let name = backup.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("efir-0011-") && name.ends_with(".db"),
        "{name}"
    );
    let head = std::fs::read(backup).unwrap();
    assert!(
        head.starts_with(b"SQLite format 3\0"),
        "backup is not an SQLite file"
    );
    assert!(stdout(&o).contains("backup written to /var/lib/efir/backups/efir-0011-"));
    let o = root.manage(&["list-clients"]);
    assert!(
        stdout(&o).contains("Upgrade Test TV"),
        "data lost: {}",
        stdout(&o)
    );
    let log = work.path().join("serve-new.log");
    let mut svc = root.start_service(port, &log);
    assert_eq!(health(port, &log).await["status"], "ok");
    assert!(svc.terminate(Duration::from_secs(20)).success());

    // ---- the old binary against the new schema: a clear refusal, nothing written
    let copy = work.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(&db, copy.join("efir.db")).unwrap();
    let wal = root.file("/var/lib/efir/efir.db-wal");
    if wal.exists() {
        std::fs::copy(&wal, copy.join("efir.db-wal")).unwrap();
    }
    let url = format!("sqlite://{}", copy.join("efir.db").display());
    let before = ok(
        Command::new(env!("CARGO_BIN_EXE_efir")).args([
            "--database-url",
            &url,
            "manage",
            "migrate",
            "--status",
        ]),
        "status of the copy",
    );
    let o = Command::new(base_efir())
        .args(["--database-url", &url, "--data-dir"])
        .arg(&copy)
        .args(["manage", "migrate"])
        .env_remove("EFIR_CONFIG")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "old efir must refuse: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o)
            .contains("database is at schema version 12, newer than this build of Efir knows (11)"),
        "{}",
        stderr(&o)
    );
    let after = ok(
        Command::new(env!("CARGO_BIN_EXE_efir")).args([
            "--database-url",
            &url,
            "manage",
            "migrate",
            "--status",
        ]),
        "status of the copy",
    );
    assert_eq!(stdout(&before), stdout(&after));

    // ---- downgrade to the old package: refused, the new one stays
    let t = Instant::now();
    let o = root.dpkg_install(&old_deb);
    let downgrade = t.elapsed();
    assert!(
        !o.status.success(),
        "the downgrade must fail: {}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("refusing to downgrade")
            && stderr(&o).contains("schema version 12")
            && stderr(&o).contains("only knows up to 11"),
        "{}",
        stderr(&o)
    );
    assert_eq!(root.package_state(), "0.2.0-1 install ok installed");
    assert_eq!(root.applied(), (1..=12).collect::<Vec<i64>>());
    let log = work.path().join("serve-after-downgrade.log");
    let mut svc = root.start_service(port, &log);
    assert_eq!(health(port, &log).await["status"], "ok");
    assert!(svc.terminate(Duration::from_secs(20)).success());

    // ---- remove: binary gone; configuration, data, logs and user stay
    std::fs::write(root.file("/var/lib/efir/operator-notes.txt"), "x").unwrap();
    let o = root.cmd(&["dpkg", "-r", "efir"]).output().unwrap();
    assert!(o.status.success(), "dpkg -r: {}", stderr(&o));
    assert_eq!(root.package_state(), "0.2.0-1 deinstall ok config-files");
    assert!(!root.file("/usr/bin/efir").exists());
    assert!(!root.file("/lib/systemd/system/efir.service").exists());
    assert!(root.file("/etc/efir/efir.toml").is_file());
    assert!(db.is_file() && root.file("/var/log/efir").is_dir());
    assert!(root.has_user("efir"));

    // ---- purge: exactly what the package made goes
    let t = Instant::now();
    let o = root.cmd(&["dpkg", "-P", "efir"]).output().unwrap();
    let purge = t.elapsed();
    assert!(o.status.success(), "dpkg -P: {}", stderr(&o));
    assert_eq!(root.package_state(), "");
    for gone in [
        "/etc/efir",
        "/etc/default/efir",
        "/etc/logrotate.d/efir",
        "/var/lib/efir",
        "/var/log/efir",
    ] {
        assert!(!root.file(gone).exists(), "{gone} survived the purge");
    }
    assert!(!root.has_user("efir") && !root.has_group("efir"));
    assert_eq!(
        std::fs::read_to_string(root.file("/srv/operator/keep.txt")).unwrap(),
        "mine"
    );

    // ---- a log directory the operator made before: purge leaves it (and
    // the user, which owns files in it)
    std::fs::create_dir_all(root.file("/var/log/efir")).unwrap();
    std::fs::write(root.file("/var/log/efir/README"), "operator's").unwrap();
    let o = root.dpkg_install(&new_deb);
    assert!(o.status.success(), "reinstall: {}", stderr(&o));
    assert!(root
        .read("/var/lib/efir/.efir-package")
        .contains("kept /var/log/efir"));
    let o = root.cmd(&["dpkg", "-P", "efir"]).output().unwrap();
    assert!(o.status.success(), "dpkg -P: {}", stderr(&o));
    assert!(
        stderr(&o).contains("keeping the user and group efir"),
        "{}",
        stderr(&o)
    );
    assert_eq!(root.read("/var/log/efir/README"), "operator's");
    assert!(!root.file("/var/lib/efir").exists());
    assert!(root.has_user("efir"));

    println!(
        "package figures: new .deb {} bytes (dev build, built in {}), old .deb {} bytes (built in {}); \
         clean root in {}; dpkg -i (fresh, incl. migrations) {}; upgrade with backup+migration {}; \
         refused downgrade {}; purge {}",
        size(&new_deb),
        secs(build_new),
        size(&old_deb),
        secs(build_old),
        secs(debroot),
        secs(install),
        secs(upgrade),
        secs(downgrade),
        secs(purge)
    );
}

/// Every key of `efir config default` is in the package's efir.toml
/// (commented out with its default, or set for the package), the file is a
/// valid configuration, and it puts data and logs where the package's
/// directories are.
#[test]
fn conffile_documents_every_key_with_package_paths() {
    let path = repo().join("debian/efir.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let out = ok(
        Command::new(env!("CARGO_BIN_EXE_efir")).args(["config", "default"]),
        "efir config default",
    );
    let defaults: toml::Table = toml::from_str(&stdout(&out)).unwrap();
    let mut wanted = Vec::new();
    flatten("", &defaults, &mut wanted);
    assert!(wanted.len() > 40, "too few keys: {wanted:?}");

    // (section, key) pairs the file shows, commented or not.
    let mut shown = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let l = line.trim_start_matches('#').trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|s| s.strip_suffix("]]")) {
            // An array of tables documents the key that holds it.
            shown.push(name.to_string());
            section = name.to_string();
        } else if let Some(name) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
            {
                section = name.to_string();
            }
        } else if let Some((key, _)) = l.split_once(" = ") {
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                shown.push(if section.is_empty() {
                    key.to_string()
                } else {
                    format!("{section}.{key}")
                });
            }
        }
    }
    let missing: Vec<&String> = wanted.iter().filter(|k| !shown.contains(k)).collect();
    assert!(missing.is_empty(), "debian/efir.toml lacks {missing:?}");

    let parsed: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(parsed["data_dir"].as_str(), Some("/var/lib/efir"));
    assert_eq!(parsed["log"]["dir"].as_str(), Some("/var/log/efir"));
    let o = ok(
        Command::new(env!("CARGO_BIN_EXE_efir"))
            .arg("config")
            .arg("check")
            .arg(&path),
        "efir config check debian/efir.toml",
    );
    assert!(stdout(&o).contains("OK"), "{}", stdout(&o));

    // The commented-out defaults and examples are valid too.
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| r.starts_with('[') || r.contains(" = "))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("efir.toml");
    std::fs::write(&file, &uncommented).unwrap();
    ok(
        Command::new(env!("CARGO_BIN_EXE_efir"))
            .arg("config")
            .arg("check")
            .arg(&file),
        "efir config check (debian/efir.toml uncommented)",
    );
    assert!(uncommented.contains("\nurl = \"sqlite://efir.db\""));
}

/// Dotted key paths of the leaves of `table` (tables recurse; arrays,
/// including arrays of tables, are leaves).
fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) if !t.is_empty() => flatten(&path, t, out),
            toml::Value::Table(_) => {}
            _ => out.push(path),
        }
    }
}

/// `systemd-analyze verify` accepts the three units (with the binary path
/// pointed at this build, since /usr/bin/efir is not installed on the host),
/// and they carry the user and the hardening the package promises.
#[test]
fn systemd_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_efir");
    for unit in [
        "efir.service",
        "efir-router.service",
        "efir-worker@.service",
    ] {
        let text = std::fs::read_to_string(repo().join("debian").join(unit)).unwrap();
        for line in [
            "User=efir",
            "Group=efir",
            "Restart=on-failure",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/efir /var/log/efir",
            "PrivateTmp=yes",
            "EnvironmentFile=-/etc/default/efir",
        ] {
            assert!(text.lines().any(|l| l == line), "{unit} lacks {line}");
        }
        std::fs::write(dir.path().join(unit), text.replace("/usr/bin/efir", bin)).unwrap();
    }
    std::os::unix::fs::symlink(
        "efir-worker@.service",
        dir.path().join("efir-worker@w1.service"),
    )
    .unwrap();
    let exec = |unit: &str| {
        let text = std::fs::read_to_string(repo().join("debian").join(unit)).unwrap();
        unit_values(&text, "ExecStart").join(" ")
    };
    assert!(exec("efir.service").ends_with(" serve"));
    assert!(exec("efir-router.service").ends_with(" router"));
    assert!(exec("efir-worker@.service").ends_with(" worker --name %i"));

    let units: Vec<PathBuf> = [
        "efir.service",
        "efir-router.service",
        "efir-worker@w1.service",
    ]
    .iter()
    .map(|u| dir.path().join(u))
    .collect();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/test installs it)");
    assert!(o.status.success(), "systemd-analyze verify: {}", stderr(&o));
    // Unknown or misspelt directives are only warnings: none allowed.
    assert_eq!(stderr(&o).trim(), "", "systemd-analyze verify warned");
}

/// deploy/logrotate/efir with the real logrotate: a first sighting changes
/// nothing; a day later, files of earlier days are compressed, compressed
/// files past 30 days are deleted, and today's file (which Efir holds open)
/// keeps its inode and content.
#[test]
fn logrotate_handles_old_days_and_never_todays_file() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("log");
    let host = logs.join("serve/node1");
    std::fs::create_dir_all(&host).unwrap();
    let now = chrono::Utc::now();
    let day = |n: i64| {
        (now - chrono::Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };
    let touch = |p: &Path, days_ago: i64| {
        let when = now.timestamp() - days_ago * 86_400 - 3_600;
        ok(
            Command::new("touch")
                .arg("-d")
                .arg(format!("@{when}"))
                .arg(p),
            "touch",
        );
    };
    let today = host.join(format!("{}.log", day(0)));
    std::fs::write(&today, "today's line\n").unwrap();
    for n in [1, 2, 3] {
        let p = host.join(format!("{}.log", day(n)));
        std::fs::write(&p, format!("day -{n}\n")).unwrap();
        touch(&p, n);
    }
    // Compressed earlier: one 40 days old (goes), one 5 days old (stays).
    let ancient = host.join(format!("{}.log.1.gz", day(41)));
    let recent = host.join(format!("{}.log.1.gz", day(6)));
    for (p, n) in [(&ancient, 40), (&recent, 5)] {
        std::fs::write(p, b"gz").unwrap();
        touch(p, n);
    }
    let conf_text = std::fs::read_to_string(repo().join("deploy/logrotate/efir")).unwrap();
    assert!(conf_text.contains("/var/log/efir/*/*/*.log {"));
    let conf = dir.path().join("efir.logrotate");
    std::fs::write(
        &conf,
        conf_text
            .replace("/var/log/efir", logs.to_str().unwrap())
            .replace("su efir efir", "su root root"),
    )
    .unwrap();
    let state = dir.path().join("state");
    let inode = std::fs::metadata(&today).unwrap().ino();
    let run = || {
        ok(
            Command::new("logrotate").arg("-s").arg(&state).arg(&conf),
            "logrotate",
        )
    };
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(&host)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };

    // First sighting: logrotate only records the files.
    let before = listing();
    run();
    assert_eq!(listing(), before, "a first run must not touch anything");

    // A day later (as the state file says): earlier days are handled.
    let state_text = std::fs::read_to_string(&state).unwrap();
    let aged: String = state_text
        .lines()
        .map(|l| match l.rsplit_once(' ') {
            Some((file, _)) if l.starts_with('"') => format!("{file} 2000-1-1-0:0:0\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&state, aged).unwrap();
    run();
    let after = listing();
    let mut expected = vec![
        format!("{}.log", day(0)),
        format!("{}.log.1.gz", day(1)),
        format!("{}.log.1.gz", day(2)),
        format!("{}.log.1.gz", day(3)),
        format!("{}.log.1.gz", day(6)),
    ];
    expected.sort();
    assert_eq!(after, expected);
    assert_eq!(std::fs::read_to_string(&today).unwrap(), "today's line\n");
    assert_eq!(
        std::fs::metadata(&today).unwrap().ino(),
        inode,
        "today's file was replaced"
    );
    let gz = host.join(format!("{}.log.1.gz", day(2)));
    let o = ok(Command::new("gzip").arg("-dc").arg(&gz), "gzip -dc");
    assert_eq!(stdout(&o), "day -2\n");
    assert!(!ancient.exists() && recent.exists());
}
