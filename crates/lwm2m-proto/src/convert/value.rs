//! [`lwm2m_core::Value`] ↔ proto [`Value`](crate::events::v1::Value).
//!
//! `Value::None` (executable resources) maps to an unset oneof, and an unset
//! proto `Value` field maps back to `Value::None`, so "no value" has exactly
//! one meaning on both sides.

use lwm2m_core::{ObjectLink, Value};

use crate::events::v1 as pb;
use crate::events::v1::value::Kind;
use crate::ProtoError;

impl From<&Value> for pb::Value {
    fn from(value: &Value) -> Self {
        let kind = match value {
            Value::String(s) => Some(Kind::StringValue(s.clone())),
            Value::Integer(i) => Some(Kind::Integer(*i)),
            Value::UnsignedInteger(u) => Some(Kind::UnsignedInteger(*u)),
            Value::Float(f) => Some(Kind::Float(*f)),
            Value::Boolean(b) => Some(Kind::Boolean(*b)),
            Value::Opaque(bytes) => Some(Kind::Opaque(bytes.clone())),
            Value::Time(t) => Some(Kind::Time(*t)),
            Value::ObjectLink(link) => Some(Kind::Objlnk(pb::ObjLnk::from(*link))),
            Value::CoreLink(text) => Some(Kind::Corelnk(text.clone())),
            Value::None => None,
        };
        pb::Value { kind }
    }
}

impl From<Value> for pb::Value {
    fn from(value: Value) -> Self {
        let kind = match value {
            Value::String(s) => Some(Kind::StringValue(s)),
            Value::Opaque(bytes) => Some(Kind::Opaque(bytes)),
            Value::CoreLink(text) => Some(Kind::Corelnk(text)),
            other => return pb::Value::from(&other),
        };
        pb::Value { kind }
    }
}

impl From<ObjectLink> for pb::ObjLnk {
    fn from(link: ObjectLink) -> Self {
        pb::ObjLnk {
            object: u32::from(link.object),
            instance: u32::from(link.instance),
        }
    }
}

impl TryFrom<&pb::ObjLnk> for ObjectLink {
    type Error = ProtoError;

    fn try_from(link: &pb::ObjLnk) -> Result<Self, ProtoError> {
        let invalid = || ProtoError::InvalidObjectLink {
            object: link.object,
            instance: link.instance,
        };
        Ok(ObjectLink {
            object: u16::try_from(link.object).map_err(|_| invalid())?,
            instance: u16::try_from(link.instance).map_err(|_| invalid())?,
        })
    }
}

impl TryFrom<pb::Value> for Value {
    type Error = ProtoError;

    fn try_from(value: pb::Value) -> Result<Self, ProtoError> {
        Ok(match value.kind {
            None => Value::None,
            Some(Kind::StringValue(s)) => Value::String(s),
            Some(Kind::Integer(i)) => Value::Integer(i),
            Some(Kind::UnsignedInteger(u)) => Value::UnsignedInteger(u),
            Some(Kind::Float(f)) => Value::Float(f),
            Some(Kind::Boolean(b)) => Value::Boolean(b),
            Some(Kind::Opaque(bytes)) => Value::Opaque(bytes),
            Some(Kind::Time(t)) => Value::Time(t),
            Some(Kind::Objlnk(link)) => Value::ObjectLink(ObjectLink::try_from(&link)?),
            Some(Kind::Corelnk(text)) => Value::CoreLink(text),
            // No model typed it: the bytes as the device sent them.
            Some(Kind::Untyped(untyped)) => Value::Opaque(untyped.raw),
        })
    }
}

impl TryFrom<&pb::Value> for Value {
    type Error = ProtoError;

    fn try_from(value: &pb::Value) -> Result<Self, ProtoError> {
        Value::try_from(value.clone())
    }
}

/// Converts an optional proto value field (prost models message fields as
/// `Option`); unset means [`Value::None`].
pub fn value_from_proto(value: Option<&pb::Value>) -> Result<Value, ProtoError> {
    value.map_or(Ok(Value::None), Value::try_from)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn all_kinds() -> Vec<Value> {
        vec![
            Value::String("Open Mobile Alliance ✓".into()),
            Value::Integer(i64::MIN),
            Value::Integer(-42),
            Value::UnsignedInteger(u64::MAX),
            Value::Float(-3.5e300),
            Value::Boolean(true),
            Value::Boolean(false),
            Value::Opaque(vec![0, 1, 0xfe, 0xff]),
            Value::Time(1_700_000_000),
            Value::Time(-1),
            Value::ObjectLink(ObjectLink {
                object: 3,
                instance: 0,
            }),
            Value::ObjectLink(ObjectLink::NULL),
            Value::CoreLink("</3/0>;ver=1.1,</1/0>".into()),
            Value::None,
        ]
    }

    #[test]
    fn every_kind_round_trips_through_proto_and_wire_bytes() {
        for value in all_kinds() {
            let proto = pb::Value::from(&value);
            assert_eq!(
                pb::Value::from(value.clone()),
                proto,
                "owned and borrowed agree"
            );
            let bytes = proto.encode_to_vec();
            let decoded = pb::Value::decode(bytes.as_slice()).unwrap();
            assert_eq!(Value::try_from(decoded).unwrap(), value);
        }
    }

    #[test]
    fn the_ten_kinds_map_to_ten_distinct_oneof_cases() {
        let kinds: std::collections::BTreeSet<_> = all_kinds()
            .iter()
            .map(|v| pb::Value::from(v).kind.map(|k| std::mem::discriminant(&k)))
            .map(|d| format!("{d:?}"))
            .collect();
        assert_eq!(kinds.len(), 10, "9 oneof cases plus unset for None");
    }

    #[test]
    fn nan_float_survives() {
        let proto = pb::Value::from(&Value::Float(f64::NAN));
        match Value::try_from(proto).unwrap() {
            Value::Float(f) => assert!(f.is_nan()),
            other => panic!("expected a float, got {other:?}"),
        }
    }

    #[test]
    fn unset_value_field_is_none() {
        assert_eq!(value_from_proto(None).unwrap(), Value::None);
        assert_eq!(
            value_from_proto(Some(&pb::Value { kind: None })).unwrap(),
            Value::None
        );
    }

    #[test]
    fn object_link_ids_above_16_bits_are_rejected() {
        let proto = pb::Value {
            kind: Some(Kind::Objlnk(pb::ObjLnk {
                object: 70_000,
                instance: 1,
            })),
        };
        let err = Value::try_from(proto).unwrap_err();
        assert_eq!(
            err,
            ProtoError::InvalidObjectLink {
                object: 70_000,
                instance: 1
            }
        );
        assert!(err.to_string().contains("70000:1"));
    }

    #[test]
    fn integer_uses_zigzag_so_small_negatives_are_small_on_the_wire() {
        let bytes = pb::Value::from(&Value::Integer(-1)).encode_to_vec();
        // field 2, varint (0x10), zigzag(-1) = 1.
        assert_eq!(bytes, vec![0x10, 0x01]);
    }
}
