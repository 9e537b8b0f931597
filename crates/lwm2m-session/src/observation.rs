//! Observations shared across the cluster.
//!
//! A notification can arrive at any node (NAT rebinding, load balancer), so
//! the node that sent the Observe cannot keep the observation to itself:
//! every node must be able to match a token to its observation and decide
//! whether a notification is newer than the last one seen (RFC 7641 §3.4),
//! wherever that one arrived.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::validate;

/// RFC 7641 §3.4: sequence numbers are 24 bits and compared modulo 2^24
/// within a window of 2^23.
const SEQ_WINDOW: u32 = 1 << 23;
/// RFC 7641 §3.4: after 128 s a notification is fresh whatever its number.
const FRESHNESS_TIMEOUT_MS: i64 = 128_000;

/// An active Observe (or Observe-Composite) relationship with a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// CoAP token of the Observe request (0..=8 bytes), stored as hex.
    #[serde(with = "hex::serde")]
    pub token: Vec<u8>,
    pub endpoint: String,
    /// The registration the observation was made under; re-registration
    /// cancels it.
    pub registration_id: String,
    /// One path for Observe, several for Observe-Composite.
    pub paths: Vec<String>,
    pub composite: bool,
    /// Content format requested (`Accept`), if any.
    pub content_format: Option<u16>,
    pub created_at_ms: i64,
    /// Observe sequence number of the freshest notification so far.
    pub last_seq: Option<u32>,
    /// When that notification arrived (unix ms).
    pub last_notification_ms: Option<i64>,
    /// Free-form data of the caller (e.g. who asked for the observation).
    pub context: BTreeMap<String, String>,
}

/// Whether a notification is newer than the last one recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Newer: it was recorded and should be delivered.
    Fresh,
    /// Reordered or duplicated: drop it.
    Stale,
}

impl Observation {
    /// Refuses tokens over 8 bytes, empty path lists and invalid endpoints.
    pub fn validate(&self) -> Result<()> {
        validate::endpoint(&self.endpoint)?;
        validate::registration_id(&self.registration_id)?;
        validate::token(&self.token)?;
        if self.paths.is_empty() {
            return Err(crate::SessionError::invalid(
                "paths",
                "an observation needs at least one path",
            ));
        }
        Ok(())
    }

    /// Whether `other` observes the same thing (same kind, same paths):
    /// a device has at most one observation of a path.
    pub fn same_target(&self, other: &Observation) -> bool {
        self.composite == other.composite && self.paths == other.paths
    }

    /// The observation after a notification with sequence number `seq`
    /// arrived at `now_ms`, or `None` if that notification is not fresher
    /// than the last one recorded (RFC 7641 §3.4).
    pub fn notified(&self, seq: u32, now_ms: i64) -> Option<Observation> {
        let fresh = match (self.last_seq, self.last_notification_ms) {
            (Some(v1), Some(t1)) => is_fresher(v1, t1, seq, now_ms),
            _ => true,
        };
        fresh.then(|| {
            let mut next = self.clone();
            next.last_seq = Some(seq);
            next.last_notification_ms = Some(now_ms);
            next
        })
    }
}

/// RFC 7641 §3.4: is notification (v2, t2) newer than (v1, t1)?
fn is_fresher(v1: u32, t1: i64, v2: u32, t2: i64) -> bool {
    let (v1, v2) = (v1 & 0x00FF_FFFF, v2 & 0x00FF_FFFF);
    (v1 < v2 && v2 - v1 < SEQ_WINDOW)
        || (v1 > v2 && v1 - v2 > SEQ_WINDOW)
        || t2 > t1.saturating_add(FRESHNESS_TIMEOUT_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs() -> Observation {
        Observation {
            token: vec![0xde, 0xad],
            endpoint: "dev".into(),
            registration_id: "r1".into(),
            paths: vec!["/3/0/9".into()],
            composite: false,
            content_format: None,
            created_at_ms: 0,
            last_seq: None,
            last_notification_ms: None,
            context: BTreeMap::new(),
        }
    }

    #[test]
    fn first_notification_is_fresh() {
        let n = obs().notified(7, 10).unwrap();
        assert_eq!(n.last_seq, Some(7));
        assert_eq!(n.last_notification_ms, Some(10));
    }

    #[test]
    fn rfc7641_ordering() {
        assert!(is_fresher(5, 0, 6, 0));
        assert!(!is_fresher(6, 0, 5, 0));
        assert!(!is_fresher(5, 0, 5, 0));
        // Wrap-around: 2^24-1 then 0 is newer.
        assert!(is_fresher(0xFF_FFFF, 0, 0, 0));
        assert!(!is_fresher(0, 0, 0xFF_FFFF, 0));
        // After 128 s anything is fresh.
        assert!(is_fresher(6, 0, 5, 128_001));
        assert!(!is_fresher(6, 0, 5, 128_000));
    }

    #[test]
    fn token_serializes_as_hex() {
        let json = serde_json::to_value(obs()).unwrap();
        assert_eq!(json["token"], "dead");
        let back: Observation = serde_json::from_value(json).unwrap();
        assert_eq!(back, obs());
    }

    #[test]
    fn validation() {
        assert!(obs().validate().is_ok());
        let mut o = obs();
        o.token = vec![0; 9];
        assert!(o.validate().is_err());
        let mut o = obs();
        o.paths.clear();
        assert!(o.validate().is_err());
        let mut o = obs();
        o.token.clear();
        assert!(o.validate().is_ok(), "an empty token is a valid CoAP token");
    }
}
