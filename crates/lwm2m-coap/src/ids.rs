//! Opaque handles the endpoint gives to the upper layer.

/// Identifies a request this endpoint sent (and, if it registered an
/// observation, the observation too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

/// Identifies a request this endpoint received and that waits for
/// [`crate::CoapEndpoint::respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExchangeId(pub(crate) u64);

impl RequestId {
    /// The raw number, handy for logs and metrics labels.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl ExchangeId {
    /// The raw number, handy for logs and metrics labels.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}
