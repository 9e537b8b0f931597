//! Requests from devices: routing, admission (concurrency limit, bus
//! backpressure) and the answer-then-publish sequence.
//!
//! The UDP task calls [`accept`] for every request. It never awaits: the
//! answer is either immediate (4.04, 4.05, 5.03) or the request is handled
//! in a spawned task that answers through the UDP task. Events are
//! published only after the response has been handed to the socket, into
//! bus slots reserved before the request was processed, so an acknowledged
//! uplink is never lost to backpressure.

use std::sync::Arc;

use lwm2m_coap::{option_number, ExchangeId, Method, Request, Response, ResponseCode};
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::Direction;
use lwm2m_session::Registration;
use tokio::sync::OwnedSemaphorePermit;

use crate::error::Error;
use crate::events::{self, Device};
use crate::node::Node;
use crate::peer::Peer;
use crate::provisioning::Channel;
use crate::stats::Counters;
use crate::{provisioning, registration, send};

/// Events one request may publish: its own event plus the transport log.
const EVENTS_PER_REQUEST: u32 = 2;

/// What a device may call on the server (LwM2M 1.1.1 Transport §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Register,
    Update(String),
    Deregister(String),
    Send,
    MethodNotAllowed,
    NotFound,
}

/// Where a request goes, from its method and Uri-Path alone (Uri-Host and
/// Uri-Port, which some clients send, are ignored).
pub(crate) fn route(request: &Request) -> Route {
    let path = request.path();
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    match (segments.as_slice(), request.method) {
        (["rd"], Method::Post) => Route::Register,
        (["rd"], _) => Route::MethodNotAllowed,
        (["rd", id], Method::Post) => Route::Update((*id).to_owned()),
        (["rd", id], Method::Delete) => Route::Deregister((*id).to_owned()),
        (["rd", _], _) => Route::MethodNotAllowed,
        (["dp"], Method::Post) => Route::Send,
        (["dp"], _) => Route::MethodNotAllowed,
        _ => Route::NotFound,
    }
}

/// What a handler decided.
pub(crate) struct Outcome {
    pub response: Response,
    /// The device the events are about (`None`: nothing to publish).
    pub device: Option<Device>,
    pub events: Vec<Payload>,
    /// A queue-mode device that just woke up: flush its held downlinks
    /// after the response.
    pub wake: Option<(Registration, Peer)>,
    /// What the registry wants done once the device has its answer.
    pub follow_up: Option<FollowUp>,
}

/// Profile work that starts after the device got its response.
pub(crate) enum FollowUp {
    /// A new registration: run its whole profile.
    Initialise(
        Registration,
        Option<Arc<lwm2m_registry::profile::DeviceProfile>>,
    ),
    /// An Update: apply profile changes made while the device was away.
    Resync(Registration),
}

impl Outcome {
    /// A response with events about `reg`.
    pub fn new(response: Response, reg: &Registration, events: Vec<Payload>) -> Self {
        Outcome {
            response,
            device: Some(Device::from(reg)),
            events,
            wake: None,
            follow_up: None,
        }
    }
}

/// 5.03 with Max-Age: "come back in a few seconds".
fn unavailable(node: &Node) -> Response {
    let mut response = Response::new(ResponseCode::SERVICE_UNAVAILABLE);
    response
        .options
        .set_uint(option_number::MAX_AGE, node.config.overload_retry_after_s);
    response
}

/// Admits a request from a driver (plain or DTLS): `Some` is an immediate
/// answer, `None` means a task will answer. `channel` says how the peer
/// authenticated, for Register.
pub(crate) fn accept(
    node: &Arc<Node>,
    exchange: ExchangeId,
    peer: Peer,
    channel: Channel,
    request: Request,
) -> Option<Response> {
    Counters::inc(&node.counters.requests);
    let route = route(&request);
    match route {
        Route::NotFound => {
            Counters::inc(&node.counters.not_found);
            return Some(Response::new(ResponseCode::NOT_FOUND));
        }
        Route::MethodNotAllowed => {
            Counters::inc(&node.counters.method_not_allowed);
            return Some(Response::new(ResponseCode::METHOD_NOT_ALLOWED));
        }
        _ => {}
    }
    if !node.bus.can_accept() {
        Counters::inc(&node.counters.backpressure);
        return Some(unavailable(node));
    }
    let Ok(permit) = Arc::clone(&node.permits).try_acquire_owned() else {
        Counters::inc(&node.counters.overloaded);
        return Some(unavailable(node));
    };
    let node = Arc::clone(node);
    tokio::spawn(async move { serve(node, exchange, peer, channel, request, route, permit).await });
    None
}

/// `POST /rd?ep=x&lt=60` for the transport log.
fn summary(request: &Request) -> String {
    let query = request.query();
    if query.is_empty() {
        format!("{} {}", request.method, request.path_string())
    } else {
        format!(
            "{} {}?{}",
            request.method,
            request.path_string(),
            query.join("&")
        )
    }
}

async fn serve(
    node: Arc<Node>,
    exchange: ExchangeId,
    peer: Peer,
    channel: Channel,
    request: Request,
    route: Route,
    _permit: OwnedSemaphorePermit,
) {
    let mut reservation = match node.bus.try_reserve(EVENTS_PER_REQUEST) {
        Ok(reservation) => reservation,
        Err(_) => {
            Counters::inc(&node.counters.backpressure);
            let _ = node
                .driver_of(peer)
                .respond(exchange, unavailable(&node))
                .await;
            return;
        }
    };
    let result = match &route {
        Route::Register => registration::register(&node, peer, channel, &request).await,
        Route::Update(id) => registration::update(&node, peer, &channel, id, &request).await,
        Route::Deregister(id) => registration::deregister(&node, &channel, id).await,
        Route::Send => send::send(&node, peer, &channel, &request).await,
        Route::MethodNotAllowed | Route::NotFound => Err(Error::BadRequest("unroutable".into())),
    };
    let outcome = result.unwrap_or_else(|e| {
        let code = e.response_code();
        // An Update/De-register of an expired or unknown registration is a
        // normal event for devices that slept too long, not a malformed request.
        if code == ResponseCode::NOT_FOUND {
            Counters::inc(&node.counters.not_found);
        } else if code.class() == 4 {
            Counters::inc(&node.counters.bad_requests);
        }
        tracing::debug!(%peer, error = %e, "request refused");
        Outcome {
            response: Response::new(code).with_payload(e.to_string().into_bytes()),
            device: None,
            events: Vec::new(),
            wake: None,
            follow_up: None,
        }
    });
    let code = outcome.response.code;
    let published = outcome.device.map(|device| {
        let mut published: Vec<_> = outcome
            .events
            .into_iter()
            .map(|payload| node.event(&device, payload))
            .collect();
        let log = events::transport_log(
            Direction::Uplink,
            format!("{} → {}", summary(&request), events::code_text(code)),
            events::code_text(code),
            request.payload.len(),
            None,
        );
        published.push(node.event(&device, log));
        published
    });
    // Either the events are delivered before the device hears "done" (a
    // crash after the answer loses nothing), or they follow the answer.
    let (response, published) = match published {
        Some(events) if node.config.acknowledge_after_delivery => {
            if node.publish_delivered(&mut reservation, events).await {
                (outcome.response, None)
            } else {
                (unavailable(&node), None)
            }
        }
        published => (outcome.response, published),
    };
    let acknowledged = response.code.is_success();
    if let Err(e) = node.driver_of(peer).respond(exchange, response).await {
        tracing::debug!(error = %e, "response not sent");
        return;
    }
    // The session follows its device's registration, once the answer is out.
    if peer.secure && acknowledged {
        let driver = node.driver_of(peer);
        match &route {
            Route::Register | Route::Update(_) => driver.session_registered(peer.addr, true).await,
            Route::Deregister(_) => driver.close_session(peer.addr).await,
            _ => {}
        }
    }
    if let Some(published) = published {
        node.publish_reserved(&mut reservation, published).await;
    }
    if let Some((reg, peer)) = outcome.wake {
        node.wake(&reg, peer).await;
    }
    match outcome.follow_up {
        Some(FollowUp::Initialise(reg, profile)) => {
            tokio::spawn(provisioning::runner::initialise(node.clone(), reg, profile));
        }
        Some(FollowUp::Resync(reg)) => {
            tokio::spawn(provisioning::after_update(node.clone(), reg));
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_registration_and_reporting_interfaces() {
        assert_eq!(
            route(&Request::post("/rd").with_query("ep", "x")),
            Route::Register
        );
        assert_eq!(
            route(&Request::post("/rd/abc")),
            Route::Update("abc".into())
        );
        assert_eq!(
            route(&Request::delete("/rd/abc")),
            Route::Deregister("abc".into())
        );
        assert_eq!(route(&Request::post("/dp")), Route::Send);
        assert_eq!(route(&Request::get("/rd")), Route::MethodNotAllowed);
        assert_eq!(route(&Request::put("/rd/abc")), Route::MethodNotAllowed);
        assert_eq!(route(&Request::get("/dp")), Route::MethodNotAllowed);
        assert_eq!(route(&Request::get("/bs")), Route::NotFound);
        assert_eq!(route(&Request::post("/rd/a/b")), Route::NotFound);
        assert_eq!(route(&Request::get("/")), Route::NotFound);
    }

    #[test]
    fn uri_host_and_port_do_not_change_the_route() {
        let request = Request::post("/rd")
            .with_option(option_number::URI_HOST, b"example.com".to_vec())
            .with_option(option_number::URI_PORT, vec![0x16, 0x33]);
        assert_eq!(route(&request), Route::Register);
    }

    #[test]
    fn summary_shows_method_path_and_query() {
        let request = Request::post("/rd")
            .with_query("ep", "x")
            .with_query("lt", "60");
        assert_eq!(summary(&request), "POST /rd?ep=x&lt=60");
        assert_eq!(summary(&Request::delete("/rd/1")), "DELETE /rd/1");
    }
}
