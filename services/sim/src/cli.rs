//! Command-line flags of the `lwm2m-sim` binary and their mapping to a
//! [`FleetConfig`].

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use lwm2m_core::{ContentFormat, Version};

use crate::config::{DeviceConfig, FleetConfig, QueueMode};
use crate::error::{Result, SimError};
use crate::security::{
    credentials_csv, DeviceIssuer, FleetSecurity, PskKeys, Security, SecurityMode,
};

/// Simulated LwM2M clients against a server, for demos and load.
#[derive(Debug, Clone, Parser)]
#[command(name = "lwm2m-sim", version, about)]
pub struct Cli {
    /// LwM2M server, host:port (the coaps port, e.g. 5684, with --security).
    #[arg(long, default_value = "127.0.0.1:5683", value_parser = parse_server)]
    pub server: SocketAddr,
    /// Number of devices.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Endpoint name prefix; names are {prefix}{index:04}.
    #[arg(long, default_value = "sim-")]
    pub prefix: String,
    /// Index of the first device.
    #[arg(long, default_value_t = 1)]
    pub first_index: usize,
    /// LwM2M version: 1.0, 1.1 or 1.2.
    #[arg(long = "lwm2m", default_value = "1.1")]
    pub lwm2m_version: Version,
    /// Registration lifetime in seconds.
    #[arg(long, default_value_t = 300)]
    pub lifetime: u32,
    /// Binding UQ: sleep between Updates.
    #[arg(long)]
    pub queue_mode: bool,
    /// Queue mode: how long to stay awake after an Update (e.g. 10s).
    #[arg(long = "awake", default_value = "10s", value_parser = parse_duration)]
    pub awake_time: Duration,
    /// Queue mode: how long to sleep before waking up with an Update.
    #[arg(long = "sleep", default_value = "60s", value_parser = parse_duration)]
    pub sleep_interval: Duration,
    /// Send NON notifications instead of CON.
    #[arg(long)]
    pub non: bool,
    /// Send (POST /dp) period, LwM2M 1.1 only.
    #[arg(long = "send-every", value_parser = parse_duration)]
    pub send_every: Option<Duration>,
    /// Send payload format: senml-cbor or senml-json.
    #[arg(long, default_value = "senml-cbor", value_parser = parse_format)]
    pub send_format: ContentFormat,
    /// Multi-node format for Reads without Accept: tlv, senml-json,
    /// senml-cbor, oma-json, lwm2m-cbor (default: TLV on 1.0, SenML CBOR on
    /// 1.1, LwM2M CBOR on 1.2).
    #[arg(long, value_parser = parse_format)]
    pub format: Option<ContentFormat>,
    /// How often sensor values change.
    #[arg(long = "value-every", default_value = "5s", value_parser = parse_duration)]
    pub value_every: Duration,
    /// Spread device starts over this period.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub ramp_up: Duration,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Do not de-register on shutdown.
    #[arg(long)]
    pub no_deregister: bool,
    /// Seed of the value simulation and the CoAP layer.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Local IP to bind the device sockets to.
    #[arg(long)]
    pub bind_ip: Option<IpAddr>,
    /// CoAP ACK timeout.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub ack_timeout: Duration,
    /// Print the final statistics as JSON.
    #[arg(long)]
    pub json: bool,
    /// Security mode: nosec (CoAP), or CoAP over DTLS (give the server's
    /// coaps port, 5684) with psk (identity = endpoint name), rpk (a P-256
    /// key per device derived from --credential-seed) or x509 (a
    /// certificate per device, CN = endpoint, signed by --ca-cert/--ca-key).
    #[arg(long, value_enum, default_value = "nosec")]
    pub security: SecurityMode,
    /// PSK mode: one key (hex) for every device; default: 16 bytes per
    /// device derived from --credential-seed (see --print-credentials).
    #[arg(long)]
    pub psk_key: Option<String>,
    /// Seed of the derived PSKs and device keys (test and load use only:
    /// whoever knows it has every key).
    #[arg(long, default_value_t = 1)]
    pub credential_seed: u64,
    /// X.509 mode: PEM file of the CA that signs the device certificates
    /// (the server's trust store must hold it).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// X.509 mode: PEM file of that CA's private key.
    #[arg(long)]
    pub ca_key: Option<PathBuf>,
    /// DTLS without Connection ID (a NAT rebinding then needs a new handshake).
    #[arg(long)]
    pub no_cid: bool,
    /// Print what the registry must hold for this fleet (the CSV of
    /// `ImportDevicesCsv` for nosec and psk; endpoint and public key for
    /// rpk) and exit.
    #[arg(long)]
    pub print_credentials: bool,
}

impl Cli {
    /// The fleet these flags describe.
    pub fn fleet_config(&self) -> Result<FleetConfig> {
        let config = FleetConfig {
            device: DeviceConfig {
                server: self.server,
                bind_ip: self.bind_ip,
                lwm2m_version: self.lwm2m_version,
                lifetime: self.lifetime,
                queue_mode: self.queue_mode.then_some(QueueMode {
                    awake_time: self.awake_time,
                    sleep_interval: self.sleep_interval,
                }),
                confirmable_notifications: !self.non,
                send_interval: self.send_every,
                send_format: self.send_format,
                preferred_format: self.format,
                value_change_interval: Some(self.value_every),
                deregister_on_shutdown: !self.no_deregister,
                seed: self.seed,
                ack_timeout: self.ack_timeout,
                security: self.security_template()?,
                connection_id: !self.no_cid,
                ..DeviceConfig::default()
            },
            count: self.count,
            prefix: self.prefix.clone(),
            first_index: self.first_index,
            ramp_up: self.ramp_up,
        };
        config.validate()?;
        Ok(config)
    }
}

impl Cli {
    /// Each device's credentials, derived from its endpoint name.
    fn security_template(&self) -> Result<Security> {
        let fleet = match self.security {
            SecurityMode::Nosec => return Ok(Security::NoSec),
            SecurityMode::Psk => FleetSecurity::Psk(match &self.psk_key {
                Some(key) => PskKeys::Shared(parse_hex(key).map_err(SimError::Config)?),
                None => PskKeys::Derived {
                    seed: self.credential_seed,
                },
            }),
            SecurityMode::Rpk => FleetSecurity::Rpk {
                seed: self.credential_seed,
                server_public_key: None,
            },
            SecurityMode::X509 => {
                let (Some(cert), Some(key)) = (&self.ca_cert, &self.ca_key) else {
                    return Err(SimError::Config(
                        "--security x509 needs --ca-cert and --ca-key".into(),
                    ));
                };
                let read = |path: &PathBuf| {
                    std::fs::read_to_string(path)
                        .map_err(|e| SimError::Config(format!("{}: {e}", path.display())))
                };
                FleetSecurity::X509 {
                    issuer: Arc::new(DeviceIssuer::from_pem(
                        &read(cert)?,
                        &read(key)?,
                        self.credential_seed,
                    )?),
                    server_public_key: None,
                }
            }
        };
        Ok(Security::PerDevice(fleet))
    }

    /// The `--print-credentials` text for this fleet.
    pub fn credentials(&self) -> Result<String> {
        let fleet = self.fleet_config()?;
        let endpoints: Vec<String> = (0..fleet.count)
            .map(|i| fleet.device_config(i).endpoint)
            .collect();
        credentials_csv(&fleet.device.security.fleet()?, &endpoints)
    }
}

fn parse_hex(text: &str) -> std::result::Result<Vec<u8>, String> {
    hex::decode(text.trim()).map_err(|e| format!("{text:?} is not hex: {e}"))
}

/// `10s`, `500ms`, `2m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s, 500ms, 2m"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

fn parse_server(text: &str) -> std::result::Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("{text:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

fn parse_format(text: &str) -> std::result::Result<ContentFormat, String> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "tlv" => ContentFormat::Tlv,
        "senml-json" | "json" => ContentFormat::SenmlJson,
        "senml-cbor" | "cbor" => ContentFormat::SenmlCbor,
        "oma-json" => ContentFormat::OmaJson,
        "lwm2m-cbor" => ContentFormat::LwM2mCbor,
        _ => {
            return Err(format!(
                "{text:?}: use tlv, senml-json, senml-cbor, oma-json or lwm2m-cbor"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn flags_map_to_a_fleet() {
        let cli = Cli::parse_from([
            "lwm2m-sim",
            "--server",
            "127.0.0.1:5684",
            "--count",
            "10",
            "--prefix",
            "t-",
            "--lwm2m",
            "1.1",
            "--lifetime",
            "60",
            "--queue-mode",
            "--awake",
            "2s",
            "--sleep",
            "5s",
            "--non",
            "--send-every",
            "30s",
            "--duration",
            "1m",
            "--json",
        ]);
        let fleet = cli.fleet_config().unwrap();
        assert_eq!(fleet.count, 10);
        assert_eq!(fleet.device_config(0).endpoint, "t-0001");
        assert_eq!(fleet.device.server.port(), 5684);
        assert!(!fleet.device.confirmable_notifications);
        assert_eq!(
            fleet.device.queue_mode.unwrap().sleep_interval,
            Duration::from_secs(5)
        );
        assert_eq!(fleet.device.send_interval, Some(Duration::from_secs(30)));
        assert_eq!(cli.duration, Some(Duration::from_secs(60)));
        assert!(cli.json);
    }

    #[test]
    fn security_flags_give_each_device_its_credentials() {
        let cli = Cli::parse_from([
            "lwm2m-sim",
            "--security",
            "psk",
            "--count",
            "2",
            "--credential-seed",
            "9",
        ]);
        let fleet = cli.fleet_config().unwrap();
        let device = fleet.device_config(1);
        let Security::Psk { identity, key } = device.security.resolve(&device.endpoint).unwrap()
        else {
            panic!("not PSK");
        };
        assert_eq!(identity, b"sim-0002");
        let csv = cli.credentials().unwrap();
        assert!(csv.contains(&format!("sim-0002,PSK,sim-0002,{}", hex::encode(key))));
        assert!(fleet.device.connection_id);

        let shared = Cli::parse_from([
            "lwm2m-sim",
            "--security",
            "psk",
            "--psk-key",
            "00ff",
            "--no-cid",
        ]);
        let config = shared.fleet_config().unwrap();
        assert!(!config.device.connection_id);
        let Security::Psk { key, .. } = config.device.security.resolve("x").unwrap() else {
            panic!("not PSK");
        };
        assert_eq!(key, vec![0, 0xff]);
        let x509 = Cli::parse_from(["lwm2m-sim", "--security", "x509"]);
        assert!(x509.fleet_config().is_err(), "a CA is required");
    }

    #[test]
    fn lwm2m_1_2_devices_answer_in_lwm2m_cbor() {
        let fleet = Cli::parse_from(["lwm2m-sim", "--lwm2m", "1.2"])
            .fleet_config()
            .unwrap();
        let device = fleet.device_config(0);
        assert_eq!(device.lwm2m_version, Version::V1_2);
        assert_eq!(device.multi_node_format(), ContentFormat::LwM2mCbor);
        let pinned = Cli::parse_from(["lwm2m-sim", "--lwm2m", "1.2", "--format", "lwm2m-cbor"]);
        assert!(pinned.fleet_config().is_ok());
        let on_11 = Cli::parse_from(["lwm2m-sim", "--lwm2m", "1.1", "--format", "lwm2m-cbor"]);
        assert!(on_11.fleet_config().is_err(), "11544 is a 1.2 format");
    }

    #[test]
    fn invalid_combinations_are_refused() {
        let cli = Cli::parse_from(["lwm2m-sim", "--lwm2m", "1.0", "--send-every", "5s"]);
        assert!(cli.fleet_config().is_err());
        assert!(Cli::try_parse_from(["lwm2m-sim", "--format", "xml"]).is_err());
    }
}
