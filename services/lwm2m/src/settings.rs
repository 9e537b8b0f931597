//! Layered configuration: built-in defaults < TOML file (`--config`) <
//! environment variables with the `LWM2M_` prefix.
//!
//! Environment variables map onto keys by upper-casing the dotted key and
//! replacing dots with underscores: `dtls.connection_id_length` is
//! `LWM2M_DTLS_CONNECTION_ID_LENGTH`. Because key names contain underscores
//! themselves, the mapping is resolved against the list of known keys (taken
//! from the defaults) instead of splitting on `_`, which is ambiguous. An
//! `LWM2M_` variable that matches no key is an error, so a typo never passes
//! silently.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "LWM2M_";

/// Variables with the prefix that are not configuration keys.
const NON_KEY_VARS: &[&str] = &["LWM2M_LOG"];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub node: NodeSettings,
    pub transport: TransportSettings,
    pub coap: CoapSettings,
    pub dtls: DtlsSettings,
    pub grpc: GrpcSettings,
    pub storage: StorageSettings,
    pub kafka: KafkaSettings,
    pub registry: RegistrySettings,
    pub dispatch: DispatchSettings,
    pub log: LogSettings,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSettings {
    /// Node id 0-255 carried in the first byte of DTLS Connection IDs; -1 means
    /// "derive it" as `derive` says.
    pub id: i16,
    /// With `id = -1`: `lease` (the lowest id no live node holds, leased in
    /// the session store) or `ordinal` (a StatefulSet pod's ordinal, from
    /// the hostname: `lwm2m-transport-2` → 2).
    pub derive: String,
    /// A node's lease on its id lapses this long after its last heartbeat.
    pub lease_ttl_ms: u64,
    /// How often a node renews its lease (at most half of `lease_ttl_ms`).
    pub heartbeat_ms: u64,
    /// How long DTLS sessions parked by a stopping node wait for the next
    /// node with its id.
    pub parked_session_ttl_s: u64,
    /// Internal UDP address for DTLS records other nodes forward here (their
    /// Connection ID names this node); empty: no forwarding (a single node).
    pub forward_bind: String,
    /// The forwarding address other nodes use (e.g. the pod IP); empty: the
    /// bound address.
    pub forward_advertise: String,
    /// Secret shared by all nodes, authenticating forwarded records: 32
    /// random bytes in hex or base64 (`openssl rand -hex 32`); this or
    /// `cluster_key_file` is required with `forward_bind`. Set it from a
    /// Secret (`LWM2M_NODE_CLUSTER_KEY`).
    pub cluster_key: String,
    /// A file holding the cluster key (hex or base64), e.g. a mounted
    /// Secret; instead of `cluster_key`.
    pub cluster_key_file: String,
    /// DTLS record sequence numbers a session reserves in the session
    /// store at a time, so that after a crash (kill -9) the next node with
    /// this id takes its sessions over without reusing one; 0 turns it off
    /// (then only a graceful stop keeps sessions).
    pub sequence_block: u64,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            id: -1,
            derive: "lease".into(),
            lease_ttl_ms: 15_000,
            heartbeat_ms: 5_000,
            parked_session_ttl_s: 600,
            forward_bind: String::new(),
            forward_advertise: String::new(),
            cluster_key: String::new(),
            cluster_key_file: String::new(),
            sequence_block: 4096,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportSettings {
    /// Plain CoAP (NoSec) listener.
    pub coap_bind: SocketAddr,
    /// CoAP over DTLS listener.
    pub coaps_bind: SocketAddr,
    /// Datagrams larger than this are dropped and counted.
    pub max_datagram_size: usize,
    /// How long a downlink waits for the device unless the call says otherwise.
    pub request_timeout_ms: u64,
    /// How long a queue-mode device is considered awake after Register/Update
    /// when neither the device settings nor its registration (`at=`) say.
    pub default_awake_time_s: u64,
    /// Extra time past a registration's lifetime before it is expired.
    pub registration_grace_s: u64,
    /// Whether endpoints the registry does not know may register (4.03
    /// otherwise). On by default so a standalone quickstart needs no
    /// provisioning; a cluster sets it off.
    pub auto_provision: bool,
    /// The tenant whose own auto-provisioning flag decides about unknown
    /// endpoints when `auto_provision` is off: if that tenant enables it,
    /// the device is created there with the tenant's profile. Empty: the
    /// registry's `default_tenant`.
    pub provisioning_tenant: String,
    /// gRPC address of the registry's lookup service (`http://registry:50052`)
    /// for a transport running without the registry in the same process.
    /// Empty: use the in-process registry if this process runs one, else
    /// none (every endpoint may register, no profiles).
    pub registry_url: String,
}

impl Default for TransportSettings {
    fn default() -> Self {
        TransportSettings {
            coap_bind: SocketAddr::from(([0, 0, 0, 0], 5683)),
            coaps_bind: SocketAddr::from(([0, 0, 0, 0], 5684)),
            max_datagram_size: 1500,
            request_timeout_ms: 30_000,
            default_awake_time_s: 93,
            registration_grace_s: 30,
            auto_provision: true,
            provisioning_tenant: String::new(),
            registry_url: String::new(),
        }
    }
}

/// CoAP transmission parameters (RFC 7252 §4.8) and block-wise settings (RFC 7959).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoapSettings {
    pub ack_timeout_ms: u64,
    pub ack_random_factor: f64,
    pub max_retransmit: u8,
    pub block_size: u16,
    pub max_reassembly_bytes: usize,
}

impl Default for CoapSettings {
    fn default() -> Self {
        CoapSettings {
            ack_timeout_ms: 2000,
            ack_random_factor: 1.5,
            max_retransmit: 4,
            block_size: 1024,
            max_reassembly_bytes: 8 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DtlsSettings {
    /// Serve CoAP over DTLS on `transport.coaps_bind`.
    pub enabled: bool,
    /// Length of the Connection IDs this server issues (RFC 9146); 0 disables CID.
    pub connection_id_length: u8,
    /// PEM file with the server's P-256 private key (PKCS#8 or SEC1); empty:
    /// PSK only (no RPK or X.509 devices).
    pub private_key_file: String,
    /// PEM file with the server's certificate chain, leaf first; empty with
    /// a key: the server presents only its raw public key.
    pub certificate_file: String,
    /// PEM file with the CA certificates device certificates must chain to;
    /// empty: X.509 devices are refused.
    pub trust_store_file: String,
    /// Accept devices authenticating with a raw public key (RFC 7250).
    pub accept_raw_public_keys: bool,
    /// Accept device certificates past their notAfter.
    pub accept_expired_certificates: bool,
    /// The cipher suites the server negotiates, by IANA name, in its order
    /// of preference (the first one the device also offers wins). A TOML
    /// list, or in the environment a comma-separated string
    /// (`LWM2M_DTLS_CIPHER_SUITES=TLS_PSK_WITH_AES_128_CCM_8,TLS_PSK_WITH_AES_128_CCM`).
    /// Default: the AEAD suites, CCM_8 first (LwM2M's mandatory suite); the
    /// CBC suites (Lucky13-style timing) only when listed; the ECDHE_ECDSA
    /// suites need `private_key_file`.
    #[serde(deserialize_with = "names_or_comma_list")]
    pub cipher_suites: Vec<String>,
    /// Refuse clients without the extended master secret (RFC 7627); set
    /// false for old clients (tinydtls-based devices lack it).
    pub require_extended_master_secret: bool,
    /// Close an established session after this long without a record from
    /// its device; 0: never.
    pub session_idle_timeout_s: u64,
    /// Handshakes in progress from one IP address (any port).
    pub max_handshakes_per_ip: usize,
    /// Established sessions this node holds; beyond, a new handshake evicts
    /// the least recently active session, unregistered devices' first.
    pub max_sessions: usize,
}

impl DtlsSettings {
    /// `cipher_suites` as the engine's suites.
    pub fn parsed_cipher_suites(&self) -> Result<Vec<lwm2m_transport::dtls::CipherSuite>, Error> {
        use lwm2m_transport::dtls::CipherSuite;
        if self.cipher_suites.is_empty() {
            return Err(Error::config("dtls.cipher_suites", "is empty"));
        }
        self.cipher_suites
            .iter()
            .map(|name| {
                CipherSuite::from_name(name).ok_or_else(|| {
                    let known: Vec<&str> = CipherSuite::ALL.iter().map(|s| s.name()).collect();
                    Error::config(
                        "dtls.cipher_suites",
                        format!("unknown suite {name:?}; known: {}", known.join(", ")),
                    )
                })
            })
            .collect()
    }
}

/// A list of names from TOML, or one comma-separated string (environment).
fn names_or_comma_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Names {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Names::deserialize(d)? {
        Names::List(list) => list,
        Names::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl Default for DtlsSettings {
    fn default() -> Self {
        // The engine's defaults, so the two never disagree.
        let engine = lwm2m_transport::dtls::ServerConfig::default();
        DtlsSettings {
            enabled: true,
            connection_id_length: 8,
            private_key_file: String::new(),
            certificate_file: String::new(),
            trust_store_file: String::new(),
            accept_raw_public_keys: true,
            accept_expired_certificates: false,
            cipher_suites: lwm2m_transport::dtls::CipherSuite::DEFAULT
                .iter()
                .map(|s| s.name().to_owned())
                .collect(),
            require_extended_master_secret: engine.require_extended_master_secret,
            session_idle_timeout_s: engine.session_idle_timeout.map_or(0, |d| d.as_secs()),
            max_handshakes_per_ip: engine.limits.max_handshakes_per_ip,
            max_sessions: engine.limits.max_sessions,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcSettings {
    pub bind: SocketAddr,
    /// The address other nodes reach this one at (its node id in sessions:
    /// downlinks are forwarded to the node that last heard from a device).
    /// Empty: the bound address.
    pub advertise: String,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        GrpcSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 50051)),
            advertise: String::new(),
        }
    }
}

/// Where state lives. The defaults are the embedded backends of standalone mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `memory` or a `redis://` URL.
    pub sessions: String,
    /// Prefix of every Redis key; nodes of one cluster share it.
    pub session_prefix: String,
    /// `memory` (in-process, standalone) or `kafka` (see `[kafka]`).
    pub bus: String,
    /// How long start-up waits for Redis (`sessions`) to answer before it
    /// stops with "Redis unreachable at host:port".
    pub connect_timeout_ms: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            sessions: "memory".to_owned(),
            session_prefix: "lwm2m".to_owned(),
            bus: "memory".to_owned(),
            connect_timeout_ms: 5_000,
        }
    }
}

/// The Kafka uplink bus, used when `storage.bus = "kafka"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// `protobuf` or `json` record values.
    pub encoding: String,
    pub topic_registrations: String,
    pub topic_values: String,
    pub topic_transport_log: String,
    /// Registry changes (profiles, devices, models), read by every
    /// transport node's cache; one partition.
    pub topic_registry_changes: String,
    /// Events held while Kafka is slow or away; when full, new CON uplinks
    /// are refused instead of acknowledged and lost.
    pub buffer_capacity: usize,
    /// Answer a device's Register, Update, De-register and Send only once
    /// Kafka has acknowledged their events, so a node killed right after
    /// answering has lost nothing it acknowledged (costs one broker round
    /// trip of latency per uplink). Off: answered first, published after.
    pub acknowledge_after_delivery: bool,
    /// With `acknowledge_after_delivery`: events not delivered within this
    /// long get the device a 5.03, and it retries later.
    pub delivery_timeout_ms: u64,
    /// Create the topics a process writes or reads at start (an existing
    /// topic is left as it is). Off: only check they exist, and refuse to
    /// start naming the missing ones (brokers where services may not
    /// create topics).
    pub create_topics: bool,
    /// Partitions of a created topic (the registry change topic always
    /// gets one, for order).
    pub topic_partitions: i32,
    /// Replicas per partition of a created topic; -1: the broker's
    /// `default.replication.factor`.
    pub topic_replication_factor: i32,
    /// `retention.ms` of a created topic; -1: keep forever; 0: the
    /// broker's default.
    pub topic_retention_ms: i64,
    /// How long start-up waits for the brokers to answer before it stops
    /// with "Kafka broker unreachable at …".
    pub connect_timeout_ms: u64,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            brokers: "127.0.0.1:9092".to_owned(),
            encoding: "protobuf".to_owned(),
            topic_registrations: "lwm2m.registrations".to_owned(),
            topic_values: "lwm2m.values".to_owned(),
            topic_transport_log: "lwm2m.transport-log".to_owned(),
            topic_registry_changes: lwm2m_registry::kafka_feed::DEFAULT_TOPIC.to_owned(),
            buffer_capacity: 100_000,
            acknowledge_after_delivery: true,
            delivery_timeout_ms: 5_000,
            create_topics: true,
            topic_partitions: 6,
            topic_replication_factor: -1,
            topic_retention_ms: 7 * 24 * 3600 * 1000,
            connect_timeout_ms: 10_000,
        }
    }
}

/// The registry (`--target registry`, and `all`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrySettings {
    /// `sqlite://path` (standalone: the file and its directory are created)
    /// or `postgres://user:password@host/db` (cluster).
    pub database_url: String,
    /// The registry's gRPC listener. Empty: the host of `grpc.bind` and the
    /// port after it (port 0 stays 0, so tests binding ephemeral ports get
    /// one for the registry too).
    pub grpc_bind: String,
    /// Apply pending migrations at start (under an advisory lock on
    /// PostgreSQL); off when `lwm2m migrate` runs as a deployment job.
    pub migrate_on_start: bool,
    /// Database connections per registry process.
    pub max_connections: u32,
    /// How long start-up waits for PostgreSQL (the registry's and
    /// dispatch's database) before it stops with "PostgreSQL unreachable
    /// at host:port".
    pub connect_timeout_ms: u64,
    /// Tenant created at start if missing; empty for none (clusters).
    pub default_tenant: String,
    /// Largest model upload (all DDF files of one call together).
    pub max_model_upload_bytes: usize,
    /// Largest bulk-registration CSV.
    pub max_csv_bytes: usize,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            database_url: "sqlite://./data/lwm2m.db".to_owned(),
            grpc_bind: String::new(),
            migrate_on_start: true,
            max_connections: 10,
            connect_timeout_ms: 10_000,
            default_tenant: "default".to_owned(),
            max_model_upload_bytes: 32 * 1024 * 1024,
            max_csv_bytes: 10 * 1024 * 1024,
        }
    }
}

impl RegistrySettings {
    /// The registry's gRPC address (see [`RegistrySettings::grpc_bind`]).
    pub fn grpc_addr(&self, grpc: &GrpcSettings) -> Result<SocketAddr, Error> {
        if self.grpc_bind.is_empty() {
            let mut addr = grpc.bind;
            if addr.port() != 0 {
                let port = addr.port().checked_add(1).ok_or_else(|| {
                    Error::config(
                        "registry.grpc_bind",
                        "grpc.bind uses port 65535: set registry.grpc_bind",
                    )
                })?;
                addr.set_port(port);
            }
            return Ok(addr);
        }
        self.grpc_bind.parse().map_err(|e| {
            Error::config(
                "registry.grpc_bind",
                format!("{:?} is not host:port: {e}", self.grpc_bind),
            )
        })
    }
}

/// The dispatch service (`--target dispatch`, and `all`): durable
/// operations in front of the transport.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchSettings {
    /// The dispatch gRPC listener. Empty: the host of `grpc.bind` and the
    /// port two after it (port 0 stays 0).
    pub grpc_bind: String,
    /// Operation database; empty: `registry.database_url` (one schema,
    /// one migration stream).
    pub database_url: String,
    /// Database connections per dispatch process.
    pub max_connections: u32,
    /// Transport gRPC used when a registration names no node; empty: this
    /// process's `grpc.advertise` or `grpc.bind`.
    pub transport_url: String,
    /// Registry lookup service (`http://registry:50052`) for profile keys
    /// in a dispatch-only process; empty: the in-process registry, if any.
    pub registry_url: String,
    /// PENDING + EXECUTING operations a device may have; the next is refused.
    pub max_pending_per_device: usize,
    /// Device timeout of a command when the call gives none.
    pub default_timeout_ms: u64,
    /// Largest timeout a call may ask for.
    pub max_timeout_ms: u64,
    /// A PENDING operation fails after this long.
    pub pending_expiry_s: u64,
    /// Sweeper period: expiry, stuck operations, re-check of queues.
    pub sweep_interval_ms: u64,
    /// EXECUTING longer than its timeout plus this: failed as stuck.
    pub stuck_grace_ms: u64,
    /// Operation lifecycle events (with `storage.bus = "kafka"`).
    pub topic_operations: String,
    /// Consumer group of the dispatch replicas on `kafka.topic_registrations`.
    pub kafka_group: String,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            grpc_bind: String::new(),
            database_url: String::new(),
            max_connections: 10,
            transport_url: String::new(),
            registry_url: String::new(),
            max_pending_per_device: 10,
            default_timeout_ms: 30_000,
            max_timeout_ms: 600_000,
            pending_expiry_s: 24 * 3600,
            sweep_interval_ms: 5_000,
            stuck_grace_ms: 30_000,
            topic_operations: "lwm2m.operations".to_owned(),
            kafka_group: "lwm2m-dispatch".to_owned(),
        }
    }
}

impl DispatchSettings {
    /// The dispatch gRPC address (see [`DispatchSettings::grpc_bind`]).
    pub fn grpc_addr(&self, grpc: &GrpcSettings) -> Result<SocketAddr, Error> {
        if self.grpc_bind.is_empty() {
            let mut addr = grpc.bind;
            if addr.port() != 0 {
                let port = addr.port().checked_add(2).ok_or_else(|| {
                    Error::config(
                        "dispatch.grpc_bind",
                        "grpc.bind uses a port above 65533: set dispatch.grpc_bind",
                    )
                })?;
                addr.set_port(port);
            }
            return Ok(addr);
        }
        self.grpc_bind.parse().map_err(|e| {
            Error::config(
                "dispatch.grpc_bind",
                format!("{:?} is not host:port: {e}", self.grpc_bind),
            )
        })
    }

    fn validate(&self, grpc: &GrpcSettings) -> Result<(), Error> {
        self.grpc_addr(grpc)?;
        let positive = |key: &str, v: u64| {
            if v == 0 {
                Err(Error::config(key, "must be positive"))
            } else {
                Ok(())
            }
        };
        positive(
            "dispatch.max_pending_per_device",
            self.max_pending_per_device as u64,
        )?;
        positive("dispatch.max_connections", u64::from(self.max_connections))?;
        positive("dispatch.default_timeout_ms", self.default_timeout_ms)?;
        positive("dispatch.sweep_interval_ms", self.sweep_interval_ms)?;
        positive("dispatch.pending_expiry_s", self.pending_expiry_s)?;
        if self.default_timeout_ms > self.max_timeout_ms {
            return Err(Error::config(
                "dispatch.default_timeout_ms",
                "must not exceed dispatch.max_timeout_ms",
            ));
        }
        let db = self.database_url.as_str();
        if !db.is_empty()
            && !db.starts_with("sqlite:")
            && !db.starts_with("postgres://")
            && !db.starts_with("postgresql://")
        {
            return Err(Error::config(
                "dispatch.database_url",
                "must be empty, a sqlite: or a postgres:// URL",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter such as `info` or `lwm2m=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".to_owned(),
            format: "text".to_owned(),
        }
    }
}

impl Settings {
    /// Loads defaults, then `file` if given, then `LWM2M_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, Error> {
        let defaults = config::Config::try_from(&Settings::default())
            .map_err(|e| Error::ConfigSource(e.to_string()))?;
        let known = known_keys()?;
        let mut builder = config::Config::builder().add_source(defaults);
        if let Some(path) = file {
            if !path.exists() {
                return Err(Error::ConfigSource(format!(
                    "file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        for (name, value) in env {
            let Some(suffix) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if NON_KEY_VARS.contains(&name.as_str()) {
                continue;
            }
            let key = known.get(suffix).ok_or_else(|| {
                Error::config(
                    suffix.to_ascii_lowercase(),
                    format!("environment variable {name} matches no configuration key"),
                )
            })?;
            builder = builder
                .set_override(key.as_str(), value)
                .map_err(|e| Error::ConfigSource(e.to_string()))?;
        }
        let merged = builder
            .build()
            .map_err(|e| Error::ConfigSource(e.to_string()))?;
        let settings: Settings = merged
            .try_deserialize()
            .map_err(describe_deserialize_error)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Range checks that types alone cannot express.
    pub fn validate(&self) -> Result<(), Error> {
        if !(-1..=255).contains(&self.node.id) {
            return Err(Error::config(
                "node.id",
                "must be between 0 and 255, or -1 to derive it",
            ));
        }
        if !matches!(self.node.derive.as_str(), "lease" | "ordinal") {
            return Err(Error::config(
                "node.derive",
                format!(
                    "{:?} is neither \"lease\" nor \"ordinal\"",
                    self.node.derive
                ),
            ));
        }
        if !self.node.forward_bind.is_empty() {
            if self.node.forward_bind.parse::<SocketAddr>().is_err() {
                return Err(Error::config(
                    "node.forward_bind",
                    format!(
                        "{:?} is not an address like 0.0.0.0:5690",
                        self.node.forward_bind
                    ),
                ));
            }
            match (
                self.node.cluster_key.is_empty(),
                self.node.cluster_key_file.is_empty(),
            ) {
                (true, true) => {
                    return Err(Error::config(
                        "node.cluster_key",
                        "record forwarding needs a cluster key (node.cluster_key or node.cluster_key_file)",
                    ))
                }
                (false, false) => {
                    return Err(Error::config(
                        "node.cluster_key",
                        "set node.cluster_key or node.cluster_key_file, not both",
                    ))
                }
                // The file is read when the transport starts.
                (true, false) => {}
                (false, true) => {
                    lwm2m_transport::cluster::decode_key(&self.node.cluster_key)
                        .map_err(|e| Error::config("node.cluster_key", e))?;
                }
            }
        }
        if self.node.sequence_block == 1 || self.node.sequence_block > 1 << 40 {
            return Err(Error::config(
                "node.sequence_block",
                "must be 0 (off) or between 2 and 2^40",
            ));
        }
        if self.node.heartbeat_ms == 0 || self.node.heartbeat_ms * 2 > self.node.lease_ttl_ms {
            return Err(Error::config(
                "node.heartbeat_ms",
                "must be above 0 and at most half of node.lease_ttl_ms",
            ));
        }
        self.dtls.parsed_cipher_suites()?;
        let cid = self.dtls.connection_id_length;
        // RFC 9146 allows up to 255; one byte carries the node id, and fewer
        // than 4 bytes leave too little room to tell sessions apart.
        if cid != 0 && !(4..=32).contains(&cid) {
            return Err(Error::config(
                "dtls.connection_id_length",
                format!("{cid} is out of range: use 0 (no CID) or 4 to 32"),
            ));
        }
        let block = self.coap.block_size;
        if !(16..=1024).contains(&block) || !block.is_power_of_two() {
            return Err(Error::config(
                "coap.block_size",
                format!("{block} is not a power of two between 16 and 1024"),
            ));
        }
        if self.coap.ack_random_factor < 1.0 {
            return Err(Error::config(
                "coap.ack_random_factor",
                "must be at least 1.0",
            ));
        }
        if self.coap.ack_timeout_ms == 0 {
            return Err(Error::config("coap.ack_timeout_ms", "must be positive"));
        }
        let sessions = self.storage.sessions.as_str();
        if sessions != "memory"
            && !sessions.starts_with("redis://")
            && !sessions.starts_with("rediss://")
        {
            return Err(Error::config(
                "storage.sessions",
                "must be `memory` or a redis:// URL",
            ));
        }
        if !matches!(self.storage.bus.as_str(), "memory" | "kafka") {
            return Err(Error::config("storage.bus", "must be `memory` or `kafka`"));
        }
        self.validate_backends()?;
        if !matches!(self.kafka.encoding.as_str(), "protobuf" | "json") {
            return Err(Error::config(
                "kafka.encoding",
                "must be `protobuf` or `json`",
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(Error::config("log.format", "must be `text` or `json`"));
        }
        let db = self.registry.database_url.as_str();
        if !db.starts_with("sqlite:")
            && !db.starts_with("postgres://")
            && !db.starts_with("postgresql://")
        {
            return Err(Error::config(
                "registry.database_url",
                "must be a sqlite: or postgres:// URL",
            ));
        }
        self.registry.grpc_addr(&self.grpc)?;
        self.dispatch.validate(&self.grpc)?;
        if self.registry.max_connections == 0 {
            return Err(Error::config(
                "registry.max_connections",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Topic layout and start-up timeouts of the backends.
    fn validate_backends(&self) -> Result<(), Error> {
        let k = &self.kafka;
        if k.topic_partitions < 1 {
            return Err(Error::config(
                "kafka.topic_partitions",
                "must be at least 1",
            ));
        }
        if k.topic_replication_factor == 0 || k.topic_replication_factor < -1 {
            return Err(Error::config(
                "kafka.topic_replication_factor",
                "must be at least 1, or -1 for the broker's default",
            ));
        }
        if k.topic_retention_ms < -1 {
            return Err(Error::config(
                "kafka.topic_retention_ms",
                "must be positive, -1 (forever) or 0 (the broker's default)",
            ));
        }
        for (key, ms) in [
            ("kafka.connect_timeout_ms", k.connect_timeout_ms),
            (
                "storage.connect_timeout_ms",
                self.storage.connect_timeout_ms,
            ),
            (
                "registry.connect_timeout_ms",
                self.registry.connect_timeout_ms,
            ),
        ] {
            if ms == 0 {
                return Err(Error::config(key, "must be positive"));
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, for `lwm2m config`.
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string_pretty(self).map_err(|e| Error::ConfigSource(e.to_string()))
    }
}

/// Maps `DTLS_CONNECTION_ID_LENGTH` to `dtls.connection_id_length` for every
/// key the defaults define.
fn known_keys() -> Result<BTreeMap<String, String>, Error> {
    let value = serde_json::to_value(Settings::default())
        .map_err(|e| Error::ConfigSource(e.to_string()))?;
    let mut out = BTreeMap::new();
    collect_keys(&value, String::new(), &mut out);
    Ok(out)
}

fn collect_keys(value: &serde_json::Value, prefix: String, out: &mut BTreeMap<String, String>) {
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            collect_keys(v, key, out);
        }
    } else if !prefix.is_empty() {
        out.insert(prefix.replace('.', "_").to_ascii_uppercase(), prefix);
    }
}

/// The `config` crate reports a bad value as `invalid … for key "x.y"`; turn
/// that into our error with the key pulled out, so users see the key first.
fn describe_deserialize_error(err: config::ConfigError) -> Error {
    let text = err.to_string();
    if let Some(start) = text.find("for key `").map(|i| i + "for key `".len()) {
        if let Some(len) = text.get(start..).and_then(|rest| rest.find('`')) {
            let key = text.get(start..start + len).unwrap_or_default().to_owned();
            let reason = text
                .get(..start - "for key `".len())
                .unwrap_or(&text)
                .trim()
                .to_owned();
            return Error::config(key, reason);
        }
    }
    Error::ConfigSource(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_standalone() {
        let s = Settings::load(None, env(&[])).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.transport.coap_bind.port(), 5683);
        assert_eq!(s.grpc.bind.to_string(), "127.0.0.1:50051");
        assert_eq!(s.storage.sessions, "memory");
        assert_eq!(s.dtls.connection_id_length, 8);
    }

    #[test]
    fn dtls_cipher_suites_from_file_or_environment_in_order() {
        use lwm2m_transport::dtls::CipherSuite;
        let default = Settings::default().dtls.parsed_cipher_suites().unwrap();
        assert_eq!(default, CipherSuite::DEFAULT.to_vec());
        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(
            file,
            "[dtls]\ncipher_suites = [\"TLS_PSK_WITH_AES_128_CCM\", \"TLS_PSK_WITH_AES_128_CCM_8\"]"
        )
        .unwrap();
        let s = Settings::load(Some(file.path()), env(&[])).unwrap();
        assert_eq!(
            s.dtls.parsed_cipher_suites().unwrap(),
            vec![CipherSuite::PskAes128Ccm, CipherSuite::PskAes128Ccm8]
        );
        let s = Settings::load(
            None,
            env(&[(
                "LWM2M_DTLS_CIPHER_SUITES",
                "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, TLS_PSK_WITH_AES_128_CBC_SHA",
            )]),
        )
        .unwrap();
        assert_eq!(
            s.dtls.parsed_cipher_suites().unwrap(),
            vec![
                CipherSuite::EcdhePskAes128CbcSha256,
                CipherSuite::PskAes128CbcSha
            ]
        );
        let err = Settings::load(
            None,
            env(&[("LWM2M_DTLS_CIPHER_SUITES", "TLS_RSA_WITH_RC4")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("dtls.cipher_suites") && err.contains("TLS_RSA_WITH_RC4"),
            "{err}"
        );
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(
            file,
            "[dtls]\nconnection_id_length = 6\n[coap]\nmax_retransmit = 2"
        )
        .unwrap();
        let s = Settings::load(Some(file.path()), env(&[])).unwrap();
        assert_eq!(s.dtls.connection_id_length, 6);
        assert_eq!(s.coap.max_retransmit, 2);

        let s = Settings::load(
            Some(file.path()),
            env(&[("LWM2M_DTLS_CONNECTION_ID_LENGTH", "12"), ("PATH", "/bin")]),
        )
        .unwrap();
        assert_eq!(s.dtls.connection_id_length, 12);
        assert_eq!(
            s.coap.max_retransmit, 2,
            "file value survives where env says nothing"
        );
    }

    #[test]
    fn bad_env_value_names_the_key() {
        let err = Settings::load(None, env(&[("LWM2M_DTLS_CONNECTION_ID_LENGTH", "eight")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dtls.connection_id_length"), "{err}");
    }

    #[test]
    fn out_of_range_value_names_the_key() {
        let err = Settings::load(None, env(&[("LWM2M_DTLS_CONNECTION_ID_LENGTH", "2")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dtls.connection_id_length") && err.contains("out of range"),
            "{err}"
        );
        let err = Settings::load(None, env(&[("LWM2M_COAP_BLOCK_SIZE", "100")])).unwrap_err();
        assert!(err.to_string().contains("coap.block_size"), "{err}");
    }

    #[test]
    fn cluster_node_settings_come_from_env_and_are_checked() {
        let s = Settings::load(
            None,
            env(&[
                ("LWM2M_NODE_FORWARD_BIND", "127.0.0.1:5701"),
                (
                    "LWM2M_NODE_CLUSTER_KEY",
                    "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                ),
                ("LWM2M_NODE_DERIVE", "ordinal"),
            ]),
        )
        .unwrap();
        assert_eq!(s.node.forward_bind, "127.0.0.1:5701");
        assert_eq!(s.node.derive, "ordinal");
        for (vars, key) in [
            (
                vec![("LWM2M_NODE_FORWARD_BIND", "127.0.0.1:5701")],
                "node.cluster_key",
            ),
            // A passphrase, however long, is not a key.
            (
                vec![
                    ("LWM2M_NODE_FORWARD_BIND", "127.0.0.1:5701"),
                    ("LWM2M_NODE_CLUSTER_KEY", "0123456789abcdef0123"),
                ],
                "32 random bytes",
            ),
            (
                vec![("LWM2M_NODE_FORWARD_BIND", "nowhere")],
                "node.forward_bind",
            ),
            (vec![("LWM2M_NODE_DERIVE", "dice")], "node.derive"),
            (
                vec![("LWM2M_NODE_HEARTBEAT_MS", "10000")],
                "node.heartbeat_ms",
            ),
        ] {
            let err = Settings::load(None, env(&vars)).unwrap_err().to_string();
            assert!(err.contains(key), "{vars:?}: {err}");
        }
    }

    #[test]
    fn unknown_env_key_is_an_error() {
        let err =
            Settings::load(None, env(&[("LWM2M_DTLS_CONECTION_ID_LENGTH", "8")])).unwrap_err();
        assert!(
            err.to_string().contains("matches no configuration key"),
            "{err}"
        );
    }

    #[test]
    fn unknown_file_key_is_an_error() {
        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(file, "[dtls]\nconection_id_length = 6").unwrap();
        let err = Settings::load(Some(file.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("conection_id_length"), "{err}");
    }

    #[test]
    fn bad_file_value_names_the_key() {
        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(file, "[grpc]\nbind = \"not an address\"").unwrap();
        let err = Settings::load(Some(file.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("grpc.bind"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Settings::load(Some(Path::new("/nonexistent/lwm2m.toml")), env(&[])).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn registry_defaults_are_standalone_and_follow_grpc_bind() {
        let s = Settings::load(None, env(&[])).unwrap();
        assert_eq!(s.registry.database_url, "sqlite://./data/lwm2m.db");
        assert_eq!(
            s.registry.grpc_addr(&s.grpc).unwrap().to_string(),
            "127.0.0.1:50052"
        );
        let s = Settings::load(None, env(&[("LWM2M_GRPC_BIND", "127.0.0.1:0")])).unwrap();
        assert_eq!(s.registry.grpc_addr(&s.grpc).unwrap().port(), 0);
        let s = Settings::load(
            None,
            env(&[
                (
                    "LWM2M_REGISTRY_DATABASE_URL",
                    "postgres://lwm2m@db/registry",
                ),
                ("LWM2M_REGISTRY_GRPC_BIND", "0.0.0.0:7000"),
            ]),
        )
        .unwrap();
        assert_eq!(s.registry.database_url, "postgres://lwm2m@db/registry");
        assert_eq!(s.registry.grpc_addr(&s.grpc).unwrap().port(), 7000);
    }

    #[test]
    fn bad_registry_values_name_the_key() {
        let err = Settings::load(None, env(&[("LWM2M_REGISTRY_DATABASE_URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("registry.database_url"), "{err}");
        let err = Settings::load(None, env(&[("LWM2M_REGISTRY_GRPC_BIND", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("registry.grpc_bind"), "{err}");
    }

    #[test]
    fn dispatch_defaults_follow_grpc_bind_and_env_overrides_them() {
        let s = Settings::load(None, env(&[])).unwrap();
        assert_eq!(
            s.dispatch.grpc_addr(&s.grpc).unwrap().to_string(),
            "127.0.0.1:50053"
        );
        assert_eq!(s.dispatch.max_pending_per_device, 10);
        let s = Settings::load(
            None,
            env(&[
                ("LWM2M_DISPATCH_MAX_PENDING_PER_DEVICE", "3"),
                ("LWM2M_DISPATCH_DEFAULT_TIMEOUT_MS", "1500"),
            ]),
        )
        .unwrap();
        assert_eq!(s.dispatch.max_pending_per_device, 3);
        assert_eq!(s.dispatch.default_timeout_ms, 1500);
        let err = Settings::load(None, env(&[("LWM2M_DISPATCH_MAX_PENDING_PER_DEVICE", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dispatch.max_pending_per_device"), "{err}");
        let err = Settings::load(
            None,
            env(&[("LWM2M_DISPATCH_DEFAULT_TIMEOUT_MS", "700000")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("dispatch.default_timeout_ms"), "{err}");
    }

    #[test]
    fn backend_start_up_settings_have_defaults_and_are_checked() {
        let s = Settings::load(None, env(&[])).unwrap();
        assert!(s.kafka.create_topics);
        assert_eq!(s.kafka.topic_replication_factor, -1);
        assert_eq!(s.kafka.topic_retention_ms, 604_800_000);
        let s = Settings::load(
            None,
            env(&[
                ("LWM2M_KAFKA_CREATE_TOPICS", "false"),
                ("LWM2M_KAFKA_TOPIC_PARTITIONS", "3"),
                ("LWM2M_KAFKA_CONNECT_TIMEOUT_MS", "2000"),
            ]),
        )
        .unwrap();
        assert!(!s.kafka.create_topics);
        assert_eq!(s.kafka.topic_partitions, 3);
        assert_eq!(s.kafka.connect_timeout_ms, 2000);
        for (var, value, key) in [
            (
                "LWM2M_KAFKA_TOPIC_PARTITIONS",
                "0",
                "kafka.topic_partitions",
            ),
            (
                "LWM2M_KAFKA_TOPIC_REPLICATION_FACTOR",
                "0",
                "kafka.topic_replication_factor",
            ),
            (
                "LWM2M_KAFKA_TOPIC_RETENTION_MS",
                "-5",
                "kafka.topic_retention_ms",
            ),
            (
                "LWM2M_STORAGE_CONNECT_TIMEOUT_MS",
                "0",
                "storage.connect_timeout_ms",
            ),
            (
                "LWM2M_REGISTRY_CONNECT_TIMEOUT_MS",
                "0",
                "registry.connect_timeout_ms",
            ),
        ] {
            let err = Settings::load(None, env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{var}={value}: {err}");
        }
    }

    #[test]
    fn printed_config_loads_back() {
        let s = Settings::default();
        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        write!(file, "{}", s.to_toml().unwrap()).unwrap();
        assert_eq!(Settings::load(Some(file.path()), env(&[])).unwrap(), s);
    }
}
