//! Property tests over the three formats: generated nodes round-trip at every
//! level (with and without a model), composite and timestamped data
//! round-trip, arbitrary bytes never panic, and encoding what was decoded is
//! stable (what the fuzz target asserts).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::test_support::{leaf_nodes, models, node_at, path, TEST_OBJECTS};
use super::values::base64_standard;
use super::{MultiNodeCodec, SenmlNumber, SenmlRecord, SenmlValue};
use crate::codec::oma_json::OmaJsonCodec;
use crate::codec::senml_cbor::SenmlCborCodec;
use crate::codec::senml_json::SenmlJsonCodec;
use crate::codec::{ContentFormat, NodeCodec, TimestampedNodes};
use crate::model::{ModelLookup, ModelRegistry};
use crate::node::{LwM2mNode, LwM2mResource, ResourceType, Value};
use crate::path::LwM2mPath;

const NODE_CODECS: [&dyn NodeCodec; 3] = [&SenmlJsonCodec, &SenmlCborCodec, &OmaJsonCodec::CURRENT];
const MULTI_CODECS: [&dyn MultiNodeCodec; 2] = [&SenmlJsonCodec, &SenmlCborCodec];

/// What a node decodes to without a model: types inferred from the value's
/// form (see the module documentation of `senml`).
pub(crate) fn without_model(node: &LwM2mNode, format: ContentFormat) -> LwM2mNode {
    let value = |v: &Value| match v {
        Value::Time(t) => Value::Integer(*t),
        Value::CoreLink(s) => Value::String(s.clone()),
        Value::UnsignedInteger(u) => {
            i64::try_from(*u).map_or(Value::UnsignedInteger(*u), Value::Integer)
        }
        Value::Opaque(d) if format == ContentFormat::OmaJson => Value::String(base64_standard(d)),
        other => other.clone(),
    };
    let resource = |r: &LwM2mResource| match r {
        LwM2mResource::Single { id, value: v } => LwM2mResource::Single {
            id: *id,
            value: value(v),
        },
        LwM2mResource::Multiple { id, instances, .. } => {
            let instances: BTreeMap<u16, Value> =
                instances.iter().map(|(k, v)| (*k, value(v))).collect();
            let unsigned = instances
                .values()
                .any(|v| matches!(v, Value::UnsignedInteger(_)));
            let instances: BTreeMap<u16, Value> = instances
                .into_iter()
                .map(|(k, v)| match v {
                    Value::Integer(i) if unsigned => (k, Value::UnsignedInteger(i as u64)),
                    other => (k, other),
                })
                .collect();
            let kind = instances
                .values()
                .next()
                .map_or(ResourceType::None, Value::resource_type);
            LwM2mResource::Multiple {
                id: *id,
                kind,
                instances,
            }
        }
    };
    let instance = |i: &crate::node::LwM2mObjectInstance| crate::node::LwM2mObjectInstance {
        id: i.id,
        resources: i.resources.iter().map(|(k, r)| (*k, resource(r))).collect(),
    };
    match node {
        LwM2mNode::Object(o) => LwM2mNode::Object(crate::node::LwM2mObject {
            id: o.id,
            instances: o.instances.iter().map(|(k, i)| (*k, instance(i))).collect(),
        }),
        LwM2mNode::ObjectInstance(i) => LwM2mNode::ObjectInstance(instance(i)),
        LwM2mNode::Resource(r) => LwM2mNode::Resource(resource(r)),
        LwM2mNode::ResourceInstance(ri) => {
            LwM2mNode::ResourceInstance(crate::node::LwM2mResourceInstance {
                id: ri.id,
                value: value(&ri.value),
            })
        }
    }
}

fn has_empty_multiple(node: &LwM2mNode) -> bool {
    matches!(node, LwM2mNode::Resource(LwM2mResource::Multiple { instances, .. }) if instances.is_empty())
}

fn composite() -> impl Strategy<Value = BTreeMap<LwM2mPath, LwM2mNode>> {
    proptest::sample::subsequence(TEST_OBJECTS.to_vec(), 1..=4)
        .prop_flat_map(|objects| {
            objects
                .into_iter()
                .map(|o| node_at(o, true))
                .collect::<Vec<_>>()
        })
        .prop_map(|nodes| nodes.into_iter().collect())
}

fn timestamped() -> impl Strategy<Value = Vec<TimestampedNodes>> {
    proptest::collection::btree_map(
        proptest::option::of((any::<i32>(), any::<u8>())),
        leaf_nodes(),
        1..4,
    )
    .prop_map(|groups| {
        groups
            .into_iter()
            .map(|(t, nodes)| TimestampedNodes {
                time: t.map(|(i, frac)| f64::from(i) + f64::from(frac) / 256.0),
                nodes,
            })
            .collect()
    })
}

/// Records over names of the test models, with values of every kind.
fn records() -> impl Strategy<Value = Vec<SenmlRecord>> {
    let bn = proptest::option::of(proptest::sample::select(vec![
        "/1000/0/",
        "/3/0/",
        "/1000/",
        "/",
        "/1001/1/103/",
    ]));
    let n = proptest::option::of(proptest::sample::select(vec![
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "101", "103/0", "103/1", "0/1", "1/3",
        "7/0", "13", "1",
    ]));
    let time = proptest::option::of(prop_oneof![
        (-100i32..100).prop_map(f64::from),
        any::<f64>()
    ]);
    let number = prop_oneof![
        any::<i64>().prop_map(|i| SenmlNumber::Integer(i128::from(i))),
        any::<u64>().prop_map(|u| SenmlNumber::Integer(i128::from(u))),
        (-5i128..5).prop_map(SenmlNumber::Integer),
        any::<f64>().prop_map(SenmlNumber::Float),
        (-5i32..5).prop_map(|i| SenmlNumber::Float(f64::from(i))),
    ];
    let value = proptest::option::of(prop_oneof![
        number.prop_map(SenmlValue::Number),
        "\\PC{0,6}".prop_map(SenmlValue::String),
        "[A-Za-z0-9+/]{0,8}={0,2}".prop_map(SenmlValue::String),
        any::<bool>().prop_map(SenmlValue::Boolean),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(SenmlValue::Data),
        "[0-9]{1,5}:[0-9]{1,5}".prop_map(SenmlValue::ObjectLink),
    ]);
    let record = (bn, time.clone(), n, time, value).prop_map(|(bn, bt, n, t, value)| SenmlRecord {
        base_name: bn.map(str::to_owned),
        base_time: bt.filter(|t| t.is_finite()),
        name: n.map(str::to_owned),
        time: t.filter(|t| t.is_finite()),
        value,
    });
    proptest::collection::vec(record, 0..8)
}

fn decode_paths() -> Vec<LwM2mPath> {
    [
        "/1000",
        "/1000/0",
        "/3/0",
        "/1000/0/3",
        "/1000/0/103",
        "/1000/0/103/1",
        "/1001/1/103",
    ]
    .iter()
    .map(|p| path(p))
    .collect()
}

/// encode(decode(x)) is a fixed point: decoding it again and encoding gives
/// the same bytes.
fn assert_node_stable(codec: &dyn NodeCodec, at: &LwM2mPath, payload: &[u8], m: &dyn ModelLookup) {
    if let Ok(node) = codec.decode(at, payload, m) {
        let once = codec.encode(at, &node, m);
        let Ok(once) = once else { return }; // e.g. NaN has no JSON form
        let again = codec
            .decode(at, &once, m)
            .unwrap_or_else(|e| panic!("{}: re-decode failed: {e}", codec.format()));
        let twice = codec.encode(at, &again, m).unwrap();
        assert_eq!(once, twice, "{} at {at}", codec.format());
    }
}

fn assert_multi_stable(codec: &dyn MultiNodeCodec, payload: &[u8], m: &dyn ModelLookup) {
    let format = codec.content_format();
    if let Ok(nodes) = codec.decode_nodes(payload, None, m) {
        let nodes: BTreeMap<LwM2mPath, LwM2mNode> = nodes
            .into_iter()
            .filter_map(|(p, n)| n.map(|n| (p, n)))
            .collect();
        if let Ok(once) = codec.encode_nodes(&nodes, m) {
            let again = codec
                .decode_nodes(&once, None, m)
                .unwrap_or_else(|e| panic!("{format}: {e}"));
            let again: BTreeMap<LwM2mPath, LwM2mNode> = again
                .into_iter()
                .filter_map(|(p, n)| n.map(|n| (p, n)))
                .collect();
            assert_eq!(
                codec.encode_nodes(&again, m).unwrap(),
                once,
                "{format} composite"
            );
        }
    }
    let requested = [path("/1000/0"), path("/3/0/13"), path("/1001/1/103")];
    if let Ok(nodes) = codec.decode_nodes(payload, Some(&requested), m) {
        let nodes: BTreeMap<LwM2mPath, LwM2mNode> = nodes
            .into_iter()
            .filter_map(|(p, n)| n.map(|n| (p, n)))
            .collect();
        if let Ok(once) = codec.encode_nodes(&nodes, m) {
            let again = codec
                .decode_nodes(&once, Some(&requested), m)
                .unwrap_or_else(|e| panic!("{format}: {e}"));
            let again: BTreeMap<LwM2mPath, LwM2mNode> = again
                .into_iter()
                .filter_map(|(p, n)| n.map(|n| (p, n)))
                .collect();
            assert_eq!(
                codec.encode_nodes(&again, m).unwrap(),
                once,
                "{format} requested composite"
            );
        }
    }
    if let Ok(groups) = codec.decode_timestamped(payload, m) {
        if let Ok(once) = codec.encode_timestamped(&groups) {
            let again = codec
                .decode_timestamped(&once, m)
                .unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!(again, groups, "{format} timestamped");
            assert_eq!(
                codec.encode_timestamped(&again).unwrap(),
                once,
                "{format} timestamped"
            );
        }
    }
    if let Ok(paths) = codec.decode_paths(payload) {
        let once = codec.encode_paths(&paths).unwrap();
        assert_eq!(codec.decode_paths(&once).unwrap(), paths);
    }
}

fn oma_payload(records: &[SenmlRecord]) -> Vec<u8> {
    let bn = records
        .first()
        .and_then(|r| r.base_name.clone())
        .unwrap_or_default();
    let records: Vec<SenmlRecord> = records
        .iter()
        .map(|r| SenmlRecord {
            base_name: None,
            base_time: None,
            ..r.clone()
        })
        .collect();
    OmaJsonCodec::CURRENT
        .write(&bn, &records)
        .unwrap_or_default()
}

/// Never panics, whatever the API.
fn decode_everything(payload: &[u8], m: &dyn ModelLookup) {
    for codec in NODE_CODECS {
        for at in decode_paths() {
            let _ = codec.decode(&at, payload, m);
        }
    }
    for codec in MULTI_CODECS {
        let _ = codec.decode_nodes(payload, None, m);
        let _ = codec.decode_nodes(payload, Some(&decode_paths()), m);
        let _ = codec.decode_paths(payload);
        let _ = codec.decode_timestamped(payload, m);
    }
    let _ = OmaJsonCodec::CURRENT.decode_timestamped(payload, m);
}

proptest! {
    #[test]
    fn nodes_round_trip_with_model(
        (at, node) in proptest::sample::select(TEST_OBJECTS.to_vec()).prop_flat_map(|o| node_at(o, false))
    ) {
        let m = models();
        for codec in NODE_CODECS {
            let bytes = codec.encode(&at, &node, &m).unwrap();
            let back = codec.decode(&at, &bytes, &m);
            prop_assert_eq!(back.as_ref(), Ok(&node), "{} {}", codec.format(), String::from_utf8_lossy(&bytes));
            // Encoding is deterministic and stable.
            prop_assert_eq!(codec.encode(&at, back.as_ref().unwrap(), &m).unwrap(), bytes);
        }
    }

    #[test]
    fn nodes_round_trip_without_model((at, node) in node_at(1000, false)) {
        prop_assume!(!has_empty_multiple(&node));
        let none = ModelRegistry::new();
        for codec in NODE_CODECS {
            let bytes = codec.encode(&at, &node, &none).unwrap();
            let back = codec.decode(&at, &bytes, &none).unwrap();
            prop_assert_eq!(back, without_model(&node, codec.format()), "{}", codec.format());
        }
    }

    #[test]
    fn composite_round_trip(nodes in composite()) {
        let m = models();
        let keys: Vec<LwM2mPath> = nodes.keys().copied().collect();
        let want: BTreeMap<LwM2mPath, Option<LwM2mNode>> =
            nodes.iter().map(|(p, n)| (*p, Some(n.clone()))).collect();
        for codec in MULTI_CODECS {
            let bytes = codec.encode_nodes(&nodes, &m).unwrap();
            prop_assert_eq!(codec.decode_nodes(&bytes, Some(&keys), &m).unwrap(), want.clone());
            // The same payload read leaf by leaf holds every leaf.
            let leaves = codec.decode_nodes(&bytes, None, &m).unwrap();
            let expected: usize = nodes.iter().map(|(p, n)| n.leaves(p).len()).sum();
            prop_assert_eq!(leaves.len(), expected);
        }
    }

    #[test]
    fn composite_paths_round_trip(paths in proptest::collection::vec(
        proptest::collection::vec(0u16..65535, 0..=4).prop_map(|ids| LwM2mPath::from_ids(&ids).unwrap()), 0..6)
    ) {
        for codec in MULTI_CODECS {
            let bytes = codec.encode_paths(&paths).unwrap();
            prop_assert_eq!(codec.decode_paths(&bytes).unwrap(), paths.clone());
        }
    }

    #[test]
    fn timestamped_round_trip(data in timestamped()) {
        let m = models();
        for codec in MULTI_CODECS {
            let bytes = codec.encode_timestamped(&data).unwrap();
            prop_assert_eq!(codec.decode_timestamped(&bytes, &m).unwrap(), data.clone(), "{}", codec.content_format());
        }
        let bytes = OmaJsonCodec::CURRENT.encode_timestamped(&data).unwrap();
        prop_assert_eq!(OmaJsonCodec::CURRENT.decode_timestamped(&bytes, &m).unwrap(), data);
    }

    #[test]
    fn arbitrary_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_everything(&payload, &models());
    }

    #[test]
    fn json_like_text_never_panics(payload in "[\\[\\]{}\",:0-9a-z/ .\\-+_]{0,80}") {
        decode_everything(payload.as_bytes(), &models());
    }

    #[test]
    fn mutated_payloads_never_panic(
        records in records(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let m = models();
        for mut payload in [
            SenmlJsonCodec.write_records(&records).unwrap_or_default(),
            SenmlCborCodec.write_records(&records).unwrap_or_default(),
            oma_payload(&records),
        ] {
            for (index, byte) in &edits {
                if !payload.is_empty() {
                    let i = index.index(payload.len());
                    payload[i] = *byte;
                }
            }
            decode_everything(&payload, &m);
        }
    }

    #[test]
    fn reencoding_what_was_decoded_is_stable(records in records()) {
        let none = ModelRegistry::new();
        let m = models();
        let models: [&dyn ModelLookup; 2] = [&m, &none];
        for models in models {
            let json = SenmlJsonCodec.write_records(&records);
            let cbor = SenmlCborCodec.write_records(&records).unwrap();
            let oma = oma_payload(&records);
            for at in decode_paths() {
                if let Ok(json) = &json {
                    assert_node_stable(&SenmlJsonCodec, &at, json, models);
                }
                assert_node_stable(&SenmlCborCodec, &at, &cbor, models);
                assert_node_stable(&OmaJsonCodec::CURRENT, &at, &oma, models);
            }
            if let Ok(json) = &json {
                assert_multi_stable(&SenmlJsonCodec, json, models);
            }
            assert_multi_stable(&SenmlCborCodec, &cbor, models);
            if let Ok(groups) = OmaJsonCodec::CURRENT.decode_timestamped(&oma, models) {
                if let Ok(once) = OmaJsonCodec::CURRENT.encode_timestamped(&groups) {
                    let again = OmaJsonCodec::CURRENT.decode_timestamped(&once, models).unwrap();
                    prop_assert_eq!(OmaJsonCodec::CURRENT.encode_timestamped(&again).unwrap(), once);
                }
            }
        }
    }

    /// The invariant of the fuzz targets (`fuzz/fuzz_targets/common.rs`), on
    /// structured input and the built-in core models.
    #[test]
    fn fuzz_invariant_with_core_models(records in records(), at in proptest::sample::select(vec![
        "/3", "/3/0", "/3/0/0", "/3/0/9", "/3/0/7", "/3/0/7/1", "/3/0/13", "/3/0/6", "/1/0/1", "/1/0/6", "/1/0/7",
        "/6/0/0", "/6/0/5", "/5/0/0", "/5/0/1", "/2/0/2", "/1", "/1/0", "/19/0/0", "/4/0/4/0", "/3/0/11/0",
    ])) {
        let core = ModelRegistry::with_core_objects();
        let at = path(at);
        let payloads = [
            SenmlJsonCodec.write_records(&records).unwrap_or_default(),
            SenmlCborCodec.write_records(&records).unwrap_or_default(),
            oma_payload(&records),
        ];
        for (codec, payload) in NODE_CODECS.iter().zip(payloads) {
            if let Ok(node) = codec.decode(&at, &payload, &core) {
                let bytes = codec.encode(&at, &node, &core).unwrap();
                let again = codec.decode(&at, &bytes, &core).unwrap();
                prop_assert_eq!(codec.encode(&at, &again, &core).unwrap(), bytes);
            }
        }
    }

    /// Records survive the syntax layer exactly (CBOR keeps every value; JSON
    /// every finite one).
    #[test]
    fn records_round_trip_through_both_syntaxes(records in records()) {
        let cbor = SenmlCborCodec.write_records(&records).unwrap();
        let back = SenmlCborCodec.parse_records(&cbor).unwrap();
        prop_assert_eq!(SenmlCborCodec.write_records(&back).unwrap(), cbor);
        if let Ok(json) = SenmlJsonCodec.write_records(&records) {
            let back = SenmlJsonCodec.parse_records(&json).unwrap();
            prop_assert_eq!(SenmlJsonCodec.write_records(&back).unwrap(), json);
        }
    }
}
