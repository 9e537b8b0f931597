//! The one error type of the transport node, and the one place where errors
//! become CoAP response codes ([`Error::response_code`]). The gRPC mapping
//! lives in `grpc.rs` (`status_of`), also in exactly one function.

use lwm2m_coap::{FailureReason, ResponseCode};

/// Everything the transport can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request from a device (or a downlink argument) that is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Input rejected by the LwM2M core (registration query, payload codecs).
    #[error(transparent)]
    Lwm2m(#[from] lwm2m_core::Error),
    /// `/rd/{id}` names no registration.
    #[error("no registration with id {0:?}")]
    UnknownRegistration(String),
    /// A Send (`/dp`) from an address no registration is known for.
    #[error("no registration is known for source address {0}")]
    UnknownSender(String),
    /// A downlink for an endpoint that is not registered.
    #[error("endpoint {0:?} is not registered")]
    NotRegistered(String),
    /// Cancel-Observe for paths no observation of the endpoint has.
    #[error("endpoint {endpoint:?} has no observation of {paths}")]
    ObservationNotFound { endpoint: String, paths: String },
    /// A content format this server cannot decode or encode here.
    #[error("unsupported content format {0}")]
    UnsupportedContentFormat(u16),
    /// A downlink argument that cannot be turned into a request.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A proto message that does not map onto the LwM2M domain.
    #[error(transparent)]
    Proto(#[from] lwm2m_proto::ProtoError),
    /// The session store failed (Redis down, contention, ...).
    #[error("session store: {0}")]
    Session(#[from] lwm2m_session::SessionError),
    /// The uplink bus refused or failed.
    #[error("uplink bus: {0}")]
    Bus(#[from] lwm2m_bus::BusError),
    /// Too many requests in progress on this node.
    #[error("transport node overloaded; retry later")]
    Overloaded,
    /// The held-downlink queue of a sleeping queue-mode device is full.
    #[error("downlink queue of sleeping device {0:?} is full")]
    QueueFull(String),
    /// The CoAP layer refused a call (limits, encoding).
    #[error("coap: {0}")]
    Coap(#[from] lwm2m_coap::Error),
    /// The device did not answer before the deadline.
    #[error("device did not answer before the deadline")]
    Timeout,
    /// The device's CoAP layer failed the request (RST, block-wise error...).
    #[error("request to device failed: {0:?}")]
    RequestFailed(FailureReason),
    /// Forwarding a downlink to the node that owns the device failed.
    #[error("forwarding to node {node}: {status}")]
    Forward { node: String, status: tonic::Status },
    /// The node is stopping (its UDP task is gone).
    #[error("transport node is shutting down")]
    ShuttingDown,
    /// The configuration is unusable.
    #[error("invalid transport configuration: {0}")]
    Config(String),
    /// Socket errors at start-up.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The device may not register here: unknown endpoint without
    /// auto-provisioning, or the wrong security mode for its credentials.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request needs something the device or node does not have (a
    /// profile, a registry).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The registry could not be asked (database or network trouble).
    #[error("registry: {0}")]
    Registry(String),
    /// A DTLS device's session is gone from this node (closed, or DTLS is
    /// off here): it must connect again before it can be reached.
    #[error("no DTLS session with {0}")]
    NoSecureSession(String),
}

impl Error {
    /// The CoAP response code a device gets for this error. The only place
    /// errors are mapped to CoAP.
    ///
    /// LwM2M 1.1.1 Transport §6.2.1 / Core Table 6.2.1-?: Register with an
    /// LwM2M version the server does not support is answered with
    /// 4.12 Precondition Failed (as Leshan does); other malformed
    /// registration input is 4.00. Backend trouble is 5.03 so the device
    /// retries instead of giving up.
    pub fn response_code(&self) -> ResponseCode {
        use lwm2m_core::Error as Core;
        match self {
            Error::Lwm2m(Core::UnsupportedLwm2mVersion(_)) => ResponseCode::PRECONDITION_FAILED,
            Error::Lwm2m(Core::UnsupportedFormat(_)) | Error::UnsupportedContentFormat(_) => {
                ResponseCode::UNSUPPORTED_CONTENT_FORMAT
            }
            Error::Lwm2m(_)
            | Error::BadRequest(_)
            | Error::InvalidArgument(_)
            | Error::Proto(_)
            | Error::Session(lwm2m_session::SessionError::InvalidInput { .. }) => {
                ResponseCode::BAD_REQUEST
            }
            Error::UnknownRegistration(_)
            | Error::UnknownSender(_)
            | Error::NotRegistered(_)
            | Error::ObservationNotFound { .. } => ResponseCode::NOT_FOUND,
            Error::Forbidden(_) => ResponseCode::FORBIDDEN,
            Error::FailedPrecondition(_) => ResponseCode::PRECONDITION_FAILED,
            Error::Registry(_)
            | Error::Session(_)
            | Error::Bus(_)
            | Error::Overloaded
            | Error::QueueFull(_)
            | Error::NoSecureSession(_)
            | Error::ShuttingDown => ResponseCode::SERVICE_UNAVAILABLE,
            Error::Timeout => ResponseCode::GATEWAY_TIMEOUT,
            Error::RequestFailed(_) | Error::Forward { .. } => ResponseCode::BAD_GATEWAY,
            Error::Coap(_) | Error::Config(_) | Error::Io(_) | Error::Grpc(_) => {
                ResponseCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_errors_follow_the_spec() {
        let unsupported = Error::Lwm2m(lwm2m_core::Error::UnsupportedLwm2mVersion("2.0".into()));
        assert_eq!(
            unsupported.response_code(),
            ResponseCode::PRECONDITION_FAILED
        );
        let missing_ep = Error::Lwm2m(lwm2m_core::Error::Registration("missing ep".into()));
        assert_eq!(missing_ep.response_code(), ResponseCode::BAD_REQUEST);
        assert_eq!(
            Error::UnknownRegistration("x".into()).response_code(),
            ResponseCode::NOT_FOUND
        );
    }

    #[test]
    fn backend_trouble_asks_the_device_to_retry() {
        assert_eq!(
            Error::Overloaded.response_code(),
            ResponseCode::SERVICE_UNAVAILABLE
        );
        let bus = Error::Bus(lwm2m_bus::BusError::Backpressure { capacity: 1 });
        assert_eq!(bus.response_code(), ResponseCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            Error::UnsupportedContentFormat(50).response_code(),
            ResponseCode::UNSUPPORTED_CONTENT_FORMAT
        );
    }
}
