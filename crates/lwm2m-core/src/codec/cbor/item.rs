//! A small, bounded reader and writer of CBOR data items (RFC 8949), as the
//! LwM2M application/cbor format needs them, and LwM2M CBOR for its leaves.
//!
//! Written by hand instead of going through a generic CBOR value tree so the
//! limits are evident: only scalar items (integers, floats, simple values,
//! byte and text strings, definite or chunked) and at most one tag are read;
//! arrays, maps and nested tags are refused, so there is no recursion at all,
//! and no length from the input is allocated before the bytes it announces
//! have been checked to be present. A caller that walks containers (LwM2M
//! CBOR's maps of paths) reads their heads through [`Reader`] and bounds its
//! own depth.

/// A scalar CBOR item.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Item {
    /// Major type 0.
    Uint(u64),
    /// Major type 1: the value is `-1 - n`, kept as `n` so all of it fits.
    NegInt(u64),
    Bytes(Vec<u8>),
    Text(String),
    Float(f64),
    Bool(bool),
    Null,
    Undefined,
}

/// One top-level item with its tag, if any.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tagged {
    pub tag: Option<u64>,
    pub item: Item,
}

pub(crate) const MAJOR_UINT: u8 = 0;
pub(crate) const MAJOR_NEGINT: u8 = 1;
pub(crate) const MAJOR_BYTES: u8 = 2;
pub(crate) const MAJOR_TEXT: u8 = 3;
pub(crate) const MAJOR_ARRAY: u8 = 4;
pub(crate) const MAJOR_MAP: u8 = 5;
pub(crate) const MAJOR_TAG: u8 = 6;
pub(crate) const MAJOR_SIMPLE: u8 = 7;
/// Additional information 31: indefinite length (or "break" in major 7).
pub(crate) const AI_INDEFINITE: u8 = 31;
const BREAK: u8 = 0xff;

/// Reads exactly one item from `bytes`; trailing bytes are an error.
pub(crate) fn read(bytes: &[u8]) -> Result<Tagged, String> {
    let mut reader = Reader::new(bytes);
    let tagged = reader.tagged()?;
    if reader.pos != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the data item (at byte {})",
            bytes.len() - reader.pos,
            reader.pos
        ));
    }
    Ok(tagged)
}

/// A cursor over CBOR bytes. Containers (arrays, maps) are left to the caller,
/// which reads their heads with [`Reader::initial`] and [`Reader::argument`]
/// and their scalar members with [`Reader::tagged`].
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// The offset of the next unread byte.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// True when every byte has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The next byte, not consumed.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Consumes a "break" (0xff) if it is the next byte.
    pub(crate) fn take_break(&mut self) -> bool {
        if self.peek() == Some(BREAK) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// One scalar item with at most one tag.
    pub(crate) fn tagged(&mut self) -> Result<Tagged, String> {
        let (major, ai) = self.initial()?;
        if major != MAJOR_TAG {
            return Ok(Tagged {
                tag: None,
                item: self.item(major, ai)?,
            });
        }
        let tag = self.argument(ai)?;
        let (major, ai) = self.initial()?;
        if major == MAJOR_TAG {
            return Err(format!(
                "nested tags at byte {} are not supported",
                self.pos.saturating_sub(1)
            ));
        }
        Ok(Tagged {
            tag: Some(tag),
            item: self.item(major, ai)?,
        })
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let slice = end
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or_else(|| {
                format!(
                    "the item at byte {} announces {n} bytes but only {} remain",
                    self.pos,
                    self.bytes.len().saturating_sub(self.pos)
                )
            })?;
        self.pos += n;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = self
            .bytes
            .get(self.pos)
            .copied()
            .ok_or("the data item is truncated")?;
        self.pos += 1;
        Ok(b)
    }

    /// The major type and additional information of the next initial byte.
    pub(crate) fn initial(&mut self) -> Result<(u8, u8), String> {
        let b = self.byte()?;
        Ok((b >> 5, b & 0x1f))
    }

    /// The argument that additional information `ai` announces (not for 31).
    pub(crate) fn argument(&mut self, ai: u8) -> Result<u64, String> {
        Ok(match ai {
            0..=23 => u64::from(ai),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.array()?)),
            26 => u64::from(u32::from_be_bytes(self.array()?)),
            27 => u64::from_be_bytes(self.array()?),
            _ => {
                return Err(format!(
                    "additional information {ai} at byte {} is reserved or indefinite here",
                    self.pos.saturating_sub(1)
                ))
            }
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn length(&mut self, ai: u8) -> Result<usize, String> {
        let n = self.argument(ai)?;
        usize::try_from(n).map_err(|_| format!("a string length of {n} bytes is impossible here"))
    }

    fn item(&mut self, major: u8, ai: u8) -> Result<Item, String> {
        let start = self.pos.saturating_sub(1);
        match major {
            MAJOR_UINT => Ok(Item::Uint(self.argument(ai)?)),
            MAJOR_NEGINT => Ok(Item::NegInt(self.argument(ai)?)),
            MAJOR_BYTES => Ok(Item::Bytes(self.string(MAJOR_BYTES, ai)?)),
            MAJOR_TEXT => {
                let bytes = self.string(MAJOR_TEXT, ai)?;
                String::from_utf8(bytes).map(Item::Text).map_err(|e| {
                    format!(
                        "the text string at byte {start} is not UTF-8 (at byte {} of the text)",
                        e.utf8_error().valid_up_to()
                    )
                })
            }
            MAJOR_ARRAY | MAJOR_MAP => Err(format!(
                "an {} at byte {start}; a single resource value is a scalar data item",
                if major == MAJOR_ARRAY { "array" } else { "map" }
            )),
            MAJOR_SIMPLE => self.simple(ai, start),
            _ => Err(format!("a tag at byte {start} where a value was expected")),
        }
    }

    /// A byte or text string, definite or as indefinite-length chunks.
    fn string(&mut self, major: u8, ai: u8) -> Result<Vec<u8>, String> {
        if ai != AI_INDEFINITE {
            let n = self.length(ai)?;
            return Ok(self.take(n)?.to_vec());
        }
        let mut out = Vec::new();
        loop {
            let at = self.pos;
            if self.bytes.get(at) == Some(&BREAK) {
                self.pos += 1;
                return Ok(out);
            }
            let (chunk_major, chunk_ai) = self.initial()?;
            if chunk_major != major || chunk_ai == AI_INDEFINITE {
                return Err(format!(
                    "the chunk at byte {at} of an indefinite-length string is not a \
                     definite string of the same type"
                ));
            }
            let n = self.length(chunk_ai)?;
            out.extend_from_slice(self.take(n)?);
        }
    }

    fn simple(&mut self, ai: u8, start: usize) -> Result<Item, String> {
        Ok(match ai {
            20 => Item::Bool(false),
            21 => Item::Bool(true),
            22 => Item::Null,
            23 => Item::Undefined,
            25 => Item::Float(f16_to_f64(u16::from_be_bytes(self.array()?))),
            26 => Item::Float(f64::from(f32::from_be_bytes(self.array()?))),
            27 => Item::Float(f64::from_be_bytes(self.array()?)),
            AI_INDEFINITE => return Err(format!("an unexpected \"break\" at byte {start}")),
            _ => {
                return Err(format!(
                    "simple value {ai} at byte {start} has no LwM2M meaning"
                ))
            }
        })
    }
}

/// Converts IEEE 754 half-precision bits (RFC 8949 Appendix D) to f64.
pub(crate) fn f16_to_f64(half: u16) -> f64 {
    let exp = (half >> 10) & 0x1f;
    let mant = f64::from(half & 0x3ff);
    let magnitude = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mant / 1024.0) * 2f64.powi(i32::from(exp) - 15),
    };
    if half & 0x8000 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// The half-precision bits of `f` when it is exactly representable.
pub(crate) fn f64_to_f16_exact(f: f64) -> Option<u16> {
    let sign: u16 = if f.is_sign_negative() { 0x8000 } else { 0 };
    let a = f.abs();
    if a == 0.0 {
        return Some(sign);
    }
    if a.is_infinite() {
        return Some(sign | 0x7c00);
    }
    if a.is_nan() || !(2f64.powi(-24)..=65504.0).contains(&a) {
        return None;
    }
    // Here `a` is a normal f64, so its biased exponent gives floor(log2(a)).
    let exp = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let bits = if exp >= -14 {
        // Every step is exact: division by a power of two, x - 1 for x in [1, 2), x * 1024.
        let mant = (a / 2f64.powi(exp) - 1.0) * 1024.0;
        if mant.fract() != 0.0 {
            return None;
        }
        (((exp + 15) as u16) << 10) | mant as u16
    } else {
        let mant = a * 2f64.powi(24);
        if mant.fract() != 0.0 {
            return None;
        }
        mant as u16
    };
    Some(sign | bits)
}

/// Appends an initial byte with the shortest argument encoding.
pub(crate) fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if let Ok(v) = u8::try_from(arg) {
        out.extend_from_slice(&[m | 24, v]);
    } else if let Ok(v) = u16::try_from(arg) {
        out.push(m | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(arg) {
        out.push(m | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

pub(crate) fn write_int(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        write_head(out, MAJOR_UINT, i as u64);
    } else {
        // -1 - i, computed without overflow: !i == -1 - i for two's complement.
        write_head(out, MAJOR_NEGINT, !i as u64);
    }
}

pub(crate) fn write_uint(out: &mut Vec<u8>, u: u64) {
    write_head(out, MAJOR_UINT, u);
}

pub(crate) fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_head(out, MAJOR_BYTES, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(crate) fn write_text(out: &mut Vec<u8>, text: &str) {
    write_head(out, MAJOR_TEXT, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

pub(crate) fn write_tag(out: &mut Vec<u8>, tag: u64) {
    write_head(out, MAJOR_TAG, tag);
}

pub(crate) fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(if b { 0xf5 } else { 0xf4 });
}

/// Appends `f` in the smallest width that holds it exactly (RFC 8949
/// §4.2.2 preferred serialization); NaN is always the canonical `f97e00`.
pub(crate) fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(&[0xf9, 0x7e, 0x00]);
    } else if let Some(half) = f64_to_f16_exact(f) {
        out.push(0xf9);
        out.extend_from_slice(&half.to_be_bytes());
    } else if f64::from(f as f32) == f {
        out.push(0xfa);
        out.extend_from_slice(&(f as f32).to_be_bytes());
    } else {
        out.push(0xfb);
        out.extend_from_slice(&f.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn float_bytes(f: f64) -> Vec<u8> {
        let mut out = Vec::new();
        write_float(&mut out, f);
        out
    }

    /// RFC 8949 Appendix A: the float examples in preferred serialization.
    #[test]
    fn rfc8949_appendix_a_floats() {
        let cases: [(f64, &[u8]); 16] = [
            (0.0, &[0xf9, 0x00, 0x00]),
            (-0.0, &[0xf9, 0x80, 0x00]),
            (1.0, &[0xf9, 0x3c, 0x00]),
            (1.1, &[0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]),
            (1.5, &[0xf9, 0x3e, 0x00]),
            (65504.0, &[0xf9, 0x7b, 0xff]),
            (100000.0, &[0xfa, 0x47, 0xc3, 0x50, 0x00]),
            (3.4028234663852886e+38, &[0xfa, 0x7f, 0x7f, 0xff, 0xff]),
            (
                1.0e+300,
                &[0xfb, 0x7e, 0x37, 0xe4, 0x3c, 0x88, 0x00, 0x75, 0x9c],
            ),
            (5.960464477539063e-8, &[0xf9, 0x00, 0x01]),
            (0.00006103515625, &[0xf9, 0x04, 0x00]),
            (-4.0, &[0xf9, 0xc4, 0x00]),
            (
                -4.1,
                &[0xfb, 0xc0, 0x10, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66],
            ),
            (f64::INFINITY, &[0xf9, 0x7c, 0x00]),
            (f64::NAN, &[0xf9, 0x7e, 0x00]),
            (f64::NEG_INFINITY, &[0xf9, 0xfc, 0x00]),
        ];
        for (f, bytes) in cases {
            assert_eq!(float_bytes(f), bytes, "{f}");
            let Item::Float(back) = read(bytes).unwrap().item else {
                panic!("{f}: not a float")
            };
            assert!(
                back.to_bits() == f.to_bits() || (f.is_nan() && back.is_nan()),
                "{f}"
            );
        }
    }

    /// RFC 8949 Appendix A: the longer float forms decode too.
    #[test]
    fn rfc8949_appendix_a_wide_float_forms() {
        let wide: [(&[u8], f64); 4] = [
            (&[0xfa, 0x7f, 0x80, 0x00, 0x00], f64::INFINITY),
            (&[0xfb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0], f64::NEG_INFINITY),
            (&[0xfa, 0x47, 0xc3, 0x50, 0x00], 100000.0),
            (&[0xf9, 0x3c, 0x00], 1.0),
        ];
        for (bytes, f) in wide {
            assert_eq!(read(bytes).unwrap().item, Item::Float(f));
        }
    }

    /// RFC 8949 Appendix A: integers.
    #[test]
    fn rfc8949_appendix_a_integers() {
        let cases: [(i64, &[u8]); 12] = [
            (0, &[0x00]),
            (1, &[0x01]),
            (10, &[0x0a]),
            (23, &[0x17]),
            (24, &[0x18, 0x18]),
            (100, &[0x18, 0x64]),
            (1000, &[0x19, 0x03, 0xe8]),
            (1000000, &[0x1a, 0x00, 0x0f, 0x42, 0x40]),
            (
                1000000000000,
                &[0x1b, 0x00, 0x00, 0x00, 0xe8, 0xd4, 0xa5, 0x10, 0x00],
            ),
            (-1, &[0x20]),
            (-100, &[0x38, 0x63]),
            (-1000, &[0x39, 0x03, 0xe7]),
        ];
        for (i, bytes) in cases {
            let mut out = Vec::new();
            write_int(&mut out, i);
            assert_eq!(out, bytes, "{i}");
        }
        let mut out = Vec::new();
        write_uint(&mut out, u64::MAX);
        assert_eq!(out, [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(read(&out).unwrap().item, Item::Uint(u64::MAX));
        // -18446744073709551616
        let min = [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(read(&min).unwrap().item, Item::NegInt(u64::MAX));
    }

    /// RFC 8949 Appendix A: strings, simple values, tag 1 and chunked strings.
    #[test]
    fn rfc8949_appendix_a_strings_and_tags() {
        assert_eq!(read(&[0x40]).unwrap().item, Item::Bytes(vec![]));
        assert_eq!(
            read(&[0x44, 1, 2, 3, 4]).unwrap().item,
            Item::Bytes(vec![1, 2, 3, 4])
        );
        assert_eq!(read(&[0x60]).unwrap().item, Item::Text(String::new()));
        assert_eq!(
            read(&[0x62, 0x22, 0x5c]).unwrap().item,
            Item::Text("\"\\".into())
        );
        assert_eq!(
            read(&[0x63, 0xe6, 0xb0, 0xb4]).unwrap().item,
            Item::Text("\u{6c34}".into())
        );
        assert_eq!(read(&[0xf4]).unwrap().item, Item::Bool(false));
        assert_eq!(read(&[0xf5]).unwrap().item, Item::Bool(true));
        assert_eq!(read(&[0xf6]).unwrap().item, Item::Null);
        assert_eq!(read(&[0xf7]).unwrap().item, Item::Undefined);
        // 1(1363896240)
        let time = read(&[0xc1, 0x1a, 0x51, 0x4b, 0x67, 0xb0]).unwrap();
        assert_eq!(
            time,
            Tagged {
                tag: Some(1),
                item: Item::Uint(1363896240)
            }
        );
        // (_ h'0102', h'030405')
        let chunked = [0x5f, 0x42, 0x01, 0x02, 0x43, 0x03, 0x04, 0x05, 0xff];
        assert_eq!(
            read(&chunked).unwrap().item,
            Item::Bytes(vec![1, 2, 3, 4, 5])
        );
        // (_ "strea", "ming")
        let chunked = [
            0x7f, 0x65, 0x73, 0x74, 0x72, 0x65, 0x61, 0x64, 0x6d, 0x69, 0x6e, 0x67, 0xff,
        ];
        assert_eq!(read(&chunked).unwrap().item, Item::Text("streaming".into()));
    }

    #[test]
    fn malformed_and_unsupported_items_are_refused() {
        let bad: [&[u8]; 14] = [
            &[],
            &[0x18],                                                 // truncated argument
            &[0x1c], // reserved additional information
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // huge declared length
            &[0x44, 1, 2], // shorter than declared
            &[0x80], // array
            &[0xa0], // map
            &[0xc1, 0xc1, 0x00], // nested tag
            &[0x62, 0xc3, 0x28], // invalid UTF-8
            &[0x5f, 0x42, 0x01, 0x02], // chunked without break
            &[0x5f, 0x62, 0x61, 0x62, 0xff], // text chunk in a byte string
            &[0xff], // lone break
            &[0xf0], // unassigned simple value
            &[0x01, 0x02], // trailing bytes
        ];
        for bytes in bad {
            assert!(read(bytes).is_err(), "{bytes:02x?} must be refused");
        }
    }

    proptest! {
        #[test]
        fn f16_conversion_is_exact(bits in any::<u16>()) {
            let f = f16_to_f64(bits);
            if !f.is_nan() {
                prop_assert_eq!(f64_to_f16_exact(f), Some(bits));
            }
        }

        #[test]
        fn floats_round_trip(f in any::<f64>()) {
            let Item::Float(back) = read(&float_bytes(f)).unwrap().item else { panic!("not a float") };
            prop_assert!(back.to_bits() == f.to_bits() || (f.is_nan() && back.is_nan()));
        }

        #[test]
        fn ints_round_trip(i in any::<i64>()) {
            let mut out = Vec::new();
            write_int(&mut out, i);
            let back = match read(&out).unwrap().item {
                Item::Uint(u) => i64::try_from(u).unwrap(),
                Item::NegInt(n) => -1 - i64::try_from(n).unwrap(),
                other => panic!("{other:?}"),
            };
            prop_assert_eq!(back, i);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = read(&bytes);
        }
    }
}
