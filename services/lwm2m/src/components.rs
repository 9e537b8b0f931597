//! Builds each component from the settings and starts it. This is where the
//! embedded backends of standalone mode (in-memory sessions and bus) and the
//! cluster backends (Redis, Kafka) are chosen.

use std::sync::Arc;
use std::time::Duration;

use lwm2m_bus::{Encoding, KafkaBus, KafkaConfig, KafkaTopics, MemoryBus, UplinkBus};
use lwm2m_core::ModelRegistry;
use lwm2m_session::{MemoryStore, RedisStore, SessionStore};
use lwm2m_transport::{TransportConfig, TransportDeps, TransportHandle};

use crate::{Error, Settings};

/// Capacity of the in-process bus's fan-out to subscribers.
const MEMORY_BUS_CAPACITY: usize = 16 * 1024;

/// The transport configuration the settings describe.
pub fn transport_config(settings: &Settings) -> TransportConfig {
    let s = settings;
    let mut config = TransportConfig {
        coap_bind: s.transport.coap_bind,
        grpc_bind: s.grpc.bind,
        grpc_advertise: (!s.grpc.advertise.is_empty()).then(|| s.grpc.advertise.clone()),
        max_datagram_size: s.transport.max_datagram_size,
        default_request_timeout: Duration::from_millis(s.transport.request_timeout_ms),
        default_awake_time: Duration::from_secs(s.transport.default_awake_time_s),
        registration_grace: Duration::from_secs(s.transport.registration_grace_s),
        ..TransportConfig::default()
    };
    config.coap.ack_timeout = Duration::from_millis(s.coap.ack_timeout_ms);
    config.coap.ack_random_factor = s.coap.ack_random_factor;
    config.coap.max_retransmit = u32::from(s.coap.max_retransmit);
    config.coap.preferred_block_size = s.coap.block_size;
    config.coap.max_body_size = s.coap.max_reassembly_bytes;
    config
}

/// The session store: in memory for standalone, Redis for a cluster.
pub async fn session_store(settings: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    let url = settings.storage.sessions.as_str();
    if url == "memory" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    let store = RedisStore::connect(url, &settings.storage.session_prefix)
        .await
        .map_err(|e| Error::config("storage.sessions", format!("cannot use {url}: {e}")))?;
    Ok(Arc::new(store))
}

/// The uplink bus: in-process for standalone, Kafka for a cluster.
pub fn uplink_bus(settings: &Settings) -> Result<Arc<dyn UplinkBus>, Error> {
    if settings.storage.bus == "memory" {
        return Ok(Arc::new(MemoryBus::new(MEMORY_BUS_CAPACITY)));
    }
    let k = &settings.kafka;
    let config = KafkaConfig {
        brokers: k.brokers.clone(),
        topics: KafkaTopics {
            registrations: k.topic_registrations.clone(),
            values: k.topic_values.clone(),
            transport_log: k.topic_transport_log.clone(),
        },
        encoding: if k.encoding == "json" {
            Encoding::Json
        } else {
            Encoding::Protobuf
        },
        buffer_capacity: k.buffer_capacity,
        ..KafkaConfig::default()
    };
    let bus = KafkaBus::new(config).map_err(|e| Error::config("kafka", e.to_string()))?;
    Ok(Arc::new(bus))
}

/// Starts a transport node with the backends the settings name.
pub async fn start_transport(
    settings: &Settings,
    shutdown: crate::Shutdown,
) -> Result<TransportHandle, Error> {
    let deps = TransportDeps {
        sessions: session_store(settings).await?,
        bus: uplink_bus(settings)?,
        models: Arc::new(ModelRegistry::with_core_objects()),
    };
    let mut shutdown = shutdown;
    lwm2m_transport::start(transport_config(settings), deps, async move {
        shutdown.wait().await
    })
    .await
    .map_err(|e| Error::Component {
        component: "transport",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_reach_the_transport_config() {
        let mut s = Settings::default();
        s.coap.max_retransmit = 2;
        s.coap.block_size = 256;
        s.transport.request_timeout_ms = 1500;
        let c = transport_config(&s);
        assert_eq!(c.coap.max_retransmit, 2);
        assert_eq!(c.coap.preferred_block_size, 256);
        assert_eq!(c.default_request_timeout, Duration::from_millis(1500));
        assert_eq!(c.coap_bind.port(), 5683);
        assert_eq!(c.grpc_advertise, None);
    }

    #[tokio::test]
    async fn standalone_uses_embedded_backends() {
        let s = Settings::default();
        assert!(session_store(&s).await.is_ok());
        assert!(uplink_bus(&s).is_ok());
    }

    #[tokio::test]
    async fn unreachable_redis_is_a_clear_error() {
        let mut s = Settings::default();
        s.storage.sessions = "redis://127.0.0.1:1/".into();
        let err = session_store(&s)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("storage.sessions"), "{err}");
    }
}
