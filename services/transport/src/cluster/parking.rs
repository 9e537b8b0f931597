//! DTLS sessions across a node restart or crash, kept in the cluster store
//! under the node id their Connection ID names (sessions are sharded by
//! owner: a node reads only the ids it holds, never every session).
//!
//! - **Graceful stop.** The node exports every established session (keys,
//!   sequence numbers, replay window, CID, peer) after its last send and
//!   parks the blobs; the next holder of the id imports them with
//!   `seq_skip` 0 (it continues from exactly where the stopped node did).
//! - **Crash.** Nothing was parked, but every established session's latest
//!   sequence-number reservation blob is in the store (written only while
//!   this node holds the id's lease); the next holder imports those with
//!   `seq_skip` = the block, above anything the crashed node may have
//!   written (see `lwm2m_dtls`' `sequence_reservation`). The next holder is
//!   the node itself restarted with its id, or a node that adopts the dead
//!   id (`cluster::adoption`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lwm2m_dtls::{DtlsServer, SessionId};
use lwm2m_session::ClusterStore;

use crate::clock::now_ms;

/// Where a node parks, reserves and finds sessions.
#[derive(Clone)]
pub(crate) struct Parking {
    pub store: Arc<dyn ClusterStore>,
    /// This node's own id.
    pub node_id: u8,
    /// The holder of this node's leases (its own and adopted ones): only it
    /// may write reservations under those ids.
    pub holder: String,
    pub ttl: Duration,
    /// The sequence-number block sessions reserve (`None`: no reservation).
    pub block: Option<u64>,
}

impl std::fmt::Debug for Parking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parking")
            .field("node_id", &self.node_id)
            .field("ttl", &self.ttl)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

/// Blobs taken from the store for one node id.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub parked: Vec<Vec<u8>>,
    pub reserved: Vec<Vec<u8>>,
}

impl Parking {
    /// Takes what is stored for `node_id`: parked blobs, then reservation
    /// blobs. A read that fails leaves those devices to handshake again.
    pub(crate) async fn take(&self, node_id: u8) -> Taken {
        let warn = |what: &str, e: lwm2m_session::SessionError| {
            tracing::warn!(node_id, what, error = %e, "DTLS sessions not read; devices will handshake again");
            Vec::new()
        };
        let parked = match self.store.take_dtls_sessions(node_id, now_ms()).await {
            Ok(blobs) => blobs,
            Err(e) => warn("parked", e),
        };
        let reserved = match self.store.take_dtls_reservations(node_id).await {
            Ok(blobs) => blobs,
            Err(e) => warn("reserved", e),
        };
        Taken { parked, reserved }
    }

    /// Imports taken blobs: parked ones exactly, reserved ones a block
    /// ahead; returns how many sessions came back. A blob that does not
    /// import (another version, a CID already restored from the parking)
    /// is dropped: at worst that device makes a new handshake.
    pub(crate) fn import(&self, dtls: &mut DtlsServer, now: Instant, taken: &Taken) -> usize {
        let restored = import(dtls, now, &taken.parked, 0);
        // Without a block now, reserved sessions' sequence numbers cannot
        // be skipped safely: they are dropped.
        let taken_over = match self.block {
            Some(block) => import(dtls, now, &taken.reserved, block),
            None => 0,
        };
        tracing::info!(
            restored,
            parked = taken.parked.len(),
            taken_over,
            reserved = taken.reserved.len(),
            "DTLS sessions imported"
        );
        restored + taken_over
    }

    /// Restores this node's own sessions at start.
    pub(crate) async fn restore(&self, dtls: &mut DtlsServer, now: Instant) -> usize {
        let taken = self.take(self.node_id).await;
        self.import(dtls, now, &taken)
    }

    /// Stores the blob a session's next sequence-number block rests on,
    /// under the node id of its CID; `false` if not stored (store away, or
    /// the lease on that id lost).
    pub(crate) async fn reserve(&self, node_id: u8, key: &[u8], blob: Vec<u8>) -> bool {
        match self
            .store
            .store_dtls_reservation(node_id, &self.holder, key, blob, now_ms())
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::debug!(
                    node_id,
                    "DTLS reservation refused: the id's lease is not ours"
                );
                false
            }
            Err(e) => {
                tracing::warn!(node_id, error = %e, "DTLS sequence numbers not reserved; the session waits");
                false
            }
        }
    }

    /// Forgets a closed session's reservation.
    pub(crate) async fn unreserve(&self, node_id: u8, key: &[u8]) {
        if let Err(e) = self
            .store
            .drop_dtls_reservation(node_id, &self.holder, key, now_ms())
            .await
        {
            tracing::debug!(node_id, error = %e, "DTLS reservation not dropped");
        }
    }

    /// Every established session as an export blob, by the node id its
    /// CID names (sessions without a CID count as this node's). Sync: the
    /// engine is not `Sync`, so it is never borrowed across an await.
    pub(crate) fn export(&self, dtls: &DtlsServer) -> BTreeMap<u8, Vec<Vec<u8>>> {
        let mut by_id: BTreeMap<u8, Vec<Vec<u8>>> = BTreeMap::new();
        for id in dtls.established_session_ids() {
            if let Ok(blob) = dtls.export_session(id) {
                by_id.entry(self.owner_of(dtls, id)).or_default().push(blob);
            }
        }
        by_id
    }

    /// The node id a session is kept under.
    pub(crate) fn owner_of(&self, dtls: &DtlsServer, session: SessionId) -> u8 {
        dtls.connection_id(session)
            .and_then(|cid| cid.first().copied())
            .unwrap_or(self.node_id)
    }

    /// Parks exported sessions under `node_id`; returns how many. Export
    /// after the last record was sent.
    pub(crate) async fn park(&self, node_id: u8, blobs: Vec<Vec<u8>>) -> usize {
        let count = blobs.len();
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        match self
            .store
            .park_dtls_sessions(node_id, &self.holder, blobs, ttl_ms, now_ms())
            .await
        {
            Ok(false) => {
                tracing::warn!(
                    node_id,
                    "DTLS sessions not parked: the id's lease is not ours any more"
                );
                0
            }
            Ok(true) => {
                tracing::info!(
                    node_id,
                    parked = count,
                    "DTLS sessions parked for the next node with this id"
                );
                count
            }
            Err(e) => {
                tracing::warn!(node_id, error = %e, "DTLS sessions not parked; devices will handshake again");
                0
            }
        }
    }
}

/// Imports blobs with `seq_skip`; returns how many imported.
fn import(dtls: &mut DtlsServer, now: Instant, blobs: &[Vec<u8>], seq_skip: u64) -> usize {
    blobs
        .iter()
        .filter(|blob| match dtls.import_session(now, blob, seq_skip) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "DTLS session not imported");
                false
            }
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::test_sessions::{handshake, server};
    use lwm2m_dtls::Event;
    use lwm2m_session::MemoryCluster;

    /// Finding 1: a session without a CID that was parked (exact) and also
    /// has an older reservation blob comes back once, with one writer of
    /// its reservation; a second copy at `reserved + block` would write
    /// and reserve under the same keys as the first.
    #[test]
    fn a_parked_and_reserved_session_is_restored_once() {
        let now = Instant::now();
        let mut old = server(false, 64);
        let mut events = Vec::new();
        let (session, _) = handshake(
            &mut old,
            "192.0.2.1:40000".parse().unwrap(),
            now,
            &mut events,
        );
        let reserved = old.export_session(session).unwrap();
        let parked = old.export_session(session).unwrap();
        let parking = Parking {
            store: Arc::new(MemoryCluster::new()),
            node_id: 0,
            holder: "me".into(),
            ttl: Duration::from_secs(60),
            block: Some(64),
        };
        let mut next = server(false, 64);
        let taken = Taken {
            parked: vec![parked],
            reserved: vec![reserved],
        };
        assert_eq!(parking.import(&mut next, now, &taken), 1);
        assert_eq!(next.established_sessions(), 1);
        let writers = std::iter::from_fn(|| next.poll_event())
            .filter(|e| matches!(e, Event::ReserveSequenceNumbers { .. }))
            .count();
        assert_eq!(writers, 1);
    }
}
