//! The registry change feed on a real Kafka-protocol broker (tansu): what
//! one replica publishes, every subscriber (each transport node) reads, in
//! order, from the moment it subscribed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use lwm2m_bus::testing::TestBroker;
use lwm2m_proto::registry::v1::registry_change::Change;
use lwm2m_proto::registry::v1::{ProfileChanged, RegistryChange};
use lwm2m_registry::change_feed::ChangeFeed;
use lwm2m_registry::KafkaFeed;

const PATIENCE: Duration = Duration::from_secs(30);

fn profile_changed(n: i64) -> RegistryChange {
    RegistryChange {
        change_id: format!("change-{n}"),
        at_ms: n,
        tenant_id: "acme".into(),
        change: Some(Change::ProfileChanged(ProfileChanged {
            profile_id: "p1".into(),
            revision: n,
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_reads_every_replicas_changes_from_when_it_subscribed() {
    let broker = TestBroker::start_or_reuse().await;
    let topic = format!("test-registry-changes-{}", uuid::Uuid::new_v4().simple());
    // Two registry replicas and a transport node, each with its own client.
    let replica_a = KafkaFeed::connect(&broker.brokers, &topic).await.unwrap();
    let replica_b = KafkaFeed::connect(&broker.brokers, &topic).await.unwrap();
    let node = KafkaFeed::connect(&broker.brokers, &topic).await.unwrap();

    // Published before the node subscribed: history it does not need.
    replica_a.publish(profile_changed(0)).await.unwrap();
    let mut changes = node.subscribe();
    for n in 1..=3 {
        let replica = if n % 2 == 0 { &replica_b } else { &replica_a };
        replica.publish(profile_changed(n)).await.unwrap();
    }
    let mut read = Vec::new();
    while read.len() < 3 {
        let change = tokio::time::timeout(PATIENCE, changes.next())
            .await
            .unwrap_or_else(|_| panic!("only {read:?} arrived"))
            .expect("stream open")
            .expect("decoded change");
        read.push(change.change_id);
    }
    assert_eq!(read, ["change-1", "change-2", "change-3"]);
    // Nothing else (in particular not change-0).
    let extra = tokio::time::timeout(Duration::from_secs(2), changes.next()).await;
    assert!(extra.is_err(), "unexpected change: {extra:?}");
}
