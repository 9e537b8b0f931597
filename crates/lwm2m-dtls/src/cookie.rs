//! Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1).
//!
//! `cookie = HMAC-SHA256(secret, client address || ClientHello without
//! cookie)[..16]`: a client can only echo it from the address it was sent
//! to, and only for the same hello parameters. Nothing is stored per
//! client. The secret rotates every `lifetime`; the previous one stays
//! valid so a cookie issued just before a rotation still works.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use crate::prf::hmac_sha256;

pub(crate) const COOKIE_LEN: usize = 16;

#[derive(Clone)]
pub(crate) struct CookieKeys {
    current: [u8; 32],
    previous: [u8; 32],
    rotate_at: Option<Instant>,
    lifetime: Duration,
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieKeys")
            .field("rotate_at", &self.rotate_at)
            .finish_non_exhaustive()
    }
}

fn addr_bytes(addr: &SocketAddr) -> Vec<u8> {
    let mut out = match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.octets().to_vec(),
        std::net::IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

impl CookieKeys {
    pub(crate) fn new(lifetime: Duration, rng: &mut dyn CryptoRngCore) -> Self {
        let mut current = [0u8; 32];
        let mut previous = [0u8; 32];
        rng.fill_bytes(&mut current);
        rng.fill_bytes(&mut previous);
        Self {
            current,
            previous,
            rotate_at: None,
            lifetime,
        }
    }

    /// Rotates the secret when its lifetime is over (checked on every
    /// datagram, so no timer is needed).
    pub(crate) fn rotate_if_due(&mut self, now: Instant, rng: &mut dyn CryptoRngCore) {
        match self.rotate_at {
            None => self.rotate_at = now.checked_add(self.lifetime),
            Some(at) if now >= at => {
                self.previous = self.current;
                rng.fill_bytes(&mut self.current);
                self.rotate_at = now.checked_add(self.lifetime);
            }
            Some(_) => {}
        }
    }

    fn compute(secret: &[u8; 32], addr: &SocketAddr, hello: &[u8]) -> [u8; COOKIE_LEN] {
        let mac = hmac_sha256(secret, &[&addr_bytes(addr), hello]);
        let mut out = [0u8; COOKIE_LEN];
        for (d, s) in out.iter_mut().zip(mac.iter()) {
            *d = *s;
        }
        out
    }

    pub(crate) fn generate(&self, addr: &SocketAddr, hello: &[u8]) -> [u8; COOKIE_LEN] {
        Self::compute(&self.current, addr, hello)
    }

    pub(crate) fn verify(&self, addr: &SocketAddr, hello: &[u8], cookie: &[u8]) -> bool {
        let cur: bool = Self::compute(&self.current, addr, hello)
            .ct_eq(cookie)
            .into();
        let prev: bool = Self::compute(&self.previous, addr, hello)
            .ct_eq(cookie)
            .into();
        cur | prev
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn cookie_bound_to_address_and_hello_and_rotates() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let now = Instant::now();
        let life = Duration::from_secs(60);
        let mut keys = CookieKeys::new(life, &mut rng);
        keys.rotate_if_due(now, &mut rng);
        let a: SocketAddr = "192.0.2.1:5683".parse().unwrap();
        let b: SocketAddr = "192.0.2.1:5684".parse().unwrap();
        let c = keys.generate(&a, b"hello");
        assert!(keys.verify(&a, b"hello", &c));
        assert!(!keys.verify(&b, b"hello", &c));
        assert!(!keys.verify(&a, b"hellp", &c));
        assert!(!keys.verify(&a, b"hello", &c[..8]));
        keys.rotate_if_due(now + life, &mut rng);
        assert!(keys.verify(&a, b"hello", &c), "previous secret still valid");
        keys.rotate_if_due(now + life * 2, &mut rng);
        assert!(
            !keys.verify(&a, b"hello", &c),
            "two rotations later it expired"
        );
    }
}
