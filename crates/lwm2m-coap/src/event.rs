//! What the endpoint hands back to its driver: datagrams to send and events
//! for the upper layer.

use crate::ids::{ExchangeId, RequestId};
use crate::message::{Request, Response};
use crate::token::Token;

/// A datagram to send to `peer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit<P> {
    /// Destination.
    pub peer: P,
    /// The encoded CoAP message.
    pub bytes: Vec<u8>,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// No ACK after MAX_RETRANSMIT retransmissions, or the overall deadline passed.
    Timeout,
    /// The peer answered with RST.
    Reset,
    /// The peer broke the block-wise protocol (wrong block numbers, changed
    /// ETag, 4.08, unexpected 2.31, ...).
    Blockwise,
    /// The response body exceeds `max_body_size`, or the peer announced a
    /// size limit smaller than our request body.
    TooLarge,
    /// A follow-up message (next block) could not be encoded.
    Encoding,
}

/// Why an observation we serve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The observer answered a notification with RST (RFC 7641 §3.6).
    Reset,
    /// A CON notification was never acknowledged (RFC 7641 §4.5).
    Timeout,
}

/// Everything needed to accept or reject a notification with an unknown
/// token later; plain data, so the decision can be taken asynchronously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnmatchedHandle {
    pub(crate) mid: u16,
    pub(crate) token: Token,
    pub(crate) confirmable: bool,
    pub(crate) seq: u32,
}

impl UnmatchedHandle {
    /// The notification's token.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The notification's Observe sequence number.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// True for a CON notification (the peer waits for ACK or RST).
    pub fn confirmable(&self) -> bool {
        self.confirmable
    }
}

/// Events for the upper layer, returned by [`crate::CoapEndpoint::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<P> {
    /// A request arrived (reassembled if it was sent block-wise). Answer it
    /// with [`crate::CoapEndpoint::respond`].
    Request {
        /// Handle for `respond`.
        exchange: ExchangeId,
        /// Who sent it.
        peer: P,
        /// The token, e.g. to key a server-side observation.
        token: Token,
        /// The request, with Block1/Block2/Size1/Size2 removed.
        request: Request,
    },
    /// The final response to one of our requests (all Block2 blocks joined).
    Response {
        /// The request.
        id: RequestId,
        /// The peer the request went to.
        peer: P,
        /// The response, with Block1/Block2 removed.
        response: Response,
    },
    /// One of our requests failed; no further event is produced for it.
    RequestFailed {
        /// The request.
        id: RequestId,
        /// The peer the request went to.
        peer: P,
        /// Why.
        reason: FailureReason,
    },
    /// A fresh notification for an observation we registered.
    Notification {
        /// The request that registered the observation (or the id returned by `accept_unmatched`).
        id: RequestId,
        /// The observed peer.
        peer: P,
        /// The observation token.
        token: Token,
        /// Observe sequence number, `None` on a final response without Observe.
        seq: Option<u32>,
        /// The notification, all blocks joined. Only if the registering
        /// request is unknown (accepted without one) is a block-wise
        /// notification delivered as its first block, Block2 option kept.
        response: Response,
        /// The server ended the observation (error code or no Observe option,
        /// RFC 7641 §3.2); the endpoint has forgotten it.
        ended: bool,
    },
    /// A notification whose token this endpoint does not know. Another node
    /// may own the observation: decide with `accept_unmatched` or `reject_unmatched`.
    UnmatchedResponse {
        /// Who sent it.
        peer: P,
        /// Pass back to `accept_unmatched` / `reject_unmatched`.
        handle: UnmatchedHandle,
        /// The notification as received (first block only if block-wise).
        response: Response,
    },
    /// An observer of ours rejected a notification (RST) or did not ACK a CON one.
    ObservationRejected {
        /// The observer.
        peer: P,
        /// The observation token.
        token: Token,
        /// RST or timeout.
        reason: RejectReason,
    },
}
