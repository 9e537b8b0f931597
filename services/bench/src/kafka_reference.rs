//! The broker's reference: how fast a bare rdkafka producer, configured
//! like the product's bus (idempotent, acks=all, linger 5 ms, keyed), gets
//! records of a notification's size acknowledged by the broker. The
//! product's Kafka throughput is divided by this.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::future::join_all;
use lwm2m_bus::{KafkaConfig, KafkaTopics};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::percentiles::summarize;
use crate::product::create_topics;
use crate::record::{Line, Section};
use crate::values_consumer;

/// About the size of a protobuf values event of one notification.
const RECORD_BYTES: usize = 160;
/// Distinct keys, like devices.
const KEYS: usize = 1000;
/// Records produced one at a time to time the broker's acknowledgement.
const LATENCY_PROBES: usize = 100;

/// What the bare producer is driven with.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaReferenceArgs {
    /// Kafka-protocol brokers.
    #[arg(long, default_value = "127.0.0.1:19092")]
    pub brokers: String,
    /// Records to produce.
    #[arg(long, default_value_t = 20_000)]
    pub records: usize,
}

/// Produces `records` records and waits for every delivery report.
pub async fn run(args: &KafkaReferenceArgs, run: &str) -> Result<Line> {
    let topic = format!("bench-{run}-reference");
    let topics = KafkaTopics {
        registrations: format!("{topic}-headers"),
        values: topic.clone(),
        transport_log: format!("{topic}-round-trip"),
    };
    create_topics(&args.brokers, &topics).await?;
    // The product bus's own settings, so the only difference is the product.
    let producer: FutureProducer = KafkaConfig {
        brokers: args.brokers.clone(),
        client_id: "lwm2m-bench-reference".into(),
        ..KafkaConfig::default()
    }
    .client_config()
    .create()
    .context("cannot create the reference producer")?;
    let payload = vec![0x42u8; RECORD_BYTES];
    let keys: Vec<String> = (0..KEYS).map(|i| format!("bench/dev-{i:05}")).collect();
    let plain = burst(&producer, &topic, &keys, &payload, args.records, false).await?;
    let with_headers = burst(
        &producer,
        &topics.registrations,
        &keys,
        &payload,
        args.records,
        true,
    )
    .await?;
    producer
        .flush(Duration::from_secs(30))
        .context("kafka reference: flush")?;
    // One record at a time: the broker's acknowledgement latency.
    let mut latencies = Vec::with_capacity(LATENCY_PROBES);
    for i in 0..LATENCY_PROBES {
        let sent = Instant::now();
        let record = FutureRecord::to(&topic)
            .key(&keys[i % KEYS])
            .payload(&payload);
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(_) => latencies.push(sent.elapsed()),
            Err((e, _)) => bail!("kafka reference: probe {i} not delivered: {e}"),
        }
    }
    let latency = summarize(&mut latencies).context("no probes")?;
    // An empty topic of its own, so the consumer has no backlog to read first.
    let mut round_trips =
        produce_to_consume(&producer, &args.brokers, &topics.transport_log, run).await?;
    let round_trip = summarize(&mut round_trips).context("no round trips")?;
    Ok(Line::new(Section::Reference, "kafka_produce")
        .param("records", args.records)
        .param("record_bytes", RECORD_BYTES)
        .param("acks", "all")
        .metric("records_per_s", with_headers)
        .metric("records_per_s_without_headers", plain)
        .metric("ack_p50_ms", latency.p50_ms)
        .metric("ack_p99_ms", latency.p99_ms)
        .metric("produce_to_consume_p50_ms", round_trip.p50_ms)
        .metric("produce_to_consume_p99_ms", round_trip.p99_ms))
}

/// Produces `records` records as fast as librdkafka takes them and waits
/// for every acknowledgement; records per second. With `headers`, each
/// record carries the six headers the product's records carry
/// (`crates/lwm2m-bus/src/kafka/record.rs`), so the reference costs the
/// broker what the product's records cost it.
async fn burst(
    producer: &FutureProducer,
    topic: &str,
    keys: &[String],
    payload: &[u8],
    records: usize,
    headers: bool,
) -> Result<f64> {
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(records);
    for i in 0..records {
        let key = &keys[i % keys.len()];
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if headers {
            let event_id = format!("{i:032x}");
            record = record.headers(
                OwnedHeaders::new_with_capacity(6)
                    .insert(header("event-kind", "values"))
                    .insert(header("content-type", "application/x-protobuf"))
                    .insert(header("endpoint", key))
                    .insert(header("tenant", ""))
                    .insert(header("event-id", &event_id))
                    .insert(header(
                        "traceparent",
                        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    )),
            );
        }
        match producer.send_result(record) {
            Ok(delivery) => deliveries.push(delivery),
            Err((e, _)) => bail!("kafka reference: record {i} refused by librdkafka: {e}"),
        }
    }
    let results = join_all(deliveries).await;
    let elapsed = started.elapsed();
    let failed = results.iter().filter(|r| !matches!(r, Ok(Ok(_)))).count();
    if failed > 0 {
        bail!("kafka reference: {failed} of {records} records not delivered to {topic}");
    }
    Ok(records as f64 / elapsed.as_secs_f64())
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// Produce one record, wait until the bench's own consumer settings read
/// it back, repeat: the floor under the notify scenario's end-to-end
/// latency.
async fn produce_to_consume(
    producer: &FutureProducer,
    brokers: &str,
    topic: &str,
    run: &str,
) -> Result<Vec<Duration>> {
    let mut reads = values_consumer::start_raw(brokers, topic, run)?;
    let mut out = Vec::with_capacity(LATENCY_PROBES);
    for i in 0..LATENCY_PROBES {
        let marker = format!("probe-{i}");
        let sent = Instant::now();
        let record = FutureRecord::to(topic)
            .key("probe")
            .payload(marker.as_bytes());
        if let Err((e, _)) = producer.send(record, Duration::from_secs(30)).await {
            bail!("kafka reference: round-trip probe {i} not delivered: {e}");
        }
        loop {
            let (payload, at, _) = tokio::time::timeout(Duration::from_secs(30), reads.recv())
                .await
                .ok()
                .flatten()
                .with_context(|| format!("kafka reference: probe {i} never read back"))?;
            if payload == marker.as_bytes() {
                out.push(at.saturating_duration_since(sent));
                break;
            }
        }
    }
    Ok(out)
}
