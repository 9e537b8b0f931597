//! What a Register/Update payload says about the client's objects
//! (LwM2M 1.1.1 Core TS §5.3.1 and §6.2.2): the root path, the content
//! formats it supports, and each object with its version and instances.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::attributes::LwM2mAttributes;
use super::model::{strip_root, Link};
use super::parser::parse;
use crate::path::PathLevel;
use crate::{Error, Version};

/// One object of a registration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisteredObject {
    /// The `ver` the client gave, if any (see [`RegisteredObjects::object_versions`]).
    pub version: Option<Version>,
    /// Instance ids listed (`</3/0>`); empty when only `</5>` was listed.
    pub instances: BTreeSet<u16>,
}

/// The objects a client registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredObjects {
    /// Where the objects live: `/` unless a link with `rt="oma.lwm2m"`
    /// names an alternate path such as `/lwm2m` (§6.2.2 / §5.3.1).
    pub root_path: String,
    /// The `ct` of the root link: content formats the client supports.
    pub content_formats: Vec<u16>,
    pub objects: BTreeMap<u16, RegisteredObject>,
    /// Links that are neither the root nor an LwM2M path under it (vendor
    /// resources such as `</firmware/info>`), kept as sent.
    pub other_links: Vec<Link>,
}

impl Default for RegisteredObjects {
    fn default() -> Self {
        RegisteredObjects {
            root_path: "/".to_owned(),
            content_formats: Vec::new(),
            objects: BTreeMap::new(),
            other_links: Vec::new(),
        }
    }
}

impl RegisteredObjects {
    /// Parses a Register/Update payload.
    pub fn parse(payload: &str) -> Result<Self, Error> {
        Self::from_links(&parse(payload)?)
    }

    /// Interprets parsed links. Errors: two root links, a root path with a
    /// numeric segment, a numeric path that is not a valid object or object
    /// instance (`</3/0/1>`, `</70000>`), a malformed `ver` or `ct`, or two
    /// different versions for one object.
    pub fn from_links(links: &[Link]) -> Result<Self, Error> {
        let mut out = RegisteredObjects::default();
        // The root is the link with rt="oma.lwm2m" (an alternate path or
        // `/`); without one, a plain `</>` link (`</>;ct=11543`) is.
        let mut typed = links
            .iter()
            .enumerate()
            .filter(|(_, l)| l.has_resource_type("oma.lwm2m"));
        let first_typed = typed.next();
        if let Some((_, second)) = typed.next() {
            return Err(Error::LinkFormat(format!(
                "two root links with rt=\"oma.lwm2m\", the second <{}>",
                second.target
            )));
        }
        let root = first_typed.or_else(|| {
            links
                .iter()
                .enumerate()
                .find(|(_, l)| l.compact_target() == "/")
        });
        let root_index = root.map(|(i, _)| i);
        if let Some((_, link)) = root {
            let target = link.compact_target();
            if target
                .split('/')
                .any(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(Error::LinkFormat(format!(
                    "root link <{}> has a numeric segment, which an alternate path must not have",
                    link.target
                )));
            }
            let trimmed = target.trim_end_matches('/');
            out.root_path = if trimmed.is_empty() {
                "/".to_owned()
            } else {
                trimmed.to_owned()
            };
            out.content_formats = LwM2mAttributes::from_link(link)?.ct;
        }
        for (i, link) in links.iter().enumerate() {
            if Some(i) == root_index || link.compact_target() == "/" {
                continue;
            }
            out.add_object_link(link)?;
        }
        Ok(out)
    }

    fn add_object_link(&mut self, link: &Link) -> Result<(), Error> {
        let target = link.compact_target();
        let relative = strip_root(&target, &self.root_path).unwrap_or(&target);
        // Only targets that start with a numeric segment claim to be objects.
        let first = relative
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            self.other_links.push(link.clone());
            return Ok(());
        }
        let path = link.lwm2m_path_under(&self.root_path)?;
        let attrs = LwM2mAttributes::from_link(link)?;
        let (Some(object), instance) = (path.object_id(), path.instance_id()) else {
            return Ok(());
        };
        if matches!(
            path.level(),
            PathLevel::Resource | PathLevel::ResourceInstance
        ) {
            return Err(Error::LinkFormat(format!(
                "link <{}> names a resource; a registration lists objects and object instances only",
                link.target
            )));
        }
        let entry = self.objects.entry(object).or_default();
        if let Some(ver) = attrs.ver {
            match entry.version {
                Some(known) if known != ver => {
                    return Err(Error::LinkFormat(format!(
                        "object {object} is given two versions, {known} and {ver}"
                    )))
                }
                _ => entry.version = Some(ver),
            }
        }
        if let Some(instance) = instance {
            entry.instances.insert(instance);
        }
        Ok(())
    }

    /// Whether `/object/instance` was registered.
    pub fn has_instance(&self, object: u16, instance: u16) -> bool {
        self.objects
            .get(&object)
            .is_some_and(|o| o.instances.contains(&instance))
    }

    /// The version of every registered object: its `ver` if given, else
    /// `default(object_id)`. The specification makes an absent `ver` mean
    /// 1.0; a server may choose a default that depends on the client's LwM2M
    /// version for the core objects, hence the function.
    pub fn object_versions(&self, default: impl Fn(u16) -> Version) -> HashMap<u16, Version> {
        self.objects
            .iter()
            .map(|(id, o)| (*id, o.version.unwrap_or_else(|| default(*id))))
            .collect()
    }

    /// The links of this registration, as our own client (the simulator)
    /// sends them: the root link when there is something to say, then each
    /// object with its version and each instance.
    pub fn to_links(&self) -> Vec<Link> {
        let mut links = Vec::new();
        let alternate = self.root_path != "/";
        if alternate || !self.content_formats.is_empty() {
            let mut root = Link::new(self.root_path.clone());
            if alternate {
                root = root.with_quoted("rt", "oma.lwm2m");
            }
            let ct = LwM2mAttributes {
                ct: self.content_formats.clone(),
                ..Default::default()
            };
            links.push(root.with_lwm2m_attributes(&ct));
        }
        let prefix = if alternate {
            self.root_path.as_str()
        } else {
            ""
        };
        for (id, object) in &self.objects {
            if object.instances.is_empty() || object.version.is_some() {
                let mut link = Link::new(format!("{prefix}/{id}"));
                if let Some(v) = object.version {
                    link = link.with_token("ver", v.to_string());
                }
                links.push(link);
            }
            for instance in &object.instances {
                links.push(Link::new(format!("{prefix}/{id}/{instance}")));
            }
        }
        links.extend(self.other_links.iter().cloned());
        links
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a failed index is a failed test
mod tests {
    use super::*;

    fn instances(reg: &RegisteredObjects, id: u16) -> Vec<u16> {
        reg.objects[&id].instances.iter().copied().collect()
    }

    #[test]
    fn summarises_a_typical_payload() {
        let reg = RegisteredObjects::parse(
            r#"</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>;ver=1.1,</5>,</3303/0>,</3303/1>"#,
        )
        .unwrap();
        assert_eq!(reg.root_path, "/");
        assert_eq!(reg.content_formats, vec![110]);
        assert_eq!(
            reg.objects.keys().copied().collect::<Vec<_>>(),
            vec![1, 3, 5, 3303]
        );
        assert_eq!(reg.objects[&3].version, Some(Version::V1_1));
        assert!(reg.objects[&5].instances.is_empty());
        assert_eq!(instances(&reg, 3303), vec![0, 1]);
        let versions = reg.object_versions(|_| Version::V1_0);
        assert_eq!((versions[&3], versions[&1]), (Version::V1_1, Version::V1_0));
    }

    #[test]
    fn ver_on_the_object_link_or_quoted() {
        let reg = RegisteredObjects::parse(r#"</6>;ver="2.0",</6/0>,</3>;ver=1.2,</3/0>"#).unwrap();
        assert_eq!(reg.objects[&6].version, Some(Version::new(2, 0)));
        assert_eq!(reg.objects[&3].version, Some(Version::V1_2));
        assert_eq!(instances(&reg, 6), vec![0]);
    }

    #[test]
    fn missing_root_link_and_unprefixed_objects_under_alternate_root() {
        let reg = RegisteredObjects::parse("</1/0>,</3/0>").unwrap();
        assert_eq!(
            (reg.root_path.as_str(), reg.content_formats.len()),
            ("/", 0)
        );
        let reg = RegisteredObjects::parse(r#"</alt>;rt="oma.lwm2m",</3/0>,</alt/4/0>"#).unwrap();
        assert_eq!(reg.root_path, "/alt");
        assert!(reg.has_instance(3, 0) && reg.has_instance(4, 0));
    }

    #[test]
    fn typed_root_wins_over_a_plain_slash_link() {
        let reg =
            RegisteredObjects::parse(r#"</>;ct=110,</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>"#).unwrap();
        assert_eq!(reg.root_path, "/lwm2m");
        assert!(reg.has_instance(3, 0) && reg.other_links.is_empty());
    }

    #[test]
    fn vendor_links_are_kept_aside() {
        let reg = RegisteredObjects::parse("</3/0>,</firmware/info>;rt=x").unwrap();
        assert_eq!(reg.other_links.len(), 1);
        assert_eq!(reg.objects.len(), 1);
    }

    #[test]
    fn rejects_what_cannot_be_a_registration() {
        for (doc, expect) in [
            ("</3/0/1>", "names a resource"),
            ("</70000>", "not an LwM2M path"),
            ("</3/x>", "not an LwM2M path"),
            ("</3>;ver=1.1,</3/0>;ver=1.2", "two versions"),
            ("</3>;ver=one", "ver"),
            (
                r#"</a>;rt="oma.lwm2m",</b>;rt="oma.lwm2m""#,
                "two root links",
            ),
            (r#"</1>;rt="oma.lwm2m""#, "numeric segment"),
            ("</>;ct=json", "ct"),
        ] {
            match RegisteredObjects::parse(doc) {
                Err(Error::LinkFormat(m)) => assert!(m.contains(expect), "{doc}: {m}"),
                other => panic!("{doc}: {other:?}"),
            }
        }
    }

    #[test]
    fn writes_links_back() {
        let reg = RegisteredObjects::parse(r#"</lwm2m>;rt="oma.lwm2m";ct="60 110",</lwm2m/1/0>,</lwm2m/3>;ver=1.1,</lwm2m/3/0>,</lwm2m/5>"#).unwrap();
        let text = super::super::model::serialize(&reg.to_links());
        assert_eq!(
            text,
            r#"</lwm2m>;rt="oma.lwm2m";ct="60 110",</lwm2m/1/0>,</lwm2m/3>;ver=1.1,</lwm2m/3/0>,</lwm2m/5>"#
        );
        assert_eq!(RegisteredObjects::parse(&text).unwrap(), reg);
    }
}
