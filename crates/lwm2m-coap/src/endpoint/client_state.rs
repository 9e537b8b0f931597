//! State of requests we sent and observations we registered.

use std::time::Instant;

use crate::block::BlockOption;
use crate::block_download::BlockDownload;
use crate::block_upload::BlockUpload;
use crate::code::Method;
use crate::ids::RequestId;
use crate::message::Request;
use crate::options::number;
use crate::token::Token;
use crate::wire::{Frame, MsgType};

/// What a token currently identifies for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenUse {
    Request(RequestId),
    Observation(RequestId),
}

/// Why a request exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestPurpose {
    /// Sent by the upper layer; `observe` if it registers an observation.
    User { observe: bool },
    /// Internal GETs fetching the remaining blocks of a notification.
    NotificationTail {
        observation: RequestId,
        seq: u32,
        token: Token,
    },
}

/// One request we sent, possibly spanning several messages (blocks).
#[derive(Debug)]
pub(super) struct OutRequest<P> {
    pub(super) peer: P,
    /// Token of the message in flight (may change for Block2 follow-ups).
    pub(super) token: Token,
    /// The request as given by the upper layer, whole body included.
    pub(super) request: Request,
    pub(super) confirmable: bool,
    pub(super) deadline: Instant,
    /// The outgoing message currently waiting for ACK/response, if any.
    pub(super) msg: Option<u64>,
    pub(super) upload: Option<BlockUpload>,
    pub(super) download: Option<BlockDownload>,
    /// Block2 option for the next follow-up request.
    pub(super) next_block2: Option<BlockOption>,
    /// Preferred block size exponent for this request.
    pub(super) szx: u8,
    pub(super) purpose: RequestPurpose,
}

impl<P> OutRequest<P> {
    /// The message to send now (message id filled in by the caller).
    pub(super) fn frame(&self) -> Frame {
        let mut options = self.request.options.clone();
        let body = &self.request.payload;
        let payload = if let Some(upload) = &self.upload {
            let block = upload.current(body.len());
            options.set_block1(block);
            if block.num == 0 {
                options.set_uint(number::SIZE1, u32::try_from(body.len()).unwrap_or(u32::MAX));
            }
            upload.chunk(body).to_vec()
        } else if let Some(next) = self.next_block2 {
            // Follow-ups carry no Block1 or Observe (RFC 7959 §2.6, §3.4);
            // only FETCH keeps its body, which selects what is fetched.
            options.remove(number::BLOCK1);
            options.remove(number::SIZE1);
            options.remove(number::OBSERVE);
            options.set_block2(next);
            if self.request.method == Method::Fetch {
                body.clone()
            } else {
                Vec::new()
            }
        } else {
            body.clone()
        };
        Frame {
            mtype: if self.confirmable {
                MsgType::Con
            } else {
                MsgType::Non
            },
            code: self.request.method.code(),
            mid: 0,
            token: self.token,
            options,
            payload,
        }
    }
}

/// An observation we registered (client role).
#[derive(Debug)]
pub(super) struct Observation<P> {
    pub(super) peer: P,
    pub(super) token: Token,
    /// The registering request, for deregistration and block-wise notifications.
    pub(super) request: Option<Request>,
    pub(super) last_seq: u32,
    pub(super) last_at: Instant,
    /// Internal request fetching the rest of the latest block-wise notification.
    pub(super) tail: Option<RequestId>,
}
