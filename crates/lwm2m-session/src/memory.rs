//! Session state in process memory, for standalone (single-node) mode.
//!
//! This is a product backend, not a test double: it honours the same
//! contract as the Redis store (and runs the same conformance suite). One
//! mutex guards everything, which makes every operation trivially atomic;
//! a single node's registration rate is far below what that costs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::error::{Result, SessionError};
use crate::observation::{Freshness, Observation};
use crate::registration::{Registration, RegistrationUpdate};
use crate::store::{page_size, Page, RegisterOutcome, Removed, SessionStore};
use crate::validate;

/// In-memory [`SessionStore`]. Clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By endpoint; ordered so `list` can page with an endpoint cursor.
    registrations: BTreeMap<String, Registration>,
    /// Registration id -> endpoint.
    ids: HashMap<String, String>,
    /// Endpoint -> token -> observation.
    observations: HashMap<String, BTreeMap<Vec<u8>, Observation>>,
    /// Token -> endpoint.
    tokens: HashMap<Vec<u8>, String>,
    /// (expires_at_ms, endpoint), so the sweep never scans everything.
    expiry: BTreeSet<(i64, String)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Inner {
    /// Removes the endpoint's registration, its indexes and observations.
    fn remove(&mut self, endpoint: &str) -> Option<Removed> {
        let registration = self.registrations.remove(endpoint)?;
        self.ids.remove(&registration.registration_id);
        self.expiry
            .remove(&(registration.expires_at_ms, endpoint.to_owned()));
        let observations = self.drain_observations(endpoint);
        Some((registration, observations))
    }

    fn drain_observations(&mut self, endpoint: &str) -> Vec<Observation> {
        let drained: Vec<Observation> = self
            .observations
            .remove(endpoint)
            .map(|m| m.into_values().collect())
            .unwrap_or_default();
        for o in &drained {
            self.tokens.remove(&o.token);
        }
        drained
    }

    /// Replaces a stored registration, keeping the expiry index in step.
    fn replace(&mut self, next: Registration) {
        if let Some(prev) = self.registrations.get(&next.endpoint) {
            self.expiry
                .remove(&(prev.expires_at_ms, prev.endpoint.clone()));
        }
        self.expiry
            .insert((next.expires_at_ms, next.endpoint.clone()));
        self.registrations.insert(next.endpoint.clone(), next);
    }

    /// Adds (or replaces, same token) an observation of the current registration.
    fn add_observation(&mut self, observation: Observation) -> Result<()> {
        let current = self
            .registrations
            .get(&observation.endpoint)
            .map(|r| r.registration_id.as_str());
        if current != Some(observation.registration_id.as_str()) {
            return Err(SessionError::NotRegistered {
                endpoint: observation.endpoint,
                registration_id: observation.registration_id,
            });
        }
        if let Some(other) = self.tokens.get(&observation.token) {
            if *other != observation.endpoint {
                return Err(SessionError::TokenInUse {
                    token: hex::encode(&observation.token),
                    endpoint: other.clone(),
                });
            }
        }
        self.tokens
            .insert(observation.token.clone(), observation.endpoint.clone());
        self.observations
            .entry(observation.endpoint.clone())
            .or_default()
            .insert(observation.token.clone(), observation);
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn register(&self, mut registration: Registration) -> Result<RegisterOutcome> {
        registration.validate()?;
        let mut inner = self.inner.lock().await;
        let (replaced, cancelled_observations) = match inner.remove(&registration.endpoint) {
            Some((old, obs)) => (Some(old), obs),
            None => (None, Vec::new()),
        };
        registration.revision = replaced
            .as_ref()
            .map_or(1, |r| r.revision.saturating_add(1));
        inner.ids.insert(
            registration.registration_id.clone(),
            registration.endpoint.clone(),
        );
        inner.replace(registration);
        Ok(RegisterOutcome {
            replaced,
            cancelled_observations,
        })
    }

    async fn update(
        &self,
        registration_id: &str,
        update: RegistrationUpdate,
    ) -> Result<Option<(Registration, Registration)>> {
        let mut inner = self.inner.lock().await;
        let Some(endpoint) = inner.ids.get(registration_id) else {
            return Ok(None);
        };
        let Some(old) = inner.registrations.get(endpoint).cloned() else {
            return Ok(None);
        };
        let next = old.updated(&update);
        inner.replace(next.clone());
        Ok(Some((old, next)))
    }

    async fn touch(
        &self,
        endpoint: &str,
        address: &str,
        node_id: &str,
        now_ms: i64,
    ) -> Result<Option<Registration>> {
        validate::endpoint(endpoint)?;
        let mut inner = self.inner.lock().await;
        let Some(old) = inner.registrations.get(endpoint) else {
            return Ok(None);
        };
        let next = old.touched(address, node_id, now_ms);
        inner.replace(next.clone());
        Ok(Some(next))
    }

    async fn deregister(&self, registration_id: &str) -> Result<Option<Removed>> {
        let mut inner = self.inner.lock().await;
        let Some(endpoint) = inner.ids.get(registration_id).cloned() else {
            return Ok(None);
        };
        Ok(inner.remove(&endpoint))
    }

    async fn get_by_endpoint(&self, endpoint: &str) -> Result<Option<Registration>> {
        validate::endpoint(endpoint)?;
        Ok(self.inner.lock().await.registrations.get(endpoint).cloned())
    }

    async fn get_by_registration_id(&self, registration_id: &str) -> Result<Option<Registration>> {
        let inner = self.inner.lock().await;
        Ok(inner
            .ids
            .get(registration_id)
            .and_then(|ep| inner.registrations.get(ep))
            .cloned())
    }

    async fn list(&self, cursor: Option<String>, limit: usize) -> Result<Page> {
        let limit = page_size(limit);
        let after = match cursor {
            None => Bound::Unbounded,
            Some(c) => {
                let bytes = hex::decode(&c).map_err(|_| SessionError::InvalidCursor(c.clone()))?;
                let ep = String::from_utf8(bytes).map_err(|_| SessionError::InvalidCursor(c))?;
                Bound::Excluded(ep)
            }
        };
        let inner = self.inner.lock().await;
        let mut range = inner
            .registrations
            .range::<String, _>((after, Bound::Unbounded));
        let items: Vec<Registration> = range.by_ref().take(limit).map(|(_, r)| r.clone()).collect();
        let next_cursor = match (range.next(), items.last()) {
            (Some(_), Some(last)) => Some(hex::encode(&last.endpoint)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn take_expired(&self, now_ms: i64, limit: usize) -> Result<Vec<Removed>> {
        let mut inner = self.inner.lock().await;
        let due: Vec<String> = inner
            .expiry
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .map(|(_, ep)| ep.clone())
            .collect();
        Ok(due.iter().filter_map(|ep| inner.remove(ep)).collect())
    }

    async fn add_observation(&self, observation: Observation) -> Result<()> {
        observation.validate()?;
        let mut inner = self.inner.lock().await;
        inner.add_observation(observation)
    }

    async fn add_observation_unless_observed(
        &self,
        observation: Observation,
    ) -> Result<Option<Observation>> {
        observation.validate()?;
        let mut inner = self.inner.lock().await;
        // Only an observation of the current registration counts; an older
        // one is refused below as NotRegistered anyway.
        let current = inner
            .registrations
            .get(&observation.endpoint)
            .map(|r| r.registration_id.as_str());
        if current == Some(observation.registration_id.as_str()) {
            let existing = inner
                .observations
                .get(&observation.endpoint)
                .and_then(|m| m.values().find(|o| o.same_target(&observation)));
            if let Some(existing) = existing {
                return Ok(Some(existing.clone()));
            }
        }
        inner.add_observation(observation).map(|()| None)
    }

    async fn remove_observation(
        &self,
        endpoint: &str,
        token: &[u8],
    ) -> Result<Option<Observation>> {
        validate::endpoint(endpoint)?;
        validate::token(token)?;
        let mut inner = self.inner.lock().await;
        let Some(by_token) = inner.observations.get_mut(endpoint) else {
            return Ok(None);
        };
        let removed = by_token.remove(token);
        if by_token.is_empty() {
            inner.observations.remove(endpoint);
        }
        if removed.is_some() {
            inner.tokens.remove(token);
        }
        Ok(removed)
    }

    async fn observations(&self, endpoint: &str) -> Result<Vec<Observation>> {
        validate::endpoint(endpoint)?;
        let inner = self.inner.lock().await;
        Ok(inner
            .observations
            .get(endpoint)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn observation_by_token(&self, token: &[u8]) -> Result<Option<Observation>> {
        validate::token(token)?;
        let inner = self.inner.lock().await;
        Ok(inner
            .tokens
            .get(token)
            .and_then(|ep| inner.observations.get(ep))
            .and_then(|m| m.get(token))
            .cloned())
    }

    async fn record_notification(
        &self,
        endpoint: &str,
        token: &[u8],
        seq: u32,
        now_ms: i64,
    ) -> Result<Option<Freshness>> {
        validate::endpoint(endpoint)?;
        validate::token(token)?;
        let mut inner = self.inner.lock().await;
        let Some(obs) = inner
            .observations
            .get_mut(endpoint)
            .and_then(|m| m.get_mut(token))
        else {
            return Ok(None);
        };
        Ok(Some(match obs.notified(seq, now_ms) {
            Some(next) => {
                *obs = next;
                Freshness::Fresh
            }
            None => Freshness::Stale,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::Harness;

    /// Clones share state, so "reopening" the store is cloning it: the
    /// closest a single process gets to a node restart.
    struct MemoryHarness(MemoryStore, Arc<crate::cluster::MemoryCluster>);

    #[async_trait]
    impl Harness for MemoryHarness {
        async fn open(&self) -> Arc<dyn SessionStore> {
            Arc::new(self.0.clone())
        }
        async fn open_cluster(&self) -> Arc<dyn crate::cluster::ClusterStore> {
            self.1.clone()
        }
        async fn cleanup(&self) {}
    }

    crate::conformance_suite!(async { MemoryHarness(MemoryStore::new(), Default::default()) });

    #[tokio::test]
    async fn clones_share_state() {
        let a = MemoryStore::new();
        let b = a.clone();
        let reg = crate::conformance::sample_registration("ep-clone", 0);
        a.register(reg).await.unwrap();
        assert!(b.get_by_endpoint("ep-clone").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn bad_cursor_is_refused() {
        let s = MemoryStore::new();
        assert!(matches!(
            s.list(Some("zz".into()), 10).await,
            Err(SessionError::InvalidCursor(_))
        ));
    }
}
