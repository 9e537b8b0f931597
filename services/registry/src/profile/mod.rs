//! Device profiles: what the transport does with a device of this kind
//! when it registers (ThingsBoard's "LwM2M transport configuration").
//!
//! A profile names the objects (with the version its devices must use), and
//! per resource whether its value is read into an *attribute*, kept as
//! *telemetry* and/or *observed*, under which key name; plus notification
//! attributes, the observe strategy, bootstrap settings, OTA strategies and
//! the power mode. It is stored as one JSON document (`config_json`), so
//! adding a setting needs no migration.

pub mod key_name;
pub mod validate;

use lwm2m_core::Version;
use serde::{Deserialize, Serialize};

use crate::device::SecurityMode;
use crate::ids::{ProfileId, TenantId};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceProfile {
    pub id: ProfileId,
    pub tenant_id: TenantId,
    pub name: String,
    pub description: String,
    pub config: ProfileConfig,
    /// Starts at 1, +1 per update; caches compare it with change events.
    pub revision: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileConfig {
    pub objects: Vec<ProfileObject>,
    pub observe_strategy: ObserveStrategy,
    /// Initialise attributes and telemetry with the observe strategy
    /// (one Observe/Observe-Composite) instead of one Read per resource.
    pub init_using_observe_strategy: bool,
    /// The object version assumed when a device's registration does not
    /// give one for an object.
    pub default_object_version: Version,
    /// Content formats (IANA numbers) in order of preference for downlinks;
    /// empty: the transport's own policy.
    pub format_preference: Vec<u16>,
    pub bootstrap: BootstrapSettings,
    pub firmware_update: Option<FirmwareUpdateStrategy>,
    pub software_update: Option<SoftwareUpdateStrategy>,
    /// Write OTA file metadata (checksum, size, version, name) to /19/65534.
    pub use_object19_for_ota_metadata: bool,
    pub power: PowerSettings,
}

/// One object of the profile, at the version its devices must register.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileObject {
    pub object_id: u16,
    pub version: Version,
    #[serde(default)]
    pub resources: Vec<ResourceMapping>,
    #[serde(default)]
    pub attributes: Vec<NotificationAttributes>,
}

/// What to do with one resource of one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceMapping {
    #[serde(default)]
    pub instance_id: u16,
    pub resource_id: u16,
    /// Read at registration into an attribute.
    #[serde(default)]
    pub attribute: bool,
    /// Read at registration into telemetry.
    #[serde(default)]
    pub telemetry: bool,
    /// Keep the value current by observing it.
    #[serde(default)]
    pub observe: bool,
    /// Attribute/telemetry key; generated from the resource name (camelCase)
    /// when not given. Unique within the profile.
    #[serde(default)]
    pub key: String,
    /// Whether `key` was generated (and may be regenerated to stay unique).
    #[serde(default)]
    pub key_generated: bool,
}

/// LwM2M NOTIFICATION class attributes for the object (no instance), an
/// instance, or a resource of an instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationAttributes {
    pub instance_id: Option<u16>,
    pub resource_id: Option<u16>,
    pub pmin: Option<u32>,
    pub pmax: Option<u32>,
    pub gt: Option<f64>,
    pub lt: Option<f64>,
    pub st: Option<f64>,
    pub epmin: Option<u32>,
    pub epmax: Option<u32>,
}

impl NotificationAttributes {
    /// `/3/0/9`-style path of the target within `object_id`.
    pub fn target_path(&self, object_id: u16) -> String {
        match (self.instance_id, self.resource_id) {
            (Some(i), Some(r)) => format!("/{object_id}/{i}/{r}"),
            (Some(i), None) => format!("/{object_id}/{i}"),
            (None, Some(r)) => format!("/{object_id}/?/{r}"),
            (None, None) => format!("/{object_id}"),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObserveStrategy {
    /// One Observe per resource.
    #[default]
    Single,
    /// One Observe-Composite for every resource of the profile.
    CompositeAll,
    /// One Observe-Composite per object.
    CompositeByObject,
}

/// The server accounts the bootstrap server writes to a device.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BootstrapSettings {
    pub servers: Vec<BootstrapServer>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapServer {
    /// Security object "Bootstrap-Server" flag.
    #[serde(default)]
    pub bootstrap_server: bool,
    pub short_server_id: u16,
    /// `coap://host:port` (NoSec) or `coaps://host:port`.
    pub uri: String,
    pub security_mode: SecurityMode,
    pub lifetime_s: u32,
    #[serde(default)]
    pub default_pmin_s: u32,
    #[serde(default)]
    pub default_pmax_s: u32,
    /// Binding letters: U, T, S, N, Q.
    pub binding: String,
    #[serde(default)]
    pub notification_storing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FirmwareUpdateStrategy {
    /// Push the image block-wise to /5/0/0 (Package).
    PushObject5Package,
    /// Write a CoAP URL to /5/0/1 (Package URI); the device pulls.
    PullObject5Uri,
    /// Push the image to /19/0/0 (BinaryAppDataContainer Data).
    PushObject19Data,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SoftwareUpdateStrategy {
    /// Push the package to /9/0/2 (Package).
    PushObject9Package,
    /// Write a CoAP URL to /9/0/3 (Package URI); the device pulls.
    PullObject9Uri,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PowerMode {
    /// Power Saving Mode: reachable only for the activity timer after an uplink.
    Psm,
    /// Discontinuous reception.
    Drx,
    /// Extended DRX: reachable in paging windows every eDRX cycle.
    EDrx,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PowerSettings {
    pub mode: Option<PowerMode>,
    /// PSM: how long the device stays reachable after an uplink (T3324).
    pub psm_activity_timer_ms: Option<u64>,
    /// eDRX: the cycle length.
    pub edrx_cycle_ms: Option<u64>,
    /// eDRX: how long each paging window is.
    pub paging_transmission_window_ms: Option<u64>,
}
