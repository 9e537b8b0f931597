//! The SenML record model (RFC 8428) and its mapping to LwM2M nodes, shared by
//! SenML JSON (110, LwM2M 1.1.1 Core TS §7.4.4), SenML CBOR (112, §7.4.5) and,
//! for the value and node mapping, the legacy OMA LwM2M JSON format (11543).
//!
//! A payload goes through three steps, each in its own module:
//!
//! 1. syntax: JSON or CBOR bytes ⇄ a list of [`SenmlRecord`]s (in `senml_json`,
//!    `senml_cbor`, `oma_json`);
//! 2. [`resolve`]: base name and base time inheritance (RFC 8428 §4.5.1, §4.5.3)
//!    turn each record into a full LwM2M path, a time and a raw value;
//! 3. [`values`] and [`tree`]: raw values become typed [`Value`]s with the help
//!    of the object model, and leaves are assembled into the node standing at
//!    the requested path (or the reverse when encoding).
//!
//! # Typing rules when decoding
//!
//! SenML's `v` carries every number, so the object model decides whether it is
//! an Integer, Unsigned Integer, Float or Time. *The model wins* when it knows
//! the resource; a value that does not fit its type (3.5 for an Integer, -1 for
//! an Unsigned Integer, `vs` for a Boolean) is an error naming the path. Without
//! a model the value's own form decides: a number written as an integer
//! (JSON without fraction or exponent, CBOR major type 0/1) is an Integer (an
//! Unsigned Integer above `i64::MAX`), any other number is a Float; `vs` is a
//! String, `vb` a Boolean, `vd` Opaque and `vlo` an Objlnk. The instances of a
//! multiple resource share one type: without a model, mixed Integer and Float
//! instances become Float.
//!
//! A record named with four path levels (`/3/0/7/1`) belongs to a
//! multiple-instance resource; with the model, a resource declared multiple is
//! multiple even when it holds a single instance or none.
//!
//! # Encoding
//!
//! Output is deterministic: leaves are sorted by path and every record writes
//! its fields in the fixed order `bn`, `bt`, `n`, `t`, value. The node at a path
//! gets the path as base name on its first record, as in the specification's
//! examples: a single resource `[{"bn":"/3/0/0","vs":"..."}]`, a container
//! `[{"bn":"/3/0/","n":"0",...},{"n":"7/0",...}]`.

pub(crate) mod cbor_wire;
pub(crate) mod json_util;
pub(crate) mod resolve;
pub(crate) mod tree;
pub(crate) mod values;

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
pub(crate) mod proptests;
#[cfg(test)]
pub(crate) mod test_support;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::codec::{ContentFormat, TimestampedNodes};
use crate::model::ModelLookup;
use crate::node::{LwM2mNode, Value};
use crate::path::LwM2mPath;
use crate::Error;

use resolve::Resolved;

/// Payloads above this size are refused before parsing: SenML from a device
/// is a few kilobytes, and a bound keeps a hostile payload from costing more
/// than a small multiple of it in memory.
pub const MAX_PAYLOAD_LEN: usize = 4 * 1024 * 1024;

/// Refuses payloads above [`MAX_PAYLOAD_LEN`], whatever their format (the
/// JSON, CBOR and LwM2M CBOR decoders all start here).
pub(crate) fn check_size(format: ContentFormat, payload: &[u8]) -> Result<(), Error> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(Error::decode(
            format,
            format!(
                "payload of {} bytes is above the limit of {MAX_PAYLOAD_LEN}",
                payload.len()
            ),
        ));
    }
    Ok(())
}

/// A SenML number as carried: integers keep their exact value (CBOR integers
/// span -2^64..2^64), other numbers are `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SenmlNumber {
    Integer(i128),
    Float(f64),
}

impl SenmlNumber {
    pub fn as_f64(&self) -> f64 {
        match self {
            SenmlNumber::Integer(i) => *i as f64,
            SenmlNumber::Float(f) => *f,
        }
    }
}

/// The value fields of a SenML record (RFC 8428 §4.2, plus LwM2M's `vlo`).
#[derive(Clone, Debug, PartialEq)]
pub enum SenmlValue {
    /// `v`
    Number(SenmlNumber),
    /// `vs`
    String(String),
    /// `vb`
    Boolean(bool),
    /// `vd`: raw bytes (base64url in JSON, a byte string in CBOR).
    Data(Vec<u8>),
    /// `vlo`: an LwM2M object link as text, `"3:0"`.
    ObjectLink(String),
}

impl SenmlValue {
    /// The SenML field name, for error messages.
    pub fn field(&self) -> &'static str {
        match self {
            SenmlValue::Number(_) => "v",
            SenmlValue::String(_) => "vs",
            SenmlValue::Boolean(_) => "vb",
            SenmlValue::Data(_) => "vd",
            SenmlValue::ObjectLink(_) => "vlo",
        }
    }
}

/// One SenML record as it stands on the wire, before base fields are resolved.
///
/// `bver`, units, sums and update times are not kept: LwM2M does not use them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SenmlRecord {
    pub base_name: Option<String>,
    pub base_time: Option<f64>,
    pub name: Option<String>,
    pub time: Option<f64>,
    pub value: Option<SenmlValue>,
}

/// SenML JSON and SenML CBOR: the operations on several nodes at once that
/// the composite operations, Send and timestamped notifications need.
///
/// An implementation supplies the syntax (`parse_records`, `write_records`);
/// every mapping to and from nodes is shared.
pub trait MultiNodeCodec {
    fn content_format(&self) -> ContentFormat;

    /// Parses a payload into records. An empty payload is an empty pack.
    fn parse_records(&self, payload: &[u8]) -> Result<Vec<SenmlRecord>, Error>;

    /// Writes records; deterministic for equal input.
    fn write_records(&self, records: &[SenmlRecord]) -> Result<Vec<u8>, Error>;

    /// Encodes the node standing at `path` (what [`crate::codec::NodeCodec::encode`] does).
    fn encode_node(&self, path: &LwM2mPath, node: &LwM2mNode) -> Result<Vec<u8>, Error> {
        let records = tree::node_records(self.content_format(), path, node)?;
        self.write_records(&records)
    }

    /// Decodes the node standing at `path` (what [`crate::codec::NodeCodec::decode`] does).
    fn decode_node(
        &self,
        path: &LwM2mPath,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<LwM2mNode, Error> {
        let records = self.parse_records(payload)?;
        decode_node_records(self.content_format(), path, &records, models)
    }

    /// Encodes several nodes, each keyed by the path it stands at (Read-Composite
    /// responses, Write-Composite requests, Observe-Composite notifications).
    /// Each node starts with its own base name.
    fn encode_nodes(
        &self,
        nodes: &BTreeMap<LwM2mPath, LwM2mNode>,
        _models: &dyn ModelLookup,
    ) -> Result<Vec<u8>, Error> {
        let mut records = Vec::new();
        for (path, node) in nodes {
            records.extend(tree::node_records(self.content_format(), path, node)?);
        }
        self.write_records(&records)
    }

    /// Decodes a composite payload.
    ///
    /// With `requested` paths, the result holds one entry per requested path:
    /// the node built from the records under it, or `None` when no record
    /// falls under it; a record under no requested path is an error. Without,
    /// every record becomes its own entry at its own path: a single resource
    /// (`/3/0/9`) or a resource instance (`/3/0/7/1`).
    fn decode_nodes(
        &self,
        payload: &[u8],
        requested: Option<&[LwM2mPath]>,
        models: &dyn ModelLookup,
    ) -> Result<BTreeMap<LwM2mPath, Option<LwM2mNode>>, Error> {
        let format = self.content_format();
        let records = self.parse_records(payload)?;
        let leaves = typed_leaves(format, resolve::resolve(format, &records)?, models)?;
        check_duplicates(format, &leaves)?;
        let leaves: Vec<(LwM2mPath, Value)> =
            leaves.into_iter().map(|l| (l.path, l.value)).collect();
        match requested {
            None => {
                let mut out = BTreeMap::new();
                for (path, value) in leaves {
                    out.insert(path, Some(tree::leaf_node(format, &path, value, models)?));
                }
                Ok(out)
            }
            Some(requested) => {
                if let Some((orphan, _)) = leaves.iter().find(|(p, _)| {
                    !requested
                        .iter()
                        .any(|r| r.without_version().is_prefix_of(p))
                }) {
                    return Err(Error::decode(
                        format,
                        format!("record {orphan} is not under any requested path"),
                    ));
                }
                let mut out = BTreeMap::new();
                for req in requested {
                    let at = req.without_version();
                    let under: Vec<(LwM2mPath, Value)> = leaves
                        .iter()
                        .filter(|(p, _)| at.is_prefix_of(p))
                        .cloned()
                        .collect();
                    let node = if under.is_empty() {
                        None
                    } else {
                        tree::build_node(format, &at, under, models)?
                    };
                    out.insert(*req, node);
                }
                Ok(out)
            }
        }
    }

    /// Encodes the paths of a Read-Composite or Observe-Composite request:
    /// one record per path carrying only `n`, in the given order.
    fn encode_paths(&self, paths: &[LwM2mPath]) -> Result<Vec<u8>, Error> {
        let records: Vec<SenmlRecord> = paths
            .iter()
            .map(|p| SenmlRecord {
                name: Some(p.without_version().to_string()),
                ..SenmlRecord::default()
            })
            .collect();
        self.write_records(&records)
    }

    /// Decodes the paths of a Read-Composite or Observe-Composite request, in
    /// payload order. Base names apply; values and times, if any, are ignored.
    fn decode_paths(&self, payload: &[u8]) -> Result<Vec<LwM2mPath>, Error> {
        let records = self.parse_records(payload)?;
        Ok(resolve::resolve(self.content_format(), &records)?
            .into_iter()
            .map(|r| r.path)
            .collect())
    }

    /// Encodes timestamped nodes (Send, timestamped notifications).
    ///
    /// Groups with equal times are merged and written in time order, the
    /// group without time first (so that no base time has to be cancelled);
    /// the first record of each group carries the time as `bt`.
    fn encode_timestamped(&self, data: &[TimestampedNodes]) -> Result<Vec<u8>, Error> {
        let format = self.content_format();
        let mut records = Vec::new();
        for (time, nodes) in normalize_timestamped(format, data)? {
            let start = records.len();
            for (path, node) in nodes {
                records.extend(tree::node_records(format, &path, node)?);
            }
            if let Some(first) = records.get_mut(start) {
                first.base_time = time;
            }
        }
        self.write_records(&records)
    }

    /// Decodes timestamped records (Send, timestamped notifications).
    ///
    /// Records are grouped by resolved time (`bt` + `t`, still relative when
    /// below 2^28, see [`TimestampedNodes::absolute_time`]); groups come in
    /// ascending time, the group of records without any time first. Inside a
    /// group each record is a node at its own path, as with
    /// [`MultiNodeCodec::decode_nodes`] without requested paths.
    fn decode_timestamped(
        &self,
        payload: &[u8],
        models: &dyn ModelLookup,
    ) -> Result<Vec<TimestampedNodes>, Error> {
        let records = self.parse_records(payload)?;
        decode_timestamped_records(self.content_format(), &records, models)
    }
}

/// A leaf after typing: its path, time and value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TypedLeaf {
    pub path: LwM2mPath,
    pub time: Option<f64>,
    pub value: Value,
}

/// Types every resolved record with the model; a record without value is an
/// error here (only path lists may omit values).
pub(crate) fn typed_leaves(
    format: ContentFormat,
    resolved: Vec<Resolved>,
    models: &dyn ModelLookup,
) -> Result<Vec<TypedLeaf>, Error> {
    resolved
        .into_iter()
        .map(|r| {
            let raw = r.value.ok_or_else(|| {
                Error::decode(
                    format,
                    format!("record {} ({}) has no value", r.index, r.path),
                )
            })?;
            let value = values::typed_value(format, &r.path, raw, models)?;
            Ok(TypedLeaf {
                path: r.path,
                time: r.time,
                value,
            })
        })
        .collect()
}

/// Rejects two records for one path: a node cannot hold two values, and a
/// time series has to be decoded as timestamped data.
fn check_duplicates(format: ContentFormat, leaves: &[TypedLeaf]) -> Result<(), Error> {
    let mut seen = std::collections::BTreeSet::new();
    for leaf in leaves {
        if !seen.insert(leaf.path) {
            return Err(Error::decode(
                format,
                format!(
                    "two records for {}; a time series must be decoded as timestamped data",
                    leaf.path
                ),
            ));
        }
    }
    Ok(())
}

/// Builds the node at `path` from parsed records (single-node decode).
pub(crate) fn decode_node_records(
    format: ContentFormat,
    path: &LwM2mPath,
    records: &[SenmlRecord],
    models: &dyn ModelLookup,
) -> Result<LwM2mNode, Error> {
    let at = path.without_version();
    let leaves = typed_leaves(format, resolve::resolve(format, records)?, models)?;
    check_duplicates(format, &leaves)?;
    if let Some(out) = leaves.iter().find(|l| !at.is_prefix_of(&l.path)) {
        return Err(Error::decode(
            format,
            format!("record {} is outside the requested path {at}", out.path),
        ));
    }
    let leaves = leaves.into_iter().map(|l| (l.path, l.value)).collect();
    tree::build_node(format, &at, leaves, models)?
        .ok_or_else(|| Error::decode(format, format!("no record for {at}")))
}

/// Groups parsed records by time, each record a node at its own path.
pub(crate) fn decode_timestamped_records(
    format: ContentFormat,
    records: &[SenmlRecord],
    models: &dyn ModelLookup,
) -> Result<Vec<TimestampedNodes>, Error> {
    let leaves = typed_leaves(format, resolve::resolve(format, records)?, models)?;
    let mut groups: BTreeMap<TimeKey, BTreeMap<LwM2mPath, LwM2mNode>> = BTreeMap::new();
    for leaf in leaves {
        let key = TimeKey::new(leaf.time);
        let node = tree::leaf_node(format, &leaf.path, leaf.value, models)?;
        let group = groups.entry(key).or_default();
        if group.insert(leaf.path, node).is_some() {
            return Err(Error::decode(
                format,
                format!("two records for {} at the same time", leaf.path),
            ));
        }
    }
    Ok(groups
        .into_iter()
        .map(|(k, nodes)| TimestampedNodes { time: k.0, nodes })
        .collect())
}

/// The nodes observed at one time, borrowed from the caller's data.
pub(crate) type TimeGroup<'a> = (Option<f64>, Vec<(LwM2mPath, &'a LwM2mNode)>);

/// Merges groups of equal time and orders them: no time first, then ascending.
/// Paths lose their object version; a path given twice at one time is an error.
pub(crate) fn normalize_timestamped(
    format: ContentFormat,
    data: &[TimestampedNodes],
) -> Result<Vec<TimeGroup<'_>>, Error> {
    let mut groups: BTreeMap<TimeKey, BTreeMap<LwM2mPath, &LwM2mNode>> = BTreeMap::new();
    for entry in data {
        if let Some(t) = entry.time {
            if !t.is_finite() {
                return Err(Error::encode(
                    format,
                    format!("time {t} is not a finite number"),
                ));
            }
        }
        let group = groups.entry(TimeKey::new(entry.time)).or_default();
        for (path, node) in &entry.nodes {
            let path = path.without_version();
            if group.insert(path, node).is_some() {
                return Err(Error::encode(
                    format,
                    format!("two nodes for {path} at the same time"),
                ));
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|(k, nodes)| (k.0, nodes.into_iter().collect()))
        .collect())
}

/// A time used as a map key: `None` first, then by value (`-0` is `0`; NaN
/// never gets here because resolution and encoding reject it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeKey(pub Option<f64>);

impl TimeKey {
    pub fn new(time: Option<f64>) -> Self {
        // Adding +0.0 turns -0.0 into +0.0 and leaves every other value alone.
        TimeKey(time.map(|t| t + 0.0))
    }
}

impl Ord for TimeKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.0, other.0) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => a.total_cmp(&b),
        }
    }
}

impl PartialOrd for TimeKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for TimeKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for TimeKey {}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixtures they built
mod tests {
    use super::*;

    #[test]
    fn time_keys_order_none_first_and_merge_signed_zero() {
        let mut keys = [
            TimeKey::new(Some(5.0)),
            TimeKey::new(None),
            TimeKey::new(Some(-1.5)),
        ];
        keys.sort();
        assert_eq!(
            keys.iter().map(|k| k.0).collect::<Vec<_>>(),
            [None, Some(-1.5), Some(5.0)]
        );
        assert_eq!(TimeKey::new(Some(-0.0)), TimeKey::new(Some(0.0)));
        assert!(TimeKey::new(Some(-0.0))
            .0
            .is_some_and(|t| t.is_sign_positive()));
    }

    #[test]
    fn number_as_f64() {
        assert_eq!(SenmlNumber::Integer(-3).as_f64(), -3.0);
        assert_eq!(SenmlNumber::Float(2.5).as_f64(), 2.5);
    }

    #[test]
    fn value_fields_name_the_senml_label() {
        assert_eq!(SenmlValue::Number(SenmlNumber::Integer(1)).field(), "v");
        assert_eq!(SenmlValue::String(String::new()).field(), "vs");
        assert_eq!(SenmlValue::Boolean(true).field(), "vb");
        assert_eq!(SenmlValue::Data(vec![]).field(), "vd");
        assert_eq!(SenmlValue::ObjectLink("3:0".into()).field(), "vlo");
    }
}
