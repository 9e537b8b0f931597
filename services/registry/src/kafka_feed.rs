//! The registry change feed on Kafka (cluster mode).
//!
//! Why Kafka and not only the registry's `WatchChanges` stream: with several
//! registry replicas, a transport watching one replica never hears of a
//! change made through another. Every replica publishes its changes to one
//! topic and every cache (each transport node) reads that topic, so all
//! caches see all changes whichever replica made them.
//!
//! Records are keyed by tenant and the topic has one partition, so changes
//! are read in the order they were published. A subscriber starts at the
//! end of the topic: a cache needs the changes from now on (what it holds
//! was looked up after it subscribed), not the history. It takes the
//! partitions by assignment, not through a consumer group, so it reads at
//! once and nothing has to rebalance when a node comes or goes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream;
use prost::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use crate::change_feed::{ChangeFeed, ChangeStream, FeedError, RegistryChange};

/// Default topic of registry changes.
pub const DEFAULT_TOPIC: &str = "lwm2m.registry.changes";

/// How long a publish may wait for the broker before the change is reported
/// as not published (the database change itself stands).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long topic creation and metadata requests may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes registry changes to, and reads them from, one Kafka topic.
pub struct KafkaFeed {
    brokers: String,
    topic: String,
    producer: FutureProducer,
}

impl std::fmt::Debug for KafkaFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaFeed")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaFeed {
    /// Connects to `brokers` and makes sure `topic` exists (one partition,
    /// for order). For tools and tests: the `lwm2m` service creates or
    /// checks all its topics at start and then calls [`KafkaFeed::open`].
    pub async fn connect(brokers: &str, topic: &str) -> Result<Arc<KafkaFeed>, FeedError> {
        let feed = Self::open(brokers, topic)?;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .create()
            .map_err(|e| {
                FeedError::Interrupted(format!("Kafka admin client for {brokers}: {e}"))
            })?;
        let options = AdminOptions::new()
            .request_timeout(Some(ADMIN_TIMEOUT))
            .operation_timeout(Some(ADMIN_TIMEOUT));
        let new = [NewTopic::new(topic, 1, TopicReplication::Fixed(1))];
        // librdkafka waits for a broker before it sends the request; bound
        // that too, so an unreachable broker is an error, not a hang.
        let created = tokio::time::timeout(ADMIN_TIMEOUT * 2, admin.create_topics(&new, &options))
            .await
            .map_err(|_| {
                FeedError::Interrupted(format!(
                    "Kafka broker unreachable at {brokers}: no answer within {ADMIN_TIMEOUT:?}"
                ))
            })?
            .map_err(|e| {
                FeedError::Interrupted(format!("Kafka topic creation at {brokers}: {e}"))
            })?;
        for result in created {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(FeedError::Interrupted(format!(
                        "cannot create the registry change topic {topic}: {code:?}"
                    )))
                }
            }
        }
        Ok(feed)
    }

    /// A feed on `topic`, which must exist (nothing is sent yet: the
    /// producer connects on first use and `subscribe` reads the topic's
    /// metadata).
    pub fn open(brokers: &str, topic: &str) -> Result<Arc<KafkaFeed>, FeedError> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("client.id", "lwm2m-registry-changes")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create()
            .map_err(|e| FeedError::Interrupted(format!("Kafka producer for {brokers}: {e}")))?;
        Ok(Arc::new(KafkaFeed {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            producer,
        }))
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// A consumer positioned at the end of every partition of the topic
    /// (blocking metadata calls: `subscribe` is called once per cache, at start).
    fn consumer_at_end(&self) -> Result<StreamConsumer, FeedError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            // Required by librdkafka; unused: partitions are assigned, not
            // balanced, and no offsets are committed.
            .set("group.id", "lwm2m-registry-changes")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()
            .map_err(|e| FeedError::Interrupted(format!("Kafka consumer: {e}")))?;
        let metadata = consumer
            .fetch_metadata(Some(&self.topic), ADMIN_TIMEOUT)
            .map_err(|e| FeedError::Interrupted(format!("topic metadata: {e}")))?;
        let mut assignment = TopicPartitionList::new();
        for topic in metadata.topics() {
            for partition in topic.partitions() {
                // The end as of now, resolved here rather than at the first
                // fetch, so no change published after `subscribe` returns
                // is skipped.
                let (_, high) = consumer
                    .fetch_watermarks(&self.topic, partition.id(), ADMIN_TIMEOUT)
                    .map_err(|e| FeedError::Interrupted(format!("watermarks: {e}")))?;
                assignment
                    .add_partition_offset(&self.topic, partition.id(), Offset::Offset(high))
                    .map_err(|e| FeedError::Interrupted(format!("assignment: {e}")))?;
            }
        }
        if assignment.count() == 0 {
            return Err(FeedError::Interrupted(format!(
                "topic {} has no partitions",
                self.topic
            )));
        }
        consumer
            .assign(&assignment)
            .map_err(|e| FeedError::Interrupted(format!("assignment: {e}")))?;
        Ok(consumer)
    }
}

#[async_trait]
impl ChangeFeed for KafkaFeed {
    async fn publish(&self, change: RegistryChange) -> Result<(), FeedError> {
        let payload = change.encode_to_vec();
        let record = FutureRecord::to(&self.topic)
            .key(change.tenant_id.as_bytes())
            .payload(&payload);
        self.producer
            .send(record, Timeout::After(PUBLISH_TIMEOUT))
            .await
            .map(|_| ())
            .map_err(|(e, _)| FeedError::Publish(e.to_string()))
    }

    fn subscribe(&self) -> ChangeStream {
        let consumer = match self.consumer_at_end() {
            Ok(consumer) => Arc::new(consumer),
            Err(e) => return Box::pin(stream::iter([Err(e)])),
        };
        let changes = stream::unfold(consumer, |consumer| async move {
            let item = match consumer.recv().await {
                Ok(message) => RegistryChange::decode(message.payload().unwrap_or_default())
                    .map_err(|e| {
                        FeedError::Interrupted(format!(
                            "undecodable registry change at offset {}: {e}",
                            message.offset()
                        ))
                    }),
                Err(e) => Err(FeedError::Interrupted(e.to_string())),
            };
            Some((item, consumer))
        });
        Box::pin(changes)
    }
}
