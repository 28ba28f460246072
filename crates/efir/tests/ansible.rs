//! The Ansible playbook of `deploy/ansible/`, run for real: ansible-lint
//! (production profile) and `--syntax-check` first, then the playbook
//! against two throw-away Debian roots (made by `scripts/debroot`, reached
//! with the `community.general.chroot` connection):
//!
//! * host 1: PostgreSQL primary, Redis, the API (`efir serve`), the router
//!   (`efir router`) and nginx;
//! * host 2: a PostgreSQL streaming replica (pg_basebackup -R) and an ingest
//!   worker (`efir worker`).
//!
//! The chroots share this machine's network, so every port is a free one
//! given to the playbook as a variable, and services are started by the
//! roles' `efir_service_manager: direct` fallback (start-stop-daemon,
//! pg_ctlcluster), since there is no systemd inside a chroot. The test then
//! checks the result from outside: the package and its configuration,
//! streaming replication, Redis refusing clients without the vault's
//! password, `/health` through nginx over HTTP and HTTPS/2, a `--check`
//! run that reports a pending change without making it, and a second run
//! that changes nothing.
//!
//! Needs root (chroot, mount), the Ansible virtualenv of scripts/test
//! (EFIR_TEST_ANSIBLE_BIN) and the Efir package (EFIR_TEST_DEB, or
//! `scripts/build-deb --profile dev`).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{free_port, repo};

/// The playbook's directory.
fn ansible_dir() -> PathBuf {
    repo().join("deploy/ansible")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command and returns its output; panics with the output on failure.
fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    text(&out.stdout).trim() == "0"
}

/// The Efir package: EFIR_TEST_DEB, else `scripts/build-deb --profile dev`.
/// The directory it was built in (when built here) goes when dropped.
fn efir_deb() -> (PathBuf, Option<tempfile::TempDir>) {
    if let Some(p) = std::env::var_os("EFIR_TEST_DEB") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "EFIR_TEST_DEB={} is not a file", p.display());
        return (p, None);
    }
    let script = repo().join("scripts/build-deb");
    assert!(
        script.exists(),
        "no scripts/build-deb in this tree: set EFIR_TEST_DEB to a built efir .deb"
    );
    // The test's own efir binary (a plain `cargo build` would rebuild with
    // other features), packaged into a directory of this run alone.
    let out_dir = tempfile::Builder::new()
        .prefix("efir-ansible-deb-")
        .tempdir()
        .expect("temp dir");
    let out = run_ok(
        Command::new(&script)
            .args([
                "--profile",
                "dev",
                "--binary",
                env!("CARGO_BIN_EXE_efir"),
                "--out",
            ])
            .arg(out_dir.path())
            .current_dir(repo()),
        "scripts/build-deb --profile dev",
    );
    let path = text(&out.stdout)
        .lines()
        .last()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "scripts/build-deb printed no package path: {}",
        text(&out.stdout)
    );
    (p, Some(out_dir))
}

/// The throw-away targets: every process running inside them is killed,
/// every mount under them unmounted, and then they are removed, also when
/// the test fails half-way.
struct Targets {
    dir: PathBuf,
    roots: Vec<PathBuf>,
    mounts: Vec<PathBuf>,
}

impl Targets {
    /// The roots live on their own tmpfs: the disk is not touched, and
    /// throwing them away is one unmount.
    fn new() -> Targets {
        let mut t = Targets {
            dir: tempfile::Builder::new()
                .prefix("efir-ansible-")
                .tempdir()
                .expect("temp dir")
                .keep(),
            roots: Vec::new(),
            mounts: Vec::new(),
        };
        let dir = t.dir.clone();
        t.mount(
            &[
                "-t".as_ref(),
                "tmpfs".as_ref(),
                "-o".as_ref(),
                "size=6g,mode=0755".as_ref(),
                "efir-ansible".as_ref(),
            ],
            dir,
        );
        t
    }

    fn mount(&mut self, args: &[&OsStr], target: PathBuf) {
        std::fs::create_dir_all(&target).unwrap();
        run_ok(
            Command::new("mount").args(args).arg(&target),
            &format!("mount {}", target.display()),
        );
        self.mounts.push(target);
    }

    /// A clean Debian root with python3 (for Ansible), the shared apt caches
    /// bind-mounted, /proc, /dev/shm, and a policy-rc.d that keeps package
    /// installs from starting services (the roles start them).
    fn add_root(&mut self, name: &str, archives: &Path, lists: &Path) -> PathBuf {
        let root = self.dir.join(name);
        run_ok(
            Command::new(repo().join("scripts/debroot"))
                .arg(&root)
                .args(["--include", "python3,python3-apt"]),
            "scripts/debroot",
        );
        self.roots.push(root.clone());
        std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf")).expect("resolv.conf");
        let rc = root.join("usr/sbin/policy-rc.d");
        std::fs::write(
            &rc,
            "#!/bin/sh\n# No services at package install time.\nexit 101\n",
        )
        .unwrap();
        run_ok(
            Command::new("chmod").arg("0755").arg(&rc),
            "chmod policy-rc.d",
        );
        self.mount(
            &["-t".as_ref(), "proc".as_ref(), "proc".as_ref()],
            root.join("proc"),
        );
        self.mount(
            &[
                "-t".as_ref(),
                "tmpfs".as_ref(),
                "-o".as_ref(),
                "mode=1777".as_ref(),
                "tmpfs".as_ref(),
            ],
            root.join("dev/shm"),
        );
        self.mount(
            &["--bind".as_ref(), archives.as_os_str()],
            root.join("var/cache/apt/archives"),
        );
        self.mount(
            &["--bind".as_ref(), lists.as_os_str()],
            root.join("var/lib/apt/lists"),
        );
        root
    }

    /// Processes whose root directory is one of the targets.
    fn processes_inside(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return pids;
        };
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(root) = std::fs::read_link(e.path().join("root")) {
                if self.roots.iter().any(|r| root.starts_with(r)) {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    /// Mount points still under the temp directory.
    fn mounted_inside(&self) -> Vec<String> {
        let base = self.dir.to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| m.starts_with(&base))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        let t = Instant::now();
        for _ in 0..20 {
            let pids = self.processes_inside();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("processes in the targets killed after {:?}", t.elapsed());
        // Killed processes may hold a mount for a moment.
        for m in self.mounts.iter().rev() {
            for _ in 0..25 {
                let done = Command::new("umount")
                    .arg(m)
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if done || !self.mounted_inside().iter().any(|x| Path::new(x) == m) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        eprintln!("mounts in the targets unmounted after {:?}", t.elapsed());
        let left = self.mounted_inside();
        if !left.is_empty() {
            for m in left.iter().rev() {
                let _ = Command::new("umount").args(["-l", m]).status();
            }
        }
        let left = self.mounted_inside();
        if left.is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
            eprintln!("targets cleaned up in {:?}", t.elapsed());
        } else {
            // Never delete through a mount (it would reach the apt caches
            // or /proc): leave the directory for a human.
            eprintln!(
                "still mounted, {} not removed: {left:?}",
                self.dir.display()
            );
        }
    }
}

/// `ansible*` commands from the virtualenv of scripts/test.
struct Ansible {
    bin: PathBuf,
}

impl Ansible {
    fn from_env() -> Ansible {
        let bin = std::env::var_os("EFIR_TEST_ANSIBLE_BIN").map(PathBuf::from).expect(
            "EFIR_TEST_ANSIBLE_BIN is not set: run through scripts/test (it makes the Ansible virtualenv)",
        );
        assert!(
            bin.join("ansible-playbook").exists(),
            "no ansible-playbook in EFIR_TEST_ANSIBLE_BIN={}",
            bin.display()
        );
        Ansible { bin }
    }

    fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(self.bin.join(tool));
        let path = std::env::var("PATH").unwrap_or_default();
        c.env("PATH", format!("{}:{path}", self.bin.display()))
            .env("ANSIBLE_CONFIG", ansible_dir().join("ansible.cfg"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            // ansible-lint takes its project directory (and cache) from $PWD.
            .env("PWD", ansible_dir())
            .current_dir(ansible_dir());
        c
    }

    /// ansible-playbook site.yml with the test inventory and the example
    /// vault password; returns (success, stdout+stderr).
    fn playbook(&self, inventory: &Path, extra: &[&str]) -> (bool, String) {
        let out = self
            .cmd("ansible-playbook")
            .arg("-i")
            .arg(inventory)
            .args([
                "site.yml",
                "--vault-password-file",
                "vault-password.example",
            ])
            .args(extra)
            .output()
            .expect("ansible-playbook");
        let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for w in log.lines().filter(|l| l.starts_with("[WARNING]")) {
            eprintln!("ansible: {w}");
        }
        (out.status.success(), log)
    }
}

/// The PLAY RECAP: host -> (ok, changed, failed).
fn recap(log: &str) -> BTreeMap<String, BTreeMap<String, u32>> {
    let mut hosts = BTreeMap::new();
    let Some(at) = log.rfind("PLAY RECAP") else {
        return hosts;
    };
    for line in log[at..].lines().skip(1) {
        let Some((host, counts)) = line.split_once(" : ") else {
            continue;
        };
        if !counts.trim_start().starts_with("ok=") {
            continue;
        }
        let mut m = BTreeMap::new();
        for kv in counts.split_whitespace() {
            if let Some((k, v)) = kv.split_once('=') {
                m.insert(k.to_string(), v.parse().unwrap_or(0));
            }
        }
        hosts.insert(host.trim().to_string(), m);
    }
    hosts
}

fn changed(log: &str) -> BTreeMap<String, u32> {
    recap(log)
        .into_iter()
        .map(|(h, m)| (h, m.get("changed").copied().unwrap_or(u32::MAX)))
        .collect()
}

/// Runs a command inside a target.
fn in_root(root: &Path, args: &[&str]) -> Output {
    Command::new("chroot")
        .arg(root)
        .args(args)
        .output()
        .expect("chroot")
}

/// A value from the decrypted vault (`ansible-vault view`).
fn vault_value(vault: &str, key: &str) -> String {
    vault
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{key} is not in the example vault"))
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl")
}

#[test]
fn the_playbook_lints_and_deploys_two_throwaway_hosts_idempotently() {
    assert!(
        is_root(),
        "the Ansible test needs root (chroot and mount); scripts/test runs as root in CI"
    );
    let ansible = Ansible::from_env();
    let started = Instant::now();

    // 1. ansible-lint, production profile (from .ansible-lint).
    let t = Instant::now();
    let lint = ansible
        .cmd("ansible-lint")
        // Its caches go to deploy/ansible/.ansible (git-ignored).
        .args(["--project-dir", "."])
        .env(
            "ANSIBLE_VAULT_PASSWORD_FILE",
            ansible_dir().join("vault-password.example"),
        )
        .output()
        .expect("ansible-lint");
    let lint_log = format!("{}{}", text(&lint.stdout), text(&lint.stderr));
    assert!(lint.status.success(), "ansible-lint failed:\n{lint_log}");
    assert!(
        lint_log.contains("Profile 'production' was required, and it passed"),
        "ansible-lint did not check the production profile:\n{lint_log}"
    );
    eprintln!(
        "ansible-lint (production profile): passed in {:?}",
        t.elapsed()
    );

    let (deb, _deb_dir) = efir_deb();
    let deb_version = text(
        &run_ok(
            Command::new("dpkg-deb")
                .args(["-f"])
                .arg(&deb)
                .arg("Version"),
            "dpkg-deb -f Version",
        )
        .stdout,
    )
    .trim()
    .to_string();
    eprintln!("package: {} ({deb_version})", deb.display());

    // The example vault's secrets, as the playbook sees them.
    let vault = text(
        &run_ok(
            ansible.cmd("ansible-vault").args([
                "view",
                "--vault-password-file",
                "vault-password.example",
                "inventories/staging/group_vars/all/vault.yml",
            ]),
            "ansible-vault view",
        )
        .stdout,
    );
    let redis_password = vault_value(&vault, "vault_efir_redis_password");
    let db_password = vault_value(&vault, "vault_efir_db_password");

    // 2. Two targets and their inventory.
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let archives = home.join(".cache/efir-apt-archives");
    let lists = home.join(".cache/efir-apt-lists");
    for d in [&archives, &lists] {
        std::fs::create_dir_all(d.join("partial")).unwrap();
    }
    let mut targets = Targets::new();
    let t = Instant::now();
    let host1 = targets.add_root("host1", &archives, &lists);
    let host2 = targets.add_root("host2", &archives, &lists);
    eprintln!("two clean Debian roots in {:?}", t.elapsed());
    // The package lists (shared by both roots, kept between runs).
    let t = Instant::now();
    let upd = in_root(&host1, &["apt-get", "update", "-q"]);
    assert!(
        upd.status.success(),
        "apt-get update in the target failed:\n{}",
        text(&upd.stderr)
    );
    eprintln!("apt-get update in the target: {:?}", t.elapsed());

    let pg_primary = free_port();
    let pg_replica = free_port();
    let redis = free_port();
    let api = free_port();
    let router = free_port();
    let http = free_port();
    let https = free_port();
    // Read replicas in efir.toml only when this build knows database.replicas.
    let defaults = run_ok(
        Command::new(env!("CARGO_BIN_EXE_efir")).args(["config", "default"]),
        "efir config default",
    );
    let replicas = if text(&defaults.stdout).contains("replicas") {
        format!("[{{host: 127.0.0.1, port: {pg_replica}}}]")
    } else {
        "[]".to_string()
    };
    let inv_dir = targets.dir.join("inventory");
    std::fs::create_dir_all(inv_dir.join("group_vars/all")).unwrap();
    std::fs::copy(
        ansible_dir().join("inventories/staging/group_vars/all/vault.yml"),
        inv_dir.join("group_vars/all/vault.yml"),
    )
    .unwrap();
    let inventory = inv_dir.join("hosts.yml");
    std::fs::write(
        &inventory,
        format!(
            r#"# The test's inventory: two chroots on this machine (crates/efir/tests/ansible.rs).
all:
  vars:
    ansible_connection: community.general.chroot
    ansible_python_interpreter: /usr/bin/python3
    ansible_become_method: su
    efir_service_manager: direct
    efir_deb_file: {deb}
    efir_address: 127.0.0.1
    efir_db_host: 127.0.0.1
    efir_db_port: {pg_primary}
    efir_db_password: "{{{{ vault_efir_db_password }}}}"
    efir_replication_password: "{{{{ vault_efir_replication_password }}}}"
    efir_db_replicas: {replicas}
    efir_redis_host: 127.0.0.1
    efir_redis_port: {redis}
    efir_redis_password: "{{{{ vault_efir_redis_password }}}}"
    efir_router_admin_token: "{{{{ vault_efir_router_admin_token }}}}"
    efir_api_bind: 127.0.0.1
    efir_api_port: {api}
    efir_router_bind: 127.0.0.1
    efir_router_port: {router}
    postgres_listen_addresses: 127.0.0.1
    redis_bind: [127.0.0.1]
    nginx_http_port: {http}
    nginx_https_port: {https}
    nginx_tls_self_signed: true
  children:
    postgres_primary:
      hosts:
        host1: {{ansible_host: {host1}}}
    postgres_replica:
      hosts:
        host2: {{ansible_host: {host2}, postgres_port: {pg_replica}}}
    redis: {{hosts: {{host1: }}}}
    api: {{hosts: {{host1: }}}}
    router: {{hosts: {{host1: }}}}
    worker:
      hosts:
        host2: {{efir_worker_names: [w1]}}
    nginx: {{hosts: {{host1: }}}}
"#,
            deb = deb.display(),
            host1 = host1.display(),
            host2 = host2.display(),
        ),
    )
    .unwrap();

    // The example inventories parse and their vaults open.
    for inv in ["staging", "production", "backup"] {
        let out = run_ok(
            ansible
                .cmd("ansible-inventory")
                .args(["-i", &format!("inventories/{inv}/hosts.yml"), "--list"])
                .args(["--vault-password-file", "vault-password.example"]),
            &format!("ansible-inventory ({inv})"),
        );
        let list: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("ansible-inventory --list JSON");
        let hosts = list["_meta"]["hostvars"]
            .as_object()
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(hosts > 0, "no hosts in the {inv} inventory");
    }

    // 3. Syntax check.
    let syn = ansible
        .cmd("ansible-playbook")
        .arg("-i")
        .arg(&inventory)
        .args([
            "site.yml",
            "--syntax-check",
            "--vault-password-file",
            "vault-password.example",
        ])
        .output()
        .expect("ansible-playbook --syntax-check");
    assert!(
        syn.status.success(),
        "--syntax-check failed:\n{}{}",
        text(&syn.stdout),
        text(&syn.stderr)
    );

    // 4. The real run.
    let t = Instant::now();
    let (ok, log) = ansible.playbook(&inventory, &[]);
    let first = t.elapsed();
    assert!(ok, "the first run failed:\n{log}");
    let c1 = changed(&log);
    eprintln!("first run: {first:?}, changed {c1:?}");
    assert!(
        c1.get("host1").copied().unwrap_or(0) > 0 && c1.get("host2").copied().unwrap_or(0) > 0,
        "the first run changed nothing? {c1:?}\n{log}"
    );
    assert!(
        !log.contains(&db_password) && !log.contains(&redis_password),
        "a secret appeared in the first run's output"
    );

    // 5. What it built, checked from outside.
    for (name, root) in [("host1", &host1), ("host2", &host2)] {
        let q = in_root(
            root,
            &["dpkg-query", "-W", "-f", "${Status} ${Version}", "efir"],
        );
        assert_eq!(
            text(&q.stdout),
            format!("install ok installed {deb_version}"),
            "efir package on {name}"
        );
        let conf = std::fs::read_to_string(root.join("etc/efir/efir.toml")).expect("efir.toml");
        assert!(
            conf.contains(&format!("@127.0.0.1:{pg_primary}/efir")),
            "database URL in {name}'s efir.toml:\n{conf}"
        );
        assert!(
            conf.contains(&format!("@127.0.0.1:{redis}\"")),
            "redis_url in {name}'s efir.toml"
        );
        let check = in_root(
            root,
            &["/usr/bin/efir", "config", "check", "/etc/efir/efir.toml"],
        );
        assert!(
            check.status.success(),
            "efir config check on {name}: {}",
            text(&check.stderr)
        );
        let mode = in_root(root, &["stat", "-c", "%a %U %G", "/etc/efir/efir.toml"]);
        assert_eq!(
            text(&mode.stdout).trim(),
            "640 root efir",
            "efir.toml mode on {name}"
        );
    }

    // PostgreSQL: the replica streams from the primary, and Efir's schema
    // (migrated by `efir serve` on host 1) is on it.
    let repl = in_root(
        &host1,
        &[
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-At",
            "-p",
            &pg_primary.to_string(),
            "-c",
            "select usename || ' ' || state from pg_stat_replication",
        ],
    );
    assert_eq!(
        text(&repl.stdout).trim(),
        "replicator streaming",
        "pg_stat_replication on the primary: {}",
        text(&repl.stderr)
    );
    let replica_url = format!("postgres://efir:{db_password}@127.0.0.1:{pg_replica}/efir");
    let deadline = Instant::now() + Duration::from_secs(20);
    let tables = loop {
        let out = Command::new("psql")
            .args(["-X", "-At", &replica_url, "-c"])
            .arg("select pg_is_in_recovery(), count(*) from information_schema.tables where table_schema = 'public'")
            .output()
            .expect("psql");
        let s = text(&out.stdout).trim().to_string();
        if let Some(n) = s.strip_prefix("t|").and_then(|n| n.parse::<u32>().ok()) {
            if n > 0 || Instant::now() > deadline {
                break n;
            }
        } else if Instant::now() > deadline {
            panic!("replica: {s} {}", text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(tables > 0, "Efir's tables did not reach the replica");
    eprintln!("replica: in recovery, streaming, {tables} Efir tables replicated");

    // Redis refuses clients without the vault's password.
    let port = redis.to_string();
    let anon = Command::new("redis-cli")
        .args(["-p", &port, "ping"])
        .output()
        .expect("redis-cli");
    assert!(
        text(&anon.stdout).contains("NOAUTH"),
        "Redis answered without a password: {}",
        text(&anon.stdout)
    );
    let auth = Command::new("redis-cli")
        .args([
            "-p",
            &port,
            "--no-auth-warning",
            "-a",
            &redis_password,
            "ping",
        ])
        .output()
        .expect("redis-cli");
    assert_eq!(
        text(&auth.stdout).trim(),
        "PONG",
        "Redis with the vault password"
    );

    // Efir answers /health through nginx, over HTTP and over TLS with HTTP/2.
    let health = curl(&[&format!("http://127.0.0.1:{http}/health")]);
    let body = text(&health.stdout);
    assert!(
        body.contains("\"status\":\"ok\""),
        "/health through nginx: {body} {}",
        text(&health.stderr)
    );
    let tls = curl(&[
        "-k",
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        &format!("https://127.0.0.1:{https}/health"),
    ]);
    assert_eq!(
        text(&tls.stdout),
        "200 2",
        "/health over TLS: {}",
        text(&tls.stderr)
    );
    // The router and the worker run inside their hosts.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", router)).is_ok(),
        "nothing listens on the router port"
    );
    let worker_pid = std::fs::read_to_string(host2.join("run/efir/efir-worker@w1.pid"))
        .expect("worker pid file");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", worker_pid.trim()))
        .map(|b| text(&b).replace('\0', " "))
        .unwrap_or_default();
    assert!(
        cmdline.contains("worker --name w1"),
        "the worker is not running: {cmdline:?}"
    );

    // 6. --check: a changed setting is reported, and nothing is touched.
    let before = std::fs::read_to_string(host1.join("etc/efir/efir.toml")).unwrap();
    let t = Instant::now();
    let (ok, log) = ansible.playbook(
        &inventory,
        &["--check", "--diff", "-e", "efir_common_log_level=debug"],
    );
    assert!(ok, "the --check run failed:\n{log}");
    let cc = changed(&log);
    eprintln!(
        "--check run with log level debug: {:?}, changed {cc:?}",
        t.elapsed()
    );
    // The efir.toml task runs in each Efir play; each host must have
    // been reported changed in one of them.
    let efir_toml_tasks: Vec<&str> = log
        .split("TASK [")
        .filter(|t| t.starts_with("efir_common : Write /etc/efir/efir.toml"))
        .collect();
    for host in ["host1", "host2"] {
        assert!(
            efir_toml_tasks
                .iter()
                .any(|t| t.contains(&format!("changed: [{host}]"))),
            "--check did not report the pending efir.toml change on {host}: {cc:?}\n{log}"
        );
    }
    assert!(
        !log.contains(&db_password) && !log.contains(&redis_password),
        "a secret appeared in the playbook's output"
    );
    assert_eq!(
        std::fs::read_to_string(host1.join("etc/efir/efir.toml")).unwrap(),
        before,
        "--check changed efir.toml"
    );

    // 7. A second real run changes nothing.
    let t = Instant::now();
    let (ok, log) = ansible.playbook(&inventory, &[]);
    assert!(ok, "the second run failed:\n{log}");
    let c2 = changed(&log);
    eprintln!("second run: {:?}, changed {c2:?}", t.elapsed());
    assert_eq!(c2.len(), 2, "recap: {log}");
    assert!(
        c2.values().all(|&n| n == 0),
        "the second run changed something: {c2:?}\n{log}"
    );
    let health = curl(&[&format!("http://127.0.0.1:{http}/health")]);
    assert!(text(&health.stdout).contains("\"status\":\"ok\""));

    eprintln!("total: {:?}", started.elapsed());
    drop(targets);
}
