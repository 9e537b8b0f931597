//! The UDP task: the only owner of the socket and of the sans-IO
//! `CoapEndpoint`. Its CoAP half ([`Exchanges`]) also serves the DTLS
//! driver (`secure::driver`), whose peers are DTLS sessions. It never awaits the session store or the bus; request
//! handling runs in spawned tasks that answer through [`DriverHandle`]
//! (the endpoint's auto-ACK turns slow answers into separate responses).
//!
//! Each turn of the loop: drain the socket (`try_recv_from` until
//! WouldBlock), apply queued commands, run due timers, hand events to the
//! upper layer, send every transmit, then sleep until the socket is
//! readable, a command arrives or the endpoint's next timeout.

use std::collections::HashMap;
use std::hash::Hash;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lwm2m_coap::{
    CoapEndpoint, Event, ExchangeId, FailureReason, Request, RequestId, RequestOptions, Response,
    Token, UnmatchedHandle,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::Error;
use crate::node::Node;
use crate::peer::Peer;
use crate::provisioning::Channel;
use crate::stats::Counters;
use crate::{inbound, observe};

/// Commands waiting for the UDP task; beyond this, callers wait.
pub(crate) const COMMAND_QUEUE: usize = 8192;
/// Datagrams read per turn before commands and timers get a chance.
const RECV_BATCH: usize = 512;

/// A request to a device, with where its answer goes.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub request: Request,
    pub options: RequestOptions,
    /// Set for Observe / Observe-Composite: on a successful answer the token
    /// is remembered as a local observation (so it can be forgotten later).
    pub observe_token: Option<Token>,
    pub reply: oneshot::Sender<Result<Response, Error>>,
}

/// What other tasks ask of the UDP task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Answer an inbound request; `sent` fires once the response is on the socket.
    Respond {
        exchange: ExchangeId,
        response: Response,
        sent: oneshot::Sender<()>,
    },
    /// Send a request to a device.
    Send { peer: SocketAddr, out: Outgoing },
    /// Accept a notification with an unknown token (the store knows it).
    Accept {
        peer: SocketAddr,
        handle: UnmatchedHandle,
        request: Option<Request>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// Reject a notification with an unknown token (RST).
    Reject {
        peer: SocketAddr,
        handle: UnmatchedHandle,
    },
    /// Forget a local observation: later notifications get RST.
    Forget { token: Token },
    /// End a local observation on the device too: forget it and send the
    /// proactive cancel (GET with Observe = 1, RFC 7641 §3.6).
    End { token: Token },
    /// DTLS only: the session at `peer` belongs to a registered device (it
    /// is evicted last when the session table is full), or no longer does.
    SessionRegistered { peer: SocketAddr, registered: bool },
    /// DTLS only: close the session at `peer` (its device de-registered or
    /// its registration expired), sending close_notify.
    CloseSession { peer: SocketAddr },
}

/// How other tasks reach the UDP task.
#[derive(Clone, Debug)]
pub(crate) struct DriverHandle {
    tx: mpsc::Sender<Command>,
}

impl DriverHandle {
    pub fn new(tx: mpsc::Sender<Command>) -> Self {
        DriverHandle { tx }
    }

    async fn command(&self, command: Command) -> Result<(), Error> {
        self.tx.send(command).await.map_err(|_| Error::ShuttingDown)
    }

    /// Sends `response` and waits until it has been handed to the socket, so
    /// that events about the exchange are published after the device's answer.
    pub async fn respond(&self, exchange: ExchangeId, response: Response) -> Result<(), Error> {
        let (sent, done) = oneshot::channel();
        self.command(Command::Respond {
            exchange,
            response,
            sent,
        })
        .await?;
        done.await.map_err(|_| Error::ShuttingDown)
    }

    /// Queues a request; its answer arrives on `out.reply`.
    pub async fn send(&self, peer: SocketAddr, out: Outgoing) -> Result<(), Error> {
        self.command(Command::Send { peer, out }).await
    }

    /// Accepts an unmatched notification as a local observation.
    pub async fn accept(
        &self,
        peer: SocketAddr,
        handle: UnmatchedHandle,
        request: Option<Request>,
    ) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Accept {
            peer,
            handle,
            request,
            reply,
        })
        .await?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Rejects an unmatched notification.
    pub async fn reject(&self, peer: SocketAddr, handle: UnmatchedHandle) {
        let _ = self.command(Command::Reject { peer, handle }).await;
    }

    /// Forgets a local observation (no message is sent).
    pub async fn forget(&self, token: Token) {
        let _ = self.command(Command::Forget { token }).await;
    }

    /// Forgets a local observation and cancels it on the device.
    pub async fn end(&self, token: Token) {
        let _ = self.command(Command::End { token }).await;
    }

    /// Tells the DTLS driver whether the session at `peer` is registered.
    pub async fn session_registered(&self, peer: SocketAddr, registered: bool) {
        let _ = self
            .command(Command::SessionRegistered { peer, registered })
            .await;
    }

    /// Asks the DTLS driver to close the session at `peer`.
    pub async fn close_session(&self, peer: SocketAddr) {
        let _ = self.command(Command::CloseSession { peer }).await;
    }
}

/// A request in flight.
struct Pending {
    reply: oneshot::Sender<Result<Response, Error>>,
    observe_token: Option<Token>,
}

/// How a driver's CoAP peers relate to devices: the plain driver's peers
/// are socket addresses; the DTLS driver's are sessions, which keep their
/// identity when the device's address changes.
pub(crate) trait Link<P> {
    /// The CoAP peer a downlink to `addr` goes to, if it is reachable.
    fn resolve(&self, addr: SocketAddr) -> Option<P>;
    /// Where the device behind a CoAP peer is now.
    fn peer(&self, peer: &P) -> Option<Peer>;
    /// How the peer authenticated (Register binds it to the endpoint).
    fn channel(&self, peer: &P) -> Channel;
}

/// The plain CoAP driver: peers are socket addresses, nobody authenticated.
struct Plain;

impl Link<SocketAddr> for Plain {
    fn resolve(&self, addr: SocketAddr) -> Option<SocketAddr> {
        Some(addr)
    }
    fn peer(&self, peer: &SocketAddr) -> Option<Peer> {
        Some(Peer::plain(*peer))
    }
    fn channel(&self, _: &SocketAddr) -> Channel {
        Channel::Plain
    }
}

/// The CoAP side of a driver, shared by the plain and the DTLS driver:
/// the endpoint, requests in flight, local observations, and the commands
/// and events that connect it to the rest of the node.
pub(crate) struct Exchanges<P> {
    node: Arc<Node>,
    pub endpoint: CoapEndpoint<P>,
    pending: HashMap<RequestId, Pending>,
    /// Local observations by token (tokens are random and cluster-unique).
    observations: HashMap<Token, RequestId>,
    /// Fired after the next flush of transmits.
    after_flush: Vec<oneshot::Sender<()>>,
}

/// Runs the UDP task until `stop` turns true.
pub(crate) async fn run(
    node: Arc<Node>,
    socket: UdpSocket,
    endpoint: CoapEndpoint<SocketAddr>,
    mut commands: mpsc::Receiver<Command>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    // One extra byte so an oversized datagram is seen as oversized, not truncated to fit.
    let mut buf = vec![0u8; node.config.max_datagram_size + 1];
    let mut driver = Exchanges::new(node, endpoint);
    loop {
        let now = Instant::now();
        driver.receive(&socket, &mut buf, now);
        while let Ok(command) = commands.try_recv() {
            driver.apply(now, command, &Plain);
        }
        if driver.endpoint.poll_timeout().is_some_and(|at| at <= now) {
            driver.endpoint.handle_timeout(now);
        }
        driver.drain_events(now, &Plain);
        driver.flush(&socket).await;
        let wake_at = driver.endpoint.poll_timeout();
        tokio::select! {
            ready = socket.readable() => ready?,
            command = commands.recv() => match command {
                Some(command) => driver.apply(Instant::now(), command, &Plain),
                None => break,
            },
            () = sleep_until(wake_at) => {}
            () = crate::stop::stopped(&mut stop) => break,
        }
    }
    Ok(())
}

/// Sleeps until `at`, forever when `None`.
pub(crate) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Exchanges<SocketAddr> {
    /// Reads every datagram that is ready (up to a batch) into the endpoint.
    fn receive(&mut self, socket: &UdpSocket, buf: &mut [u8], now: Instant) {
        let counters = &self.node.counters;
        for _ in 0..RECV_BATCH {
            match socket.try_recv_from(buf) {
                Ok((len, peer)) => {
                    Counters::inc(&counters.datagrams_received);
                    self.endpoint
                        .handle_datagram(now, peer, buf.get(..len).unwrap_or_default());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // ICMP errors from earlier sends surface here on some systems; not fatal.
                Err(e) => tracing::debug!(error = %e, "udp receive error"),
            }
        }
    }

    /// Sends every queued datagram, then releases waiters of `Respond`.
    async fn flush(&mut self, socket: &UdpSocket) {
        while let Some(t) = self.endpoint.poll_transmit() {
            match socket.send_to(&t.bytes, t.peer).await {
                Ok(_) => Counters::inc(&self.node.counters.datagrams_sent),
                Err(e) => {
                    Counters::inc(&self.node.counters.send_errors);
                    tracing::debug!(peer = %t.peer, error = %e, "udp send error");
                }
            }
        }
        self.release_flushed();
        self.node.counters.set_coap(self.endpoint.stats());
    }
}

impl<P: Clone + Eq + Hash + std::fmt::Debug> Exchanges<P> {
    pub fn new(node: Arc<Node>, endpoint: CoapEndpoint<P>) -> Self {
        Exchanges {
            node,
            endpoint,
            pending: HashMap::new(),
            observations: HashMap::new(),
            after_flush: Vec::new(),
        }
    }

    /// Tells the waiters of `Respond` that their answers are on the socket.
    pub fn release_flushed(&mut self) {
        for sent in self.after_flush.drain(..) {
            let _ = sent.send(());
        }
    }

    pub fn apply(&mut self, now: Instant, command: Command, link: &impl Link<P>) {
        match command {
            Command::Respond {
                exchange,
                response,
                sent,
            } => {
                if let Err(e) = self.endpoint.respond(now, exchange, response) {
                    // Expired exchange or a response too large: nothing to send.
                    tracing::debug!(error = %e, "cannot respond");
                }
                self.after_flush.push(sent);
            }
            Command::Send { peer, out } => {
                let Some(to) = link.resolve(peer) else {
                    let _ = out
                        .reply
                        .send(Err(Error::NoSecureSession(peer.to_string())));
                    return;
                };
                match self
                    .endpoint
                    .send_request(now, to, out.request, out.options)
                {
                    Ok(id) => {
                        self.pending.insert(
                            id,
                            Pending {
                                reply: out.reply,
                                observe_token: out.observe_token,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = out.reply.send(Err(Error::Coap(e)));
                    }
                }
            }
            Command::Accept {
                peer,
                handle,
                request,
                reply,
            } => {
                let Some(from) = link.resolve(peer) else {
                    let _ = reply.send(Err(Error::NoSecureSession(peer.to_string())));
                    return;
                };
                let result = self
                    .endpoint
                    .accept_unmatched(now, from, handle, request)
                    .map(|id| {
                        self.observations.insert(handle.token(), id);
                    })
                    .map_err(Error::Coap);
                let _ = reply.send(result);
            }
            Command::Reject { peer, handle } => {
                if let Some(from) = link.resolve(peer) {
                    self.endpoint.reject_unmatched(now, from, handle);
                }
            }
            Command::Forget { token } => {
                if let Some(id) = self.observations.remove(&token) {
                    let _ = self.endpoint.cancel(id);
                }
            }
            Command::End { token } => {
                if let Some(id) = self.observations.remove(&token) {
                    // Its answer matches no pending call and is dropped.
                    // Without the registering request (accepted from the
                    // token index without one) only RST can end it.
                    if self.endpoint.cancel_observation(now, id).is_err() {
                        let _ = self.endpoint.cancel(id);
                    }
                }
            }
            // Handled by the DTLS driver before it gets here; plain CoAP
            // has no session to mark or close.
            Command::SessionRegistered { .. } | Command::CloseSession { .. } => {}
        }
    }

    pub fn drain_events(&mut self, now: Instant, link: &impl Link<P>) {
        while let Some(event) = self.endpoint.poll_event() {
            self.on_event(now, event, link);
        }
    }

    fn on_event(&mut self, now: Instant, event: Event<P>, link: &impl Link<P>) {
        match event {
            Event::Request {
                exchange,
                peer,
                request,
                ..
            } => {
                // A peer without an address is a session closing under us.
                let Some(device) = link.peer(&peer) else {
                    return;
                };
                let channel = link.channel(&peer);
                if let Some(response) =
                    inbound::accept(&self.node, exchange, device, channel, request)
                {
                    if let Err(e) = self.endpoint.respond(now, exchange, response) {
                        tracing::debug!(error = %e, "cannot respond");
                    }
                }
            }
            Event::Response { id, response, .. } => {
                if let Some(pending) = self.pending.remove(&id) {
                    if let Some(token) = pending.observe_token {
                        if response.code.is_success() && response.observe().is_some() {
                            self.observations.insert(token, id);
                        }
                    }
                    let _ = pending.reply.send(Ok(response));
                }
            }
            Event::RequestFailed { id, reason, .. } => {
                if let Some(pending) = self.pending.remove(&id) {
                    let error = match reason {
                        FailureReason::Timeout => Error::Timeout,
                        other => Error::RequestFailed(other),
                    };
                    let _ = pending.reply.send(Err(error));
                }
            }
            Event::Notification {
                peer,
                token,
                seq,
                response,
                ended,
                ..
            } => {
                if ended {
                    self.observations.remove(&token);
                }
                let Some(device) = link.peer(&peer) else {
                    return;
                };
                let node = Arc::clone(&self.node);
                tokio::spawn(async move {
                    observe::on_notification(&node, device, token, seq, response, ended).await;
                });
            }
            Event::UnmatchedResponse {
                peer,
                handle,
                response,
            } => {
                let Some(device) = link.peer(&peer) else {
                    return;
                };
                let node = Arc::clone(&self.node);
                tokio::spawn(async move {
                    observe::on_unmatched(&node, device, handle, response).await;
                });
            }
            // We never serve observations, so nothing to do.
            Event::ObservationRejected { .. } => {}
        }
    }
}

/// Remaining time until `deadline`, at least 1 ms (the endpoint needs a positive timeout).
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_is_never_zero() {
        assert_eq!(remaining(Instant::now()), Duration::from_millis(1));
        assert!(remaining(Instant::now() + Duration::from_secs(5)) > Duration::from_secs(4));
    }

    #[tokio::test]
    async fn handle_reports_shutdown_when_the_task_is_gone() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let handle = DriverHandle::new(tx);
        let err = handle
            .respond(
                real_exchange_id(),
                Response::new(lwm2m_coap::ResponseCode::CONTENT),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ShuttingDown));
    }

    /// An exchange id from a real endpoint (ids cannot be built outside lwm2m-coap).
    fn real_exchange_id() -> ExchangeId {
        let now = Instant::now();
        let mut server = CoapEndpoint::<u8>::new(lwm2m_coap::Config {
            seed: 1,
            ..Default::default()
        })
        .unwrap();
        let mut client = CoapEndpoint::<u8>::new(lwm2m_coap::Config {
            seed: 2,
            ..Default::default()
        })
        .unwrap();
        client
            .send_request(now, 1, Request::get("/x"), RequestOptions::con())
            .unwrap();
        while let Some(t) = client.poll_transmit() {
            server.handle_datagram(now, 2, &t.bytes);
        }
        match server.poll_event() {
            Some(Event::Request { exchange, .. }) => exchange,
            other => panic!("{other:?}"),
        }
    }
}
