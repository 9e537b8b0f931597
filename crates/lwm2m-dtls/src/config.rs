//! Server configuration and limits.

use std::time::Duration;

use crate::error::Error;
use crate::pki::key::PrivateKey;
use crate::suites::CipherSuite;

/// Configuration of a [`crate::DtlsServer`]. `ServerConfig::default()` is
/// what the transport uses unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Suites we negotiate, in our order of preference: the first one the
    /// client also offers wins. Default [`CipherSuite::DEFAULT`]: the AEAD
    /// suites, CCM_8 first; the CBC suites of [`CipherSuite::ALL`] only
    /// when configured (Lucky13-style timing).
    pub cipher_suites: Vec<CipherSuite>,
    /// Length of the Connection IDs we issue: 0 disables CID, else 4..=32
    /// (default 8). The first byte is `node_id`.
    pub connection_id_length: usize,
    /// This node's id, the first byte of every CID we issue (multi-node routing).
    pub node_id: u8,
    /// Largest datagram we send (default 1200: fits IPv6 minimum MTU with room).
    pub mtu: usize,
    /// First retransmission timeout of a flight (RFC 6347: 1 s).
    pub initial_retransmit: Duration,
    /// Retransmission back-off cap (RFC 6347: 60 s).
    pub max_retransmit: Duration,
    /// A handshake not complete after this long is dropped (default 30 s).
    /// Also how long the last flight is kept after completion.
    pub handshake_timeout: Duration,
    /// How long a cookie secret is used before rotation (default 60 s);
    /// cookies from the previous secret are still accepted.
    pub cookie_secret_lifetime: Duration,
    /// Established sessions with no record from the peer for this long are
    /// closed (default 48 h: longer than the usual one-day registration
    /// lifetime, so a device that updates in time keeps its session;
    /// `None`: never, for devices that sleep longer).
    pub session_idle_timeout: Option<Duration>,
    /// Refuse clients without RFC 7627 extended master secret (default
    /// true: without it the master secret is not bound to the handshake,
    /// RFC 7627 §1). Set false for old clients that lack it (e.g.
    /// tinydtls-based devices).
    pub require_extended_master_secret: bool,
    /// Reserve epoch-1 sequence numbers in blocks of this size (default
    /// `None`: no reservation). With `Some(block)` an established session
    /// writes no record past the limit its driver last confirmed: it asks
    /// for the next block with `Event::ReserveSequenceNumbers` (carrying an
    /// export blob to store) once half the block is used, and application
    /// data waits while a reservation is outstanding at the limit. A node
    /// that takes the session over after a crash imports the stored blob
    /// with `seq_skip = block` and so never reuses a sequence number (AEAD
    /// nonce). See `docs/cluster.md`.
    pub sequence_reservation: Option<u64>,
    /// Limits on state a peer can make us hold.
    pub limits: Limits,
    /// Key, certificate chain and client-authentication policy for the
    /// ECDHE_ECDSA suites (RPK and X.509 modes). `None` (default): PSK only.
    pub certificate: Option<CertificateConfig>,
}

/// The certificate modes (RFC 7250 raw public keys and X.509), used by the
/// TLS_ECDHE_ECDSA_* suites on secp256r1. The server always authenticates
/// the client (LwM2M needs the device's identity); what the client proved
/// is handed to the caller in `Event::HandshakeComplete` to compare with
/// the device's stored credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateConfig {
    /// The server's P-256 key: signs ServerKeyExchange.
    pub private_key: PrivateKey,
    /// The server's X.509 chain, DER, leaf first (see
    /// [`crate::pem_certificates`]). Empty: the server has only a raw public
    /// key, and clients that cannot take one cannot use these suites.
    pub certificate_chain: Vec<Vec<u8>>,
    /// Accept clients that authenticate with a raw public key; the caller
    /// compares `PeerCredential::RawPublicKey` with the device's key.
    pub accept_raw_public_keys: bool,
    /// CA certificates (DER) that client certificate chains must lead to.
    /// Empty: X.509 clients are refused.
    pub trust_anchors: Vec<Vec<u8>>,
    /// Accept client certificates past their notAfter (signatures, issuers
    /// and constraints are still checked). Default false.
    pub accept_expired_certificates: bool,
}

impl CertificateConfig {
    /// A raw-public-key-only configuration for `private_key` that accepts
    /// clients' raw public keys.
    pub fn raw_public_key(private_key: PrivateKey) -> Self {
        Self {
            private_key,
            certificate_chain: Vec::new(),
            accept_raw_public_keys: true,
            trust_anchors: Vec::new(),
            accept_expired_certificates: false,
        }
    }

    /// An X.509 configuration from PEM text: the server's key, its chain
    /// (leaf first) and the CA certificates client chains must lead to.
    /// Raw public keys are not accepted (set the field to allow them).
    pub fn x509_from_pem(key_pem: &str, chain_pem: &str, trust_pem: &str) -> Result<Self, Error> {
        Ok(Self {
            private_key: PrivateKey::from_pem(key_pem)?,
            certificate_chain: crate::pki::key::pem_certificates(chain_pem)?,
            accept_raw_public_keys: false,
            trust_anchors: crate::pki::key::pem_certificates(trust_pem)?,
            accept_expired_certificates: false,
        })
    }
}

/// Upper bounds on state; beyond them new work is refused and counted in
/// [`crate::Stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Handshakes in progress at once (default 10,000).
    pub max_handshakes: usize,
    /// Sessions (handshaking + established) at once (default 200,000).
    pub max_sessions: usize,
    /// Handshakes in progress at once from one IP address, any port
    /// (default 256: devices behind one carrier NAT may reconnect together,
    /// but one host cannot take every handshake slot).
    pub max_handshakes_per_ip: usize,
    /// Bytes one handshake may buffer: handshake messages being reassembled
    /// (allocated as fragments arrive, not at their announced length) and
    /// records deferred until the keys are known (default 24 KiB: a
    /// 16 KiB certificate chain and the rest of its flight).
    pub max_handshake_buffer: usize,
    /// Encrypted records buffered per handshake while the keys are not yet
    /// known, e.g. while the PSK lookup runs (default 8).
    pub max_deferred_records: usize,
    /// Application records held per session while a sequence-number
    /// reservation is outstanding at the limit (default 32); beyond it they
    /// are dropped and counted (CoAP retransmits).
    pub max_records_awaiting_reservation: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_handshakes: 10_000,
            max_sessions: 200_000,
            max_handshakes_per_ip: 256,
            max_handshake_buffer: 24 * 1024,
            max_deferred_records: 8,
            max_records_awaiting_reservation: 32,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            cipher_suites: CipherSuite::DEFAULT.to_vec(),
            connection_id_length: 8,
            node_id: 0,
            mtu: 1200,
            initial_retransmit: Duration::from_secs(1),
            max_retransmit: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(30),
            cookie_secret_lifetime: Duration::from_secs(60),
            session_idle_timeout: Some(Duration::from_secs(48 * 3600)),
            require_extended_master_secret: true,
            sequence_reservation: None,
            limits: Limits::default(),
            certificate: None,
        }
    }
}

impl ServerConfig {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.cipher_suites.is_empty() {
            return Err(Error::InvalidConfig("cipher_suites is empty"));
        }
        if self.connection_id_length != 0 && !(4..=32).contains(&self.connection_id_length) {
            return Err(Error::InvalidConfig(
                "connection_id_length must be 0 or 4..=32",
            ));
        }
        if !(200..=16384).contains(&self.mtu) {
            return Err(Error::InvalidConfig("mtu must be in 200..=16384"));
        }
        if self.initial_retransmit.is_zero() || self.max_retransmit < self.initial_retransmit {
            return Err(Error::InvalidConfig("retransmission timeouts"));
        }
        if self.handshake_timeout.is_zero() || self.cookie_secret_lifetime.is_zero() {
            return Err(Error::InvalidConfig("timeouts must be non-zero"));
        }
        if self.limits.max_sessions == 0
            || self.limits.max_handshakes == 0
            || self.limits.max_handshakes_per_ip == 0
        {
            return Err(Error::InvalidConfig("limits must be non-zero"));
        }
        // Half a block is asked for ahead; below 2 there is no half.
        if self
            .sequence_reservation
            .is_some_and(|block| !(2..=1 << 40).contains(&block))
        {
            return Err(Error::InvalidConfig(
                "sequence_reservation must be in 2..=2^40",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_values_rejected() {
        assert!(ServerConfig::default().validate().is_ok());
        let bad = ServerConfig {
            connection_id_length: 2,
            ..ServerConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = ServerConfig {
            cipher_suites: vec![],
            ..ServerConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
