//! Flights (RFC 6347 §4.2.4): the unit of retransmission. A flight is kept
//! as messages, not bytes, because every (re)transmission gets fresh record
//! sequence numbers and is fragmented for the current MTU.

use std::time::{Duration, Instant};

use rand_core::CryptoRngCore;

use super::{encode_fragment, HEADER_LEN};
use crate::record::{CT_CHANGE_CIPHER_SPEC, CT_HANDSHAKE};
use crate::record_layer::RecordLayer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FlightItem {
    Handshake {
        epoch: u16,
        msg_type: u8,
        seq: u16,
        body: Vec<u8>,
    },
    ChangeCipherSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Flight {
    pub(crate) items: Vec<FlightItem>,
}

impl Flight {
    pub(crate) fn push_handshake(&mut self, epoch: u16, msg_type: u8, seq: u16, body: Vec<u8>) {
        self.items.push(FlightItem::Handshake {
            epoch,
            msg_type,
            seq,
            body,
        });
    }

    /// Records of the flight packed into datagrams of at most `mtu` bytes
    /// (a record never spans datagrams; handshake messages are fragmented).
    pub(crate) fn to_datagrams(
        &self,
        rl: &mut RecordLayer,
        mtu: usize,
        rng: &mut dyn CryptoRngCore,
    ) -> Vec<Vec<u8>> {
        let mut records: Vec<Vec<u8>> = Vec::new();
        for item in &self.items {
            match item {
                FlightItem::ChangeCipherSpec => {
                    if let Some(r) = rl.seal(0, CT_CHANGE_CIPHER_SPEC, &[1], rng) {
                        records.push(r);
                    }
                }
                FlightItem::Handshake {
                    epoch,
                    msg_type,
                    seq,
                    body,
                } => {
                    // Room for the fragment body in one record; at least a
                    // little progress per record even with an absurd MTU.
                    let room = mtu.saturating_sub(rl.overhead(*epoch) + HEADER_LEN).max(16);
                    let mut offset = 0;
                    loop {
                        let len = room.min(body.len() - offset);
                        let frag = encode_fragment(*msg_type, *seq, body, offset, len);
                        if let Some(r) = rl.seal(*epoch, CT_HANDSHAKE, &frag, rng) {
                            records.push(r);
                        }
                        offset += len;
                        if offset >= body.len() {
                            break;
                        }
                    }
                }
            }
        }
        let mut datagrams: Vec<Vec<u8>> = Vec::new();
        let mut current: Vec<u8> = Vec::new();
        for r in records {
            if !current.is_empty() && current.len() + r.len() > mtu {
                datagrams.push(std::mem::take(&mut current));
            }
            current.extend_from_slice(&r);
        }
        if !current.is_empty() {
            datagrams.push(current);
        }
        datagrams
    }
}

/// RFC 6347 §4.2.4.1 timer: starts at `initial`, doubles per
/// retransmission up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetransmitTimer {
    pub(crate) at: Option<Instant>,
    interval: Duration,
    initial: Duration,
    max: Duration,
}

impl RetransmitTimer {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            at: None,
            interval: initial,
            initial,
            max,
        }
    }

    /// A new flight was sent: arm with the initial interval.
    pub(crate) fn arm(&mut self, now: Instant) {
        self.interval = self.initial;
        self.at = now.checked_add(self.interval);
    }

    /// The flight was retransmitted on timeout: back off.
    pub(crate) fn backoff(&mut self, now: Instant) {
        self.interval = (self.interval * 2).min(self.max);
        self.at = now.checked_add(self.interval);
    }

    pub(crate) fn stop(&mut self) {
        self.at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Reader;
    use crate::handshake::read_fragment;
    use crate::record::read_record;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn fragments_to_fit_mtu() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let mut rl = RecordLayer::default();
        let mut f = Flight::default();
        f.push_handshake(0, 2, 1, vec![7; 300]);
        f.push_handshake(0, 14, 2, vec![]);
        let dgrams = f.to_datagrams(&mut rl, 100, &mut rng);
        let mut total = 0;
        let mut seqs = Vec::new();
        for d in &dgrams {
            assert!(d.len() <= 100, "{}", d.len());
            let mut r = Reader::new(d);
            while !r.is_empty() {
                let rec = read_record(&mut r, 0).unwrap();
                seqs.push(rec.seq);
                let frag = read_fragment(&mut Reader::new(rec.fragment)).unwrap();
                if frag.msg_type == 2 {
                    total += frag.body.len();
                }
            }
        }
        assert_eq!(total, 300);
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
        // A retransmission uses new sequence numbers.
        let again = f.to_datagrams(&mut rl, 100, &mut rng);
        let rec = read_record(&mut Reader::new(&again[0]), 0).unwrap();
        assert_eq!(rec.seq, seqs.len() as u64);
    }

    #[test]
    fn timer_backs_off_to_max() {
        let now = Instant::now();
        let mut t = RetransmitTimer::new(Duration::from_secs(1), Duration::from_secs(4));
        t.arm(now);
        assert_eq!(t.at, Some(now + Duration::from_secs(1)));
        t.backoff(now);
        t.backoff(now);
        t.backoff(now);
        assert_eq!(t.at, Some(now + Duration::from_secs(4)));
        t.arm(now);
        assert_eq!(t.at, Some(now + Duration::from_secs(1)));
    }
}
