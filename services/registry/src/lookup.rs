//! What the transport (and later the bootstrap server) asks the registry
//! while devices connect: the hot path.
//!
//! [`RegistryLookup`] is implemented by [`Registry`] itself (standalone: in
//! process, no network hop) and by `GrpcLookup` (in `client`) (cluster:
//! the `RegistryLookupService` of a registry replica). Each call is one
//! indexed query. Callers are expected to cache answers and drop them on
//! [`RegistryLookup::changes`] events; the registry does not cache, so
//! every answer is current.

use std::sync::Arc;

use async_trait::async_trait;
use lwm2m_core::ModelRegistry;

use crate::change_feed::ChangeStream;
use crate::device::{Credentials, Device, DeviceSettings, SecretKey};
use crate::error::Error;
use crate::ids::{DeviceId, ProfileId, TenantId};
use crate::models::ModelKey;
use crate::profile::DeviceProfile;
use crate::service::{NewDevice, Registry};
use crate::tenant::Tenant;

/// A registered device found by its endpoint name, with its tenant (for
/// auto-provisioning and Kafka keys). `device.profile_id` names the profile;
/// `device.credentials` says which security mode it must connect with.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointRecord {
    pub device: Device,
    pub tenant: Tenant,
}

/// The key of a PSK identity, and whose it is.
#[derive(Clone, Debug, PartialEq)]
pub struct PskRecord {
    pub device_id: DeviceId,
    pub tenant_id: TenantId,
    pub endpoint: String,
    pub key: SecretKey,
}

#[async_trait]
pub trait RegistryLookup: Send + Sync + 'static {
    /// The device registered under `endpoint`, `None` if unknown.
    async fn lookup_endpoint(&self, endpoint: &str) -> Result<Option<EndpointRecord>, Error>;
    /// The key for a DTLS PSK handshake with the LwM2M server.
    async fn lookup_psk(&self, identity: &str) -> Result<Option<PskRecord>, Error>;
    /// The key for a DTLS PSK handshake with the bootstrap server.
    async fn lookup_bootstrap_psk(&self, identity: &str) -> Result<Option<PskRecord>, Error>;
    /// A profile, shared so caches hand out one copy.
    async fn profile(&self, id: &ProfileId) -> Result<Option<Arc<DeviceProfile>>, Error>;
    /// Every object model `tenant` sees, for decoding its devices' payloads.
    async fn models(&self, tenant: &TenantId) -> Result<ModelRegistry, Error>;
    /// Reports the objects a device announced; returns those with no
    /// model visible to its tenant (and records them for operators).
    async fn record_announced_objects(
        &self,
        tenant: &TenantId,
        endpoint: &str,
        announced: &[ModelKey],
    ) -> Result<Vec<ModelKey>, Error>;
    /// An endpoint the registry does not know registers with `tenant`:
    /// if the tenant enables auto-provisioning, the device is created
    /// (NoSec, with the tenant's auto-provisioning profile) and returned;
    /// `None` if the tenant does not exist or does not allow it. A device
    /// created meanwhile (a concurrent registration) is returned as is.
    async fn auto_provision(
        &self,
        tenant: &TenantId,
        endpoint: &str,
    ) -> Result<Option<EndpointRecord>, Error>;
    /// Committed registry changes from now on, for cache invalidation.
    fn changes(&self) -> ChangeStream;
}

fn psk_record(device: Device, bootstrap: bool) -> Option<PskRecord> {
    let credentials = if bootstrap {
        device.bootstrap_credentials?
    } else {
        device.credentials
    };
    match credentials {
        Credentials::Psk { key, .. } => Some(PskRecord {
            device_id: device.id,
            tenant_id: device.tenant_id,
            endpoint: device.endpoint,
            key,
        }),
        _ => None,
    }
}

#[async_trait]
impl RegistryLookup for Registry {
    async fn lookup_endpoint(&self, endpoint: &str) -> Result<Option<EndpointRecord>, Error> {
        Ok(self
            .store()
            .lookup_endpoint(endpoint)
            .await?
            .map(|(device, tenant)| EndpointRecord { device, tenant }))
    }

    async fn lookup_psk(&self, identity: &str) -> Result<Option<PskRecord>, Error> {
        let device = self.store().device_by_psk_identity(identity).await?;
        Ok(device.and_then(|d| psk_record(d, false)))
    }

    async fn lookup_bootstrap_psk(&self, identity: &str) -> Result<Option<PskRecord>, Error> {
        let device = self
            .store()
            .device_by_bootstrap_psk_identity(identity)
            .await?;
        Ok(device.and_then(|d| psk_record(d, true)))
    }

    async fn profile(&self, id: &ProfileId) -> Result<Option<Arc<DeviceProfile>>, Error> {
        Ok(self.store().get_profile(id).await?.map(Arc::new))
    }

    async fn models(&self, tenant: &TenantId) -> Result<ModelRegistry, Error> {
        self.model_registry(Some(tenant)).await
    }

    async fn record_announced_objects(
        &self,
        tenant: &TenantId,
        endpoint: &str,
        announced: &[ModelKey],
    ) -> Result<Vec<ModelKey>, Error> {
        Registry::record_announced_objects(self, tenant, endpoint, announced).await
    }

    async fn auto_provision(
        &self,
        tenant: &TenantId,
        endpoint: &str,
    ) -> Result<Option<EndpointRecord>, Error> {
        let Some(tenant) = self.store().get_tenant(tenant).await? else {
            return Ok(None);
        };
        if !tenant.auto_provision {
            return Ok(None);
        }
        let created = self
            .create_device(NewDevice {
                tenant_id: tenant.id.clone(),
                endpoint: endpoint.to_owned(),
                name: String::new(),
                profile_id: tenant.auto_provision_profile_id.clone(),
                credentials: Credentials::NoSec,
                bootstrap_credentials: None,
                settings: DeviceSettings::default(),
            })
            .await;
        match created {
            Ok(device) => Ok(Some(EndpointRecord { device, tenant })),
            // Another node provisioned it first: use theirs.
            Err(Error::AlreadyExists { .. }) => self.lookup_endpoint(endpoint).await,
            Err(e) => Err(e),
        }
    }

    fn changes(&self) -> ChangeStream {
        self.feed().subscribe()
    }
}
