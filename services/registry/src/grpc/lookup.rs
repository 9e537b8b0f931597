//! `RegistryLookupService`: the transport's hot path and the change stream.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use lwm2m_proto::registry::v1 as pb;
use lwm2m_proto::registry::v1::registry_lookup_service_server::RegistryLookupService;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::devices::{device_to_proto, Secrets};
use super::convert::tenants::tenant_to_proto;
use crate::change_feed::{FeedError, RegistryChange};
use crate::ids::TenantId;
use crate::lookup::{EndpointRecord, PskRecord, RegistryLookup};
use crate::service::Registry;

pub struct LookupApi {
    pub registry: Registry,
    /// Ends open change streams when the server stops (graceful shutdown
    /// waits for them otherwise).
    pub stop: watch::Receiver<bool>,
}

type ChangeStream = Pin<Box<dyn Stream<Item = Result<RegistryChange, Status>> + Send>>;

/// Changes buffered per subscriber between the feed and the network.
const STREAM_BUFFER: usize = 256;

fn psk_to_proto(record: Option<PskRecord>) -> pb::LookupPskIdentityResponse {
    match record {
        None => pb::LookupPskIdentityResponse::default(),
        Some(r) => pb::LookupPskIdentityResponse {
            found: true,
            device_id: r.device_id.to_string(),
            tenant_id: r.tenant_id.to_string(),
            endpoint: r.endpoint,
            key: r.key.expose().to_vec(),
        },
    }
}

fn endpoint_to_proto(found: Option<EndpointRecord>) -> pb::LookupEndpointResponse {
    match found {
        None => pb::LookupEndpointResponse::default(),
        Some(r) => pb::LookupEndpointResponse {
            found: true,
            device: Some(device_to_proto(&r.device, Secrets::Reveal)),
            tenant: Some(tenant_to_proto(&r.tenant)),
        },
    }
}

#[tonic::async_trait]
impl RegistryLookupService for LookupApi {
    async fn lookup_endpoint(
        &self,
        request: Request<pb::LookupEndpointRequest>,
    ) -> Result<Response<pb::LookupEndpointResponse>, Status> {
        let found = self
            .registry
            .lookup_endpoint(&request.get_ref().endpoint)
            .await?;
        Ok(Response::new(endpoint_to_proto(found)))
    }

    async fn auto_provision(
        &self,
        request: Request<pb::AutoProvisionRequest>,
    ) -> Result<Response<pb::LookupEndpointResponse>, Status> {
        let req = request.get_ref();
        let tenant = TenantId::parse(&req.tenant_id, "tenant_id")?;
        let found = self.registry.auto_provision(&tenant, &req.endpoint).await?;
        Ok(Response::new(endpoint_to_proto(found)))
    }

    async fn lookup_psk_identity(
        &self,
        request: Request<pb::LookupPskIdentityRequest>,
    ) -> Result<Response<pb::LookupPskIdentityResponse>, Status> {
        let req = request.get_ref();
        let record = if req.bootstrap {
            self.registry.lookup_bootstrap_psk(&req.identity).await?
        } else {
            self.registry.lookup_psk(&req.identity).await?
        };
        Ok(Response::new(psk_to_proto(record)))
    }

    type WatchChangesStream = ChangeStream;

    async fn watch_changes(
        &self,
        _request: Request<pb::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let mut changes = self.registry.changes();
        let mut stop = self.stop.clone();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    item = changes.next() => item,
                    () = super::stopped(&mut stop) => None,
                };
                let Some(item) = item else { return };
                let (item, last) = match item {
                    Ok(change) => (Ok(change), false),
                    Err(e @ FeedError::Lagged { .. }) => {
                        (Err(Status::data_loss(e.to_string())), true)
                    }
                    Err(e) => (Err(Status::unavailable(e.to_string())), true),
                };
                if tx.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
