//! Builders for the uplink events this node publishes. Every event carries
//! tenant/endpoint (the bus keys records by them, so one device's events stay
//! in order), the registration id, this node's id, a fresh UUID and the
//! receive time.

use lwm2m_proto::events::v1 as pb;
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_session::Registration;

use crate::clock::now_ms;

/// Who an event is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Device {
    pub tenant: String,
    pub endpoint: String,
    pub registration_id: String,
}

impl From<&Registration> for Device {
    fn from(reg: &Registration) -> Self {
        Device {
            tenant: reg.tenant.clone().unwrap_or_default(),
            endpoint: reg.endpoint.clone(),
            registration_id: reg.registration_id.clone(),
        }
    }
}

/// The envelope around `payload`.
pub(crate) fn envelope(node_id: &str, device: &Device, payload: Payload) -> pb::UplinkEvent {
    pb::UplinkEvent {
        tenant: device.tenant.clone(),
        endpoint: device.endpoint.clone(),
        registration_id: device.registration_id.clone(),
        node_id: node_id.to_owned(),
        event_id: uuid::Uuid::new_v4().to_string(),
        timestamp_ms: now_ms(),
        payload: Some(payload),
    }
}

/// The objects of a registration as announced.
pub(crate) fn object_infos(reg: &Registration) -> Vec<pb::ObjectInfo> {
    reg.objects
        .iter()
        .map(|(id, entry)| pb::ObjectInfo {
            id: u32::from(*id),
            version: Some(entry.version.to_string()),
            instances: entry.instances.iter().map(|i| u32::from(*i)).collect(),
        })
        .collect()
}

/// A registration event with the state after the change. `objects` says
/// whether the object list is included (REGISTERED, or UPDATED with a new list).
pub(crate) fn registration(
    kind: pb::RegistrationKind,
    reg: &Registration,
    objects: bool,
) -> Payload {
    Payload::Registration(pb::RegistrationEvent {
        kind: kind as i32,
        lwm2m_version: reg.lwm2m_version.to_string(),
        lifetime_s: i64::from(reg.lifetime_s),
        binding: reg.binding.clone(),
        queue_mode: reg.queue_mode,
        address: reg.address.clone(),
        sms: reg.sms.clone(),
        root_path: reg.root_path.clone(),
        supported_formats: reg
            .supported_formats
            .iter()
            .map(|f| u32::from(*f))
            .collect(),
        objects: if objects {
            object_infos(reg)
        } else {
            Vec::new()
        },
        objects_changed: objects,
    })
}

/// Resource values from a Read, Notify or Send.
pub(crate) fn values(
    source: pb::ValueSource,
    values: Vec<pb::ResourceValue>,
    observation_token: Option<String>,
) -> Payload {
    Payload::Values(pb::ResourceValues {
        source: source as i32,
        values,
        observation_token,
    })
}

/// One line of the device's traffic log.
pub(crate) fn transport_log(
    direction: pb::Direction,
    message: String,
    coap_code: String,
    payload_size: usize,
    error: Option<String>,
) -> Payload {
    Payload::TransportLog(pb::TransportLog {
        direction: direction as i32,
        message,
        coap_code,
        payload_size: u32::try_from(payload_size).unwrap_or(u32::MAX),
        error,
    })
}

/// `"2.05"` for a response code.
pub(crate) fn code_text(code: lwm2m_coap::ResponseCode) -> String {
    format!("{}.{:02}", code.class(), code.detail())
}

/// `"CONTENT"`, `"NOT_FOUND"`, ... for a response code.
pub(crate) fn code_name(code: lwm2m_coap::ResponseCode) -> String {
    code.name().to_uppercase().replace([' ', '-'], "_")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lwm2m_coap::ResponseCode;
    use lwm2m_core::Version;
    use lwm2m_session::ObjectEntry;

    use super::*;

    fn reg() -> Registration {
        Registration {
            endpoint: "dev".into(),
            registration_id: "r1".into(),
            tenant: Some("acme".into()),
            lwm2m_version: Version::V1_1,
            lifetime_s: 60,
            binding: "U".into(),
            queue_mode: false,
            sms: None,
            awake_time_s: None,
            root_path: "/".into(),
            supported_formats: vec![112],
            objects: BTreeMap::from([(
                3,
                ObjectEntry {
                    version: Version::V1_0,
                    instances: vec![0],
                },
            )]),
            address: "127.0.0.1:1".into(),
            node_id: "n".into(),
            registered_at_ms: 0,
            last_update_ms: 0,
            last_seen_ms: 0,
            expires_at_ms: 0,
            revision: 1,
        }
    }

    #[test]
    fn registration_event_carries_state_and_objects_when_asked() {
        let r = reg();
        let ev = envelope(
            "node-1",
            &Device::from(&r),
            registration(pb::RegistrationKind::Registered, &r, true),
        );
        assert_eq!(ev.device_key(), "acme/dev");
        assert_eq!(ev.node_id, "node-1");
        let Some(Payload::Registration(body)) = ev.payload else {
            panic!("registration payload")
        };
        assert_eq!(body.objects.len(), 1);
        assert!(body.objects_changed);
        assert_eq!(body.supported_formats, vec![112]);
        let Payload::Registration(body) = registration(pb::RegistrationKind::Updated, &r, false)
        else {
            panic!("registration payload")
        };
        assert!(body.objects.is_empty() && !body.objects_changed);
    }

    #[test]
    fn code_texts() {
        assert_eq!(code_text(ResponseCode::CONTENT), "2.05");
        assert_eq!(code_name(ResponseCode::NOT_FOUND), "NOT_FOUND");
        assert_eq!(
            code_name(ResponseCode::UNSUPPORTED_CONTENT_FORMAT),
            "UNSUPPORTED_CONTENT_FORMAT"
        );
    }
}
