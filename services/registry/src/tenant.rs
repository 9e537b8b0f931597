//! Tenants: the owners of profiles, devices and their own object models.

use crate::error::Error;
use crate::ids::{ProfileId, TenantId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    /// Devices with an unknown endpoint may register (NoSec only) and are
    /// created on the fly; otherwise the transport refuses them with 4.03.
    pub auto_provision: bool,
    /// The profile auto-provisioned devices get.
    pub auto_provision_profile_id: Option<ProfileId>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Longest display name of a tenant, profile or device.
pub const MAX_NAME_LEN: usize = 200;

/// A display name: not blank, at most [`MAX_NAME_LEN`] bytes, no control characters.
pub fn validate_name(name: &str, field: &str) -> Result<(), Error> {
    if name.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(
            field,
            format!("is {} bytes, at most {MAX_NAME_LEN} allowed", name.len()),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("Acme Corp", "name").is_ok());
        assert!(validate_name("  ", "name").is_err());
        assert!(validate_name("a\nb", "name").is_err());
        let err = validate_name(&"x".repeat(201), "tenant.name").unwrap_err();
        assert_eq!(err.field_errors()[0].field, "tenant.name");
    }
}
