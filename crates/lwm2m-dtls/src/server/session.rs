//! One peer of the server: a handshake in progress or an established
//! session. It owns the record layer and the handshake state and turns
//! records, PSK answers and timeouts into datagrams and events through a
//! [`Ctx`]; the server only routes and keeps the indexes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use rand_core::CryptoRngCore;

use crate::codec::Reader;
use crate::config::ServerConfig;
use crate::event::{CloseReason, Event, HandshakeFailure, PeerCredential, SessionId, Transmit};
use crate::handshake::alert;
use crate::handshake::flight::RetransmitTimer;
use crate::handshake::reassembly::Inserted;
use crate::handshake::server::{Env, ServerHandshake, State, Step};
use crate::handshake::{read_fragment, Message, CLIENT_HELLO, FINISHED};
use crate::pki::ServerPki;
use crate::record::{
    read_record, Record, CT_ALERT, CT_APPLICATION_DATA, CT_CHANGE_CIPHER_SPEC, CT_HANDSHAKE,
};
use crate::record_layer::{Opened, RecordLayer};
use crate::stats::Stats;
use crate::suites::CipherSuite;

use super::failure;
use super::sequence_reservation::Reservation;

/// Everything a session may touch outside itself.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a ServerConfig,
    pub(crate) rng: &'a mut dyn CryptoRngCore,
    pub(crate) stats: &'a mut Stats,
    pub(crate) transmits: &'a mut VecDeque<Transmit>,
    pub(crate) events: &'a mut VecDeque<Event>,
    /// Parsed certificate configuration, if any.
    pub(crate) pki: Option<&'a ServerPki>,
    /// Wall-clock seconds (from `DtlsServer::set_wall_clock`), for X.509.
    pub(crate) unix_time: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Handshaking,
    Established,
    Closed,
}

/// An encrypted record that arrived before its keys (kept for replay).
#[derive(Debug)]
pub(crate) struct Deferred {
    from: SocketAddr,
    via_cid: bool,
    bytes: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) addr: SocketAddr,
    pub(crate) phase: Phase,
    pub(crate) rl: RecordLayer,
    /// The handshake; kept for `handshake_timeout` after completion (or
    /// until the first application data) to answer a retransmitted last
    /// client flight.
    pub(crate) hs: Option<Box<ServerHandshake>>,
    pub(crate) suite: CipherSuite,
    pub(crate) credential: Option<PeerCredential>,
    pub(crate) retransmit: RetransmitTimer,
    /// When our flight was last sent again: a repeated client flight is
    /// answered at most once per retransmission interval, so repeats
    /// (forged or replayed) cannot make us amplify traffic.
    pub(crate) last_resend: Option<Instant>,
    pub(crate) hs_deadline: Option<Instant>,
    pub(crate) idle_deadline: Option<Instant>,
    /// Last authentic record (or establishment, or import): a full table
    /// evicts the session least recently active.
    pub(crate) last_active: Instant,
    /// The application marked the session's device registered: evicted
    /// only when no unregistered session is left.
    pub(crate) registered: bool,
    pub(crate) deferred: Vec<Deferred>,
    /// The deadline currently in the server's timer heap.
    pub(crate) scheduled: Option<Instant>,
    /// An established session of the same address that this handshake
    /// replaces once it completes.
    pub(crate) replaces: Option<SessionId>,
    /// Counted in the server's handshake gauge.
    pub(crate) counted_as_handshake: bool,
    /// Sequence numbers reserved in a cluster store (if configured).
    pub(crate) reservation: Reservation,
    /// The application knew no key for the client's PSK identity: the
    /// handshake goes on with a random key and fails at Finished.
    pub(crate) unknown_identity: bool,
}

impl Session {
    pub(crate) fn new(
        id: SessionId,
        addr: SocketAddr,
        rl: RecordLayer,
        hs: ServerHandshake,
        config: &ServerConfig,
        now: Instant,
    ) -> Self {
        let suite = hs.negotiated.suite;
        Self {
            id,
            addr,
            phase: Phase::Handshaking,
            rl,
            hs: Some(Box::new(hs)),
            suite,
            credential: None,
            retransmit: RetransmitTimer::new(config.initial_retransmit, config.max_retransmit),
            last_resend: None,
            hs_deadline: now.checked_add(config.handshake_timeout),
            idle_deadline: None,
            last_active: now,
            registered: false,
            deferred: Vec::new(),
            scheduled: None,
            replaces: None,
            counted_as_handshake: true,
            reservation: Reservation::default(),
            unknown_identity: false,
        }
    }

    /// An established session restored from an export blob.
    pub(crate) fn imported(
        id: SessionId,
        state: crate::export::SessionState,
        config: &ServerConfig,
        now: Instant,
    ) -> Self {
        Self {
            id,
            addr: state.addr,
            phase: Phase::Established,
            rl: state.rl,
            hs: None,
            suite: state.suite,
            credential: Some(state.credential),
            retransmit: RetransmitTimer::new(config.initial_retransmit, config.max_retransmit),
            last_resend: None,
            hs_deadline: None,
            idle_deadline: config.session_idle_timeout.and_then(|d| now.checked_add(d)),
            last_active: now,
            registered: false,
            deferred: Vec::new(),
            scheduled: None,
            replaces: None,
            counted_as_handshake: false,
            reservation: Reservation::default(),
            unknown_identity: false,
        }
    }

    /// The state an export blob holds (established sessions only).
    pub(crate) fn export_state(&self) -> Option<crate::export::SessionState> {
        if self.phase != Phase::Established {
            return None;
        }
        Some(crate::export::SessionState {
            suite: self.suite,
            addr: self.addr,
            credential: self.credential.clone()?,
            rl: self.rl.clone(),
        })
    }

    /// Bytes this handshake buffers: messages in reassembly and records
    /// deferred until the keys are known.
    pub(crate) fn buffered_bytes(&self) -> usize {
        let reassembly = self.hs.as_ref().map_or(0, |h| h.reasm.buffered());
        reassembly + self.deferred.iter().map(|d| d.bytes.len()).sum::<usize>()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [self.hs_deadline, self.retransmit.at, self.idle_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// The handshake this ClientHello random started (a retransmitted hello).
    pub(crate) fn started_by(&self, client_random: &[u8; 32]) -> bool {
        self.hs
            .as_ref()
            .is_some_and(|h| &h.client_random == client_random)
    }

    pub(super) fn transmit(&self, ctx: &mut Ctx<'_>, bytes: Vec<u8>) {
        ctx.stats.datagrams_sent += 1;
        ctx.transmits.push_back(Transmit {
            destination: self.addr,
            bytes,
        });
    }

    pub(crate) fn send_flight(&mut self, ctx: &mut Ctx<'_>) {
        let Some(hs) = self.hs.as_ref() else {
            return;
        };
        let datagrams = hs
            .flight
            .to_datagrams(&mut self.rl, ctx.config.mtu, ctx.rng);
        for d in datagrams {
            self.transmit(ctx, d);
        }
    }

    fn retransmit_flight(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        ctx.stats.retransmissions += 1;
        self.last_resend = Some(now);
        self.send_flight(ctx);
    }

    /// Answers a repeated client flight unless we did within the last
    /// retransmission interval.
    fn resend_for_repeat(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let recent = self.last_resend.is_some_and(|at| {
            at.checked_add(ctx.config.initial_retransmit)
                .is_none_or(|next| now < next)
        });
        if !recent {
            self.retransmit_flight(ctx, now);
        }
    }

    fn send_alert(&mut self, ctx: &mut Ctx<'_>, level: u8, desc: u8) {
        // During the handshake alerts go in the clear (the peer may not have
        // our keys yet); afterwards they are protected.
        let epoch = if self.phase == Phase::Established {
            1
        } else {
            0
        };
        if let Some(bytes) = self.rl.seal(epoch, CT_ALERT, &[level, desc], ctx.rng) {
            ctx.stats.alerts_sent += 1;
            self.transmit(ctx, bytes);
        }
    }

    pub(crate) fn close(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.hs = None;
        self.deferred.clear();
        ctx.events.push_back(Event::Closed {
            session: self.id,
            peer: self.addr,
            reason,
        });
    }

    fn abort(&mut self, ctx: &mut Ctx<'_>, desc: u8) {
        let cause = failure::cause_of_alert(desc, self.hs.as_ref().map(|h| h.state));
        self.abort_for(ctx, desc, cause);
    }

    /// Aborts with `desc`; a handshake's failure is reported as `cause`.
    fn abort_for(&mut self, ctx: &mut Ctx<'_>, desc: u8, cause: HandshakeFailure) {
        self.send_alert(ctx, alert::LEVEL_FATAL, desc);
        if self.phase == Phase::Handshaking {
            ctx.stats.handshakes_failed += 1;
            self.report_failure(ctx, cause);
        }
        self.close(ctx, CloseReason::AlertSent(desc));
    }

    fn report_failure(&self, ctx: &mut Ctx<'_>, cause: HandshakeFailure) {
        // The client cannot tell, the operator must.
        let cause = if self.unknown_identity {
            HandshakeFailure::UnknownPskIdentity
        } else {
            cause
        };
        let identity = self
            .hs
            .as_ref()
            .map(|h| h.identity.clone())
            .filter(|i| !i.is_empty());
        failure::report(
            ctx.stats,
            ctx.events,
            Some(self.id),
            self.addr,
            cause,
            identity,
        );
    }

    /// Closes through the API: close_notify if established.
    pub(crate) fn close_locally(&mut self, ctx: &mut Ctx<'_>) {
        if self.phase == Phase::Established {
            self.send_alert(ctx, alert::LEVEL_WARNING, alert::CLOSE_NOTIFY);
        }
        self.close(ctx, CloseReason::Local);
    }

    /// Closes an established session to make room (close_notify sent, so
    /// the device knows to connect again).
    pub(crate) fn evict(&mut self, ctx: &mut Ctx<'_>) {
        if self.phase == Phase::Established {
            self.send_alert(ctx, alert::LEVEL_WARNING, alert::CLOSE_NOTIFY);
        }
        ctx.stats.sessions_evicted += 1;
        self.close(ctx, CloseReason::Evicted);
    }

    fn touch(&mut self, ctx: &Ctx<'_>, now: Instant) {
        if self.phase == Phase::Established {
            self.last_active = now;
            self.idle_deadline = ctx
                .config
                .session_idle_timeout
                .and_then(|d| now.checked_add(d));
        }
    }

    /// Handles one record routed to this session. Returns the previous
    /// address if the session moved (the server re-indexes it).
    pub(crate) fn handle_record(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        rec: &Record<'_>,
        raw: &[u8],
        from: SocketAddr,
        via_cid: bool,
    ) -> Option<SocketAddr> {
        if self.phase == Phase::Closed {
            return None;
        }
        let (ctype, content, newest) = match self.rl.open(rec) {
            Opened::Data {
                ctype,
                content,
                newest,
            } => (ctype, content, newest),
            Opened::NoKeys => {
                let limits = &ctx.config.limits;
                if self.phase == Phase::Handshaking
                    && self.deferred.len() < limits.max_deferred_records
                    && self.buffered_bytes().saturating_add(raw.len())
                        <= limits.max_handshake_buffer
                {
                    ctx.stats.deferred_records += 1;
                    self.deferred.push(Deferred {
                        from,
                        via_cid,
                        bytes: raw.to_vec(),
                    });
                } else {
                    ctx.stats.bad_records += 1;
                }
                return None;
            }
            Opened::Replay => {
                ctx.stats.replayed_records += 1;
                return None;
            }
            Opened::Invalid => {
                ctx.stats.bad_records += 1;
                // An epoch-1 record that fails authentication while we wait
                // for the client's Finished almost always means a wrong PSK.
                // Failing now (not at the handshake deadline) tells the
                // device at once; an attacker gains nothing it could not do
                // with a plaintext alert during the handshake anyway.
                let awaiting_finished = self
                    .hs
                    .as_ref()
                    .is_some_and(|h| h.state == State::AwaitFinished);
                if rec.epoch == 1 && awaiting_finished && self.phase == Phase::Handshaking {
                    self.abort_for(ctx, alert::DECRYPT_ERROR, HandshakeFailure::WrongKey);
                }
                return None;
            }
        };
        let mut moved = None;
        // RFC 9146 §6: follow a new address only for an authentic CID record
        // newer than any seen, so a replayed or delayed record cannot drag
        // the session back.
        if from != self.addr
            && via_cid
            && newest
            && rec.epoch == 1
            && self.phase == Phase::Established
        {
            let old = self.addr;
            self.addr = from;
            ctx.stats.peers_moved += 1;
            ctx.events.push_back(Event::PeerMoved {
                session: self.id,
                old,
                new: from,
            });
            moved = Some(old);
        }
        self.touch(ctx, now);
        match ctype {
            CT_HANDSHAKE => {
                self.handle_handshake(ctx, now, rec.epoch, &content);
                // The ECDHE keys come from a message, not from the caller:
                // records that arrived before them can be read now.
                if self.rl.read_keys.is_some() && !self.deferred.is_empty() {
                    self.replay_deferred(ctx, now);
                }
            }
            // The epoch of the client's Finished is what proves the switch.
            CT_CHANGE_CIPHER_SPEC => {}
            CT_ALERT => self.handle_alert(ctx, rec.epoch, &content),
            CT_APPLICATION_DATA if self.phase == Phase::Established && rec.epoch == 1 => {
                // The client has our Finished: the last flight is not needed.
                self.hs = None;
                self.hs_deadline = None;
                ctx.events.push_back(Event::ApplicationData {
                    session: self.id,
                    peer: self.addr,
                    data: content,
                });
            }
            _ => ctx.stats.bad_records += 1,
        }
        moved
    }

    fn handle_handshake(&mut self, ctx: &mut Ctx<'_>, now: Instant, epoch: u16, content: &[u8]) {
        let mut r = Reader::new(content);
        let mut retransmitted = false;
        while !r.is_empty() {
            let Some(frag) = read_fragment(&mut r) else {
                ctx.stats.malformed_records += 1;
                return;
            };
            if self.phase == Phase::Established && epoch == 1 && frag.msg_type == CLIENT_HELLO {
                ctx.stats.renegotiations_refused += 1;
                self.send_alert(ctx, alert::LEVEL_WARNING, alert::NO_RENEGOTIATION);
                continue;
            }
            // What reassembly may hold: the handshake's budget less the
            // deferred records.
            let deferred: usize = self.deferred.iter().map(|d| d.bytes.len()).sum();
            let budget = ctx
                .config
                .limits
                .max_handshake_buffer
                .saturating_sub(deferred);
            let Some(hs) = self.hs.as_mut() else {
                continue;
            };
            // Finished is the only handshake message protected by epoch 1.
            if (frag.msg_type == FINISHED) != (epoch == 1) {
                ctx.stats.bad_records += 1;
                continue;
            }
            // The handshake is over: nothing more is reassembled, and a
            // plaintext record (unauthenticated) is either an exact repeat
            // of the client's last flight, which means our last flight was
            // lost, or dropped silently (RFC 6347 §4.1.2.7) — never fatal.
            // An epoch-1 Finished is authentic and fresh (replay window).
            let repeat = if self.phase == Phase::Established {
                let repeat = epoch == 1 || hs.repeats_peer_flight(&frag);
                if !repeat {
                    ctx.stats.bad_records += 1;
                }
                repeat
            } else {
                // The client repeats the flight we answered: ours was lost.
                hs.reasm.insert(&frag, budget) == Inserted::Old
                    && hs.answered
                    && (epoch == 1 || hs.repeats_peer_flight(&frag))
            };
            if repeat && !retransmitted {
                retransmitted = true;
                self.resend_for_repeat(ctx, now);
            }
            if self.phase == Phase::Established {
                continue;
            }
            while let Some(msg) = self.hs.as_mut().and_then(|h| h.reasm.pop()) {
                if let Err(desc) = self.handle_message(ctx, now, &msg) {
                    self.abort(ctx, desc);
                    return;
                }
            }
        }
    }

    fn handle_message(&mut self, ctx: &mut Ctx<'_>, now: Instant, msg: &Message) -> Result<(), u8> {
        let Some(hs) = self.hs.as_mut() else {
            return Ok(());
        };
        let env = Env {
            pki: ctx.pki,
            unix_time: ctx.unix_time,
        };
        let step = hs.handle_message(msg, &mut self.rl, env)?;
        if !hs.answered {
            // The client's next flight began, so ours arrived.
            self.retransmit.stop();
        }
        match step {
            Step::Continue => {}
            Step::NeedPsk(identity) => {
                ctx.events.push_back(Event::NeedPsk {
                    session: self.id,
                    peer: self.addr,
                    identity,
                });
            }
            Step::Complete => {
                if let Some(h) = self.hs.as_mut() {
                    h.reasm.discard();
                }
                self.send_flight(ctx);
                // The last flight has no timer: it is resent when the client
                // repeats its flight (RFC 6347 §4.2.4).
                self.retransmit.stop();
                self.phase = Phase::Established;
                self.hs_deadline = now.checked_add(ctx.config.handshake_timeout);
                self.touch(ctx, now);
                let credential = self
                    .hs
                    .as_ref()
                    .map(|h| h.credential())
                    .ok_or(alert::INTERNAL_ERROR)?;
                self.credential = Some(credential.clone());
                ctx.stats.handshakes_completed += 1;
                ctx.events.push_back(Event::HandshakeComplete {
                    session: self.id,
                    peer: self.addr,
                    cid: (!self.rl.cid_recv.is_empty()).then(|| self.rl.cid_recv.clone()),
                    peer_cid: (!self.rl.cid_send.is_empty()).then(|| self.rl.cid_send.clone()),
                    suite: self.suite,
                    credential,
                });
                self.start_reserving(ctx);
            }
        }
        Ok(())
    }

    fn handle_alert(&mut self, ctx: &mut Ctx<'_>, epoch: u16, content: &[u8]) {
        let [level, desc] = content else {
            ctx.stats.bad_records += 1;
            return;
        };
        // A plaintext alert for an established session is unauthenticated:
        // honouring it would let anyone on the path kill sessions.
        if epoch == 0 && self.phase == Phase::Established {
            return;
        }
        ctx.stats.alerts_received += 1;
        if *desc == alert::CLOSE_NOTIFY {
            if self.phase == Phase::Established {
                self.send_alert(ctx, alert::LEVEL_WARNING, alert::CLOSE_NOTIFY);
            } else {
                ctx.stats.handshakes_failed += 1;
                self.report_failure(ctx, HandshakeFailure::AlertReceived(*desc));
            }
            self.close(ctx, CloseReason::CloseNotify);
        } else if *level == alert::LEVEL_FATAL {
            if self.phase == Phase::Handshaking {
                ctx.stats.handshakes_failed += 1;
                self.report_failure(ctx, HandshakeFailure::AlertReceived(*desc));
            }
            self.close(ctx, CloseReason::AlertReceived(*desc));
        }
    }

    /// The application's answer to `NeedPsk`.
    pub(crate) fn provide_psk(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        key: Option<&[u8]>,
    ) -> bool {
        let waiting = self.hs.as_ref().is_some_and(|h| h.state == State::AwaitPsk);
        if !waiting {
            return false;
        }
        // RFC 4279 §2: an unknown identity must look like a wrong key, so
        // identities cannot be probed. Failing at once would tell them apart
        // (a known identity gets silence until the client's Finished):
        // go on with a random key, which fails at Finished exactly like a
        // wrong one. Only the operator learns the difference.
        let mut dummy = [0u8; 32];
        // An empty key protects nothing (anyone can complete the
        // handshake): treated as no key.
        let key = match key {
            Some(key) if !key.is_empty() => key,
            _ => {
                ctx.rng.fill_bytes(&mut dummy);
                self.unknown_identity = true;
                &dummy
            }
        };
        let result = match self.hs.as_mut() {
            Some(hs) => hs.provide_psk(key, &mut self.rl),
            None => return false,
        };
        if let Err(desc) = result {
            self.abort(ctx, desc);
            return true;
        }
        self.replay_deferred(ctx, now);
        true
    }

    /// Records that waited for the keys (CCS and Finished, typically).
    fn replay_deferred(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let cid_len = ctx.config.connection_id_length;
        for d in std::mem::take(&mut self.deferred) {
            let mut r = Reader::new(&d.bytes);
            if let Some(rec) = read_record(&mut r, cid_len) {
                self.handle_record(ctx, now, &rec, &d.bytes, d.from, d.via_cid);
            }
        }
    }

    pub(crate) fn send_application_data(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> bool {
        self.send_or_hold(ctx, data)
    }

    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        if self.hs_deadline.is_some_and(|at| now >= at) {
            self.hs_deadline = None;
            if self.phase == Phase::Handshaking {
                ctx.stats.handshakes_timed_out += 1;
                self.report_failure(ctx, HandshakeFailure::Timeout);
                self.close(ctx, CloseReason::HandshakeTimeout);
                return;
            }
            self.hs = None;
        }
        if self.retransmit.at.is_some_and(|at| now >= at) {
            let live =
                self.phase == Phase::Handshaking && self.hs.as_ref().is_some_and(|h| h.answered);
            if live {
                self.retransmit_flight(ctx, now);
                self.retransmit.backoff(now);
            } else {
                self.retransmit.stop();
            }
        }
        if self.idle_deadline.is_some_and(|at| now >= at) {
            ctx.stats.sessions_idle_closed += 1;
            self.close(ctx, CloseReason::IdleTimeout);
        }
    }
}
