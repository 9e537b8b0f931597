//! Values no model types ([`lwm2m_core::codec::untyped`]) as proto
//! [`UntypedValue`](pb::UntypedValue)s: the raw bytes, their format, the
//! guesses and the model that is missing.

use lwm2m_core::codec::untyped::{guesses, rendering};
use lwm2m_core::{ContentFormat, LwM2mPath, Value};

use crate::events::v1 as pb;
use crate::events::v1::value::Kind;

/// The proto value of untyped bytes `raw` that came in `format`.
pub fn untyped_value(format: ContentFormat, raw: &[u8], missing: pb::MissingModel) -> pb::Value {
    let guesses = guesses(format, raw).iter().map(pb::Value::from).collect();
    pb::Value {
        kind: Some(Kind::Untyped(pb::UntypedValue {
            raw: raw.to_vec(),
            content_format: u32::from(format.code()),
            guesses,
            rendering: rendering(format, raw),
            missing_model: Some(missing),
        })),
    }
}

/// A proto `ResourceValue` for an untyped leaf; `value` is the Opaque the
/// lenient decoder kept (anything else is converted as typed).
pub fn untyped_resource_value(
    path: &LwM2mPath,
    value: &Value,
    format: ContentFormat,
    missing: pb::MissingModel,
) -> pb::ResourceValue {
    match value {
        Value::Opaque(raw) => pb::ResourceValue {
            value: Some(untyped_value(format, raw, missing)),
            ..super::resource_value(path, value)
        },
        other => super::resource_value(path, other),
    }
}

/// The untyped part of a proto value, if it is one.
pub fn as_untyped(value: Option<&pb::Value>) -> Option<&pb::UntypedValue> {
    match value?.kind.as_ref()? {
        Kind::Untyped(u) => Some(u),
        _ => None,
    }
}

/// `/33605 1.0` or `/3 1.1 resource 30000`: the missing model in words.
pub fn missing_model_text(m: &pb::MissingModel) -> String {
    let version = if m.version.is_empty() {
        String::new()
    } else {
        format!(" version {}", m.version)
    };
    match m.resource_id {
        Some(r) => format!(
            "object {}{version} has no resource {r} in its model",
            m.object_id
        ),
        None => format!("no model for object {}{version}", m.object_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing() -> pb::MissingModel {
        pb::MissingModel {
            object_id: 33605,
            version: "1.0".into(),
            resource_id: None,
        }
    }

    #[test]
    fn untyped_tlv_keeps_bytes_guesses_and_the_missing_model() {
        let path: LwM2mPath = "/33605/5/1".parse().unwrap();
        let rv = untyped_resource_value(
            &path,
            &Value::Opaque(vec![0x2a]),
            ContentFormat::Tlv,
            missing(),
        );
        let u = as_untyped(rv.value.as_ref()).unwrap();
        assert_eq!(u.raw, [0x2a]);
        assert_eq!(u.content_format, 11542);
        assert_eq!(u.guesses, [pb::Value::from(&Value::Integer(42))]);
        assert!(u.rendering.contains("guess"), "{}", u.rendering);
        assert_eq!(
            missing_model_text(u.missing_model.as_ref().unwrap()),
            "no model for object 33605 version 1.0"
        );
        // Read back as a domain value it is the raw bytes, as Opaque.
        assert_eq!(
            Value::try_from(rv.value.unwrap()).unwrap(),
            Value::Opaque(vec![0x2a])
        );
    }
}
