//! Observations the device serves: what each observes (one path, or several
//! for Observe-Composite), in which format, and what it last sent when. The
//! device loop re-evaluates them with [`crate::notify_decision::decide`]
//! after every event, so nothing here needs per-change bookkeeping.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use lwm2m_coap::Token;
use lwm2m_core::link::LwM2mAttributes;
use lwm2m_core::{ContentFormat, LwM2mNode, LwM2mPath};

use crate::content_negotiation::{encode, multi_node_codec};
use crate::error::{Result, SimError};
use crate::notify_decision::Snapshot;
use crate::object_tree::ObjectTree;

/// What one observation covers.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservedTarget {
    /// Observe on one path, any level.
    Single(LwM2mPath),
    /// Observe-Composite: several paths, answered together in SenML.
    Composite(Vec<LwM2mPath>),
}

impl ObservedTarget {
    /// The observed paths.
    pub fn paths(&self) -> Vec<LwM2mPath> {
        match self {
            ObservedTarget::Single(p) => vec![*p],
            ObservedTarget::Composite(ps) => ps.clone(),
        }
    }
}

/// One observation.
#[derive(Debug, Clone)]
pub struct Observation {
    pub peer: SocketAddr,
    pub token: Token,
    pub target: ObservedTarget,
    pub format: ContentFormat,
    /// Leaves of the last notification (or of the initial answer).
    pub last_sent: Snapshot,
    pub last_sent_at: Instant,
    /// Last CON notification, so NON observers get one CON a day.
    pub last_con_at: Instant,
    /// Observe sequence number of the last message.
    pub seq: u32,
    /// Notifications sent after the initial answer.
    pub notifications_sent: u64,
    /// Attributes given in the Observe request itself (LwM2M 1.2): they
    /// hold for this observation only, over those attached to the path.
    pub attributes: LwM2mAttributes,
}

/// A rendered observation: the leaves it covers and the encoded body.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub snapshot: Snapshot,
    pub payload: Vec<u8>,
}

/// Renders `target` from `tree` in `format`.
pub fn render(
    tree: &ObjectTree,
    target: &ObservedTarget,
    format: ContentFormat,
) -> Result<Rendered> {
    match target {
        ObservedTarget::Single(path) => {
            let node = tree.read(path)?;
            let payload = encode(format, path, &node, tree.models())?;
            let snapshot = node
                .leaves(path)
                .into_iter()
                .map(|(p, v)| (p, v.clone()))
                .collect();
            Ok(Rendered { snapshot, payload })
        }
        ObservedTarget::Composite(paths) => {
            let codec = multi_node_codec(format)
                .ok_or_else(|| SimError::NotAcceptable(format!("{format} is not composite")))?;
            let nodes = composite_nodes(tree, paths)?;
            let mut snapshot = Vec::new();
            for (p, node) in &nodes {
                snapshot.extend(node.leaves(p).into_iter().map(|(p, v)| (p, v.clone())));
            }
            let payload = codec
                .encode_nodes(&nodes, tree.models())
                .map_err(|e| SimError::Internal(e.to_string()))?;
            Ok(Rendered { snapshot, payload })
        }
    }
}

/// The leaves `target` covers now, without encoding: what the notification
/// decision compares.
pub fn snapshot(tree: &ObjectTree, target: &ObservedTarget) -> Result<Snapshot> {
    match target {
        ObservedTarget::Single(path) => tree.leaves(path),
        ObservedTarget::Composite(paths) => {
            let mut out = Vec::new();
            for (p, node) in composite_nodes(tree, paths)? {
                out.extend(node.leaves(&p).into_iter().map(|(p, v)| (p, v.clone())));
            }
            Ok(out)
        }
    }
}

/// The readable nodes of a composite request; missing paths are left out
/// (LwM2M 1.1.1 §6.3.4), and none found at all is 4.04.
pub fn composite_nodes(
    tree: &ObjectTree,
    paths: &[LwM2mPath],
) -> Result<BTreeMap<LwM2mPath, LwM2mNode>> {
    let mut nodes = BTreeMap::new();
    for p in paths {
        match tree.read(p) {
            Ok(node) => {
                nodes.insert(p.without_version(), node);
            }
            Err(SimError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if nodes.is_empty() {
        return Err(SimError::NotFound(format!(
            "none of the {} requested paths exists",
            paths.len()
        )));
    }
    Ok(nodes)
}

/// All observations of one device, keyed by observer and token.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    by_key: BTreeMap<(SocketAddr, Token), Observation>,
}

impl Observations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an observation; a new one with the same token replaces the old.
    pub fn insert(&mut self, observation: Observation) {
        self.by_key
            .insert((observation.peer, observation.token), observation);
    }

    /// Ends an observation; returns it if it existed.
    pub fn remove(&mut self, peer: SocketAddr, token: Token) -> Option<Observation> {
        self.by_key.remove(&(peer, token))
    }

    /// Ends every observation (reboot, re-registration).
    pub fn clear(&mut self) -> Vec<Observation> {
        std::mem::take(&mut self.by_key).into_values().collect()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Observation> {
        self.by_key.values()
    }

    pub fn keys(&self) -> Vec<(SocketAddr, Token)> {
        self.by_key.keys().copied().collect()
    }

    pub fn get_mut(&mut self, peer: SocketAddr, token: Token) -> Option<&mut Observation> {
        self.by_key.get_mut(&(peer, token))
    }

    /// Moves every observation of `from` to `to` (the server now sees us
    /// at a new address but keeps its own).
    pub fn retarget(&mut self, from: SocketAddr, to: SocketAddr) {
        let moved: Vec<_> = self
            .by_key
            .keys()
            .filter(|(p, _)| *p == from)
            .copied()
            .collect();
        for key in moved {
            if let Some(mut o) = self.by_key.remove(&key) {
                o.peer = to;
                self.by_key.insert((to, key.1), o);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeviceConfig;
    use crate::initial_objects::initial_tree;
    use crate::temperature_model::sim_registry;
    use lwm2m_core::codec::senml::MultiNodeCodec;
    use lwm2m_core::codec::senml_json::SenmlJsonCodec;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::sync::Arc;

    fn p(s: &str) -> LwM2mPath {
        s.parse().unwrap()
    }

    fn tree() -> ObjectTree {
        initial_tree(
            &DeviceConfig::default(),
            Arc::new(sim_registry()),
            &mut SmallRng::seed_from_u64(1),
            0,
        )
    }

    #[test]
    fn renders_single_and_composite_targets() {
        let t = tree();
        let single = render(
            &t,
            &ObservedTarget::Single(p("/3303/0/5700")),
            ContentFormat::Text,
        )
        .unwrap();
        assert_eq!(single.snapshot.len(), 1);
        let composite = ObservedTarget::Composite(vec![p("/3303/0/5700"), p("/3/0/9"), p("/9/9")]);
        let r = render(&t, &composite, ContentFormat::SenmlJson).unwrap();
        assert_eq!(r.snapshot.len(), 2, "the missing path is skipped");
        let back = SenmlJsonCodec
            .decode_nodes(&r.payload, None, t.models())
            .unwrap();
        assert!(back.contains_key(&p("/3/0/9")));
        assert!(render(&t, &composite, ContentFormat::Tlv).is_err());
        let none = ObservedTarget::Composite(vec![p("/9/9")]);
        assert!(matches!(
            render(&t, &none, ContentFormat::SenmlJson),
            Err(SimError::NotFound(_))
        ));
    }

    #[test]
    fn table_replaces_and_retargets() {
        let now = Instant::now();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let token = Token::new(&[1]).unwrap();
        let obs = Observation {
            peer: a,
            token,
            target: ObservedTarget::Single(p("/3/0/9")),
            format: ContentFormat::Text,
            last_sent: Vec::new(),
            last_sent_at: now,
            last_con_at: now,
            seq: 0,
            notifications_sent: 0,
            attributes: LwM2mAttributes::default(),
        };
        let mut table = Observations::new();
        table.insert(obs.clone());
        table.insert(obs);
        assert_eq!(table.len(), 1);
        table.retarget(a, b);
        assert!(table.remove(a, token).is_none());
        assert!(table.remove(b, token).is_some());
        assert!(table.is_empty());
    }
}
