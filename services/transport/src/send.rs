//! The Send operation (`POST /dp`, LwM2M 1.1 §6.4.4 / Transport §6.4):
//! device-initiated SenML (JSON or CBOR) values with timestamps.
//!
//! A Send carries no endpoint name: over DTLS the session's identity names
//! the sender (`secure::sender`), over plain CoAP only its source address
//! can (see `address_index` for the NoSec limitation). An unknown
//! sender gets 4.04 Not Found, as Leshan answers (the server has no
//! registration for it, and the device should register again).

use std::sync::Arc;

use lwm2m_coap::{Request, Response, ResponseCode};
use lwm2m_core::ContentFormat;
use lwm2m_proto::events::v1::ValueSource;

use crate::clock::now_secs_f64;
use crate::decode;
use crate::error::Error;
use crate::events;
use crate::inbound::Outcome;
use crate::node::Node;
use crate::peer::Peer;
use crate::provisioning::Channel;
use crate::stats::Counters;

/// `POST /dp`: 2.04 with the values published as SEND; 4.03 when the DTLS
/// session's identity is not the sender registration's.
pub(crate) async fn send(
    node: &Arc<Node>,
    peer: Peer,
    channel: &Channel,
    request: &Request,
) -> Result<Outcome, Error> {
    let code = request
        .options
        .content_format()
        .ok_or_else(|| Error::BadRequest("Send without Content-Format".into()))?;
    let format = ContentFormat::from_code(code)
        .filter(|f| decode::senml(*f).is_some())
        .ok_or(Error::UnsupportedContentFormat(code))?;
    let reg = crate::secure::sender::sender(node, peer, channel).await?;
    // The address says which registration; the session must also be its.
    crate::secure::binding::check_owner(node, &reg, channel).await?;
    let values = {
        let versions = Node::versions(&reg);
        let models = node.models.for_device(&versions);
        let codec = decode::senml(format).ok_or(Error::UnsupportedContentFormat(code))?;
        decode::timestamped(codec, &request.payload, &models, now_secs_f64())
            .inspect_err(|_| Counters::inc(&node.counters.decode_failures))?
    };
    let reg = node.touch(&reg, peer).await;
    Counters::inc(&node.counters.sends);
    let event = events::values(ValueSource::Send, values, None);
    let mut out = Outcome::new(Response::new(ResponseCode::CHANGED), &reg, vec![event]);
    out.wake = Some((reg, peer));
    Ok(out)
}
