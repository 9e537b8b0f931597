//! Deterministic simulated network for endpoint tests (like quinn-proto's
//! `Pair`): two endpoints, a virtual clock that jumps to the next deadline,
//! and a link with seeded loss, duplication, delay/jitter (reordering) and
//! explicit drop/duplicate lists.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use lwm2m_coap::{CoapEndpoint, Config, Event, ExchangeId, Request, Response, Token};

/// Address of the client endpoint as seen by the server.
pub const CLIENT: u8 = 1;
/// Address of the server endpoint as seen by the client.
pub const SERVER: u8 = 2;

/// Which endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// Link behaviour in one direction.
#[derive(Debug, Clone, Default)]
pub struct Direction {
    /// Probability of losing a datagram.
    pub loss: f64,
    /// Probability of delivering a datagram twice.
    pub duplicate: f64,
    /// Indices (0-based, in sending order) of datagrams to drop.
    pub drop: HashSet<usize>,
    /// Indices of datagrams to deliver twice.
    pub dup: HashSet<usize>,
    /// Drop everything (a dead link).
    pub blackhole: bool,
    sent: usize,
}

/// One datagram put on the link.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Instant,
    pub from: Side,
    pub bytes: Vec<u8>,
    pub delivered: bool,
}

struct InFlight {
    at: Instant,
    seq: u64,
    to: Side,
    bytes: Vec<u8>,
}

/// Server application: returns a response right away, or `None` to keep
/// the request in `server_requests` for the test to answer later.
pub type Handler = Box<dyn FnMut(&Request, Token) -> Option<Response>>;

pub struct Pair {
    pub start: Instant,
    pub now: Instant,
    pub client: CoapEndpoint<u8>,
    pub server: CoapEndpoint<u8>,
    pub to_server: Direction,
    pub to_client: Direction,
    pub delay: Duration,
    /// Extra random delay in `[0, jitter)` per datagram; non-zero jitter reorders.
    pub jitter: Duration,
    pub handler: Option<Handler>,
    pub log: Vec<Sent>,
    pub client_events: VecDeque<(Instant, Event<u8>)>,
    pub server_events: VecDeque<(Instant, Event<u8>)>,
    /// Requests the handler did not answer: (exchange, token, request).
    pub server_requests: VecDeque<(ExchangeId, Token, Request)>,
    /// Every request the server application saw.
    pub server_seen: Vec<Request>,
    in_flight: Vec<InFlight>,
    seq: u64,
    rng: u64,
}

pub fn config(seed: u64) -> Config {
    Config {
        seed,
        ..Config::default()
    }
}

impl Pair {
    pub fn new() -> Self {
        Self::with_configs(config(1), config(2))
    }

    pub fn with_configs(client: Config, server: Config) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            client: CoapEndpoint::new(client).expect("client config"),
            server: CoapEndpoint::new(server).expect("server config"),
            to_server: Direction::default(),
            to_client: Direction::default(),
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            handler: None,
            log: Vec::new(),
            client_events: VecDeque::new(),
            server_events: VecDeque::new(),
            server_requests: VecDeque::new(),
            server_seen: Vec::new(),
            in_flight: Vec::new(),
            seq: 0,
            rng: 0x5eed,
        }
    }

    pub fn seed_link(&mut self, seed: u64) {
        self.rng = seed;
    }

    /// A handler answering every request with `f`.
    pub fn respond_with(&mut self, f: impl FnMut(&Request) -> Response + 'static) {
        let mut f = f;
        self.handler = Some(Box::new(move |req, _| Some(f(req))));
    }

    fn random(&mut self) -> f64 {
        // SplitMix64, independent from the endpoints' generators.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves transmits onto the link and events to the queues until quiet.
    pub fn flush(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.client.poll_transmit() {
                assert_eq!(t.peer, SERVER);
                self.put_on_link(Side::Client, t.bytes);
                progressed = true;
            }
            while let Some(t) = self.server.poll_transmit() {
                assert_eq!(t.peer, CLIENT);
                self.put_on_link(Side::Server, t.bytes);
                progressed = true;
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push_back((self.now, e));
                progressed = true;
            }
            while let Some(e) = self.server.poll_event() {
                progressed = true;
                self.server_app(e);
            }
            if !progressed {
                break;
            }
        }
    }

    fn server_app(&mut self, event: Event<u8>) {
        if let Event::Request {
            exchange,
            token,
            request,
            ..
        } = &event
        {
            self.server_seen.push(request.clone());
            let answer = self.handler.as_mut().and_then(|h| h(request, *token));
            match answer {
                Some(response) => self
                    .server
                    .respond(self.now, *exchange, response)
                    .expect("respond"),
                None => self
                    .server_requests
                    .push_back((*exchange, *token, request.clone())),
            }
            return;
        }
        self.server_events.push_back((self.now, event));
    }

    fn put_on_link(&mut self, from: Side, bytes: Vec<u8>) {
        let (loss_roll, dup_roll) = (self.random(), self.random());
        let jitter = self.jitter.mul_f64(self.random());
        let jitter2 = self.jitter.mul_f64(self.random());
        let dir = match from {
            Side::Client => &mut self.to_server,
            Side::Server => &mut self.to_client,
        };
        let index = dir.sent;
        dir.sent += 1;
        let dropped = dir.blackhole || dir.drop.contains(&index) || loss_roll < dir.loss;
        let copies = if dir.dup.contains(&index) || dup_roll < dir.duplicate {
            2
        } else {
            1
        };
        self.log.push(Sent {
            at: self.now,
            from,
            bytes: bytes.clone(),
            delivered: !dropped,
        });
        if dropped {
            return;
        }
        for copy in 0..copies {
            self.seq += 1;
            let extra = if copy == 0 {
                jitter
            } else {
                jitter2 + Duration::from_millis(1)
            };
            self.in_flight.push(InFlight {
                at: self.now + self.delay + extra,
                seq: self.seq,
                to: from.other(),
                bytes: bytes.clone(),
            });
        }
    }

    fn next_wakeup(&mut self) -> Option<Instant> {
        let link = self.in_flight.iter().map(|f| f.at).min();
        [link, self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advances to the next thing that happens (if not after `limit`).
    /// Returns false when nothing is scheduled before `limit`.
    pub fn step_until(&mut self, limit: Instant) -> bool {
        self.flush();
        let Some(next) = self.next_wakeup() else {
            return false;
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        // Deliver everything due, in arrival order.
        self.in_flight.sort_by_key(|f| (f.at, f.seq));
        while self.in_flight.first().is_some_and(|f| f.at <= self.now) {
            let f = self.in_flight.remove(0);
            match f.to {
                Side::Server => self.server.handle_datagram(self.now, CLIENT, &f.bytes),
                Side::Client => self.client.handle_datagram(self.now, SERVER, &f.bytes),
            }
            self.flush();
        }
        if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
            self.client.handle_timeout(self.now);
        }
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
        self.flush();
        true
    }

    /// Runs until nothing is scheduled in the next `horizon` (default 1000 s of virtual time).
    pub fn run(&mut self) {
        let limit = self.now + Duration::from_secs(1000);
        while self.step_until(limit) {}
    }

    /// Runs until `now + d`, then sets the clock there.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step_until(limit) {}
        self.now = limit;
        self.flush();
    }

    /// Runs until the client has an event (or nothing is left to do).
    pub fn run_until_client_event(&mut self) {
        let limit = self.now + Duration::from_secs(1000);
        while self.client_events.is_empty() && self.step_until(limit) {}
    }

    /// Datagrams sent by `from`, in order.
    pub fn sent_by(&self, from: Side) -> Vec<&Sent> {
        self.log.iter().filter(|s| s.from == from).collect()
    }

    pub fn client_events(&mut self) -> Vec<Event<u8>> {
        self.client_events.drain(..).map(|(_, e)| e).collect()
    }

    pub fn server_events(&mut self) -> Vec<Event<u8>> {
        self.server_events.drain(..).map(|(_, e)| e).collect()
    }
}

/// Header fields of an encoded message, for assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 0 CON, 1 NON, 2 ACK, 3 RST.
    pub mtype: u8,
    pub code: u8,
    pub mid: u16,
}

pub const CON: u8 = 0;
pub const NON: u8 = 1;
pub const ACK: u8 = 2;
pub const RST: u8 = 3;

pub fn header(bytes: &[u8]) -> Header {
    Header {
        mtype: (bytes[0] >> 4) & 0x03,
        code: bytes[1],
        mid: u16::from_be_bytes([bytes[2], bytes[3]]),
    }
}

/// Parses a datagram with coap-lite (test-side decoding, independent of the endpoint).
pub fn packet(bytes: &[u8]) -> coap_lite::Packet {
    coap_lite::Packet::from_bytes(bytes).expect("valid packet")
}

/// Decodes a Block option value from a raw packet: (num, more, size).
pub fn block(p: &coap_lite::Packet, option: coap_lite::CoapOption) -> Option<(u32, bool, usize)> {
    let raw = p.get_first_option(option)?;
    let v = raw.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    Some((v >> 4, v & 0x08 != 0, 16usize << (v & 0x07)))
}

/// Deterministic test body.
pub fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Builds a raw datagram with coap-lite (for hand-written peers).
pub fn raw(
    mtype: u8,
    code: u8,
    mid: u16,
    token: &[u8],
    options: &[(u16, Vec<u8>)],
    payload: &[u8],
) -> Vec<u8> {
    use coap_lite::{CoapOption, MessageClass, MessageType};
    let mut p = coap_lite::Packet::new();
    p.header.set_version(1);
    p.header.set_type(match mtype {
        CON => MessageType::Confirmable,
        NON => MessageType::NonConfirmable,
        ACK => MessageType::Acknowledgement,
        _ => MessageType::Reset,
    });
    p.header.code = MessageClass::from(code);
    p.header.message_id = mid;
    p.set_token(token.to_vec());
    for (n, v) in options {
        p.add_option(CoapOption::from(*n), v.clone());
    }
    p.payload = payload.to_vec();
    p.to_bytes_unlimited().expect("encodable")
}

/// Encodes a Block option value.
pub fn block_value(num: u32, more: bool, size: usize) -> Vec<u8> {
    let szx = size.trailing_zeros() - 4;
    let v = (num << 4) | (u32::from(more) << 3) | szx;
    v.to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect()
}
