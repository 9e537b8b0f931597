//! The sans-IO endpoint: owns every exchange and turns datagrams, time and
//! API calls into datagrams to send and events for the upper layer.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use crate::block1_receiver::Block1Receiver;
use crate::block2_cache::Block2Cache;
use crate::config::Config;
use crate::dedup::DedupCache;
use crate::error::Error;
use crate::event::{Event, Transmit};
use crate::expiring::ExpiringMap;
use crate::ids::{ExchangeId, RequestId};
use crate::rng::Rng;
use crate::stats::Stats;
use crate::timers::{TimerKey, TimerQueue};
use crate::token::Token;
use crate::wire::{Frame, Kind, MsgType, ParseError};

mod client;
mod client_state;
mod observe_client;
mod observe_server;
mod outgoing;
mod server;
mod server_state;

use client_state::{Observation, OutRequest, TokenUse};
use outgoing::OutMsg;
use server_state::InExchange;

/// A CoAP endpoint (client and server role at once) over peers of type `P`:
/// a `SocketAddr` for plain UDP, a session key for DTLS.
///
/// It never performs IO and never reads the clock: the driver passes `now`
/// into every call and moves bytes between the socket and the endpoint.
///
/// # Call order
///
/// The driver loops:
/// 1. feed input: [`handle_datagram`](Self::handle_datagram) for every
///    received datagram, [`handle_timeout`](Self::handle_timeout) when the
///    instant from `poll_timeout` is reached, and API calls from the upper
///    layer ([`send_request`](Self::send_request), [`respond`](Self::respond),
///    [`send_notification`](Self::send_notification), ...);
/// 2. drain [`poll_transmit`](Self::poll_transmit) until `None` and send each datagram;
/// 3. drain [`poll_event`](Self::poll_event) until `None` and hand the events
///    to the upper layer (which may call the API again: then repeat step 2);
/// 4. arm a timer for [`poll_timeout`](Self::poll_timeout) (recompute it
///    after every input; `None` means nothing is scheduled).
///
/// Calling `handle_timeout` early or late is harmless: it only does what is due.
#[derive(Debug)]
pub struct CoapEndpoint<P> {
    config: Config,
    rng: Rng,
    stats: Stats,
    /// Latest `now` seen; earlier values passed later are clamped to it.
    last_now: Option<Instant>,
    next_handle: u64,
    transmits: VecDeque<Transmit<P>>,
    events: VecDeque<Event<P>>,
    timers: TimerQueue,
    /// Next message id per peer.
    mids: ExpiringMap<P, u16>,

    // Outgoing messages that an ACK or RST can refer to.
    msgs: HashMap<u64, OutMsg<P>>,
    msg_by_mid: HashMap<(P, u16), u64>,

    // Client role.
    requests: HashMap<RequestId, OutRequest<P>>,
    tokens: HashMap<(P, Token), TokenUse>,
    observations: HashMap<RequestId, Observation<P>>,
    /// Locally cancelled observations: their notifications are answered with RST.
    forgotten: ExpiringMap<(P, Token), ()>,

    // Server role.
    exchanges: HashMap<ExchangeId, InExchange<P>>,
    dedup: DedupCache<P>,
    uploads: Block1Receiver<P>,
    bodies: Block2Cache<P>,
    /// Observations we serve: block-wise transfer key of the observed request.
    served: ExpiringMap<(P, Token), Vec<u8>>,
    /// CON notification in flight per observation (RFC 7641 §4.5.2 replacement).
    notification_in_flight: HashMap<(P, Token), u64>,
    /// Recently sent NON notifications, so an RST to one ends the observation.
    recent_non_notifications: ExpiringMap<(P, u16), Token>,
}

impl<P: Clone + Eq + Hash + Debug> CoapEndpoint<P> {
    /// Creates an endpoint; fails if the configuration is out of range.
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let limits = &config.limits;
        Ok(Self {
            rng: Rng::new(config.seed),
            stats: Stats::default(),
            last_now: None,
            next_handle: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timers: TimerQueue::default(),
            mids: ExpiringMap::new(config.exchange_lifetime, limits.max_peers),
            msgs: HashMap::new(),
            msg_by_mid: HashMap::new(),
            requests: HashMap::new(),
            tokens: HashMap::new(),
            observations: HashMap::new(),
            forgotten: ExpiringMap::new(
                config.forgotten_observation_lifetime,
                limits.max_forgotten_observations,
            ),
            exchanges: HashMap::new(),
            dedup: DedupCache::new(
                config.exchange_lifetime,
                config.non_lifetime,
                limits.max_dedup_entries,
                limits.max_dedup_entries_per_peer,
            ),
            uploads: Block1Receiver::new(
                config.block_transfer_lifetime,
                limits.max_block_transfers,
                config.max_body_size,
                limits.max_block_buffer_bytes,
            ),
            bodies: Block2Cache::new(
                config.block_transfer_lifetime,
                limits.max_block_transfers,
                limits.max_block_buffer_bytes,
            ),
            served: ExpiringMap::new(
                config.forgotten_observation_lifetime,
                limits.max_served_observations,
            ),
            notification_in_flight: HashMap::new(),
            recent_non_notifications: ExpiringMap::new(
                config.exchange_lifetime,
                limits.max_served_observations,
            ),
            config,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Requests sent and not yet completed (observations not included).
    pub fn outstanding_requests(&self) -> usize {
        self.requests.len()
    }

    /// Inbound requests waiting for `respond`.
    pub fn pending_exchanges(&self) -> usize {
        self.exchanges.len()
    }

    /// Active observations this endpoint registered (client role).
    pub fn observations(&self) -> usize {
        self.observations.len()
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<P>> {
        self.transmits.pop_front()
    }

    /// Next event for the upper layer.
    pub fn poll_event(&mut self) -> Option<Event<P>> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next (`None`: nothing scheduled).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let Self {
            timers,
            msgs,
            requests,
            exchanges,
            ..
        } = self;
        timers.next(|at, key| deadline_of(msgs, requests, exchanges, key) == Some(at))
    }

    /// Runs everything due at `now`: retransmissions, deadlines, automatic ACKs.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        while let Some((at, key)) = self.timers.pop_due(now) {
            if deadline_of(&self.msgs, &self.requests, &self.exchanges, key) != Some(at) {
                continue;
            }
            match key {
                TimerKey::Message(msg) => self.on_message_timer(now, msg),
                TimerKey::Request(id) => self.on_request_deadline(now, id),
                TimerKey::Exchange(id) => self.on_exchange_timer(now, id),
            }
        }
    }

    /// Processes one received datagram. Never fails: bad input is dropped,
    /// answered with RST where RFC 7252 says so, and counted in [`Stats`].
    pub fn handle_datagram(&mut self, now: Instant, peer: P, bytes: &[u8]) {
        let now = self.clock(now);
        self.stats.datagrams_received += 1;
        if bytes.len() > self.config.max_message_size {
            self.stats.oversized += 1;
            return;
        }
        let frame = match Frame::parse(bytes) {
            Ok(frame) => frame,
            Err(ParseError::WrongVersion) => {
                self.stats.wrong_version += 1;
                return;
            }
            Err(ParseError::TooShort) => {
                self.stats.malformed += 1;
                return;
            }
            Err(ParseError::Malformed { mtype, mid }) => {
                self.stats.malformed += 1;
                // §4.2: a CON that cannot be processed is rejected with RST.
                if mtype == MsgType::Con {
                    self.send_reset(&peer, mid);
                }
                return;
            }
        };
        match (frame.mtype, frame.kind()) {
            // CoAP ping (§4.3): answered with RST.
            (MsgType::Con, Some(Kind::Empty)) => self.send_reset(&peer, frame.mid),
            (MsgType::Ack, Some(Kind::Empty | Kind::Response(_))) => self.on_ack(now, &peer, frame),
            (MsgType::Rst, Some(Kind::Empty)) => self.on_reset(now, &peer, frame.mid),
            (MsgType::Con | MsgType::Non, Some(Kind::Request(method))) => {
                self.on_request(now, &peer, frame, Some(method))
            }
            (MsgType::Con | MsgType::Non, Some(Kind::UnknownMethod)) => {
                self.on_request(now, &peer, frame, None)
            }
            (MsgType::Con | MsgType::Non, Some(Kind::Response(_))) => {
                self.on_response(now, &peer, frame)
            }
            // Empty NON, requests in ACK/RST, non-empty RST: format errors, ignored.
            _ => self.stats.malformed += 1,
        }
    }

    /// Rebuilds the timer heap when dead entries (from requests that finished
    /// long before their deadline) dominate it.
    fn compact_timers(&mut self) {
        let live = self.msgs.len() + self.requests.len() + self.exchanges.len();
        if self.timers.len() <= 4 * live + 1024 {
            return;
        }
        let Self {
            timers,
            msgs,
            requests,
            exchanges,
            ..
        } = self;
        timers.retain(|at, key| deadline_of(msgs, requests, exchanges, key) == Some(at));
    }

    /// Clamps `now` to be monotonic and expires old state.
    fn clock(&mut self, now: Instant) -> Instant {
        let now = self.last_now.map_or(now, |last| last.max(now));
        self.last_now = Some(now);
        self.compact_timers();
        self.dedup.purge(now);
        self.uploads.purge(now);
        self.bodies.purge(now);
        self.forgotten.purge(now);
        self.mids.purge(now);
        self.served.purge(now);
        self.recent_non_notifications.purge(now);
        now
    }

    fn next_handle(&mut self) -> u64 {
        let handle = self.next_handle;
        self.next_handle += 1;
        handle
    }

    fn queue_transmit(&mut self, peer: &P, bytes: Vec<u8>) {
        self.stats.datagrams_sent += 1;
        self.transmits.push_back(Transmit {
            peer: peer.clone(),
            bytes,
        });
    }

    fn send_reset(&mut self, peer: &P, mid: u16) {
        if let Ok(bytes) = Frame::empty(MsgType::Rst, mid).encode(self.config.max_message_size) {
            self.stats.resets_sent += 1;
            self.queue_transmit(peer, bytes);
        }
    }

    fn empty_ack(&self, mid: u16) -> Vec<u8> {
        Frame::empty(MsgType::Ack, mid)
            .encode(self.config.max_message_size)
            .unwrap_or_default()
    }

    /// A fresh message id for `peer`, skipping ids still in flight to it.
    fn alloc_mid(&mut self, now: Instant, peer: &P) -> u16 {
        let mut mid = match self.mids.get(peer) {
            Some(next) => *next,
            // Random start so a restarted endpoint does not reuse recent ids (§4.4).
            None => self.rng.next_u16(),
        };
        for _ in 0..64 {
            if !self.msg_by_mid.contains_key(&(peer.clone(), mid)) {
                break;
            }
            mid = mid.wrapping_add(1);
        }
        self.mids
            .insert_evicting(now, peer.clone(), mid.wrapping_add(1));
        mid
    }
}

/// The live deadline of a timer owner, if it still has one.
fn deadline_of<P>(
    msgs: &HashMap<u64, OutMsg<P>>,
    requests: &HashMap<RequestId, OutRequest<P>>,
    exchanges: &HashMap<ExchangeId, InExchange<P>>,
    key: TimerKey,
) -> Option<Instant> {
    match key {
        TimerKey::Message(id) => msgs
            .get(&id)
            .and_then(|m| m.retransmit.as_ref())
            .map(|r| r.next_at),
        TimerKey::Request(id) => requests.get(&id).map(|r| r.deadline),
        TimerKey::Exchange(id) => exchanges.get(&id).map(InExchange::next_deadline),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::message::Request;
    use crate::request_options::RequestOptions;

    fn endpoint() -> CoapEndpoint<u8> {
        CoapEndpoint::new(Config {
            seed: 9,
            ..Config::default()
        })
        .unwrap()
    }

    #[test]
    fn message_ids_are_per_peer_and_sequential() {
        let mut ep = endpoint();
        let t = Instant::now();
        let a0 = ep.alloc_mid(t, &1);
        let a1 = ep.alloc_mid(t, &1);
        let b0 = ep.alloc_mid(t, &2);
        assert_eq!(a1, a0.wrapping_add(1));
        assert_ne!(b0, a1.wrapping_add(1), "independent random start per peer");
    }

    #[test]
    fn message_ids_skip_ids_in_flight() {
        let mut ep = endpoint();
        let t = Instant::now();
        let id = ep
            .send_request(t, 1, Request::get("/a"), RequestOptions::con())
            .unwrap();
        let in_flight = ep
            .requests
            .get(&id)
            .and_then(|r| r.msg)
            .and_then(|m| ep.msgs.get(&m))
            .map(|m| m.mid);
        // Force the counter back onto the id in flight.
        ep.mids.insert_evicting(t, 1, in_flight.unwrap());
        let next = ep.alloc_mid(t, &1);
        assert_eq!(Some(next), in_flight.map(|m| m.wrapping_add(1)));
    }

    #[test]
    fn clock_never_goes_backwards() {
        let mut ep = endpoint();
        let t = Instant::now();
        assert_eq!(
            ep.clock(t + Duration::from_secs(5)),
            t + Duration::from_secs(5)
        );
        assert_eq!(ep.clock(t), t + Duration::from_secs(5));
    }

    #[test]
    fn poll_timeout_skips_finished_owners() {
        let mut ep = endpoint();
        let t = Instant::now();
        let id = ep
            .send_request(t, 1, Request::get("/a"), RequestOptions::con())
            .unwrap();
        let first = ep.poll_timeout().unwrap();
        assert!(first >= t + Duration::from_secs(2) && first <= t + Duration::from_secs(3));
        ep.cancel(id).unwrap();
        assert_eq!(
            ep.poll_timeout(),
            None,
            "retransmission and deadline timers are dead"
        );
    }

    #[test]
    fn dead_timers_are_compacted() {
        let mut ep = endpoint();
        let t = Instant::now();
        for _ in 0..3000 {
            let id = ep
                .send_request(t, 1, Request::get("/a"), RequestOptions::con())
                .unwrap();
            ep.cancel(id).unwrap();
        }
        assert!(ep.timers.len() <= 1024 + 2, "{}", ep.timers.len());
        assert_eq!(ep.requests.len(), 0);
        assert_eq!(ep.msgs.len(), 0);
        assert_eq!(ep.msg_by_mid.len(), 0);
        assert_eq!(ep.tokens.len(), 0);
    }

    #[test]
    fn invalid_config_is_refused() {
        let config = Config {
            token_length: 12,
            ..Config::default()
        };
        assert!(CoapEndpoint::<u8>::new(config).is_err());
    }
}
