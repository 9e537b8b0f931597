//! Codecs of the messages of an ECDHE_ECDSA handshake (RFC 8422, RFC 5246
//! §7.4, RFC 7250): Certificate in both forms, ServerKeyExchange with its
//! ECDH parameters, CertificateRequest, the ECDHE ClientKeyExchange and
//! CertificateVerify. Parsing is strict: trailing bytes are a decode error.

use super::extensions::{CERT_TYPE_RAW_PUBLIC_KEY, ECDSA_SECP256R1_SHA256, GROUP_SECP256R1};
use crate::codec::{Reader, Writer};

/// ECCurveType named_curve.
const NAMED_CURVE: u8 = 3;
/// ClientCertificateType ecdsa_sign.
const ECDSA_SIGN: u8 = 64;
/// Longest certificate list we accept from a peer (same bound as any message).
const MAX_CERTS: usize = 8;

/// The peer's Certificate message: an X.509 chain (leaf first) or one raw
/// public key (`SubjectPublicKeyInfo` DER). Empty: the peer sent none.
pub(crate) fn parse_certificate(body: &[u8], cert_type: u8) -> Option<Vec<Vec<u8>>> {
    let mut r = Reader::new(body);
    let len = usize::try_from(r.u24()?).ok()?;
    let list = r.bytes(len)?;
    if !r.is_empty() {
        return None;
    }
    if cert_type == CERT_TYPE_RAW_PUBLIC_KEY {
        // RFC 7250 §3: `opaque ASN.1_subjectPublicKeyInfo<1..2^24-1>`.
        return Some(if list.is_empty() {
            Vec::new()
        } else {
            vec![list.to_vec()]
        });
    }
    let mut lr = Reader::new(list);
    let mut certs = Vec::new();
    while !lr.is_empty() {
        let n = usize::try_from(lr.u24()?).ok()?;
        let cert = lr.bytes(n)?;
        if cert.is_empty() || certs.len() == MAX_CERTS {
            return None;
        }
        certs.push(cert.to_vec());
    }
    Some(certs)
}

/// Certificate message body: `certs` is the X.509 chain or, for a raw
/// public key, the single SPKI.
pub(crate) fn encode_certificate(certs: &[Vec<u8>], cert_type: u8) -> Vec<u8> {
    let mut list = Vec::new();
    if cert_type == CERT_TYPE_RAW_PUBLIC_KEY {
        if let Some(spki) = certs.first() {
            list.extend_from_slice(spki);
        }
    } else {
        for c in certs {
            list.put_u24(u32::try_from(c.len()).unwrap_or(0));
            list.extend_from_slice(c);
        }
    }
    let mut out = Vec::with_capacity(list.len() + 3);
    out.put_u24(u32::try_from(list.len()).unwrap_or(0));
    out.extend_from_slice(&list);
    out
}

/// `ServerECDHParams` for secp256r1 with our ephemeral point: what the
/// ServerKeyExchange signature covers (after both randoms).
pub(crate) fn ecdh_params(point: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + point.len());
    out.put_u8(NAMED_CURVE);
    out.put_u16(GROUP_SECP256R1);
    out.put_vec8(point);
    out
}

/// ServerKeyExchange: the parameters, then the `{sha256, ecdsa}` signature.
pub(crate) fn encode_server_key_exchange(params: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(params.len() + 4 + signature.len());
    out.extend_from_slice(params);
    out.put_u16(ECDSA_SECP256R1_SHA256);
    out.put_vec16(signature);
    out
}

/// A parsed ECDHE ServerKeyExchange.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ServerKeyExchange<'a> {
    /// The signed `ServerECDHParams` bytes.
    pub(crate) params: &'a [u8],
    pub(crate) point: &'a [u8],
    pub(crate) signature: &'a [u8],
}

#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn parse_server_key_exchange(body: &[u8]) -> Option<ServerKeyExchange<'_>> {
    let mut r = Reader::new(body);
    if r.u8()? != NAMED_CURVE || r.u16()? != GROUP_SECP256R1 {
        return None;
    }
    let point = r.vec8()?;
    let params = body.get(..4 + point.len())?;
    if r.u16()? != ECDSA_SECP256R1_SHA256 {
        return None;
    }
    let signature = r.vec16()?;
    r.is_empty().then_some(ServerKeyExchange {
        params,
        point,
        signature,
    })
}

/// CertificateRequest: ecdsa_sign, `{sha256, ecdsa}`, and no CA names (the
/// client offers whatever it has; libcoap, Mbed TLS and GnuTLS all do).
pub(crate) fn encode_certificate_request() -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    out.put_vec8(&[ECDSA_SIGN]);
    out.put_vec16(&ECDSA_SECP256R1_SHA256.to_be_bytes());
    out.put_vec16(&[]);
    out
}

/// Whether a CertificateRequest lets us answer with an ECDSA P-256 key.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn parse_certificate_request(body: &[u8]) -> Option<bool> {
    let mut r = Reader::new(body);
    let types = r.vec8()?;
    let algs = r.vec16()?;
    let _authorities = r.vec16()?;
    if !r.is_empty() {
        return None;
    }
    let alg_ok = algs
        .chunks_exact(2)
        .any(|c| c == ECDSA_SECP256R1_SHA256.to_be_bytes());
    Some(types.contains(&ECDSA_SIGN) && alg_ok)
}

/// ECDHE ClientKeyExchange: `opaque point <1..2^8-1>`.
pub(crate) fn parse_ecdhe_client_key_exchange(body: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(body);
    let point = r.vec8()?;
    (r.is_empty() && !point.is_empty()).then_some(point)
}

#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn encode_ecdhe_client_key_exchange(point: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + point.len());
    out.put_vec8(point);
    out
}

/// CertificateVerify: the signature, which must be `{sha256, ecdsa}`.
pub(crate) fn parse_certificate_verify(body: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(body);
    if r.u16()? != ECDSA_SECP256R1_SHA256 {
        return None;
    }
    let signature = r.vec16()?;
    r.is_empty().then_some(signature)
}

#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn encode_certificate_verify(signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + signature.len());
    out.put_u16(ECDSA_SECP256R1_SHA256);
    out.put_vec16(signature);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::extensions::CERT_TYPE_X509;

    #[test]
    fn certificate_both_forms() {
        let chain = vec![vec![1, 2, 3], vec![4]];
        let x509 = encode_certificate(&chain, CERT_TYPE_X509);
        assert_eq!(x509, [0, 0, 10, 0, 0, 3, 1, 2, 3, 0, 0, 1, 4]);
        assert_eq!(parse_certificate(&x509, CERT_TYPE_X509), Some(chain));
        let rpk = encode_certificate(&[vec![9, 9]], CERT_TYPE_RAW_PUBLIC_KEY);
        assert_eq!(rpk, [0, 0, 2, 9, 9]);
        assert_eq!(
            parse_certificate(&rpk, CERT_TYPE_RAW_PUBLIC_KEY),
            Some(vec![vec![9, 9]])
        );
        assert_eq!(
            parse_certificate(&[0, 0, 0], CERT_TYPE_X509),
            Some(Vec::new())
        );
        for n in 0..x509.len() {
            assert_eq!(parse_certificate(&x509[..n], CERT_TYPE_X509), None);
        }
        // An empty certificate inside the list.
        assert_eq!(parse_certificate(&[0, 0, 3, 0, 0, 0], CERT_TYPE_X509), None);
    }

    #[test]
    fn server_key_exchange_round_trip() {
        let params = ecdh_params(&[4; 65]);
        let ske = encode_server_key_exchange(&params, &[0x30, 1, 2]);
        let parsed = parse_server_key_exchange(&ske).unwrap();
        assert_eq!(parsed.params, params.as_slice());
        assert_eq!(parsed.point, &[4; 65][..]);
        assert_eq!(parsed.signature, &[0x30, 1, 2]);
        for n in 0..ske.len() {
            assert!(parse_server_key_exchange(&ske[..n]).is_none());
        }
    }

    #[test]
    fn small_messages() {
        assert_eq!(
            parse_certificate_request(&encode_certificate_request()),
            Some(true)
        );
        assert_eq!(
            parse_ecdhe_client_key_exchange(&encode_ecdhe_client_key_exchange(&[4, 5])),
            Some(&[4, 5][..])
        );
        assert_eq!(parse_ecdhe_client_key_exchange(&[0]), None);
        assert_eq!(
            parse_certificate_verify(&encode_certificate_verify(&[7])),
            Some(&[7][..])
        );
        assert_eq!(parse_certificate_verify(&[4, 1, 0, 1, 7]), None);
    }
}
