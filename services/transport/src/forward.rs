//! Forwarding downlinks to the node that last heard from a device.
//!
//! A device behind NAT only accepts datagrams from the address and port it
//! last sent to, so a downlink must leave through that node's socket. The
//! registration's `node_id` is that node's advertised gRPC address; we call
//! its `Transport.Downlink` with a marker header so it never forwards again
//! (no loops even if the store changes in between).

use std::collections::HashMap;
use std::sync::Mutex;

use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_proto::transport::v1::{DownlinkRequest, DownlinkResponse};
use tonic::transport::{Channel, Endpoint};

use crate::error::Error;

/// gRPC metadata set on forwarded downlinks (value: the forwarding node's id).
pub(crate) const FORWARDED_BY: &str = "x-lwm2m-forwarded-by";

/// Lazily connected clients to the other nodes, by node id.
#[derive(Debug, Default)]
pub(crate) struct Forwarder {
    clients: Mutex<HashMap<String, TransportClient<Channel>>>,
}

impl Forwarder {
    fn client(&self, node: &str) -> Result<TransportClient<Channel>, Error> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(node) {
            return Ok(client.clone());
        }
        let uri = if node.contains("://") {
            node.to_owned()
        } else {
            format!("http://{node}")
        };
        let endpoint = Endpoint::from_shared(uri).map_err(|e| Error::Forward {
            node: node.to_owned(),
            status: tonic::Status::unavailable(format!("node id is not a gRPC address: {e}")),
        })?;
        let client = TransportClient::new(endpoint.connect_lazy());
        clients.insert(node.to_owned(), client.clone());
        Ok(client)
    }

    /// Runs `request` on `node`.
    pub async fn downlink(
        &self,
        from: &str,
        node: &str,
        request: DownlinkRequest,
    ) -> Result<DownlinkResponse, Error> {
        let mut client = self.client(node)?;
        let mut request = tonic::Request::new(request);
        if let Ok(value) = from.parse() {
            request.metadata_mut().insert(FORWARDED_BY, value);
        }
        client
            .downlink(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| Error::Forward {
                node: node.to_owned(),
                status,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_node_is_unavailable() {
        let forwarder = Forwarder::default();
        let err = forwarder
            .downlink("me", "127.0.0.1:1", DownlinkRequest::default())
            .await
            .unwrap_err();
        match err {
            Error::Forward { status, .. } => assert_eq!(status.code(), tonic::Code::Unavailable),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn clients_are_cached() {
        let forwarder = Forwarder::default();
        forwarder.client("127.0.0.1:2").unwrap();
        forwarder.client("127.0.0.1:2").unwrap();
        assert_eq!(forwarder.clients.lock().unwrap().len(), 1);
    }
}
