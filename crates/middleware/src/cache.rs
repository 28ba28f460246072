//! In-process caches of the device API's hot paths, invalidated by
//! generation.
//!
//! Every operator has a *content generation* in `efir_meta`
//! (`content_gen:<client>`), bumped by every write through the Billing and
//! Content APIs and by tariff changes made by subscribers. Cached channel
//! lists and account access are keyed by the generation (and by the global
//! cache epoch that `efir manage flushall` bumps), so a write makes the old
//! entries unreachable at once on the node that made it and within a second
//! on the others, which re-read the generation at most once a second per
//! operator.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use efir_store::{with_db, Store};

use crate::access::Place;

/// How long a node trusts the generation it read.
const GENERATION_TTL: Duration = Duration::from_secs(1);

/// The caches of one middleware.
#[derive(Clone)]
pub struct Caches {
    generations: Arc<Mutex<HashMap<i64, (String, Instant)>>>,
    /// Values by key, typed by the caller through [`Caches::get_or_load`].
    values: moka::future::Cache<String, Arc<dyn std::any::Any + Send + Sync>>,
    places: moka::future::Cache<IpAddr, Place>,
}

impl Default for Caches {
    fn default() -> Self {
        Caches {
            generations: Arc::default(),
            values: moka::future::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            places: moka::future::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
        }
    }
}

fn gen_key(client_id: i64) -> String {
    format!("content_gen:{client_id}")
}

impl Caches {
    /// The operator's current generation (with the global cache epoch).
    pub async fn generation(&self, store: &Store, client_id: i64) -> Result<String, sqlx::Error> {
        if let Ok(map) = self.generations.lock() {
            if let Some((g, at)) = map.get(&client_id) {
                if at.elapsed() < GENERATION_TTL {
                    return Ok(g.clone());
                }
            }
        }
        let sql = "SELECT key, value FROM efir_meta WHERE key = $1 OR key = 'cache_epoch'";
        let rows: Vec<(String, String)> = with_db!(store.pool(), p => sqlx::query_as(sql)
            .bind(gen_key(client_id))
            .fetch_all(p)
            .await)?;
        let value = |k: &str| {
            rows.iter()
                .find(|(key, _)| key == k)
                .map_or("0", |(_, v)| v.as_str())
                .to_string()
        };
        let generation = format!("{}.{}", value("cache_epoch"), value(&gen_key(client_id)));
        if let Ok(mut map) = self.generations.lock() {
            map.insert(client_id, (generation.clone(), Instant::now()));
        }
        Ok(generation)
    }

    /// Records that the operator's content or tariffs changed: bumps the
    /// stored generation and forgets the one this node read.
    pub async fn bump(&self, store: &Store, client_id: i64) {
        let sql = "INSERT INTO efir_meta (key, value, updated_at) VALUES ($1, '1', $2) \
                   ON CONFLICT (key) DO UPDATE SET \
                   value = CAST(CAST(efir_meta.value AS BIGINT) + 1 AS TEXT), \
                   updated_at = excluded.updated_at";
        let done = with_db!(store.pool(), p => sqlx::query(sql)
            .bind(gen_key(client_id))
            .bind(efir_store::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()));
        if let Err(e) = done {
            tracing::warn!(client_id, error = %e, "cannot bump the content generation");
        }
        if let Ok(mut map) = self.generations.lock() {
            map.remove(&client_id);
        }
    }

    /// The cached value under `key`, or what `load` makes (then cached).
    pub async fn get_or_load<T, E, F>(&self, key: String, load: F) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
        F: std::future::Future<Output = Result<T, E>>,
    {
        if let Some(v) = self.values.get(&key).await {
            if let Ok(v) = v.downcast::<T>() {
                return Ok(v);
            }
        }
        let value = Arc::new(load.await?);
        self.values.insert(key, value.clone()).await;
        Ok(value)
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

    /// Drops every cached value (after `flushall` on this node).
    pub fn clear(&self) {
        self.values.invalidate_all();
        self.places.invalidate_all();
        if let Ok(mut map) = self.generations.lock() {
            map.clear();
        }
    }
}
