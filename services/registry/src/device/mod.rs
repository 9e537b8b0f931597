//! Devices: an endpoint name unique across all tenants, its credentials for
//! the LwM2M server and the bootstrap server, its profile, and per-device
//! registration settings (the Cumulocity bulk-registration fields).

pub mod credentials;
pub mod csv_import;
pub mod settings;

pub use credentials::{Credentials, Der, SecretKey, SecurityMode};
pub use settings::DeviceSettings;

use crate::error::{Error, FieldError};
use crate::ids::{DeviceId, ProfileId, TenantId};

/// Longest endpoint name accepted (bytes).
pub const MAX_ENDPOINT_LEN: usize = 255;

#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub id: DeviceId,
    pub tenant_id: TenantId,
    /// The LwM2M endpoint client name (`ep=`), unique across all tenants.
    pub endpoint: String,
    pub name: String,
    pub profile_id: Option<ProfileId>,
    pub credentials: Credentials,
    /// Credentials for the bootstrap server, if the device bootstraps.
    pub bootstrap_credentials: Option<Credentials>,
    pub settings: DeviceSettings,
    /// Starts at 1, +1 per update.
    pub revision: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Device {
    /// Same registration data, ignoring id, revision and timestamps: a
    /// re-uploaded CSV row that matches is "unchanged", not a duplicate.
    pub fn same_content(&self, other: &Device) -> bool {
        self.tenant_id == other.tenant_id
            && self.endpoint == other.endpoint
            && self.name == other.name
            && self.profile_id == other.profile_id
            && self.credentials == other.credentials
            && self.bootstrap_credentials == other.bootstrap_credentials
            && self.settings == other.settings
    }

    pub fn bootstrap_psk_identity(&self) -> Option<&str> {
        self.bootstrap_credentials
            .as_ref()
            .and_then(Credentials::psk_identity)
    }

    /// Checks what the types do not: the endpoint, the name and the settings.
    pub fn validate(&self) -> Result<(), Error> {
        let mut faults = Vec::new();
        if let Err(reason) = check_endpoint(&self.endpoint) {
            faults.push(FieldError {
                field: "endpoint".into(),
                reason,
            });
        }
        if let Err(e) = crate::tenant::validate_name(&self.name, "name") {
            faults.extend(e.field_errors().iter().cloned());
        }
        faults.extend(self.settings.validate("settings"));
        if faults.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(faults))
        }
    }
}

/// An endpoint name: 1 to 255 bytes, no control characters, no surrounding blanks.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(format!("must be 1 to {MAX_ENDPOINT_LEN} bytes"));
    }
    if endpoint.trim() != endpoint {
        return Err("must not start or end with blanks".to_owned());
    }
    if endpoint.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// Which devices a listing shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    pub tenant: Option<TenantId>,
    pub profile: Option<ProfileId>,
    /// Case-insensitive (ASCII) substring of the name or the endpoint.
    pub name_contains: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked() {
        assert!(check_endpoint("urn:imei:490154203237518").is_ok());
        assert!(check_endpoint("").is_err());
        assert!(check_endpoint(" padded").is_err());
        assert!(check_endpoint("a\u{0}b").is_err());
        assert!(check_endpoint(&"e".repeat(256)).is_err());
    }
}
