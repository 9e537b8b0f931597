//! The internal downlink API ([`Downlinks`]) that other crates and the gRPC
//! `Downlink` call: route to the node that last heard from the device,
//! hold for sleeping queue-mode devices, send, decode, and publish.
//!
//! Read (and Read-Composite) results are also published as ResourceValues
//! with source READ, and the first response of an Observe with source
//! NOTIFY, so consumers of the bus see every value a device reported.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lwm2m_coap::{RequestOptions, Response, Token};
use lwm2m_core::{ContentFormat, LwM2mPath};
use lwm2m_proto::events::v1::{Direction, ValueSource};
use lwm2m_session::{Observation, Registration};
use tokio::sync::oneshot;

use crate::clock::{now_ms, now_secs_f64};
use crate::content_format::DeviceFormats;
use crate::driver::{self, Outgoing};
use crate::error::Error;
use crate::events::{self, Device};
use crate::node::Node;
use crate::operation::{self, confirms_observation, DownlinkResult, Operation};
use crate::peer::Peer;
use crate::proto_convert;
use crate::queue_mode::Dispatch;
use crate::stats::Counters;

/// Which device a downlink is for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// Endpoint name.
    pub endpoint: String,
    /// Tenant; `None` or empty matches any (single-tenant deployments).
    pub tenant: Option<String>,
}

impl Target {
    /// A target by endpoint name only.
    pub fn endpoint(endpoint: impl Into<String>) -> Self {
        Target {
            endpoint: endpoint.into(),
            tenant: None,
        }
    }
}

/// Sends LwM2M operations to devices. Cheap to clone.
#[derive(Clone)]
pub struct Downlinks {
    node: Arc<Node>,
}

impl std::fmt::Debug for Downlinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downlinks")
            .field("node_id", &self.node.node_id)
            .finish()
    }
}

impl Downlinks {
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Downlinks { node }
    }

    /// Runs `operation` on the device and waits for its answer, at most
    /// `timeout` (the configured default when `None`). A CoAP error answer
    /// (4.04, ...) is an `Ok` result with that code; `Err` means no answer
    /// (timeout, not registered, ...).
    pub async fn send(
        &self,
        target: &Target,
        operation: Operation,
        timeout: Option<Duration>,
    ) -> Result<DownlinkResult, Error> {
        execute(&self.node, target, operation, timeout, false).await
    }

    /// Downlinks currently held for a sleeping queue-mode device on this node.
    pub fn held(&self, endpoint: &str) -> usize {
        self.node.queue.held(endpoint)
    }
}

/// Looks the device up, forwards to its node or runs the operation here.
/// `forwarded` is set for requests another node forwarded: never forward again.
pub(crate) async fn execute(
    node: &Arc<Node>,
    target: &Target,
    operation: Operation,
    timeout: Option<Duration>,
    forwarded: bool,
) -> Result<DownlinkResult, Error> {
    let timeout = timeout.unwrap_or(node.config.default_request_timeout);
    let deadline = Instant::now() + timeout;
    let reg = node
        .sessions
        .get_by_endpoint(&target.endpoint)
        .await
        .map_err(|e| node.store_error(e))?
        .ok_or_else(|| Error::NotRegistered(target.endpoint.clone()))?;
    if let Some(tenant) = target.tenant.as_deref().filter(|t| !t.is_empty()) {
        if reg.tenant.as_deref() != Some(tenant) {
            return Err(Error::NotRegistered(target.endpoint.clone()));
        }
    }
    if !forwarded && !reg.node_id.is_empty() && reg.node_id != node.node_id {
        let request = proto_convert::downlink_request(target, &operation, timeout);
        match node
            .forwarder
            .downlink(&node.node_id, &reg.node_id, request)
            .await
        {
            Ok(response) => {
                Counters::inc(&node.counters.downlinks_forwarded);
                return proto_convert::result_from_proto(response);
            }
            // The owner is gone: try from here (works without NAT in between).
            Err(Error::Forward {
                node: owner,
                status,
            }) if status.code() == tonic::Code::Unavailable => {
                tracing::warn!(%owner, %status, endpoint = %reg.endpoint, "owner node unreachable, sending downlink locally");
            }
            Err(e) => return Err(e),
        }
    }
    run_locally(node, &reg, operation, deadline).await
}

/// Runs the operation from this node's socket.
async fn run_locally(
    node: &Arc<Node>,
    reg: &Registration,
    operation: Operation,
    deadline: Instant,
) -> Result<DownlinkResult, Error> {
    let versions = Node::versions(reg);
    let models = node.models.for_device(&versions);
    let formats = DeviceFormats::of(reg, node.config.overrides(&reg.endpoint));
    // Token of the observation an Observe of an observed path reuses.
    let mut reused: Option<Vec<u8>> = None;
    let (planned, token) = match &operation {
        Operation::CancelObserve { path } => {
            cancel_plan(node, reg, std::slice::from_ref(path), false, deadline).await?
        }
        Operation::CancelObserveComposite { paths } => {
            cancel_plan(node, reg, paths, true, deadline).await?
        }
        _ => {
            let planned = operation::plan(&operation, &reg.root_path, &formats, &models)?;
            if operation.observes() {
                match start_observation(node, reg, &operation, planned.format).await? {
                    Observed::New(token) => (planned, Some(token)),
                    Observed::Existing(existing) => {
                        if has_own_attributes(&operation) {
                            // One observation per path: a joined one keeps
                            // the attributes it was started with.
                            return Err(Error::FailedPrecondition(format!(
                                "{} is already observed on {}; an Observe with its own \
                                 attributes needs it cancelled first (or use Write-Attributes)",
                                existing.paths.join(","),
                                reg.endpoint
                            )));
                        }
                        reused = Some(existing.token.clone());
                        (read_of_observed(reg, &existing)?, None)
                    }
                }
            } else {
                (planned, None)
            }
        }
    };
    let summary = format!(
        "{} {}",
        planned.request.method,
        planned.request.path_string()
    );
    let payload_size = planned.request.payload.len();
    let mut options = RequestOptions::con();
    if let Some(token) = token {
        options = options.with_token(token);
    }
    let observe_token = token.filter(|_| operation.observes());
    let outcome = send(node, reg, planned.request, options, observe_token, deadline).await;
    let device = Device::from(reg);
    let response = match outcome {
        Ok(response) => response,
        Err(e) => {
            Counters::inc(&node.counters.downlink_failures);
            if let Some(token) = observe_token {
                let _ = node
                    .sessions
                    .remove_observation(&reg.endpoint, token.as_bytes())
                    .await;
            }
            let log = events::transport_log(
                Direction::Downlink,
                format!("{summary} → no response"),
                String::new(),
                payload_size,
                Some(e.to_string()),
            );
            node.publish(vec![node.event(&device, log)]).await;
            return Err(e);
        }
    };
    let mut result = operation::interpret(
        &operation,
        &reg.root_path,
        planned.format,
        &response,
        &models,
        now_secs_f64(),
    );
    if result.decode_error.is_some() {
        Counters::inc(&node.counters.decode_failures);
    }
    crate::missing_models::note(node, reg, &mut result.values);
    let mut published = Vec::new();
    if let Some(token) = reused.filter(|_| response.code.is_success()) {
        // The observation goes on; this answer is its current value.
        let hex = hex::encode(token);
        result.observation_token = Some(hex.clone());
        result.observation_reused = true;
        if !result.values.is_empty() {
            published.push(node.event(
                &device,
                events::values(ValueSource::Notify, result.values.clone(), Some(hex)),
            ));
        }
    } else if let Some(token) = observe_token {
        if confirms_observation(&response) {
            let hex = hex::encode(token.as_bytes());
            result.observation_token = Some(hex.clone());
            if !result.values.is_empty() {
                published.push(node.event(
                    &device,
                    events::values(ValueSource::Notify, result.values.clone(), Some(hex)),
                ));
            }
        } else {
            let _ = node
                .sessions
                .remove_observation(&reg.endpoint, token.as_bytes())
                .await;
        }
    } else if matches!(
        operation,
        Operation::Read { .. } | Operation::ReadComposite { .. }
    ) && !result.values.is_empty()
    {
        published.push(node.event(
            &device,
            events::values(ValueSource::Read, result.values.clone(), None),
        ));
    }
    published.push(node.event(
        &device,
        events::transport_log(
            Direction::Downlink,
            format!("{summary} → {}", events::code_text(response.code)),
            events::code_text(response.code),
            payload_size,
            result.decode_error.clone(),
        ),
    ));
    node.publish(published).await;
    Ok(result)
}

/// What an Observe found in the session store.
enum Observed {
    /// A new observation with this token, stored before the Observe leaves.
    New(Token),
    /// The device already has an observation of the path: one per device
    /// and path (as ThingsBoard keeps it), so that one is reused.
    Existing(Observation),
}

/// A plain Read (the observation's request without Observe, in its format)
/// answering an Observe of a path the device already reports on: the caller
/// gets the current value without a second observation on the device.
fn read_of_observed(
    reg: &Registration,
    existing: &Observation,
) -> Result<operation::Planned, Error> {
    let format = existing.content_format.and_then(ContentFormat::from_code);
    let mut request = operation::observe_request(
        &reg.root_path,
        &crate::observe::paths_of(existing),
        existing.composite,
        format,
        0,
    )?;
    request.options.remove(lwm2m_coap::option_number::OBSERVE);
    Ok(operation::Planned { request, format })
}

/// Stores the observation (with a fresh random token) before the Observe
/// leaves, so a notification reaching any node can be matched; or finds
/// the observation the device already has of these paths.
/// An Observe that carries notification attributes of its own (LwM2M 1.2).
fn has_own_attributes(operation: &Operation) -> bool {
    matches!(operation, Operation::Observe { attributes, .. } if !attributes.is_empty())
}

async fn start_observation(
    node: &Arc<Node>,
    reg: &Registration,
    operation: &Operation,
    format: Option<ContentFormat>,
) -> Result<Observed, Error> {
    let paths = operation.value_paths();
    for _ in 0..4 {
        let bytes: [u8; 8] = rand::random();
        let token = Token::new(&bytes)?;
        let observation = Observation {
            token: bytes.to_vec(),
            endpoint: reg.endpoint.clone(),
            registration_id: reg.registration_id.clone(),
            paths: paths
                .iter()
                .map(|p| p.without_version().to_string())
                .collect(),
            composite: matches!(operation, Operation::ObserveComposite { .. }),
            content_format: format.map(|f| f.code()),
            created_at_ms: now_ms(),
            last_seq: None,
            last_notification_ms: None,
            context: BTreeMap::from([("node_id".to_owned(), node.node_id.clone())]),
        };
        match node
            .sessions
            .add_observation_unless_observed(observation)
            .await
        {
            Ok(None) => return Ok(Observed::New(token)),
            Ok(Some(existing)) => return Ok(Observed::Existing(existing)),
            Err(lwm2m_session::SessionError::TokenInUse { .. }) => continue,
            Err(lwm2m_session::SessionError::NotRegistered { endpoint, .. }) => {
                return Err(Error::NotRegistered(endpoint))
            }
            Err(e) => return Err(node.store_error(e)),
        }
    }
    Err(Error::Overloaded)
}

/// Finds every observation of `paths` (one, unless duplicates were stored
/// before observations were reused), forgets them everywhere, cancels the
/// duplicates on the device and plans the proactive cancel of the oldest,
/// whose answer is the operation's (Observe = 1 with its token, RFC 7641
/// §3.6). Should the device still notify one of them, nobody holds it any
/// more and the notification gets RST.
async fn cancel_plan(
    node: &Arc<Node>,
    reg: &Registration,
    paths: &[LwM2mPath],
    composite: bool,
    deadline: Instant,
) -> Result<(operation::Planned, Option<Token>), Error> {
    let wanted: Vec<String> = paths
        .iter()
        .map(|p| p.without_version().to_string())
        .collect();
    let observations = node
        .sessions
        .observations(&reg.endpoint)
        .await
        .map_err(|e| node.store_error(e))?;
    let mut matching: Vec<Observation> = observations
        .into_iter()
        .filter(|o| o.composite == composite && o.paths == wanted)
        .collect();
    matching.sort_by(|a, b| (a.created_at_ms, &a.token).cmp(&(b.created_at_ms, &b.token)));
    let Some(observation) = matching.first().cloned() else {
        return Err(Error::ObservationNotFound {
            endpoint: reg.endpoint.clone(),
            paths: wanted.join(","),
        });
    };
    for other in &matching {
        node.sessions
            .remove_observation(&reg.endpoint, &other.token)
            .await
            .map_err(|e| node.store_error(e))?;
        if let Ok(token) = Token::new(&other.token) {
            node.forget_token(token).await;
        }
    }
    let cancel_of = |o: &Observation| {
        let format = o.content_format.and_then(ContentFormat::from_code);
        operation::observe_request(&reg.root_path, paths, composite, format, 1)
            .map(|request| operation::Planned { request, format })
    };
    for duplicate in matching.iter().skip(1) {
        let Ok(token) = Token::new(&duplicate.token) else {
            continue;
        };
        // Best effort: a device that missed it gets RST at its next notification.
        let options = RequestOptions::con().with_token(token);
        if let Err(e) = send(
            node,
            reg,
            cancel_of(duplicate)?.request,
            options,
            None,
            deadline,
        )
        .await
        {
            tracing::debug!(endpoint = %reg.endpoint, error = %e, "cancel of a duplicate observation");
        }
    }
    let token = Token::new(&observation.token)?;
    Ok((cancel_of(&observation)?, Some(token)))
}

/// Sends through the UDP task (or holds for a sleeping device) and waits
/// for the answer until `deadline`.
async fn send(
    node: &Arc<Node>,
    reg: &Registration,
    request: lwm2m_coap::Request,
    options: RequestOptions,
    observe_token: Option<Token>,
    deadline: Instant,
) -> Result<Response, Error> {
    let peer = Peer::parse(&reg.address).ok_or_else(|| {
        Error::InvalidArgument(format!("stored address {:?} is not ip:port", reg.address))
    })?;
    node.reachable(peer)?;
    let (reply, answer) = oneshot::channel();
    let out = Outgoing {
        request,
        options: options.with_timeout(driver::remaining(deadline)),
        observe_token,
        reply,
    };
    Counters::inc(&node.counters.downlinks);
    if reg.queue_mode {
        let awake_ms = i64::try_from(node.awake_time(reg).as_millis()).unwrap_or(i64::MAX);
        let store_says_awake = now_ms() < reg.last_seen_ms.saturating_add(awake_ms);
        match node.queue.send_or_hold(
            &reg.endpoint,
            Instant::now(),
            store_says_awake,
            out,
            deadline,
        )? {
            Dispatch::Now(out) => node.driver_of(peer).send(peer.addr, out).await?,
            Dispatch::Held => Counters::inc(&node.counters.downlinks_held),
        }
    } else {
        node.driver_of(peer).send(peer.addr, out).await?;
    }
    match tokio::time::timeout_at(deadline.into(), answer).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(Error::ShuttingDown),
        Err(_) => Err(Error::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_by_endpoint() {
        let t = Target::endpoint("dev");
        assert_eq!(t.endpoint, "dev");
        assert_eq!(t.tenant, None);
    }
}
