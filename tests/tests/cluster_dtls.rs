//! Issue 8, the transport cluster: three nodes on loopback with their own
//! ports, real Redis for sessions and node-id leases, real Kafka (tansu)
//! with a producer per node (every uplink is counted in the topic), and a
//! UDP load balancer in front that hashes the client's address and port
//! (`lwm2m_sim::udp_balancer`). Nodes answer an uplink only once Kafka has
//! its events (`acknowledge_after_delivery`).
//!
//! DTLS devices with Connection IDs register through the balancer; after a
//! NAT rebinding of all of them most land on another node, whose records
//! are forwarded (still encrypted) to the owner of their session and whose
//! answers go back out through the node they came in on; downlinks reach
//! every device; then each node is restarted in turn and its devices carry
//! on with the sessions it parked, without a handshake; a fourth node joins
//! and forwards the records of devices that land on it. Every registration
//! event arrives exactly once. A node killed (kill -9) under load comes
//! back with its id and takes its sessions over from the sequence-number
//! reservations in Redis: no handshake, no acknowledged uplink lost.
//! Sends right after an adoption (the first record a new node hears from a
//! moved device) are all acknowledged and in Kafka. The plain-CoAP
//! variant needs no forwarding: any node serves any device from
//! Redis, through rebinding, a rolling restart, a joining node and a crash.
// Tests may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::udp_balancer::UdpBalancer;
use common::{test_config, Backend, Store, TestNode, PATIENCE};
use lwm2m_bus::testing::{consume, create_topics, unique_topics, TestBroker};
use lwm2m_bus::{decode_event, Encoding, KafkaBus, KafkaConfig, KafkaTopics};
use lwm2m_coap::ResponseCode;
use lwm2m_core::ModelRegistry;
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::{RegistrationKind, ValueSource};
use lwm2m_sim::{Device, DeviceConfig, Security};
use lwm2m_transport::{Operation, StaticPsk, Target, TransportConfig, TransportDeps};

const NODES: u8 = 3;
/// Devices per scenario (`LWM2M_CLUSTER_DEVICES` changes it; the
/// `cluster.forwarded_records` benchmark runs the larger sizes).
static DEVICES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("LWM2M_CLUSTER_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_DEVICES)
});
const DEFAULT_DEVICES: usize = 300;
const PSK_IDENTITY: &[u8] = b"cluster-fleet";
const PSK_KEY: &[u8] = b"cluster-psk-0001";

/// Reading the registrations topic back: the first records must come
/// within this long; a safety net, not a timing assertion.
const CONSUME_TIMEOUT: Duration = Duration::from_secs(60);
/// After the expected count, keep reading this long to catch extra records.
const LINGER: Duration = Duration::from_secs(2);

/// Registration events in Kafka: (endpoint, kind) → count.
type Tally = BTreeMap<(String, i32), usize>;

struct Cluster {
    _turn: tokio::sync::MutexGuard<'static, ()>,
    store: Store,
    broker: TestBroker,
    topics: KafkaTopics,
    nodes: Vec<Option<TestNode>>,
    configs: Vec<TransportConfig>,
}

/// One cluster (three nodes, a broker, a fleet) at a time: two at once
/// would only compete for the machine's cores.
static ONE_CLUSTER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Cluster {
    async fn start(dtls: bool) -> Cluster {
        let turn = ONE_CLUSTER_AT_A_TIME.lock().await;
        let store = Store::new(Backend::Redis).await;
        let broker = TestBroker::start_or_reuse().await;
        let topics = unique_topics("cluster");
        create_topics(&broker.brokers, &topics, 4).await;
        let mut cluster = Cluster {
            _turn: turn,
            store,
            broker,
            topics,
            nodes: Vec::new(),
            configs: Vec::new(),
        };
        // 32 random bytes, as `node.cluster_key` requires; one per cluster.
        let key = [
            *uuid::Uuid::new_v4().as_bytes(),
            *uuid::Uuid::new_v4().as_bytes(),
        ]
        .concat();
        for id in 1..=NODES {
            let mut config = test_config();
            config.dtls.node_id = id;
            config.dtls_bind = dtls.then(|| "127.0.0.1:0".parse().unwrap());
            config.static_psks = vec![StaticPsk {
                identity: PSK_IDENTITY.to_vec(),
                key: PSK_KEY.to_vec(),
            }];
            // A device hears "done" only once Kafka has its events.
            config.acknowledge_after_delivery = true;
            config.cluster.lease_ttl = Duration::from_millis(1_500);
            config.cluster.heartbeat = Duration::from_millis(300);
            config.cluster.forward_bind = Some("127.0.0.1:0".parse().unwrap());
            config.cluster.key = key.clone();
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

    /// Each node runs on a runtime of its own, with its own Kafka
    /// producer, so it can be crashed with what it buffered.
    async fn node(&self, config: TransportConfig) -> TestNode {
        let sessions = self.store.sessions.clone();
        let cluster = self.store.cluster.clone();
        let kafka = KafkaConfig {
            brokers: self.broker.brokers.clone(),
            topics: self.topics.clone(),
            encoding: Encoding::Protobuf,
            client_id: "lwm2m-cluster-test".into(),
            ..Default::default()
        };
        TestNode::start_isolated(config, move || TransportDeps {
            sessions,
            bus: Arc::new(KafkaBus::new(kafka).unwrap()),
            models: Arc::new(ModelRegistry::with_core_objects()),
            registry: None,
            cluster: Some(cluster),
        })
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

    /// The stats of node `index` (it must be running).
    fn stats(&self, index: usize) -> lwm2m_transport::TransportStats {
        self.nodes[index].as_ref().unwrap().handle.stats()
    }

    /// Sum of a counter over the live nodes.
    fn total(&self, counter: impl Fn(&lwm2m_transport::TransportStats) -> u64) -> u64 {
        self.live().map(|n| counter(&n.handle.stats())).sum()
    }

    /// Reads the registrations topic back: at least `expected` records,
    /// then whatever else arrives within the linger.
    async fn tally(&self, expected: usize) -> Tally {
        let records = consume(
            &self.broker.brokers,
            &[&self.topics.registrations],
            expected,
            CONSUME_TIMEOUT,
            LINGER,
        )
        .await;
        let mut tally = Tally::new();
        for record in records {
            let event = decode_event(Encoding::Protobuf, &record.payload).unwrap();
            if let Some(Payload::Registration(r)) = &event.payload {
                *tally.entry((event.endpoint.clone(), r.kind)).or_default() += 1;
            }
        }
        tally
    }

    /// Starts another node with id `id` (joining the running cluster).
    async fn add_node(&mut self, id: u8) {
        let mut config = self.configs[0].clone();
        config.dtls.node_id = id;
        config.coap_bind = "127.0.0.1:0".parse().unwrap();
        config.dtls_bind = config.dtls_bind.map(|_| "127.0.0.1:0".parse().unwrap());
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

    /// kill -9 of a node: nothing parked, its lease left to lapse; then it
    /// starts again with its id and ports, as a StatefulSet pod would.
    async fn crash_and_restart(&mut self, index: usize) {
        self.nodes[index].take().unwrap().crash();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let config = self.configs[index].clone();
        self.nodes[index] = Some(self.node(config).await);
        // The others learn the restarted node's new forwarding address.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    /// Every Register and Update each device had acknowledged, and how
    /// many of each are in Kafka. Exactly once: equal.
    async fn acknowledged_and_delivered(&self, devices: &[Device]) -> Vec<Delivered> {
        let acknowledged: Vec<_> = devices.iter().map(Device::status).collect();
        let expected = acknowledged
            .iter()
            .map(|s| usize::try_from(s.registrations + s.updates).unwrap())
            .sum();
        let tally = self.tally(expected).await;
        let count = |ep: &str, kind: RegistrationKind| {
            tally
                .get(&(ep.to_owned(), kind as i32))
                .copied()
                .unwrap_or(0)
        };
        acknowledged
            .iter()
            .enumerate()
            .flat_map(|(i, status)| {
                let ep = endpoint(i);
                [
                    (RegistrationKind::Registered, status.registrations),
                    (RegistrationKind::Updated, status.updates),
                ]
                .map(|(kind, acked)| Delivered {
                    what: format!("{ep} {kind:?}"),
                    acknowledged: usize::try_from(acked).unwrap(),
                    in_kafka: count(&ep, kind),
                })
            })
            .collect()
    }

    /// No acknowledged uplink was lost: every Register and Update a device
    /// had acknowledged is in Kafka (a crash may duplicate one whose
    /// answer it swallowed). Returns the duplicates.
    async fn no_acknowledged_uplink_lost(&self, devices: &[Device]) -> usize {
        let mut duplicates = 0;
        for d in self.acknowledged_and_delivered(devices).await {
            assert!(
                d.in_kafka >= d.acknowledged,
                "{}: {} acknowledged, {} in Kafka",
                d.what,
                d.acknowledged,
                d.in_kafka
            );
            duplicates += d.in_kafka - d.acknowledged;
        }
        duplicates
    }

    /// Every acknowledged Register and Update is in Kafka exactly once.
    async fn every_uplink_exactly_once(&self, devices: &[Device]) {
        for d in self.acknowledged_and_delivered(devices).await {
            assert_eq!(d.in_kafka, d.acknowledged, "{}", d.what);
        }
    }

    /// SEND value events per endpoint in the values topic (at least
    /// `expected` in all, then whatever else arrives within the linger).
    async fn sends_in_kafka(&self, expected: usize) -> BTreeMap<String, usize> {
        let records = consume(
            &self.broker.brokers,
            &[&self.topics.values],
            expected,
            CONSUME_TIMEOUT,
            LINGER,
        )
        .await;
        let mut sends = BTreeMap::new();
        for record in records {
            let event = decode_event(Encoding::Protobuf, &record.payload).unwrap();
            if let Some(Payload::Values(v)) = &event.payload {
                if v.source == ValueSource::Send as i32 {
                    *sends.entry(event.endpoint.clone()).or_default() += 1;
                }
            }
        }
        sends
    }

    async fn stop(mut self) {
        for node in self.nodes.drain(..).flatten() {
            node.stop().await;
        }
        self.store.cleanup().await;
        drop(self.broker);
    }
}

/// One device's uplinks of one kind: acknowledged to it, and in Kafka.
struct Delivered {
    what: String,
    acknowledged: usize,
    in_kafka: usize,
}

fn endpoint(i: usize) -> String {
    format!("cluster-dev-{i}")
}

async fn fleet(balancer: &UdpBalancer, dtls: bool) -> Vec<Device> {
    let mut devices = Vec::new();
    for i in 0..*DEVICES {
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
    for i in 0..*DEVICES {
        let result = entry
            .send(&Target::endpoint(endpoint(i)), read(), None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", endpoint(i)));
        assert_eq!(result.code, ResponseCode::CONTENT, "{}", endpoint(i));
    }
}

/// Every device sends a value (`POST /dp`, which names no registration)
/// and waits for it to be acknowledged. A Send the server refuses (4.04:
/// its sender not found, the fault this guards against) fails here at
/// once. A Send that only timed out, its retransmissions all spent while
/// the dead node's id was not adopted yet, is sent again, as a device does.
async fn everyone_sends(devices: &[Device]) {
    const ATTEMPTS: usize = 3;
    for device in devices {
        for attempt in 1..=ATTEMPTS {
            let before = device.status();
            device.send_now().await.unwrap();
            let after = device
                .wait_for(PATIENCE, |s| {
                    s.sends > before.sends || s.last_error != before.last_error
                })
                .await
                .unwrap_or_else(|e| panic!("{}: Send lost: {e}", device.endpoint()));
            if after.sends > before.sends {
                break;
            }
            let error = after.last_error.unwrap_or_default();
            assert!(
                error.contains("Timeout") && attempt < ATTEMPTS,
                "{}: Send refused or lost (attempt {attempt}): {error}",
                device.endpoint()
            );
        }
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
    for device in &devices {
        assert_eq!(device.status().registrations, 1);
    }
    cluster.every_uplink_exactly_once(&devices).await;
    for device in &mut devices {
        device.shutdown(true).await;
    }
    cluster.stop().await;
}

/// Every device updates over and over until `stop` turns true; returns
/// how many rounds ran.
fn keep_updating(
    devices: &Arc<Vec<Device>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<usize> {
    let devices = Arc::clone(devices);
    tokio::spawn(async move {
        let mut rounds = 0;
        while !*stop.borrow() {
            // Failed Updates are retried by the device; they are not
            // acknowledged, so they do not count as uplinks that must arrive.
            let _ = futures::future::join_all(devices.iter().map(|d| d.update_now())).await;
            rounds += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rounds
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_nodes_dtls_sessions_are_taken_over_without_a_handshake() {
    let mut cluster = Cluster::start(true).await;
    let balancer = UdpBalancer::start(cluster.device_facing(true)).await;
    let devices = Arc::new(fleet(&balancer, true).await);
    let crashed = 1;
    let owned = cluster.stats(crashed).dtls.sessions_established;
    assert!(owned > 0, "no session on the node to crash");
    // The fleet's handshakes so far, on the nodes that stay up.
    let handshakes = |c: &Cluster| c.total(|s| s.dtls.engine.handshakes_started);
    let before = handshakes(&cluster) - cluster.stats(crashed).dtls.engine.handshakes_started;

    // kill -9 under load: Updates keep coming from every device.
    let (stop_load, load_stops) = tokio::sync::watch::channel(false);
    let load = keep_updating(&devices, load_stops);
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.crash_and_restart(crashed).await;
    let restarted = cluster.nodes[crashed].as_ref().unwrap().handle.stats();
    assert_eq!(
        restarted.dtls.engine.sessions_imported, owned,
        "the restarted node took over every session the crashed one had"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_load.send(true).unwrap();
    let rounds = load.await.unwrap();
    assert!(rounds > 0);
    everyone_updates(&devices).await;
    every_device_answers(&cluster).await;

    // Zero re-handshakes: the sessions continued with sequence numbers
    // above anything the crashed node may have used.
    for device in devices.iter() {
        let status = device.status();
        assert_eq!(
            status.dtls_handshakes, 1,
            "a handshake was needed: {status:?}"
        );
    }
    assert_eq!(handshakes(&cluster), before, "no handshake since");
    let duplicates = cluster.no_acknowledged_uplink_lost(&devices).await;
    eprintln!("kill -9 under load: {rounds} update rounds, {duplicates} duplicated uplinks");
    let mut devices = Arc::try_unwrap(devices).ok().unwrap();
    for device in &mut devices {
        device.shutdown(true).await;
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_sessions_are_adopted_then_handed_back_when_it_returns() {
    let mut cluster = Cluster::start(true).await;
    let balancer = UdpBalancer::start(cluster.device_facing(true)).await;
    let devices = fleet(&balancer, true).await;
    let dead = 1;
    let owned = cluster.stats(dead).dtls.sessions_established;
    assert!(owned > 0, "no session on the node to kill");
    // The fleet's handshakes so far, on the nodes that stay up.
    let handshakes = |c: &Cluster| c.total(|s| s.dtls.engine.handshakes_started);
    let before = handshakes(&cluster) - cluster.stats(dead).dtls.engine.handshakes_started;

    // kill -9, and the balancer takes the node out (as a Service drops a
    // pod that fails its readiness probe): its devices land on the others,
    // whose records name a node with no lease once it lapses. The nodes
    // that hear them adopt the dead id and take its sessions over.
    cluster.nodes[dead].take().unwrap().crash();
    balancer.set_down(dead, true);
    // A Send is the first record a moved device's new node hears (issue
    // 15: it used to race the session's move and be refused with 4.04).
    everyone_sends(&devices).await;
    everyone_updates(&devices).await;
    every_device_answers(&cluster).await;
    assert_eq!(
        cluster.total(|s| s.dtls.sessions_adopted),
        owned,
        "every session of the dead node was adopted"
    );

    // The node comes back with its id: it takes the id back at once, with
    // the sessions the adopter kept reserving; the adopter hands them over.
    let config = cluster.configs[dead].clone();
    cluster.nodes[dead] = Some(cluster.node(config).await);
    balancer.set_down(dead, false);
    let back = cluster.nodes[dead].as_ref().unwrap();
    back.wait_stats("the returning node took its sessions back", |s| {
        s.dtls.engine.sessions_imported == owned
    })
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while cluster.total(|s| s.dtls.sessions_handed_over) < owned {
        assert!(tokio::time::Instant::now() < deadline, "never handed over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    everyone_updates(&devices).await;
    every_device_answers(&cluster).await;

    for device in &devices {
        let status = device.status();
        assert_eq!(
            status.dtls_handshakes, 1,
            "a handshake was needed: {status:?}"
        );
    }
    assert_eq!(handshakes(&cluster), before, "no handshake since");
    let duplicates = cluster.no_acknowledged_uplink_lost(&devices).await;
    eprintln!("adoption and hand-back: {duplicates} duplicated uplinks");
    let acknowledged: usize = devices
        .iter()
        .map(|d| usize::try_from(d.status().sends).unwrap())
        .sum();
    let sends = cluster.sends_in_kafka(acknowledged).await;
    for device in &devices {
        let acked = usize::try_from(device.status().sends).unwrap();
        let in_kafka = sends.get(device.endpoint()).copied().unwrap_or(0);
        assert!(
            acked >= 1 && in_kafka >= acked,
            "{}: {acked} Sends acknowledged, {in_kafka} in Kafka",
            device.endpoint()
        );
    }
    let mut devices = devices;
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
    // A rolling restart: each node in turn.
    for index in 0..usize::from(NODES) {
        cluster.restart(index).await;
        everyone_updates(&devices).await;
    }
    every_device_answers(&cluster).await;
    // A node joins: devices that hash to it after a rebinding are served
    // there from Redis.
    cluster.add_node(NODES + 1).await;
    balancer.add_backend(cluster.device_facing(false)[usize::from(NODES)]);
    for device in &devices {
        device.rebind().await.unwrap();
    }
    everyone_updates(&devices).await;
    let joined = cluster.nodes[usize::from(NODES)].as_ref().unwrap();
    assert!(
        joined.handle.stats().updates > 0,
        "the new node served nobody"
    );
    every_device_answers(&cluster).await;
    for device in &devices {
        assert_eq!(device.status().registrations, 1);
    }
    cluster.every_uplink_exactly_once(&devices).await;
    // kill -9 of a node: the sessions are in Redis, so nothing is lost.
    cluster.crash_and_restart(2).await;
    everyone_updates(&devices).await;
    every_device_answers(&cluster).await;
    cluster.no_acknowledged_uplink_lost(&devices).await;
    for device in &mut devices {
        device.shutdown(true).await;
    }
    cluster.stop().await;
}
