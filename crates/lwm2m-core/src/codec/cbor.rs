//! application/cbor (content format 60), LwM2M 1.1.1 Core TS §7.4.6.
//!
//! Carries the value of one single-instance resource or one resource
//! instance as a single CBOR data item (RFC 8949):
//!
//! | LwM2M type | encoded as | also accepted when decoding |
//! |---|---|---|
//! | Integer | major type 0/1 | a float with an integral value in range |
//! | Unsigned Integer | major type 0 | an integral non-negative float |
//! | Float | smallest exact float (half/single/double) | any integer |
//! | Boolean | `true`/`false` | |
//! | String, Corelnk | text string | chunked text |
//! | Opaque | byte string | chunked bytes |
//! | Time | tag 1 + integer | untagged integers, integral floats |
//! | Objlnk | text string `"OID:IID"` | |
//!
//! Tag 1 may enclose any numeric value; other tags, arrays and maps are
//! refused (see `cbor/item.rs` for the limits). Decoding is driven by the model
//! type when one is known; without a model the type follows the CBOR item:
//! integers become Integer (Unsigned Integer above `i64::MAX`), tag 1 becomes
//! Time, text becomes String, bytes Opaque. Encoding follows the value's type.

pub(crate) mod item;

use item::{Item, Tagged};

use super::value_conv::{single_value, single_value_kind, single_value_node};
use super::{ContentFormat, NodeCodec};
use crate::model::ModelLookup;
use crate::node::{LwM2mNode, ObjectLink, ResourceType, Value};
use crate::path::LwM2mPath;
use crate::Error;

/// The application/cbor codec.
#[derive(Clone, Copy, Debug, Default)]
pub struct CborCodec;

const FORMAT: ContentFormat = ContentFormat::Cbor;

/// Tag 1: epoch-based date/time in seconds (RFC 8949 §3.4.2).
const TAG_EPOCH_TIME: u64 = 1;

impl NodeCodec for CborCodec {
    fn format(&self) -> ContentFormat {
        FORMAT
    }

    fn encode(
        &self,
        path: &LwM2mPath,
        node: &LwM2mNode,
        _models: &dyn ModelLookup,
    ) -> Result<Vec<u8>, Error> {
        let value = single_value(FORMAT, path, node)?;
        let mut out = Vec::new();
        match value {
            Value::String(s) | Value::CoreLink(s) => item::write_text(&mut out, s),
            Value::Integer(i) => item::write_int(&mut out, *i),
            Value::UnsignedInteger(u) => item::write_uint(&mut out, *u),
            Value::Float(f) => item::write_float(&mut out, *f),
            Value::Boolean(b) => item::write_bool(&mut out, *b),
            Value::Opaque(bytes) => item::write_bytes(&mut out, bytes),
            Value::Time(t) => {
                item::write_tag(&mut out, TAG_EPOCH_TIME);
                item::write_int(&mut out, *t);
            }
            Value::ObjectLink(link) => item::write_text(&mut out, &link.to_string()),
            // `single_value` refuses executables.
            Value::None => {
                return Err(Error::encode(
                    FORMAT,
                    format!("{path}: an executable has no value"),
                ))
            }
        }
        Ok(out)
    }

    fn decode(
        &self,
        path: &LwM2mPath,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<LwM2mNode, Error> {
        let kind = single_value_kind(FORMAT, path, models)?;
        let tagged =
            item::read(payload).map_err(|r| Error::decode(FORMAT, format!("{path}: {r}")))?;
        let value =
            to_value(tagged, kind).map_err(|r| Error::decode(FORMAT, format!("{path}: {r}")))?;
        Ok(single_value_node(path, value))
    }
}

/// Converts a decoded item to a value of `kind`, or of the item's own type
/// when no model is known.
fn to_value(tagged: Tagged, kind: Option<ResourceType>) -> Result<Value, String> {
    let Tagged { tag, item } = tagged;
    match tag {
        None => {}
        Some(TAG_EPOCH_TIME) => {
            if !matches!(item, Item::Uint(_) | Item::NegInt(_) | Item::Float(_)) {
                return Err(format!(
                    "tag 1 (epoch time) encloses {}, not a number",
                    describe(&item)
                ));
            }
            if kind.is_none() {
                return Ok(Value::Time(to_i64(&item, "Time")?));
            }
        }
        Some(other) => return Err(format!("tag {other} has no LwM2M meaning")),
    }
    let Some(kind) = kind else {
        return Ok(match item {
            Item::Uint(u) => i64::try_from(u).map_or(Value::UnsignedInteger(u), Value::Integer),
            Item::NegInt(_) => Value::Integer(to_i64(&item, "Integer")?),
            Item::Float(f) => Value::Float(f),
            Item::Bool(b) => Value::Boolean(b),
            Item::Text(s) => Value::String(s),
            Item::Bytes(b) => Value::Opaque(b),
            Item::Null | Item::Undefined => {
                return Err(format!("{} is not a value", describe(&item)))
            }
        });
    };
    let mismatch = |item: &Item| format!("{} is not a {kind} value", describe(item));
    Ok(match kind {
        ResourceType::Integer => Value::Integer(to_i64(&item, "Integer")?),
        ResourceType::Time => Value::Time(to_i64(&item, "Time")?),
        ResourceType::UnsignedInteger => Value::UnsignedInteger(to_u64(&item)?),
        ResourceType::Float => Value::Float(match item {
            Item::Float(f) => f,
            Item::Uint(u) => u as f64,
            Item::NegInt(n) => -1.0 - n as f64,
            other => return Err(mismatch(&other)),
        }),
        ResourceType::Boolean => match item {
            Item::Bool(b) => Value::Boolean(b),
            other => return Err(mismatch(&other)),
        },
        ResourceType::String => match item {
            Item::Text(s) => Value::String(s),
            other => return Err(mismatch(&other)),
        },
        ResourceType::CoreLink => match item {
            Item::Text(s) => Value::CoreLink(s),
            other => return Err(mismatch(&other)),
        },
        ResourceType::ObjectLink => match item {
            Item::Text(s) => Value::ObjectLink(s.parse::<ObjectLink>()?),
            other => return Err(mismatch(&other)),
        },
        ResourceType::Opaque => match item {
            Item::Bytes(b) => Value::Opaque(b),
            other => return Err(mismatch(&other)),
        },
        ResourceType::None => return Err("an executable resource carries no value".to_owned()),
    })
}

/// 2^63 as f64: the exclusive upper bound of i64, and the inclusive lower bound's magnitude.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

fn to_i64(item: &Item, what: &str) -> Result<i64, String> {
    let out_of_range = || format!("{} is out of the 64-bit {what} range", describe(item));
    match *item {
        Item::Uint(u) => i64::try_from(u).map_err(|_| out_of_range()),
        // -1 - n, where n <= i64::MAX keeps the result >= i64::MIN.
        Item::NegInt(n) => i64::try_from(n).map(|n| -1 - n).map_err(|_| out_of_range()),
        Item::Float(f) if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) => {
            Ok(f as i64)
        }
        Item::Float(_) => Err(format!("{} is not an integral {what}", describe(item))),
        _ => Err(format!("{} is not a {what} value", describe(item))),
    }
}

fn to_u64(item: &Item) -> Result<u64, String> {
    match *item {
        Item::Uint(u) => Ok(u),
        Item::Float(f) if f.fract() == 0.0 && (0.0..2.0 * TWO_POW_63).contains(&f) => Ok(f as u64),
        Item::NegInt(_) | Item::Float(_) => Err(format!(
            "{} is not a non-negative integral Unsigned Integer",
            describe(item)
        )),
        _ => Err(format!(
            "{} is not an Unsigned Integer value",
            describe(item)
        )),
    }
}

fn describe(item: &Item) -> String {
    match item {
        Item::Uint(u) => format!("the integer {u}"),
        Item::NegInt(n) => format!("the integer {}", -1 - i128::from(*n)),
        Item::Float(f) => format!("the float {f}"),
        Item::Bool(b) => format!("the boolean {b}"),
        Item::Text(t) => format!("a text string of {} bytes", t.len()),
        Item::Bytes(b) => format!("a byte string of {} bytes", b.len()),
        Item::Null => "null".to_owned(),
        Item::Undefined => "undefined".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::value_conv::test_support::{models, typed_value, ALL_TYPES};
    use crate::node::{LwM2mResource, LwM2mResourceInstance};

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    fn single(id: u16, value: Value) -> LwM2mNode {
        LwM2mNode::Resource(LwM2mResource::single(id, value))
    }

    fn at(res: u16) -> LwM2mPath {
        LwM2mPath::resource(ALL_TYPES, 0, res).unwrap()
    }

    fn check(path: &LwM2mPath, node: &LwM2mNode, bytes: &[u8]) {
        let reg = models();
        assert_eq!(CborCodec.encode(path, node, &reg).unwrap(), bytes, "{path}");
        assert_eq!(
            &CborCodec.decode(path, bytes, &reg).unwrap(),
            node,
            "{path}"
        );
    }

    /// §7.4.6 with RFC 8949 Appendix A item encodings: one data item per value.
    #[test]
    fn spec_7_4_6_items_per_type() {
        check(&p("/3/0/9"), &single(9, Value::Integer(100)), &[0x18, 0x64]);
        check(
            &p("/1/0/1"),
            &single(1, Value::Integer(-1000)),
            &[0x39, 0x03, 0xe7],
        );
        check(
            &at(2),
            &single(2, Value::UnsignedInteger(1_000_000)),
            &[0x1a, 0x00, 0x0f, 0x42, 0x40],
        );
        check(&at(3), &single(3, Value::Float(1.5)), &[0xf9, 0x3e, 0x00]);
        check(
            &at(3),
            &single(3, Value::Float(100000.0)),
            &[0xfa, 0x47, 0xc3, 0x50, 0x00],
        );
        check(
            &at(3),
            &single(3, Value::Float(1.1)),
            &[0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a],
        );
        check(&p("/1/0/6"), &single(6, Value::Boolean(true)), &[0xf5]);
        check(
            &at(5),
            &single(5, Value::Opaque(vec![1, 2, 3, 4])),
            &[0x44, 1, 2, 3, 4],
        );
        check(
            &p("/3/0/16"),
            &single(16, Value::String("U".into())),
            &[0x61, 0x55],
        );
        // RFC 8949 Appendix A: 1(1363896240) → c1 1a 514b67b0
        check(
            &p("/3/0/13"),
            &single(13, Value::Time(1363896240)),
            &[0xc1, 0x1a, 0x51, 0x4b, 0x67, 0xb0],
        );
        let link = LwM2mNode::ResourceInstance(LwM2mResourceInstance {
            id: 0,
            value: Value::ObjectLink(ObjectLink {
                object: 3,
                instance: 0,
            }),
        });
        check(&p("/3/0/22/0"), &link, &[0x63, b'3', b':', b'0']);
        check(
            &at(8),
            &single(8, Value::CoreLink("</3/0>".into())),
            &[0x66, b'<', b'/', b'3', b'/', b'0', b'>'],
        );
    }

    #[test]
    fn decoding_converts_tolerantly_by_model_type() {
        let reg = models();
        let dec = |path: &LwM2mPath, bytes: &[u8]| CborCodec.decode(path, bytes, &reg);
        // An untagged integer for a Time, an integer for a Float, a float for an Integer.
        assert_eq!(
            dec(&p("/3/0/13"), &[0x1a, 0x51, 0x4b, 0x67, 0xb0]).unwrap(),
            single(13, Value::Time(1363896240))
        );
        assert_eq!(
            dec(&at(3), &[0x38, 0x63]).unwrap(),
            single(3, Value::Float(-100.0))
        );
        assert_eq!(
            dec(&p("/3/0/9"), &[0xf9, 0x3e, 0x00]).map_err(|_| ()),
            Err(()),
            "1.5 is not integral"
        );
        assert_eq!(
            dec(&p("/3/0/9"), &[0xf9, 0x3c, 0x00]).unwrap(),
            single(9, Value::Integer(1))
        );
        // Chunked text for a String.
        let chunked = [0x7f, 0x61, b'a', 0x61, b'b', 0xff];
        assert_eq!(
            dec(&p("/3/0/0"), &chunked).unwrap(),
            single(0, Value::String("ab".into()))
        );
        // Out of range and mismatched types.
        assert!(dec(
            &p("/3/0/9"),
            &[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        )
        .is_err());
        assert!(dec(&at(2), &[0x20]).is_err(), "a negative Unsigned Integer");
        assert!(
            dec(&p("/3/0/0"), &[0x01]).is_err(),
            "an integer for a String"
        );
        assert!(
            dec(&p("/3/0/9"), &[0xc2, 0x41, 0x01]).is_err(),
            "tag 2 (bignum)"
        );
        assert!(
            dec(&p("/3/0/0"), &[0xc1, 0x61, b'a']).is_err(),
            "tag 1 on text"
        );
        assert!(dec(&p("/3/0/9"), &[0x81, 0x01]).is_err(), "an array");
    }

    #[test]
    fn without_a_model_the_item_decides_the_type() {
        let reg = models();
        let path = p("/4242/0/1");
        let dec = |bytes: &[u8]| match CborCodec.decode(&path, bytes, &reg).unwrap() {
            LwM2mNode::Resource(LwM2mResource::Single { value, .. }) => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(dec(&[0x18, 0x64]), Value::Integer(100));
        assert_eq!(
            dec(&[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Value::UnsignedInteger(u64::MAX)
        );
        assert_eq!(dec(&[0xc1, 0x00]), Value::Time(0));
        assert_eq!(dec(&[0x61, 0x55]), Value::String("U".into()));
        assert_eq!(dec(&[0x41, 0x55]), Value::Opaque(vec![0x55]));
        assert_eq!(dec(&[0xf4]), Value::Boolean(false));
        assert!(CborCodec.decode(&path, &[0xf6], &reg).is_err(), "null");
    }

    #[test]
    fn paths_that_carry_several_values_are_refused() {
        let reg = models();
        assert!(CborCodec.decode(&p("/3/0/6"), &[0x01], &reg).is_err());
        assert!(CborCodec.decode(&p("/3/0"), &[0x01], &reg).is_err());
        assert!(
            CborCodec.decode(&p("/3/0/4"), &[0x01], &reg).is_err(),
            "executable"
        );
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips((n, value) in typed_value(false), instance in any::<bool>()) {
            let reg = models();
            let (path, node) = if instance {
                (
                    LwM2mPath::resource_instance(ALL_TYPES, 1, 100 + n as u16, 9).unwrap(),
                    LwM2mNode::ResourceInstance(LwM2mResourceInstance { id: 9, value }),
                )
            } else {
                (at(n as u16), single(n as u16, value))
            };
            let bytes = CborCodec.encode(&path, &node, &reg).unwrap();
            prop_assert_eq!(CborCodec.decode(&path, &bytes, &reg).unwrap(), node);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512),
                                       res in prop::sample::select(vec![0u16, 1, 2, 3, 4, 5, 6, 7, 8, 99])) {
            let reg = models();
            let path = at(res);
            if let Ok(node) = CborCodec.decode(&path, &bytes, &reg) {
                let once = CborCodec.encode(&path, &node, &reg).unwrap();
                let again = CborCodec.decode(&path, &once, &reg).unwrap();
                prop_assert_eq!(CborCodec.encode(&path, &again, &reg).unwrap(), once);
            }
        }

        #[test]
        fn small_well_formed_items_never_panic(head in any::<u8>(), tail in prop::collection::vec(any::<u8>(), 0..9)) {
            let reg = models();
            let mut bytes = vec![head];
            bytes.extend(tail);
            for res in [0u16, 1, 2, 3, 4, 5, 6, 7, 8, 99] {
                if let Ok(node) = CborCodec.decode(&at(res), &bytes, &reg) {
                    let once = CborCodec.encode(&at(res), &node, &reg).unwrap();
                    let again = CborCodec.decode(&at(res), &once, &reg).unwrap();
                    prop_assert_eq!(CborCodec.encode(&at(res), &again, &reg).unwrap(), once);
                }
            }
        }
    }
}
