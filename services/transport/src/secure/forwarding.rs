//! Connection-ID routing between the nodes of a cluster, in the DTLS task.
//!
//! A load balancer hashes a device's address to some node; after a NAT
//! rebinding that may be another node than the one holding its DTLS
//! session. The session's owner is in the first byte of the Connection ID,
//! readable without decrypting, so:
//!
//! 1. a node receiving a record for another node's CID forwards it, still
//!    encrypted, in an authenticated frame (`cluster::frame`) to the owner's
//!    forwarding socket, with the device's address;
//! 2. the owner hands it to its engine as if it came from that address and,
//!    once the engine has authenticated the record inside (application
//!    data or a CID address update from that address), remembers the node
//!    it came through (`via`): the forwarding address in that node's
//!    membership record, never the frame's UDP source;
//! 3. every record the owner sends to that address — replies and downlinks
//!    it starts — goes back through that node, which sends it from its own
//!    socket: the address the device's NAT and the load balancer expect.
//!
//! A device heard directly again (an authentic record) is sent to directly
//! again. Nothing unauthenticated changes `via`: a forged or replayed
//! record, framed or not, leaves it as it was. It holds one entry per
//! session at most (an entry goes when its session moves or closes), and
//! never more than `MAX_VIA`.
//!
//! A record for a node id nobody holds (the node is dead) makes this node
//! try to adopt that id (`cluster::adoption`); the ids it holds for dead
//! nodes are routed here like its own.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use lwm2m_dtls::{node_id_of_record, DtlsServer, Event};
use tokio::net::UdpSocket;

use crate::clock::now_ms;
use crate::cluster::adoption::{Adopter, Adoption};
use crate::cluster::frame::{self, Direction, Freshness};
use crate::cluster::members::Members;
use crate::stats::Counters;

/// Where a datagram from a device goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// To this node's engine.
    Here,
    /// To the owner's forwarding address.
    Owner(SocketAddr),
    /// The owner is not a member (gone): the engine, which drops it unless
    /// it holds the session; meanwhile this node tries to adopt the id.
    Gone,
}

/// Most devices remembered as heard through another node: above the
/// engine's session cap, so it only binds if entries were not cleaned up.
const MAX_VIA: usize = 262_144;

/// How a datagram reached this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// From the device, on our own socket.
    Direct,
    /// In a frame from the member whose forwarding address this is.
    Relayed(SocketAddr),
    /// In a frame from a node that is not (or no longer) a member: its
    /// replies cannot go back through it.
    Unknown,
}

/// What a frame from another node asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery<'a> {
    /// A record for one of our sessions, from `device`.
    Record {
        device: SocketAddr,
        record: &'a [u8],
        path: Path,
    },
    /// A record of the owner's to send to `device` from our socket.
    SendOut {
        device: SocketAddr,
        record: &'a [u8],
    },
    /// Not a valid frame (counted; nothing to do).
    Refused,
}

pub(crate) struct Forwarding {
    pub socket: UdpSocket,
    key: Vec<u8>,
    own_id: u8,
    members: Members,
    /// Device address → forwarding address of the node it was heard through.
    via: HashMap<SocketAddr, SocketAddr>,
    /// Frames taken recently: a replayed or stale frame is refused.
    freshness: Freshness,
    /// Adopts dead nodes' ids (`None`: sessions are not taken over).
    pub adopter: Option<Adopter>,
    adoptions: Option<tokio::sync::mpsc::UnboundedReceiver<Adoption>>,
}

impl Forwarding {
    pub(crate) fn new(
        socket: UdpSocket,
        key: Vec<u8>,
        own_id: u8,
        members: Members,
        adopter: Option<(Adopter, tokio::sync::mpsc::UnboundedReceiver<Adoption>)>,
    ) -> Self {
        let (adopter, adoptions) = adopter.unzip();
        Forwarding {
            socket,
            key,
            own_id,
            members,
            via: HashMap::new(),
            freshness: Freshness::default(),
            adopter,
            adoptions,
        }
    }

    /// The adoption outcomes, for the DTLS task to wait on.
    pub(crate) fn take_adoptions(
        &mut self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<Adoption>> {
        self.adoptions.take()
    }

    fn serves(&self, node_id: u8) -> bool {
        node_id == self.own_id
            || self
                .adopter
                .as_ref()
                .is_some_and(|a| a.held().any(|id| id == node_id))
    }

    /// Where a datagram received from a device belongs.
    pub(crate) fn route(&mut self, datagram: &[u8], now: Instant) -> Route {
        match node_id_of_record(datagram) {
            Some(owner) if !self.serves(owner) => match self.members.forward_addr(owner) {
                Some(addr) => Route::Owner(addr),
                None => {
                    if let Some(adopter) = self.adopter.as_mut() {
                        adopter.try_adopt(owner, now);
                    }
                    Route::Gone
                }
            },
            _ => Route::Here,
        }
    }

    /// The node to send a record for `device` through, if not ourselves.
    pub(crate) fn via(&self, device: SocketAddr) -> Option<SocketAddr> {
        self.via.get(&device).copied()
    }

    /// Hands a datagram to the engine; the relay map follows only if the
    /// engine reports an authentic record from `device` in it. Events
    /// raised before it are moved to `early` first, and its own after them
    /// (the DTLS task handles `early` before the engine's queue, so the
    /// order is kept).
    pub(crate) fn hand_to_engine(
        &mut self,
        dtls: &mut DtlsServer,
        early: &mut VecDeque<Event>,
        now: Instant,
        device: SocketAddr,
        datagram: &[u8],
        path: Path,
    ) {
        let relayed_now = self.via.get(&device).copied();
        let wanted = match path {
            Path::Direct => None,
            Path::Relayed(node) => Some(node),
            Path::Unknown => relayed_now,
        };
        if wanted == relayed_now {
            // Nothing to learn from this record.
            dtls.handle_datagram(now, device, datagram);
            return;
        }
        early.extend(std::iter::from_fn(|| dtls.poll_event()));
        let before = early.len();
        dtls.handle_datagram(now, device, datagram);
        early.extend(std::iter::from_fn(|| dtls.poll_event()));
        let authentic = early.iter().skip(before).any(|e| match e {
            Event::ApplicationData { peer, .. } => *peer == device,
            Event::PeerMoved { new, .. } => *new == device,
            _ => false,
        });
        if !authentic {
            return;
        }
        match wanted {
            Some(node) if self.via.len() < MAX_VIA || relayed_now.is_some() => {
                self.via.insert(device, node);
            }
            Some(_) => tracing::warn!(%device, "relay map full; device answered directly"),
            None => {
                self.via.remove(&device);
            }
        }
    }

    /// Forgets a device address (its session closed or moved away).
    pub(crate) fn forget(&mut self, device: SocketAddr) {
        self.via.remove(&device);
    }

    /// Sends a device's record to its owner.
    pub(crate) async fn forward(
        &self,
        owner: SocketAddr,
        device: SocketAddr,
        record: &[u8],
    ) -> bool {
        let bytes = frame::encode(
            &self.key,
            Direction::Inbound,
            self.own_id,
            now_ms(),
            device,
            record,
        );
        self.send(owner, &bytes).await
    }

    /// Sends one of our records out through the node the device is heard on.
    pub(crate) async fn relay(&self, node: SocketAddr, device: SocketAddr, record: &[u8]) -> bool {
        let bytes = frame::encode(
            &self.key,
            Direction::Outbound,
            self.own_id,
            now_ms(),
            device,
            record,
        );
        self.send(node, &bytes).await
    }

    async fn send(&self, to: SocketAddr, bytes: &[u8]) -> bool {
        match self.socket.send_to(bytes, to).await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(%to, error = %e, "cluster frame not sent");
                false
            }
        }
    }

    /// Reads one frame, if one is ready; `Ok(None)` when none is.
    pub(crate) fn try_receive<'b>(
        &mut self,
        buf: &'b mut [u8],
        counters: &Counters,
    ) -> std::io::Result<Option<Delivery<'b>>> {
        let (len, from) = match self.socket.try_recv_from(buf) {
            Ok(read) => read,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        let bytes = buf.get(..len).unwrap_or_default();
        let decoded = frame::decode(&self.key, bytes)
            .and_then(|f| self.freshness.admit(&f, now_ms()).map(|()| f));
        match decoded {
            Ok(f) => match f.direction {
                Direction::Inbound => {
                    // Replies go back through the node that heard it: the
                    // address its membership names, not the UDP source.
                    let path = match self.members.forward_addr(f.from_node) {
                        Some(node) => Path::Relayed(node),
                        None => Path::Unknown,
                    };
                    Counters::inc(&counters.records_taken_over);
                    Ok(Some(Delivery::Record {
                        device: f.device,
                        record: f.record,
                        path,
                    }))
                }
                Direction::Outbound => Ok(Some(Delivery::SendOut {
                    device: f.device,
                    record: f.record,
                })),
            },
            Err(e) => {
                Counters::inc(&counters.frames_refused);
                tracing::debug!(%from, error = %e, "cluster frame refused");
                Ok(Some(Delivery::Refused))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::test_sessions::{handshake, server};

    const KEY: &[u8] = b"cluster key for the forwarding tests";

    async fn bind() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").await.unwrap()
    }

    /// Reads the next frame into the engine; whether it was taken.
    async fn take(f: &mut Forwarding, dtls: &mut DtlsServer, early: &mut VecDeque<Event>) -> bool {
        let mut buf = vec![0u8; 4096];
        let counters = Counters::default();
        loop {
            f.socket.readable().await.unwrap();
            match f.try_receive(&mut buf, &counters).unwrap() {
                Some(Delivery::Record {
                    device,
                    record,
                    path,
                }) => {
                    f.hand_to_engine(dtls, early, Instant::now(), device, record, path);
                    return true;
                }
                Some(Delivery::Refused) => return false,
                Some(Delivery::SendOut { .. }) => panic!("not sent"),
                None => {}
            }
        }
    }

    /// Finding 4: forged or replayed input leaves the relay map alone; an
    /// authentic record sets it to the sending node's membership address,
    /// not the frame's UDP source.
    #[tokio::test]
    async fn the_relay_map_follows_authentic_records_only() {
        let now = Instant::now();
        let mut dtls = server(true, 1024);
        let mut early = VecDeque::new();
        let first: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let (_, mut client) = handshake(&mut dtls, first, now, &mut Vec::new());
        let (node_b, node_c, stranger) = (bind().await, bind().await, bind().await);
        let b_addr = node_b.local_addr().unwrap();
        let members = Members::default();
        let member = |node_id: u8, addr: SocketAddr| lwm2m_session::Member {
            node_id,
            holder: format!("h{node_id}"),
            grpc_addr: String::new(),
            forward_addr: addr.to_string(),
            adopted: false,
        };
        members.set(&[member(2, b_addr), member(3, node_c.local_addr().unwrap())]);
        let mut f = Forwarding::new(bind().await, KEY.to_vec(), 1, members, None);
        let owner = f.socket.local_addr().unwrap();
        let device: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        let frame = |from_node: u8, record: &[u8]| {
            frame::encode(KEY, Direction::Inbound, from_node, now_ms(), device, record)
        };
        client.send(b"uplink").unwrap();
        let record = client.poll_transmit().unwrap();

        // Junk with a valid frame MAC (any node, or a replay of one).
        let mut junk = record.clone();
        *junk.last_mut().unwrap() ^= 1;
        node_b.send_to(&frame(2, &junk), owner).await.unwrap();
        assert!(take(&mut f, &mut dtls, &mut early).await);
        assert_eq!(f.via(device), None, "junk does not set the relay");

        // The authentic record, sent from another socket than node 2's.
        let authentic = frame(2, &record);
        stranger.send_to(&authentic, owner).await.unwrap();
        assert!(take(&mut f, &mut dtls, &mut early).await);
        assert!(early
            .iter()
            .any(|e| matches!(e, Event::PeerMoved { new, .. } if *new == device)));
        assert_eq!(f.via(device), Some(b_addr), "the membership address");

        // A replayed frame is refused; a replayed record in a new frame is
        // refused by the engine; neither moves the relay.
        node_c.send_to(&authentic, owner).await.unwrap();
        assert!(!take(&mut f, &mut dtls, &mut early).await);
        node_c.send_to(&frame(3, &record), owner).await.unwrap();
        assert!(take(&mut f, &mut dtls, &mut early).await);
        assert_eq!(f.via(device), Some(b_addr));

        // A forged datagram "from" the device does not make it direct...
        f.hand_to_engine(&mut dtls, &mut early, now, device, &junk, Path::Direct);
        assert_eq!(f.via(device), Some(b_addr));
        // ...the device heard directly does.
        client.send(b"direct").unwrap();
        let direct = client.poll_transmit().unwrap();
        f.hand_to_engine(&mut dtls, &mut early, now, device, &direct, Path::Direct);
        assert_eq!(f.via(device), None);
    }
}
