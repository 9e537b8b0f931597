//! The core objects of the LwM2M specification, built in.
//!
//! Every server needs the models of the objects that every client exposes
//! (Security, Server, Access Control, Device, ...) even when no DDF file was
//! loaded, so they are written here as compact tables, one file per object,
//! from the facts of the OMA specifications (LwM2M 1.1.1 Core TS Appendix E
//! and the OMA LwM2M registry). A unit test checks each table against the
//! registry's XML for the same object version.
//!
//! The versions chosen are those most clients register with: Firmware Update
//! 1.0 (1.1 exists), BinaryAppDataContainer 1.0, Device 1.1, and so on; other
//! versions can be loaded from DDF files into the same
//! [`ModelRegistry`](super::ModelRegistry) side by side.

mod access_control;
mod binary_app_data_container;
mod connectivity_monitoring;
mod connectivity_statistics;
mod device;
mod firmware_update;
mod location;
mod security;
mod server;
mod software_management;

use std::collections::BTreeMap;

use super::{ObjectModel, Operations, ResourceModel};
use crate::node::ResourceType;
use crate::Version;

/// The built-in core object models, one version per object.
pub fn core_objects() -> Vec<ObjectModel> {
    [
        &security::OBJECT,
        &server::OBJECT,
        &access_control::OBJECT,
        &device::OBJECT,
        &connectivity_monitoring::OBJECT,
        &firmware_update::OBJECT,
        &location::OBJECT,
        &connectivity_statistics::OBJECT,
        &software_management::OBJECT,
        &binary_app_data_container::OBJECT,
    ]
    .into_iter()
    .map(ObjectDef::build)
    .collect()
}

/// One resource row: id, name, operations, multiple, mandatory, type,
/// range/enumeration (`""` for none), units (`""` for none), description.
type Row = (
    u16,
    &'static str,
    Operations,
    bool,
    bool,
    ResourceType,
    &'static str,
    &'static str,
    &'static str,
);

/// The header of an object table.
struct ObjectDef {
    id: u16,
    name: &'static str,
    description: &'static str,
    version: Version,
    lwm2m_version: Version,
    multiple: bool,
    mandatory: bool,
    resources: &'static [Row],
}

impl ObjectDef {
    fn build(&self) -> ObjectModel {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let resources: BTreeMap<u16, ResourceModel> = self
            .resources
            .iter()
            .map(
                |&(id, name, operations, multiple, mandatory, kind, range, units, description)| {
                    let model = ResourceModel {
                        id,
                        name: name.to_owned(),
                        operations,
                        multiple,
                        mandatory,
                        kind,
                        range: opt(range),
                        units: opt(units),
                        description: description.to_owned(),
                    };
                    (id, model)
                },
            )
            .collect();
        // The registry's URN carries the version only from 1.1 on.
        let urn = if self.version == Version::V1_0 {
            format!("urn:oma:lwm2m:oma:{}", self.id)
        } else {
            format!("urn:oma:lwm2m:oma:{}:{}", self.id, self.version)
        };
        ObjectModel {
            id: self.id,
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            version: self.version,
            lwm2m_version: self.lwm2m_version,
            multiple: self.multiple,
            mandatory: self.mandatory,
            urn: Some(urn),
            resources,
        }
    }
}

/// Short names that keep the tables one row per resource.
mod prelude {
    pub(super) use super::{ObjectDef, Row};
    pub(super) use crate::model::Operations;
    pub(super) use crate::node::ResourceType;
    pub(super) use crate::Version;

    pub(super) const R: Operations = Operations::Read;
    pub(super) const W: Operations = Operations::Write;
    pub(super) const RW: Operations = Operations::ReadWrite;
    pub(super) const E: Operations = Operations::Execute;
    /// No operation: Security resources are reachable by the bootstrap server only.
    pub(super) const NO: Operations = Operations::None;

    pub(super) const SINGLE: bool = false;
    pub(super) const MULTI: bool = true;
    pub(super) const MAND: bool = true;
    pub(super) const OPT: bool = false;

    pub(super) const STR: ResourceType = ResourceType::String;
    pub(super) const INT: ResourceType = ResourceType::Integer;
    pub(super) const UINT: ResourceType = ResourceType::UnsignedInteger;
    pub(super) const FLOAT: ResourceType = ResourceType::Float;
    pub(super) const BOOL: ResourceType = ResourceType::Boolean;
    pub(super) const OPAQUE: ResourceType = ResourceType::Opaque;
    pub(super) const TIME: ResourceType = ResourceType::Time;
    pub(super) const OBJLNK: ResourceType = ResourceType::ObjectLink;
    pub(super) const EXEC: ResourceType = ResourceType::None;
}

#[cfg(test)]
#[path = "../../../tests/support/registry_dir.rs"]
mod registry_dir;

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a failed index is a failed test
mod tests {
    use super::*;
    use crate::model::ddf;

    use super::registry_dir;

    /// The registry file holding exactly the version built in.
    fn registry_model(id: u16, version: Version) -> ObjectModel {
        let name = format!("{id}-{}_{}.xml", version.major, version.minor);
        let path = registry_dir::registry_dir()
            .join("version_history")
            .join(&name);
        let xml =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut models = ddf::parse(&name, &xml).unwrap();
        assert_eq!(models.len(), 1, "{name}");
        models.remove(0)
    }

    #[test]
    fn core_objects_match_the_oma_registry() {
        let objects = core_objects();
        let ids: Vec<u16> = objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 4, 5, 6, 7, 9, 19]);
        for ours in &objects {
            let theirs = registry_model(ours.id, ours.version);
            let at = format!("object {} {}", ours.id, ours.version);
            assert_eq!(ours.name, theirs.name, "{at}: name");
            assert_eq!(ours.version, theirs.version, "{at}: version");
            assert_eq!(
                ours.lwm2m_version, theirs.lwm2m_version,
                "{at}: LwM2M version"
            );
            assert_eq!(ours.multiple, theirs.multiple, "{at}: multiple");
            assert_eq!(ours.mandatory, theirs.mandatory, "{at}: mandatory");
            assert_eq!(ours.urn, theirs.urn, "{at}: URN");
            let our_ids: Vec<u16> = ours.resources.keys().copied().collect();
            let their_ids: Vec<u16> = theirs.resources.keys().copied().collect();
            assert_eq!(our_ids, their_ids, "{at}: resource ids");
            for (id, r) in &ours.resources {
                let t = &theirs.resources[id];
                let at = format!("{at} resource {id}");
                assert_eq!(r.name, t.name, "{at}: name");
                assert_eq!(r.kind, t.kind, "{at}: type");
                assert_eq!(r.operations, t.operations, "{at}: operations");
                assert_eq!(r.multiple, t.multiple, "{at}: multiple");
                assert_eq!(r.mandatory, t.mandatory, "{at}: mandatory");
                assert_eq!(r.range, t.range, "{at}: range");
            }
        }
    }

    #[test]
    fn device_has_the_resources_codecs_rely_on() {
        let objects = core_objects();
        let device = objects.iter().find(|o| o.id == 3).unwrap();
        assert_eq!(device.resources.len(), 23, "resources 0..=22");
        let r = |id: u16| &device.resources[&id];
        assert_eq!(
            (r(7).kind, r(7).multiple, r(7).units.as_deref()),
            (ResourceType::Integer, true, Some("mV"))
        );
        assert_eq!(
            (r(9).kind, r(9).units.as_deref()),
            (ResourceType::Integer, Some("%"))
        );
        assert_eq!(
            (r(11).kind, r(11).multiple, r(11).mandatory),
            (ResourceType::Integer, true, true)
        );
        assert_eq!(
            (r(13).kind, r(13).operations),
            (ResourceType::Time, Operations::ReadWrite)
        );
        assert_eq!(
            (r(4).kind, r(4).operations),
            (ResourceType::None, Operations::Execute)
        );
        assert_eq!(
            (r(22).kind, r(22).multiple),
            (ResourceType::ObjectLink, true)
        );
    }

    #[test]
    fn registry_defaults_to_the_built_in_versions() {
        let reg = crate::ModelRegistry::with_core_objects();
        assert_eq!(reg.len(), 10);
        assert_eq!(reg.get(5, None).map(|m| m.version), Some(Version::V1_0));
        assert_eq!(reg.get(3, None).map(|m| m.version), Some(Version::V1_1));
    }
}
