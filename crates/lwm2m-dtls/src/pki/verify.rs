//! Checking a peer's credentials: X.509 path validation by
//! `rustls-webpki` (with ECDSA P-256 verification from RustCrypto `p256`
//! plugged in, so no `ring` enters the product), raw public keys (RFC 7250)
//! parsed as P-256 `SubjectPublicKeyInfo`, and the handshake signatures.
//!
//! Time is an input: the caller passes wall-clock seconds, the engine never
//! reads a clock.

use std::time::Duration;

use der::{Decode, Tagged};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use rustls_pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
    TrustAnchor, UnixTime,
};
use sha2::{Digest, Sha384};
use webpki::{EndEntityCert, KeyUsage};

use crate::error::Error;
use crate::handshake::alert;

/// ECDSA on P-256 with SHA-256: the only signature our suites negotiate
/// and what nearly every LwM2M PKI uses.
#[derive(Debug)]
struct EcdsaP256Sha256;

/// ECDSA on P-256 with SHA-384, seen in some CA hierarchies.
#[derive(Debug)]
struct EcdsaP256Sha384;

fn p256_signature(public_key: &[u8], signature: &[u8]) -> Option<(VerifyingKey, DerSignature)> {
    let key = VerifyingKey::from_sec1_bytes(public_key).ok()?;
    let sig = DerSignature::from_bytes(signature).ok()?;
    Some((key, sig))
}

impl SignatureVerificationAlgorithm for EcdsaP256Sha256 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let (key, sig) = p256_signature(public_key, signature).ok_or(InvalidSignature)?;
        key.verify(message, &sig).map_err(|_| InvalidSignature)
    }
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P256
    }
    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA256
    }
}

impl SignatureVerificationAlgorithm for EcdsaP256Sha384 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let (key, sig) = p256_signature(public_key, signature).ok_or(InvalidSignature)?;
        let digest = Sha384::digest(message);
        key.verify_prehash(&digest, &sig)
            .map_err(|_| InvalidSignature)
    }
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P256
    }
    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA384
    }
}

static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[&EcdsaP256Sha256, &EcdsaP256Sha384];

/// Trust anchors for peer certificates, parsed once from configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
}

impl TrustStore {
    pub(crate) fn new(ca_certs_der: &[Vec<u8>]) -> Result<Self, Error> {
        let mut anchors = Vec::with_capacity(ca_certs_der.len());
        for der in ca_certs_der {
            let cert = CertificateDer::from(der.as_slice());
            let anchor = webpki::anchor_from_trusted_cert(&cert)
                .map_err(|_| Error::Credential("a trust anchor is not a valid certificate"))?;
            anchors.push(anchor.to_owned());
        }
        Ok(Self { anchors })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Validates `chain` (leaf first, DER) for `usage` at `unix_secs`.
    /// With `accept_expired`, a chain whose only fault is an expired
    /// certificate is checked again at that certificate's last valid second,
    /// so signatures, issuers and constraints are still enforced. Returns
    /// the alert to abort with.
    pub(crate) fn verify(
        &self,
        chain: &[Vec<u8>],
        unix_secs: u64,
        usage: KeyUsage,
        accept_expired: bool,
    ) -> Result<(), u8> {
        let (leaf, intermediates) = chain.split_first().ok_or(alert::BAD_CERTIFICATE)?;
        let leaf = CertificateDer::from(leaf.as_slice());
        let ee = EndEntityCert::try_from(&leaf).map_err(|_| alert::BAD_CERTIFICATE)?;
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let mut time = unix_secs;
        // One retry per certificate in the chain is enough to walk back
        // through every expired one.
        for _ in 0..=chain.len() {
            let result = ee.verify_for_usage(
                ALGORITHMS,
                &self.anchors,
                &intermediates,
                UnixTime::since_unix_epoch(Duration::from_secs(time)),
                usage,
                None,
                None,
            );
            match result {
                Ok(_) => return Ok(()),
                Err(webpki::Error::CertExpired { not_after, .. })
                    if accept_expired && not_after.as_secs() < time =>
                {
                    time = not_after.as_secs();
                }
                Err(e) => return Err(alert_for(&e)),
            }
        }
        Err(alert::CERTIFICATE_EXPIRED)
    }
}

fn alert_for(e: &webpki::Error) -> u8 {
    match e {
        webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
            alert::CERTIFICATE_EXPIRED
        }
        webpki::Error::UnknownIssuer => alert::UNKNOWN_CA,
        webpki::Error::CertRevoked => alert::CERTIFICATE_REVOKED,
        webpki::Error::UnsupportedSignatureAlgorithmContext(_)
        | webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            alert::UNSUPPORTED_CERTIFICATE
        }
        _ => alert::BAD_CERTIFICATE,
    }
}

/// The P-256 key of a certificate (the only kind our suites can use for
/// CertificateVerify and ServerKeyExchange).
pub(crate) fn certificate_key(cert_der: &[u8]) -> Option<VerifyingKey> {
    let spki = super::key::certificate_spki(cert_der)?;
    raw_public_key(&spki)
}

/// A raw public key (RFC 7250): a DER `SubjectPublicKeyInfo` that must hold
/// a P-256 key.
pub(crate) fn raw_public_key(spki_der: &[u8]) -> Option<VerifyingKey> {
    VerifyingKey::from_public_key_der(spki_der).ok()
}

/// The first subject Common Name of a certificate, if it has one as a
/// UTF8String, PrintableString or IA5String.
pub(crate) fn subject_cn(cert_der: &[u8]) -> Option<String> {
    let cert = x509_cert::Certificate::from_der(cert_der).ok()?;
    cert.tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == der::oid::db::rfc4519::CN)
        .and_then(|atv| {
            let text_tag = matches!(
                atv.value.tag(),
                der::Tag::Utf8String | der::Tag::PrintableString | der::Tag::Ia5String
            );
            text_tag.then(|| std::str::from_utf8(atv.value.value()).ok())?
        })
        .map(str::to_string)
}

/// ECDSA-SHA256 signature (DER) over `message`.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn verify_message(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    DerSignature::from_bytes(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
}

/// ECDSA signature (DER) over a SHA-256 digest (CertificateVerify).
pub(crate) fn verify_digest(key: &VerifyingKey, digest: &[u8; 32], signature: &[u8]) -> bool {
    DerSignature::from_bytes(signature).is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
        PKCS_ECDSA_P256_SHA256, PKCS_ED25519,
    };

    fn params(cn: Option<&str>, ca: bool, not_after_year: Option<i32>) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        if let Some(cn) = cn {
            dn.push(DnType::CommonName, cn);
        } else {
            dn.push(DnType::OrganizationName, "no cn");
        }
        p.distinguished_name = dn;
        if ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if let Some(y) = not_after_year {
            p.not_before = rcgen::date_time_ymd(y - 1, 1, 1);
            p.not_after = rcgen::date_time_ymd(y, 1, 1);
        }
        p
    }

    struct Chain {
        root: Vec<u8>,
        intermediate: Vec<u8>,
        leaf: Vec<u8>,
    }

    /// root → intermediate (expiring in `mid_year`) → leaf (in `leaf_year`).
    fn chain(mid_year: Option<i32>, leaf_year: Option<i32>) -> Chain {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root = params(Some("root"), true, None)
            .self_signed(&root_key)
            .unwrap();
        let mid_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mid = params(Some("mid"), true, mid_year)
            .signed_by(&mid_key, &root, &root_key)
            .unwrap();
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let leaf = params(Some("leaf-cn"), false, leaf_year)
            .signed_by(&leaf_key, &mid, &mid_key)
            .unwrap();
        Chain {
            root: root.der().to_vec(),
            intermediate: mid.der().to_vec(),
            leaf: leaf.der().to_vec(),
        }
    }

    /// 2025-06-15.
    const NOW: u64 = 1_750_000_000;

    #[test]
    fn chain_through_intermediate_and_failures() {
        let c = chain(None, None);
        let store = TrustStore::new(std::slice::from_ref(&c.root)).unwrap();
        let usage = KeyUsage::client_auth;
        let full = [c.leaf.clone(), c.intermediate.clone()];
        assert_eq!(store.verify(&full, NOW, usage(), false), Ok(()));
        // Without the intermediate the issuer is unknown.
        assert_eq!(
            store.verify(std::slice::from_ref(&c.leaf), NOW, usage(), false),
            Err(alert::UNKNOWN_CA)
        );
        assert_eq!(
            store.verify(&[], NOW, usage(), false),
            Err(alert::BAD_CERTIFICATE)
        );
        assert_eq!(
            store.verify(&[vec![0x30, 0x00]], NOW, usage(), false),
            Err(alert::BAD_CERTIFICATE)
        );
        // A leaf with a flipped signature byte.
        let mut forged = c.leaf.clone();
        let last = forged.len() - 3;
        forged[last] ^= 1;
        assert!(store
            .verify(&[forged, c.intermediate.clone()], NOW, usage(), false)
            .is_err());
        assert_eq!(subject_cn(&c.leaf).as_deref(), Some("leaf-cn"));
        assert!(certificate_key(&c.leaf).is_some());
    }

    #[test]
    fn expiry_is_enforced_unless_accepted_even_deep_in_the_chain() {
        // Both the leaf and the intermediate expired, at different times.
        let c = chain(Some(2022), Some(2021));
        let store = TrustStore::new(std::slice::from_ref(&c.root)).unwrap();
        let full = [c.leaf.clone(), c.intermediate.clone()];
        assert_eq!(
            store.verify(&full, NOW, KeyUsage::client_auth(), false),
            Err(alert::CERTIFICATE_EXPIRED)
        );
        assert_eq!(
            store.verify(&full, NOW, KeyUsage::client_auth(), true),
            Ok(())
        );
        // Not yet valid is never accepted.
        assert_eq!(
            store.verify(&full, 1_500_000_000, KeyUsage::client_auth(), true),
            Err(alert::CERTIFICATE_EXPIRED)
        );
    }

    #[test]
    fn raw_public_keys_must_be_p256_and_cn_may_be_missing() {
        let p256 = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        assert!(raw_public_key(&p256.public_key_der()).is_some());
        let ed = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        assert!(raw_public_key(&ed.public_key_der()).is_none());
        assert!(raw_public_key(&[0x30, 0x03, 1, 2, 3]).is_none());
        let cert = params(None, false, None).self_signed(&p256).unwrap();
        assert_eq!(subject_cn(cert.der()), None);
        assert_eq!(subject_cn(&[1, 2, 3]), None);
        let ed_cert = params(Some("ed"), false, None).self_signed(&ed).unwrap();
        assert!(certificate_key(ed_cert.der()).is_none());
    }

    #[test]
    fn signatures_over_messages_and_digests() {
        use p256::ecdsa::SigningKey;
        use rand_chacha::rand_core::SeedableRng;
        use sha2::Sha256;
        let sk = SigningKey::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(8));
        let vk = *sk.verifying_key();
        let sig = crate::pki::key::sign(&sk, b"params");
        assert!(verify_message(&vk, b"params", &sig));
        assert!(!verify_message(&vk, b"other", &sig));
        assert!(!verify_message(&vk, b"params", &sig[1..]));
        let digest: [u8; 32] = Sha256::digest(b"transcript").into();
        let sig = crate::pki::key::sign_digest(&sk, &digest).unwrap();
        assert!(verify_digest(&vk, &digest, &sig));
        // A digest signature is a signature over the message with SHA-256.
        assert!(verify_message(&vk, b"transcript", &sig));
        assert!(!verify_digest(&vk, &[0; 32], &sig));
    }
}
