//! AEAD record protection for AES-128-CCM-8 and AES-128-CCM (16-byte tag,
//! RFC 6655 / RFC 7251) and AES-128-GCM
//! (RFC 5288): `GenericAEADCipher { nonce_explicit[8], ciphertext || tag }`
//! with nonce = 4-byte implicit IV || 8-byte explicit part. We use
//! epoch||sequence as the explicit part, which is unique per key.

use aes::Aes128;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadCore, AeadInPlace, KeyInit};
use aes_gcm::Aes128Gcm;
use ccm::consts::{U12, U16, U8};
use ccm::Ccm;

/// CCM with an 8-byte tag and a 12-byte nonce (L = 3).
pub(crate) type Aes128Ccm8 = Ccm<Aes128, U8, U12>;
/// CCM with a 16-byte tag and a 12-byte nonce (`_AES_128_CCM` suites).
pub(crate) type Aes128Ccm16 = Ccm<Aes128, U16, U12>;

fn nonce(iv: [u8; 4], explicit: [u8; 8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    for (dst, src) in n.iter_mut().zip(iv.iter().chain(explicit.iter())) {
        *dst = *src;
    }
    n
}

fn seal<C: AeadInPlace>(
    cipher: &C,
    iv: [u8; 4],
    explicit: [u8; 8],
    aad: &[u8],
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let n = nonce(iv, explicit);
    let nonce = GenericArray::<u8, <C as AeadCore>::NonceSize>::from_exact_iter(n)?;
    let mut buf = plaintext.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(&nonce, aad, &mut buf)
        .ok()?;
    let mut out = Vec::with_capacity(8 + buf.len() + tag.len());
    out.extend_from_slice(&explicit);
    out.extend_from_slice(&buf);
    out.extend_from_slice(&tag);
    Some(out)
}

fn open<C: AeadInPlace>(
    cipher: &C,
    iv: [u8; 4],
    fragment: &[u8],
    tag_len: usize,
    aad_for_len: &dyn Fn(usize) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let explicit: [u8; 8] = fragment.get(..8)?.try_into().ok()?;
    let body = fragment.get(8..)?;
    let ct_len = body.len().checked_sub(tag_len)?;
    let (ct, tag) = body.split_at(ct_len);
    let tag = GenericArray::from_exact_iter(tag.iter().copied())?;
    let n = nonce(iv, explicit);
    let nonce = GenericArray::<u8, <C as AeadCore>::NonceSize>::from_exact_iter(n)?;
    let mut buf = ct.to_vec();
    cipher
        .decrypt_in_place_detached(&nonce, &aad_for_len(ct_len), &mut buf, &tag)
        .ok()?;
    Some(buf)
}

pub(crate) fn seal_ccm8(
    key: &[u8; 16],
    iv: [u8; 4],
    explicit: [u8; 8],
    aad: &[u8],
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let cipher = Aes128Ccm8::new_from_slice(key).ok()?;
    seal(&cipher, iv, explicit, aad, plaintext)
}

pub(crate) fn open_ccm8(
    key: &[u8; 16],
    iv: [u8; 4],
    fragment: &[u8],
    aad_for_len: &dyn Fn(usize) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let cipher = Aes128Ccm8::new_from_slice(key).ok()?;
    open(&cipher, iv, fragment, 8, aad_for_len)
}

pub(crate) fn seal_ccm(
    key: &[u8; 16],
    iv: [u8; 4],
    explicit: [u8; 8],
    aad: &[u8],
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let cipher = Aes128Ccm16::new_from_slice(key).ok()?;
    seal(&cipher, iv, explicit, aad, plaintext)
}

pub(crate) fn open_ccm(
    key: &[u8; 16],
    iv: [u8; 4],
    fragment: &[u8],
    aad_for_len: &dyn Fn(usize) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let cipher = Aes128Ccm16::new_from_slice(key).ok()?;
    open(&cipher, iv, fragment, 16, aad_for_len)
}

pub(crate) fn seal_gcm(
    key: &[u8; 16],
    iv: [u8; 4],
    explicit: [u8; 8],
    aad: &[u8],
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let cipher = Aes128Gcm::new_from_slice(key).ok()?;
    seal(&cipher, iv, explicit, aad, plaintext)
}

pub(crate) fn open_gcm(
    key: &[u8; 16],
    iv: [u8; 4],
    fragment: &[u8],
    aad_for_len: &dyn Fn(usize) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let cipher = Aes128Gcm::new_from_slice(key).ok()?;
    open(&cipher, iv, fragment, 16, aad_for_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// NIST SP 800-38C Appendix C, Example 3: Tlen = 64, Nlen = 96 — exactly
    /// the CCM_8 parameters of TLS. The 12-byte nonce is split into our
    /// implicit (4) and explicit (8) parts.
    #[test]
    fn ccm8_nist_sp800_38c_example3() {
        let key: [u8; 16] = unhex("404142434445464748494a4b4c4d4e4f")
            .try_into()
            .unwrap();
        let n = unhex("101112131415161718191a1b");
        let iv: [u8; 4] = n[..4].try_into().unwrap();
        let explicit: [u8; 8] = n[4..].try_into().unwrap();
        let aad = unhex("000102030405060708090a0b0c0d0e0f10111213");
        let p = unhex("202122232425262728292a2b2c2d2e2f3031323334353637");
        let c = unhex("e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5 484392fbc1b09951");
        let sealed = seal_ccm8(&key, iv, explicit, &aad, &p).unwrap();
        assert_eq!(&sealed[..8], &explicit);
        assert_eq!(&sealed[8..], &c[..]);
        let opened = open_ccm8(&key, iv, &sealed, &|len| {
            assert_eq!(len, p.len());
            aad.clone()
        })
        .unwrap();
        assert_eq!(opened, p);
    }

    /// NIST CAVP CCM test vectors (DVPT128.rsp, [Alen = 32, Plen = 24,
    /// Nlen = 12, Tlen = 16], Count = 0): a 16-byte tag with the 12-byte
    /// nonce of TLS, the parameters of TLS_PSK_WITH_AES_128_CCM and
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM. (The SP 800-38C examples and RFC
    /// 3610 have no 16-byte tag with a 12-byte nonce.)
    #[test]
    fn ccm16_nist_cavp_tlen16_nlen12() {
        let key: [u8; 16] = unhex("005e8f4d8e0cbf4e1ceeb5d87a275848")
            .try_into()
            .unwrap();
        let n = unhex("0ec3ac452b547b9062aac8fa");
        let iv: [u8; 4] = n[..4].try_into().unwrap();
        let explicit: [u8; 8] = n[4..].try_into().unwrap();
        let aad = unhex("2f1821aa57e5278ffd33c17d46615b77363149dbc98470413f6543a6b749f2ca");
        let p = unhex("b6f345204526439daf84998f380dcfb4b4167c959c04ff65");
        let c = unhex(
            "9575e16f35da3c88a19c26a7b762044f4d7bbbafeff05d75 4829e2a7752fa3a14890972884b511d8",
        );
        let sealed = seal_ccm(&key, iv, explicit, &aad, &p).unwrap();
        assert_eq!(&sealed[..8], &explicit);
        assert_eq!(&sealed[8..], &c[..]);
        let opened = open_ccm(&key, iv, &sealed, &|len| {
            assert_eq!(len, p.len());
            aad.clone()
        })
        .unwrap();
        assert_eq!(opened, p);
        // The 16-byte tag is checked in full; a CCM_8 key schedule cannot open it.
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(open_ccm(&key, iv, &bad, &|_| aad.clone()).is_none());
        assert!(open_ccm8(&key, iv, &sealed, &|_| aad.clone()).is_none());
    }

    /// GCM spec (McGrew/Viega) test case 4, a NIST CAVP-style vector with a
    /// 96-bit IV, AAD and a partial last block.
    #[test]
    fn gcm_test_case_4() {
        let key: [u8; 16] = unhex("feffe9928665731c6d6a8f9467308308")
            .try_into()
            .unwrap();
        let n = unhex("cafebabefacedbaddecaf888");
        let iv: [u8; 4] = n[..4].try_into().unwrap();
        let explicit: [u8; 8] = n[4..].try_into().unwrap();
        let p = unhex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let c = unhex(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
        );
        let tag = unhex("5bc94fbc3221a5db94fae95ae7121a47");
        let sealed = seal_gcm(&key, iv, explicit, &aad, &p).unwrap();
        assert_eq!(&sealed[8..8 + c.len()], &c[..]);
        assert_eq!(&sealed[8 + c.len()..], &tag[..]);
        assert_eq!(open_gcm(&key, iv, &sealed, &|_| aad.clone()).unwrap(), p);
    }

    #[test]
    fn tampering_is_detected() {
        let key = [7u8; 16];
        let mut sealed = seal_ccm8(&key, [1; 4], [2; 8], b"ad", b"hello").unwrap();
        assert!(open_ccm8(&key, [1; 4], &sealed, &|_| b"ad".to_vec()).is_some());
        assert!(open_ccm8(&key, [1; 4], &sealed, &|_| b"ae".to_vec()).is_none());
        sealed[9] ^= 1;
        assert!(open_ccm8(&key, [1; 4], &sealed, &|_| b"ad".to_vec()).is_none());
        assert!(open_gcm(&key, [1; 4], &[0u8; 10], &|_| Vec::new()).is_none());
        assert!(open_ccm8(&key, [1; 4], &[], &|_| Vec::new()).is_none());
    }
}
