//! The server's (or test client's) P-256 private key, loaded from PEM or
//! DER, and PEM certificate chains. Parsing is done by RustCrypto's `pkcs8`,
//! `sec1` and `x509-cert`; nothing here touches key material by hand.

use der::{Decode, Encode};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
use p256::SecretKey;

use crate::error::Error;

/// A P-256 (secp256r1) private key for the ECDHE_ECDSA suites.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey {
    secret: SecretKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material; the public key identifies it well enough.
        f.debug_struct("PrivateKey")
            .field("spki_der_len", &self.spki_der().len())
            .finish_non_exhaustive()
    }
}

impl From<SecretKey> for PrivateKey {
    fn from(secret: SecretKey) -> Self {
        Self { secret }
    }
}

impl PrivateKey {
    /// A key from PEM: PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    /// Other PEM blocks in the input (a certificate, `EC PARAMETERS`) are
    /// skipped, so a combined key-and-certificate file works too.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        for (label, der) in pem_blocks(pem)? {
            match label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8_der(&der),
                "EC PRIVATE KEY" => return Self::from_sec1_der(&der),
                _ => {}
            }
        }
        Err(Error::Credential("no PRIVATE KEY or EC PRIVATE KEY block"))
    }

    /// A key from PKCS#8 DER (as `openssl pkcs8 -topk8 -outform DER` writes).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        SecretKey::from_pkcs8_der(der)
            .map(Self::from)
            .map_err(|_| Error::Credential("not a PKCS#8 P-256 private key"))
    }

    /// A key from SEC1 `ECPrivateKey` DER.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, Error> {
        SecretKey::from_sec1_der(der)
            .map(Self::from)
            .map_err(|_| Error::Credential("not a SEC1 P-256 private key"))
    }

    /// The public key as a DER `SubjectPublicKeyInfo`: what the server sends
    /// as its raw public key (RFC 7250) and what a device record stores.
    pub fn spki_der(&self) -> Vec<u8> {
        self.secret
            .public_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default()
    }

    pub(crate) fn signing_key(&self) -> SigningKey {
        SigningKey::from(&self.secret)
    }
}

/// ECDSA-SHA256 over `message`, DER-encoded as TLS carries it.
pub(crate) fn sign(key: &SigningKey, message: &[u8]) -> Vec<u8> {
    let sig: Signature = key.sign(message);
    sig.to_der().as_bytes().to_vec()
}

/// ECDSA over an already computed SHA-256 digest (the running handshake
/// hash for CertificateVerify).
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn sign_digest(key: &SigningKey, digest: &[u8; 32]) -> Option<Vec<u8>> {
    let sig: DerSignature = key.sign_prehash(digest).ok()?;
    Some(sig.as_bytes().to_vec())
}

/// Every certificate in a PEM input, in order, as DER (leaf first for a
/// chain file). Other blocks are skipped.
pub fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, Error> {
    let certs: Vec<Vec<u8>> = pem_blocks(pem)?
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect();
    for c in &certs {
        x509_cert::Certificate::from_der(c)
            .map_err(|_| Error::Credential("a CERTIFICATE block is not an X.509 certificate"))?;
    }
    Ok(certs)
}

/// Splits PEM text into (label, DER) blocks.
fn pem_blocks(pem: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let block = rest.get(start..).unwrap_or_default();
        let label_end = block
            .get(BEGIN.len()..)
            .and_then(|b| b.find("-----"))
            .ok_or(Error::Credential("unterminated PEM header"))?;
        let label = block
            .get(BEGIN.len()..BEGIN.len() + label_end)
            .unwrap_or_default();
        let end_marker = format!("-----END {label}-----");
        let end = block
            .find(&end_marker)
            .ok_or(Error::Credential("PEM block without END line"))?
            + end_marker.len();
        let text = block.get(..end).unwrap_or_default();
        let (decoded_label, der) = der::pem::decode_vec(text.as_bytes())
            .map_err(|_| Error::Credential("malformed PEM block"))?;
        out.push((decoded_label.to_string(), der));
        rest = block.get(end..).unwrap_or_default();
    }
    Ok(out)
}

/// DER `SubjectPublicKeyInfo` of a certificate.
pub(crate) fn certificate_spki(cert_der: &[u8]) -> Option<Vec<u8>> {
    let cert = x509_cert::Certificate::from_der(cert_der).ok()?;
    cert.tbs_certificate.subject_public_key_info.to_der().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::EncodePrivateKey;
    use rand_chacha::rand_core::SeedableRng;

    fn key() -> SecretKey {
        SecretKey::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(3))
    }

    #[test]
    fn pem_and_der_forms_load_the_same_key() {
        let secret = key();
        let pkcs8_pem = secret
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string();
        let sec1_pem = secret
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string();
        let pkcs8_der = secret.to_pkcs8_der().unwrap();
        let a = PrivateKey::from_pem(&pkcs8_pem).unwrap();
        let b = PrivateKey::from_pem(&format!("junk\n{sec1_pem}")).unwrap();
        let c = PrivateKey::from_pkcs8_der(pkcs8_der.as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.spki_der().len(), 91);
        assert!(!format!("{a:?}").contains(&hex::encode(secret.to_bytes())));
        assert!(PrivateKey::from_pem("nothing").is_err());
        assert!(PrivateKey::from_pkcs8_der(&[0x30, 0x03, 1, 2, 3]).is_err());
    }

    #[test]
    fn pem_blocks_bad_input_is_an_error_not_a_panic() {
        assert!(pem_blocks("-----BEGIN X").is_err());
        assert!(pem_blocks("-----BEGIN X-----\nAAAA\n").is_err());
        assert!(pem_blocks("-----BEGIN X-----\n!!\n-----END X-----\n").is_err());
        assert_eq!(pem_certificates("").unwrap(), Vec::<Vec<u8>>::new());
    }
}
