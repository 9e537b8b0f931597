//! Test models and generators shared by the SenML, SenML CBOR and OMA JSON
//! tests. The built-in core models may not exist yet, so the Device object
//! (LwM2M 1.1.1 Appendix E.4) is written out here with the resources the
//! specification's examples use, next to test objects 1000..=1003 that hold
//! one single and one multiple resource of every data type.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::model::{ModelRegistry, ObjectModel, Operations, ResourceModel};
use crate::node::{
    LwM2mNode, LwM2mObject, LwM2mObjectInstance, LwM2mResource, LwM2mResourceInstance, ObjectLink,
    ResourceType, Value,
};
use crate::path::LwM2mPath;
use crate::Version;

fn resource(id: u16, kind: ResourceType, multiple: bool) -> ResourceModel {
    ResourceModel {
        id,
        name: format!("r{id}"),
        operations: if kind == ResourceType::None {
            Operations::Execute
        } else {
            Operations::ReadWrite
        },
        multiple,
        mandatory: false,
        kind,
        range: None,
        units: None,
        description: String::new(),
    }
}

fn object(id: u16, resources: Vec<ResourceModel>) -> ObjectModel {
    ObjectModel {
        id,
        name: format!("o{id}"),
        description: String::new(),
        version: Version::V1_0,
        lwm2m_version: Version::V1_0,
        multiple: true,
        mandatory: false,
        urn: None,
        resources: resources.into_iter().map(|r| (r.id, r)).collect(),
    }
}

/// The types a test object holds, at resource id = index (single) and
/// 100 + index (multiple). Resource 9 is executable.
pub(crate) const TYPES: [ResourceType; 9] = [
    ResourceType::String,
    ResourceType::Integer,
    ResourceType::UnsignedInteger,
    ResourceType::Float,
    ResourceType::Boolean,
    ResourceType::Opaque,
    ResourceType::Time,
    ResourceType::ObjectLink,
    ResourceType::CoreLink,
];

/// Object ids of the all-types test objects.
pub(crate) const TEST_OBJECTS: [u16; 4] = [1000, 1001, 1002, 1003];

/// The Device object (3) as LwM2M 1.1.1 Appendix E.4 defines the resources the
/// examples use.
pub(crate) fn device_model() -> ObjectModel {
    use ResourceType::*;
    let mut o = object(
        3,
        vec![
            resource(0, String, false),
            resource(1, String, false),
            resource(2, String, false),
            resource(3, String, false),
            resource(4, None, false),
            resource(5, None, false),
            resource(6, Integer, true),
            resource(7, Integer, true),
            resource(8, Integer, true),
            resource(9, Integer, false),
            resource(10, Integer, false),
            resource(11, Integer, true),
            resource(12, None, false),
            resource(13, Time, false),
            resource(14, String, false),
            resource(15, String, false),
            resource(16, String, false),
        ],
    );
    o.multiple = false;
    o
}

pub(crate) fn test_object(id: u16) -> ObjectModel {
    let mut resources = Vec::new();
    for (i, kind) in TYPES.iter().enumerate() {
        resources.push(resource(i as u16, *kind, false));
        resources.push(resource(100 + i as u16, *kind, true));
    }
    resources.push(resource(9, ResourceType::None, false));
    object(id, resources)
}

/// Device plus the all-types test objects.
pub(crate) fn models() -> ModelRegistry {
    let mut reg = ModelRegistry::new();
    reg.insert(device_model());
    for id in TEST_OBJECTS {
        reg.insert(test_object(id));
    }
    reg
}

pub(crate) fn path(s: &str) -> LwM2mPath {
    s.parse().unwrap_or(LwM2mPath::ROOT)
}

/// The Device object instance of the specification's examples (LwM2M 1.1.1
/// §7.4.3/§7.4.4: "Read on Object Instance" of /3/0).
pub(crate) fn device_instance() -> LwM2mObjectInstance {
    let ints = |id: u16, vals: &[i64]| LwM2mResource::Multiple {
        id,
        kind: ResourceType::Integer,
        instances: vals
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u16, Value::Integer(*v)))
            .collect(),
    };
    LwM2mObjectInstance::new(
        0,
        [
            LwM2mResource::single(0, Value::String("Open Mobile Alliance".into())),
            LwM2mResource::single(1, Value::String("Lightweight M2M Client".into())),
            LwM2mResource::single(2, Value::String("345000123".into())),
            LwM2mResource::single(3, Value::String("1.0".into())),
            ints(6, &[1, 5]),
            ints(7, &[3800, 5000]),
            ints(8, &[125, 900]),
            LwM2mResource::single(9, Value::Integer(100)),
            LwM2mResource::single(10, Value::Integer(15)),
            ints(11, &[0]),
            LwM2mResource::single(13, Value::Time(1_367_491_215)),
            LwM2mResource::single(14, Value::String("+02:00".into())),
            LwM2mResource::single(16, Value::String("U".into())),
        ],
    )
}

/// A value of `kind`, over the whole range of the type.
pub(crate) fn value_of(kind: ResourceType) -> BoxedStrategy<Value> {
    match kind {
        ResourceType::String => "\\PC{0,12}".prop_map(Value::String).boxed(),
        ResourceType::Integer => any::<i64>().prop_map(Value::Integer).boxed(),
        ResourceType::UnsignedInteger => any::<u64>().prop_map(Value::UnsignedInteger).boxed(),
        ResourceType::Float => prop_oneof![
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
            (-1000i32..1000).prop_map(f64::from),
            Just(0.1),
        ]
        .prop_map(Value::Float)
        .boxed(),
        ResourceType::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        ResourceType::Opaque => proptest::collection::vec(any::<u8>(), 0..12)
            .prop_map(Value::Opaque)
            .boxed(),
        ResourceType::Time => any::<i64>().prop_map(Value::Time).boxed(),
        ResourceType::ObjectLink => (any::<u16>(), any::<u16>())
            .prop_map(|(object, instance)| Value::ObjectLink(ObjectLink { object, instance }))
            .boxed(),
        ResourceType::CoreLink => "(</[0-9]{1,3}(/[0-9]{1,2})?>(;ver=1\\.[0-2])?,){0,2}</[0-9]>"
            .prop_map(Value::CoreLink)
            .boxed(),
        ResourceType::None => Just(Value::None).boxed(),
    }
}

/// A resource of a test object: `id` picks the type (see [`TYPES`]).
pub(crate) fn resource_of(id: u16, min_instances: usize) -> BoxedStrategy<LwM2mResource> {
    let index = usize::from(id % 100);
    let kind = TYPES.get(index).copied().unwrap_or(ResourceType::String);
    if id >= 100 {
        proptest::collection::btree_map(0u16..20, value_of(kind), min_instances..4)
            .prop_map(move |instances| LwM2mResource::Multiple {
                id,
                kind,
                instances,
            })
            .boxed()
    } else {
        value_of(kind)
            .prop_map(move |value| LwM2mResource::Single { id, value })
            .boxed()
    }
}

/// Resource ids of a test object that carry values.
pub(crate) fn resource_id() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..9, 100u16..109]
}

pub(crate) fn instance_of(id: u16, min_resources: usize) -> BoxedStrategy<LwM2mObjectInstance> {
    proptest::collection::btree_set(resource_id(), min_resources..5)
        .prop_flat_map(|ids| {
            ids.into_iter()
                .map(|r| resource_of(r, 1))
                .collect::<Vec<_>>()
        })
        .prop_map(move |resources| LwM2mObjectInstance::new(id, resources))
        .boxed()
}

pub(crate) fn object_of(id: u16, min_instances: usize) -> BoxedStrategy<LwM2mObject> {
    proptest::collection::btree_set(0u16..10, min_instances..3)
        .prop_flat_map(|ids| {
            ids.into_iter()
                .map(|i| instance_of(i, 1))
                .collect::<Vec<_>>()
        })
        .prop_map(move |instances| LwM2mObject::new(id, instances))
        .boxed()
}

/// A node of a test object at a path of every level, with the path. Empty
/// containers appear only where an empty payload decodes back to them (the
/// node itself); `non_empty` excludes them (composite decoding maps a path
/// without records to `None`).
pub(crate) fn node_at(object: u16, non_empty: bool) -> BoxedStrategy<(LwM2mPath, LwM2mNode)> {
    let min = usize::from(non_empty);
    prop_oneof![
        object_of(object, min)
            .prop_map(move |o| (path(&format!("/{object}")), LwM2mNode::Object(o))),
        (0u16..10)
            .prop_flat_map(move |i| instance_of(i, min))
            .prop_map(move |inst| (
                path(&format!("/{object}/{}", inst.id)),
                LwM2mNode::ObjectInstance(inst)
            )),
        (0u16..10, resource_id())
            .prop_flat_map(move |(i, r)| (Just(i), resource_of(r, min)))
            .prop_map(move |(i, r)| (
                path(&format!("/{object}/{i}/{}", r.id())),
                LwM2mNode::Resource(r)
            )),
        (0u16..10, 100u16..109, 0u16..20)
            .prop_flat_map(|(i, r, ri)| {
                let kind = TYPES
                    .get(usize::from(r - 100))
                    .copied()
                    .unwrap_or(ResourceType::String);
                (Just(i), Just(r), Just(ri), value_of(kind))
            })
            .prop_map(move |(i, r, ri, value)| (
                path(&format!("/{object}/{i}/{r}/{ri}")),
                LwM2mNode::ResourceInstance(LwM2mResourceInstance { id: ri, value })
            )),
    ]
    .boxed()
}

/// Leaf nodes (single resources and resource instances) keyed by path, as
/// timestamped decoding returns them.
pub(crate) fn leaf_nodes() -> BoxedStrategy<BTreeMap<LwM2mPath, LwM2mNode>> {
    proptest::collection::vec(leaf_strategy(), 1..5)
        .prop_map(|v| v.into_iter().collect())
        .boxed()
}

fn leaf_strategy() -> BoxedStrategy<(LwM2mPath, LwM2mNode)> {
    (
        proptest::sample::select(TEST_OBJECTS.to_vec()),
        0u16..3,
        resource_id(),
        0u16..3,
    )
        .prop_flat_map(|(o, i, r, ri)| {
            let kind = TYPES
                .get(usize::from(r % 100))
                .copied()
                .unwrap_or(ResourceType::String);
            value_of(kind).prop_map(move |value| {
                if r >= 100 {
                    (
                        path(&format!("/{o}/{i}/{r}/{ri}")),
                        LwM2mNode::ResourceInstance(LwM2mResourceInstance { id: ri, value }),
                    )
                } else {
                    (
                        path(&format!("/{o}/{i}/{r}")),
                        LwM2mNode::Resource(LwM2mResource::Single { id: r, value }),
                    )
                }
            })
        })
        .boxed()
}
