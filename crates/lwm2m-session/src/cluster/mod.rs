//! Cluster membership of transport nodes and DTLS sessions parked across a
//! node restart.
//!
//! - **Node ids.** Every transport node holds a lease on one node id
//!   (0–255, the first byte of the DTLS Connection IDs it issues). A lease
//!   is a record with a TTL that its holder renews (heartbeat); only the
//!   holder can renew or release it, so two live nodes never hold the same
//!   id. The lease record is also the membership record: it names the
//!   node's gRPC and forwarding addresses, so nodes find each other by
//!   listing the leases.
//! - **Parked DTLS sessions.** A node that stops gracefully exports its
//!   established sessions (the `lwm2m-dtls` export blob) into a list keyed
//!   by its node id, with a TTL, while it still holds the id's lease; the next node to hold that id takes the
//!   list and imports the sessions, so devices carry on without a handshake.
//!   Sessions are kept per node id: a node loads only its own.
//! - **Reserved DTLS sessions.** A node that reserves record sequence
//!   numbers in blocks (`lwm2m-dtls`' `sequence_reservation`) stores each
//!   established session's latest reservation blob under its node id and
//!   the session's key (its Connection ID), only while it holds that id's
//!   lease (checked in the same atomic step, so a node that lost its lease
//!   cannot extend a reservation its successor has already started
//!   above). After a crash nothing was parked, but the next holder of the
//!   id takes these blobs and imports them with `seq_skip` = the block
//!   size, so no sequence number is used twice.
//! - **Adopted ids.** A live node may hold a dead node's id as well, to
//!   serve that node's sessions (`Member::adopted`). The id's own node,
//!   back, takes such a lease over at once.
//!
//! The store never reads a clock: callers pass `now_ms` (the memory backend
//! judges expiry by it; Redis by its own TTLs).

mod memory;
mod redis;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

pub use memory::MemoryCluster;

/// One live transport node, as its lease record says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub node_id: u8,
    /// Unique per process start: the lease's owner.
    pub holder: String,
    /// Where the node's gRPC API is reached (downlinks from other nodes).
    pub grpc_addr: String,
    /// Where the node takes DTLS records forwarded by other nodes (empty:
    /// not taken).
    #[serde(default)]
    pub forward_addr: String,
    /// Held for a dead node by another node (which serves the dead node's
    /// sessions until the id's own node is back): a claim that is not an
    /// adoption takes it over.
    #[serde(default)]
    pub adopted: bool,
}

/// Node-id leases, membership and parked DTLS sessions.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// Takes the lease on `member.node_id` unless another holder has it
    /// (an adopted lease is taken over by a claim that is not an adoption).
    /// Taking it again as the same holder renews it.
    async fn claim(&self, member: &Member, ttl_ms: i64, now_ms: i64) -> Result<bool>;

    /// Takes the lowest free id (`member.node_id` is ignored); when none is
    /// free, takes the lowest adopted one over (a node's own lease pre-empts
    /// an adoption, so adoptions can never starve new nodes); `None` when
    /// all 256 are held by their own nodes.
    async fn claim_any(&self, member: &Member, ttl_ms: i64, now_ms: i64) -> Result<Option<u8>>;

    /// Extends the lease if `holder` still has it; `false` when it was lost
    /// (expired and possibly taken by another node).
    async fn renew(&self, node_id: u8, holder: &str, ttl_ms: i64, now_ms: i64) -> Result<bool>;

    /// Gives the lease up if `holder` has it.
    async fn release(&self, node_id: u8, holder: &str) -> Result<()>;

    /// Every node holding a lease, by node id.
    async fn members(&self, now_ms: i64) -> Result<Vec<Member>>;

    /// Parks exported DTLS sessions under `node_id` for `ttl_ms`, replacing
    /// what was parked there before, if `holder` holds that id's lease;
    /// `false` when it does not (a node that lost its lease may hold stale
    /// sessions another node has carried on with). Reservation blobs are
    /// left: the next holder imports the exact parked blobs first, and a
    /// reserved one of the same session is then refused as a duplicate.
    async fn park_dtls_sessions(
        &self,
        node_id: u8,
        holder: &str,
        blobs: Vec<Vec<u8>>,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool>;

    /// Takes (and removes) the sessions parked under `node_id`.
    async fn take_dtls_sessions(&self, node_id: u8, now_ms: i64) -> Result<Vec<Vec<u8>>>;

    /// Stores (replacing) the reservation blob of the session `key` (its
    /// Connection ID) under `node_id`, if `holder` holds that id's lease;
    /// `false` when it does not (nothing stored). Kept until dropped or
    /// taken.
    async fn store_dtls_reservation(
        &self,
        node_id: u8,
        holder: &str,
        key: &[u8],
        blob: Vec<u8>,
        now_ms: i64,
    ) -> Result<bool>;

    /// Drops the reservation blob of a closed session, if `holder` holds
    /// the id's lease.
    async fn drop_dtls_reservation(
        &self,
        node_id: u8,
        holder: &str,
        key: &[u8],
        now_ms: i64,
    ) -> Result<()>;

    /// Takes (and removes) every reservation blob stored under `node_id`
    /// (by the id's new holder).
    async fn take_dtls_reservations(&self, node_id: u8) -> Result<Vec<Vec<u8>>>;

    /// Whether anything is parked or reserved under `node_id`: only such an
    /// id is worth adopting (records naming any other id may be forged,
    /// since the CID byte that names an owner is not authenticated).
    async fn has_dtls_sessions(&self, node_id: u8, now_ms: i64) -> Result<bool>;
}
