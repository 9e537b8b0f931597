//! Values whose type no model gives, kept instead of lost.
//!
//! TLV and text/plain carry no types, so [`super::decode`] refuses a
//! resource no model describes ([`crate::Error::UnknownResourceType`]). A
//! vendor object whose DDF was never imported (`/33605/5/1`) still sends data
//! the operator wants to see, so [`decode_keeping_untyped`] decodes the same
//! payload with every untyped resource kept as [`Value::Opaque`] holding the
//! bytes exactly as carried (a TLV's value, the text body) and says which
//! resources those are. [`guesses`] and [`rendering`] then offer readings of
//! such bytes, always labelled as guesses: the bytes alone cannot tell an
//! Integer from a Float or a String.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::value_conv::{tlv_to_value, utf8_text};
use super::ContentFormat;
use crate::model::ModelLookup;
use crate::node::{LwM2mNode, ResourceType, Value};
use crate::path::LwM2mPath;
use crate::Error;

/// A payload decoded with untyped resources kept as raw bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub node: LwM2mNode,
    /// The format the payload came in.
    pub format: ContentFormat,
    /// Resource-level paths no model types; every value under them is a
    /// [`Value::Opaque`] holding the bytes as carried in `format`.
    pub untyped: BTreeSet<LwM2mPath>,
}

impl Decoded {
    /// Whether the value at `leaf` (a resource or resource-instance path)
    /// is untyped, i.e. raw bytes rather than a value of a known type.
    pub fn is_untyped(&self, leaf: &LwM2mPath) -> bool {
        resource_path(leaf).is_some_and(|p| self.untyped.contains(&p))
    }
}

/// The resource-level path of a resource or resource-instance path.
fn resource_path(path: &LwM2mPath) -> Option<LwM2mPath> {
    LwM2mPath::resource(path.object_id()?, path.instance_id()?, path.resource_id()?).ok()
}

/// Records resources decoded without a model; shared by the TLV and text decoders.
#[derive(Debug, Default)]
pub(crate) struct UntypedSink(RefCell<BTreeSet<LwM2mPath>>);

impl UntypedSink {
    /// Notes that resource `/oid/iid/rid` had no model; its value will be Opaque.
    pub(crate) fn note(&self, oid: u16, iid: u16, rid: u16) -> ResourceType {
        if let Ok(path) = LwM2mPath::resource(oid, iid, rid) {
            self.0.borrow_mut().insert(path);
        }
        ResourceType::Opaque
    }

    fn into_paths(self) -> BTreeSet<LwM2mPath> {
        self.0.into_inner()
    }
}

/// Decodes like [`super::decode`], except that a resource no model types is
/// kept as its raw bytes instead of failing the whole payload. Formats that
/// carry their own types (CBOR, SenML, LwM2M JSON) and octet-stream decode
/// as usual and report nothing untyped.
pub fn decode_keeping_untyped(
    code: u16,
    path: &LwM2mPath,
    payload: &[u8],
    models: &dyn ModelLookup,
) -> Result<Decoded, Error> {
    let format = ContentFormat::from_code(code).ok_or(Error::UnsupportedFormat(code))?;
    let sink = UntypedSink::default();
    let node = match format {
        ContentFormat::Tlv | ContentFormat::LegacyTlv => {
            super::tlv::decode_keeping_untyped(format, path, payload, models, &sink)?
        }
        ContentFormat::Text => super::text::decode_keeping_untyped(path, payload, models, &sink)?,
        _ => super::decode(code, path, payload, models)?,
    };
    Ok(Decoded {
        node,
        format,
        untyped: sink.into_paths(),
    })
}

/// Possible readings of untyped bytes, most likely first; never certain.
///
/// TLV: 1, 2, 4 or 8 bytes as a signed big-endian Integer; 4 or 8 bytes as
/// a Float (first when the integer reading is implausibly large and the
/// float a plain number); printable UTF-8 of two bytes or more as a String.
/// Text: the text as a String. Other formats and other bytes: no guess.
pub fn guesses(format: ContentFormat, raw: &[u8]) -> Vec<Value> {
    match format {
        ContentFormat::Text => utf8_text(raw).map(Value::String).into_iter().collect(),
        ContentFormat::Tlv | ContentFormat::LegacyTlv => tlv_guesses(raw),
        _ => Vec::new(),
    }
}

fn tlv_guesses(raw: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    let integer = match tlv_to_value(raw, ResourceType::Integer) {
        Ok(Value::Integer(i)) => Some(i),
        _ => None,
    };
    let float = tlv_float(raw);
    if let Some(i) = integer {
        out.push(Value::Integer(i));
    }
    if let Some(f) = float {
        let plausible_float = f != 0.0 && (1e-4..=1e9).contains(&f.abs());
        let implausible_int = integer.is_some_and(|i| i.unsigned_abs() >= 1 << 24);
        if plausible_float && implausible_int {
            out.insert(0, Value::Float(f));
        } else {
            out.push(Value::Float(f));
        }
    }
    if raw.len() >= 2 {
        if let Some(s) = utf8_text(raw) {
            out.push(Value::String(s));
        }
    }
    out
}

/// A 4- or 8-byte TLV value as a finite float. A 4-byte one is taken through
/// its shortest decimal, so 0.1f32 reads as 0.1 rather than 0.10000000149.
fn tlv_float(raw: &[u8]) -> Option<f64> {
    let f = match *raw {
        [a, b, c, d] => f32::from_be_bytes([a, b, c, d]).to_string().parse().ok()?,
        [a, b, c, d, e, f, g, h] => f64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => return None,
    };
    f.is_finite().then_some(f)
}

/// The guesses in words, saying they are guesses and that no model was
/// found, e.g. `42 (guess: 1-byte TLV integer; no model)`.
pub fn rendering(format: ContentFormat, raw: &[u8]) -> String {
    let guessed = guesses(format, raw);
    if guessed.is_empty() {
        let shown = if raw.is_empty() {
            "empty".to_owned()
        } else {
            format!("0x{}", hex(raw))
        };
        return format!("{shown} (no guess; no model)");
    }
    let what = match format {
        ContentFormat::Text => "text as string".to_owned(),
        _ => {
            let kinds: Vec<&str> = guessed.iter().map(kind_word).collect();
            format!("{}-byte TLV {}", raw.len(), kinds.join(" or "))
        }
    };
    let shown: Vec<String> = guessed.iter().map(shown).collect();
    format!("{} (guess: {what}; no model)", shown.join(" or "))
}

fn kind_word(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        _ => "string",
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => format!("{s:?}"),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use super::*;
    use crate::model::ModelRegistry;
    use crate::node::{LwM2mObjectInstance, LwM2mResource};

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    #[test]
    fn tlv_integers_by_length() {
        assert_eq!(guesses(ContentFormat::Tlv, &[0x2a]), [Value::Integer(42)]);
        assert_eq!(
            guesses(ContentFormat::Tlv, &[0xff, 0xfe]),
            [Value::Integer(-2)]
        );
        let eight = guesses(ContentFormat::LegacyTlv, &[0, 0, 0, 0, 0, 0, 0x01, 0x00]);
        assert_eq!(eight[0], Value::Integer(256));
        assert!(matches!(eight[1..], [Value::Float(_)]), "{eight:?}");
        assert_eq!(
            rendering(ContentFormat::Tlv, &[0x2a]),
            "42 (guess: 1-byte TLV integer; no model)"
        );
    }

    #[test]
    fn tlv_floats_by_length_first_when_the_integer_is_implausible() {
        let bytes = 30.5f32.to_be_bytes();
        assert_eq!(
            guesses(ContentFormat::Tlv, &bytes),
            [Value::Float(30.5), Value::Integer(1_106_509_824)]
        );
        assert_eq!(
            rendering(ContentFormat::Tlv, &bytes),
            "30.5 or 1106509824 (guess: 4-byte TLV float or integer; no model)"
        );
        let small = 0.1f32.to_be_bytes();
        assert_eq!(guesses(ContentFormat::Tlv, &small)[0], Value::Float(0.1));
        let double = 21.25f64.to_be_bytes();
        assert_eq!(guesses(ContentFormat::Tlv, &double)[0], Value::Float(21.25));
        // A small integer stays first; its float reading is a denormal.
        assert_eq!(
            guesses(ContentFormat::Tlv, &7i32.to_be_bytes())[0],
            Value::Integer(7)
        );
    }

    #[test]
    fn tlv_strings_and_bytes_without_a_guess() {
        assert_eq!(
            guesses(ContentFormat::Tlv, b"hello"),
            [Value::String("hello".into())]
        );
        assert_eq!(
            rendering(ContentFormat::Tlv, b"hello"),
            "\"hello\" (guess: 5-byte TLV string; no model)"
        );
        assert!(guesses(ContentFormat::Tlv, &[1, 2, 3]).is_empty());
        assert_eq!(
            rendering(ContentFormat::Tlv, &[1, 2, 3]),
            "0x010203 (no guess; no model)"
        );
        assert_eq!(
            rendering(ContentFormat::Tlv, &[]),
            "empty (no guess; no model)"
        );
    }

    #[test]
    fn text_is_a_string_guess() {
        assert_eq!(
            guesses(ContentFormat::Text, b"21.5"),
            [Value::String("21.5".into())]
        );
        assert_eq!(
            rendering(ContentFormat::Text, b"21.5"),
            "\"21.5\" (guess: text as string; no model)"
        );
        assert!(guesses(ContentFormat::Text, &[0xff, 0xfe]).is_empty());
    }

    #[test]
    fn text_without_a_model_keeps_the_bytes() {
        let models = ModelRegistry::with_core_objects();
        let path = p("/33605/5/1");
        assert!(super::super::decode(0, &path, b"1234", &models).is_err());
        let decoded = decode_keeping_untyped(0, &path, b"1234", &models).unwrap();
        assert_eq!(
            decoded.node,
            LwM2mNode::Resource(LwM2mResource::single(1, Value::Opaque(b"1234".to_vec())))
        );
        assert_eq!(decoded.format, ContentFormat::Text);
        assert!(decoded.is_untyped(&path));
        // A modelled resource decodes typed and is not marked.
        let typed = decode_keeping_untyped(0, &p("/3/0/9"), b"87", &models).unwrap();
        assert_eq!(
            typed.node,
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(87)))
        );
        assert!(typed.untyped.is_empty());
    }

    #[test]
    fn tlv_instance_mixes_typed_and_untyped_resources() {
        let models = ModelRegistry::with_core_objects();
        // /3/0 with resource 9 (Battery Level, Integer) and 30000 (no model),
        // and a multiple resource 30001 with two instances.
        let payload = [
            0xc1, 0x09, 0x57, // resource 9 = 87
            0xe2, 0x75, 0x30, 0x00, 0x2a, // resource 30000 (16-bit id) = 0x002a
            0xa6, 0x75, 0x31, // multiple resource 30001, 6 bytes follow
            0x41, 0x00, 0x01, // instance 0 = 1
            0x41, 0x01, 0x02, // instance 1 = 2
        ];
        let path = p("/3/0");
        assert!(super::super::decode(11542, &path, &payload, &models).is_err());
        let decoded = decode_keeping_untyped(11542, &path, &payload, &models).unwrap();
        let LwM2mNode::ObjectInstance(LwM2mObjectInstance { resources, .. }) = &decoded.node else {
            panic!("not an instance: {:?}", decoded.node);
        };
        assert_eq!(resources[&9], LwM2mResource::single(9, Value::Integer(87)));
        assert_eq!(
            resources[&30000],
            LwM2mResource::single(30000, Value::Opaque(vec![0x00, 0x2a]))
        );
        assert!(!decoded.is_untyped(&p("/3/0/9")));
        assert!(decoded.is_untyped(&p("/3/0/30000")));
        assert!(decoded.is_untyped(&p("/3/0/30001/1")));
        assert_eq!(
            decoded.node.leaves(&path).len(),
            4,
            "every leaf is kept: {:?}",
            decoded.node
        );
    }

    #[test]
    fn a_vendor_object_read_in_tlv_keeps_its_bytes() {
        let models = ModelRegistry::with_core_objects();
        let path = p("/31024/10/1");
        let payload = [0xc4, 0x01, 0x41, 0xf4, 0x00, 0x00];
        let decoded = decode_keeping_untyped(1542, &path, &payload, &models).unwrap();
        assert_eq!(
            decoded.node,
            LwM2mNode::Resource(LwM2mResource::single(
                1,
                Value::Opaque(vec![0x41, 0xf4, 0x00, 0x00])
            ))
        );
        assert_eq!(decoded.format, ContentFormat::LegacyTlv);
        assert!(decoded.is_untyped(&path));
    }
}
