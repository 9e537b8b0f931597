//! What a simulated device and a fleet of them are configured with. The same
//! structs back the CLI flags (see `cli.rs`) and the in-process test API.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lwm2m_core::{ContentFormat, Version};

use crate::error::{Result, SimError};
use crate::security::Security;

/// Queue mode (binding `UQ`): the device is reachable only for `awake_time`
/// after each Register/Update, then sleeps for `sleep_interval` and wakes up
/// by sending an Update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueMode {
    /// How long the device listens after a Register/Update succeeded.
    pub awake_time: Duration,
    /// How long it sleeps before waking up with an Update.
    pub sleep_interval: Duration,
}

/// One simulated device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    /// The LwM2M server (plain CoAP over UDP).
    pub server: SocketAddr,
    /// Local address to bind; `None` picks loopback for a loopback server,
    /// else the unspecified address of the server's family.
    pub bind_ip: Option<IpAddr>,
    /// Endpoint client name (`ep=`).
    pub endpoint: String,
    /// LwM2M enabler version: 1.0, 1.1 or 1.2.
    pub lwm2m_version: Version,
    /// Registration lifetime in seconds.
    pub lifetime: u32,
    /// `Some` for binding UQ.
    pub queue_mode: Option<QueueMode>,
    /// CON (true) or NON notifications. NON observers still get a CON
    /// notification once a day (RFC 7641 §4.5).
    pub confirmable_notifications: bool,
    /// Send (`POST /dp`) period; LwM2M 1.1 only.
    pub send_interval: Option<Duration>,
    /// SenML CBOR or SenML JSON for Send.
    pub send_format: ContentFormat,
    /// Multi-node format used when the server's request has no Accept;
    /// `None` picks TLV on 1.0, SenML CBOR on 1.1 and LwM2M CBOR on 1.2.
    pub preferred_format: Option<ContentFormat>,
    /// How often the simulated sensors move; `None` freezes them.
    pub value_change_interval: Option<Duration>,
    /// Send a De-register when the device is shut down.
    pub deregister_on_shutdown: bool,
    /// Seed of the value simulation and the CoAP layer.
    pub seed: u64,
    /// CoAP ACK_TIMEOUT (RFC 7252), shorter in tests.
    pub ack_timeout: Duration,
    /// Delay before a failed Register is retried.
    pub register_retry: Duration,
    /// NoSec (plain CoAP), or CoAP over DTLS with these credentials; a
    /// fleet template uses `Security::PerDevice`.
    pub security: Security,
    /// DTLS: offer RFC 9146 Connection ID (the server's CID in our records,
    /// none in its), so a NAT rebinding keeps the session.
    pub connection_id: bool,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            server: SocketAddr::from(([127, 0, 0, 1], 5683)),
            bind_ip: None,
            endpoint: "sim-0001".to_owned(),
            lwm2m_version: Version::V1_1,
            lifetime: 300,
            queue_mode: None,
            confirmable_notifications: true,
            send_interval: None,
            send_format: ContentFormat::SenmlCbor,
            preferred_format: None,
            value_change_interval: Some(Duration::from_secs(5)),
            deregister_on_shutdown: true,
            seed: 1,
            ack_timeout: Duration::from_secs(2),
            register_retry: Duration::from_secs(5),
            security: Security::NoSec,
            connection_id: true,
        }
    }
}

impl DeviceConfig {
    /// Rejects combinations the simulator cannot honour.
    pub fn validate(&self) -> Result<()> {
        if ![Version::V1_0, Version::V1_1, Version::V1_2].contains(&self.lwm2m_version) {
            return Err(SimError::Config(format!(
                "LwM2M version {} is not simulated; use 1.0, 1.1 or 1.2",
                self.lwm2m_version
            )));
        }
        if self.lifetime == 0 {
            return Err(SimError::Config("lifetime must be at least 1 s".into()));
        }
        if self.endpoint.is_empty() {
            return Err(SimError::Config("endpoint name is empty".into()));
        }
        if self.send_interval.is_some() && self.lwm2m_version == Version::V1_0 {
            return Err(SimError::Config("Send needs LwM2M 1.1".into()));
        }
        if self.send_interval.is_some_and(|d| d.is_zero())
            || self.value_change_interval.is_some_and(|d| d.is_zero())
        {
            return Err(SimError::Config("intervals must be positive".into()));
        }
        if !matches!(
            self.send_format,
            ContentFormat::SenmlCbor | ContentFormat::SenmlJson
        ) {
            return Err(SimError::Config(
                "Send format must be SenML CBOR or JSON".into(),
            ));
        }
        if let Some(f) = self.preferred_format {
            if !crate::content_negotiation::supported(self.lwm2m_version, f) {
                return Err(SimError::Config(format!(
                    "{f} does not exist in LwM2M {}",
                    self.lwm2m_version
                )));
            }
        }
        if let Some(q) = self.queue_mode {
            if q.sleep_interval.is_zero() {
                return Err(SimError::Config("sleep interval must be positive".into()));
            }
        }
        Ok(())
    }

    /// The multi-node format for requests without Accept.
    pub fn multi_node_format(&self) -> ContentFormat {
        self.preferred_format.unwrap_or(match self.lwm2m_version {
            Version::V1_0 => ContentFormat::Tlv,
            Version::V1_1 => ContentFormat::SenmlCbor,
            _ => ContentFormat::LwM2mCbor,
        })
    }

    /// The local address the device's socket binds (port 0: a fresh port).
    pub fn bind_addr(&self) -> SocketAddr {
        let ip = self.bind_ip.unwrap_or(match self.server.ip() {
            ip if ip.is_loopback() => ip,
            IpAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
            IpAddr::V6(_) => IpAddr::from([0u16; 8]),
        });
        SocketAddr::new(ip, 0)
    }
}

/// N devices sharing one configuration, named `{prefix}{index:04}`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// The template; `endpoint` and `seed` are derived per device.
    pub device: DeviceConfig,
    /// Number of devices.
    pub count: usize,
    /// Endpoint name prefix.
    pub prefix: String,
    /// Index of the first device (names start at `{prefix}0001` by default).
    pub first_index: usize,
    /// Start times are spread over this period so a large fleet does not
    /// register in one burst.
    pub ramp_up: Duration,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            device: DeviceConfig::default(),
            count: 1,
            prefix: "sim-".to_owned(),
            first_index: 1,
            ramp_up: Duration::ZERO,
        }
    }
}

impl FleetConfig {
    /// The configuration of device `i` (0-based position in the fleet).
    pub fn device_config(&self, i: usize) -> DeviceConfig {
        let index = self.first_index + i;
        DeviceConfig {
            endpoint: format!("{}{index:04}", self.prefix),
            seed: mix_seed(self.device.seed, index as u64),
            ..self.device.clone()
        }
    }

    /// When device `i` starts, relative to the fleet start.
    pub fn start_delay(&self, i: usize) -> Duration {
        if self.count <= 1 {
            return Duration::ZERO;
        }
        self.ramp_up.mul_f64(i as f64 / self.count as f64)
    }

    /// Validates the template and the count.
    pub fn validate(&self) -> Result<()> {
        if self.count == 0 {
            return Err(SimError::Config("count must be at least 1".into()));
        }
        self.device_config(0).validate()
    }
}

/// SplitMix64 step: gives every device its own well-spread seed.
pub(crate) fn mix_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_names_and_seeds_differ_per_device() {
        let fleet = FleetConfig {
            count: 3,
            ..FleetConfig::default()
        };
        let a = fleet.device_config(0);
        let b = fleet.device_config(1);
        assert_eq!(a.endpoint, "sim-0001");
        assert_eq!(b.endpoint, "sim-0002");
        assert_ne!(a.seed, b.seed);
        assert_eq!(fleet.device_config(0).seed, a.seed, "deterministic");
    }

    #[test]
    fn validation_rejects_impossible_setups() {
        assert!(DeviceConfig::default().validate().is_ok());
        let send_on_10 = DeviceConfig {
            lwm2m_version: Version::V1_0,
            send_interval: Some(Duration::from_secs(1)),
            ..DeviceConfig::default()
        };
        assert!(send_on_10.validate().is_err());
        let v12 = DeviceConfig {
            lwm2m_version: Version::V1_2,
            ..DeviceConfig::default()
        };
        assert!(v12.validate().is_ok());
        let v13 = DeviceConfig {
            lwm2m_version: Version::new(1, 3),
            ..DeviceConfig::default()
        };
        assert!(v13.validate().is_err());
        let lwm2m_cbor_on_11 = DeviceConfig {
            preferred_format: Some(ContentFormat::LwM2mCbor),
            ..DeviceConfig::default()
        };
        assert!(lwm2m_cbor_on_11.validate().is_err());
        assert!(FleetConfig {
            count: 0,
            ..FleetConfig::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn default_multi_node_format_follows_the_version() {
        let mut c = DeviceConfig::default();
        assert_eq!(c.multi_node_format(), ContentFormat::SenmlCbor);
        c.lwm2m_version = Version::V1_2;
        assert_eq!(c.multi_node_format(), ContentFormat::LwM2mCbor);
        c.lwm2m_version = Version::V1_0;
        assert_eq!(c.multi_node_format(), ContentFormat::Tlv);
        c.preferred_format = Some(ContentFormat::SenmlJson);
        assert_eq!(c.multi_node_format(), ContentFormat::SenmlJson);
    }

    #[test]
    fn ramp_up_spreads_starts() {
        let fleet = FleetConfig {
            count: 4,
            ramp_up: Duration::from_secs(4),
            ..FleetConfig::default()
        };
        assert_eq!(fleet.start_delay(0), Duration::ZERO);
        assert_eq!(fleet.start_delay(2), Duration::from_secs(2));
    }

    #[test]
    fn bind_addr_follows_server_family() {
        let c = DeviceConfig::default();
        assert!(c.bind_addr().ip().is_loopback());
        let remote = DeviceConfig {
            server: "10.0.0.1:5683".parse().unwrap(),
            ..DeviceConfig::default()
        };
        assert!(remote.bind_addr().ip().is_unspecified());
    }
}
