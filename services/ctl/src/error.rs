//! The one error type of `lwm2mctl`, and the exit codes scripts rely on.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line cannot be carried out (bad path, bad value).
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached or refused the call.
    #[error("cannot reach {server}: {source}")]
    Connect {
        server: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// The gRPC call failed (not found, deadline exceeded, ...).
    #[error("{}: {}", .0.code(), .0.message())]
    Rpc(#[from] tonic::Status),
    /// The device answered with a CoAP error code.
    #[error("device answered {code} {name}")]
    Device { code: String, name: String },
}

impl Error {
    /// 0 success, 1 the device refused, 2 usage, 3 server or network.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Device { .. } => 1,
            Error::Usage(_) => 2,
            Error::Connect { .. } | Error::Rpc(_) => 3,
        }
    }
}
