//! The crate's single error type.
//!
//! Errors go back to the local caller only (API misuse, limits, a bad export
//! blob). Bad input from the network never produces an `Error` for the
//! caller: the record is dropped and counted in [`crate::Stats`], or the
//! handshake is aborted with an alert and a [`crate::Event::Closed`].

use crate::SessionId;

/// Errors returned by the engine API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of its allowed range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// No session or handshake with this id exists (it closed or never existed).
    #[error("unknown session {0:?}")]
    UnknownSession(SessionId),
    /// The session exists but is not in a state for this call (e.g. sending
    /// application data before the handshake completed, or answering a PSK
    /// request that was not asked).
    #[error("session {0:?} is not in the right state for this call")]
    WrongState(SessionId),
    /// Application data larger than one record allows.
    #[error("application data of {len} bytes does not fit in one record of at most {limit} bytes")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// Largest payload that fits.
        limit: usize,
    },
    /// A configured limit (sessions) is reached.
    #[error("limit reached: {0}")]
    Overloaded(&'static str),
    /// An exported session blob is malformed or of an unknown version.
    #[error("invalid session blob: {0}")]
    InvalidBlob(&'static str),
    /// A configured key or certificate cannot be used (bad PEM/DER, not
    /// P-256, chain not matching the key).
    #[error("unusable credential: {0}")]
    Credential(&'static str),
    /// A cryptographic operation failed locally (bad key length in a blob).
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
}
