//! The LwM2M node tree and typed resource values.
//!
//! A node is what a content format carries at a path: a whole object, one
//! object instance, a resource (single- or multiple-instance) or one resource
//! instance. Children are kept in `BTreeMap`s so iteration order, and with it
//! every encoding, is deterministic.

use std::collections::BTreeMap;
use std::fmt;

use crate::path::{LwM2mPath, PathLevel};
use crate::Error;

/// The data types of LwM2M resources (LwM2M 1.1 Appendix C).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ResourceType {
    String,
    Integer,
    UnsignedInteger,
    Float,
    Boolean,
    Opaque,
    Time,
    ObjectLink,
    CoreLink,
    /// Executable resources carry no value.
    None,
}

impl ResourceType {
    /// Maps the `<Type>` of an OMA DDF file; the empty type belongs to executables.
    pub fn from_ddf(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "string" => ResourceType::String,
            "integer" => ResourceType::Integer,
            "unsigned integer" | "unsignedinteger" => ResourceType::UnsignedInteger,
            "float" => ResourceType::Float,
            "boolean" => ResourceType::Boolean,
            "opaque" => ResourceType::Opaque,
            "time" => ResourceType::Time,
            "objlnk" => ResourceType::ObjectLink,
            "corelnk" => ResourceType::CoreLink,
            "" | "none" => ResourceType::None,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            ResourceType::String => "String",
            ResourceType::Integer => "Integer",
            ResourceType::UnsignedInteger => "Unsigned Integer",
            ResourceType::Float => "Float",
            ResourceType::Boolean => "Boolean",
            ResourceType::Opaque => "Opaque",
            ResourceType::Time => "Time",
            ResourceType::ObjectLink => "Objlnk",
            ResourceType::CoreLink => "Corelnk",
            ResourceType::None => "none",
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An object link (Objlnk): `object:instance`. `65535:65535` is the null link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectLink {
    pub object: u16,
    pub instance: u16,
}

impl ObjectLink {
    pub const NULL: ObjectLink = ObjectLink {
        object: u16::MAX,
        instance: u16::MAX,
    };
}

impl fmt::Display for ObjectLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.object, self.instance)
    }
}

impl std::str::FromStr for ObjectLink {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (o, i) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not an objlnk (OID:IID)"))?;
        let num = |t: &str| {
            if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{s:?} is not an objlnk (OID:IID)"));
            }
            t.parse::<u16>()
                .map_err(|_| format!("{s:?} has an id above 65535"))
        };
        Ok(ObjectLink {
            object: num(o)?,
            instance: num(i)?,
        })
    }
}

/// A typed resource value.
///
/// `Time` is seconds since the Unix epoch (signed, as the specification's
/// Time type is an integer). `CoreLink` is the raw RFC 6690 text.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    UnsignedInteger(u64),
    Float(f64),
    Boolean(bool),
    Opaque(Vec<u8>),
    Time(i64),
    ObjectLink(ObjectLink),
    CoreLink(String),
    None,
}

impl Value {
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Value::String(_) => ResourceType::String,
            Value::Integer(_) => ResourceType::Integer,
            Value::UnsignedInteger(_) => ResourceType::UnsignedInteger,
            Value::Float(_) => ResourceType::Float,
            Value::Boolean(_) => ResourceType::Boolean,
            Value::Opaque(_) => ResourceType::Opaque,
            Value::Time(_) => ResourceType::Time,
            Value::ObjectLink(_) => ResourceType::ObjectLink,
            Value::CoreLink(_) => ResourceType::CoreLink,
            Value::None => ResourceType::None,
        }
    }
}

/// A resource: one value, or a map of resource instances that share a type.
#[derive(Clone, Debug, PartialEq)]
pub enum LwM2mResource {
    Single {
        id: u16,
        value: Value,
    },
    Multiple {
        id: u16,
        kind: ResourceType,
        instances: BTreeMap<u16, Value>,
    },
}

impl LwM2mResource {
    pub fn single(id: u16, value: Value) -> Self {
        LwM2mResource::Single { id, value }
    }

    /// A multiple-instance resource; every value must have type `kind`.
    pub fn multiple(
        id: u16,
        kind: ResourceType,
        instances: impl IntoIterator<Item = (u16, Value)>,
    ) -> Result<Self, Error> {
        let instances: BTreeMap<u16, Value> = instances.into_iter().collect();
        if let Some((ri, v)) = instances.iter().find(|(_, v)| v.resource_type() != kind) {
            return Err(Error::Encode {
                format: crate::ContentFormat::Text,
                reason: format!(
                    "resource {id} instance {ri} is {} but the resource is {kind}",
                    v.resource_type()
                ),
            });
        }
        Ok(LwM2mResource::Multiple {
            id,
            kind,
            instances,
        })
    }

    pub fn id(&self) -> u16 {
        match self {
            LwM2mResource::Single { id, .. } | LwM2mResource::Multiple { id, .. } => *id,
        }
    }

    pub fn is_multiple(&self) -> bool {
        matches!(self, LwM2mResource::Multiple { .. })
    }

    pub fn resource_type(&self) -> ResourceType {
        match self {
            LwM2mResource::Single { value, .. } => value.resource_type(),
            LwM2mResource::Multiple { kind, .. } => *kind,
        }
    }
}

/// One instance of a multiple-instance resource, addressed on its own.
#[derive(Clone, Debug, PartialEq)]
pub struct LwM2mResourceInstance {
    pub id: u16,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct LwM2mObjectInstance {
    pub id: u16,
    pub resources: BTreeMap<u16, LwM2mResource>,
}

impl LwM2mObjectInstance {
    pub fn new(id: u16, resources: impl IntoIterator<Item = LwM2mResource>) -> Self {
        LwM2mObjectInstance {
            id,
            resources: resources.into_iter().map(|r| (r.id(), r)).collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct LwM2mObject {
    pub id: u16,
    pub instances: BTreeMap<u16, LwM2mObjectInstance>,
}

impl LwM2mObject {
    pub fn new(id: u16, instances: impl IntoIterator<Item = LwM2mObjectInstance>) -> Self {
        LwM2mObject {
            id,
            instances: instances.into_iter().map(|i| (i.id, i)).collect(),
        }
    }
}

/// What a content format carries at one path.
#[derive(Clone, Debug, PartialEq)]
pub enum LwM2mNode {
    Object(LwM2mObject),
    ObjectInstance(LwM2mObjectInstance),
    Resource(LwM2mResource),
    ResourceInstance(LwM2mResourceInstance),
}

impl LwM2mNode {
    /// The level of path this node belongs at.
    pub fn level(&self) -> PathLevel {
        match self {
            LwM2mNode::Object(_) => PathLevel::Object,
            LwM2mNode::ObjectInstance(_) => PathLevel::ObjectInstance,
            LwM2mNode::Resource(_) => PathLevel::Resource,
            LwM2mNode::ResourceInstance(_) => PathLevel::ResourceInstance,
        }
    }

    pub fn id(&self) -> u16 {
        match self {
            LwM2mNode::Object(o) => o.id,
            LwM2mNode::ObjectInstance(i) => i.id,
            LwM2mNode::Resource(r) => r.id(),
            LwM2mNode::ResourceInstance(ri) => ri.id,
        }
    }

    /// Checks that this node may stand at `path`: same level and same last id.
    pub fn check_path(&self, path: &LwM2mPath) -> Result<(), Error> {
        if path.level() != self.level() || path.ids().last().copied() != Some(self.id()) {
            return Err(Error::path(
                path.to_string(),
                format!(
                    "a {:?} node with id {} cannot stand at this path",
                    self.level(),
                    self.id()
                ),
            ));
        }
        Ok(())
    }

    /// Every leaf value under this node with its full path, in tree order.
    /// `path` is where the node stands. Multiple resources yield one entry per instance.
    pub fn leaves(&self, path: &LwM2mPath) -> Vec<(LwM2mPath, &Value)> {
        let mut out = Vec::new();
        collect_leaves(self, path, &mut out);
        out
    }
}

fn collect_resource<'a>(
    r: &'a LwM2mResource,
    path: &LwM2mPath,
    out: &mut Vec<(LwM2mPath, &'a Value)>,
) {
    match r {
        LwM2mResource::Single { value, .. } => out.push((*path, value)),
        LwM2mResource::Multiple { instances, .. } => {
            for (ri, v) in instances {
                if let Ok(p) = path.child(*ri) {
                    out.push((p, v));
                }
            }
        }
    }
}

fn collect_instance<'a>(
    inst: &'a LwM2mObjectInstance,
    path: &LwM2mPath,
    out: &mut Vec<(LwM2mPath, &'a Value)>,
) {
    for r in inst.resources.values() {
        if let Ok(p) = path.child(r.id()) {
            collect_resource(r, &p, out);
        }
    }
}

fn collect_leaves<'a>(
    node: &'a LwM2mNode,
    path: &LwM2mPath,
    out: &mut Vec<(LwM2mPath, &'a Value)>,
) {
    match node {
        LwM2mNode::ResourceInstance(ri) => out.push((*path, &ri.value)),
        LwM2mNode::Resource(r) => collect_resource(r, path, out),
        LwM2mNode::ObjectInstance(inst) => collect_instance(inst, path, out),
        LwM2mNode::Object(obj) => {
            for inst in obj.instances.values() {
                if let Ok(p) = path.child(inst.id) {
                    collect_instance(inst, &p, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiple_resource_rejects_mixed_types() {
        let err = LwM2mResource::multiple(
            7,
            ResourceType::Integer,
            [(0, Value::Integer(1)), (1, Value::String("x".into()))],
        );
        assert!(err.is_err());
    }

    #[test]
    fn leaves_walk_in_tree_order() {
        let inst = LwM2mObjectInstance::new(
            0,
            [
                LwM2mResource::single(9, Value::Integer(80)),
                LwM2mResource::multiple(
                    7,
                    ResourceType::Integer,
                    [(1, Value::Integer(3800)), (0, Value::Integer(5000))],
                )
                .unwrap(),
            ],
        );
        let node = LwM2mNode::Object(LwM2mObject::new(3, [inst]));
        let path: LwM2mPath = "/3".parse().unwrap();
        let leaves: Vec<String> = node
            .leaves(&path)
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(leaves, ["/3/0/7/0", "/3/0/7/1", "/3/0/9"]);
    }

    #[test]
    fn check_path_matches_level_and_id() {
        let node = LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(1)));
        assert!(node.check_path(&"/3/0/9".parse().unwrap()).is_ok());
        assert!(node.check_path(&"/3/0/8".parse().unwrap()).is_err());
        assert!(node.check_path(&"/3/0".parse().unwrap()).is_err());
    }

    #[test]
    fn objlnk_parses() {
        assert_eq!(
            "3:0".parse::<ObjectLink>().unwrap(),
            ObjectLink {
                object: 3,
                instance: 0
            }
        );
        assert!("3".parse::<ObjectLink>().is_err());
        assert!("3:70000".parse::<ObjectLink>().is_err());
        assert_eq!(
            "65535:65535".parse::<ObjectLink>().unwrap(),
            ObjectLink::NULL
        );
    }
}
