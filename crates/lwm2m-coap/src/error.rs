//! The crate's single error type.
//!
//! Errors are only returned to the local caller (API misuse, limits). Bad input
//! from the network never produces an `Error`: it is dropped, answered or
//! counted in [`crate::Stats`] instead.

use crate::ids::{ExchangeId, RequestId};

/// Errors returned by the endpoint API and the message helpers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of its allowed range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// Tokens are at most 8 bytes long.
    #[error("token of {0} bytes is longer than 8 bytes")]
    InvalidToken(usize),
    /// Block sizes are powers of two between 16 and 1024.
    #[error("invalid block size {0}: must be a power of two in 16..=1024")]
    InvalidBlockSize(u32),
    /// Block numbers are 20-bit values.
    #[error("block number {0} does not fit in 20 bits")]
    InvalidBlockNumber(u32),
    /// Observe sequence numbers are 24-bit values.
    #[error("observe sequence number {0} does not fit in 24 bits")]
    InvalidObserveSequence(u32),
    /// No request with this id is outstanding (it completed, failed or was cancelled).
    #[error("unknown request {0:?}")]
    UnknownRequest(RequestId),
    /// No inbound exchange with this id is waiting for a response.
    #[error("unknown exchange {0:?} (already answered or expired)")]
    UnknownExchange(ExchangeId),
    /// Every candidate token for this peer is in use (only possible with short tokens).
    #[error("no free token for this peer with the configured token length")]
    TokenExhausted,
    /// The given token is already used by an outstanding request or observation to this peer.
    #[error("token already in use for this peer")]
    TokenInUse,
    /// The message cannot be encoded within the maximum message size.
    #[error("message does not fit in {limit} bytes")]
    MessageTooLarge {
        /// The configured maximum message size.
        limit: usize,
    },
    /// The payload needs block-wise transfer but that is not possible here.
    #[error("payload of {len} bytes is larger than one block and cannot be sent block-wise here")]
    PayloadTooLarge {
        /// Payload length in bytes.
        len: usize,
    },
    /// A configured state limit is reached; retry later.
    #[error("endpoint state limit reached: {0}")]
    Overloaded(&'static str),
    /// The request is not an observation or the operation needs the original request.
    #[error("request {0:?} is not an active observation")]
    NotAnObservation(RequestId),
}
