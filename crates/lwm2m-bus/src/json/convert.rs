//! Proto messages ↔ JSON mirror. Proto → JSON cannot fail; JSON → proto fails
//! (with a message naming the field) on unknown enum names or two payloads.

use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::value::Kind;
use lwm2m_proto::events::v1::{
    Direction, MissingModel, ObjLnk, ObjectInfo, RegistrationEvent, RegistrationKind,
    ResourceValue, ResourceValues, TransportLog, UntypedValue, UplinkEvent, Value, ValueSource,
};

use super::types::*;

fn enum_to_json(number: i32, name: Option<&str>) -> JsonEnum {
    name.map_or(JsonEnum::Number(number), |n| JsonEnum::Name(n.to_string()))
}

fn enum_from_json(
    field: &str,
    value: JsonEnum,
    parse: impl Fn(&str) -> Option<i32>,
) -> Result<i32, String> {
    match value {
        JsonEnum::Number(n) => Ok(n),
        JsonEnum::Name(name) => {
            parse(&name).ok_or_else(|| format!("{field}: unknown value {name:?}"))
        }
    }
}

impl From<&UplinkEvent> for JsonEvent {
    fn from(e: &UplinkEvent) -> Self {
        let mut json = JsonEvent {
            tenant: e.tenant.clone(),
            endpoint: e.endpoint.clone(),
            registration_id: e.registration_id.clone(),
            node_id: e.node_id.clone(),
            event_id: e.event_id.clone(),
            timestamp_ms: e.timestamp_ms,
            ..Default::default()
        };
        match &e.payload {
            Some(Payload::Registration(r)) => json.registration = Some(r.into()),
            Some(Payload::Values(v)) => json.values = Some(v.into()),
            Some(Payload::TransportLog(l)) => json.transport_log = Some(l.into()),
            None => {}
        }
        json
    }
}

impl TryFrom<JsonEvent> for UplinkEvent {
    type Error = String;

    fn try_from(j: JsonEvent) -> Result<Self, String> {
        let payload = match (j.registration, j.values, j.transport_log) {
            (None, None, None) => None,
            (Some(r), None, None) => Some(Payload::Registration(r.try_into()?)),
            (None, Some(v), None) => Some(Payload::Values(v.try_into()?)),
            (None, None, Some(l)) => Some(Payload::TransportLog(l.try_into()?)),
            _ => return Err("more than one of registration, values, transportLog is set".into()),
        };
        Ok(UplinkEvent {
            tenant: j.tenant,
            endpoint: j.endpoint,
            registration_id: j.registration_id,
            node_id: j.node_id,
            event_id: j.event_id,
            timestamp_ms: j.timestamp_ms,
            payload,
        })
    }
}

impl From<&RegistrationEvent> for JsonRegistration {
    fn from(r: &RegistrationEvent) -> Self {
        let kind_name = RegistrationKind::try_from(r.kind)
            .ok()
            .map(|k| k.as_str_name());
        JsonRegistration {
            kind: enum_to_json(r.kind, kind_name),
            lwm2m_version: r.lwm2m_version.clone(),
            lifetime_s: r.lifetime_s,
            binding: r.binding.clone(),
            queue_mode: r.queue_mode,
            address: r.address.clone(),
            sms: r.sms.clone(),
            root_path: r.root_path.clone(),
            supported_formats: r.supported_formats.clone(),
            objects: r.objects.iter().map(JsonObjectInfo::from).collect(),
            objects_changed: r.objects_changed,
        }
    }
}

impl TryFrom<JsonRegistration> for RegistrationEvent {
    type Error = String;

    fn try_from(r: JsonRegistration) -> Result<Self, String> {
        Ok(RegistrationEvent {
            kind: enum_from_json("registration.kind", r.kind, |n| {
                RegistrationKind::from_str_name(n).map(|k| k as i32)
            })?,
            lwm2m_version: r.lwm2m_version,
            lifetime_s: r.lifetime_s,
            binding: r.binding,
            queue_mode: r.queue_mode,
            address: r.address,
            sms: r.sms,
            root_path: r.root_path,
            supported_formats: r.supported_formats,
            objects: r.objects.into_iter().map(ObjectInfo::from).collect(),
            objects_changed: r.objects_changed,
        })
    }
}

impl From<&ObjectInfo> for JsonObjectInfo {
    fn from(o: &ObjectInfo) -> Self {
        JsonObjectInfo {
            id: o.id,
            version: o.version.clone(),
            instances: o.instances.clone(),
        }
    }
}

impl From<JsonObjectInfo> for ObjectInfo {
    fn from(o: JsonObjectInfo) -> Self {
        ObjectInfo {
            id: o.id,
            version: o.version,
            instances: o.instances,
        }
    }
}

impl From<&ResourceValues> for JsonValues {
    fn from(v: &ResourceValues) -> Self {
        let source_name = ValueSource::try_from(v.source)
            .ok()
            .map(|s| s.as_str_name());
        JsonValues {
            source: enum_to_json(v.source, source_name),
            values: v.values.iter().map(JsonResourceValue::from).collect(),
            observation_token: v.observation_token.clone(),
        }
    }
}

impl TryFrom<JsonValues> for ResourceValues {
    type Error = String;

    fn try_from(v: JsonValues) -> Result<Self, String> {
        Ok(ResourceValues {
            source: enum_from_json("values.source", v.source, |n| {
                ValueSource::from_str_name(n).map(|s| s as i32)
            })?,
            values: v.values.into_iter().map(ResourceValue::from).collect(),
            observation_token: v.observation_token,
        })
    }
}

impl From<&ResourceValue> for JsonResourceValue {
    fn from(rv: &ResourceValue) -> Self {
        JsonResourceValue {
            path: rv.path.clone(),
            value: rv
                .value
                .as_ref()
                .and_then(|v| v.kind.as_ref())
                .map(JsonValue::from),
            timestamp_ms: rv.timestamp_ms,
            key: rv.key.clone(),
        }
    }
}

impl From<JsonResourceValue> for ResourceValue {
    fn from(rv: JsonResourceValue) -> Self {
        ResourceValue {
            path: rv.path,
            value: rv.value.map(|v| Value {
                kind: Some(v.into()),
            }),
            timestamp_ms: rv.timestamp_ms,
            key: rv.key,
        }
    }
}

impl From<&Kind> for JsonValue {
    fn from(kind: &Kind) -> Self {
        match kind {
            Kind::StringValue(s) => JsonValue::StringValue(s.clone()),
            Kind::Integer(i) => JsonValue::Integer(*i),
            Kind::UnsignedInteger(u) => JsonValue::UnsignedInteger(*u),
            Kind::Float(f) => JsonValue::Float(*f),
            Kind::Boolean(b) => JsonValue::Boolean(*b),
            Kind::Opaque(b) => JsonValue::Opaque(b.clone()),
            Kind::Time(t) => JsonValue::Time(*t),
            Kind::Objlnk(l) => JsonValue::Objlnk(JsonObjLnk {
                object: l.object,
                instance: l.instance,
            }),
            Kind::Corelnk(s) => JsonValue::Corelnk(s.clone()),
            Kind::Untyped(u) => JsonValue::Untyped(JsonUntyped {
                raw: u.raw.clone(),
                content_format: u.content_format,
                guesses: u
                    .guesses
                    .iter()
                    .filter_map(|g| g.kind.as_ref().map(JsonValue::from))
                    .collect(),
                rendering: u.rendering.clone(),
                missing_model: u.missing_model.as_ref().map(|m| JsonMissingModel {
                    object_id: m.object_id,
                    version: m.version.clone(),
                    resource_id: m.resource_id,
                }),
            }),
        }
    }
}

impl From<JsonValue> for Kind {
    fn from(value: JsonValue) -> Self {
        match value {
            JsonValue::StringValue(s) => Kind::StringValue(s),
            JsonValue::Integer(i) => Kind::Integer(i),
            JsonValue::UnsignedInteger(u) => Kind::UnsignedInteger(u),
            JsonValue::Float(f) => Kind::Float(f),
            JsonValue::Boolean(b) => Kind::Boolean(b),
            JsonValue::Opaque(b) => Kind::Opaque(b),
            JsonValue::Time(t) => Kind::Time(t),
            JsonValue::Objlnk(l) => Kind::Objlnk(ObjLnk {
                object: l.object,
                instance: l.instance,
            }),
            JsonValue::Corelnk(s) => Kind::Corelnk(s),
            JsonValue::Untyped(u) => Kind::Untyped(UntypedValue {
                raw: u.raw,
                content_format: u.content_format,
                guesses: u
                    .guesses
                    .into_iter()
                    .map(|g| Value {
                        kind: Some(g.into()),
                    })
                    .collect(),
                rendering: u.rendering,
                missing_model: u.missing_model.map(|m| MissingModel {
                    object_id: m.object_id,
                    version: m.version,
                    resource_id: m.resource_id,
                }),
            }),
        }
    }
}

impl From<&TransportLog> for JsonTransportLog {
    fn from(l: &TransportLog) -> Self {
        let direction_name = Direction::try_from(l.direction)
            .ok()
            .map(|d| d.as_str_name());
        JsonTransportLog {
            direction: enum_to_json(l.direction, direction_name),
            message: l.message.clone(),
            coap_code: l.coap_code.clone(),
            payload_size: l.payload_size,
            error: l.error.clone(),
        }
    }
}

impl TryFrom<JsonTransportLog> for TransportLog {
    type Error = String;

    fn try_from(l: JsonTransportLog) -> Result<Self, String> {
        Ok(TransportLog {
            direction: enum_from_json("transportLog.direction", l.direction, |n| {
                Direction::from_str_name(n).map(|d| d as i32)
            })?,
            message: l.message,
            coap_code: l.coap_code,
            payload_size: l.payload_size,
            error: l.error,
        })
    }
}
