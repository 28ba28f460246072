//! `efir manage …` driven as operators run it, on SQLite and PostgreSQL.

mod common;

use common::{stderr, stdout, Env};

fn create_client_args<'a>(api_key: &'a str, prefix: &'a str) -> Vec<&'a str> {
    vec![
        "create-client",
        "--name",
        "Test TV",
        "--api-key",
        api_key,
        "--domain-prefix",
        prefix,
        "--email",
        "ops@test.tv",
    ]
}

#[tokio::test]
async fn migrate_then_status() {
    for env in Env::both().await {
        let out = env.manage(&["migrate", "--status"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("[ ] 0001 core"),
            "{}: {}",
            env.label(),
            stdout(&out)
        );
        let out = env.manage(&["migrate"]);
        assert!(
            stdout(&out).contains(
                "applied 1 (core), 2 (middleware), 3 (epg), 4 (router), 5 (ingest), 6 (admin)"
            ) && stdout(&out).contains(
                "7 (billing), 8 (messages), 9 (stats), 10 (cases), 11 (panel), 12 (nodes)"
            ),
            "{}",
            stdout(&out)
        );
        let out = env.manage(&["migrate"]);
        assert!(stdout(&out).contains("no migrations to apply"));
        let out = env.manage(&["migrate", "--status"]);
        assert!(stdout(&out).contains("[x] 0001 core"));
        env.cleanup().await;
    }
}

#[tokio::test]
async fn create_client_then_user_and_duplicates_fail_cleanly() {
    for env in Env::both().await {
        let label = env.label();
        let mut args = create_client_args("tvkey-0001", "test");
        args.extend(["--languages", "ru,uk", "--currency", "EUR"]);
        let client = env.manage_json(&args);
        let id = client["id"].as_i64().expect("id");
        assert_eq!(client["language1"], "ru");
        assert_eq!(client["currency"], "EUR");
        assert_eq!(
            client["billing_api_key"].as_str().unwrap().len(),
            32,
            "generated"
        );
        assert!(
            client.get("api_key").is_none(),
            "the known key is not echoed"
        );

        let human = env.manage(&create_client_args("tvkey-0002", "second"));
        assert!(human.status.success());
        assert!(
            stdout(&human).starts_with("created client "),
            "{}",
            stdout(&human)
        );
        assert!(stdout(&human).contains("billing_api_key: "));

        // Same api_key: clear one-line error, exit 1, nothing written.
        let audit_before = env.manage_json(&["audit-log", "--limit", "1000"]);
        let dup = env.manage(&create_client_args("tvkey-0001", "third"));
        assert_eq!(dup.status.code(), Some(1), "{label}");
        assert_eq!(
            stderr(&dup),
            "error: client with api_key `***` already exists\n",
            "{label}"
        );
        let dup = env.manage(&create_client_args("tvkey-0003", "test"));
        assert!(stderr(&dup).contains("domain_prefix `test` already exists"));
        let clients = env.manage_json(&["list-clients"]);
        assert_eq!(clients.as_array().unwrap().len(), 2, "{label}");
        let audit_after = env.manage_json(&["audit-log", "--limit", "1000"]);
        assert_eq!(
            audit_before, audit_after,
            "{label}: no audit event for a failed create"
        );

        // Missing required options: usage error, exit 2.
        let out = env.manage(&["create-client", "--name", "x"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("--api-key"), "{}", stderr(&out));
        // Bad values: exit 1 with every problem named.
        let out = env.manage(&create_client_args("short", "Bad Prefix"));
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("api_key must be")
                && stderr(&out).contains("domain_prefix must be")
        );

        let id_s = id.to_string();
        let user = env.manage_json(&[
            "create-user",
            "--username",
            "op",
            "--password",
            "s3cret",
            "--client-id",
            &id_s,
            "--is-admin",
        ]);
        assert_eq!(user["client_id"], id);
        assert_eq!(user["is_admin"], true);
        assert_eq!(user["is_superuser"], false);
        assert!(user.get("password_hash").is_none());

        let out = env.manage(&["create-user", "--username", "op", "--password", "other"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("use --reset-password"),
            "{}",
            stderr(&out)
        );
        // Smarty spelling, as in operators' runbooks.
        let out = env.manage(&[
            "create_user",
            "--username=op",
            "--password=n3w",
            "--reset_password=True",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("password of user op"));
        let store = env.store().await;
        assert!(
            store.authenticate("op", "n3w").await.unwrap().is_some(),
            "{label}"
        );
        assert!(store.authenticate("op", "s3cret").await.unwrap().is_none());
        store.close().await;

        let out = env.manage(&[
            "create-user",
            "--username",
            "x",
            "--password",
            "p",
            "--client-id",
            "999",
        ]);
        assert!(
            stderr(&out).contains("client 999 not found"),
            "{}",
            stderr(&out)
        );

        let events = env.manage_json(&["audit-log", "--entity", "user"]);
        let actions: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, vec!["password_reset", "create"], "{label}");
        assert_eq!(events[1]["actor"], "cli:create-user");
        env.cleanup().await;
    }
}

#[tokio::test]
async fn createsuperuser_non_interactive() {
    let env = Env::sqlite().await;
    let out = env.manage(&[
        "createsuperuser",
        "--username",
        "root",
        "--password",
        "pw",
        "--email",
        "root@x.io",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.manage(&["createsuperuser", "--email", "x@x.io"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: --username is required when not run interactively\n"
    );
    let users = env.store().await.users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert!(users[0].is_superuser && users[0].is_admin);
    env.cleanup().await;
}

#[tokio::test]
async fn setup_initial_data_and_clone_client() {
    for env in Env::both().await {
        let first = env.manage_json(&["setup-initial-data"]);
        let id = first["sample_client_id"].as_i64().unwrap();
        assert_eq!(first["sample"]["channels"].as_array().unwrap().len(), 5);
        let again = env.manage_json(&["setup_initial_data"]);
        assert_eq!(again["sample_client_id"], id, "idempotent");
        assert!(again.get("api_key").is_none());
        let none = env.manage_json(&["setup-initial-data", "--no-sample-data"]);
        assert!(none.get("sample_client_id").is_none());

        let id_s = id.to_string();
        let copy = env.manage_json(&["clone-client", "--src-client-id", &id_s, "--clone-channels"]);
        assert_eq!(copy["domain_prefix"], "sample-copy");
        assert_eq!(copy["name"], "Sample operator (copy)");
        assert_eq!(copy["language1"], "ru");
        assert_eq!(copy["currency"], "EUR");
        assert_ne!(copy["api_key"], first["api_key"]);
        assert_eq!(copy["copied"]["channels"], 5, "sample channels copied");
        assert_eq!(copy["copied"]["categories"], 2);
        assert!(
            copy["copied"].get("videos").is_none(),
            "only what was asked"
        );
        let copy2 = env.manage_json(&["clone_client", "--src_client_id", &id_s]);
        assert_eq!(copy2["domain_prefix"], "sample-copy2");
        let out = env.manage(&["clone-client", "--src-client-id", "4242"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("client 4242 not found"));
        env.cleanup().await;
    }
}

#[tokio::test]
async fn flushall_and_schedule_commands() {
    let env = Env::sqlite().await;
    assert_eq!(env.manage_json(&["flushall"])["epoch"], 1);
    assert_eq!(env.manage_json(&["flushall"])["epoch"], 2);
    std::fs::write(
        env.path("efir.toml"),
        "[[schedule]]\nname = \"nightly\"\ncron = \"0 3 * * *\"\ntimezone = \"Europe/Moscow\"\ncommand = \"flushall\"\n",
    )
    .unwrap();
    let list = env.manage_json(&[
        "--config",
        env.path("efir.toml").to_str().unwrap(),
        "schedule",
        "list",
        "--count",
        "2",
    ]);
    let next = list[0]["next"].as_array().unwrap();
    assert_eq!(next.len(), 2);
    assert!(
        next[0].as_str().unwrap().ends_with("T03:00:00+03:00"),
        "{next:?}"
    );
    let runs = env.manage(&["schedule", "runs"]);
    assert!(stdout(&runs).contains("no runs recorded"));
    env.cleanup().await;
}

#[tokio::test]
async fn backup_and_restore_from_the_command_line() {
    for env in Env::both().await {
        env.manage_json(&create_client_args("tvkey-0001", "kept"));
        let file = env.path("backup-%Y.bin");
        let done = env.manage_json(&["backup", "--output", file.to_str().unwrap()]);
        let written = done["output"].as_str().unwrap().to_string();
        assert!(!written.contains('%'), "time pattern expanded: {written}");
        env.manage_json(&create_client_args("tvkey-0002", "lost"));

        let out = env.manage(&["restore", "--input", &written]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("--yes"));
        assert_eq!(
            env.manage_json(&["list-clients"]).as_array().unwrap().len(),
            2
        );

        let out = env.manage(&["restore", "--input", &written, "--yes"]);
        assert!(out.status.success(), "{}: {}", env.label(), stderr(&out));
        let clients = env.manage_json(&["list-clients"]);
        let prefixes: Vec<&str> = clients
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["domain_prefix"].as_str().unwrap())
            .collect();
        assert_eq!(prefixes, vec!["kept"], "{}", env.label());
        env.cleanup().await;
    }
}

#[tokio::test]
async fn bad_database_url_is_a_usage_error() {
    let env = Env::sqlite().await;
    let out = env
        .cmd()
        .args(["manage", "migrate"])
        .env("EFIR_DATABASE_URL", "mysql://x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "EFIR_DATABASE_URL: database.url: unsupported database URL `mysql://x`: expected sqlite://PATH or postgres://USER@HOST/DB\n"
    );
    let out = env
        .cmd()
        .args(["--database-url", "oracle://x", "manage", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("--database-url: unsupported database URL"),
        "{}",
        stderr(&out)
    );
    let out = env
        .cmd()
        .args(["manage", "migrate"])
        .env("EFIR_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .starts_with("error: cannot open the database postgres://nobody@127.0.0.1:1/none"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    env.cleanup().await;
}

/// Drives `createsuperuser` through a pseudo-terminal, as a person at a
/// shell would: prompts for name, e-mail and the password twice.
#[tokio::test]
async fn createsuperuser_prompts_on_a_terminal() {
    let env = Env::sqlite().await;
    let script = r#"
import os, pty, sys, time
efir = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execv(efir, [efir, "manage", "createsuperuser"])
def expect(marker):
    buf = b""
    deadline = time.time() + 30
    while marker.encode() not in buf:
        if time.time() > deadline:
            sys.exit("timeout waiting for %r, got %r" % (marker, buf))
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    if marker.encode() not in buf:
        sys.exit("no %r in %r" % (marker, buf))
expect("Username: "); os.write(fd, b"boss\n")
expect("E-mail"); os.write(fd, b"boss@x.io\n")
expect("Password: "); os.write(fd, b"typed-secret\n")
expect("(again): "); os.write(fd, b"typed-secret\n")
expect("created superuser boss")
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut cmd = std::process::Command::new("python3");
    for (k, _) in std::env::vars() {
        if k.starts_with("EFIR_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["-c", script, env!("CARGO_BIN_EXE_efir")])
        .current_dir(env.dir.path())
        .env("EFIR_DATABASE_URL", &env.url)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let store = env.store().await;
    let user = store
        .authenticate("boss", "typed-secret")
        .await
        .unwrap()
        .expect("created");
    assert!(user.is_superuser);
    assert_eq!(user.email, "boss@x.io");
    store.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn postgres_backup_without_client_tools_is_a_clear_error() {
    let env = Env::postgres().await;
    env.manage_json(&["migrate"]);
    let out = env
        .cmd()
        .args([
            "manage",
            "backup",
            "--output",
            env.path("b.dump").to_str().unwrap(),
        ])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("pg_dump is not installed"),
        "{}",
        stderr(&out)
    );
    assert!(!env.path("b.dump").exists() && !env.path("b.dump.partial").exists());
    env.cleanup().await;
}

#[tokio::test]
async fn builtin_schedule_and_middleware_commands() {
    let env = Env::sqlite().await;
    let list = env.manage_json(&["schedule", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "check-stream-services",
            "epg-import",
            "epg-premiere-import",
            "clear-request-log",
            "make-autopayments",
            "check-accounts",
            "resend-sms",
            "send-case-reminders",
            "escalate-cases",
            "cache-max-online",
            "save-stats",
            "collect-daily-stats",
            "cache-customers-dynamic"
        ],
        "built in by default"
    );
    let out = env
        .cmd()
        .args(["manage", "schedule", "list", "--json"])
        .env("EFIR_SCHEDULER_BUILTIN", "false")
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0);

    let report = env.manage_json(&["check_stream_services", "--timeout-secs", "2"]);
    assert_eq!(report.as_array().unwrap().len(), 0);
    let client = env.manage_json(&create_client_args("tvkey-0001", "test"));
    let id = client["id"].to_string();
    let refreshed = env.manage_json(&["cache_channel_list"]);
    assert_eq!(refreshed["clients"], serde_json::json!([client["id"]]));
    let store = env.store().await;
    assert_eq!(
        store
            .meta(&format!("content_gen:{}", client["id"]))
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
    store.close().await;
    let done = env.manage_json(&["delete_authkeys", "--client_id", &id]);
    assert_eq!(done["sessions"], 0);
    let out = env.manage(&["delete-authkeys", "--client-id", "77"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("client 77 not found"),
        "{}",
        stderr(&out)
    );
    let out = env.manage(&["check-stream-services", "--timeout-secs", "0"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "timeout out of range is a usage error"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn geoip_import_from_the_command_line() {
    let env = Env::sqlite().await;
    let good = env.path("geo.csv");
    std::fs::write(
        &good,
        "203.0.113.0,203.0.113.255,DE,Berlin\n198.51.100.0/24,FR\n",
    )
    .unwrap();
    let done = env.manage_json(&["geoip_import", "--file", good.to_str().unwrap()]);
    assert_eq!(done["ranges"], 2);
    let bad = env.path("bad.csv");
    std::fs::write(&bad, "203.0.113.0,203.0.113.255,DE\nnonsense\n").unwrap();
    let out = env.manage(&["geoip-import", "--file", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("line 2: expected FIRST,LAST,CC") && err.contains("nothing was imported"),
        "{err}"
    );
    let store = env.store().await;
    let n: i64 = efir_store::with_db!(store.pool(), p => sqlx::query_scalar("SELECT COUNT(*) FROM geo_ip_range").fetch_one(p).await).unwrap();
    assert_eq!(n, 2, "the previous table is intact");
    store.close().await;
    let out = env.manage(&["geoip-import", "--file", "/no/such/file.csv"]);
    assert!(
        stderr(&out).starts_with("error: cannot read /no/such/file.csv"),
        "{}",
        stderr(&out)
    );
    env.cleanup().await;
}
