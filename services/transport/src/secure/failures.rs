//! The operator's trail of devices that cannot connect: each failed DTLS
//! handshake (counted by cause in the engine's stats, see
//! `lwm2m_dtls::Stats::handshake_failures`) and each Register refused with
//! 4.03 is logged at INFO with the peer, the identity or endpoint and the
//! cause, at most once per source IP per interval (`Node::refusal_log`).

use std::net::SocketAddr;
use std::time::Instant;

use lwm2m_dtls::HandshakeFailure;

use crate::node::Node;
use crate::stats::Counters;

/// Logs a failed handshake (rate-limited per source IP).
pub(crate) fn log_handshake_failure(
    node: &Node,
    peer: SocketAddr,
    cause: HandshakeFailure,
    identity: Option<&[u8]>,
) {
    let Some(suppressed) = node.refusal_log.allow(peer.ip(), Instant::now()) else {
        return;
    };
    let identity = identity.map(|i| String::from_utf8_lossy(i).into_owned());
    tracing::info!(
        %peer,
        identity = identity.as_deref().unwrap_or("-"),
        %cause,
        suppressed,
        "dtls handshake failed"
    );
}

/// Counts and logs a Register refused with 4.03 (rate-limited per source IP).
pub(crate) fn log_register_refused(node: &Node, peer: SocketAddr, endpoint: &str, reason: &str) {
    Counters::inc(&node.counters.registrations_refused);
    let Some(suppressed) = node.refusal_log.allow(peer.ip(), Instant::now()) else {
        return;
    };
    tracing::info!(%peer, endpoint, reason, suppressed, "register refused (4.03)");
}
