//! Durable operations: the [`OperationStore`] contract and its one SQL
//! implementation for PostgreSQL (cluster) and SQLite (standalone), proven
//! equal by one conformance suite (`conformance`, feature `testing`).
//!
//! Every state change is a compare-and-set on the state it leaves (and, for
//! an operation in flight, on the replica that owns it): two dispatch
//! replicas racing for a device's queue cannot both send an operation.

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod sql;

use async_trait::async_trait;

pub use sql::SqlOperationStore;

use crate::error::Result;
use crate::lifecycle::{State, Transition};
use crate::render::Outcome;

/// A device: (tenant, endpoint); tenant is empty in single-tenant setups.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    pub tenant: String,
    pub endpoint: String,
}

impl DeviceKey {
    pub fn new(tenant: impl Into<String>, endpoint: impl Into<String>) -> Self {
        DeviceKey {
            tenant: tenant.into(),
            endpoint: endpoint.into(),
        }
    }
}

impl std::fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.tenant, self.endpoint)
    }
}

/// An operation to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOperation {
    pub id: String,
    pub device: DeviceKey,
    pub method: String,
    pub params_json: String,
    pub action_json: String,
    pub timeout_ms: u32,
    pub post_registration: bool,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// A stored operation.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationRecord {
    /// Creation order, across all devices.
    pub seq: i64,
    pub id: String,
    pub device: DeviceKey,
    pub method: String,
    pub params_json: String,
    pub action_json: String,
    pub state: State,
    /// The replica that claimed it last.
    pub owner: Option<String>,
    pub attempts: u32,
    pub timeout_ms: u32,
    pub post_registration: bool,
    pub outcome: Option<Outcome>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub expires_at_ms: i64,
}

/// What `create` did.
#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    New(OperationRecord),
    /// An operation with this id existed already (idempotent retries,
    /// post-registration actions of one registration seen twice).
    Existing(OperationRecord),
}

/// Which operations to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub tenant: String,
    /// All devices of the tenant when `None`.
    pub endpoint: Option<String>,
    /// All states when empty.
    pub states: Vec<State>,
    pub page_size: usize,
    /// From the previous page's `next`.
    pub page_token: Option<String>,
}

/// One page, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub operations: Vec<OperationRecord>,
    pub next: Option<String>,
}

/// One post-registration command: method and params JSON.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredAction {
    pub method: String,
    pub params_json: String,
}

#[async_trait]
pub trait OperationStore: Send + Sync {
    /// Stores a PENDING operation unless the device already has `cap`
    /// PENDING or EXECUTING ones (`Error::TooManyPending`). An existing id
    /// is not stored again.
    async fn create(&self, op: NewOperation, cap: usize) -> Result<Created>;

    async fn get(&self, id: &str) -> Result<Option<OperationRecord>>;

    async fn list(&self, filter: &ListFilter) -> Result<Page>;

    /// The device's oldest PENDING operation, without claiming it.
    async fn next_pending(&self, device: &DeviceKey) -> Result<Option<OperationRecord>>;

    /// Claims the device's oldest PENDING operation for `owner`, unless one
    /// of its operations is EXECUTING already (one in flight per device, so
    /// a device sees its operations in creation order). `None`: nothing to do.
    async fn claim_next(
        &self,
        device: &DeviceKey,
        owner: &str,
        now_ms: i64,
    ) -> Result<Option<OperationRecord>>;

    /// Ends `owner`'s EXECUTING operation with `Succeed`, `Fail` or
    /// `Requeue`. `None` when it is no longer `owner`'s to end (the sweeper
    /// failed it meanwhile).
    async fn finish(
        &self,
        id: &str,
        owner: &str,
        transition: Transition,
        outcome: Option<&Outcome>,
        now_ms: i64,
    ) -> Result<Option<OperationRecord>>;

    /// PENDING → CANCELLED; `None` if it is not PENDING (or unknown).
    async fn cancel(&self, id: &str, now_ms: i64) -> Result<Option<OperationRecord>>;

    /// Fails up to `limit` PENDING operations whose expiry passed.
    async fn expire(&self, now_ms: i64, limit: usize) -> Result<Vec<OperationRecord>>;

    /// Fails up to `limit` operations EXECUTING for longer than their
    /// timeout plus `grace_ms` (their replica died or hung).
    async fn unstick(
        &self,
        now_ms: i64,
        grace_ms: i64,
        limit: usize,
    ) -> Result<Vec<OperationRecord>>;

    /// Devices that have PENDING operations (the periodic re-check).
    async fn devices_with_pending(&self, limit: usize) -> Result<Vec<DeviceKey>>;

    /// Replaces the tenant's post-registration actions.
    async fn set_actions(&self, tenant: &str, actions: &[StoredAction], now_ms: i64) -> Result<()>;

    async fn actions(&self, tenant: &str) -> Result<Vec<StoredAction>>;

    async fn close(&self);
}
