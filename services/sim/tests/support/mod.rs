//! The SERVER side for the simulator's integration tests: a bare
//! `CoapEndpoint` over a real UDP socket on 127.0.0.1 that answers Register,
//! Update, De-register and Send by itself and records them, and lets a test
//! send downlink requests and collect notifications.
// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lwm2m_coap::{
    CoapEndpoint, Config, Event, FailureReason, Method, Request, RequestId, RequestOptions,
    Response, ResponseCode, Token,
};
use lwm2m_core::registration::RegisterRequest;
use lwm2m_sim::DeviceConfig;
use tokio::net::UdpSocket;

/// A Register the server accepted.
#[derive(Debug, Clone)]
pub struct Registration {
    pub peer: SocketAddr,
    pub location: String,
    pub request: Request,
    pub parsed: RegisterRequest,
}

/// An Update the server received.
#[derive(Debug, Clone)]
pub struct Update {
    pub peer: SocketAddr,
    pub location: String,
    pub request: Request,
}

/// A notification the server received.
#[derive(Debug, Clone)]
pub struct Notified {
    pub id: RequestId,
    pub token: Token,
    pub seq: Option<u32>,
    pub response: Response,
    pub at: Instant,
}

pub struct TestServer {
    pub addr: SocketAddr,
    socket: UdpSocket,
    endpoint: CoapEndpoint<SocketAddr>,
    buf: Vec<u8>,
    pub registrations: Vec<Registration>,
    pub updates: Vec<Update>,
    pub deregistrations: Vec<String>,
    pub sends: Vec<Request>,
    pub notifications: Vec<Notified>,
    responses: HashMap<RequestId, Result<Response, FailureReason>>,
    /// Answer the next Updates with this code instead of 2.04.
    pub update_code: Option<ResponseCode>,
}

impl TestServer {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let endpoint = CoapEndpoint::new(Config {
            seed: 99,
            surface_unmatched_notifications: false,
            ..Config::default()
        })
        .unwrap();
        Self {
            addr: socket.local_addr().unwrap(),
            socket,
            endpoint,
            buf: vec![0; 4096],
            registrations: Vec::new(),
            updates: Vec::new(),
            deregistrations: Vec::new(),
            sends: Vec::new(),
            notifications: Vec::new(),
            responses: HashMap::new(),
            update_code: None,
        }
    }

    /// A device configuration for this server with test-friendly timings.
    pub fn device_config(&self, endpoint: &str) -> DeviceConfig {
        DeviceConfig {
            server: self.addr,
            endpoint: endpoint.to_owned(),
            lifetime: 30,
            value_change_interval: Some(Duration::from_millis(100)),
            ack_timeout: Duration::from_millis(500),
            register_retry: Duration::from_millis(500),
            ..DeviceConfig::default()
        }
    }

    /// The address the device `endpoint` last registered or updated from.
    pub fn peer_of(&self, endpoint: &str) -> SocketAddr {
        let reg = self
            .registrations
            .iter()
            .rev()
            .find(|r| r.parsed.endpoint == endpoint)
            .unwrap_or_else(|| panic!("{endpoint} never registered"));
        self.updates
            .iter()
            .rev()
            .find(|u| u.location == reg.location)
            .map_or(reg.peer, |u| u.peer)
    }

    async fn flush(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            self.socket.send_to(&t.bytes, t.peer).await.unwrap();
        }
    }

    /// Processes one input (datagram or timeout) unless `until` passed.
    async fn step(&mut self, until: Instant) -> bool {
        self.flush().await;
        if Instant::now() >= until {
            return false;
        }
        let deadline = self.endpoint.poll_timeout().map_or(until, |t| t.min(until));
        tokio::select! {
            r = self.socket.recv_from(&mut self.buf) => {
                if let Ok((n, peer)) = r {
                    self.endpoint.handle_datagram(Instant::now(), peer, &self.buf[..n]);
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                self.endpoint.handle_timeout(Instant::now());
            }
        }
        self.handle_events();
        self.flush().await;
        true
    }

    fn handle_events(&mut self) {
        let now = Instant::now();
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Request {
                    exchange,
                    peer,
                    request,
                    ..
                } => {
                    let response = self.answer_uplink(peer, request);
                    self.endpoint.respond(now, exchange, response).unwrap();
                }
                Event::Response { id, response, .. } => {
                    self.responses.insert(id, Ok(response));
                }
                Event::RequestFailed { id, reason, .. } => {
                    self.responses.insert(id, Err(reason));
                }
                Event::Notification {
                    id,
                    token,
                    seq,
                    response,
                    ..
                } => self.notifications.push(Notified {
                    id,
                    token,
                    seq,
                    response,
                    at: now,
                }),
                _ => {}
            }
        }
    }

    /// The registration interface and Send, as an LwM2M server answers them.
    fn answer_uplink(&mut self, peer: SocketAddr, request: Request) -> Response {
        let path = request.path();
        match (request.method, path.first().map(String::as_str), path.len()) {
            (Method::Post, Some("rd"), 1) => {
                let parsed = RegisterRequest::parse(
                    &request.query(),
                    Some(&request.payload),
                    request.options.content_format(),
                )
                .unwrap();
                let location = format!("/rd/{}", self.registrations.len() + 1);
                self.registrations.push(Registration {
                    peer,
                    location: location.clone(),
                    request,
                    parsed,
                });
                Response::new(ResponseCode::CREATED).with_location_path(&location)
            }
            (Method::Post, Some("rd"), 2) => {
                let location = request.path_string();
                self.updates.push(Update {
                    peer,
                    location,
                    request,
                });
                Response::new(self.update_code.unwrap_or(ResponseCode::CHANGED))
            }
            (Method::Delete, Some("rd"), 2) => {
                self.deregistrations.push(request.path_string());
                Response::new(ResponseCode::DELETED)
            }
            (Method::Post, Some("dp"), 1) => {
                self.sends.push(request);
                Response::new(ResponseCode::CHANGED)
            }
            _ => Response::new(ResponseCode::NOT_FOUND),
        }
    }

    /// Runs until `condition` holds or `timeout` passes; returns whether it held.
    pub async fn run_until(
        &mut self,
        timeout: Duration,
        mut condition: impl FnMut(&TestServer) -> bool,
    ) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            if !self.step(until).await {
                return condition(self);
            }
        }
    }

    /// Keeps serving for `duration`.
    pub async fn run_for(&mut self, duration: Duration) {
        self.run_until(duration, |_| false).await;
    }

    /// Sends a request and waits for its outcome.
    pub async fn try_request(
        &mut self,
        peer: SocketAddr,
        request: Request,
        options: RequestOptions,
    ) -> Result<Response, FailureReason> {
        let timeout =
            options.timeout.unwrap_or(Duration::from_secs(5)) + Duration::from_millis(500);
        let id = self
            .endpoint
            .send_request(Instant::now(), peer, request, options)
            .unwrap();
        let done = self
            .run_until(timeout, |s| s.responses.contains_key(&id))
            .await;
        assert!(done, "no outcome for request {id:?}");
        self.responses.remove(&id).unwrap()
    }

    /// Sends a CON request and returns the response.
    pub async fn request(&mut self, peer: SocketAddr, request: Request) -> Response {
        let what = format!("{} {}", request.method, request.path_string());
        self.try_request(peer, request, RequestOptions::con())
            .await
            .unwrap_or_else(|e| panic!("{what} failed: {e:?}"))
    }

    /// Registers an observation; returns its id and the first response.
    pub async fn observe(&mut self, peer: SocketAddr, request: Request) -> (RequestId, Response) {
        let id = self
            .endpoint
            .send_request(
                Instant::now(),
                peer,
                request,
                RequestOptions::con().observe(),
            )
            .unwrap();
        let done = self
            .run_until(Duration::from_secs(5), |s| s.responses.contains_key(&id))
            .await;
        assert!(done, "no answer to the observe request");
        (id, self.responses.remove(&id).unwrap().unwrap())
    }

    /// Cancels an observation with GET/FETCH Observe=1 and waits for the answer.
    pub async fn cancel_observation(&mut self, id: RequestId) -> Response {
        let cancel = self
            .endpoint
            .cancel_observation(Instant::now(), id)
            .unwrap();
        let done = self
            .run_until(Duration::from_secs(5), |s| {
                s.responses.contains_key(&cancel)
            })
            .await;
        assert!(done, "no answer to the cancel request");
        self.responses.remove(&cancel).unwrap().unwrap()
    }

    /// Notifications received for observation `id`.
    pub fn notifications_for(&self, id: RequestId) -> Vec<&Notified> {
        self.notifications.iter().filter(|n| n.id == id).collect()
    }
}
