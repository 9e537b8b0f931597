//! Configuration of the Kafka bus, loadable from the service's TOML file.
//!
//! The librdkafka settings that give the delivery guarantees live in
//! [`KafkaConfig::client_config`]; `properties` can override any of them
//! (for security settings, tuning), at the operator's risk for the ones that
//! the ordering guarantee depends on (`enable.idempotence`,
//! `message.timeout.ms`).

use std::collections::BTreeMap;

use lwm2m_proto::events::v1::EventKind;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::{BusError, Encoding};

/// Kafka bus settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Topic per event kind.
    pub topics: KafkaTopics,
    /// Record value encoding.
    pub encoding: Encoding,
    /// How many accepted events may await delivery (buffered while Kafka is
    /// slow or unreachable) before `publish` answers with backpressure.
    pub buffer_capacity: usize,
    /// librdkafka `client.id`, shown in broker logs and quotas; use the node id.
    pub client_id: String,
    /// How far a local subscriber may fall behind before it loses events.
    pub subscriber_capacity: usize,
    /// Extra librdkafka properties (`security.protocol`, `compression.type`...);
    /// they override the bus's defaults.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topics: KafkaTopics::default(),
            encoding: Encoding::Protobuf,
            buffer_capacity: 100_000,
            client_id: "lwm2m-transport".into(),
            subscriber_capacity: 4096,
            properties: BTreeMap::new(),
        }
    }
}

/// Topic names per event kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaTopics {
    /// Registration events (register, update, de-register, expiry).
    pub registrations: String,
    /// Resource values (read responses, notifications, sends).
    pub values: String,
    /// Transport log lines.
    pub transport_log: String,
}

impl Default for KafkaTopics {
    fn default() -> Self {
        KafkaTopics {
            registrations: "lwm2m.registrations".into(),
            values: "lwm2m.values".into(),
            transport_log: "lwm2m.transport-log".into(),
        }
    }
}

impl KafkaTopics {
    /// The topic of an event kind; `None` for `Unspecified`.
    pub fn for_kind(&self, kind: EventKind) -> Option<&str> {
        match kind {
            EventKind::Registration => Some(&self.registrations),
            EventKind::Values => Some(&self.values),
            EventKind::TransportLog => Some(&self.transport_log),
            EventKind::Unspecified => None,
        }
    }

    /// All three topics (for creating them or subscribing to them).
    pub fn all(&self) -> [&str; 3] {
        [&self.registrations, &self.values, &self.transport_log]
    }
}

impl KafkaConfig {
    /// Largest buffer the bus supports (tokio's semaphore limit, and far
    /// above what fits comfortably in memory anyway).
    pub const MAX_BUFFER_CAPACITY: usize = 100_000_000;

    /// Checks what librdkafka would only reject later, or never.
    pub fn validate(&self) -> Result<(), BusError> {
        if self.brokers.trim().is_empty() {
            return Err(BusError::Config("brokers is empty".into()));
        }
        if self.buffer_capacity == 0 || self.buffer_capacity > Self::MAX_BUFFER_CAPACITY {
            return Err(BusError::Config(format!(
                "buffer_capacity {} must be between 1 and {}",
                self.buffer_capacity,
                Self::MAX_BUFFER_CAPACITY
            )));
        }
        if let Some(kind) = ["registrations", "values", "transport_log"]
            .iter()
            .zip(self.topics.all())
            .find_map(|(name, topic)| topic.trim().is_empty().then_some(name))
        {
            return Err(BusError::Config(format!("topics.{kind} is empty")));
        }
        Ok(())
    }

    /// The librdkafka producer configuration.
    ///
    /// - `enable.idempotence=true` + `acks=all`: no duplicates from retries
    ///   and, with at most 5 requests in flight, per-partition order is kept
    ///   across retries.
    /// - `message.timeout.ms=0` (never expire): while Kafka is unreachable the
    ///   records wait in librdkafka's queue and are sent in order when it
    ///   comes back. Our bounded buffer (`buffer_capacity`) is what limits
    ///   memory, so librdkafka's own queue limit is set above it.
    /// - `partitioner=murmur2_random`: the Java client's partitioner, so Java
    ///   and Kafka Streams consumers co-partition with us by key.
    /// - `reconnect.backoff.max.ms=2000`: resume within seconds of a broker
    ///   coming back (the default waits up to 10 s).
    /// - `linger.ms=5`: small batches without adding visible latency.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        let queue_limit = self
            .buffer_capacity
            .saturating_add(1024)
            .min(i32::MAX as usize);
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("message.timeout.ms", "0")
            .set("queue.buffering.max.messages", queue_limit.to_string())
            .set("partitioner", "murmur2_random")
            .set("reconnect.backoff.ms", "100")
            .set("reconnect.backoff.max.ms", "2000")
            .set("linger.ms", "5")
            .set("socket.keepalive.enable", "true");
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_topics() {
        let config = KafkaConfig::default();
        assert_eq!(
            config.topics.for_kind(EventKind::Registration),
            Some("lwm2m.registrations")
        );
        assert_eq!(
            config.topics.for_kind(EventKind::Values),
            Some("lwm2m.values")
        );
        assert_eq!(
            config.topics.for_kind(EventKind::TransportLog),
            Some("lwm2m.transport-log")
        );
        assert_eq!(config.topics.for_kind(EventKind::Unspecified), None);
        assert_eq!(config.buffer_capacity, 100_000);
        config.validate().unwrap();
    }

    #[test]
    fn client_config_is_idempotent_and_never_expires_records() {
        let mut config = KafkaConfig::default();
        config.properties.insert("linger.ms".into(), "50".into());
        let client = config.client_config();
        assert_eq!(client.get("enable.idempotence"), Some("true"));
        assert_eq!(client.get("acks"), Some("all"));
        assert_eq!(client.get("message.timeout.ms"), Some("0"));
        assert_eq!(client.get("queue.buffering.max.messages"), Some("101024"));
        assert_eq!(
            client.get("linger.ms"),
            Some("50"),
            "properties override defaults"
        );
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let mut config = KafkaConfig {
            buffer_capacity: 0,
            ..Default::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("buffer_capacity"));
        config.buffer_capacity = 10;
        config.topics.values = " ".into();
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("topics.values"));
        config.topics.values = "v".into();
        config.brokers = String::new();
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("brokers"));
    }

    #[test]
    fn loads_from_partial_json_with_defaults() {
        let config: KafkaConfig = serde_json::from_str(
            r#"{"brokers":"k:9092","encoding":"json","topics":{"values":"v"},"properties":{"compression.type":"lz4"}}"#,
        )
        .unwrap();
        assert_eq!(config.encoding, Encoding::Json);
        assert_eq!(config.topics.values, "v");
        assert_eq!(config.topics.registrations, "lwm2m.registrations");
        assert_eq!(config.client_config().get("compression.type"), Some("lz4"));
    }
}
