//! Zero-downtime rolling upgrade (docs/upgrade.md): two API nodes of the
//! older build (`EFIR_TEST_BASE_EFIR`, one migration behind) serve one
//! PostgreSQL database behind two client loops that alternate between the
//! nodes in rotation and keep calling the device API (account status of a
//! logged-in device). The new build migrates the database (an additive
//! migration) while the old nodes keep serving; then one node at a time is taken out of
//! rotation, drained, stopped and replaced by the new build on the same
//! address, and put back. Not one request may fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{base_efir, device_login, free_port, stderr, stdout, wait_http, Env, Running};

/// `bin` with the test database and a clean environment.
fn efir(bin: &Path, env: &Env) -> Command {
    env.cmd_of(bin)
}

/// An API node of `bin` on `port`; migrations are left to the operator.
fn node(bin: &Path, env: &Env, port: u16, log: &Path) -> Running {
    let mut c = efir(bin, env);
    c.args(["serve", "--role", "api", "--no-migrate", "--listen"])
        .arg(format!("127.0.0.1:{port}"));
    Running::spawn(c, log)
}

/// Counts of one phase of the run.
#[derive(Debug, Default, Clone)]
struct Counts {
    ok: u64,
    failed: u64,
    errors: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_upgrade_serves_every_request() {
    let env = Env::postgres().await;
    let old = base_efir();
    let new = PathBuf::from(env!("CARGO_BIN_EXE_efir"));

    // The old build creates the schema (11 migrations) and the data.
    let o = efir(&old, &env)
        .args(["manage", "migrate"])
        .output()
        .unwrap();
    assert!(o.status.success(), "old migrate: {}", stderr(&o));
    assert!(stdout(&o).contains("schema version 11"), "{}", stdout(&o));
    let o = efir(&old, &env)
        .args(["manage", "setup-initial-data", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "setup-initial-data: {}", stderr(&o));
    let sample: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let api_key = sample["api_key"].as_str().unwrap().to_string();
    let tariff = sample["sample"]["tariff"].as_i64().unwrap();
    let store = env.store().await;
    let hash = efir_core::password::hash("pw").unwrap();
    efir_store::with_db!(store.pool(), p => async {
        let customer: i64 = sqlx::query_scalar("INSERT INTO customer (client_id, created_at, updated_at) VALUES (1, 0, 0) RETURNING id")
            .fetch_one(p).await?;
        sqlx::query("INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES ($1, $2, 0)")
            .bind(customer).bind(tariff).execute(p).await?;
        sqlx::query("INSERT INTO account (client_id, customer_id, abonement, password_hash, created_at, updated_at) VALUES (1, $1, '100', $2, 0, 0)")
            .bind(customer).bind(&hash).execute(p).await?;
        Ok::<_, sqlx::Error>(())
    }.await).unwrap();

    // Two old nodes.
    let ports = [free_port(), free_port()];
    let logs: Vec<PathBuf> = (0..4).map(|i| env.path(&format!("node{i}.log"))).collect();
    let mut nodes: Vec<Running> = vec![
        node(&old, &env, ports[0], &logs[0]),
        node(&old, &env, ports[1], &logs[1]),
    ];
    for (p, l) in ports.iter().zip(&logs) {
        wait_http(&format!("http://127.0.0.1:{p}/ready"), l).await;
    }

    // One subscriber session (login hashes a password: slow in a debug
    // build); the loops then call account/status with it, which reads the
    // session, account and customer from the shared database.
    let first = format!("http://127.0.0.1:{}", ports[0]);
    let authkey = device_login(&first, "1", &api_key, "100", "pw", "rolling").await;

    // The rotation the client loop uses (what nginx's upstream list is),
    // the current phase, and counts per phase.
    let rotation = Arc::new(Mutex::new(ports.to_vec()));
    let phase = Arc::new(Mutex::new(0usize));
    let counts = Arc::new(Mutex::new(vec![Counts::default(); 5]));
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    for worker in 0..2usize {
        let (rotation, phase, counts, stop, authkey) = (
            rotation.clone(),
            phase.clone(),
            counts.clone(),
            stop.clone(),
            authkey.clone(),
        );
        loops.push(tokio::spawn(async move {
            // No idle connections kept: every request opens its own, as
            // to a node that may have been replaced since.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                let port = {
                    let r = rotation.lock().unwrap();
                    r[i % r.len()]
                };
                i += 1;
                let ph = *phase.lock().unwrap();
                let result = http
                    .get(format!(
                        "http://127.0.0.1:{port}/tvmiddleware/api/account/status/"
                    ))
                    .query(&[("client_id", "1"), ("authkey", authkey.as_str())])
                    .send()
                    .await;
                let outcome = match result {
                    Ok(r) => match r.json::<serde_json::Value>().await {
                        Ok(v) if v.get("error").is_none_or(|e| e == 0) => Ok(()),
                        Ok(v) => Err(format!("port {port}: {v}")),
                        Err(e) => Err(format!("port {port}: body: {e}")),
                    },
                    Err(e) => Err(format!("port {port}: {e}")),
                };
                let mut c = counts.lock().unwrap();
                match outcome {
                    Ok(()) => c[ph].ok += 1,
                    Err(e) => {
                        c[ph].failed += 1;
                        if c[ph].errors.len() < 5 {
                            c[ph].errors.push(e);
                        }
                    }
                }
            }
        }));
    }
    let settle = || tokio::time::sleep(Duration::from_millis(1500));
    settle().await;

    // Phase 1: the new build migrates the database (additive migration
    // 0012) while the old nodes serve.
    *phase.lock().unwrap() = 1;
    let o = efir(&new, &env)
        .args(["manage", "migrate"])
        .output()
        .unwrap();
    assert!(o.status.success(), "new migrate: {}", stderr(&o));
    assert!(stdout(&o).contains("applied 12 (nodes)"), "{}", stdout(&o));
    settle().await;

    // Phases 2 and 3: replace one node at a time: out of rotation, drain,
    // SIGTERM (in-flight requests finish), the new build on the same
    // address, ready, back into rotation.
    for (n, port) in ports.iter().enumerate() {
        rotation.lock().unwrap().retain(|p| p != port);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = nodes[n].terminate(Duration::from_secs(20));
        assert!(status.success(), "old node {n} exit: {status}");
        nodes[n] = node(&new, &env, *port, &logs[n + 2]);
        wait_http(&format!("http://127.0.0.1:{port}/ready"), &logs[n + 2]).await;
        rotation.lock().unwrap().push(*port);
        *phase.lock().unwrap() = n + 2;
        settle().await;
    }
    // Phase 4: only new nodes.
    *phase.lock().unwrap() = 4;
    settle().await;
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }

    // The old build refuses the new schema now (no old node can come back
    // by accident), and it writes nothing.
    let o = efir(&old, &env)
        .args(["manage", "migrate"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("newer than this build of Efir knows (11)"),
        "{}",
        stderr(&o)
    );

    let counts = counts.lock().unwrap().clone();
    let names = [
        "old+old, schema 11",
        "old+old, schema 12",
        "new+old",
        "new+new, right after the swap",
        "new+new",
    ];
    for (name, c) in names.iter().zip(&counts) {
        println!("rolling upgrade: {name}: {} ok, {} failed", c.ok, c.failed);
    }
    for (name, c) in names.iter().zip(&counts) {
        assert_eq!(c.failed, 0, "{name}: failures: {:?}", c.errors);
        assert!(c.ok > 0, "{name}: no requests were made");
    }
    for mut n in nodes {
        assert!(n.terminate(Duration::from_secs(20)).success());
    }
    store.close().await;
    env.cleanup().await;
}
