//! The TLS 1.2 PRF (RFC 5246 §5) with HMAC-SHA256, and the derivations built
//! on it: master secret (plain and RFC 7627 extended), key expansion and
//! Finished verify data. All our cipher suites use SHA-256 for the PRF.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here;
    // the fallback keeps the code panic-free without an `expect`.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `PRF(secret, label, seed)` truncated to `out.len()` bytes (P_SHA256).
pub(crate) fn prf(secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    // A(1) = HMAC(secret, label + seed); A(i) = HMAC(secret, A(i-1)).
    let mut a = hmac(secret, &[label, seed]);
    for chunk in out.chunks_mut(32) {
        let block = hmac(secret, &[&a, label, seed]);
        for (dst, src) in chunk.iter_mut().zip(block.iter()) {
            *dst = *src;
        }
        a = hmac(secret, &[&a]);
    }
}

/// RFC 5246 §8.1 master secret.
pub(crate) fn master_secret(
    pre_master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> [u8; 48] {
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(client_random);
    seed[32..].copy_from_slice(server_random);
    let mut out = [0u8; 48];
    prf(pre_master, b"master secret", &seed, &mut out);
    out
}

/// RFC 7627 §4 extended master secret: bound to the hash of the handshake
/// up to and including ClientKeyExchange, so a man in the middle cannot
/// synchronise two sessions' master secrets.
pub(crate) fn extended_master_secret(pre_master: &[u8], session_hash: &[u8; 32]) -> [u8; 48] {
    let mut out = [0u8; 48];
    prf(
        pre_master,
        b"extended master secret",
        session_hash,
        &mut out,
    );
    out
}

/// RFC 5246 §6.3 key block; note the seed order (server random first).
pub(crate) fn key_block(
    master: &[u8; 48],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    len: usize,
) -> Vec<u8> {
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(server_random);
    seed[32..].copy_from_slice(client_random);
    let mut out = vec![0u8; len];
    prf(master, b"key expansion", &seed, &mut out);
    out
}

/// RFC 5246 §7.4.9 verify_data (12 bytes).
pub(crate) fn verify_data(master: &[u8; 48], client: bool, transcript_hash: &[u8; 32]) -> [u8; 12] {
    let label: &[u8] = if client {
        b"client finished"
    } else {
        b"server finished"
    };
    let mut out = [0u8; 12];
    prf(master, label, transcript_hash, &mut out);
    out
}

/// RFC 4279 §2 PSK pre-master secret: `uint16 N, N zero bytes, uint16 N, psk`.
pub(crate) fn psk_pre_master(psk: &[u8]) -> Vec<u8> {
    let n = u16::try_from(psk.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(4 + 2 * psk.len());
    out.extend_from_slice(&n.to_be_bytes());
    out.resize(2 + psk.len(), 0);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(psk);
    out
}

/// ECDHE_PSK pre-master secret (RFC 5489 §2): the ECDH secret as
/// `other_secret`, then the PSK, each with a 16-bit length.
pub(crate) fn ecdhe_psk_pre_master(other_secret: &[u8], psk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + other_secret.len() + psk.len());
    for part in [other_secret, psk] {
        let n = u16::try_from(part.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Running SHA-256 of the handshake transcript.
#[derive(Clone, Default)]
pub(crate) struct Transcript {
    hash: Sha256,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transcript")
    }
}

impl Transcript {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    /// Hash of everything so far; the transcript keeps running.
    pub(crate) fn current(&self) -> [u8; 32] {
        self.hash.clone().finalize().into()
    }
}

/// HMAC-SHA256 for the cookie and the CBC record MAC.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    hmac(key, parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// The widely used TLS 1.2 PRF-SHA256 test vector (IETF TLS list,
    /// also in Go's and Botan's test suites).
    #[test]
    fn prf_sha256_vector() {
        let secret = unhex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
        let seed = unhex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
        let expected = unhex(
            "e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4
             e6 1e db 5a 6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17
             ab fd 37 97 c0 56 4b ab 4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1
             22 ee 42 c5 a7 2e 5a 51 10 ff f7 01 87 34 7b 66",
        );
        let mut out = vec![0u8; expected.len()];
        prf(&secret, b"test label", &seed, &mut out);
        assert_eq!(out, expected);
    }

    /// RFC 4231 test case 2 pins the HMAC building block.
    #[test]
    fn hmac_sha256_rfc4231_case2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn psk_pre_master_layout() {
        assert_eq!(psk_pre_master(&[7, 8]), vec![0, 2, 0, 0, 0, 2, 7, 8]);
    }

    #[test]
    fn ecdhe_psk_pre_master_layout() {
        assert_eq!(
            ecdhe_psk_pre_master(&[1, 2, 3], &[7, 8]),
            vec![0, 3, 1, 2, 3, 0, 2, 7, 8]
        );
    }
}
