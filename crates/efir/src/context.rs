//! What every command needs: the configuration, the store and the cache.

use std::time::Duration;

use anyhow::{Context as _, Result};
use efir_core::config::Loaded;
use efir_core::Config;
use efir_store::cache::Cache;
use efir_store::{ConnectOptions, Store};

/// What to do about migrations when opening the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Apply pending migrations.
    Migrate,
    /// Fail when migrations are pending.
    Require,
    /// Neither (for `migrate --status` and `restore`).
    AsIs,
}

/// The opened configuration, database and cache.
#[derive(Clone)]
pub struct Ctx {
    loaded: Loaded,
    store: Store,
    cache: Cache,
    /// Whether commands may prompt (false in the scheduler).
    pub interactive: bool,
}

impl Ctx {
    /// Opens the database and cache named by the configuration.
    pub async fn open(loaded: Loaded, open: Open) -> Result<Ctx> {
        let config = &loaded.config;
        let opts = connect_options(config);
        let url = config.database_url();
        let mut store = Store::connect(&url, &opts).await.with_context(|| {
            format!(
                "cannot open the database {}",
                efir_core::config::redact_url(&url)
            )
        })?;
        match open {
            Open::Migrate => {
                store.migrate().await?;
            }
            Open::Require => store.require_migrated().await?,
            Open::AsIs => {}
        }
        store
            .attach_replicas(efir_store::replicas::ReplicaSettings {
                urls: config.database.replicas.clone(),
                max_lag: Duration::from_secs(config.database.replica_max_lag_secs),
                check_every: Duration::from_secs(config.database.replica_check_secs.max(1)),
                max_connections: config.database.max_connections.clamp(1, 5),
            })
            .context("database.replicas")?;
        let cache = Cache::connect(&config.cache)
            .await
            .context("cannot connect to the cache (cache.redis_url)")?;
        Ok(Ctx {
            loaded,
            store,
            cache,
            interactive: true,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.loaded.config
    }

    /// The configuration with where it came from.
    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// How the store was opened.
    pub fn connect_options(&self) -> ConnectOptions {
        connect_options(self.config())
    }

    /// Gives up the context, keeping the store.
    pub fn into_store(self) -> Store {
        self.store
    }
}

fn connect_options(config: &Config) -> ConnectOptions {
    ConnectOptions {
        max_connections: config.database.max_connections,
        connect_timeout: Duration::from_secs(config.database.connect_timeout_secs.max(1)),
    }
}
