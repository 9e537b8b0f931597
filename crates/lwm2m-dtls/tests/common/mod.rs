//! Deterministic simulated network for engine-vs-engine tests (like
//! quinn-proto's `Pair` and lwm2m-coap's harness): one server, several
//! clients, a virtual clock that jumps to the next deadline, and links with
//! seeded loss, duplication and reordering plus explicit drop lists.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lwm2m_dtls::{
    CipherSuite, ClientConfig, ClientEvent, DtlsClient, DtlsServer, Event, ServerConfig, SessionId,
};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub const SERVER: &str = "10.0.0.1:5684";

pub fn server_addr() -> SocketAddr {
    SERVER.parse().unwrap()
}

pub fn client_addr(i: usize) -> SocketAddr {
    format!("10.0.1.{}:{}", 1 + i / 200, 40000 + i)
        .parse()
        .unwrap()
}

/// The default configuration with every suite, CBC included (the
/// default leaves CBC out): for tests that run each suite.
pub fn all_suites() -> ServerConfig {
    ServerConfig {
        cipher_suites: CipherSuite::ALL.to_vec(),
        ..ServerConfig::default()
    }
}

pub fn rng(seed: u64) -> Box<ChaCha20Rng> {
    Box::new(ChaCha20Rng::seed_from_u64(seed))
}

pub fn psk_client(identity: &str, key: &[u8], suite: CipherSuite) -> ClientConfig {
    ClientConfig {
        identity: identity.as_bytes().to_vec(),
        psk: key.to_vec(),
        cipher_suites: vec![suite],
        ..ClientConfig::default()
    }
}

/// Link behaviour in one direction.
#[derive(Debug, Clone, Default)]
pub struct Link {
    pub loss: f64,
    pub duplicate: f64,
    /// Extra random delay in [0, jitter): non-zero jitter reorders.
    pub jitter: Duration,
    /// 0-based indices (in sending order on this link) of datagrams to drop.
    pub drop: HashSet<usize>,
    pub blackhole: bool,
    pub sent: usize,
}

struct InFlight {
    at: Instant,
    order: u64,
    to_server: bool,
    client: usize,
    from: SocketAddr,
    bytes: Vec<u8>,
}

pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub server: DtlsServer,
    pub clients: Vec<DtlsClient>,
    /// The address each client currently sends from.
    pub addrs: Vec<SocketAddr>,
    pub up: Vec<Link>,
    pub down: Vec<Link>,
    pub delay: Duration,
    pub keys: HashMap<Vec<u8>, Vec<u8>>,
    /// Answer NeedPsk automatically (else they collect in `pending_psk`).
    pub auto_psk: bool,
    pub pending_psk: Vec<(SessionId, Vec<u8>)>,
    pub server_events: Vec<Event>,
    pub client_events: Vec<Vec<ClientEvent>>,
    /// Every datagram put on a link (before loss): (to_server, from, bytes).
    pub log: Vec<(bool, SocketAddr, Vec<u8>)>,
    rng: ChaCha20Rng,
    flight: Vec<InFlight>,
    order: u64,
}

impl Sim {
    pub fn new(config: ServerConfig, seed: u64) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            server: DtlsServer::new(config, rng(seed)).unwrap(),
            clients: Vec::new(),
            addrs: Vec::new(),
            up: Vec::new(),
            down: Vec::new(),
            delay: Duration::from_millis(10),
            keys: HashMap::new(),
            auto_psk: true,
            pending_psk: Vec::new(),
            server_events: Vec::new(),
            client_events: Vec::new(),
            log: Vec::new(),
            rng: ChaCha20Rng::seed_from_u64(seed ^ 0x5eed),
            flight: Vec::new(),
            order: 0,
        }
    }

    /// Adds a client (its first ClientHello is queued at once).
    pub fn add_client(&mut self, config: ClientConfig) -> usize {
        let i = self.clients.len();
        self.keys
            .insert(config.identity.clone(), config.psk.clone());
        let client = DtlsClient::new(config, rng(1000 + i as u64), self.now);
        self.clients.push(client);
        self.addrs.push(client_addr(i));
        self.up.push(Link::default());
        self.down.push(Link::default());
        self.client_events.push(Vec::new());
        self.pump();
        i
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    fn enqueue(&mut self, to_server: bool, client: usize, from: SocketAddr, bytes: Vec<u8>) {
        self.log.push((to_server, from, bytes.clone()));
        let link = if to_server {
            &mut self.up[client]
        } else {
            &mut self.down[client]
        };
        let idx = link.sent;
        link.sent += 1;
        let (loss, dup, jitter, dropped) = (
            link.loss,
            link.duplicate,
            link.jitter,
            link.blackhole || link.drop.contains(&idx),
        );
        if dropped || self.chance(loss) {
            return;
        }
        let copies = if self.chance(dup) { 2 } else { 1 };
        for _ in 0..copies {
            let extra = if jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(self.rng.next_u64() % jitter.as_nanos() as u64)
            };
            self.order += 1;
            self.flight.push(InFlight {
                at: self.now + self.delay + extra,
                order: self.order,
                to_server,
                client,
                from,
                bytes: bytes.clone(),
            });
        }
    }

    /// Moves everything the endpoints produced onto the links and handles events.
    pub fn pump(&mut self) {
        loop {
            let mut progress = false;
            for i in 0..self.clients.len() {
                while let Some(b) = self.clients[i].poll_transmit() {
                    progress = true;
                    let from = self.addrs[i];
                    self.enqueue(true, i, from, b);
                }
                while let Some(e) = self.clients[i].poll_event() {
                    self.client_events[i].push(e);
                }
            }
            while let Some(t) = self.server.poll_transmit() {
                progress = true;
                if let Some(i) = self.addrs.iter().position(|a| *a == t.destination) {
                    self.enqueue(false, i, server_addr(), t.bytes);
                }
            }
            while let Some(e) = self.server.poll_event() {
                progress = true;
                if let Event::NeedPsk {
                    session, identity, ..
                } = &e
                {
                    if self.auto_psk {
                        let key = self.keys.get(identity).cloned();
                        self.server
                            .provide_psk(self.now, *session, key.as_deref())
                            .unwrap();
                    } else {
                        self.pending_psk.push((*session, identity.clone()));
                    }
                }
                self.server_events.push(e);
            }
            if !progress {
                return;
            }
        }
    }

    fn next_wakeup(&mut self) -> Option<Instant> {
        let mut t: Vec<Instant> = self.flight.iter().map(|f| f.at).collect();
        t.extend(self.server.poll_timeout());
        t.extend(self.clients.iter().filter_map(|c| c.poll_timeout()));
        t.into_iter().min()
    }

    /// Advances to the next event (delivery or deadline) and processes it.
    /// Returns false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_wakeup() else {
            return false;
        };
        if at > self.now {
            self.now = at;
        }
        self.flight.sort_by_key(|f| (f.at, f.order));
        while self.flight.first().is_some_and(|f| f.at <= self.now) {
            let f = self.flight.remove(0);
            if f.to_server {
                self.server.handle_datagram(self.now, f.from, &f.bytes);
            } else {
                self.clients[f.client].handle_datagram(self.now, &f.bytes);
            }
            self.pump();
        }
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
        for c in &mut self.clients {
            if c.poll_timeout().is_some_and(|t| t <= self.now) {
                c.handle_timeout(self.now);
            }
        }
        self.pump();
        true
    }

    /// Steps until `done` holds or `limit` of simulated time passes.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        for _ in 0..1_000_000 {
            if done(self) {
                return true;
            }
            // Never past the limit: a far deadline (an idle session's
            // expiry) is not reached by a short wait.
            if self.now > end || self.next_wakeup().is_none_or(|at| at > end) {
                return done(self);
            }
            self.step();
        }
        false
    }

    /// Delivers a datagram to the server at once, as if sent from `from`.
    pub fn inject(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.server.handle_datagram(self.now, from, bytes);
        self.pump();
    }

    pub fn connected(&self, i: usize) -> bool {
        self.client_events[i]
            .iter()
            .any(|e| matches!(e, ClientEvent::Connected { .. }))
    }

    pub fn completed_sessions(&self) -> Vec<SessionId> {
        self.server_events
            .iter()
            .filter_map(|e| match e {
                Event::HandshakeComplete { session, .. } => Some(*session),
                _ => None,
            })
            .collect()
    }

    pub fn server_app_data(&self) -> Vec<(SessionId, Vec<u8>)> {
        self.server_events
            .iter()
            .filter_map(|e| match e {
                Event::ApplicationData { session, data, .. } => Some((*session, data.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn client_app_data(&self, i: usize) -> Vec<Vec<u8>> {
        self.client_events[i]
            .iter()
            .filter_map(|e| match e {
                ClientEvent::ApplicationData(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }
}
