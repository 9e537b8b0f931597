//! A bounded map whose entries expire a fixed time after their last refresh.
//!
//! Used for every table a peer can grow (dedup records, block-wise transfers,
//! message-id counters, forgotten tokens). Expiry is FIFO because the
//! lifetime is fixed and the endpoint feeds a monotonic clock, so purging is
//! O(expired) instead of a scan.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::timers::later;

#[derive(Debug)]
struct Entry<V> {
    value: V,
    expires: Instant,
    generation: u64,
}

#[derive(Debug)]
pub(crate) struct ExpiringMap<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Expiry order. A record is stale when its generation no longer matches
    /// the entry (the entry was refreshed or removed); stale records are skipped.
    queue: VecDeque<(Instant, u64, K)>,
    next_generation: u64,
    lifetime: Duration,
    capacity: usize,
}

impl<K: Clone + Eq + Hash, V> ExpiringMap<K, V> {
    pub(crate) fn new(lifetime: Duration, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            queue: VecDeque::new(),
            next_generation: 0,
            lifetime,
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|e| &e.value)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|e| &mut e.value)
    }

    /// Inserts or replaces (refreshing the expiry). Hands the value back if the
    /// key is new and the map is full; the caller decides whether to evict.
    pub(crate) fn insert(&mut self, now: Instant, key: K, value: V) -> Result<Option<V>, V> {
        if !self.entries.contains_key(&key) && self.is_full() {
            return Err(value);
        }
        let generation = self.bump();
        let expires = later(now, self.lifetime);
        self.queue.push_back((expires, generation, key.clone()));
        let old = self.entries.insert(
            key,
            Entry {
                value,
                expires,
                generation,
            },
        );
        self.compact_if_needed();
        Ok(old.map(|e| e.value))
    }

    /// Inserts, evicting the entry closest to expiry if the map is full.
    pub(crate) fn insert_evicting(&mut self, now: Instant, key: K, value: V) -> Option<(K, V)> {
        let mut evicted = None;
        if !self.entries.contains_key(&key) && self.is_full() {
            evicted = self.evict_oldest();
        }
        // Cannot fail now unless capacity is 0, in which case nothing is stored.
        let _ = self.insert(now, key, value);
        evicted
    }

    /// Restarts the lifetime of an entry.
    pub(crate) fn touch(&mut self, now: Instant, key: &K) {
        let generation = self.next_generation;
        let expires = later(now, self.lifetime);
        if let Some(entry) = self.entries.get_mut(key) {
            entry.generation = generation;
            entry.expires = expires;
            self.next_generation += 1;
            self.queue.push_back((expires, generation, key.clone()));
            self.compact_if_needed();
        }
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|e| e.value)
    }

    /// Removes the live entry that would expire first.
    pub(crate) fn evict_oldest(&mut self) -> Option<(K, V)> {
        while let Some((_, generation, key)) = self.queue.pop_front() {
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.generation == generation)
            {
                return self.entries.remove(&key).map(|e| (key, e.value));
            }
        }
        None
    }

    /// Removes and returns every entry that expired at or before `now`.
    pub(crate) fn purge(&mut self, now: Instant) -> Vec<(K, V)> {
        let mut expired = Vec::new();
        while let Some((at, generation, key)) = self.queue.front() {
            if *at > now {
                break;
            }
            let live = self
                .entries
                .get(key)
                .is_some_and(|e| e.generation == *generation);
            let key = key.clone();
            self.queue.pop_front();
            if live {
                if let Some(e) = self.entries.remove(&key) {
                    expired.push((key, e.value));
                }
            }
        }
        expired
    }

    /// When the next entry expires (skipping stale queue records).
    #[cfg(test)]
    pub(crate) fn next_expiry(&mut self) -> Option<Instant> {
        while let Some((at, generation, key)) = self.queue.front() {
            if self
                .entries
                .get(key)
                .is_some_and(|e| e.generation == *generation)
            {
                return Some(*at);
            }
            self.queue.pop_front();
        }
        None
    }

    fn bump(&mut self) -> u64 {
        let g = self.next_generation;
        self.next_generation += 1;
        g
    }

    /// Refreshes leave stale records behind; rebuild the queue when they
    /// dominate so a peer that keeps refreshing cannot grow it without bound.
    fn compact_if_needed(&mut self) {
        if self.queue.len() <= 2 * self.entries.len() + 64 {
            return;
        }
        let mut live: Vec<(Instant, u64, K)> = self
            .entries
            .iter()
            .map(|(k, e)| (e.expires, e.generation, k.clone()))
            .collect();
        live.sort_by_key(|(at, generation, _)| (*at, *generation));
        self.queue = live.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn expires_after_lifetime() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(secs(10), 10);
        m.insert(t0, 1, "a").unwrap();
        m.insert(t0 + secs(5), 2, "b").unwrap();
        assert_eq!(m.next_expiry(), Some(t0 + secs(10)));
        assert!(m.purge(t0 + secs(9)).is_empty());
        assert_eq!(m.purge(t0 + secs(10)), vec![(1, "a")]);
        assert_eq!(m.len(), 1);
        assert_eq!(m.purge(t0 + secs(100)), vec![(2, "b")]);
        assert_eq!(m.next_expiry(), None);
    }

    #[test]
    fn touch_extends() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(secs(10), 10);
        m.insert(t0, 1, ()).unwrap();
        m.touch(t0 + secs(8), &1);
        assert!(m.purge(t0 + secs(12)).is_empty());
        assert_eq!(m.next_expiry(), Some(t0 + secs(18)));
        assert_eq!(m.purge(t0 + secs(18)).len(), 1);
    }

    #[test]
    fn capacity_is_enforced() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(secs(10), 2);
        m.insert(t0, 1, 1).unwrap();
        m.insert(t0, 2, 2).unwrap();
        assert_eq!(m.insert(t0, 3, 3), Err(3));
        assert_eq!(
            m.insert(t0, 2, 20),
            Ok(Some(2)),
            "replacing is allowed when full"
        );
        assert_eq!(m.insert_evicting(t0, 3, 3), Some((1, 1)));
        assert!(m.contains_key(&3) && !m.contains_key(&1));
    }

    #[test]
    fn removed_entries_do_not_expire_later() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(secs(10), 10);
        m.insert(t0, 1, 1).unwrap();
        assert_eq!(m.remove(&1), Some(1));
        m.insert(t0 + secs(5), 1, 2).unwrap();
        assert!(m.purge(t0 + secs(10)).is_empty(), "old record is stale");
        assert_eq!(m.get(&1), Some(&2));
    }

    #[test]
    fn queue_stays_bounded_under_refreshes() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(secs(10), 10);
        m.insert(t0, 1, ()).unwrap();
        for i in 0..10_000u64 {
            m.touch(t0 + Duration::from_millis(i), &1);
        }
        assert!(m.queue.len() <= 2 * m.len() + 65);
        assert_eq!(
            m.next_expiry(),
            Some(t0 + Duration::from_millis(9_999) + secs(10))
        );
    }
}
