//! The transport publishing to a real Kafka-protocol broker (tansu) through
//! `KafkaBus`, with the Redis store (harness: `lwm2m_bus::testing`). No
//! broker is a test failure, not a skip.
// Helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use lwm2m_bus::testing::{consume, create_topics, unique_topics, TestBroker};
use lwm2m_bus::{decode_event, Encoding, KafkaBus, KafkaConfig, UplinkBus};
use lwm2m_coap::{Request, ResponseCode};
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::{RegistrationKind, ValueSource};
use lwm2m_transport::{Operation, Target};

async fn uplinks_reach_kafka_keyed_by_device(backend: Backend) {
    let broker = TestBroker::start_or_reuse().await;
    let topics = unique_topics("transport");
    create_topics(&broker.brokers, &topics, 2).await;
    let bus: Arc<dyn UplinkBus> = Arc::new(
        KafkaBus::new(KafkaConfig {
            brokers: broker.brokers.clone(),
            topics: topics.clone(),
            encoding: Encoding::Protobuf,
            client_id: "lwm2m-transport-test".into(),
            ..Default::default()
        })
        .unwrap(),
    );
    let store = Store::new(backend).await;
    let config = lwm2m_transport::TransportConfig {
        tenant: Some("acme".into()),
        ..test_config()
    };
    let node = TestNode::start_with(store.sessions.clone(), bus.clone(), config).await;
    let mut events = node.events();
    let mut dev = Device::new(node.handle.coap_addr).await;
    assert_eq!(
        dev.register("kafka-dev", &["lt=300", "lwm2m=1.1"], "</3/0>")
            .await
            .code,
        ResponseCode::CREATED
    );
    dev.answer(|_| text("99"));
    let read = node
        .handle
        .downlinks()
        .send(
            &Target::endpoint("kafka-dev"),
            Operation::Read {
                path: "/3/0/9".parse().unwrap(),
                content_format: None,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(read.code, ResponseCode::CONTENT);
    let json = br#"[{"bn":"/3/0/","n":"9","v":55,"t":-1}]"#;
    let sent = dev
        .request(
            Request::post("/dp")
                .with_content_format(110)
                .with_payload(json.to_vec()),
        )
        .await;
    assert_eq!(sent.code, ResponseCode::CHANGED);
    // The local broadcast of the Kafka bus (what SubscribeUplinks streams) sees them too.
    events.values("kafka-dev", ValueSource::Send).await;
    bus.flush(Duration::from_secs(60)).await.unwrap();

    let records = consume(
        &broker.brokers,
        &[&topics.registrations, &topics.values],
        3,
        Duration::from_secs(90),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(records.len(), 3, "REGISTERED, READ values, SEND values");
    let mut saw = Vec::new();
    for record in &records {
        assert_eq!(record.key, "acme/kafka-dev");
        let event = decode_event(Encoding::Protobuf, &record.payload).unwrap();
        match event.payload {
            Some(Payload::Registration(r)) => {
                assert_eq!(r.kind, RegistrationKind::Registered as i32);
                saw.push("registered");
            }
            Some(Payload::Values(v)) if v.source == ValueSource::Read as i32 => saw.push("read"),
            Some(Payload::Values(v)) if v.source == ValueSource::Send as i32 => {
                assert!(v.values[0].timestamp_ms.is_some());
                saw.push("send");
            }
            other => panic!("unexpected record {other:?}"),
        }
    }
    saw.sort_unstable();
    assert_eq!(saw, ["read", "registered", "send"]);
    node.stop().await;
    store.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_and_kafka_bus() {
    uplinks_reach_kafka_keyed_by_device(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_and_kafka_bus() {
    uplinks_reach_kafka_keyed_by_device(Backend::Memory).await;
}
