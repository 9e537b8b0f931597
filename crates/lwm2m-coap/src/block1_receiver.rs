//! Server side of Block1 (RFC 7959 §2.5): reassembles uploads so the upper
//! layer sees one request, and decides the 2.31 / 4.08 / 4.13 answers.

use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::block::BlockOption;
use crate::expiring::ExpiringMap;

/// What to answer to one received block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block1Outcome {
    /// 2.31 Continue with this Block1 option.
    Continue(BlockOption),
    /// Last block: the whole body, and the Block1 option to echo in the final response.
    Complete(Vec<u8>, BlockOption),
    /// 4.08: a block is missing or does not follow the previous one.
    Incomplete,
    /// 4.13: the body exceeds the limit (answer with Size1 = limit).
    TooLarge,
    /// 4.00: the block itself is invalid (wrong size).
    BadRequest,
}

/// Uploads are keyed by peer and request options minus block options (§2.4).
type Key<P> = (P, Vec<u8>);

#[derive(Debug)]
pub(crate) struct Block1Receiver<P> {
    uploads: ExpiringMap<Key<P>, Vec<u8>>,
    buffered: usize,
    max_body: usize,
    max_bytes: usize,
}

impl<P: Clone + Eq + Hash> Block1Receiver<P> {
    pub(crate) fn new(
        lifetime: Duration,
        max_transfers: usize,
        max_body: usize,
        max_bytes: usize,
    ) -> Self {
        Self {
            uploads: ExpiringMap::new(lifetime, max_transfers),
            buffered: 0,
            max_body,
            max_bytes,
        }
    }

    /// Handles one block. `our_szx` is the largest block size we want; a
    /// smaller one is requested in the 2.31 answer.
    pub(crate) fn receive(
        &mut self,
        now: Instant,
        key: Key<P>,
        block: BlockOption,
        payload: &[u8],
        size1: Option<u32>,
        our_szx: u8,
    ) -> Block1Outcome {
        if size1.is_some_and(|s| s as usize > self.max_body) {
            self.drop_upload(&key);
            return Block1Outcome::TooLarge;
        }
        if payload.len() > block.size() || (block.more && payload.len() != block.size()) {
            self.drop_upload(&key);
            return Block1Outcome::BadRequest;
        }
        let mut body = if block.num == 0 {
            self.drop_upload(&key);
            Vec::new()
        } else {
            match self.uploads.get(&key) {
                Some(body) if body.len() == block.offset() => self.take(&key),
                _ => return Block1Outcome::Incomplete,
            }
        };
        if body.len() + payload.len() > self.max_body {
            return Block1Outcome::TooLarge;
        }
        body.extend_from_slice(payload);
        if !block.more {
            return Block1Outcome::Complete(body, block);
        }
        self.make_room(body.len());
        self.buffered += body.len();
        if let Some((_, evicted)) = self.uploads.insert_evicting(now, key, body) {
            self.buffered = self.buffered.saturating_sub(evicted.len());
        }
        Block1Outcome::Continue(BlockOption {
            num: block.num,
            more: true,
            szx: block.szx.min(our_szx),
        })
    }

    pub(crate) fn purge(&mut self, now: Instant) {
        for (_, body) in self.uploads.purge(now) {
            self.buffered = self.buffered.saturating_sub(body.len());
        }
    }

    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    fn take(&mut self, key: &Key<P>) -> Vec<u8> {
        let body = self.uploads.remove(key).unwrap_or_default();
        self.buffered = self.buffered.saturating_sub(body.len());
        body
    }

    fn drop_upload(&mut self, key: &Key<P>) {
        let _ = self.take(key);
    }

    fn make_room(&mut self, incoming: usize) {
        while self.buffered + incoming > self.max_bytes {
            match self.uploads.evict_oldest() {
                Some((_, body)) => self.buffered = self.buffered.saturating_sub(body.len()),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(num: u32, more: bool) -> BlockOption {
        BlockOption { num, more, szx: 0 }
    }

    fn key(peer: u8) -> Key<u8> {
        (peer, b"/5/0/0".to_vec())
    }

    fn rx() -> Block1Receiver<u8> {
        Block1Receiver::new(Duration::from_secs(60), 4, 100, 1000)
    }

    #[test]
    fn reassembles_in_order() {
        let t = Instant::now();
        let mut r = rx();
        assert_eq!(
            r.receive(t, key(1), b(0, true), &[1; 16], Some(40), 6),
            Block1Outcome::Continue(b(0, true))
        );
        assert_eq!(
            r.receive(t, key(1), b(1, true), &[2; 16], None, 6),
            Block1Outcome::Continue(b(1, true))
        );
        match r.receive(t, key(1), b(2, false), &[3; 8], None, 6) {
            Block1Outcome::Complete(body, echo) => {
                assert_eq!(body.len(), 40);
                assert_eq!(body.get(16), Some(&2));
                assert_eq!(echo, b(2, false));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn gap_is_incomplete() {
        let t = Instant::now();
        let mut r = rx();
        r.receive(t, key(1), b(0, true), &[1; 16], None, 6);
        assert_eq!(
            r.receive(t, key(1), b(2, true), &[1; 16], None, 6),
            Block1Outcome::Incomplete
        );
        assert_eq!(
            r.receive(t, key(2), b(1, true), &[1; 16], None, 6),
            Block1Outcome::Incomplete,
            "other peer has nothing"
        );
        // The transfer survives the bad block.
        assert_eq!(
            r.receive(t, key(1), b(1, false), &[1; 3], None, 6),
            Block1Outcome::Complete(vec![1; 19], b(1, false))
        );
    }

    #[test]
    fn limits() {
        let t = Instant::now();
        let mut r = rx();
        assert_eq!(
            r.receive(t, key(1), b(0, true), &[1; 16], Some(101), 6),
            Block1Outcome::TooLarge
        );
        for num in 0..6 {
            assert!(matches!(
                r.receive(t, key(1), b(num, true), &[1; 16], None, 6),
                Block1Outcome::Continue(_)
            ));
        }
        assert_eq!(
            r.receive(t, key(1), b(6, true), &[1; 16], None, 6),
            Block1Outcome::TooLarge
        );
        assert_eq!(
            r.receive(t, key(1), b(0, true), &[1; 15], None, 6),
            Block1Outcome::BadRequest
        );
    }

    #[test]
    fn asks_for_smaller_size() {
        let t = Instant::now();
        let mut r = rx();
        let big = BlockOption {
            num: 0,
            more: true,
            szx: 2,
        };
        assert_eq!(
            r.receive(t, key(1), big, &[0; 64], None, 0),
            Block1Outcome::Continue(BlockOption {
                num: 0,
                more: true,
                szx: 0
            })
        );
        // Next block continues at offset 64 with 16-byte blocks: num 4.
        assert!(matches!(
            r.receive(t, key(1), b(4, false), &[0; 1], None, 0),
            Block1Outcome::Complete(..)
        ));
    }

    #[test]
    fn transfers_and_bytes_are_bounded_and_expire() {
        let t = Instant::now();
        let mut r = Block1Receiver::new(Duration::from_secs(60), 2, 1000, 40);
        for peer in 0..5u8 {
            r.receive(t, key(peer), b(0, true), &[0; 16], None, 6);
        }
        assert!(r.uploads.len() <= 2);
        assert!(r.buffered() <= 40);
        r.purge(t + Duration::from_secs(61));
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.uploads.len(), 0);
    }
}
