//! The LwM2M CBOR wire form: nested CBOR maps keyed by path components.
//!
//! A key is one id (an unsigned integer) or an array of ids that stands for a
//! chain of single-key maps (`{[3, 0]: {9: 100}}` is `{3: {0: {9: 100}}}`).
//! A value is either a map one level down or the leaf: a scalar, or `null` (a
//! path without value, as Read-Composite requests carry). Keys add up to at
//! most four ids (object, instance, resource, resource instance); maps and
//! arrays of either length form are accepted.
//!
//! Reading recurses once per map level; every level adds at least one id to a
//! path of at most four, so the depth is bounded by the format itself and no
//! count read from the input is allocated ahead of the bytes it announces.

use std::collections::BTreeMap;

use crate::codec::cbor::item::{
    self, Item, Reader, Tagged, AI_INDEFINITE, MAJOR_ARRAY, MAJOR_MAP, MAJOR_NEGINT, MAJOR_UINT,
};
use crate::codec::senml::{SenmlNumber, SenmlValue};

/// The deepest path: object / instance / resource / resource instance.
const MAX_DEPTH: usize = 4;

/// Tag 1: epoch-based date/time in seconds (RFC 8949 §3.4.2), accepted on Time values.
const TAG_EPOCH_TIME: u64 = 1;

/// One leaf: the full path ids and the value, `None` for CBOR `null`.
pub(super) type Leaf = (Vec<u16>, Option<SenmlValue>);

/// Reads a payload into its leaves, in payload order.
pub(super) fn read(payload: &[u8]) -> Result<Vec<Leaf>, String> {
    let mut r = Reader::new(payload);
    let (major, ai) = r.initial()?;
    if major != MAJOR_MAP {
        return Err("the payload is not a CBOR map (LwM2M CBOR starts with a map of paths)".into());
    }
    let mut out = Vec::new();
    read_map(&mut r, ai, &[], &mut out)?;
    if !r.at_end() {
        return Err(format!(
            "trailing bytes after the top-level map (at byte {})",
            r.pos()
        ));
    }
    Ok(out)
}

/// The number of entries a container head announces, `None` when indefinite.
fn count(r: &mut Reader<'_>, ai: u8) -> Result<Option<u64>, String> {
    if ai == AI_INDEFINITE {
        Ok(None)
    } else {
        r.argument(ai).map(Some)
    }
}

/// True when the container whose `index`-th member comes next has ended
/// (consuming the "break" of an indefinite one).
fn ended(r: &mut Reader<'_>, len: Option<u64>, index: u64) -> bool {
    match len {
        Some(n) => index >= n,
        None => r.take_break(),
    }
}

fn read_map(r: &mut Reader<'_>, ai: u8, prefix: &[u16], out: &mut Vec<Leaf>) -> Result<(), String> {
    let len = count(r, ai)?;
    let mut index = 0;
    while !ended(r, len, index) {
        index += 1;
        let mut path = prefix.to_vec();
        read_key(r, &mut path)?;
        read_value(r, path, out)?;
    }
    Ok(())
}

fn read_key(r: &mut Reader<'_>, path: &mut Vec<u16>) -> Result<(), String> {
    let at = r.pos();
    let (major, ai) = r.initial()?;
    match major {
        MAJOR_UINT => push_id(path, r.argument(ai)?, at),
        MAJOR_ARRAY => {
            let len = count(r, ai)?;
            let mut index = 0;
            while !ended(r, len, index) {
                index += 1;
                let id_at = r.pos();
                let (major, ai) = r.initial()?;
                if major != MAJOR_UINT {
                    return Err(format!(
                        "the path array at byte {at} holds a non-integer at byte {id_at}"
                    ));
                }
                push_id(path, r.argument(ai)?, id_at)?;
            }
            if index == 0 {
                return Err(format!("the key at byte {at} is an empty path array"));
            }
            Ok(())
        }
        _ => Err(format!(
            "the key at byte {at} is neither an id nor an array of ids"
        )),
    }
}

fn push_id(path: &mut Vec<u16>, id: u64, at: usize) -> Result<(), String> {
    let id = u16::try_from(id)
        .ok()
        .filter(|id| *id != u16::MAX)
        .ok_or_else(|| format!("the id {id} at byte {at} is not an LwM2M id (0..65534)"))?;
    if path.len() >= MAX_DEPTH {
        return Err(format!(
            "the path at byte {at} is deeper than a resource instance"
        ));
    }
    path.push(id);
    Ok(())
}

fn read_value(r: &mut Reader<'_>, path: Vec<u16>, out: &mut Vec<Leaf>) -> Result<(), String> {
    let at = r.pos();
    let major = r.peek().map(|b| b >> 5);
    if major == Some(MAJOR_MAP) {
        let (_, ai) = r.initial()?;
        return read_map(r, ai, &path, out);
    }
    let tagged = r.tagged().map_err(|e| format!("{}: {e}", render(&path)))?;
    let value = leaf_value(tagged).map_err(|e| format!("{} (byte {at}): {e}", render(&path)))?;
    out.push((path, value));
    Ok(())
}

fn leaf_value(tagged: Tagged) -> Result<Option<SenmlValue>, String> {
    let Tagged { tag, item } = tagged;
    match (tag, &item) {
        (None, _) => {}
        (Some(TAG_EPOCH_TIME), Item::Uint(_) | Item::NegInt(_) | Item::Float(_)) => {}
        (Some(TAG_EPOCH_TIME), _) => return Err("tag 1 (epoch time) on a non-number".into()),
        (Some(other), _) => return Err(format!("tag {other} has no LwM2M CBOR meaning")),
    }
    Ok(Some(match item {
        Item::Uint(u) => SenmlValue::Number(SenmlNumber::Integer(i128::from(u))),
        Item::NegInt(n) => SenmlValue::Number(SenmlNumber::Integer(-1 - i128::from(n))),
        Item::Float(f) => SenmlValue::Number(SenmlNumber::Float(f)),
        Item::Bool(b) => SenmlValue::Boolean(b),
        Item::Text(s) => SenmlValue::String(s),
        Item::Bytes(b) => SenmlValue::Data(b),
        Item::Null => return Ok(None),
        Item::Undefined => return Err("undefined is not a value".into()),
    }))
}

fn render(ids: &[u16]) -> String {
    ids.iter().map(|id| format!("/{id}")).collect()
}

/// A path trie: a node may carry a leaf (`Some(None)` is a `null` leaf) and children.
#[derive(Default)]
struct Trie<'a> {
    leaf: Option<Option<&'a SenmlValue>>,
    children: BTreeMap<u16, Trie<'a>>,
}

/// A map entry to write: its key ids and either a leaf or a nested map.
enum Entry<'a> {
    Leaf(Option<&'a SenmlValue>),
    Map(Vec<(Vec<u16>, Entry<'a>)>),
}

/// Writes leaves as nested maps in id order; a chain of single-child maps
/// becomes one array key (`{[3, 0, 9]: 100}`), so every path level costs
/// one id and no map of its own unless it branches. Deterministic for equal
/// input; two leaves at one path are an error.
pub(super) fn write(leaves: &[(Vec<u16>, Option<&SenmlValue>)]) -> Result<Vec<u8>, String> {
    let mut root = Trie::default();
    for (ids, value) in leaves {
        if ids.is_empty() {
            return Err("the root path carries no value".into());
        }
        let mut node = &mut root;
        for id in ids {
            node = node.children.entry(*id).or_default();
        }
        if node.leaf.replace(*value).is_some() {
            return Err(format!("two values for {}", render(ids)));
        }
    }
    let mut entries = Vec::new();
    for (id, child) in &root.children {
        chain(vec![*id], child, &mut entries);
    }
    let mut out = Vec::new();
    write_map(&mut out, &entries)?;
    Ok(out)
}

fn chain<'a>(mut key: Vec<u16>, mut node: &'a Trie<'a>, out: &mut Vec<(Vec<u16>, Entry<'a>)>) {
    while node.leaf.is_none() && node.children.len() == 1 {
        let Some((id, child)) = node.children.iter().next() else {
            break;
        };
        key.push(*id);
        node = child;
    }
    match node.leaf {
        // A leaf with children below (paths of a Read-Composite request that
        // nest): the children follow in the same map under longer keys.
        Some(value) => {
            out.push((key.clone(), Entry::Leaf(value)));
            for (id, child) in &node.children {
                let mut longer = key.clone();
                longer.push(*id);
                chain(longer, child, out);
            }
        }
        None => {
            let mut inner = Vec::new();
            for (id, child) in &node.children {
                chain(vec![*id], child, &mut inner);
            }
            out.push((key, Entry::Map(inner)));
        }
    }
}

fn write_map(out: &mut Vec<u8>, entries: &[(Vec<u16>, Entry<'_>)]) -> Result<(), String> {
    item::write_head(out, MAJOR_MAP, entries.len() as u64);
    for (key, entry) in entries {
        if let [id] = key.as_slice() {
            item::write_uint(out, u64::from(*id));
        } else {
            item::write_head(out, MAJOR_ARRAY, key.len() as u64);
            for id in key {
                item::write_uint(out, u64::from(*id));
            }
        }
        match entry {
            Entry::Leaf(value) => write_value(out, *value)?,
            Entry::Map(inner) => write_map(out, inner)?,
        }
    }
    Ok(())
}

/// CBOR `null`.
const NULL: u8 = 0xf6;

fn write_value(out: &mut Vec<u8>, value: Option<&SenmlValue>) -> Result<(), String> {
    match value {
        None => out.push(NULL),
        Some(SenmlValue::Number(SenmlNumber::Integer(i))) => {
            if let Ok(u) = u64::try_from(*i) {
                item::write_uint(out, u);
            } else {
                let n = u64::try_from(-1 - *i)
                    .map_err(|_| format!("the integer {i} is out of the CBOR range"))?;
                item::write_head(out, MAJOR_NEGINT, n);
            }
        }
        Some(SenmlValue::Number(SenmlNumber::Float(f))) => item::write_float(out, *f),
        Some(SenmlValue::String(s) | SenmlValue::ObjectLink(s)) => item::write_text(out, s),
        Some(SenmlValue::Boolean(b)) => item::write_bool(out, *b),
        Some(SenmlValue::Data(d)) => item::write_bytes(out, d),
    }
    Ok(())
}
