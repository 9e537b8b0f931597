//! Storage: one repository trait per aggregate, and the SQL implementation
//! of all of them ([`sql::SqlStore`]) for PostgreSQL (cluster) and SQLite
//! (standalone).
//!
//! Repositories store and find; they do not validate requests or publish
//! change events — the service layer ([`crate::service::Registry`]) does.
//! What they do enforce is what only the database can: uniqueness (endpoint
//! and PSK identities across all tenants, profile names within a tenant),
//! references (a profile in use cannot go), revisions (no lost update) and
//! atomicity (a model upload is stored whole or not at all).
//!
//! `conformance` (feature `testing`) is the behaviour every implementation
//! must have, run against both databases.

pub mod sql;

use async_trait::async_trait;
use lwm2m_core::{ObjectModel, Version};

use crate::device::{Device, DeviceFilter};
use crate::error::Error;
use crate::ids::{DeviceId, ProfileId, Scope, TenantId};
use crate::models::{ModelFilter, ModelKey, ModelRecord, NewModel, PutOutcome, UnknownObject};
use crate::profile::DeviceProfile;
use crate::tenant::Tenant;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[async_trait]
pub trait TenantRepository: Send + Sync {
    /// [`Error::AlreadyExists`] when the id is taken.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()>;
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;
    /// By id, after `after`.
    async fn list_tenants(&self, after: Option<&TenantId>, limit: usize) -> Result<Vec<Tenant>>;
    /// Replaces name and auto-provisioning; [`Error::NotFound`] if absent.
    async fn update_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// Removes the tenant and its own models; [`Error::FailedPrecondition`]
    /// while profiles or devices belong to it.
    async fn delete_tenant(&self, id: &TenantId) -> Result<()>;
}

#[async_trait]
pub trait ObjectModelRepository: Send + Sync {
    /// Stores every model in `scope` in one transaction, replacing models of
    /// the same `(object id, version)` in that scope.
    async fn put_models(
        &self,
        scope: &Scope,
        models: &[NewModel],
        now_ms: i64,
    ) -> Result<Vec<PutOutcome>>;
    /// Stores the models that `scope` does not hold yet (seeding the
    /// built-in core objects); returns how many were added.
    async fn insert_missing_models(
        &self,
        scope: &Scope,
        models: &[NewModel],
        now_ms: i64,
    ) -> Result<usize>;
    /// The model stored in exactly `scope`, with its DDF XML.
    async fn get_model(&self, scope: &Scope, key: ModelKey) -> Result<Option<ModelRecord>>;
    /// The model `tenant` sees (its own override, else the system's; `None`:
    /// the system's), with its DDF XML; `version: None` is the newest.
    async fn visible_model(
        &self,
        tenant: Option<&TenantId>,
        object_id: u16,
        version: Option<Version>,
    ) -> Result<Option<ModelRecord>>;
    /// By `(object id, version)` after `after`; no DDF XML.
    async fn list_models(
        &self,
        filter: &ModelFilter,
        after: Option<ModelKey>,
        limit: usize,
    ) -> Result<Vec<ModelRecord>>;
    /// Every version `tenant` sees of each of `object_ids` (all objects when
    /// empty), for validating profiles and decoding payloads.
    async fn visible_models(
        &self,
        tenant: Option<&TenantId>,
        object_ids: &[u16],
    ) -> Result<Vec<ObjectModel>>;
    /// `false` when `scope` holds no such model.
    async fn delete_model(&self, scope: &Scope, key: ModelKey) -> Result<bool>;
    /// Records the announced objects that have no model visible to `tenant`
    /// and returns them.
    async fn record_unknown_objects(
        &self,
        tenant: &TenantId,
        endpoint: &str,
        announced: &[ModelKey],
        now_ms: i64,
    ) -> Result<Vec<ModelKey>>;
    /// Recorded unknown objects that still have no visible model.
    async fn list_unknown_objects(&self, tenant: &TenantId) -> Result<Vec<UnknownObject>>;
}

#[async_trait]
pub trait ProfileRepository: Send + Sync {
    /// [`Error::AlreadyExists`] when the tenant has a profile of that name.
    async fn create_profile(&self, profile: &DeviceProfile) -> Result<()>;
    async fn get_profile(&self, id: &ProfileId) -> Result<Option<DeviceProfile>>;
    /// By `(name, id)` after `after`; all tenants when `tenant` is `None`.
    async fn list_profiles(
        &self,
        tenant: Option<&TenantId>,
        after: Option<(String, ProfileId)>,
        limit: usize,
    ) -> Result<Vec<DeviceProfile>>;
    /// Stores `profile` if the stored revision is `profile.revision - 1`;
    /// otherwise [`Error::RevisionMismatch`] (or [`Error::NotFound`]).
    async fn update_profile(&self, profile: &DeviceProfile) -> Result<()>;
    /// [`Error::FailedPrecondition`] while devices use it.
    async fn delete_profile(&self, id: &ProfileId) -> Result<()>;
}

/// What a bulk import did with one device.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportOutcome {
    /// Stored as given.
    Created,
    /// The endpoint existed in the tenant with other data, and the import
    /// was asked to update existing devices: stored with `previous`'s id,
    /// creation time and next revision.
    Updated { previous: Box<Device> },
    /// The endpoint existed in the tenant with the same data (a re-upload).
    Unchanged,
    /// Not stored; `already_exists` when a unique name was taken.
    Rejected {
        reason: String,
        already_exists: bool,
    },
}

#[async_trait]
pub trait DeviceRepository: Send + Sync {
    /// [`Error::AlreadyExists`] naming the endpoint or PSK identity taken.
    async fn create_device(&self, device: &Device) -> Result<()>;
    async fn get_device(&self, id: &DeviceId) -> Result<Option<Device>>;
    async fn device_by_endpoint(&self, endpoint: &str) -> Result<Option<Device>>;
    async fn device_by_psk_identity(&self, identity: &str) -> Result<Option<Device>>;
    async fn device_by_bootstrap_psk_identity(&self, identity: &str) -> Result<Option<Device>>;
    /// The device and its tenant in one query: the transport's hot path.
    async fn lookup_endpoint(&self, endpoint: &str) -> Result<Option<(Device, Tenant)>>;
    /// By endpoint after `after`.
    async fn list_devices(
        &self,
        filter: &DeviceFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Device>>;
    /// Stores `device` if the stored revision is `device.revision - 1`.
    async fn update_device(&self, device: &Device) -> Result<()>;
    /// The removed device, `None` if there was none.
    async fn delete_device(&self, id: &DeviceId) -> Result<Option<Device>>;
    /// Creates each device, or reports it unchanged/updated/rejected; one
    /// outcome per input, in order. Idempotent: importing the same devices
    /// again changes nothing.
    async fn import_devices(
        &self,
        devices: &[Device],
        update_existing: bool,
    ) -> Result<Vec<ImportOutcome>>;
}

/// Every repository; what the service layer needs.
#[async_trait]
pub trait Store:
    TenantRepository + ObjectModelRepository + ProfileRepository + DeviceRepository
{
    /// Releases the connections (waits for those in use).
    async fn close(&self);
}
