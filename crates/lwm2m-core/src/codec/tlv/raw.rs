//! The wire form of one TLV (LwM2M 1.1.1 Core TS §7.4.3, "TLV format"):
//!
//! ```text
//! type byte: bits 7-6  identifier type: 00 object instance, 01 resource instance,
//!                                       10 multiple resource, 11 resource with value
//!            bit 5     identifier length: 0 = 8 bits, 1 = 16 bits
//!            bits 4-3  length type: 00 = length in bits 2-0, 01 = 8-bit,
//!                                   10 = 16-bit, 11 = 24-bit length field
//!            bits 2-0  value length when bits 4-3 are 00 (ignored otherwise)
//! identifier: 8 or 16 bits
//! length:     0, 8, 16 or 24 bits
//! value:      length bytes
//! ```
//!
//! This module reads and writes one level at a time; it never descends into
//! a value, so nesting is bounded by the callers, which know which level may
//! contain which.

use crate::path::RESERVED_ID;

/// The identifier type of a TLV (bits 7-6 of the type byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TlvKind {
    ObjectInstance,
    ResourceInstance,
    MultipleResource,
    ResourceValue,
}

impl TlvKind {
    fn bits(self) -> u8 {
        match self {
            TlvKind::ObjectInstance => 0b00,
            TlvKind::ResourceInstance => 0b01,
            TlvKind::MultipleResource => 0b10,
            TlvKind::ResourceValue => 0b11,
        }
    }

    fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0b00 => TlvKind::ObjectInstance,
            0b01 => TlvKind::ResourceInstance,
            0b10 => TlvKind::MultipleResource,
            _ => TlvKind::ResourceValue,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            TlvKind::ObjectInstance => "object instance",
            TlvKind::ResourceInstance => "resource instance",
            TlvKind::MultipleResource => "multiple resource",
            TlvKind::ResourceValue => "resource with value",
        }
    }
}

/// One TLV as read: its kind, identifier and undecoded value bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RawTlv<'a> {
    pub kind: TlvKind,
    pub id: u16,
    pub value: &'a [u8],
    /// Offset of the type byte in the whole payload, for errors.
    pub offset: usize,
    /// Offset of the first value byte in the whole payload, for reading children.
    pub value_offset: usize,
}

/// The largest value a 24-bit length field can announce.
pub(super) const MAX_VALUE_LEN: usize = 0xff_ffff;

/// Reads every TLV in `bytes` (one level, siblings in order). `base` is the
/// offset of `bytes` in the whole payload, used in error messages.
pub(super) fn read_all(bytes: &[u8], base: usize) -> Result<Vec<RawTlv<'_>>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (tlv, next) = read_one(bytes, pos, base)?;
        out.push(tlv);
        pos = next;
    }
    Ok(out)
}

fn read_one(bytes: &[u8], start: usize, base: usize) -> Result<(RawTlv<'_>, usize), String> {
    let offset = base + start;
    let truncated = |what: &str| format!("the TLV at byte {offset} is truncated in its {what}");
    let field = |from: usize, len: usize, what: &str| -> Result<u32, String> {
        let slice = from
            .checked_add(len)
            .and_then(|end| bytes.get(from..end))
            .ok_or_else(|| truncated(what))?;
        Ok(slice.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
    };

    let type_byte = *bytes.get(start).ok_or_else(|| truncated("type"))?;
    let kind = TlvKind::from_bits(type_byte >> 6);
    let id_len = if type_byte & 0b0010_0000 != 0 { 2 } else { 1 };
    let length_len = usize::from((type_byte >> 3) & 0b11);

    let id = field(start + 1, id_len, "identifier")?;
    let id = u16::try_from(id).map_err(|_| truncated("identifier"))?;
    if id == RESERVED_ID {
        return Err(format!(
            "the TLV at byte {offset} uses the reserved identifier 65535"
        ));
    }
    let length_at = start + 1 + id_len;
    let value_len = if length_len == 0 {
        usize::from(type_byte & 0b111)
    } else {
        field(length_at, length_len, "length")? as usize
    };
    let value_at = length_at + length_len;
    let value = value_at
        .checked_add(value_len)
        .and_then(|end| bytes.get(value_at..end))
        .ok_or_else(|| {
            format!(
                "the {} TLV {id} at byte {offset} announces {value_len} value bytes but only {} remain",
                kind.name(),
                bytes.len().saturating_sub(value_at)
            )
        })?;
    Ok((
        RawTlv {
            kind,
            id,
            value,
            offset,
            value_offset: base + value_at,
        },
        value_at + value_len,
    ))
}

/// Appends one TLV with the shortest identifier and length fields.
pub(super) fn write(out: &mut Vec<u8>, kind: TlvKind, id: u16, value: &[u8]) -> Result<(), String> {
    if id == RESERVED_ID {
        return Err(format!(
            "a {} cannot use the reserved identifier 65535",
            kind.name()
        ));
    }
    let len = value.len();
    if len > MAX_VALUE_LEN {
        return Err(format!(
            "the {} TLV {id} would hold {len} bytes; TLV lengths stop at {MAX_VALUE_LEN}",
            kind.name()
        ));
    }
    let mut type_byte = kind.bits() << 6;
    if id > 0xff {
        type_byte |= 0b0010_0000;
    }
    let length_bytes: &[u8] = &(len as u32).to_be_bytes();
    let length_field = if len < 8 {
        type_byte |= len as u8;
        length_bytes.get(4..).unwrap_or(&[])
    } else if len <= 0xff {
        type_byte |= 0b01 << 3;
        length_bytes.get(3..).unwrap_or(&[])
    } else if len <= 0xffff {
        type_byte |= 0b10 << 3;
        length_bytes.get(2..).unwrap_or(&[])
    } else {
        type_byte |= 0b11 << 3;
        length_bytes.get(1..).unwrap_or(&[])
    };
    out.reserve(1 + 2 + length_field.len() + len);
    out.push(type_byte);
    if id > 0xff {
        out.extend_from_slice(&id.to_be_bytes());
    } else {
        out.push(id as u8);
    }
    out.extend_from_slice(length_field);
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn one(kind: TlvKind, id: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, kind, id, value).unwrap();
        out
    }

    /// §7.4.3 type byte layout, one case per field width.
    #[test]
    fn spec_7_4_3_header_layout() {
        // 11 0 00 001: resource with value, 8-bit id, length 1 in bits 2-0.
        assert_eq!(one(TlvKind::ResourceValue, 9, &[0x64]), [0xC1, 0x09, 0x64]);
        // 11 0 01 000: 8-bit length field (20 bytes).
        assert_eq!(
            one(TlvKind::ResourceValue, 0, &[b'x'; 20])
                .get(..3)
                .unwrap(),
            [0xC8, 0x00, 0x14]
        );
        // 01 1 00 001: resource instance with a 16-bit id (310).
        assert_eq!(
            one(TlvKind::ResourceInstance, 310, &[1]),
            [0x61, 0x01, 0x36, 0x01]
        );
        // 00 0 10 000: object instance with a 16-bit length field (256 bytes).
        assert_eq!(
            one(TlvKind::ObjectInstance, 1, &[0; 256]).get(..4).unwrap(),
            [0x10, 0x01, 0x01, 0x00]
        );
        // 10 1 11 000: multiple resource, 16-bit id, 24-bit length (65536 bytes).
        let big = one(TlvKind::MultipleResource, 0x1234, &vec![0; 0x1_0000]);
        assert_eq!(big.get(..6).unwrap(), [0xB8, 0x12, 0x34, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn reads_what_it_writes_with_offsets() {
        let mut buf = one(TlvKind::ResourceValue, 1, b"abc");
        buf.extend(one(TlvKind::MultipleResource, 300, &[0x41, 0x00, 0x01]));
        let tlvs = read_all(&buf, 10).unwrap();
        assert_eq!(tlvs.len(), 2);
        let second = tlvs.get(1).unwrap();
        assert_eq!(
            (second.kind, second.id, second.value, second.offset),
            (TlvKind::MultipleResource, 300, &[0x41, 0, 1][..], 15)
        );
    }

    #[test]
    fn length_bits_are_ignored_when_a_length_field_is_present() {
        // 11 0 01 111: bits 2-0 must be ignored.
        let tlvs = read_all(&[0xCF, 0x00, 0x01, 0x61], 0).unwrap();
        assert_eq!(tlvs.first().unwrap().value, b"a");
    }

    #[test]
    fn lengths_beyond_the_buffer_are_refused() {
        for bad in [
            &[0xC8][..],                                 // no identifier
            &[0xE8, 0x00],                               // 16-bit id cut short
            &[0xD8, 0x00, 0xFF],                         // 16-bit length cut short
            &[0xD8, 0x00, 0xFF, 0xFF, 0x00],             // announces 65535 bytes
            &[0xF8, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x00], // announces 16 MiB
            &[0xC3, 0x00, 0x01],                         // length 3, one byte present
            &[0xE1, 0xFF, 0xFF, 0x00],                   // reserved id 65535
        ] {
            assert!(read_all(bad, 0).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn values_above_24_bits_cannot_be_written() {
        let mut out = Vec::new();
        assert!(write(
            &mut out,
            TlvKind::ResourceValue,
            0,
            &vec![0; MAX_VALUE_LEN + 1]
        )
        .is_err());
    }

    proptest! {
        #[test]
        fn header_round_trips(kind in 0u8..4, id in 0u16..65535, len in prop::sample::select(vec![0usize, 1, 7, 8, 255, 256, 65535, 65536])) {
            let kind = TlvKind::from_bits(kind);
            let value = vec![0xA5; len];
            let bytes = one(kind, id, &value);
            let tlvs = read_all(&bytes, 0).unwrap();
            let header = bytes.len() - len;
            prop_assert_eq!(tlvs, vec![RawTlv { kind, id, value: &value, offset: 0, value_offset: header }]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_all(&bytes, 0);
        }
    }
}
