//! Notification attributes set through Write-Attributes, per path, and their
//! inheritance: a resource observation uses the resource's own attributes,
//! falling back to its instance's and then its object's for pmin/pmax/
//! epmin/epmax (LwM2M 1.1.1 Core TS §5.1.2). gt/lt/st only make sense on a
//! numeric resource and are never inherited.

use std::collections::BTreeMap;

use lwm2m_core::link::LwM2mAttributes;
use lwm2m_core::LwM2mPath;

use crate::error::{Result, SimError};

/// Attributes attached to paths of one device.
#[derive(Debug, Clone, Default)]
pub struct AttributeStore {
    by_path: BTreeMap<LwM2mPath, LwM2mAttributes>,
}

impl AttributeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a Write-Attributes query (`["pmin=10", "pmax=60", "st"]`):
    /// values are set, bare names are removed.
    pub fn write_query<S: AsRef<str>>(&mut self, path: &LwM2mPath, query: &[S]) -> Result<()> {
        let (set, unset) = parse_query(path, query)?;
        let entry = self.by_path.entry(path.without_version()).or_default();
        macro_rules! merge {
            ($($f:ident),*) => {$(
                if set.$f.is_some() { entry.$f = set.$f; }
            )*};
        }
        merge!(pmin, pmax, gt, lt, st, epmin, epmax);
        for name in &unset {
            match name.to_ascii_lowercase().as_str() {
                "pmin" => entry.pmin = None,
                "pmax" => entry.pmax = None,
                "gt" => entry.gt = None,
                "lt" => entry.lt = None,
                "st" => entry.st = None,
                "epmin" => entry.epmin = None,
                "epmax" => entry.epmax = None,
                _ => {}
            }
        }
        if entry.is_empty() {
            self.by_path.remove(&path.without_version());
        }
        Ok(())
    }

    /// The attributes in force for an observation of `path` that was given
    /// `own` in its Observe request (LwM2M 1.2): each of those wins over
    /// the path's.
    pub fn effective_with(&self, path: &LwM2mPath, own: &LwM2mAttributes) -> LwM2mAttributes {
        overlay(self.effective(path), own)
    }

    /// The attributes attached to exactly this path (what Discover shows).
    pub fn attached(&self, path: &LwM2mPath) -> LwM2mAttributes {
        self.by_path
            .get(&path.without_version())
            .cloned()
            .unwrap_or_default()
    }

    /// The attributes in force for an observation of `path`: periods from
    /// the nearest level that sets them, thresholds from the path itself
    /// (or, for a resource instance, its resource).
    pub fn effective(&self, path: &LwM2mPath) -> LwM2mAttributes {
        let mut chain = Vec::new();
        let mut at = path.without_version();
        loop {
            chain.push(at);
            if at.is_root() {
                break;
            }
            at = at.parent();
        }
        let mut out = LwM2mAttributes::default();
        for p in &chain {
            let Some(a) = self.by_path.get(p) else {
                continue;
            };
            out.pmin = out.pmin.or(a.pmin);
            out.pmax = out.pmax.or(a.pmax);
            out.epmin = out.epmin.or(a.epmin);
            out.epmax = out.epmax.or(a.epmax);
            if p.resource_id().is_some() {
                out.gt = out.gt.or(a.gt);
                out.lt = out.lt.or(a.lt);
                out.st = out.st.or(a.st);
            }
        }
        out
    }

    /// Forgets the attributes of `path` and everything below it (the
    /// instance was deleted).
    pub fn remove_subtree(&mut self, path: &LwM2mPath) {
        let root = path.without_version();
        self.by_path.retain(|p, _| !root.is_prefix_of(p));
    }

    /// Forgets everything (reboot).
    pub fn clear(&mut self) {
        self.by_path.clear();
    }
}

/// A query's attributes for `path`, checked as Write-Attributes checks
/// them: the values set and the bare names (to remove).
pub fn parse_query<S: AsRef<str>>(
    path: &LwM2mPath,
    query: &[S],
) -> Result<(LwM2mAttributes, Vec<String>)> {
    let (set, unset) =
        LwM2mAttributes::from_query(query).map_err(|e| SimError::BadRequest(e.to_string()))?;
    let thresholds = set.gt.is_some() || set.lt.is_some() || set.st.is_some();
    if thresholds && path.resource_id().is_none() {
        return Err(SimError::BadRequest(format!(
            "gt/lt/st apply to resources, not to {path}"
        )));
    }
    if let (Some(pmin), Some(pmax)) = (set.pmin, set.pmax) {
        if pmax < pmin {
            return Err(SimError::BadRequest(format!(
                "pmax {pmax} is smaller than pmin {pmin}"
            )));
        }
    }
    Ok((set, unset))
}

/// `base` with every attribute `top` sets replaced by `top`'s.
pub fn overlay(base: LwM2mAttributes, top: &LwM2mAttributes) -> LwM2mAttributes {
    LwM2mAttributes {
        pmin: top.pmin.or(base.pmin),
        pmax: top.pmax.or(base.pmax),
        gt: top.gt.or(base.gt),
        lt: top.lt.or(base.lt),
        st: top.st.or(base.st),
        epmin: top.epmin.or(base.epmin),
        epmax: top.epmax.or(base.epmax),
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    #[test]
    fn inherits_periods_from_instance_and_object() {
        let mut s = AttributeStore::new();
        s.write_query(&p("/3303"), &["pmin=5", "pmax=100"]).unwrap();
        s.write_query(&p("/3303/0"), &["pmax=50"]).unwrap();
        s.write_query(&p("/3303/0/5700"), &["gt=30", "st=0.5"])
            .unwrap();
        let e = s.effective(&p("/3303/0/5700"));
        assert_eq!((e.pmin, e.pmax), (Some(5), Some(50)));
        assert_eq!((e.gt, e.st), (Some(30.0), Some(0.5)));
        let other = s.effective(&p("/3303/1/5700"));
        assert_eq!(
            (other.pmin, other.pmax, other.gt),
            (Some(5), Some(100), None)
        );
        let own = s.effective(&p("/3303/0"));
        assert_eq!(own.pmax, Some(50));
        assert_eq!(
            s.attached(&p("/3303/0")).pmin,
            None,
            "attached is not inherited"
        );
    }

    #[test]
    fn resource_level_wins_and_bare_names_unset() {
        let mut s = AttributeStore::new();
        s.write_query(&p("/3/0"), &["pmin=10"]).unwrap();
        s.write_query(&p("/3/0/9"), &["pmin=1", "lt=20"]).unwrap();
        assert_eq!(s.effective(&p("/3/0/9")).pmin, Some(1));
        s.write_query(&p("/3/0/9"), &["pmin"]).unwrap();
        assert_eq!(s.effective(&p("/3/0/9")).pmin, Some(10));
        assert_eq!(s.effective(&p("/3/0/9")).lt, Some(20.0));
        s.write_query(&p("/3/0/9"), &["lt"]).unwrap();
        assert!(s.attached(&p("/3/0/9")).is_empty());
    }

    #[test]
    fn rejects_bad_queries() {
        let mut s = AttributeStore::new();
        assert!(
            s.write_query(&p("/3/0"), &["gt=1"]).is_err(),
            "gt on an instance"
        );
        assert!(s.write_query(&p("/3/0/9"), &["pmin=10", "pmax=5"]).is_err());
        assert!(s.write_query(&p("/3/0/9"), &["pmin=soon"]).is_err());
    }

    #[test]
    fn subtree_removal() {
        let mut s = AttributeStore::new();
        s.write_query(&p("/3303/1/5700"), &["pmin=1"]).unwrap();
        s.write_query(&p("/3303/0"), &["pmin=1"]).unwrap();
        s.remove_subtree(&p("/3303/1"));
        assert!(s.attached(&p("/3303/1/5700")).is_empty());
        assert!(!s.attached(&p("/3303/0")).is_empty());
    }
}
