//! The registry's operations: validation, the repositories, and change
//! events. The gRPC layer converts messages and calls these; the
//! conformance suite calls them directly, against both databases.
//!
//! Writes go to the store first; the change event is published after the
//! write committed, so a cache that reloads on the event sees the new data.

mod devices;
mod models;
mod profiles;
mod tenants;

use std::sync::Arc;

use crate::change_feed::{ChangeFeed, RegistryChange};
use crate::error::Error;
use crate::store::sql::{migrate, PoolConfig, SqlStore};
use crate::store::Store;

pub use devices::{CsvReport, CsvRowResult, CsvRowStatus, NewDevice};
pub use models::{ImportReport, ImportedModel};

/// Size limits on uploads.
#[derive(Clone, Debug)]
pub struct Limits {
    /// All DDF files of one model upload together.
    pub max_model_upload_bytes: usize,
    /// One bulk-registration CSV (Cumulocity allows 10 MB).
    pub max_csv_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_model_upload_bytes: 32 * 1024 * 1024,
            max_csv_bytes: 10 * 1024 * 1024,
        }
    }
}

/// One page of a listing; `next_page_token` is empty on the last page.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

/// Page sizes: 100 unless asked, at most 1000.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

impl<T> Page<T> {
    /// A page from up to `limit + 1` items fetched: the extra one only says
    /// whether another page follows; `token_of` makes the token from the
    /// last item kept.
    fn from_overfetch(mut items: Vec<T>, limit: usize, token_of: impl Fn(&T) -> String) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next_page_token = match (more, items.last()) {
            (true, Some(last)) => token_of(last),
            _ => String::new(),
        };
        Page {
            items,
            next_page_token,
        }
    }
}

/// The registry service.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    feed: Arc<dyn ChangeFeed>,
    limits: Limits,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Migrates the database at `url` (when `migrate` is set), opens a pool
    /// on it and seeds the built-in core object models.
    pub async fn connect(
        url: &str,
        pool: &PoolConfig,
        migrate: bool,
        feed: Arc<dyn ChangeFeed>,
        limits: Limits,
    ) -> Result<Self, Error> {
        if migrate {
            let report = migrate::run(url).await?;
            if !report.applied.is_empty() {
                tracing::info!(applied = ?report.applied, current = ?report.current, "registry schema migrated");
            }
        }
        let store = SqlStore::connect(url, pool).await?;
        let registry = Registry::new(Arc::new(store), feed, limits);
        let seeded = registry.seed_builtin_models().await?;
        if seeded > 0 {
            tracing::info!(
                models = seeded,
                "built-in object models added to the system scope"
            );
        }
        Ok(registry)
    }

    pub fn new(store: Arc<dyn Store>, feed: Arc<dyn ChangeFeed>, limits: Limits) -> Self {
        Registry {
            store,
            feed,
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn feed(&self) -> &Arc<dyn ChangeFeed> {
        &self.feed
    }

    /// Closes the database pool (after the server stopped).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The repositories, for callers that need a query the service does not offer.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// After a committed write. A feed failure does not undo the write: it
    /// is logged, and caches fall back on their own expiry.
    async fn publish(&self, change: RegistryChange) {
        if let Err(e) = self.feed.publish(change).await {
            tracing::warn!(error = %e, "registry change not published");
        }
    }
}
