//! The node's place in a cluster of transport nodes.
//!
//! - `identity`: which node id (0–255, the first byte of the DTLS
//!   Connection IDs this node issues) the node holds — from configuration,
//!   from a StatefulSet pod's ordinal, or the lowest free one — and the
//!   lease in the cluster store that proves no other live node holds it,
//!   kept alive by a heartbeat. The lease record is also the node's
//!   membership record (its gRPC address).
//! - `members`: the other nodes' forwarding addresses, refreshed from the
//!   lease records; `frame`: the authenticated frame in which DTLS records
//!   travel between nodes (see `secure::forwarding`).
//! - `parking`: DTLS sessions parked in the cluster store when the node
//!   stops and taken back by the next node with the same id, so a rolling
//!   restart costs devices no handshake; and the sequence-number
//!   reservations that let the next holder take sessions over after a
//!   crash; `adoption`: a live node holding a dead node's id (and serving
//!   its sessions) until that node is back.
//!
//! Without a cluster store (plain tests) the configured id is used as is.

pub(crate) mod adoption;
pub mod frame;
pub(crate) mod identity;
pub(crate) mod members;
pub(crate) mod parking;
#[cfg(test)]
pub(crate) mod test_sessions;

use std::net::SocketAddr;
use std::time::Duration;

/// Where the node id comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NodeIdSource {
    /// `dtls.node_id` as configured.
    #[default]
    Fixed,
    /// The ordinal of a Kubernetes StatefulSet pod: the number after the
    /// last `-` of this hostname (`lwm2m-transport-2` → 2).
    Ordinal { hostname: String },
    /// The lowest id no live node holds.
    Lease,
}

/// Cluster settings of a node.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub node_id_source: NodeIdSource,
    /// A lease not renewed for this long lapses (a crashed node's id is
    /// free again after it).
    pub lease_ttl: Duration,
    /// How often the lease is renewed; well below `lease_ttl`.
    pub heartbeat: Duration,
    /// How long parked DTLS sessions wait for the next node with this id.
    pub parked_session_ttl: Duration,
    /// Internal UDP address where other nodes forward DTLS records whose
    /// Connection ID names this node. `None`: no forwarding (one node).
    pub forward_bind: Option<SocketAddr>,
    /// The forwarding address other nodes use; default: the bound one.
    pub forward_advertise: Option<String>,
    /// Authenticates forwarded frames; the same on every node, kept secret:
    /// [`KEY_LEN`] random bytes ([`decode_key`] reads them from text).
    pub key: Vec<u8>,
    /// DTLS record sequence numbers each session reserves in the cluster
    /// store at a time (0: none; then a crashed node's sessions cannot be
    /// taken over, only parked ones). One store write per handshake and per
    /// half block of records sent.
    pub sequence_block: u64,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("node_id_source", &self.node_id_source)
            .field("lease_ttl", &self.lease_ttl)
            .field("heartbeat", &self.heartbeat)
            .field("parked_session_ttl", &self.parked_session_ttl)
            .field("forward_bind", &self.forward_bind)
            .field("forward_advertise", &self.forward_advertise)
            .field("key", &"<redacted>")
            .field("sequence_block", &self.sequence_block)
            .finish()
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_id_source: NodeIdSource::Fixed,
            lease_ttl: Duration::from_secs(15),
            heartbeat: Duration::from_secs(5),
            parked_session_ttl: Duration::from_secs(600),
            forward_bind: None,
            forward_advertise: None,
            key: Vec::new(),
            sequence_block: 4096,
        }
    }
}

/// Bytes in a cluster key.
pub const KEY_LEN: usize = 32;

/// Reads a cluster key written as text: [`KEY_LEN`] bytes in hex (64
/// characters) or base64 (standard or URL-safe, padded or not); spaces
/// around it (a file's newline) are ignored. Anything else, a passphrase
/// above all, is refused: frames are only as strong as the key's entropy.
pub fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let text = text.trim();
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let key = if text.len() == 2 * KEY_LEN {
        hex::decode(text).ok()
    } else {
        engines.iter().find_map(|e| e.decode(text).ok())
    };
    match key {
        Some(key) if key.len() == KEY_LEN => Ok(key),
        _ => Err(format!(
            "the cluster key must be {KEY_LEN} random bytes, written as hex (64 characters) or \
             base64 (44); make one with `openssl rand -hex {KEY_LEN}`"
        )),
    }
}

impl ClusterConfig {
    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        if self.heartbeat.is_zero() || self.heartbeat.saturating_mul(2) > self.lease_ttl {
            return Err(crate::Error::Config(format!(
                "cluster heartbeat ({:?}) must be above 0 and at most half the lease TTL ({:?})",
                self.heartbeat, self.lease_ttl
            )));
        }
        if self.forward_bind.is_some() && self.key.len() != KEY_LEN {
            return Err(crate::Error::Config(format!(
                "record forwarding needs a cluster key of {KEY_LEN} random bytes, not {}",
                self.key.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 14: 32 random bytes in hex or base64; passphrases, short
    /// keys and other lengths are refused.
    #[test]
    fn cluster_keys_are_32_bytes_in_hex_or_base64() {
        let bytes: Vec<u8> = (0..32).collect();
        let hex_key = hex::encode(&bytes);
        assert_eq!(decode_key(&hex_key).unwrap(), bytes);
        assert_eq!(
            decode_key(&format!("{}\n", hex_key.to_uppercase())).unwrap(),
            bytes
        );
        use base64::Engine as _;
        for e in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            assert_eq!(decode_key(&e.encode(&bytes)).unwrap(), bytes);
        }
        for bad in [
            "",
            "0123456789abcdef0123",
            "the cluster's shared secret",
            &hex::encode(&bytes[..16]),
            &hex::encode([&bytes[..], &bytes[..1]].concat()),
            &"x".repeat(64),
        ] {
            let e = decode_key(bad).unwrap_err();
            assert!(e.contains("32 random bytes"), "{bad:?}: {e}");
        }
        let config = ClusterConfig {
            forward_bind: Some("127.0.0.1:0".parse().unwrap()),
            key: b"0123456789abcdef0123".to_vec(),
            ..ClusterConfig::default()
        };
        assert!(config.validate().is_err());
        let config = ClusterConfig {
            key: bytes,
            ..config
        };
        assert!(config.validate().is_ok());
    }
}
