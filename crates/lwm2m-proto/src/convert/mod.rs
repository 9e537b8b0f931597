//! Conversions between the generated proto types and the `lwm2m-core`
//! domain types.
//!
//! Core → proto is infallible (every domain value has a proto form). Proto →
//! core is fallible because proto fields are wider than the domain (a `uint32`
//! object id, a free-form path string) and the input may come from another
//! service or language.

mod path;
mod resource_value;
mod untyped;
mod value;

pub use path::parse_path;
pub use resource_value::{resource_value, ResourceEntry};
pub use untyped::{as_untyped, missing_model_text, untyped_resource_value, untyped_value};
pub use value::value_from_proto;
