//! Discover answers (LwM2M 1.1.1 Core TS §5.4.2): the object, instances and
//! resources below the requested path, each with the attributes attached to
//! it by Write-Attributes, and `dim` on multiple resources.

use lwm2m_core::link::discover::write_discover;
use lwm2m_core::link::LwM2mAttributes;
use lwm2m_core::{LwM2mPath, PathLevel, Version};

use crate::attribute_store::AttributeStore;
use crate::error::{Result, SimError};
use crate::object_tree::ObjectTree;

/// The link-format body of a Discover on `path`.
pub fn discover(
    tree: &ObjectTree,
    attributes: &AttributeStore,
    path: &LwM2mPath,
    version: Version,
) -> Result<String> {
    if path.is_root() {
        return Err(SimError::MethodNotAllowed(
            "Discover on the root path is for bootstrap servers".to_owned(),
        ));
    }
    if !tree.exists(path) {
        return Err(SimError::NotFound(path.to_string()));
    }
    let mut entries = vec![(*path, entry_attributes(tree, attributes, path))];
    let object = path.object_id().unwrap_or_default();
    let resources_of = |instance: u16, out: &mut Vec<(LwM2mPath, LwM2mAttributes)>| {
        for r in tree.implemented_resources(object, instance) {
            if let Ok(p) = LwM2mPath::resource(object, instance, r) {
                out.push((p, entry_attributes(tree, attributes, &p)));
            }
        }
    };
    match path.level() {
        PathLevel::Object => {
            for i in tree.instance_ids(object) {
                if let Ok(p) = LwM2mPath::object_instance(object, i) {
                    entries.push((p, entry_attributes(tree, attributes, &p)));
                }
                resources_of(i, &mut entries);
            }
        }
        PathLevel::ObjectInstance => {
            resources_of(path.instance_id().unwrap_or_default(), &mut entries);
        }
        PathLevel::Resource if version >= Version::V1_1 => {
            for ri in tree.resource_instance_ids(path) {
                if let Ok(p) = path.child(ri) {
                    entries.push((p, entry_attributes(tree, attributes, &p)));
                }
            }
        }
        _ => {}
    }
    Ok(write_discover(&entries))
}

fn entry_attributes(
    tree: &ObjectTree,
    attributes: &AttributeStore,
    path: &LwM2mPath,
) -> LwM2mAttributes {
    let mut a = attributes.attached(path);
    if path.level() == PathLevel::Resource {
        a.dim = tree.dim(path);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeviceConfig;
    use crate::initial_objects::initial_tree;
    use crate::temperature_model::sim_registry;
    use lwm2m_core::link::discover::parse_discover;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::sync::Arc;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    fn tree() -> ObjectTree {
        initial_tree(
            &DeviceConfig::default(),
            Arc::new(sim_registry()),
            &mut SmallRng::seed_from_u64(1),
            0,
        )
    }

    #[test]
    fn object_discover_lists_instances_resources_dim_and_attributes() {
        let t = tree();
        let mut attrs = AttributeStore::new();
        attrs.write_query(&p("/3/0/9"), &["pmin=10"]).unwrap();
        let text = discover(&t, &attrs, &p("/3"), Version::V1_1).unwrap();
        let entries = parse_discover(&text, "/").unwrap();
        assert_eq!(entries[0].0, p("/3"));
        assert_eq!(entries[1].0, p("/3/0"));
        let find = |s: &str| {
            entries
                .iter()
                .find(|(q, _)| *q == p(s))
                .map(|(_, a)| a.clone())
        };
        assert_eq!(find("/3/0/9").unwrap().pmin, Some(10));
        assert_eq!(find("/3/0/6").unwrap().dim, Some(2));
        assert!(find("/3/0/4").is_some(), "executables are listed");
    }

    #[test]
    fn resource_discover_lists_instances_on_1_1_only() {
        let t = tree();
        let attrs = AttributeStore::new();
        let v11 = discover(&t, &attrs, &p("/3/0/6"), Version::V1_1).unwrap();
        assert_eq!(v11, "</3/0/6>;dim=2,</3/0/6/0>,</3/0/6/1>");
        let v10 = discover(&t, &attrs, &p("/3/0/6"), Version::V1_0).unwrap();
        assert_eq!(v10, "</3/0/6>;dim=2");
    }

    #[test]
    fn errors() {
        let t = tree();
        let attrs = AttributeStore::new();
        assert!(matches!(
            discover(&t, &attrs, &p("/"), Version::V1_1),
            Err(SimError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            discover(&t, &attrs, &p("/77"), Version::V1_1),
            Err(SimError::NotFound(_))
        ));
    }
}
