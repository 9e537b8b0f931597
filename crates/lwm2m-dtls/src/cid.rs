//! Connection IDs (RFC 9146) for a cluster: the first byte of every CID we
//! issue is the node id, the rest is random. A node that receives a record
//! for another node's session can read the owner from byte 11 of the
//! record without any key (the multi-node forwarding issue builds on this).

use rand_core::CryptoRngCore;

use crate::record::CT_TLS12_CID;

/// The node id of a `tls12_cid` record (content type 25), read from byte 11
/// (type 1 + version 2 + epoch 2 + sequence 6). `None` for other records or
/// short input. No decryption, no state.
pub fn node_id_of_record(datagram: &[u8]) -> Option<u8> {
    if *datagram.first()? != CT_TLS12_CID {
        return None;
    }
    datagram.get(11).copied()
}

/// A fresh CID of `len` bytes starting with `node_id`, not accepted by
/// `taken`. `None` after a few collisions (the caller then issues no CID).
pub(crate) fn generate(
    node_id: u8,
    len: usize,
    rng: &mut dyn CryptoRngCore,
    taken: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    for _ in 0..8 {
        let mut cid = vec![0u8; len];
        if let Some((first, rest)) = cid.split_first_mut() {
            *first = node_id;
            rng.fill_bytes(rest);
        }
        if !taken(&cid) {
            return Some(cid);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn node_id_read_without_keys() {
        let rec = crate::record::encode_record(
            CT_TLS12_CID,
            1,
            9,
            &[0x17, 1, 2, 3, 4, 5, 6, 7],
            b"ciphertext",
        );
        assert_eq!(node_id_of_record(&rec), Some(0x17));
        assert_eq!(node_id_of_record(&rec[..11]), None);
        let plain = crate::record::encode_record(23, 1, 9, &[], b"ciphertext");
        assert_eq!(node_id_of_record(&plain), None);
        assert_eq!(node_id_of_record(&[]), None);
    }

    #[test]
    fn generated_cids_carry_node_id_and_avoid_collisions() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let cid = generate(3, 8, &mut rng, |_| false).unwrap();
        assert_eq!((cid.len(), cid[0]), (8, 3));
        assert!(generate(3, 8, &mut rng, |_| true).is_none());
    }
}
