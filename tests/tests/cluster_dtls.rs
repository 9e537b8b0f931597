//! Issue 8, the transport cluster: three nodes on loopback with their own
//! ports, real Redis for sessions and node-id leases, one bus shared by
//! the three (so every uplink can be counted once), and a UDP load balancer
//! in front that hashes the client's address and port (see
//! `common/udp_balancer.rs`).
//!
//! DTLS devices with Connection IDs register through the balancer; after a
//! NAT rebinding of all of them most land on another node, whose records
//! are forwarded (still encrypted) to the owner of their session and whose
//! answers go back out through the node they came in on; downlinks reach
//! every device; then each node is restarted in turn and its devices carry
//! on with the sessions it parked, without a handshake; a fourth node joins
//! and forwards the records of devices that land on it. Every registration
//! event arrives exactly once. The plain-CoAP variant needs no forwarding:
//! any node serves any device from Redis.
// Tests may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::udp_balancer::UdpBalancer;
use common::{test_config, Backend, Store, TestNode, PATIENCE};
use futures::StreamExt;
use lwm2m_bus::{MemoryBus, SubscriptionFilter, UplinkBus};
use lwm2m_coap::ResponseCode;
use lwm2m_core::ModelRegistry;
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::RegistrationKind;
use lwm2m_sim::{Device, DeviceConfig, Security};
use lwm2m_transport::{Operation, StaticPsk, Target, TransportConfig, TransportDeps};

const NODES: u8 = 3;
const DEVICES: usize = 24;
const PSK_IDENTITY: &[u8] = b"cluster-fleet";
const PSK_KEY: &[u8] = b"cluster-psk-0001";

/// Registration events seen on the shared bus: (endpoint, kind) → count.
type Seen = Arc<Mutex<BTreeMap<(String, i32), usize>>>;

struct Cluster {
    store: Store,
    bus: Arc<dyn UplinkBus>,
    nodes: Vec<Option<TestNode>>,
    configs: Vec<TransportConfig>,
    seen: Seen,
}

impl Cluster {
    async fn start(dtls: bool) -> Cluster {
        let store = Store::new(Backend::Redis).await;
        let bus: Arc<dyn UplinkBus> = Arc::new(MemoryBus::new(16 * 1024));
        let seen: Seen = Arc::default();
        let mut events = bus.subscribe(SubscriptionFilter::all());
        let counted = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                if let Some(Payload::Registration(r)) = &event.payload {
                    *counted
                        .lock()
                        .unwrap()
                        .entry((event.endpoint.clone(), r.kind))
                        .or_default() += 1;
                }
            }
        });
        let mut cluster = Cluster {
            store,
            bus,
            nodes: Vec::new(),
            configs: Vec::new(),
            seen,
        };
        for id in 1..=NODES {
            let mut config = test_config();
            config.dtls.node_id = id;
            config.dtls_bind = dtls.then(|| "127.0.0.1:0".parse().unwrap());
            config.static_psks = vec![StaticPsk {
                identity: PSK_IDENTITY.to_vec(),
                key: PSK_KEY.to_vec(),
            }];
            config.cluster.lease_ttl = Duration::from_millis(1_500);
            config.cluster.heartbeat = Duration::from_millis(300);
            config.cluster.forward_bind = Some("127.0.0.1:0".parse().unwrap());
            config.cluster.key = b"the cluster's shared secret".to_vec();
            let node = cluster.node(config.clone()).await;
            // Restarts come back on the same device-facing ports.
            config.coap_bind = node.handle.coap_addr;
            config.dtls_bind = node.handle.dtls_addr;
            cluster.configs.push(config);
            cluster.nodes.push(Some(node));
        }
        // Every node must see the others' forwarding addresses.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while cluster.store.cluster.members(0).await.unwrap().len() < usize::from(NODES) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "members never complete"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // One refresh period, so each node's view includes the last to join.
        tokio::time::sleep(Duration::from_millis(700)).await;
        cluster
    }

    async fn node(&self, config: TransportConfig) -> TestNode {
        TestNode::start_deps(
            config,
            TransportDeps {
                sessions: self.store.sessions.clone(),
                bus: Arc::clone(&self.bus),
                models: Arc::new(ModelRegistry::with_core_objects()),
                registry: None,
                cluster: Some(self.store.cluster.clone()),
            },
        )
        .await
    }

    fn live(&self) -> impl Iterator<Item = &TestNode> {
        self.nodes.iter().flatten()
    }

    fn device_facing(&self, dtls: bool) -> Vec<SocketAddr> {
        self.live()
            .map(|n| {
                if dtls {
                    n.handle.dtls_addr.unwrap()
                } else {
                    n.handle.coap_addr
                }
            })
            .collect()
    }

    /// Sum of a counter over the live nodes.
    fn total(&self, counter: impl Fn(&lwm2m_transport::TransportStats) -> u64) -> u64 {
        self.live().map(|n| counter(&n.handle.stats())).sum()
    }

    fn seen(&self, endpoint: &str, kind: RegistrationKind) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.get(&(endpoint.to_owned(), kind as i32))
            .copied()
            .unwrap_or(0)
    }

    /// Starts another node with id `id` (joining the running cluster).
    async fn add_node(&mut self, id: u8) {
        let mut config = self.configs[0].clone();
        config.dtls.node_id = id;
        config.coap_bind = "127.0.0.1:0".parse().unwrap();
        config.dtls_bind = Some("127.0.0.1:0".parse().unwrap());
        let node = self.node(config.clone()).await;
        config.coap_bind = node.handle.coap_addr;
        config.dtls_bind = node.handle.dtls_addr;
        self.configs.push(config);
        self.nodes.push(Some(node));
    }

    async fn restart(&mut self, index: usize) {
        let node = self.nodes[index].take().unwrap();
        node.stop().await;
        let config = self.configs[index].clone();
        self.nodes[index] = Some(self.node(config).await);
    }

    async fn stop(mut self) {
        for node in self.nodes.drain(..).flatten() {
            node.stop().await;
        }
        self.store.cleanup().await;
    }
}

fn endpoint(i: usize) -> String {
    format!("cluster-dev-{i}")
}

async fn fleet(balancer: &UdpBalancer, dtls: bool) -> Vec<Device> {
    let mut devices = Vec::new();
    for i in 0..DEVICES {
        let device = Device::start(DeviceConfig {
            server: balancer.addr,
            endpoint: endpoint(i),
            lifetime: 300,
            value_change_interval: None,
            send_interval: None,
            ack_timeout: Duration::from_millis(1_000),
            register_retry: Duration::from_millis(500),
            security: if dtls {
                Security::Psk {
                    identity: PSK_IDENTITY.to_vec(),
                    key: PSK_KEY.to_vec(),
                }
            } else {
                Security::NoSec
            },
            ..DeviceConfig::default()
        })
        .await
        .unwrap();
        devices.push(device);
    }
    for device in &devices {
        device.wait_registered(PATIENCE).await.unwrap();
    }
    devices
}

fn read() -> Operation {
    Operation::Read {
        path: "/3/0/0".parse().unwrap(),
        content_format: None,
    }
}

/// Every device answers a Read sent through any node (the transport finds
/// the node that last heard from the device).
async fn every_device_answers(cluster: &Cluster) {
    let entry = cluster.live().next().unwrap().handle.downlinks();
    for i in 0..DEVICES {
        let result = entry
            .send(&Target::endpoint(endpoint(i)), read(), None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", endpoint(i)));
        assert_eq!(result.code, ResponseCode::CONTENT, "{}", endpoint(i));
    }
}

/// Every device updates once more and waits for it to go through.
async fn everyone_updates(devices: &[Device]) {
    let before: Vec<u64> = devices.iter().map(|d| d.status().updates).collect();
    for device in devices {
        device.update_now().await.unwrap();
    }
    for (device, before) in devices.iter().zip(before) {
        device
            .wait_for(PATIENCE, |s| s.updates > before)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtls_sessions_follow_their_owner_through_rebinding_and_rolling_restarts() {
    let mut cluster = Cluster::start(true).await;
    let balancer = UdpBalancer::start(cluster.device_facing(true)).await;
    let mut devices = fleet(&balancer, true).await;
    for device in &devices {
        let status = device.status();
        assert!(
            status.dtls_connection_id && status.dtls_handshakes == 1,
            "{status:?}"
        );
    }
    // The balancer spread the sessions over the nodes.
    let owners = cluster
        .live()
        .filter(|n| n.handle.stats().dtls.sessions_established > 0)
        .count();
    assert!(owners >= 2, "all sessions on one node");

    // NAT rebinding of every device at once.
    let moved_before: Vec<_> = devices
        .iter()
        .map(|d| d.status().local_addr.unwrap())
        .collect();
    for device in &devices {
        device.rebind().await.unwrap();
    }
    for (device, old) in devices.iter().zip(&moved_before) {
        device
            .wait_for(PATIENCE, |s| s.updates >= 1 && s.local_addr != Some(*old))
            .await
            .unwrap();
    }
    let landed_elsewhere = devices
        .iter()
        .zip(&moved_before)
        .filter(|(d, old)| {
            balancer.backend_for(d.status().local_addr.unwrap()) != balancer.backend_for(**old)
        })
        .count();
    assert!(
        landed_elsewhere > 0,
        "the rebinding moved no device to another node"
    );
    assert!(cluster.total(|s| s.dtls.records_forwarded) > 0);
    assert!(cluster.total(|s| s.dtls.records_relayed) > 0);
    every_device_answers(&cluster).await;

    // A rolling restart: each node in turn; its devices carry on.
    for index in 0..usize::from(NODES) {
        cluster.restart(index).await;
        // The others learn the restarted node's new forwarding address.
        tokio::time::sleep(Duration::from_millis(700)).await;
        everyone_updates(&devices).await;
    }
    every_device_answers(&cluster).await;

    // A node joins while the devices are connected: the balancer sends new
    // flows to it too, and it forwards their records to the owners.
    cluster.add_node(NODES + 1).await;
    balancer.add_backend(cluster.device_facing(true)[usize::from(NODES)]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut on_new_node = 0;
    for _ in 0..8 {
        let before: Vec<_> = devices
            .iter()
            .map(|d| d.status().local_addr.unwrap())
            .collect();
        for device in &devices {
            device.rebind().await.unwrap();
        }
        for (device, old) in devices.iter().zip(&before) {
            device
                .wait_for(PATIENCE, |s| s.local_addr != Some(*old))
                .await
                .unwrap();
        }
        everyone_updates(&devices).await;
        on_new_node = devices
            .iter()
            .filter(|d| balancer.backend_for(d.status().local_addr.unwrap()) == usize::from(NODES))
            .count();
        if on_new_node > 0 {
            break;
        }
    }
    assert!(on_new_node > 0, "no device ever hashed to the new node");
    let joined = cluster.nodes[usize::from(NODES)].as_ref().unwrap();
    assert!(joined.handle.stats().dtls.records_forwarded > 0);
    every_device_answers(&cluster).await;

    for device in &devices {
        let status = device.status();
        assert_eq!(
            status.dtls_handshakes, 1,
            "a handshake was needed: {status:?}"
        );
    }
    assert_eq!(cluster.total(|s| s.dtls.engine.handshakes_started), 0);
    assert_eq!(cluster.total(|s| s.dtls.frames_refused), 0);

    // Every uplink exactly once: one Register per device, and one Updated
    // per Update it made (rebindings, restarts, the new node's rounds).
    for (i, device) in devices.iter().enumerate() {
        let ep = endpoint(i);
        assert_eq!(cluster.seen(&ep, RegistrationKind::Registered), 1, "{ep}");
        let updates = usize::try_from(device.status().updates).unwrap();
        assert_eq!(
            cluster.seen(&ep, RegistrationKind::Updated),
            updates,
            "{ep}"
        );
    }
    for device in &mut devices {
        device.shutdown(true).await;
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_coap_devices_are_served_by_whichever_node_hears_them() {
    let mut cluster = Cluster::start(false).await;
    let balancer = UdpBalancer::start(cluster.device_facing(false)).await;
    let mut devices = fleet(&balancer, false).await;
    let before: Vec<_> = devices
        .iter()
        .map(|d| d.status().local_addr.unwrap())
        .collect();
    for device in &devices {
        device.rebind().await.unwrap();
    }
    for (device, old) in devices.iter().zip(&before) {
        device
            .wait_for(PATIENCE, |s| s.updates >= 1 && s.local_addr != Some(*old))
            .await
            .unwrap();
    }
    every_device_answers(&cluster).await;
    cluster.restart(1).await;
    everyone_updates(&devices).await;
    every_device_answers(&cluster).await;
    for (i, device) in devices.iter().enumerate() {
        let ep = endpoint(i);
        assert_eq!(cluster.seen(&ep, RegistrationKind::Registered), 1, "{ep}");
        let updates = usize::try_from(device.status().updates).unwrap();
        assert_eq!(
            cluster.seen(&ep, RegistrationKind::Updated),
            updates,
            "{ep}"
        );
    }
    for device in &mut devices {
        device.shutdown(true).await;
    }
    cluster.stop().await;
}
