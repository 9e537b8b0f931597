//! Leaves ⇄ the node tree.
//!
//! Decoding assembles the typed leaves under a path into the node standing
//! there; encoding walks a node into sorted leaves and then into records whose
//! first one carries the node's path as base name.

use std::collections::BTreeMap;

use super::values::senml_value;
use super::{SenmlRecord, SenmlValue};
use crate::codec::ContentFormat;
use crate::model::ModelLookup;
use crate::node::{
    LwM2mNode, LwM2mObject, LwM2mObjectInstance, LwM2mResource, LwM2mResourceInstance,
    ResourceType, Value,
};
use crate::path::{LwM2mPath, PathLevel};
use crate::Error;

type Leaf = (LwM2mPath, Value);

/// Builds the node at `at` from the leaves under it (all of `leaves` must be
/// under `at`, without duplicates). Returns `None` when nothing can stand at
/// `at`: no leaf for a single resource or a resource instance. An object or
/// an object instance may be empty; a resource the model declares multiple
/// may have no instance.
pub(crate) fn build_node(
    format: ContentFormat,
    at: &LwM2mPath,
    leaves: Vec<Leaf>,
    models: &dyn ModelLookup,
) -> Result<Option<LwM2mNode>, Error> {
    let ids = at.ids();
    Ok(match (at.level(), ids) {
        (PathLevel::Object, &[object]) => Some(LwM2mNode::Object(build_object(
            format, object, leaves, models,
        )?)),
        (PathLevel::ObjectInstance, &[object, instance]) => Some(LwM2mNode::ObjectInstance(
            build_instance(format, object, instance, leaves, models)?,
        )),
        (PathLevel::Resource, _) => {
            build_resource(format, at, leaves, models)?.map(LwM2mNode::Resource)
        }
        (PathLevel::ResourceInstance, &[.., id]) => {
            let mut leaves = leaves.into_iter();
            match (leaves.next(), leaves.next()) {
                (Some((path, value)), None) if path == *at => {
                    Some(LwM2mNode::ResourceInstance(LwM2mResourceInstance {
                        id,
                        value,
                    }))
                }
                (None, _) => None,
                _ => {
                    return Err(Error::decode(
                        format,
                        format!("more than one record for {at}"),
                    ))
                }
            }
        }
        _ => {
            return Err(Error::decode(
                format,
                format!("no node can be decoded at {at}"),
            ))
        }
    })
}

fn group_by(leaves: Vec<Leaf>, depth: usize) -> BTreeMap<u16, Vec<Leaf>> {
    let mut groups: BTreeMap<u16, Vec<Leaf>> = BTreeMap::new();
    for leaf in leaves {
        if let Some(id) = leaf.0.ids().get(depth).copied() {
            groups.entry(id).or_default().push(leaf);
        }
    }
    groups
}

fn build_object(
    format: ContentFormat,
    object: u16,
    leaves: Vec<Leaf>,
    models: &dyn ModelLookup,
) -> Result<LwM2mObject, Error> {
    let mut instances = BTreeMap::new();
    for (instance, leaves) in group_by(leaves, 1) {
        instances.insert(
            instance,
            build_instance(format, object, instance, leaves, models)?,
        );
    }
    Ok(LwM2mObject {
        id: object,
        instances,
    })
}

fn build_instance(
    format: ContentFormat,
    object: u16,
    instance: u16,
    leaves: Vec<Leaf>,
    models: &dyn ModelLookup,
) -> Result<LwM2mObjectInstance, Error> {
    let mut resources = BTreeMap::new();
    for (resource, leaves) in group_by(leaves, 2) {
        let path = LwM2mPath::resource(object, instance, resource)?;
        if let Some(r) = build_resource(format, &path, leaves, models)? {
            resources.insert(resource, r);
        }
    }
    Ok(LwM2mObjectInstance {
        id: instance,
        resources,
    })
}

/// Whether the model declares the resource of `path` multiple, if it knows it.
fn model_multiple(path: &LwM2mPath, models: &dyn ModelLookup) -> Option<(bool, ResourceType)> {
    let r = models.resource(path.object_id()?, path.resource_id()?)?;
    Some((r.multiple, r.kind))
}

fn build_resource(
    format: ContentFormat,
    path: &LwM2mPath,
    leaves: Vec<Leaf>,
    models: &dyn ModelLookup,
) -> Result<Option<LwM2mResource>, Error> {
    let Some(id) = path.resource_id() else {
        return Err(Error::decode(
            format,
            format!("{path} is not a resource path"),
        ));
    };
    let model = model_multiple(path, models);
    let (singles, instances): (Vec<Leaf>, Vec<Leaf>) = leaves
        .into_iter()
        .partition(|(p, _)| p.level() == PathLevel::Resource);
    if !singles.is_empty() && !instances.is_empty() {
        return Err(Error::decode(
            format,
            format!("{path} has a record of its own and records for resource instances"),
        ));
    }
    if let Some((_, value)) = singles.into_iter().next() {
        if let Some((true, _)) = model {
            return Err(Error::decode(
                format,
                format!("{path} is a multiple-instance resource; its values need resource-instance names"),
            ));
        }
        return Ok(Some(LwM2mResource::Single { id, value }));
    }
    if let Some((false, _)) = model {
        if !instances.is_empty() {
            return Err(Error::decode(
                format,
                format!("{path} is a single-instance resource but records name instances of it"),
            ));
        }
        return Ok(None);
    }
    let values: BTreeMap<u16, Value> = instances
        .into_iter()
        .filter_map(|(p, v)| p.resource_instance_id().map(|ri| (ri, v)))
        .collect();
    let (kind, values) = match model {
        Some((_, kind)) => (kind, values),
        None if values.is_empty() => return Ok(None),
        None => unify(format, path, values)?,
    };
    Ok(Some(LwM2mResource::Multiple {
        id,
        kind,
        instances: values,
    }))
}

/// Gives the instances of a multiple resource decoded without a model one
/// type: Integer and Float mix as Float, Integer and Unsigned Integer as
/// Unsigned Integer when no value is negative; any other mix is an error.
fn unify(
    format: ContentFormat,
    path: &LwM2mPath,
    values: BTreeMap<u16, Value>,
) -> Result<(ResourceType, BTreeMap<u16, Value>), Error> {
    let kinds: Vec<ResourceType> = values.values().map(Value::resource_type).collect();
    let first = kinds.first().copied().unwrap_or(ResourceType::None);
    if kinds.iter().all(|k| *k == first) {
        return Ok((first, values));
    }
    let numeric = |k: &ResourceType| {
        matches!(
            k,
            ResourceType::Integer | ResourceType::UnsignedInteger | ResourceType::Float
        )
    };
    let mixed = || {
        Error::decode(
            format,
            format!("the instances of {path} carry different types; load the object model to decode them"),
        )
    };
    if !kinds.iter().all(numeric) {
        return Err(mixed());
    }
    if kinds.contains(&ResourceType::Float) {
        let values = values
            .into_iter()
            .map(|(ri, v)| {
                let f = match v {
                    Value::Integer(i) => i as f64,
                    Value::UnsignedInteger(u) => u as f64,
                    Value::Float(f) => f,
                    _ => return Err(mixed()),
                };
                Ok((ri, Value::Float(f)))
            })
            .collect::<Result<_, Error>>()?;
        return Ok((ResourceType::Float, values));
    }
    let values = values
        .into_iter()
        .map(|(ri, v)| match v {
            Value::Integer(i) => u64::try_from(i)
                .map(|u| (ri, Value::UnsignedInteger(u)))
                .map_err(|_| mixed()),
            Value::UnsignedInteger(u) => Ok((ri, Value::UnsignedInteger(u))),
            _ => Err(mixed()),
        })
        .collect::<Result<_, Error>>()?;
    Ok((ResourceType::UnsignedInteger, values))
}

/// A leaf as a node at its own path: a single resource or a resource instance.
pub(crate) fn leaf_node(
    format: ContentFormat,
    path: &LwM2mPath,
    value: Value,
    models: &dyn ModelLookup,
) -> Result<LwM2mNode, Error> {
    let model = model_multiple(path, models);
    match (path.level(), path.ids()) {
        (PathLevel::Resource, &[_, _, id]) => {
            if let Some((true, _)) = model {
                return Err(Error::decode(
                    format,
                    format!("{path} is a multiple-instance resource; its values need resource-instance names"),
                ));
            }
            Ok(LwM2mNode::Resource(LwM2mResource::Single { id, value }))
        }
        (PathLevel::ResourceInstance, &[_, _, _, id]) => {
            if let Some((false, _)) = model {
                return Err(Error::decode(
                    format,
                    format!(
                        "{} is a single-instance resource but {path} names an instance of it",
                        path.parent()
                    ),
                ));
            }
            Ok(LwM2mNode::ResourceInstance(LwM2mResourceInstance {
                id,
                value,
            }))
        }
        _ => Err(Error::decode(
            format,
            format!("{path} cannot carry a value"),
        )),
    }
}

/// Every leaf under `node` (standing at `path`) with its raw value, sorted by
/// path. Ids are checked as they are turned into paths (65535 is reserved).
pub(crate) fn leaf_values(
    format: ContentFormat,
    path: &LwM2mPath,
    node: &LwM2mNode,
) -> Result<Vec<(LwM2mPath, SenmlValue)>, Error> {
    let path = path.without_version();
    node.check_path(&path)
        .map_err(|e| Error::encode(format, e.to_string()))?;
    let mut out = Vec::new();
    match node {
        LwM2mNode::ResourceInstance(ri) => out.push((path, senml_value(format, &path, &ri.value)?)),
        LwM2mNode::Resource(r) => push_resource(format, &path, r, &mut out)?,
        LwM2mNode::ObjectInstance(inst) => push_instance(format, &path, inst, &mut out)?,
        LwM2mNode::Object(obj) => {
            for inst in obj.instances.values() {
                push_instance(format, &child(format, &path, inst.id)?, inst, &mut out)?;
            }
        }
    }
    out.sort_by_key(|(p, _)| *p);
    Ok(out)
}

fn child(format: ContentFormat, path: &LwM2mPath, id: u16) -> Result<LwM2mPath, Error> {
    path.child(id)
        .map_err(|e| Error::encode(format, e.to_string()))
}

fn push_instance(
    format: ContentFormat,
    path: &LwM2mPath,
    inst: &LwM2mObjectInstance,
    out: &mut Vec<(LwM2mPath, SenmlValue)>,
) -> Result<(), Error> {
    for r in inst.resources.values() {
        push_resource(format, &child(format, path, r.id())?, r, out)?;
    }
    Ok(())
}

fn push_resource(
    format: ContentFormat,
    path: &LwM2mPath,
    r: &LwM2mResource,
    out: &mut Vec<(LwM2mPath, SenmlValue)>,
) -> Result<(), Error> {
    match r {
        LwM2mResource::Single { value, .. } => out.push((*path, senml_value(format, path, value)?)),
        LwM2mResource::Multiple { instances, .. } => {
            for (ri, value) in instances {
                let p = child(format, path, *ri)?;
                out.push((p, senml_value(format, &p, value)?));
            }
        }
    }
    Ok(())
}

/// The name of `leaf` relative to `base` (`7/0` for `/3/0/7/0` under `/3/0`).
pub(crate) fn relative_name(base: &LwM2mPath, leaf: &LwM2mPath) -> String {
    let rest = leaf.ids().get(base.ids().len()..).unwrap_or(&[]);
    rest.iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

/// The base name for a node at `path`: the path itself for a single value,
/// the path with a trailing slash for a container.
pub(crate) fn base_name(path: &LwM2mPath, leaf: bool) -> String {
    if leaf || path.is_root() {
        path.to_string()
    } else {
        format!("{path}/")
    }
}

/// The records of the node at `path`: the first carries the path as base
/// name, leaves follow sorted by path with names relative to it.
pub(crate) fn node_records(
    format: ContentFormat,
    path: &LwM2mPath,
    node: &LwM2mNode,
) -> Result<Vec<SenmlRecord>, Error> {
    let path = path.without_version();
    let leaf = matches!(
        node,
        LwM2mNode::ResourceInstance(_) | LwM2mNode::Resource(LwM2mResource::Single { .. })
    );
    let leaves = leaf_values(format, &path, node)?;
    let bn = base_name(&path, leaf);
    Ok(leaves
        .into_iter()
        .enumerate()
        .map(|(i, (p, value))| SenmlRecord {
            base_name: (i == 0).then(|| bn.clone()),
            base_time: None,
            name: if leaf {
                None
            } else {
                Some(relative_name(&path, &p))
            },
            time: None,
            value: Some(value),
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use super::*;
    use crate::codec::senml::test_support::models;
    use crate::model::ModelRegistry;

    const F: ContentFormat = ContentFormat::SenmlJson;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    #[test]
    fn records_for_each_level_use_the_path_as_base_name() {
        let single = LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(95)));
        let recs = node_records(F, &p("/3/0/9"), &single).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].base_name.as_deref(), Some("/3/0/9"));
        assert_eq!(recs[0].name, None);

        let multi = LwM2mNode::Resource(
            LwM2mResource::multiple(
                7,
                ResourceType::Integer,
                [(1, Value::Integer(5000)), (0, Value::Integer(3800))],
            )
            .unwrap(),
        );
        let recs = node_records(F, &p("/3_1.1/0/7"), &multi).unwrap();
        assert_eq!(recs[0].base_name.as_deref(), Some("/3/0/7/"));
        assert_eq!(recs[0].name.as_deref(), Some("0"));
        assert_eq!(recs[1].base_name, None);
        assert_eq!(recs[1].name.as_deref(), Some("1"));

        let obj = LwM2mNode::Object(LwM2mObject::new(
            3,
            [LwM2mObjectInstance::new(
                1,
                [LwM2mResource::single(0, Value::String("x".into()))],
            )],
        ));
        let recs = node_records(F, &p("/3"), &obj).unwrap();
        assert_eq!(recs[0].base_name.as_deref(), Some("/3/"));
        assert_eq!(recs[0].name.as_deref(), Some("1/0"));
    }

    #[test]
    fn encoding_checks_the_node_fits_the_path() {
        let single = LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(95)));
        assert!(node_records(F, &p("/3/0/8"), &single).is_err());
        assert!(node_records(F, &p("/3/0"), &single).is_err());
        let reserved = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(
            0,
            [LwM2mResource::single(65535, Value::Integer(1))],
        ));
        assert!(node_records(F, &p("/3/0"), &reserved).is_err());
    }

    #[test]
    fn builds_multiple_resource_from_one_instance_with_the_model() {
        let m = models();
        let node = build_node(F, &p("/3/0"), vec![(p("/3/0/11/0"), Value::Integer(0))], &m)
            .unwrap()
            .unwrap();
        let LwM2mNode::ObjectInstance(inst) = node else {
            panic!()
        };
        assert!(inst.resources[&11].is_multiple());
    }

    #[test]
    fn empty_containers_and_multiple_resources() {
        let m = models();
        assert_eq!(
            build_node(F, &p("/3/0"), vec![], &m).unwrap(),
            Some(LwM2mNode::ObjectInstance(LwM2mObjectInstance {
                id: 0,
                resources: BTreeMap::new()
            }))
        );
        assert_eq!(
            build_node(F, &p("/3/0/7"), vec![], &m).unwrap(),
            Some(LwM2mNode::Resource(LwM2mResource::Multiple {
                id: 7,
                kind: ResourceType::Integer,
                instances: BTreeMap::new()
            }))
        );
        assert_eq!(build_node(F, &p("/3/0/9"), vec![], &m).unwrap(), None);
        assert_eq!(
            build_node(F, &p("/3/0/7"), vec![], &ModelRegistry::new()).unwrap(),
            None
        );
        assert_eq!(build_node(F, &p("/3/0/7/0"), vec![], &m).unwrap(), None);
    }

    #[test]
    fn rejects_shapes_the_model_forbids() {
        let m = models();
        let err =
            build_node(F, &p("/3/0/7"), vec![(p("/3/0/7"), Value::Integer(1))], &m).unwrap_err();
        assert!(err.to_string().contains("multiple-instance"), "{err}");
        let err = build_node(
            F,
            &p("/3/0/9"),
            vec![(p("/3/0/9/0"), Value::Integer(1))],
            &m,
        )
        .unwrap_err();
        assert!(err.to_string().contains("single-instance"), "{err}");
        let err = build_node(
            F,
            &p("/9/0/9"),
            vec![
                (p("/9/0/9"), Value::Integer(1)),
                (p("/9/0/9/0"), Value::Integer(1)),
            ],
            &ModelRegistry::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("record of its own"), "{err}");
        assert!(leaf_node(F, &p("/3/0/7"), Value::Integer(1), &m).is_err());
        assert!(leaf_node(F, &p("/3/0/9/1"), Value::Integer(1), &m).is_err());
        assert!(build_node(F, &LwM2mPath::ROOT, vec![], &m).is_err());
    }

    #[test]
    fn unifies_numbers_without_model() {
        let none = ModelRegistry::new();
        let node = build_node(
            F,
            &p("/9/0/5"),
            vec![
                (p("/9/0/5/0"), Value::Integer(1)),
                (p("/9/0/5/1"), Value::Float(2.5)),
            ],
            &none,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            node,
            LwM2mNode::Resource(
                LwM2mResource::multiple(
                    5,
                    ResourceType::Float,
                    [(0, Value::Float(1.0)), (1, Value::Float(2.5))]
                )
                .unwrap()
            )
        );
        let node = build_node(
            F,
            &p("/9/0/5"),
            vec![
                (p("/9/0/5/0"), Value::Integer(1)),
                (p("/9/0/5/1"), Value::UnsignedInteger(u64::MAX)),
            ],
            &none,
        )
        .unwrap()
        .unwrap();
        let LwM2mNode::Resource(r) = node else {
            panic!()
        };
        assert_eq!(r.resource_type(), ResourceType::UnsignedInteger);
        let err = build_node(
            F,
            &p("/9/0/5"),
            vec![
                (p("/9/0/5/0"), Value::Integer(-1)),
                (p("/9/0/5/1"), Value::UnsignedInteger(u64::MAX)),
            ],
            &none,
        );
        assert!(err.is_err());
        let err = build_node(
            F,
            &p("/9/0/5"),
            vec![
                (p("/9/0/5/0"), Value::Integer(1)),
                (p("/9/0/5/1"), Value::String("a".into())),
            ],
            &none,
        )
        .unwrap_err();
        assert!(err.to_string().contains("different types"), "{err}");
    }

    #[test]
    fn relative_names_and_base_names() {
        assert_eq!(relative_name(&p("/3/0"), &p("/3/0/7/0")), "7/0");
        assert_eq!(relative_name(&LwM2mPath::ROOT, &p("/3/0/7/0")), "3/0/7/0");
        assert_eq!(base_name(&p("/3/0"), false), "/3/0/");
        assert_eq!(base_name(&LwM2mPath::ROOT, false), "/");
        assert_eq!(base_name(&p("/3/0/9"), true), "/3/0/9");
    }
}
