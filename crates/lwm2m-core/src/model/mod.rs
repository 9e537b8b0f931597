//! Object models: what objects and resources exist, their types and operations.
//!
//! Models come from OMA DDF XML files ([`ddf`]) or are built in ([`builtin`]);
//! the [`ModelRegistry`] keeps several versions of one object side by side.
//! Codecs read types through the [`ModelLookup`] trait, which a per-device
//! view implements so each device is decoded with the versions it registered.

pub mod builtin;
pub mod ddf;
mod registry;

use std::collections::BTreeMap;

pub use registry::{DeviceModelView, ModelRegistry};

use crate::node::ResourceType;
use crate::Version;

/// Which operations a resource supports (`<Operations>` in DDF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Operations {
    None,
    Read,
    Write,
    ReadWrite,
    Execute,
}

impl Operations {
    pub fn from_ddf(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_uppercase().as_str() {
            "" | "NONE" => Operations::None,
            "R" => Operations::Read,
            "W" => Operations::Write,
            "RW" => Operations::ReadWrite,
            "E" => Operations::Execute,
            _ => return None,
        })
    }

    pub fn readable(&self) -> bool {
        matches!(self, Operations::Read | Operations::ReadWrite)
    }

    pub fn writable(&self) -> bool {
        matches!(self, Operations::Write | Operations::ReadWrite)
    }

    pub fn executable(&self) -> bool {
        matches!(self, Operations::Execute)
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResourceModel {
    pub id: u16,
    pub name: String,
    pub operations: Operations,
    pub multiple: bool,
    pub mandatory: bool,
    pub kind: ResourceType,
    /// `<RangeEnumeration>` as written in the model, if any.
    pub range: Option<String>,
    pub units: Option<String>,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObjectModel {
    pub id: u16,
    pub name: String,
    pub description: String,
    /// `<ObjectVersion>`, 1.0 when the model does not say.
    pub version: Version,
    /// `<LWM2MVersion>`, 1.0 when the model does not say.
    pub lwm2m_version: Version,
    pub multiple: bool,
    pub mandatory: bool,
    pub urn: Option<String>,
    pub resources: BTreeMap<u16, ResourceModel>,
}

impl ObjectModel {
    pub fn resource(&self, id: u16) -> Option<&ResourceModel> {
        self.resources.get(&id)
    }
}

/// Read access to object models, as codecs need it.
pub trait ModelLookup {
    /// The model of `object_id` to use for the current device or request.
    fn object(&self, object_id: u16) -> Option<&ObjectModel>;

    fn resource(&self, object_id: u16, resource_id: u16) -> Option<&ResourceModel> {
        self.object(object_id)?.resource(resource_id)
    }
}
