//! Binding a DTLS identity to the endpoint that registers with it (LwM2M
//! 1.1.1 Transport §5.2.8: the server must check that the security identity
//! belongs to the endpoint name). The handshake proved who the peer is;
//! this decides whether that peer may speak for `endpoint`.

use lwm2m_dtls::PeerCredential;
use lwm2m_registry::device::Credentials;
use lwm2m_session::Registration;

use crate::error::Error;
use crate::node::Node;
use crate::peer::Peer;
use crate::provisioning::Channel;
use crate::stats::Counters;

/// Whether `credential` is the one the registry holds for `endpoint`:
/// the same PSK identity, the same raw public key, the same certificate,
/// or (trust-chain mode) a validated chain whose CN is the endpoint name.
/// A NoSec device never registers over DTLS: whatever identity the session
/// carries was issued to someone else.
pub(crate) fn check(
    endpoint: &str,
    stored: &Credentials,
    credential: &PeerCredential,
) -> Result<(), Error> {
    let matches = match (stored, credential) {
        (Credentials::Psk { identity, .. }, PeerCredential::Psk { identity: got }) => {
            identity.as_bytes() == got.as_slice()
        }
        (Credentials::Rpk { public_key }, PeerCredential::RawPublicKey { spki_der }) => {
            public_key.0 == *spki_der
        }
        (Credentials::X509 { certificate: None }, PeerCredential::X509 { subject_cn, .. }) => {
            subject_cn.as_deref() == Some(endpoint)
        }
        (
            Credentials::X509 {
                certificate: Some(stored),
            },
            PeerCredential::X509 { chain_der, .. },
        ) => chain_der.first() == Some(&stored.0),
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "the DTLS {} identity is not the one of endpoint {endpoint:?} ({} credentials)",
            kind(credential),
            stored.mode().label()
        )))
    }
}

/// Whether a request that arrived over `channel` may act for `reg`
/// (Update, De-register, Send): the identity that proved itself must be
/// one that may register as `reg.endpoint`, exactly as at Register. A
/// registration made over DTLS is never touched over plain CoAP, and a
/// plain one never over DTLS (register again instead).
///
/// Without a registry there is nothing to compare a DTLS identity with
/// (Register admits every authenticated peer, and the registration does
/// not record the identity), so only the channel kind is checked.
pub(crate) async fn check_owner(
    node: &Node,
    reg: &Registration,
    channel: &Channel,
) -> Result<(), Error> {
    let result = owner(node, reg, channel).await;
    if matches!(result, Err(Error::Forbidden(_))) {
        Counters::inc(&node.counters.identity_mismatches);
    }
    result
}

async fn owner(node: &Node, reg: &Registration, channel: &Channel) -> Result<(), Error> {
    let registered_secure = Peer::parse(&reg.address).is_some_and(|p| p.secure);
    let credential = match channel {
        Channel::Plain if registered_secure => {
            return Err(Error::Forbidden(format!(
                "endpoint {:?} registered over DTLS: plain CoAP may not act for it",
                reg.endpoint
            )))
        }
        Channel::Plain => return Ok(()),
        Channel::Dtls(_) if !registered_secure => {
            return Err(Error::Forbidden(format!(
                "endpoint {:?} registered without DTLS: register again over DTLS",
                reg.endpoint
            )))
        }
        Channel::Dtls(credential) => credential,
    };
    let Some(directory) = &node.directory else {
        return Ok(());
    };
    match directory.endpoint(&reg.endpoint).await? {
        Some(record) => check(&reg.endpoint, &record.device.credentials, credential),
        // Auto-provisioned (or deleted since): only a certificate for the name.
        None if may_auto_provision(&reg.endpoint, channel) => Ok(()),
        None => Err(Error::Forbidden(format!(
            "endpoint {:?} is not provisioned",
            reg.endpoint
        ))),
    }
}

/// An endpoint the registry does not know may be auto-provisioned over
/// DTLS only with a certificate issued to that name: a PSK or raw key was
/// looked up for (or belongs to) another device.
pub(crate) fn may_auto_provision(endpoint: &str, channel: &Channel) -> bool {
    match channel {
        Channel::Plain => true,
        Channel::Dtls(credential) => matches!(
            credential.as_ref(),
            PeerCredential::X509 { subject_cn: Some(cn), .. } if cn == endpoint
        ),
    }
}

fn kind(credential: &PeerCredential) -> &'static str {
    match credential {
        PeerCredential::Psk { .. } => "PSK",
        PeerCredential::RawPublicKey { .. } => "raw public key",
        PeerCredential::X509 { .. } => "X.509",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lwm2m_registry::device::{Der, SecretKey};

    use super::*;

    fn psk(identity: &str) -> Credentials {
        Credentials::Psk {
            identity: identity.into(),
            key: SecretKey::from_bytes(vec![1; 16]),
        }
    }

    fn peer_psk(identity: &str) -> PeerCredential {
        PeerCredential::Psk {
            identity: identity.as_bytes().to_vec(),
        }
    }

    fn x509(cn: Option<&str>, leaf: &[u8]) -> PeerCredential {
        PeerCredential::X509 {
            subject_cn: cn.map(str::to_owned),
            chain_der: vec![leaf.to_vec(), b"ca".to_vec()],
        }
    }

    #[test]
    fn psk_identity_must_be_the_endpoints() {
        assert!(check("dev", &psk("id-1"), &peer_psk("id-1")).is_ok());
        let err = check("dev", &psk("id-1"), &peer_psk("id-2")).unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
    }

    #[test]
    fn raw_public_key_must_be_the_stored_one() {
        let stored = Credentials::Rpk {
            public_key: Der(b"key-a".to_vec()),
        };
        let ok = PeerCredential::RawPublicKey {
            spki_der: b"key-a".to_vec(),
        };
        let other = PeerCredential::RawPublicKey {
            spki_der: b"key-b".to_vec(),
        };
        assert!(check("dev", &stored, &ok).is_ok());
        assert!(check("dev", &stored, &other).is_err());
    }

    #[test]
    fn x509_by_common_name_or_exact_certificate() {
        let chain_mode = Credentials::X509 { certificate: None };
        assert!(check("dev", &chain_mode, &x509(Some("dev"), b"leaf")).is_ok());
        assert!(check("dev", &chain_mode, &x509(Some("other"), b"leaf")).is_err());
        assert!(check("dev", &chain_mode, &x509(None, b"leaf")).is_err());
        let pinned = Credentials::X509 {
            certificate: Some(Der(b"leaf".to_vec())),
        };
        assert!(check("dev", &pinned, &x509(Some("whatever"), b"leaf")).is_ok());
        assert!(check("dev", &pinned, &x509(Some("dev"), b"another")).is_err());
    }

    #[test]
    fn nosec_devices_and_mixed_modes_are_refused() {
        assert!(check("dev", &Credentials::NoSec, &peer_psk("dev")).is_err());
        assert!(check("dev", &psk("dev"), &x509(Some("dev"), b"leaf")).is_err());
    }

    #[test]
    fn auto_provisioning_over_dtls_needs_a_certificate_for_the_name() {
        assert!(may_auto_provision("dev", &Channel::Plain));
        let cert = Channel::Dtls(Arc::new(x509(Some("dev"), b"leaf")));
        assert!(may_auto_provision("dev", &cert));
        assert!(!may_auto_provision("other", &cert));
        assert!(!may_auto_provision(
            "dev",
            &Channel::Dtls(Arc::new(peer_psk("dev")))
        ));
    }
}
