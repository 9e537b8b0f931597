//! What the cluster remembers about a registered device.
//!
//! A [`Registration`] is the whole state a transport node needs to serve a
//! device it has never seen before: the registration interface data (LwM2M
//! 1.1 §6.2), where the device was last heard from (`address`, `node_id`) and
//! when it expires. It is stored as one JSON document per endpoint so every
//! change is a single compare-and-set on [`Registration::revision`].

use std::collections::BTreeMap;

use lwm2m_core::Version;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::validate;

/// One object the device announced in its Register/Update payload
/// (`</3/0>,</19;ver=1.1>,...`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// Object version (`ver=`), 1.0 when the device did not say.
    pub version: Version,
    /// Instances the device listed; empty when it only announced the object.
    pub instances: Vec<u16>,
}

/// A registered device, as shared by every transport node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Endpoint client name (`ep=`), the key of everything else: 1..=255 bytes.
    pub endpoint: String,
    /// The id we issued (`Location-Path: rd/{id}`), see
    /// [`generate_registration_id`]. Changes on every Register.
    pub registration_id: String,
    /// Tenant the device belongs to, when the deployment is multi-tenant.
    pub tenant: Option<String>,
    /// LwM2M enabler version (`lwm2m=`).
    pub lwm2m_version: Version,
    /// Lifetime (`lt=`) in seconds.
    pub lifetime_s: u32,
    /// Binding mode (`b=`), e.g. `U`, `UQ`, `T`.
    pub binding: String,
    /// Queue mode (`Q` in 1.1, `UQ` binding in 1.0): downlinks must wait
    /// until the device is heard from.
    pub queue_mode: bool,
    /// MSISDN (`sms=`), if the device announced one.
    pub sms: Option<String>,
    /// How long a queue-mode device stays awake after an uplink, when known.
    pub awake_time_s: Option<u32>,
    /// Alternate path (`rt="oma.lwm2m"` link), `/` by default.
    pub root_path: String,
    /// Content formats from `ct=` on the root link.
    pub supported_formats: Vec<u16>,
    /// Announced objects by id.
    pub objects: BTreeMap<u16, ObjectEntry>,
    /// Source `ip:port` the device was last heard from (NAT rebinding moves
    /// it); with DTLS, the peer identity too.
    pub address: String,
    /// Transport node that last heard from the device: downlinks go out
    /// through it because that is where the NAT binding points.
    pub node_id: String,
    /// When the device registered (unix ms).
    pub registered_at_ms: i64,
    /// Last Register or Update (unix ms); only those renew the lifetime.
    pub last_update_ms: i64,
    /// Last uplink of any kind (unix ms): for queue mode, "is it awake now?".
    #[serde(default)]
    pub last_seen_ms: i64,
    /// `last_update_ms + lifetime + grace`; the expiry sweep removes the
    /// registration once this is in the past.
    pub expires_at_ms: i64,
    /// Incremented by the store on every write (compare-and-set token).
    /// Whatever the caller puts here on `register` is overwritten.
    pub revision: u64,
}

impl Registration {
    /// Version of an announced object, `None` if the device did not announce it.
    pub fn object_version(&self, object_id: u16) -> Option<Version> {
        self.objects.get(&object_id).map(|o| o.version)
    }

    /// Whether the registration is past its expiry at `now_ms`.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms <= now_ms
    }

    /// `now + lifetime + grace`, saturating instead of overflowing.
    pub fn expiry(now_ms: i64, lifetime_s: u32, grace_ms: i64) -> i64 {
        now_ms
            .saturating_add(i64::from(lifetime_s).saturating_mul(1000))
            .saturating_add(grace_ms)
    }

    /// Refuses what no backend may store (see [`crate::validate`]).
    pub fn validate(&self) -> Result<()> {
        validate::endpoint(&self.endpoint)?;
        validate::registration_id(&self.registration_id)
    }

    /// The registration after an Update: announced fields replaced, lifetime
    /// renewed from `update.now_ms`, address and node moved, revision bumped.
    pub fn updated(&self, update: &RegistrationUpdate) -> Registration {
        let mut next = self.clone();
        if let Some(lifetime_s) = update.lifetime_s {
            next.lifetime_s = lifetime_s;
        }
        if let Some(binding) = &update.binding {
            next.binding.clone_from(binding);
        }
        if let Some(sms) = &update.sms {
            next.sms = Some(sms.clone());
        }
        if let Some(queue_mode) = update.queue_mode {
            next.queue_mode = queue_mode;
        }
        if let Some(objects) = &update.objects {
            next.objects.clone_from(objects);
        }
        if let Some(formats) = &update.supported_formats {
            next.supported_formats.clone_from(formats);
        }
        if let Some(root_path) = &update.root_path {
            next.root_path.clone_from(root_path);
        }
        next.address.clone_from(&update.address);
        next.node_id.clone_from(&update.node_id);
        next.last_update_ms = update.now_ms;
        next.last_seen_ms = update.now_ms;
        next.expires_at_ms = Registration::expiry(update.now_ms, next.lifetime_s, update.grace_ms);
        next.revision = self.revision.saturating_add(1);
        next
    }

    /// The registration after any uplink: NAT rebinding follows the new
    /// address, downlinks follow the node. Does not renew the lifetime (only
    /// Register and Update do, LwM2M 1.1 §6.2.2).
    pub fn touched(&self, address: &str, node_id: &str, now_ms: i64) -> Registration {
        let mut next = self.clone();
        address.clone_into(&mut next.address);
        node_id.clone_into(&mut next.node_id);
        next.last_seen_ms = now_ms;
        next.revision = self.revision.saturating_add(1);
        next
    }
}

/// What an Update request changes. `None` fields keep their value.
///
/// Unlike a Register, the caller cannot compute the new expiry itself when
/// the Update does not carry `lt=` (it would need the stored lifetime), so it
/// passes the grace and the store computes
/// `expires_at_ms = now_ms + lifetime + grace_ms` from the effective lifetime.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationUpdate {
    pub lifetime_s: Option<u32>,
    pub binding: Option<String>,
    pub sms: Option<String>,
    pub queue_mode: Option<bool>,
    /// Replaces the whole object list when the Update carried a payload.
    pub objects: Option<BTreeMap<u16, ObjectEntry>>,
    pub supported_formats: Option<Vec<u16>>,
    pub root_path: Option<String>,
    /// Source address of the Update (always present: NAT rebinding).
    pub address: String,
    /// Node that received the Update.
    pub node_id: String,
    pub now_ms: i64,
    /// Added to the lifetime so a device that updates a little late is not
    /// dropped.
    pub grace_ms: i64,
}

/// A new registration id: 12 characters of `[A-Za-z0-9]` (~71 bits) from
/// the OS random generator, short enough for `Location-Path` and unique
/// enough that two nodes never issue the same one.
pub fn generate_registration_id() -> String {
    const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(12)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Registration {
        Registration {
            endpoint: "dev-1".into(),
            registration_id: "abc".into(),
            tenant: None,
            lwm2m_version: Version::V1_1,
            lifetime_s: 60,
            binding: "U".into(),
            queue_mode: false,
            sms: None,
            awake_time_s: None,
            root_path: "/".into(),
            supported_formats: vec![11543],
            objects: BTreeMap::from([(
                3,
                ObjectEntry {
                    version: Version::V1_1,
                    instances: vec![0],
                },
            )]),
            address: "10.0.0.1:5683".into(),
            node_id: "node-a".into(),
            registered_at_ms: 1_000,
            last_update_ms: 1_000,
            last_seen_ms: 1_000,
            expires_at_ms: 61_000,
            revision: 1,
        }
    }

    #[test]
    fn object_version_and_expiry() {
        let r = sample();
        assert_eq!(r.object_version(3), Some(Version::V1_1));
        assert_eq!(r.object_version(5), None);
        assert!(!r.is_expired(60_999));
        assert!(r.is_expired(61_000));
        assert_eq!(Registration::expiry(0, 60, 5), 60_005);
        assert_eq!(Registration::expiry(i64::MAX, 60, 5), i64::MAX);
    }

    #[test]
    fn update_keeps_absent_fields_and_renews_lifetime() {
        let r = sample();
        let u = RegistrationUpdate {
            binding: Some("UQ".into()),
            address: "10.0.0.2:1".into(),
            node_id: "node-b".into(),
            now_ms: 10_000,
            grace_ms: 500,
            ..Default::default()
        };
        let n = r.updated(&u);
        assert_eq!(n.binding, "UQ");
        assert_eq!(n.lifetime_s, 60);
        assert_eq!(n.objects, r.objects);
        assert_eq!(n.address, "10.0.0.2:1");
        assert_eq!(n.node_id, "node-b");
        assert_eq!(n.last_update_ms, 10_000);
        assert_eq!(n.expires_at_ms, 70_500);
        assert_eq!(n.revision, 2);
        assert_eq!(n.registered_at_ms, r.registered_at_ms);
    }

    #[test]
    fn touch_moves_address_but_not_expiry() {
        let r = sample();
        let n = r.touched("1.2.3.4:9", "node-c", 5_000);
        assert_eq!(n.address, "1.2.3.4:9");
        assert_eq!(n.node_id, "node-c");
        assert_eq!(n.last_seen_ms, 5_000);
        assert_eq!(n.expires_at_ms, r.expires_at_ms);
        assert_eq!(n.last_update_ms, r.last_update_ms);
        assert_eq!(n.revision, 2);
    }

    #[test]
    fn json_round_trip() {
        let r = sample();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Registration>(&json).unwrap(), r);
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = generate_registration_id();
        let b = generate_registration_id();
        assert_eq!(a.len(), 12);
        assert!(validate::registration_id(&a).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn validate_refuses_bad_endpoint() {
        let mut r = sample();
        r.endpoint.clear();
        assert!(r.validate().is_err());
    }
}
