//! application/octet-stream (content format 42), LwM2M 1.1.1 Core TS §7.4.2.
//!
//! The payload is the raw bytes of one Opaque single-instance resource or
//! resource instance, nothing else. Encoding any other type is an error
//! (text or CBOR carry those).
//!
//! Decoding without a model is allowed: an octet stream needs no type
//! information, so when no model knows the resource the bytes are returned
//! as [`Value::Opaque`]. When a model is known it must say Opaque and, at
//! resource level, single-instance; otherwise the payload is refused rather
//! than reinterpreted.

use super::value_conv::{single_value, single_value_kind, single_value_node};
use super::{ContentFormat, NodeCodec};
use crate::model::ModelLookup;
use crate::node::{LwM2mNode, ResourceType, Value};
use crate::path::LwM2mPath;
use crate::Error;

/// The application/octet-stream codec.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpaqueCodec;

const FORMAT: ContentFormat = ContentFormat::Opaque;

impl NodeCodec for OpaqueCodec {
    fn format(&self) -> ContentFormat {
        FORMAT
    }

    fn encode(
        &self,
        path: &LwM2mPath,
        node: &LwM2mNode,
        _models: &dyn ModelLookup,
    ) -> Result<Vec<u8>, Error> {
        match single_value(FORMAT, path, node)? {
            Value::Opaque(bytes) => Ok(bytes.clone()),
            other => Err(Error::encode(
                FORMAT,
                format!(
                    "{path} holds a {} value; octet-stream carries only Opaque",
                    other.resource_type()
                ),
            )),
        }
    }

    fn decode(
        &self,
        path: &LwM2mPath,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<LwM2mNode, Error> {
        match single_value_kind(FORMAT, path, models)? {
            None | Some(ResourceType::Opaque) => {
                Ok(single_value_node(path, Value::Opaque(payload.to_vec())))
            }
            Some(kind) => Err(Error::decode(
                FORMAT,
                format!("{path} is a {kind} resource; octet-stream carries only Opaque"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::value_conv::test_support::{models, ALL_TYPES};
    use crate::node::{LwM2mResource, LwM2mResourceInstance};

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    /// §7.4.2: the payload is the opaque value itself, byte for byte.
    #[test]
    fn spec_7_4_2_raw_bytes() {
        let reg = models();
        let path = LwM2mPath::resource(ALL_TYPES, 0, 5).unwrap();
        let node = LwM2mNode::Resource(LwM2mResource::single(
            5,
            Value::Opaque(vec![0, 1, 0xfe, 0xff]),
        ));
        let bytes = OpaqueCodec.encode(&path, &node, &reg).unwrap();
        assert_eq!(bytes, [0, 1, 0xfe, 0xff]);
        assert_eq!(OpaqueCodec.decode(&path, &bytes, &reg).unwrap(), node);
    }

    #[test]
    fn resource_instance_and_empty_payload() {
        let reg = models();
        let path = LwM2mPath::resource_instance(ALL_TYPES, 0, 105, 3).unwrap();
        let node = LwM2mNode::ResourceInstance(LwM2mResourceInstance {
            id: 3,
            value: Value::Opaque(vec![]),
        });
        assert_eq!(OpaqueCodec.decode(&path, &[], &reg).unwrap(), node);
    }

    #[test]
    fn no_model_decodes_as_opaque() {
        let got = OpaqueCodec
            .decode(&p("/4242/0/1"), b"abc", &models())
            .unwrap();
        assert_eq!(
            got,
            LwM2mNode::Resource(LwM2mResource::single(1, Value::Opaque(b"abc".to_vec())))
        );
    }

    #[test]
    fn other_types_are_refused() {
        let reg = models();
        assert!(matches!(
            OpaqueCodec.decode(&p("/3/0/9"), &[1], &reg),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            OpaqueCodec.decode(&p("/3/0"), &[1], &reg),
            Err(Error::Decode { .. })
        ));
        let path = LwM2mPath::resource(ALL_TYPES, 0, 105).unwrap();
        assert!(
            OpaqueCodec.decode(&path, &[1], &reg).is_err(),
            "a multiple resource"
        );
        let node = LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(1)));
        assert!(matches!(
            OpaqueCodec.encode(&p("/3/0/9"), &node, &reg),
            Err(Error::Encode { .. })
        ));
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let reg = models();
            let path = LwM2mPath::resource(ALL_TYPES, 2, 5).unwrap();
            let node = LwM2mNode::Resource(LwM2mResource::single(5, Value::Opaque(bytes)));
            let encoded = OpaqueCodec.encode(&path, &node, &reg).unwrap();
            prop_assert_eq!(OpaqueCodec.decode(&path, &encoded, &reg).unwrap(), node);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512),
                                       res in 0u16..10) {
            let reg = models();
            let path = LwM2mPath::resource(ALL_TYPES, 0, res).unwrap();
            if let Ok(node) = OpaqueCodec.decode(&path, &bytes, &reg) {
                let again = OpaqueCodec.encode(&path, &node, &reg).unwrap();
                prop_assert_eq!(again, bytes);
            }
        }
    }
}
