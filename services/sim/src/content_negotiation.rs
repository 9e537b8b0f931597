//! Picking the content format of an answer: the server's Accept wins when
//! this device's LwM2M version supports it (otherwise 4.06 Not Acceptable);
//! without Accept, a single value goes as text (opaque data as
//! octet-stream) and anything bigger in the device's preferred multi-node
//! format.

use lwm2m_core::codec::lwm2m_cbor::LwM2mCborCodec;
use lwm2m_core::codec::senml::MultiNodeCodec;
use lwm2m_core::codec::senml_cbor::SenmlCborCodec;
use lwm2m_core::codec::senml_json::SenmlJsonCodec;
use lwm2m_core::{codec, ContentFormat, LwM2mNode, LwM2mPath, ModelLookup, Value, Version};

use crate::error::{Result, SimError};

/// The node formats a device of `version` can produce and consume.
pub fn supported(version: Version, format: ContentFormat) -> bool {
    use ContentFormat as F;
    match format {
        F::Text | F::Opaque | F::Tlv | F::LegacyTlv | F::OmaJson | F::LegacyOmaJson => true,
        F::Cbor | F::SenmlJson | F::SenmlCbor => version >= Version::V1_1,
        F::LwM2mCbor => version >= Version::V1_2,
        F::LinkFormat => false,
    }
}

/// The format of a Read (or Observe) answer for `node`.
pub fn response_format(
    accept: Option<u16>,
    node: &LwM2mNode,
    version: Version,
    preferred: ContentFormat,
) -> Result<ContentFormat> {
    match accept {
        Some(code) => match ContentFormat::from_code(code) {
            Some(f) if supported(version, f) => Ok(f),
            _ => Err(SimError::NotAcceptable(format!(
                "content format {code} is not supported by this LwM2M {version} device"
            ))),
        },
        None => Ok(default_format(node, preferred)),
    }
}

/// Text (or octet-stream for opaque data) for single values, else `preferred`.
pub fn default_format(node: &LwM2mNode, preferred: ContentFormat) -> ContentFormat {
    let single = match node {
        LwM2mNode::Resource(lwm2m_core::LwM2mResource::Single { value, .. }) => Some(value),
        LwM2mNode::ResourceInstance(ri) => Some(&ri.value),
        _ => None,
    };
    match single {
        Some(Value::Opaque(_)) => ContentFormat::Opaque,
        Some(_) => ContentFormat::Text,
        None => preferred,
    }
}

/// Encodes `node`; a format that cannot carry it (text for an instance)
/// is 4.06, as the server asked for something this node cannot be.
pub fn encode(
    format: ContentFormat,
    path: &LwM2mPath,
    node: &LwM2mNode,
    models: &dyn ModelLookup,
) -> Result<Vec<u8>> {
    codec::encode(format, path, node, models).map_err(|e| SimError::NotAcceptable(e.to_string()))
}

/// The codec for composite operations, Send and composite notifications:
/// SenML, or LwM2M CBOR (1.2, no timestamps); other formats cannot carry
/// several paths.
pub fn multi_node_codec(format: ContentFormat) -> Option<&'static dyn MultiNodeCodec> {
    match format {
        ContentFormat::SenmlJson => Some(&SenmlJsonCodec),
        ContentFormat::SenmlCbor => Some(&SenmlCborCodec),
        ContentFormat::LwM2mCbor => Some(&LwM2mCborCodec),
        _ => None,
    }
}

/// `multi_node_codec` for a CoAP content-format number, or the error the
/// request deserves (`not_supported` decides between 4.06 and 4.15).
pub fn composite_codec(
    code: Option<u16>,
    not_supported: fn(String) -> SimError,
) -> Result<&'static dyn MultiNodeCodec> {
    code.and_then(ContentFormat::from_code)
        .and_then(multi_node_codec)
        .ok_or_else(|| {
            not_supported(format!(
                "composite operations need SenML JSON (110), SenML CBOR (112) or LwM2M CBOR \
                 (11544), got {code:?}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lwm2m_core::{LwM2mObjectInstance, LwM2mResource};

    #[test]
    fn accept_wins_when_supported() {
        let node = LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(1)));
        let f = response_format(Some(60), &node, Version::V1_1, ContentFormat::SenmlCbor);
        assert_eq!(f.unwrap(), ContentFormat::Cbor);
        let f = response_format(Some(60), &node, Version::V1_0, ContentFormat::Tlv);
        assert!(matches!(f, Err(SimError::NotAcceptable(_))));
        let f = response_format(Some(9999), &node, Version::V1_1, ContentFormat::Tlv);
        assert!(matches!(f, Err(SimError::NotAcceptable(_))));
        let f = response_format(Some(1542), &node, Version::V1_0, ContentFormat::Tlv);
        assert_eq!(f.unwrap(), ContentFormat::LegacyTlv);
    }

    #[test]
    fn defaults_depend_on_the_node() {
        let text = LwM2mNode::Resource(LwM2mResource::single(0, Value::String("a".into())));
        let opaque = LwM2mNode::Resource(LwM2mResource::single(0, Value::Opaque(vec![1])));
        let inst = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(0, []));
        assert_eq!(
            default_format(&text, ContentFormat::Tlv),
            ContentFormat::Text
        );
        assert_eq!(
            default_format(&opaque, ContentFormat::Tlv),
            ContentFormat::Opaque
        );
        assert_eq!(
            default_format(&inst, ContentFormat::SenmlCbor),
            ContentFormat::SenmlCbor
        );
    }

    #[test]
    fn text_cannot_carry_an_instance() {
        let reg = crate::temperature_model::sim_registry();
        let inst = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(0, []));
        let path: LwM2mPath = "/3/0".parse().unwrap();
        assert!(matches!(
            encode(ContentFormat::Text, &path, &inst, &reg),
            Err(SimError::NotAcceptable(_))
        ));
        assert!(encode(ContentFormat::Tlv, &path, &inst, &reg).is_ok());
    }

    #[test]
    fn lwm2m_cbor_is_a_1_2_format() {
        let inst = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(0, []));
        assert!(supported(Version::V1_2, ContentFormat::LwM2mCbor));
        assert!(!supported(Version::V1_1, ContentFormat::LwM2mCbor));
        let f = response_format(Some(11544), &inst, Version::V1_2, ContentFormat::SenmlCbor);
        assert_eq!(f.unwrap(), ContentFormat::LwM2mCbor);
        let f = response_format(Some(11544), &inst, Version::V1_1, ContentFormat::SenmlCbor);
        assert!(matches!(f, Err(SimError::NotAcceptable(_))));
        assert!(composite_codec(Some(11544), SimError::NotAcceptable).is_ok());
    }

    #[test]
    fn only_senml_and_lwm2m_cbor_are_composite() {
        assert!(multi_node_codec(ContentFormat::SenmlJson).is_some());
        assert!(multi_node_codec(ContentFormat::Tlv).is_none());
        assert!(composite_codec(Some(112), SimError::NotAcceptable).is_ok());
        assert!(composite_codec(Some(11542), SimError::NotAcceptable).is_err());
        assert!(composite_codec(None, SimError::UnsupportedContentFormat).is_err());
    }
}
