//! Caches of the device API's hot paths, invalidated by generation.
//!
//! Every operator has a *content generation* in `efir_meta`
//! (`content_gen:<client>`), bumped by every write through the Billing and
//! Content APIs and by tariff changes made by subscribers. Cached channel
//! lists and account access are keyed by the generation (and by the global
//! cache epoch that `efir manage flushall` bumps), so a write makes the old
//! entries unreachable at once on the node that made it and within a second
//! on the others, which re-read the generation at most once a second per
//! operator.
//!
//! With Redis (`cache.redis_url`), a bump is also published on
//! `<prefix>content_gen`; every node subscribes and forgets that operator's
//! generation at once, so other nodes follow immediately too, and
//! serialized channel lists are shared between nodes through Redis.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use efir_store::{with_db, Store};

use crate::access::Place;

/// How long a node trusts the generation it read, without Redis.
const GENERATION_TTL: Duration = Duration::from_secs(1);

/// The same with Redis, whose published bumps arrive first; this only
/// bounds staleness while the subscription is down.
const GENERATION_TTL_WITH_REDIS: Duration = Duration::from_secs(10);

/// Seconds a shared value lives in Redis.
const SHARED_TTL_SECS: u64 = 300;

/// Redis, when configured.
#[derive(Clone)]
struct Shared {
    conn: efir_store::cache::RedisConn,
    prefix: String,
}

/// The caches of one middleware.
#[derive(Clone)]
pub struct Caches {
    generations: Arc<Mutex<HashMap<i64, Generation>>>,
    generation_ttl: Duration,
    shared: Option<Shared>,
    /// Values by key, typed by the caller through [`Caches::get_or_load`].
    values: moka::future::Cache<String, Arc<dyn std::any::Any + Send + Sync>>,
    places: moka::future::Cache<IpAddr, Place>,
    /// Short-lived entries (sessions): a few seconds.
    short: moka::future::Cache<String, Arc<dyn std::any::Any + Send + Sync>>,
}

/// How many TTLs a generation may be served stale while one call reads it.
pub const STALE_FACTOR: u32 = 5;

/// A generation as this node last read it.
#[derive(Debug, Clone)]
struct Generation {
    value: String,
    read_at: Instant,
    /// A call is reading it again.
    refreshing: bool,
}

/// A key of [`Caches::get_or_load`] used with two value types (a bug).
#[derive(Debug, Clone)]
pub struct TypeMismatch(pub String);

impl std::fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cache key `{}` holds another type", self.0)
    }
}

/// How long short-lived entries (sessions) are trusted; a session ended on
/// another node (or by a command) is refused there within this time.
pub const SHORT_TTL: Duration = Duration::from_secs(5);

impl Default for Caches {
    fn default() -> Self {
        Caches {
            generations: Arc::default(),
            generation_ttl: GENERATION_TTL,
            shared: None,
            values: moka::future::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            places: moka::future::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            short: moka::future::Cache::builder()
                .max_capacity(500_000)
                .time_to_live(SHORT_TTL)
                .build(),
        }
    }
}

/// The generation string of `client_id` from the `efir_meta` rows read.
fn compose(rows: &[(String, String)], client_id: i64) -> String {
    let value = |k: &str| {
        rows.iter()
            .find(|(key, _)| key == k)
            .map_or("0", |(_, v)| v.as_str())
            .to_string()
    };
    format!(
        "{}.{}",
        value("cache_epoch"),
        value(&generation_key(client_id))
    )
}

/// The `efir_meta` key of an operator's content generation.
pub fn generation_key(client_id: i64) -> String {
    format!("content_gen:{client_id}")
}

impl Caches {
    /// Caches that also use Redis at `url`: shared serialized lists and
    /// generation bumps published to every node. Subscribes in the
    /// background; without Redis the caches still work, polling.
    pub async fn with_redis(url: &str, prefix: &str) -> Result<Caches, String> {
        Caches::with_redis_target(&efir_store::cache::RedisTarget::Single(url.into()), prefix).await
    }

    /// Like [`Caches::with_redis`] with one Redis server or a Redis Cluster
    /// (subscribed on one seed node at a time, the next one after a loss).
    pub async fn with_redis_target(
        target: &efir_store::cache::RedisTarget,
        prefix: &str,
    ) -> Result<Caches, String> {
        let conn = target.connect().await.map_err(|e| e.to_string())?;
        let clients = target.pubsub_clients().map_err(|e| e.to_string())?;
        let caches = Caches {
            shared: Some(Shared {
                conn,
                prefix: prefix.to_string(),
            }),
            generation_ttl: GENERATION_TTL_WITH_REDIS,
            ..Caches::default()
        };
        let generations = caches.generations.clone();
        let channel = format!("{prefix}content_gen");
        tokio::spawn(async move {
            let mut next = 0usize;
            loop {
                let Some(client) = clients.get(next % clients.len().max(1)) else {
                    return;
                };
                match subscribe(client, &channel, &generations).await {
                    Ok(()) => {}
                    Err(e) => tracing::warn!(error = %e, "Redis subscription lost; retrying"),
                }
                next = next.wrapping_add(1);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(caches)
    }

    /// The operator's current generation (with the global cache epoch).
    ///
    /// Read from the store at most once per TTL: when it is due, one call
    /// reads it while concurrent calls keep using the value they had (for
    /// up to [`STALE_FACTOR`] TTLs), so a busy node never sends a burst of
    /// identical queries.
    pub async fn generation(&self, store: &Store, client_id: i64) -> Result<String, sqlx::Error> {
        if let Ok(mut map) = self.generations.lock() {
            if let Some(g) = map.get_mut(&client_id) {
                let age = g.read_at.elapsed();
                if age < self.generation_ttl
                    || (g.refreshing && age < self.generation_ttl * STALE_FACTOR)
                {
                    return Ok(g.value.clone());
                }
                g.refreshing = true;
            }
        }
        let sql = "SELECT key, value FROM efir_meta WHERE key = $1 OR key = 'cache_epoch'";
        let read: Result<Vec<(String, String)>, sqlx::Error> = with_db!(store.pool(), p => sqlx::query_as(sql)
            .bind(generation_key(client_id))
            .fetch_all(p)
            .await);
        let rows = match read {
            Ok(rows) => rows,
            Err(e) => {
                if let Ok(mut map) = self.generations.lock() {
                    if let Some(g) = map.get_mut(&client_id) {
                        g.refreshing = false;
                    }
                }
                return Err(e);
            }
        };
        let generation = compose(&rows, client_id);
        if let Ok(mut map) = self.generations.lock() {
            map.insert(
                client_id,
                Generation {
                    value: generation.clone(),
                    read_at: Instant::now(),
                    refreshing: false,
                },
            );
        }
        Ok(generation)
    }

    /// A [`Reader`](efir_store::replicas::Reader) for loading a value
    /// cached under `generation` (from [`Caches::generation`], read on the
    /// primary): the replica [`Store::reader`] picks when it already has
    /// that generation, so that a replica a moment behind cannot put
    /// old rows under the new generation (for every node, through Redis);
    /// else the primary.
    pub async fn reader_at(
        &self,
        store: &Store,
        client_id: i64,
        generation: &str,
    ) -> efir_store::replicas::Reader {
        let reader = store.reader();
        if !reader.is_replica() {
            return reader;
        }
        let sql = "SELECT key, value FROM efir_meta WHERE key = $1 OR key = 'cache_epoch'";
        let read: Result<Vec<(String, String)>, sqlx::Error> = with_db!(reader.pool(), p => sqlx::query_as(sql)
            .bind(generation_key(client_id))
            .fetch_all(p)
            .await);
        match read {
            Ok(rows) if compose(&rows, client_id) == generation => reader,
            Ok(_) => store.primary_reader(),
            Err(e) => {
                reader.failed(&e);
                store.primary_reader()
            }
        }
    }

    /// Records that the operator's content or tariffs changed: bumps the
    /// stored generation and forgets the one this node read.
    pub async fn bump(&self, store: &Store, client_id: i64) {
        if let Err(e) = store.bump_counter(&generation_key(client_id)).await {
            tracing::warn!(client_id, error = %e, "cannot bump the content generation");
        }
        if let Ok(mut map) = self.generations.lock() {
            map.remove(&client_id);
        }
        if let Some(shared) = &self.shared {
            let mut conn = shared.conn.clone();
            let published: Result<i64, _> = redis::cmd("PUBLISH")
                .arg(format!("{}content_gen", shared.prefix))
                .arg(client_id)
                .query_async(&mut conn)
                .await;
            if let Err(e) = published {
                tracing::warn!(client_id, error = %e, "cannot publish the content generation");
            }
        }
    }

    /// Like [`Caches::get_or_load`] for serialized answers, which are also
    /// shared between nodes through Redis when it is configured.
    pub async fn get_or_load_bytes<E, F>(&self, key: String, load: F) -> Result<Arc<Vec<u8>>, E>
    where
        E: From<TypeMismatch> + Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<Vec<u8>, E>>,
    {
        let shared = self.shared.clone();
        self.get_or_load(key.clone(), async move {
            let Some(shared) = shared else {
                return load.await;
            };
            let redis_key = format!("{}{key}", shared.prefix);
            let mut conn = shared.conn.clone();
            let found: Result<Option<Vec<u8>>, _> = redis::cmd("GET")
                .arg(&redis_key)
                .query_async(&mut conn)
                .await;
            if let Ok(Some(bytes)) = found {
                return Ok(bytes);
            }
            let bytes = load.await?;
            let stored: Result<(), _> = redis::cmd("SET")
                .arg(&redis_key)
                .arg(bytes.as_slice())
                .arg("EX")
                .arg(SHARED_TTL_SECS)
                .query_async(&mut conn)
                .await;
            if let Err(e) = stored {
                tracing::debug!(error = %e, "cannot share a cached answer");
            }
            Ok(bytes)
        })
        .await
    }

    /// The cached value under `key`, or what `load` makes (then cached).
    /// Concurrent calls for a missing key wait for one `load` instead of
    /// each running their own.
    pub async fn get_or_load<T, E, F>(&self, key: String, load: F) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
        E: From<TypeMismatch> + Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<T, E>>,
    {
        if let Some(v) = self.values.get(&key).await {
            if let Ok(v) = v.downcast::<T>() {
                return Ok(v);
            }
        }
        let value = self
            .values
            .try_get_with(key.clone(), async {
                load.await
                    .map(|v| Arc::new(v) as Arc<dyn std::any::Any + Send + Sync>)
            })
            .await
            .map_err(|e| (*e).clone())?;
        value
            .downcast::<T>()
            .map_err(|_| E::from(TypeMismatch(key)))
    }

    /// A short-lived entry.
    pub async fn short_get<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        let v = self.short.get(key).await?;
        v.downcast_ref::<T>().cloned()
    }

    /// The short-lived entry under `key`, or what `load` makes (then
    /// stored); concurrent calls for a missing key wait for one `load`.
    pub async fn short_get_or_load<T, E, F>(&self, key: String, load: F) -> Result<T, E>
    where
        T: Clone + Send + Sync + 'static,
        E: From<TypeMismatch> + Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<T, E>>,
    {
        let value = self
            .short
            .try_get_with(key.clone(), async {
                load.await
                    .map(|v| Arc::new(v) as Arc<dyn std::any::Any + Send + Sync>)
            })
            .await
            .map_err(|e| (*e).clone())?;
        value
            .downcast_ref::<T>()
            .cloned()
            .ok_or_else(|| E::from(TypeMismatch(key)))
    }

    /// Stores a short-lived entry.
    pub async fn short_put<T: Send + Sync + 'static>(&self, key: String, value: T) {
        self.short.insert(key, Arc::new(value)).await;
    }

    /// Forgets a short-lived entry.
    pub async fn short_forget(&self, key: &str) {
        self.short.invalidate(key).await;
    }

    /// Where `ip` is, cached.
    pub async fn place(&self, store: &Store, ip: IpAddr) -> Result<Place, crate::api::ApiError> {
        if let Some(p) = self.places.get(&ip).await {
            return Ok(p);
        }
        let place = crate::access::locate(store, ip).await?;
        self.places.insert(ip, place).await;
        Ok(place)
    }

    /// With Redis: adds one to the counter `key` (which expires `window`
    /// after its first count) and returns the new count; `None` without
    /// Redis or when Redis fails (callers then count locally).
    pub async fn shared_incr(&self, key: &str, window: Duration) -> Option<i64> {
        let shared = self.shared.as_ref()?;
        let mut conn = shared.conn.clone();
        let full = format!("{}{key}", shared.prefix);
        let (count,): (i64,) = redis::pipe()
            .atomic()
            .incr(&full, 1)
            .cmd("EXPIRE")
            .arg(&full)
            .arg(window.as_secs())
            .arg("NX")
            .ignore()
            .query_async(&mut conn)
            .await
            .ok()?;
        Some(count)
    }

    /// With Redis: the counter `key`; `None` without Redis or on failure.
    pub async fn shared_count(&self, key: &str) -> Option<i64> {
        let shared = self.shared.as_ref()?;
        let mut conn = shared.conn.clone();
        let count: Option<i64> = redis::cmd("GET")
            .arg(format!("{}{key}", shared.prefix))
            .query_async(&mut conn)
            .await
            .ok()?;
        Some(count.unwrap_or(0))
    }

    /// With Redis: removes the counter `key`.
    pub async fn shared_reset(&self, key: &str) {
        if let Some(shared) = &self.shared {
            let mut conn = shared.conn.clone();
            let _: Result<i64, _> = redis::cmd("DEL")
                .arg(format!("{}{key}", shared.prefix))
                .query_async(&mut conn)
                .await;
        }
    }

    /// Drops every cached value (after `flushall` on this node).
    pub fn clear(&self) {
        self.values.invalidate_all();
        self.places.invalidate_all();
        self.short.invalidate_all();
        if let Ok(mut map) = self.generations.lock() {
            map.clear();
        }
    }
}

/// Listens for generation bumps and forgets the bumped operators'
/// generations; returns when the connection ends.
async fn subscribe(
    client: &redis::Client,
    channel: &str,
    generations: &Mutex<HashMap<i64, Generation>>,
) -> Result<(), redis::RedisError> {
    use futures::StreamExt;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let Ok(client_id) = msg.get_payload::<i64>() else {
            continue;
        };
        if let Ok(mut map) = generations.lock() {
            map.remove(&client_id);
        }
    }
    Ok(())
}
