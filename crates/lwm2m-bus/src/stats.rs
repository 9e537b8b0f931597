//! Counters of a bus, for metrics and health checks.
//!
//! Every counter is monotonic except the gauges `buffered` and `subscribers`.
//! `dropped` exists so dashboards can show it and alert if it ever moves:
//! by design neither bus drops an accepted event (the Kafka bus refuses new
//! ones with backpressure instead), so it stays 0.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a bus's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Events accepted by `publish`.
    pub published: u64,
    /// Events the destination confirmed (Kafka: acked by all in-sync
    /// replicas; memory bus: handed to the broadcast channel).
    pub delivered: u64,
    /// Events the destination rejected for good (e.g. record too large,
    /// topic not authorized); logged with their event id.
    pub failed: u64,
    /// Gauge: accepted events not yet delivered or failed.
    pub buffered: u64,
    /// Capacity of the outgoing buffer (`buffered` never exceeds it).
    pub capacity: u64,
    /// `publish` or `try_reserve` calls refused with backpressure.
    pub rejected: u64,
    /// Accepted events that were thrown away. Always 0 by design.
    pub dropped: u64,
    /// Gauge: live local subscriptions.
    pub subscribers: u64,
    /// Events local subscribers missed because they fell behind.
    pub lagged: u64,
}

/// The live counters behind [`BusStats`], shared between the bus handle, its
/// background task and its subscription streams.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub published: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
    pub lagged: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// A snapshot; `buffered` is derived so it can never drift from the
    /// counters it summarises.
    pub fn snapshot(&self, capacity: u64, subscribers: u64) -> BusStats {
        let delivered = Self::get(&self.delivered);
        let failed = Self::get(&self.failed);
        let published = Self::get(&self.published);
        BusStats {
            published,
            delivered,
            failed,
            buffered: published.saturating_sub(delivered + failed),
            capacity,
            rejected: Self::get(&self.rejected),
            dropped: 0,
            subscribers,
            lagged: Self::get(&self.lagged),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_is_published_minus_settled() {
        let c = Counters::default();
        Counters::add(&c.published, 10);
        Counters::add(&c.delivered, 6);
        Counters::add(&c.failed, 1);
        let s = c.snapshot(100, 2);
        assert_eq!(
            (s.buffered, s.capacity, s.subscribers, s.dropped),
            (3, 100, 2, 0)
        );
    }
}
