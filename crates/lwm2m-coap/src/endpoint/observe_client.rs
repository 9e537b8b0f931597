//! Client side of Observe (RFC 7641): observations we registered, incoming
//! notifications, freshness, and notifications nobody here knows about.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use super::client::to_response;
use super::client_state::{Observation, OutRequest, RequestPurpose, TokenUse};
use super::CoapEndpoint;
use crate::block_download::{BlockDownload, Progress};
use crate::dedup::Reply;
use crate::error::Error;
use crate::event::{Event, UnmatchedHandle};
use crate::freshness::is_fresh;
use crate::ids::RequestId;
use crate::message::{Request, Response};
use crate::options::number;
use crate::request_options::RequestOptions;
use crate::timers::{later, TimerKey};
use crate::wire::Frame;

impl<P: Clone + Eq + Hash + Debug> CoapEndpoint<P> {
    /// Ends an observation on both sides: forgets it locally and sends a GET
    /// with Observe = 1 and the observation's token (RFC 7641 §3.6). The
    /// answer to that GET arrives as an [`Event::Response`] for the returned id.
    pub fn cancel_observation(&mut self, now: Instant, id: RequestId) -> Result<RequestId, Error> {
        let now = self.clock(now);
        let (peer, token, template) = match self.observations.get(&id) {
            Some(Observation {
                peer,
                token,
                request: Some(request),
                ..
            }) => (peer.clone(), *token, request.clone()),
            _ => return Err(Error::NotAnObservation(id)),
        };
        self.remove_observation(id);
        let mut request = template;
        request.options.set_observe(1)?;
        let options = RequestOptions::con().with_token(token);
        let result = self.start_request(
            now,
            peer.clone(),
            request,
            &options,
            RequestPurpose::User { observe: false },
        );
        // After the deregistration completes, stray notifications get RST.
        self.forget_token(&peer, token);
        result
    }

    /// Accepts a notification surfaced as [`Event::UnmatchedResponse`]: ACKs
    /// it if it was CON and registers its token as an observation whose later
    /// notifications arrive as [`Event::Notification`] with the returned id.
    /// `request` is the registering request if known (needed for
    /// `cancel_observation` and block-wise notifications).
    pub fn accept_unmatched(
        &mut self,
        now: Instant,
        peer: P,
        handle: UnmatchedHandle,
        request: Option<Request>,
    ) -> Result<RequestId, Error> {
        let now = self.clock(now);
        let key = (peer.clone(), handle.token);
        if self.tokens.contains_key(&key) {
            return Err(Error::TokenInUse);
        }
        let id = RequestId(self.next_handle());
        self.forgotten.remove(&key);
        self.tokens.insert(key, TokenUse::Observation(id));
        self.observations.insert(
            id,
            Observation {
                peer: peer.clone(),
                token: handle.token,
                request,
                last_seq: handle.seq,
                last_at: now,
                tail: None,
            },
        );
        self.answer_unmatched(&peer, handle, true);
        Ok(id)
    }

    /// Rejects a notification surfaced as [`Event::UnmatchedResponse`] with
    /// RST, which makes the server drop the observation (RFC 7641 §3.6).
    pub fn reject_unmatched(&mut self, now: Instant, peer: P, handle: UnmatchedHandle) {
        self.clock(now);
        self.answer_unmatched(&peer, handle, false);
    }

    fn answer_unmatched(&mut self, peer: &P, handle: UnmatchedHandle, accept: bool) {
        // Only answer once, even if the upper layer decides twice.
        let pending = matches!(
            self.dedup.get_mut(peer, handle.mid),
            Some(Reply::Pending(None)) | None
        );
        if !pending {
            return;
        }
        match (accept, handle.confirmable) {
            (true, true) => self.ack_inbound(peer, handle.mid),
            (true, false) => self.dedup.set_reply(peer, handle.mid, Reply::Nothing),
            (false, confirmable) => {
                self.reset_inbound(peer, handle.mid, confirmable);
                if !confirmable {
                    self.dedup.set_reply(peer, handle.mid, Reply::Nothing);
                }
            }
        }
    }

    /// Turns a request's response into an observation (idempotent).
    pub(super) fn register_observation(
        &mut self,
        now: Instant,
        id: RequestId,
        response: &Response,
    ) {
        if self.observations.contains_key(&id) {
            return;
        }
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let (peer, token) = (req.peer.clone(), req.token);
        let observation = Observation {
            peer: peer.clone(),
            token,
            request: Some(req.request.clone()),
            last_seq: response.observe().unwrap_or(0),
            last_at: now,
            tail: None,
        };
        self.observations.insert(id, observation);
        self.tokens.insert((peer, token), TokenUse::Observation(id));
    }

    fn remove_observation(&mut self, id: RequestId) {
        if let Some(obs) = self.observations.remove(&id) {
            self.release_token(&obs.peer, obs.token, TokenUse::Observation(id));
            if let Some(tail) = obs.tail {
                self.drop_request_silently(tail);
            }
        }
    }

    /// A notification for observation `id` (already ACKed if it was CON).
    pub(super) fn on_notification(&mut self, now: Instant, id: RequestId, frame: Frame) {
        let mut response = to_response(frame);
        let Some(obs) = self.observations.get_mut(&id) else {
            return;
        };
        let (peer, token) = (obs.peer.clone(), obs.token);
        // RFC 7641 §3.2: an error or a response without Observe ends the observation.
        if !response.code.is_success() || !response.has_observe() {
            let seq = response.observe();
            self.remove_observation(id);
            self.events.push_back(Event::Notification {
                id,
                peer,
                token,
                seq,
                response,
                ended: true,
            });
            return;
        }
        let Some(seq) = response.observe() else {
            self.stats.malformed += 1;
            return;
        };
        if !is_fresh(obs.last_seq, obs.last_at, seq, now) {
            self.stats.stale_notifications += 1;
            return;
        }
        obs.last_seq = seq;
        obs.last_at = now;
        if let Some(block) = response.options.block2().filter(|b| b.more) {
            let template = obs.request.clone();
            let previous_tail = obs.tail.take();
            if let Some(tail) = previous_tail {
                // A newer notification supersedes the one still being fetched.
                self.drop_request_silently(tail);
            }
            if let Some(template) = template {
                if self
                    .start_notification_tail(now, id, seq, template, response.clone(), block)
                    .is_ok()
                {
                    return;
                }
            }
            // Cannot fetch the rest (no registering request known): deliver
            // the first block with its Block2 option, so it is visibly partial.
        } else {
            response.options.remove(number::BLOCK2);
            response.options.remove(number::SIZE2);
        }
        self.events.push_back(Event::Notification {
            id,
            peer,
            token,
            seq: Some(seq),
            response,
            ended: false,
        });
    }

    /// Fetches the remaining blocks of a block-wise notification with plain
    /// GETs (RFC 7959 §2.6), then emits it as one notification.
    fn start_notification_tail(
        &mut self,
        now: Instant,
        observation: RequestId,
        seq: u32,
        mut request: Request,
        first: Response,
        block: crate::block::BlockOption,
    ) -> Result<(), Error> {
        let peer = self
            .observations
            .get(&observation)
            .map(|o| o.peer.clone())
            .ok_or(Error::NotAnObservation(observation))?;
        let obs_token = self
            .observations
            .get(&observation)
            .map(|o| o.token)
            .unwrap_or_default();
        let szx = self.config.preferred_szx();
        let (download, progress) =
            BlockDownload::start(first, block, szx, self.config.max_body_size)
                .map_err(|_| Error::PayloadTooLarge { len: 0 })?;
        let Progress::Next(next) = progress else {
            return Err(Error::PayloadTooLarge { len: 0 });
        };
        request.options.remove(number::OBSERVE);
        let token = self.alloc_token(&peer)?;
        let id = RequestId(self.next_handle());
        let req = OutRequest {
            peer: peer.clone(),
            token,
            request,
            confirmable: true,
            deadline: later(now, self.config.request_timeout),
            msg: None,
            upload: None,
            download: Some(download),
            next_block2: Some(next),
            szx,
            purpose: RequestPurpose::NotificationTail {
                observation,
                seq,
                token: obs_token,
            },
        };
        self.timers.schedule(req.deadline, TimerKey::Request(id));
        self.tokens.insert((peer, token), TokenUse::Request(id));
        self.requests.insert(id, req);
        if let Err(e) = self.transmit_request(now, id) {
            self.drop_request_silently(id);
            return Err(e);
        }
        if let Some(obs) = self.observations.get_mut(&observation) {
            obs.tail = Some(id);
        }
        Ok(())
    }
}
