//! JSON helpers shared by SenML JSON and OMA LwM2M JSON: input guards and a
//! small deterministic writer (fixed field order, no whitespace, shortest
//! round-tripping floats).

use super::SenmlNumber;
#[cfg(test)]
use super::MAX_PAYLOAD_LEN;
use crate::codec::ContentFormat;
use crate::Error;

pub(crate) use super::check_size;

/// True when the payload holds nothing but whitespace (an empty pack).
pub(crate) fn is_blank(payload: &[u8]) -> bool {
    payload.iter().all(u8::is_ascii_whitespace)
}

/// Refuses JSON nested deeper than `max` arrays/objects before handing it to
/// the parser: SenML needs 2 levels (pack, record), OMA JSON 3.
pub(crate) fn check_depth(format: ContentFormat, payload: &[u8], max: usize) -> Result<(), Error> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, b) in payload.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(Error::decode(
                        format,
                        format!("nesting deeper than {max} levels at byte {offset}; this format needs no more"),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses the payload with serde_json after the guards.
pub(crate) fn parse(
    format: ContentFormat,
    payload: &[u8],
    max_depth: usize,
) -> Result<serde_json::Value, Error> {
    check_size(format, payload)?;
    check_depth(format, payload, max_depth)?;
    serde_json::from_slice(payload).map_err(|e| Error::decode(format, format!("invalid JSON: {e}")))
}

/// A JSON number as a SenML number: integers stay exact.
pub(crate) fn number(n: &serde_json::Number) -> SenmlNumber {
    if let Some(i) = n.as_i64() {
        SenmlNumber::Integer(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        SenmlNumber::Integer(i128::from(u))
    } else {
        SenmlNumber::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Appends `s` as a JSON string literal (escaping as serde_json does).
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a float: the shortest text that reads back to the same `f64`,
/// always with a fraction or exponent so it reads back as a float.
pub(crate) fn write_float(format: ContentFormat, out: &mut String, f: f64) -> Result<(), Error> {
    let n = serde_json::Number::from_f64(f)
        .ok_or_else(|| Error::encode(format, format!("{f} cannot be written in JSON")))?;
    out.push_str(&n.to_string());
    Ok(())
}

/// Largest integer below which every integer is exact in an `f64`.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Appends a time: integral times as integers, others as floats.
pub(crate) fn write_time(format: ContentFormat, out: &mut String, t: f64) -> Result<(), Error> {
    if t.fract() == 0.0 && t.abs() < EXACT_INT_LIMIT {
        out.push_str(&(t as i64).to_string());
        Ok(())
    } else {
        write_float(format, out, t)
    }
}

/// Appends a SenML number.
pub(crate) fn write_number(
    format: ContentFormat,
    out: &mut String,
    n: &SenmlNumber,
) -> Result<(), Error> {
    match n {
        SenmlNumber::Integer(i) => {
            out.push_str(&i.to_string());
            Ok(())
        }
        SenmlNumber::Float(f) => write_float(format, out, *f),
    }
}

/// Writes `"key":` with a separating comma when needed.
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    pub fn open(out: &'a mut String) -> Self {
        out.push('{');
        ObjectWriter { out, first: true }
    }

    pub fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(':');
        self.out
    }

    pub fn close(self) {
        self.out.push('}');
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use super::*;

    const F: ContentFormat = ContentFormat::SenmlJson;

    #[test]
    fn depth_guard_ignores_brackets_in_strings() {
        assert!(check_depth(F, br#"[{"n":"[[[{{{\"]]]"}]"#, 2).is_ok());
        assert!(check_depth(F, br#"[{"n":[1]}]"#, 2).is_err());
        assert!(check_depth(F, &[b'['; 100_000], 2).is_err());
    }

    #[test]
    fn size_guard() {
        assert!(check_size(F, &vec![b' '; MAX_PAYLOAD_LEN + 1]).is_err());
        assert!(check_size(F, b"[]").is_ok());
    }

    #[test]
    fn floats_keep_a_fraction_and_round_trip() {
        let mut s = String::new();
        for f in [1.0, -0.0, 0.1, 22.4, 1e300, 5e-324, f64::MAX] {
            s.clear();
            write_float(F, &mut s, f).unwrap();
            let back: serde_json::Number = serde_json::from_str(&s).unwrap();
            assert!(back.is_f64(), "{s}");
            assert_eq!(back.as_f64().unwrap().to_bits(), f.to_bits(), "{s}");
        }
        s.clear();
        write_float(F, &mut s, 1.0).unwrap();
        assert_eq!(s, "1.0");
        assert!(write_float(F, &mut s, f64::NAN).is_err());
        assert!(write_float(F, &mut s, f64::INFINITY).is_err());
    }

    #[test]
    fn times_are_integers_when_integral() {
        let mut s = String::new();
        write_time(F, &mut s, 1_367_491_215.0).unwrap();
        assert_eq!(s, "1367491215");
        s.clear();
        write_time(F, &mut s, 1_699_877_805.766).unwrap();
        assert_eq!(s, "1699877805.766");
        s.clear();
        write_time(F, &mut s, -5.0).unwrap();
        assert_eq!(s, "-5");
    }

    #[test]
    fn strings_escape_like_json() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, r#""a\"b\\c\n\u0001é""#);
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\n\u{1}é");
    }

    #[test]
    fn numbers_keep_integers_exact() {
        let n: serde_json::Number = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(number(&n), SenmlNumber::Integer(i128::from(u64::MAX)));
        let n: serde_json::Number = serde_json::from_str("9223372036854775800").unwrap();
        assert_eq!(number(&n), SenmlNumber::Integer(9_223_372_036_854_775_800));
        let n: serde_json::Number = serde_json::from_str("20.0").unwrap();
        assert_eq!(number(&n), SenmlNumber::Float(20.0));
    }
}
