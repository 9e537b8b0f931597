//! The crate's one error type.
//!
//! Two kinds of failure share it: local ones (a socket that does not bind, a
//! device task that is gone) returned to the caller of the [`crate::Fleet`]
//! API, and LwM2M operation failures that a downlink handler turns into a
//! CoAP response code with [`SimError::response_code`]. Keeping both in one
//! enum lets object-tree helpers use `?` all the way up to the handler.

use lwm2m_coap::ResponseCode;

/// Everything that can go wrong in the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The path names no object, instance or resource of this device (4.04).
    #[error("not found: {0}")]
    NotFound(String),
    /// The operation is not allowed on this path (4.05): reading an
    /// executable, writing a read-only resource, executing a value, ...
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// The request is malformed or its payload does not decode (4.00).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The requested content format is not supported here (4.06).
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
    /// The payload's Content-Format is not supported (4.15).
    #[error("unsupported content format: {0}")]
    UnsupportedContentFormat(String),
    /// Encoding a value failed: a bug or an impossible model (5.00).
    #[error("internal error: {0}")]
    Internal(String),
    /// Invalid configuration (CLI flags or `FleetConfig`).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A socket operation failed.
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// The CoAP layer refused an API call.
    #[error("coap error: {0}")]
    Coap(#[from] lwm2m_coap::Error),
    /// The device task has stopped, so the command cannot be delivered.
    #[error("device {0} is not running")]
    DeviceStopped(String),
    /// A wait on the fleet or a device ran out of time.
    #[error("timed out: {0}")]
    Timeout(String),
}

impl SimError {
    /// The CoAP response code a downlink request gets when its handling
    /// fails with this error.
    pub fn response_code(&self) -> ResponseCode {
        match self {
            SimError::NotFound(_) => ResponseCode::NOT_FOUND,
            SimError::MethodNotAllowed(_) => ResponseCode::METHOD_NOT_ALLOWED,
            SimError::BadRequest(_) => ResponseCode::BAD_REQUEST,
            SimError::NotAcceptable(_) => ResponseCode::NOT_ACCEPTABLE,
            SimError::UnsupportedContentFormat(_) => ResponseCode::UNSUPPORTED_CONTENT_FORMAT,
            _ => ResponseCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A decode failure of a request payload: always the client's fault.
    pub(crate) fn decode(err: lwm2m_core::Error) -> Self {
        SimError::BadRequest(err.to_string())
    }
}

/// Result type of this crate.
pub type Result<T, E = SimError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_errors_map_to_lwm2m_codes() {
        assert_eq!(
            SimError::NotFound("/9".into()).response_code(),
            ResponseCode::NOT_FOUND
        );
        assert_eq!(
            SimError::MethodNotAllowed("x".into()).response_code(),
            ResponseCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            SimError::NotAcceptable("x".into()).response_code(),
            ResponseCode::NOT_ACCEPTABLE
        );
        assert_eq!(
            SimError::BadRequest("x".into()).response_code(),
            ResponseCode::BAD_REQUEST
        );
        assert_eq!(
            SimError::Timeout("x".into()).response_code(),
            ResponseCode::INTERNAL_SERVER_ERROR
        );
    }
}
