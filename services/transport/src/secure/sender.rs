//! The registration a request that names none (Send, `POST /dp`) speaks
//! for. Over DTLS the session, not the source address, says who the sender
//! is: a PSK identity the registry knows names exactly one device, so that
//! device's registration is the sender wherever its records come from (a
//! NAT rebinding, another node after a take-over). Identities the registry
//! cannot name (static keys, raw keys, certificates, no registry) fall back
//! to the session's addresses (`Node::sender`, which follows unsettled
//! moves). Either way `binding::check_owner` then checks the identity.

use lwm2m_dtls::PeerCredential;
use lwm2m_session::Registration;

use crate::error::Error;
use crate::node::Node;
use crate::peer::Peer;
use crate::provisioning::Channel;

/// The sender of a request from `peer` over `channel`.
pub(crate) async fn sender(
    node: &Node,
    peer: Peer,
    channel: &Channel,
) -> Result<Registration, Error> {
    if let Some(reg) = by_identity(node, channel).await? {
        return Ok(reg);
    }
    node.sender(peer).await
}

/// The DTLS registration of the device whose PSK identity the session
/// proved, if the registry names one.
async fn by_identity(node: &Node, channel: &Channel) -> Result<Option<Registration>, Error> {
    let (Channel::Dtls(credential), Some(directory)) = (channel, &node.directory) else {
        return Ok(None);
    };
    let PeerCredential::Psk { identity } = credential.as_ref() else {
        return Ok(None);
    };
    let Ok(identity) = std::str::from_utf8(identity) else {
        return Ok(None);
    };
    let Some(record) = directory.psk(identity).await? else {
        return Ok(None);
    };
    let reg = node
        .sessions
        .get_by_endpoint(&record.endpoint)
        .await
        .map_err(|e| node.store_error(e))?;
    // Only a registration made over DTLS: a plain one is refused by the
    // owner check, which the address path reports the same way.
    Ok(reg.filter(|r| Peer::parse(&r.address).is_some_and(|p| p.secure)))
}
