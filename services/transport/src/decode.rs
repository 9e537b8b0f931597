//! Payload → typed values, shared by Read responses, notifications and Send.
//!
//! SenML payloads (JSON 110, CBOR 112) go through `decode_timestamped`, so
//! timestamps survive (Send, timestamped notifications) and composite
//! payloads need no special case. Other formats decode the node at the
//! requested path and flatten it to leaves.
//!
//! A resource no model types (a vendor object whose DDF was never
//! imported) in TLV or text is not lost: its bytes come out as an untyped
//! value with guesses and the missing model named (`missing_models` fills
//! in the version the device registered and tells the registry).

use lwm2m_core::codec::lwm2m_cbor::LwM2mCborCodec;
use lwm2m_core::codec::senml::MultiNodeCodec;
use lwm2m_core::codec::senml_cbor::SenmlCborCodec;
use lwm2m_core::codec::senml_json::SenmlJsonCodec;
use lwm2m_core::codec::untyped::decode_keeping_untyped;
use lwm2m_core::{ContentFormat, LwM2mPath, ModelLookup};
use lwm2m_proto::convert::{resource_value, untyped_resource_value};
use lwm2m_proto::events::v1::{MissingModel, ResourceValue};

use crate::clock::secs_to_ms;
use crate::error::Error;
use crate::nodes::leaves_of;

/// The codec of a multi-node (composite, Send) format: SenML JSON or
/// CBOR, or LwM2M CBOR (1.2), which carries the same records.
pub(crate) fn senml(format: ContentFormat) -> Option<&'static dyn MultiNodeCodec> {
    match format {
        ContentFormat::SenmlJson => Some(&SenmlJsonCodec),
        ContentFormat::SenmlCbor => Some(&SenmlCborCodec),
        ContentFormat::LwM2mCbor => Some(&LwM2mCborCodec),
        _ => None,
    }
}

/// Decodes a payload in content format `code` into one value per leaf.
/// `paths` are the requested paths (one for Read/Observe, several for the
/// composite operations); `now_secs` resolves relative SenML times.
pub(crate) fn values(
    code: u16,
    paths: &[LwM2mPath],
    payload: &[u8],
    models: &dyn ModelLookup,
    now_secs: f64,
) -> Result<Vec<ResourceValue>, Error> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let format = ContentFormat::from_code(code).ok_or(Error::UnsupportedContentFormat(code))?;
    if let Some(codec) = senml(format) {
        return timestamped(codec, payload, models, now_secs);
    }
    let [path] = paths else {
        return Err(Error::UnsupportedContentFormat(code));
    };
    let decoded = decode_keeping_untyped(code, path, payload, models)?;
    Ok(leaves_of(path, &decoded.node)
        .iter()
        .map(|(p, v)| match p.object_id() {
            Some(object_id) if decoded.is_untyped(p) => {
                untyped_resource_value(p, v, decoded.format, missing_model(object_id, p, models))
            }
            _ => resource_value(p, v),
        })
        .collect())
}

/// Which model `leaf` lacks: the whole object's, or only this resource in a
/// known object. The version is the device's, filled in by `missing_models`.
fn missing_model(object_id: u16, leaf: &LwM2mPath, models: &dyn ModelLookup) -> MissingModel {
    MissingModel {
        object_id: u32::from(object_id),
        version: String::new(),
        resource_id: models
            .object(object_id)
            .and(leaf.resource_id())
            .map(u32::from),
    }
}

/// SenML records as values with their (absolute) timestamps.
pub(crate) fn timestamped(
    codec: &dyn MultiNodeCodec,
    payload: &[u8],
    models: &dyn ModelLookup,
    now_secs: f64,
) -> Result<Vec<ResourceValue>, Error> {
    let mut out = Vec::new();
    for group in codec.decode_timestamped(payload, models)? {
        let timestamp_ms = group.absolute_time(now_secs).map(secs_to_ms);
        for (path, node) in &group.nodes {
            for (leaf, value) in leaves_of(path, node) {
                out.push(ResourceValue {
                    timestamp_ms,
                    ..resource_value(&leaf, &value)
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use lwm2m_core::ModelRegistry;
    use lwm2m_proto::events::v1::value::Kind;

    use super::*;

    #[test]
    fn text_read_of_one_resource() {
        let models = ModelRegistry::with_core_objects();
        let path: LwM2mPath = "/3/0/9".parse().unwrap();
        let values = values(0, &[path], b"87", &models, 0.0).unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].path, "/3/0/9");
        assert_eq!(
            values[0].value.as_ref().and_then(|v| v.kind.clone()),
            Some(Kind::Integer(87))
        );
        assert_eq!(values[0].timestamp_ms, None);
    }

    #[test]
    fn senml_json_keeps_relative_and_absolute_times() {
        let models = ModelRegistry::with_core_objects();
        let payload = br#"[{"bn":"/3/0/","n":"9","v":80,"t":-5},{"n":"9","v":81,"bt":1700000000}]"#;
        let values = values(110, &[], payload, &models, 1_000.0).unwrap();
        let times: Vec<_> = values.iter().map(|v| v.timestamp_ms).collect();
        assert_eq!(times, [Some(995_000), Some(1_700_000_000_000)]);
    }

    #[test]
    fn a_resource_without_a_model_comes_back_untyped_with_guesses() {
        let models = ModelRegistry::with_core_objects();
        let path: LwM2mPath = "/33605/5/1".parse().unwrap();
        let tlv = [0xc1, 0x01, 0x2a];
        let tlv_values = values(11542, &[path], &tlv, &models, 0.0).unwrap();
        assert_eq!(tlv_values.len(), 1);
        let Some(Kind::Untyped(u)) = tlv_values[0].value.as_ref().and_then(|v| v.kind.clone())
        else {
            panic!("not untyped: {tlv_values:?}");
        };
        assert_eq!(u.raw, [0x2a]);
        assert_eq!(u.content_format, 11542);
        assert_eq!(u.guesses[0].kind, Some(Kind::Integer(42)));
        let missing = u.missing_model.unwrap();
        assert_eq!((missing.object_id, missing.resource_id), (33605, None));

        // Text: the body as a string guess.
        let text = values(0, &[path], b"on", &models, 0.0).unwrap();
        let Some(Kind::Untyped(u)) = text[0].value.as_ref().and_then(|v| v.kind.clone()) else {
            panic!("not untyped: {text:?}");
        };
        assert_eq!(u.guesses[0].kind, Some(Kind::StringValue("on".into())));

        // A resource a known object's model lacks names the resource.
        let device: LwM2mPath = "/3/0/30000".parse().unwrap();
        let device_values = values(0, &[device], b"x", &models, 0.0).unwrap();
        let Some(Kind::Untyped(u)) = device_values[0].value.as_ref().and_then(|v| v.kind.clone())
        else {
            panic!("not untyped: {device_values:?}");
        };
        assert_eq!(u.missing_model.unwrap().resource_id, Some(30000));
    }

    #[test]
    fn unknown_formats_and_garbage_are_errors() {
        let models = ModelRegistry::with_core_objects();
        let path: LwM2mPath = "/3/0".parse().unwrap();
        assert!(values(50, &[path], b"{}", &models, 0.0).is_err());
        assert!(values(112, &[path], b"\xff\xff", &models, 0.0).is_err());
        assert!(values(0, &[], b"1", &models, 0.0).is_err());
        assert!(values(0, &[path], b"", &models, 0.0).unwrap().is_empty());
    }
}
