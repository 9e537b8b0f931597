//! Operation lifecycle events: to in-process subscribers (callers waiting
//! for a result, `WatchOperations`) and, in a cluster, to Kafka on the
//! operations topic (protobuf `OperationEvent`, key `tenant/endpoint` so a
//! device's events stay in order on one partition).
//!
//! In a cluster a watcher connected to one replica must also see what the
//! other replicas deliver: each replica relays the operations topic into its
//! in-process channel, skipping the records it published itself (header
//! `replica`), which it already sent locally without the Kafka round trip.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lwm2m_proto::dispatch::v1::{self as pb, OperationEventKind};
use prost::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::{broadcast, watch, Notify};

use crate::clock::now_ms;
use crate::config::DispatchKafka;
use crate::error::{Error, Result};
use crate::proto::operation_to_proto;
use crate::store::OperationRecord;

#[derive(Clone)]
pub struct OperationEvents {
    local: broadcast::Sender<Arc<pb::OperationEvent>>,
    kafka: Option<(FutureProducer, String)>,
    replica: String,
    /// Callers waiting for one operation to end, by operation id: each is
    /// woken by its own operation only, so the cost of an event does not
    /// grow with the number of waiting calls (the broadcast above is for
    /// watchers, who want everything).
    ends: Arc<std::sync::Mutex<HashMap<String, Arc<Notify>>>>,
}

/// A registration for the end of one operation; unregistered on drop.
pub struct EndWatch {
    id: String,
    notify: Arc<Notify>,
    ends: Arc<std::sync::Mutex<HashMap<String, Arc<Notify>>>>,
}

impl EndWatch {
    /// Woken when the operation ends (or may have: the caller re-reads it).
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for EndWatch {
    fn drop(&mut self) {
        let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        // The map's copy and ours: nobody else waits for this id.
        if Arc::strong_count(&self.notify) <= 2 {
            ends.remove(&self.id);
        }
    }
}

/// Header naming the replica that published an event.
const REPLICA_HEADER: &str = "replica";
/// How long metadata and watermark requests of the relay may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

impl OperationEvents {
    pub fn new(capacity: usize, kafka: Option<&DispatchKafka>, replica: &str) -> Result<Self> {
        let kafka = match kafka {
            None => None,
            Some(k) => {
                let producer: FutureProducer = ClientConfig::new()
                    .set("bootstrap.servers", &k.brokers)
                    .set("enable.idempotence", "true")
                    .set("acks", "all")
                    .set("linger.ms", "5")
                    .set("message.timeout.ms", "60000")
                    .create()
                    .map_err(|e| Error::Config(format!("Kafka producer: {e}")))?;
                Some((producer, k.operations_topic.clone()))
            }
        };
        let (local, _) = broadcast::channel(capacity.max(1));
        Ok(OperationEvents {
            local,
            kafka,
            replica: replica.to_owned(),
            ends: Arc::default(),
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<pb::OperationEvent>> {
        self.local.subscribe()
    }

    /// Registers interest in the end of operation `id` (before it can end).
    pub fn watch_end(&self, id: &str) -> EndWatch {
        let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        let notify = Arc::clone(ends.entry(id.to_owned()).or_default());
        EndWatch {
            id: id.to_owned(),
            notify,
            ends: Arc::clone(&self.ends),
        }
    }

    /// Hands an event (ours, or relayed from another replica) to watchers
    /// and, if it ends an operation, to that operation's waiters.
    fn deliver_locally(&self, event: Arc<pb::OperationEvent>) {
        let ended = matches!(
            OperationEventKind::try_from(event.kind),
            Ok(OperationEventKind::Successful
                | OperationEventKind::Failed
                | OperationEventKind::Cancelled)
        );
        if ended {
            if let Some(op) = &event.operation {
                let ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(notify) = ends.get(&op.id) {
                    notify.notify_waiters();
                }
            }
        }
        // No subscriber is fine.
        let _ = self.local.send(event);
    }

    /// Publishes one lifecycle change. Kafka delivery runs in the
    /// background: a slow broker never holds up a device's queue (the
    /// operation's state is in the database either way).
    pub fn publish(&self, kind: OperationEventKind, record: &OperationRecord) {
        let event = pb::OperationEvent {
            kind: kind as i32,
            operation: Some(operation_to_proto(record)),
            event_id: uuid::Uuid::new_v4().to_string(),
            timestamp_ms: now_ms(),
        };
        if let Some((producer, topic)) = &self.kafka {
            let producer = producer.clone();
            let topic = topic.clone();
            let key = record.device.to_string();
            let payload = event.encode_to_vec();
            let kind_name = kind.as_str_name().to_owned();
            let replica = self.replica.clone();
            tokio::spawn(async move {
                let headers = rdkafka::message::OwnedHeaders::new()
                    .insert(rdkafka::message::Header {
                        key: "event-kind",
                        value: Some(kind_name.as_bytes()),
                    })
                    .insert(rdkafka::message::Header {
                        key: REPLICA_HEADER,
                        value: Some(replica.as_bytes()),
                    });
                let record = FutureRecord::to(&topic)
                    .key(&key)
                    .payload(&payload)
                    .headers(headers);
                if let Err((e, _)) = producer.send(record, Duration::from_secs(60)).await {
                    tracing::warn!(%topic, error = %e, "operation event not delivered to Kafka");
                }
            });
        }
        self.deliver_locally(Arc::new(event));
    }
}

/// A consumer of every partition of `topic`, positioned at the current end
/// (assigned, not balanced: every replica reads everything). `None` while
/// the topic does not exist yet.
fn consumer_at_end(kafka: &DispatchKafka, replica: &str) -> Result<Option<StreamConsumer>> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        // Required by librdkafka, unused: nothing is committed.
        .set("group.id", format!("{}-relay-{replica}", kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .map_err(|e| Error::Config(format!("Kafka consumer: {e}")))?;
    let topic = kafka.operations_topic.as_str();
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(|e| Error::Bus(format!("operations topic metadata: {e}")))?;
    let mut assignment = TopicPartitionList::new();
    for t in metadata.topics() {
        for partition in t.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(topic, partition.id(), METADATA_TIMEOUT)
                .map_err(|e| Error::Bus(format!("operations topic watermarks: {e}")))?;
            assignment
                .add_partition_offset(topic, partition.id(), Offset::Offset(high))
                .map_err(|e| Error::Bus(format!("assignment: {e}")))?;
        }
    }
    if assignment.count() == 0 {
        return Ok(None);
    }
    consumer
        .assign(&assignment)
        .map_err(|e| Error::Bus(format!("assignment: {e}")))?;
    Ok(Some(consumer))
}

/// Relays the other replicas' operation events from Kafka into this
/// replica's in-process channel until `stop`. Retries while the topic is
/// missing or the broker is away; what is published meanwhile by others is
/// not replayed (a watcher sees changes from when it is connected, and a
/// waiting caller also polls the store).
pub async fn relay(
    events: OperationEvents,
    kafka: DispatchKafka,
    ready: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let consumer = loop {
        let (k, r) = (kafka.clone(), events.replica.clone());
        match tokio::task::spawn_blocking(move || consumer_at_end(&k, &r)).await {
            Ok(Ok(Some(consumer))) => break consumer,
            Ok(Ok(None)) => {
                tracing::debug!(topic = %kafka.operations_topic, "operations topic not there yet")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "operation event relay not connected"),
            Err(e) => tracing::warn!(error = %e, "operation event relay task failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = crate::stopped(&mut stop) => return,
        }
    };
    let _ = ready.send(true);
    loop {
        let message = tokio::select! {
            m = consumer.recv() => m,
            () = crate::stopped(&mut stop) => break,
        };
        match message {
            Ok(message) => {
                let from = message.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == REPLICA_HEADER)
                        .and_then(|h| h.value)
                });
                if from == Some(events.replica.as_bytes()) {
                    continue;
                }
                match pb::OperationEvent::decode(message.payload().unwrap_or_default()) {
                    Ok(event) => events.deliver_locally(Arc::new(event)),
                    Err(e) => {
                        tracing::warn!(offset = message.offset(), error = %e, "undecodable operation event skipped")
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "operation event relay: Kafka error"),
        }
    }
    // Unassign before the drop, so the consumer closes without waiting on a
    // group it never joined.
    let _ = consumer.unassign();
}
