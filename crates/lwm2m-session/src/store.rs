//! The contract between the transport and session state.
//!
//! Transport nodes are stateless: every operation they need on device state
//! goes through [`SessionStore`], so a node can be killed and another started
//! without losing a registration. Time is always passed in (`now_ms`): the
//! store never reads a clock, which keeps both backends deterministic and
//! testable, and keeps all nodes agreeing on whose clock decided.

use async_trait::async_trait;

use crate::error::Result;
use crate::observation::{Freshness, Observation};
use crate::registration::{Registration, RegistrationUpdate};

/// Result of [`SessionStore::register`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// The endpoint's previous registration, if it was still registered.
    pub replaced: Option<Registration>,
    /// Observations of the endpoint that the new registration cancelled; the
    /// caller should forget their tokens (and may tell the application).
    pub cancelled_observations: Vec<Observation>,
}

/// A registration that left the store together with its observations.
pub type Removed = (Registration, Vec<Observation>);

/// One page of [`SessionStore::list`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Registration>,
    /// Pass it back to get the next page; `None` when the listing is done.
    /// Opaque, and only valid for the backend that produced it.
    pub next_cursor: Option<String>,
}

/// Largest page [`SessionStore::list`] returns, whatever `limit` says.
pub const MAX_PAGE: usize = 1000;

/// Shared session state of the LwM2M server: registrations and observations.
///
/// Implementations: [`crate::MemoryStore`] (one process) and
/// [`crate::RedisStore`] (a cluster of stateless nodes). Both pass the same
/// conformance suite (`crate::conformance`, feature `testing`).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new registration for `registration.endpoint`. A registration
    /// the endpoint already had is replaced: its id stops resolving and its
    /// observations are removed and returned to be cancelled. The stored
    /// revision is set by the store (previous revision + 1, or 1).
    async fn register(&self, registration: Registration) -> Result<RegisterOutcome>;

    /// Applies an Update to the registration with this id, atomically (no
    /// lost update when nodes race). Returns `(old, new)`, or `None` when the
    /// id is unknown (the caller answers 4.04).
    async fn update(
        &self,
        registration_id: &str,
        update: RegistrationUpdate,
    ) -> Result<Option<(Registration, Registration)>>;

    /// Records that the device was just heard from `address` via `node_id`
    /// (any uplink). Returns the new registration, `None` if not registered.
    async fn touch(
        &self,
        endpoint: &str,
        address: &str,
        node_id: &str,
        now_ms: i64,
    ) -> Result<Option<Registration>>;

    /// Removes the registration and its observations; `None` if unknown.
    async fn deregister(&self, registration_id: &str) -> Result<Option<Removed>>;

    async fn get_by_endpoint(&self, endpoint: &str) -> Result<Option<Registration>>;

    /// `None` also for ids that could never have been issued.
    async fn get_by_registration_id(&self, registration_id: &str) -> Result<Option<Registration>>;

    /// One page of all registrations; start with `cursor = None`. Every
    /// registration present for the whole listing is returned exactly once;
    /// ones added or removed meanwhile may or may not appear. `limit` is
    /// clamped to `1..=MAX_PAGE`.
    async fn list(&self, cursor: Option<String>, limit: usize) -> Result<Page>;

    /// Claims and removes up to `limit` registrations with
    /// `expires_at_ms <= now_ms`. When several nodes sweep at once, each
    /// expired registration is returned to exactly one of them; one that was
    /// renewed in time is not returned at all.
    async fn take_expired(&self, now_ms: i64, limit: usize) -> Result<Vec<Removed>>;

    /// Adds (or replaces, same token) an observation of the endpoint's
    /// current registration. Fails with `NotRegistered` if
    /// `observation.registration_id` is not that registration and with
    /// `TokenInUse` if another endpoint observes with the same token.
    async fn add_observation(&self, observation: Observation) -> Result<()>;

    /// One observation per device and path: adds `observation` like
    /// [`SessionStore::add_observation`] unless the endpoint's current
    /// registration already has an observation of the same paths (same
    /// `composite`, paths compared as given), in which case nothing is
    /// written and that observation is returned to be reused. Atomic: of
    /// several nodes observing the same path at once, one adds and the
    /// others get its observation.
    async fn add_observation_unless_observed(
        &self,
        observation: Observation,
    ) -> Result<Option<Observation>>;

    async fn remove_observation(&self, endpoint: &str, token: &[u8])
        -> Result<Option<Observation>>;

    /// All observations of the endpoint.
    async fn observations(&self, endpoint: &str) -> Result<Vec<Observation>>;

    /// The observation a notification with this token belongs to, whichever
    /// node created it.
    async fn observation_by_token(&self, token: &[u8]) -> Result<Option<Observation>>;

    /// Records notification `seq` if it is fresher than the last one
    /// (RFC 7641 §3.4). `None` if the observation is unknown (the caller
    /// should answer the notification with RST).
    async fn record_notification(
        &self,
        endpoint: &str,
        token: &[u8],
        seq: u32,
        now_ms: i64,
    ) -> Result<Option<Freshness>>;
}

/// `limit` as a page size both backends agree on.
pub(crate) fn page_size(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn trait_is_object_safe() {
        fn takes(_: Option<Arc<dyn SessionStore>>) {}
        takes(None);
    }

    #[test]
    fn page_size_is_clamped() {
        assert_eq!(page_size(0), 1);
        assert_eq!(page_size(10), 10);
        assert_eq!(page_size(usize::MAX), MAX_PAGE);
    }
}
