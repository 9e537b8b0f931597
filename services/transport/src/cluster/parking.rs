//! DTLS sessions across a node restart. A stopping node exports every
//! established session (keys, sequence numbers, replay window, CID, peer)
//! and parks the blobs under its node id; the next node with that id takes
//! them at start and imports them, so devices keep talking without a new
//! handshake. Only the node's own id is read: sessions are sharded by owner.
//!
//! Sequence numbers: the stopping node exports after its last send, so the
//! successor continues from exactly where it stopped (`seq_skip` 0) and no
//! record sequence number (AEAD nonce) is used twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lwm2m_dtls::DtlsServer;
use lwm2m_session::ClusterStore;

use crate::clock::now_ms;

/// Where a node parks and finds its sessions.
#[derive(Clone)]
pub(crate) struct Parking {
    pub store: Arc<dyn ClusterStore>,
    pub node_id: u8,
    pub ttl: Duration,
}

impl std::fmt::Debug for Parking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parking")
            .field("node_id", &self.node_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Parking {
    /// Imports the sessions parked for this node id; returns how many came
    /// back. A blob that does not import (another version, a CID in use) is
    /// dropped: that device makes a new handshake.
    pub(crate) async fn restore(&self, dtls: &mut DtlsServer, now: Instant) -> usize {
        let blobs = match self.store.take_dtls_sessions(self.node_id, now_ms()).await {
            Ok(blobs) => blobs,
            Err(e) => {
                tracing::warn!(node_id = self.node_id, error = %e, "parked DTLS sessions not read; devices will handshake again");
                return 0;
            }
        };
        let mut restored = 0;
        for blob in &blobs {
            match dtls.import_session(now, blob, 0) {
                Ok(_) => restored += 1,
                Err(e) => tracing::debug!(error = %e, "parked DTLS session not imported"),
            }
        }
        tracing::info!(
            node_id = self.node_id,
            restored,
            parked = blobs.len(),
            "parked DTLS sessions restored"
        );
        restored
    }

    /// Every established session as an export blob (sync: the engine is
    /// not `Sync`, so it is never borrowed across an await).
    pub(crate) fn export(dtls: &DtlsServer) -> Vec<Vec<u8>> {
        dtls.established_session_ids()
            .into_iter()
            .filter_map(|id| dtls.export_session(id).ok())
            .collect()
    }

    /// Parks exported sessions; returns how many. Export after the last
    /// record was sent.
    pub(crate) async fn park(&self, blobs: Vec<Vec<u8>>) -> usize {
        let count = blobs.len();
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        match self
            .store
            .park_dtls_sessions(self.node_id, blobs, ttl_ms, now_ms())
            .await
        {
            Ok(()) => {
                tracing::info!(
                    node_id = self.node_id,
                    parked = count,
                    "DTLS sessions parked for the next node with this id"
                );
                count
            }
            Err(e) => {
                tracing::warn!(node_id = self.node_id, error = %e, "DTLS sessions not parked; devices will handshake again");
                0
            }
        }
    }
}
