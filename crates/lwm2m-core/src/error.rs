//! The one error type of the LwM2M core.
//!
//! Every variant says what was wrong with which input, because these errors
//! end up in transport logs and in answers to operators.

use crate::codec::ContentFormat;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A path string or path construction that is not a valid LwM2M path.
    #[error("invalid LwM2M path {input:?}: {reason}")]
    InvalidPath { input: String, reason: String },

    /// A `major.minor` version that does not parse.
    #[error("invalid version {0:?}: expected MAJOR.MINOR such as 1.0")]
    InvalidVersion(String),

    /// A payload that does not decode in its content format.
    #[error("cannot decode {format} payload: {reason}")]
    Decode {
        format: ContentFormat,
        reason: String,
    },

    /// A node that cannot be encoded in the requested content format.
    #[error("cannot encode as {format}: {reason}")]
    Encode {
        format: ContentFormat,
        reason: String,
    },

    /// A content format this crate has no codec for.
    #[error("unsupported content format {0}")]
    UnsupportedFormat(u16),

    /// Decoding needs the type of a resource but no model defines it.
    #[error("no model gives the type of {path}; load the object model first")]
    UnknownResourceType { path: String },

    /// An object model (DDF XML) that is malformed; `source` names the file.
    #[error("invalid object model in {source_name}: {reason}")]
    Model { source_name: String, reason: String },

    /// A CoRE link-format document that does not parse.
    #[error("invalid link format: {0}")]
    LinkFormat(String),

    /// A Register/Update request that violates the registration interface.
    #[error("invalid registration: {0}")]
    Registration(String),

    /// The `lwm2m=` version of a Register is newer than any we implement.
    #[error("unsupported LwM2M version {0}; this server implements 1.0, 1.1 and 1.2")]
    UnsupportedLwm2mVersion(String),
}

impl Error {
    pub(crate) fn decode(format: ContentFormat, reason: impl Into<String>) -> Self {
        Error::Decode {
            format,
            reason: reason.into(),
        }
    }

    pub(crate) fn encode(format: ContentFormat, reason: impl Into<String>) -> Self {
        Error::Encode {
            format,
            reason: reason.into(),
        }
    }

    pub(crate) fn path(input: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidPath {
            input: input.into(),
            reason: reason.into(),
        }
    }
}
