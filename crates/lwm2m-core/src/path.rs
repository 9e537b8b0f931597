//! LwM2M paths: `/`, `/3`, `/3/0`, `/3/0/9`, `/3/0/7/1`, and the operator
//! form carrying an object version, `/3_1.2/0/9` (as used by ThingsBoard
//! profiles and RPC ids).
//!
//! A path is a small `Copy` value whose depth is kept consistent by its
//! constructors: it can never name a resource without an instance. The id
//! 65535 is reserved by the specification (LwM2M 1.1 §7.2: "MAX_ID") and is
//! rejected everywhere.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Version};

/// The reserved identifier that no object, instance or resource may use.
pub const RESERVED_ID: u16 = u16::MAX;

/// How deep a path points into the object tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathLevel {
    Root,
    Object,
    ObjectInstance,
    Resource,
    ResourceInstance,
}

/// A path into the LwM2M object tree, optionally carrying the object version.
///
/// Equality and ordering include the version; use [`LwM2mPath::without_version`]
/// to compare locations only. Ordering sorts parents before children and ids
/// numerically, so a `BTreeMap<LwM2mPath, _>` iterates in tree order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LwM2mPath {
    ids: [u16; 4],
    depth: u8,
    object_version: Option<Version>,
}

impl LwM2mPath {
    pub const ROOT: LwM2mPath = LwM2mPath {
        ids: [0; 4],
        depth: 0,
        object_version: None,
    };

    fn build(ids: &[u16]) -> Result<Self, Error> {
        let mut out = [0u16; 4];
        for (slot, id) in out.iter_mut().zip(ids) {
            if *id == RESERVED_ID {
                return Err(Error::path(
                    render(ids, None),
                    "65535 is reserved and cannot be used as an id",
                ));
            }
            *slot = *id;
        }
        Ok(LwM2mPath {
            ids: out,
            depth: ids.len().min(4) as u8,
            object_version: None,
        })
    }

    pub fn object(object: u16) -> Result<Self, Error> {
        Self::build(&[object])
    }

    pub fn object_instance(object: u16, instance: u16) -> Result<Self, Error> {
        Self::build(&[object, instance])
    }

    pub fn resource(object: u16, instance: u16, resource: u16) -> Result<Self, Error> {
        Self::build(&[object, instance, resource])
    }

    pub fn resource_instance(
        object: u16,
        instance: u16,
        resource: u16,
        resource_instance: u16,
    ) -> Result<Self, Error> {
        Self::build(&[object, instance, resource, resource_instance])
    }

    /// Builds a path from 0 to 4 ids (root to resource instance).
    pub fn from_ids(ids: &[u16]) -> Result<Self, Error> {
        if ids.len() > 4 {
            return Err(Error::path(render(ids, None), "a path has at most 4 ids"));
        }
        Self::build(ids)
    }

    /// The same path carrying an object version. Ignored on the root path.
    pub fn with_version(mut self, version: Option<Version>) -> Self {
        if self.depth > 0 {
            self.object_version = version;
        }
        self
    }

    /// The same location without its object version.
    pub fn without_version(mut self) -> Self {
        self.object_version = None;
        self
    }

    pub fn object_version(&self) -> Option<Version> {
        self.object_version
    }

    pub fn level(&self) -> PathLevel {
        match self.depth {
            0 => PathLevel::Root,
            1 => PathLevel::Object,
            2 => PathLevel::ObjectInstance,
            3 => PathLevel::Resource,
            _ => PathLevel::ResourceInstance,
        }
    }

    /// The ids from the object down, as many as the path is deep.
    pub fn ids(&self) -> &[u16] {
        self.ids.get(..usize::from(self.depth)).unwrap_or(&[])
    }

    pub fn object_id(&self) -> Option<u16> {
        self.ids().first().copied()
    }

    pub fn instance_id(&self) -> Option<u16> {
        self.ids().get(1).copied()
    }

    pub fn resource_id(&self) -> Option<u16> {
        self.ids().get(2).copied()
    }

    pub fn resource_instance_id(&self) -> Option<u16> {
        self.ids().get(3).copied()
    }

    pub fn is_root(&self) -> bool {
        self.depth == 0
    }

    /// The parent path (the root is its own parent). Keeps the version.
    pub fn parent(&self) -> Self {
        let mut parent = *self;
        if parent.depth > 0 {
            parent.depth -= 1;
            if let Some(slot) = parent.ids.get_mut(usize::from(parent.depth)) {
                *slot = 0;
            }
        }
        if parent.depth == 0 {
            parent.object_version = None;
        }
        parent
    }

    /// The child `id` below this path.
    pub fn child(&self, id: u16) -> Result<Self, Error> {
        let mut ids = self.ids().to_vec();
        ids.push(id);
        Ok(Self::from_ids(&ids)?.with_version(self.object_version))
    }

    /// True when `self` is `other` or one of its ancestors (versions ignored).
    pub fn is_prefix_of(&self, other: &LwM2mPath) -> bool {
        self.depth <= other.depth && other.ids().starts_with(self.ids())
    }
}

fn render(ids: &[u16], version: Option<Version>) -> String {
    if ids.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::new();
    for (i, id) in ids.iter().enumerate() {
        out.push('/');
        out.push_str(&id.to_string());
        if i == 0 {
            if let Some(v) = version {
                out.push('_');
                out.push_str(&v.to_string());
            }
        }
    }
    out
}

impl fmt::Display for LwM2mPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self.ids(), self.object_version))
    }
}

impl fmt::Debug for LwM2mPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LwM2mPath({self})")
    }
}

impl FromStr for LwM2mPath {
    type Err = Error;

    /// Accepts `/3/0/9`, `3/0/9` (operators often drop the slash), `/3_1.2/0/9`
    /// and `/`; a trailing slash is tolerated. Rejects empty segments, signs,
    /// ids above 65534 and more than four levels.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(Error::path(input, "empty path"));
        }
        let body = trimmed.strip_prefix('/').unwrap_or(trimmed);
        let body = body.strip_suffix('/').unwrap_or(body);
        if body.is_empty() {
            return Ok(LwM2mPath::ROOT);
        }
        let mut ids = Vec::with_capacity(4);
        let mut version = None;
        for (i, segment) in body.split('/').enumerate() {
            if i >= 4 {
                return Err(Error::path(input, "a path has at most 4 levels"));
            }
            let id_text = if i == 0 {
                match segment.split_once('_') {
                    Some((id, ver)) => {
                        version = Some(ver.parse::<Version>().map_err(|_| {
                            Error::path(input, format!("invalid object version {ver:?}"))
                        })?);
                        id
                    }
                    None => segment,
                }
            } else {
                segment
            };
            ids.push(parse_id(input, id_text)?);
        }
        Ok(Self::from_ids(&ids)
            .map_err(|e| match e {
                Error::InvalidPath { reason, .. } => Error::path(input, reason),
                other => other,
            })?
            .with_version(version))
    }
}

fn parse_id(input: &str, text: &str) -> Result<u16, Error> {
    if text.is_empty() {
        return Err(Error::path(input, "empty segment"));
    }
    if text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::path(
            input,
            format!("{text:?} is not an id between 0 and 65534"),
        ));
    }
    match text.parse::<u32>() {
        Ok(v) if v < u32::from(RESERVED_ID) => Ok(v as u16),
        Ok(v) if v == u32::from(RESERVED_ID) => Err(Error::path(
            input,
            "65535 is reserved and cannot be used as an id",
        )),
        _ => Err(Error::path(
            input,
            format!("{text:?} is not an id between 0 and 65534"),
        )),
    }
}

impl serde::Serialize for LwM2mPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for LwM2mPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_level() {
        assert_eq!(p("/"), LwM2mPath::ROOT);
        assert_eq!(p("/3").level(), PathLevel::Object);
        assert_eq!(p("/3/0").level(), PathLevel::ObjectInstance);
        assert_eq!(p("/3/0/9").level(), PathLevel::Resource);
        assert_eq!(p("/3/0/7/1").level(), PathLevel::ResourceInstance);
        assert_eq!(p("/3/0/7/1").ids(), &[3, 0, 7, 1]);
        assert_eq!(p("/3/0/7/1").resource_instance_id(), Some(1));
    }

    #[test]
    fn parses_operator_forms() {
        assert_eq!(p("5/0/2"), LwM2mPath::resource(5, 0, 2).unwrap());
        assert_eq!(p("/3/0/"), LwM2mPath::object_instance(3, 0).unwrap());
        let versioned = p("/3_1.2/0/9");
        assert_eq!(versioned.object_version(), Some(Version::V1_2));
        assert_eq!(versioned.without_version(), p("/3/0/9"));
        assert_eq!(versioned.to_string(), "/3_1.2/0/9");
        assert_eq!(p("/19_1.1/0/0").to_string(), "/19_1.1/0/0");
        assert_eq!(p("/19_1.1").object_version(), Some(Version::V1_1));
    }

    #[test]
    fn rejects_malformed_paths_with_reasons() {
        let cases = [
            ("", "empty"),
            ("//3", "empty segment"),
            ("/3//9", "empty segment"),
            ("/3/0/9/1/2", "at most 4"),
            ("/65535", "reserved"),
            ("/3/65535", "reserved"),
            ("/3/0/65536", "not an id"),
            ("/-3", "not an id"),
            ("/+3", "not an id"),
            ("/3a/0", "not an id"),
            ("/3_1/0", "invalid object version"),
            ("/3_x.y", "invalid object version"),
            ("/3/0_1.0/1", "not an id"),
            ("/ 3", "not an id"),
        ];
        for (input, reason) in cases {
            let err = input.parse::<LwM2mPath>().unwrap_err();
            let text = err.to_string();
            assert!(text.contains(reason), "{input:?}: {text}");
        }
    }

    #[test]
    fn constructors_reject_reserved_id() {
        assert!(LwM2mPath::object(65535).is_err());
        assert!(LwM2mPath::resource_instance(3, 0, 7, 65535).is_err());
        assert!(LwM2mPath::from_ids(&[1, 2, 3, 4, 5]).is_err());
    }

    #[test]
    fn parent_child_and_prefix() {
        let r = p("/3_1.1/0/9");
        assert_eq!(r.parent(), p("/3_1.1/0"));
        assert_eq!(r.parent().parent().parent(), LwM2mPath::ROOT);
        assert_eq!(LwM2mPath::ROOT.parent(), LwM2mPath::ROOT);
        assert_eq!(p("/3/0").child(9).unwrap(), p("/3/0/9"));
        assert!(p("/3").is_prefix_of(&p("/3/0/9")));
        assert!(LwM2mPath::ROOT.is_prefix_of(&p("/3/0/9")));
        assert!(!p("/3/1").is_prefix_of(&p("/3/0/9")));
        assert!(!p("/3/0/9").is_prefix_of(&p("/3/0")));
    }

    #[test]
    fn orders_parents_first_and_numerically() {
        let mut paths = [
            p("/3/1"),
            p("/3/0/10"),
            p("/3/0/9"),
            p("/3/0"),
            p("/3"),
            p("/"),
        ];
        paths.sort();
        let shown: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["/", "/3", "/3/0", "/3/0/9", "/3/0/10", "/3/1"]);
    }

    proptest! {
        #[test]
        fn print_parse_round_trip(ids in proptest::collection::vec(0u16..65535, 0..=4),
                                  ver in proptest::option::of((0u8..=9, 0u8..=9))) {
            let path = LwM2mPath::from_ids(&ids).unwrap()
                .with_version(ver.map(|(a, b)| Version::new(a, b)));
            let back: LwM2mPath = path.to_string().parse().unwrap();
            prop_assert_eq!(back, path);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = s.parse::<LwM2mPath>();
        }
    }
}
