//! Lifetime expiry: every node periodically asks the store for
//! registrations whose lifetime (plus grace) ran out. The store hands each
//! one to exactly one node, which publishes EXPIRED, so running the sweep on
//! every node is safe and needs no leader.

use std::sync::Arc;

use lwm2m_proto::events::v1::RegistrationKind;
use tokio::sync::watch;

use crate::clock::now_ms;
use crate::events::{self, Device};
use crate::node::Node;
use crate::stats::Counters;

/// Sweeps every `expiry_sweep_interval` until `stop` turns true.
pub(crate) async fn run(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(node.config.expiry_sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => { sweep(&node).await; }
            () = crate::stop::stopped(&mut stop) => return,
        }
    }
}

/// Takes expired registrations in batches until none is left; returns how many.
pub(crate) async fn sweep(node: &Arc<Node>) -> usize {
    let mut total = 0;
    loop {
        let batch = match node
            .sessions
            .take_expired(now_ms(), node.config.expiry_batch)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                let _ = node.store_error(e);
                return total;
            }
        };
        let full = batch.len() >= node.config.expiry_batch;
        for (reg, observations) in batch {
            total += 1;
            let tokens: Vec<Vec<u8>> = observations.into_iter().map(|o| o.token).collect();
            node.forget_device(&reg, &tokens).await;
            // A DTLS session this node holds for the device goes too.
            if let Some(peer) = crate::peer::Peer::parse(&reg.address).filter(|p| p.secure) {
                node.driver_of(peer).close_session(peer.addr).await;
            }
            Counters::inc(&node.counters.expirations);
            tracing::info!(endpoint = %reg.endpoint, "registration expired");
            let event = events::registration(RegistrationKind::Expired, &reg, false);
            node.publish(vec![node.event(&Device::from(&reg), event)])
                .await;
        }
        if !full {
            return total;
        }
    }
}
