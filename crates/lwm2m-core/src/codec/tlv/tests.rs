//! Golden vectors from LwM2M 1.1.1 Core TS §7.4.3 (the TLV examples, which
//! repeat those of LwM2M 1.0 §6.4.3) and property tests for the TLV codec.

use proptest::prelude::*;

use super::*;
use crate::codec::value_conv::test_support::{self, models, ALL_TYPES};
use crate::model::{ModelRegistry, ObjectModel, Operations, ResourceModel};
use crate::node::{
    LwM2mObject, LwM2mObjectInstance, LwM2mResource, LwM2mResourceInstance, ObjectLink,
    ResourceType, Value,
};
use crate::Version;

const TLV: TlvCodec = TlvCodec::CURRENT;

fn p(s: &str) -> LwM2mPath {
    s.parse().unwrap()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn int_multi(id: u16, values: &[(u16, i64)]) -> LwM2mResource {
    LwM2mResource::multiple(
        id,
        ResourceType::Integer,
        values.iter().map(|(i, v)| (*i, Value::Integer(*v))),
    )
    .unwrap()
}

fn string(id: u16, s: &str) -> LwM2mResource {
    LwM2mResource::single(id, Value::String(s.into()))
}

fn int(id: u16, v: i64) -> LwM2mResource {
    LwM2mResource::single(id, Value::Integer(v))
}

/// Encodes `node` at `path`, expects exactly `bytes`, and decodes them back to `node`.
fn golden(reg: &ModelRegistry, path: &str, node: &LwM2mNode, bytes: &[u8]) {
    let path = p(path);
    assert_eq!(
        TLV.encode(&path, node, reg).unwrap(),
        bytes,
        "encoding {path}"
    );
    assert_eq!(
        &TLV.decode(&path, bytes, reg).unwrap(),
        node,
        "decoding {path}"
    );
}

/// The resources of the Device object instance in the §7.4.3 example.
fn device_instance() -> LwM2mObjectInstance {
    LwM2mObjectInstance::new(
        0,
        [
            string(0, "Open Mobile Alliance"),
            string(1, "Lightweight M2M Client"),
            string(2, "345000123"),
            string(3, "1.0"),
            int_multi(6, &[(0, 1), (1, 5)]),
            int_multi(7, &[(0, 3800), (1, 5000)]),
            int_multi(8, &[(0, 125), (1, 900)]),
            int(9, 100),
            int(10, 15),
            int_multi(11, &[(0, 0)]),
            LwM2mResource::single(13, Value::Time(0x5182_428F)),
            string(14, "+02:00"),
            string(16, "U"),
        ],
    )
}

/// The TLV bytes of [`device_instance`]'s resources as §7.4.3 lists them.
fn device_instance_bytes() -> Vec<u8> {
    cat(&[
        &[0xC8, 0x00, 0x14],
        b"Open Mobile Alliance",
        &[0xC8, 0x01, 0x16],
        b"Lightweight M2M Client",
        &[0xC8, 0x02, 0x09],
        b"345000123",
        &[0xC3, 0x03],
        b"1.0",
        &[0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05],
        &[
            0x88, 0x07, 0x08, 0x42, 0x00, 0x0E, 0xD8, 0x42, 0x01, 0x13, 0x88,
        ],
        &[0x87, 0x08, 0x41, 0x00, 0x7D, 0x42, 0x01, 0x03, 0x84],
        &[0xC1, 0x09, 0x64],
        &[0xC1, 0x0A, 0x0F],
        &[0x83, 0x0B, 0x41, 0x00, 0x00],
        &[0xC4, 0x0D, 0x51, 0x82, 0x42, 0x8F],
        &[0xC6, 0x0E],
        b"+02:00",
        &[0xC1, 0x10, 0x55],
    ])
}

/// §7.4.3, single object instance request: Read /3/0 answers the resources
/// of Device instance 0 without an instance wrapper (121 bytes).
#[test]
fn spec_7_4_3_device_object_instance() {
    let bytes = device_instance_bytes();
    assert_eq!(bytes.len(), 0x79);
    golden(
        &models(),
        "/3/0",
        &LwM2mNode::ObjectInstance(device_instance()),
        &bytes,
    );
}

/// §7.4.3: Read /3 answers the same resources inside an object instance TLV
/// `08 00 79` (type 00, 8-bit id 0, 8-bit length 121).
#[test]
fn spec_7_4_3_device_object() {
    let bytes = cat(&[&[0x08, 0x00, 0x79], &device_instance_bytes()]);
    let node = LwM2mNode::Object(LwM2mObject::new(3, [device_instance()]));
    golden(&models(), "/3", &node, &bytes);
}

/// §7.4.3: an older client answers Read /3 without the instance wrapper;
/// like Leshan we read that as instance 0.
#[test]
fn legacy_single_instance_object_without_wrapper() {
    let node = TLV
        .decode(&p("/3"), &device_instance_bytes(), &models())
        .unwrap();
    assert_eq!(
        node,
        LwM2mNode::Object(LwM2mObject::new(3, [device_instance()]))
    );
}

/// §7.4.3: a single resource (Read /3/0/0 Manufacturer) and a multiple
/// resource (Read /3/0/6 Available Power Sources), and one resource instance.
#[test]
fn spec_7_4_3_single_and_multiple_resource() {
    let reg = models();
    let manufacturer = cat(&[&[0xC8, 0x00, 0x14], b"Open Mobile Alliance"]);
    golden(
        &reg,
        "/3/0/0",
        &LwM2mNode::Resource(string(0, "Open Mobile Alliance")),
        &manufacturer,
    );
    let sources = [0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05];
    golden(
        &reg,
        "/3/0/6",
        &LwM2mNode::Resource(int_multi(6, &[(0, 1), (1, 5)])),
        &sources,
    );
    let usb = LwM2mNode::ResourceInstance(LwM2mResourceInstance {
        id: 1,
        value: Value::Integer(5),
    });
    golden(&reg, "/3/0/6/1", &usb, &[0x41, 0x01, 0x05]);
}

/// §7.4.3, multiple object instance request: Read /2 (Access Control) with
/// instances 0 and 2; instance 2's ACL has a 16-bit resource instance id (310).
#[test]
fn spec_7_4_3_access_control_object() {
    let node = LwM2mNode::Object(LwM2mObject::new(
        2,
        [
            LwM2mObjectInstance::new(
                0,
                [int(0, 1), int(1, 0), int_multi(2, &[(127, 7)]), int(3, 127)],
            ),
            LwM2mObjectInstance::new(
                2,
                [
                    int(0, 3),
                    int(1, 0),
                    int_multi(2, &[(127, 7), (310, 1)]),
                    int(3, 127),
                ],
            ),
        ],
    ));
    #[rustfmt::skip]
    let bytes = [
        0x08, 0x00, 0x0E,
            0xC1, 0x00, 0x01,
            0xC1, 0x01, 0x00,
            0x83, 0x02, 0x41, 0x7F, 0x07,
            0xC1, 0x03, 0x7F,
        0x08, 0x02, 0x12,
            0xC1, 0x00, 0x03,
            0xC1, 0x01, 0x00,
            0x87, 0x02, 0x41, 0x7F, 0x07, 0x61, 0x01, 0x36, 0x01,
            0xC1, 0x03, 0x7F,
    ];
    golden(&models(), "/2", &node, &bytes);
}

/// §7.4.3, multiple object instance request: Read /1 (Server) with two
/// instances; Lifetime 86400 needs the 4-byte integer form.
#[test]
fn spec_7_4_3_server_object() {
    let node = LwM2mNode::Object(LwM2mObject::new(
        1,
        [
            LwM2mObjectInstance::new(
                0,
                [
                    int(0, 1),
                    int(1, 86400),
                    LwM2mResource::single(6, Value::Boolean(true)),
                    string(7, "U"),
                ],
            ),
            LwM2mObjectInstance::new(
                1,
                [
                    int(0, 2),
                    int(1, 86400),
                    LwM2mResource::single(6, Value::Boolean(false)),
                    string(7, "UQ"),
                ],
            ),
        ],
    ));
    #[rustfmt::skip]
    let bytes = [
        0x08, 0x00, 0x0F,
            0xC1, 0x00, 0x01,
            0xC4, 0x01, 0x00, 0x01, 0x51, 0x80,
            0xC1, 0x06, 0x01,
            0xC1, 0x07, 0x55,
        0x08, 0x01, 0x10,
            0xC1, 0x00, 0x02,
            0xC4, 0x01, 0x00, 0x01, 0x51, 0x80,
            0xC1, 0x06, 0x00,
            0xC2, 0x07, 0x55, 0x51,
    ];
    golden(&models(), "/1", &node, &bytes);
}

/// Object 66 of the §7.4.3 Objlnk example: two strings and an Objlnk.
fn object_66_models() -> ModelRegistry {
    let res = |id: u16, kind: ResourceType| ResourceModel {
        id,
        name: format!("res{id}"),
        operations: Operations::ReadWrite,
        multiple: false,
        mandatory: true,
        kind,
        range: None,
        units: None,
        description: String::new(),
    };
    let mut reg = ModelRegistry::new();
    reg.insert(ObjectModel {
        id: 66,
        name: "Test".into(),
        description: String::new(),
        version: Version { major: 1, minor: 0 },
        lwm2m_version: Version { major: 1, minor: 0 },
        multiple: true,
        mandatory: false,
        urn: None,
        resources: [
            res(0, ResourceType::String),
            res(1, ResourceType::String),
            res(2, ResourceType::ObjectLink),
        ]
        .into_iter()
        .map(|r| (r.id, r))
        .collect(),
    });
    reg
}

/// §7.4.3, request on an object containing an Objlnk resource: Read /66,
/// instance 0 links to 67:0, instance 1 holds the null link 65535:65535.
#[test]
fn spec_7_4_3_object_link_example() {
    let inst = |id: u16, name: &str, apn: &str, link: ObjectLink| {
        LwM2mObjectInstance::new(
            id,
            [
                string(0, name),
                string(1, apn),
                LwM2mResource::single(2, Value::ObjectLink(link)),
            ],
        )
    };
    let node = LwM2mNode::Object(LwM2mObject::new(
        66,
        [
            inst(
                0,
                "myService 1",
                "Internet.15.234",
                ObjectLink {
                    object: 67,
                    instance: 0,
                },
            ),
            inst(1, "myService 2", "Internet.15.235", ObjectLink::NULL),
        ],
    ));
    let bytes = cat(&[
        &[0x08, 0x00, 0x26],
        &[0xC8, 0x00, 0x0B],
        b"myService 1",
        &[0xC8, 0x01, 0x0F],
        b"Internet.15.234",
        &[0xC4, 0x02, 0x00, 0x43, 0x00, 0x00],
        &[0x08, 0x01, 0x26],
        &[0xC8, 0x00, 0x0B],
        b"myService 2",
        &[0xC8, 0x01, 0x0F],
        b"Internet.15.235",
        &[0xC4, 0x02, 0xFF, 0xFF, 0xFF, 0xFF],
    ]);
    golden(&object_66_models(), "/66", &node, &bytes);
}

#[test]
fn tolerated_wrappers() {
    let reg = models();
    // An instance wrapper at instance level, with the right id.
    let wrapped = [0x03, 0x00, 0xC1, 0x09, 0x64];
    let node = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(0, [int(9, 100)]));
    assert_eq!(TLV.decode(&p("/3/0"), &wrapped, &reg).unwrap(), node);
    assert!(
        TLV.decode(&p("/3/1"), &wrapped, &reg).is_err(),
        "wrong instance id"
    );
    // Bare resource instances at resource level of a multiple resource.
    let bare = [0x41, 0x00, 0x01, 0x41, 0x01, 0x05];
    let node = LwM2mNode::Resource(int_multi(6, &[(0, 1), (1, 5)]));
    assert_eq!(TLV.decode(&p("/3/0/6"), &bare, &reg).unwrap(), node);
}

#[test]
fn ids_must_match_the_path() {
    let reg = models();
    assert!(TLV.decode(&p("/3/0/9"), &[0xC1, 0x09, 0x64], &reg).is_ok());
    assert!(matches!(
        TLV.decode(&p("/3/0/10"), &[0xC1, 0x09, 0x64], &reg),
        Err(Error::Decode { .. })
    ));
    assert!(TLV
        .decode(&p("/3/0/6/0"), &[0x41, 0x01, 0x05], &reg)
        .is_err());
    assert!(TLV.decode(&p("/3/0/9"), &[], &reg).is_err());
    assert!(TLV.decode(&p("/"), &[], &reg).is_err());
    let node = LwM2mNode::Resource(int(9, 100));
    assert!(TLV.encode(&p("/3/0/10"), &node, &reg).is_err());
}

#[test]
fn unknown_resource_types_are_errors() {
    let reg = models();
    let err = TLV
        .decode(&p("/3/0"), &[0xC1, 0x63, 0x01], &reg)
        .unwrap_err();
    assert_eq!(
        err,
        Error::UnknownResourceType {
            path: "/3/0/99".into()
        }
    );
    let err = TLV
        .decode(&p("/4242"), &[0x03, 0x00, 0xC1, 0x00, 0x01], &reg)
        .unwrap_err();
    assert_eq!(
        err,
        Error::UnknownResourceType {
            path: "/4242/0/0".into()
        }
    );
    // An executable resource has no value to decode.
    assert!(matches!(
        TLV.decode(&p("/3/0"), &[0xC0, 0x04], &reg),
        Err(Error::Decode { .. })
    ));
}

#[test]
fn nesting_beyond_the_levels_is_refused() {
    let reg = models();
    let bad: [(&str, &[u8]); 6] = [
        // A multiple resource inside a multiple resource.
        ("/3/0", &[0x85, 0x06, 0x83, 0x00, 0x41, 0x00, 0x01]),
        // An object instance inside an object instance.
        ("/3", &[0x05, 0x00, 0x03, 0x00, 0xC1, 0x09, 0x64]),
        // A resource instance directly in an object instance.
        ("/3/0", &[0x41, 0x00, 0x01]),
        // Object instances mixed with bare resources.
        ("/3", &[0x03, 0x00, 0xC1, 0x09, 0x64, 0xC1, 0x09, 0x64]),
        // Duplicate resources and duplicate instances.
        ("/3/0", &[0xC1, 0x09, 0x64, 0xC1, 0x09, 0x64]),
        ("/3/0/6", &[0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x00, 0x05]),
    ];
    for (path, bytes) in bad {
        assert!(
            TLV.decode(&p(path), bytes, &reg).is_err(),
            "{path} {bytes:02x?}"
        );
    }
}

#[test]
fn malformed_values_name_the_path_and_offset() {
    let err = TLV
        .decode(
            &p("/3/0"),
            &[0xC1, 0x09, 0x64, 0xC3, 0x0A, 1, 2, 3],
            &models(),
        )
        .unwrap_err();
    let Error::Decode { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        reason.contains("/3/0/10") && reason.contains("byte 3"),
        "{reason}"
    );
    let err = TlvCodec::LEGACY
        .decode(&p("/3/0"), &[0xC5], &models())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                format: ContentFormat::LegacyTlv,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn executable_and_reserved_ids_cannot_be_encoded() {
    let reg = models();
    let node = LwM2mNode::Resource(LwM2mResource::single(4, Value::None));
    assert!(matches!(
        TLV.encode(&p("/3/0/4"), &node, &reg),
        Err(Error::Encode { .. })
    ));
    let mut inst = LwM2mObjectInstance::new(0, []);
    inst.resources.insert(65535, int(65535, 1));
    assert!(TLV
        .encode(&p("/3/0"), &LwM2mNode::ObjectInstance(inst), &reg)
        .is_err());
}

/// The paths the arbitrary-bytes tests decode at.
fn fuzz_paths() -> impl Strategy<Value = LwM2mPath> {
    prop::sample::select(vec![
        p("/3"),
        p("/3/0"),
        p("/3/0/6"),
        p("/3/0/6/0"),
        LwM2mPath::object(ALL_TYPES).unwrap(),
        LwM2mPath::object_instance(ALL_TYPES, 0).unwrap(),
        LwM2mPath::resource(ALL_TYPES, 0, 3).unwrap(),
        LwM2mPath::resource(ALL_TYPES, 0, 103).unwrap(),
        LwM2mPath::resource_instance(ALL_TYPES, 0, 105, 1).unwrap(),
    ])
}

/// A payload made of plausible TLV headers, so decoding gets past the
/// first byte more often than with uniform noise.
fn tlv_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = (0u8..4, 0u16..12, prop::collection::vec(any::<u8>(), 0..9)).prop_map(
        |(kind, id, value)| {
            let mut out = vec![(kind << 6) | value.len().min(7) as u8, id as u8];
            out.extend(value.iter().take(7));
            out
        },
    );
    prop::collection::vec(piece, 0..6).prop_map(|v| v.concat())
}

fn check_reencoding(path: &LwM2mPath, bytes: &[u8]) -> Result<(), TestCaseError> {
    let reg = models();
    if let Ok(node) = TLV.decode(path, bytes, &reg) {
        let once = TLV.encode(path, &node, &reg).unwrap();
        let again = TLV.decode(path, &once, &reg).unwrap();
        // Compare bytes: a NaN value is not equal to itself.
        prop_assert_eq!(TLV.encode(path, &again, &reg).unwrap(), once);
    }
    Ok(())
}

proptest! {
    #[test]
    fn object_round_trips(object in test_support::all_types_object()) {
        let reg = models();
        let path = LwM2mPath::object(ALL_TYPES).unwrap();
        let node = LwM2mNode::Object(object);
        let bytes = TLV.encode(&path, &node, &reg).unwrap();
        prop_assert_eq!(TLV.decode(&path, &bytes, &reg).unwrap(), node);
    }

    #[test]
    fn instance_round_trips(instance in test_support::instance(0u16..65535)) {
        let reg = models();
        let path = LwM2mPath::object_instance(ALL_TYPES, instance.id).unwrap();
        let node = LwM2mNode::ObjectInstance(instance);
        let bytes = TLV.encode(&path, &node, &reg).unwrap();
        prop_assert_eq!(TLV.decode(&path, &bytes, &reg).unwrap(), node);
    }

    #[test]
    fn resource_round_trips(resource in test_support::resource(), iid in 0u16..65535) {
        let reg = models();
        let path = LwM2mPath::resource(ALL_TYPES, iid, resource.id()).unwrap();
        let node = LwM2mNode::Resource(resource);
        let bytes = TLV.encode(&path, &node, &reg).unwrap();
        prop_assert_eq!(TLV.decode(&path, &bytes, &reg).unwrap(), node);
    }

    #[test]
    fn resource_instance_round_trips((n, value) in test_support::typed_value(false), riid in 0u16..65535) {
        let reg = models();
        let path = LwM2mPath::resource_instance(ALL_TYPES, 0, 100 + n as u16, riid).unwrap();
        let node = LwM2mNode::ResourceInstance(LwM2mResourceInstance { id: riid, value });
        let bytes = TLV.encode(&path, &node, &reg).unwrap();
        prop_assert_eq!(TLV.decode(&path, &bytes, &reg).unwrap(), node);
    }

    #[test]
    fn arbitrary_bytes_never_panic(path in fuzz_paths(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_reencoding(&path, &bytes)?;
    }

    #[test]
    fn tlv_like_bytes_reencode_canonically(path in fuzz_paths(), bytes in tlv_like_bytes()) {
        check_reencoding(&path, &bytes)?;
    }
}

/// The §7.4.3 vectors decode the same with the built-in core models as with
/// the local test models (skipped while the built-ins are not there).
#[test]
fn spec_7_4_3_vectors_with_builtin_core_models() {
    let core = ModelRegistry::with_core_objects();
    if core.is_empty() {
        return;
    }
    let local = models();
    let device = cat(&[&[0x08, 0x00, 0x79], &device_instance_bytes()]);
    #[rustfmt::skip]
    let acl = [
        0x08, 0x00, 0x0E, 0xC1, 0x00, 0x01, 0xC1, 0x01, 0x00, 0x83, 0x02, 0x41, 0x7F, 0x07, 0xC1, 0x03, 0x7F,
        0x08, 0x02, 0x12, 0xC1, 0x00, 0x03, 0xC1, 0x01, 0x00, 0x87, 0x02, 0x41, 0x7F, 0x07, 0x61, 0x01, 0x36,
        0x01, 0xC1, 0x03, 0x7F,
    ];
    #[rustfmt::skip]
    let server = [
        0x08, 0x00, 0x0F, 0xC1, 0x00, 0x01, 0xC4, 0x01, 0x00, 0x01, 0x51, 0x80, 0xC1, 0x06, 0x01, 0xC1, 0x07,
        0x55, 0x08, 0x01, 0x10, 0xC1, 0x00, 0x02, 0xC4, 0x01, 0x00, 0x01, 0x51, 0x80, 0xC1, 0x06, 0x00, 0xC2,
        0x07, 0x55, 0x51,
    ];
    for (path, bytes) in [("/3", &device[..]), ("/2", &acl[..]), ("/1", &server[..])] {
        let want = TLV.decode(&p(path), bytes, &local).unwrap();
        assert_eq!(TLV.decode(&p(path), bytes, &core).unwrap(), want, "{path}");
        assert_eq!(TLV.encode(&p(path), &want, &core).unwrap(), bytes, "{path}");
    }
}
