//! Property tests: generated nodes round-trip at every level (with and
//! without a model), composite data and request paths round-trip, arbitrary
//! and mutated bytes never panic, and encoding what was decoded is stable
//! (the invariant of `fuzz/fuzz_targets/codec_lwm2m_cbor.rs`).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{wire, LwM2mCborCodec};
use crate::codec::senml::proptests::without_model;
use crate::codec::senml::test_support::{models, node_at, path, TEST_OBJECTS};
use crate::codec::senml::{MultiNodeCodec, SenmlNumber, SenmlValue};
use crate::codec::{ContentFormat, NodeCodec};
use crate::model::{ModelLookup, ModelRegistry};
use crate::node::{
    LwM2mNode, LwM2mObject, LwM2mObjectInstance, LwM2mResource, ResourceType, Value,
};
use crate::path::LwM2mPath;

const C: LwM2mCborCodec = LwM2mCborCodec;

/// LwM2M CBOR carries an object link as plain text: without a model it is a String.
fn links_as_text(node: &LwM2mNode) -> LwM2mNode {
    let value = |v: &Value| match v {
        Value::ObjectLink(l) => Value::String(l.to_string()),
        other => other.clone(),
    };
    let resource = |r: &LwM2mResource| match r {
        LwM2mResource::Single { id, value: v } => LwM2mResource::single(*id, value(v)),
        LwM2mResource::Multiple {
            id,
            kind,
            instances,
        } => LwM2mResource::Multiple {
            id: *id,
            kind: if *kind == ResourceType::ObjectLink {
                ResourceType::String
            } else {
                *kind
            },
            instances: instances.iter().map(|(k, v)| (*k, value(v))).collect(),
        },
    };
    let instance = |i: &LwM2mObjectInstance| LwM2mObjectInstance {
        id: i.id,
        resources: i.resources.iter().map(|(k, r)| (*k, resource(r))).collect(),
    };
    match node {
        LwM2mNode::Object(o) => LwM2mNode::Object(LwM2mObject {
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

/// Leaves over the test models and paths that do not exist, with values of
/// every CBOR kind, written by the wire layer: well-formed LwM2M CBOR that
/// may or may not fit a model.
fn payloads() -> impl Strategy<Value = Vec<u8>> {
    let ids = prop_oneof![
        proptest::sample::select(vec![
            vec![1000, 0, 3],
            vec![1000, 0, 103, 1],
            vec![3, 0, 7, 0],
            vec![3, 0, 9]
        ]),
        proptest::collection::vec(
            proptest::sample::select(vec![0u16, 1, 3, 7, 9, 103, 1000, 1001]),
            1..=4
        ),
    ];
    let number = prop_oneof![
        any::<i64>().prop_map(|i| SenmlNumber::Integer(i128::from(i))),
        any::<u64>().prop_map(|u| SenmlNumber::Integer(i128::from(u))),
        any::<f64>().prop_map(SenmlNumber::Float),
        (-3i32..3).prop_map(|i| SenmlNumber::Float(f64::from(i))),
    ];
    let value = proptest::option::of(prop_oneof![
        number.prop_map(SenmlValue::Number),
        "\\PC{0,6}".prop_map(SenmlValue::String),
        "[0-9]{1,5}:[0-9]{1,5}".prop_map(SenmlValue::String),
        any::<bool>().prop_map(SenmlValue::Boolean),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(SenmlValue::Data),
    ]);
    proptest::collection::btree_map(ids, value, 0..6).prop_map(|leaves| {
        let leaves: Vec<_> = leaves
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref()))
            .collect();
        wire::write(&leaves).unwrap_or_default()
    })
}

fn decode_paths() -> Vec<LwM2mPath> {
    [
        "/1000",
        "/1000/0",
        "/3/0",
        "/3/0/7",
        "/1000/0/3",
        "/1000/0/103",
        "/1000/0/103/1",
    ]
    .iter()
    .map(|p| path(p))
    .collect()
}

/// decode → encode → decode → encode gives the same bytes twice, through
/// every entry point.
fn assert_stable(payload: &[u8], m: &dyn ModelLookup) {
    for at in decode_paths() {
        if let Ok(node) = C.decode(&at, payload, m) {
            let once = C.encode(&at, &node, m).unwrap();
            let again = C.decode(&at, &once, m).unwrap();
            assert_eq!(C.encode(&at, &again, m).unwrap(), once, "at {at}");
        }
    }
    if let Ok(nodes) = C.decode_nodes(payload, None, m) {
        let nodes: BTreeMap<LwM2mPath, LwM2mNode> = nodes
            .into_iter()
            .filter_map(|(p, n)| n.map(|n| (p, n)))
            .collect();
        let once = C.encode_nodes(&nodes, m).unwrap();
        let again: BTreeMap<LwM2mPath, LwM2mNode> = C
            .decode_nodes(&once, None, m)
            .unwrap()
            .into_iter()
            .filter_map(|(p, n)| n.map(|n| (p, n)))
            .collect();
        assert_eq!(C.encode_nodes(&again, m).unwrap(), once);
    }
    if let Ok(paths) = C.decode_paths(payload) {
        if let Ok(once) = C.encode_paths(&paths) {
            assert_eq!(C.decode_paths(&once).unwrap(), sorted(paths));
        }
    }
}

/// Paths as the encoder orders them: by ids, a path before those under it.
fn sorted(mut paths: Vec<LwM2mPath>) -> Vec<LwM2mPath> {
    paths.sort_by(|a, b| a.ids().cmp(b.ids()));
    paths.dedup();
    paths
}

proptest! {
    #[test]
    fn nodes_round_trip_with_model(
        (at, node) in proptest::sample::select(TEST_OBJECTS.to_vec()).prop_flat_map(|o| node_at(o, false))
    ) {
        let m = models();
        let bytes = C.encode(&at, &node, &m).unwrap();
        let back = C.decode(&at, &bytes, &m);
        prop_assert_eq!(back.as_ref(), Ok(&node), "{:02x?}", bytes);
        prop_assert_eq!(C.encode(&at, back.as_ref().unwrap(), &m).unwrap(), bytes);
    }

    #[test]
    fn nodes_round_trip_without_model((at, node) in node_at(1000, false)) {
        prop_assume!(!has_empty_multiple(&node));
        let none = ModelRegistry::new();
        let bytes = C.encode(&at, &node, &none).unwrap();
        let back = C.decode(&at, &bytes, &none).unwrap();
        prop_assert_eq!(back, without_model(&links_as_text(&node), ContentFormat::LwM2mCbor));
    }

    #[test]
    fn composite_round_trip(nodes in composite()) {
        let m = models();
        let keys: Vec<LwM2mPath> = nodes.keys().copied().collect();
        let want: BTreeMap<LwM2mPath, Option<LwM2mNode>> =
            nodes.iter().map(|(p, n)| (*p, Some(n.clone()))).collect();
        let bytes = C.encode_nodes(&nodes, &m).unwrap();
        prop_assert_eq!(C.decode_nodes(&bytes, Some(&keys), &m).unwrap(), want);
        let leaves = C.decode_nodes(&bytes, None, &m).unwrap();
        let expected: usize = nodes.iter().map(|(p, n)| n.leaves(p).len()).sum();
        prop_assert_eq!(leaves.len(), expected);
    }

    #[test]
    fn composite_paths_round_trip(paths in proptest::collection::vec(
        proptest::collection::vec(0u16..65535, 1..=4).prop_map(|ids| LwM2mPath::from_ids(&ids).unwrap()), 0..6)
    ) {
        let bytes = C.encode_paths(&paths).unwrap();
        prop_assert_eq!(C.decode_paths(&bytes).unwrap(), sorted(paths));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_stable(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        assert_stable(&payload, &models());
        assert_stable(&payload, &ModelRegistry::new());
    }

    #[test]
    fn generated_and_mutated_payloads_stay_stable(
        payload in payloads(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        let m = models();
        let core = ModelRegistry::with_core_objects();
        let mut payload = payload;
        for (index, byte) in &edits {
            if !payload.is_empty() {
                let i = index.index(payload.len());
                payload[i] = *byte;
            }
        }
        assert_stable(&payload, &m);
        assert_stable(&payload, &core);
        assert_stable(&payload, &ModelRegistry::new());
    }
}
