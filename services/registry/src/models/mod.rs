//! Object models as the registry stores them: the parsed [`ObjectModel`]
//! (what validation and the transport use) next to the DDF XML it came from
//! (what operators download again), in the system scope or a tenant's.

pub mod import;

use lwm2m_core::{ObjectModel, Version};

use crate::ids::{Scope, TenantId};

/// A stored model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRecord {
    pub scope: Scope,
    pub model: ObjectModel,
    /// The file it was imported from, or `builtin` for the core objects.
    pub source_name: String,
    /// The DDF document; only single-model reads fill it in.
    pub ddf_xml: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A model to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewModel {
    pub model: ObjectModel,
    pub source_name: String,
    pub ddf_xml: String,
}

/// `(object id, version)`: what identifies a model within one scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelKey {
    pub object_id: u16,
    pub version: Version,
}

impl std::fmt::Display for ModelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.object_id, self.version)
    }
}

/// Which models a listing shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ModelView {
    /// What the tenant sees: its own models, and system models it has not
    /// overridden. Without a tenant: the system models.
    #[default]
    Visible,
    SystemOnly,
    TenantOnly,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelFilter {
    /// `None`: the system operator's view (system models only).
    pub tenant: Option<TenantId>,
    pub view: ModelView,
    pub object_id: Option<u16>,
    pub version: Option<Version>,
    /// Case-insensitive (ASCII) substring of the object name.
    pub name_contains: Option<String>,
}

/// Whether a stored model replaced an existing one of the same scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PutOutcome {
    pub key: ModelKey,
    pub replaced: bool,
}

/// An object a device announced at registration with no model visible to
/// its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownObject {
    pub tenant: TenantId,
    pub key: ModelKey,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub last_endpoint: String,
    /// Registrations that announced it.
    pub seen_count: i64,
}
