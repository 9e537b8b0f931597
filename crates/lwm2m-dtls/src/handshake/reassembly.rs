//! Reassembly of handshake messages from fragments (RFC 6347 §4.2.3),
//! delivered strictly in `message_seq` order.
//!
//! Memory is bounded: only a few messages ahead of the next expected one are
//! buffered, each at most [`super::MAX_MESSAGE_LEN`] bytes and at most
//! `MAX_RANGES` disjoint received ranges (so tiny overlapping fragments
//! cannot make bookkeeping grow). A message's buffer grows with the bytes
//! that arrived (up to the end of the furthest fragment), not with the
//! length its header announces, and the caller gives a budget for all of
//! them together.

use std::collections::BTreeMap;

use super::{Fragment, Message};

/// How many messages beyond the next expected one are buffered.
const WINDOW: u16 = 8;
const MAX_RANGES: usize = 32;

#[derive(Debug)]
struct Partial {
    msg_type: u8,
    /// The announced message length.
    len: usize,
    /// Received bytes, up to the end of the furthest fragment so far.
    buf: Vec<u8>,
    /// Sorted, disjoint, non-adjacent received byte ranges.
    ranges: Vec<(usize, usize)>,
}

impl Partial {
    fn complete(&self) -> bool {
        matches!(self.ranges.as_slice(), [(0, end)] if *end == self.len) || self.len == 0
    }

    fn add(&mut self, start: usize, body: &[u8]) -> bool {
        let end = start + body.len();
        if end > self.len {
            return false;
        }
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        let Some(dst) = self.buf.get_mut(start..end) else {
            return false;
        };
        dst.copy_from_slice(body);
        let mut merged = (start, end);
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for &(s, e) in &self.ranges {
            if e < merged.0 || s > merged.1 {
                out.push((s, e));
            } else {
                merged = (merged.0.min(s), merged.1.max(e));
            }
        }
        out.push(merged);
        out.sort_unstable();
        if out.len() > MAX_RANGES {
            return false;
        }
        self.ranges = out;
        true
    }
}

/// What became of an inserted fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// Part of a message already delivered: the peer is retransmitting.
    Old,
    /// Buffered (possibly completing a message).
    Accepted,
    /// Too far ahead, inconsistent with earlier fragments, or over a limit.
    Dropped,
}

#[derive(Debug)]
pub(crate) struct Reassembler {
    next: u16,
    partial: BTreeMap<u16, Partial>,
}

impl Reassembler {
    pub(crate) fn new(next: u16) -> Self {
        Self {
            next,
            partial: BTreeMap::new(),
        }
    }

    /// Buffers a fragment unless the bytes held for all messages would
    /// exceed `budget`.
    pub(crate) fn insert(&mut self, f: &Fragment<'_>, budget: usize) -> Inserted {
        if f.seq < self.next {
            return Inserted::Old;
        }
        if f.seq - self.next >= WINDOW {
            return Inserted::Dropped;
        }
        let Ok(len) = usize::try_from(f.length) else {
            return Inserted::Dropped;
        };
        let Ok(offset) = usize::try_from(f.offset) else {
            return Inserted::Dropped;
        };
        let end = offset.saturating_add(f.body.len());
        let held = self.buffered();
        let growth = match self.partial.get(&f.seq) {
            Some(p) if p.msg_type != f.msg_type || p.len != len => return Inserted::Dropped,
            Some(p) => end.saturating_sub(p.buf.len()),
            None => end,
        };
        if held.saturating_add(growth) > budget {
            return Inserted::Dropped;
        }
        let entry = self.partial.entry(f.seq).or_insert_with(|| Partial {
            msg_type: f.msg_type,
            len,
            buf: Vec::new(),
            ranges: Vec::new(),
        });
        if entry.add(offset, f.body) {
            Inserted::Accepted
        } else {
            Inserted::Dropped
        }
    }

    /// Bytes held for messages not yet delivered.
    pub(crate) fn buffered(&self) -> usize {
        self.partial.values().map(|p| p.buf.len()).sum()
    }

    /// Forgets partial messages (the handshake is over).
    pub(crate) fn discard(&mut self) {
        self.partial.clear();
    }

    /// The next complete message in order, if any.
    pub(crate) fn pop(&mut self) -> Option<Message> {
        if !self.partial.get(&self.next)?.complete() {
            return None;
        }
        let p = self.partial.remove(&self.next)?;
        let seq = self.next;
        self.next = self.next.wrapping_add(1);
        Some(Message {
            msg_type: p.msg_type,
            seq,
            body: p.buf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Reader;
    use crate::handshake::{encode_fragment, read_fragment};

    fn frag(seq: u16, body: &[u8], off: usize, len: usize) -> Vec<u8> {
        encode_fragment(1, seq, body, off, len)
    }

    fn insert(r: &mut Reassembler, bytes: &[u8]) -> Inserted {
        r.insert(&read_fragment(&mut Reader::new(bytes)).unwrap(), usize::MAX)
    }

    #[test]
    fn out_of_order_overlapping_fragments() {
        let body: Vec<u8> = (0..100).collect();
        let mut r = Reassembler::new(0);
        assert_eq!(insert(&mut r, &frag(0, &body, 50, 50)), Inserted::Accepted);
        assert!(r.pop().is_none());
        assert_eq!(insert(&mut r, &frag(0, &body, 10, 45)), Inserted::Accepted);
        assert!(r.pop().is_none());
        assert_eq!(insert(&mut r, &frag(0, &body, 0, 12)), Inserted::Accepted);
        let m = r.pop().unwrap();
        assert_eq!(m.body, body);
        assert_eq!(insert(&mut r, &frag(0, &body, 0, 100)), Inserted::Old);
    }

    #[test]
    fn messages_delivered_in_order() {
        let mut r = Reassembler::new(1);
        assert_eq!(insert(&mut r, &frag(2, b"two", 0, 3)), Inserted::Accepted);
        assert!(r.pop().is_none());
        assert_eq!(insert(&mut r, &frag(1, b"one", 0, 3)), Inserted::Accepted);
        assert_eq!(r.pop().unwrap().body, b"one");
        assert_eq!(r.pop().unwrap().body, b"two");
        assert_eq!(insert(&mut r, &frag(100, b"x", 0, 1)), Inserted::Dropped);
    }

    #[test]
    fn inconsistent_length_dropped() {
        let mut r = Reassembler::new(0);
        insert(&mut r, &frag(0, &[0; 10], 0, 5));
        assert_eq!(insert(&mut r, &frag(0, &[0; 12], 5, 5)), Inserted::Dropped);
    }

    #[test]
    fn buffers_grow_with_what_arrived_within_the_budget() {
        let mut r = Reassembler::new(0);
        let big = frag(0, &[7; 1000], 990, 10);
        let f = read_fragment(&mut Reader::new(&big)).unwrap();
        assert_eq!(r.insert(&f, 999), Inserted::Dropped);
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.insert(&f, 1000), Inserted::Accepted);
        assert_eq!(r.buffered(), 1000);
        let small = frag(1, b"abc", 0, 3);
        let f = read_fragment(&mut Reader::new(&small)).unwrap();
        assert_eq!(r.insert(&f, 1002), Inserted::Dropped);
        assert_eq!(r.insert(&f, 1003), Inserted::Accepted);
        let head = frag(0, &[7; 1000], 0, 990);
        let f = read_fragment(&mut Reader::new(&head)).unwrap();
        assert_eq!(r.insert(&f, 1003), Inserted::Accepted);
        assert_eq!(r.pop().unwrap().body, vec![7; 1000]);
        assert_eq!(r.pop().unwrap().body, b"abc");
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn empty_message_completes() {
        let mut r = Reassembler::new(0);
        insert(&mut r, &encode_fragment(14, 0, &[], 0, 0));
        assert_eq!(r.pop().unwrap().msg_type, 14);
    }
}
