//! AES-128-CBC with HMAC-SHA256 or HMAC-SHA1, MAC-then-encrypt (RFC 5246
//! §6.2.3.2): `IV[16] || CBC(content || MAC[32 or 20] || padding)`, the MAC
//! computed over the additional data (the pseudo-header) followed by the
//! content.
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

use hmac::{Hmac, Mac as _};

use crate::prf::hmac_sha256;

const BLOCK: usize = 16;

/// The record MAC and its key.
#[derive(Clone, Copy)]
pub(crate) enum Mac<'a> {
    /// HMAC-SHA256 (the `_SHA256` suites), 32-byte key and tag.
    Sha256(&'a [u8; 32]),
    /// HMAC-SHA1 (`TLS_PSK_WITH_AES_128_CBC_SHA`), 20-byte key and tag.
    Sha1(&'a [u8]),
}

impl Mac<'_> {
    fn len(self) -> usize {
        match self {
            Mac::Sha256(_) => 32,
            Mac::Sha1(_) => 20,
        }
    }

    fn compute(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Mac::Sha256(key) => hmac_sha256(key, parts).to_vec(),
            Mac::Sha1(key) => hmac_sha1(key, parts).to_vec(),
        }
    }
}

/// HMAC-SHA1 (RFC 2104) over the concatenation of `parts`.
pub(crate) fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    // HMAC takes keys of any length.
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(key) else {
        return [0; 20];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

pub(crate) fn seal(
    mac_alg: &Mac<'_>,
    key: &[u8; 16],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut dyn CryptoRngCore,
) -> Option<Vec<u8>> {
    let mac = mac_alg.compute(&[aad, plaintext]);
    let unpadded = plaintext.len() + mac.len();
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
    mac_alg: &Mac<'_>,
    key: &[u8; 16],
    fragment: &[u8],
    aad_for_len: &dyn Fn(usize) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let mac_len = mac_alg.len();
    let iv: [u8; BLOCK] = fragment.get(..BLOCK)?.try_into().ok()?;
    let ct = fragment.get(BLOCK..)?;
    // At least the MAC and the padding length byte, in whole blocks.
    if ct.len() % BLOCK != 0 || ct.len() <= mac_len {
        return None;
    }
    let mut buf = ct.to_vec();
    cbc::Decryptor::<Aes128>::new(key.into(), &iv.into())
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .ok()?;
    let pad = usize::from(*buf.last()?);
    // `ct.len() > mac_len`, so this subtraction only fails for absurd padding.
    let (pad, pad_ok) = match buf.len().checked_sub(mac_len + pad + 1) {
        Some(_) => {
            let padding = buf.get(buf.len() - pad - 1..)?;
            let all_equal = padding.iter().fold(0u8, |acc, b| acc | (b ^ (pad as u8)));
            (pad, all_equal == 0)
        }
        None => (0, false),
    };
    let content_len = buf.len() - mac_len - pad - 1;
    let content = buf.get(..content_len)?;
    let mac = buf.get(content_len..content_len + mac_len)?;
    let expected = mac_alg.compute(&[&aad_for_len(content_len), content]);
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
            for mac in [Mac::Sha256(&mac_key), Mac::Sha1(&mac_key[..20])] {
                let sealed = seal(&mac, &key, b"hdr", &p, &mut rng).unwrap();
                assert_eq!((sealed.len() - 16) % 16, 0);
                let opened = open(&mac, &key, &sealed, &|l| {
                    assert_eq!(l, len);
                    b"hdr".to_vec()
                });
                assert_eq!(opened.unwrap(), p);
            }
        }
    }

    #[test]
    fn bad_mac_or_padding_dropped() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let key = [3u8; 16];
        let mac_key = [4u8; 32];
        for mac in [Mac::Sha256(&mac_key), Mac::Sha1(&mac_key[..20])] {
            let sealed = seal(&mac, &key, b"hdr", b"payload", &mut rng).unwrap();
            for i in 0..sealed.len() {
                let mut bad = sealed.clone();
                bad[i] ^= 0x40;
                assert!(
                    open(&mac, &key, &bad, &|_| b"hdr".to_vec()).is_none(),
                    "flip at {i}"
                );
            }
            assert!(open(&mac, &key, &sealed[..32], &|_| Vec::new()).is_none());
        }
        // A SHA-1 record does not open as a SHA-256 one.
        let sealed = seal(&Mac::Sha1(&mac_key[..20]), &key, b"h", b"p", &mut rng).unwrap();
        assert!(open(&Mac::Sha256(&mac_key), &key, &sealed, &|_| b"h".to_vec()).is_none());
    }

    /// RFC 2202 §3 test cases 1, 2 and 6 (a key longer than the block):
    /// pins the HMAC-SHA1 of TLS_PSK_WITH_AES_128_CBC_SHA.
    #[test]
    fn hmac_sha1_rfc2202() {
        assert_eq!(
            hex::encode(hmac_sha1(&[0x0b; 20], &[b"Hi There"])),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", &[b"what do ya want ", b"for nothing?"])),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(hmac_sha1(
                &[0xaa; 80],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }
}
