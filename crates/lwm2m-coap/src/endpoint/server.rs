//! Server role: inbound requests, deduplication, Block1 reassembly, Block2
//! serving, piggybacked / separate responses and automatic empty ACKs.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use super::outgoing::Purpose;
use super::server_state::InExchange;
use super::CoapEndpoint;
use crate::block::{size_of_szx, szx_fitting, BlockOption};
use crate::block1_receiver::Block1Outcome;
use crate::block2_cache::slice;
use crate::code::{Method, ResponseCode};
use crate::dedup::Reply;
use crate::error::Error;
use crate::event::Event;
use crate::ids::ExchangeId;
use crate::message::{Request, Response};
use crate::options::number;
use crate::timers::{later, TimerKey};
use crate::token::Token;
use crate::wire::{Frame, MsgType};

impl<P: Clone + Eq + Hash + Debug> CoapEndpoint<P> {
    /// Answers a request surfaced as [`Event::Request`]. Piggybacked on the
    /// ACK if none was sent yet, otherwise a separate response. Bodies larger
    /// than the negotiated block size are sent block-wise and the rest is
    /// served from a cache. On error the exchange stays open (e.g. respond
    /// with a smaller error response instead).
    pub fn respond(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        response: Response,
    ) -> Result<(), Error> {
        let now = self.clock(now);
        let ex = self
            .exchanges
            .remove(&exchange)
            .ok_or(Error::UnknownExchange(exchange))?;
        match self.send_response(now, &ex, response) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.exchanges.insert(exchange, ex);
                Err(e)
            }
        }
    }

    fn send_response(
        &mut self,
        now: Instant,
        ex: &InExchange<P>,
        response: Response,
    ) -> Result<(), Error> {
        let observe = ex.observe && response.has_observe();
        let mut response = self.fit_response(
            now,
            &ex.peer,
            ex.token,
            Some(&ex.transfer_key),
            response,
            ex.block2,
        )?;
        if let Some(echo) = ex.block1_echo {
            response.options.set_block1(echo);
        }
        let mut frame = Frame {
            mtype: MsgType::Ack,
            code: response.code.raw(),
            mid: ex.mid,
            token: ex.token,
            options: response.options,
            payload: response.payload,
        };
        if ex.confirmable && !ex.acked {
            let bytes = frame.encode(self.config.max_message_size)?;
            self.dedup
                .set_reply(&ex.peer, ex.mid, Reply::Bytes(bytes.clone()));
            self.queue_transmit(&ex.peer, bytes);
        } else {
            let confirmable = ex.confirmable && self.config.separate_response_confirmable;
            frame.mtype = if confirmable {
                MsgType::Con
            } else {
                MsgType::Non
            };
            frame.mid = self.alloc_mid(now, &ex.peer);
            let bytes = frame.encode(self.config.max_message_size)?;
            if confirmable {
                let purpose = Purpose::Response {
                    token: ex.token,
                    observe,
                };
                self.track(now, &ex.peer, frame.mid, bytes.clone(), purpose, true, None);
            } else if observe {
                self.recent_non_notifications.insert_evicting(
                    now,
                    (ex.peer.clone(), frame.mid),
                    ex.token,
                );
            }
            self.queue_transmit(&ex.peer, bytes);
        }
        if observe {
            self.served
                .insert_evicting(now, (ex.peer.clone(), ex.token), ex.transfer_key.clone());
        }
        Ok(())
    }

    /// Returns the message to send for `response`: itself if it fits in one
    /// block, else the requested block (0 by default) of it, caching the body
    /// under `transfer_key` for the follow-up requests.
    pub(super) fn fit_response(
        &mut self,
        now: Instant,
        peer: &P,
        token: Token,
        transfer_key: Option<&[u8]>,
        mut response: Response,
        requested: Option<BlockOption>,
    ) -> Result<Response, Error> {
        let our_szx = self.config.preferred_szx();
        let szx = requested.map_or(our_szx, |b| b.szx.min(our_szx));
        let len = response.payload.len();
        // Room for the payload next to the options, a token and the block options.
        let mut probe = Frame {
            mtype: MsgType::Con,
            code: response.code.raw(),
            mid: 0,
            token,
            options: response.options.clone(),
            payload: Vec::new(),
        };
        probe.options.set_block2(BlockOption {
            num: crate::block::MAX_BLOCK_NUM,
            more: true,
            szx: 6,
        });
        probe.options.set_uint(number::SIZE2, u32::MAX);
        probe.options.set_block1(BlockOption {
            num: crate::block::MAX_BLOCK_NUM,
            more: true,
            szx: 6,
        });
        if !probe.options.contains(number::ETAG) {
            probe.options.set(number::ETAG, vec![0; 4]);
        }
        let overhead = probe.encode(self.config.max_message_size)?.len() + 1;
        let room = self.config.max_message_size.saturating_sub(overhead);
        if len <= size_of_szx(szx) && len <= room && requested.is_none_or(|b| b.num == 0) {
            return Ok(response);
        }
        let szx = szx_fitting(room, szx).ok_or(Error::MessageTooLarge {
            limit: self.config.max_message_size,
        })?;
        let key = transfer_key.ok_or(Error::PayloadTooLarge { len })?;
        if !response.options.contains(number::ETAG) {
            // Lets the client notice if the representation changes between blocks.
            let tag = (self.rng.next_u64() as u32).to_be_bytes().to_vec();
            response.options.set(number::ETAG, tag);
        }
        let num = requested.map_or(0, |b| b.offset() / size_of_szx(szx));
        let block = u32::try_from(num)
            .ok()
            .and_then(|num| slice(&response, num, szx));
        self.bodies
            .insert(now, (peer.clone(), key.to_vec()), response);
        // A block past the end is a bad Block2 option.
        Ok(block.unwrap_or_else(|| Response::new(ResponseCode::BAD_OPTION)))
    }

    /// A CON or NON request.
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        peer: &P,
        frame: Frame,
        method: Option<Method>,
    ) {
        let con = frame.mtype == MsgType::Con;
        if let Some(reply) = self.dedup.get_mut(peer, frame.mid).cloned() {
            self.on_duplicate_request(peer, frame.mid, con, reply);
            return;
        }
        if !self.dedup.insert(now, peer, frame.mid, con, Reply::Nothing) {
            self.stats.dropped_overload += 1;
            return;
        }
        let Some(method) = method else {
            self.reply_directly(
                now,
                peer,
                &frame,
                Response::new(ResponseCode::METHOD_NOT_ALLOWED),
            );
            return;
        };
        let invalid_block = (frame.options.contains(number::BLOCK1)
            && frame.options.block1().is_none())
            || (frame.options.contains(number::BLOCK2) && frame.options.block2().is_none());
        if frame.options.unknown_critical().is_some() || invalid_block {
            // §5.4.1: unrecognized critical options get 4.02 in a CON, silence in a NON.
            if con {
                self.reply_directly(now, peer, &frame, Response::new(ResponseCode::BAD_OPTION));
            }
            return;
        }
        let mut transfer_key = vec![method.code()];
        transfer_key.extend(frame.options.transfer_key());
        let mut block1_echo = None;
        let mut payload = frame.payload.clone();
        if let Some(block) = frame.options.block1() {
            self.stats.block1_received += 1;
            let outcome = self.uploads.receive(
                now,
                (peer.clone(), transfer_key.clone()),
                block,
                &frame.payload,
                frame.options.size1(),
                self.config.preferred_szx(),
            );
            let answer = match outcome {
                Block1Outcome::Complete(body, echo) => {
                    payload = body;
                    block1_echo = Some(echo);
                    None
                }
                Block1Outcome::Continue(echo) => {
                    let mut r = Response::new(ResponseCode::CONTINUE);
                    r.options.set_block1(echo);
                    Some(r)
                }
                Block1Outcome::Incomplete => {
                    Some(Response::new(ResponseCode::REQUEST_ENTITY_INCOMPLETE))
                }
                Block1Outcome::TooLarge => {
                    let mut r = Response::new(ResponseCode::REQUEST_ENTITY_TOO_LARGE);
                    let limit = u32::try_from(self.config.max_body_size).unwrap_or(u32::MAX);
                    r.options.set_uint(number::SIZE1, limit);
                    Some(r)
                }
                Block1Outcome::BadRequest => Some(Response::new(ResponseCode::BAD_REQUEST)),
            };
            if let Some(answer) = answer {
                self.reply_directly(now, peer, &frame, answer);
                return;
            }
        }
        let block2 = frame.options.block2();
        if let Some(block) = block2.filter(|b| b.num > 0 && block1_echo.is_none()) {
            let szx = block.szx.min(self.config.preferred_szx());
            let num = u32::try_from(block.offset() / size_of_szx(szx)).unwrap_or(u32::MAX);
            match self
                .bodies
                .serve(now, &(peer.clone(), transfer_key.clone()), num, szx)
            {
                Some(Some(answer)) => {
                    self.stats.block2_served_from_cache += 1;
                    self.reply_directly(now, peer, &frame, answer);
                    return;
                }
                Some(None) => {
                    self.reply_directly(now, peer, &frame, Response::new(ResponseCode::BAD_OPTION));
                    return;
                }
                // Not cached (expired): the upper layer produces the body again.
                None => {}
            }
        }
        if self.exchanges.len() >= self.config.limits.max_pending_exchanges {
            self.stats.dropped_overload += 1;
            self.reply_directly(
                now,
                peer,
                &frame,
                Response::new(ResponseCode::SERVICE_UNAVAILABLE),
            );
            return;
        }
        let mut options = frame.options;
        for n in [number::BLOCK1, number::BLOCK2, number::SIZE1, number::SIZE2] {
            options.remove(n);
        }
        let request = Request {
            method,
            options,
            payload,
        };
        let id = ExchangeId(self.next_handle());
        let exchange = InExchange {
            peer: peer.clone(),
            mid: frame.mid,
            token: frame.token,
            confirmable: con,
            acked: false,
            block1_echo,
            block2,
            transfer_key,
            observe: request.observe() == Some(0),
            auto_ack_at: if con {
                self.config.auto_ack_delay.map(|d| later(now, d))
            } else {
                None
            },
            expires: later(now, self.config.exchange_timeout),
        };
        self.dedup
            .set_reply(peer, frame.mid, Reply::Pending(Some(id)));
        self.timers
            .schedule(exchange.next_deadline(), TimerKey::Exchange(id));
        self.exchanges.insert(id, exchange);
        self.events.push_back(Event::Request {
            exchange: id,
            peer: peer.clone(),
            token: frame.token,
            request,
        });
    }

    fn on_duplicate_request(&mut self, peer: &P, mid: u16, con: bool, reply: Reply) {
        if !con {
            self.stats.duplicate_non += 1;
            return;
        }
        self.stats.duplicate_con += 1;
        match reply {
            Reply::Bytes(bytes) => self.queue_transmit(peer, bytes),
            Reply::Pending(Some(id)) => {
                // The client is retransmitting: our response is slow, so
                // stop its retransmissions now and respond separately later.
                if let Some(ex) = self.exchanges.get_mut(&id).filter(|ex| !ex.acked) {
                    ex.acked = true;
                    self.send_empty_ack(peer, mid);
                }
            }
            Reply::Pending(None) | Reply::Nothing => {}
        }
    }

    fn send_empty_ack(&mut self, peer: &P, mid: u16) {
        self.stats.empty_acks_sent += 1;
        let bytes = self.empty_ack(mid);
        self.dedup.set_reply(peer, mid, Reply::Bytes(bytes.clone()));
        self.queue_transmit(peer, bytes);
    }

    /// Answers a request without involving the upper layer (errors, 2.31,
    /// cached blocks): piggybacked for CON, a NON response for NON.
    fn reply_directly(&mut self, now: Instant, peer: &P, request: &Frame, response: Response) {
        if response.code.is_error() {
            self.stats.auto_error_responses += 1;
        }
        let con = request.mtype == MsgType::Con;
        let mut frame = Frame {
            mtype: if con { MsgType::Ack } else { MsgType::Non },
            code: response.code.raw(),
            mid: request.mid,
            token: request.token,
            options: response.options,
            payload: response.payload,
        };
        if !con {
            frame.mid = self.alloc_mid(now, peer);
        }
        let Ok(bytes) = frame.encode(self.config.max_message_size) else {
            return;
        };
        if con {
            self.dedup
                .set_reply(peer, request.mid, Reply::Bytes(bytes.clone()));
        }
        self.queue_transmit(peer, bytes);
    }

    /// Auto-ACK and expiry of an inbound exchange.
    pub(super) fn on_exchange_timer(&mut self, now: Instant, id: ExchangeId) {
        let Some(ex) = self.exchanges.get_mut(&id) else {
            return;
        };
        if !ex.acked && ex.auto_ack_at.is_some_and(|at| at <= now) {
            ex.acked = true;
            let (peer, mid) = (ex.peer.clone(), ex.mid);
            self.send_empty_ack(&peer, mid);
        }
        let Some(ex) = self.exchanges.get(&id) else {
            return;
        };
        if ex.expires <= now {
            self.stats.exchanges_expired += 1;
            let (peer, mid) = (ex.peer.clone(), ex.mid);
            self.exchanges.remove(&id);
            if self.dedup.get_mut(&peer, mid) == Some(&mut Reply::Pending(Some(id))) {
                self.dedup.set_reply(&peer, mid, Reply::Nothing);
            }
        } else {
            self.timers
                .schedule(ex.next_deadline(), TimerKey::Exchange(id));
        }
    }
}
