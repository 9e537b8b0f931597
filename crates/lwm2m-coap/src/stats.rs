//! Counters for everything the endpoint drops, answers by itself or retries.
//! Exported as metrics by the transport; also what the tests assert on.

/// Endpoint counters. All values only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams passed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Transmits queued for the driver.
    pub datagrams_sent: u64,
    /// Datagrams larger than `max_message_size` (dropped unparsed).
    pub oversized: u64,
    /// Datagrams with a version other than 1 (ignored).
    pub wrong_version: u64,
    /// Datagrams with a format error (ignored, or RST for CON).
    pub malformed: u64,
    /// Duplicate CON messages (answered from the dedup cache).
    pub duplicate_con: u64,
    /// Duplicate NON messages (dropped).
    pub duplicate_non: u64,
    /// CON retransmissions sent.
    pub retransmissions: u64,
    /// CON messages given up after MAX_RETRANSMIT.
    pub transmit_timeouts: u64,
    /// Requests failed because their overall deadline passed.
    pub request_deadlines: u64,
    /// RST messages received.
    pub resets_received: u64,
    /// RST messages sent.
    pub resets_sent: u64,
    /// Empty ACKs sent ahead of a separate response.
    pub empty_acks_sent: u64,
    /// Notifications dropped as older than the last one (RFC 7641 §3.4).
    pub stale_notifications: u64,
    /// ACK/RST/responses that match nothing and were ignored or rejected.
    pub unmatched: u64,
    /// Notifications with an unknown token surfaced to the upper layer.
    pub unmatched_notifications: u64,
    /// Requests answered by the endpoint itself with an error (4.02, 4.05, 4.08, 4.13, 5.03).
    pub auto_error_responses: u64,
    /// Messages refused because a state limit was reached.
    pub dropped_overload: u64,
    /// Inbound exchanges dropped because the upper layer never responded.
    pub exchanges_expired: u64,
    /// Block2 requests answered from the body cache.
    pub block2_served_from_cache: u64,
    /// Block1 blocks received as part of an inbound upload.
    pub block1_received: u64,
}
