//! Identifiers of registry entities, parsed once at the edge.
//!
//! Tenant ids are chosen by operators and appear in Kafka keys
//! (`tenant/endpoint`), so they are restricted to a URL- and key-safe
//! alphabet. Device and profile ids are generated (UUID v4) but accepted as
//! any short printable string, so data imported from elsewhere keeps its ids.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Longest accepted id of any kind.
pub const MAX_ID_LEN: usize = 64;

/// A tenant: owner of profiles, devices and its own object models.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// `field` names the request field in the error.
    pub fn parse(text: &str, field: &str) -> Result<Self, Error> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if text.is_empty() || text.len() > MAX_ID_LEN || !text.chars().all(ok_char) {
            return Err(Error::invalid(
                field,
                format!(
                    "tenant id {text:?} must be 1 to {MAX_ID_LEN} characters of A-Z, a-z, 0-9, '-', '_' or '.'"
                ),
            ));
        }
        Ok(TenantId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! generated_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Self {
                $name(uuid::Uuid::new_v4().to_string())
            }

            /// `field` names the request field in the error.
            pub fn parse(text: &str, field: &str) -> Result<Self, Error> {
                let printable = text.chars().all(|c| c.is_ascii_graphic());
                if text.is_empty() || text.len() > MAX_ID_LEN || !printable {
                    return Err(Error::invalid(
                        field,
                        format!("{text:?} is not an id (1 to {MAX_ID_LEN} printable ASCII characters)"),
                    ));
                }
                Ok($name(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

generated_id!(
    /// A registered device.
    DeviceId
);
generated_id!(
    /// A device profile.
    ProfileId
);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who owns an object model: the system (visible to every tenant) or one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    System,
    Tenant(TenantId),
}

impl Scope {
    /// The `tenant_id` column value: `''` is the system scope (no tenant id
    /// can be empty, see [`TenantId::parse`]).
    pub fn db_key(&self) -> &str {
        match self {
            Scope::System => "",
            Scope::Tenant(t) => t.as_str(),
        }
    }

    /// The inverse of [`Scope::db_key`].
    pub fn from_db_key(key: &str) -> Result<Self, Error> {
        if key.is_empty() {
            Ok(Scope::System)
        } else {
            Ok(Scope::Tenant(TenantId::parse(key, "tenant_id")?))
        }
    }

    /// An empty request field means the system scope.
    pub fn parse(tenant_id: &str, field: &str) -> Result<Self, Error> {
        if tenant_id.is_empty() {
            Ok(Scope::System)
        } else {
            Ok(Scope::Tenant(TenantId::parse(tenant_id, field)?))
        }
    }

    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Scope::System => None,
            Scope::Tenant(t) => Some(t),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::System => f.write_str("system"),
            Scope::Tenant(t) => write!(f, "tenant {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_key_safe() {
        assert!(TenantId::parse("acme-1.eu_west", "t").is_ok());
        for bad in ["", "a/b", "a b", "ä", &"x".repeat(65)] {
            let err = TenantId::parse(bad, "tenant_id").unwrap_err().to_string();
            assert!(err.contains("tenant_id"), "{err}");
        }
    }

    #[test]
    fn system_scope_round_trips_through_the_column() {
        assert_eq!(Scope::from_db_key("").unwrap(), Scope::System);
        let acme = Scope::parse("acme", "t").unwrap();
        assert_eq!(Scope::from_db_key(acme.db_key()).unwrap(), acme);
    }

    #[test]
    fn generated_ids_parse_back() {
        let id = DeviceId::generate();
        assert_eq!(DeviceId::parse(id.as_str(), "id").unwrap(), id);
        assert!(ProfileId::parse("has space", "profile_id").is_err());
    }
}
