//! The gRPC side of a node: `lwm2m.transport.v1.Transport`, the standard
//! health service and server reflection, on one listener. Errors become
//! gRPC statuses in exactly one place, [`status_of`].

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use lwm2m_bus::{BusError, SubscriptionFilter};
use lwm2m_proto::events::v1::UplinkEvent;
use lwm2m_proto::transport::v1::transport_server::{Transport, TransportServer};
use lwm2m_proto::transport::v1::{
    DownlinkRequest, DownlinkResponse, GetRegistrationRequest, ListRegistrationsRequest,
    ListRegistrationsResponse, Registration, SubscribeUplinksRequest, UpdateAttributesRequest,
    UpdateAttributesResponse,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

use crate::downlink::{self, Target};
use crate::error::Error;
use crate::forward::FORWARDED_BY;
use crate::node::Node;
use crate::proto_convert;

/// Page size of `ListRegistrations` when the caller gives none.
const DEFAULT_PAGE: usize = 100;

/// The one mapping from errors to gRPC statuses.
pub(crate) fn status_of(error: Error) -> Status {
    let message = error.to_string();
    match error {
        Error::NotRegistered(_)
        | Error::ObservationNotFound { .. }
        | Error::UnknownRegistration(_) => Status::not_found(message),
        Error::Timeout => Status::deadline_exceeded(message),
        Error::BadRequest(_)
        | Error::InvalidArgument(_)
        | Error::Proto(_)
        | Error::Lwm2m(_)
        | Error::UnsupportedContentFormat(_)
        | Error::UnknownSender(_) => Status::invalid_argument(message),
        Error::Session(lwm2m_session::SessionError::InvalidInput { .. }) => {
            Status::invalid_argument(message)
        }
        Error::Session(lwm2m_session::SessionError::InvalidCursor(_)) => {
            Status::invalid_argument(message)
        }
        Error::QueueFull(_) | Error::Overloaded => Status::resource_exhausted(message),
        Error::Bus(BusError::Backpressure { .. }) => Status::resource_exhausted(message),
        Error::Forward { status, .. } => status,
        Error::Forbidden(_) => Status::permission_denied(message),
        Error::FailedPrecondition(_) => Status::failed_precondition(message),
        Error::Registry(_)
        | Error::Session(_)
        | Error::Bus(_)
        | Error::ShuttingDown
        | Error::NoSecureSession(_)
        | Error::RequestFailed(_)
        | Error::Io(_)
        | Error::Grpc(_) => Status::unavailable(message),
        Error::Coap(_) | Error::Config(_) => Status::internal(message),
    }
}

/// The `Transport` service of one node.
pub(crate) struct GrpcService {
    node: Arc<Node>,
}

type UplinkStream = Pin<Box<dyn Stream<Item = Result<UplinkEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Transport for GrpcService {
    async fn list_registrations(
        &self,
        request: Request<ListRegistrationsRequest>,
    ) -> Result<Response<ListRegistrationsResponse>, Status> {
        let req = request.into_inner();
        let limit = match req.page_size {
            0 => DEFAULT_PAGE,
            n => usize::try_from(n).unwrap_or(DEFAULT_PAGE),
        };
        let cursor = (!req.page_token.is_empty()).then_some(req.page_token);
        let page = self
            .node
            .sessions
            .list(cursor, limit)
            .await
            .map_err(|e| status_of(self.node.store_error(e)))?;
        let mut registrations: Vec<Registration> = page
            .items
            .iter()
            .filter(|r| {
                req.endpoint_prefix
                    .as_deref()
                    .is_none_or(|p| r.endpoint.starts_with(p))
                    && req
                        .tenant
                        .as_deref()
                        .is_none_or(|t| r.tenant.as_deref().unwrap_or_default() == t)
            })
            .map(proto_convert::registration_to_proto)
            .collect();
        registrations.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        Ok(Response::new(ListRegistrationsResponse {
            registrations,
            next_page_token: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn get_registration(
        &self,
        request: Request<GetRegistrationRequest>,
    ) -> Result<Response<Registration>, Status> {
        let req = request.into_inner();
        let reg = self
            .node
            .sessions
            .get_by_endpoint(&req.endpoint)
            .await
            .map_err(|e| status_of(self.node.store_error(e)))?
            .filter(|r| req.tenant.is_empty() || r.tenant.as_deref() == Some(req.tenant.as_str()))
            .ok_or_else(|| status_of(Error::NotRegistered(req.endpoint.clone())))?;
        Ok(Response::new(proto_convert::registration_to_proto(&reg)))
    }

    async fn downlink(
        &self,
        request: Request<DownlinkRequest>,
    ) -> Result<Response<DownlinkResponse>, Status> {
        let forwarded = request.metadata().contains_key(FORWARDED_BY);
        let req = request.into_inner();
        let operation = proto_convert::operation_from_proto(&req).map_err(status_of)?;
        let target = Target {
            endpoint: req.endpoint.clone(),
            tenant: (!req.tenant.is_empty()).then(|| req.tenant.clone()),
        };
        let timeout =
            (req.timeout_ms > 0).then(|| Duration::from_millis(u64::from(req.timeout_ms)));
        let result = downlink::execute(&self.node, &target, operation, timeout, forwarded)
            .await
            .map_err(status_of)?;
        Ok(Response::new(proto_convert::result_to_proto(result)))
    }

    async fn update_attributes(
        &self,
        request: Request<UpdateAttributesRequest>,
    ) -> Result<Response<UpdateAttributesResponse>, Status> {
        let req = request.into_inner();
        let target = Target {
            endpoint: req.endpoint,
            tenant: (!req.tenant.is_empty()).then_some(req.tenant),
        };
        let timeout =
            (req.timeout_ms > 0).then(|| Duration::from_millis(u64::from(req.timeout_ms)));
        let attributes = req.attributes.into_iter().collect();
        let results = crate::provisioning::shared_attributes::update(
            &self.node, &target, attributes, timeout,
        )
        .await
        .map_err(status_of)?;
        Ok(Response::new(UpdateAttributesResponse { results }))
    }

    type SubscribeUplinksStream = UplinkStream;

    async fn subscribe_uplinks(
        &self,
        request: Request<SubscribeUplinksRequest>,
    ) -> Result<Response<Self::SubscribeUplinksStream>, Status> {
        let filter = SubscriptionFilter::from(&request.into_inner());
        let mut events = self.node.bus.subscribe(filter);
        let mut stop = self.node.stop.clone();
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    item = events.next() => item,
                    // The server's graceful shutdown waits for open streams: end them.
                    () = crate::stop::stopped(&mut stop) => None,
                };
                let Some(item) = item else { return };
                let (item, last) = match item {
                    Ok(event) => (Ok(event), false),
                    Err(BusError::Lagged { missed }) => (
                        Err(Status::resource_exhausted(format!(
                            "subscriber fell behind and lost {missed} events"
                        ))),
                        true,
                    ),
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

/// Serves gRPC on `listener` until `stop` turns true.
pub(crate) async fn serve(
    node: Arc<Node>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<TransportServer<GrpcService>>().await;
    // Both reflection versions: many installed grpcurl versions and client
    // libraries ask `v1alpha` first and give up on UNIMPLEMENTED.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(lwm2m_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| Error::Config(format!("reflection: {e}")))?;
    let reflection = reflection()
        .build_v1()
        .map_err(|e| Error::Config(format!("reflection: {e}")))?;
    let service = TransportServer::new(GrpcService { node });
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            crate::stop::stopped(&mut stop).await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_proto_contract() {
        assert_eq!(
            status_of(Error::NotRegistered("d".into())).code(),
            tonic::Code::NotFound
        );
        assert_eq!(
            status_of(Error::Timeout).code(),
            tonic::Code::DeadlineExceeded
        );
        assert_eq!(
            status_of(Error::InvalidArgument("x".into())).code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            status_of(Error::QueueFull("d".into())).code(),
            tonic::Code::ResourceExhausted
        );
        let forwarded = Error::Forward {
            node: "n".into(),
            status: Status::permission_denied("no"),
        };
        assert_eq!(status_of(forwarded).code(), tonic::Code::PermissionDenied);
    }
}
