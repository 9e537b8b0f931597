//! Conversions between the generated proto types and the `lwm2m-core`
//! domain types.
//!
//! Core → proto is infallible (every domain value has a proto form). Proto →
//! core is fallible because proto fields are wider than the domain (a `uint32`
//! object id, a free-form path string) and the input may come from another
//! service or language.

mod path;
mod resource_value;
mod value;

pub use path::parse_path;
pub use resource_value::{resource_value, ResourceEntry};
pub use value::value_from_proto;
