//! Endpoint configuration: RFC 7252 transmission parameters, block-wise and
//! observe knobs, and the limits that bound memory under floods.

use std::time::Duration;

use crate::block::szx_for_size;
use crate::error::Error;

/// Upper bounds on per-endpoint state. Every table that a peer can make grow
/// has a limit here; when it is reached, new work is refused (and counted in
/// [`crate::Stats`]) instead of growing memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deduplication records across all peers.
    pub max_dedup_entries: usize,
    /// Deduplication records for one peer.
    pub max_dedup_entries_per_peer: usize,
    /// Inbound requests waiting for [`crate::CoapEndpoint::respond`].
    pub max_pending_exchanges: usize,
    /// Requests this endpoint sent that have not completed (observations excluded).
    pub max_outstanding_requests: usize,
    /// Inbound Block1 reassemblies, and separately cached Block2 bodies.
    pub max_block_transfers: usize,
    /// Bytes held by inbound Block1 reassemblies, and separately by cached
    /// Block2 bodies; the oldest transfers are evicted beyond this.
    pub max_block_buffer_bytes: usize,
    /// Peers for which a message-id counter is kept.
    pub max_peers: usize,
    /// Locally cancelled observations remembered so their notifications get RST.
    pub max_forgotten_observations: usize,
    /// Observations this endpoint serves whose block-wise key is remembered.
    pub max_served_observations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_dedup_entries: 200_000,
            max_dedup_entries_per_peer: 1024,
            max_pending_exchanges: 10_000,
            max_outstanding_requests: 100_000,
            max_block_transfers: 1024,
            max_block_buffer_bytes: 32 * 1024 * 1024,
            max_peers: 200_000,
            max_forgotten_observations: 10_000,
            max_served_observations: 100_000,
        }
    }
}

/// Endpoint configuration. `Config::default()` follows RFC 7252 §4.8.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// ACK_TIMEOUT (default 2 s).
    pub ack_timeout: Duration,
    /// ACK_RANDOM_FACTOR (default 1.5, must be >= 1).
    pub ack_random_factor: f64,
    /// MAX_RETRANSMIT (default 4).
    pub max_retransmit: u32,
    /// EXCHANGE_LIFETIME: how long CON message ids are deduplicated (default 247 s).
    pub exchange_lifetime: Duration,
    /// NON_LIFETIME: how long NON message ids are deduplicated (default 145 s).
    pub non_lifetime: Duration,
    /// Default overall deadline for a request this endpoint sends, including
    /// all blocks and a separate response (default 247 s).
    pub request_timeout: Duration,
    /// Largest datagram accepted or produced, in bytes (default 1280).
    pub max_message_size: usize,
    /// Length of generated tokens, 0..=8 (default 8).
    pub token_length: usize,
    /// Preferred block size: 16..=1024, power of two (default 1024).
    pub preferred_block_size: u16,
    /// Largest body reassembled from blocks, in either direction (default 256 KiB).
    pub max_body_size: usize,
    /// How long an idle block-wise transfer (reassembly or cached Block2 body) is kept (default 120 s).
    pub block_transfer_lifetime: Duration,
    /// Send an empty ACK for a CON request when the upper layer has not
    /// responded after this delay; the response then goes out as a separate
    /// CON. `None` always waits for a piggybacked response (default 1 s).
    pub auto_ack_delay: Option<Duration>,
    /// Inbound requests not answered by the upper layer within this time are
    /// forgotten (default 247 s).
    pub exchange_timeout: Duration,
    /// Surface notifications with an unknown token as
    /// [`crate::Event::UnmatchedResponse`] (default). When false they are rejected with RST.
    pub surface_unmatched_notifications: bool,
    /// How long a locally cancelled observation's token is remembered so that
    /// its notifications are rejected without asking the upper layer (default 1 h).
    pub forgotten_observation_lifetime: Duration,
    /// Send separate responses as CON (default, retransmitted) or NON.
    pub separate_response_confirmable: bool,
    /// State limits.
    pub limits: Limits,
    /// Seed for tokens, message ids and jitter. The IO driver seeds it from
    /// the OS; tests use a constant for reproducibility.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(2),
            ack_random_factor: 1.5,
            max_retransmit: 4,
            exchange_lifetime: Duration::from_secs(247),
            non_lifetime: Duration::from_secs(145),
            request_timeout: Duration::from_secs(247),
            max_message_size: 1280,
            token_length: 8,
            preferred_block_size: 1024,
            max_body_size: 256 * 1024,
            block_transfer_lifetime: Duration::from_secs(120),
            auto_ack_delay: Some(Duration::from_secs(1)),
            exchange_timeout: Duration::from_secs(247),
            surface_unmatched_notifications: true,
            forgotten_observation_lifetime: Duration::from_secs(3600),
            separate_response_confirmable: true,
            limits: Limits::default(),
            seed: 0,
        }
    }
}

impl Config {
    /// Checks ranges; [`crate::CoapEndpoint::new`] calls this.
    pub fn validate(&self) -> Result<(), Error> {
        // The upper bound keeps the jittered timeout (a float product) finite.
        if self.ack_timeout.is_zero() || self.ack_timeout > Duration::from_secs(3600) {
            return Err(Error::InvalidConfig("ack_timeout must be in (0, 1 h]"));
        }
        if !(1.0..=16.0).contains(&self.ack_random_factor) {
            return Err(Error::InvalidConfig(
                "ack_random_factor must be in 1.0..=16.0",
            ));
        }
        if self.max_retransmit > 20 {
            return Err(Error::InvalidConfig("max_retransmit must be <= 20"));
        }
        if self.token_length > crate::token::MAX_TOKEN_LEN {
            return Err(Error::InvalidConfig("token_length must be <= 8"));
        }
        szx_for_size(self.preferred_block_size).map_err(|_| {
            Error::InvalidConfig("preferred_block_size must be a power of two in 16..=1024")
        })?;
        // Room for the header, an 8-byte token, some options and at least a 16-byte block;
        // the upper bound keeps coap-lite's 16-bit extended lengths valid.
        if !(64..=65_000).contains(&self.max_message_size) {
            return Err(Error::InvalidConfig(
                "max_message_size must be in 64..=65000",
            ));
        }
        if self.limits.max_dedup_entries_per_peer == 0 || self.limits.max_dedup_entries == 0 {
            return Err(Error::InvalidConfig("dedup limits must be > 0"));
        }
        Ok(())
    }

    /// The SZX of the preferred block size (assumes a validated config).
    pub(crate) fn preferred_szx(&self) -> u8 {
        szx_for_size(self.preferred_block_size).unwrap_or(6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_rfc() {
        let c = Config::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.ack_timeout, Duration::from_secs(2));
        assert_eq!(c.max_retransmit, 4);
        assert_eq!(c.preferred_szx(), 6);
    }

    #[test]
    fn rejects_out_of_range() {
        let bad = [
            Config {
                token_length: 9,
                ..Config::default()
            },
            Config {
                preferred_block_size: 2048,
                ..Config::default()
            },
            Config {
                preferred_block_size: 1000,
                ..Config::default()
            },
            Config {
                ack_random_factor: 0.5,
                ..Config::default()
            },
            Config {
                ack_timeout: Duration::ZERO,
                ..Config::default()
            },
            Config {
                ack_timeout: Duration::MAX,
                ..Config::default()
            },
            Config {
                max_message_size: 10,
                ..Config::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
