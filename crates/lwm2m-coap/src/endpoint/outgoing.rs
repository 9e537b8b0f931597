//! Messages we sent that an ACK or RST can refer to: retransmission of CON
//! messages (RFC 7252 §4.2) and dispatch of the peer's ACK/RST.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use super::CoapEndpoint;
use crate::event::{Event, FailureReason, RejectReason};
use crate::ids::RequestId;
use crate::retransmit::{Expiry, Retransmit};
use crate::timers::TimerKey;
use crate::token::Token;
use crate::wire::Frame;

/// What an outgoing message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// The current message of one of our requests (CON or NON).
    Request(RequestId),
    /// A separate CON response; `observe` if it started an observation.
    Response { token: Token, observe: bool },
    /// A CON notification.
    Notification(Token),
}

#[derive(Debug)]
pub(super) struct OutMsg<P> {
    pub(super) peer: P,
    pub(super) mid: u16,
    pub(super) bytes: Vec<u8>,
    /// `None` for NON messages, which are only kept to match an RST.
    pub(super) retransmit: Option<Retransmit>,
    pub(super) purpose: Purpose,
}

impl<P: Clone + Eq + Hash + Debug> CoapEndpoint<P> {
    /// Starts tracking a message that was just queued. CON messages get a
    /// retransmission schedule (fresh, or `inherit`ed from a replaced notification).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn track(
        &mut self,
        now: Instant,
        peer: &P,
        mid: u16,
        bytes: Vec<u8>,
        purpose: Purpose,
        confirmable: bool,
        inherit: Option<Retransmit>,
    ) -> u64 {
        let id = self.next_handle();
        let retransmit = confirmable.then(|| {
            inherit.unwrap_or_else(|| Retransmit::start(now, &self.config, &mut self.rng))
        });
        if let Some(r) = &retransmit {
            self.timers.schedule(r.next_at, TimerKey::Message(id));
        }
        self.msg_by_mid.insert((peer.clone(), mid), id);
        self.msgs.insert(
            id,
            OutMsg {
                peer: peer.clone(),
                mid,
                bytes,
                retransmit,
                purpose,
            },
        );
        id
    }

    pub(super) fn drop_msg(&mut self, id: u64) -> Option<OutMsg<P>> {
        let msg = self.msgs.remove(&id)?;
        self.msg_by_mid.remove(&(msg.peer.clone(), msg.mid));
        Some(msg)
    }

    /// An ACK, empty or with a piggybacked response.
    pub(super) fn on_ack(&mut self, now: Instant, peer: &P, frame: Frame) {
        let id = self.msg_by_mid.get(&(peer.clone(), frame.mid)).copied();
        let Some(id) = id.filter(|id| self.msgs.get(id).is_some_and(|m| m.retransmit.is_some()))
        else {
            // Late duplicate ACK, or an ACK for something that was never CON.
            self.stats.unmatched += 1;
            return;
        };
        let Some(msg) = self.drop_msg(id) else {
            return;
        };
        match msg.purpose {
            Purpose::Request(request) => {
                let token_matches = match self.requests.get_mut(&request) {
                    Some(req) => {
                        if req.msg == Some(id) {
                            req.msg = None;
                        }
                        req.token == frame.token
                    }
                    None => false,
                };
                if frame.code == 0 {
                    // Empty ACK: the response follows separately (§5.2.2).
                } else if token_matches {
                    self.handle_response(now, request, frame);
                } else {
                    // §5.3.2: a response must match the token; treat as a bare ACK.
                    self.stats.unmatched += 1;
                }
            }
            Purpose::Response { .. } => {}
            Purpose::Notification(token) => {
                let key = (peer.clone(), token);
                if self.notification_in_flight.get(&key) == Some(&id) {
                    self.notification_in_flight.remove(&key);
                }
            }
        }
    }

    /// An RST: the peer rejected one of our messages.
    pub(super) fn on_reset(&mut self, _now: Instant, peer: &P, mid: u16) {
        self.stats.resets_received += 1;
        let key = (peer.clone(), mid);
        if let Some(msg) = self
            .msg_by_mid
            .get(&key)
            .copied()
            .and_then(|id| self.drop_msg(id).map(|m| (id, m)))
        {
            let (id, msg) = msg;
            self.message_rejected(id, msg, RejectReason::Reset);
            return;
        }
        if let Some(token) = self.recent_non_notifications.remove(&key) {
            self.observation_rejected(peer, token, RejectReason::Reset);
            return;
        }
        self.stats.unmatched += 1;
    }

    /// The retransmission timer of message `id` fired.
    pub(super) fn on_message_timer(&mut self, now: Instant, id: u64) {
        let max_retransmit = self.config.max_retransmit;
        let Some(msg) = self.msgs.get_mut(&id) else {
            return;
        };
        let Some(retransmit) = msg.retransmit.as_mut().filter(|r| r.next_at <= now) else {
            return;
        };
        match retransmit.on_expiry(max_retransmit) {
            Expiry::Retransmit => {
                let next_at = retransmit.next_at;
                let (peer, bytes) = (msg.peer.clone(), msg.bytes.clone());
                self.stats.retransmissions += 1;
                self.timers.schedule(next_at, TimerKey::Message(id));
                self.queue_transmit(&peer, bytes);
            }
            Expiry::GiveUp => {
                self.stats.transmit_timeouts += 1;
                if let Some(msg) = self.drop_msg(id) {
                    self.message_rejected(id, msg, RejectReason::Timeout);
                }
            }
        }
    }

    /// The peer rejected (RST) or never acknowledged a message.
    fn message_rejected(&mut self, id: u64, msg: OutMsg<P>, reason: RejectReason) {
        match msg.purpose {
            Purpose::Request(request) => {
                let failure = match reason {
                    RejectReason::Reset => FailureReason::Reset,
                    RejectReason::Timeout => FailureReason::Timeout,
                };
                self.fail(request, failure);
            }
            Purpose::Response { token, observe } => {
                if observe {
                    self.observation_rejected(&msg.peer, token, reason);
                }
            }
            Purpose::Notification(token) => {
                let key = (msg.peer.clone(), token);
                if self.notification_in_flight.get(&key) == Some(&id) {
                    self.notification_in_flight.remove(&key);
                }
                self.observation_rejected(&msg.peer, token, reason);
            }
        }
    }

    /// An observer of ours is gone: drop what we kept for it and tell the upper layer.
    pub(super) fn observation_rejected(&mut self, peer: &P, token: Token, reason: RejectReason) {
        let key = (peer.clone(), token);
        self.served.remove(&key);
        if let Some(msg) = self.notification_in_flight.remove(&key) {
            self.drop_msg(msg);
        }
        self.events.push_back(Event::ObservationRejected {
            peer: peer.clone(),
            token,
            reason,
        });
    }
}
