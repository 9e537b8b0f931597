//! One link as written: a target and its attributes in document order.

use std::fmt;

use crate::path::{LwM2mPath, PathLevel};
use crate::Error;

/// The value of a link attribute, remembering how it was written so that a
/// document can be serialized back the way it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrValue {
    /// A bare value: `ct=110`.
    Token(String),
    /// A quoted-string value, unescaped: `rt="oma.lwm2m"`.
    Quoted(String),
}

impl AttrValue {
    /// The value without quotes or escapes.
    pub fn as_str(&self) -> &str {
        match self {
            AttrValue::Token(s) | AttrValue::Quoted(s) => s,
        }
    }
}

/// One CoRE link: `<target>;name=value;name`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Link {
    /// The URI reference between `<` and `>`, as written.
    pub target: String,
    /// Attributes in document order; `None` for a value-less attribute (`;hb`).
    pub attributes: Vec<(String, Option<AttrValue>)>,
}

impl Link {
    /// A link without attributes.
    pub fn new(target: impl Into<String>) -> Self {
        Link {
            target: target.into(),
            attributes: Vec::new(),
        }
    }

    /// A link to an LwM2M path (`</3/0/7>`), without its object version.
    pub fn to_path(path: &LwM2mPath) -> Self {
        Link::new(path.without_version().to_string())
    }

    /// Adds a bare-valued attribute: `;name=value`.
    pub fn with_token(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes
            .push((name.into(), Some(AttrValue::Token(value.into()))));
        self
    }

    /// Adds a quoted attribute: `;name="value"`.
    pub fn with_quoted(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes
            .push((name.into(), Some(AttrValue::Quoted(value.into()))));
        self
    }

    /// Adds a value-less attribute: `;name`.
    pub fn with_flag(mut self, name: impl Into<String>) -> Self {
        self.attributes.push((name.into(), None));
        self
    }

    /// The first attribute called `name` (ASCII case-insensitive): `None`
    /// when absent, `Some(None)` when present without a value.
    pub fn attribute(&self, name: &str) -> Option<Option<&AttrValue>> {
        self.attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// The value of attribute `name`, if present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.attribute(name).flatten().map(AttrValue::as_str)
    }

    /// Whether the link's `rt` lists `resource_type` (rt is a space-separated list).
    pub fn has_resource_type(&self, resource_type: &str) -> bool {
        self.value("rt")
            .is_some_and(|rt| rt.split_ascii_whitespace().any(|t| t == resource_type))
    }

    /// The target with the whitespace some documents put inside it removed
    /// (the LwM2M 1.1 TS example itself writes `</lwm2m /1/0>`).
    pub fn compact_target(&self) -> String {
        self.target
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect()
    }

    /// The target as an LwM2M path (`/3`, `/3/0`, `/3/0/7`, `/3/0/7/1` or `/`).
    pub fn lwm2m_path(&self) -> Result<LwM2mPath, Error> {
        target_to_path(&self.compact_target()).map_err(|why| {
            Error::LinkFormat(format!(
                "link <{}> is not an LwM2M path: {why}",
                self.target
            ))
        })
    }

    /// The target as an LwM2M path below `root` (`/` or an alternate path
    /// such as `/lwm2m`); a target without the root prefix is taken as is.
    pub fn lwm2m_path_under(&self, root: &str) -> Result<LwM2mPath, Error> {
        let target = self.compact_target();
        let relative = strip_root(&target, root).unwrap_or(&target);
        target_to_path(relative).map_err(|why| {
            Error::LinkFormat(format!(
                "link <{}> is not an LwM2M path: {why}",
                self.target
            ))
        })
    }
}

/// `target` without the `root` prefix (`/lwm2m/3/0` under `/lwm2m` is `/3/0`).
pub(super) fn strip_root<'a>(target: &'a str, root: &str) -> Option<&'a str> {
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return Some(target);
    }
    let rest = target.strip_prefix(root)?;
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

/// A link target as a path: absolute, numeric segments, no object version.
fn target_to_path(target: &str) -> Result<LwM2mPath, String> {
    if !target.starts_with('/') {
        return Err("it does not start with '/'".to_owned());
    }
    if target.contains('_') {
        return Err("object versions are not written in link targets".to_owned());
    }
    let path: LwM2mPath = target.parse().map_err(|e: Error| match e {
        Error::InvalidPath { reason, .. } => reason,
        other => other.to_string(),
    })?;
    if path.level() == PathLevel::Root && target != "/" {
        return Err("empty path".to_owned());
    }
    Ok(path)
}

impl fmt::Display for Link {
    /// Writes the link in link format. Quoted values are escaped; a target
    /// containing `>` cannot be represented and is written as is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.target)?;
        for (name, value) in &self.attributes {
            match value {
                None => write!(f, ";{name}")?,
                Some(AttrValue::Token(v)) => write!(f, ";{name}={v}")?,
                Some(AttrValue::Quoted(v)) => {
                    write!(f, ";{name}=\"")?;
                    for c in v.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"")?;
                }
            }
        }
        Ok(())
    }
}

/// Serializes links as one link-format document (comma-separated).
pub fn serialize(links: &[Link]) -> String {
    let mut out = String::new();
    for (i, link) in links.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&link.to_string());
    }
    out
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a failed index is a failed test
mod tests {
    use super::*;

    #[test]
    fn writes_tokens_quotes_and_flags() {
        let link = Link::new("/")
            .with_quoted("rt", "oma.lwm2m")
            .with_token("ct", "110")
            .with_flag("hb");
        assert_eq!(link.to_string(), "</>;rt=\"oma.lwm2m\";ct=110;hb");
        let escaped = Link::new("/x").with_quoted("title", "a\"b\\c");
        assert_eq!(escaped.to_string(), r#"</x>;title="a\"b\\c""#);
        assert_eq!(
            serialize(&[Link::new("/1/0"), Link::new("/3/0")]),
            "</1/0>,</3/0>"
        );
        assert_eq!(serialize(&[]), "");
    }

    #[test]
    fn attribute_lookup_is_case_insensitive_and_knows_flags() {
        let link = Link::new("/3").with_token("VER", "1.1").with_flag("hb");
        assert_eq!(link.value("ver"), Some("1.1"));
        assert_eq!(link.attribute("hb"), Some(None));
        assert_eq!(link.attribute("pmin"), None);
        assert!(Link::new("/")
            .with_quoted("rt", "core.rd oma.lwm2m")
            .has_resource_type("oma.lwm2m"));
    }

    #[test]
    fn targets_as_lwm2m_paths() {
        assert_eq!(
            Link::new("/3/0/7").lwm2m_path().unwrap().to_string(),
            "/3/0/7"
        );
        assert_eq!(
            Link::new("/lwm2m /1/0")
                .lwm2m_path_under("/lwm2m")
                .unwrap()
                .to_string(),
            "/1/0"
        );
        assert_eq!(
            Link::new("/lwm2m").lwm2m_path_under("/lwm2m/").unwrap(),
            LwM2mPath::ROOT
        );
        assert_eq!(
            Link::new("/3/0")
                .lwm2m_path_under("/lwm2m")
                .unwrap()
                .to_string(),
            "/3/0"
        );
        for bad in [
            "3/0",
            "/3/x",
            "/65535",
            "/3_1.1/0",
            "/1/2/3/4/5",
            "",
            "/lwm2mx/3",
        ] {
            let err = Link::new(bad).lwm2m_path_under("/lwm2m").unwrap_err();
            assert!(
                matches!(err, Error::LinkFormat(ref m) if m.contains("not an LwM2M path")),
                "{bad}: {err}"
            );
        }
        assert_eq!(Link::to_path(&"/3_1.1/0".parse().unwrap()).target, "/3/0");
    }
}
