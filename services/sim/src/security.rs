//! Security modes of simulated devices (LwM2M Security object mode):
//! NoSec over plain CoAP, or CoAP over DTLS with a PSK, a raw public key
//! (RFC 7250) or an X.509 certificate.
//!
//! A fleet derives each device's credentials from its endpoint name, so a
//! load generator and the registry agree without exchanging files:
//! - PSK: identity = endpoint name; key = one shared key, or 16 bytes
//!   derived from a seed and the endpoint (`--psk-seed`), so
//!   [`credentials_csv`] can print the registry's import file;
//! - RPK: a P-256 key derived from a seed and the endpoint, so its public
//!   key can be printed and stored for the device;
//! - X.509: the same derived key in a certificate with CN = endpoint,
//!   signed by a CA given to the fleet (trust-chain mode on the server: no
//!   per-device registry data beyond the mode).
//!
//! Derived secrets are for tests and load only: anyone with the seed has
//! every key.

use std::fmt;
use std::sync::Arc;

use lwm2m_dtls::{CipherSuite, ClientCertificate, PrivateKey};
use p256::pkcs8::EncodePrivateKey;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, KeyPair,
};
use sha2::{Digest, Sha256};

use crate::error::{Result, SimError};

/// How one device talks to the server.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Security {
    /// Plain CoAP.
    #[default]
    NoSec,
    /// DTLS with a pre-shared key (TLS_PSK_WITH_AES_128_CCM_8 first).
    Psk { identity: Vec<u8>, key: Vec<u8> },
    /// DTLS with ECDHE_ECDSA: a raw public key when the chain is empty,
    /// else an X.509 chain (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 first).
    Certificate(ClientCertificate),
    /// The device's own credentials, derived from its endpoint name when it
    /// starts: what a fleet's template carries.
    PerDevice(FleetSecurity),
}

impl Security {
    /// Whether the device speaks DTLS.
    pub fn is_dtls(&self) -> bool {
        !matches!(
            self,
            Security::NoSec | Security::PerDevice(FleetSecurity::NoSec)
        )
    }

    /// The concrete credentials of the device named `endpoint`.
    pub fn resolve(&self, endpoint: &str) -> Result<Security> {
        match self {
            Security::PerDevice(fleet) => fleet.for_device(endpoint),
            other => Ok(other.clone()),
        }
    }

    /// What the registry needs for a fleet with this template.
    pub fn fleet(&self) -> Result<FleetSecurity> {
        match self {
            Security::NoSec => Ok(FleetSecurity::NoSec),
            Security::PerDevice(fleet) => Ok(fleet.clone()),
            _ => Err(SimError::Config(
                "the devices share one fixed credential: nothing per device to print".into(),
            )),
        }
    }

    /// The suites offered, preferred first.
    pub fn cipher_suites(&self) -> Vec<CipherSuite> {
        match self {
            Security::NoSec | Security::PerDevice(_) => Vec::new(),
            Security::Psk { .. } => vec![
                CipherSuite::PskAes128Ccm8,
                CipherSuite::PskAes128GcmSha256,
                CipherSuite::PskAes128CbcSha256,
            ],
            Security::Certificate(_) => vec![
                CipherSuite::EcdheEcdsaAes128Ccm8,
                CipherSuite::EcdheEcdsaAes128GcmSha256,
            ],
        }
    }
}

/// The `--security` mode of a fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SecurityMode {
    Nosec,
    Psk,
    Rpk,
    X509,
}

/// How a fleet gives each device its credentials.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum FleetSecurity {
    /// Plain CoAP for everyone.
    #[default]
    NoSec,
    /// PSK identity = endpoint name.
    Psk(PskKeys),
    /// A raw public key per device, derived from `seed` and the endpoint.
    Rpk {
        seed: u64,
        /// The server's key (SPKI DER) to pin; `None` accepts any.
        server_public_key: Option<Vec<u8>>,
    },
    /// A certificate per device (CN = endpoint), signed by `issuer`.
    X509 {
        issuer: Arc<DeviceIssuer>,
        server_public_key: Option<Vec<u8>>,
    },
}

/// Where PSKs come from.
#[derive(Clone, PartialEq, Eq)]
pub enum PskKeys {
    /// One key for every device.
    Shared(Vec<u8>),
    /// 16 bytes per device from SHA-256 over the seed and the endpoint.
    Derived { seed: u64 },
}

impl fmt::Debug for PskKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PskKeys::Shared(_) => f.write_str("Shared(..)"),
            PskKeys::Derived { .. } => f.write_str("Derived { .. }"),
        }
    }
}

impl FleetSecurity {
    /// The security of the device named `endpoint`.
    pub fn for_device(&self, endpoint: &str) -> Result<Security> {
        Ok(match self {
            FleetSecurity::NoSec => Security::NoSec,
            FleetSecurity::Psk(keys) => Security::Psk {
                identity: endpoint.as_bytes().to_vec(),
                key: keys.key_for(endpoint),
            },
            FleetSecurity::Rpk {
                seed,
                server_public_key,
            } => Security::Certificate(ClientCertificate {
                private_key: device_key(*seed, endpoint)?,
                chain: Vec::new(),
                server_public_key: server_public_key.clone(),
            }),
            FleetSecurity::X509 {
                issuer,
                server_public_key,
            } => {
                let (private_key, leaf) = issuer.issue(endpoint)?;
                Security::Certificate(ClientCertificate {
                    private_key,
                    chain: vec![leaf],
                    server_public_key: server_public_key.clone(),
                })
            }
        })
    }
}

impl PskKeys {
    /// The key of `endpoint`.
    pub fn key_for(&self, endpoint: &str) -> Vec<u8> {
        match self {
            PskKeys::Shared(key) => key.clone(),
            PskKeys::Derived { seed } => {
                derive(b"lwm2m-sim psk", *seed, endpoint, 0)[..16].to_vec()
            }
        }
    }
}

/// SHA-256 over a label, the seed, the endpoint and a counter.
fn derive(label: &[u8], seed: u64, endpoint: &str, counter: u8) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(label);
    h.update(seed.to_be_bytes());
    h.update(endpoint.as_bytes());
    h.update([counter]);
    h.finalize().into()
}

/// The device's P-256 key as PKCS#8 DER, derived from the seed and the
/// endpoint (a derived scalar outside the curve order is skipped).
fn device_key_pkcs8(seed: u64, endpoint: &str) -> Result<Vec<u8>> {
    for counter in 0..=u8::MAX {
        let bytes = derive(b"lwm2m-sim device key", seed, endpoint, counter);
        if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
            let der = secret
                .to_pkcs8_der()
                .map_err(|e| SimError::Config(format!("device key: {e}")))?;
            return Ok(der.as_bytes().to_vec());
        }
    }
    Err(SimError::Config(format!("no device key for {endpoint:?}")))
}

fn device_key(seed: u64, endpoint: &str) -> Result<PrivateKey> {
    PrivateKey::from_pkcs8_der(&device_key_pkcs8(seed, endpoint)?)
        .map_err(|e| SimError::Config(format!("device key: {e}")))
}

/// A CA that signs one certificate per device (CN = endpoint, clientAuth),
/// with keys derived from `seed` and the endpoint.
pub struct DeviceIssuer {
    ca_der: Vec<u8>,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    seed: u64,
}

impl PartialEq for DeviceIssuer {
    fn eq(&self, other: &Self) -> bool {
        self.ca_der == other.ca_der && self.seed == other.seed
    }
}

impl fmt::Debug for DeviceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIssuer")
            .field("ca_der_len", &self.ca_der.len())
            .finish_non_exhaustive()
    }
}

impl DeviceIssuer {
    /// From the CA's certificate and private key, both PEM.
    pub fn from_pem(ca_cert_pem: &str, ca_key_pem: &str, seed: u64) -> Result<Self> {
        let bad = |what: &str, e: &dyn fmt::Display| SimError::Config(format!("{what}: {e}"));
        let ca_key = KeyPair::from_pem(ca_key_pem).map_err(|e| bad("CA key", &e))?;
        let ca_der = lwm2m_dtls::pem_certificates(ca_cert_pem)
            .map_err(|e| bad("CA cert", &e))?
            .into_iter()
            .next()
            .ok_or_else(|| SimError::Config("CA cert: no certificate in the PEM".into()))?;
        // rcgen signs with an issuer's name and key: a stand-in CA with the
        // real one's subject (attribute by attribute, string types kept, so
        // the leaves' issuer bytes equal the CA's subject) and its key.
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| bad("CA", &e))?;
        params.distinguished_name = subject_of(&ca_der).map_err(|e| bad("CA cert", &e))?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).map_err(|e| bad("CA", &e))?;
        Ok(Self {
            ca_der,
            ca,
            ca_key,
            seed,
        })
    }

    /// The CA certificate (DER) the server must trust.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The key and the certificate (DER) of `endpoint`.
    pub fn issue(&self, endpoint: &str) -> Result<(PrivateKey, Vec<u8>)> {
        let bad =
            |e: &dyn fmt::Display| SimError::Config(format!("certificate of {endpoint}: {e}"));
        let pkcs8 = device_key_pkcs8(self.seed, endpoint)?;
        let key = KeyPair::try_from(pkcs8.as_slice()).map_err(|e| bad(&e))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| bad(&e))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, endpoint);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .map_err(|e| bad(&e))?;
        let private_key = PrivateKey::from_pkcs8_der(&pkcs8).map_err(|e| bad(&e))?;
        Ok((private_key, cert.der().to_vec()))
    }
}

/// A throw-away PKI for tests, demos and load: a CA (which a
/// [`DeviceIssuer`] uses for the devices) and a server certificate it
/// signed. All PEM; keys are fresh P-256 keys from the OS RNG.
#[derive(Clone)]
pub struct TestPki {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub server_key_pem: String,
    pub server_cert_pem: String,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

impl TestPki {
    /// A CA named `ca_name` and a server certificate with CN `server_name`.
    pub fn generate(ca_name: &str, server_name: &str) -> Result<Self> {
        let bad = |e: rcgen::Error| SimError::Config(format!("test PKI: {e}"));
        let named = |cn: &str| -> Result<CertificateParams> {
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, cn);
            params.distinguished_name = dn;
            Ok(params)
        };
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(bad)?;
        let mut ca_params = named(ca_name)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).map_err(bad)?;
        let server_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(bad)?;
        let server = named(server_name)?
            .signed_by(&server_key, &ca, &ca_key)
            .map_err(bad)?;
        Ok(Self {
            ca_cert_pem: ca.pem(),
            ca_key_pem: ca_key.serialize_pem(),
            server_key_pem: server_key.serialize_pem(),
            server_cert_pem: server.pem(),
        })
    }

    /// The issuer of device certificates under this CA.
    pub fn device_issuer(&self, seed: u64) -> Result<DeviceIssuer> {
        DeviceIssuer::from_pem(&self.ca_cert_pem, &self.ca_key_pem, seed)
    }
}

/// The subject of a certificate as rcgen's name (PrintableString and
/// UTF8String values kept as such; other string types become UTF8String).
fn subject_of(cert_der: &[u8]) -> std::result::Result<DistinguishedName, String> {
    use x509_cert::der::{Decode, Tag, Tagged};
    let cert = x509_cert::Certificate::from_der(cert_der).map_err(|e| e.to_string())?;
    let mut dn = DistinguishedName::new();
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for atv in rdn.0.iter() {
            let arcs: Vec<u64> = atv.oid.arcs().map(u64::from).collect();
            let text = String::from_utf8(atv.value.value().to_vec()).map_err(|e| e.to_string())?;
            let value = match atv.value.tag() {
                Tag::PrintableString => DnValue::PrintableString(
                    text.as_str()
                        .try_into()
                        .map_err(|e: rcgen::Error| e.to_string())?,
                ),
                _ => DnValue::Utf8String(text),
            };
            dn.push(DnType::from_oid(&arcs), value);
        }
    }
    Ok(dn)
}

/// What the registry must hold for a fleet, as text: for NoSec and PSK the
/// registry's CSV import format (`ImportDevicesCsv`, `lwm2mctl`); for RPK
/// one line per device with its public key (SPKI DER, hex) for the
/// devices API. X.509 fleets need no per-device secret (trust-chain mode:
/// create them with X.509 credentials without a certificate, or let the
/// transport auto-provision certificate holders).
pub fn credentials_csv(security: &FleetSecurity, endpoints: &[String]) -> Result<String> {
    let mut out = String::new();
    match security {
        FleetSecurity::NoSec => {
            out.push_str("endpoint id,securityMode\n");
            for ep in endpoints {
                out.push_str(&format!("{ep},NO_SEC\n"));
            }
        }
        FleetSecurity::Psk(keys) => {
            out.push_str("endpoint id,securityMode,lwm2m psk_id,lwm2m psk_key\n");
            for ep in endpoints {
                let key = keys.key_for(ep);
                if !matches!(key.len(), 16 | 32 | 64) {
                    return Err(SimError::Config(
                        "the registry takes PSKs of 16, 32 or 64 bytes".into(),
                    ));
                }
                out.push_str(&format!("{ep},PSK,{ep},{}\n", hex::encode(key)));
            }
        }
        FleetSecurity::Rpk { seed, .. } => {
            out.push_str("endpoint id,securityMode,publicKey\n");
            for ep in endpoints {
                let spki = device_key(*seed, ep)?.spki_der();
                out.push_str(&format!("{ep},RPK,{}\n", hex::encode(spki)));
            }
        }
        FleetSecurity::X509 { .. } => {
            return Err(SimError::Config(
                "X.509 devices need no per-device registry data: create them with X.509 \
                 credentials in trust-chain mode (no certificate) or enable auto_provision"
                    .into(),
            ))
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> (String, String) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "sim test CA");
        params.distinguished_name = dn;
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn derived_psks_are_per_endpoint_and_reproducible() {
        let keys = PskKeys::Derived { seed: 7 };
        let a = keys.key_for("sim-0001");
        assert_eq!(a.len(), 16);
        assert_eq!(a, PskKeys::Derived { seed: 7 }.key_for("sim-0001"));
        assert_ne!(a, keys.key_for("sim-0002"));
        assert_ne!(a, PskKeys::Derived { seed: 8 }.key_for("sim-0001"));
        let Security::Psk { identity, key } =
            FleetSecurity::Psk(keys).for_device("sim-0001").unwrap()
        else {
            panic!("not PSK");
        };
        assert_eq!((identity.as_slice(), key), (&b"sim-0001"[..], a));
    }

    #[test]
    fn the_psk_csv_matches_the_keys_devices_use() {
        let fleet = FleetSecurity::Psk(PskKeys::Derived { seed: 3 });
        let eps = vec!["d-1".to_owned(), "d-2".to_owned()];
        let csv = credentials_csv(&fleet, &eps).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "endpoint id,securityMode,lwm2m psk_id,lwm2m psk_key"
        );
        let Security::Psk { key, .. } = fleet.for_device("d-2").unwrap() else {
            panic!("not PSK");
        };
        assert_eq!(lines[2], format!("d-2,PSK,d-2,{}", hex::encode(key)));
        let short = FleetSecurity::Psk(PskKeys::Shared(vec![1; 5]));
        assert!(credentials_csv(&short, &eps).is_err());
    }

    #[test]
    fn raw_public_keys_are_derived_and_printed() {
        let fleet = FleetSecurity::Rpk {
            seed: 1,
            server_public_key: None,
        };
        let Security::Certificate(cert) = fleet.for_device("r-1").unwrap() else {
            panic!("not a certificate mode");
        };
        assert!(cert.chain.is_empty());
        let again = device_key(1, "r-1").unwrap();
        assert_eq!(cert.private_key, again);
        assert_ne!(again, device_key(1, "r-2").unwrap());
        let csv = credentials_csv(&fleet, &["r-1".to_owned()]).unwrap();
        assert!(csv.ends_with(&format!("r-1,RPK,{}\n", hex::encode(again.spki_der()))));
    }

    #[test]
    fn certificates_name_the_endpoint_and_carry_the_derived_key() {
        let (ca_pem, key_pem) = ca();
        let issuer = DeviceIssuer::from_pem(&ca_pem, &key_pem, 5).unwrap();
        let (key, leaf) = issuer.issue("x-1").unwrap();
        assert_eq!(key, device_key(5, "x-1").unwrap());
        // The CN is in the DER as a UTF8String / PrintableString.
        assert!(leaf.windows(3).any(|w| w == b"x-1"));
        assert_ne!(leaf, issuer.issue("x-2").unwrap().1);
        assert!(DeviceIssuer::from_pem("nope", &key_pem, 5).is_err());
        let fleet = FleetSecurity::X509 {
            issuer: Arc::new(issuer),
            server_public_key: None,
        };
        assert!(credentials_csv(&fleet, &["x-1".to_owned()]).is_err());
    }
}
