//! Deterministic pseudo-random numbers.
//!
//! The endpoint is sans-IO, so it never reads OS randomness itself: the IO
//! driver seeds it (from the OS in production, from a constant in tests) and
//! every random choice (tokens, initial message ids, retransmission jitter) is
//! then reproducible from that seed.

/// SplitMix64: tiny, fast and statistically good enough for tokens and jitter.
/// It is not a CSPRNG; tokens are not a security mechanism in CoAP (DTLS is).
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn next_u16(&mut self) -> u16 {
        // Take the high bits: they are the best mixed ones.
        (self.next_u64() >> 48) as u16
    }

    /// Uniform float in `[0, 1)` built from 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            for (dst, src) in chunk.iter_mut().zip(bytes.iter()) {
                *dst = *src;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn different_seeds_differ() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(2);
        assert_ne!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn f64_in_unit_interval() {
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn fill_partial_chunks() {
        let mut r = Rng::new(9);
        let mut buf = [0u8; 11];
        r.fill(&mut buf);
        assert!(buf.iter().any(|b| *b != 0));
    }
}
