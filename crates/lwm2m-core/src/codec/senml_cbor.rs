//! SenML CBOR, `application/senml+cbor` (112): LwM2M 1.1.1 Core TS §7.4.5 on
//! RFC 8428 §6.
//!
//! Records are CBOR maps with the integer labels of RFC 8428 §6 Table 6:
//! `bver` -1, `bn` -2, `bt` -3, `n` 0, `v` 2, `vs` 3, `vb` 4, `t` 6, `vd` 8
//! (a byte string). LwM2M's object-link value has no integer label and uses
//! the text label `"vlo"` (LwM2M 1.1.1 §7.4.5). Units, sums and update times
//! are ignored; base value (-5) and must-understand text labels (ending in
//! `_`) are refused. The wire subset is in `senml::cbor_wire`, the node
//! mapping in [`crate::codec::senml`].

use super::senml::cbor_wire::{self, Item, Key};
use super::senml::{check_size, MultiNodeCodec, SenmlNumber, SenmlRecord, SenmlValue};
use super::{ContentFormat, NodeCodec};
use crate::model::ModelLookup;
use crate::node::LwM2mNode;
use crate::path::LwM2mPath;
use crate::Error;

const FORMAT: ContentFormat = ContentFormat::SenmlCbor;

/// RFC 8428 §6 labels.
mod label {
    pub const BVER: i128 = -1;
    pub const BN: i128 = -2;
    pub const BT: i128 = -3;
    pub const BV: i128 = -5;
    pub const N: i128 = 0;
    pub const V: i128 = 2;
    pub const VS: i128 = 3;
    pub const VB: i128 = 4;
    pub const T: i128 = 6;
    pub const VD: i128 = 8;
    /// LwM2M 1.1.1 §7.4.5: the object-link value keeps its text label.
    pub const VLO: &str = "vlo";
}

/// The SenML CBOR codec; see [`MultiNodeCodec`] for the composite, path-list
/// and timestamped operations.
#[derive(Clone, Copy, Debug, Default)]
pub struct SenmlCborCodec;

impl NodeCodec for SenmlCborCodec {
    fn format(&self) -> ContentFormat {
        FORMAT
    }

    fn encode(
        &self,
        path: &LwM2mPath,
        node: &LwM2mNode,
        _models: &dyn ModelLookup,
    ) -> Result<Vec<u8>, Error> {
        self.encode_node(path, node)
    }

    fn decode(
        &self,
        path: &LwM2mPath,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<LwM2mNode, Error> {
        self.decode_node(path, payload, models)
    }
}

impl MultiNodeCodec for SenmlCborCodec {
    fn content_format(&self) -> ContentFormat {
        FORMAT
    }

    fn parse_records(&self, payload: &[u8]) -> Result<Vec<SenmlRecord>, Error> {
        check_size(FORMAT, payload)?;
        if payload.is_empty() {
            return Ok(Vec::new());
        }
        let maps = cbor_wire::read_pack(payload).map_err(|e| Error::decode(FORMAT, e))?;
        maps.into_iter()
            .enumerate()
            .map(|(i, map)| record(i, map))
            .collect()
    }

    fn write_records(&self, records: &[SenmlRecord]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(records.len() * 16 + 1);
        cbor_wire::write_head(&mut out, 4, records.len() as u64);
        for r in records {
            write_record(&mut out, r)?;
        }
        Ok(out)
    }
}

fn record(index: usize, map: cbor_wire::Map) -> Result<SenmlRecord, Error> {
    let wrong = |name: &str, expected: &str, item: &Item| {
        Error::decode(
            FORMAT,
            format!(
                "record {index}: field {name} must be {expected}, found {}",
                item.kind()
            ),
        )
    };
    let mut out = SenmlRecord::default();
    let set_value = |out: &mut SenmlRecord, v: SenmlValue| {
        if let Some(previous) = &out.value {
            return Err(Error::decode(
                FORMAT,
                format!(
                    "record {index} carries two values (`{}` and `{}`)",
                    previous.field(),
                    v.field()
                ),
            ));
        }
        out.value = Some(v);
        Ok(())
    };
    for (key, item) in map {
        match key {
            Key::Int(label::BN) => match item {
                Item::Text(s) => out.base_name = Some(s),
                other => return Err(wrong("bn (-2)", "text", &other)),
            },
            Key::Int(label::N) => match item {
                Item::Text(s) => out.name = Some(s),
                other => return Err(wrong("n (0)", "text", &other)),
            },
            Key::Int(label::BT) => match item {
                Item::Number(n) => out.base_time = Some(n.as_f64()),
                other => return Err(wrong("bt (-3)", "a number", &other)),
            },
            Key::Int(label::T) => match item {
                Item::Number(n) => out.time = Some(n.as_f64()),
                other => return Err(wrong("t (6)", "a number", &other)),
            },
            Key::Int(label::V) => match item {
                Item::Number(n) => set_value(&mut out, SenmlValue::Number(n))?,
                other => return Err(wrong("v (2)", "a number", &other)),
            },
            Key::Int(label::VS) => match item {
                Item::Text(s) => set_value(&mut out, SenmlValue::String(s))?,
                other => return Err(wrong("vs (3)", "text", &other)),
            },
            Key::Int(label::VB) => match item {
                Item::Bool(b) => set_value(&mut out, SenmlValue::Boolean(b))?,
                other => return Err(wrong("vb (4)", "a boolean", &other)),
            },
            Key::Int(label::VD) => match item {
                Item::Bytes(d) => set_value(&mut out, SenmlValue::Data(d))?,
                other => return Err(wrong("vd (8)", "a byte string", &other)),
            },
            Key::Text(ref k) if k == label::VLO => match item {
                Item::Text(s) => set_value(&mut out, SenmlValue::ObjectLink(s))?,
                other => return Err(wrong("vlo", "text", &other)),
            },
            Key::Int(label::BV) => {
                return Err(Error::decode(
                    FORMAT,
                    format!(
                        "record {index}: base value (-5) is not used by LwM2M and is not supported"
                    ),
                ))
            }
            Key::Text(k) if k.ends_with('_') => {
                return Err(Error::decode(
                    FORMAT,
                    format!("record {index}: must-understand label {k:?} is not supported"),
                ))
            }
            // bver (-1), units, sums, update time and extensions: not used by LwM2M.
            Key::Int(label::BVER) | Key::Int(_) | Key::Text(_) => {}
        }
    }
    Ok(out)
}

fn write_number(out: &mut Vec<u8>, n: &SenmlNumber) -> Result<(), Error> {
    match n {
        SenmlNumber::Integer(i) => cbor_wire::write_int(out, *i)
            .ok_or_else(|| Error::encode(FORMAT, format!("integer {i} is out of the CBOR range"))),
        SenmlNumber::Float(f) => {
            cbor_wire::write_float(out, *f);
            Ok(())
        }
    }
}

/// Largest integer below which every integer is exact in an `f64`.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Times: integral times as integers, others as floats.
fn write_time(out: &mut Vec<u8>, t: f64) -> Result<(), Error> {
    if !t.is_finite() {
        return Err(Error::encode(
            FORMAT,
            format!("time {t} is not a finite number"),
        ));
    }
    if t.fract() == 0.0 && t.abs() < EXACT_INT_LIMIT {
        write_number(out, &SenmlNumber::Integer(t as i128))
    } else {
        write_number(out, &SenmlNumber::Float(t))
    }
}

/// Writes one record with its fields in the order bn, bt, n, t, value (the
/// order of the specification's examples).
fn write_record(out: &mut Vec<u8>, r: &SenmlRecord) -> Result<(), Error> {
    let count = [
        r.base_name.is_some(),
        r.base_time.is_some(),
        r.name.is_some(),
        r.time.is_some(),
        r.value.is_some(),
    ]
    .iter()
    .filter(|present| **present)
    .count();
    cbor_wire::write_head(out, 5, count as u64);
    if let Some(bn) = &r.base_name {
        cbor_wire::write_int(out, label::BN);
        cbor_wire::write_text(out, bn);
    }
    if let Some(bt) = r.base_time {
        cbor_wire::write_int(out, label::BT);
        write_time(out, bt)?;
    }
    if let Some(n) = &r.name {
        cbor_wire::write_int(out, label::N);
        cbor_wire::write_text(out, n);
    }
    if let Some(t) = r.time {
        cbor_wire::write_int(out, label::T);
        write_time(out, t)?;
    }
    match &r.value {
        Some(SenmlValue::Number(n)) => {
            cbor_wire::write_int(out, label::V);
            write_number(out, n)?;
        }
        Some(SenmlValue::String(s)) => {
            cbor_wire::write_int(out, label::VS);
            cbor_wire::write_text(out, s);
        }
        Some(SenmlValue::Boolean(b)) => {
            cbor_wire::write_int(out, label::VB);
            out.push(if *b { 0xf5 } else { 0xf4 });
        }
        Some(SenmlValue::Data(d)) => {
            cbor_wire::write_int(out, label::VD);
            cbor_wire::write_bytes(out, d);
        }
        Some(SenmlValue::ObjectLink(l)) => {
            cbor_wire::write_text(out, label::VLO);
            cbor_wire::write_text(out, l);
        }
        None => {}
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::codec::senml::test_support::{device_instance, models, path};
    use crate::codec::senml_json::SenmlJsonCodec;
    use crate::codec::TimestampedNodes;
    use crate::model::ModelRegistry;
    use crate::node::{LwM2mObjectInstance, LwM2mResource, ObjectLink, Value};

    const C: SenmlCborCodec = SenmlCborCodec;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn to_hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// LwM2M 1.1.1 Core TS §7.4.5: the Device object instance of the §7.4.4
    /// SenML JSON example in SenML CBOR. Hand-encoded record by record from
    /// the JSON example with the RFC 8428 §6 labels (bn = -2 → 0x21, n = 0,
    /// v = 2, vs = 3); the same bytes appear in Eclipse Leshan's test suite.
    const DEVICE_INSTANCE: &str = concat!(
        "90",                                                              // array(16)
        "a3 21 65 2f332f302f 00 61 30",                                    // {-2:"/3/0/", 0:"0",
        "03 74 4f70656e204d6f62696c6520416c6c69616e6365", //  3:"Open Mobile Alliance"}
        "a2 00 61 31 03 76 4c696768747765696768 74204d324d20436c69656e74", // {0:"1", 3:"Lightweight M2M Client"}
        "a2 00 61 32 03 69 333435303030313233",                            // {0:"2", 3:"345000123"}
        "a2 00 61 33 03 63 312e30",                                        // {0:"3", 3:"1.0"}
        "a2 00 63 362f30 02 01",                                           // {0:"6/0", 2:1}
        "a2 00 63 362f31 02 05",                                           // {0:"6/1", 2:5}
        "a2 00 63 372f30 02 19 0ed8",                                      // {0:"7/0", 2:3800}
        "a2 00 63 372f31 02 19 1388",                                      // {0:"7/1", 2:5000}
        "a2 00 63 382f30 02 18 7d",                                        // {0:"8/0", 2:125}
        "a2 00 63 382f31 02 19 0384",                                      // {0:"8/1", 2:900}
        "a2 00 61 39 02 18 64",                                            // {0:"9", 2:100}
        "a2 00 62 3130 02 0f",                                             // {0:"10", 2:15}
        "a2 00 64 31312f30 02 00",                                         // {0:"11/0", 2:0}
        "a2 00 62 3133 02 1a 5182428f",                                    // {0:"13", 2:1367491215}
        "a2 00 62 3134 03 66 2b30323a3030",                                // {0:"14", 3:"+02:00"}
        "a2 00 62 3136 03 61 55",                                          // {0:"16", 3:"U"}
    );

    #[test]
    fn spec_7_4_5_device_instance_encodes_exactly() {
        let node = LwM2mNode::ObjectInstance(device_instance());
        let bytes = C.encode(&path("/3/0"), &node, &models()).unwrap();
        assert_eq!(to_hex(&bytes), to_hex(&hex(DEVICE_INSTANCE)));
    }

    #[test]
    fn spec_7_4_5_device_instance_decodes() {
        let node = C
            .decode(&path("/3/0"), &hex(DEVICE_INSTANCE), &models())
            .unwrap();
        assert_eq!(node, LwM2mNode::ObjectInstance(device_instance()));
    }

    /// The CBOR and JSON examples carry the same records.
    #[test]
    fn spec_7_4_5_matches_the_json_example() {
        let json = SenmlJsonCodec.encode(
            &path("/3/0"),
            &LwM2mNode::ObjectInstance(device_instance()),
            &models(),
        );
        let from_json = SenmlJsonCodec.parse_records(&json.unwrap()).unwrap();
        assert_eq!(C.parse_records(&hex(DEVICE_INSTANCE)).unwrap(), from_json);
    }

    /// An opaque resource: `[{-2: "/0/0/3", 8: h'ABCDEF'}]`.
    #[test]
    fn opaque_resource_is_a_byte_string() {
        let bytes = hex("81 a2 21 66 2f302f302f33 08 43 abcdef");
        let node = LwM2mNode::Resource(LwM2mResource::single(
            5,
            Value::Opaque(vec![0xab, 0xcd, 0xef]),
        ));
        let out = C.encode(&path("/1000/0/5"), &node, &models()).unwrap();
        assert_eq!(to_hex(&out), "81a221692f313030302f302f350843abcdef");
        let none = ModelRegistry::new();
        let decoded = C.decode(&path("/0/0/3"), &bytes, &none).unwrap();
        assert_eq!(
            decoded,
            LwM2mNode::Resource(LwM2mResource::single(
                3,
                Value::Opaque(vec![0xab, 0xcd, 0xef])
            ))
        );
    }

    /// A float in half precision, `[{2: 300.0, -2: "/1000/0/3"}]`, fields in any order.
    #[test]
    fn half_float_value_in_any_field_order() {
        let bytes = hex("81 a2 02 f9 5cb0 21 69 2f313030302f302f33");
        let want = LwM2mNode::Resource(LwM2mResource::single(3, Value::Float(300.0)));
        assert_eq!(
            C.decode(&path("/1000/0/3"), &bytes, &models()).unwrap(),
            want
        );
        let out = C.encode(&path("/1000/0/3"), &want, &models()).unwrap();
        assert_eq!(to_hex(&out), "81a221692f313030302f302f3302f95cb0");
    }

    #[test]
    fn object_link_uses_the_vlo_text_label() {
        let node = LwM2mNode::Resource(LwM2mResource::single(
            7,
            Value::ObjectLink(ObjectLink {
                object: 3,
                instance: 0,
            }),
        ));
        let out = C.encode(&path("/1000/0/7"), &node, &models()).unwrap();
        // [{-2: "/1000/0/7", "vlo": "3:0"}]
        assert_eq!(to_hex(&out), "81a221692f313030302f302f3763766c6f63333a30");
        assert_eq!(
            C.decode(&path("/1000/0/7"), &out, &ModelRegistry::new())
                .unwrap(),
            node
        );
    }

    #[test]
    fn booleans_unsigned_and_negative_integers() {
        let inst = LwM2mObjectInstance::new(
            0,
            [
                LwM2mResource::single(1, Value::Integer(-500)),
                LwM2mResource::single(2, Value::UnsignedInteger(u64::MAX)),
                LwM2mResource::single(4, Value::Boolean(false)),
            ],
        );
        let node = LwM2mNode::ObjectInstance(inst);
        let out = C.encode(&path("/1000/0"), &node, &models()).unwrap();
        let want = concat!(
            "83",
            "a3 21 68 2f313030302f302f 00 61 31 02 39 01f3", // {-2:"/1000/0/", 0:"1", 2:-500}
            "a2 00 61 32 02 1b ffffffffffffffff",            // {0:"2", 2:18446744073709551615}
            "a2 00 61 34 04 f4",                             // {0:"4", 4:false}
        );
        assert_eq!(to_hex(&out), to_hex(&hex(want)));
        assert_eq!(C.decode(&path("/1000/0"), &out, &models()).unwrap(), node);
    }

    /// Eclipse Leshan writes base times as decimal fractions (tag 4); they decode.
    #[test]
    fn timestamped_with_decimal_fraction_base_time() {
        // [{-2:"/0/0/0", -3:4([0, 500000004]), 3:"SampleString"}]
        let bytes =
            hex("81 a3 21 66 2f302f302f30 22 c4 82 00 1a 1dcd6504 03 6c 53616d706c65537472696e67");
        let groups = C.decode_timestamped(&bytes, &ModelRegistry::new()).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].time, Some(500_000_004.0));
        assert_eq!(
            groups[0].nodes[&path("/0/0/0")],
            LwM2mNode::Resource(LwM2mResource::single(
                0,
                Value::String("SampleString".into())
            ))
        );
    }

    #[test]
    fn timestamped_encoding_writes_integer_and_float_times() {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            path("/3/0/9"),
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(1))),
        );
        let data = [
            TimestampedNodes {
                time: Some(1.5),
                nodes: nodes.clone(),
            },
            TimestampedNodes {
                time: Some(268_500_000.0),
                nodes,
            },
        ];
        let out = C.encode_timestamped(&data).unwrap();
        let want = concat!(
            "82",
            "a3 21 66 2f332f302f39 22 f9 3e00 02 01", // {-2:"/3/0/9", -3:1.5, 2:1}
            "a3 21 66 2f332f302f39 22 1a 1000fc20 02 01", // {-2:"/3/0/9", -3:268500000, 2:1}
        );
        assert_eq!(to_hex(&out), to_hex(&hex(want)));
        let back = C.decode_timestamped(&out, &models()).unwrap();
        assert_eq!(
            back.iter().map(|g| g.time).collect::<Vec<_>>(),
            [Some(1.5), Some(268_500_000.0)]
        );
    }

    #[test]
    fn composite_paths() {
        let paths = [path("/3/0/0"), path("/1/0/1")];
        let out = C.encode_paths(&paths).unwrap();
        // [{0:"/3/0/0"}, {0:"/1/0/1"}]
        assert_eq!(to_hex(&out), "82a100662f332f302f30a100662f312f302f31");
        assert_eq!(C.decode_paths(&out).unwrap(), paths);
    }

    #[test]
    fn rejects_wrong_field_types_with_reasons() {
        let m = models();
        let cases = [
            (
                "81 a2 00 66 2f332f302f39 02 61 31",
                "v (2) must be a number",
            ),
            ("81 a2 00 01 02 01", "n (0) must be text"),
            ("81 a2 00 66 2f332f302f39 04 01", "vb (4) must be a boolean"),
            (
                "81 a2 00 66 2f332f302f39 08 61 31",
                "vd (8) must be a byte string",
            ),
            ("81 a3 00 66 2f332f302f39 02 01 03 61 31", "two values"),
            ("81 a3 00 66 2f332f302f39 02 01 24 01", "base value"),
            (
                "81 a3 00 66 2f332f302f39 02 01 62 785f 01",
                "must-understand",
            ),
            ("81 a1 00 66 2f332f302f39", "no value"),
            ("a1 00 01", "CBOR array"),
        ];
        for (input, reason) in cases {
            let err = C
                .decode(&path("/3/0"), &hex(input), &m)
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{input}: {err}");
        }
    }

    #[test]
    fn ignores_fields_lwm2m_does_not_use() {
        // {-1 (bver): 10, 1 (u): "Cel", -2: "/3/0/9", 2: 7}
        let bytes = hex("81 a4 20 0a 01 63 43656c 21 66 2f332f302f39 02 07");
        assert_eq!(
            C.decode(&path("/3/0/9"), &bytes, &models()).unwrap(),
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(7)))
        );
    }

    #[test]
    fn empty_payload_is_an_empty_pack() {
        assert_eq!(
            C.decode(&path("/3/0"), &[], &models()).unwrap(),
            LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(0, []))
        );
        assert_eq!(
            C.decode(&path("/3/0"), &hex("80"), &models()).unwrap(),
            C.decode(&path("/3/0"), &[], &models()).unwrap()
        );
    }
}
