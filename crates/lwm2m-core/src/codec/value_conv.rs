//! Conversions between typed [`Value`]s and the byte forms of the content
//! formats that carry no type of their own (text/plain, octet-stream, TLV),
//! plus the model lookups those formats need.
//!
//! Kept in one place so every format converts a type the same way (a Time
//! is whole Unix seconds everywhere, an Objlnk is `OID:IID` in every textual
//! form, a Float prints as its shortest round-trip decimal) and so each
//! conversion is tested once.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};

use crate::codec::ContentFormat;
use crate::model::{ModelLookup, ResourceModel};
use crate::node::{
    LwM2mNode, LwM2mResource, LwM2mResourceInstance, ObjectLink, ResourceType, Value,
};
use crate::path::{LwM2mPath, PathLevel};
use crate::Error;

/// Base64 decoding that accepts both padded and unpadded input: clients
/// differ, and the padding carries no information.
const BASE64_TOLERANT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

// ---------------------------------------------------------------------------
// Model lookups and single-value paths
// ---------------------------------------------------------------------------

/// The model of the resource that `path` (resource or resource-instance level) names.
pub(crate) fn resource_model<'m>(
    models: &'m dyn ModelLookup,
    path: &LwM2mPath,
) -> Option<&'m ResourceModel> {
    models.resource(path.object_id()?, path.resource_id()?)
}

/// The error for a resource whose type no model gives.
pub(crate) fn unknown_type(path: impl ToString) -> Error {
    Error::UnknownResourceType {
        path: path.to_string(),
    }
}

/// `bytes` as text if they are UTF-8 with no control characters other than
/// whitespace: what a person would take for a string.
pub(crate) fn utf8_text(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .then(|| text.to_owned())
}

/// What the model says about the value at a single-value path, for the
/// formats that carry exactly one value (text, octet-stream, CBOR).
///
/// Fails when the path is not a resource or resource instance, when the path
/// names a whole multiple-instance resource (those formats cannot carry
/// several instances), or when the resource is executable. `Ok(None)` means
/// no model is known; the caller decides whether it can do without.
pub(crate) fn single_value_kind(
    format: ContentFormat,
    path: &LwM2mPath,
    models: &dyn ModelLookup,
) -> Result<Option<ResourceType>, Error> {
    check_single_value_level(path).map_err(|reason| Error::decode(format, reason))?;
    let Some(model) = resource_model(models, path) else {
        return Ok(None);
    };
    if model.multiple && path.level() == PathLevel::Resource {
        return Err(Error::decode(
            format,
            format!(
                "{path} is a multiple-instance resource; {format} carries one value, \
                 address a resource instance or use TLV/SenML"
            ),
        ));
    }
    if model.kind == ResourceType::None {
        return Err(Error::decode(
            format,
            format!("{path} is executable and carries no value"),
        ));
    }
    Ok(Some(model.kind))
}

/// The one value that `node` carries at `path`, for the single-value formats.
pub(crate) fn single_value<'n>(
    format: ContentFormat,
    path: &LwM2mPath,
    node: &'n LwM2mNode,
) -> Result<&'n Value, Error> {
    check_single_value_level(path).map_err(|reason| Error::encode(format, reason))?;
    node.check_path(path)?;
    let value = match node {
        LwM2mNode::Resource(LwM2mResource::Single { value, .. }) => value,
        LwM2mNode::ResourceInstance(ri) => &ri.value,
        LwM2mNode::Resource(LwM2mResource::Multiple { .. }) => {
            return Err(Error::encode(
                format,
                format!(
                    "{path} is a multiple-instance resource; {format} carries one value, \
                     address a resource instance or use TLV/SenML"
                ),
            ))
        }
        LwM2mNode::Object(_) | LwM2mNode::ObjectInstance(_) => {
            return Err(Error::encode(
                format,
                format!("{path}: {format} carries a single value"),
            ))
        }
    };
    if matches!(value, Value::None) {
        return Err(Error::encode(
            format,
            format!("{path}: an executable resource has no value"),
        ));
    }
    Ok(value)
}

/// The node that a single value decoded at `path` forms.
pub(crate) fn single_value_node(path: &LwM2mPath, value: Value) -> LwM2mNode {
    match (
        path.level(),
        path.resource_instance_id(),
        path.resource_id(),
    ) {
        (PathLevel::ResourceInstance, Some(id), _) => {
            LwM2mNode::ResourceInstance(LwM2mResourceInstance { id, value })
        }
        // `check_single_value_level` has already ensured the resource level here.
        (_, _, rid) => LwM2mNode::Resource(LwM2mResource::Single {
            id: rid.unwrap_or(0),
            value,
        }),
    }
}

fn check_single_value_level(path: &LwM2mPath) -> Result<(), String> {
    match path.level() {
        PathLevel::Resource | PathLevel::ResourceInstance => Ok(()),
        _ => Err(format!(
            "{path} is not a resource or resource instance; this format carries a single value"
        )),
    }
}

// ---------------------------------------------------------------------------
// text/plain (LwM2M 1.1.1 §7.4.1)
// ---------------------------------------------------------------------------

/// The text/plain form of a value.
///
/// Floats print as the shortest decimal that parses back to the same `f64`
/// (exponent form only for very large or small magnitudes); NaN and the
/// infinities have no decimal form and are refused. Opaque becomes base64
/// (padded, standard alphabet) as §7.4.1 requires.
pub(crate) fn value_to_text(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::String(s) | Value::CoreLink(s) => s.clone(),
        Value::Integer(i) | Value::Time(i) => i.to_string(),
        Value::UnsignedInteger(u) => u.to_string(),
        Value::Float(f) => float_to_text(*f)?,
        Value::Boolean(b) => if *b { "1" } else { "0" }.to_owned(),
        Value::ObjectLink(link) => link.to_string(),
        Value::Opaque(bytes) => STANDARD.encode(bytes),
        Value::None => return Err("an executable resource has no value".to_owned()),
    })
}

/// The shortest decimal that round-trips to `f`, e.g. `3.14`, `1.0`, `1e300`.
pub(crate) fn float_to_text(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!("the float {f} has no decimal text form"));
    }
    // Rust's Debug formatting of f64 is the shortest round-trip representation.
    Ok(format!("{f:?}"))
}

/// Parses the text/plain form of a value of type `kind`.
pub(crate) fn text_to_value(text: &str, kind: ResourceType) -> Result<Value, String> {
    Ok(match kind {
        ResourceType::String => Value::String(text.to_owned()),
        ResourceType::CoreLink => Value::CoreLink(text.to_owned()),
        ResourceType::Integer => Value::Integer(parse_int(text, "an Integer")?),
        ResourceType::Time => Value::Time(parse_int(text, "a Time (Unix seconds)")?),
        ResourceType::UnsignedInteger => {
            if !is_decimal(text.strip_prefix('+').unwrap_or(text)) {
                return Err(format!("{:?} is not an Unsigned Integer", shorten(text)));
            }
            Value::UnsignedInteger(
                text.parse().map_err(|_| {
                    format!("{:?} is out of the Unsigned Integer range", shorten(text))
                })?,
            )
        }
        ResourceType::Float => Value::Float(text_to_float(text)?),
        ResourceType::Boolean => match text {
            "1" => Value::Boolean(true),
            "0" => Value::Boolean(false),
            _ => {
                return Err(format!(
                    "{:?} is not a Boolean (expected \"0\" or \"1\")",
                    shorten(text)
                ))
            }
        },
        ResourceType::ObjectLink => Value::ObjectLink(text.parse::<ObjectLink>()?),
        ResourceType::Opaque => Value::Opaque(
            BASE64_TOLERANT
                .decode(text)
                .map_err(|e| format!("opaque text is not base64: {e}"))?,
        ),
        ResourceType::None => return Err("an executable resource has no value".to_owned()),
    })
}

/// Parses a decimal float, with or without exponent (`1.5`, `-2`, `1.2e-3`).
/// Rejects `NaN`, `inf` and values that overflow to infinity.
pub(crate) fn text_to_float(text: &str) -> Result<f64, String> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(pos) => (body.get(..pos).unwrap_or(""), body.get(pos + 1..)),
        None => (body, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = (!int_part.is_empty() || !frac_part.is_empty())
        && int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit());
    let exp_ok = exponent.is_none_or(|e| is_decimal(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if !digits_ok || !exp_ok {
        return Err(format!("{:?} is not a decimal Float", shorten(text)));
    }
    let f: f64 = text
        .parse()
        .map_err(|_| format!("{:?} is not a decimal Float", shorten(text)))?;
    if !f.is_finite() {
        return Err(format!("{:?} is out of the Float range", shorten(text)));
    }
    Ok(f)
}

fn parse_int(text: &str, what: &str) -> Result<i64, String> {
    if !is_decimal(text.strip_prefix(['+', '-']).unwrap_or(text)) {
        return Err(format!("{:?} is not {what}", shorten(text)));
    }
    text.parse()
        .map_err(|_| format!("{:?} is out of the 64-bit range of {what}", shorten(text)))
}

fn is_decimal(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Input quoted in an error message, cut so a huge payload does not flood logs.
fn shorten(text: &str) -> &str {
    const MAX: usize = 40;
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

// ---------------------------------------------------------------------------
// TLV values (LwM2M 1.1.1 §7.4.3, table "Data Types" / Appendix C)
// ---------------------------------------------------------------------------

/// The TLV value bytes of `value`: integers in the fewest of 1/2/4/8 bytes,
/// floats in 4 bytes when that is exact (NaN always as the canonical 4-byte
/// quiet NaN so encoding is deterministic), otherwise 8.
pub(crate) fn value_to_tlv(value: &Value) -> Result<Vec<u8>, String> {
    Ok(match value {
        Value::String(s) | Value::CoreLink(s) => s.as_bytes().to_vec(),
        Value::Opaque(bytes) => bytes.clone(),
        Value::Integer(i) | Value::Time(i) => int_to_tlv(*i),
        Value::UnsignedInteger(u) => uint_to_tlv(*u),
        Value::Float(f) => float_to_tlv(*f),
        Value::Boolean(b) => vec![u8::from(*b)],
        Value::ObjectLink(link) => {
            let mut out = link.object.to_be_bytes().to_vec();
            out.extend_from_slice(&link.instance.to_be_bytes());
            out
        }
        Value::None => return Err("an executable resource has no value".to_owned()),
    })
}

fn int_to_tlv(i: i64) -> Vec<u8> {
    if let Ok(v) = i8::try_from(i) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = i16::try_from(i) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = i32::try_from(i) {
        v.to_be_bytes().to_vec()
    } else {
        i.to_be_bytes().to_vec()
    }
}

fn uint_to_tlv(u: u64) -> Vec<u8> {
    if let Ok(v) = u8::try_from(u) {
        vec![v]
    } else if let Ok(v) = u16::try_from(u) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = u32::try_from(u) {
        v.to_be_bytes().to_vec()
    } else {
        u.to_be_bytes().to_vec()
    }
}

fn float_to_tlv(f: f64) -> Vec<u8> {
    if f.is_nan() {
        return f32::NAN.to_be_bytes().to_vec();
    }
    let narrow = f as f32;
    if f64::from(narrow) == f {
        narrow.to_be_bytes().to_vec()
    } else {
        f.to_be_bytes().to_vec()
    }
}

/// Decodes TLV value bytes as a value of type `kind`.
pub(crate) fn tlv_to_value(bytes: &[u8], kind: ResourceType) -> Result<Value, String> {
    Ok(match kind {
        ResourceType::String => Value::String(utf8(bytes, "String")?),
        ResourceType::CoreLink => Value::CoreLink(utf8(bytes, "Corelnk")?),
        ResourceType::Opaque => Value::Opaque(bytes.to_vec()),
        ResourceType::Integer => Value::Integer(tlv_int(bytes, "Integer")?),
        ResourceType::Time => Value::Time(tlv_int(bytes, "Time")?),
        ResourceType::UnsignedInteger => Value::UnsignedInteger(match *bytes {
            [a] => u64::from(a),
            [a, b] => u64::from(u16::from_be_bytes([a, b])),
            [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
            _ => return Err(bad_length("Unsigned Integer", bytes.len(), "1, 2, 4 or 8")),
        }),
        ResourceType::Float => Value::Float(match *bytes {
            [a, b, c, d] => f64::from(f32::from_be_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => f64::from_be_bytes([a, b, c, d, e, f, g, h]),
            _ => return Err(bad_length("Float", bytes.len(), "4 or 8")),
        }),
        ResourceType::Boolean => match *bytes {
            [0] => Value::Boolean(false),
            [1] => Value::Boolean(true),
            [b] => return Err(format!("Boolean byte is {b}, expected 0 or 1")),
            _ => return Err(bad_length("Boolean", bytes.len(), "1")),
        },
        ResourceType::ObjectLink => match *bytes {
            [a, b, c, d] => Value::ObjectLink(ObjectLink {
                object: u16::from_be_bytes([a, b]),
                instance: u16::from_be_bytes([c, d]),
            }),
            _ => return Err(bad_length("Objlnk", bytes.len(), "4")),
        },
        ResourceType::None => return Err("an executable resource carries no value".to_owned()),
    })
}

fn tlv_int(bytes: &[u8], what: &str) -> Result<i64, String> {
    Ok(match *bytes {
        [a] => i64::from(i8::from_be_bytes([a])),
        [a, b] => i64::from(i16::from_be_bytes([a, b])),
        [a, b, c, d] => i64::from(i32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => i64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => return Err(bad_length(what, bytes.len(), "1, 2, 4 or 8")),
    })
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        format!(
            "{what} is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn bad_length(what: &str, len: usize, allowed: &str) -> String {
    format!("a {what} value is {allowed} bytes long, not {len}")
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_floats_are_shortest_round_trip() {
        assert_eq!(float_to_text(2.5e-3).unwrap(), "0.0025");
        assert_eq!(float_to_text(1.0).unwrap(), "1.0");
        assert_eq!(float_to_text(-0.5).unwrap(), "-0.5");
        assert_eq!(float_to_text(1e300).unwrap(), "1e300");
        assert_eq!(float_to_text(0.1 + 0.2).unwrap(), "0.30000000000000004");
        assert!(float_to_text(f64::NAN).is_err());
        assert!(float_to_text(f64::INFINITY).is_err());
    }

    #[test]
    fn text_floats_accept_exponent_forms() {
        assert_eq!(text_to_float("1.2e3").unwrap(), 1200.0);
        assert_eq!(text_to_float("1E-2").unwrap(), 0.01);
        assert_eq!(text_to_float("-7").unwrap(), -7.0);
        assert_eq!(text_to_float(".5").unwrap(), 0.5);
        assert_eq!(text_to_float("5.").unwrap(), 5.0);
        for bad in [
            "", "NaN", "inf", "infinity", "1e", "e5", "1.2.3", " 1", "0x10", "1e999", ".",
        ] {
            assert!(text_to_float(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn text_integers_are_decimal_only() {
        assert_eq!(
            text_to_value("-42", ResourceType::Integer).unwrap(),
            Value::Integer(-42)
        );
        assert_eq!(
            text_to_value("+7", ResourceType::Integer).unwrap(),
            Value::Integer(7)
        );
        assert!(text_to_value("4 2", ResourceType::Integer).is_err());
        assert!(text_to_value("9223372036854775808", ResourceType::Integer).is_err());
        assert!(text_to_value("-1", ResourceType::UnsignedInteger).is_err());
        assert_eq!(
            text_to_value("18446744073709551615", ResourceType::UnsignedInteger).unwrap(),
            Value::UnsignedInteger(u64::MAX)
        );
    }

    #[test]
    fn text_opaque_is_base64_with_or_without_padding() {
        assert_eq!(
            value_to_text(&Value::Opaque(vec![0xde, 0xad])).unwrap(),
            "3q0="
        );
        let want = Value::Opaque(vec![0xde, 0xad]);
        assert_eq!(text_to_value("3q0=", ResourceType::Opaque).unwrap(), want);
        assert_eq!(text_to_value("3q0", ResourceType::Opaque).unwrap(), want);
        assert!(text_to_value("3q0*", ResourceType::Opaque).is_err());
    }

    #[test]
    fn long_input_is_cut_in_errors() {
        let long = "x".repeat(10_000);
        let err = text_to_value(&long, ResourceType::Integer).unwrap_err();
        assert!(err.len() < 100, "{err}");
    }

    #[test]
    fn tlv_integers_use_the_fewest_bytes() {
        assert_eq!(value_to_tlv(&Value::Integer(0)).unwrap(), [0x00]);
        assert_eq!(value_to_tlv(&Value::Integer(-128)).unwrap(), [0x80]);
        assert_eq!(value_to_tlv(&Value::Integer(128)).unwrap(), [0x00, 0x80]);
        assert_eq!(value_to_tlv(&Value::Integer(3800)).unwrap(), [0x0E, 0xD8]);
        assert_eq!(
            value_to_tlv(&Value::Integer(86400)).unwrap(),
            [0x00, 0x01, 0x51, 0x80]
        );
        assert_eq!(
            value_to_tlv(&Value::Integer(1 << 40)).unwrap(),
            [0, 0, 1, 0, 0, 0, 0, 0]
        );
        assert_eq!(value_to_tlv(&Value::UnsignedInteger(200)).unwrap(), [0xC8]);
        assert_eq!(
            value_to_tlv(&Value::UnsignedInteger(u64::MAX)).unwrap(),
            [0xFF; 8]
        );
    }

    #[test]
    fn tlv_integer_lengths_other_than_1_2_4_8_are_refused() {
        assert!(tlv_to_value(&[], ResourceType::Integer).is_err());
        assert!(tlv_to_value(&[1, 2, 3], ResourceType::Integer).is_err());
        assert_eq!(
            tlv_to_value(&[0xFF, 0xFE], ResourceType::Integer).unwrap(),
            Value::Integer(-2)
        );
        assert_eq!(
            tlv_to_value(&[0xFF, 0xFE], ResourceType::UnsignedInteger).unwrap(),
            Value::UnsignedInteger(65534)
        );
    }

    #[test]
    fn tlv_floats_use_4_bytes_when_exact() {
        assert_eq!(
            value_to_tlv(&Value::Float(1.5)).unwrap(),
            [0x3F, 0xC0, 0x00, 0x00]
        );
        assert_eq!(
            value_to_tlv(&Value::Float(0.1)).unwrap(),
            0.1f64.to_be_bytes()
        );
        assert_eq!(
            value_to_tlv(&Value::Float(f64::NAN)).unwrap(),
            [0x7F, 0xC0, 0x00, 0x00]
        );
        assert_eq!(
            tlv_to_value(&[0x3F, 0xC0, 0x00, 0x00], ResourceType::Float).unwrap(),
            Value::Float(1.5)
        );
    }

    #[test]
    fn tlv_objlnk_and_boolean() {
        let link = Value::ObjectLink(ObjectLink {
            object: 3,
            instance: 0x0102,
        });
        assert_eq!(value_to_tlv(&link).unwrap(), [0x00, 0x03, 0x01, 0x02]);
        assert_eq!(
            tlv_to_value(&[0, 3, 1, 2], ResourceType::ObjectLink).unwrap(),
            link
        );
        assert!(tlv_to_value(&[2], ResourceType::Boolean).is_err());
        assert!(tlv_to_value(&[0xff, 0xfe], ResourceType::String).is_err());
    }
}
