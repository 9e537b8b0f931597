//! The transport node for CoAP (NoSec) and CoAP over DTLS: async IO
//! drivers (tokio) around the sans-IO cores (`lwm2m-coap`, `lwm2m-dtls`,
//! `lwm2m-core`), backed by the shared session store and publishing to the
//! uplink bus.
//!
//! Nodes are stateless: registrations and observations live in the
//! [`SessionStore`](lwm2m_session::SessionStore), so any node can serve any
//! device, match any notification by its token and expire any registration.
//! Downlinks leave through the node that last heard from the device (where
//! its NAT binding points): other nodes forward them over gRPC.
//!
//! ```no_run
//! # async fn demo(deps: lwm2m_transport::TransportDeps) -> Result<(), lwm2m_transport::Error> {
//! use lwm2m_transport::{run, TransportConfig};
//! run(TransportConfig::default(), deps, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! # Layout
//!
//! - `driver`: the UDP task owning the socket and the `CoapEndpoint`;
//!   `secure`: the DTLS task (its own socket, `DtlsServer` and endpoint)
//!   and the binding of DTLS identities to endpoints; `peer`: which of the
//!   two reaches a device (`coaps://` addresses).
//! - `inbound`: routing and admission of device requests; `registration`
//!   (Register/Update/De-register), `send` (`/dp`).
//! - `observe`: notifications, including ones matched via the store's token index.
//! - `downlink` (the [`Downlinks`] API), `operation` (request building and
//!   response decoding per operation), `content_format` (format policy),
//!   `queue_mode` (held downlinks for sleeping devices), `forward`.
//! - `expiry`: the lifetime sweeper.
//! - `cluster`: the node id (config, StatefulSet ordinal or lease) and its
//!   heartbeat; DTLS sessions parked at stop and restored at start.
//! - `grpc`: `lwm2m.transport.v1.Transport`, health, reflection; `proto_convert`.
//! - `events` (uplink event builders), `decode`, `nodes`, `address_index`,
//!   `stats`, `config`, `error`, `clock`.

mod address_index;
mod clock;
pub mod cluster;
mod config;
pub mod content_format;
mod decode;
mod downlink;
mod driver;
mod error;
mod events;
mod expiry;
mod forward;
mod grpc;
mod inbound;
mod log_limit;
mod missing_models;
mod node;
mod nodes;
mod observe;
mod operation;
mod peer;
mod proto_convert;
mod provisioning;
mod queue_mode;
mod registration;
mod secure;
mod send;
mod stats;
mod stop;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use lwm2m_coap::CoapEndpoint;
use lwm2m_dtls::{DtlsServer, SessionId};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use cluster::{ClusterConfig, NodeIdSource};
pub use config::{DeviceOverrides, StaticPsk, TransportConfig};
pub use downlink::{Downlinks, Target};
pub use error::Error;
/// The DTLS engine, for configuring [`TransportConfig::dtls`].
pub use lwm2m_dtls as dtls;
pub use node::TransportDeps;
pub use operation::{DownlinkResult, Operation, RawCoap};
pub use stats::TransportStats;

use node::Node;

/// A running node.
pub struct TransportHandle {
    /// The bound CoAP (UDP) address.
    pub coap_addr: SocketAddr,
    /// The bound CoAP-over-DTLS (UDP) address, when DTLS is on.
    pub dtls_addr: Option<SocketAddr>,
    /// The bound gRPC (TCP) address.
    pub grpc_addr: SocketAddr,
    /// This node's id in registrations.
    pub node_id: String,
    /// The node id in the first byte of this node's DTLS Connection IDs
    /// (configured, from the StatefulSet ordinal, or leased).
    pub cid_node_id: u8,
    /// Resolves when every task of the node has stopped.
    pub join: JoinHandle<Result<(), Error>>,
    stop: Arc<watch::Sender<bool>>,
    node: Arc<Node>,
}

impl std::fmt::Debug for TransportHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportHandle")
            .field("coap_addr", &self.coap_addr)
            .field("dtls_addr", &self.dtls_addr)
            .field("grpc_addr", &self.grpc_addr)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl TransportHandle {
    /// The node's counters (no gRPC needed).
    pub fn stats(&self) -> TransportStats {
        self.node.counters.snapshot()
    }

    /// The internal downlink API of this node.
    pub fn downlinks(&self) -> Downlinks {
        Downlinks::new(Arc::clone(&self.node))
    }

    /// Asks the node to stop (as the `shutdown` future would).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops the node and waits for it.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.stop();
        match self.join.await {
            Ok(result) => result,
            Err(e) => Err(Error::Config(format!("transport task failed: {e}"))),
        }
    }
}

/// Runs a node until `shutdown` completes.
pub async fn run(
    config: TransportConfig,
    deps: TransportDeps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let handle = start(config, deps, shutdown).await?;
    match handle.join.await {
        Ok(result) => result,
        Err(e) => Err(Error::Config(format!("transport task failed: {e}"))),
    }
}

/// Binds the sockets and starts the node's tasks; returns at once with the
/// bound addresses (bind port 0 in tests). The node stops when `shutdown`
/// completes or [`TransportHandle::stop`] is called.
pub async fn start(
    mut config: TransportConfig,
    deps: TransportDeps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<TransportHandle, Error> {
    config.validate()?;
    let endpoint = CoapEndpoint::<SocketAddr>::new(config.coap_config()?)?;
    let socket = UdpSocket::bind(config.coap_bind).await?;
    let listener = TcpListener::bind(config.grpc_bind).await?;
    let coap_addr = socket.local_addr()?;
    let grpc_addr = listener.local_addr()?;
    let advertised = config
        .grpc_advertise
        .clone()
        .unwrap_or_else(|| grpc_addr.to_string());
    let forward_socket = match config.cluster.forward_bind {
        Some(bind) => Some(UdpSocket::bind(bind).await?),
        None => None,
    };
    let forward_advertised = match (&forward_socket, &config.cluster.forward_advertise) {
        (Some(_), Some(advertised)) => advertised.clone(),
        (Some(socket), None) => socket.local_addr()?.to_string(),
        (None, _) => String::new(),
    };
    // The node id (first byte of our Connection IDs) is settled, and its
    // lease held, before the DTLS engine exists.
    let (cid_node_id, lease) = cluster::identity::acquire(
        &config.cluster,
        config.dtls.node_id,
        deps.cluster.as_ref(),
        &advertised,
        &forward_advertised,
    )
    .await?;
    config.dtls.node_id = cid_node_id;
    // In a cluster, sessions reserve their record sequence numbers in the
    // store, so a node taking over after a crash never reuses one.
    if deps.cluster.is_some() && config.cluster.sequence_block > 0 {
        config.dtls.sequence_reservation = Some(config.cluster.sequence_block);
    }
    let secure = match config.dtls_bind {
        Some(bind) => match secure_parts(&config, bind).await {
            Ok(parts) => Some(parts),
            Err(e) => {
                if let Some(lease) = &lease {
                    lease.release().await;
                }
                return Err(e);
            }
        },
        None => None,
    };
    let dtls_addr = match &secure {
        Some((socket, ..)) => Some(socket.local_addr()?),
        None => None,
    };
    let node_id = config.node_id.clone().unwrap_or(advertised);
    let flush_timeout = config.shutdown_flush_timeout;
    let heartbeat_every = config.cluster.heartbeat;

    let (commands, command_rx) = mpsc::channel(driver::COMMAND_QUEUE);
    let (secure_commands, secure_rx) = mpsc::channel(driver::COMMAND_QUEUE);
    let (stop, stop_rx) = watch::channel(false);
    let stop = Arc::new(stop);
    // Sessions are parked and reserved under the leases this node holds.
    let parking = match (&deps.cluster, &lease) {
        (Some(store), Some(lease)) => Some(cluster::parking::Parking {
            store: Arc::clone(store),
            node_id: cid_node_id,
            holder: lease.member().holder.clone(),
            ttl: config.cluster.parked_session_ttl,
            block: config.dtls.sequence_reservation,
        }),
        _ => None,
    };
    let node = Arc::new(Node::new(
        config,
        node_id.clone(),
        deps,
        driver::DriverHandle::new(commands),
        secure
            .as_ref()
            .map(|_| driver::DriverHandle::new(secure_commands)),
        stop_rx.clone(),
        parking,
    ));

    provisioning::watch(&node);
    // Sessions the previous holder of this node id parked come back before
    // the first datagram is read.
    let secure = match (secure, &node.parking) {
        (Some((socket, mut server, endpoint)), Some(parking)) => {
            parking
                .restore(&mut server, std::time::Instant::now())
                .await;
            Some((socket, server, endpoint))
        }
        (secure, _) => secure,
    };
    // Forwarding needs the other nodes' addresses: the lease records.
    let members = cluster::members::Members::default();
    let forwarding = match (forward_socket, &node.parking) {
        (Some(socket), Some(parking)) => {
            tokio::spawn(members.clone().refresh(
                Arc::clone(&parking.store),
                heartbeat_every,
                stop_rx.clone(),
            ));
            // A dead node's sessions are adopted only if they can be taken
            // over safely (sequence numbers reserved).
            let adopter = match (&lease, parking.block) {
                (Some(lease), Some(_)) => Some(cluster::adoption::Adopter::new(
                    parking.clone(),
                    lease.member().clone(),
                    node.config.cluster.lease_ttl,
                    heartbeat_every,
                    stop_rx.clone(),
                )),
                _ => None,
            };
            Some(secure::forwarding::Forwarding::new(
                socket,
                node.config.cluster.key.clone(),
                cid_node_id,
                members,
                adopter,
            ))
        }
        (Some(_), None) => {
            tracing::warn!("record forwarding needs the cluster store: off");
            None
        }
        (None, _) => None,
    };
    let external = Arc::clone(&stop);
    tokio::spawn(async move {
        shutdown.await;
        let _ = external.send(true);
    });
    // Whichever task ends first (error or shutdown) stops the others.
    let stopping = |stop: &Arc<watch::Sender<bool>>| {
        let stop = Arc::clone(stop);
        move || {
            let _ = stop.send(true);
        }
    };
    // A lease lost to another node stops this one, like a failed task.
    let heartbeat = lease.clone().map(|lease| {
        let (rx, done) = (stop_rx.clone(), stopping(&stop));
        tokio::spawn(lease.heartbeat(heartbeat_every, rx, done))
    });
    let udp = {
        let (node, rx, done) = (Arc::clone(&node), stop_rx.clone(), stopping(&stop));
        tokio::spawn(async move {
            let result = driver::run(node, socket, endpoint, command_rx, rx).await;
            done();
            result
        })
    };
    let dtls = secure.map(|(socket, server, endpoint)| {
        let (node, rx, done) = (Arc::clone(&node), stop_rx.clone(), stopping(&stop));
        tokio::spawn(async move {
            let result =
                secure::driver::run(node, socket, server, endpoint, forwarding, secure_rx, rx)
                    .await;
            done();
            result
        })
    });
    let grpc = {
        let (node, rx, done) = (Arc::clone(&node), stop_rx.clone(), stopping(&stop));
        tokio::spawn(async move {
            let result = grpc::serve(node, listener, rx).await;
            done();
            result
        })
    };
    let sweeper = tokio::spawn(expiry::run(Arc::clone(&node), stop_rx));
    let bus = Arc::clone(&node.bus);
    let join = tokio::spawn(async move {
        let udp = udp.await;
        let dtls = match dtls {
            Some(task) => task.await,
            None => Ok(Ok(())),
        };
        let grpc = grpc.await;
        let _ = sweeper.await;
        if let Err(e) = bus.flush(flush_timeout).await {
            tracing::warn!(error = %e, "uplink bus not flushed at shutdown");
        }
        // Last: the DTLS task has parked its sessions under our id by now.
        if let Some(heartbeat) = heartbeat {
            let _ = heartbeat.await;
        }
        if let Some(lease) = lease {
            lease.release().await;
        }
        let joined = |r: Result<Result<(), Error>, tokio::task::JoinError>| match r {
            Ok(result) => result,
            Err(e) => Err(Error::Config(format!("transport task failed: {e}"))),
        };
        joined(udp).and(joined(dtls)).and(joined(grpc))
    });
    tracing::info!(%coap_addr, ?dtls_addr, %grpc_addr, %node_id, cid_node_id, "transport node started");
    Ok(TransportHandle {
        coap_addr,
        dtls_addr,
        grpc_addr,
        node_id,
        cid_node_id,
        join,
        stop,
        node,
    })
}

/// The DTLS driver's socket, engine and CoAP endpoint. CoAP messages must
/// fit in one record of one datagram, so the endpoint's message size is
/// the MTU less the largest record overhead (CBC with a CID).
async fn secure_parts(
    config: &TransportConfig,
    bind: SocketAddr,
) -> Result<(UdpSocket, DtlsServer, CoapEndpoint<SessionId>), Error> {
    let dtls_config = config.dtls_config();
    let mut coap = config.coap_config()?;
    coap.max_message_size = dtls_config.mtu.saturating_sub(DTLS_RECORD_OVERHEAD);
    coap.validate()
        .map_err(|e| Error::Config(format!("dtls: {e}")))?;
    let server = DtlsServer::new(dtls_config, Box::new(lwm2m_dtls::OsRng))
        .map_err(|e| Error::Config(format!("dtls: {e}")))?;
    let endpoint = CoapEndpoint::<SessionId>::new(coap)?;
    let socket = UdpSocket::bind(bind).await?;
    Ok((socket, server, endpoint))
}

/// Header (13) + CID (up to 32) + inner type (1) + IV (16) + MAC (32) +
/// padding (16), rounded up.
const DTLS_RECORD_OVERHEAD: usize = 112;
