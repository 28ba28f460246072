//! The cache: in-process (moka) on one machine, Redis when several nodes
//! share it (`cache.redis_url`, or a Redis Cluster: `cache.redis_cluster`).
//!
//! `efir manage flushall` must reach caches of running processes too: it
//! bumps the cache epoch in the database, which every process polls
//! ([`Cache::sync_epoch`]), and deletes Efir's keys (only those under
//! `cache.key_prefix`) from Redis.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use efir_core::config::CacheConfig;
use redis::AsyncCommands;

use crate::{Actor, Result, Store, StoreError};

/// A cache of byte values by string key.
#[derive(Clone)]
pub struct Cache {
    backend: Backend,
    ttl: Duration,
    epoch: Arc<AtomicI64>,
}

#[derive(Clone)]
enum Backend {
    Local(moka::future::Cache<String, Arc<[u8]>>),
    Redis {
        conn: RedisConn,
        prefix: String,
        target: RedisTarget,
    },
}

/// A Redis connection: one server (reconnecting by itself) or a Redis
/// Cluster (commands routed to the node owning the key's slot, the slot map
/// refreshed when it moves). Commands go through either alike.
#[derive(Clone)]
pub enum RedisConn {
    /// One server.
    Single(redis::aio::ConnectionManager),
    /// A Redis Cluster.
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for RedisConn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(cmd, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// Where Redis is: one server or the seed nodes of a cluster.
#[derive(Debug, Clone)]
pub enum RedisTarget {
    /// `cache.redis_url`.
    Single(String),
    /// `cache.redis_cluster`.
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// The Redis `cfg` asks for, if any.
    pub fn of(cfg: &CacheConfig) -> Option<RedisTarget> {
        match (&cfg.redis_url, cfg.redis_cluster.is_empty()) {
            (Some(url), _) => Some(RedisTarget::Single(url.clone())),
            (None, false) => Some(RedisTarget::Cluster(cfg.redis_cluster.clone())),
            (None, true) => None,
        }
    }

    /// Connects, within 5 seconds or an error.
    pub async fn connect(&self) -> Result<RedisConn> {
        let connecting = async {
            match self {
                RedisTarget::Single(url) => {
                    let client = redis::Client::open(url.as_str())?;
                    Ok(RedisConn::Single(
                        redis::aio::ConnectionManager::new(client).await?,
                    ))
                }
                RedisTarget::Cluster(seeds) => {
                    let client = redis::cluster::ClusterClient::new(seeds.clone())?;
                    Ok(RedisConn::Cluster(client.get_async_connection().await?))
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), connecting)
            .await
            .map_err(|_| StoreError::Cache("Redis did not answer within 5 seconds".into()))?
            .map_err(cache_err)
    }

    /// Clients to subscribe with, in the order to try them: the server, or
    /// every seed of the cluster (a cluster passes each PUBLISH to all its
    /// nodes, so any one will do).
    pub fn pubsub_clients(&self) -> Result<Vec<redis::Client>> {
        let urls = match self {
            RedisTarget::Single(url) => std::slice::from_ref(url),
            RedisTarget::Cluster(seeds) => seeds.as_slice(),
        };
        urls.iter()
            .map(|u| redis::Client::open(u.as_str()).map_err(cache_err))
            .collect()
    }

    /// URLs of the servers holding keys: the server, or every master of the
    /// cluster (from `CLUSTER NODES` of the first seed that answers).
    pub async fn masters(&self) -> Result<Vec<String>> {
        let seeds = match self {
            RedisTarget::Single(url) => return Ok(vec![url.clone()]),
            RedisTarget::Cluster(seeds) => seeds,
        };
        let mut last = StoreError::Cache("no Redis Cluster seed answered".into());
        for seed in seeds {
            let asked = async {
                let client = redis::Client::open(seed.as_str())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async::<String>(&mut conn)
                    .await
            };
            match tokio::time::timeout(Duration::from_secs(5), asked).await {
                Ok(Ok(text)) => return Ok(cluster_masters(seed, &text)),
                Ok(Err(e)) => last = cache_err(e),
                Err(_) => last = StoreError::Cache(format!("{seed} did not answer")),
            }
        }
        Err(last)
    }
}

/// The masters in `CLUSTER NODES` output as URLs like `seed` (same scheme
/// and credentials).
fn cluster_masters(seed: &str, nodes: &str) -> Vec<String> {
    let (scheme, rest) = seed.split_once("://").unwrap_or(("redis", seed));
    let authority = rest.split('/').next().unwrap_or(rest);
    let userinfo = authority
        .rsplit_once('@')
        .map(|(u, _)| format!("{u}@"))
        .unwrap_or_default();
    nodes
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _id = f.next()?;
            let addr = f.next()?;
            let flags = f.next()?;
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|x| x.starts_with("fail")) {
                return None;
            }
            let addr = addr.split(['@', ',']).next()?;
            (!addr.starts_with(':')).then(|| format!("{scheme}://{userinfo}{addr}"))
        })
        .collect()
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn cache_err(e: redis::RedisError) -> StoreError {
    StoreError::Cache(e.to_string())
}

impl Cache {
    /// An in-process cache.
    pub fn local(cfg: &CacheConfig) -> Cache {
        let ttl = Duration::from_secs(cfg.ttl_secs.max(1));
        Cache {
            backend: Backend::Local(
                moka::future::Cache::builder()
                    .max_capacity(cfg.max_entries)
                    .time_to_live(ttl)
                    .build(),
            ),
            ttl,
            epoch: Arc::new(AtomicI64::new(-1)),
        }
    }

    /// The cache `cfg` asks for: Redis when `redis_url` or `redis_cluster`
    /// is set (connected within 5 seconds or an error), else in-process.
    pub async fn connect(cfg: &CacheConfig) -> Result<Cache> {
        let Some(target) = RedisTarget::of(cfg) else {
            return Ok(Cache::local(cfg));
        };
        let conn = target.connect().await?;
        Ok(Cache {
            backend: Backend::Redis {
                conn,
                prefix: cfg.key_prefix.clone(),
                target,
            },
            ttl: Duration::from_secs(cfg.ttl_secs.max(1)),
            epoch: Arc::new(AtomicI64::new(-1)),
        })
    }

    /// `in-process` or `Redis`, for logs.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(_) => "in-process".into(),
            Backend::Redis {
                prefix,
                target: RedisTarget::Cluster(_),
                ..
            } => format!("Redis Cluster (keys under `{prefix}`)"),
            Backend::Redis { prefix, .. } => format!("Redis (keys under `{prefix}`)"),
        }
    }

    /// The value under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Local(c) => Ok(c.get(key).await.map(|v| v.to_vec())),
            Backend::Redis { conn, prefix, .. } => {
                let mut conn = conn.clone();
                conn.get(format!("{prefix}{key}")).await.map_err(cache_err)
            }
        }
    }

    /// Stores `value` under `key` for the configured time to live.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        match &self.backend {
            Backend::Local(c) => {
                c.insert(key.to_string(), Arc::from(value)).await;
                Ok(())
            }
            Backend::Redis { conn, prefix, .. } => {
                let mut conn = conn.clone();
                conn.set_ex(format!("{prefix}{key}"), value, self.ttl.as_secs())
                    .await
                    .map_err(cache_err)
            }
        }
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match &self.backend {
            Backend::Local(c) => {
                c.invalidate(key).await;
                Ok(())
            }
            Backend::Redis { conn, prefix, .. } => {
                let mut conn = conn.clone();
                conn.del(format!("{prefix}{key}")).await.map_err(cache_err)
            }
        }
    }

    /// Removes every entry Efir put in this cache; returns how many Redis
    /// keys were removed (0 for the in-process cache).
    pub async fn clear(&self) -> Result<u64> {
        match &self.backend {
            Backend::Local(c) => {
                c.invalidate_all();
                c.run_pending_tasks().await;
                Ok(0)
            }
            Backend::Redis {
                prefix,
                target: target @ RedisTarget::Cluster(_),
                ..
            } => {
                // Keys live on every master: scan each and delete there,
                // one key per command (a cluster refuses multi-key
                // commands across slots).
                let pattern = format!("{}*", escape_glob(prefix));
                let mut removed = 0u64;
                for url in target.masters().await? {
                    let client = redis::Client::open(url.as_str()).map_err(cache_err)?;
                    let mut conn = client
                        .get_multiplexed_async_connection()
                        .await
                        .map_err(cache_err)?;
                    let mut keys: Vec<String> = Vec::new();
                    {
                        let mut scan = conn.clone();
                        let mut iter = scan
                            .scan_match::<_, String>(&pattern)
                            .await
                            .map_err(cache_err)?;
                        while let Some(k) = futures::StreamExt::next(&mut iter).await {
                            keys.push(k);
                        }
                    }
                    for chunk in keys.chunks(500) {
                        let mut pipe = redis::pipe();
                        for k in chunk {
                            pipe.del(k);
                        }
                        let counts: Vec<u64> =
                            pipe.query_async(&mut conn).await.map_err(cache_err)?;
                        removed += counts.iter().sum::<u64>();
                    }
                }
                Ok(removed)
            }
            Backend::Redis { conn, prefix, .. } => {
                let mut scan = conn.clone();
                let mut del = conn.clone();
                let pattern = format!("{}*", escape_glob(prefix));
                let mut keys: Vec<String> = Vec::new();
                {
                    let mut iter = scan
                        .scan_match::<_, String>(pattern)
                        .await
                        .map_err(cache_err)?;
                    while let Some(k) = futures::StreamExt::next(&mut iter).await {
                        keys.push(k);
                    }
                }
                let mut removed = 0u64;
                for chunk in keys.chunks(500) {
                    let n: u64 = del.del(chunk).await.map_err(cache_err)?;
                    removed += n;
                }
                Ok(removed)
            }
        }
    }

    /// Drops every in-process entry when the database's cache epoch moved
    /// since the last call; returns whether it did.
    pub async fn sync_epoch(&self, epoch: i64) -> bool {
        let seen = self.epoch.swap(epoch, Ordering::SeqCst);
        if seen != -1 && seen != epoch {
            if let Backend::Local(c) = &self.backend {
                c.invalidate_all();
                c.run_pending_tasks().await;
            }
            return true;
        }
        false
    }

    /// Number of entries in the in-process cache (approximate); `None` for
    /// Redis.
    pub fn local_len(&self) -> Option<u64> {
        match &self.backend {
            Backend::Local(c) => Some(c.entry_count()),
            Backend::Redis { .. } => None,
        }
    }

    /// Polls the cache epoch every `every` until the task is dropped.
    pub fn spawn_epoch_watch(&self, store: Store, every: Duration) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match store.cache_epoch().await {
                    Ok(epoch) => {
                        if cache.sync_epoch(epoch).await {
                            tracing::info!(epoch, "cache flushed (epoch changed)");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot read cache epoch"),
                }
            }
        })
    }
}

/// Escapes Redis glob characters so a prefix matches literally.
fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What `flushall` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlushReport {
    /// The new cache epoch every process picks up.
    pub epoch: i64,
    /// Keys removed from Redis.
    pub redis_keys_removed: u64,
}

/// Clears every cache: bumps the epoch (in-process caches of all running
/// processes) and removes Efir's keys from `cache` (Redis).
pub async fn flush_all(store: &Store, cache: &Cache, actor: Actor) -> Result<FlushReport> {
    let epoch = store.bump_cache_epoch(actor).await?;
    let redis_keys_removed = cache.clear().await?;
    Ok(FlushReport {
        epoch,
        redis_keys_removed,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_masters_are_read_from_cluster_nodes() {
        let nodes = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
e7d1 127.0.0.1:30001@40001,host-a myself,master - 0 0 1 connected 0-5460
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003 master,fail - 0 1426238318243 3 connected 10923-16383
";
        assert_eq!(
            super::cluster_masters("redis://:secret@10.0.0.1:30001/0", nodes),
            vec![
                "redis://:secret@127.0.0.1:30001".to_string(),
                "redis://:secret@127.0.0.1:30002".to_string()
            ]
        );
    }
}
