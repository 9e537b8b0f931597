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
    /// The session table was full (`limits.max_sessions`) and a new
    /// handshake needed the room: the least recently active session goes,
    /// sessions marked registered last (a close_notify is sent).
    Evicted,
    /// Handed over to another node through the API: forgotten without a
    /// record (a close_notify would spend a sequence number the other node
    /// may use).
    HandedOver,
}

/// Why a handshake failed, as far as the server can tell: what an operator
/// needs to see why a device cannot connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeFailure {
    /// The PSK identity is unknown (the application had no key for it).
    UnknownPskIdentity,
    /// The client's Finished did not verify or could not be decrypted:
    /// almost always a wrong pre-shared key.
    WrongKey,
    /// The client offered no cipher suite we have enabled (for the
    /// certificate suites: none we can use with our configuration).
    NoCommonCipherSuite,
    /// The client's certificate or raw public key was refused (malformed,
    /// untrusted, expired, wrong type, or its CertificateVerify failed);
    /// the alert we sent.
    BadCertificate(u8),
    /// A ClientHello's cookie did not verify (spoofed source, or a cookie
    /// older than the secret rotation).
    CookieMismatch,
    /// The client supports no DTLS version we speak (only DTLS 1.2 here).
    UnsupportedVersion,
    /// The client aborted with this fatal alert (or a close_notify, 0).
    AlertReceived(u8),
    /// The handshake did not complete within `handshake_timeout`.
    Timeout,
    /// Any other protocol error; the alert we sent.
    Protocol(u8),
}

impl HandshakeFailure {
    /// A short, stable name for logs and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            HandshakeFailure::UnknownPskIdentity => "unknown_psk_identity",
            HandshakeFailure::WrongKey => "wrong_key",
            HandshakeFailure::NoCommonCipherSuite => "no_common_cipher_suite",
            HandshakeFailure::BadCertificate(_) => "bad_certificate",
            HandshakeFailure::CookieMismatch => "cookie_mismatch",
            HandshakeFailure::UnsupportedVersion => "unsupported_version",
            HandshakeFailure::AlertReceived(_) => "alert_received",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Protocol(_) => "protocol_error",
        }
    }
}

impl std::fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeFailure::BadCertificate(a)
            | HandshakeFailure::AlertReceived(a)
            | HandshakeFailure::Protocol(a) => write!(f, "{} (alert {a})", self.name()),
            _ => f.write_str(self.name()),
        }
    }
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
    /// A handshake failed (or a ClientHello was refused before any state
    /// was made: then `session` is `None`). For logs and counters; a
    /// `Closed` event follows when there was a session.
    HandshakeFailed {
        /// The handshake, if one had started.
        session: Option<SessionId>,
        /// The client's address.
        peer: SocketAddr,
        /// Why.
        cause: HandshakeFailure,
        /// The PSK identity the client named, if it got that far.
        identity: Option<Vec<u8>>,
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
