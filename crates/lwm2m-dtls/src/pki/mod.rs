//! Credentials of the certificate suites (TLS_ECDHE_ECDSA_*): the server's
//! P-256 key with its raw public key or X.509 chain, and the checks of the
//! client's raw public key or certificate chain.
//!
//! - `key`: loading keys and PEM certificates, signing.
//! - `verify`: X.509 path validation (rustls-webpki), raw public keys,
//!   signature checks.

pub(crate) mod key;
pub(crate) mod verify;

use p256::ecdsa::SigningKey;

use crate::config::CertificateConfig;
use crate::error::Error;
use verify::TrustStore;

/// `CertificateConfig` checked and parsed once, at server creation.
#[derive(Debug, Clone)]
pub(crate) struct ServerPki {
    pub(crate) signing_key: SigningKey,
    /// Our raw public key (RFC 7250).
    pub(crate) spki_der: Vec<u8>,
    /// Our X.509 chain, leaf first; empty: raw public key only.
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) accept_raw_public_keys: bool,
    pub(crate) trust: TrustStore,
    pub(crate) accept_expired: bool,
}

impl ServerPki {
    pub(crate) fn new(c: &CertificateConfig) -> Result<Self, Error> {
        let spki_der = c.private_key.spki_der();
        if let Some(leaf) = c.certificate_chain.first() {
            // A chain for another key would fail every handshake at the
            // client; say so at start-up instead.
            if key::certificate_spki(leaf).as_deref() != Some(spki_der.as_slice()) {
                return Err(Error::Credential(
                    "the first certificate of the chain is not for the private key",
                ));
            }
        }
        let trust = TrustStore::new(&c.trust_anchors)?;
        if !c.accept_raw_public_keys && trust.is_empty() {
            return Err(Error::Credential(
                "certificate config accepts no client: set accept_raw_public_keys or trust_anchors",
            ));
        }
        Ok(Self {
            signing_key: c.private_key.signing_key(),
            spki_der,
            chain: c.certificate_chain.clone(),
            accept_raw_public_keys: c.accept_raw_public_keys,
            trust,
            accept_expired: c.accept_expired_certificates,
        })
    }
}
