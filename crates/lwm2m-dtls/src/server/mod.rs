//! The sans-IO DTLS server: routes datagrams to sessions by address or
//! Connection ID, answers new clients statelessly with cookies, and owns the
//! indexes, the timer heap, the limits and the counters.

mod failure;
mod sequence_reservation;
pub(crate) mod session;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use rand_core::CryptoRngCore;

use crate::cid;
use crate::codec::Reader;
use crate::config::ServerConfig;
use crate::cookie::CookieKeys;
use crate::error::Error;
use crate::event::{CloseReason, Event, HandshakeFailure, PeerCredential, SessionId, Transmit};
use crate::handshake::messages::{encode_hello_verify_request, ClientHello};
use crate::handshake::negotiate::negotiate;
use crate::handshake::server::ServerHandshake;
use crate::handshake::{
    alert, encode_fragment, read_fragment, Fragment, Message, CLIENT_HELLO, HELLO_VERIFY_REQUEST,
};
use crate::pki::ServerPki;
use crate::record::{
    encode_record, read_record, with_version, Record, CT_ALERT, CT_HANDSHAKE, CT_TLS12_CID,
    DTLS_1_0, DTLS_1_2, MAX_FRAGMENT,
};
use crate::record_layer::RecordLayer;
use crate::stats::Stats;
use crate::suites::KeyExchange;

use session::{Ctx, Phase, Session};

/// A DTLS 1.2 server for many peers, without IO.
///
/// # Call order
///
/// Like `lwm2m_coap::CoapEndpoint` and quinn-proto, the driver loops:
/// 1. feed input: [`handle_datagram`](Self::handle_datagram) for every
///    received datagram, [`handle_timeout`](Self::handle_timeout) when the
///    instant from [`poll_timeout`](Self::poll_timeout) is reached, and API
///    calls ([`provide_psk`](Self::provide_psk),
///    [`send_application_data`](Self::send_application_data), [`close`](Self::close));
/// 2. drain [`poll_transmit`](Self::poll_transmit) and send each datagram;
/// 3. drain [`poll_event`](Self::poll_event); answer `NeedPsk` now or later;
/// 4. re-arm the timer from `poll_timeout` (`None`: nothing scheduled).
///
/// The server never reads a clock or the OS RNG: `now` comes with every
/// call and randomness from the RNG given to [`new`](Self::new).
pub struct DtlsServer {
    config: ServerConfig,
    rng: Box<dyn CryptoRngCore + Send>,
    cookies: CookieKeys,
    sessions: HashMap<SessionId, Session>,
    by_addr: HashMap<SocketAddr, SessionId>,
    /// Handshakes from the address of an established session, which keeps
    /// `by_addr` until the handshake completes (RFC 6347 §4.2.8: a replayed
    /// ClientHello must not cut the session off). Plaintext records from
    /// the address go to the handshake, epoch-1 records to whichever of
    /// the two authenticates them.
    replacing: HashMap<SocketAddr, SessionId>,
    by_cid: HashMap<Vec<u8>, SessionId>,
    /// Established sessions by `export::key_id`: an import of a session
    /// already here (its parked and its reserved blob) is refused.
    by_key_id: HashMap<[u8; 16], SessionId>,
    timers: BinaryHeap<Reverse<(Instant, SessionId)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    next_id: u64,
    handshakes: usize,
    /// Handshakes in progress per source IP (`limits.max_handshakes_per_ip`).
    handshakes_per_ip: HashMap<IpAddr, usize>,
    last_now: Option<Instant>,
    pki: Option<ServerPki>,
    /// A wall-clock reading from the driver: (`now` then, time since the
    /// Unix epoch then). Later wall-clock times are derived from `now`.
    wall_clock: Option<(Instant, Duration)>,
    /// Wall-clock seconds at the latest `now`, for certificate validity.
    unix_now: Option<u64>,
}

impl std::fmt::Debug for DtlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsServer")
            .field("sessions", &self.sessions.len())
            .field("handshakes", &self.handshakes)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Ctx`] from disjoint fields so a session can be borrowed at the same time.
macro_rules! ctx {
    ($s:ident) => {
        Ctx {
            config: &$s.config,
            rng: &mut *$s.rng,
            stats: &mut $s.stats,
            transmits: &mut $s.transmits,
            events: &mut $s.events,
            pki: $s.pki.as_ref(),
            unix_time: $s.unix_now,
        }
    };
}

impl DtlsServer {
    /// Creates a server. `rng` must be a CSPRNG (`rand_core::OsRng` in
    /// production, a seeded ChaCha in tests).
    pub fn new(
        config: ServerConfig,
        mut rng: Box<dyn CryptoRngCore + Send>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let pki = config
            .certificate
            .as_ref()
            .map(ServerPki::new)
            .transpose()?;
        let cookies = CookieKeys::new(config.cookie_secret_lifetime, &mut *rng);
        Ok(Self {
            config,
            rng,
            cookies,
            sessions: HashMap::new(),
            by_addr: HashMap::new(),
            replacing: HashMap::new(),
            by_cid: HashMap::new(),
            by_key_id: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            next_id: 1,
            handshakes: 0,
            handshakes_per_ip: HashMap::new(),
            last_now: None,
            pki,
            wall_clock: None,
            unix_now: None,
        })
    }

    /// Tells the engine the wall-clock time at `now`, for X.509 validity
    /// checks (the engine never reads a clock). Call it once at start and
    /// again whenever the system clock may have been stepped (e.g. every
    /// minute); between calls wall time advances with `now`. Until it is
    /// called, every X.509 client is refused with certificate_unknown.
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        let since_epoch = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        self.wall_clock = Some((now, since_epoch));
        let _ = self.clock(now);
    }

    /// The configuration in use.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Handshakes in progress (gauge).
    pub fn handshakes_in_progress(&self) -> usize {
        self.handshakes
    }

    /// Bytes buffered by handshakes in progress: messages in reassembly
    /// and records waiting for keys (gauge; walks every session).
    pub fn handshake_buffered_bytes(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.phase == Phase::Handshaking)
            .map(Session::buffered_bytes)
            .sum()
    }

    /// Established sessions (gauge).
    pub fn established_sessions(&self) -> usize {
        self.sessions.len().saturating_sub(self.handshakes)
    }

    /// The current address of a session.
    pub fn peer_addr(&self, session: SessionId) -> Option<SocketAddr> {
        self.sessions.get(&session).map(|s| s.addr)
    }

    /// The ids of every established session (to export them all, e.g. when
    /// a node stops and parks its sessions for its successor).
    pub fn established_session_ids(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.export_state().is_some())
            .map(|s| s.id)
            .collect();
        ids.sort_unstable_by_key(|id| id.0);
        ids
    }

    /// How the peer of an established session authenticated (also for
    /// imported sessions, which raise no `HandshakeComplete`).
    pub fn credential(&self, session: SessionId) -> Option<&PeerCredential> {
        self.sessions.get(&session)?.credential.as_ref()
    }

    /// The Connection ID we issued to a session (`None`: unknown session;
    /// empty: no CID). Unique on this node, and stable across export and
    /// import, so it names the session in a cluster store.
    pub fn connection_id(&self, session: SessionId) -> Option<&[u8]> {
        Some(self.sessions.get(&session)?.rl.cid_recv.as_slice())
    }

    /// The session currently bound to an address (for drivers keyed by address).
    /// A stable name for an established session, the same on every node
    /// that imports it (a one-way hash of its traffic keys): what a cluster
    /// store keys the session's sequence-number reservation by, with or
    /// without a Connection ID.
    pub fn session_key_id(&self, session: SessionId) -> Option<[u8; 16]> {
        let s = self.sessions.get(&session)?;
        if s.phase != Phase::Established {
            return None;
        }
        crate::export::key_id(&s.rl)
    }

    /// The session currently bound to an address (for drivers keyed by address).
    pub fn session_for_addr(&self, addr: SocketAddr) -> Option<SessionId> {
        self.by_addr.get(&addr).copied()
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the upper layer.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// `now`, never earlier than a `now` seen before (a driver's clocks may
    /// disagree slightly; deadlines must not run backwards).
    fn clock(&mut self, now: Instant) -> Instant {
        let now = match self.last_now {
            Some(last) if last > now => last,
            _ => now,
        };
        self.last_now = Some(now);
        self.unix_now = self
            .wall_clock
            .map(|(at, since_epoch)| (since_epoch + now.saturating_duration_since(at)).as_secs());
        now
    }

    /// Handles one received datagram (one or more records).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let now = self.clock(now);
        self.stats.datagrams_received += 1;
        self.cookies.rotate_if_due(now, &mut *self.rng);
        let cid_len = self.config.connection_id_length;
        let mut r = Reader::new(datagram);
        while !r.is_empty() {
            let before = r.rest();
            let Some(rec) = read_record(&mut r, cid_len) else {
                self.stats.malformed_records += 1;
                break;
            };
            let raw = before
                .get(..before.len() - r.remaining())
                .unwrap_or_default();
            self.route(now, from, &rec, raw);
        }
    }

    fn route(&mut self, now: Instant, from: SocketAddr, rec: &Record<'_>, raw: &[u8]) {
        if rec.ctype == CT_TLS12_CID {
            match self.by_cid.get(rec.cid).copied() {
                Some(id) => self.deliver(now, id, from, rec, raw, true),
                None => self.stats.unknown_peer_records += 1,
            }
            return;
        }
        let existing = self.by_addr.get(&from).copied();
        let pending = self.replacing.get(&from).copied();
        if rec.epoch == 0 && rec.ctype == CT_HANDSHAKE {
            if let Some(frag) = read_fragment(&mut Reader::new(rec.fragment)) {
                if frag.msg_type == CLIENT_HELLO {
                    self.client_hello(now, from, rec, &frag, existing, pending);
                    return;
                }
            }
        }
        let target = match (existing, pending) {
            (Some(established), Some(handshake)) => {
                let theirs = rec.epoch != 0
                    && self
                        .sessions
                        .get(&established)
                        .is_some_and(|s| s.rl.recognises(rec));
                Some(if theirs { established } else { handshake })
            }
            (existing, pending) => pending.or(existing),
        };
        match target {
            Some(id) => self.deliver(now, id, from, rec, raw, false),
            None => self.stats.unknown_peer_records += 1,
        }
    }

    fn deliver(
        &mut self,
        now: Instant,
        id: SessionId,
        from: SocketAddr,
        rec: &Record<'_>,
        raw: &[u8],
        via_cid: bool,
    ) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let mut ctx = ctx!(self);
        if let Some(old) = s.handle_record(&mut ctx, now, rec, raw, from, via_cid) {
            if self.by_addr.get(&old) == Some(&id) {
                self.by_addr.remove(&old);
            }
            self.by_addr.insert(from, id);
        }
        self.settle(id);
    }

    /// A ClientHello in epoch 0: a retransmission for a running handshake,
    /// or a new connection attempt that goes through the cookie exchange.
    fn client_hello(
        &mut self,
        now: Instant,
        from: SocketAddr,
        rec: &Record<'_>,
        frag: &Fragment<'_>,
        existing: Option<SessionId>,
        pending: Option<SessionId>,
    ) {
        if !frag.is_complete() {
            self.stats.fragmented_client_hellos += 1;
            return;
        }
        let Some(ch) = ClientHello::parse(frag.body) else {
            self.stats.malformed_records += 1;
            return;
        };
        for id in pending.into_iter().chain(existing) {
            if self
                .sessions
                .get(&id)
                .is_some_and(|s| s.started_by(&ch.random))
            {
                let raw = encode_record(rec.ctype, rec.epoch, rec.seq, &[], rec.fragment);
                self.deliver(now, id, from, rec, &raw, false);
                return;
            }
        }
        // DTLS versions count down: a client_version above 0xFEFD offers
        // nothing newer than DTLS 1.0 (and one without major 254 is not
        // DTLS). Say so at once, in a DTLS 1.0 record such a client reads,
        // rather than with a HelloVerifyRequest it would drop (the alert is
        // smaller: no amplification).
        if ch.version > DTLS_1_2 || ch.version.to_be_bytes()[0] != 0xFE {
            self.refuse_hello(
                from,
                rec.seq,
                alert::PROTOCOL_VERSION,
                HandshakeFailure::UnsupportedVersion,
            );
            return;
        }
        let hello_input = ch.cookie_input();
        if ch.cookie.is_empty() || !self.cookies.verify(&from, &hello_input, &ch.cookie) {
            if !ch.cookie.is_empty() {
                self.stats.bad_cookies += 1;
                failure::report(
                    &mut self.stats,
                    &mut self.events,
                    None,
                    from,
                    HandshakeFailure::CookieMismatch,
                    None,
                );
            }
            // Stateless: reuse the client's record and message sequence
            // numbers (RFC 6347 §4.2.1) so nothing is remembered.
            let cookie = self.cookies.generate(&from, &hello_input);
            let body = encode_hello_verify_request(&cookie);
            let hs = encode_fragment(HELLO_VERIFY_REQUEST, frag.seq, &body, 0, body.len());
            self.stats.hello_verify_requests += 1;
            self.send_raw(from, encode_record(CT_HANDSHAKE, 0, rec.seq, &[], &hs));
            return;
        }
        let from_ip = self.handshakes_per_ip.get(&from.ip()).copied();
        let room_for_handshake = self.handshakes < self.config.limits.max_handshakes
            && from_ip.unwrap_or(0) < self.config.limits.max_handshakes_per_ip;
        if room_for_handshake && self.sessions.len() >= self.config.limits.max_sessions {
            self.evict_one();
        }
        if self.handshakes >= self.config.limits.max_handshakes
            || self.sessions.len() >= self.config.limits.max_sessions
            || from_ip.unwrap_or(0) >= self.config.limits.max_handshakes_per_ip
        {
            self.stats.handshakes_refused += 1;
            return;
        }
        let negotiated = match negotiate(
            &ch,
            &self.config.cipher_suites,
            self.config.require_extended_master_secret,
            self.pki.as_ref(),
        ) {
            Ok(n) => n,
            Err(desc) => {
                let cause = self.negotiation_failure(&ch, desc);
                self.refuse_hello(from, rec.seq, desc, cause);
                return;
            }
        };
        let cid_len = self.config.connection_id_length;
        let our_cid = if negotiated.client_cid.is_some() && cid_len > 0 {
            let by_cid = &self.by_cid;
            cid::generate(self.config.node_id, cid_len, &mut *self.rng, |c| {
                by_cid.contains_key(c)
            })
            .unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut server_random = [0u8; 32];
        self.rng.fill_bytes(&mut server_random);
        let hello = Message {
            msg_type: CLIENT_HELLO,
            seq: frag.seq,
            body: frag.body.to_vec(),
        };
        let client_cid = negotiated.client_cid.clone().unwrap_or_default();
        let hs = match ServerHandshake::start(
            &hello,
            &ch,
            negotiated,
            &our_cid,
            server_random,
            self.pki.as_ref(),
            &mut *self.rng,
        ) {
            Ok(hs) => hs,
            Err(desc) => {
                let cause = failure::cause_of_alert(desc, None);
                self.refuse_hello(from, rec.seq, desc, cause);
                return;
            }
        };

        let mut replaces = None;
        if let Some(old) = pending {
            self.close_session(old, CloseReason::Replaced);
        }
        if let Some(old) = existing {
            match self.sessions.get(&old).map(|s| s.phase) {
                Some(Phase::Handshaking) => self.close_session(old, CloseReason::Replaced),
                Some(_) => replaces = Some(old),
                None => {}
            }
        }
        let id = SessionId(self.next_id);
        self.next_id += 1;
        let mut rl = RecordLayer {
            cid_recv: our_cid.clone(),
            cid_send: client_cid,
            ..RecordLayer::default()
        };
        // Continue the client's record numbering, as for the HelloVerifyRequest.
        rl.write_seq[0] = rec.seq;
        rl.replay[0].accept(rec.seq);
        let mut session = Session::new(id, from, rl, hs, &self.config, now);
        session.replaces = replaces;
        let mut ctx = ctx!(self);
        session.send_flight(&mut ctx);
        session.retransmit.arm(now);
        self.stats.handshakes_started += 1;
        self.handshakes += 1;
        *self.handshakes_per_ip.entry(from.ip()).or_default() += 1;
        if !our_cid.is_empty() {
            self.by_cid.insert(our_cid, id);
        }
        if replaces.is_some() {
            self.replacing.insert(from, id);
        } else {
            self.by_addr.insert(from, id);
        }
        self.sessions.insert(id, session);
        self.settle(id);
    }

    /// Makes room for a handshake whose cookie proved its address: closes
    /// the established session least recently active, one whose device is
    /// not marked registered if there is any.
    fn evict_one(&mut self) {
        let victim = self
            .sessions
            .values()
            .filter(|s| s.phase == Phase::Established)
            .min_by_key(|s| (s.registered, s.last_active, s.id.0))
            .map(|s| s.id);
        if let Some(id) = victim {
            if let Some(s) = self.sessions.get_mut(&id) {
                let mut ctx = ctx!(self);
                s.evict(&mut ctx);
            }
            self.remove(id);
        }
    }

    /// Why `negotiate` refused a ClientHello with `desc`.
    fn negotiation_failure(&self, ch: &ClientHello, desc: u8) -> HandshakeFailure {
        let have_pki = self.pki.is_some();
        let common = self.config.cipher_suites.iter().any(|s| {
            ch.suites.contains(&s.id()) && (have_pki || s.key_exchange() != KeyExchange::EcdheEcdsa)
        });
        if desc == alert::HANDSHAKE_FAILURE && !common {
            HandshakeFailure::NoCommonCipherSuite
        } else {
            failure::cause_of_alert(desc, None)
        }
    }

    /// A fatal alert for a ClientHello we cannot serve (no state was made).
    fn refuse_hello(
        &mut self,
        from: SocketAddr,
        record_seq: u64,
        desc: u8,
        cause: HandshakeFailure,
    ) {
        self.stats.handshakes_failed += 1;
        self.stats.alerts_sent += 1;
        failure::report(&mut self.stats, &mut self.events, None, from, cause, None);
        let bytes = encode_record(CT_ALERT, 0, record_seq, &[], &[alert::LEVEL_FATAL, desc]);
        // A client refused for its version may not read DTLS 1.2 records.
        let bytes = if desc == alert::PROTOCOL_VERSION {
            with_version(bytes, DTLS_1_0)
        } else {
            bytes
        };
        self.send_raw(from, bytes);
    }

    fn send_raw(&mut self, destination: SocketAddr, bytes: Vec<u8>) {
        self.stats.datagrams_sent += 1;
        self.transmits.push_back(Transmit { destination, bytes });
    }

    /// After a session was touched: update gauges and indexes, drop it if
    /// closed, reschedule its timer.
    fn settle(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if s.counted_as_handshake && s.phase != Phase::Handshaking {
            s.counted_as_handshake = false;
            self.handshakes -= 1;
            handshake_ended(&mut self.handshakes_per_ip, s.addr.ip());
            if s.phase == Phase::Established {
                if let Some(key_id) = crate::export::key_id(&s.rl) {
                    self.by_key_id.insert(key_id, id);
                }
                if let Some(old) = s.replaces.take() {
                    // The Finished proved the peer: the address is the new
                    // session's now.
                    let addr = s.addr;
                    if self.replacing.get(&addr) == Some(&id) {
                        self.replacing.remove(&addr);
                    }
                    self.by_addr.insert(addr, id);
                    let same_addr = self.sessions.get(&old).is_some_and(|o| o.addr == addr);
                    if same_addr {
                        self.close_session(old, CloseReason::Replaced);
                    }
                }
            }
        }
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if s.phase == Phase::Closed {
            self.remove(id);
            return;
        }
        let next = s.next_deadline();
        if next != s.scheduled {
            s.scheduled = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, id)));
            }
        }
    }

    fn close_session(&mut self, id: SessionId, reason: CloseReason) {
        if let Some(s) = self.sessions.get_mut(&id) {
            let mut ctx = ctx!(self);
            s.close(&mut ctx, reason);
        }
        self.remove(id);
    }

    fn remove(&mut self, id: SessionId) {
        let Some(s) = self.sessions.remove(&id) else {
            return;
        };
        if s.counted_as_handshake {
            self.handshakes -= 1;
            handshake_ended(&mut self.handshakes_per_ip, s.addr.ip());
        }
        if self.by_addr.get(&s.addr) == Some(&id) {
            self.by_addr.remove(&s.addr);
        }
        if self.replacing.get(&s.addr) == Some(&id) {
            self.replacing.remove(&s.addr);
        }
        if !s.rl.cid_recv.is_empty() && self.by_cid.get(&s.rl.cid_recv) == Some(&id) {
            self.by_cid.remove(&s.rl.cid_recv);
        }
        if let Some(key_id) = crate::export::key_id(&s.rl) {
            if self.by_key_id.get(&key_id) == Some(&id) {
                self.by_key_id.remove(&key_id);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if self
                .sessions
                .get(&id)
                .is_some_and(|s| s.scheduled == Some(at))
            {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Runs what is due: retransmissions, handshake deadlines, idle expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(s) = self.sessions.get_mut(&id) else {
                continue;
            };
            if s.scheduled != Some(at) {
                continue;
            }
            s.scheduled = None;
            let mut ctx = ctx!(self);
            s.handle_timeout(&mut ctx, now);
            self.settle(id);
        }
    }

    /// Answers a [`Event::NeedPsk`]: `Some(key)` continues the handshake;
    /// `None` (unknown identity) or an empty key continues it with a random
    /// key, so it fails at the client's Finished with `decrypt_error`
    /// exactly like a wrong key (RFC 4279 §2: identities cannot be probed).
    /// The failure is reported as `HandshakeFailure::UnknownPskIdentity`.
    pub fn provide_psk(
        &mut self,
        now: Instant,
        session: SessionId,
        key: Option<&[u8]>,
    ) -> Result<(), Error> {
        let now = self.clock(now);
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession(session))?;
        let mut ctx = ctx!(self);
        let ok = s.provide_psk(&mut ctx, now, key);
        self.settle(session);
        if ok {
            Ok(())
        } else {
            Err(Error::WrongState(session))
        }
    }

    /// Largest application payload of one record that fits in the MTU.
    pub fn max_application_data(&self, session: SessionId) -> Option<usize> {
        let s = self.sessions.get(&session)?;
        Some(self.config.mtu.saturating_sub(s.rl.overhead(1)))
    }

    /// Sends application data in one record.
    pub fn send_application_data(
        &mut self,
        now: Instant,
        session: SessionId,
        data: &[u8],
    ) -> Result<(), Error> {
        let _ = self.clock(now);
        if data.len() > MAX_FRAGMENT - 2048 {
            return Err(Error::TooLarge {
                len: data.len(),
                limit: MAX_FRAGMENT - 2048,
            });
        }
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession(session))?;
        let mut ctx = ctx!(self);
        let ok = s.send_application_data(&mut ctx, data);
        self.settle(session);
        if ok {
            Ok(())
        } else {
            Err(Error::WrongState(session))
        }
    }

    /// Exports an established session as a versioned blob (see
    /// `docs/dtls.md`). The blob contains traffic keys: protect it.
    pub fn export_session(&self, session: SessionId) -> Result<Vec<u8>, Error> {
        let s = self
            .sessions
            .get(&session)
            .ok_or(Error::UnknownSession(session))?;
        let state = s.export_state().ok_or(Error::WrongState(session))?;
        crate::export::encode(&state)
    }

    /// Imports a session exported by [`export_session`](Self::export_session)
    /// (by this or another node) and returns its new id. `seq_skip` is added
    /// to the write sequence number: pass 0 only if the exporter sent nothing
    /// after the export, else a bound on what it may have sent, so no AEAD
    /// nonce is ever reused.
    pub fn import_session(
        &mut self,
        now: Instant,
        blob: &[u8],
        seq_skip: u64,
    ) -> Result<SessionId, Error> {
        let now = self.clock(now);
        let mut state = crate::export::decode(blob)?;
        if self.sessions.len() >= self.config.limits.max_sessions {
            return Err(Error::Overloaded("max_sessions"));
        }
        if !state.rl.cid_recv.is_empty() && self.by_cid.contains_key(&state.rl.cid_recv) {
            return Err(Error::InvalidBlob("connection id already in use"));
        }
        // With or without a CID: two live copies of one session would both
        // write (and reserve) under the same keys.
        let key_id = crate::export::key_id(&state.rl);
        if key_id.is_some_and(|k| self.by_key_id.contains_key(&k)) {
            return Err(Error::InvalidBlob("session already present"));
        }
        let [_, seq] = state.rl.write_seq;
        state.rl.write_seq = [0, seq.saturating_add(seq_skip)];
        let id = SessionId(self.next_id);
        self.next_id += 1;
        let session = Session::imported(id, state, &self.config, now);
        if !session.rl.cid_recv.is_empty() {
            self.by_cid.insert(session.rl.cid_recv.clone(), id);
        }
        self.by_addr.insert(session.addr, id);
        if let Some(key_id) = key_id {
            self.by_key_id.insert(key_id, id);
        }
        self.sessions.insert(id, session);
        self.stats.sessions_imported += 1;
        if let Some(s) = self.sessions.get_mut(&id) {
            let mut ctx = ctx!(self);
            s.start_reserving(&mut ctx);
        }
        self.settle(id);
        Ok(id)
    }

    /// The blob of a session's `ReserveSequenceNumbers` request is stored:
    /// the session may write up to `limit`, and records it held go out.
    pub fn confirm_reservation(
        &mut self,
        now: Instant,
        session: SessionId,
        limit: u64,
    ) -> Result<(), Error> {
        self.on_session(now, session, |s, ctx| s.confirm_reservation(ctx, limit))
    }

    /// The blob of a session's `ReserveSequenceNumbers` request could not
    /// be stored: the session asks again (at once, with a fresh blob; pace
    /// retries by when this is called).
    pub fn reservation_failed(&mut self, now: Instant, session: SessionId) -> Result<(), Error> {
        self.on_session(now, session, |s, ctx| s.reservation_failed(ctx))
    }

    /// Runs `f` on one session with the server's context, then re-indexes
    /// it (timers, removal when it closed).
    fn on_session(
        &mut self,
        now: Instant,
        session: SessionId,
        f: impl FnOnce(&mut Session, &mut Ctx<'_>),
    ) -> Result<(), Error> {
        let _ = self.clock(now);
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession(session))?;
        let mut ctx = ctx!(self);
        f(s, &mut ctx);
        self.settle(session);
        Ok(())
    }

    /// Forgets a session that another node serves now, sending nothing; a
    /// `Closed { reason: HandedOver }` event follows.
    pub fn hand_over(&mut self, now: Instant, session: SessionId) -> Result<(), Error> {
        let _ = self.clock(now);
        if !self.sessions.contains_key(&session) {
            return Err(Error::UnknownSession(session));
        }
        self.close_session(session, CloseReason::HandedOver);
        Ok(())
    }

    /// Marks the device of a session registered (or no longer): when the
    /// session table is full, a new handshake evicts the least recently
    /// active unregistered session, and a registered one only if none is
    /// left.
    pub fn mark_registered(&mut self, session: SessionId, registered: bool) -> Result<(), Error> {
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession(session))?;
        s.registered = registered;
        Ok(())
    }

    /// Closes a session (close_notify if established) and forgets it; a
    /// `Closed { reason: Local }` event follows.
    pub fn close(&mut self, now: Instant, session: SessionId) -> Result<(), Error> {
        self.on_session(now, session, |s, ctx| s.close_locally(ctx))
    }
}

/// One handshake from `ip` ended (completed, failed or replaced).
fn handshake_ended(per_ip: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = per_ip.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per_ip.remove(&ip);
        }
    }
}
