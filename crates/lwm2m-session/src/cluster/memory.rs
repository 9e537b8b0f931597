//! [`ClusterStore`] in one process (standalone: one node, but the same
//! code path as a cluster, and a restart inside one process keeps sessions).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{ClusterStore, Member};
use crate::error::Result;

#[derive(Debug, Default)]
pub struct MemoryCluster {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// node id → (lease, expires at ms).
    leases: BTreeMap<u8, (Member, i64)>,
    /// node id → (blobs, expires at ms).
    parked: BTreeMap<u8, (Vec<Vec<u8>>, i64)>,
    /// node id → session key → reservation blob.
    reserved: BTreeMap<u8, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl State {
    /// Whether `holder` has the live lease of `node_id`.
    fn holds(&self, node_id: u8, holder: &str, now_ms: i64) -> bool {
        self.live(node_id, now_ms)
            .is_some_and(|m| m.holder == holder)
    }

    fn live(&self, node_id: u8, now_ms: i64) -> Option<&Member> {
        self.leases
            .get(&node_id)
            .filter(|(_, until)| *until > now_ms)
            .map(|(m, _)| m)
    }
}

impl MemoryCluster {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic while holding the lock cannot leave the maps half-written
        // (every change is one insert or remove), so a poisoned lock is safe.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }
}

#[async_trait]
impl ClusterStore for MemoryCluster {
    async fn claim(&self, member: &Member, ttl_ms: i64, now_ms: i64) -> Result<bool> {
        Ok(self.with(|s| {
            if let Some(held) = s.live(member.node_id, now_ms) {
                // The id's own node takes an adopted lease over.
                let preempts = held.adopted && !member.adopted;
                if held.holder != member.holder && !preempts {
                    return false;
                }
            }
            s.leases.insert(
                member.node_id,
                (member.clone(), now_ms.saturating_add(ttl_ms)),
            );
            true
        }))
    }

    async fn claim_any(&self, member: &Member, ttl_ms: i64, now_ms: i64) -> Result<Option<u8>> {
        Ok(self.with(|s| {
            let free = (0..=u8::MAX)
                .find(|id| s.live(*id, now_ms).is_none())
                .or_else(|| {
                    // An own claim pre-empts an adoption (as `claim` does).
                    (0..=u8::MAX)
                        .filter(|_| !member.adopted)
                        .find(|id| s.live(*id, now_ms).is_some_and(|m| m.adopted))
                })?;
            let mut mine = member.clone();
            mine.node_id = free;
            s.leases.insert(free, (mine, now_ms.saturating_add(ttl_ms)));
            Some(free)
        }))
    }

    async fn renew(&self, node_id: u8, holder: &str, ttl_ms: i64, now_ms: i64) -> Result<bool> {
        Ok(self.with(|s| match s.leases.get_mut(&node_id) {
            Some((m, until)) if m.holder == holder && *until > now_ms => {
                *until = now_ms.saturating_add(ttl_ms);
                true
            }
            _ => false,
        }))
    }

    async fn release(&self, node_id: u8, holder: &str) -> Result<()> {
        self.with(|s| {
            if s.leases
                .get(&node_id)
                .is_some_and(|(m, _)| m.holder == holder)
            {
                s.leases.remove(&node_id);
            }
        });
        Ok(())
    }

    async fn members(&self, now_ms: i64) -> Result<Vec<Member>> {
        Ok(self.with(|s| {
            s.leases
                .values()
                .filter(|(_, until)| *until > now_ms)
                .map(|(m, _)| m.clone())
                .collect()
        }))
    }

    async fn park_dtls_sessions(
        &self,
        node_id: u8,
        holder: &str,
        blobs: Vec<Vec<u8>>,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        Ok(self.with(|s| {
            if !s.holds(node_id, holder, now_ms) {
                return false;
            }
            s.parked
                .insert(node_id, (blobs, now_ms.saturating_add(ttl_ms)));
            true
        }))
    }

    async fn take_dtls_sessions(&self, node_id: u8, now_ms: i64) -> Result<Vec<Vec<u8>>> {
        Ok(self.with(|s| match s.parked.remove(&node_id) {
            Some((blobs, until)) if until > now_ms => blobs,
            _ => Vec::new(),
        }))
    }

    async fn store_dtls_reservation(
        &self,
        node_id: u8,
        holder: &str,
        key: &[u8],
        blob: Vec<u8>,
        now_ms: i64,
    ) -> Result<bool> {
        Ok(self.with(|s| {
            if !s.holds(node_id, holder, now_ms) {
                return false;
            }
            s.reserved
                .entry(node_id)
                .or_default()
                .insert(key.to_vec(), blob);
            true
        }))
    }

    async fn drop_dtls_reservation(
        &self,
        node_id: u8,
        holder: &str,
        key: &[u8],
        now_ms: i64,
    ) -> Result<()> {
        self.with(|s| {
            if !s.holds(node_id, holder, now_ms) {
                return;
            }
            if let Some(sessions) = s.reserved.get_mut(&node_id) {
                sessions.remove(key);
            }
        });
        Ok(())
    }

    async fn has_dtls_sessions(&self, node_id: u8, now_ms: i64) -> Result<bool> {
        Ok(self.with(|s| {
            let parked = s
                .parked
                .get(&node_id)
                .is_some_and(|(blobs, until)| *until > now_ms && !blobs.is_empty());
            parked || s.reserved.get(&node_id).is_some_and(|r| !r.is_empty())
        }))
    }

    async fn take_dtls_reservations(&self, node_id: u8) -> Result<Vec<Vec<u8>>> {
        Ok(self.with(|s| {
            s.reserved
                .remove(&node_id)
                .map(|sessions| sessions.into_values().collect())
                .unwrap_or_default()
        }))
    }
}
