//! How dispatch reaches a device: a `Downlink` call to the transport node
//! that owns its session (`Registration.node_id`, the node's advertised
//! gRPC address; any node would forward, the owner saves a hop).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_proto::transport::v1::{DownlinkRequest, DownlinkResponse};
use tonic::transport::{Channel, Endpoint};

/// Why a downlink produced no device answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// No answer in time, node or device unreachable, device not (or no
    /// longer) registered: worth trying again after the next wake-up.
    Unreachable(String),
    /// The request can never succeed as it is (bad path, unknown
    /// observation...): `code_name` says which CoAP-style error.
    Rejected { code_name: String, message: String },
}

#[async_trait]
pub trait DeviceLink: Send + Sync {
    /// Sends `request` through the transport node at `node` (an address,
    /// `host:port` or a URL) and waits up to `timeout` for the answer.
    async fn downlink(
        &self,
        node: &str,
        request: DownlinkRequest,
        timeout: Duration,
    ) -> Result<DownlinkResponse, LinkError>;
}

/// [`DeviceLink`] over the transport's gRPC API, one lazy channel per node.
pub struct GrpcLink {
    fallback: String,
    channels: Mutex<HashMap<String, Channel>>,
}

impl GrpcLink {
    /// `fallback` is used for registrations without a node id.
    pub fn new(fallback: impl Into<String>) -> Self {
        GrpcLink {
            fallback: fallback.into(),
            channels: Mutex::new(HashMap::new()),
        }
    }

    fn channel(&self, node: &str) -> Result<Channel, LinkError> {
        let node = if node.is_empty() {
            self.fallback.as_str()
        } else {
            node
        };
        let url = if node.contains("://") {
            node.to_owned()
        } else {
            format!("http://{node}")
        };
        let mut channels = self
            .channels
            .lock()
            .map_err(|_| LinkError::Unreachable("link cache poisoned".into()))?;
        if let Some(channel) = channels.get(&url) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(url.clone())
            .map_err(|e| LinkError::Unreachable(format!("transport address {url:?}: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        channels.insert(url, channel.clone());
        Ok(channel)
    }
}

/// A transport status as a [`LinkError`].
pub fn classify(status: &tonic::Status) -> LinkError {
    use tonic::Code;
    let message = status.message().to_owned();
    let rejected = |code_name: &str| LinkError::Rejected {
        code_name: code_name.to_owned(),
        message: message.clone(),
    };
    match status.code() {
        Code::DeadlineExceeded
        | Code::Unavailable
        | Code::Cancelled
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::Unknown => LinkError::Unreachable(format!("{:?}: {message}", status.code())),
        // Not registered, or an unknown observation: the engine tells them
        // apart by looking at the session.
        Code::NotFound => rejected("NOT_FOUND"),
        Code::InvalidArgument | Code::OutOfRange => rejected("BAD_REQUEST"),
        Code::PermissionDenied | Code::Unauthenticated => rejected("FORBIDDEN"),
        Code::FailedPrecondition | Code::AlreadyExists => rejected("PRECONDITION_FAILED"),
        Code::Unimplemented => rejected("NOT_IMPLEMENTED"),
        Code::Ok | Code::Internal | Code::DataLoss => rejected("INTERNAL_SERVER_ERROR"),
    }
}

#[async_trait]
impl DeviceLink for GrpcLink {
    async fn downlink(
        &self,
        node: &str,
        request: DownlinkRequest,
        timeout: Duration,
    ) -> Result<DownlinkResponse, LinkError> {
        let mut client = TransportClient::new(self.channel(node)?);
        let mut request = tonic::Request::new(request);
        // The transport times the device out itself; this only bounds a
        // hung node.
        request.set_timeout(timeout + Duration::from_secs(5));
        client
            .downlink(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| classify(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses_requeue_and_the_rest_fail() {
        assert!(matches!(
            classify(&tonic::Status::deadline_exceeded("t")),
            LinkError::Unreachable(_)
        ));
        assert!(matches!(
            classify(&tonic::Status::unavailable("t")),
            LinkError::Unreachable(_)
        ));
        assert_eq!(
            classify(&tonic::Status::invalid_argument("bad path")),
            LinkError::Rejected {
                code_name: "BAD_REQUEST".into(),
                message: "bad path".into()
            }
        );
    }
}
