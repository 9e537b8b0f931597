//! What a process makes sure of before its components start: the Kafka
//! topics it writes or reads exist (created, unless `kafka.create_topics`
//! is off), Redis answers, and PostgreSQL accepts the configured login.
//!
//! Why here and not left to the clients: librdkafka, redis-rs and sqlx all
//! retry quietly, so a broker that is down, a missing topic or a wrong
//! database user would surface a minute later as an unrelated error (or as
//! every uplink refused for good). Each check is bounded by its
//! `connect_timeout_ms` and its error names the backend, the address and
//! the cause.

use std::str::FromStr;
use std::time::Duration;

use lwm2m_bus::kafka::{ensure_topics, TopicSpec};
use lwm2m_bus::BusError;
use sqlx::postgres::PgConnectOptions;
use sqlx::Connection as _;

use crate::{Error, Settings};

/// Which component's topics to make sure of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicsOf {
    /// Writes uplinks; reads registry changes when its registry is remote.
    Transport,
    /// Writes registry changes.
    Registry,
    /// Writes and reads operation events; reads registrations (wake-ups).
    Dispatch,
}

/// The topics `component` writes or reads, as the settings lay them out.
pub fn kafka_topics(settings: &Settings, component: TopicsOf) -> Vec<TopicSpec> {
    let k = &settings.kafka;
    let spec = |name: &str, partitions: i32| TopicSpec {
        name: name.to_owned(),
        partitions,
        replication_factor: k.topic_replication_factor,
        retention_ms: (k.topic_retention_ms != 0).then_some(k.topic_retention_ms),
    };
    let partitions = k.topic_partitions;
    // The change feed is read in order by every cache: one partition.
    let changes = spec(&k.topic_registry_changes, 1);
    match component {
        TopicsOf::Transport => {
            let mut topics = vec![
                spec(&k.topic_registrations, partitions),
                spec(&k.topic_values, partitions),
                spec(&k.topic_transport_log, partitions),
            ];
            if !settings.transport.registry_url.is_empty() {
                topics.push(changes);
            }
            topics
        }
        TopicsOf::Registry => vec![changes],
        TopicsOf::Dispatch => vec![
            spec(&settings.dispatch.topic_operations, partitions),
            spec(&k.topic_registrations, partitions),
        ],
    }
}

/// Creates (or, with `kafka.create_topics` off, checks) the topics of
/// `component` when the bus is Kafka; nothing otherwise.
pub async fn ensure_kafka_topics(settings: &Settings, component: TopicsOf) -> Result<(), Error> {
    if settings.storage.bus != "kafka" {
        return Ok(());
    }
    let k = &settings.kafka;
    let topics = kafka_topics(settings, component);
    let timeout = Duration::from_millis(k.connect_timeout_ms);
    let report = ensure_topics(
        &k.brokers,
        &Default::default(),
        &topics,
        k.create_topics,
        timeout,
    )
    .await
    .map_err(|e| match e {
        BusError::MissingTopics { .. } => Error::Backend(format!(
            "{e} (kafka.create_topics is off: create them, or turn it on)"
        )),
        other => Error::Backend(other.to_string()),
    })?;
    if !report.created.is_empty() {
        tracing::info!(
            brokers = %k.brokers,
            created = ?report.created,
            existing = ?report.existing,
            "Kafka topics created"
        );
    }
    Ok(())
}

/// Checks that Redis at `url` answers PING within `storage.connect_timeout_ms`.
pub async fn check_redis(url: &str, settings: &Settings) -> Result<(), Error> {
    let client = redis::Client::open(url)
        .map_err(|e| Error::config("storage.sessions", format!("not a Redis URL: {e}")))?;
    let addr = client.get_connection_info().addr().to_string();
    let timeout = Duration::from_millis(settings.storage.connect_timeout_ms);
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let ping = async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(timeout, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::Backend(redis_failure(&addr, &e))),
        Err(_) => Err(Error::Backend(format!(
            "Redis unreachable at {addr}: no answer within {timeout:?}"
        ))),
    }
}

fn redis_failure(addr: &str, e: &redis::RedisError) -> String {
    if e.is_connection_refusal() || e.is_io_error() || e.is_timeout() {
        format!("Redis unreachable at {addr}: {e}")
    } else if e.kind() == redis::ErrorKind::AuthenticationFailed
        || e.to_string().contains("NOAUTH")
        || e.to_string().contains("WRONGPASS")
    {
        format!("Redis at {addr} refused the credentials in storage.sessions: {e}")
    } else {
        format!("Redis at {addr}: {e}")
    }
}

/// Checks that the PostgreSQL server of `url` accepts its login within
/// `registry.connect_timeout_ms`. SQLite URLs need no check.
pub async fn check_postgres(url: &str, key: &str, settings: &Settings) -> Result<(), Error> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok(());
    }
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| Error::config(key, format!("{}: {e}", lwm2m_registry::redact_url(url))))?;
    let addr = format!("{}:{}", options.get_host(), options.get_port());
    let timeout = Duration::from_millis(settings.registry.connect_timeout_ms);
    match tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(&options)).await {
        Ok(Ok(conn)) => {
            // Closing politely only spares the server a log line.
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(Error::Backend(postgres_failure(&addr, &options, &e))),
        Err(_) => Err(Error::Backend(format!(
            "PostgreSQL unreachable at {addr}: no answer within {timeout:?}"
        ))),
    }
}

fn postgres_failure(addr: &str, options: &PgConnectOptions, e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => format!("PostgreSQL unreachable at {addr}: {io}"),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLSTATE class 28: invalid authorization specification
            // (unknown role, wrong password, no pg_hba.conf entry).
            if code.starts_with("28") {
                format!(
                    "PostgreSQL at {addr} refused the login of user {:?}: {}",
                    options.get_username(),
                    db.message()
                )
            } else if code == "3D000" {
                format!(
                    "PostgreSQL at {addr} has no database {:?}: {}",
                    options.get_database().unwrap_or_default(),
                    db.message()
                )
            } else {
                format!("PostgreSQL at {addr}: {}", db.message())
            }
        }
        other => format!("PostgreSQL at {addr}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(specs: &[TopicSpec]) -> Vec<&str> {
        specs.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn each_component_needs_the_topics_it_writes_or_reads() {
        let mut s = Settings::default();
        assert_eq!(
            names(&kafka_topics(&s, TopicsOf::Transport)),
            ["lwm2m.registrations", "lwm2m.values", "lwm2m.transport-log"]
        );
        assert_eq!(
            names(&kafka_topics(&s, TopicsOf::Registry)),
            ["lwm2m.registry.changes"]
        );
        assert_eq!(
            names(&kafka_topics(&s, TopicsOf::Dispatch)),
            ["lwm2m.operations", "lwm2m.registrations"]
        );
        // A transport with a remote registry reads its change feed.
        s.transport.registry_url = "http://registry:50052".into();
        assert!(names(&kafka_topics(&s, TopicsOf::Transport)).contains(&"lwm2m.registry.changes"));
    }

    #[test]
    fn topic_layout_follows_the_settings() {
        let mut s = Settings::default();
        s.kafka.topic_partitions = 4;
        s.kafka.topic_replication_factor = 3;
        s.kafka.topic_retention_ms = 0;
        let transport = kafka_topics(&s, TopicsOf::Transport);
        assert!(transport
            .iter()
            .all(|t| t.partitions == 4 && t.replication_factor == 3 && t.retention_ms.is_none()));
        s.kafka.topic_retention_ms = -1;
        let changes = kafka_topics(&s, TopicsOf::Registry);
        assert_eq!(changes[0].partitions, 1, "the change feed keeps its order");
        assert_eq!(changes[0].retention_ms, Some(-1));
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_named_not_a_configuration_key() {
        let mut s = Settings::default();
        s.storage.bus = "kafka".into();
        s.kafka.brokers = "127.0.0.1:9".into();
        s.kafka.connect_timeout_ms = 500;
        let err = ensure_kafka_topics(&s, TopicsOf::Registry)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("Kafka broker unreachable at 127.0.0.1:9"),
            "{err}"
        );
        assert!(!err.contains("configuration key"), "{err}");
    }

    #[tokio::test]
    async fn the_memory_bus_needs_no_broker() {
        let mut s = Settings::default();
        s.kafka.brokers = "127.0.0.1:9".into();
        ensure_kafka_topics(&s, TopicsOf::Transport).await.unwrap();
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_named_with_its_address() {
        let s = Settings::default();
        let err = check_redis("redis://127.0.0.1:9/", &s)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("Redis unreachable at 127.0.0.1:9"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_postgres_is_named_without_the_password() {
        let s = Settings::default();
        let err = check_postgres(
            "postgres://lwm2m:hunter2@127.0.0.1:9/registry",
            "registry.database_url",
            &s,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("PostgreSQL unreachable at 127.0.0.1:9"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn sqlite_needs_no_check() {
        let s = Settings::default();
        check_postgres("sqlite://./nowhere/x.db", "registry.database_url", &s)
            .await
            .unwrap();
    }
}
