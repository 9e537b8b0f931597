//! Configuration of one transport node. Defaults are production values;
//! tests bind port 0 and shorten the sweep interval.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::Error;

/// Per-device knobs an operator can set (e.g. for devices that claim a
/// content format they handle badly, or that sleep longer than they say).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceOverrides {
    /// Content format for every downlink payload and Accept (wins over the
    /// negotiation in `content_format.rs`).
    pub content_format: Option<u16>,
    /// How long the device stays reachable after an uplink (queue mode).
    pub awake_time: Option<Duration>,
}

/// A pre-shared key served without a registry (standalone runs, tests).
#[derive(Clone, PartialEq, Eq)]
pub struct StaticPsk {
    /// The PSK identity the client sends.
    pub identity: Vec<u8>,
    /// The key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for StaticPsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticPsk")
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Everything a transport node needs to know at start-up.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// UDP address for CoAP (NoSec), default `0.0.0.0:5683`.
    pub coap_bind: SocketAddr,
    /// UDP address for CoAP over DTLS, default `0.0.0.0:5684`; `None`: no DTLS.
    pub dtls_bind: Option<SocketAddr>,
    /// The DTLS engine's settings: Connection ID length, the node id byte
    /// of CIDs, limits, and the key/certificates for RPK and X.509.
    /// `mtu` is capped by `max_datagram_size`.
    pub dtls: lwm2m_dtls::ServerConfig,
    /// PSKs served before the registry is asked (the only PSK source
    /// without a registry).
    pub static_psks: Vec<StaticPsk>,
    /// TCP address of the gRPC server, default `0.0.0.0:50051`.
    pub grpc_bind: SocketAddr,
    /// The gRPC address other nodes reach this node at. Default: the bound
    /// gRPC address (fine on one host; set it when binding `0.0.0.0`).
    pub grpc_advertise: Option<String>,
    /// Id of this node in registrations. Default: the advertised gRPC
    /// address, so any node can forward a downlink to the node that last
    /// heard from the device by dialing its `node_id`.
    pub node_id: Option<String>,
    /// CoAP message-layer parameters. `seed` 0 means "seed from the OS";
    /// `max_message_size` is replaced by `max_datagram_size`.
    pub coap: lwm2m_coap::Config,
    /// Largest datagram accepted or sent; bigger ones are dropped and counted.
    pub max_datagram_size: usize,
    /// Deadline of a downlink when the caller gives none.
    pub default_request_timeout: Duration,
    /// How long a queue-mode device is assumed awake after an uplink when
    /// neither an override nor its registration (`at=`) says otherwise.
    pub default_awake_time: Duration,
    /// Downlinks held per sleeping device; more are refused.
    pub max_held_per_device: usize,
    /// Extra time after the lifetime before a registration expires.
    pub registration_grace: Duration,
    /// How often this node asks the store for expired registrations.
    pub expiry_sweep_interval: Duration,
    /// Registrations claimed per `take_expired` call.
    pub expiry_batch: usize,
    /// Tenant stamped on registrations and events (single-tenant deployments: `None`).
    pub tenant: Option<String>,
    /// With a registry: whether endpoints it does not know may register
    /// (answered 4.03 otherwise). Without a registry every endpoint may.
    pub auto_provision: bool,
    /// With a registry: the tenant whose auto-provisioning setting decides
    /// about endpoints the registry does not know (plain CoAP only): if the
    /// tenant enables it, the device is created there with the tenant's
    /// profile. `None`: unknown endpoints are refused (unless `auto_provision`).
    pub provisioning_tenant: Option<String>,
    /// Inbound requests handled concurrently; beyond this, 5.03.
    pub max_concurrent_requests: usize,
    /// Max-Age (seconds) of the 5.03 sent when overloaded or under backpressure.
    pub overload_retry_after_s: u32,
    /// Registrations scanned in the store to find the sender of a Send whose
    /// address is not in this node's cache (0 disables the scan).
    pub sender_scan_limit: usize,
    /// Per-endpoint overrides.
    pub device_overrides: HashMap<String, DeviceOverrides>,
    /// How long shutdown waits for the bus to deliver buffered events.
    pub shutdown_flush_timeout: Duration,
    /// Answer a device's Register, Update, De-register or Send only once
    /// its events are delivered (Kafka acknowledged them), so a node that
    /// crashes right after answering has lost nothing the device was told
    /// is done. Costs one broker round trip per uplink in latency, not in
    /// throughput. Off: answered first, published after (the events wait
    /// in the node's memory meanwhile).
    pub acknowledge_after_delivery: bool,
    /// With `acknowledge_after_delivery`: a device whose events are not
    /// delivered within this long is answered 5.03 and retries later.
    pub delivery_timeout: Duration,
    /// Node id source, its lease, and parked DTLS sessions (with a cluster
    /// store in `TransportDeps`).
    pub cluster: crate::cluster::ClusterConfig,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            coap_bind: SocketAddr::from(([0, 0, 0, 0], 5683)),
            dtls_bind: Some(SocketAddr::from(([0, 0, 0, 0], 5684))),
            dtls: lwm2m_dtls::ServerConfig::default(),
            static_psks: Vec::new(),
            grpc_bind: SocketAddr::from(([0, 0, 0, 0], 50051)),
            grpc_advertise: None,
            node_id: None,
            coap: lwm2m_coap::Config::default(),
            max_datagram_size: 1280,
            default_request_timeout: Duration::from_secs(30),
            default_awake_time: Duration::from_secs(93),
            max_held_per_device: 32,
            registration_grace: Duration::from_secs(30),
            expiry_sweep_interval: Duration::from_secs(5),
            expiry_batch: 256,
            tenant: None,
            auto_provision: false,
            provisioning_tenant: None,
            max_concurrent_requests: 4096,
            overload_retry_after_s: 5,
            sender_scan_limit: 10_000,
            device_overrides: HashMap::new(),
            shutdown_flush_timeout: Duration::from_secs(5),
            acknowledge_after_delivery: false,
            delivery_timeout: Duration::from_secs(5),
            cluster: crate::cluster::ClusterConfig::default(),
        }
    }
}

impl TransportConfig {
    /// A config for tests and local runs: loopback, ephemeral ports.
    pub fn local() -> Self {
        TransportConfig {
            coap_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            dtls_bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            grpc_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..TransportConfig::default()
        }
    }

    /// The CoAP endpoint configuration actually used: datagram size and seed filled in.
    pub(crate) fn coap_config(&self) -> Result<lwm2m_coap::Config, Error> {
        let mut coap = self.coap.clone();
        coap.max_message_size = self.max_datagram_size;
        if coap.seed == 0 {
            coap.seed = rand::random::<u64>() | 1;
        }
        coap.validate().map_err(|e| Error::Config(e.to_string()))?;
        Ok(coap)
    }

    /// Checks what `lwm2m_coap::Config::validate` does not.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.max_concurrent_requests == 0 {
            return Err(Error::Config("max_concurrent_requests must be > 0".into()));
        }
        if self.expiry_sweep_interval.is_zero() {
            return Err(Error::Config("expiry_sweep_interval must be > 0".into()));
        }
        if self.expiry_batch == 0 {
            return Err(Error::Config("expiry_batch must be > 0".into()));
        }
        self.cluster.validate()?;
        self.coap_config().map(|_| ())
    }

    /// The DTLS engine configuration actually used: records fit in a datagram.
    pub(crate) fn dtls_config(&self) -> lwm2m_dtls::ServerConfig {
        let mut dtls = self.dtls.clone();
        dtls.mtu = dtls.mtu.min(self.max_datagram_size);
        dtls
    }

    /// Overrides of one endpoint, if any.
    pub(crate) fn overrides(&self, endpoint: &str) -> Option<&DeviceOverrides> {
        self.device_overrides.get(endpoint)
    }

    /// The registration grace in milliseconds.
    pub(crate) fn grace_ms(&self) -> i64 {
        i64::try_from(self.registration_grace.as_millis()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_seeded() {
        let c = TransportConfig::default();
        c.validate().unwrap();
        let coap = c.coap_config().unwrap();
        assert_ne!(coap.seed, 0);
        assert_eq!(coap.max_message_size, 1280);
    }

    #[test]
    fn rejects_zero_limits_and_bad_datagram_size() {
        let c = TransportConfig {
            max_concurrent_requests: 0,
            ..TransportConfig::local()
        };
        assert!(c.validate().is_err());
        let c = TransportConfig {
            max_datagram_size: 10,
            ..TransportConfig::local()
        };
        assert!(c.validate().is_err());
    }
}
