//! Raw SenML values ⇄ typed LwM2M [`Value`]s (LwM2M 1.1.1 §7.4.4 Table
//! "SenML JSON / LwM2M data types": Integer, Unsigned Integer, Float and Time
//! in `v`; String and Corelnk in `vs`; Boolean in `vb`; Opaque in `vd`;
//! Objlnk in `vlo` as `"3:0"`).
//!
//! The object model decides the type when it knows the resource; see the
//! module documentation of [`crate::codec::senml`] for the rules without one.
//! OMA LwM2M JSON (1.0) differs only in carrying Opaque as base64 text in `sv`.

use base64::alphabet;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::{SenmlNumber, SenmlValue};
use crate::codec::ContentFormat;
use crate::model::ModelLookup;
use crate::node::{ObjectLink, ResourceType, Value};
use crate::path::LwM2mPath;
use crate::Error;

/// base64url that accepts input with or without `=` padding.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes opaque data as RFC 8428 §4.2 asks for `vd`: base64url without padding.
pub(crate) fn base64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Encodes opaque data as LwM2M 1.0 JSON does: standard base64 with padding.
pub(crate) fn base64_standard(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes base64 in either alphabet, padded or not: RFC 8428 asks for
/// base64url, but clients in the field send standard base64 too.
pub(crate) fn decode_base64_lenient(text: &str) -> Result<Vec<u8>, String> {
    let normalized: String = text
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    URL_SAFE_LENIENT
        .decode(normalized.as_bytes())
        .map_err(|e| format!("invalid base64: {e}"))
}

/// True for formats that carry Opaque as base64 text (OMA LwM2M JSON `sv`).
fn opaque_as_text(format: ContentFormat) -> bool {
    matches!(
        format,
        ContentFormat::OmaJson | ContentFormat::LegacyOmaJson
    )
}

/// The type the model gives the resource of `path`, if any.
fn model_type(path: &LwM2mPath, models: &dyn ModelLookup) -> Option<ResourceType> {
    let (object, resource) = (path.object_id()?, path.resource_id()?);
    models.resource(object, resource).map(|r| r.kind)
}

/// Types a raw value at `path` (a resource or resource-instance path).
pub(crate) fn typed_value(
    format: ContentFormat,
    path: &LwM2mPath,
    raw: SenmlValue,
    models: &dyn ModelLookup,
) -> Result<Value, Error> {
    if path.resource_id().is_none() {
        return Err(Error::decode(
            format,
            format!("{path} carries a value but only resources and resource instances can"),
        ));
    }
    match model_type(path, models) {
        Some(kind) => value_of_type(format, path, raw, kind),
        None => infer_value(format, path, raw),
    }
}

fn mismatch(
    format: ContentFormat,
    path: &LwM2mPath,
    raw: &SenmlValue,
    kind: ResourceType,
) -> Error {
    Error::decode(
        format,
        format!(
            "{path} is {kind} in the object model but the record carries `{}`",
            raw.field()
        ),
    )
}

fn value_of_type(
    format: ContentFormat,
    path: &LwM2mPath,
    raw: SenmlValue,
    kind: ResourceType,
) -> Result<Value, Error> {
    let bad_number = |reason: &str| Error::decode(format, format!("{path} ({kind}): {reason}"));
    Ok(match (kind, raw) {
        (ResourceType::String, SenmlValue::String(s)) => Value::String(s),
        (ResourceType::CoreLink, SenmlValue::String(s)) => Value::CoreLink(s),
        (ResourceType::Boolean, SenmlValue::Boolean(b)) => Value::Boolean(b),
        (ResourceType::Opaque, SenmlValue::Data(d)) => Value::Opaque(d),
        (ResourceType::Opaque, SenmlValue::String(s)) if opaque_as_text(format) => {
            Value::Opaque(decode_base64_lenient(&s).map_err(|e| bad_number(&e))?)
        }
        (ResourceType::ObjectLink, SenmlValue::ObjectLink(s)) => {
            Value::ObjectLink(parse_objlnk(format, path, &s)?)
        }
        // LwM2M CBOR has no object-link field: the link is a text string `"3:0"`.
        (ResourceType::ObjectLink, SenmlValue::String(s)) if format == ContentFormat::LwM2mCbor => {
            Value::ObjectLink(parse_objlnk(format, path, &s)?)
        }
        (ResourceType::Integer, SenmlValue::Number(n)) => {
            Value::Integer(to_i64(n).map_err(|e| bad_number(&e))?)
        }
        (ResourceType::Time, SenmlValue::Number(n)) => {
            Value::Time(to_i64(n).map_err(|e| bad_number(&e))?)
        }
        (ResourceType::UnsignedInteger, SenmlValue::Number(n)) => {
            Value::UnsignedInteger(to_u64(n).map_err(|e| bad_number(&e))?)
        }
        (ResourceType::Float, SenmlValue::Number(n)) => Value::Float(n.as_f64()),
        (ResourceType::None, _) => {
            return Err(Error::decode(
                format,
                format!("{path} is executable in the object model and carries no value"),
            ))
        }
        (kind, raw) => return Err(mismatch(format, path, &raw, kind)),
    })
}

fn infer_value(format: ContentFormat, path: &LwM2mPath, raw: SenmlValue) -> Result<Value, Error> {
    Ok(match raw {
        SenmlValue::String(s) => Value::String(s),
        SenmlValue::Boolean(b) => Value::Boolean(b),
        SenmlValue::Data(d) => Value::Opaque(d),
        SenmlValue::ObjectLink(s) => Value::ObjectLink(parse_objlnk(format, path, &s)?),
        SenmlValue::Number(SenmlNumber::Float(f)) => Value::Float(f),
        SenmlValue::Number(SenmlNumber::Integer(i)) => {
            if let Ok(v) = i64::try_from(i) {
                Value::Integer(v)
            } else if let Ok(v) = u64::try_from(i) {
                Value::UnsignedInteger(v)
            } else {
                return Err(Error::decode(
                    format,
                    format!("{path}: integer {i} is below the smallest LwM2M Integer"),
                ));
            }
        }
    })
}

fn parse_objlnk(format: ContentFormat, path: &LwM2mPath, text: &str) -> Result<ObjectLink, Error> {
    text.parse::<ObjectLink>()
        .map_err(|e| Error::decode(format, format!("{path}: {e}")))
}

/// 2^63 as f64: the first value above the `i64` range.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
/// 2^64 as f64.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

fn integral(f: f64) -> Result<f64, String> {
    if !f.is_finite() || f.fract() != 0.0 {
        return Err(format!("{f} is not an integer"));
    }
    Ok(f)
}

/// An integer value; integral floats are accepted (`1.638435E9` for a Time).
pub(crate) fn to_i64(n: SenmlNumber) -> Result<i64, String> {
    match n {
        SenmlNumber::Integer(i) => {
            i64::try_from(i).map_err(|_| format!("{i} is out of the 64-bit signed range"))
        }
        SenmlNumber::Float(f) => {
            let f = integral(f)?;
            if (-TWO_POW_63..TWO_POW_63).contains(&f) {
                Ok(f as i64)
            } else {
                Err(format!("{f} is out of the 64-bit signed range"))
            }
        }
    }
}

/// An unsigned integer value; integral non-negative floats are accepted.
pub(crate) fn to_u64(n: SenmlNumber) -> Result<u64, String> {
    match n {
        SenmlNumber::Integer(i) => {
            u64::try_from(i).map_err(|_| format!("{i} is out of the 64-bit unsigned range"))
        }
        SenmlNumber::Float(f) => {
            let f = integral(f)?;
            if (0.0..TWO_POW_64).contains(&f) {
                Ok(f as u64)
            } else {
                Err(format!("{f} is out of the 64-bit unsigned range"))
            }
        }
    }
}

/// The raw SenML value for an LwM2M value. `Value::None` (executable
/// resources) has none and is an error.
pub(crate) fn senml_value(
    format: ContentFormat,
    path: &LwM2mPath,
    value: &Value,
) -> Result<SenmlValue, Error> {
    Ok(match value {
        Value::String(s) | Value::CoreLink(s) => SenmlValue::String(s.clone()),
        Value::Integer(i) | Value::Time(i) => {
            SenmlValue::Number(SenmlNumber::Integer(i128::from(*i)))
        }
        Value::UnsignedInteger(u) => SenmlValue::Number(SenmlNumber::Integer(i128::from(*u))),
        Value::Float(f) => SenmlValue::Number(SenmlNumber::Float(*f)),
        Value::Boolean(b) => SenmlValue::Boolean(*b),
        Value::Opaque(d) => SenmlValue::Data(d.clone()),
        Value::ObjectLink(l) => SenmlValue::ObjectLink(l.to_string()),
        Value::None => {
            return Err(Error::encode(
                format,
                format!("{path} has no value (executable resources cannot be encoded)"),
            ))
        }
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use super::*;
    use crate::codec::senml::test_support::models;
    use crate::model::ModelRegistry;

    const F: ContentFormat = ContentFormat::SenmlJson;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    fn int(i: i128) -> SenmlValue {
        SenmlValue::Number(SenmlNumber::Integer(i))
    }

    fn float(f: f64) -> SenmlValue {
        SenmlValue::Number(SenmlNumber::Float(f))
    }

    #[test]
    fn model_decides_number_types() {
        let m = models();
        // Device: 9 Battery Level Integer, 13 Current Time Time.
        assert_eq!(
            typed_value(F, &p("/3/0/9"), int(100), &m).unwrap(),
            Value::Integer(100)
        );
        assert_eq!(
            typed_value(F, &p("/3/0/9"), float(100.0), &m).unwrap(),
            Value::Integer(100)
        );
        assert_eq!(
            typed_value(F, &p("/3/0/13"), float(1.638435e9), &m).unwrap(),
            Value::Time(1_638_435_000)
        );
        // Test object 1000: 3 Float, 2 Unsigned Integer.
        assert_eq!(
            typed_value(F, &p("/1000/0/3"), int(3), &m).unwrap(),
            Value::Float(3.0)
        );
        assert_eq!(
            typed_value(F, &p("/1000/0/2"), int(i128::from(u64::MAX)), &m).unwrap(),
            Value::UnsignedInteger(u64::MAX)
        );
    }

    #[test]
    fn model_rejects_values_that_do_not_fit() {
        let m = models();
        let cases = [
            (p("/3/0/9"), float(3.5), "not an integer"),
            (p("/1000/0/2"), int(-1), "unsigned range"),
            (p("/3/0/9"), int(i128::from(u64::MAX)), "signed range"),
            (p("/3/0/9"), float(1e19), "signed range"),
            (p("/3/0/0"), int(1), "carries `v`"),
            (
                p("/1000/0/4"),
                SenmlValue::String("true".into()),
                "carries `vs`",
            ),
            (p("/1000/0/7"), SenmlValue::ObjectLink("3".into()), "objlnk"),
            (p("/3/0/4"), int(1), "executable"),
            (p("/3/0"), int(1), "only resources"),
        ];
        for (path, raw, reason) in cases {
            let err = typed_value(F, &path, raw, &m).unwrap_err().to_string();
            assert!(err.contains(reason), "{path}: {err}");
        }
    }

    #[test]
    fn without_model_the_form_decides() {
        let none = ModelRegistry::new();
        let q = p("/9999/0/1");
        assert_eq!(
            typed_value(F, &q, int(5), &none).unwrap(),
            Value::Integer(5)
        );
        assert_eq!(
            typed_value(F, &q, float(5.0), &none).unwrap(),
            Value::Float(5.0)
        );
        assert_eq!(
            typed_value(F, &q, int(i128::from(u64::MAX)), &none).unwrap(),
            Value::UnsignedInteger(u64::MAX)
        );
        assert!(typed_value(F, &q, int(-(1i128 << 64)), &none).is_err());
        assert_eq!(
            typed_value(F, &q, SenmlValue::ObjectLink("3:0".into()), &none).unwrap(),
            Value::ObjectLink(ObjectLink {
                object: 3,
                instance: 0
            })
        );
        assert_eq!(
            typed_value(F, &q, SenmlValue::Data(vec![1]), &none).unwrap(),
            Value::Opaque(vec![1])
        );
    }

    #[test]
    fn oma_json_reads_opaque_from_text() {
        let m = models();
        let path = p("/1000/0/5");
        let v = typed_value(
            ContentFormat::OmaJson,
            &path,
            SenmlValue::String("AQID".into()),
            &m,
        )
        .unwrap();
        assert_eq!(v, Value::Opaque(vec![1, 2, 3]));
        assert!(typed_value(F, &path, SenmlValue::String("AQID".into()), &m).is_err());
    }

    #[test]
    fn base64_accepts_both_alphabets_with_or_without_padding() {
        // RFC 8428 §5.1.5: "aGkgCg" is base64url of "hi \n".
        assert_eq!(decode_base64_lenient("aGkgCg").unwrap(), b"hi \n");
        assert_eq!(decode_base64_lenient("aGkgCg==").unwrap(), b"hi \n");
        assert_eq!(decode_base64_lenient("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64_lenient("+/8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64_standard(&[0xfb, 0xff]), "+/8=");
        assert!(decode_base64_lenient("a").is_err());
        assert!(decode_base64_lenient("a!==").is_err());
    }

    #[test]
    fn executable_value_cannot_be_encoded() {
        assert!(senml_value(F, &p("/3/0/4"), &Value::None).is_err());
        assert_eq!(
            senml_value(F, &p("/3/0/13"), &Value::Time(-1)).unwrap(),
            SenmlValue::Number(SenmlNumber::Integer(-1))
        );
    }
}
