//! `ensure_topics` against a real Kafka-protocol broker (tansu, see
//! `lwm2m_bus::testing`): on a fresh broker the topics a service needs are
//! created as configured, so its first uplink is delivered instead of being
//! refused with `UnknownTopicOrPartition`; where creating is off, the
//! missing ones are named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use lwm2m_bus::kafka::{ensure_topics, TopicSpec};
use lwm2m_bus::testing::{consume, unique_topics, TestBroker};
use lwm2m_bus::{BusError, Encoding, KafkaBus, KafkaConfig, UplinkBus};
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::{RegistrationEvent, RegistrationKind, UplinkEvent};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

const TIMEOUT: Duration = Duration::from_secs(10);

fn specs(names: &[&str], partitions: i32, retention_ms: Option<i64>) -> Vec<TopicSpec> {
    names
        .iter()
        .map(|name| TopicSpec {
            name: (*name).to_owned(),
            partitions,
            replication_factor: 1,
            retention_ms,
        })
        .collect()
}

fn admin(brokers: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap()
}

/// Partitions per topic as the broker's metadata lists them.
fn partitions(brokers: &str, names: &[&str]) -> BTreeMap<String, usize> {
    let metadata = admin(brokers)
        .inner()
        .fetch_metadata(None, TIMEOUT)
        .unwrap();
    metadata
        .topics()
        .iter()
        .filter(|t| names.contains(&t.name()))
        .map(|t| (t.name().to_owned(), t.partitions().len()))
        .collect()
}

async fn retention_ms(brokers: &str, topic: &str) -> Option<String> {
    let described = admin(brokers)
        .describe_configs(
            &[ResourceSpecifier::Topic(topic)],
            &AdminOptions::new().request_timeout(Some(TIMEOUT)),
        )
        .await
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    resource
        .get("retention.ms")
        .and_then(|entry| entry.value.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topics_are_created_as_configured_and_the_first_uplink_lands() {
    let broker = TestBroker::start_or_reuse().await;
    let topics = unique_topics("ensure");
    let names = topics.all();
    let report = ensure_topics(
        &broker.brokers,
        &BTreeMap::new(),
        &specs(&names, 3, Some(3_600_000)),
        true,
        TIMEOUT,
    )
    .await
    .unwrap();
    let mut created = report.created.clone();
    created.sort();
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(created, expected);
    assert!(report.existing.is_empty(), "{report:?}");
    assert_eq!(
        partitions(&broker.brokers, &names),
        names.iter().map(|n| ((*n).to_owned(), 3)).collect(),
    );
    assert_eq!(
        retention_ms(&broker.brokers, &topics.values)
            .await
            .as_deref(),
        Some("3600000")
    );

    // Again, as a second node starting: nothing to create, nothing refused.
    let again = ensure_topics(
        &broker.brokers,
        &BTreeMap::new(),
        &specs(&names, 3, Some(3_600_000)),
        true,
        TIMEOUT,
    )
    .await
    .unwrap();
    assert!(again.created.is_empty(), "{again:?}");
    assert_eq!(again.existing.len(), 3);

    // The first event a node publishes is delivered, not refused for good.
    let bus = KafkaBus::new(KafkaConfig {
        brokers: broker.brokers.clone(),
        topics: topics.clone(),
        encoding: Encoding::Protobuf,
        ..Default::default()
    })
    .unwrap();
    let event = UplinkEvent {
        tenant: "acme".into(),
        endpoint: "first".into(),
        event_id: "first-registration".into(),
        payload: Some(Payload::Registration(RegistrationEvent {
            kind: RegistrationKind::Registered as i32,
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut reservation = bus.try_reserve(1).unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        bus.publish_delivered(&mut reservation, event),
    )
    .await
    .expect("delivered in time")
    .unwrap_or_else(|e| panic!("{e}; tansu log:\n{}", broker.log()));
    let received = consume(
        &broker.brokers,
        &[&topics.registrations],
        1,
        Duration::from_secs(60),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].key, "acme/first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_creating_the_missing_topics_are_named_and_none_is_created() {
    let broker = TestBroker::start_or_reuse().await;
    let topics = unique_topics("check");
    // One of the three exists already (an operator created it).
    ensure_topics(
        &broker.brokers,
        &BTreeMap::new(),
        &specs(&[&topics.values], 1, None),
        true,
        TIMEOUT,
    )
    .await
    .unwrap();
    let err = ensure_topics(
        &broker.brokers,
        &BTreeMap::new(),
        &specs(&topics.all(), 1, None),
        false,
        TIMEOUT,
    )
    .await
    .unwrap_err();
    let BusError::MissingTopics {
        topics: missing, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(
        missing,
        &vec![topics.registrations.clone(), topics.transport_log.clone()]
    );
    assert!(err.to_string().contains(&topics.transport_log), "{err}");
    assert_eq!(
        partitions(&broker.brokers, &topics.all()).len(),
        1,
        "checking created nothing"
    );
    // Once they exist, the check passes.
    let present = ensure_topics(
        &broker.brokers,
        &BTreeMap::new(),
        &specs(&topics.all(), 1, None),
        true,
        TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(present.created.len(), 2);
    ensure_topics(
        &broker.brokers,
        &BTreeMap::new(),
        &specs(&topics.all(), 1, None),
        false,
        TIMEOUT,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_default_replication_factor_is_accepted() {
    let broker = TestBroker::start_or_reuse().await;
    let topics = unique_topics("default-rf");
    let spec = TopicSpec {
        name: topics.values.clone(),
        partitions: 2,
        replication_factor: -1,
        retention_ms: None,
    };
    let report = ensure_topics(&broker.brokers, &BTreeMap::new(), &[spec], true, TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; tansu log:\n{}", broker.log()));
    assert_eq!(report.created, vec![topics.values.clone()]);
    assert_eq!(partitions(&broker.brokers, &[&topics.values]).len(), 1);
}
