//! A min-heap of deadlines with lazy invalidation.
//!
//! Owners (outgoing messages, requests, inbound exchanges) keep their own
//! deadlines; the heap only says when to look. A popped entry whose owner has
//! moved on is simply skipped, so rescheduling never needs a heap search.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::ids::{ExchangeId, RequestId};

/// `at + d`, saturating far in the future instead of panicking on overflow
/// (durations come from configuration and per-request options).
pub(crate) fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(at)
}

/// What a timer entry refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// Retransmission of an outgoing message.
    Message(u64),
    /// Overall deadline of one of our requests.
    Request(RequestId),
    /// Auto-ACK or expiry of an inbound exchange.
    Exchange(ExchangeId),
}

#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
}

impl TimerQueue {
    pub(crate) fn schedule(&mut self, at: Instant, key: TimerKey) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest entry for which `is_live` holds; dead entries on top are dropped.
    pub(crate) fn next(&mut self, is_live: impl Fn(Instant, TimerKey) -> bool) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.heap.peek().copied() {
            if is_live(at, key) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Pops the earliest entry due at `now` (live or not; the caller checks).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops dead entries; called when they pile up (owners that finished
    /// long before their deadline leave entries behind).
    pub(crate) fn retain(&mut self, is_live: impl Fn(Instant, TimerKey) -> bool) {
        self.heap.retain(|Reverse((at, key))| is_live(*at, *key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.schedule(t0 + Duration::from_secs(3), TimerKey::Message(3));
        q.schedule(t0 + Duration::from_secs(1), TimerKey::Message(1));
        q.schedule(t0 + Duration::from_secs(2), TimerKey::Message(2));
        assert_eq!(q.next(|_, _| true), Some(t0 + Duration::from_secs(1)));
        assert_eq!(q.pop_due(t0), None);
        let due: Vec<_> = std::iter::from_fn(|| q.pop_due(t0 + Duration::from_secs(2)))
            .map(|(_, k)| k)
            .collect();
        assert_eq!(due, vec![TimerKey::Message(1), TimerKey::Message(2)]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn later_saturates() {
        let t0 = Instant::now();
        assert_eq!(
            later(t0, Duration::from_secs(1)),
            t0 + Duration::from_secs(1)
        );
        assert!(later(t0, Duration::MAX) > t0 + Duration::from_secs(1000 * 24 * 3600));
    }

    #[test]
    fn retain_drops_dead_entries() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        for i in 0..10 {
            q.schedule(t0, TimerKey::Message(i));
        }
        q.retain(|_, k| k == TimerKey::Message(3));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn dead_entries_are_skipped() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.schedule(t0, TimerKey::Message(1));
        q.schedule(t0 + Duration::from_secs(5), TimerKey::Message(2));
        assert_eq!(
            q.next(|_, k| k != TimerKey::Message(1)),
            Some(t0 + Duration::from_secs(5))
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q.next(|_, _| false), None);
    }
}
