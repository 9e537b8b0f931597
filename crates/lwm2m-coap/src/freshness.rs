//! Notification ordering (RFC 7641 §3.4).
//!
//! Public so an upper layer that keeps observation state outside this
//! endpoint (e.g. in a cluster-wide store) applies the same rule.

use std::time::{Duration, Instant};

/// After this long without a notification, any new one counts as fresh
/// (the 24-bit sequence number may have wrapped or the server restarted).
pub const FRESHNESS_WINDOW: Duration = Duration::from_secs(128);

const HALF: u32 = 1 << 23;
const MASK: u32 = (1 << 24) - 1;

/// True if a notification `(v2, t2)` is newer than the last accepted `(v1, t1)`.
///
/// Implements the RFC 7641 §3.4 rule on 24-bit sequence numbers:
/// `(V1 < V2 and V2 - V1 < 2^23) or (V1 > V2 and V1 - V2 > 2^23) or T2 > T1 + 128 s`.
/// Values above 24 bits are masked.
pub fn is_fresh(v1: u32, t1: Instant, v2: u32, t2: Instant) -> bool {
    let (v1, v2) = (v1 & MASK, v2 & MASK);
    (v1 < v2 && v2 - v1 < HALF)
        || (v1 > v2 && v1 - v2 > HALF)
        || t2
            .checked_duration_since(t1)
            .is_some_and(|d| d > FRESHNESS_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_increase_and_equal() {
        let t = Instant::now();
        assert!(is_fresh(1, t, 2, t));
        assert!(!is_fresh(2, t, 1, t));
        assert!(!is_fresh(5, t, 5, t), "a repeat is not newer");
    }

    #[test]
    fn wrap_around() {
        let t = Instant::now();
        assert!(is_fresh(MASK, t, 0, t), "2^24-1 -> 0 wraps forward");
        assert!(is_fresh(MASK - 10, t, 5, t));
        assert!(!is_fresh(5, t, MASK - 10, t));
    }

    #[test]
    fn half_range_boundaries() {
        let t = Instant::now();
        assert!(is_fresh(0, t, HALF - 1, t));
        assert!(
            !is_fresh(0, t, HALF, t),
            "exactly 2^23 ahead is ambiguous: stale"
        );
        assert!(!is_fresh(HALF, t, 0, t), "V1 - V2 = 2^23 is not > 2^23");
        assert!(is_fresh(HALF + 1, t, 0, t));
    }

    #[test]
    fn time_window() {
        let t = Instant::now();
        assert!(!is_fresh(10, t, 3, t + FRESHNESS_WINDOW));
        assert!(is_fresh(
            10,
            t,
            3,
            t + FRESHNESS_WINDOW + Duration::from_millis(1)
        ));
        assert!(
            !is_fresh(10, t + FRESHNESS_WINDOW * 2, 3, t),
            "time going backwards never helps"
        );
    }

    #[test]
    fn values_are_masked_to_24_bits() {
        let t = Instant::now();
        assert!(is_fresh(1 << 24, t, 1, t), "2^24 is 0");
    }
}
