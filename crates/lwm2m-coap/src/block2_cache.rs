//! Server side of Block2 (RFC 7959 §2.4): slices a large response into
//! blocks and keeps the body for a while so follow-up block requests are
//! answered without bothering the upper layer.

use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::block::{size_of_szx, BlockOption};
use crate::expiring::ExpiringMap;
use crate::message::Response;
use crate::options::number;

/// Cached bodies are keyed by peer and request options minus block options.
type Key<P> = (P, Vec<u8>);

#[derive(Debug)]
pub(crate) struct Block2Cache<P> {
    bodies: ExpiringMap<Key<P>, Response>,
    buffered: usize,
    max_bytes: usize,
}

impl<P: Clone + Eq + Hash> Block2Cache<P> {
    pub(crate) fn new(lifetime: Duration, max_transfers: usize, max_bytes: usize) -> Self {
        Self {
            bodies: ExpiringMap::new(lifetime, max_transfers),
            buffered: 0,
            max_bytes,
        }
    }

    /// Stores a full response (replacing an older body for the same key).
    pub(crate) fn insert(&mut self, now: Instant, key: Key<P>, response: Response) {
        if let Some(old) = self.bodies.remove(&key) {
            self.buffered = self.buffered.saturating_sub(old.payload.len());
        }
        while self.buffered + response.payload.len() > self.max_bytes {
            match self.bodies.evict_oldest() {
                Some((_, old)) => self.buffered = self.buffered.saturating_sub(old.payload.len()),
                None => break,
            }
        }
        self.buffered += response.payload.len();
        if let Some((_, old)) = self.bodies.insert_evicting(now, key, response) {
            self.buffered = self.buffered.saturating_sub(old.payload.len());
        }
    }

    /// One block of a cached body, refreshing its lifetime. `None` if nothing
    /// is cached; `Some(None)` if the block number is past the end.
    pub(crate) fn serve(
        &mut self,
        now: Instant,
        key: &Key<P>,
        num: u32,
        szx: u8,
    ) -> Option<Option<Response>> {
        let block = slice(self.bodies.get(key)?, num, szx);
        self.bodies.touch(now, key);
        Some(block)
    }

    pub(crate) fn purge(&mut self, now: Instant) {
        for (_, old) in self.bodies.purge(now) {
            self.buffered = self.buffered.saturating_sub(old.payload.len());
        }
    }

    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }
}

/// Block `num` of `full` at size `szx`, with Block2 (and Size2 on block 0).
/// `None` if the block starts past the end of the body.
pub(crate) fn slice(full: &Response, num: u32, szx: u8) -> Option<Response> {
    let size = size_of_szx(szx);
    let start = (num as usize).checked_mul(size)?;
    let len = full.payload.len();
    if start > len || (start == len && len > 0) {
        return None;
    }
    let end = start.saturating_add(size).min(len);
    let mut block = Response {
        code: full.code,
        options: full.options.clone(),
        payload: full.payload.get(start..end)?.to_vec(),
    };
    block.options.set_block2(BlockOption {
        num,
        more: end < len,
        szx,
    });
    if num == 0 {
        block
            .options
            .set_uint(number::SIZE2, u32::try_from(len).unwrap_or(u32::MAX));
    } else {
        // Only the first block of a notification is a notification (RFC 7959 §3.4);
        // later blocks answer plain GETs.
        block.options.remove(number::OBSERVE);
    }
    Some(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(len: usize) -> Response {
        Response::content(60, (0..len).map(|i| i as u8).collect::<Vec<_>>())
    }

    #[test]
    fn slices() {
        let full = body(40);
        let b0 = slice(&full, 0, 0).unwrap();
        assert_eq!(b0.payload.len(), 16);
        assert_eq!(
            b0.options.block2(),
            Some(BlockOption {
                num: 0,
                more: true,
                szx: 0
            })
        );
        assert_eq!(b0.options.size2(), Some(40));
        assert_eq!(b0.content_format(), Some(60));
        let b2 = slice(&full, 2, 0).unwrap();
        assert_eq!(b2.payload, (32..40).collect::<Vec<u8>>());
        assert_eq!(
            b2.options.block2(),
            Some(BlockOption {
                num: 2,
                more: false,
                szx: 0
            })
        );
        assert_eq!(b2.options.size2(), None);
        assert!(slice(&full, 3, 0).is_none());
        let notification = body(40).with_observe(9).unwrap();
        assert_eq!(slice(&notification, 0, 0).unwrap().observe(), Some(9));
        assert_eq!(slice(&notification, 1, 0).unwrap().observe(), None);
        assert!(slice(&body(32), 2, 0).is_none(), "exactly at the end");
        assert!(
            slice(&body(0), 0, 0).is_some(),
            "empty body is one empty block"
        );
    }

    #[test]
    fn serves_and_bounds() {
        let t = Instant::now();
        let mut c = Block2Cache::new(Duration::from_secs(10), 10, 100);
        let k = |p: u8| (p, b"/3/0".to_vec());
        assert_eq!(c.serve(t, &k(1), 1, 0), None);
        c.insert(t, k(1), body(40));
        assert_eq!(
            c.serve(t, &k(1), 1, 0).flatten().map(|r| r.payload.len()),
            Some(16)
        );
        assert_eq!(c.serve(t, &k(1), 9, 0), Some(None));
        c.insert(t, k(2), body(40));
        c.insert(t, k(3), body(40));
        assert!(c.buffered() <= 100);
        assert_eq!(c.serve(t, &k(1), 0, 0), None, "oldest evicted for bytes");
        c.purge(t + Duration::from_secs(11));
        assert_eq!(c.buffered(), 0);
    }
}
