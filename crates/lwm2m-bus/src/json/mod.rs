//! The JSON form of `UplinkEvent`, for the `encoding = "json"` option.
//!
//! A hand-written serde mirror of the proto messages rather than serde
//! derives on the prost types: prost's representation (enums as `i32`,
//! oneofs as nested Rust enums, bytes as number arrays) would leak into the
//! JSON, and a mirror keeps the JSON stable even if the generated code
//! changes. The shape follows the proto3 JSON mapping so a protobuf JSON
//! parser reads it too:
//!
//! - field names in lowerCamelCase (`registrationId`, `timestampMs`);
//! - enums as their proto names (`"REGISTRATION_KIND_REGISTERED"`), unknown
//!   numbers as numbers;
//! - the payload oneof as one of `registration` / `values` / `transportLog`,
//!   and `Value` as a one-key object (`{"integer": 42}`, `{"objlnk":
//!   {"object": 3, "instance": 0}}`), no key for "none";
//! - `bytes` as standard base64; non-finite floats as `"NaN"`,
//!   `"Infinity"`, `"-Infinity"`.
//!
//! One deliberate difference: 64-bit integers are JSON numbers, not strings,
//! because timestamps and most values fit in 2^53 and numbers are what
//! dashboards and `jq` expect. Readers must accept exact 64-bit integers.

mod convert;
mod serde_helpers;
mod types;

pub use types::{
    JsonEnum, JsonEvent, JsonObjLnk, JsonObjectInfo, JsonRegistration, JsonResourceValue,
    JsonTransportLog, JsonValue, JsonValues,
};

#[cfg(test)]
pub(crate) use tests::sample_events;

#[cfg(test)]
mod tests {
    use lwm2m_proto::events::v1::uplink_event::Payload;
    use lwm2m_proto::events::v1::value::Kind;
    use lwm2m_proto::events::v1::{
        Direction, ObjLnk, ObjectInfo, RegistrationEvent, RegistrationKind, ResourceValue,
        ResourceValues, TransportLog, UplinkEvent, Value, ValueSource,
    };

    use super::*;

    fn envelope(payload: Payload) -> UplinkEvent {
        UplinkEvent {
            tenant: "acme".into(),
            endpoint: "urn:imei:35".into(),
            registration_id: "r1".into(),
            node_id: "node-a".into(),
            event_id: "4f1c".into(),
            timestamp_ms: 1_700_000_000_123,
            payload: Some(payload),
        }
    }

    fn value(kind: Kind) -> Option<Value> {
        Some(Value { kind: Some(kind) })
    }

    /// One event per payload kind, with every value kind and optional field.
    pub(crate) fn sample_events() -> Vec<UplinkEvent> {
        let registration = RegistrationEvent {
            kind: RegistrationKind::Registered as i32,
            lwm2m_version: "1.1".into(),
            lifetime_s: 300,
            binding: "UQ".into(),
            queue_mode: true,
            address: "[2001:db8::1]:5683".into(),
            sms: Some("+123".into()),
            root_path: "/".into(),
            supported_formats: vec![11542, 11543],
            objects: vec![
                ObjectInfo {
                    id: 3,
                    version: Some("1.1".into()),
                    instances: vec![0],
                },
                ObjectInfo {
                    id: 5,
                    version: None,
                    instances: vec![],
                },
            ],
            objects_changed: true,
        };
        let kinds = [
            Kind::StringValue("x\"y".into()),
            Kind::Integer(i64::MIN),
            Kind::UnsignedInteger(u64::MAX),
            Kind::Float(0.1),
            Kind::Float(f64::INFINITY),
            Kind::Float(f64::NEG_INFINITY),
            Kind::Boolean(true),
            Kind::Opaque(vec![0, 0xff, 7]),
            Kind::Time(1_700_000_000),
            Kind::Objlnk(ObjLnk {
                object: 3,
                instance: 0,
            }),
            Kind::Corelnk("</3/0>".into()),
            Kind::Untyped(lwm2m_proto::events::v1::UntypedValue {
                raw: vec![0x41, 0xf4, 0, 0],
                content_format: 11542,
                guesses: vec![value(Kind::Float(30.5)).unwrap_or_default()],
                rendering: "30.5 (guess)".into(),
                missing_model: Some(lwm2m_proto::events::v1::MissingModel {
                    object_id: 33605,
                    version: "1.0".into(),
                    resource_id: Some(1),
                }),
            }),
        ];
        let mut values: Vec<ResourceValue> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| ResourceValue {
                path: format!("/3/0/{i}"),
                value: value(kind),
                timestamp_ms: (i % 2 == 0).then_some(1_700_000_000_000 + i as i64),
                key: (i == 1).then(|| "battery".into()),
            })
            .collect();
        values.push(ResourceValue {
            path: "/3/0/4".into(),
            ..Default::default()
        });
        let log = TransportLog {
            direction: Direction::Uplink as i32,
            message: "POST /rd?ep=x 2.01".into(),
            coap_code: "2.01".into(),
            payload_size: 42,
            error: Some("boom".into()),
        };
        vec![
            envelope(Payload::Registration(registration)),
            envelope(Payload::Values(ResourceValues {
                source: ValueSource::Notify as i32,
                values,
                observation_token: Some("0a1b".into()),
            })),
            envelope(Payload::TransportLog(log)),
            UplinkEvent::default(),
        ]
    }

    #[test]
    fn samples_round_trip_through_json_text() {
        for event in sample_events() {
            let text = serde_json::to_string(&JsonEvent::from(&event)).unwrap();
            let back: JsonEvent = serde_json::from_str(&text).unwrap();
            assert_eq!(UplinkEvent::try_from(back).unwrap(), event, "{text}");
        }
    }

    #[test]
    fn json_shape_follows_the_proto3_mapping() {
        let events = sample_events();
        let reg = serde_json::to_value(JsonEvent::from(&events[0])).unwrap();
        assert_eq!(reg["registrationId"], "r1");
        assert_eq!(reg["timestampMs"], 1_700_000_000_123_i64);
        assert_eq!(reg["registration"]["kind"], "REGISTRATION_KIND_REGISTERED");
        assert_eq!(reg["registration"]["objects"][0]["version"], "1.1");
        assert!(reg.get("values").is_none());

        let values = serde_json::to_value(JsonEvent::from(&events[1])).unwrap();
        let list = &values["values"]["values"];
        assert_eq!(values["values"]["source"], "VALUE_SOURCE_NOTIFY");
        assert_eq!(list[1]["value"], serde_json::json!({"integer": i64::MIN}));
        assert_eq!(
            list[2]["value"],
            serde_json::json!({"unsignedInteger": u64::MAX})
        );
        assert_eq!(list[4]["value"], serde_json::json!({"float": "Infinity"}));
        assert_eq!(list[7]["value"], serde_json::json!({"opaque": "AP8H"}));
        assert_eq!(
            list[9]["value"],
            serde_json::json!({"objlnk": {"object": 3, "instance": 0}})
        );
        assert_eq!(list[1]["key"], "battery");
        assert_eq!(list[11]["value"]["untyped"]["raw"], "QfQAAA==");
        assert_eq!(
            list[11]["value"]["untyped"]["guesses"][0],
            serde_json::json!({"float": 30.5})
        );
        assert_eq!(
            list[11]["value"]["untyped"]["missingModel"]["objectId"],
            33605
        );
        assert!(list[12].get("value").is_none(), "none has no value key");

        let log = serde_json::to_value(JsonEvent::from(&events[2])).unwrap();
        assert_eq!(log["transportLog"]["direction"], "DIRECTION_UPLINK");
        assert_eq!(log["transportLog"]["payloadSize"], 42);
    }

    #[test]
    fn nan_survives_as_a_string() {
        let json = JsonValue::Float(f64::NAN);
        let text = serde_json::to_string(&json).unwrap();
        assert_eq!(text, r#"{"float":"NaN"}"#);
        match serde_json::from_str::<JsonValue>(&text).unwrap() {
            JsonValue::Float(f) => assert!(f.is_nan()),
            other => panic!("expected float, got {other:?}"),
        }
    }

    #[test]
    fn unknown_enum_numbers_are_kept() {
        let mut event = sample_events().remove(0);
        if let Some(Payload::Registration(r)) = &mut event.payload {
            r.kind = 42;
        }
        let text = serde_json::to_string(&JsonEvent::from(&event)).unwrap();
        assert!(text.contains(r#""kind":42"#), "{text}");
        let back: JsonEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(UplinkEvent::try_from(back).unwrap(), event);
    }

    #[test]
    fn bad_input_is_explained() {
        let two_payloads =
            r#"{"registration":{"kind":"REGISTRATION_KIND_REGISTERED"},"values":{}}"#;
        let json: JsonEvent = serde_json::from_str(two_payloads).unwrap();
        assert!(UplinkEvent::try_from(json)
            .unwrap_err()
            .contains("more than one"));
        let bad_enum = r#"{"transportLog":{"direction":"SIDEWAYS"}}"#;
        let json: JsonEvent = serde_json::from_str(bad_enum).unwrap();
        assert!(UplinkEvent::try_from(json)
            .unwrap_err()
            .contains("SIDEWAYS"));
        assert!(serde_json::from_str::<JsonValue>(r#"{"opaque":"***"}"#).is_err());
    }
}
