//! The one error type of this crate.
//!
//! "Not found" is never an error here: lookups return `Option` so the
//! transport can answer 4.04 without string matching. Errors are either bad
//! input (the transport answers 4.00), a backend failure (5.03, retry later)
//! or stored data this version cannot read.

/// Everything a [`crate::SessionStore`] can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The caller passed something the store refuses to keep (empty or
    /// oversized endpoint name, token longer than 8 bytes, ...).
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },

    /// An observation was added for a registration that is not (or no
    /// longer) the current registration of its endpoint, e.g. because the
    /// device re-registered while the Observe request was in flight.
    #[error("endpoint {endpoint:?} has no registration {registration_id:?}")]
    NotRegistered {
        endpoint: String,
        registration_id: String,
    },

    /// The token already identifies a live observation of another endpoint;
    /// tokens are matched cluster-wide, so they must be unique.
    #[error("observe token {token} is in use by endpoint {endpoint:?}")]
    TokenInUse { token: String, endpoint: String },

    /// A `list` cursor that this store did not hand out.
    #[error("invalid list cursor {0:?}")]
    InvalidCursor(String),

    /// Optimistic compare-and-set kept losing against concurrent writers of
    /// the same endpoint; the caller may retry the whole operation.
    #[error("gave up on endpoint {endpoint:?} after {attempts} conflicting concurrent writes")]
    Contention { endpoint: String, attempts: u32 },

    /// Redis failed or was unreachable (the connection manager reconnects on
    /// its own; the operation itself is not retried).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),

    /// A stored value could not be decoded (written by an incompatible
    /// version, or corrupted).
    #[error("cannot decode stored value at {key}: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },

    /// A value could not be encoded for storage.
    #[error("cannot encode value: {0}")]
    Encode(#[from] serde_json::Error),
}

impl SessionError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        SessionError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = SessionError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_offending_input() {
        let e = SessionError::invalid("endpoint", "must not be empty");
        assert_eq!(e.to_string(), "invalid endpoint: must not be empty");
        let e = SessionError::Contention {
            endpoint: "dev".into(),
            attempts: 3,
        };
        assert!(e.to_string().contains("\"dev\""));
    }
}
