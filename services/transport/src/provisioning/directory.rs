//! The transport's cache of the registry: devices by endpoint (negative
//! answers too, so a storm of unknown endpoints does not reach the
//! database), profiles by id, and the key names of the devices this node
//! serves. Entries are dropped when the registry's change feed says they
//! changed; a lagged feed drops everything.
//!
//! Lookups run in the request tasks, never in the UDP loop.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use lwm2m_proto::registry::v1::registry_change::Change;
use lwm2m_proto::registry::v1::RegistryChange;
use lwm2m_registry::change_feed::FeedError;
use lwm2m_registry::ids::{ProfileId, TenantId};
use lwm2m_registry::lookup::{EndpointRecord, PskRecord, RegistryLookup};
use lwm2m_registry::profile::DeviceProfile;

use super::plan::KeyMap;
use crate::error::Error;

/// Beyond this many cached endpoints the cache starts over (a bound, not an LRU:
/// a full cache only costs lookups).
const MAX_CACHED_ENDPOINTS: usize = 200_000;

#[derive(Default)]
struct Cache {
    endpoints: HashMap<String, Option<Arc<EndpointRecord>>>,
    /// PSK identity → key (negative answers too: handshakes with unknown
    /// identities are what an attacker can make cheaply).
    psks: HashMap<String, Option<Arc<PskRecord>>>,
    profiles: HashMap<ProfileId, Arc<DeviceProfile>>,
    /// Tenants that answered "no auto-provisioning", so unknown endpoints
    /// cost no registry call until a tenant change.
    closed_tenants: HashSet<String>,
    /// The profile applied to each device this node serves (endpoint →
    /// which profile, at which revision, with its key names for values events).
    applied: HashMap<String, Applied>,
}

/// The profile a device was last brought in line with.
#[derive(Clone, Debug)]
pub(crate) struct Applied {
    pub profile_id: ProfileId,
    pub revision: i64,
    pub keys: Arc<KeyMap>,
}

/// Cached registry lookups. Cheap to share.
pub(crate) struct Directory {
    lookup: Arc<dyn RegistryLookup>,
    cache: Mutex<Cache>,
}

impl Directory {
    /// A directory over `lookup`, with a task that applies its change feed
    /// until the returned directory is dropped.
    pub fn start(lookup: Arc<dyn RegistryLookup>) -> Arc<Directory> {
        let directory = Arc::new(Directory {
            cache: Mutex::new(Cache::default()),
            lookup: lookup.clone(),
        });
        let weak = Arc::downgrade(&directory);
        let mut changes = lookup.changes();
        tokio::spawn(async move {
            while let Some(item) = changes.next().await {
                let Some(directory) = weak.upgrade() else {
                    return;
                };
                match item {
                    Ok(change) => directory.apply(&change),
                    Err(FeedError::Lagged { missed }) => {
                        tracing::warn!(missed, "registry change feed lagged: cache cleared");
                        directory.clear();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "registry change feed failed: cache cleared");
                        directory.clear();
                    }
                }
            }
        });
        directory
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // (single inserts/removes), so a poisoned lock is still usable.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The device registered under `endpoint` in the registry.
    pub async fn endpoint(&self, endpoint: &str) -> Result<Option<Arc<EndpointRecord>>, Error> {
        if let Some(hit) = self.cache().endpoints.get(endpoint) {
            return Ok(hit.clone());
        }
        let found = self
            .lookup
            .lookup_endpoint(endpoint)
            .await
            .map_err(|e| Error::Registry(e.to_string()))?
            .map(Arc::new);
        let mut cache = self.cache();
        if cache.endpoints.len() >= MAX_CACHED_ENDPOINTS {
            cache.endpoints.clear();
        }
        cache.endpoints.insert(endpoint.to_owned(), found.clone());
        Ok(found)
    }

    /// Creates `endpoint` in `tenant` if the tenant enables
    /// auto-provisioning; `None` if it does not.
    pub async fn provision(
        &self,
        tenant: &str,
        endpoint: &str,
    ) -> Result<Option<Arc<EndpointRecord>>, Error> {
        if self.cache().closed_tenants.contains(tenant) {
            return Ok(None);
        }
        let Ok(tenant_id) = TenantId::parse(tenant, "transport.provisioning_tenant") else {
            return Ok(None);
        };
        let created = self
            .lookup
            .auto_provision(&tenant_id, endpoint)
            .await
            .map_err(|e| Error::Registry(e.to_string()))?
            .map(Arc::new);
        let mut cache = self.cache();
        match &created {
            Some(record) => {
                cache
                    .endpoints
                    .insert(endpoint.to_owned(), Some(record.clone()));
            }
            None => {
                cache.closed_tenants.insert(tenant.to_owned());
            }
        }
        Ok(created)
    }

    /// The key of a DTLS PSK identity (for the DTLS driver's `NeedPsk`).
    pub async fn psk(&self, identity: &str) -> Result<Option<Arc<PskRecord>>, Error> {
        if let Some(hit) = self.cache().psks.get(identity) {
            return Ok(hit.clone());
        }
        let found = self
            .lookup
            .lookup_psk(identity)
            .await
            .map_err(|e| Error::Registry(e.to_string()))?
            .map(Arc::new);
        let mut cache = self.cache();
        if cache.psks.len() >= MAX_CACHED_ENDPOINTS {
            cache.psks.clear();
        }
        cache.psks.insert(identity.to_owned(), found.clone());
        Ok(found)
    }

    /// A profile by id.
    pub async fn profile(&self, id: &ProfileId) -> Result<Option<Arc<DeviceProfile>>, Error> {
        if let Some(hit) = self.cache().profiles.get(id) {
            return Ok(Some(hit.clone()));
        }
        let found = self
            .lookup
            .profile(id)
            .await
            .map_err(|e| Error::Registry(e.to_string()))?;
        if let Some(profile) = &found {
            self.cache().profiles.insert(id.clone(), profile.clone());
        }
        Ok(found)
    }

    /// The profile of the device registered under `endpoint` in the
    /// registry; `None` when it is unknown or has no profile.
    pub async fn profile_of(&self, endpoint: &str) -> Result<Option<Arc<DeviceProfile>>, Error> {
        let Some(record) = self.endpoint(endpoint).await? else {
            return Ok(None);
        };
        match &record.device.profile_id {
            Some(id) => self.profile(id).await,
            None => Ok(None),
        }
    }

    /// Remembers the profile applied to a device this node serves.
    pub fn set_applied(&self, endpoint: &str, applied: Option<Applied>) {
        let mut cache = self.cache();
        match applied {
            Some(applied) => {
                cache.applied.insert(endpoint.to_owned(), applied);
            }
            None => {
                cache.applied.remove(endpoint);
            }
        }
    }

    /// The profile applied to a device, if this node applied one.
    pub fn applied(&self, endpoint: &str) -> Option<Applied> {
        self.cache().applied.get(endpoint).cloned()
    }

    /// The key names of a device, if this node knows its profile.
    pub fn keys(&self, endpoint: &str) -> Option<Arc<KeyMap>> {
        self.cache().applied.get(endpoint).map(|a| a.keys.clone())
    }

    /// Devices served here with profile `profile_id`.
    pub fn endpoints_with_profile(&self, profile_id: &str) -> Vec<String> {
        self.cache()
            .applied
            .iter()
            .filter(|(_, a)| a.profile_id.as_str() == profile_id)
            .map(|(endpoint, _)| endpoint.clone())
            .collect()
    }

    /// The registry's lookups, for calls that are not cached.
    pub fn lookup(&self) -> &Arc<dyn RegistryLookup> {
        &self.lookup
    }

    /// Drops a cached profile (the change feed's task does it too; this
    /// lets a reader that saw the change first reload at once).
    pub fn apply_profile_change(&self, profile_id: &str) {
        self.cache()
            .profiles
            .retain(|id, _| id.as_str() != profile_id);
    }

    fn clear(&self) {
        let mut cache = self.cache();
        cache.endpoints.clear();
        cache.psks.clear();
        cache.profiles.clear();
        cache.closed_tenants.clear();
    }

    /// Drops what a committed change made stale.
    pub(crate) fn apply(&self, change: &RegistryChange) {
        let mut cache = self.cache();
        match &change.change {
            Some(Change::DeviceChanged(d)) => {
                cache.endpoints.remove(&d.endpoint);
                cache.endpoints.remove(&d.previous_endpoint);
                // The change does not name identities: drop the device's
                // keys and every negative answer (it may have gained one).
                let gone = [d.endpoint.as_str(), d.previous_endpoint.as_str()];
                cache.psks.retain(|_, r| {
                    r.as_ref()
                        .is_some_and(|r| !gone.contains(&r.endpoint.as_str()))
                });
            }
            Some(Change::DeviceDeleted(d)) => {
                cache.endpoints.remove(&d.endpoint);
                cache
                    .psks
                    .retain(|_, r| r.as_ref().is_none_or(|r| r.endpoint != d.endpoint));
            }
            Some(Change::ProfileChanged(p)) => {
                cache.profiles.retain(|id, _| id.as_str() != p.profile_id);
            }
            Some(Change::ProfileDeleted(p)) => {
                cache.profiles.retain(|id, _| id.as_str() != p.profile_id);
            }
            // Tenant flags (auto-provisioning) ride on endpoint records.
            Some(Change::TenantChanged(_)) | Some(Change::TenantDeleted(_)) => {
                cache.endpoints.clear();
                cache.psks.clear();
                cache.closed_tenants.remove(&change.tenant_id);
            }
            Some(Change::ModelsChanged(_)) | Some(Change::ModelsDeleted(_)) | None => {}
        }
    }
}
