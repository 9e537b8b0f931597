//! The device's object tree: values by path, with the access rules of the
//! object models (read-only, writable, executable) enforced the way an LwM2M
//! client must enforce them towards the server.
//!
//! Executable resources carry no value and are not stored; the model says
//! which exist. Every operation returns a [`SimError`] whose
//! [`response_code`](SimError::response_code) is what the server gets.

use std::collections::BTreeMap;
use std::sync::Arc;

use lwm2m_core::{
    LwM2mNode, LwM2mObject, LwM2mObjectInstance, LwM2mPath, LwM2mResource, LwM2mResourceInstance,
    ModelLookup, ModelRegistry, ObjectModel, PathLevel, ResourceModel, Value, Version,
};

use crate::error::{Result, SimError};

/// The objects, instances and values of one device.
#[derive(Debug, Clone)]
pub struct ObjectTree {
    models: Arc<ModelRegistry>,
    objects: BTreeMap<u16, LwM2mObject>,
}

/// One object as listed in a Register/Update payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectListing {
    pub object: u16,
    pub version: Version,
    pub instances: Vec<u16>,
}

impl ObjectTree {
    /// An empty tree that types values with `models`.
    pub fn new(models: Arc<ModelRegistry>) -> Self {
        Self {
            models,
            objects: BTreeMap::new(),
        }
    }

    /// The models the tree (and every codec call of the device) uses.
    pub fn models(&self) -> &ModelRegistry {
        &self.models
    }

    /// Adds (or replaces) a whole object.
    pub fn insert_object(&mut self, object: LwM2mObject) {
        self.objects.insert(object.id, object);
    }

    /// The objects in Register order, with their model versions.
    pub fn listing(&self) -> Vec<ObjectListing> {
        self.objects
            .values()
            .map(|o| ObjectListing {
                object: o.id,
                version: self
                    .models
                    .object(o.id)
                    .map(|m| m.version)
                    .unwrap_or_default(),
                instances: o.instances.keys().copied().collect(),
            })
            .collect()
    }

    /// Instance ids of one object (empty if the object is absent).
    pub fn instance_ids(&self, object: u16) -> Vec<u16> {
        self.objects
            .get(&object)
            .map(|o| o.instances.keys().copied().collect())
            .unwrap_or_default()
    }

    fn model(&self, object: u16) -> Option<&ObjectModel> {
        self.models.object(object)
    }

    fn resource_model(&self, object: u16, resource: u16) -> Option<&ResourceModel> {
        self.models.resource(object, resource)
    }

    fn is_executable(&self, object: u16, resource: u16) -> bool {
        self.resource_model(object, resource)
            .is_some_and(|m| m.operations.executable())
    }

    /// Resources without a model are readable: the tree only holds what the
    /// simulator put there.
    fn is_readable(&self, object: u16, resource: u16) -> bool {
        self.resource_model(object, resource)
            .is_none_or(|m| m.operations.readable())
    }

    fn instance(&self, object: u16, instance: u16) -> Option<&LwM2mObjectInstance> {
        self.objects.get(&object)?.instances.get(&instance)
    }

    fn instance_mut(&mut self, object: u16, instance: u16) -> Option<&mut LwM2mObjectInstance> {
        self.objects.get_mut(&object)?.instances.get_mut(&instance)
    }

    /// Whether the path names something that exists (executables included).
    pub fn exists(&self, path: &LwM2mPath) -> bool {
        let ids = path.ids();
        match (ids.first(), ids.get(1), ids.get(2), ids.get(3)) {
            (None, ..) => true,
            (Some(o), None, ..) => self.objects.contains_key(o),
            (Some(o), Some(i), None, _) => self.instance(*o, *i).is_some(),
            (Some(o), Some(i), Some(r), ri) => {
                let Some(inst) = self.instance(*o, *i) else {
                    return false;
                };
                match (inst.resources.get(r), ri) {
                    (None, None) => self.is_executable(*o, *r),
                    (None, Some(_)) => false,
                    (Some(_), None) => true,
                    (Some(LwM2mResource::Multiple { instances, .. }), Some(ri)) => {
                        instances.contains_key(ri)
                    }
                    (Some(LwM2mResource::Single { .. }), Some(_)) => false,
                }
            }
        }
    }

    /// Read: the node at `path` with only readable resources. Executables
    /// and write-only resources answer 4.05, missing nodes 4.04.
    pub fn read(&self, path: &LwM2mPath) -> Result<LwM2mNode> {
        let not_found = || SimError::NotFound(path.to_string());
        let ids = path.ids();
        match (ids.first(), ids.get(1), ids.get(2), ids.get(3)) {
            (None, ..) => Err(SimError::MethodNotAllowed(
                "Read on the root path".to_owned(),
            )),
            (Some(o), None, ..) => {
                let object = self.objects.get(o).ok_or_else(not_found)?;
                Ok(LwM2mNode::Object(LwM2mObject::new(
                    *o,
                    object
                        .instances
                        .values()
                        .map(|i| self.readable_instance(*o, i)),
                )))
            }
            (Some(o), Some(i), None, _) => {
                let inst = self.instance(*o, *i).ok_or_else(not_found)?;
                Ok(LwM2mNode::ObjectInstance(self.readable_instance(*o, inst)))
            }
            (Some(o), Some(i), Some(r), ri) => {
                let inst = self.instance(*o, *i).ok_or_else(not_found)?;
                let Some(resource) = inst.resources.get(r) else {
                    if self.is_executable(*o, *r) {
                        return Err(SimError::MethodNotAllowed(format!("{path} is executable")));
                    }
                    return Err(not_found());
                };
                if !self.is_readable(*o, *r) {
                    return Err(SimError::MethodNotAllowed(format!(
                        "{path} is not readable"
                    )));
                }
                match (resource, ri) {
                    (resource, None) => Ok(LwM2mNode::Resource(resource.clone())),
                    (LwM2mResource::Multiple { instances, .. }, Some(ri)) => {
                        let value = instances.get(ri).ok_or_else(not_found)?;
                        Ok(LwM2mNode::ResourceInstance(LwM2mResourceInstance {
                            id: *ri,
                            value: value.clone(),
                        }))
                    }
                    (LwM2mResource::Single { .. }, Some(_)) => Err(not_found()),
                }
            }
        }
    }

    fn readable_instance(&self, object: u16, inst: &LwM2mObjectInstance) -> LwM2mObjectInstance {
        LwM2mObjectInstance::new(
            inst.id,
            inst.resources
                .values()
                .filter(|r| self.is_readable(object, r.id()))
                .cloned(),
        )
    }

    /// Every readable leaf under `path` with its value, in tree order: the
    /// snapshot observations compare to decide whether something changed.
    pub fn leaves(&self, path: &LwM2mPath) -> Result<Vec<(LwM2mPath, Value)>> {
        let node = self.read(path)?;
        Ok(node
            .leaves(path)
            .into_iter()
            .map(|(p, v)| (p, v.clone()))
            .collect())
    }

    /// The value of a single resource or resource instance, without access checks.
    pub fn value(&self, path: &LwM2mPath) -> Option<&Value> {
        let ids = path.ids();
        let inst = self.instance(*ids.first()?, *ids.get(1)?)?;
        match (inst.resources.get(ids.get(2)?)?, ids.get(3)) {
            (LwM2mResource::Single { value, .. }, None) => Some(value),
            (LwM2mResource::Multiple { instances, .. }, Some(ri)) => instances.get(ri),
            _ => None,
        }
    }

    /// Sets a single resource or a resource instance without access checks:
    /// the device itself changing its values. The instance must exist.
    pub fn set_value(&mut self, path: &LwM2mPath, value: Value) -> Result<()> {
        let not_found = || SimError::NotFound(path.to_string());
        let ids = path.ids().to_vec();
        let (Some(&o), Some(&i), Some(&r)) = (ids.first(), ids.get(1), ids.get(2)) else {
            return Err(SimError::BadRequest(format!(
                "{path} is not a resource path"
            )));
        };
        let multiple = self.resource_model(o, r).is_some_and(|m| m.multiple);
        let inst = self.instance_mut(o, i).ok_or_else(not_found)?;
        match ids.get(3) {
            None if !multiple => {
                inst.resources.insert(r, LwM2mResource::single(r, value));
            }
            None => {
                return Err(SimError::BadRequest(format!(
                    "{path} is a multiple resource; set one of its instances"
                )))
            }
            Some(&ri) => {
                let kind = value.resource_type();
                match inst.resources.entry(r).or_insert(LwM2mResource::Multiple {
                    id: r,
                    kind,
                    instances: BTreeMap::new(),
                }) {
                    LwM2mResource::Multiple { instances, .. } => {
                        instances.insert(ri, value);
                    }
                    LwM2mResource::Single { .. } => return Err(not_found()),
                }
            }
        }
        Ok(())
    }

    /// Write (PUT replaces, POST updates partially) a decoded node at
    /// `path`. Returns the resource paths written. Read-only resources
    /// answer 4.05, missing instances 4.04.
    pub fn write(
        &mut self,
        path: &LwM2mPath,
        node: LwM2mNode,
        replace: bool,
    ) -> Result<Vec<LwM2mPath>> {
        node.check_path(path)
            .map_err(|e| SimError::BadRequest(e.to_string()))?;
        let ids = path.ids();
        let (Some(&o), Some(&i)) = (ids.first(), ids.get(1)) else {
            return Err(SimError::MethodNotAllowed(format!(
                "Write on {path} (object level)"
            )));
        };
        if self.instance(o, i).is_none() {
            return Err(SimError::NotFound(path.to_string()));
        }
        match node {
            LwM2mNode::ObjectInstance(inst) => {
                for r in inst.resources.values() {
                    self.check_writable(o, r.id(), path)?;
                }
                let mut written = Vec::new();
                if replace {
                    let removable: Vec<u16> = self
                        .instance(o, i)
                        .map(|cur| {
                            cur.resources
                                .keys()
                                .copied()
                                .filter(|id| {
                                    !inst.resources.contains_key(id)
                                        && self.resource_model(o, *id).is_some_and(|m| {
                                            m.operations.writable() && !m.mandatory
                                        })
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(cur) = self.instance_mut(o, i) {
                        for id in removable {
                            cur.resources.remove(&id);
                        }
                    }
                }
                for (id, r) in inst.resources {
                    self.put_resource(o, i, r, replace)?;
                    written.push(path.child(id).map_err(SimError::decode)?);
                }
                Ok(written)
            }
            LwM2mNode::Resource(r) => {
                self.check_writable(o, r.id(), path)?;
                self.put_resource(o, i, r, replace)?;
                Ok(vec![*path])
            }
            LwM2mNode::ResourceInstance(ri) => {
                let r = ids.get(2).copied().unwrap_or_default();
                self.check_writable(o, r, path)?;
                if !self.resource_model(o, r).is_some_and(|m| m.multiple) {
                    return Err(SimError::NotFound(path.to_string()));
                }
                self.set_value(path, ri.value)?;
                Ok(vec![path.parent()])
            }
            LwM2mNode::Object(_) => Err(SimError::MethodNotAllowed(format!(
                "Write on {path} (object level)"
            ))),
        }
    }

    fn check_writable(&self, object: u16, resource: u16, at: &LwM2mPath) -> Result<()> {
        match self.resource_model(object, resource) {
            Some(m) if m.operations.writable() => Ok(()),
            Some(_) => Err(SimError::MethodNotAllowed(format!(
                "resource {resource} under {at} is not writable"
            ))),
            None => Err(SimError::NotFound(format!(
                "resource {resource} under {at} is not defined"
            ))),
        }
    }

    /// Stores a resource; a partial update of a multiple resource merges
    /// its instances.
    fn put_resource(&mut self, o: u16, i: u16, r: LwM2mResource, replace: bool) -> Result<()> {
        let inst = self
            .instance_mut(o, i)
            .ok_or_else(|| SimError::NotFound(format!("/{o}/{i}")))?;
        match (inst.resources.get_mut(&r.id()), r) {
            (
                Some(LwM2mResource::Multiple { instances, .. }),
                LwM2mResource::Multiple { instances: new, .. },
            ) if !replace => instances.extend(new),
            (_, r) => {
                inst.resources.insert(r.id(), r);
            }
        }
        Ok(())
    }

    /// The lowest free instance id of `object`.
    pub fn next_instance_id(&self, object: u16) -> u16 {
        let used = self.instance_ids(object);
        (0..u16::MAX).find(|id| !used.contains(id)).unwrap_or(0)
    }

    /// Create: adds an instance to an existing object. Single-instance
    /// objects that already have their instance refuse (4.00), as does a
    /// taken id.
    pub fn create(&mut self, object: u16, instance: LwM2mObjectInstance) -> Result<LwM2mPath> {
        let multiple = self.model(object).is_some_and(|m| m.multiple);
        let obj = self
            .objects
            .get_mut(&object)
            .ok_or_else(|| SimError::NotFound(format!("/{object}")))?;
        if !multiple && !obj.instances.is_empty() {
            return Err(SimError::BadRequest(format!(
                "object {object} is single-instance"
            )));
        }
        if obj.instances.contains_key(&instance.id) {
            return Err(SimError::BadRequest(format!(
                "/{object}/{} already exists",
                instance.id
            )));
        }
        let path = LwM2mPath::object_instance(object, instance.id).map_err(SimError::decode)?;
        obj.instances.insert(instance.id, instance);
        Ok(path)
    }

    /// Delete: removes an instance of a multiple-instance object. The
    /// Server object and single-instance objects refuse (4.05).
    pub fn delete(&mut self, path: &LwM2mPath) -> Result<()> {
        let (PathLevel::ObjectInstance, Some(o), Some(i)) =
            (path.level(), path.object_id(), path.instance_id())
        else {
            return Err(SimError::MethodNotAllowed(format!(
                "Delete on {path}: only object instances can be deleted"
            )));
        };
        if self.instance(o, i).is_none() {
            return Err(SimError::NotFound(path.to_string()));
        }
        if o == 1 || !self.model(o).is_some_and(|m| m.multiple) {
            return Err(SimError::MethodNotAllowed(format!(
                "{path} cannot be deleted"
            )));
        }
        if let Some(obj) = self.objects.get_mut(&o) {
            obj.instances.remove(&i);
        }
        Ok(())
    }

    /// Checks that `path` is an executable resource of an existing instance.
    pub fn check_executable(&self, path: &LwM2mPath) -> Result<()> {
        let (PathLevel::Resource, Some(o), Some(i), Some(r)) = (
            path.level(),
            path.object_id(),
            path.instance_id(),
            path.resource_id(),
        ) else {
            return Err(SimError::MethodNotAllowed(format!("Execute on {path}")));
        };
        if self.instance(o, i).is_none() {
            return Err(SimError::NotFound(path.to_string()));
        }
        match self.resource_model(o, r) {
            Some(m) if m.operations.executable() => Ok(()),
            Some(_) => Err(SimError::MethodNotAllowed(format!(
                "{path} is not executable"
            ))),
            None => Err(SimError::NotFound(path.to_string())),
        }
    }

    /// Resource ids an instance implements: its values plus the
    /// executables of the model.
    pub fn implemented_resources(&self, object: u16, instance: u16) -> Vec<u16> {
        let mut ids: Vec<u16> = self
            .instance(object, instance)
            .map(|i| i.resources.keys().copied().collect())
            .unwrap_or_default();
        if let Some(model) = self.model(object) {
            ids.extend(
                model
                    .resources
                    .values()
                    .filter(|r| r.operations.executable())
                    .map(|r| r.id),
            );
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Number of instances of a multiple resource (`dim` in Discover).
    pub fn dim(&self, path: &LwM2mPath) -> Option<u16> {
        let ids = path.ids();
        let inst = self.instance(*ids.first()?, *ids.get(1)?)?;
        match inst.resources.get(ids.get(2)?)? {
            LwM2mResource::Multiple { instances, .. } => u16::try_from(instances.len()).ok(),
            LwM2mResource::Single { .. } => None,
        }
    }

    /// Resource instance ids of a multiple resource.
    pub fn resource_instance_ids(&self, path: &LwM2mPath) -> Vec<u16> {
        let ids = path.ids();
        let found = (|| {
            let inst = self.instance(*ids.first()?, *ids.get(1)?)?;
            match inst.resources.get(ids.get(2)?)? {
                LwM2mResource::Multiple { instances, .. } => {
                    Some(instances.keys().copied().collect())
                }
                LwM2mResource::Single { .. } => None,
            }
        })();
        found.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temperature_model::sim_registry;
    use lwm2m_core::ResourceType;

    fn tree() -> ObjectTree {
        let mut t = ObjectTree::new(Arc::new(sim_registry()));
        t.insert_object(LwM2mObject::new(
            3,
            [LwM2mObjectInstance::new(
                0,
                [
                    LwM2mResource::single(0, Value::String("ACME".into())),
                    LwM2mResource::single(9, Value::Integer(90)),
                    LwM2mResource::single(15, Value::String("UTC".into())),
                    LwM2mResource::multiple(11, ResourceType::Integer, [(0, Value::Integer(0))])
                        .unwrap(),
                ],
            )],
        ));
        t.insert_object(LwM2mObject::new(
            3303,
            [LwM2mObjectInstance::new(
                0,
                [LwM2mResource::single(5700, Value::Float(21.5))],
            )],
        ));
        t.insert_object(LwM2mObject::new(
            5,
            [LwM2mObjectInstance::new(
                0,
                [LwM2mResource::single(0, Value::Opaque(vec![]))],
            )],
        ));
        t
    }

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    #[test]
    fn reads_every_level() {
        let t = tree();
        assert!(
            matches!(t.read(&p("/3")).unwrap(), LwM2mNode::Object(o) if o.instances.len() == 1)
        );
        assert!(
            matches!(t.read(&p("/3/0")).unwrap(), LwM2mNode::ObjectInstance(i) if i.resources.len() == 4)
        );
        assert_eq!(
            t.read(&p("/3/0/9")).unwrap(),
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(90)))
        );
        assert!(matches!(
            t.read(&p("/3/0/11/0")).unwrap(),
            LwM2mNode::ResourceInstance(ri) if ri.value == Value::Integer(0)
        ));
    }

    #[test]
    fn read_errors_follow_the_spec() {
        let t = tree();
        assert!(
            matches!(t.read(&p("/3/0/4")), Err(SimError::MethodNotAllowed(_))),
            "executable"
        );
        assert!(
            matches!(t.read(&p("/5/0/0")), Err(SimError::MethodNotAllowed(_))),
            "write-only"
        );
        assert!(matches!(t.read(&p("/3/1")), Err(SimError::NotFound(_))));
        assert!(matches!(t.read(&p("/42")), Err(SimError::NotFound(_))));
        assert!(matches!(
            t.read(&p("/3/0/11/7")),
            Err(SimError::NotFound(_))
        ));
        assert!(matches!(t.read(&p("/3/0/1")), Err(SimError::NotFound(_))));
        // The write-only Package is not part of an instance read.
        let LwM2mNode::ObjectInstance(fw) = t.read(&p("/5/0")).unwrap() else {
            panic!()
        };
        assert!(fw.resources.is_empty());
    }

    #[test]
    fn writes_resources_and_instances() {
        let mut t = tree();
        let written = t
            .write(
                &p("/3/0/15"),
                LwM2mNode::Resource(LwM2mResource::single(
                    15,
                    Value::String("Europe/Paris".into()),
                )),
                true,
            )
            .unwrap();
        assert_eq!(written, vec![p("/3/0/15")]);
        assert_eq!(
            t.value(&p("/3/0/15")),
            Some(&Value::String("Europe/Paris".into()))
        );
        let err = t.write(
            &p("/3/0/9"),
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(1))),
            true,
        );
        assert!(matches!(err, Err(SimError::MethodNotAllowed(_))));
        let partial = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(
            0,
            [LwM2mResource::single(5750, Value::String("room".into()))],
        ));
        t.write(&p("/3303/0"), partial, false).unwrap();
        assert_eq!(
            t.value(&p("/3303/0/5700")),
            Some(&Value::Float(21.5)),
            "kept"
        );
        assert!(matches!(
            t.write(
                &p("/3303/9"),
                LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(9, [])),
                false
            ),
            Err(SimError::NotFound(_))
        ));
        assert!(matches!(
            t.write(
                &p("/3303"),
                LwM2mNode::Object(LwM2mObject::new(3303, [])),
                true
            ),
            Err(SimError::MethodNotAllowed(_))
        ));
    }

    #[test]
    fn replace_drops_optional_writable_resources() {
        let mut t = tree();
        t.set_value(&p("/3303/0/5750"), Value::String("x".into()))
            .unwrap();
        let empty = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(0, []));
        t.write(&p("/3303/0"), empty, true).unwrap();
        assert_eq!(t.value(&p("/3303/0/5750")), None);
        assert!(t.value(&p("/3303/0/5700")).is_some(), "read-only stays");
    }

    #[test]
    fn creates_and_deletes_instances() {
        let mut t = tree();
        let id = t.next_instance_id(3303);
        assert_eq!(id, 1);
        let path = t
            .create(
                3303,
                LwM2mObjectInstance::new(id, [LwM2mResource::single(5700, Value::Float(1.0))]),
            )
            .unwrap();
        assert_eq!(path, p("/3303/1"));
        assert!(
            t.create(3303, LwM2mObjectInstance::new(1, [])).is_err(),
            "taken"
        );
        assert!(
            t.create(3, LwM2mObjectInstance::new(1, [])).is_err(),
            "single"
        );
        assert!(matches!(
            t.create(77, LwM2mObjectInstance::new(0, [])),
            Err(SimError::NotFound(_))
        ));
        t.delete(&p("/3303/1")).unwrap();
        assert!(!t.exists(&p("/3303/1")));
        assert!(matches!(
            t.delete(&p("/3303/1")),
            Err(SimError::NotFound(_))
        ));
        assert!(matches!(
            t.delete(&p("/3/0")),
            Err(SimError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            t.delete(&p("/3303")),
            Err(SimError::MethodNotAllowed(_))
        ));
    }

    #[test]
    fn executables_are_known_from_the_model() {
        let t = tree();
        assert!(t.check_executable(&p("/3/0/4")).is_ok());
        assert!(t.exists(&p("/3/0/4")));
        assert!(matches!(
            t.check_executable(&p("/3/0/9")),
            Err(SimError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            t.check_executable(&p("/3/7/4")),
            Err(SimError::NotFound(_))
        ));
        assert!(t.implemented_resources(3303, 0).contains(&5605));
        assert_eq!(t.dim(&p("/3/0/11")), Some(1));
        assert_eq!(t.dim(&p("/3/0/9")), None);
    }

    #[test]
    fn listing_carries_model_versions() {
        let t = tree();
        let l = t.listing();
        let dev = l.iter().find(|o| o.object == 3).unwrap();
        assert_eq!(dev.version, Version::V1_1);
        assert_eq!(dev.instances, vec![0]);
    }
}
