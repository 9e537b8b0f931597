//! Message deduplication (RFC 7252 §4.5): every CON and NON message id from a
//! peer is remembered for EXCHANGE_LIFETIME or NON_LIFETIME together with what
//! we answered, so duplicates are answered again but processed only once.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::expiring::ExpiringMap;
use crate::ids::ExchangeId;

/// What was (or will be) sent back for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Not answered yet: the upper layer still holds the exchange (or has to
    /// decide about an unmatched notification).
    Pending(Option<ExchangeId>),
    /// The exact datagram to repeat for a duplicate (ACK, piggybacked response or RST).
    Bytes(Vec<u8>),
    /// Nothing to repeat (NON, or a CON answered by a separate path).
    Nothing,
}

type Key<P> = (P, u16);

#[derive(Debug)]
pub(crate) struct DedupCache<P> {
    con: ExpiringMap<Key<P>, Reply>,
    non: ExpiringMap<Key<P>, Reply>,
    per_peer: HashMap<P, usize>,
    max_per_peer: usize,
    max_total: usize,
}

impl<P: Clone + Eq + Hash> DedupCache<P> {
    pub(crate) fn new(
        exchange_lifetime: Duration,
        non_lifetime: Duration,
        max_total: usize,
        max_per_peer: usize,
    ) -> Self {
        Self {
            // The per-map capacity is enforced through `max_total` below.
            con: ExpiringMap::new(exchange_lifetime, usize::MAX),
            non: ExpiringMap::new(non_lifetime, usize::MAX),
            per_peer: HashMap::new(),
            max_per_peer,
            max_total,
        }
    }

    pub(crate) fn get_mut(&mut self, peer: &P, mid: u16) -> Option<&mut Reply> {
        let key = (peer.clone(), mid);
        if self.con.contains_key(&key) {
            return self.con.get_mut(&key);
        }
        self.non.get_mut(&key)
    }

    /// Records a new message id. Returns false (and stores nothing) when a limit is reached.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        peer: &P,
        mid: u16,
        confirmable: bool,
        reply: Reply,
    ) -> bool {
        let count = self.per_peer.get(peer).copied().unwrap_or(0);
        if count >= self.max_per_peer || self.len() >= self.max_total {
            return false;
        }
        let map = if confirmable {
            &mut self.con
        } else {
            &mut self.non
        };
        match map.insert(now, (peer.clone(), mid), reply) {
            Ok(None) => {
                *self.per_peer.entry(peer.clone()).or_insert(0) += 1;
                true
            }
            Ok(Some(_)) => true,
            Err(_) => false,
        }
    }

    /// Updates the reply of a recorded message (no-op if it expired meanwhile).
    pub(crate) fn set_reply(&mut self, peer: &P, mid: u16, reply: Reply) {
        if let Some(slot) = self.get_mut(peer, mid) {
            *slot = reply;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.con.len() + self.non.len()
    }

    pub(crate) fn purge(&mut self, now: Instant) {
        let expired = self.con.purge(now).into_iter().chain(self.non.purge(now));
        for ((peer, _), _) in expired {
            if let Some(count) = self.per_peer.get_mut(&peer) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_peer.remove(&peer);
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn next_expiry(&mut self) -> Option<Instant> {
        match (self.con.next_expiry(), self.non.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> DedupCache<u8> {
        DedupCache::new(Duration::from_secs(247), Duration::from_secs(145), 10, 3)
    }

    #[test]
    fn remembers_until_lifetime() {
        let t0 = Instant::now();
        let mut c = cache();
        assert!(c.insert(t0, &1, 100, true, Reply::Bytes(vec![1])));
        assert!(c.insert(t0, &1, 101, false, Reply::Nothing));
        assert_eq!(c.get_mut(&1, 100), Some(&mut Reply::Bytes(vec![1])));
        assert_eq!(c.get_mut(&2, 100), None, "keyed by peer too");
        c.purge(t0 + Duration::from_secs(145));
        assert_eq!(c.get_mut(&1, 101), None, "NON expires after NON_LIFETIME");
        assert!(c.get_mut(&1, 100).is_some());
        assert_eq!(c.next_expiry(), Some(t0 + Duration::from_secs(247)));
        c.purge(t0 + Duration::from_secs(247));
        assert_eq!(c.len(), 0);
        assert!(c.per_peer.is_empty());
    }

    #[test]
    fn per_peer_and_total_limits() {
        let t0 = Instant::now();
        let mut c = cache();
        for mid in 0..3 {
            assert!(c.insert(t0, &1, mid, true, Reply::Nothing));
        }
        assert!(!c.insert(t0, &1, 3, true, Reply::Nothing), "per-peer limit");
        for peer in 2..=8u8 {
            assert!(c.insert(t0, &peer, 0, true, Reply::Nothing));
        }
        assert_eq!(c.len(), 10);
        assert!(!c.insert(t0, &9, 0, true, Reply::Nothing), "total limit");
        c.purge(t0 + Duration::from_secs(300));
        assert!(c.insert(t0 + Duration::from_secs(300), &1, 3, true, Reply::Nothing));
    }

    #[test]
    fn set_reply_updates_pending() {
        let t0 = Instant::now();
        let mut c = cache();
        c.insert(t0, &1, 5, true, Reply::Pending(Some(ExchangeId(1))));
        c.set_reply(&1, 5, Reply::Bytes(vec![9]));
        assert_eq!(c.get_mut(&1, 5), Some(&mut Reply::Bytes(vec![9])));
    }
}
