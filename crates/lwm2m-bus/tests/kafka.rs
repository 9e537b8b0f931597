//! KafkaBus against a real Kafka-protocol broker (tansu, see
//! `lwm2m_bus::testing`). No broker is a test failure, not a skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lwm2m_bus::kafka::{
    HEADER_CONTENT_TYPE, HEADER_ENDPOINT, HEADER_EVENT_ID, HEADER_EVENT_KIND, HEADER_TENANT,
    HEADER_TRACEPARENT,
};
use lwm2m_bus::testing::{consume, create_topics, free_port, unique_topics, Received, TestBroker};
use lwm2m_bus::{
    decode_event, BusError, Encoding, KafkaBus, KafkaConfig, KafkaTopics, TraceparentHook,
    UplinkBus,
};
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::value::Kind;
use lwm2m_proto::events::v1::{
    Direction, RegistrationEvent, RegistrationKind, ResourceValue, ResourceValues, TransportLog,
    UplinkEvent, Value, ValueSource,
};

const CONSUME_TIMEOUT: Duration = Duration::from_secs(90);
const LINGER: Duration = Duration::from_secs(2);

fn config(brokers: &str, topics: KafkaTopics, encoding: Encoding, capacity: usize) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_string(),
        topics,
        encoding,
        buffer_capacity: capacity,
        client_id: "lwm2m-bus-test".into(),
        ..Default::default()
    }
}

/// A values event whose value and timestamp carry its per-device sequence.
fn numbered(endpoint: &str, seq: i64) -> UplinkEvent {
    UplinkEvent {
        tenant: "acme".into(),
        endpoint: endpoint.into(),
        registration_id: format!("reg-{endpoint}"),
        node_id: "node-1".into(),
        event_id: uuid::Uuid::new_v4().to_string(),
        timestamp_ms: seq,
        payload: Some(Payload::Values(ResourceValues {
            source: ValueSource::Notify as i32,
            values: vec![ResourceValue {
                path: "/3/0/9".into(),
                value: Some(Value {
                    kind: Some(Kind::Integer(seq)),
                }),
                timestamp_ms: Some(seq),
                key: None,
            }],
            observation_token: Some("beef".into()),
        })),
    }
}

/// Checks exactly `events` arrived, keyed by device, each device in order.
fn assert_ordered_per_device(received: &[Received], events: &[UplinkEvent], encoding: Encoding) {
    assert_eq!(
        received.len(),
        events.len(),
        "exactly as many records as events"
    );
    let mut per_key: BTreeMap<String, Vec<(i32, i64, UplinkEvent)>> = BTreeMap::new();
    for r in received {
        let event = decode_event(encoding, &r.payload).unwrap();
        assert_eq!(
            r.key,
            format!("{}/{}", event.tenant, event.endpoint),
            "key is tenant/endpoint"
        );
        per_key
            .entry(r.key.clone())
            .or_default()
            .push((r.partition, r.offset, event));
    }
    let mut expected: BTreeMap<String, Vec<UplinkEvent>> = BTreeMap::new();
    for e in events {
        expected.entry(e.device_key()).or_default().push(e.clone());
    }
    assert_eq!(per_key.len(), expected.len());
    for (key, got) in per_key {
        let partitions: std::collections::BTreeSet<_> = got.iter().map(|(p, _, _)| *p).collect();
        assert_eq!(partitions.len(), 1, "{key}: one device, one partition");
        let got: Vec<_> = got.into_iter().map(|(_, _, e)| e).collect();
        assert_eq!(&got, &expected[&key], "{key}: same events in publish order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_events_for_fifty_devices_arrive_once_in_order() {
    let broker = TestBroker::start_or_reuse().await;
    let topics = unique_topics("order");
    create_topics(&broker.brokers, &topics, 4).await;
    let bus = KafkaBus::new(config(
        &broker.brokers,
        topics.clone(),
        Encoding::Protobuf,
        10_000,
    ))
    .unwrap();

    let mut events = Vec::new();
    for seq in 0..20 {
        for device in 0..50 {
            events.push(numbered(&format!("dev-{device:02}"), seq));
        }
    }
    for event in &events {
        bus.publish(event.clone()).await.unwrap();
    }
    bus.flush(Duration::from_secs(60)).await.unwrap();
    let stats = bus.stats();
    assert_eq!(
        (
            stats.published,
            stats.delivered,
            stats.failed,
            stats.buffered
        ),
        (1000, 1000, 0, 0)
    );

    let received = consume(
        &broker.brokers,
        &[&topics.values],
        1000,
        CONSUME_TIMEOUT,
        LINGER,
    )
    .await;
    assert_ordered_per_device(&received, &events, Encoding::Protobuf);
    assert!(received.iter().all(|r| r.topic == topics.values));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_records_are_routed_by_kind_with_headers() {
    let broker = TestBroker::start_or_reuse().await;
    let topics = unique_topics("json");
    create_topics(&broker.brokers, &topics, 2).await;
    let hook: TraceparentHook = Arc::new(|_: &UplinkEvent| {
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string())
    });
    let bus = KafkaBus::builder(config(&broker.brokers, topics.clone(), Encoding::Json, 100))
        .traceparent(hook)
        .build()
        .unwrap();

    let base = numbered("json-dev", 1);
    let registration = UplinkEvent {
        event_id: "reg-event".into(),
        payload: Some(Payload::Registration(RegistrationEvent {
            kind: RegistrationKind::Registered as i32,
            lwm2m_version: "1.1".into(),
            lifetime_s: 300,
            binding: "U".into(),
            objects_changed: true,
            ..Default::default()
        })),
        ..base.clone()
    };
    let log = UplinkEvent {
        event_id: "log-event".into(),
        payload: Some(Payload::TransportLog(TransportLog {
            direction: Direction::Uplink as i32,
            message: "POST /rd?ep=json-dev 2.01".into(),
            coap_code: "2.01".into(),
            payload_size: 12,
            error: None,
        })),
        ..base.clone()
    };
    let values = UplinkEvent {
        event_id: "values-event".into(),
        ..base
    };
    let sent = [registration, values, log];
    for event in &sent {
        bus.publish(event.clone()).await.unwrap();
    }
    bus.flush(Duration::from_secs(30)).await.unwrap();

    let received = consume(&broker.brokers, &topics.all(), 3, CONSUME_TIMEOUT, LINGER).await;
    assert_eq!(received.len(), 3);
    for (event, topic, kind) in [
        (&sent[0], &topics.registrations, "registration"),
        (&sent[1], &topics.values, "values"),
        (&sent[2], &topics.transport_log, "transport-log"),
    ] {
        let record = received
            .iter()
            .find(|r| r.topic == *topic)
            .expect("record on its kind's topic");
        assert_eq!(record.key, "acme/json-dev");
        assert_eq!(record.header(HEADER_EVENT_KIND), Some(kind));
        assert_eq!(record.header(HEADER_CONTENT_TYPE), Some("application/json"));
        assert_eq!(record.header(HEADER_ENDPOINT), Some("json-dev"));
        assert_eq!(record.header(HEADER_TENANT), Some("acme"));
        assert_eq!(
            record.header(HEADER_EVENT_ID),
            Some(event.event_id.as_str())
        );
        assert_eq!(
            record.header(HEADER_TRACEPARENT),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let encoding =
            Encoding::from_content_type(record.header(HEADER_CONTENT_TYPE).unwrap()).unwrap();
        assert_eq!(&decode_event(encoding, &record.payload).unwrap(), event);
        let json: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
        assert_eq!(json["endpoint"], "json-dev", "value is readable JSON");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_before_the_broker_starts_arrive_in_order() {
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let topics = unique_topics("late");
    let bus = KafkaBus::new(config(&brokers, topics.clone(), Encoding::Protobuf, 1_000)).unwrap();

    let mut events = Vec::new();
    for seq in 0..40 {
        for device in 0..5 {
            events.push(numbered(&format!("late-{device}"), seq));
        }
    }
    for event in &events {
        bus.publish(event.clone()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stats = bus.stats();
    assert_eq!(
        (stats.buffered, stats.delivered, stats.dropped),
        (200, 0, 0),
        "held while Kafka is down"
    );

    let broker = TestBroker::start_on(port).await;
    create_topics(&broker.brokers, &topics, 3).await;
    bus.flush(Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}; stats {:?}; tansu log:\n{}", bus.stats(), broker.log()));
    assert_eq!(bus.stats().delivered, 200);

    let received = consume(
        &broker.brokers,
        &[&topics.values],
        200,
        CONSUME_TIMEOUT,
        LINGER,
    )
    .await;
    assert_ordered_per_device(&received, &events, Encoding::Protobuf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_buffer_applies_backpressure_until_the_broker_drains_it() {
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let topics = unique_topics("backpressure");
    let bus = KafkaBus::new(config(&brokers, topics.clone(), Encoding::Protobuf, 20)).unwrap();

    let mut events: Vec<_> = (0..20).map(|seq| numbered("bp-dev", seq)).collect();
    for event in &events {
        bus.publish(event.clone()).await.unwrap();
    }
    assert!(!bus.can_accept());
    let refused = bus.publish(numbered("bp-dev", 20)).await;
    assert!(
        matches!(refused, Err(BusError::Backpressure { capacity: 20 })),
        "{refused:?}"
    );
    assert!(matches!(
        bus.try_reserve(1),
        Err(BusError::Backpressure { .. })
    ));
    let stats = bus.stats();
    assert_eq!((stats.buffered, stats.rejected, stats.dropped), (20, 2, 0));

    let broker = TestBroker::start_on(port).await;
    create_topics(&broker.brokers, &topics, 1).await;
    bus.flush(Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}; stats {:?}; tansu log:\n{}", bus.stats(), broker.log()));
    assert!(bus.can_accept(), "room again once delivered");

    let refused_again = numbered("bp-dev", 20);
    bus.publish(refused_again.clone()).await.unwrap();
    events.push(refused_again);
    bus.flush(Duration::from_secs(30)).await.unwrap();

    let received = consume(
        &broker.brokers,
        &[&topics.values],
        21,
        CONSUME_TIMEOUT,
        LINGER,
    )
    .await;
    assert_ordered_per_device(&received, &events, Encoding::Protobuf);
    let stats = bus.stats();
    assert_eq!(
        (
            stats.published,
            stats.delivered,
            stats.failed,
            stats.dropped
        ),
        (21, 21, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_delivered_returns_only_once_the_broker_has_the_event() {
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let topics = unique_topics("delivered");
    let bus =
        Arc::new(KafkaBus::new(config(&brokers, topics.clone(), Encoding::Protobuf, 10)).unwrap());
    let waiting = {
        let bus = Arc::clone(&bus);
        tokio::spawn(async move {
            let mut reservation = bus.try_reserve(2).unwrap();
            let mut first = reservation.split_one().unwrap();
            let mut second = reservation.split_one().unwrap();
            // Both are buffered at once and waited for together.
            let (a, b) = tokio::join!(
                bus.publish_delivered(&mut first, numbered("durable", 1)),
                bus.publish_delivered(&mut second, numbered("durable", 2)),
            );
            a.and(b)
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "returned before any broker had it");
    assert_eq!(bus.stats().delivered, 0);

    let broker = TestBroker::start_on(port).await;
    create_topics(&broker.brokers, &topics, 1).await;
    tokio::time::timeout(CONSUME_TIMEOUT, waiting)
        .await
        .expect("delivered once the broker is up")
        .unwrap()
        .unwrap();
    assert_eq!(
        bus.stats().delivered,
        2,
        "returned after both were acknowledged"
    );
    let received = consume(
        &broker.brokers,
        &[&topics.values],
        2,
        CONSUME_TIMEOUT,
        LINGER,
    )
    .await;
    let seqs: Vec<i64> = received
        .iter()
        .map(|r| {
            decode_event(Encoding::Protobuf, &r.payload)
                .unwrap()
                .timestamp_ms
        })
        .collect();
    assert_eq!(seqs, vec![1, 2], "in publish order");
}
