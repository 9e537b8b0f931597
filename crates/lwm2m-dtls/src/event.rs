//! What the server hands back to its driver.

use std::net::SocketAddr;

use crate::suites::CipherSuite;

/// Stable handle of one handshake/session. It survives address changes
/// (CID) and is the key the CoAP layer should use for the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address.
    pub destination: SocketAddr,
    /// One or more DTLS records.
    pub bytes: Vec<u8>,
}

/// How the peer authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerCredential {
    /// Pre-shared key with this identity (the caller supplied the key).
    Psk {
        /// The PSK identity the client sent.
        identity: Vec<u8>,
    },
    /// A raw public key (RFC 7250) whose private key the client proved to
    /// hold. Nothing else vouches for it: compare it with the key stored
    /// for the device.
    RawPublicKey {
        /// The client's `SubjectPublicKeyInfo`, DER (a P-256 key).
        spki_der: Vec<u8>,
    },
    /// An X.509 chain that led to a configured trust anchor, with the
    /// client's proof of its key.
    X509 {
        /// The leaf certificate's subject Common Name (LwM2M: the endpoint
        /// name), if it has one.
        subject_cn: Option<String>,
        /// The chain as the client sent it, leaf first (for an exact match
        /// with the certificate stored for the device).
        chain_der: Vec<Vec<u8>>,
    },
}

/// Why a session or handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer sent close_notify.
    CloseNotify,
    /// The peer sent a fatal alert with this description.
    AlertReceived(u8),
    /// We aborted the handshake or session with this fatal alert.
    AlertSent(u8),
    /// The handshake did not complete within `handshake_timeout`.
    HandshakeTimeout,
    /// No traffic within `session_idle_timeout`.
    IdleTimeout,
    /// The same address completed a new handshake, or started one while this
    /// handshake was still running.
    Replaced,
    /// Closed through the API.
    Local,
    /// Handed over to another node through the API: forgotten without a
    /// record (a close_notify would spend a sequence number the other node
    /// may use).
    HandedOver,
}

/// Events for the upper layer, from [`crate::DtlsServer::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client named a PSK identity: answer with
    /// [`crate::DtlsServer::provide_psk`] (asynchronously if needed; other
    /// peers are not held up meanwhile).
    NeedPsk {
        /// The handshake.
        session: SessionId,
        /// The client's address.
        peer: SocketAddr,
        /// The identity from ClientKeyExchange.
        identity: Vec<u8>,
    },
    /// The handshake completed; application data may flow.
    HandshakeComplete {
        /// The session.
        session: SessionId,
        /// The client's address.
        peer: SocketAddr,
        /// The CID we issued (the client puts it in its records), if any.
        cid: Option<Vec<u8>>,
        /// Whether the client asked for a CID in our records to it.
        peer_cid: Option<Vec<u8>>,
        /// The negotiated suite.
        suite: CipherSuite,
        /// How the client authenticated.
        credential: PeerCredential,
    },
    /// Decrypted application data.
    ApplicationData {
        /// The session.
        session: SessionId,
        /// Where it came from.
        peer: SocketAddr,
        /// The plaintext.
        data: Vec<u8>,
    },
    /// A valid CID record arrived from a new address (NAT rebinding); replies
    /// now go there. No new handshake was needed.
    PeerMoved {
        /// The session.
        session: SessionId,
        /// Previous address.
        old: SocketAddr,
        /// New address.
        new: SocketAddr,
    },
    /// Only with `ServerConfig::sequence_reservation`: store `blob` where a
    /// node taking the session over would find it (replacing the session's
    /// previous blob), then call [`crate::DtlsServer::confirm_reservation`]
    /// with `limit`, or [`crate::DtlsServer::reservation_failed`]. Whoever
    /// imports the blob passes the reservation block as `seq_skip`.
    ReserveSequenceNumbers {
        /// The session.
        session: SessionId,
        /// The session exported now (contains traffic keys: protect it).
        blob: Vec<u8>,
        /// The write limit that becomes valid once `blob` is stored.
        limit: u64,
    },
    /// The session or handshake is gone; its id will not be used again.
    Closed {
        /// The session.
        session: SessionId,
        /// The last known address.
        peer: SocketAddr,
        /// Why.
        reason: CloseReason,
    },
}
