//! The LwM2M domain without IO.
//!
//! Everything here takes bytes (and, where time matters, `now`) in and gives
//! typed values out: no sockets, no async runtime, no clock reads and no OS
//! randomness. The transport, the simulator and the services all share this
//! vocabulary, after Eclipse Leshan's `leshan-lwm2m-core`.
//!
//! - [`path`]: [`LwM2mPath`], including the operator form with an object version (`/3_1.2/0/9`).
//! - [`node`]: the node tree (object, instance, single/multiple resource, resource instance) and typed [`Value`]s.
//! - [`model`]: object models parsed from OMA DDF XML, the built-in core objects, and a versioned registry.
//! - [`codec`]: one codec per content format behind the [`codec::NodeCodec`] trait.
//! - [`link`]: CoRE link format (RFC 6690) with LwM2M attributes.
//! - [`registration`]: the query and payload of Register/Update requests.
#![deny(clippy::indexing_slicing)]

pub mod codec;
pub mod error;
pub mod link;
pub mod model;
pub mod node;
pub mod path;
pub mod registration;
pub mod version;

pub use codec::ContentFormat;
pub use error::Error;
pub use model::{ModelLookup, ModelRegistry, ObjectModel, Operations, ResourceModel};
pub use node::{
    LwM2mNode, LwM2mObject, LwM2mObjectInstance, LwM2mResource, LwM2mResourceInstance, ObjectLink,
    ResourceType, Value,
};
pub use path::{LwM2mPath, PathLevel};
pub use version::Version;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
