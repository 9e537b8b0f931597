//! Golden vectors for LwM2M CBOR (OMA LwM2M 1.2 Core TS §7.4, "LwM2M CBOR",
//! Content-Format 11544). The values are the specification's Device object
//! instance example (/3/0, the same values as its TLV and SenML examples);
//! every byte is written out by hand from RFC 8949 so the vectors do not
//! depend on the encoder under test.

use std::collections::BTreeMap;

use super::LwM2mCborCodec;
use crate::codec::senml::test_support::{device_instance, models, path};
use crate::codec::senml::MultiNodeCodec;
use crate::codec::{decode, ContentFormat, NodeCodec};
use crate::model::ModelRegistry;
use crate::node::{
    LwM2mNode, LwM2mObject, LwM2mResource, LwM2mResourceInstance, ObjectLink, ResourceType, Value,
};
use crate::path::LwM2mPath;

const C: LwM2mCborCodec = LwM2mCborCodec;

/// Text string header + bytes.
fn text(s: &str) -> Vec<u8> {
    let mut out = vec![0x60 | s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

/// The inner map of the Device instance, 13 entries, in id order:
/// `{0: "Open Mobile Alliance", 1: "Lightweight M2M Client", 2: "345000123",
/// 3: "1.0", 6: {0: 1, 1: 5}, 7: {0: 3800, 1: 5000}, 8: {0: 125, 1: 900},
/// 9: 100, 10: 15, [11, 0]: 0, 13: 1367491215, 14: "+02:00", 16: "U"}`.
/// Error Code (11) holds one instance, so its level is folded into the key.
fn device_resources(eleven: &[u8]) -> Vec<u8> {
    let mut b = vec![0xad];
    b.push(0x00);
    b.extend(text("Open Mobile Alliance"));
    b.push(0x01);
    b.extend(text("Lightweight M2M Client"));
    b.push(0x02);
    b.extend(text("345000123"));
    b.push(0x03);
    b.extend(text("1.0"));
    b.extend([0x06, 0xa2, 0x00, 0x01, 0x01, 0x05]);
    b.extend([0x07, 0xa2, 0x00, 0x19, 0x0e, 0xd8, 0x01, 0x19, 0x13, 0x88]);
    b.extend([0x08, 0xa2, 0x00, 0x18, 0x7d, 0x01, 0x19, 0x03, 0x84]);
    b.extend([0x09, 0x18, 0x64]);
    b.extend([0x0a, 0x0f]);
    b.extend(eleven);
    b.extend([0x0d, 0x1a, 0x51, 0x82, 0x42, 0x8f]);
    b.push(0x0e);
    b.extend(text("+02:00"));
    b.push(0x10);
    b.extend(text("U"));
    b
}

/// `{[3, 0]: {...}}`: the read of /3/0, the instance level folded into the key.
fn device_read() -> Vec<u8> {
    let mut b = vec![0xa1, 0x82, 0x03, 0x00];
    b.extend(device_resources(&[0x82, 0x0b, 0x00, 0x00]));
    b
}

fn check(at: &str, node: &LwM2mNode, bytes: &[u8]) {
    let m = models();
    let at = path(at);
    assert_eq!(C.encode(&at, node, &m).unwrap(), bytes, "encode {at}");
    assert_eq!(&C.decode(&at, bytes, &m).unwrap(), node, "decode {at}");
}

fn device_node() -> LwM2mNode {
    LwM2mNode::ObjectInstance(device_instance())
}

fn resource(node: &LwM2mNode, id: u16) -> LwM2mResource {
    let LwM2mNode::ObjectInstance(i) = node else {
        panic!("not an instance")
    };
    i.resources[&id].clone()
}

/// §7.4 LwM2M CBOR: "Read on Object Instance" /3/0 of the Device example.
#[test]
fn spec_device_instance_read() {
    check("/3/0", &device_node(), &device_read());
}

/// The same data at every other level: object, resource, resource instance.
#[test]
fn spec_device_at_every_level() {
    let LwM2mNode::ObjectInstance(instance) = device_node() else {
        unreachable!()
    };
    // Object /3 with its one instance: the same bytes, the chain 3 → 0 folded.
    check(
        "/3",
        &LwM2mNode::Object(LwM2mObject::new(3, [instance])),
        &device_read(),
    );
    // Single resource /3/0/9: {[3, 0, 9]: 100}
    check(
        "/3/0/9",
        &LwM2mNode::Resource(resource(&device_node(), 9)),
        &[0xa1, 0x83, 0x03, 0x00, 0x09, 0x18, 0x64],
    );
    // Multiple resource /3/0/7: {[3, 0, 7]: {0: 3800, 1: 5000}}
    check(
        "/3/0/7",
        &LwM2mNode::Resource(resource(&device_node(), 7)),
        &[
            0xa1, 0x83, 0x03, 0x00, 0x07, 0xa2, 0x00, 0x19, 0x0e, 0xd8, 0x01, 0x19, 0x13, 0x88,
        ],
    );
    // Resource instance /3/0/7/1: {[3, 0, 7, 1]: 5000}
    check(
        "/3/0/7/1",
        &LwM2mNode::ResourceInstance(LwM2mResourceInstance {
            id: 1,
            value: Value::Integer(5000),
        }),
        &[0xa1, 0x84, 0x03, 0x00, 0x07, 0x01, 0x19, 0x13, 0x88],
    );
    // Time /3/0/13: {[3, 0, 13]: 1367491215}
    check(
        "/3/0/13",
        &LwM2mNode::Resource(resource(&device_node(), 13)),
        &[0xa1, 0x83, 0x03, 0x00, 0x0d, 0x1a, 0x51, 0x82, 0x42, 0x8f],
    );
}

/// Other encoders write the same data fully nested, with indefinite lengths,
/// or with other foldings of the path; all of them decode to the same node.
#[test]
fn every_key_folding_and_length_form_decodes() {
    let m = models();
    let at = path("/3/0");
    // {3: {0: {..., 11: {0: 0}, ...}}}
    let mut nested = vec![0xa1, 0x03, 0xa1, 0x00];
    nested.extend(device_resources(&[0x0b, 0xa1, 0x00, 0x00]));
    assert_eq!(C.decode(&at, &nested, &m).unwrap(), device_node());
    // {_ [_ 3, 0]: {_ ...}} with the resource map made indefinite.
    let mut indefinite = vec![0xbf, 0x9f, 0x03, 0x00, 0xff, 0xbf];
    indefinite.extend(&device_resources(&[0x82, 0x0b, 0x00, 0x00])[1..]);
    indefinite.extend([0xff, 0xff]);
    assert_eq!(C.decode(&at, &indefinite, &m).unwrap(), device_node());
    // One entry per leaf: {[3, 0, 9]: 100, [3, 0, 7, 0]: 3800, [3]: {[0, 7, 1]: 5000}}
    let flat = [
        0xa3, 0x83, 0x03, 0x00, 0x09, 0x18, 0x64, 0x84, 0x03, 0x00, 0x07, 0x00, 0x19, 0x0e, 0xd8,
        0x81, 0x03, 0xa1, 0x83, 0x00, 0x07, 0x01, 0x19, 0x13, 0x88,
    ];
    let got = C.decode(&at, &flat, &m).unwrap();
    assert_eq!(resource(&got, 9), resource(&device_node(), 9));
    assert_eq!(resource(&got, 7), resource(&device_node(), 7));
    // Through the content-format dispatch as a device's answer arrives.
    assert_eq!(
        decode(11544, &at, &device_read(), &m).unwrap(),
        device_node()
    );
    assert_eq!(
        ContentFormat::from_code(11544),
        Some(ContentFormat::LwM2mCbor)
    );
}

/// Leaves typed by the model: every LwM2M type of test object 1000.
#[test]
fn every_type_by_the_model() {
    let node = LwM2mNode::ObjectInstance(crate::node::LwM2mObjectInstance::new(
        0,
        [
            LwM2mResource::single(0, Value::String("a".into())),
            LwM2mResource::single(1, Value::Integer(-1000)),
            LwM2mResource::single(2, Value::UnsignedInteger(u64::MAX)),
            LwM2mResource::single(3, Value::Float(1.5)),
            LwM2mResource::single(4, Value::Boolean(true)),
            LwM2mResource::single(5, Value::Opaque(vec![1, 2])),
            LwM2mResource::single(6, Value::Time(-1)),
            LwM2mResource::single(
                7,
                Value::ObjectLink(ObjectLink {
                    object: 3,
                    instance: 0,
                }),
            ),
            LwM2mResource::single(8, Value::CoreLink("</3>".into())),
        ],
    ));
    let bytes = [
        0xa1, 0x82, 0x19, 0x03, 0xe8, 0x00, // {[1000, 0]:
        0xa9, // {9 entries
        0x00, 0x61, b'a', // 0: "a"
        0x01, 0x39, 0x03, 0xe7, // 1: -1000
        0x02, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // 2: 2^64-1
        0x03, 0xf9, 0x3e, 0x00, // 3: 1.5 (half precision)
        0x04, 0xf5, // 4: true
        0x05, 0x42, 0x01, 0x02, // 5: h'0102'
        0x06, 0x20, // 6: -1
        0x07, 0x63, b'3', b':', b'0', // 7: "3:0"
        0x08, 0x64, b'<', b'/', b'3', b'>', // 8: "</3>"
    ];
    check("/1000/0", &node, &bytes);
    // Tolerated on input: tag 1 on a Time, an integer for a Float, chunked text.
    let m = models();
    let dec = |at: &str, b: &[u8]| C.decode(&path(at), b, &m);
    assert_eq!(
        dec(
            "/1000/0/6",
            &[0xa1, 0x83, 0x19, 0x03, 0xe8, 0x00, 0x06, 0xc1, 0x00]
        )
        .unwrap(),
        LwM2mNode::Resource(LwM2mResource::single(6, Value::Time(0)))
    );
    assert_eq!(
        dec(
            "/1000/0/3",
            &[0xa1, 0x83, 0x19, 0x03, 0xe8, 0x00, 0x03, 0x02]
        )
        .unwrap(),
        LwM2mNode::Resource(LwM2mResource::single(3, Value::Float(2.0)))
    );
    assert_eq!(
        dec(
            "/1000/0/0",
            &[0xa1, 0x83, 0x19, 0x03, 0xe8, 0x00, 0x00, 0x7f, 0x61, b'a', 0x61, b'b', 0xff]
        )
        .unwrap(),
        LwM2mNode::Resource(LwM2mResource::single(0, Value::String("ab".into())))
    );
    // The model wins: text for an Integer is an error naming the path.
    let err = dec("/3/0/9", &[0xa1, 0x83, 0x03, 0x00, 0x09, 0x61, b'1']).unwrap_err();
    assert!(err.to_string().contains("/3/0/9"), "{err}");
}

/// Without a model the CBOR item decides: integers, text, bytes.
#[test]
fn without_a_model_the_item_decides() {
    let none = ModelRegistry::new();
    // {[4242, 0]: {1: 7, 2: "x", 3: h'00', 4: {0: 1, 1: 2}}}
    let bytes = [
        0xa1, 0x82, 0x19, 0x10, 0x92, 0x00, 0xa4, 0x01, 0x07, 0x02, 0x61, b'x', 0x03, 0x41, 0x00,
        0x04, 0xa2, 0x00, 0x01, 0x01, 0x02,
    ];
    let node = C.decode(&path("/4242/0"), &bytes, &none).unwrap();
    assert_eq!(
        resource(&node, 1),
        LwM2mResource::single(1, Value::Integer(7))
    );
    assert_eq!(
        resource(&node, 2),
        LwM2mResource::single(2, Value::String("x".into()))
    );
    assert_eq!(
        resource(&node, 3),
        LwM2mResource::single(3, Value::Opaque(vec![0]))
    );
    assert_eq!(
        resource(&node, 4),
        LwM2mResource::multiple(
            4,
            ResourceType::Integer,
            [(0, Value::Integer(1)), (1, Value::Integer(2))]
        )
        .unwrap()
    );
}

/// Composite operations: several root paths in one payload.
#[test]
fn composite_read_and_request_paths() {
    let m = models();
    // Read-Composite request for /1000/0 and /3/0/9, written in id order:
    // {[3, 0, 9]: null, [1000, 0]: null}
    let request = [
        0xa2, 0x83, 0x03, 0x00, 0x09, 0xf6, 0x82, 0x19, 0x03, 0xe8, 0x00, 0xf6,
    ];
    let paths = [path("/1000/0"), path("/3/0/9")];
    assert_eq!(C.encode_paths(&paths).unwrap(), request);
    assert_eq!(
        C.decode_paths(&request).unwrap(),
        vec![path("/3/0/9"), path("/1000/0")]
    );
    // Nested request paths keep both: {3: null, [3, 0, 9]: null}
    let nested = [0xa2, 0x03, 0xf6, 0x83, 0x03, 0x00, 0x09, 0xf6];
    assert_eq!(
        C.encode_paths(&[path("/3"), path("/3/0/9")]).unwrap(),
        nested
    );
    assert_eq!(
        C.decode_paths(&nested).unwrap(),
        vec![path("/3"), path("/3/0/9")]
    );

    // Read-Composite response: {[3, 0, 9]: 100, [1000, 0, 4]: true}
    let response = [
        0xa2, 0x83, 0x03, 0x00, 0x09, 0x18, 0x64, 0x83, 0x19, 0x03, 0xe8, 0x00, 0x04, 0xf5,
    ];
    let mut nodes = BTreeMap::new();
    nodes.insert(
        path("/3/0/9"),
        LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(100))),
    );
    nodes.insert(
        path("/1000/0/4"),
        LwM2mNode::Resource(LwM2mResource::single(4, Value::Boolean(true))),
    );
    assert_eq!(C.encode_nodes(&nodes, &m).unwrap(), response);
    let requested = [path("/3/0/9"), path("/1000/0"), path("/1001")];
    let back = C.decode_nodes(&response, Some(&requested), &m).unwrap();
    assert_eq!(back[&path("/3/0/9")], nodes.get(&path("/3/0/9")).cloned());
    assert_eq!(
        back[&path("/1000/0")],
        Some(LwM2mNode::ObjectInstance(
            crate::node::LwM2mObjectInstance::new(
                0,
                [LwM2mResource::single(4, Value::Boolean(true))]
            )
        ))
    );
    assert_eq!(back[&path("/1001")], None);
}

#[test]
fn timestamped_data_is_refused_not_dropped() {
    let mut nodes = BTreeMap::new();
    nodes.insert(
        path("/3/0/9"),
        LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(1))),
    );
    let timed = [crate::codec::TimestampedNodes {
        time: Some(1.0),
        nodes: nodes.clone(),
    }];
    assert!(C.encode_timestamped(&timed).is_err());
    let untimed = [crate::codec::TimestampedNodes { time: None, nodes }];
    assert_eq!(
        C.encode_timestamped(&untimed).unwrap(),
        [0xa1, 0x83, 0x03, 0x00, 0x09, 0x01]
    );
}

#[test]
fn malformed_payloads_are_refused() {
    let m = models();
    let at = path("/3/0");
    let bad: [(&[u8], &str); 15] = [
        (&[0x00], "not a map"),
        (&[0x84, 0x01, 0x02, 0x03, 0x04], "an array"),
        (
            &[
                0xa1, 0x82, 0x03, 0x00, 0xa1, 0x1a, 0x00, 0x01, 0x00, 0x00, 0x05,
            ],
            "id 65536",
        ),
        (
            &[0xa1, 0x83, 0x03, 0x00, 0x19, 0xff, 0xff, 0x05],
            "reserved id 65535",
        ),
        (
            &[0xa1, 0x85, 0x03, 0x00, 0x03, 0x04, 0x05, 0x05],
            "five ids",
        ),
        (
            &[
                0xa1, 0x03, 0xa1, 0x00, 0xa1, 0x01, 0xa1, 0x02, 0xa1, 0x03, 0x04,
            ],
            "nested too deep",
        ),
        (&[0xa1, 0x03, 0xa1, 0x80, 0x00], "an empty path array"),
        (&[0xa1, 0x03, 0xa1, 0x61, b'0', 0x00], "a text key"),
        (
            &[0xa1, 0x82, 0x03, 0x00, 0x81, 0xa1, 0x01, 0x02],
            "an array value",
        ),
        (
            &[0xa1, 0x83, 0x03, 0x00, 0x09, 0x18, 0x64, 0x00],
            "trailing bytes",
        ),
        (&[0xa1, 0x83, 0x01, 0x00, 0x01, 0x05], "a path outside /3/0"),
        (&[0xa1, 0x83, 0x03, 0x00, 0x09, 0xf7], "undefined"),
        (
            &[0xa1, 0x83, 0x03, 0x00, 0x09, 0xc4, 0x82, 0x20, 0x18, 0x2d],
            "tag 4 decimal fraction",
        ),
        (&[0xa1, 0x82, 0x03, 0x00], "truncated"),
        (
            &[0xbf, 0x82, 0x03, 0x00, 0xa0],
            "indefinite map without break",
        ),
    ];
    for (bytes, why) in bad {
        assert!(C.decode(&at, bytes, &m).is_err(), "{why}: {bytes:02x?}");
    }
    // A value at the object level carries no resource.
    assert!(C.decode(&path("/3"), &[0xa1, 0x03, 0x05], &m).is_err());
    // Two values for one path.
    assert!(C
        .decode(
            &path("/3/0/9"),
            &[0xa2, 0x83, 0x03, 0x00, 0x09, 0x01, 0x83, 0x03, 0x00, 0x09, 0x02],
            &m
        )
        .is_err());
}

#[test]
fn the_request_path_is_absolute_whatever_the_level() {
    // A Read of /3/0/9 answered with {9: 100} (a path relative to the
    // request) is not LwM2M CBOR: keys start at the object.
    let m = models();
    assert!(C
        .decode(&path("/3/0/9"), &[0xa1, 0x09, 0x18, 0x64], &m)
        .is_err());
    let at: LwM2mPath = "/3_1.1/0/9".parse().unwrap();
    let node = LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(100)));
    assert_eq!(
        C.encode(&at, &node, &m).unwrap(),
        [0xa1, 0x83, 0x03, 0x00, 0x09, 0x18, 0x64],
        "the object version is not on the wire"
    );
}
