//! CoAP over DTLS (`coaps`, port 5684): a second driver next to the plain
//! one, with the sans-IO DTLS engine (`lwm2m-dtls`) between its socket and
//! its `CoapEndpoint`, keyed by DTLS session so a device keeps its
//! exchanges when its address changes (Connection ID, RFC 9146).
//!
//! - `driver`: the task owning the DTLS socket, the `DtlsServer` and the
//!   endpoint; PSK lookups run in spawned tasks and answer through a channel.
//! - `forwarding`: Connection-ID routing between cluster nodes (records
//!   for another node's sessions go to it; its replies come back out here).
//! - `moves`, `sender`: who sent a request that names no registration
//!   (Send): the device the session's identity names, else the session's
//!   addresses, including those of moves the store has not seen yet.
//! - `binding`: whether the identity a handshake proved may register as an
//!   endpoint (Register → 4.03 otherwise).
//!
//! Devices reached over DTLS are stored with `coaps://ip:port` as their
//! address (see `peer`), so downlinks on any node pick this driver.

pub(crate) mod binding;
pub(crate) mod driver;
pub(crate) mod failures;
pub(crate) mod forwarding;
pub(crate) mod moves;
pub(crate) mod sender;

use crate::node::Node;

/// The key for a PSK identity: the configured static keys first, then the
/// registry. `None` (unknown, or the registry is unreachable) fails the
/// handshake; the device retries later.
pub(crate) async fn psk(node: &Node, identity: &[u8]) -> Option<Vec<u8>> {
    if let Some(found) = node
        .config
        .static_psks
        .iter()
        .find(|p| p.identity == identity)
    {
        return Some(found.key.clone());
    }
    let directory = node.directory.as_ref()?;
    // Registry identities are UTF-8 (1 to 128 bytes); anything else is unknown.
    let identity = std::str::from_utf8(identity).ok()?;
    match directory.psk(identity).await {
        Ok(found) => found.map(|record| record.key.expose().to_vec()),
        Err(e) => {
            tracing::warn!(error = %e, "PSK lookup failed: handshake refused");
            None
        }
    }
}
