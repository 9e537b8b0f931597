//! DTLS 1.2 record framing (RFC 6347 §4.1) and the `tls12_cid` record of
//! RFC 9146, plus the additional data that binds each record header to its
//! protection.
//!
//! ```text
//! DTLSPlaintext/Ciphertext: type(1) version(2) epoch(2) seq(6) length(2) fragment
//! tls12_cid (type 25):      type(1) version(2) epoch(2) seq(6) cid(n) length(2) enc
//! ```
//! The CID starts at byte 11, which is why a cluster node can read the
//! owner's node id there without decrypting ([`crate::cid::node_id_of_record`]).

use crate::codec::{Reader, Writer};

pub(crate) const CT_CHANGE_CIPHER_SPEC: u8 = 20;
pub(crate) const CT_ALERT: u8 = 21;
pub(crate) const CT_HANDSHAKE: u8 = 22;
pub(crate) const CT_APPLICATION_DATA: u8 = 23;
pub(crate) const CT_TLS12_CID: u8 = 25;

/// DTLS 1.2 on the wire ({254, 253}).
pub(crate) const DTLS_1_2: u16 = 0xFEFD;
/// DTLS 1.0, which clients may use in the record of their first ClientHello.
pub(crate) const DTLS_1_0: u16 = 0xFEFF;
/// The major byte every DTLS record version has ({254, xx}).
const DTLS_MAJOR: u8 = 254;

/// Plain record header length.
pub(crate) const HEADER_LEN: usize = 13;
/// Largest record fragment we accept (2^14 plus the largest expansion).
pub(crate) const MAX_FRAGMENT: usize = 16384 + 2048;

/// One record as read from a datagram (not yet decrypted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    /// Outer content type (25 for a CID record).
    pub(crate) ctype: u8,
    pub(crate) version: u16,
    pub(crate) epoch: u16,
    /// 48-bit sequence number.
    pub(crate) seq: u64,
    /// The CID of a `tls12_cid` record, empty otherwise.
    pub(crate) cid: &'a [u8],
    pub(crate) fragment: &'a [u8],
}

/// Reads the next record from `r`; `cid_len` is the length of the CIDs this
/// endpoint issues (a `tls12_cid` record carries no length for its CID).
/// `None` means the rest of the datagram is malformed and is dropped.
pub(crate) fn read_record<'a>(r: &mut Reader<'a>, cid_len: usize) -> Option<Record<'a>> {
    let ctype = r.u8()?;
    let version = r.u16()?;
    let epoch = r.u16()?;
    let seq = r.u48()?;
    let cid = if ctype == CT_TLS12_CID {
        r.bytes(cid_len)?
    } else {
        &[]
    };
    let fragment = r.vec16()?;
    if fragment.len() > MAX_FRAGMENT {
        return None;
    }
    // RFC 6347 §4.1 / RFC 5246 App. E.1: the record version of an initial
    // ClientHello may be any {254, xx} (Mbed TLS 2.x writes its configured
    // minimum there, {254, 0} when the minimum is "any"); the version is
    // negotiated from the handshake's client_version. Protected records
    // must say DTLS 1.2, which the record layer checks.
    if version.to_be_bytes()[0] != DTLS_MAJOR {
        return None;
    }
    Some(Record {
        ctype,
        version,
        epoch,
        seq,
        cid,
        fragment,
    })
}

/// Encodes a record. `cid` non-empty makes it a `tls12_cid` record (the
/// caller passes type 25 as `ctype` then).
pub(crate) fn encode_record(
    ctype: u8,
    epoch: u16,
    seq: u64,
    cid: &[u8],
    fragment: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + cid.len() + fragment.len());
    out.put_u8(ctype);
    out.put_u16(DTLS_1_2);
    out.put_u16(epoch);
    out.put_u48(seq);
    out.extend_from_slice(cid);
    out.put_vec16(fragment);
    out
}

/// `record` (from [`encode_record`]) with another record version.
pub(crate) fn with_version(mut record: Vec<u8>, version: u16) -> Vec<u8> {
    if let Some(v) = record.get_mut(1..3) {
        v.copy_from_slice(&version.to_be_bytes());
    }
    record
}

/// epoch || 48-bit sequence: the 64-bit `seq_num` of the MAC/AAD and our
/// explicit AEAD nonce.
pub(crate) fn seq_num(epoch: u16, seq: u64) -> [u8; 8] {
    ((u64::from(epoch) << 48) | (seq & 0xFFFF_FFFF_FFFF)).to_be_bytes()
}

/// RFC 5246 §6.2.3.3 additional data of a plain record:
/// `seq_num + type + version + length`.
pub(crate) fn aad_plain(epoch: u16, seq: u64, ctype: u8, version: u16, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(13);
    out.extend_from_slice(&seq_num(epoch, seq));
    out.put_u8(ctype);
    out.put_u16(version);
    out.put_u16(u16::try_from(len).unwrap_or(u16::MAX));
    out
}

/// RFC 9146 §5 additional data of a `tls12_cid` record (the same prefix is
/// the MAC input for CBC):
/// `seq_num_placeholder(8 x 0xff) + tls12_cid + cid_length + tls12_cid +
///  version + epoch + sequence_number + cid + length_of_DTLSInnerPlaintext`.
/// The draft versions put `seq_num` first and the CID length last; RFC 9146
/// moved them so the length of the CID is authenticated before the CID.
pub(crate) fn aad_cid(epoch: u16, seq: u64, version: u16, cid: &[u8], inner_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(23 + cid.len());
    out.extend_from_slice(&[0xff; 8]);
    out.put_u8(CT_TLS12_CID);
    out.put_u8(u8::try_from(cid.len()).unwrap_or(u8::MAX));
    out.put_u8(CT_TLS12_CID);
    out.put_u16(version);
    out.put_u16(epoch);
    out.put_u48(seq);
    out.extend_from_slice(cid);
    out.put_u16(u16::try_from(inner_len).unwrap_or(u16::MAX));
    out
}

/// `DTLSInnerPlaintext`: content, the real type, no padding (we never pad;
/// peers may, and [`split_inner_plaintext`] accepts it).
pub(crate) fn inner_plaintext(ctype: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 1);
    out.extend_from_slice(content);
    out.push(ctype);
    out
}

/// Strips zero padding and returns (real type, content). All-zero input has
/// no type and is invalid.
pub(crate) fn split_inner_plaintext(mut inner: Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let pos = inner.iter().rposition(|b| *b != 0)?;
    let ctype = *inner.get(pos)?;
    inner.truncate(pos);
    Some((ctype, inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_record_round_trip() {
        let bytes = encode_record(CT_HANDSHAKE, 0, 7, &[], b"abc");
        let mut r = Reader::new(&bytes);
        let rec = read_record(&mut r, 8).unwrap();
        assert_eq!(
            (rec.ctype, rec.epoch, rec.seq, rec.fragment),
            (CT_HANDSHAKE, 0, 7, &b"abc"[..])
        );
        assert!(r.is_empty());
    }

    #[test]
    fn cid_record_has_cid_at_byte_11() {
        let cid = [0x42, 1, 2, 3];
        let bytes = encode_record(CT_TLS12_CID, 1, 0x0102_0304_0506, &cid, b"xyz");
        assert_eq!(bytes[11], 0x42);
        let rec = read_record(&mut Reader::new(&bytes), 4).unwrap();
        assert_eq!(rec.cid, &cid);
        assert_eq!(rec.seq, 0x0102_0304_0506);
        assert_eq!(rec.fragment, b"xyz");
    }

    #[test]
    fn truncated_and_bad_version_rejected() {
        let bytes = encode_record(CT_HANDSHAKE, 0, 7, &[], b"abc");
        for n in 0..bytes.len() {
            assert!(read_record(&mut Reader::new(&bytes[..n]), 8).is_none());
        }
        let mut bad = bytes.clone();
        bad[1] = 3;
        assert!(read_record(&mut Reader::new(&bad), 8).is_none());
    }

    /// The record version of a first ClientHello from Mbed TLS 2.x with its
    /// minimum lowered to "any" is {254, 0}: it must be read, not dropped.
    #[test]
    fn any_dtls_record_version_is_read() {
        for minor in [0x00, 0xfd, 0xfe, 0xff] {
            let mut bytes = encode_record(CT_HANDSHAKE, 0, 7, &[], b"abc");
            bytes[2] = minor;
            let rec = read_record(&mut Reader::new(&bytes), 8).unwrap();
            assert_eq!(rec.version, u16::from_be_bytes([0xfe, minor]));
        }
    }

    /// RFC 9146 §5 layout, field by field.
    #[test]
    fn cid_additional_data_layout() {
        let aad = aad_cid(1, 5, DTLS_1_2, &[0xaa, 0xbb], 0x0102);
        let expected = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // placeholder
            25, 2, 25, // tls12_cid, cid_length, tls12_cid
            0xfe, 0xfd, // version
            0, 1, // epoch
            0, 0, 0, 0, 0, 5, // sequence number
            0xaa, 0xbb, // cid
            0x01, 0x02, // length of the inner plaintext
        ];
        assert_eq!(aad, expected);
        assert_eq!(
            aad_plain(1, 5, 23, DTLS_1_2, 3),
            [0, 1, 0, 0, 0, 0, 0, 5, 23, 0xfe, 0xfd, 0, 3]
        );
    }

    #[test]
    fn inner_plaintext_padding() {
        assert_eq!(
            split_inner_plaintext(vec![1, 2, 23, 0, 0]),
            Some((23, vec![1, 2]))
        );
        assert_eq!(
            split_inner_plaintext(inner_plaintext(21, b"x")),
            Some((21, b"x".to_vec()))
        );
        assert_eq!(split_inner_plaintext(vec![0, 0]), None);
    }
}
