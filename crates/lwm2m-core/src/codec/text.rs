//! text/plain (content format 0), LwM2M 1.1.1 Core TS §7.4.1.
//!
//! Carries the value of one single-instance resource or one resource
//! instance as text. The text says nothing about its type, so decoding needs
//! the object model: without one the answer is
//! [`Error::UnknownResourceType`], never a guess. Encoding uses the type of
//! the value itself. The per-type forms live in `codec/value_conv.rs`:
//! decimal integers and Unix seconds, shortest round-trip floats (exponent
//! forms accepted), `0`/`1` booleans, `OID:IID` links and base64 for opaque
//! data. Numbers, booleans and links are read strictly: no surrounding
//! whitespace, no other spellings.

use super::untyped::UntypedSink;
use super::value_conv::{self, single_value, single_value_kind, single_value_node, unknown_type};
use super::{ContentFormat, NodeCodec};
use crate::model::ModelLookup;
use crate::node::{LwM2mNode, Value};
use crate::path::LwM2mPath;
use crate::Error;

/// The text/plain codec.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextCodec;

const FORMAT: ContentFormat = ContentFormat::Text;

impl NodeCodec for TextCodec {
    fn format(&self) -> ContentFormat {
        FORMAT
    }

    fn encode(
        &self,
        path: &LwM2mPath,
        node: &LwM2mNode,
        _models: &dyn ModelLookup,
    ) -> Result<Vec<u8>, Error> {
        let value = single_value(FORMAT, path, node)?;
        value_conv::value_to_text(value)
            .map(String::into_bytes)
            .map_err(|reason| Error::encode(FORMAT, format!("{path}: {reason}")))
    }

    fn decode(
        &self,
        path: &LwM2mPath,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<LwM2mNode, Error> {
        let kind = single_value_kind(FORMAT, path, models)?.ok_or_else(|| unknown_type(path))?;
        let text = std::str::from_utf8(payload).map_err(|e| {
            Error::decode(
                FORMAT,
                format!("{path}: payload is not UTF-8 (at byte {})", e.valid_up_to()),
            )
        })?;
        let value = value_conv::text_to_value(text, kind)
            .map_err(|reason| Error::decode(FORMAT, format!("{path}: {reason}")))?;
        Ok(single_value_node(path, value))
    }
}

/// Decodes like [`TextCodec`], except that a resource no model types is kept
/// as the text's raw bytes (Opaque) and noted in `sink` (`codec::untyped`).
pub(crate) fn decode_keeping_untyped(
    path: &LwM2mPath,
    payload: &[u8],
    models: &dyn ModelLookup,
    sink: &UntypedSink,
) -> Result<LwM2mNode, Error> {
    if single_value_kind(FORMAT, path, models)?.is_some() {
        return TextCodec.decode(path, payload, models);
    }
    if let (Some(oid), Some(iid), Some(rid)) =
        (path.object_id(), path.instance_id(), path.resource_id())
    {
        sink.note(oid, iid, rid);
    }
    Ok(single_value_node(path, Value::Opaque(payload.to_vec())))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::value_conv::test_support::{self, models, typed_value, ALL_TYPES, TYPES};
    use crate::node::{LwM2mResource, LwM2mResourceInstance, ObjectLink, ResourceType, Value};

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    fn single(id: u16, value: Value) -> LwM2mNode {
        LwM2mNode::Resource(LwM2mResource::single(id, value))
    }

    fn round_trip(path: &str, node: &LwM2mNode, text: &str) {
        let reg = models();
        let bytes = TextCodec.encode(&p(path), node, &reg).unwrap();
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), text);
        assert_eq!(&TextCodec.decode(&p(path), &bytes, &reg).unwrap(), node);
    }

    /// §7.4.1: a Read of /3/0/0 (Manufacturer) answers the bare string.
    #[test]
    fn spec_7_4_1_string_manufacturer() {
        round_trip(
            "/3/0/0",
            &single(0, Value::String("Open Mobile Alliance".into())),
            "Open Mobile Alliance",
        );
    }

    /// §7.4.1: integers are decimal ASCII, e.g. Battery Level 100 and Current Time.
    #[test]
    fn spec_7_4_1_integer_and_time() {
        round_trip("/3/0/9", &single(9, Value::Integer(100)), "100");
        round_trip(
            "/3/0/13",
            &single(13, Value::Time(1_367_491_215)),
            "1367491215",
        );
        round_trip("/1/0/1", &single(1, Value::Integer(-86400)), "-86400");
    }

    /// §7.4.1: floats are decimal; both plain and exponent forms are read.
    #[test]
    fn spec_7_4_1_float() {
        let path = format!("/{ALL_TYPES}/0/3");
        round_trip(&path, &single(3, Value::Float(12.345)), "12.345");
        let got = TextCodec.decode(&p(&path), b"1.2345e1", &models()).unwrap();
        assert_eq!(got, single(3, Value::Float(12.345)));
    }

    /// §7.4.1: booleans are "0" or "1" (Server /1/0/6 Notification Storing).
    #[test]
    fn spec_7_4_1_boolean() {
        round_trip("/1/0/6", &single(6, Value::Boolean(true)), "1");
        round_trip("/1/0/6", &single(6, Value::Boolean(false)), "0");
        assert!(TextCodec.decode(&p("/1/0/6"), b"true", &models()).is_err());
    }

    /// §7.4.1: an Objlnk is "OID:IID" (Device ExtDevInfo /3/0/22/0 → "3:0").
    #[test]
    fn spec_7_4_1_objlnk_resource_instance() {
        let node = LwM2mNode::ResourceInstance(LwM2mResourceInstance {
            id: 0,
            value: Value::ObjectLink(ObjectLink {
                object: 3,
                instance: 0,
            }),
        });
        round_trip("/3/0/22/0", &node, "3:0");
    }

    /// §7.4.1: opaque data in text is base64.
    #[test]
    fn spec_7_4_1_opaque_is_base64() {
        let path = format!("/{ALL_TYPES}/0/5");
        round_trip(
            &path,
            &single(5, Value::Opaque(b"LwM2M".to_vec())),
            "THdNMk0=",
        );
    }

    #[test]
    fn unknown_resource_type_is_an_error_not_a_guess() {
        let err = TextCodec
            .decode(&p("/3/0/999"), b"1", &models())
            .unwrap_err();
        assert_eq!(
            err,
            Error::UnknownResourceType {
                path: "/3/0/999".into()
            }
        );
        let err = TextCodec
            .decode(&p("/4242/0/1"), b"1", &models())
            .unwrap_err();
        assert!(matches!(err, Error::UnknownResourceType { .. }));
    }

    #[test]
    fn multiple_resources_and_upper_levels_are_refused() {
        let reg = models();
        assert!(matches!(
            TextCodec.decode(&p("/3/0/6"), b"1", &reg),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            TextCodec.decode(&p("/3/0"), b"1", &reg),
            Err(Error::Decode { .. })
        ));
        let multi = LwM2mNode::Resource(
            LwM2mResource::multiple(6, ResourceType::Integer, [(0, Value::Integer(1))]).unwrap(),
        );
        assert!(matches!(
            TextCodec.encode(&p("/3/0/6"), &multi, &reg),
            Err(Error::Encode { .. })
        ));
        // A node that does not stand at the path.
        let node = single(9, Value::Integer(1));
        assert!(TextCodec.encode(&p("/3/0/10"), &node, &reg).is_err());
    }

    #[test]
    fn executable_and_bad_payloads_are_refused() {
        let reg = models();
        assert!(TextCodec.decode(&p("/3/0/4"), b"", &reg).is_err());
        assert!(TextCodec.decode(&p("/3/0/0"), &[0xff, 0xfe], &reg).is_err());
        assert!(TextCodec.decode(&p("/3/0/9"), b"", &reg).is_err());
        assert!(TextCodec
            .encode(&p("/3/0/4"), &single(4, Value::None), &reg)
            .is_err());
        let path = format!("/{ALL_TYPES}/0/3");
        assert!(TextCodec
            .encode(&p(&path), &single(3, Value::Float(f64::NAN)), &reg)
            .is_err());
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips((n, value) in typed_value(true), instance in any::<bool>()) {
            let reg = models();
            let (path, node) = if instance {
                (
                    LwM2mPath::resource_instance(ALL_TYPES, 1, 100 + n as u16, 7).unwrap(),
                    LwM2mNode::ResourceInstance(LwM2mResourceInstance { id: 7, value }),
                )
            } else {
                (LwM2mPath::resource(ALL_TYPES, 1, n as u16).unwrap(), single(n as u16, value))
            };
            let bytes = TextCodec.encode(&path, &node, &reg).unwrap();
            prop_assert_eq!(TextCodec.decode(&path, &bytes, &reg).unwrap(), node);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512),
                                       n in 0usize..TYPES.len()) {
            let reg = models();
            let path = LwM2mPath::resource(ALL_TYPES, 0, n as u16).unwrap();
            if let Ok(node) = TextCodec.decode(&path, &bytes, &reg) {
                let again = TextCodec.encode(&path, &node, &reg).unwrap();
                prop_assert_eq!(TextCodec.decode(&path, &again, &reg).unwrap(), node);
            }
        }
    }

    #[test]
    fn test_support_models_have_every_type() {
        let reg = models();
        for (n, kind) in (0u16..).zip(TYPES) {
            assert_eq!(
                crate::ModelLookup::resource(&reg, ALL_TYPES, n)
                    .unwrap()
                    .kind,
                kind
            );
        }
        let _ = test_support::EXECUTABLE;
    }
}
