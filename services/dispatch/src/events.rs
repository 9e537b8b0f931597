//! Operation lifecycle events: to in-process subscribers (callers waiting
//! for a result, `WatchOperations`) and, in a cluster, to Kafka on the
//! operations topic (protobuf `OperationEvent`, key `tenant/endpoint` so a
//! device's events stay in order on one partition).

use std::sync::Arc;
use std::time::Duration;

use lwm2m_proto::dispatch::v1::{self as pb, OperationEventKind};
use prost::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio::sync::broadcast;

use crate::clock::now_ms;
use crate::config::DispatchKafka;
use crate::error::{Error, Result};
use crate::proto::operation_to_proto;
use crate::store::OperationRecord;

#[derive(Clone)]
pub struct OperationEvents {
    local: broadcast::Sender<Arc<pb::OperationEvent>>,
    kafka: Option<(FutureProducer, String)>,
}

impl OperationEvents {
    pub fn new(capacity: usize, kafka: Option<&DispatchKafka>) -> Result<Self> {
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
        Ok(OperationEvents { local, kafka })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<pb::OperationEvent>> {
        self.local.subscribe()
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
            tokio::spawn(async move {
                let headers =
                    rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
                        key: "event-kind",
                        value: Some(kind_name.as_bytes()),
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
        // No subscriber is fine.
        let _ = self.local.send(Arc::new(event));
    }
}
