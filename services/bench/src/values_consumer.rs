//! Reads the values topic back while a scenario runs and hands each
//! record's device and integer value to the scenario: what reached Kafka is
//! what counts.
//!
//! tansu 0.6 (SQLite engine) has been seen to stall when one consumer
//! fetches ~13,000 records in one go, so fetches are kept small (64 KiB per
//! partition, 256 KiB per request) and short (`fetch.wait.max.ms` 20), which
//! also keeps the closed loop's latency low. The consumer reads
//! continuously while records are produced, so it never faces a backlog.
//! It assigns itself every partition from the beginning instead of joining
//! a consumer group: tansu 0.6's group coordinator was seen to time out
//! (`SESSTMOUT`, then `ApiVersionRequest` timeouts) under load, and a
//! benchmark has no use for rebalancing anyway.

use std::time::Instant;

use anyhow::{Context, Result};
use futures::StreamExt;
use lwm2m_bus::{decode_event, Encoding};
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::value::Kind;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::mpsc;

/// One integer value read back for one device.
#[derive(Debug, Clone)]
pub struct ReadBack {
    pub endpoint: String,
    pub value: i64,
    pub at: Instant,
    /// How long after the transport built the event it was read here
    /// (wall clocks of one machine, so comparable).
    pub since_event: Duration,
    /// How long after the transport handed the record to librdkafka (the
    /// record's CreateTime) it was read here.
    pub since_record: Duration,
}

/// What the consumer could not make sense of (counted, never ignored).
#[derive(Debug, Clone)]
pub enum Malformed {
    Undecodable(String),
    NotAnIntegerValue(String),
}

/// Starts a consumer of every partition of `topic` from the beginning;
/// decoded values go to the returned channel until it is dropped. Blocks
/// for the topic's metadata (call it before the load starts).
pub fn start(
    brokers: &str,
    topic: &str,
    run: &str,
) -> Result<mpsc::Receiver<std::result::Result<ReadBack, Malformed>>> {
    let mut raw = start_raw(brokers, topic, run)?;
    let (tx, rx) = mpsc::channel(16 * 1024);
    tokio::spawn(async move {
        while let Some((payload, _, created_ms)) = raw.recv().await {
            if tx.send(parse(&payload, created_ms)).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// The consumer settings (see the module comment); `BENCH_CONSUMER`
/// (`key=value,key=value`) overrides them for experiments.
fn consumer_config(brokers: &str, run: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("bench-{run}"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "20")
        .set("fetch.error.backoff.ms", "10")
        .set("fetch.max.bytes", "262144")
        // librdkafka wants fetch.max.bytes >= message.max.bytes (1 MB by default).
        .set("message.max.bytes", "262144")
        .set("max.partition.fetch.bytes", "65536");
    if let Ok(extra) = std::env::var("BENCH_CONSUMER") {
        for pair in extra.split(',') {
            if let Some((k, v)) = pair.split_once('=') {
                config.set(k.trim(), v.trim());
            }
        }
    }
    config
}

/// A record as read: payload, when it was read, its timestamp (ms since
/// the epoch, 0 when it has none).
pub type RawRecord = (Vec<u8>, Instant, i64);

/// Every record of every partition of `topic`, from the beginning.
pub fn start_raw(brokers: &str, topic: &str, run: &str) -> Result<mpsc::Receiver<RawRecord>> {
    let consumer: StreamConsumer = consumer_config(brokers, run)
        .create()
        .context("cannot create the Kafka consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .with_context(|| format!("no metadata for {topic}"))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        anyhow::bail!("topic {topic} has no partitions");
    }
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, i32::try_from(p)?, Offset::Beginning)?;
    }
    consumer
        .assign(&assignment)
        .with_context(|| format!("cannot assign the partitions of {topic}"))?;
    let (tx, rx) = mpsc::channel(16 * 1024);
    tokio::spawn(async move {
        let mut stream = consumer.stream();
        while let Some(message) = stream.next().await {
            let record = match message {
                Ok(m) => (
                    m.payload().unwrap_or_default().to_vec(),
                    Instant::now(),
                    m.timestamp().to_millis().unwrap_or(0),
                ),
                Err(e) => {
                    tracing::warn!("consumer error (retrying): {e}");
                    continue;
                }
            };
            if tx.send(record).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

fn parse(payload: &[u8], created_ms: i64) -> std::result::Result<ReadBack, Malformed> {
    let at = Instant::now();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let event = decode_event(Encoding::Protobuf, payload)
        .map_err(|e| Malformed::Undecodable(e.to_string()))?;
    let Some(Payload::Values(values)) = &event.payload else {
        return Err(Malformed::NotAnIntegerValue(format!("{:?}", event.payload)));
    };
    let value = values
        .values
        .first()
        .and_then(|v| v.value.as_ref())
        .and_then(|v| v.kind.as_ref());
    match value {
        Some(Kind::Integer(n)) if values.values.len() == 1 => Ok(ReadBack {
            endpoint: event.endpoint.clone(),
            value: *n,
            at,
            since_event: Duration::from_millis(
                u64::try_from(now_ms - event.timestamp_ms).unwrap_or(0),
            ),
            since_record: Duration::from_millis(u64::try_from(now_ms - created_ms).unwrap_or(0)),
        }),
        _ => Err(Malformed::NotAnIntegerValue(format!(
            "{}: {:?}",
            event.endpoint, values.values
        ))),
    }
}
