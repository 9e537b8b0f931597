//! The one error type of this crate: proto messages that do not map onto the
//! LwM2M domain. Messages come from other services or from Kafka, so every
//! variant says which field was wrong and why.

/// A proto message that cannot be converted to an `lwm2m-core` type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtoError {
    /// A path string that is not a valid LwM2M path.
    #[error("field {field}: {source}")]
    InvalidPath {
        /// The message field that held the path, e.g. `ResourceValue.path`.
        field: &'static str,
        /// Why the path was rejected (includes the path text).
        #[source]
        source: lwm2m_core::Error,
    },

    /// An `ObjLnk` whose ids do not fit in 16 bits.
    #[error("field ObjLnk: {object}:{instance} is not an object link, ids must be 0..=65535")]
    InvalidObjectLink {
        /// Object id as received.
        object: u32,
        /// Instance id as received.
        instance: u32,
    },

    /// A required message field that was not set.
    #[error("field {0} is required but was not set")]
    MissingField(&'static str),
}
