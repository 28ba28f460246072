//! The cache: in-process (moka) on one machine, Redis when several nodes
//! share it (`cache.redis_url`).
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
        conn: redis::aio::ConnectionManager,
        prefix: String,
    },
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

    /// The cache `cfg` asks for: Redis when `redis_url` is set (connected
    /// within 5 seconds or an error), else in-process.
    pub async fn connect(cfg: &CacheConfig) -> Result<Cache> {
        let Some(url) = &cfg.redis_url else {
            return Ok(Cache::local(cfg));
        };
        let client = redis::Client::open(url.as_str()).map_err(cache_err)?;
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            redis::aio::ConnectionManager::new(client),
        )
        .await
        .map_err(|_| StoreError::Cache("Redis did not answer within 5 seconds".into()))?
        .map_err(cache_err)?;
        Ok(Cache {
            backend: Backend::Redis {
                conn,
                prefix: cfg.key_prefix.clone(),
            },
            ttl: Duration::from_secs(cfg.ttl_secs.max(1)),
            epoch: Arc::new(AtomicI64::new(-1)),
        })
    }

    /// `in-process` or `Redis`, for logs.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(_) => "in-process".into(),
            Backend::Redis { prefix, .. } => format!("Redis (keys under `{prefix}`)"),
        }
    }

    /// The value under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Local(c) => Ok(c.get(key).await.map(|v| v.to_vec())),
            Backend::Redis { conn, prefix } => {
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
            Backend::Redis { conn, prefix } => {
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
            Backend::Redis { conn, prefix } => {
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
            Backend::Redis { conn, prefix } => {
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
