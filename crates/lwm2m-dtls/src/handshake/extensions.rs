//! Hello extensions: the generic list codec and the ids we understand.

use crate::codec::{Reader, Writer};

/// RFC 8422 `supported_groups` (was elliptic_curves).
pub(crate) const EXT_SUPPORTED_GROUPS: u16 = 10;
pub(crate) const EXT_EC_POINT_FORMATS: u16 = 11;
pub(crate) const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
/// RFC 7250: the certificate types the client can send / wants to receive.
pub(crate) const EXT_CLIENT_CERTIFICATE_TYPE: u16 = 19;
pub(crate) const EXT_SERVER_CERTIFICATE_TYPE: u16 = 20;
pub(crate) const EXT_EXTENDED_MASTER_SECRET: u16 = 23;

/// NamedCurve secp256r1, the only group we offer.
pub(crate) const GROUP_SECP256R1: u16 = 23;
/// ECPointFormat uncompressed.
pub(crate) const POINT_FORMAT_UNCOMPRESSED: u8 = 0;
/// SignatureAndHashAlgorithm {sha256, ecdsa}, the only one we use.
pub(crate) const ECDSA_SECP256R1_SHA256: u16 = 0x0403;
/// RFC 7250 certificate types.
pub(crate) const CERT_TYPE_X509: u8 = 0;
pub(crate) const CERT_TYPE_RAW_PUBLIC_KEY: u8 = 2;
/// RFC 9146 `connection_id` (the drafts used 53 with different semantics).
pub(crate) const EXT_CONNECTION_ID: u16 = 54;
pub(crate) const EXT_RENEGOTIATION_INFO: u16 = 0xff01;
/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3), sent as a cipher suite.
pub(crate) const EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00FF;

/// Extensions in wire order. A duplicate type is a decode error (RFC 5246 §7.4.1.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Extensions(pub(crate) Vec<(u16, Vec<u8>)>);

impl Extensions {
    /// Parses the `extensions<0..2^16-1>` field; `data` excludes its length.
    pub(crate) fn parse(data: &[u8]) -> Option<Self> {
        let mut r = Reader::new(data);
        let mut out: Vec<(u16, Vec<u8>)> = Vec::new();
        while !r.is_empty() {
            let ty = r.u16()?;
            let body = r.vec16()?;
            if out.iter().any(|(t, _)| *t == ty) {
                return None;
            }
            out.push((ty, body.to_vec()));
        }
        Some(Self(out))
    }

    pub(crate) fn get(&self, ty: u16) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, b)| b.as_slice())
    }

    pub(crate) fn push(&mut self, ty: u16, body: Vec<u8>) {
        self.0.push((ty, body));
    }

    /// Appends the field with its length prefix; nothing when empty (a
    /// ServerHello without extensions omits the field).
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        if self.0.is_empty() {
            return;
        }
        let mut body = Vec::new();
        for (ty, data) in &self.0 {
            body.put_u16(*ty);
            body.put_vec16(data);
        }
        out.put_vec16(&body);
    }
}

/// `opaque cid<0..2^8-1>` of the connection_id extension.
pub(crate) fn parse_connection_id(body: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader::new(body);
    let cid = r.vec8()?;
    r.is_empty().then(|| cid.to_vec())
}

pub(crate) fn encode_connection_id(cid: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cid.len() + 1);
    out.put_vec8(cid);
    out
}

/// A `uint16 list<2..2^16-2>` (supported_groups, signature_algorithms).
pub(crate) fn parse_u16_list(body: &[u8]) -> Option<Vec<u16>> {
    let mut r = Reader::new(body);
    let list = r.vec16()?;
    if !r.is_empty() || list.len() % 2 != 0 {
        return None;
    }
    let mut lr = Reader::new(list);
    let mut out = Vec::with_capacity(list.len() / 2);
    while let Some(v) = lr.u16() {
        out.push(v);
    }
    Some(out)
}

#[cfg_attr(not(any(test, feature = "client")), allow(dead_code))]
pub(crate) fn encode_u16_list(values: &[u16]) -> Vec<u8> {
    let mut list = Vec::with_capacity(values.len() * 2);
    for v in values {
        list.put_u16(*v);
    }
    let mut out = Vec::with_capacity(list.len() + 2);
    out.put_vec16(&list);
    out
}

/// A `uint8 list<1..2^8-1>` (ec_point_formats, the certificate type lists
/// of a ClientHello).
pub(crate) fn parse_u8_list(body: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader::new(body);
    let list = r.vec8()?;
    r.is_empty().then(|| list.to_vec())
}

pub(crate) fn encode_u8_list(values: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() + 1);
    out.put_vec8(values);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_rejected() {
        let mut e = Extensions::default();
        e.push(1, vec![]);
        e.push(1, vec![2]);
        let mut bytes = Vec::new();
        e.encode_into(&mut bytes);
        assert!(Extensions::parse(&bytes[2..]).is_none());
    }

    #[test]
    fn list_codecs() {
        assert_eq!(
            parse_u16_list(&encode_u16_list(&[23, 24])),
            Some(vec![23, 24])
        );
        assert_eq!(parse_u16_list(&[0, 3, 0, 23, 1]), None);
        assert_eq!(parse_u16_list(&[0, 2, 0, 23, 9]), None);
        assert_eq!(parse_u8_list(&encode_u8_list(&[2, 0])), Some(vec![2, 0]));
        assert_eq!(parse_u8_list(&[2, 0]), None);
    }

    #[test]
    fn connection_id_codec() {
        assert_eq!(
            parse_connection_id(&encode_connection_id(&[1, 2])),
            Some(vec![1, 2])
        );
        assert_eq!(parse_connection_id(&[0]), Some(vec![]));
        assert_eq!(parse_connection_id(&[3, 1]), None);
        assert_eq!(parse_connection_id(&[0, 9]), None);
    }
}
