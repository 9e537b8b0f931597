//! Builds the node tree a Write or Create payload needs from flat leaf
//! values (the shape gRPC callers send: one `ResourceValue` per leaf).

use std::collections::BTreeMap;

use lwm2m_core::{
    LwM2mNode, LwM2mObject, LwM2mObjectInstance, LwM2mPath, LwM2mResource, LwM2mResourceInstance,
    ModelLookup, PathLevel, Value,
};

use crate::error::Error;

/// Leaves of one resource: a single value, or resource instances.
enum Leaves {
    Single(Value),
    Instances(BTreeMap<u16, Value>),
}

/// The node standing at `at` that holds exactly `leaves` (single resources
/// `/o/i/r` or resource instances `/o/i/r/ri`, all under `at`). The model,
/// when it knows a resource, decides the type of a multiple resource.
pub(crate) fn node_from_leaves(
    at: &LwM2mPath,
    leaves: &[(LwM2mPath, Value)],
    models: &dyn ModelLookup,
) -> Result<LwM2mNode, Error> {
    let at = at.without_version();
    if at.is_root() {
        return Err(Error::InvalidArgument(
            "values cannot be written at the root path".into(),
        ));
    }
    // (instance, resource) -> leaves; the object is the one of `at`.
    let mut resources: BTreeMap<(u16, u16), Leaves> = BTreeMap::new();
    for (path, value) in leaves {
        let path = path.without_version();
        if !at.is_prefix_of(&path) {
            return Err(Error::InvalidArgument(format!(
                "value path {path} is not under {at}"
            )));
        }
        let (Some(instance), Some(resource)) = (path.instance_id(), path.resource_id()) else {
            return Err(Error::InvalidArgument(format!(
                "value path {path} is not a resource or resource instance"
            )));
        };
        let entry = resources.entry((instance, resource));
        match (path.resource_instance_id(), entry) {
            (None, std::collections::btree_map::Entry::Vacant(v)) => {
                v.insert(Leaves::Single(value.clone()));
            }
            (Some(ri), std::collections::btree_map::Entry::Vacant(v)) => {
                v.insert(Leaves::Instances(BTreeMap::from([(ri, value.clone())])));
            }
            (Some(ri), std::collections::btree_map::Entry::Occupied(mut o)) => match o.get_mut() {
                Leaves::Instances(map) => {
                    if map.insert(ri, value.clone()).is_some() {
                        return Err(Error::InvalidArgument(format!("two values for {path}")));
                    }
                }
                Leaves::Single(_) => {
                    return Err(Error::InvalidArgument(format!(
                        "{path} mixes a single value and resource instances"
                    )))
                }
            },
            (None, std::collections::btree_map::Entry::Occupied(_)) => {
                return Err(Error::InvalidArgument(format!(
                    "two values (or a value and instances) for {path}"
                )))
            }
        }
    }
    let object = at.object_id().unwrap_or_default();
    let mut instances: BTreeMap<u16, Vec<LwM2mResource>> = BTreeMap::new();
    for ((instance, resource), leaves) in resources {
        let built = match leaves {
            Leaves::Single(value) => LwM2mResource::single(resource, value),
            Leaves::Instances(map) => {
                let kind = models
                    .resource(object, resource)
                    .map(|m| m.kind)
                    .or_else(|| map.values().next().map(Value::resource_type))
                    .unwrap_or(lwm2m_core::ResourceType::String);
                LwM2mResource::multiple(resource, kind, map)?
            }
        };
        instances.entry(instance).or_default().push(built);
    }
    match at.level() {
        PathLevel::ResourceInstance => {
            let value = leaves
                .iter()
                .find(|(p, _)| p.without_version() == at)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| Error::InvalidArgument(format!("no value for {at}")))?;
            if leaves.len() != 1 {
                return Err(Error::InvalidArgument(format!(
                    "exactly one value expected for {at}"
                )));
            }
            Ok(LwM2mNode::ResourceInstance(LwM2mResourceInstance {
                id: at.resource_instance_id().unwrap_or_default(),
                value,
            }))
        }
        PathLevel::Resource => {
            let mut all: Vec<LwM2mResource> = instances.into_values().flatten().collect();
            match (all.pop(), all.is_empty()) {
                (Some(resource), true) => Ok(LwM2mNode::Resource(resource)),
                _ => Err(Error::InvalidArgument(format!(
                    "exactly one resource expected at {at}"
                ))),
            }
        }
        PathLevel::ObjectInstance => {
            let id = at.instance_id().unwrap_or_default();
            let resources = instances.remove(&id).unwrap_or_default();
            Ok(LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(
                id, resources,
            )))
        }
        _ => Ok(LwM2mNode::Object(LwM2mObject::new(
            object,
            instances
                .into_iter()
                .map(|(id, resources)| LwM2mObjectInstance::new(id, resources)),
        ))),
    }
}

/// Every leaf of a node as `(path, value)`, owned.
pub(crate) fn leaves_of(path: &LwM2mPath, node: &LwM2mNode) -> Vec<(LwM2mPath, Value)> {
    node.leaves(path)
        .into_iter()
        .map(|(p, v)| (p, v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use lwm2m_core::ModelRegistry;

    use super::*;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    #[test]
    fn builds_instances_with_single_and_multiple_resources() {
        let models = ModelRegistry::with_core_objects();
        let leaves = vec![
            (p("/3/0/14"), Value::String("+02".into())),
            (p("/3/0/11/0"), Value::Integer(1)),
            (p("/3/0/11/1"), Value::Integer(2)),
        ];
        let node = node_from_leaves(&p("/3/0"), &leaves, &models).unwrap();
        let mut back = leaves_of(&p("/3/0"), &node);
        back.sort_by_key(|(path, _)| *path);
        let mut want = leaves.clone();
        want.sort_by_key(|(path, _)| *path);
        assert_eq!(back, want);
    }

    #[test]
    fn single_resource_and_resource_instance() {
        let models = ModelRegistry::with_core_objects();
        let node = node_from_leaves(
            &p("/3/0/14"),
            &[(p("/3/0/14"), Value::String("x".into()))],
            &models,
        )
        .unwrap();
        assert!(matches!(
            node,
            LwM2mNode::Resource(LwM2mResource::Single { id: 14, .. })
        ));
        let node = node_from_leaves(
            &p("/3/0/11/2"),
            &[(p("/3/0/11/2"), Value::Integer(5))],
            &models,
        )
        .unwrap();
        assert!(matches!(
            node,
            LwM2mNode::ResourceInstance(LwM2mResourceInstance { id: 2, .. })
        ));
    }

    #[test]
    fn object_level_for_create() {
        let models = ModelRegistry::new();
        let node =
            node_from_leaves(&p("/1"), &[(p("/1/5/1"), Value::Integer(60))], &models).unwrap();
        let LwM2mNode::Object(object) = node else {
            panic!("expected an object")
        };
        assert!(object.instances.contains_key(&5));
    }

    #[test]
    fn rejects_paths_outside_and_duplicates() {
        let models = ModelRegistry::new();
        assert!(
            node_from_leaves(&p("/3/0"), &[(p("/4/0/1"), Value::Integer(1))], &models).is_err()
        );
        let dup = vec![
            (p("/3/0/1"), Value::Integer(1)),
            (p("/3/0/1"), Value::Integer(2)),
        ];
        assert!(node_from_leaves(&p("/3/0"), &dup, &models).is_err());
        assert!(node_from_leaves(&p("/"), &[], &models).is_err());
    }
}
