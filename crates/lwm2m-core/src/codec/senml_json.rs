//! SenML JSON, `application/senml+json` (110): LwM2M 1.1.1 Core TS §7.4.4 on
//! RFC 8428 §4 and §5.
//!
//! A pack is a JSON array of records. Fields read: `bn`, `bt`, `n`, `t`, `v`,
//! `vs`, `vb`, `vd` (base64url, standard base64 accepted), `vlo`; `bver`,
//! units, sums and update times are ignored, a base value (`bv`) or any
//! must-understand field (ending in `_`, RFC 8428 §4.4) is refused. The
//! mapping to nodes is in [`crate::codec::senml`].

use serde_json::{Map, Value as Json};

use super::senml::json_util::{self, ObjectWriter};
use super::senml::values::{base64url, decode_base64_lenient};
use super::senml::{MultiNodeCodec, SenmlRecord, SenmlValue};
use super::{ContentFormat, NodeCodec};
use crate::model::ModelLookup;
use crate::node::LwM2mNode;
use crate::path::LwM2mPath;
use crate::Error;

const FORMAT: ContentFormat = ContentFormat::SenmlJson;

/// The SenML JSON codec; see [`MultiNodeCodec`] for the composite, path-list
/// and timestamped operations.
#[derive(Clone, Copy, Debug, Default)]
pub struct SenmlJsonCodec;

impl NodeCodec for SenmlJsonCodec {
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

impl MultiNodeCodec for SenmlJsonCodec {
    fn content_format(&self) -> ContentFormat {
        FORMAT
    }

    fn parse_records(&self, payload: &[u8]) -> Result<Vec<SenmlRecord>, Error> {
        json_util::check_size(FORMAT, payload)?;
        if json_util::is_blank(payload) {
            return Ok(Vec::new());
        }
        let Json::Array(items) = json_util::parse(FORMAT, payload, 2)? else {
            return Err(Error::decode(
                FORMAT,
                "a SenML pack is a JSON array of records",
            ));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::Object(fields) => record(i, fields),
                _ => Err(Error::decode(
                    FORMAT,
                    format!("record {i} is not a JSON object"),
                )),
            })
            .collect()
    }

    fn write_records(&self, records: &[SenmlRecord]) -> Result<Vec<u8>, Error> {
        let mut out = String::with_capacity(records.len() * 32 + 2);
        out.push('[');
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_record(&mut out, r)?;
        }
        out.push(']');
        Ok(out.into_bytes())
    }
}

fn record(index: usize, fields: Map<String, Json>) -> Result<SenmlRecord, Error> {
    let wrong = |key: &str, expected: &str| {
        Error::decode(
            FORMAT,
            format!("record {index}: field {key:?} must be {expected}"),
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
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("bn", Json::String(s)) => out.base_name = Some(s),
            ("n", Json::String(s)) => out.name = Some(s),
            ("bt", Json::Number(n)) => out.base_time = Some(n.as_f64().unwrap_or(f64::NAN)),
            ("t", Json::Number(n)) => out.time = Some(n.as_f64().unwrap_or(f64::NAN)),
            ("v", Json::Number(n)) => {
                set_value(&mut out, SenmlValue::Number(json_util::number(&n)))?
            }
            ("vs", Json::String(s)) => set_value(&mut out, SenmlValue::String(s))?,
            ("vb", Json::Bool(b)) => set_value(&mut out, SenmlValue::Boolean(b))?,
            ("vlo", Json::String(s)) => set_value(&mut out, SenmlValue::ObjectLink(s))?,
            ("vd", Json::String(s)) => {
                let data = decode_base64_lenient(&s).map_err(|e| {
                    Error::decode(FORMAT, format!("record {index}: field \"vd\": {e}"))
                })?;
                set_value(&mut out, SenmlValue::Data(data))?
            }
            ("bn" | "n" | "vs" | "vlo" | "vd", _) => return Err(wrong(&key, "a string")),
            ("bt" | "t" | "v", _) => return Err(wrong(&key, "a number")),
            ("vb", _) => return Err(wrong(&key, "a boolean")),
            ("bv", _) => {
                return Err(Error::decode(
                    FORMAT,
                    format!(
                    "record {index}: base value (\"bv\") is not used by LwM2M and is not supported"
                ),
                ))
            }
            (k, _) if k.ends_with('_') => {
                return Err(Error::decode(
                    FORMAT,
                    format!("record {index}: must-understand field {k:?} is not supported"),
                ))
            }
            // bver, bu, u, bs, s, ut and extensions: not used by LwM2M.
            _ => {}
        }
    }
    Ok(out)
}

fn write_record(out: &mut String, r: &SenmlRecord) -> Result<(), Error> {
    let mut obj = ObjectWriter::open(out);
    if let Some(bn) = &r.base_name {
        json_util::write_str(obj.key("bn"), bn);
    }
    if let Some(bt) = r.base_time {
        json_util::write_time(FORMAT, obj.key("bt"), bt)?;
    }
    if let Some(n) = &r.name {
        json_util::write_str(obj.key("n"), n);
    }
    if let Some(t) = r.time {
        json_util::write_time(FORMAT, obj.key("t"), t)?;
    }
    match &r.value {
        Some(SenmlValue::Number(n)) => json_util::write_number(FORMAT, obj.key("v"), n)?,
        Some(SenmlValue::String(s)) => json_util::write_str(obj.key("vs"), s),
        Some(SenmlValue::Boolean(b)) => obj.key("vb").push_str(if *b { "true" } else { "false" }),
        Some(SenmlValue::Data(d)) => json_util::write_str(obj.key("vd"), &base64url(d)),
        Some(SenmlValue::ObjectLink(l)) => json_util::write_str(obj.key("vlo"), l),
        None => {}
    }
    obj.close();
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::codec::senml::test_support::{device_instance, models, path};
    use crate::codec::senml::SenmlNumber;
    use crate::codec::TimestampedNodes;
    use crate::model::ModelRegistry;
    use crate::node::{
        LwM2mObjectInstance, LwM2mResource, LwM2mResourceInstance, ObjectLink, ResourceType, Value,
    };

    const C: SenmlJsonCodec = SenmlJsonCodec;

    /// LwM2M 1.1.1 Core TS §7.4.4, Read of the Device object instance /3/0
    /// in SenML JSON (the same instance as the TLV example of §7.4.3).
    const DEVICE_INSTANCE: &str = concat!(
        r#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},"#,
        r#"{"n":"1","vs":"Lightweight M2M Client"},"#,
        r#"{"n":"2","vs":"345000123"},"#,
        r#"{"n":"3","vs":"1.0"},"#,
        r#"{"n":"6/0","v":1},{"n":"6/1","v":5},"#,
        r#"{"n":"7/0","v":3800},{"n":"7/1","v":5000},"#,
        r#"{"n":"8/0","v":125},{"n":"8/1","v":900},"#,
        r#"{"n":"9","v":100},"#,
        r#"{"n":"10","v":15},"#,
        r#"{"n":"11/0","v":0},"#,
        r#"{"n":"13","v":1367491215},"#,
        r#"{"n":"14","vs":"+02:00"},"#,
        r#"{"n":"16","vs":"U"}]"#
    );

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn spec_7_4_4_device_instance_encodes_exactly() {
        let node = LwM2mNode::ObjectInstance(device_instance());
        assert_eq!(
            text(C.encode(&path("/3/0"), &node, &models()).unwrap()),
            DEVICE_INSTANCE
        );
    }

    #[test]
    fn spec_7_4_4_device_instance_decodes() {
        let node = C
            .decode(&path("/3/0"), DEVICE_INSTANCE.as_bytes(), &models())
            .unwrap();
        assert_eq!(node, LwM2mNode::ObjectInstance(device_instance()));
        // As the object, every record under /3.
        let node = C
            .decode(&path("/3"), DEVICE_INSTANCE.as_bytes(), &models())
            .unwrap();
        let LwM2mNode::Object(obj) = node else {
            panic!("not an object")
        };
        assert_eq!(obj.instances[&0], device_instance());
    }

    #[test]
    fn spec_7_4_4_device_instance_without_model_infers_types() {
        let node = C
            .decode(
                &path("/3/0"),
                DEVICE_INSTANCE.as_bytes(),
                &ModelRegistry::new(),
            )
            .unwrap();
        let LwM2mNode::ObjectInstance(inst) = node else {
            panic!()
        };
        // Without the model, Current Time is an Integer and 11/0 a one-instance multiple resource.
        assert_eq!(
            inst.resources[&13],
            LwM2mResource::single(13, Value::Integer(1_367_491_215))
        );
        assert!(inst.resources[&11].is_multiple());
        assert_eq!(
            inst.resources[&0],
            LwM2mResource::single(0, Value::String("Open Mobile Alliance".into()))
        );
    }

    #[test]
    fn single_and_multiple_resource_forms() {
        let m = models();
        // A single resource: the path as base name and no name.
        let single = LwM2mNode::Resource(LwM2mResource::single(
            0,
            Value::String("Open Mobile Alliance".into()),
        ));
        let json = r#"[{"bn":"/3/0/0","vs":"Open Mobile Alliance"}]"#;
        assert_eq!(text(C.encode(&path("/3/0/0"), &single, &m).unwrap()), json);
        assert_eq!(
            C.decode(&path("/3/0/0"), json.as_bytes(), &m).unwrap(),
            single
        );
        // A multiple resource: the path with a trailing slash, instance ids as names.
        let multi = LwM2mNode::Resource(
            LwM2mResource::multiple(
                7,
                ResourceType::Integer,
                [(0, Value::Integer(3800)), (1, Value::Integer(5000))],
            )
            .unwrap(),
        );
        let json = r#"[{"bn":"/3/0/7/","n":"0","v":3800},{"n":"1","v":5000}]"#;
        assert_eq!(text(C.encode(&path("/3/0/7"), &multi, &m).unwrap()), json);
        assert_eq!(
            C.decode(&path("/3/0/7"), json.as_bytes(), &m).unwrap(),
            multi
        );
        // One resource instance.
        let ri = LwM2mNode::ResourceInstance(LwM2mResourceInstance {
            id: 1,
            value: Value::Integer(5000),
        });
        let json = r#"[{"bn":"/3/0/7/1","v":5000}]"#;
        assert_eq!(text(C.encode(&path("/3/0/7/1"), &ri, &m).unwrap()), json);
        assert_eq!(
            C.decode(&path("/3/0/7/1"), json.as_bytes(), &m).unwrap(),
            ri
        );
    }

    #[test]
    fn every_value_type_has_its_field() {
        let m = models();
        let inst = LwM2mObjectInstance::new(
            0,
            [
                LwM2mResource::single(0, Value::String("a\"b".into())),
                LwM2mResource::single(1, Value::Integer(-5)),
                LwM2mResource::single(2, Value::UnsignedInteger(u64::MAX)),
                LwM2mResource::single(3, Value::Float(22.5)),
                LwM2mResource::single(4, Value::Boolean(true)),
                LwM2mResource::single(5, Value::Opaque(vec![0xab, 0xcd, 0xef, 0xff])),
                LwM2mResource::single(6, Value::Time(1_367_491_215)),
                LwM2mResource::single(
                    7,
                    Value::ObjectLink(ObjectLink {
                        object: 3,
                        instance: 0,
                    }),
                ),
                LwM2mResource::single(8, Value::CoreLink("</3/0>".into())),
            ],
        );
        let json = concat!(
            r#"[{"bn":"/1000/0/","n":"0","vs":"a\"b"},{"n":"1","v":-5},{"n":"2","v":18446744073709551615},"#,
            r#"{"n":"3","v":22.5},{"n":"4","vb":true},{"n":"5","vd":"q83v_w"},{"n":"6","v":1367491215},"#,
            r#"{"n":"7","vlo":"3:0"},{"n":"8","vs":"</3/0>"}]"#
        );
        let node = LwM2mNode::ObjectInstance(inst);
        assert_eq!(text(C.encode(&path("/1000/0"), &node, &m).unwrap()), json);
        assert_eq!(
            C.decode(&path("/1000/0"), json.as_bytes(), &m).unwrap(),
            node
        );
    }

    #[test]
    fn opaque_accepts_standard_base64_with_padding() {
        let m = models();
        let want = LwM2mNode::Resource(LwM2mResource::single(
            5,
            Value::Opaque(vec![0xab, 0xcd, 0xef, 0xff]),
        ));
        for vd in ["q83v_w", "q83v/w==", "q83v/w", "q83v_w=="] {
            let json = format!(r#"[{{"bn":"/1000/0/5","vd":"{vd}"}}]"#);
            assert_eq!(
                C.decode(&path("/1000/0/5"), json.as_bytes(), &m).unwrap(),
                want,
                "{vd}"
            );
        }
    }

    /// Eclipse Leshan's and the specification's form: large integers keep
    /// every digit, exponent notation is accepted for integral types.
    #[test]
    fn numbers_keep_precision() {
        let m = models();
        let json = br#"[{"n":"/1000/0/1","v":9223372036854775800}]"#;
        assert_eq!(
            C.decode(&path("/1000/0/1"), json, &m).unwrap(),
            LwM2mNode::Resource(LwM2mResource::single(
                1,
                Value::Integer(9_223_372_036_854_775_800)
            ))
        );
        let json = br#"[{"bn":"/3/0/13","v":1.638435E9}]"#;
        assert_eq!(
            C.decode(&path("/3/0/13"), json, &m).unwrap(),
            LwM2mNode::Resource(LwM2mResource::single(13, Value::Time(1_638_435_000)))
        );
        let json = br#"[{"n":"/1000/0/3","v":20}]"#;
        assert_eq!(
            C.decode(&path("/1000/0/3"), json, &m).unwrap(),
            LwM2mNode::Resource(LwM2mResource::single(3, Value::Float(20.0)))
        );
        let float = LwM2mNode::Resource(LwM2mResource::single(3, Value::Float(20.0)));
        assert_eq!(
            text(C.encode(&path("/1000/0/3"), &float, &m).unwrap()),
            r#"[{"bn":"/1000/0/3","v":20.0}]"#
        );
    }

    #[test]
    fn empty_payloads_decode_to_empty_containers() {
        let m = models();
        for payload in [&b""[..], b"[]", b" \n"] {
            assert_eq!(
                C.decode(&path("/3/0"), payload, &m).unwrap(),
                LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(0, []))
            );
            let LwM2mNode::Resource(r) = C.decode(&path("/3/0/7"), payload, &m).unwrap() else {
                panic!()
            };
            assert!(r.is_multiple());
            assert!(C.decode(&path("/3/0/9"), payload, &m).is_err());
        }
    }

    #[test]
    fn rejects_malformed_packs_with_reasons() {
        let m = models();
        let cases: [(&str, &str); 14] = [
            (r#"{"bn":"/3/0/"}"#, "JSON array"),
            (r#"[1]"#, "not a JSON object"),
            (r#"[{"n":"/3/0/9","v":"1"}]"#, "must be a number"),
            (r#"[{"n":9,"v":1}]"#, "must be a string"),
            (r#"[{"n":"/3/0/9","v":1,"vs":"1"}]"#, "two values"),
            (r#"[{"n":"/3/0/9"}]"#, "no value"),
            (r#"[{"n":"/3/0/9","v":1,"bv":1}]"#, "base value"),
            (r#"[{"n":"/3/0/9","v":1,"x_":1}]"#, "must-understand"),
            (r#"[{"n":"/3/0/9","v":[1]}]"#, "nesting"),
            (
                r#"[{"n":"/3/0/9","v":1},{"n":"/3/0/9","v":2}]"#,
                "two records",
            ),
            (r#"[{"n":"/3/1/9","v":1}]"#, "outside the requested path"),
            (r#"[{"n":"/1000/0/5","vd":"!!"}]"#, "base64"),
            (r#"[{"n":"/3/0/9","v":1"#, "invalid JSON"),
            (r#"[{"n":"/3/0/9","vb":1}]"#, "must be a boolean"),
        ];
        for (json, reason) in cases {
            let at = if json.contains("1000") {
                path("/1000/0/5")
            } else {
                path("/3/0")
            };
            let err = C.decode(&at, json.as_bytes(), &m).unwrap_err().to_string();
            assert!(err.contains(reason), "{json}: {err}");
        }
    }

    /// RFC 8428 §5.1.2 (second example) with LwM2M names in place of
    /// "voltage" (5700) and "current" (5701): base time, relative times, and
    /// `bu`, `u` and `bver` that LwM2M ignores.
    #[test]
    fn rfc8428_5_1_2_time_series_resolves() {
        let json = concat!(
            r#"[{"bn":"/3303/0/","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"5700","u":"V","v":120.1},"#,
            r#"{"n":"5701","t":-5,"v":1.2},{"n":"5701","t":-4,"v":1.3},{"n":"5701","t":-3,"v":1.4},"#,
            r#"{"n":"5701","t":-2,"v":1.5},{"n":"5701","t":-1,"v":1.6},{"n":"5701","v":1.7}]"#
        );
        let groups = C
            .decode_timestamped(json.as_bytes(), &ModelRegistry::new())
            .unwrap();
        let times: Vec<Option<f64>> = groups.iter().map(|g| g.time).collect();
        let bt = 1.276020076001e+09;
        assert_eq!(
            times,
            [-5.0, -4.0, -3.0, -2.0, -1.0, 0.0].map(|t| Some(bt + t))
        );
        let last = &groups[5].nodes;
        assert_eq!(
            last[&path("/3303/0/5700")],
            LwM2mNode::Resource(LwM2mResource::single(5700, Value::Float(120.1)))
        );
        assert_eq!(
            last[&path("/3303/0/5701")],
            LwM2mNode::Resource(LwM2mResource::single(5701, Value::Float(1.7)))
        );
        // Two values for one path at one resolved time are refused.
        let dup = r#"[{"bn":"/3303/0/","bt":10,"n":"5700","v":1.0},{"n":"5700","v":2.0}]"#;
        assert!(C
            .decode_timestamped(dup.as_bytes(), &ModelRegistry::new())
            .is_err());
        // As a plain read, the time series is refused: a node holds one value per path.
        assert!(C
            .decode(&path("/3303/0"), json.as_bytes(), &ModelRegistry::new())
            .is_err());
    }

    /// RFC 8428 §5.1.5 "Multiple Data Types" with LwM2M names in place of the
    /// sensor's: number, string, boolean and data (`"aGkgCg"`, base64url of
    /// "hi \n" without padding).
    #[test]
    fn rfc8428_5_1_5_multiple_data_types() {
        let json = concat!(
            r#"[{"bn":"/1000/0/","n":"3","u":"Cel","v":23.4},"#,
            r#"{"n":"0","vs":"Machine Room"},"#,
            r#"{"n":"4","vb":false},"#,
            r#"{"n":"5","vd":"aGkgCg"}]"#
        );
        let node = C
            .decode(&path("/1000/0"), json.as_bytes(), &models())
            .unwrap();
        assert_eq!(
            node,
            LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(
                0,
                [
                    LwM2mResource::single(3, Value::Float(23.4)),
                    LwM2mResource::single(0, Value::String("Machine Room".into())),
                    LwM2mResource::single(4, Value::Boolean(false)),
                    LwM2mResource::single(5, Value::Opaque(b"hi \n".to_vec())),
                ]
            ))
        );
    }

    /// LwM2M 1.1.1 §5.4.3/§7.4.4 Read-Composite request: records carrying only
    /// names, written with full paths or with base names.
    #[test]
    fn read_composite_request_paths() {
        let json = r#"[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]"#;
        let paths = [path("/3/0/0"), path("/3/0/9"), path("/1/0/1")];
        assert_eq!(text(C.encode_paths(&paths).unwrap()), json);
        assert_eq!(C.decode_paths(json.as_bytes()).unwrap(), paths);
        let with_bn = r#"[{"bn":"/3/0/","n":"0"},{"n":"9"},{"bn":"/1/0/","n":"1"}]"#;
        assert_eq!(C.decode_paths(with_bn.as_bytes()).unwrap(), paths);
        // Objects, instances and the root may be requested too.
        let json = r#"[{"n":"/"},{"n":"/3"},{"n":"/3/0"},{"n":"/3/0/7/1"}]"#;
        let paths = [LwM2mPath::ROOT, path("/3"), path("/3/0"), path("/3/0/7/1")];
        assert_eq!(C.decode_paths(json.as_bytes()).unwrap(), paths);
        assert_eq!(text(C.encode_paths(&paths).unwrap()), json);
    }

    /// LwM2M 1.1.1 §7.4.4 Read-Composite response for /3/0/0, /3/0/9 and /1/0/1.
    #[test]
    fn read_composite_response() {
        let m = models();
        let mut nodes = BTreeMap::new();
        nodes.insert(
            path("/3/0/0"),
            LwM2mNode::Resource(LwM2mResource::single(
                0,
                Value::String("Open Mobile Alliance".into()),
            )),
        );
        nodes.insert(
            path("/3/0/9"),
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(95))),
        );
        nodes.insert(
            path("/1/0/1"),
            LwM2mNode::Resource(LwM2mResource::single(1, Value::Integer(86400))),
        );
        let json = concat!(
            r#"[{"bn":"/1/0/1","v":86400},"#,
            r#"{"bn":"/3/0/0","vs":"Open Mobile Alliance"},"#,
            r#"{"bn":"/3/0/9","v":95}]"#
        );
        assert_eq!(text(C.encode_nodes(&nodes, &m).unwrap()), json);
        let requested = [
            path("/3/0/0"),
            path("/3/0/9"),
            path("/1/0/1"),
            path("/3/0/15"),
        ];
        let decoded = C
            .decode_nodes(json.as_bytes(), Some(&requested), &m)
            .unwrap();
        for (p, n) in &nodes {
            assert_eq!(decoded[p].as_ref(), Some(n));
        }
        assert_eq!(decoded[&path("/3/0/15")], None);
        // The spec's compact form with shared base names decodes the same.
        let compact = concat!(
            r#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},"#,
            r#"{"n":"9","v":95},"#,
            r#"{"bn":"/1/0/","n":"1","v":86400}]"#
        );
        let decoded = C
            .decode_nodes(compact.as_bytes(), Some(&requested[..3]), &m)
            .unwrap();
        for (p, n) in &nodes {
            assert_eq!(decoded[p].as_ref(), Some(n));
        }
        // Without requested paths every record stands at its own path.
        let decoded = C.decode_nodes(compact.as_bytes(), None, &m).unwrap();
        assert_eq!(
            decoded,
            nodes.iter().map(|(p, n)| (*p, Some(n.clone()))).collect()
        );
        // A record under no requested path is refused.
        assert!(C
            .decode_nodes(compact.as_bytes(), Some(&requested[..1]), &m)
            .is_err());
    }

    #[test]
    fn write_composite_mixes_levels() {
        let m = models();
        let mut nodes = BTreeMap::new();
        nodes.insert(
            path("/3/0/14"),
            LwM2mNode::Resource(LwM2mResource::single(14, Value::String("+01".into()))),
        );
        nodes.insert(
            path("/1000/1"),
            LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(
                1,
                [
                    LwM2mResource::single(3, Value::Float(43.918998)),
                    LwM2mResource::single(1, Value::Integer(2)),
                ],
            )),
        );
        let json = text(C.encode_nodes(&nodes, &m).unwrap());
        assert_eq!(
            json,
            r#"[{"bn":"/3/0/14","vs":"+01"},{"bn":"/1000/1/","n":"1","v":2},{"n":"3","v":43.918998}]"#
        );
        let keys: Vec<LwM2mPath> = nodes.keys().copied().collect();
        let decoded = C.decode_nodes(json.as_bytes(), Some(&keys), &m).unwrap();
        assert_eq!(
            decoded,
            nodes.into_iter().map(|(p, n)| (p, Some(n))).collect()
        );
    }

    /// A Send (LwM2M 1.1.1 §6.4.?, `POST /dp`) payload in the record layout of
    /// §7.4.4: a base time, relative times and several base names.
    #[test]
    fn send_payload_groups_by_time() {
        let m = models();
        let json = concat!(
            r#"[{"bn":"/1000/0/3","bt":1599046745,"v":22.4},"#,
            r#"{"t":-5,"v":22.9},"#,
            r#"{"t":-30,"v":24.1},"#,
            r#"{"bn":"/3/0/","n":"9","v":95},"#,
            r#"{"bn":"/3/0/7/","bt":1599046700,"n":"0","v":3800}]"#
        );
        let groups = C.decode_timestamped(json.as_bytes(), &m).unwrap();
        let times: Vec<Option<f64>> = groups.iter().map(|g| g.time).collect();
        assert_eq!(
            times,
            [
                Some(1_599_046_700.0),
                Some(1_599_046_715.0),
                Some(1_599_046_740.0),
                Some(1_599_046_745.0)
            ]
        );
        let last = &groups[3].nodes;
        assert_eq!(
            last[&path("/1000/0/3")],
            LwM2mNode::Resource(LwM2mResource::single(3, Value::Float(22.4)))
        );
        assert_eq!(
            last[&path("/3/0/9")],
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(95)))
        );
        assert_eq!(
            groups[0].nodes[&path("/3/0/7/0")],
            LwM2mNode::ResourceInstance(LwM2mResourceInstance {
                id: 0,
                value: Value::Integer(3800)
            })
        );
    }

    #[test]
    fn timestamped_encoding_puts_bt_on_each_group() {
        let mut at1 = BTreeMap::new();
        at1.insert(
            path("/0/0/0"),
            LwM2mNode::Resource(LwM2mResource::single(0, Value::String("TestString".into()))),
        );
        let mut at2 = BTreeMap::new();
        at2.insert(
            path("/1000/1"),
            LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(
                1,
                [
                    LwM2mResource::single(4, Value::Boolean(true)),
                    LwM2mResource::single(1, Value::Integer(123)),
                ],
            )),
        );
        let mut now = BTreeMap::new();
        now.insert(
            path("/3/0/9"),
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(7))),
        );
        let data = [
            TimestampedNodes {
                time: Some(500_000_002.0),
                nodes: at2,
            },
            TimestampedNodes {
                time: Some(500_000_001.0),
                nodes: at1,
            },
            TimestampedNodes {
                time: None,
                nodes: now,
            },
        ];
        let json = text(C.encode_timestamped(&data).unwrap());
        assert_eq!(
            json,
            concat!(
                r#"[{"bn":"/3/0/9","v":7},"#,
                r#"{"bn":"/0/0/0","bt":500000001,"vs":"TestString"},"#,
                r#"{"bn":"/1000/1/","bt":500000002,"n":"1","v":123},{"n":"4","vb":true}]"#
            )
        );
        let back = C.decode_timestamped(json.as_bytes(), &models()).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[0].time, None);
        assert_eq!(back[2].nodes.len(), 2);
    }

    #[test]
    fn json_numbers_become_senml_numbers() {
        let recs = C
            .parse_records(br#"[{"n":"/1/0/1","v":1.5,"t":2}]"#)
            .unwrap();
        assert_eq!(
            recs[0].value,
            Some(SenmlValue::Number(SenmlNumber::Float(1.5)))
        );
        assert_eq!(recs[0].time, Some(2.0));
    }

    #[test]
    fn rejects_non_finite_floats_on_encode() {
        let node = LwM2mNode::Resource(LwM2mResource::single(3, Value::Float(f64::NAN)));
        assert!(C.encode(&path("/1000/0/3"), &node, &models()).is_err());
    }
}
