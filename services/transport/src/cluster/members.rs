//! The other nodes' forwarding addresses by node id, as their lease
//! records say, refreshed every heartbeat. The DTLS task reads it on every
//! datagram, so reads are a plain lock on a small map (never an await).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lwm2m_session::ClusterStore;
use tokio::sync::watch;

use crate::clock::now_ms;

/// Node id → forwarding address of every live member (this node included).
#[derive(Clone, Debug, Default)]
pub(crate) struct Members(Arc<RwLock<HashMap<u8, SocketAddr>>>);

impl Members {
    pub(crate) fn forward_addr(&self, node_id: u8) -> Option<SocketAddr> {
        self.0.read().ok()?.get(&node_id).copied()
    }

    /// Replaces the view (records without a usable address are skipped:
    /// a node that takes no forwarded records is as good as gone for them).
    pub(crate) fn set(&self, members: &[lwm2m_session::Member]) {
        let map = members
            .iter()
            .filter_map(|m| Some((m.node_id, m.forward_addr.parse().ok()?)))
            .collect();
        if let Ok(mut view) = self.0.write() {
            *view = map;
        }
    }

    /// Reads the members now and then every `every` until `stop`.
    pub(crate) async fn refresh(
        self,
        store: Arc<dyn ClusterStore>,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = crate::stop::stopped(&mut stop) => return,
            }
            match store.members(now_ms()).await {
                Ok(members) => self.set(&members),
                // Keep the last view: forwarding to a node that went away
                // meanwhile costs a lost record, not a wrong one.
                Err(e) => tracing::warn!(error = %e, "cluster members not refreshed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_without_a_forwarding_address_are_left_out() {
        let view = Members::default();
        let member = |id: u8, addr: &str| lwm2m_session::Member {
            node_id: id,
            holder: format!("h{id}"),
            grpc_addr: "127.0.0.1:1".into(),
            forward_addr: addr.into(),
            adopted: false,
        };
        view.set(&[member(1, "127.0.0.1:5690"), member(2, "")]);
        assert_eq!(
            view.forward_addr(1),
            Some("127.0.0.1:5690".parse().unwrap())
        );
        assert_eq!(view.forward_addr(2), None);
        view.set(&[]);
        assert_eq!(view.forward_addr(1), None);
    }
}
