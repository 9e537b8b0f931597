//! What dispatch asks the registry on every command (the device's record,
//! its profile, the object models its tenant sees), cached. Without it each
//! Read cost about ten database round trips, one of which loaded every
//! object model of the tenant into a fresh `ModelRegistry`
//! (docs/performance.md, "Dispatch").
//!
//! The cache is emptied on every registry change (`RegistryLookup::changes`:
//! in process, or the Kafka change feed in a cluster). Changes are rare next
//! to commands, so clearing everything is simpler than tracking which entry
//! a change touches, and never serves a stale answer after the change is
//! seen. A lookup that raced with a change is not stored (generation check).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use lwm2m_core::ModelRegistry;
use lwm2m_registry::ids::{ProfileId, TenantId};
use lwm2m_registry::profile::DeviceProfile;
use lwm2m_registry::{EndpointRecord, RegistryLookup};
use tokio::sync::watch;

use crate::error::Result;

/// Entries per map before it is emptied (a bound, not an LRU: a full map
/// is rare and refilling it is cheap).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct State {
    generation: u64,
    endpoints: HashMap<String, Option<EndpointRecord>>,
    profiles: HashMap<ProfileId, Option<Arc<DeviceProfile>>>,
    models: HashMap<TenantId, Arc<ModelRegistry>>,
}

impl State {
    fn clear(&mut self) {
        self.generation += 1;
        self.endpoints.clear();
        self.profiles.clear();
        self.models.clear();
    }
}

pub struct RegistryCache {
    registry: Arc<dyn RegistryLookup>,
    state: Mutex<State>,
}

impl RegistryCache {
    /// A cache over `registry`, emptied on its changes until `stop`.
    pub fn start(registry: Arc<dyn RegistryLookup>, mut stop: watch::Receiver<bool>) -> Arc<Self> {
        let cache = Arc::new(RegistryCache {
            registry,
            state: Mutex::new(State::default()),
        });
        let mut changes = cache.registry.changes();
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    item = changes.next() => item,
                    () = crate::stopped(&mut stop) => return,
                };
                let Some(cache) = weak.upgrade() else { return };
                // A change, or a gap in the feed (lost changes): either way
                // nothing cached can be trusted any more.
                cache.with(State::clear);
                if item.is_none() {
                    tracing::warn!("registry change feed ended: dispatch caches no more");
                    return;
                }
            }
        });
        cache
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // Every update is one insert or clear: a poisoned lock holds a
        // consistent state.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    fn generation(&self) -> u64 {
        self.with(|s| s.generation)
    }

    pub fn registry(&self) -> &Arc<dyn RegistryLookup> {
        &self.registry
    }

    pub async fn lookup_endpoint(&self, endpoint: &str) -> Result<Option<EndpointRecord>> {
        if let Some(found) = self.with(|s| s.endpoints.get(endpoint).cloned()) {
            return Ok(found);
        }
        let generation = self.generation();
        let found = self.registry.lookup_endpoint(endpoint).await?;
        self.with(|s| {
            if s.generation == generation {
                if s.endpoints.len() >= MAX_ENTRIES {
                    s.endpoints.clear();
                }
                s.endpoints.insert(endpoint.to_owned(), found.clone());
            }
        });
        Ok(found)
    }

    pub async fn profile(&self, id: &ProfileId) -> Result<Option<Arc<DeviceProfile>>> {
        if let Some(found) = self.with(|s| s.profiles.get(id).cloned()) {
            return Ok(found);
        }
        let generation = self.generation();
        let found = self.registry.profile(id).await?;
        self.with(|s| {
            if s.generation == generation {
                if s.profiles.len() >= MAX_ENTRIES {
                    s.profiles.clear();
                }
                s.profiles.insert(id.clone(), found.clone());
            }
        });
        Ok(found)
    }

    pub async fn models(&self, tenant: &TenantId) -> Result<Arc<ModelRegistry>> {
        if let Some(found) = self.with(|s| s.models.get(tenant).cloned()) {
            return Ok(found);
        }
        let generation = self.generation();
        let found = Arc::new(self.registry.models(tenant).await?);
        self.with(|s| {
            if s.generation == generation {
                if s.models.len() >= MAX_ENTRIES {
                    s.models.clear();
                }
                s.models.insert(tenant.clone(), Arc::clone(&found));
            }
        });
        Ok(found)
    }
}
