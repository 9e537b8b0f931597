//! The topics a service needs, made sure of at start.
//!
//! Why at start: a Kafka-protocol broker that does not create topics on
//! first use (tansu, or Kafka with `auto.create.topics.enable=false`, the
//! usual production setting) refuses every record for a missing topic with
//! `UnknownTopicOrPartition`, so uplinks that were accepted would be lost
//! for good. A service therefore either creates its topics (the default) or,
//! where it may not, checks they exist and refuses to start naming the ones
//! missing. Both first ask the broker for its metadata within a bounded
//! time, so an unreachable broker is reported as such, at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::BusError;

/// How often the metadata is asked again while created topics appear.
const METADATA_RETRY: Duration = Duration::from_millis(200);

/// One topic as a service needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    /// Partitions when the topic is created (an existing topic keeps its own).
    pub partitions: i32,
    /// Replicas per partition; -1 leaves it to the broker's
    /// `default.replication.factor` (Kafka 2.4+, KIP-464).
    pub replication_factor: i32,
    /// `retention.ms` of a created topic: -1 keeps records forever, `None`
    /// leaves it to the broker's `log.retention.*`.
    pub retention_ms: Option<i64>,
}

/// What [`ensure_topics`] found or did, for the start-up log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicReport {
    /// Topics this call created.
    pub created: Vec<String>,
    /// Topics that were there already.
    pub existing: Vec<String>,
}

/// Makes sure every topic of `topics` exists on `brokers`: creates the
/// missing ones when `create`, else fails with [`BusError::MissingTopics`]
/// naming them. `properties` are extra librdkafka settings (security).
/// Every broker round trip is bounded by `timeout`; a broker that does not
/// answer within it is [`BusError::BrokerUnreachable`].
pub async fn ensure_topics(
    brokers: &str,
    properties: &BTreeMap<String, String>,
    topics: &[TopicSpec],
    create: bool,
    timeout: Duration,
) -> Result<TopicReport, BusError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "lwm2m-topics")
        // The failure is reported once, by us, with its cause; librdkafka's
        // own connection errors would repeat it on every retry.
        .set("log_level", "0");
    for (key, value) in properties {
        config.set(key, value);
    }
    let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(config.create()?);
    let unreachable = |reason: String| BusError::BrokerUnreachable {
        brokers: brokers.to_owned(),
        reason,
    };
    let metadata = fetch_metadata(&admin, timeout)
        .await
        .map_err(|e| unreachable(format!("no metadata within {timeout:?}: {e}")))?;
    let present = present_topics(&metadata);
    let missing: Vec<&TopicSpec> = topics
        .iter()
        .filter(|t| !present.contains(t.name.as_str()))
        .collect();
    let mut report = TopicReport {
        existing: topics
            .iter()
            .filter(|t| present.contains(t.name.as_str()))
            .map(|t| t.name.clone())
            .collect(),
        ..TopicReport::default()
    };
    if missing.is_empty() {
        return Ok(report);
    }
    if !create {
        return Err(BusError::MissingTopics {
            brokers: brokers.to_owned(),
            topics: missing.iter().map(|t| t.name.clone()).collect(),
        });
    }
    let retention: Vec<Option<String>> = missing
        .iter()
        .map(|t| t.retention_ms.map(|ms| ms.to_string()))
        .collect();
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .zip(&retention)
        .map(|(t, retention)| {
            let topic = NewTopic::new(
                &t.name,
                t.partitions,
                TopicReplication::Fixed(t.replication_factor),
            );
            match retention {
                Some(ms) => topic.set("retention.ms", ms),
                None => topic,
            }
        })
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = tokio::time::timeout(timeout * 2, admin.create_topics(&new, &options))
        .await
        .map_err(|_| unreachable(format!("no answer to CreateTopics within {timeout:?}")))?
        .map_err(|e| BusError::TopicCreation {
            brokers: brokers.to_owned(),
            reason: e.to_string(),
        })?;
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(name) => report.created.push(name),
            // Created by another node between our metadata and our request.
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => report.existing.push(name),
            Err((name, code)) => failures.push(format!("{name}: {code}")),
        }
    }
    if !failures.is_empty() {
        return Err(BusError::TopicCreation {
            brokers: brokers.to_owned(),
            reason: failures.join("; "),
        });
    }
    // A broker may answer CreateTopics before the topic shows in its
    // metadata; the first records must not race that.
    let names: Vec<String> = missing.iter().map(|t| t.name.clone()).collect();
    wait_visible(&admin, brokers, &names, timeout).await?;
    Ok(report)
}

/// Waits until every one of `names` is in the broker's metadata.
async fn wait_visible(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    brokers: &str,
    names: &[String],
    timeout: Duration,
) -> Result<(), BusError> {
    let deadline = Instant::now() + timeout;
    loop {
        let unseen: Vec<String> = match fetch_metadata(admin, timeout).await {
            Ok(metadata) => {
                let present = present_topics(&metadata);
                names
                    .iter()
                    .filter(|n| !present.contains(n.as_str()))
                    .cloned()
                    .collect()
            }
            Err(_) => names.to_vec(),
        };
        if unseen.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(BusError::TopicCreation {
                brokers: brokers.to_owned(),
                reason: format!(
                    "created, but not in the broker's metadata after {timeout:?}: {}",
                    unseen.join(", ")
                ),
            });
        }
        tokio::time::sleep(METADATA_RETRY).await;
    }
}

/// The cluster's metadata for all topics (asking for all, not for ours by
/// name, so a broker that auto-creates topics does not create them here
/// with its defaults).
async fn fetch_metadata(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
) -> Result<Metadata, BusError> {
    let admin = Arc::clone(admin);
    tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout))
        .await
        .map_err(|e| BusError::Config(format!("metadata task failed: {e}")))?
        .map_err(BusError::from)
}

/// Topics the metadata lists without error and with at least one partition.
fn present_topics(metadata: &Metadata) -> BTreeSet<&str> {
    metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.name())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            partitions: 1,
            replication_factor: 1,
            retention_ms: None,
        }
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_named_within_the_timeout() {
        for create in [true, false] {
            let err = ensure_topics(
                "127.0.0.1:9",
                &BTreeMap::new(),
                &[spec("a")],
                create,
                Duration::from_millis(500),
            )
            .await
            .unwrap_err();
            assert!(matches!(err, BusError::BrokerUnreachable { .. }), "{err}");
            let text = err.to_string();
            assert!(
                text.contains("Kafka broker unreachable at 127.0.0.1:9"),
                "{text}"
            );
        }
    }
}
