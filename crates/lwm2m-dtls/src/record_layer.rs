//! Per-connection record protection state: the write epoch and sequence
//! numbers, the keys of epoch 1, one replay window per epoch, and the
//! connection ids in each direction.
//!
//! Only epochs 0 and 1 exist: renegotiation is refused, so a connection
//! never installs a second set of keys.

use rand_core::CryptoRngCore;

use crate::record::{
    aad_cid, aad_plain, encode_record, inner_plaintext, seq_num, split_inner_plaintext, Record,
    CT_TLS12_CID, DTLS_1_2,
};
use crate::replay::ReplayWindow;
use crate::suites::DirectionKeys;

/// Largest 48-bit sequence number; a connection that reaches it must close.
pub(crate) const MAX_SEQ: u64 = (1 << 48) - 1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecordLayer {
    /// Next sequence number to write, per epoch.
    pub(crate) write_seq: [u64; 2],
    pub(crate) write_keys: Option<DirectionKeys>,
    pub(crate) read_keys: Option<DirectionKeys>,
    pub(crate) replay: [ReplayWindow; 2],
    /// CID the peer asked us to put in the records we send (empty: none).
    pub(crate) cid_send: Vec<u8>,
    /// CID we issued, expected in the peer's epoch-1 records (empty: none).
    pub(crate) cid_recv: Vec<u8>,
    /// Epoch-1 sequence numbers at or above this are not written (`None`:
    /// no limit). Set when sequence numbers are reserved in a cluster
    /// store, so a node that takes the session over after a crash can
    /// start above anything this node may have used. Not exported: the
    /// importer sets its own.
    pub(crate) write_limit: Option<u64>,
}

/// Result of opening a received record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Authentic and fresh: the real content type and the content.
    Data {
        ctype: u8,
        content: Vec<u8>,
        /// The record is the newest seen in its epoch (RFC 9146 §6 allows
        /// an address update only for those).
        newest: bool,
    },
    /// Epoch 1 before the keys exist: the caller may keep it for later.
    NoKeys,
    /// Duplicate or too old.
    Replay,
    /// Bad epoch, bad CID framing or failed authentication.
    Invalid,
}

impl RecordLayer {
    /// Protects and frames one record in `epoch` (0 or 1). `None` when the
    /// epoch has no keys yet or its sequence space is exhausted.
    pub(crate) fn seal(
        &mut self,
        epoch: u16,
        ctype: u8,
        payload: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> Option<Vec<u8>> {
        let slot = self.write_seq.get_mut(usize::from(epoch))?;
        let seq = *slot;
        if seq > MAX_SEQ || (epoch == 1 && self.write_limit.is_some_and(|limit| seq >= limit)) {
            return None;
        }
        *slot += 1;
        if epoch == 0 {
            return Some(encode_record(ctype, 0, seq, &[], payload));
        }
        let keys = self.write_keys.as_ref()?;
        let explicit = seq_num(epoch, seq);
        if self.cid_send.is_empty() {
            let aad = aad_plain(epoch, seq, ctype, DTLS_1_2, payload.len());
            let fragment = keys.seal(explicit, &aad, payload, rng)?;
            Some(encode_record(ctype, epoch, seq, &[], &fragment))
        } else {
            let inner = inner_plaintext(ctype, payload);
            let aad = aad_cid(epoch, seq, DTLS_1_2, &self.cid_send, inner.len());
            let fragment = keys.seal(explicit, &aad, &inner, rng)?;
            Some(encode_record(
                CT_TLS12_CID,
                epoch,
                seq,
                &self.cid_send,
                &fragment,
            ))
        }
    }

    /// Whether an epoch-1 record can be written now (within the limit).
    pub(crate) fn may_write(&self) -> bool {
        let [_, seq] = self.write_seq;
        seq <= MAX_SEQ && self.write_limit.is_none_or(|limit| seq < limit)
    }

    /// Authenticates, decrypts and replay-checks a received record.
    pub(crate) fn open(&mut self, rec: &Record<'_>) -> Opened {
        let Some(window) = self.replay.get(usize::from(rec.epoch)).copied() else {
            return Opened::Invalid;
        };
        if rec.epoch == 0 {
            if rec.ctype == CT_TLS12_CID {
                return Opened::Invalid;
            }
            // Plaintext records are not authenticated: anyone can send one
            // with the largest sequence number, so they must not move a
            // window the real peer's records are then judged by (it would
            // stall the handshake). Handshake reassembly drops duplicates;
            // a plaintext record never moves an address (`newest: false`).
            return Opened::Data {
                ctype: rec.ctype,
                content: rec.fragment.to_vec(),
                newest: false,
            };
        }
        // Epoch 1: the CID framing must match what was negotiated.
        let cid_expected = !self.cid_recv.is_empty();
        if (rec.ctype == CT_TLS12_CID) != cid_expected
            || rec.version != DTLS_1_2
            || rec.cid != self.cid_recv.as_slice()
        {
            return Opened::Invalid;
        }
        let Some(keys) = self.read_keys.as_ref() else {
            return Opened::NoKeys;
        };
        if !window.is_fresh(rec.seq) {
            return Opened::Replay;
        }
        let (epoch, seq, version, ctype, cid) =
            (rec.epoch, rec.seq, rec.version, rec.ctype, rec.cid);
        let opened = if cid_expected {
            keys.open(rec.fragment, &|len| aad_cid(epoch, seq, version, cid, len))
                .and_then(split_inner_plaintext)
        } else {
            keys.open(rec.fragment, &|len| {
                aad_plain(epoch, seq, ctype, version, len)
            })
            .map(|c| (ctype, c))
        };
        match opened {
            Some((ctype, content)) => {
                let newest = self.accept(1, seq);
                Opened::Data {
                    ctype,
                    content,
                    newest,
                }
            }
            None => Opened::Invalid,
        }
    }

    /// Whether `open` would take this record as authentic (fresh or a
    /// replay), without changing any state: for telling apart the records
    /// of two connections on one address.
    pub(crate) fn recognises(&self, rec: &Record<'_>) -> bool {
        let mut probe = self.clone();
        matches!(probe.open(rec), Opened::Data { .. } | Opened::Replay)
    }

    fn accept(&mut self, epoch: usize, seq: u64) -> bool {
        self.replay.get_mut(epoch).is_some_and(|w| w.accept(seq))
    }

    /// Bytes a record in `epoch` adds around its payload.
    pub(crate) fn overhead(&self, epoch: u16) -> usize {
        match (epoch, &self.write_keys) {
            (0, _) | (_, None) => crate::record::HEADER_LEN,
            (_, Some(k)) => {
                let cid = if self.cid_send.is_empty() {
                    0
                } else {
                    self.cid_send.len() + 1
                };
                crate::record::HEADER_LEN + cid + k.suite.max_overhead()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Reader;
    use crate::record::{read_record, CT_APPLICATION_DATA};
    use crate::suites::CipherSuite;
    use rand_chacha::rand_core::SeedableRng;

    fn pair(suite: CipherSuite, cid: &[u8]) -> (RecordLayer, RecordLayer) {
        let block: Vec<u8> = (0..suite.key_block_len()).map(|i| i as u8).collect();
        let (c, s) = suite.split_key_block(&block).unwrap();
        let client = RecordLayer {
            write_keys: Some(c.clone()),
            read_keys: Some(s.clone()),
            cid_send: cid.to_vec(),
            ..Default::default()
        };
        let server = RecordLayer {
            write_keys: Some(s),
            read_keys: Some(c),
            cid_recv: cid.to_vec(),
            ..Default::default()
        };
        (client, server)
    }

    #[test]
    fn every_suite_round_trips_with_and_without_cid() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        for suite in CipherSuite::ALL {
            for cid in [&[][..], &[7, 1, 2, 3, 4, 5, 6, 8][..]] {
                let (mut client, mut server) = pair(suite, cid);
                let bytes = client
                    .seal(1, CT_APPLICATION_DATA, b"hello", &mut rng)
                    .unwrap();
                let rec = read_record(&mut Reader::new(&bytes), cid.len()).unwrap();
                assert_eq!(rec.ctype == CT_TLS12_CID, !cid.is_empty());
                assert_eq!(
                    server.open(&rec),
                    Opened::Data {
                        ctype: CT_APPLICATION_DATA,
                        content: b"hello".to_vec(),
                        newest: true
                    },
                    "{suite:?}"
                );
                assert_eq!(server.open(&rec), Opened::Replay);
            }
        }
    }

    #[test]
    fn header_is_authenticated() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        for suite in CipherSuite::ALL {
            let (mut client, mut server) = pair(suite, &[1, 2, 3, 4]);
            let bytes = client.seal(1, CT_APPLICATION_DATA, b"x", &mut rng).unwrap();
            // Flip a bit in the sequence number and in the CID's last byte.
            for pos in [10, 14] {
                let mut bad = bytes.clone();
                bad[pos] ^= 1;
                if let Some(rec) = read_record(&mut Reader::new(&bad), 4) {
                    assert_ne!(
                        server.open(&rec),
                        Opened::Data {
                            ctype: 23,
                            content: b"x".to_vec(),
                            newest: true
                        }
                    );
                }
            }
        }
    }

    #[test]
    fn epoch_one_without_keys_is_deferred() {
        let mut rl = RecordLayer::default();
        let bytes = encode_record(CT_APPLICATION_DATA, 1, 0, &[], &[0; 30]);
        let rec = read_record(&mut Reader::new(&bytes), 0).unwrap();
        assert_eq!(rl.open(&rec), Opened::NoKeys);
        let bytes = encode_record(CT_APPLICATION_DATA, 2, 0, &[], &[0; 30]);
        let rec = read_record(&mut Reader::new(&bytes), 0).unwrap();
        assert_eq!(rl.open(&rec), Opened::Invalid);
    }
}
