//! State of a request we received and that waits for the upper layer.

use std::time::Instant;

use crate::block::BlockOption;
use crate::token::Token;

#[derive(Debug)]
pub(super) struct InExchange<P> {
    pub(super) peer: P,
    pub(super) mid: u16,
    pub(super) token: Token,
    pub(super) confirmable: bool,
    /// An empty ACK went out: the response must be a separate message.
    pub(super) acked: bool,
    /// Block1 option to echo in the final response of a reassembled upload.
    pub(super) block1_echo: Option<BlockOption>,
    /// Block2 option of the request (early size negotiation or a later block).
    pub(super) block2: Option<BlockOption>,
    /// Method and options minus block options, to match follow-up blocks.
    pub(super) transfer_key: Vec<u8>,
    /// The request registers an observation (Observe = 0).
    pub(super) observe: bool,
    pub(super) auto_ack_at: Option<Instant>,
    pub(super) expires: Instant,
}

impl<P> InExchange<P> {
    /// The next instant something is due for this exchange.
    pub(super) fn next_deadline(&self) -> Instant {
        match self.auto_ack_at {
            Some(at) if !self.acked => at.min(self.expires),
            _ => self.expires,
        }
    }
}
