//! Dispatch settings (the `dispatch.*` keys of the `lwm2m` binary).

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{Error, Result};

/// Kafka settings of dispatch: where operation events go and where
/// registration events (the wake-up signal) come from in a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchKafka {
    pub brokers: String,
    /// Operation lifecycle events (`OperationEvent`, protobuf, key
    /// `tenant/endpoint`).
    pub operations_topic: String,
    /// The transport's registration events, consumed in one consumer group
    /// shared by all dispatch replicas.
    pub registrations_topic: String,
    pub group_id: String,
    /// A new consumer group starts at the topic's beginning instead of its
    /// end (tests with fresh topics; the re-check covers older wake-ups).
    pub from_beginning: bool,
}

impl Default for DispatchKafka {
    fn default() -> Self {
        DispatchKafka {
            brokers: "127.0.0.1:9092".into(),
            operations_topic: "lwm2m.operations".into(),
            registrations_topic: "lwm2m.registrations".into(),
            group_id: "lwm2m-dispatch".into(),
            from_beginning: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DispatchConfig {
    /// gRPC API (`lwm2m.dispatch.v1.Dispatch`, health, reflection).
    pub grpc_bind: SocketAddr,
    /// `postgres://…` (cluster) or `sqlite:…` (standalone).
    pub database_url: String,
    pub migrate_on_start: bool,
    pub max_connections: u32,
    /// This replica's name in `operations.owner` (unique per replica).
    pub replica_id: String,
    /// PENDING + EXECUTING operations a device may have; the next is refused.
    pub max_pending_per_device: usize,
    /// How long a device has to answer when the call does not say.
    pub default_timeout: Duration,
    /// The largest per-call timeout accepted.
    pub max_timeout: Duration,
    /// A PENDING operation fails after this long.
    pub pending_expiry: Duration,
    /// Period of the sweeper: expiry, stuck operations, re-check of
    /// PENDING operations of registered devices.
    pub sweep_interval: Duration,
    /// EXECUTING longer than timeout + this: failed as stuck.
    pub stuck_grace: Duration,
    /// Queue mode: awake time after an uplink when the device does not say.
    pub default_awake_time: Duration,
    /// Transport gRPC used when a registration names no node.
    pub transport_url: String,
    /// Cluster: Kafka for events and wake-ups; `None` in standalone.
    pub kafka: Option<DispatchKafka>,
    /// How far a WatchOperations stream may fall behind.
    pub watch_capacity: usize,
}

impl DispatchConfig {
    /// Local defaults: ephemeral port, a SQLite file must still be given.
    pub fn local(database_url: impl Into<String>) -> Self {
        DispatchConfig {
            grpc_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            migrate_on_start: true,
            max_connections: 10,
            replica_id: format!("dispatch-{}", uuid::Uuid::new_v4().simple()),
            max_pending_per_device: 10,
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(600),
            pending_expiry: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(5),
            stuck_grace: Duration::from_secs(30),
            default_awake_time: Duration::from_secs(93),
            transport_url: "http://127.0.0.1:50051".into(),
            kafka: None,
            watch_capacity: 4096,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.max_pending_per_device == 0 {
            return bad("dispatch.max_pending_per_device must be at least 1".into());
        }
        if self.default_timeout.is_zero() || self.default_timeout > self.max_timeout {
            return bad(format!(
                "dispatch.default_timeout_ms ({:?}) must be between 1 ms and dispatch.max_timeout_ms ({:?})",
                self.default_timeout, self.max_timeout
            ));
        }
        if self.sweep_interval.is_zero() {
            return bad("dispatch.sweep_interval_ms must be above 0".into());
        }
        if self.watch_capacity == 0 {
            return bad("dispatch.watch_capacity must be at least 1".into());
        }
        Ok(())
    }

    /// The device timeout of a call: `requested_ms` (0: the default), at
    /// most `max_timeout`.
    pub fn timeout(&self, requested_ms: u32) -> Result<Duration> {
        if requested_ms == 0 {
            return Ok(self.default_timeout);
        }
        let t = Duration::from_millis(u64::from(requested_ms));
        if t > self.max_timeout {
            return Err(Error::InvalidArgument(format!(
                "timeout_ms {requested_ms} is above the maximum {} ms",
                self.max_timeout.as_millis()
            )));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_default_and_are_bounded() {
        let c = DispatchConfig::local("sqlite::memory:");
        c.validate().unwrap();
        assert_eq!(c.timeout(0).unwrap(), c.default_timeout);
        assert_eq!(c.timeout(1500).unwrap(), Duration::from_millis(1500));
        let e = c.timeout(600_001).unwrap_err().to_string();
        assert!(e.contains("above the maximum 600000 ms"), "{e}");
        let mut bad = c.clone();
        bad.max_pending_per_device = 0;
        assert!(bad.validate().is_err());
    }
}
