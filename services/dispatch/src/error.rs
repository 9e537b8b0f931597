//! The one error type of the dispatch crate. gRPC statuses are made from it
//! in exactly one place (`grpc::status_of`).

use lwm2m_core::Version;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad method, params, path or value: the caller's mistake.
    #[error("{0}")]
    InvalidArgument(String),
    /// A path names an object version the device did not register.
    #[error("Invalid object version. Required version: {required}")]
    VersionMismatch { required: Version },
    /// A `key` the device's profile does not map (or no profile).
    #[error("{0}")]
    UnknownKey(String),
    /// The device has never been seen (not registered, not in the registry).
    #[error("device {0:?} is not registered")]
    UnknownDevice(String),
    #[error("operation {0:?} not found")]
    OperationNotFound(String),
    /// The operation is not in a state that allows the request.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The device's pending-operation cap is reached.
    #[error("device {endpoint:?} already has {cap} pending operations (the cap); wait for them or cancel some")]
    TooManyPending { endpoint: String, cap: usize },
    #[error("operation store: {0}")]
    Store(String),
    #[error("session store: {0}")]
    Session(#[from] lwm2m_session::SessionError),
    #[error("registry: {0}")]
    Registry(String),
    #[error("transport: {0}")]
    Transport(String),
    /// Kafka, for operation events and wake-ups.
    #[error("event bus: {0}")]
    Bus(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Store(e.to_string())
    }
}

impl From<lwm2m_registry::Error> for Error {
    fn from(e: lwm2m_registry::Error) -> Self {
        Error::Registry(e.to_string())
    }
}

impl From<lwm2m_core::Error> for Error {
    fn from(e: lwm2m_core::Error) -> Self {
        Error::InvalidArgument(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
