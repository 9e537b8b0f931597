//! Models and proptest strategies shared by the tests of the codecs in this
//! directory (text, opaque, CBOR, TLV).
//!
//! The models are local literals on purpose: golden vectors must not change
//! meaning when the built-in core models are edited.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::model::{ModelRegistry, ObjectModel, Operations, ResourceModel};
use crate::node::{
    LwM2mObject, LwM2mObjectInstance, LwM2mResource, ObjectLink, ResourceType, Value,
};
use crate::Version;

/// The object id of the test object with one single and one multiple
/// resource of every type.
pub(crate) const ALL_TYPES: u16 = 33000;

/// Every value type, in the order the [`ALL_TYPES`] object numbers them:
/// single resource `n` and multiple resource `100 + n` have type `TYPES[n]`.
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

/// The executable resource of [`ALL_TYPES`].
pub(crate) const EXECUTABLE: u16 = 200;

fn res(id: u16, name: &str, kind: ResourceType, multiple: bool) -> ResourceModel {
    let operations = if kind == ResourceType::None {
        Operations::Execute
    } else {
        Operations::ReadWrite
    };
    ResourceModel {
        id,
        name: name.to_owned(),
        operations,
        multiple,
        mandatory: false,
        kind,
        range: None,
        units: None,
        description: String::new(),
    }
}

fn object(id: u16, name: &str, multiple: bool, resources: Vec<ResourceModel>) -> ObjectModel {
    ObjectModel {
        id,
        name: name.to_owned(),
        description: String::new(),
        version: Version { major: 1, minor: 0 },
        lwm2m_version: Version { major: 1, minor: 0 },
        multiple,
        mandatory: false,
        urn: None,
        resources: resources.into_iter().map(|r| (r.id, r)).collect(),
    }
}

/// Device (3), ACL (2), Server (1) as in LwM2M 1.0/1.1, and [`ALL_TYPES`].
pub(crate) fn models() -> ModelRegistry {
    use ResourceType::*;
    let device = object(
        3,
        "Device",
        false,
        vec![
            res(0, "Manufacturer", String, false),
            res(1, "Model Number", String, false),
            res(2, "Serial Number", String, false),
            res(3, "Firmware Version", String, false),
            res(4, "Reboot", None, false),
            res(5, "Factory Reset", None, false),
            res(6, "Available Power Sources", Integer, true),
            res(7, "Power Source Voltage", Integer, true),
            res(8, "Power Source Current", Integer, true),
            res(9, "Battery Level", Integer, false),
            res(10, "Memory Free", Integer, false),
            res(11, "Error Code", Integer, true),
            res(12, "Reset Error Code", None, false),
            res(13, "Current Time", Time, false),
            res(14, "UTC Offset", String, false),
            res(15, "Timezone", String, false),
            res(16, "Supported Binding and Modes", String, false),
            res(17, "Device Type", String, false),
            res(18, "Hardware Version", String, false),
            res(19, "Software Version", String, false),
            res(20, "Battery Status", Integer, false),
            res(21, "Memory Total", Integer, false),
            res(22, "ExtDevInfo", ObjectLink, true),
        ],
    );
    let acl = object(
        2,
        "LwM2M Access Control",
        true,
        vec![
            res(0, "Object ID", Integer, false),
            res(1, "Object Instance ID", Integer, false),
            res(2, "ACL", Integer, true),
            res(3, "Access Control Owner", Integer, false),
        ],
    );
    let server = object(
        1,
        "LwM2M Server",
        true,
        vec![
            res(0, "Short Server ID", Integer, false),
            res(1, "Lifetime", Integer, false),
            res(2, "Default Minimum Period", Integer, false),
            res(3, "Default Maximum Period", Integer, false),
            res(4, "Disable", None, false),
            res(5, "Disable Timeout", Integer, false),
            res(
                6,
                "Notification Storing When Disabled or Offline",
                Boolean,
                false,
            ),
            res(7, "Binding", String, false),
            res(8, "Registration Update Trigger", None, false),
        ],
    );
    let mut all = Vec::new();
    for (n, kind) in (0u16..).zip(TYPES) {
        all.push(res(n, kind.name(), kind, false));
        all.push(res(100 + n, kind.name(), kind, true));
    }
    all.push(res(EXECUTABLE, "Execute", None, false));
    let all_types = object(ALL_TYPES, "All Types", true, all);

    let mut reg = ModelRegistry::new();
    for model in [device, acl, server, all_types] {
        reg.insert(model);
    }
    reg
}

/// Values of type `kind`. NaN is left out because it is not equal to itself;
/// with `finite` the infinities are left out too (text has no form for them).
pub(crate) fn value_of(kind: ResourceType, finite: bool) -> BoxedStrategy<Value> {
    match kind {
        ResourceType::String => any::<String>().prop_map(Value::String).boxed(),
        ResourceType::CoreLink => "(</[0-9]{1,3}/[0-9]{1,3}>,?){0,4}"
            .prop_map(Value::CoreLink)
            .boxed(),
        ResourceType::Integer => any::<i64>().prop_map(Value::Integer).boxed(),
        ResourceType::Time => any::<i64>().prop_map(Value::Time).boxed(),
        ResourceType::UnsignedInteger => any::<u64>().prop_map(Value::UnsignedInteger).boxed(),
        ResourceType::Float => any::<f64>()
            .prop_filter("NaN is not equal to itself", move |f| {
                !f.is_nan() && (!finite || f.is_finite())
            })
            .prop_map(Value::Float)
            .boxed(),
        ResourceType::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        ResourceType::Opaque => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(Value::Opaque)
            .boxed(),
        ResourceType::ObjectLink => (any::<u16>(), any::<u16>())
            .prop_map(|(object, instance)| Value::ObjectLink(ObjectLink { object, instance }))
            .boxed(),
        ResourceType::None => Just(Value::None).boxed(),
    }
}

/// A resource of the [`ALL_TYPES`] object: single or multiple of any type.
pub(crate) fn resource() -> BoxedStrategy<LwM2mResource> {
    (0usize..TYPES.len(), any::<bool>())
        .prop_flat_map(|(n, multiple)| resource_with(n, multiple))
        .boxed()
}

fn resource_with(n: usize, multiple: bool) -> BoxedStrategy<LwM2mResource> {
    let kind = TYPES.get(n).copied().unwrap_or(ResourceType::String);
    let id = n as u16;
    if multiple {
        prop::collection::btree_map(0u16..65535, value_of(kind, false), 0..4)
            .prop_map(move |instances| LwM2mResource::Multiple {
                id: 100 + id,
                kind,
                instances,
            })
            .boxed()
    } else {
        value_of(kind, false)
            .prop_map(move |value| LwM2mResource::Single { id, value })
            .boxed()
    }
}

/// An instance of the [`ALL_TYPES`] object with any subset of its resources.
pub(crate) fn instance(
    id: impl Strategy<Value = u16> + 'static,
) -> BoxedStrategy<LwM2mObjectInstance> {
    (id, prop::collection::vec(resource(), 0..8))
        .prop_map(|(id, resources)| LwM2mObjectInstance {
            id,
            resources: resources
                .into_iter()
                .map(|r| (r.id(), r))
                .collect::<BTreeMap<_, _>>(),
        })
        .boxed()
}

/// The [`ALL_TYPES`] object with up to three instances.
pub(crate) fn all_types_object() -> BoxedStrategy<LwM2mObject> {
    prop::collection::vec(instance(0u16..65535), 0..3)
        .prop_map(|instances| LwM2mObject::new(ALL_TYPES, instances))
        .boxed()
}

/// A type index `n` into [`TYPES`] with a value of that type.
pub(crate) fn typed_value(finite: bool) -> BoxedStrategy<(usize, Value)> {
    (0usize..TYPES.len())
        .prop_flat_map(move |n| {
            let kind = TYPES.get(n).copied().unwrap_or(ResourceType::String);
            value_of(kind, finite).prop_map(move |v| (n, v))
        })
        .boxed()
}
