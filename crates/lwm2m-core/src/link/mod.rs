//! CoRE link format (RFC 6690) with the LwM2M attributes.
//!
//! LwM2M clients list their objects in this format when they register
//! (`</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>;ver=1.1,</5>`), and answer
//! Discover with it (`</3/0/7>;dim=2;gt=50`). Clients in the field send many
//! dialects of it, so the [`parse`] here is tolerant of what they do
//! (value-less attributes, quoted or bare values, whitespace and newlines,
//! trailing commas, an empty payload) and strict only where a document
//! cannot be understood (no `<`, an unterminated target or quoted string).
//! It never panics and bounds what it builds by the input size.
//!
//! - [`Link`] / [`AttrValue`]: one link as written, attributes in order.
//! - [`LwM2mAttributes`]: the typed LwM2M attributes of one link, and the
//!   Write-Attributes query (`pmin=10&pmax=60&gt=20.5`).
//! - [`RegisteredObjects`]: what a Register/Update payload says: root path,
//!   content formats, objects with their versions and instances.
//! - [`discover`]: Discover answers as `(path, attributes)` pairs, both ways.

mod attributes;
pub mod discover;
mod model;
mod objects;
mod parser;

pub use attributes::LwM2mAttributes;
pub use model::{serialize, AttrValue, Link};
pub use objects::{RegisteredObject, RegisteredObjects};
pub use parser::{parse, MAX_LINKS, MAX_LINK_FORMAT_SIZE};
