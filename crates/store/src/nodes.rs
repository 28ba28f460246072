//! The nodes of a cluster: every Efir process that serves (`efir serve`,
//! `efir router`, `efir worker`) keeps a row in `efir_node` fresh with a
//! heartbeat and removes it when it stops, so `efir manage cluster status`
//! can say which nodes are alive, what they run and how loaded they are.
//!
//! Heartbeats are bookkeeping, not changes of the model: they are written
//! outside audited transactions.

use serde::Serialize;

use crate::{Result, Store};

/// Seconds between two heartbeats of a node.
pub const HEARTBEAT_SECS: i64 = 5;
/// A node not heard from for this long is taken for dead.
pub const STALE_SECS: i64 = 30;

/// One node as it reports itself.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Node {
    /// `<host>:<pid>`.
    pub name: String,
    /// Its roles (`api,router,scheduler`).
    pub roles: String,
    /// Efir version.
    pub version: String,
    /// Where it listens (`127.0.0.1:8000`), if anywhere.
    pub listen: String,
    /// Process id.
    pub pid: i64,
    /// When it started (Unix seconds).
    pub started_at: i64,
    /// Its last heartbeat (Unix seconds).
    pub last_seen_at: i64,
    /// The host's load average over one minute.
    pub load1: f64,
    /// The process's resident memory in bytes.
    pub rss_bytes: i64,
}

impl Node {
    /// Whether it was heard from within `stale_secs` of `now`.
    pub fn alive(&self, now: i64, stale_secs: i64) -> bool {
        now - self.last_seen_at <= stale_secs
    }
}

impl Store {
    /// Records a heartbeat of `node` (inserts or refreshes its row).
    pub async fn node_heartbeat(&self, node: &Node) -> Result<()> {
        let sql = "INSERT INTO efir_node (name, roles, version, listen, pid, started_at, \
                   last_seen_at, load1, rss_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                   ON CONFLICT (name) DO UPDATE SET roles = excluded.roles, \
                   version = excluded.version, listen = excluded.listen, pid = excluded.pid, \
                   started_at = excluded.started_at, last_seen_at = excluded.last_seen_at, \
                   load1 = excluded.load1, rss_bytes = excluded.rss_bytes";
        with_db!(self.pool(), p => sqlx::query(sql)
            .bind(&node.name)
            .bind(&node.roles)
            .bind(&node.version)
            .bind(&node.listen)
            .bind(node.pid)
            .bind(node.started_at)
            .bind(node.last_seen_at)
            .bind(node.load1)
            .bind(node.rss_bytes)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Removes node `name` (it stopped).
    pub async fn node_gone(&self, name: &str) -> Result<()> {
        with_db!(self.pool(), p => sqlx::query("DELETE FROM efir_node WHERE name = $1")
            .bind(name)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Every node with a row, most recently heard from first; rows older
    /// than `forget_secs` are deleted on the way (nodes that died long ago).
    pub async fn nodes(&self, now: i64, forget_secs: i64) -> Result<Vec<Node>> {
        with_db!(self.pool(), p => sqlx::query("DELETE FROM efir_node WHERE last_seen_at < $1")
            .bind(now - forget_secs)
            .execute(p)
            .await
            .map(|_| ()))?;
        let sql = "SELECT name, roles, version, listen, pid, started_at, last_seen_at, load1, \
                   rss_bytes FROM efir_node ORDER BY last_seen_at DESC, name";
        Ok(with_db!(self.pool(), p => sqlx::query_as::<_, Node>(sql).fetch_all(p).await)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDb;

    #[tokio::test]
    async fn heartbeats_refresh_and_old_rows_are_forgotten() {
        for db in TestDb::both().await {
            let mut n = Node {
                name: "box:1".into(),
                roles: "api".into(),
                version: "0.1.0".into(),
                listen: "127.0.0.1:8000".into(),
                pid: 1,
                started_at: 1000,
                last_seen_at: 1000,
                load1: 0.5,
                rss_bytes: 1 << 20,
            };
            db.store.node_heartbeat(&n).await.unwrap();
            n.last_seen_at = 1005;
            n.load1 = 1.25;
            db.store.node_heartbeat(&n).await.unwrap();
            let old = Node {
                name: "old:2".into(),
                last_seen_at: 10,
                ..n.clone()
            };
            db.store.node_heartbeat(&old).await.unwrap();
            let nodes = db.store.nodes(1010, 600).await.unwrap();
            assert_eq!(nodes, vec![n.clone()]);
            assert!(nodes[0].alive(1010, STALE_SECS));
            assert!(!nodes[0].alive(1100, STALE_SECS));
            db.store.node_gone("box:1").await.unwrap();
            assert!(db.store.nodes(1010, 3600).await.unwrap().is_empty());
            db.cleanup().await;
        }
    }
}
