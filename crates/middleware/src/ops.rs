//! Operations behind management commands: stream service health checks
//! and logging every device of an operator out.

use std::time::Duration;

use efir_store::{with_db, Actor, Store, StoreError};
use serde::Serialize;
use serde_json::json;

/// The result of checking one stream service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Service id.
    pub id: i64,
    /// Operator.
    pub client_id: i64,
    /// Service name.
    pub name: String,
    /// What was probed (`http://…` or `host:port`).
    pub target: String,
    /// `up` or `down`.
    pub health: String,
    /// Why it is down.
    pub error: String,
}

#[derive(Debug, sqlx::FromRow)]
struct ServiceRow {
    id: i64,
    client_id: i64,
    name: String,
    url_mask: String,
    check_url: String,
    health: String,
}

/// What to probe for a service: its `check_url` when set (HTTP), else the
/// host and port of its URL mask (TCP).
pub fn probe_target(check_url: &str, url_mask: &str) -> Option<Target> {
    if !check_url.trim().is_empty() {
        return Some(Target::Http(check_url.trim().to_string()));
    }
    let (scheme, rest) = url_mask.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() || authority.contains('$') {
        return None;
    }
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        "rtsp" => 554,
        "rtmp" => 1935,
        _ => return None,
    };
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6
            .split_once("]:")
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok()),
        None => authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok()),
    };
    Some(Target::Tcp(if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    }))
}

/// A probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// GET this URL; 2xx or 3xx is up.
    Http(String),
    /// Connect to `host:port`.
    Tcp(String),
}

async fn probe(client: &reqwest::Client, target: &Target, timeout: Duration) -> Result<(), String> {
    match target {
        Target::Http(url) => {
            let res = client
                .get(url)
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| format!("HTTP check failed: {e}"))?;
            let status = res.status();
            if status.is_success() || status.is_redirection() {
                Ok(())
            } else {
                Err(format!("HTTP check answered {status}"))
            }
        }
        Target::Tcp(addr) => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("TCP connect to {addr} failed: {e}")),
                Err(_) => Err(format!("TCP connect to {addr} timed out")),
            }
        }
    }
}

/// Probes every enabled stream service (all operators, or one) and records
/// its health; a service whose URL cannot be probed stays `unknown`.
pub async fn check_stream_services(
    store: &Store,
    client_id: Option<i64>,
    timeout: Duration,
) -> Result<Vec<Health>, StoreError> {
    let sql = "SELECT id, client_id, name, url_mask, check_url, health FROM stream_service \
               WHERE enabled AND ($1 IS NULL OR client_id = $1) ORDER BY id";
    let services: Vec<ServiceRow> =
        with_db!(store.pool(), p => sqlx::query_as(sql).bind(client_id).fetch_all(p).await)?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| StoreError::Invalid(format!("cannot build HTTP client: {e}")))?;
    let checks = services.iter().map(|s| {
        let http = http.clone();
        async move {
            let target = probe_target(&s.check_url, &s.url_mask);
            let outcome = match &target {
                Some(t) => probe(&http, t, timeout).await,
                None => Err("no check_url and no host in the URL mask".to_string()),
            };
            (target, outcome)
        }
    });
    let outcomes = futures::future::join_all(checks).await;
    let now = efir_store::now();
    let mut report = Vec::with_capacity(services.len());
    for (s, (target, outcome)) in services.iter().zip(outcomes) {
        let (health, error) = match (&target, outcome) {
            (None, Err(e)) => ("unknown", e),
            (_, Ok(())) => ("up", String::new()),
            (_, Err(e)) => ("down", e),
        };
        if health != s.health {
            if health == "down" {
                tracing::warn!(service = s.id, name = %s.name, error = %error, "stream service is down");
            } else {
                tracing::info!(service = s.id, name = %s.name, health, "stream service health changed");
            }
        }
        metrics::gauge!("efir_stream_service_up", "service" => s.id.to_string())
            .set(if health == "up" { 1.0 } else { 0.0 });
        let sql =
            "UPDATE stream_service SET health = $1, health_error = $2, health_checked_at = $3 \
                   WHERE id = $4";
        with_db!(store.pool(), p => sqlx::query(sql)
            .bind(health)
            .bind(&error)
            .bind(now)
            .bind(s.id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        report.push(Health {
            id: s.id,
            client_id: s.client_id,
            name: s.name.clone(),
            target: match target {
                Some(Target::Http(u)) => u,
                Some(Target::Tcp(a)) => a,
                None => String::new(),
            },
            health: health.to_string(),
            error,
        });
    }
    Ok(report)
}

/// Ends every session of the operator's accounts (`delete-authkeys`);
/// returns how many were ended.
pub async fn delete_authkeys(
    store: &Store,
    client_id: i64,
    actor: Actor,
) -> Result<u64, StoreError> {
    store.client(client_id).await?;
    let mut tx = store.begin(actor).await?;
    let removed = tx
        .execute(
            "account_authkey",
            "DELETE FROM account_authkey WHERE account_id IN \
             (SELECT id FROM account WHERE client_id = $1)",
            &[efir_store::audit::Arg::I64(client_id)],
        )
        .await?;
    tx.audit(
        Some(client_id),
        "logout_all",
        "client",
        Some(client_id.to_string()),
        json!({ "sessions": removed }),
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_masks() {
        assert_eq!(
            probe_target("", "http://edge1.tv:8080/$cid/index.m3u8?token=$token"),
            Some(Target::Tcp("edge1.tv:8080".into()))
        );
        assert_eq!(
            probe_target("", "https://edge1.tv/$cid"),
            Some(Target::Tcp("edge1.tv:443".into()))
        );
        assert_eq!(
            probe_target("", "http://[2001:db8::1]:81/x"),
            Some(Target::Tcp("[2001:db8::1]:81".into()))
        );
        assert_eq!(
            probe_target(" http://edge/health ", "x"),
            Some(Target::Http("http://edge/health".into()))
        );
        assert_eq!(probe_target("", "$prefix/$cid"), None);
        assert_eq!(probe_target("", "udp://239.0.0.1:1234"), None);
    }
}
