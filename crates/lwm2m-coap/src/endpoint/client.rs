//! Client role: sending requests, matching responses, Block1 uploads and
//! Block2 downloads.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use super::client_state::{OutRequest, RequestPurpose, TokenUse};
use super::outgoing::Purpose;
use super::CoapEndpoint;
use crate::block::{size_of_szx, szx_fitting, szx_for_size, BlockOption};
use crate::block_download::{BlockDownload, DownloadError, Progress};
use crate::block_upload::BlockUpload;
use crate::code::ResponseCode;
use crate::dedup::Reply;
use crate::error::Error;
use crate::event::{Event, FailureReason, UnmatchedHandle};
use crate::ids::RequestId;
use crate::message::{Request, Response};
use crate::options::number;
use crate::request_options::RequestOptions;
use crate::timers::{later, TimerKey};
use crate::token::Token;
use crate::wire::{Frame, MsgType};

impl<P: Clone + Eq + Hash + Debug> CoapEndpoint<P> {
    /// Sends a request to `peer`. Large bodies go block-wise (Block1), large
    /// responses are fetched block-wise (Block2); the result is one
    /// [`Event::Response`] or [`Event::RequestFailed`] with the returned id.
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: P,
        request: Request,
        options: RequestOptions,
    ) -> Result<RequestId, Error> {
        let now = self.clock(now);
        self.start_request(
            now,
            peer,
            request,
            &options,
            RequestPurpose::User { observe: false },
        )
    }

    /// Cancels a request and/or forgets the observation it registered. No
    /// event follows; later responses or notifications for it are rejected
    /// with RST. Does not tell the server: see `cancel_observation` for that.
    pub fn cancel(&mut self, id: RequestId) -> Result<(), Error> {
        let mut found = false;
        if let Some(req) = self.requests.remove(&id) {
            found = true;
            self.forget_request_state(&req, id);
            self.forget_token(&req.peer, req.token);
        }
        if let Some(obs) = self.observations.remove(&id) {
            found = true;
            self.release_token(&obs.peer, obs.token, TokenUse::Observation(id));
            if let Some(tail) = obs.tail {
                self.drop_request_silently(tail);
            }
            self.forget_token(&obs.peer, obs.token);
        }
        if found {
            Ok(())
        } else {
            Err(Error::UnknownRequest(id))
        }
    }

    pub(super) fn start_request(
        &mut self,
        now: Instant,
        peer: P,
        mut request: Request,
        options: &RequestOptions,
        purpose: RequestPurpose,
    ) -> Result<RequestId, Error> {
        if self.requests.len() >= self.config.limits.max_outstanding_requests {
            return Err(Error::Overloaded("max_outstanding_requests"));
        }
        if options.observe && !request.options.contains(number::OBSERVE) {
            request.options.set_observe(0)?;
        }
        let szx = match options.block_size {
            Some(size) => szx_for_size(size)?,
            None => self.config.preferred_szx(),
        };
        let token = match options.token {
            Some(token) if self.tokens.contains_key(&(peer.clone(), token)) => {
                return Err(Error::TokenInUse)
            }
            Some(token) => token,
            None => self.alloc_token(&peer)?,
        };
        let purpose = match purpose {
            RequestPurpose::User { .. } => RequestPurpose::User {
                observe: request.options.observe() == Some(0),
            },
            other => other,
        };
        let mut req = OutRequest {
            peer: peer.clone(),
            token,
            request,
            confirmable: options.confirmable,
            deadline: later(now, options.timeout.unwrap_or(self.config.request_timeout)),
            msg: None,
            upload: None,
            download: None,
            next_block2: None,
            szx,
            purpose,
        };
        req.upload = self.plan_upload(&req)?;
        let id = RequestId(self.next_handle());
        self.timers.schedule(req.deadline, TimerKey::Request(id));
        self.tokens.insert((peer, token), TokenUse::Request(id));
        self.requests.insert(id, req);
        if let Err(e) = self.transmit_request(now, id) {
            if let Some(req) = self.requests.remove(&id) {
                self.release_token(&req.peer, req.token, TokenUse::Request(id));
            }
            return Err(e);
        }
        Ok(id)
    }

    /// Block-wise upload if the body exceeds the block size or does not fit
    /// in one message next to the options.
    fn plan_upload(&self, req: &OutRequest<P>) -> Result<Option<BlockUpload>, Error> {
        let len = req.request.payload.len();
        let mut probe = req.frame();
        probe.payload.clear();
        // Room for the largest Block1 and Size1 values.
        probe.options.set_block1(BlockOption {
            num: crate::block::MAX_BLOCK_NUM,
            more: true,
            szx: 6,
        });
        probe.options.set_uint(number::SIZE1, u32::MAX);
        let overhead = probe.encode(self.config.max_message_size)?.len() + 1;
        let room = self.config.max_message_size.saturating_sub(overhead);
        if len <= size_of_szx(req.szx) && len <= room {
            return Ok(None);
        }
        let szx = szx_fitting(room, req.szx).ok_or(Error::MessageTooLarge {
            limit: self.config.max_message_size,
        })?;
        Ok(Some(BlockUpload::new(szx)))
    }

    /// Sends the current message of a request (first one, next block or follow-up).
    pub(super) fn transmit_request(&mut self, now: Instant, id: RequestId) -> Result<(), Error> {
        let (peer, mut frame, confirmable, old) = match self.requests.get(&id) {
            Some(req) => (req.peer.clone(), req.frame(), req.confirmable, req.msg),
            None => return Err(Error::UnknownRequest(id)),
        };
        frame.mid = self.alloc_mid(now, &peer);
        let bytes = frame.encode(self.config.max_message_size)?;
        if let Some(old) = old {
            self.drop_msg(old);
        }
        let msg = self.track(
            now,
            &peer,
            frame.mid,
            bytes.clone(),
            Purpose::Request(id),
            confirmable,
            None,
        );
        if let Some(req) = self.requests.get_mut(&id) {
            req.msg = Some(msg);
        }
        self.queue_transmit(&peer, bytes);
        Ok(())
    }

    /// A CON or NON response (not piggybacked).
    pub(super) fn on_response(&mut self, now: Instant, peer: &P, frame: Frame) {
        let con = frame.mtype == MsgType::Con;
        if let Some(reply) = self.dedup.get_mut(peer, frame.mid).cloned() {
            if con {
                self.stats.duplicate_con += 1;
                if let Reply::Bytes(bytes) = reply {
                    self.queue_transmit(peer, bytes);
                }
            } else {
                self.stats.duplicate_non += 1;
            }
            return;
        }
        // Without a dedup record a CON could be processed twice; drop it, the
        // peer retransmits. A NON notification is still safe thanks to freshness.
        if !self.dedup.insert(now, peer, frame.mid, con, Reply::Nothing) && con {
            self.stats.dropped_overload += 1;
            return;
        }
        match self.tokens.get(&(peer.clone(), frame.token)).copied() {
            Some(TokenUse::Request(id)) => {
                if con {
                    self.ack_inbound(peer, frame.mid);
                }
                self.handle_response(now, id, frame);
            }
            Some(TokenUse::Observation(id)) => {
                if con {
                    self.ack_inbound(peer, frame.mid);
                }
                self.on_notification(now, id, frame);
            }
            None => self.on_unknown_response(peer, frame),
        }
    }

    /// ACKs an inbound CON and remembers the ACK for its duplicates.
    pub(super) fn ack_inbound(&mut self, peer: &P, mid: u16) {
        let bytes = self.empty_ack(mid);
        self.dedup.set_reply(peer, mid, Reply::Bytes(bytes.clone()));
        self.queue_transmit(peer, bytes);
    }

    /// Rejects an inbound message with RST and remembers it for duplicates.
    pub(super) fn reset_inbound(&mut self, peer: &P, mid: u16, confirmable: bool) {
        if let Ok(bytes) = Frame::empty(MsgType::Rst, mid).encode(self.config.max_message_size) {
            if confirmable {
                self.dedup.set_reply(peer, mid, Reply::Bytes(bytes.clone()));
            }
            self.stats.resets_sent += 1;
            self.queue_transmit(peer, bytes);
        }
    }

    fn on_unknown_response(&mut self, peer: &P, frame: Frame) {
        let con = frame.mtype == MsgType::Con;
        if self.forgotten.contains_key(&(peer.clone(), frame.token)) {
            // RFC 7641 §3.6: a forgotten observation is ended by rejecting its notifications.
            self.reset_inbound(peer, frame.mid, con);
            return;
        }
        let seq = frame.options.observe();
        match seq {
            Some(seq) if self.config.surface_unmatched_notifications => {
                self.stats.unmatched_notifications += 1;
                self.dedup.set_reply(peer, frame.mid, Reply::Pending(None));
                let handle = UnmatchedHandle {
                    mid: frame.mid,
                    token: frame.token,
                    confirmable: con,
                    seq,
                };
                let response = to_response(frame);
                self.events.push_back(Event::UnmatchedResponse {
                    peer: peer.clone(),
                    handle,
                    response,
                });
            }
            _ => {
                self.stats.unmatched += 1;
                // §5.3.2: a CON response we cannot match is rejected; a NON one is ignored,
                // except unwanted notifications, which RFC 7641 §3.6 ends with RST as well.
                if con || seq.is_some() {
                    self.reset_inbound(peer, frame.mid, con);
                }
            }
        }
    }

    /// A response (piggybacked or separate) to request `id`.
    pub(super) fn handle_response(&mut self, now: Instant, id: RequestId, frame: Frame) {
        let response = to_response(frame);
        // Any response implies the request arrived: stop retransmitting it.
        let old = self.requests.get_mut(&id).and_then(|req| req.msg.take());
        if let Some(old) = old {
            self.drop_msg(old);
        }
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        let body_len = req.request.payload.len();
        let block1 = response.options.block1();
        if let Some(upload) = req.upload.as_mut() {
            if response.code == ResponseCode::CONTINUE {
                match block1.map(|ack| upload.on_continue(ack, body_len)) {
                    Some(Ok(())) => self.transmit_or_fail(now, id),
                    _ => self.fail(id, FailureReason::Blockwise),
                }
                return;
            }
            if response.code == ResponseCode::REQUEST_ENTITY_TOO_LARGE
                && block1.is_some_and(|hint| upload.restart_smaller(hint.szx))
            {
                self.transmit_or_fail(now, id);
                return;
            }
            // Any other code is the final response to the whole upload.
            req.upload = None;
        } else if response.code == ResponseCode::REQUEST_ENTITY_TOO_LARGE && req.download.is_none()
        {
            // The server wants block-wise for a body we sent in one piece (§2.9.3).
            if let Some(hint) = block1.filter(|hint| body_len > size_of_szx(hint.szx)) {
                req.upload = Some(BlockUpload::new(hint.szx.min(req.szx)));
                self.transmit_or_fail(now, id);
                return;
            }
        }
        if response.code == ResponseCode::CONTINUE {
            self.fail(id, FailureReason::Blockwise);
            return;
        }
        // The upload is over; its Block1 echo means nothing to the upper layer.
        let mut response = response;
        response.options.remove(number::BLOCK1);
        self.handle_block2(now, id, response);
    }

    fn handle_block2(&mut self, now: Instant, id: RequestId, mut response: Response) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        let block2 = response.options.block2();
        let outcome = match (req.download.as_mut(), block2) {
            (Some(download), Some(block)) => {
                download.on_block(block, response.options.etag(), &response.payload)
            }
            (Some(_), None) => Err(DownloadError::Protocol),
            (None, Some(block)) if block.more => {
                if matches!(req.purpose, RequestPurpose::User { observe: true })
                    && response.code.is_success()
                    && response.has_observe()
                {
                    // Notifications may arrive while the rest is fetched.
                    self.register_observation(now, id, &response);
                }
                let Some(req) = self.requests.get_mut(&id) else {
                    return;
                };
                match BlockDownload::start(response, block, req.szx, self.config.max_body_size) {
                    Ok((download, progress)) => {
                        req.download = Some(download);
                        Ok(progress)
                    }
                    Err(e) => Err(e),
                }
            }
            (None, _) => {
                response.options.remove(number::BLOCK2);
                response.options.remove(number::SIZE2);
                Ok(Progress::Done(response))
            }
        };
        match outcome {
            Ok(Progress::Next(next)) => {
                if let Some(req) = self.requests.get_mut(&id) {
                    req.next_block2 = Some(next);
                }
                if self.separate_follow_up_token(id).is_err() {
                    self.fail(id, FailureReason::Blockwise);
                    return;
                }
                self.transmit_or_fail(now, id);
            }
            Ok(Progress::Done(full)) => self.complete(now, id, full),
            Err(DownloadError::Protocol) => self.fail(id, FailureReason::Blockwise),
            Err(DownloadError::TooLarge) => self.fail(id, FailureReason::TooLarge),
        }
    }

    /// Block2 follow-ups must not reuse an observation's token: a server
    /// would take a GET without Observe on that token as deregistration.
    fn separate_follow_up_token(&mut self, id: RequestId) -> Result<(), Error> {
        let Some((peer, token)) = self.requests.get(&id).map(|r| (r.peer.clone(), r.token)) else {
            return Ok(());
        };
        if self.tokens.get(&(peer.clone(), token)) == Some(&TokenUse::Request(id)) {
            return Ok(());
        }
        let fresh = self.alloc_token(&peer)?;
        self.tokens.insert((peer, fresh), TokenUse::Request(id));
        if let Some(req) = self.requests.get_mut(&id) {
            req.token = fresh;
        }
        Ok(())
    }

    fn transmit_or_fail(&mut self, now: Instant, id: RequestId) {
        if self.transmit_request(now, id).is_err() {
            self.fail(id, FailureReason::Encoding);
        }
    }

    fn complete(&mut self, now: Instant, id: RequestId, response: Response) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let peer = req.peer.clone();
        let purpose = req.purpose;
        if matches!(purpose, RequestPurpose::User { observe: true })
            && response.code.is_success()
            && response.has_observe()
        {
            self.register_observation(now, id, &response);
        }
        if let Some(req) = self.requests.remove(&id) {
            self.forget_request_state(&req, id);
        }
        match purpose {
            RequestPurpose::User { .. } => {
                self.events
                    .push_back(Event::Response { id, peer, response })
            }
            RequestPurpose::NotificationTail {
                observation,
                seq,
                token,
            } => {
                if let Some(obs) = self.observations.get_mut(&observation) {
                    if obs.tail == Some(id) {
                        obs.tail = None;
                    }
                }
                self.events.push_back(Event::Notification {
                    id: observation,
                    peer,
                    token,
                    seq: Some(seq),
                    response,
                    ended: false,
                });
            }
        }
    }

    /// Ends a request with `reason`; user requests get a `RequestFailed` event.
    pub(super) fn fail(&mut self, id: RequestId, reason: FailureReason) {
        let Some(req) = self.requests.remove(&id) else {
            return;
        };
        self.forget_request_state(&req, id);
        if let RequestPurpose::User { .. } = req.purpose {
            // An observation registered by the first block of a failed
            // download is not reported to the upper layer: drop it so its
            // notifications get RST and the server stops sending them.
            if let Some(obs) = self.observations.remove(&id) {
                self.release_token(&obs.peer, obs.token, TokenUse::Observation(id));
                self.forget_token(&obs.peer, obs.token);
            }
            self.events.push_back(Event::RequestFailed {
                id,
                peer: req.peer,
                reason,
            });
        }
    }

    /// Removes a request without any event (superseded notification tails).
    pub(super) fn drop_request_silently(&mut self, id: RequestId) {
        if let Some(req) = self.requests.remove(&id) {
            self.forget_request_state(&req, id);
        }
    }

    pub(super) fn on_request_deadline(&mut self, now: Instant, id: RequestId) {
        if self.requests.get(&id).is_some_and(|r| r.deadline <= now) {
            self.stats.request_deadlines += 1;
            self.fail(id, FailureReason::Timeout);
        }
    }

    fn forget_request_state(&mut self, req: &OutRequest<P>, id: RequestId) {
        if let Some(msg) = req.msg {
            self.drop_msg(msg);
        }
        self.release_token(&req.peer, req.token, TokenUse::Request(id));
    }

    /// Removes a token mapping if it still has the given use.
    pub(super) fn release_token(&mut self, peer: &P, token: Token, usage: TokenUse) {
        let key = (peer.clone(), token);
        if self.tokens.get(&key) == Some(&usage) {
            self.tokens.remove(&key);
        }
    }

    /// Remembers a token whose observation we dropped so its notifications get RST.
    pub(super) fn forget_token(&mut self, peer: &P, token: Token) {
        // Anything to forget was created by a call that set the clock.
        if let Some(now) = self.last_now {
            self.forgotten
                .insert_evicting(now, (peer.clone(), token), ());
        }
    }

    /// A token not in use with `peer` (random, `token_length` bytes).
    pub(super) fn alloc_token(&mut self, peer: &P) -> Result<Token, Error> {
        let len = self.config.token_length;
        for _ in 0..16 {
            let mut bytes = [0u8; crate::token::MAX_TOKEN_LEN];
            self.rng.fill(&mut bytes);
            let token = Token::new(bytes.get(..len).unwrap_or(&[]))?;
            let key = (peer.clone(), token);
            if !self.tokens.contains_key(&key) {
                // Reusing a forgotten token (only likely with short tokens)
                // means its old notifications can no longer be told apart.
                self.forgotten.remove(&key);
                return Ok(token);
            }
            if len == 0 {
                break;
            }
        }
        Err(Error::TokenExhausted)
    }
}

/// The upper-layer view of a response message.
pub(super) fn to_response(frame: Frame) -> Response {
    Response {
        // Frames reach here only after `Kind::Response` classification.
        code: ResponseCode::from_raw(frame.code).unwrap_or(ResponseCode::INTERNAL_SERVER_ERROR),
        options: frame.options,
        payload: frame.payload,
    }
}
