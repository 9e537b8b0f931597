//! Proto messages ↔ registry types. Parsing a request happens here, once:
//! every fault becomes a [`FieldError`] named by the field's path in the
//! request (`profile.objects[0].version`), and all faults of a message are
//! reported together.

pub mod devices;
pub mod models;
pub mod profiles;
pub mod tenants;

use lwm2m_core::Version;

use crate::error::{Error, FieldError};

/// Collects field faults while a message is converted.
#[derive(Debug, Default)]
pub struct Faults(pub Vec<FieldError>);

impl Faults {
    pub fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }

    /// `value`, or the default while recording the fault.
    pub fn take<T: Default>(&mut self, result: Result<T, (String, String)>) -> T {
        match result {
            Ok(v) => v,
            Err((field, reason)) => {
                self.add(field, reason);
                T::default()
            }
        }
    }

    pub fn extend(&mut self, error: Error) {
        match error {
            Error::Invalid(list) => self.0.extend(list),
            other => self.add("request", other.to_string()),
        }
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn finish<T>(self, value: T) -> Result<T, Error> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}

/// A `u32` field that must fit a `u16` (object, instance, resource ids).
pub fn u16_of(value: u32, field: &str) -> Result<u16, (String, String)> {
    u16::try_from(value).map_err(|_| (field.to_owned(), format!("{value} is above 65535")))
}

/// A version field; `empty` is used when the field is empty.
pub fn version_of(
    text: &str,
    field: &str,
    empty: Option<Version>,
) -> Result<Version, (String, String)> {
    if text.is_empty() {
        if let Some(v) = empty {
            return Ok(v);
        }
    }
    text.parse().map_err(|_| {
        (
            field.to_owned(),
            format!("{text:?} is not a MAJOR.MINOR version"),
        )
    })
}

/// `None` for an empty string.
pub fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// A required sub-message.
pub fn required<'m, T>(message: &'m Option<T>, field: &str) -> Result<&'m T, Error> {
    message
        .as_ref()
        .ok_or_else(|| Error::invalid(field, "is required"))
}
