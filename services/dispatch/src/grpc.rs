//! `lwm2m.dispatch.v1.Dispatch` with health and reflection. Typed methods
//! and `Call` build the same [`Command`] and share one path
//! ([`GrpcService::run`]). Errors become statuses in one place, [`status_of`].

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use lwm2m_proto::dispatch::v1 as pb;
use lwm2m_proto::dispatch::v1::dispatch_server::{Dispatch, DispatchServer};
use lwm2m_proto::events::v1::ResourceValue;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

use crate::command::{Attributes, Command, Payload, RawCoap, Target};
use crate::engine::{Engine, Submit};
use crate::error::Error;
use crate::lifecycle::State;
use crate::local;
use crate::proto::operation_to_proto;
use crate::store::{ListFilter, OperationRecord, StoredAction};

/// The one mapping from errors to gRPC statuses.
pub fn status_of(error: Error) -> Status {
    let message = error.to_string();
    match error {
        Error::InvalidArgument(_) => Status::invalid_argument(message),
        Error::VersionMismatch { .. } | Error::UnknownKey(_) | Error::FailedPrecondition(_) => {
            Status::failed_precondition(message)
        }
        Error::UnknownDevice(_) | Error::OperationNotFound(_) => Status::not_found(message),
        Error::TooManyPending { .. } => Status::resource_exhausted(message),
        Error::Store(_)
        | Error::Session(_)
        | Error::Registry(_)
        | Error::Transport(_)
        | Error::Bus(_)
        | Error::Io(_)
        | Error::Grpc(_) => Status::unavailable(message),
        Error::Config(_) => Status::internal(message),
    }
}

pub struct GrpcService {
    engine: Arc<Engine>,
    stop: watch::Receiver<bool>,
}

type Reply<T> = Result<Response<T>, Status>;

fn target(id: String, key: String) -> Result<Target, Status> {
    match (id.trim().is_empty(), key.trim().is_empty()) {
        (false, true) => Ok(Target::Id(id)),
        (true, false) => Ok(Target::Key(key)),
        (false, false) => Err(Status::invalid_argument("give id or key, not both")),
        (true, true) => Err(Status::invalid_argument("id or key is required")),
    }
}

fn targets(ids: Vec<String>, keys: Vec<String>) -> Result<Vec<Target>, Status> {
    let all: Vec<Target> = ids
        .into_iter()
        .map(Target::Id)
        .chain(keys.into_iter().map(Target::Key))
        .collect();
    if all.is_empty() {
        return Err(Status::invalid_argument(
            "ids or keys (at least one) are required",
        ));
    }
    Ok(all)
}

fn payload(value_json: &str, values: Vec<ResourceValue>) -> Result<Option<Payload>, Status> {
    match (value_json.trim().is_empty(), values.is_empty()) {
        (true, true) => Ok(None),
        (false, true) => serde_json::from_str(value_json)
            .map(|v| Some(Payload::Json(v)))
            .map_err(|e| Status::invalid_argument(format!("value_json is not JSON: {e}"))),
        (true, false) => Ok(Some(Payload::Typed(values))),
        (false, false) => Err(Status::invalid_argument(
            "give value_json or values, not both",
        )),
    }
}

fn format(options: &Option<pb::CommandOptions>) -> Result<Option<u16>, Status> {
    options
        .as_ref()
        .and_then(|o| o.content_format)
        .map(|c| {
            u16::try_from(c)
                .ok()
                .filter(|c| lwm2m_core::ContentFormat::from_code(*c).is_some())
                .ok_or_else(|| Status::invalid_argument(format!("content_format {c} is not known")))
        })
        .transpose()
}

fn submit_options(options: Option<pb::CommandOptions>) -> Submit {
    let o = options.unwrap_or_default();
    Submit {
        timeout_ms: o.timeout_ms,
        no_wait: o.no_wait,
        wait_ms: o.wait_ms,
        ..Default::default()
    }
}

fn nodes(record: &OperationRecord) -> Vec<pb::Node> {
    record
        .outcome
        .as_ref()
        .map(|o| o.nodes())
        .unwrap_or_default()
}

/// The `Call` answer of an operation: its outcome, or where it is.
pub fn call_json(record: &OperationRecord) -> serde_json::Value {
    match (&record.outcome, record.state.is_terminal()) {
        (Some(outcome), true) => outcome.result_json(),
        _ => json!({"result": record.state.as_str(), "operationId": record.id}),
    }
}

impl GrpcService {
    async fn run(
        &self,
        tenant: &str,
        endpoint: &str,
        options: Option<pb::CommandOptions>,
        command: Command,
    ) -> Result<OperationRecord, Status> {
        self.engine
            .submit(tenant, endpoint, &command, submit_options(options))
            .await
            .map_err(status_of)
    }

    async fn command(
        &self,
        tenant: &str,
        endpoint: &str,
        options: Option<pb::CommandOptions>,
        command: Command,
    ) -> Reply<pb::CommandResponse> {
        let record = self.run(tenant, endpoint, options, command).await?;
        Ok(Response::new(pb::CommandResponse {
            operation: Some(operation_to_proto(&record)),
        }))
    }

    async fn read_like(
        &self,
        tenant: &str,
        endpoint: &str,
        options: Option<pb::CommandOptions>,
        command: Command,
    ) -> Reply<pb::ReadResponse> {
        let record = self.run(tenant, endpoint, options, command).await?;
        Ok(Response::new(pb::ReadResponse {
            nodes: nodes(&record),
            operation: Some(operation_to_proto(&record)),
        }))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::OperationEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Dispatch for GrpcService {
    async fn read(&self, request: Request<pb::ReadRequest>) -> Reply<pb::ReadResponse> {
        let r = request.into_inner();
        let command = Command::Read {
            format: format(&r.options)?,
            target: target(r.id, r.key)?,
        };
        self.read_like(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn discover(&self, request: Request<pb::DiscoverRequest>) -> Reply<pb::DiscoverResponse> {
        let r = request.into_inner();
        let command = Command::Discover {
            target: target(r.id, r.key)?,
        };
        let record = self.run(&r.tenant, &r.endpoint, r.options, command).await?;
        let link_format = record
            .outcome
            .as_ref()
            .and_then(|o| o.link_format.clone())
            .unwrap_or_default();
        Ok(Response::new(pb::DiscoverResponse {
            links: local::parse_links(&link_format),
            link_format,
            operation: Some(operation_to_proto(&record)),
        }))
    }

    async fn discover_all(
        &self,
        request: Request<pb::DiscoverAllRequest>,
    ) -> Reply<pb::DiscoverResponse> {
        let r = request.into_inner();
        let reg = self.registered(&r.tenant, &r.endpoint).await?;
        let links = local::discover_all(&reg);
        Ok(Response::new(pb::DiscoverResponse {
            operation: None,
            link_format: local::link_format(&links),
            links,
        }))
    }

    async fn write_replace(
        &self,
        request: Request<pb::WriteRequest>,
    ) -> Reply<pb::CommandResponse> {
        self.write(request.into_inner(), true).await
    }

    async fn write_update(&self, request: Request<pb::WriteRequest>) -> Reply<pb::CommandResponse> {
        self.write(request.into_inner(), false).await
    }

    async fn write_attributes(
        &self,
        request: Request<pb::WriteAttributesRequest>,
    ) -> Reply<pb::CommandResponse> {
        let r = request.into_inner();
        let attributes = Attributes {
            pmin: r.pmin,
            pmax: r.pmax,
            gt: r.gt,
            lt: r.lt,
            st: r.st,
            epmin: r.epmin,
            epmax: r.epmax,
        };
        if attributes.is_empty() {
            return Err(Status::invalid_argument("set at least one attribute"));
        }
        let command = Command::WriteAttributes {
            target: target(r.id, r.key)?,
            attributes,
        };
        self.command(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn read_composite(
        &self,
        request: Request<pb::ReadCompositeRequest>,
    ) -> Reply<pb::ReadResponse> {
        let r = request.into_inner();
        let command = Command::ReadComposite {
            format: format(&r.options)?,
            targets: targets(r.ids, r.keys)?,
        };
        self.read_like(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn write_composite(
        &self,
        request: Request<pb::WriteCompositeRequest>,
    ) -> Reply<pb::CommandResponse> {
        let r = request.into_inner();
        let nodes = if r.nodes_json.trim().is_empty() {
            Vec::new()
        } else {
            let parsed = crate::thingsboard::parse_text(
                "WriteComposite",
                &json!({"nodes": serde_json::from_str::<serde_json::Value>(&r.nodes_json)
                    .map_err(|e| Status::invalid_argument(format!("nodes_json is not JSON: {e}")))?})
                .to_string(),
            )
            .map_err(status_of)?;
            match parsed {
                Command::WriteComposite { nodes, .. } => nodes,
                _ => Vec::new(),
            }
        };
        if nodes.is_empty() && r.values.is_empty() {
            return Err(Status::invalid_argument("nodes_json or values is required"));
        }
        let command = Command::WriteComposite {
            format: format(&r.options)?,
            nodes,
            typed: r.values,
        };
        self.command(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn execute(&self, request: Request<pb::ExecuteRequest>) -> Reply<pb::CommandResponse> {
        let r = request.into_inner();
        let command = Command::Execute {
            target: target(r.id, r.key)?,
            arguments: r.arguments,
        };
        self.command(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn create(&self, request: Request<pb::CreateRequest>) -> Reply<pb::CommandResponse> {
        let r = request.into_inner();
        let instance_id = r
            .instance_id
            .map(|i| {
                u16::try_from(i)
                    .ok()
                    .filter(|i| *i != u16::MAX)
                    .ok_or_else(|| {
                        Status::invalid_argument(format!("instance_id {i} is not 0..65534"))
                    })
            })
            .transpose()?;
        let command = Command::Create {
            format: format(&r.options)?,
            target: target(r.id, String::new())?,
            instance_id,
            payload: payload(&r.value_json, r.values)?,
        };
        self.command(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn delete(&self, request: Request<pb::DeleteRequest>) -> Reply<pb::CommandResponse> {
        let r = request.into_inner();
        let command = Command::Delete {
            target: target(r.id, String::new())?,
        };
        self.command(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn observe(&self, request: Request<pb::ObserveRequest>) -> Reply<pb::ReadResponse> {
        let r = request.into_inner();
        let command = Command::Observe {
            format: format(&r.options)?,
            target: target(r.id, r.key)?,
        };
        self.read_like(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn observe_composite(
        &self,
        request: Request<pb::ObserveCompositeRequest>,
    ) -> Reply<pb::ReadResponse> {
        let r = request.into_inner();
        let command = Command::ObserveComposite {
            format: format(&r.options)?,
            targets: targets(r.ids, r.keys)?,
        };
        self.read_like(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn observe_cancel(
        &self,
        request: Request<pb::ObserveCancelRequest>,
    ) -> Reply<pb::CommandResponse> {
        let r = request.into_inner();
        let command = Command::ObserveCancel {
            target: target(r.id, r.key)?,
        };
        self.command(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn observe_composite_cancel(
        &self,
        request: Request<pb::ObserveCompositeCancelRequest>,
    ) -> Reply<pb::CommandResponse> {
        let r = request.into_inner();
        let command = Command::ObserveCompositeCancel {
            targets: targets(r.ids, r.keys)?,
        };
        self.command(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn observe_cancel_all(
        &self,
        request: Request<pb::ObserveCancelAllRequest>,
    ) -> Reply<pb::CommandResponse> {
        let r = request.into_inner();
        self.command(&r.tenant, &r.endpoint, r.options, Command::ObserveCancelAll)
            .await
    }

    async fn observe_read_all(
        &self,
        request: Request<pb::ObserveReadAllRequest>,
    ) -> Reply<pb::ObserveReadAllResponse> {
        let r = request.into_inner();
        let reg = self.registered(&r.tenant, &r.endpoint).await?;
        let paths = local::observed_paths(self.engine.as_ref(), &reg)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::ObserveReadAllResponse { paths }))
    }

    async fn raw_coap(&self, request: Request<pb::RawCoapRequest>) -> Reply<pb::CommandResponse> {
        let r = request.into_inner();
        let cf = |c: Option<u32>| c.and_then(|c| u16::try_from(c).ok());
        let command = Command::Coap(RawCoap {
            method: r.method,
            uri: if r.uri.is_empty() { "/".into() } else { r.uri },
            content_format: cf(r.content_format),
            accept: cf(r.accept),
            payload: r.payload,
        });
        self.command(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn call(&self, request: Request<pb::CallRequest>) -> Reply<pb::CallResponse> {
        let r = request.into_inner();
        let command = match (r.request_json.trim().is_empty(), r.method.trim().is_empty()) {
            (false, true) => crate::thingsboard::parse_request(&r.request_json),
            (true, false) => crate::thingsboard::parse_text(&r.method, &r.params_json),
            (false, false) => {
                return Err(Status::invalid_argument(
                    "give request_json or method (with params_json), not both",
                ))
            }
            (true, true) => {
                return Err(Status::invalid_argument(
                    "method or request_json is required",
                ))
            }
        }
        .map_err(status_of)?;
        match command {
            Command::DiscoverAll => {
                let reg = self.registered(&r.tenant, &r.endpoint).await?;
                let value = local::discover_all_json(&local::discover_all(&reg));
                Ok(Response::new(pb::CallResponse {
                    result_json: json!({"result": "CONTENT", "value": value}).to_string(),
                    operation: None,
                }))
            }
            Command::ObserveReadAll => {
                let reg = self.registered(&r.tenant, &r.endpoint).await?;
                let paths = local::observed_paths(self.engine.as_ref(), &reg)
                    .await
                    .map_err(status_of)?;
                Ok(Response::new(pb::CallResponse {
                    result_json: json!({"result": "CONTENT", "value": paths}).to_string(),
                    operation: None,
                }))
            }
            command => {
                let record = self.run(&r.tenant, &r.endpoint, r.options, command).await?;
                Ok(Response::new(pb::CallResponse {
                    result_json: call_json(&record).to_string(),
                    operation: Some(operation_to_proto(&record)),
                }))
            }
        }
    }

    async fn get_operation(
        &self,
        request: Request<pb::GetOperationRequest>,
    ) -> Reply<pb::Operation> {
        let id = request.into_inner().id;
        let record = self
            .engine
            .store()
            .get(&id)
            .await
            .map_err(status_of)?
            .ok_or_else(|| status_of(Error::OperationNotFound(id)))?;
        Ok(Response::new(operation_to_proto(&record)))
    }

    async fn list_operations(
        &self,
        request: Request<pb::ListOperationsRequest>,
    ) -> Reply<pb::ListOperationsResponse> {
        let r = request.into_inner();
        let states = r
            .states()
            .map(|s| {
                State::from_proto(s).ok_or_else(|| Status::invalid_argument("state is unspecified"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tenant = self.tenant_of(&r.tenant, &r.endpoint).await;
        let page = self
            .engine
            .store()
            .list(&ListFilter {
                tenant,
                endpoint: (!r.endpoint.is_empty()).then_some(r.endpoint),
                states,
                page_size: usize::try_from(r.page_size).unwrap_or(100),
                page_token: (!r.page_token.is_empty()).then_some(r.page_token),
            })
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::ListOperationsResponse {
            operations: page.operations.iter().map(operation_to_proto).collect(),
            next_page_token: page.next.unwrap_or_default(),
        }))
    }

    async fn cancel_operation(
        &self,
        request: Request<pb::CancelOperationRequest>,
    ) -> Reply<pb::Operation> {
        let id = request.into_inner().id;
        let store = self.engine.store();
        match store
            .cancel(&id, crate::clock::now_ms())
            .await
            .map_err(status_of)?
        {
            Some(record) => {
                self.engine
                    .events()
                    .publish(pb::OperationEventKind::Cancelled, &record);
                Ok(Response::new(operation_to_proto(&record)))
            }
            None => match store.get(&id).await.map_err(status_of)? {
                None => Err(status_of(Error::OperationNotFound(id))),
                Some(record) => Err(status_of(Error::FailedPrecondition(format!(
                    "operation {id} is {}, only PENDING operations can be cancelled",
                    record.state.as_str()
                )))),
            },
        }
    }

    type WatchOperationsStream = EventStream;

    async fn watch_operations(
        &self,
        request: Request<pb::WatchOperationsRequest>,
    ) -> Reply<Self::WatchOperationsStream> {
        let filter = request.into_inner();
        let mut events = self.engine.events().subscribe();
        let mut stop = self.stop.clone();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    item = events.recv() => item,
                    // Graceful shutdown waits for open streams: end them.
                    () = crate::stopped(&mut stop) => return,
                };
                let item = match item {
                    Ok(event) => {
                        let Some(op) = &event.operation else { continue };
                        let wanted = filter.tenant.as_ref().is_none_or(|t| *t == op.tenant)
                            && filter.endpoint.as_ref().is_none_or(|e| *e == op.endpoint)
                            && filter.operation_id.as_ref().is_none_or(|i| *i == op.id);
                        if !wanted {
                            continue;
                        }
                        Ok(event.as_ref().clone())
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => Err(Status::resource_exhausted(
                        format!("watcher fell behind and lost {n} events"),
                    )),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let last = item.is_err();
                if tx.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn set_post_registration_actions(
        &self,
        request: Request<pb::SetPostRegistrationActionsRequest>,
    ) -> Reply<pb::PostRegistrationActions> {
        let r = request.into_inner();
        let mut stored = Vec::with_capacity(r.actions.len());
        for (i, action) in r.actions.iter().enumerate() {
            let command = crate::thingsboard::parse_text(&action.method, &action.params_json)
                .map_err(|e| Status::invalid_argument(format!("actions[{i}]: {e}")))?;
            if command.method().is_local() {
                return Err(Status::invalid_argument(format!(
                    "actions[{i}]: {} does not talk to the device",
                    command.method().name()
                )));
            }
            stored.push(StoredAction {
                method: command.method().name().to_owned(),
                params_json: command.params_json().to_string(),
            });
        }
        self.engine
            .store()
            .set_actions(&r.tenant, &stored, crate::clock::now_ms())
            .await
            .map_err(status_of)?;
        Ok(Response::new(actions_proto(&r.tenant, &stored)))
    }

    async fn get_post_registration_actions(
        &self,
        request: Request<pb::GetPostRegistrationActionsRequest>,
    ) -> Reply<pb::PostRegistrationActions> {
        let tenant = request.into_inner().tenant;
        let stored = self
            .engine
            .store()
            .actions(&tenant)
            .await
            .map_err(status_of)?;
        Ok(Response::new(actions_proto(&tenant, &stored)))
    }
}

fn actions_proto(tenant: &str, stored: &[StoredAction]) -> pb::PostRegistrationActions {
    pb::PostRegistrationActions {
        tenant: tenant.to_owned(),
        actions: stored
            .iter()
            .map(|a| pb::PostRegistrationAction {
                method: a.method.clone(),
                params_json: a.params_json.clone(),
            })
            .collect(),
    }
}

impl GrpcService {
    async fn write(&self, r: pb::WriteRequest, replace: bool) -> Reply<pb::CommandResponse> {
        let payload = payload(&r.value_json, r.values)?
            .ok_or_else(|| Status::invalid_argument("value_json or values is required"))?;
        let command = Command::Write {
            format: format(&r.options)?,
            target: target(r.id, r.key)?,
            replace,
            payload,
        };
        self.command(&r.tenant, &r.endpoint, r.options, command)
            .await
    }

    async fn registered(
        &self,
        tenant: &str,
        endpoint: &str,
    ) -> Result<lwm2m_session::Registration, Status> {
        self.engine
            .registration(tenant, endpoint)
            .await
            .map_err(status_of)?
            .ok_or_else(|| status_of(Error::UnknownDevice(endpoint.to_owned())))
    }

    /// Operations are stored under the device's tenant: an empty tenant
    /// with an endpoint means "that device's".
    async fn tenant_of(&self, tenant: &str, endpoint: &str) -> String {
        if !tenant.is_empty() || endpoint.is_empty() {
            return tenant.to_owned();
        }
        match self.engine.registration("", endpoint).await {
            Ok(Some(reg)) => reg.tenant.unwrap_or_default(),
            _ => tenant.to_owned(),
        }
    }
}

/// Serves the API on `listener` until `stop` turns true.
pub async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<DispatchServer<GrpcService>>().await;
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
    let service = DispatchServer::new(GrpcService {
        engine,
        stop: stop.clone(),
    });
    let mut shutdown = stop;
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            crate::stopped(&mut shutdown).await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_proto_contract() {
        use tonic::Code;
        let code = |e| status_of(e).code();
        assert_eq!(
            code(Error::InvalidArgument("x".into())),
            Code::InvalidArgument
        );
        assert_eq!(
            code(Error::VersionMismatch {
                required: lwm2m_core::Version::V1_1
            }),
            Code::FailedPrecondition
        );
        assert_eq!(
            code(Error::TooManyPending {
                endpoint: "d".into(),
                cap: 10
            }),
            Code::ResourceExhausted
        );
        assert_eq!(code(Error::OperationNotFound("x".into())), Code::NotFound);
        assert_eq!(code(Error::UnknownDevice("x".into())), Code::NotFound);
    }
}
