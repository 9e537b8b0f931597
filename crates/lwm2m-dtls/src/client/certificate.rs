//! The client's half of the ECDHE_ECDSA handshake: the server's
//! Certificate and signed ServerKeyExchange are checked, then our
//! Certificate, ECDHE ClientKeyExchange and CertificateVerify are built.
//!
//! The server's identity is pinned (its SPKI, raw or from the leaf
//! certificate) rather than chain-validated: this client serves tests and
//! the simulator against our own server.

use p256::ecdsa::VerifyingKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::CryptoRngCore;

use crate::handshake::alert;
use crate::handshake::certificate::{
    encode_certificate, encode_certificate_verify, encode_ecdhe_client_key_exchange,
    parse_certificate, parse_server_key_exchange,
};
use crate::handshake::extensions::CERT_TYPE_RAW_PUBLIC_KEY;
use crate::pki::key::{certificate_spki, sign_digest, PrivateKey};
use crate::pki::verify::{raw_public_key, verify_message};

/// The client's credential for the ECDHE_ECDSA suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Our P-256 key.
    pub private_key: PrivateKey,
    /// Our X.509 chain (DER, leaf first). Empty: we present our raw public
    /// key (RFC 7250) and ask for the server's.
    pub chain: Vec<Vec<u8>>,
    /// The server key we expect, as SPKI DER (its raw public key, or the
    /// key of its leaf certificate). `None` accepts any server key.
    pub server_public_key: Option<Vec<u8>>,
}

impl ClientCertificate {
    pub(crate) fn uses_raw_public_key(&self) -> bool {
        self.chain.is_empty()
    }
}

/// What the client learned from the server's flight.
#[derive(Debug, Default)]
pub(crate) struct ServerAuth {
    pub(crate) spki: Option<Vec<u8>>,
    key: Option<VerifyingKey>,
    point: Option<Vec<u8>>,
    pub(crate) certificate_requested: bool,
}

impl ServerAuth {
    /// The server's Certificate in the negotiated form.
    pub(crate) fn certificate(
        &mut self,
        body: &[u8],
        cert_type: u8,
        expected: Option<&[u8]>,
    ) -> Result<(), u8> {
        let certs = parse_certificate(body, cert_type).ok_or(alert::DECODE_ERROR)?;
        let leaf = certs.first().ok_or(alert::BAD_CERTIFICATE)?;
        let spki = if cert_type == CERT_TYPE_RAW_PUBLIC_KEY {
            leaf.clone()
        } else {
            certificate_spki(leaf).ok_or(alert::BAD_CERTIFICATE)?
        };
        if expected.is_some_and(|e| e != spki.as_slice()) {
            return Err(alert::BAD_CERTIFICATE);
        }
        self.key = Some(raw_public_key(&spki).ok_or(alert::UNSUPPORTED_CERTIFICATE)?);
        self.spki = Some(spki);
        Ok(())
    }

    /// The server's ECDH parameters, signed with the key of its Certificate.
    pub(crate) fn key_exchange(
        &mut self,
        body: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Result<(), u8> {
        let ske = parse_server_key_exchange(body).ok_or(alert::DECODE_ERROR)?;
        let key = self.key.as_ref().ok_or(alert::UNEXPECTED_MESSAGE)?;
        let signed = [&client_random[..], &server_random[..], ske.params].concat();
        if !verify_message(key, &signed, ske.signature) {
            return Err(alert::DECRYPT_ERROR);
        }
        self.point = Some(ske.point.to_vec());
        Ok(())
    }

    /// Our ephemeral key share and the pre-master secret.
    pub(crate) fn client_key_exchange(
        &self,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<(Vec<u8>, Vec<u8>), u8> {
        let point = self.point.as_ref().ok_or(alert::UNEXPECTED_MESSAGE)?;
        let server =
            p256::PublicKey::from_sec1_bytes(point).map_err(|_| alert::ILLEGAL_PARAMETER)?;
        let ephemeral = p256::SecretKey::random(&mut &mut *rng);
        let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), server.as_affine());
        let ours = ephemeral.public_key().to_encoded_point(false);
        Ok((
            encode_ecdhe_client_key_exchange(ours.as_bytes()),
            shared.raw_secret_bytes().to_vec(),
        ))
    }
}

/// Our Certificate message body.
pub(crate) fn our_certificate(cert: &ClientCertificate, cert_type: u8) -> Vec<u8> {
    if cert_type == CERT_TYPE_RAW_PUBLIC_KEY {
        encode_certificate(&[cert.private_key.spki_der()], cert_type)
    } else {
        encode_certificate(&cert.chain, cert_type)
    }
}

/// CertificateVerify over the transcript hash so far.
pub(crate) fn certificate_verify(
    cert: &ClientCertificate,
    transcript_hash: &[u8; 32],
) -> Result<Vec<u8>, u8> {
    let sig = sign_digest(&cert.private_key.signing_key(), transcript_hash)
        .ok_or(alert::INTERNAL_ERROR)?;
    Ok(encode_certificate_verify(&sig))
}
