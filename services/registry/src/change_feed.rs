//! Registry change events, so caches elsewhere (the transport's credential
//! and profile caches) can drop what changed.
//!
//! The registry publishes a [`RegistryChange`] after each write has
//! committed. [`ChangeFeed`] is the seam: [`BroadcastFeed`] delivers in
//! process (standalone), a Kafka implementation carries the same messages
//! between processes in a cluster. Delivery is best effort — a change
//! published while the feed is down is logged and lost — so caches should
//! also expire entries on their own.

use std::pin::Pin;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use lwm2m_proto::registry::v1::registry_change::Change;
use lwm2m_proto::registry::v1::{
    DeviceChanged, DeviceDeleted, ModelsChanged, ModelsDeleted, ObjectRef, ProfileChanged,
    ProfileDeleted, TenantChanged, TenantDeleted,
};
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

pub use lwm2m_proto::registry::v1::RegistryChange;

use crate::clock::now_ms;
use crate::device::Device;
use crate::ids::{Scope, TenantId};
use crate::models::ModelKey;
use crate::profile::DeviceProfile;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The subscriber fell behind and `missed` changes are gone: drop every
    /// cached entry.
    #[error("subscriber fell behind; {missed} changes were lost")]
    Lagged { missed: u64 },
    #[error("cannot publish: {0}")]
    Publish(String),
    /// The feed itself failed (a remote registry's stream broke): drop
    /// every cached entry and subscribe again.
    #[error("change feed interrupted: {0}")]
    Interrupted(String),
}

/// Changes as a subscriber receives them.
pub type ChangeStream = Pin<Box<dyn Stream<Item = Result<RegistryChange, FeedError>> + Send>>;

#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Publishes a committed change.
    async fn publish(&self, change: RegistryChange) -> Result<(), FeedError>;
    /// Changes published from now on, in publication order.
    fn subscribe(&self) -> ChangeStream;
}

/// In-process feed over a `tokio::sync::broadcast` channel.
#[derive(Debug)]
pub struct BroadcastFeed {
    sender: broadcast::Sender<RegistryChange>,
}

impl BroadcastFeed {
    /// `capacity`: changes a slow subscriber may lag behind before it gets
    /// [`FeedError::Lagged`].
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        BroadcastFeed { sender }
    }
}

impl Default for BroadcastFeed {
    fn default() -> Self {
        BroadcastFeed::new(4096)
    }
}

#[async_trait]
impl ChangeFeed for BroadcastFeed {
    async fn publish(&self, change: RegistryChange) -> Result<(), FeedError> {
        // No subscriber is not an error: nobody caches anything yet.
        let _ = self.sender.send(change);
        Ok(())
    }

    fn subscribe(&self) -> ChangeStream {
        let stream = BroadcastStream::new(self.sender.subscribe()).map(|item| {
            item.map_err(|BroadcastStreamRecvError::Lagged(missed)| FeedError::Lagged { missed })
        });
        Box::pin(stream)
    }
}

fn envelope(tenant: &str, change: Change) -> RegistryChange {
    RegistryChange {
        change_id: uuid::Uuid::new_v4().to_string(),
        at_ms: now_ms(),
        tenant_id: tenant.to_owned(),
        change: Some(change),
    }
}

fn refs(keys: &[ModelKey]) -> Vec<ObjectRef> {
    keys.iter()
        .map(|k| ObjectRef {
            object_id: u32::from(k.object_id),
            version: k.version.to_string(),
        })
        .collect()
}

/// The event builders the service layer uses.
pub mod event {
    use super::*;

    pub fn device_changed(device: &Device, previous: Option<&Device>) -> RegistryChange {
        let owned = |s: Option<&str>| s.unwrap_or_default().to_owned();
        envelope(
            device.tenant_id.as_str(),
            Change::DeviceChanged(DeviceChanged {
                device_id: device.id.to_string(),
                endpoint: device.endpoint.clone(),
                psk_identity: owned(device.credentials.psk_identity()),
                bootstrap_psk_identity: owned(device.bootstrap_psk_identity()),
                profile_id: device
                    .profile_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                revision: device.revision,
                previous_endpoint: previous.map(|p| p.endpoint.clone()).unwrap_or_default(),
                previous_psk_identity: owned(previous.and_then(|p| p.credentials.psk_identity())),
                previous_bootstrap_psk_identity: owned(
                    previous.and_then(Device::bootstrap_psk_identity),
                ),
            }),
        )
    }

    pub fn device_deleted(device: &Device) -> RegistryChange {
        envelope(
            device.tenant_id.as_str(),
            Change::DeviceDeleted(DeviceDeleted {
                device_id: device.id.to_string(),
                endpoint: device.endpoint.clone(),
                psk_identity: device
                    .credentials
                    .psk_identity()
                    .unwrap_or_default()
                    .to_owned(),
                bootstrap_psk_identity: device
                    .bootstrap_psk_identity()
                    .unwrap_or_default()
                    .to_owned(),
            }),
        )
    }

    pub fn profile_changed(profile: &DeviceProfile) -> RegistryChange {
        envelope(
            profile.tenant_id.as_str(),
            Change::ProfileChanged(ProfileChanged {
                profile_id: profile.id.to_string(),
                revision: profile.revision,
            }),
        )
    }

    pub fn profile_deleted(profile: &DeviceProfile) -> RegistryChange {
        envelope(
            profile.tenant_id.as_str(),
            Change::ProfileDeleted(ProfileDeleted {
                profile_id: profile.id.to_string(),
            }),
        )
    }

    pub fn models_changed(scope: &Scope, keys: &[ModelKey]) -> RegistryChange {
        envelope(
            scope.db_key(),
            Change::ModelsChanged(ModelsChanged { models: refs(keys) }),
        )
    }

    pub fn models_deleted(scope: &Scope, keys: &[ModelKey]) -> RegistryChange {
        envelope(
            scope.db_key(),
            Change::ModelsDeleted(ModelsDeleted { models: refs(keys) }),
        )
    }

    pub fn tenant_changed(tenant: &TenantId) -> RegistryChange {
        envelope(tenant.as_str(), Change::TenantChanged(TenantChanged {}))
    }

    pub fn tenant_deleted(tenant: &TenantId) -> RegistryChange {
        envelope(tenant.as_str(), Change::TenantDeleted(TenantDeleted {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_changes_in_order() {
        let feed = BroadcastFeed::new(8);
        let mut sub = feed.subscribe();
        let acme = TenantId::parse("acme", "t").unwrap();
        feed.publish(event::tenant_changed(&acme)).await.unwrap();
        feed.publish(event::tenant_deleted(&acme)).await.unwrap();
        let first = sub.next().await.unwrap().unwrap();
        let second = sub.next().await.unwrap().unwrap();
        assert!(matches!(first.change, Some(Change::TenantChanged(_))));
        assert!(matches!(second.change, Some(Change::TenantDeleted(_))));
        assert_eq!(second.tenant_id, "acme");
        assert_ne!(first.change_id, second.change_id);
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lost_changes() {
        let feed = BroadcastFeed::new(2);
        let mut sub = feed.subscribe();
        let acme = TenantId::parse("acme", "t").unwrap();
        for _ in 0..5 {
            feed.publish(event::tenant_changed(&acme)).await.unwrap();
        }
        assert_eq!(
            sub.next().await.unwrap().unwrap_err(),
            FeedError::Lagged { missed: 3 }
        );
        assert!(sub.next().await.unwrap().is_ok());
    }
}
