//! The cluster wiring through a real Kafka-protocol broker (tansu): the
//! transport publishes registrations to Kafka, dispatch (no in-process bus,
//! no periodic re-check) learns of the wake-up from the topic and delivers;
//! every lifecycle change lands on the operations topic, keyed by device.
// Tests may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use lwm2m_bus::testing::{consume, create_topics, unique_topics, TestBroker};
use lwm2m_bus::{Encoding, KafkaBus, KafkaConfig, KafkaTopics, UplinkBus};
use lwm2m_core::{ModelRegistry, Version};
use lwm2m_dispatch::{DispatchConfig, DispatchDeps, DispatchKafka};
use lwm2m_proto::dispatch::v1::dispatch_client::DispatchClient;
use lwm2m_proto::dispatch::v1::{
    CommandOptions, GetOperationRequest, OperationEvent, OperationEventKind, OperationState,
    ReadRequest, WatchOperationsRequest,
};
use lwm2m_registry::conformance::{Harness, PostgresHarness};
use lwm2m_sim::{Device, DeviceConfig, QueueMode};
use lwm2m_transport::testing::{test_config, Backend, Store, TestNode, PATIENCE};
use prost::Message;

/// The device's and dispatch's idea of the queue-mode awake window.
const AWAKE: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_ups_and_operation_events_go_through_kafka() {
    let broker = TestBroker::start_or_reuse().await;
    let topics = unique_topics("dispatch");
    let ops_topics = unique_topics("dispatch-ops");
    create_topics(&broker.brokers, &topics, 1).await;
    create_topics(&broker.brokers, &ops_topics, 1).await;
    let bus: Arc<dyn UplinkBus> = Arc::new(
        KafkaBus::new(KafkaConfig {
            brokers: broker.brokers.clone(),
            topics: KafkaTopics { ..topics.clone() },
            encoding: Encoding::Protobuf,
            client_id: "lwm2m-dispatch-test".into(),
            ..Default::default()
        })
        .unwrap(),
    );
    let pg = PostgresHarness::new().await;
    let store = Store::new(Backend::Redis).await;
    let node = TestNode::start_with(store.sessions.clone(), bus, test_config()).await;

    let mut config = DispatchConfig::local(pg.database_url());
    config.transport_url = format!("http://{}", node.handle.grpc_addr);
    // The awake window must outlast the trip through Kafka (producer
    // batching, the consumer's fetch wait): a window shorter than that, as
    // this test once had, lets the device fall asleep before the wake-up is
    // read, and the operation rightly stays PENDING.
    config.default_awake_time = AWAKE;
    // Only the Kafka wake-up may deliver: no periodic re-check in this test.
    config.sweep_interval = Duration::from_secs(3600);
    config.kafka = Some(DispatchKafka {
        brokers: broker.brokers.clone(),
        operations_topic: ops_topics.registrations.clone(),
        registrations_topic: topics.registrations.clone(),
        group_id: format!("dispatch-{}", uuid::Uuid::new_v4().simple()),
        from_beginning: true,
    });
    let deps = DispatchDeps {
        sessions: store.sessions.clone(),
        bus: None,
        registry: None,
        models: Arc::new(ModelRegistry::with_core_objects()),
        link: None,
    };
    let dispatch = lwm2m_dispatch::start(config.clone(), deps.clone())
        .await
        .unwrap();
    // A second replica: its watchers must see what the first one delivers.
    let mut other_config = config;
    other_config.replica_id = "dispatch-other".into();
    other_config.migrate_on_start = false;
    let other = lwm2m_dispatch::start(other_config, deps).await.unwrap();
    tokio::time::timeout(PATIENCE, other.relay_ready())
        .await
        .expect("the second replica relays operation events");
    let mut other_client = DispatchClient::connect(format!("http://{}", other.grpc_addr))
        .await
        .unwrap();
    let mut watched = other_client
        .watch_operations(WatchOperationsRequest {
            endpoint: Some("kaf-1".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let device = Device::start(DeviceConfig {
        server: node.handle.coap_addr,
        endpoint: "kaf-1".into(),
        lwm2m_version: Version::V1_1,
        queue_mode: Some(QueueMode {
            awake_time: AWAKE,
            sleep_interval: Duration::from_secs(3600),
        }),
        value_change_interval: None,
        ack_timeout: Duration::from_millis(500),
        ..DeviceConfig::default()
    })
    .await
    .unwrap();
    device.wait_registered(PATIENCE).await.unwrap();
    device.wait_for(PATIENCE, |s| s.asleep).await.unwrap();

    let mut client = DispatchClient::connect(format!("http://{}", dispatch.grpc_addr))
        .await
        .unwrap();
    let op = client
        .read(ReadRequest {
            endpoint: "kaf-1".into(),
            id: "/3/0/9".into(),
            options: Some(CommandOptions {
                no_wait: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .operation
        .unwrap();
    assert_eq!(op.state(), OperationState::Pending);
    device.update_now().await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let done = loop {
        let now = client
            .get_operation(GetOperationRequest { id: op.id.clone() })
            .await
            .unwrap()
            .into_inner();
        if now.state() != OperationState::Pending && now.state() != OperationState::Executing {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never delivered: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done.state(), OperationState::Successful, "{done:?}");

    let records = consume(
        &broker.brokers,
        &[ops_topics.registrations.as_str()],
        3,
        PATIENCE,
        Duration::from_millis(500),
    )
    .await;
    let kinds: Vec<_> = records
        .iter()
        .map(|r| {
            assert_eq!(r.key, "/kaf-1");
            let event = OperationEvent::decode(r.payload.as_slice()).unwrap();
            assert_eq!(event.operation.as_ref().unwrap().id, op.id);
            event.kind()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            OperationEventKind::Created,
            OperationEventKind::Executing,
            OperationEventKind::Successful
        ]
    );

    // The other replica's watcher saw the same lifecycle, relayed from Kafka.
    let mut seen = Vec::new();
    while seen.last() != Some(&OperationEventKind::Successful) {
        let event = tokio::time::timeout(PATIENCE, watched.message())
            .await
            .expect("the other replica relays the lifecycle")
            .unwrap()
            .unwrap();
        assert_eq!(event.operation.as_ref().unwrap().id, op.id);
        seen.push(event.kind());
    }
    assert_eq!(seen, kinds);
    drop(watched);

    other.shutdown().await.unwrap();
    dispatch.shutdown().await.unwrap();
    drop(device);
    node.stop().await;
    store.cleanup().await;
    pg.cleanup().await;
}
