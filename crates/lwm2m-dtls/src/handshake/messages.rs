//! Codecs for the handshake message bodies of a PSK handshake.

use super::extensions::Extensions;
use crate::codec::{Reader, Writer};

/// ClientHello (RFC 6347 §4.2.1: with a cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHello {
    pub(crate) version: u16,
    pub(crate) random: [u8; 32],
    pub(crate) session_id: Vec<u8>,
    pub(crate) cookie: Vec<u8>,
    pub(crate) suites: Vec<u16>,
    pub(crate) compression: Vec<u8>,
    pub(crate) extensions: Extensions,
}

impl ClientHello {
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let mut r = Reader::new(body);
        let version = r.u16()?;
        let random = r.array::<32>()?;
        let session_id = r.vec8()?;
        if session_id.len() > 32 {
            return None;
        }
        let cookie = r.vec8()?;
        let suites_raw = r.vec16()?;
        if suites_raw.len() % 2 != 0 || suites_raw.is_empty() {
            return None;
        }
        let mut sr = Reader::new(suites_raw);
        let mut suites = Vec::with_capacity(suites_raw.len() / 2);
        while let Some(s) = sr.u16() {
            suites.push(s);
        }
        let compression = r.vec8()?;
        if compression.is_empty() {
            return None;
        }
        let extensions = if r.is_empty() {
            Extensions::default()
        } else {
            let e = Extensions::parse(r.vec16()?)?;
            if !r.is_empty() {
                return None;
            }
            e
        };
        Some(Self {
            version,
            random,
            session_id: session_id.to_vec(),
            cookie: cookie.to_vec(),
            suites,
            compression: compression.to_vec(),
            extensions,
        })
    }

    /// Everything but the cookie: what the cookie is computed over, so a
    /// valid cookie proves the second ClientHello repeats the first.
    pub(crate) fn cookie_input(&self) -> Vec<u8> {
        let mut c = self.clone();
        c.cookie.clear();
        c.encode()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.put_u16(self.version);
        out.extend_from_slice(&self.random);
        out.put_vec8(&self.session_id);
        out.put_vec8(&self.cookie);
        let mut suites = Vec::with_capacity(self.suites.len() * 2);
        for s in &self.suites {
            suites.put_u16(*s);
        }
        out.put_vec16(&suites);
        out.put_vec8(&self.compression);
        self.extensions.encode_into(&mut out);
        out
    }
}

/// ServerHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerHello {
    pub(crate) version: u16,
    pub(crate) random: [u8; 32],
    pub(crate) session_id: Vec<u8>,
    pub(crate) suite: u16,
    pub(crate) compression: u8,
    pub(crate) extensions: Extensions,
}

impl ServerHello {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80);
        out.put_u16(self.version);
        out.extend_from_slice(&self.random);
        out.put_vec8(&self.session_id);
        out.put_u16(self.suite);
        out.put_u8(self.compression);
        self.extensions.encode_into(&mut out);
        out
    }

    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let mut r = Reader::new(body);
        let version = r.u16()?;
        let random = r.array::<32>()?;
        let session_id = r.vec8()?.to_vec();
        let suite = r.u16()?;
        let compression = r.u8()?;
        let extensions = if r.is_empty() {
            Extensions::default()
        } else {
            let e = Extensions::parse(r.vec16()?)?;
            if !r.is_empty() {
                return None;
            }
            e
        };
        Some(Self {
            version,
            random,
            session_id,
            suite,
            compression,
            extensions,
        })
    }
}

/// HelloVerifyRequest body: `server_version` (DTLS 1.0 as RFC 6347 §4.2.1
/// recommends, for compatibility) and the cookie.
pub(crate) fn encode_hello_verify_request(cookie: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + cookie.len());
    out.put_u16(crate::record::DTLS_1_0);
    out.put_vec8(cookie);
    out
}

#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn parse_hello_verify_request(body: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader::new(body);
    let _version = r.u16()?;
    let cookie = r.vec8()?;
    r.is_empty().then(|| cookie.to_vec())
}

/// PSK ClientKeyExchange (RFC 4279 §2): `opaque psk_identity<0..2^16-1>`.
pub(crate) fn parse_psk_client_key_exchange(body: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader::new(body);
    let identity = r.vec16()?;
    r.is_empty().then(|| identity.to_vec())
}

/// ECDHE_PSK ClientKeyExchange (RFC 5489 §2): the PSK identity, then the
/// client's ECDH point.
pub(crate) fn parse_ecdhe_psk_client_key_exchange(body: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut r = Reader::new(body);
    let identity = r.vec16()?;
    let point = r.vec8()?;
    (r.is_empty() && !point.is_empty()).then(|| (identity.to_vec(), point))
}

#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn encode_psk_client_key_exchange(identity: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + identity.len());
    out.put_vec16(identity);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> ClientHello {
        let mut extensions = Extensions::default();
        extensions.push(23, vec![]);
        ClientHello {
            version: 0xfefd,
            random: [9; 32],
            session_id: vec![],
            cookie: vec![1, 2, 3],
            suites: vec![0xC0A8, 0x00FF],
            compression: vec![0],
            extensions,
        }
    }

    #[test]
    fn client_hello_round_trip() {
        let ch = hello();
        let bytes = ch.encode();
        assert_eq!(ClientHello::parse(&bytes), Some(ch.clone()));
        for n in 0..bytes.len() {
            // Every strict prefix is either invalid or a hello without extensions.
            if let Some(p) = ClientHello::parse(&bytes[..n]) {
                assert!(p.extensions.0.is_empty());
            }
        }
        let mut no_cookie = ch.clone();
        no_cookie.cookie.clear();
        assert_eq!(ch.cookie_input(), no_cookie.encode());
    }

    #[test]
    fn server_hello_round_trip() {
        let sh = ServerHello {
            version: 0xfefd,
            random: [1; 32],
            session_id: vec![],
            suite: 0xC0A8,
            compression: 0,
            extensions: Extensions::default(),
        };
        assert_eq!(ServerHello::parse(&sh.encode()), Some(sh));
    }

    #[test]
    fn small_messages() {
        assert_eq!(
            parse_hello_verify_request(&encode_hello_verify_request(b"ck")),
            Some(b"ck".to_vec())
        );
        assert_eq!(
            parse_psk_client_key_exchange(&encode_psk_client_key_exchange(b"id")),
            Some(b"id".to_vec())
        );
        assert_eq!(parse_psk_client_key_exchange(&[0, 5, 1]), None);
    }
}
