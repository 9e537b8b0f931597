//! Handshake layer: message framing with the DTLS header (RFC 6347 §4.2.2),
//! reassembly, flights and retransmission, the message codecs and the
//! server's state machine (the client's lives behind the `client` feature).

pub(crate) mod certificate;
pub(crate) mod extensions;
pub(crate) mod flight;
pub(crate) mod messages;
pub(crate) mod negotiate;
pub(crate) mod reassembly;
pub(crate) mod server;

use crate::codec::{Reader, Writer};

pub(crate) const CLIENT_HELLO: u8 = 1;
pub(crate) const SERVER_HELLO: u8 = 2;
pub(crate) const HELLO_VERIFY_REQUEST: u8 = 3;
pub(crate) const CERTIFICATE: u8 = 11;
pub(crate) const SERVER_KEY_EXCHANGE: u8 = 12;
pub(crate) const CERTIFICATE_REQUEST: u8 = 13;
pub(crate) const SERVER_HELLO_DONE: u8 = 14;
pub(crate) const CERTIFICATE_VERIFY: u8 = 15;
pub(crate) const CLIENT_KEY_EXCHANGE: u8 = 16;
pub(crate) const FINISHED: u8 = 20;

/// DTLS handshake header length.
pub(crate) const HEADER_LEN: usize = 12;
/// Largest handshake message we reassemble (a PSK handshake needs < 1 KiB;
/// this leaves room for a certificate chain of a few certificates).
pub(crate) const MAX_MESSAGE_LEN: u32 = 16 * 1024;

/// One handshake fragment as read from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fragment<'a> {
    pub(crate) msg_type: u8,
    pub(crate) length: u32,
    pub(crate) seq: u16,
    pub(crate) offset: u32,
    pub(crate) body: &'a [u8],
}

impl Fragment<'_> {
    /// The fragment is a whole message.
    pub(crate) fn is_complete(&self) -> bool {
        self.offset == 0 && self.body.len() as u64 == u64::from(self.length)
    }
}

/// Reads one fragment; `None` for malformed input (the rest of the record
/// is then dropped).
pub(crate) fn read_fragment<'a>(r: &mut Reader<'a>) -> Option<Fragment<'a>> {
    let msg_type = r.u8()?;
    let length = r.u24()?;
    let seq = r.u16()?;
    let offset = r.u24()?;
    let frag_len = r.u24()?;
    if offset.checked_add(frag_len)? > length || length > MAX_MESSAGE_LEN {
        return None;
    }
    let body = r.bytes(usize::try_from(frag_len).ok()?)?;
    Some(Fragment {
        msg_type,
        length,
        seq,
        offset,
        body,
    })
}

/// Encodes a fragment of `body` (`offset..offset+len`) with its header.
pub(crate) fn encode_fragment(
    msg_type: u8,
    seq: u16,
    body: &[u8],
    offset: usize,
    len: usize,
) -> Vec<u8> {
    let part = body
        .get(offset..offset.saturating_add(len).min(body.len()))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_LEN + part.len());
    out.put_u8(msg_type);
    out.put_u24(u32::try_from(body.len()).unwrap_or(0));
    out.put_u16(seq);
    out.put_u24(u32::try_from(offset).unwrap_or(0));
    out.put_u24(u32::try_from(part.len()).unwrap_or(0));
    out.extend_from_slice(part);
    out
}

/// The whole message as it enters the transcript: the DTLS header with
/// fragment_offset 0 and fragment_length = length (RFC 6347 §4.2.6).
pub(crate) fn transcript_bytes(msg_type: u8, seq: u16, body: &[u8]) -> Vec<u8> {
    encode_fragment(msg_type, seq, body, 0, body.len())
}

/// A reassembled handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) msg_type: u8,
    pub(crate) seq: u16,
    pub(crate) body: Vec<u8>,
}

impl Message {
    pub(crate) fn transcript_bytes(&self) -> Vec<u8> {
        transcript_bytes(self.msg_type, self.seq, &self.body)
    }
}

/// TLS alert descriptions we send or name.
pub mod alert {
    /// close_notify
    pub const CLOSE_NOTIFY: u8 = 0;
    /// unexpected_message
    pub const UNEXPECTED_MESSAGE: u8 = 10;
    /// bad_record_mac
    pub const BAD_RECORD_MAC: u8 = 20;
    /// handshake_failure
    pub const HANDSHAKE_FAILURE: u8 = 40;
    /// bad_certificate
    pub const BAD_CERTIFICATE: u8 = 42;
    /// unsupported_certificate (also: no common certificate type, RFC 7250 §4.2)
    pub const UNSUPPORTED_CERTIFICATE: u8 = 43;
    /// certificate_revoked
    pub const CERTIFICATE_REVOKED: u8 = 44;
    /// certificate_expired
    pub const CERTIFICATE_EXPIRED: u8 = 45;
    /// certificate_unknown
    pub const CERTIFICATE_UNKNOWN: u8 = 46;
    /// illegal_parameter
    pub const ILLEGAL_PARAMETER: u8 = 47;
    /// unknown_ca
    pub const UNKNOWN_CA: u8 = 48;
    /// decode_error
    pub const DECODE_ERROR: u8 = 50;
    /// decrypt_error (also sent for an unknown PSK identity, RFC 4279 §2,
    /// so identities cannot be probed)
    pub const DECRYPT_ERROR: u8 = 51;
    /// protocol_version
    pub const PROTOCOL_VERSION: u8 = 70;
    /// insufficient_security
    pub const INSUFFICIENT_SECURITY: u8 = 71;
    /// internal_error
    pub const INTERNAL_ERROR: u8 = 80;
    /// no_renegotiation (a warning)
    pub const NO_RENEGOTIATION: u8 = 100;
    /// unsupported_extension
    pub const UNSUPPORTED_EXTENSION: u8 = 110;
    /// unknown_psk_identity
    pub const UNKNOWN_PSK_IDENTITY: u8 = 115;

    /// Alert level: warning.
    pub const LEVEL_WARNING: u8 = 1;
    /// Alert level: fatal.
    pub const LEVEL_FATAL: u8 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_round_trip_and_bounds() {
        let body: Vec<u8> = (0..50).collect();
        let bytes = encode_fragment(CLIENT_HELLO, 3, &body, 10, 20);
        let f = read_fragment(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(
            (f.msg_type, f.length, f.seq, f.offset),
            (CLIENT_HELLO, 50, 3, 10)
        );
        assert_eq!(f.body, &body[10..30]);
        assert!(!f.is_complete());
        // offset + length beyond the message length
        let mut bad = bytes.clone();
        bad[8] = 40;
        assert!(read_fragment(&mut Reader::new(&bad)).is_none());
        assert!(read_fragment(&mut Reader::new(&bytes[..20])).is_none());
    }
}
