//! A set of object models with several versions per object.

use std::collections::{BTreeMap, HashMap};

use super::{ModelLookup, ObjectModel};
use crate::Version;

/// Object models keyed by object id and version.
///
/// Lookups without a version use the *default* version of an object: the
/// built-in core models are the defaults for their ids; for other objects the
/// newest loaded version is.
#[derive(Clone, Debug, Default)]
pub struct ModelRegistry {
    objects: BTreeMap<u16, BTreeMap<Version, ObjectModel>>,
    defaults: HashMap<u16, Version>,
}

impl ModelRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the built-in core objects.
    pub fn with_core_objects() -> Self {
        let mut reg = Self::new();
        for model in super::builtin::core_objects() {
            let (id, version) = (model.id, model.version);
            reg.insert(model);
            reg.defaults.insert(id, version);
        }
        reg
    }

    /// Adds or replaces the model of `(id, version)`.
    pub fn insert(&mut self, model: ObjectModel) {
        self.objects
            .entry(model.id)
            .or_default()
            .insert(model.version, model);
    }

    /// Makes `version` the one used by lookups that do not name a version.
    pub fn set_default_version(&mut self, object_id: u16, version: Version) {
        self.defaults.insert(object_id, version);
    }

    pub fn get(&self, object_id: u16, version: Option<Version>) -> Option<&ObjectModel> {
        let versions = self.objects.get(&object_id)?;
        match version {
            Some(v) => versions.get(&v),
            None => self
                .defaults
                .get(&object_id)
                .and_then(|v| versions.get(v))
                .or_else(|| versions.values().next_back()),
        }
    }

    /// All versions held for one object, oldest first.
    pub fn versions(&self, object_id: u16) -> impl Iterator<Item = &ObjectModel> {
        self.objects
            .get(&object_id)
            .into_iter()
            .flat_map(|v| v.values())
    }

    /// Every model, by object id then version.
    pub fn iter(&self) -> impl Iterator<Item = &ObjectModel> {
        self.objects.values().flat_map(|v| v.values())
    }

    pub fn len(&self) -> usize {
        self.objects.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// A lookup that resolves each object to the version a device registered
    /// (from its `</3>;ver=1.1` links), falling back to the default version.
    pub fn for_device<'a>(&'a self, versions: &'a HashMap<u16, Version>) -> DeviceModelView<'a> {
        DeviceModelView {
            registry: self,
            versions,
        }
    }
}

impl ModelLookup for ModelRegistry {
    fn object(&self, object_id: u16) -> Option<&ObjectModel> {
        self.get(object_id, None)
    }
}

/// The models as one device sees them.
#[derive(Clone, Copy, Debug)]
pub struct DeviceModelView<'a> {
    registry: &'a ModelRegistry,
    versions: &'a HashMap<u16, Version>,
}

impl ModelLookup for DeviceModelView<'_> {
    fn object(&self, object_id: u16) -> Option<&ObjectModel> {
        match self.versions.get(&object_id) {
            Some(v) => self
                .registry
                .get(object_id, Some(*v))
                .or_else(|| self.registry.get(object_id, None)),
            None => self.registry.get(object_id, None),
        }
    }
}
