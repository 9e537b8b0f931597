//! What the server agrees to from a ClientHello: the suite (in the server's
//! order of preference), extended master secret, renegotiation signalling,
//! the Connection ID, and for the certificate suites the curve, point
//! format, signature algorithm and certificate types (RFC 7250).

use super::alert;
use super::extensions::{
    parse_connection_id, parse_u16_list, parse_u8_list, CERT_TYPE_RAW_PUBLIC_KEY, CERT_TYPE_X509,
    ECDSA_SECP256R1_SHA256, EMPTY_RENEGOTIATION_INFO_SCSV, EXT_CLIENT_CERTIFICATE_TYPE,
    EXT_CONNECTION_ID, EXT_EC_POINT_FORMATS, EXT_EXTENDED_MASTER_SECRET, EXT_RENEGOTIATION_INFO,
    EXT_SERVER_CERTIFICATE_TYPE, EXT_SIGNATURE_ALGORITHMS, EXT_SUPPORTED_GROUPS, GROUP_SECP256R1,
    POINT_FORMAT_UNCOMPRESSED,
};
use super::messages::ClientHello;
use crate::pki::ServerPki;
use crate::record::DTLS_1_2;
use crate::suites::{CipherSuite, KeyExchange};

/// What the server agreed to from a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub(crate) suite: CipherSuite,
    pub(crate) extended_master_secret: bool,
    /// The client supports secure renegotiation signalling (RFC 5746); we
    /// echo an empty renegotiation_info and then refuse renegotiation.
    pub(crate) renegotiation_info: bool,
    /// The client's connection_id extension: the CID it wants in our records.
    pub(crate) client_cid: Option<Vec<u8>>,
    /// Terms of the certificate suites (`None` for PSK).
    pub(crate) certs: Option<CertTerms>,
    /// ECDHE_PSK: answer ec_point_formats (RFC 8422 §5.2: only if sent).
    pub(crate) echo_point_formats: bool,
}

/// Certificate types and what to echo in the ServerHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CertTerms {
    /// The form of our Certificate message.
    pub(crate) server_type: u8,
    /// The form of the client's Certificate message.
    pub(crate) client_type: u8,
    /// RFC 7250: answer each certificate type extension only if it was sent.
    pub(crate) echo_server_type: bool,
    pub(crate) echo_client_type: bool,
    /// RFC 8422 §5.2: answer ec_point_formats if the client sent it.
    pub(crate) echo_point_formats: bool,
}

/// Chooses parameters, in the server's order of preference, or the alert
/// to abort with.
pub(crate) fn negotiate(
    ch: &ClientHello,
    suites: &[CipherSuite],
    require_ems: bool,
    pki: Option<&ServerPki>,
) -> Result<Negotiated, u8> {
    // DTLS versions count down: 0xFEFD (1.2) is "higher" than 0xFEFF (1.0).
    if ch.version > DTLS_1_2 {
        return Err(alert::PROTOCOL_VERSION);
    }
    if !ch.compression.contains(&0) {
        return Err(alert::ILLEGAL_PARAMETER);
    }
    // Only worked out if the client offers a certificate suite we have.
    let cert_terms = match pki {
        Some(pki)
            if suites.iter().any(|s| {
                s.key_exchange() == KeyExchange::EcdheEcdsa && ch.suites.contains(&s.id())
            }) =>
        {
            Some(cert_terms(ch, pki))
        }
        _ => None,
    };
    let ecdhe_psk = ecdhe_psk_terms(ch);
    let usable = |s: &CipherSuite| match s.key_exchange() {
        KeyExchange::Psk => true,
        KeyExchange::EcdheEcdsa => matches!(cert_terms, Some(Ok(_))),
        KeyExchange::EcdhePsk => ecdhe_psk.is_ok(),
    };
    let Some(suite) = suites
        .iter()
        .copied()
        .find(|s| ch.suites.contains(&s.id()) && usable(s))
    else {
        // The client came for a certificate suite we could not agree on:
        // say why (e.g. unsupported_certificate for no common type).
        return Err(match cert_terms {
            Some(Err(desc)) => desc,
            _ => alert::HANDSHAKE_FAILURE,
        });
    };
    let certs = match (suite.key_exchange(), cert_terms) {
        (KeyExchange::EcdheEcdsa, Some(Ok(t))) => Some(t),
        _ => None,
    };
    let echo_point_formats = match (suite.key_exchange(), ecdhe_psk) {
        (KeyExchange::EcdhePsk, Ok(echo)) => echo,
        _ => false,
    };
    let extended_master_secret = match ch.extensions.get(EXT_EXTENDED_MASTER_SECRET) {
        Some([]) => true,
        Some(_) => return Err(alert::DECODE_ERROR),
        None => false,
    };
    if require_ems && !extended_master_secret {
        return Err(alert::HANDSHAKE_FAILURE);
    }
    let renegotiation_info = match ch.extensions.get(EXT_RENEGOTIATION_INFO) {
        // An initial handshake carries an empty renegotiated_connection.
        Some([0]) => true,
        Some(_) => return Err(alert::HANDSHAKE_FAILURE),
        None => ch.suites.contains(&EMPTY_RENEGOTIATION_INFO_SCSV),
    };
    let client_cid = match ch.extensions.get(EXT_CONNECTION_ID) {
        Some(body) => Some(parse_connection_id(body).ok_or(alert::DECODE_ERROR)?),
        None => None,
    };
    Ok(Negotiated {
        suite,
        extended_master_secret,
        renegotiation_info,
        client_cid,
        certs,
        echo_point_formats,
    })
}

/// Whether ECDHE_PSK (RFC 5489) can be used with this client: it must
/// accept secp256r1 and uncompressed points (an absent extension accepts
/// them, RFC 8422 §4). `Ok(true)`: it sent ec_point_formats, echo it.
fn ecdhe_psk_terms(ch: &ClientHello) -> Result<bool, u8> {
    if let Some(body) = ch.extensions.get(EXT_SUPPORTED_GROUPS) {
        let groups = parse_u16_list(body).ok_or(alert::DECODE_ERROR)?;
        if !groups.contains(&GROUP_SECP256R1) {
            return Err(alert::HANDSHAKE_FAILURE);
        }
    }
    match ch.extensions.get(EXT_EC_POINT_FORMATS) {
        Some(body) => {
            let formats = parse_u8_list(body).ok_or(alert::DECODE_ERROR)?;
            if !formats.contains(&POINT_FORMAT_UNCOMPRESSED) {
                return Err(alert::HANDSHAKE_FAILURE);
            }
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whether the certificate suites can be used with this client, and how.
fn cert_terms(ch: &ClientHello, pki: &ServerPki) -> Result<CertTerms, u8> {
    // An absent extension means the client accepts the defaults (RFC 8422
    // §4 for curves and point formats); for signature_algorithms the strict
    // default would be SHA-1, but every DTLS 1.2 stack that omits it does
    // accept {sha256, ecdsa}, so we are lenient there.
    if let Some(body) = ch.extensions.get(EXT_SUPPORTED_GROUPS) {
        let groups = parse_u16_list(body).ok_or(alert::DECODE_ERROR)?;
        if !groups.contains(&GROUP_SECP256R1) {
            return Err(alert::HANDSHAKE_FAILURE);
        }
    }
    let echo_point_formats = match ch.extensions.get(EXT_EC_POINT_FORMATS) {
        Some(body) => {
            let formats = parse_u8_list(body).ok_or(alert::DECODE_ERROR)?;
            if !formats.contains(&POINT_FORMAT_UNCOMPRESSED) {
                return Err(alert::HANDSHAKE_FAILURE);
            }
            true
        }
        None => false,
    };
    if let Some(body) = ch.extensions.get(EXT_SIGNATURE_ALGORITHMS) {
        let algs = parse_u16_list(body).ok_or(alert::DECODE_ERROR)?;
        if !algs.contains(&ECDSA_SECP256R1_SHA256) {
            return Err(alert::HANDSHAKE_FAILURE);
        }
    }
    // What we can send: always our raw public key, X.509 if we have a chain.
    let we_send = |t: &u8| *t == CERT_TYPE_RAW_PUBLIC_KEY || !pki.chain.is_empty();
    // What we accept from the client.
    let we_take = |t: &u8| match *t {
        CERT_TYPE_RAW_PUBLIC_KEY => pki.accept_raw_public_keys,
        CERT_TYPE_X509 => !pki.trust.is_empty(),
        _ => false,
    };
    let (server_type, echo_server_type) = pick(ch, EXT_SERVER_CERTIFICATE_TYPE, we_send)?;
    let (client_type, echo_client_type) = pick(ch, EXT_CLIENT_CERTIFICATE_TYPE, we_take)?;
    Ok(CertTerms {
        server_type,
        client_type,
        echo_server_type,
        echo_client_type,
        echo_point_formats,
    })
}

/// RFC 7250 §4.2: the first type in the client's list that `ok` allows; an
/// absent extension means X.509 only.
fn pick(ch: &ClientHello, ext: u16, ok: impl Fn(&u8) -> bool) -> Result<(u8, bool), u8> {
    match ch.extensions.get(ext) {
        Some(body) => {
            let types = parse_u8_list(body).ok_or(alert::DECODE_ERROR)?;
            let t = types
                .into_iter()
                .find(|t| ok(t))
                .ok_or(alert::UNSUPPORTED_CERTIFICATE)?;
            Ok((t, true))
        }
        None if ok(&CERT_TYPE_X509) => Ok((CERT_TYPE_X509, false)),
        None => Err(alert::UNSUPPORTED_CERTIFICATE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CertificateConfig;
    use crate::handshake::extensions::{encode_u16_list, encode_u8_list, Extensions};
    use crate::pki::key::PrivateKey;
    use rand_chacha::rand_core::SeedableRng;

    fn hello(exts: &[(u16, Vec<u8>)], suites: &[u16]) -> ClientHello {
        ClientHello {
            version: DTLS_1_2,
            random: [1; 32],
            session_id: vec![],
            cookie: vec![],
            suites: suites.to_vec(),
            compression: vec![0],
            extensions: Extensions(exts.to_vec()),
        }
    }

    fn rpk_pki() -> ServerPki {
        let key = p256::SecretKey::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(5));
        ServerPki::new(&CertificateConfig::raw_public_key(PrivateKey::from(key))).unwrap()
    }

    #[test]
    fn negotiation_prefers_server_order() {
        let ch = hello(&[], &[0x00A8, 0xC0A8]);
        let n = negotiate(&ch, &CipherSuite::ALL, false, None).unwrap();
        assert_eq!(n.suite, CipherSuite::PskAes128Ccm8);
        assert!(!n.extended_master_secret);
        assert_eq!(n.client_cid, None);
        assert_eq!(n.certs, None);
    }

    #[test]
    fn negotiation_failures() {
        assert_eq!(
            negotiate(&hello(&[], &[0x1301]), &CipherSuite::ALL, false, None),
            Err(alert::HANDSHAKE_FAILURE)
        );
        assert_eq!(
            negotiate(&hello(&[], &[0xC0A8]), &CipherSuite::ALL, true, None),
            Err(alert::HANDSHAKE_FAILURE)
        );
        let mut old = hello(&[], &[0xC0A8]);
        old.version = 0xFEFF;
        assert_eq!(
            negotiate(&old, &CipherSuite::ALL, false, None),
            Err(alert::PROTOCOL_VERSION)
        );
        let reneg = hello(&[(EXT_RENEGOTIATION_INFO, vec![1, 9])], &[0xC0A8]);
        assert_eq!(
            negotiate(&reneg, &CipherSuite::ALL, false, None),
            Err(alert::HANDSHAKE_FAILURE)
        );
    }

    #[test]
    fn ecdhe_psk_needs_p256_and_uncompressed_points() {
        let suites = [CipherSuite::EcdhePskAes128CbcSha256];
        let ch = hello(&[], &[0xC037]);
        let n = negotiate(&ch, &suites, false, None).unwrap();
        assert_eq!(n.suite, CipherSuite::EcdhePskAes128CbcSha256);
        assert!(!n.echo_point_formats && n.certs.is_none());
        let ch = hello(
            &[
                (EXT_SUPPORTED_GROUPS, encode_u16_list(&[29, 23])),
                (EXT_EC_POINT_FORMATS, encode_u8_list(&[0])),
            ],
            &[0xC037],
        );
        assert!(
            negotiate(&ch, &suites, false, None)
                .unwrap()
                .echo_point_formats
        );
        let ch = hello(&[(EXT_SUPPORTED_GROUPS, encode_u16_list(&[29]))], &[0xC037]);
        assert_eq!(
            negotiate(&ch, &suites, false, None),
            Err(alert::HANDSHAKE_FAILURE)
        );
    }

    #[test]
    fn negotiation_extensions() {
        let ch = hello(
            &[
                (EXT_EXTENDED_MASTER_SECRET, vec![]),
                (EXT_CONNECTION_ID, vec![0]),
            ],
            &[0xC0A8, EMPTY_RENEGOTIATION_INFO_SCSV],
        );
        let n = negotiate(&ch, &CipherSuite::ALL, true, None).unwrap();
        assert!(n.extended_master_secret && n.renegotiation_info);
        assert_eq!(n.client_cid, Some(vec![]));
    }

    #[test]
    fn certificate_suites_need_a_key_and_common_types() {
        let rpk_only = [
            (EXT_CLIENT_CERTIFICATE_TYPE, encode_u8_list(&[2])),
            (EXT_SERVER_CERTIFICATE_TYPE, encode_u8_list(&[2])),
            (EXT_SUPPORTED_GROUPS, encode_u16_list(&[29, 23])),
            (EXT_EC_POINT_FORMATS, encode_u8_list(&[0])),
        ];
        let ch = hello(&rpk_only, &[0xC0AE]);
        // No certificate configured: the suite does not exist for us.
        assert_eq!(
            negotiate(&ch, &CipherSuite::ALL, false, None),
            Err(alert::HANDSHAKE_FAILURE)
        );
        let pki = rpk_pki();
        let n = negotiate(&ch, &CipherSuite::ALL, false, Some(&pki)).unwrap();
        assert_eq!(n.suite, CipherSuite::EcdheEcdsaAes128Ccm8);
        assert_eq!(
            n.certs,
            Some(CertTerms {
                server_type: 2,
                client_type: 2,
                echo_server_type: true,
                echo_client_type: true,
                echo_point_formats: true,
            })
        );
        // An X.509-only client (no type extensions) and an RPK-only server.
        let ch = hello(&[], &[0xC0AE]);
        assert_eq!(
            negotiate(&ch, &CipherSuite::ALL, false, Some(&pki)),
            Err(alert::UNSUPPORTED_CERTIFICATE)
        );
        // Same client, but it also offers PSK: PSK is chosen instead.
        let ch = hello(&[], &[0xC0AE, 0xC0A8]);
        let n = negotiate(&ch, &CipherSuite::ALL, false, Some(&pki)).unwrap();
        assert_eq!(n.suite, CipherSuite::PskAes128Ccm8);
        // Wrong curve.
        let ch = hello(&[(EXT_SUPPORTED_GROUPS, encode_u16_list(&[24]))], &[0xC0AE]);
        assert_eq!(
            negotiate(&ch, &CipherSuite::ALL, false, Some(&pki)),
            Err(alert::HANDSHAKE_FAILURE)
        );
        // Malformed list.
        let ch = hello(
            &[
                (EXT_SERVER_CERTIFICATE_TYPE, encode_u8_list(&[2])),
                (EXT_CLIENT_CERTIFICATE_TYPE, vec![5, 2]),
            ],
            &[0xC0AE],
        );
        assert_eq!(
            negotiate(&ch, &CipherSuite::ALL, false, Some(&pki)),
            Err(alert::DECODE_ERROR)
        );
    }
}
