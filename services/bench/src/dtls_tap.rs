//! What the transport nodes' DTLS counters would say, read off the wire by
//! the load balancer in front of them (`lwm2m_sim::udp_balancer::Observer`).
//!
//! A node's own counters (`dtls.records_forwarded`, `records_relayed`,
//! `engine.handshakes_started`) live in its process and are not exported
//! (no gRPC call, no metrics endpoint), so the cluster benchmark counts
//! the same events where every datagram passes anyway, with the nodes'
//! own definitions:
//!
//! - **forwarded**: a datagram from a device whose first record is a
//!   `tls12_cid` record (content type 25) naming, in byte 11, a node other
//!   than the one the balancer sends it to. That node cannot decrypt it and
//!   forwards it to the owner (`secure/forwarding.rs::route`).
//! - **relayed**: a datagram from a node to a device whose session another
//!   node owns (the owner named by the device's last CID record). Only the
//!   owner has the keys, so the node sends it on the owner's behalf.
//! - **handshakes**: devices (source addresses) that received a
//!   ServerHello (epoch-0 handshake record, message type 2), each counted
//!   once however often the server retransmits its flight.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use lwm2m_dtls::node_id_of_record;
use lwm2m_sim::udp_balancer::Observer;

/// DTLS content type of handshake records.
const CT_HANDSHAKE: u8 = 22;
/// Handshake message type of ServerHello.
const SERVER_HELLO: u8 = 2;
/// Record header: type, version (2), epoch (2), sequence number (6), length (2).
const RECORD_HEADER: usize = 13;

/// Whether `datagram` starts with a plaintext (epoch 0) ServerHello.
pub fn is_server_hello(datagram: &[u8]) -> bool {
    datagram.first() == Some(&CT_HANDSHAKE)
        && datagram.get(3..5) == Some(&[0, 0][..])
        && datagram.get(RECORD_HEADER) == Some(&SERVER_HELLO)
}

/// Counters of one run, snapshot by [`DtlsTap::counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapCounts {
    pub forwarded: u64,
    pub relayed: u64,
    pub handshakes: u64,
    /// Records with a CID, from devices (forwarded or not).
    pub cid_records: u64,
}

/// The observer: backend index → node id is what the balancer was given.
#[derive(Debug)]
pub struct DtlsTap {
    node_ids: Vec<u8>,
    owners: Mutex<HashMap<SocketAddr, u8>>,
    hello_to: Mutex<HashSet<SocketAddr>>,
    forwarded: AtomicU64,
    relayed: AtomicU64,
    cid_records: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DtlsTap {
    /// `node_ids[i]` is the node id of the balancer's backend `i`.
    pub fn new(node_ids: Vec<u8>) -> Self {
        DtlsTap {
            node_ids,
            owners: Mutex::default(),
            hello_to: Mutex::default(),
            forwarded: AtomicU64::new(0),
            relayed: AtomicU64::new(0),
            cid_records: AtomicU64::new(0),
        }
    }

    pub fn counts(&self) -> TapCounts {
        TapCounts {
            forwarded: self.forwarded.load(Ordering::Relaxed),
            relayed: self.relayed.load(Ordering::Relaxed),
            handshakes: lock(&self.hello_to).len() as u64,
            cid_records: self.cid_records.load(Ordering::Relaxed),
        }
    }

    /// The node named by the last CID record heard from `client`.
    pub fn owner_of(&self, client: SocketAddr) -> Option<u8> {
        lock(&self.owners).get(&client).copied()
    }
}

impl Observer for DtlsTap {
    fn upstream(&self, client: SocketAddr, backend: usize, datagram: &[u8]) {
        let Some(owner) = node_id_of_record(datagram) else {
            return;
        };
        self.cid_records.fetch_add(1, Ordering::Relaxed);
        lock(&self.owners).insert(client, owner);
        if self.node_ids.get(backend) != Some(&owner) {
            self.forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn downstream(&self, client: SocketAddr, backend: usize, datagram: &[u8]) {
        if is_server_hello(datagram) {
            lock(&self.hello_to).insert(client);
        }
        let owner = lock(&self.owners).get(&client).copied();
        if owner.is_some_and(|owner| self.node_ids.get(backend) != Some(&owner)) {
            self.relayed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid_record(node: u8) -> Vec<u8> {
        // type 25, DTLS 1.2, epoch 1, seq 6 bytes, CID (8) from byte 11, length.
        let mut r = vec![25, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7];
        r.extend([node, 9, 9, 9, 9, 9, 9, 9, 0, 4, 1, 2, 3, 4]);
        r
    }

    fn server_hello() -> Vec<u8> {
        let mut r = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 50];
        r.extend([SERVER_HELLO, 0, 0, 46]);
        r
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn recognises_a_server_hello_and_nothing_else() {
        assert!(is_server_hello(&server_hello()));
        let mut hello_verify = server_hello();
        hello_verify[RECORD_HEADER] = 3;
        assert!(!is_server_hello(&hello_verify));
        let mut epoch_1 = server_hello();
        epoch_1[4] = 1;
        assert!(!is_server_hello(&epoch_1), "encrypted handshake records");
        assert!(!is_server_hello(&cid_record(1)));
        assert!(!is_server_hello(&[22, 0xfe]));
    }

    #[test]
    fn counts_forwarded_and_relayed_records_and_handshakes_once_per_device() {
        // Backend 0 is node 1, backend 1 is node 2.
        let tap = DtlsTap::new(vec![1, 2]);
        // A device handshakes with node 1 (a retransmitted flight counts once).
        tap.downstream(addr(1000), 0, &server_hello());
        tap.downstream(addr(1000), 0, &server_hello());
        tap.upstream(addr(1000), 0, &cid_record(1));
        tap.downstream(addr(1000), 0, &[23, 0xfe, 0xfd]);
        assert_eq!(
            tap.counts(),
            TapCounts {
                forwarded: 0,
                relayed: 0,
                handshakes: 1,
                cid_records: 1
            }
        );
        // It rebinds and lands on node 2: its records go to node 1 through 2.
        tap.upstream(addr(1001), 1, &cid_record(1));
        tap.downstream(addr(1001), 1, &[23, 0xfe, 0xfd]);
        tap.upstream(addr(1001), 1, &[23, 0xfe, 0xfd]); // no CID: not counted
        let c = tap.counts();
        assert_eq!((c.forwarded, c.relayed, c.handshakes), (1, 1, 1));
        assert_eq!(tap.owner_of(addr(1001)), Some(1));
        assert_eq!(tap.owner_of(addr(2000)), None);
    }
}
