//! Rate limit for the INFO lines an operator reads to find out why a device
//! cannot connect (failed DTLS handshakes, refused Registers): at most one
//! line per source IP per interval, so a flood from one source cannot fill
//! the disk; the next line allowed says how many were suppressed meanwhile.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sources remembered at most; beyond it, sources quiet for an interval are
/// forgotten (and a flood of distinct sources shares one budget).
const MAX_SOURCES: usize = 10_000;

#[derive(Debug)]
pub(crate) struct LogLimiter {
    interval: Duration,
    /// Per source: when its last line was written, lines suppressed since.
    sources: Mutex<HashMap<IpAddr, (Instant, u64)>>,
}

impl LogLimiter {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a line about `source` may be written at `now`: `Some(n)` with
    /// the number of lines suppressed since the last one, or `None`.
    pub(crate) fn allow(&self, source: IpAddr, now: Instant) -> Option<u64> {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((last, suppressed)) = sources.get_mut(&source) {
            if now.saturating_duration_since(*last) < self.interval {
                *suppressed += 1;
                return None;
            }
            let n = *suppressed;
            *last = now;
            *suppressed = 0;
            return Some(n);
        }
        if sources.len() >= MAX_SOURCES {
            let interval = self.interval;
            sources.retain(|_, (last, _)| now.saturating_duration_since(*last) < interval);
            if sources.len() >= MAX_SOURCES {
                return None;
            }
        }
        sources.insert(source, (now, 0));
        Some(0)
    }
}

impl Default for LogLimiter {
    /// One line per source every 10 seconds.
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_source_per_interval_with_the_suppressed_count() {
        let limiter = LogLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(limiter.allow(a, t0), Some(0));
        assert_eq!(limiter.allow(a, t0 + Duration::from_secs(1)), None);
        assert_eq!(limiter.allow(a, t0 + Duration::from_secs(2)), None);
        // Another source has its own budget.
        assert_eq!(limiter.allow(b, t0 + Duration::from_secs(2)), Some(0));
        assert_eq!(limiter.allow(a, t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(limiter.allow(a, t0 + Duration::from_secs(11)), None);
    }
}
