//! Counters for everything the server drops, refuses or retries; exported as
//! metrics by the transport and asserted on by tests.

/// Server counters. All values only grow; gauges are methods on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams passed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams queued for sending.
    pub datagrams_sent: u64,
    /// Records that could not be parsed (the rest of the datagram is dropped).
    pub malformed_records: u64,
    /// Records for no known session (unknown address or CID).
    pub unknown_peer_records: u64,
    /// Records that failed authentication or had wrong CID framing.
    pub bad_records: u64,
    /// Records dropped by the replay window.
    pub replayed_records: u64,
    /// Epoch-1 records buffered until the keys were known.
    pub deferred_records: u64,
    /// HelloVerifyRequests sent (stateless).
    pub hello_verify_requests: u64,
    /// ClientHellos with a cookie that did not verify.
    pub bad_cookies: u64,
    /// ClientHellos dropped because they were fragmented before the cookie
    /// exchange (a stateless server cannot reassemble them).
    pub fragmented_client_hellos: u64,
    /// Handshakes started (cookie verified, state created).
    pub handshakes_started: u64,
    /// Handshakes completed.
    pub handshakes_completed: u64,
    /// Handshakes aborted with an alert (sent or received).
    pub handshakes_failed: u64,
    /// Failed handshakes and refused ClientHellos by cause (each also
    /// raises an `Event::HandshakeFailed`).
    pub handshake_failures: HandshakeFailures,
    /// Handshakes dropped at `handshake_timeout`.
    pub handshakes_timed_out: u64,
    /// Handshakes refused because `max_handshakes` or `max_sessions` was reached.
    pub handshakes_refused: u64,
    /// Flights retransmitted (on timeout or on a retransmitted peer flight).
    pub retransmissions: u64,
    /// Alerts sent.
    pub alerts_sent: u64,
    /// Alerts received (authentic ones).
    pub alerts_received: u64,
    /// Renegotiation attempts refused with a no_renegotiation warning.
    pub renegotiations_refused: u64,
    /// Address changes followed thanks to a CID.
    pub peers_moved: u64,
    /// Sessions closed for idleness.
    pub sessions_idle_closed: u64,
    /// Established sessions closed to make room for a new handshake.
    pub sessions_evicted: u64,
    /// Sessions imported from a blob.
    pub sessions_imported: u64,
    /// Sequence-number reservations asked for (`ReserveSequenceNumbers`).
    pub sequence_reservations_requested: u64,
    /// Application records held until a reservation was confirmed.
    pub records_awaiting_reservation: u64,
    /// Application records dropped because too many were held.
    pub records_dropped_unreserved: u64,
}

/// Failed handshakes by [`crate::HandshakeFailure`] cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandshakeFailures {
    /// Unknown PSK identity.
    pub unknown_psk_identity: u64,
    /// Wrong key (the client's Finished did not verify or decrypt).
    pub wrong_key: u64,
    /// No cipher suite in common.
    pub no_common_cipher_suite: u64,
    /// Certificate or raw public key refused.
    pub bad_certificate: u64,
    /// ClientHello cookie did not verify.
    pub cookie_mismatch: u64,
    /// No common DTLS version.
    pub unsupported_version: u64,
    /// The client sent a fatal alert.
    pub alert_received: u64,
    /// Handshake timed out.
    pub timeout: u64,
    /// Other protocol errors.
    pub protocol: u64,
}

impl HandshakeFailures {
    /// Counts one failure.
    pub(crate) fn count(&mut self, cause: crate::HandshakeFailure) {
        use crate::HandshakeFailure as F;
        let c = match cause {
            F::UnknownPskIdentity => &mut self.unknown_psk_identity,
            F::WrongKey => &mut self.wrong_key,
            F::NoCommonCipherSuite => &mut self.no_common_cipher_suite,
            F::BadCertificate(_) => &mut self.bad_certificate,
            F::CookieMismatch => &mut self.cookie_mismatch,
            F::UnsupportedVersion => &mut self.unsupported_version,
            F::AlertReceived(_) => &mut self.alert_received,
            F::Timeout => &mut self.timeout,
            F::Protocol(_) => &mut self.protocol,
        };
        *c += 1;
    }
}
