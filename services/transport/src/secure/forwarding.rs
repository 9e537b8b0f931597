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
//! 2. the owner hands it to its engine as if it came from that address and
//!    remembers the node it came through (`via`);
//! 3. every record the owner sends to that address — replies and downlinks
//!    it starts — goes back through that node, which sends it from its own
//!    socket: the address the device's NAT and the load balancer expect.
//!
//! A device heard directly again is sent to directly again.
//!
//! A record for a node id nobody holds (the node is dead) makes this node
//! try to adopt that id (`cluster::adoption`); the ids it holds for dead
//! nodes are routed here like its own.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use lwm2m_dtls::node_id_of_record;
use tokio::net::UdpSocket;

use crate::cluster::adoption::{Adopter, Adoption};
use crate::cluster::frame::{self, Direction};
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

/// What a frame from another node asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery<'a> {
    /// A record for one of our sessions, from `device`.
    Record {
        device: SocketAddr,
        record: &'a [u8],
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
    pub(crate) fn route(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) -> Route {
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
            _ => {
                // Heard directly: answer directly from now on.
                self.via.remove(&from);
                Route::Here
            }
        }
    }

    /// The node to send a record for `device` through, if not ourselves.
    pub(crate) fn via(&self, device: SocketAddr) -> Option<SocketAddr> {
        self.via.get(&device).copied()
    }

    /// Forgets a device address (its session closed).
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
        let bytes = frame::encode(&self.key, Direction::Inbound, self.own_id, device, record);
        self.send(owner, &bytes).await
    }

    /// Sends one of our records out through the node the device is heard on.
    pub(crate) async fn relay(&self, node: SocketAddr, device: SocketAddr, record: &[u8]) -> bool {
        let bytes = frame::encode(&self.key, Direction::Outbound, self.own_id, device, record);
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
        match frame::decode(&self.key, bytes) {
            Ok(f) => match f.direction {
                Direction::Inbound => {
                    // Replies go back through the node that heard it.
                    self.via.insert(f.device, from);
                    Counters::inc(&counters.records_taken_over);
                    Ok(Some(Delivery::Record {
                        device: f.device,
                        record: f.record,
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
