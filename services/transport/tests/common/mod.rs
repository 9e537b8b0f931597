//! Test harness: the shared `lwm2m_transport::testing` support (stores,
//! nodes, events) plus a fake LwM2M device: a bare `CoapEndpoint` over a
//! real UDP socket whose answers to downlinks come from a closure.
// Helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lwm2m_coap::{
    CoapEndpoint, Config, Event, FailureReason, Request, RequestId, RequestOptions, Response,
    ResponseCode, Token,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

pub use lwm2m_transport::testing::*;

/// What a fake device answers to a downlink.
pub type Handler = Box<dyn FnMut(&Request) -> Response + Send>;

/// A request the device received, with its token (for notifications).
#[derive(Debug, Clone)]
pub struct Inbound {
    pub request: Request,
    pub token: Token,
}

enum DevCmd {
    Request {
        peer: SocketAddr,
        request: Request,
        options: RequestOptions,
        reply: oneshot::Sender<Result<Response, FailureReason>>,
    },
    Notify {
        peer: SocketAddr,
        token: Token,
        seq: u32,
        response: Response,
        confirmable: bool,
    },
}

/// A fake LwM2M client on its own UDP port.
pub struct Device {
    pub addr: SocketAddr,
    pub server: SocketAddr,
    commands: mpsc::UnboundedSender<DevCmd>,
    pub inbound: mpsc::UnboundedReceiver<Inbound>,
    pub events: mpsc::UnboundedReceiver<Event<SocketAddr>>,
    handler: Arc<Mutex<Handler>>,
    pub location: Option<String>,
}

impl Device {
    /// A device talking to `server`, answering 4.04 until a handler is set.
    pub async fn new(server: SocketAddr) -> Device {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (inbound_tx, inbound) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let handler: Arc<Mutex<Handler>> = Arc::new(Mutex::new(Box::new(|_| {
            Response::new(ResponseCode::NOT_FOUND)
        })));
        let endpoint = CoapEndpoint::new(Config {
            seed: u64::from(addr.port()) + 7,
            ..Config::default()
        })
        .unwrap();
        tokio::spawn(device_loop(
            socket,
            endpoint,
            command_rx,
            inbound_tx,
            events_tx,
            handler.clone(),
        ));
        Device {
            addr,
            server,
            commands,
            inbound,
            events,
            handler,
            location: None,
        }
    }

    /// Replaces the downlink handler.
    pub fn answer(&self, handler: impl FnMut(&Request) -> Response + Send + 'static) {
        *self.handler.lock().unwrap() = Box::new(handler);
    }

    /// Sends a CON request to the server and waits for the answer.
    pub async fn request(&self, request: Request) -> Response {
        self.request_to(self.server, request).await
    }

    pub async fn request_to(&self, peer: SocketAddr, request: Request) -> Response {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(DevCmd::Request {
                peer,
                request,
                options: RequestOptions::con(),
                reply,
            })
            .unwrap();
        tokio::time::timeout(PATIENCE, rx)
            .await
            .expect("server answered")
            .unwrap()
            .expect("request succeeded")
    }

    /// Registers with `query` entries after `ep=` and an object list.
    pub async fn register(&mut self, endpoint: &str, query: &[&str], objects: &str) -> Response {
        let mut request = Request::post("/rd").with_query("ep", endpoint);
        for entry in query {
            request = request.with_query_entry(entry);
        }
        let request = request
            .with_content_format(40)
            .with_payload(objects.as_bytes().to_vec());
        let response = self.request(request).await;
        if response.code == ResponseCode::CREATED {
            self.location = Some(response.location_path());
        }
        response
    }

    /// Sends an Update to the registration this device (or `location`) made.
    pub async fn update(&self, location: &str, query: &[&str]) -> Response {
        let mut request = Request::post(location);
        for entry in query {
            request = request.with_query_entry(entry);
        }
        self.request(request).await
    }

    /// Sends a notification for `token`.
    pub fn notify(
        &self,
        peer: SocketAddr,
        token: Token,
        seq: u32,
        response: Response,
        confirmable: bool,
    ) {
        self.commands
            .send(DevCmd::Notify {
                peer,
                token,
                seq,
                response,
                confirmable,
            })
            .unwrap();
    }

    /// The next downlink the device received.
    pub async fn next_inbound(&mut self) -> Inbound {
        tokio::time::timeout(PATIENCE, self.inbound.recv())
            .await
            .expect("a downlink arrived")
            .unwrap()
    }

    /// The next endpoint event other than responses (e.g. ObservationRejected).
    pub async fn next_event(&mut self) -> Event<SocketAddr> {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("a device event")
            .unwrap()
    }
}

async fn device_loop(
    socket: UdpSocket,
    mut endpoint: CoapEndpoint<SocketAddr>,
    mut commands: mpsc::UnboundedReceiver<DevCmd>,
    inbound: mpsc::UnboundedSender<Inbound>,
    events: mpsc::UnboundedSender<Event<SocketAddr>>,
    handler: Arc<Mutex<Handler>>,
) {
    let mut pending: HashMap<RequestId, oneshot::Sender<Result<Response, FailureReason>>> =
        HashMap::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let now = Instant::now();
        while let Ok((len, peer)) = socket.try_recv_from(&mut buf) {
            endpoint.handle_datagram(now, peer, &buf[..len]);
        }
        if endpoint.poll_timeout().is_some_and(|t| t <= now) {
            endpoint.handle_timeout(now);
        }
        while let Some(event) = endpoint.poll_event() {
            match event {
                Event::Request {
                    exchange,
                    token,
                    request,
                    ..
                } => {
                    let response = (handler.lock().unwrap())(&request);
                    let _ = inbound.send(Inbound { request, token });
                    endpoint.respond(now, exchange, response).unwrap();
                }
                Event::Response { id, response, .. } => {
                    if let Some(reply) = pending.remove(&id) {
                        let _ = reply.send(Ok(response));
                    }
                }
                Event::RequestFailed { id, reason, .. } => {
                    if let Some(reply) = pending.remove(&id) {
                        let _ = reply.send(Err(reason));
                    }
                }
                other => {
                    let _ = events.send(other);
                }
            }
        }
        while let Some(t) = endpoint.poll_transmit() {
            let _ = socket.send_to(&t.bytes, t.peer).await;
        }
        let wake = endpoint.poll_timeout();
        tokio::select! {
            r = socket.readable() => { if r.is_err() { return; } }
            command = commands.recv() => match command {
                None => return,
                Some(DevCmd::Request { peer, request, options, reply }) => {
                    match endpoint.send_request(Instant::now(), peer, request, options) {
                        Ok(id) => { pending.insert(id, reply); }
                        Err(e) => panic!("device cannot send: {e}"),
                    }
                }
                Some(DevCmd::Notify { peer, token, seq, response, confirmable }) => {
                    endpoint
                        .send_notification(Instant::now(), peer, token, seq, response, confirmable)
                        .unwrap();
                }
            },
            () = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

/// Text content response.
pub fn text(body: &str) -> Response {
    Response::content(0, body.as_bytes().to_vec())
}

/// The integer in a proto value, if it is one.
pub fn int_of(value: &lwm2m_proto::events::v1::ResourceValue) -> Option<i64> {
    match value.value.as_ref()?.kind.as_ref()? {
        lwm2m_proto::events::v1::value::Kind::Integer(i) => Some(*i),
        _ => None,
    }
}
