//! OMA LwM2M JSON, `application/vnd.oma.lwm2m+json` (11543, and 1543 before
//! registration): LwM2M 1.0.2 Core TS §6.4.4, kept in 1.1 for compatibility.
//!
//! A payload is one object: `{"bn": base name, "bt": base time, "e": [records]}`,
//! each record with an optional name `n`, an optional time `t` relative to
//! `bt`, and one value: `v` (numbers, Time), `sv` (String, Corelnk, and Opaque
//! as standard base64), `bv` (Boolean) or `ov` (Objlnk `"3:0"`). Base name and
//! base time hold for the whole payload. The value typing and node mapping
//! are the SenML ones ([`crate::codec::senml`]).

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};

use super::senml::json_util::{self, ObjectWriter};
use super::senml::tree::{self, base_name, relative_name};
use super::senml::values::base64_standard;
use super::senml::{self as senml, SenmlRecord, SenmlValue};
use super::{ContentFormat, NodeCodec, TimestampedNodes};
use crate::model::ModelLookup;
use crate::node::{LwM2mNode, LwM2mResource};
use crate::path::LwM2mPath;
use crate::Error;

/// The OMA LwM2M JSON codec, under its registered number or the legacy one.
#[derive(Clone, Copy, Debug)]
pub struct OmaJsonCodec {
    format: ContentFormat,
}

impl OmaJsonCodec {
    pub const CURRENT: OmaJsonCodec = OmaJsonCodec {
        format: ContentFormat::OmaJson,
    };
    pub const LEGACY: OmaJsonCodec = OmaJsonCodec {
        format: ContentFormat::LegacyOmaJson,
    };

    /// Decodes timestamped records: grouped by resolved time (`bt` + `t`) in
    /// ascending order, records without time first; each record a node at
    /// its own path (single resource or resource instance).
    pub fn decode_timestamped(
        &self,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<Vec<TimestampedNodes>, Error> {
        let (_, records) = self.parse(payload)?;
        senml::decode_timestamped_records(self.format, &records, models)
    }

    /// Encodes timestamped nodes with an absolute `t` on every record and the
    /// deepest path common to all leaves as base name. Groups are merged and
    /// ordered as by [`crate::codec::senml::MultiNodeCodec::encode_timestamped`].
    pub fn encode_timestamped(&self, data: &[TimestampedNodes]) -> Result<Vec<u8>, Error> {
        let mut leaves: Vec<(LwM2mPath, Option<f64>, SenmlValue)> = Vec::new();
        for (time, nodes) in senml::normalize_timestamped(self.format, data)? {
            for (path, node) in nodes {
                for (leaf, value) in tree::leaf_values(self.format, &path, node)? {
                    leaves.push((leaf, time, value));
                }
            }
        }
        let distinct: BTreeSet<LwM2mPath> = leaves.iter().map(|(p, _, _)| *p).collect();
        let (base, single) = match (distinct.first(), distinct.len()) {
            (Some(only), 1) => (*only, true),
            _ => (common_prefix(&distinct), false),
        };
        let records: Vec<SenmlRecord> = leaves
            .into_iter()
            .map(|(leaf, time, value)| SenmlRecord {
                name: (!single).then(|| relative_name(&base, &leaf)),
                time,
                value: Some(value),
                ..SenmlRecord::default()
            })
            .collect();
        self.write(&base_name(&base, single), &records)
    }

    /// Parses the payload: the base name and the records, the root `bn` and
    /// `bt` moved onto the first record so that SenML resolution applies.
    fn parse(&self, payload: &[u8]) -> Result<(Option<String>, Vec<SenmlRecord>), Error> {
        let format = self.format;
        json_util::check_size(format, payload)?;
        if json_util::is_blank(payload) {
            return Ok((None, Vec::new()));
        }
        let Json::Object(root) = json_util::parse(format, payload, 3)? else {
            return Err(Error::decode(
                format,
                "an LwM2M JSON payload is a JSON object",
            ));
        };
        let mut bn = None;
        let mut bt = None;
        let mut entries = None;
        for (key, value) in root {
            match (key.as_str(), value) {
                ("bn", Json::String(s)) => bn = Some(s),
                ("bt", Json::Number(n)) => bt = Some(n.as_f64().unwrap_or(f64::NAN)),
                ("e", Json::Array(items)) => entries = Some(items),
                ("bn", _) => return Err(Error::decode(format, "\"bn\" must be a string")),
                ("bt", _) => return Err(Error::decode(format, "\"bt\" must be a number")),
                ("e", _) => return Err(Error::decode(format, "\"e\" must be an array of records")),
                _ => {}
            }
        }
        let entries =
            entries.ok_or_else(|| Error::decode(format, "missing the \"e\" array of records"))?;
        let mut records = entries
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::Object(fields) => self.record(i, fields),
                _ => Err(Error::decode(
                    format,
                    format!("record {i} is not a JSON object"),
                )),
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if let Some(first) = records.first_mut() {
            first.base_name = bn.clone();
            first.base_time = bt;
        }
        Ok((bn, records))
    }

    fn record(&self, index: usize, fields: Map<String, Json>) -> Result<SenmlRecord, Error> {
        let format = self.format;
        let wrong = |key: &str, expected: &str| {
            Error::decode(
                format,
                format!("record {index}: field {key:?} must be {expected}"),
            )
        };
        let mut out = SenmlRecord::default();
        for (key, value) in fields {
            let v = match (key.as_str(), value) {
                ("n", Json::String(s)) => {
                    out.name = Some(s);
                    continue;
                }
                ("t", Json::Number(n)) => {
                    out.time = Some(n.as_f64().unwrap_or(f64::NAN));
                    continue;
                }
                ("v", Json::Number(n)) => SenmlValue::Number(json_util::number(&n)),
                ("sv", Json::String(s)) => SenmlValue::String(s),
                ("bv", Json::Bool(b)) => SenmlValue::Boolean(b),
                ("ov", Json::String(s)) => SenmlValue::ObjectLink(s),
                ("n" | "sv" | "ov", _) => return Err(wrong(&key, "a string")),
                ("t" | "v", _) => return Err(wrong(&key, "a number")),
                ("bv", _) => return Err(wrong(&key, "a boolean")),
                _ => continue,
            };
            if out.value.is_some() {
                return Err(Error::decode(
                    format,
                    format!("record {index} carries two values"),
                ));
            }
            out.value = Some(v);
        }
        Ok(out)
    }

    /// Writes `{"bn":..,"e":[..]}` with record fields in the order n, value, t.
    pub(crate) fn write(&self, bn: &str, records: &[SenmlRecord]) -> Result<Vec<u8>, Error> {
        let format = self.format;
        let mut out = String::with_capacity(records.len() * 32 + 16);
        let mut root = ObjectWriter::open(&mut out);
        json_util::write_str(root.key("bn"), bn);
        let e = root.key("e");
        e.push('[');
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                e.push(',');
            }
            let mut obj = ObjectWriter::open(e);
            if let Some(n) = &r.name {
                json_util::write_str(obj.key("n"), n);
            }
            match &r.value {
                Some(SenmlValue::Number(n)) => json_util::write_number(format, obj.key("v"), n)?,
                Some(SenmlValue::String(s)) => json_util::write_str(obj.key("sv"), s),
                Some(SenmlValue::Data(d)) => {
                    json_util::write_str(obj.key("sv"), &base64_standard(d))
                }
                Some(SenmlValue::Boolean(b)) => {
                    obj.key("bv").push_str(if *b { "true" } else { "false" })
                }
                Some(SenmlValue::ObjectLink(l)) => json_util::write_str(obj.key("ov"), l),
                None => {}
            }
            if let Some(t) = r.time {
                json_util::write_time(format, obj.key("t"), t)?;
            }
            obj.close();
        }
        e.push(']');
        root.close();
        Ok(out.into_bytes())
    }
}

/// The deepest path that is an ancestor of (or equal to) every path given.
fn common_prefix(paths: &BTreeSet<LwM2mPath>) -> LwM2mPath {
    let mut iter = paths.iter();
    let Some(first) = iter.next() else {
        return LwM2mPath::ROOT;
    };
    let mut len = first.ids().len();
    for p in iter {
        len = first
            .ids()
            .iter()
            .zip(p.ids())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    LwM2mPath::from_ids(first.ids().get(..len).unwrap_or(&[])).unwrap_or(LwM2mPath::ROOT)
}

impl NodeCodec for OmaJsonCodec {
    fn format(&self) -> ContentFormat {
        self.format
    }

    /// The node's path is the base name (`/3/0/` for a container, `/3/0/9`
    /// for a single value), names are relative to it.
    fn encode(
        &self,
        path: &LwM2mPath,
        node: &LwM2mNode,
        _models: &dyn ModelLookup,
    ) -> Result<Vec<u8>, Error> {
        let path = path.without_version();
        let leaf = matches!(
            node,
            LwM2mNode::ResourceInstance(_) | LwM2mNode::Resource(LwM2mResource::Single { .. })
        );
        let mut records = tree::node_records(self.format, &path, node)?;
        for r in &mut records {
            r.base_name = None;
        }
        self.write(&base_name(&path, leaf), &records)
    }

    fn decode(
        &self,
        path: &LwM2mPath,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<LwM2mNode, Error> {
        let (_, records) = self.parse(payload)?;
        senml::decode_node_records(self.format, path, &records, models)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::codec::senml::test_support::{device_instance, models, path};
    use crate::model::ModelRegistry;
    use crate::node::{
        LwM2mObjectInstance, LwM2mResourceInstance, ObjectLink, ResourceType, Value,
    };

    const C: OmaJsonCodec = OmaJsonCodec::CURRENT;

    /// LwM2M 1.0.2 Core TS §6.4.4, Read of the Device object instance /3/0
    /// in LwM2M JSON (the instance of the TLV example of §6.4.3).
    const DEVICE_INSTANCE: &str = concat!(
        r#"{"bn":"/3/0/","e":["#,
        r#"{"n":"0","sv":"Open Mobile Alliance"},"#,
        r#"{"n":"1","sv":"Lightweight M2M Client"},"#,
        r#"{"n":"2","sv":"345000123"},"#,
        r#"{"n":"3","sv":"1.0"},"#,
        r#"{"n":"6/0","v":1},{"n":"6/1","v":5},"#,
        r#"{"n":"7/0","v":3800},{"n":"7/1","v":5000},"#,
        r#"{"n":"8/0","v":125},{"n":"8/1","v":900},"#,
        r#"{"n":"9","v":100},"#,
        r#"{"n":"10","v":15},"#,
        r#"{"n":"11/0","v":0},"#,
        r#"{"n":"13","v":1367491215},"#,
        r#"{"n":"14","sv":"+02:00"},"#,
        r#"{"n":"16","sv":"U"}]}"#
    );

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn spec_1_0_2_6_4_4_device_instance_encodes_exactly() {
        let node = LwM2mNode::ObjectInstance(device_instance());
        assert_eq!(
            text(C.encode(&path("/3/0"), &node, &models()).unwrap()),
            DEVICE_INSTANCE
        );
        assert_eq!(
            text(
                OmaJsonCodec::LEGACY
                    .encode(&path("/3/0"), &node, &models())
                    .unwrap()
            ),
            DEVICE_INSTANCE
        );
    }

    #[test]
    fn spec_1_0_2_6_4_4_device_instance_decodes() {
        let node = C
            .decode(&path("/3/0"), DEVICE_INSTANCE.as_bytes(), &models())
            .unwrap();
        assert_eq!(node, LwM2mNode::ObjectInstance(device_instance()));
        // Base name "/" with full names, and no base name at all (names as paths).
        let with_root = DEVICE_INSTANCE
            .replace(r#""bn":"/3/0/""#, r#""bn":"/""#)
            .replace(r#""n":""#, r#""n":"3/0/"#);
        assert_eq!(
            C.decode(&path("/3/0"), with_root.as_bytes(), &models())
                .unwrap(),
            node
        );
        let without = DEVICE_INSTANCE
            .replace(r#""bn":"/3/0/","#, "")
            .replace(r#""n":""#, r#""n":"/3/0/"#);
        assert_eq!(
            C.decode(&path("/3/0"), without.as_bytes(), &models())
                .unwrap(),
            node
        );
    }

    /// LwM2M 1.0.2 §6.4.4: one resource read over time, `bt` with negative `t`.
    #[test]
    fn spec_1_0_2_6_4_4_timestamped_resource() {
        let json = r#"{"bn":"/3303/0/5700","bt":25462634,"e":[{"v":22.4,"t":-5},{"v":22.9,"t":-30},{"v":24.1,"t":-50}]}"#;
        let groups = C
            .decode_timestamped(json.as_bytes(), &ModelRegistry::new())
            .unwrap();
        let got: Vec<(Option<f64>, LwM2mNode)> = groups
            .iter()
            .map(|g| (g.time, g.nodes[&path("/3303/0/5700")].clone()))
            .collect();
        let res = |v| LwM2mNode::Resource(LwM2mResource::single(5700, Value::Float(v)));
        assert_eq!(
            got,
            [
                (Some(25_462_584.0), res(24.1)),
                (Some(25_462_604.0), res(22.9)),
                (Some(25_462_629.0), res(22.4)),
            ]
        );
        // Encoded back with absolute times and the resource path as base name.
        let data: Vec<TimestampedNodes> = groups;
        assert_eq!(
            text(C.encode_timestamped(&data).unwrap()),
            r#"{"bn":"/3303/0/5700","e":[{"v":24.1,"t":25462584},{"v":22.9,"t":25462604},{"v":22.4,"t":25462629}]}"#
        );
    }

    #[test]
    fn timestamped_instances_use_the_common_prefix() {
        let json = concat!(
            r#"{"bn":"/1000/0/","e":[{"n":"3","v":22.9,"t":-30},{"n":"3","v":22.4,"t":-5},"#,
            r#"{"n":"0","sv":"a string","t":-5},{"n":"3","v":24.1,"t":-50}],"bt":25462634}"#
        );
        let groups = C.decode_timestamped(json.as_bytes(), &models()).unwrap();
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[2].nodes.len(), 2);
        assert_eq!(
            groups[2].nodes[&path("/1000/0/0")],
            LwM2mNode::Resource(LwM2mResource::single(0, Value::String("a string".into())))
        );
        let out = text(C.encode_timestamped(&groups).unwrap());
        assert_eq!(
            out,
            concat!(
                r#"{"bn":"/1000/0/","e":[{"n":"3","v":24.1,"t":25462584},{"n":"3","v":22.9,"t":25462604},"#,
                r#"{"n":"0","sv":"a string","t":25462629},{"n":"3","v":22.4,"t":25462629}]}"#
            )
        );
        assert_eq!(
            C.decode_timestamped(out.as_bytes(), &models()).unwrap(),
            groups
        );
    }

    #[test]
    fn every_value_type_has_its_field() {
        let m = models();
        let inst = LwM2mObjectInstance::new(
            0,
            [
                LwM2mResource::single(0, Value::String("s".into())),
                LwM2mResource::single(1, Value::Integer(-5)),
                LwM2mResource::single(3, Value::Float(10.5)),
                LwM2mResource::single(4, Value::Boolean(true)),
                LwM2mResource::single(5, Value::Opaque(vec![1, 2, 3, 4, 5])),
                LwM2mResource::single(6, Value::Time(1_367_491_215)),
                LwM2mResource::single(
                    7,
                    Value::ObjectLink(ObjectLink {
                        object: 66,
                        instance: 1,
                    }),
                ),
                LwM2mResource::single(8, Value::CoreLink("</1>".into())),
                LwM2mResource::multiple(
                    107,
                    ResourceType::ObjectLink,
                    [(0, Value::ObjectLink(ObjectLink::NULL))],
                )
                .unwrap(),
            ],
        );
        let json = concat!(
            r#"{"bn":"/1000/0/","e":[{"n":"0","sv":"s"},{"n":"1","v":-5},{"n":"3","v":10.5},{"n":"4","bv":true},"#,
            r#"{"n":"5","sv":"AQIDBAU="},{"n":"6","v":1367491215},{"n":"7","ov":"66:1"},{"n":"8","sv":"</1>"},"#,
            r#"{"n":"107/0","ov":"65535:65535"}]}"#
        );
        let node = LwM2mNode::ObjectInstance(inst);
        assert_eq!(text(C.encode(&path("/1000/0"), &node, &m).unwrap()), json);
        assert_eq!(
            C.decode(&path("/1000/0"), json.as_bytes(), &m).unwrap(),
            node
        );
    }

    #[test]
    fn leaf_levels_use_the_path_as_base_name() {
        let m = models();
        let single = LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(100)));
        let json = r#"{"bn":"/3/0/9","e":[{"v":100}]}"#;
        assert_eq!(text(C.encode(&path("/3/0/9"), &single, &m).unwrap()), json);
        assert_eq!(
            C.decode(&path("/3/0/9"), json.as_bytes(), &m).unwrap(),
            single
        );
        let ri = LwM2mNode::ResourceInstance(LwM2mResourceInstance {
            id: 1,
            value: Value::Integer(5000),
        });
        let json = r#"{"bn":"/3/0/7/1","e":[{"v":5000}]}"#;
        assert_eq!(text(C.encode(&path("/3/0/7/1"), &ri, &m).unwrap()), json);
        assert_eq!(
            C.decode(&path("/3/0/7/1"), json.as_bytes(), &m).unwrap(),
            ri
        );
        let empty = LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(0, []));
        let json = r#"{"bn":"/3/0/","e":[]}"#;
        assert_eq!(text(C.encode(&path("/3/0"), &empty, &m).unwrap()), json);
        assert_eq!(C.decode(&path("/3/0"), json.as_bytes(), &m).unwrap(), empty);
    }

    #[test]
    fn empty_resource_lists() {
        let m = models();
        assert!(C
            .decode(&path("/3/0"), b"{}", &m)
            .unwrap_err()
            .to_string()
            .contains("missing"));
        let LwM2mNode::Resource(r) = C.decode(&path("/3/0/6"), br#"{"e":[]}"#, &m).unwrap() else {
            panic!()
        };
        assert!(r.is_multiple());
        assert!(C
            .decode(&path("/3/0/9"), br#"{"bn":"/3/0/9","e":[]}"#, &m)
            .is_err());
    }

    #[test]
    fn rejects_malformed_payloads_with_reasons() {
        let m = models();
        let cases = [
            (r#"[]"#, "JSON object"),
            (r#"{"e":{}}"#, "must be an array"),
            (r#"{"bn":1,"e":[]}"#, "\"bn\" must be a string"),
            (r#"{"e":[{"n":"/3/0/9"}]}"#, "no value"),
            (r#"{"e":[{"n":"/3/0/9","v":1,"sv":"1"}]}"#, "two values"),
            (
                r#"{"e":[{"n":"/3/0/1","sv":"a"},{"n":"/3/0/1","sv":"b"}]}"#,
                "two records",
            ),
            (
                r#"{"bn":"3/0/11/","e":[{"n":"1","v":2},{"n":"1","v":0}]}"#,
                "two records",
            ),
            (r#"{"e":[{"n":"/3/0/9","v":[1]}]}"#, "nesting"),
            (r#"{"e":[{"n":"/3/0/9","bv":"x"}]}"#, "must be a boolean"),
            (r#"{"e":[{"n":"/3/0/0","v":1}]}"#, "carries `v`"),
        ];
        for (json, reason) in cases {
            let err = C
                .decode(&path("/3/0"), json.as_bytes(), &m)
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{json}: {err}");
            assert!(err.contains("11543"), "{err}");
        }
    }

    #[test]
    fn base_name_cut_in_the_middle_of_an_id() {
        let json = r#"{"bn":"3/0/1","e":[{"n":"1/0","v":0},{"n":"1/1","v":0}]}"#;
        let LwM2mNode::Resource(r) = C
            .decode(&path("/3/0/11"), json.as_bytes(), &models())
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            r,
            LwM2mResource::multiple(
                11,
                ResourceType::Integer,
                [(0, Value::Integer(0)), (1, Value::Integer(0))]
            )
            .unwrap()
        );
    }

    #[test]
    fn common_prefix_of_paths() {
        let set = |ps: &[&str]| ps.iter().map(|p| path(p)).collect::<BTreeSet<_>>();
        assert_eq!(common_prefix(&set(&["/3/0/9", "/3/0/7/1"])), path("/3/0"));
        assert_eq!(common_prefix(&set(&["/3/0/9", "/4/0/1"])), LwM2mPath::ROOT);
        assert_eq!(common_prefix(&set(&["/3/0/9", "/3/1/9"])), path("/3"));
        assert_eq!(common_prefix(&set(&[])), LwM2mPath::ROOT);
        let mut nodes = BTreeMap::new();
        nodes.insert(
            path("/3/0/9"),
            LwM2mNode::Resource(LwM2mResource::single(9, Value::Integer(1))),
        );
        nodes.insert(
            path("/4/0/1"),
            LwM2mNode::Resource(LwM2mResource::single(1, Value::Integer(2))),
        );
        let out = C
            .encode_timestamped(&[TimestampedNodes { time: None, nodes }])
            .unwrap();
        assert_eq!(
            text(out),
            r#"{"bn":"/","e":[{"n":"3/0/9","v":1},{"n":"4/0/1","v":2}]}"#
        );
    }
}
