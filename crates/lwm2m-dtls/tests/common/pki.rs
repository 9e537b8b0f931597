//! Test-only certificates, made fresh by `rcgen` in every run (no private
//! key is committed): a CA, leaves signed by it, raw P-256 keys, and a
//! fixed wall-clock time so validity checks are deterministic.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lwm2m_dtls::PrivateKey;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// 2025-06-15: inside the validity of every certificate made here unless
/// a test asks for an expired one.
pub fn wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

/// A key with its PEM forms.
pub struct Key {
    pub pair: KeyPair,
}

impl Key {
    pub fn new() -> Self {
        Self {
            pair: KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
        }
    }
    pub fn private(&self) -> PrivateKey {
        PrivateKey::from_pkcs8_der(&self.pair.serialize_der()).unwrap()
    }
    pub fn spki_der(&self) -> Vec<u8> {
        self.pair.public_key_der()
    }
    /// PKCS#8 PEM.
    pub fn pem(&self) -> String {
        self.pair.serialize_pem()
    }
}

/// An issued certificate and its key.
pub struct Issued {
    pub key: Key,
    pub cert: rcgen::Certificate,
}

impl Issued {
    pub fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }
    pub fn pem(&self) -> String {
        self.cert.pem()
    }
}

pub struct Ca {
    pub issued: Issued,
}

fn params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let key = Key::new();
        let mut p = params(cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = p.self_signed(&key.pair).unwrap();
        Self {
            issued: Issued { key, cert },
        }
    }

    pub fn der(&self) -> Vec<u8> {
        self.issued.der()
    }

    pub fn pem(&self) -> String {
        self.issued.pem()
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, cn: &str) -> Ca {
        let key = Key::new();
        let mut p = params(cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = p
            .signed_by(&key.pair, &self.issued.cert, &self.issued.key.pair)
            .unwrap();
        Ca {
            issued: Issued { key, cert },
        }
    }

    /// A leaf for a client (clientAuth) or a server (serverAuth), valid
    /// until `not_after` (year, month, day) or far in the future.
    pub fn leaf(&self, cn: &str, client: bool, not_after: Option<(i32, u8, u8)>) -> Issued {
        let key = Key::new();
        let mut p = params(cn);
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if !client {
            p.subject_alt_names = vec![rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap())];
        }
        if let Some((y, m, d)) = not_after {
            p.not_before = rcgen::date_time_ymd(y - 2, m, d);
            p.not_after = rcgen::date_time_ymd(y, m, d);
        }
        let cert = p
            .signed_by(&key.pair, &self.issued.cert, &self.issued.key.pair)
            .unwrap();
        Issued { key, cert }
    }
}
