//! The subset of CBOR (RFC 8949) that SenML CBOR needs, read and written by
//! hand so that bounds are plain to see.
//!
//! Reading accepts exactly: an array (definite or indefinite) of maps
//! (definite or indefinite) whose keys are integers or text and whose values
//! are scalars: integers, floats (half, single, double), text, bytes
//! (definite or chunked), booleans, null/undefined, and decimal fractions
//! (tag 4, which some clients use for times). Anything nested deeper is an
//! error, so the reader needs no recursion. Lengths are checked against the
//! bytes left before anything is allocated.
//!
//! Writing is deterministic: shortest heads, definite lengths, and floats in
//! the shortest of half/single/double that keeps the value exact (RFC 8949
//! §4.2.2 preferred serialization).

use super::SenmlNumber;

/// A map key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Key {
    Int(i128),
    Text(String),
}

/// A scalar map value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Item {
    Number(SenmlNumber),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
    Null,
}

impl Item {
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Number(_) => "a number",
            Item::Text(_) => "a text string",
            Item::Bytes(_) => "a byte string",
            Item::Bool(_) => "a boolean",
            Item::Null => "null",
        }
    }
}

/// One decoded map.
pub(crate) type Map = Vec<(Key, Item)>;

const BREAK: u8 = 0xff;
/// Tag 55799 ("self-described CBOR") as it may prefix a payload.
const SELF_DESCRIBED: [u8; 3] = [0xd9, 0xd9, 0xf7];

/// Reads a SenML CBOR pack: an array of maps.
pub(crate) fn read_pack(payload: &[u8]) -> Result<Vec<Map>, String> {
    let body = payload.strip_prefix(&SELF_DESCRIBED[..]).unwrap_or(payload);
    let mut r = Reader { buf: body, pos: 0 };
    let (major, len) = r.head()?;
    if major != 4 {
        return Err(format!(
            "a SenML pack is a CBOR array, found major type {major}"
        ));
    }
    let mut maps = Vec::with_capacity(r.capacity(len));
    let mut count = 0u64;
    loop {
        match len {
            Some(n) if count >= n => break,
            None if r.at_break() => {
                r.pos += 1;
                break;
            }
            _ => {}
        }
        maps.push(r.map(maps.len())?);
        count += 1;
    }
    if r.pos != body.len() {
        return Err(format!(
            "{} trailing bytes after the SenML array",
            body.len() - r.pos
        ));
    }
    Ok(maps)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// A preallocation that a lying length cannot inflate: every item takes
    /// at least one byte.
    fn capacity(&self, len: Option<u64>) -> usize {
        len.map_or(0, |n| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(self.remaining())
        })
    }

    fn at_break(&self) -> bool {
        self.buf.get(self.pos) == Some(&BREAK)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(format!(
                "truncated: {n} bytes needed at offset {}, {} left",
                self.pos,
                self.remaining()
            )),
        }
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// Reads an initial byte and its argument. Returns the major type and the
    /// argument (`None` for an indefinite length). Major type 7 is returned
    /// with its raw additional information in the argument.
    fn head(&mut self) -> Result<(u8, Option<u64>), String> {
        let offset = self.pos;
        let b = *self.take(1)?.first().unwrap_or(&0);
        let (major, info) = (b >> 5, b & 0x1f);
        if major == 7 {
            return Ok((7, Some(u64::from(info))));
        }
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(self.uint(1)?),
            25 => Some(self.uint(2)?),
            26 => Some(self.uint(4)?),
            27 => Some(self.uint(8)?),
            31 if matches!(major, 2..=5) => None,
            _ => {
                return Err(format!(
                    "invalid additional information {info} at offset {offset}"
                ))
            }
        };
        Ok((major, arg))
    }

    fn map(&mut self, index: usize) -> Result<Map, String> {
        let offset = self.pos;
        let (major, len) = self.head()?;
        if major != 5 {
            return Err(format!(
                "record {index} at offset {offset} is not a CBOR map"
            ));
        }
        let mut entries = Vec::with_capacity(self.capacity(len).min(16));
        let mut count = 0u64;
        loop {
            match len {
                Some(n) if count >= n => break,
                None if self.at_break() => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            let key = self.key(index)?;
            let value = self.scalar(index)?;
            entries.push((key, value));
            count += 1;
        }
        Ok(entries)
    }

    fn key(&mut self, index: usize) -> Result<Key, String> {
        let offset = self.pos;
        let (major, arg) = self.head()?;
        match (major, arg) {
            (0, Some(n)) => Ok(Key::Int(i128::from(n))),
            (1, Some(n)) => Ok(Key::Int(-1 - i128::from(n))),
            (3, len) => Ok(Key::Text(self.text(len)?)),
            _ => Err(format!(
                "record {index}: label at offset {offset} is neither an integer nor text"
            )),
        }
    }

    fn scalar(&mut self, index: usize) -> Result<Item, String> {
        let offset = self.pos;
        let (major, arg) = self.head()?;
        match (major, arg) {
            (0, Some(n)) => Ok(Item::Number(SenmlNumber::Integer(i128::from(n)))),
            (1, Some(n)) => Ok(Item::Number(SenmlNumber::Integer(-1 - i128::from(n)))),
            (2, len) => Ok(Item::Bytes(self.bytes(2, len)?)),
            (3, len) => Ok(Item::Text(self.text(len)?)),
            (6, Some(4)) => self.decimal_fraction(index),
            (6, Some(tag)) => Err(format!("record {index}: unsupported CBOR tag {tag} at offset {offset}")),
            (7, Some(info)) => self.simple(index, offset, info),
            _ => Err(format!(
                "record {index}: value at offset {offset} is a nested array or map, which SenML does not use"
            )),
        }
    }

    fn simple(&mut self, index: usize, offset: usize, info: u64) -> Result<Item, String> {
        Ok(match info {
            20 => Item::Bool(false),
            21 => Item::Bool(true),
            22 | 23 => Item::Null,
            25 => Item::Number(SenmlNumber::Float(f16_to_f64(self.uint(2)? as u16))),
            26 => Item::Number(SenmlNumber::Float(f64::from(f32::from_bits(
                self.uint(4)? as u32
            )))),
            27 => Item::Number(SenmlNumber::Float(f64::from_bits(self.uint(8)?))),
            31 => {
                return Err(format!(
                    "record {index}: unexpected break at offset {offset}"
                ))
            }
            other => {
                return Err(format!(
                    "record {index}: unsupported simple value {other} at offset {offset}"
                ))
            }
        })
    }

    /// Tag 4: `[exponent, mantissa]`, the value mantissa × 10^exponent.
    fn decimal_fraction(&mut self, index: usize) -> Result<Item, String> {
        let bad = || {
            format!(
                "record {index}: a decimal fraction (tag 4) must be [exponent, mantissa] integers"
            )
        };
        let (major, len) = self.head()?;
        if major != 4 || len != Some(2) {
            return Err(bad());
        }
        let mut parts = [0i128; 2];
        for part in &mut parts {
            *part = match self.head()? {
                (0, Some(n)) => i128::from(n),
                (1, Some(n)) => -1 - i128::from(n),
                _ => return Err(bad()),
            };
        }
        let [exponent, mantissa] = parts;
        let number = match i32::try_from(exponent) {
            Ok(e) if (0..=18).contains(&e) => mantissa
                .checked_mul(10i128.pow(e as u32))
                .map(SenmlNumber::Integer),
            Ok(e) if (-350..0).contains(&e) => {
                Some(SenmlNumber::Float(mantissa as f64 / 10f64.powi(-e)))
            }
            _ => None,
        };
        number.map(Item::Number).ok_or_else(|| {
            format!("record {index}: decimal fraction exponent {exponent} is out of range")
        })
    }

    fn bytes(&mut self, major: u8, len: Option<u64>) -> Result<Vec<u8>, String> {
        match len {
            Some(n) => {
                let n =
                    usize::try_from(n).map_err(|_| format!("string length {n} is too large"))?;
                Ok(self.take(n)?.to_vec())
            }
            None => {
                let mut out = Vec::new();
                while !self.at_break() {
                    let offset = self.pos;
                    match self.head()? {
                        (m, Some(n)) if m == major => {
                            let n = usize::try_from(n)
                                .map_err(|_| format!("chunk length {n} is too large"))?;
                            out.extend_from_slice(self.take(n)?);
                        }
                        _ => {
                            return Err(format!(
                                "invalid chunk in an indefinite-length string at offset {offset}"
                            ))
                        }
                    }
                }
                self.pos += 1;
                Ok(out)
            }
        }
    }

    fn text(&mut self, len: Option<u64>) -> Result<String, String> {
        let offset = self.pos;
        String::from_utf8(self.bytes(3, len)?)
            .map_err(|_| format!("text string at offset {offset} is not UTF-8"))
    }
}

/// Decodes an IEEE 754 half-precision float.
pub(crate) fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let mant = f64::from(bits & 0x3ff);
    sign * match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mant / 1024.0) * 2f64.powi(e - 15),
    }
}

/// The half-precision bits of `f` when they hold it exactly.
pub(crate) fn f64_to_f16_exact(f: f64) -> Option<u16> {
    let sign: u16 = if f.is_sign_negative() { 0x8000 } else { 0 };
    let a = f.abs();
    if a == 0.0 {
        return Some(sign);
    }
    if a.is_infinite() {
        return Some(sign | 0x7c00);
    }
    if !(2f64.powi(-24)..=65504.0).contains(&a) {
        return None;
    }
    if a < 2f64.powi(-14) {
        // Subnormal half: a multiple of 2^-24 (scaling by a power of two is exact).
        let m = a * 2f64.powi(24);
        return (m.fract() == 0.0).then_some(sign | m as u16);
    }
    let bits = a.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mant = bits & ((1u64 << 52) - 1);
    if mant & ((1u64 << 42) - 1) != 0 {
        return None;
    }
    Some(sign | (((exp + 15) as u16) << 10) | (mant >> 42) as u16)
}

/// Appends an initial byte with its argument in the shortest form.
pub(crate) fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= 0xff {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Appends an integer; `None` when it is outside CBOR's -2^64..2^64 range.
pub(crate) fn write_int(out: &mut Vec<u8>, i: i128) -> Option<()> {
    if i >= 0 {
        write_head(out, 0, u64::try_from(i).ok()?);
    } else {
        write_head(out, 1, u64::try_from(-1 - i).ok()?);
    }
    Some(())
}

/// Appends a float in the shortest exact width; NaN as the canonical `f97e00`.
pub(crate) fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(&[0xf9, 0x7e, 0x00]);
    } else if let Some(h) = f64_to_f16_exact(f) {
        out.push(0xf9);
        out.extend_from_slice(&h.to_be_bytes());
    } else if f64::from(f as f32) == f {
        out.push(0xfa);
        out.extend_from_slice(&(f as f32).to_bits().to_be_bytes());
    } else {
        out.push(0xfb);
        out.extend_from_slice(&f.to_bits().to_be_bytes());
    }
}

pub(crate) fn write_text(out: &mut Vec<u8>, s: &str) {
    write_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn float_hex(f: f64) -> String {
        let mut out = Vec::new();
        write_float(&mut out, f);
        out.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 8949 Appendix A: the preferred encodings of floats.
    #[test]
    fn floats_follow_rfc8949_appendix_a() {
        let cases = [
            (0.0, "f90000"),
            (-0.0, "f98000"),
            (1.0, "f93c00"),
            (1.1, "fb3ff199999999999a"),
            (1.5, "f93e00"),
            (65504.0, "f97bff"),
            (100000.0, "fa47c35000"),
            (3.4028234663852886e38, "fa7f7fffff"),
            (1.0e300, "fb7e37e43c8800759c"),
            (5.960464477539063e-8, "f90001"),
            (0.00006103515625, "f90400"),
            (-4.0, "f9c400"),
            (-4.1, "fbc010666666666666"),
            (f64::INFINITY, "f97c00"),
            (f64::NAN, "f97e00"),
            (f64::NEG_INFINITY, "f9fc00"),
        ];
        for (f, expected) in cases {
            assert_eq!(float_hex(f), expected, "{f}");
        }
    }

    #[test]
    fn half_floats_decode() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0x0001), 5.960464477539063e-8);
        assert_eq!(f16_to_f64(0xc400), -4.0);
        assert_eq!(f16_to_f64(0x5cb0), 300.0);
        assert!(f16_to_f64(0x7e00).is_nan());
        for bits in 0..=u16::MAX {
            let f = f16_to_f64(bits);
            if !f.is_nan() {
                assert_eq!(f64_to_f16_exact(f), Some(bits), "{bits:04x}");
            }
        }
    }

    /// RFC 8949 Appendix A: integer heads.
    #[test]
    fn integers_follow_rfc8949_appendix_a() {
        let cases: [(i128, &str); 10] = [
            (0, "00"),
            (23, "17"),
            (24, "1818"),
            (100, "1864"),
            (1000, "1903e8"),
            (1_000_000, "1a000f4240"),
            (1_000_000_000_000, "1b000000e8d4a51000"),
            (18_446_744_073_709_551_615, "1bffffffffffffffff"),
            (-1, "20"),
            (-18_446_744_073_709_551_616, "3bffffffffffffffff"),
        ];
        for (i, expected) in cases {
            let mut out = Vec::new();
            write_int(&mut out, i).unwrap();
            assert_eq!(out, hex(expected), "{i}");
        }
        assert!(write_int(&mut Vec::new(), 1i128 << 64).is_none());
        assert!(write_int(&mut Vec::new(), -(1i128 << 64) - 1).is_none());
    }

    #[test]
    fn reads_definite_and_indefinite_forms() {
        // [{0: "a", 2: 1}] definite, then the same with indefinite array, map and chunked text.
        let definite = read_pack(&hex("81a20061610201")).unwrap();
        let indefinite = read_pack(&hex("9fbf007f6161ff0201ffff")).unwrap();
        assert_eq!(definite, indefinite);
        assert_eq!(
            definite,
            [vec![
                (Key::Int(0), Item::Text("a".into())),
                (Key::Int(2), Item::Number(SenmlNumber::Integer(1)))
            ]]
        );
        // Self-described prefix (tag 55799).
        assert_eq!(read_pack(&hex("d9d9f780")).unwrap(), Vec::<Map>::new());
    }

    #[test]
    fn reads_decimal_fractions() {
        // {-3: 4([0, 500000004])} as Eclipse Leshan writes base times, and 4([-2, 27315]).
        let pack = read_pack(&hex("81a122c482001a1dcd6504")).unwrap();
        assert_eq!(
            pack[0][0].1,
            Item::Number(SenmlNumber::Integer(500_000_004))
        );
        let pack = read_pack(&hex("81a102c48221196ab3")).unwrap();
        assert_eq!(pack[0][0].1, Item::Number(SenmlNumber::Float(273.15)));
    }

    #[test]
    fn rejects_malformed_input_with_reasons() {
        let cases = [
            ("", "truncated"),
            ("a0", "array"),
            ("81", "truncated"),
            ("8101", "not a CBOR map"),
            ("81a10081", "nested"),
            ("81a100a0", "nested"),
            ("81a1008101", "nested"),
            ("81a10061", "truncated"),
            ("81a1007bffffffffffffffff", "truncated"),
            ("81a10062c328", "UTF-8"),
            ("81a100c101", "tag 1"),
            ("81a100f0", "simple value"),
            ("81a100f818", "simple value"),
            ("81a1001c", "additional information"),
            ("81a0a0", "trailing"),
            ("81a1f500", "neither an integer nor text"),
            ("81a1007f01ff", "invalid chunk"),
            ("81a100ff", "break"),
            ("9f", "truncated"),
            ("81a100c48101", "decimal fraction"),
            ("81a100c4821a7fffffff01", "out of range"),
        ];
        for (input, reason) in cases {
            let err = read_pack(&hex(input)).unwrap_err();
            assert!(err.contains(reason), "{input}: {err}");
        }
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate() {
        // An array claiming 2^64-1 maps, a map claiming 2^32 entries: both fail on truncation.
        assert!(read_pack(&hex("9bffffffffffffffff")).is_err());
        assert!(read_pack(&hex("81bbffffffffffffffff")).is_err());
    }
}
