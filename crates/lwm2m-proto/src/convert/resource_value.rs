//! A leaf value with its path: proto [`ResourceValue`](pb::ResourceValue) ↔
//! `(LwM2mPath, Value)`, the shape the codecs produce via `LwM2mNode::leaves`.

use lwm2m_core::{LwM2mPath, Value};

use super::{parse_path, value_from_proto};
use crate::events::v1 as pb;
use crate::ProtoError;

/// Builds a proto `ResourceValue` without timestamp or profile key.
pub fn resource_value(path: &LwM2mPath, value: &Value) -> pb::ResourceValue {
    pb::ResourceValue {
        path: path.to_string(),
        value: (!matches!(value, Value::None)).then(|| pb::Value::from(value)),
        timestamp_ms: None,
        key: None,
    }
}

/// A proto `ResourceValue` parsed into domain types.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceEntry {
    /// The leaf's path.
    pub path: LwM2mPath,
    /// The leaf's value; [`Value::None`] when the proto field was unset.
    pub value: Value,
    /// Measurement time, ms since the Unix epoch, when the device sent one.
    pub timestamp_ms: Option<i64>,
    /// Profile key name, when a profile mapped the path.
    pub key: Option<String>,
}

impl TryFrom<&pb::ResourceValue> for ResourceEntry {
    type Error = ProtoError;

    fn try_from(rv: &pb::ResourceValue) -> Result<Self, ProtoError> {
        Ok(ResourceEntry {
            path: parse_path("ResourceValue.path", &rv.path)?,
            value: value_from_proto(rv.value.as_ref())?,
            timestamp_ms: rv.timestamp_ms,
            key: rv.key.clone(),
        })
    }
}

impl From<&ResourceEntry> for pb::ResourceValue {
    fn from(entry: &ResourceEntry) -> Self {
        pb::ResourceValue {
            timestamp_ms: entry.timestamp_ms,
            key: entry.key.clone(),
            ..resource_value(&entry.path, &entry.value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_timestamp_and_key() {
        let entry = ResourceEntry {
            path: "/3/0/9".parse().unwrap(),
            value: Value::Integer(87),
            timestamp_ms: Some(1_700_000_000_123),
            key: Some("battery_level".into()),
        };
        let proto = pb::ResourceValue::from(&entry);
        assert_eq!(proto.path, "/3/0/9");
        assert_eq!(ResourceEntry::try_from(&proto).unwrap(), entry);
    }

    #[test]
    fn none_value_is_an_unset_field() {
        let path = LwM2mPath::resource(3, 0, 4).unwrap();
        let proto = resource_value(&path, &Value::None);
        assert!(proto.value.is_none());
        assert_eq!(ResourceEntry::try_from(&proto).unwrap().value, Value::None);
    }

    #[test]
    fn bad_path_names_the_field() {
        let proto = pb::ResourceValue {
            path: "/3/0/abc".into(),
            ..Default::default()
        };
        let err = ResourceEntry::try_from(&proto).unwrap_err();
        assert!(
            err.to_string().starts_with("field ResourceValue.path:"),
            "{err}"
        );
    }
}
