//! AES-128-CBC with HMAC-SHA256, MAC-then-encrypt (RFC 5246 §6.2.3.2):
//! `IV[16] || CBC(content || MAC[32] || padding)`, the MAC computed over the
//! additional data (the pseudo-header) followed by the content.
//!
//! Padding and MAC failures are indistinguishable to the sender (DTLS drops
//! bad records silently) and the MAC is computed even when the padding is
//! bad, as RFC 5246 recommends against timing oracles. This is not a full
//! Lucky13 countermeasure; the AEAD suites are preferred by default.

use aes::Aes128;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use crate::prf::hmac_sha256;

const BLOCK: usize = 16;
const MAC: usize = 32;

pub(crate) fn seal(
    key: &[u8; 16],
    mac_key: &[u8; 32],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut dyn CryptoRngCore,
) -> Option<Vec<u8>> {
    let mac = hmac_sha256(mac_key, &[aad, plaintext]);
    let unpadded = plaintext.len() + MAC;
    let pad = BLOCK - 1 - unpadded % BLOCK;
    let pad_byte = u8::try_from(pad).ok()?;
    let mut buf = Vec::with_capacity(unpadded + pad + 1);
    buf.extend_from_slice(plaintext);
    buf.extend_from_slice(&mac);
    buf.resize(unpadded + pad + 1, pad_byte);
    let mut iv = [0u8; BLOCK];
    rng.fill_bytes(&mut iv);
    let len = buf.len();
    cbc::Encryptor::<Aes128>::new(key.into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .ok()?;
    let mut out = Vec::with_capacity(BLOCK + buf.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&buf);
    Some(out)
}

pub(crate) fn open(
    key: &[u8; 16],
    mac_key: &[u8; 32],
    fragment: &[u8],
    aad_for_len: &dyn Fn(usize) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let iv: [u8; BLOCK] = fragment.get(..BLOCK)?.try_into().ok()?;
    let ct = fragment.get(BLOCK..)?;
    if ct.len() % BLOCK != 0 || ct.len() < MAC + BLOCK {
        return None;
    }
    let mut buf = ct.to_vec();
    cbc::Decryptor::<Aes128>::new(key.into(), &iv.into())
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .ok()?;
    let pad = usize::from(*buf.last()?);
    // `ct.len() >= MAC + 16`, so this subtraction only fails for absurd padding.
    let (pad, pad_ok) = match buf.len().checked_sub(MAC + pad + 1) {
        Some(_) => {
            let padding = buf.get(buf.len() - pad - 1..)?;
            let all_equal = padding.iter().fold(0u8, |acc, b| acc | (b ^ (pad as u8)));
            (pad, all_equal == 0)
        }
        None => (0, false),
    };
    let content_len = buf.len() - MAC - pad - 1;
    let content = buf.get(..content_len)?;
    let mac = buf.get(content_len..content_len + MAC)?;
    let expected = hmac_sha256(mac_key, &[&aad_for_len(content_len), content]);
    let mac_ok: bool = expected.ct_eq(mac).into();
    if mac_ok && pad_ok {
        buf.truncate(content_len);
        Some(buf)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// NIST SP 800-38A F.2.1 (CBC-AES128.Encrypt), first two blocks: pins the
    /// block cipher mode our records use.
    #[test]
    fn aes_cbc_sp800_38a_f21() {
        let key: [u8; 16] = unhex("2b7e151628aed2a6abf7158809cf4f3c")
            .try_into()
            .unwrap();
        let iv: [u8; 16] = unhex("000102030405060708090a0b0c0d0e0f")
            .try_into()
            .unwrap();
        let mut buf = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let len = buf.len();
        cbc::Encryptor::<Aes128>::new(&key.into(), &iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .unwrap();
        assert_eq!(
            hex::encode(&buf),
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
        );
    }

    #[test]
    fn round_trip_all_lengths() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let key = [3u8; 16];
        let mac_key = [4u8; 32];
        for len in 0..70 {
            let p: Vec<u8> = (0..len as u8).collect();
            let sealed = seal(&key, &mac_key, b"hdr", &p, &mut rng).unwrap();
            assert_eq!((sealed.len() - 16) % 16, 0);
            let opened = open(&key, &mac_key, &sealed, &|l| {
                assert_eq!(l, len);
                b"hdr".to_vec()
            });
            assert_eq!(opened.unwrap(), p);
        }
    }

    #[test]
    fn bad_mac_or_padding_dropped() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let key = [3u8; 16];
        let mac_key = [4u8; 32];
        let sealed = seal(&key, &mac_key, b"hdr", b"payload", &mut rng).unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            assert!(
                open(&key, &mac_key, &bad, &|_| b"hdr".to_vec()).is_none(),
                "flip at {i}"
            );
        }
        assert!(open(&key, &mac_key, &sealed[..40], &|_| Vec::new()).is_none());
    }
}
