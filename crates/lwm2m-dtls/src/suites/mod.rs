//! Cipher suites: identifiers, key-block layout and record protection.
//!
//! Record protection is split by construction: [`aead`] (AES-CCM-8,
//! AES-CCM and AES-GCM with the RFC 6655 / RFC 5288 nonce layout) and
//! [`cbc`] (AES-CBC with HMAC-SHA256 or HMAC-SHA1, MAC-then-encrypt, RFC
//! 5246 §6.2.3.2). Both
//! take the additional data from the record layer, which builds it for
//! plain and `tls12_cid` records (RFC 9146 differs there).

pub(crate) mod aead;
pub(crate) mod cbc;

use rand_core::CryptoRngCore;

/// The cipher suites this engine negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// TLS_PSK_WITH_AES_128_CCM_8 (0xC0A8, RFC 6655): mandatory in LwM2M.
    PskAes128Ccm8,
    /// TLS_PSK_WITH_AES_128_GCM_SHA256 (0x00A8, RFC 5487).
    PskAes128GcmSha256,
    /// TLS_PSK_WITH_AES_128_CBC_SHA256 (0x00AE, RFC 5487).
    PskAes128CbcSha256,
    /// TLS_PSK_WITH_AES_128_CCM (0xC0A4, RFC 6655): CCM with a 16-byte
    /// tag, a default of Mbed TLS.
    PskAes128Ccm,
    /// TLS_PSK_WITH_AES_128_CBC_SHA (0x008C, RFC 4279): HMAC-SHA1.
    PskAes128CbcSha,
    /// TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256 (0xC037, RFC 5489): PSK
    /// combined with an ephemeral ECDH (forward secrecy); listed by LwM2M 1.1.
    EcdhePskAes128CbcSha256,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (0xC0AE, RFC 7251): the LwM2M
    /// certificate-mode suite.
    EcdheEcdsaAes128Ccm8,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xC02B, RFC 5289).
    EcdheEcdsaAes128GcmSha256,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 (0xC023, RFC 5289).
    EcdheEcdsaAes128CbcSha256,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM (0xC0AC, RFC 7251): 16-byte tag.
    EcdheEcdsaAes128Ccm,
}

/// How a suite establishes the pre-master secret and authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyExchange {
    /// Pre-shared key (RFC 4279).
    Psk,
    /// Ephemeral ECDH on secp256r1, authenticated with ECDSA keys: raw
    /// public keys (RFC 7250) or X.509 certificates.
    EcdheEcdsa,
    /// Ephemeral ECDH on secp256r1 authenticated by a pre-shared key
    /// (RFC 5489).
    EcdhePsk,
}

/// Bulk record protection of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bulk {
    Ccm8,
    Ccm,
    Gcm,
    CbcSha256,
    CbcSha1,
}

impl CipherSuite {
    /// Every suite, in our default order of preference: AEAD before CBC
    /// (the CBC suites are MAC-then-encrypt, see [`cbc`]), CCM_8 first
    /// because LwM2M mandates it, SHA-1 last. The ECDHE_ECDSA suites are
    /// only chosen when the server has a certificate configured.
    pub const ALL: [CipherSuite; 10] = [
        CipherSuite::PskAes128Ccm8,
        CipherSuite::PskAes128Ccm,
        CipherSuite::PskAes128GcmSha256,
        CipherSuite::EcdheEcdsaAes128Ccm8,
        CipherSuite::EcdheEcdsaAes128Ccm,
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        CipherSuite::PskAes128CbcSha256,
        CipherSuite::EcdhePskAes128CbcSha256,
        CipherSuite::EcdheEcdsaAes128CbcSha256,
        CipherSuite::PskAes128CbcSha,
    ];

    /// The suites a server negotiates unless configured otherwise: the
    /// AEAD ones of [`Self::ALL`], in its order. The CBC suites are left
    /// out: their MAC-then-encrypt records are open to Lucky13-style timing
    /// (the MAC check here is not constant-time over the maximum length);
    /// configure them for clients that have nothing else.
    pub const DEFAULT: [CipherSuite; 6] = [
        CipherSuite::PskAes128Ccm8,
        CipherSuite::PskAes128Ccm,
        CipherSuite::PskAes128GcmSha256,
        CipherSuite::EcdheEcdsaAes128Ccm8,
        CipherSuite::EcdheEcdsaAes128Ccm,
        CipherSuite::EcdheEcdsaAes128GcmSha256,
    ];

    /// The plain PSK suites.
    pub const PSK: [CipherSuite; 5] = [
        CipherSuite::PskAes128Ccm8,
        CipherSuite::PskAes128Ccm,
        CipherSuite::PskAes128GcmSha256,
        CipherSuite::PskAes128CbcSha256,
        CipherSuite::PskAes128CbcSha,
    ];

    /// The certificate (RPK and X.509) suites.
    pub const ECDHE_ECDSA: [CipherSuite; 4] = [
        CipherSuite::EcdheEcdsaAes128Ccm8,
        CipherSuite::EcdheEcdsaAes128Ccm,
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        CipherSuite::EcdheEcdsaAes128CbcSha256,
    ];

    /// The IANA identifier.
    pub fn id(self) -> u16 {
        match self {
            CipherSuite::PskAes128Ccm8 => 0xC0A8,
            CipherSuite::PskAes128GcmSha256 => 0x00A8,
            CipherSuite::PskAes128CbcSha256 => 0x00AE,
            CipherSuite::PskAes128Ccm => 0xC0A4,
            CipherSuite::PskAes128CbcSha => 0x008C,
            CipherSuite::EcdhePskAes128CbcSha256 => 0xC037,
            CipherSuite::EcdheEcdsaAes128Ccm8 => 0xC0AE,
            CipherSuite::EcdheEcdsaAes128GcmSha256 => 0xC02B,
            CipherSuite::EcdheEcdsaAes128CbcSha256 => 0xC023,
            CipherSuite::EcdheEcdsaAes128Ccm => 0xC0AC,
        }
    }

    /// The IANA name (`TLS_PSK_WITH_AES_128_CCM_8`), as configured in
    /// `dtls.cipher_suites`.
    pub fn name(self) -> &'static str {
        match self {
            CipherSuite::PskAes128Ccm8 => "TLS_PSK_WITH_AES_128_CCM_8",
            CipherSuite::PskAes128GcmSha256 => "TLS_PSK_WITH_AES_128_GCM_SHA256",
            CipherSuite::PskAes128CbcSha256 => "TLS_PSK_WITH_AES_128_CBC_SHA256",
            CipherSuite::PskAes128Ccm => "TLS_PSK_WITH_AES_128_CCM",
            CipherSuite::PskAes128CbcSha => "TLS_PSK_WITH_AES_128_CBC_SHA",
            CipherSuite::EcdhePskAes128CbcSha256 => "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256",
            CipherSuite::EcdheEcdsaAes128Ccm8 => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
            CipherSuite::EcdheEcdsaAes128GcmSha256 => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            CipherSuite::EcdheEcdsaAes128CbcSha256 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
            CipherSuite::EcdheEcdsaAes128Ccm => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
        }
    }

    /// The suite of an IANA name (case-insensitive), if we implement it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The key exchange and authentication of this suite.
    pub fn key_exchange(self) -> KeyExchange {
        match self {
            CipherSuite::PskAes128Ccm8
            | CipherSuite::PskAes128GcmSha256
            | CipherSuite::PskAes128CbcSha256
            | CipherSuite::PskAes128Ccm
            | CipherSuite::PskAes128CbcSha => KeyExchange::Psk,
            CipherSuite::EcdhePskAes128CbcSha256 => KeyExchange::EcdhePsk,
            CipherSuite::EcdheEcdsaAes128Ccm8
            | CipherSuite::EcdheEcdsaAes128GcmSha256
            | CipherSuite::EcdheEcdsaAes128CbcSha256
            | CipherSuite::EcdheEcdsaAes128Ccm => KeyExchange::EcdheEcdsa,
        }
    }

    /// The suite for an IANA identifier, if we implement it.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    pub(crate) fn bulk(self) -> Bulk {
        match self {
            CipherSuite::PskAes128Ccm8 | CipherSuite::EcdheEcdsaAes128Ccm8 => Bulk::Ccm8,
            CipherSuite::PskAes128Ccm | CipherSuite::EcdheEcdsaAes128Ccm => Bulk::Ccm,
            CipherSuite::PskAes128GcmSha256 | CipherSuite::EcdheEcdsaAes128GcmSha256 => Bulk::Gcm,
            CipherSuite::PskAes128CbcSha256
            | CipherSuite::EcdheEcdsaAes128CbcSha256
            | CipherSuite::EcdhePskAes128CbcSha256 => Bulk::CbcSha256,
            CipherSuite::PskAes128CbcSha => Bulk::CbcSha1,
        }
    }

    /// MAC key, encryption key and fixed IV lengths (RFC 5246 §6.3).
    fn key_lengths(self) -> (usize, usize, usize) {
        match self.bulk() {
            Bulk::Ccm8 | Bulk::Ccm | Bulk::Gcm => (0, 16, 4),
            Bulk::CbcSha256 => (32, 16, 0),
            Bulk::CbcSha1 => (20, 16, 0),
        }
    }

    /// Length of the key block for key expansion.
    pub(crate) fn key_block_len(self) -> usize {
        let (m, k, i) = self.key_lengths();
        2 * (m + k + i)
    }

    /// Splits a key block into (client write, server write) keys.
    pub(crate) fn split_key_block(self, block: &[u8]) -> Option<(DirectionKeys, DirectionKeys)> {
        let (m, k, i) = self.key_lengths();
        let mut r = crate::codec::Reader::new(block);
        let cmac = r.bytes(m)?;
        let smac = r.bytes(m)?;
        let ckey = r.bytes(k)?;
        let skey = r.bytes(k)?;
        let civ = r.bytes(i)?;
        let siv = r.bytes(i)?;
        let client = DirectionKeys::new(self, ckey, civ, cmac)?;
        let server = DirectionKeys::new(self, skey, siv, smac)?;
        Some((client, server))
    }

    /// Bytes a protected record adds to its plaintext at most (explicit
    /// nonce/IV, tag/MAC, padding).
    pub(crate) fn max_overhead(self) -> usize {
        match self.bulk() {
            Bulk::Ccm8 => 8 + 8,
            Bulk::Ccm | Bulk::Gcm => 8 + 16,
            Bulk::CbcSha256 => 16 + 32 + 16,
            Bulk::CbcSha1 => 16 + 20 + 16,
        }
    }
}

/// Keys protecting one direction of one epoch. Plain bytes, so a session can
/// be exported; the AES key schedule is rebuilt per record, which costs far
/// less than the AEAD itself.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DirectionKeys {
    pub(crate) suite: CipherSuite,
    pub(crate) key: [u8; 16],
    /// Implicit part of the AEAD nonce (zero for CBC).
    pub(crate) iv: [u8; 4],
    /// HMAC key (zero for AEAD suites); SHA-1 suites use the first 20 bytes.
    pub(crate) mac_key: [u8; 32],
}

impl std::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("DirectionKeys")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl DirectionKeys {
    pub(crate) fn new(suite: CipherSuite, key: &[u8], iv: &[u8], mac_key: &[u8]) -> Option<Self> {
        let mut out = Self {
            suite,
            key: key.try_into().ok()?,
            iv: [0; 4],
            mac_key: [0; 32],
        };
        if !iv.is_empty() {
            out.iv = iv.try_into().ok()?;
        }
        if !mac_key.is_empty() {
            out.mac_key
                .get_mut(..mac_key.len())?
                .copy_from_slice(mac_key);
        }
        Some(out)
    }

    /// Protects `plaintext`; `explicit` is epoch||sequence (the AEAD explicit
    /// nonce), `aad` the additional data for this record.
    pub(crate) fn seal(
        &self,
        explicit: [u8; 8],
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> Option<Vec<u8>> {
        match self.suite.bulk() {
            Bulk::Ccm8 => aead::seal_ccm8(&self.key, self.iv, explicit, aad, plaintext),
            Bulk::Ccm => aead::seal_ccm(&self.key, self.iv, explicit, aad, plaintext),
            Bulk::Gcm => aead::seal_gcm(&self.key, self.iv, explicit, aad, plaintext),
            Bulk::CbcSha256 => cbc::seal(&self.cbc_mac(), &self.key, aad, plaintext, rng),
            Bulk::CbcSha1 => cbc::seal(&self.cbc_mac(), &self.key, aad, plaintext, rng),
        }
    }

    /// Removes protection. `aad_for_len(len)` builds the additional data for
    /// a plaintext of `len` bytes (known only after CBC decryption).
    pub(crate) fn open(
        &self,
        fragment: &[u8],
        aad_for_len: &dyn Fn(usize) -> Vec<u8>,
    ) -> Option<Vec<u8>> {
        match self.suite.bulk() {
            Bulk::Ccm8 => aead::open_ccm8(&self.key, self.iv, fragment, aad_for_len),
            Bulk::Ccm => aead::open_ccm(&self.key, self.iv, fragment, aad_for_len),
            Bulk::Gcm => aead::open_gcm(&self.key, self.iv, fragment, aad_for_len),
            Bulk::CbcSha256 | Bulk::CbcSha1 => {
                cbc::open(&self.cbc_mac(), &self.key, fragment, aad_for_len)
            }
        }
    }

    /// The record MAC of a CBC suite.
    fn cbc_mac(&self) -> cbc::Mac<'_> {
        match self.suite.bulk() {
            Bulk::CbcSha1 => cbc::Mac::Sha1(self.mac_key.get(..20).unwrap_or_default()),
            _ => cbc::Mac::Sha256(&self.mac_key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for s in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_id(s.id()), Some(s));
            assert_eq!(CipherSuite::from_name(s.name()), Some(s));
        }
        assert_eq!(CipherSuite::from_id(0x0001), None);
        assert_eq!(
            CipherSuite::from_name("tls_psk_with_aes_128_ccm"),
            Some(CipherSuite::PskAes128Ccm)
        );
        assert_eq!(CipherSuite::from_name("TLS_NULL_WITH_NULL_NULL"), None);
    }

    #[test]
    fn sha1_suite_key_block() {
        let block: Vec<u8> = (0..72u8).collect();
        assert_eq!(CipherSuite::PskAes128CbcSha.key_block_len(), 72);
        let (c, s) = CipherSuite::PskAes128CbcSha
            .split_key_block(&block)
            .unwrap();
        assert_eq!((c.mac_key[0], c.mac_key[19], c.mac_key[20]), (0, 19, 0));
        assert_eq!((s.mac_key[0], c.key[0], s.key[0]), (20, 40, 56));
    }

    #[test]
    fn key_block_split() {
        let block: Vec<u8> = (0..96u8).collect();
        let (c, s) = CipherSuite::PskAes128CbcSha256
            .split_key_block(&block)
            .unwrap();
        assert_eq!(c.mac_key[0], 0);
        assert_eq!(s.mac_key[0], 32);
        assert_eq!(c.key[0], 64);
        assert_eq!(s.key[0], 80);
        let (c, s) = CipherSuite::PskAes128Ccm8
            .split_key_block(&block[..40])
            .unwrap();
        assert_eq!((c.key[0], s.key[0], c.iv[0], s.iv[0]), (0, 16, 32, 36));
    }
}
