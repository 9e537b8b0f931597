//! Builds each component from the settings and starts it. This is where the
//! embedded backends of standalone mode (in-memory sessions and bus) and the
//! cluster backends (Redis, Kafka) are chosen.

use std::sync::Arc;
use std::time::Duration;

use lwm2m_bus::{Encoding, KafkaBus, KafkaConfig, KafkaTopics, MemoryBus, UplinkBus};
use lwm2m_core::ModelRegistry;
use lwm2m_dispatch::{DispatchConfig, DispatchDeps, DispatchHandle, DispatchKafka};
use lwm2m_registry::change_feed::ChangeFeed;
use lwm2m_registry::client::GrpcLookup;
use lwm2m_registry::lookup::RegistryLookup;
use lwm2m_registry::service::Limits;
use lwm2m_registry::KafkaFeed;
use lwm2m_registry::{PoolConfig, RegistryConfig, RegistryDeps, RegistryHandle};
use lwm2m_session::{ClusterStore, MemoryCluster, MemoryStore, RedisStore, SessionStore};
use lwm2m_transport::dtls::{pem_certificates, CertificateConfig, PrivateKey};
use lwm2m_transport::{
    ClusterConfig, NodeIdSource, TransportConfig, TransportDeps, TransportHandle,
};

use crate::startup_checks::{check_postgres, ensure_kafka_topics, TopicsOf};
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
        auto_provision: s.transport.auto_provision,
        provisioning_tenant: [&s.transport.provisioning_tenant, &s.registry.default_tenant]
            .into_iter()
            .find(|t| !t.is_empty())
            .cloned(),
        dtls_bind: s.dtls.enabled.then_some(s.transport.coaps_bind),
        // Only a broker can lose what a node acknowledged; the in-process
        // bus delivers when it takes an event.
        acknowledge_after_delivery: s.storage.bus == "kafka" && s.kafka.acknowledge_after_delivery,
        delivery_timeout: Duration::from_millis(s.kafka.delivery_timeout_ms),
        ..TransportConfig::default()
    };
    config.dtls.connection_id_length = usize::from(s.dtls.connection_id_length);
    // Checked by `Settings::validate`; the engine's default otherwise.
    if let Ok(suites) = s.dtls.parsed_cipher_suites() {
        config.dtls.cipher_suites = suites;
    }
    config.dtls.require_extended_master_secret = s.dtls.require_extended_master_secret;
    config.dtls.session_idle_timeout = (s.dtls.session_idle_timeout_s > 0)
        .then(|| Duration::from_secs(s.dtls.session_idle_timeout_s));
    config.dtls.limits.max_handshakes_per_ip = s.dtls.max_handshakes_per_ip;
    config.dtls.limits.max_sessions = s.dtls.max_sessions;
    config.dtls.node_id = u8::try_from(s.node.id).unwrap_or(0);
    config.cluster = ClusterConfig {
        node_id_source: match (s.node.id, s.node.derive.as_str()) {
            (0.., _) => NodeIdSource::Fixed,
            (_, "ordinal") => NodeIdSource::Ordinal {
                hostname: hostname(),
            },
            _ => NodeIdSource::Lease,
        },
        lease_ttl: Duration::from_millis(s.node.lease_ttl_ms),
        heartbeat: Duration::from_millis(s.node.heartbeat_ms),
        parked_session_ttl: Duration::from_secs(s.node.parked_session_ttl_s),
        // Checked in `Settings::validate`.
        forward_bind: s.node.forward_bind.parse().ok(),
        forward_advertise: (!s.node.forward_advertise.is_empty())
            .then(|| s.node.forward_advertise.clone()),
        // Checked in `Settings::validate`; a key file is read at start.
        key: lwm2m_transport::cluster::decode_key(&s.node.cluster_key).unwrap_or_default(),
        sequence_block: s.node.sequence_block,
    };
    config.coap.ack_timeout = Duration::from_millis(s.coap.ack_timeout_ms);
    config.coap.ack_random_factor = s.coap.ack_random_factor;
    config.coap.max_retransmit = u32::from(s.coap.max_retransmit);
    config.coap.preferred_block_size = s.coap.block_size;
    config.coap.max_body_size = s.coap.max_reassembly_bytes;
    config
}

/// This host's name: `HOSTNAME` (set in every Kubernetes pod), else
/// `/etc/hostname`.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// The session store and, on the same backend (one Redis connection),
/// node-id leases and parked DTLS sessions: in memory for standalone,
/// Redis for a cluster.
pub async fn session_stores(
    settings: &Settings,
) -> Result<(Arc<dyn SessionStore>, Arc<dyn ClusterStore>), Error> {
    let url = settings.storage.sessions.as_str();
    if url == "memory" {
        return Ok((Arc::new(MemoryStore::new()), Arc::new(MemoryCluster::new())));
    }
    crate::startup_checks::check_redis(url, settings).await?;
    let timeout = Duration::from_millis(settings.storage.connect_timeout_ms);
    let store = tokio::time::timeout(
        timeout,
        RedisStore::connect(url, &settings.storage.session_prefix),
    )
    .await
    .map_err(|_| Error::Backend(format!("Redis at {url} did not answer within {timeout:?}")))?
    .map_err(|e| Error::config("storage.sessions", format!("cannot use {url}: {e}")))?;
    let store = Arc::new(store);
    Ok((store.clone(), store))
}

/// The session store alone (a dispatch-only process).
pub async fn session_store(settings: &Settings) -> Result<Arc<dyn SessionStore>, Error> {
    Ok(session_stores(settings).await?.0)
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

/// The session store and bus of one process, shared by its components
/// (standalone: dispatch must see the transport's in-memory sessions and
/// registration events).
#[derive(Clone)]
pub struct Backends {
    pub sessions: Arc<dyn SessionStore>,
    pub bus: Arc<dyn UplinkBus>,
    pub cluster: Arc<dyn ClusterStore>,
}

impl Backends {
    pub async fn new(settings: &Settings) -> Result<Self, Error> {
        let (sessions, cluster) = session_stores(settings).await?;
        ensure_kafka_topics(settings, TopicsOf::Transport).await?;
        Ok(Backends {
            cluster,
            sessions,
            bus: uplink_bus(settings)?,
        })
    }
}

/// Starts a transport node with the backends the settings name.
/// `local` is the registry of this process, when it runs one.
pub async fn start_transport(
    settings: &Settings,
    local: Option<Arc<dyn RegistryLookup>>,
    shutdown: crate::Shutdown,
) -> Result<TransportHandle, Error> {
    let backends = Backends::new(settings).await?;
    start_transport_on(settings, local, &backends, shutdown).await
}

/// Starts a transport node on `backends`.
pub async fn start_transport_on(
    settings: &Settings,
    local: Option<Arc<dyn RegistryLookup>>,
    backends: &Backends,
    shutdown: crate::Shutdown,
) -> Result<TransportHandle, Error> {
    let url = settings.transport.registry_url.as_str();
    let registry = if url.is_empty() {
        local
    } else {
        let mut remote = GrpcLookup::connect(url).await.map_err(|e| {
            Error::config("transport.registry_url", format!("cannot use {url}: {e}"))
        })?;
        if let Some(feed) = kafka_change_feed(settings)? {
            remote = remote.with_changes_from(feed);
        }
        Some(Arc::new(remote) as Arc<dyn RegistryLookup>)
    };
    let deps = TransportDeps {
        sessions: backends.sessions.clone(),
        bus: backends.bus.clone(),
        models: Arc::new(ModelRegistry::with_core_objects()),
        registry,
        cluster: Some(backends.cluster.clone()),
    };
    let mut config = transport_config(settings);
    config.dtls.certificate = dtls_certificate(settings)?;
    if let Some(key) = cluster_key_file(settings)? {
        config.cluster.key = key;
    }
    let mut shutdown = shutdown;
    lwm2m_transport::start(config, deps, async move { shutdown.wait().await })
        .await
        .map_err(|e| Error::Component {
            component: "transport",
            reason: e.to_string(),
        })
}

/// The cluster key from `node.cluster_key_file`, if set.
pub fn cluster_key_file(settings: &Settings) -> Result<Option<Vec<u8>>, Error> {
    let path = &settings.node.cluster_key_file;
    if path.is_empty() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config("node.cluster_key_file", format!("cannot read {path}: {e}")))?;
    lwm2m_transport::cluster::decode_key(&text)
        .map(Some)
        .map_err(|e| Error::config("node.cluster_key_file", format!("{path}: {e}")))
}

/// The DTLS key and certificates the settings name (`None`: PSK only).
pub fn dtls_certificate(settings: &Settings) -> Result<Option<CertificateConfig>, Error> {
    let d = &settings.dtls;
    if d.private_key_file.is_empty() {
        if !d.certificate_file.is_empty() || !d.trust_store_file.is_empty() {
            return Err(Error::config(
                "dtls.private_key_file",
                "certificates need the server's private key",
            ));
        }
        return Ok(None);
    }
    let read = |key: &str, path: &str| {
        std::fs::read_to_string(path)
            .map_err(|e| Error::config(key, format!("cannot read {path}: {e}")))
    };
    let pem = |key: &str, path: &str| -> Result<Vec<Vec<u8>>, Error> {
        if path.is_empty() {
            return Ok(Vec::new());
        }
        pem_certificates(&read(key, path)?).map_err(|e| Error::config(key, e.to_string()))
    };
    let private_key = PrivateKey::from_pem(&read("dtls.private_key_file", &d.private_key_file)?)
        .map_err(|e| Error::config("dtls.private_key_file", e.to_string()))?;
    Ok(Some(CertificateConfig {
        private_key,
        certificate_chain: pem("dtls.certificate_file", &d.certificate_file)?,
        accept_raw_public_keys: d.accept_raw_public_keys,
        trust_anchors: pem("dtls.trust_store_file", &d.trust_store_file)?,
        accept_expired_certificates: d.accept_expired_certificates,
    }))
}

/// The dispatch configuration the settings describe.
pub fn dispatch_config(settings: &Settings) -> Result<DispatchConfig, Error> {
    let d = &settings.dispatch;
    let database_url = if d.database_url.is_empty() {
        settings.registry.database_url.clone()
    } else {
        d.database_url.clone()
    };
    let transport_url = if !d.transport_url.is_empty() {
        d.transport_url.clone()
    } else if !settings.grpc.advertise.is_empty() {
        format!("http://{}", settings.grpc.advertise)
    } else {
        format!("http://{}", settings.grpc.bind)
    };
    let kafka = (settings.storage.bus == "kafka").then(|| DispatchKafka {
        brokers: settings.kafka.brokers.clone(),
        operations_topic: d.topic_operations.clone(),
        registrations_topic: settings.kafka.topic_registrations.clone(),
        group_id: d.kafka_group.clone(),
        from_beginning: false,
    });
    Ok(DispatchConfig {
        grpc_bind: d.grpc_addr(&settings.grpc)?,
        database_url,
        migrate_on_start: settings.registry.migrate_on_start,
        max_connections: d.max_connections,
        max_pending_per_device: d.max_pending_per_device,
        default_timeout: Duration::from_millis(d.default_timeout_ms),
        max_timeout: Duration::from_millis(d.max_timeout_ms),
        pending_expiry: Duration::from_secs(d.pending_expiry_s),
        sweep_interval: Duration::from_millis(d.sweep_interval_ms),
        stuck_grace: Duration::from_millis(d.stuck_grace_ms),
        default_awake_time: Duration::from_secs(settings.transport.default_awake_time_s),
        transport_url,
        kafka,
        ..DispatchConfig::local(String::new())
    })
}

/// Starts dispatch. `shared` are this process's backends when it also runs
/// a transport (standalone); a dispatch-only process opens its own session
/// store and hears registrations from Kafka. `local` is the in-process
/// registry, if any.
pub async fn start_dispatch(
    settings: &Settings,
    shared: Option<&Backends>,
    local: Option<Arc<dyn RegistryLookup>>,
) -> Result<DispatchHandle, Error> {
    let config = dispatch_config(settings)?;
    check_postgres(&config.database_url, "dispatch.database_url", settings).await?;
    ensure_kafka_topics(settings, TopicsOf::Dispatch).await?;
    let url = settings.dispatch.registry_url.as_str();
    let registry = if url.is_empty() {
        local
    } else {
        let remote = GrpcLookup::connect(url).await.map_err(|e| {
            Error::config("dispatch.registry_url", format!("cannot use {url}: {e}"))
        })?;
        Some(Arc::new(remote) as Arc<dyn RegistryLookup>)
    };
    let sessions = match shared {
        Some(b) => b.sessions.clone(),
        None => session_store(settings).await?,
    };
    // With Kafka, registration events come from the topic (config.kafka).
    let bus = shared
        .filter(|_| settings.storage.bus == "memory")
        .map(|b| b.bus.clone());
    let deps = DispatchDeps {
        sessions,
        bus,
        registry,
        models: Arc::new(ModelRegistry::with_core_objects()),
        link: None,
    };
    lwm2m_dispatch::start(config, deps)
        .await
        .map_err(|e| Error::Component {
            component: "dispatch",
            reason: e.to_string(),
        })
}

/// The registry configuration the settings describe.
pub fn registry_config(settings: &Settings) -> Result<RegistryConfig, Error> {
    let r = &settings.registry;
    Ok(RegistryConfig {
        grpc_bind: r.grpc_addr(&settings.grpc)?,
        database_url: r.database_url.clone(),
        pool: PoolConfig {
            max_connections: r.max_connections,
            ..PoolConfig::default()
        },
        migrate_on_start: r.migrate_on_start,
        limits: Limits {
            max_model_upload_bytes: r.max_model_upload_bytes,
            max_csv_bytes: r.max_csv_bytes,
        },
        default_tenant: (!r.default_tenant.is_empty()).then(|| r.default_tenant.clone()),
    })
}

/// The registry change feed on Kafka when the bus is Kafka (a cluster:
/// every replica's changes reach every transport), else `None`.
fn kafka_change_feed(settings: &Settings) -> Result<Option<Arc<dyn ChangeFeed>>, Error> {
    if settings.storage.bus == "memory" {
        return Ok(None);
    }
    let k = &settings.kafka;
    // The topic was created or checked with the component's others
    // (`startup_checks`), so that `kafka.create_topics` decides.
    let feed = KafkaFeed::open(&k.brokers, &k.topic_registry_changes)
        .map_err(|e| Error::config("kafka.brokers", e.to_string()))?;
    Ok(Some(feed))
}

/// Starts the registry: migrates (unless disabled), opens the database and
/// serves its gRPC API. Change events go to Kafka when the bus is Kafka,
/// else they stay in process.
pub async fn start_registry(
    settings: &Settings,
    shutdown: crate::Shutdown,
) -> Result<RegistryHandle, Error> {
    check_postgres(
        &settings.registry.database_url,
        "registry.database_url",
        settings,
    )
    .await?;
    ensure_kafka_topics(settings, TopicsOf::Registry).await?;
    let mut shutdown = shutdown;
    let deps = match kafka_change_feed(settings)? {
        Some(feed) => RegistryDeps { feed },
        None => RegistryDeps::default(),
    };
    lwm2m_registry::start(registry_config(settings)?, deps, async move {
        shutdown.wait().await
    })
    .await
    .map_err(|e| Error::Component {
        component: "registry",
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

    #[test]
    fn dtls_hardening_settings_reach_the_engine() {
        let s = Settings::default();
        let c = transport_config(&s);
        assert!(
            c.dtls.require_extended_master_secret,
            "EMS required by default"
        );
        assert_eq!(
            c.dtls.session_idle_timeout,
            Some(Duration::from_secs(48 * 3600))
        );
        let mut s = Settings::default();
        s.dtls.require_extended_master_secret = false;
        s.dtls.session_idle_timeout_s = 0;
        s.dtls.max_handshakes_per_ip = 3;
        s.dtls.max_sessions = 1000;
        let c = transport_config(&s);
        assert!(!c.dtls.require_extended_master_secret);
        assert_eq!(c.dtls.session_idle_timeout, None);
        assert_eq!(c.dtls.limits.max_handshakes_per_ip, 3);
        assert_eq!(c.dtls.limits.max_sessions, 1000);
    }

    #[test]
    fn node_id_sources_follow_the_settings() {
        let mut s = Settings::default();
        assert_eq!(
            transport_config(&s).cluster.node_id_source,
            NodeIdSource::Lease
        );
        s.node.derive = "ordinal".into();
        assert!(matches!(
            transport_config(&s).cluster.node_id_source,
            NodeIdSource::Ordinal { .. }
        ));
        s.node.forward_bind = "127.0.0.1:5701".into();
        s.node.cluster_key = "ab".repeat(32);
        let c = transport_config(&s);
        assert_eq!(
            c.cluster.forward_bind,
            Some("127.0.0.1:5701".parse().unwrap())
        );
        assert_eq!(c.cluster.key, vec![0xab; 32]);
        // Or from a file (a mounted Secret), in base64 with a newline.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cluster.key");
        std::fs::write(&file, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n").unwrap();
        s.node.cluster_key_file = file.display().to_string();
        assert_eq!(cluster_key_file(&s).unwrap(), Some(vec![0xab; 32]));
        std::fs::write(&file, "a passphrase of some length\n").unwrap();
        let err = cluster_key_file(&s).unwrap_err().to_string();
        assert!(
            err.contains("node.cluster_key_file") && err.contains("32 random bytes"),
            "{err}"
        );
    }

    #[test]
    fn dtls_settings_reach_the_transport_config() {
        let mut s = Settings::default();
        let c = transport_config(&s);
        assert_eq!(c.dtls_bind.map(|a| a.port()), Some(5684));
        assert_eq!(c.dtls.connection_id_length, 8);
        assert_eq!(dtls_certificate(&s).unwrap(), None);
        s.dtls.connection_id_length = 6;
        s.node.id = 3;
        s.dtls.enabled = false;
        let c = transport_config(&s);
        assert_eq!(c.dtls.connection_id_length, 6);
        assert_eq!(c.dtls.node_id, 3);
        assert_eq!(c.cluster.node_id_source, NodeIdSource::Fixed);
        assert_eq!(c.dtls_bind, None);
        s.dtls.trust_store_file = "/nonexistent/ca.pem".into();
        let err = dtls_certificate(&s).unwrap_err().to_string();
        assert!(err.contains("dtls.private_key_file"), "{err}");
        s.dtls.private_key_file = "/nonexistent/key.pem".into();
        let err = dtls_certificate(&s).unwrap_err().to_string();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[tokio::test]
    async fn standalone_uses_embedded_backends() {
        let s = Settings::default();
        assert!(session_store(&s).await.is_ok());
        assert!(uplink_bus(&s).is_ok());
    }

    #[test]
    fn settings_reach_the_dispatch_config() {
        let mut s = Settings::default();
        s.dispatch.max_pending_per_device = 4;
        let c = dispatch_config(&s).unwrap();
        assert_eq!(c.grpc_bind.to_string(), "127.0.0.1:50053");
        assert_eq!(c.database_url, s.registry.database_url);
        assert_eq!(c.transport_url, "http://127.0.0.1:50051");
        assert_eq!(c.max_pending_per_device, 4);
        assert_eq!(c.kafka, None);
        s.storage.bus = "kafka".into();
        let c = dispatch_config(&s).unwrap();
        assert_eq!(c.kafka.unwrap().registrations_topic, "lwm2m.registrations");
    }

    #[test]
    fn settings_reach_the_registry_config() {
        let mut s = Settings::default();
        s.registry.default_tenant = String::new();
        s.registry.max_csv_bytes = 1000;
        let c = registry_config(&s).unwrap();
        assert_eq!(c.grpc_bind.to_string(), "127.0.0.1:50052");
        assert_eq!(c.default_tenant, None);
        assert_eq!(c.limits.max_csv_bytes, 1000);
        assert!(c.migrate_on_start);
    }

    #[tokio::test]
    async fn the_standalone_registry_creates_its_sqlite_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        s.grpc.bind = "127.0.0.1:0".parse().unwrap();
        s.registry.database_url = format!("sqlite://{}/data/lwm2m.db", dir.path().display());
        let (trigger, shutdown) = crate::Shutdown::new();
        let handle = start_registry(&s, shutdown).await.unwrap();
        assert_ne!(handle.grpc_addr.port(), 0);
        assert!(dir.path().join("data/lwm2m.db").is_file());
        let tenant = handle
            .registry
            .get_tenant(&lwm2m_registry::ids::TenantId::parse("default", "t").unwrap())
            .await
            .unwrap();
        assert_eq!(tenant.id.as_str(), "default");
        trigger.trigger();
        tokio::time::timeout(Duration::from_secs(30), handle.join)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
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
        assert!(err.starts_with("Redis unreachable at 127.0.0.1:1"), "{err}");
    }
}
