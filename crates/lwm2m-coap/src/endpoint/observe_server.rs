//! Server side of Observe (RFC 7641 §4): sending notifications to observers
//! and noticing when an observer goes away.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use super::outgoing::Purpose;
use super::CoapEndpoint;
use crate::error::Error;
use crate::message::Response;
use crate::retransmit::Retransmit;
use crate::timers::later;
use crate::token::Token;
use crate::wire::{Frame, MsgType};

impl<P: Clone + Eq + Hash + Debug> CoapEndpoint<P> {
    /// Sends a notification with Observe = `seq` (24 bits) to an observer
    /// identified by `peer` and `token`.
    ///
    /// A CON notification is retransmitted; a newer CON notification to the
    /// same observer replaces an unacknowledged older one and inherits its
    /// retransmission state (RFC 7641 §4.5.2). An RST, or a CON notification
    /// that is never acknowledged, produces
    /// [`crate::Event::ObservationRejected`]. Bodies larger than a block are
    /// sent block-wise if the observation was registered through
    /// [`CoapEndpoint::respond`]; otherwise that is an error.
    pub fn send_notification(
        &mut self,
        now: Instant,
        peer: P,
        token: Token,
        seq: u32,
        response: Response,
        confirmable: bool,
    ) -> Result<(), Error> {
        let now = self.clock(now);
        let mut response = response;
        response.options.set_observe(seq)?;
        let key = self.served.get(&(peer.clone(), token)).cloned();
        // An observation that keeps notifying keeps its block-wise key.
        self.served.touch(now, &(peer.clone(), token));
        let response = self.fit_response(now, &peer, token, key.as_deref(), response, None)?;
        let mid = self.alloc_mid(now, &peer);
        let frame = Frame {
            mtype: if confirmable {
                MsgType::Con
            } else {
                MsgType::Non
            },
            code: response.code.raw(),
            mid,
            token,
            options: response.options,
            payload: response.payload,
        };
        let bytes = frame.encode(self.config.max_message_size)?;
        let observer = (peer.clone(), token);
        if confirmable {
            let inherited = self
                .notification_in_flight
                .remove(&observer)
                .and_then(|old| self.drop_msg(old))
                .and_then(|old| old.retransmit)
                .map(|old| Retransmit {
                    count: old.count,
                    timeout: old.timeout,
                    next_at: later(now, old.timeout),
                });
            let msg = self.track(
                now,
                &peer,
                mid,
                bytes.clone(),
                Purpose::Notification(token),
                true,
                inherited,
            );
            self.notification_in_flight.insert(observer, msg);
        } else {
            self.recent_non_notifications
                .insert_evicting(now, (peer.clone(), mid), token);
        }
        self.queue_transmit(&peer, bytes);
        Ok(())
    }

    /// Forgets an observer we serve (e.g. after it deregistered with a GET
    /// carrying Observe = 1): stops retransmitting its notification.
    pub fn forget_observer(&mut self, peer: &P, token: Token) {
        let key = (peer.clone(), token);
        self.served.remove(&key);
        if let Some(msg) = self.notification_in_flight.remove(&key) {
            self.drop_msg(msg);
        }
    }
}
