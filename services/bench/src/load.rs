//! The load generator: fleets of `lwm2m-sim` devices in this process (the
//! product runs in another), started behind a gate so a registration storm
//! measures the server rather than how fast this process creates devices.
//!
//! Every device has its own UDP socket. One loopback address has about
//! 28,000 ephemeral ports, so devices are spread over 127.0.0.1,
//! 127.0.0.2, ... in blocks of [`DEVICES_PER_ADDRESS`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lwm2m_coap::{CoapEndpoint, Config as CoapConfig, RequestOptions};
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_proto::transport::v1::ListRegistrationsRequest;
use lwm2m_sim::initial_objects::initial_tree;
use lwm2m_sim::registration_messages::{register_payload, register_request};
use lwm2m_sim::{sim_registry, Device, DeviceConfig, Fleet, FleetConfig, StartGate, StatsSnapshot};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tonic::transport::Channel;

/// Devices per loopback source address.
pub const DEVICES_PER_ADDRESS: usize = 20_000;
/// How often registration progress is checked.
const POLL: Duration = Duration::from_millis(20);

/// The device template of every benchmark: long lifetime (no Update
/// during a run), frozen values (only the benchmark changes them, so every
/// notification is one the benchmark asked for), no Send.
pub fn device_template(server: SocketAddr) -> DeviceConfig {
    DeviceConfig {
        server,
        lifetime: 3_600,
        value_change_interval: None,
        send_interval: None,
        deregister_on_shutdown: false,
        register_retry: Duration::from_secs(2),
        ..DeviceConfig::default()
    }
}

/// Several gated fleets that act as one.
pub struct Load {
    fleets: Vec<Fleet>,
    gates: Vec<StartGate>,
    pub count: usize,
}

/// How a storm went.
#[derive(Debug, Clone)]
pub struct StormOutcome {
    /// From opening the gate until the last device was registered.
    pub time_to_all: Duration,
    pub latencies: Vec<Duration>,
    pub stats: StatsSnapshot,
}

impl Load {
    /// Binds and starts `count` devices named `{prefix}{i:04}`; none
    /// registers before [`Load::register_all`].
    pub async fn start(
        template: DeviceConfig,
        count: usize,
        prefix: &str,
        window: Option<usize>,
    ) -> Result<Load> {
        let mut fleets = Vec::new();
        let mut gates = Vec::new();
        let mut first = 0;
        while first < count {
            let block = fleets.len();
            let n = (count - first).min(DEVICES_PER_ADDRESS);
            let ip = Ipv4Addr::new(
                127,
                0,
                0,
                u8::try_from(block + 1).context("too many devices")?,
            );
            let config = FleetConfig {
                device: DeviceConfig {
                    bind_ip: Some(IpAddr::V4(ip)),
                    ..template.clone()
                },
                count: n,
                prefix: prefix.to_owned(),
                first_index: first + 1,
                ramp_up: Duration::ZERO,
            };
            // Each block gets its share of the window.
            let share = window.map(|w| (w * n).div_ceil(count).max(1));
            let (fleet, gate) = Fleet::start_gated(config, share).await.with_context(|| {
                format!("cannot start devices {}..{} on {ip}", first + 1, first + n)
            })?;
            fleets.push(fleet);
            gates.push(gate);
            first += n;
        }
        Ok(Load {
            fleets,
            gates,
            count,
        })
    }

    /// Opens the gates and waits until every device is registered; fails
    /// after `timeout` or as soon as `alive` fails (the product died).
    pub async fn register_all(
        &self,
        timeout: Duration,
        mut alive: impl FnMut() -> Result<()>,
    ) -> Result<StormOutcome> {
        let started = Instant::now();
        for gate in &self.gates {
            gate.open();
        }
        loop {
            let registered = self.registered_now();
            if registered >= self.count as u64 {
                break;
            }
            alive()?;
            if started.elapsed() > timeout {
                bail!(
                    "only {registered} of {} devices registered within {timeout:?}; sim stats: {:?}",
                    self.count,
                    self.stats()
                );
            }
            tokio::time::sleep(POLL).await;
        }
        let time_to_all = started.elapsed();
        let latencies = self
            .fleets
            .iter()
            .flat_map(|f| f.stats_handle().register_latencies())
            .collect();
        Ok(StormOutcome {
            time_to_all,
            latencies,
            stats: self.stats(),
        })
    }

    pub fn registered_now(&self) -> u64 {
        self.fleets
            .iter()
            .map(|f| f.stats_handle().registered_now())
            .sum()
    }

    /// The counters of all fleets added up.
    pub fn stats(&self) -> StatsSnapshot {
        let mut total = StatsSnapshot::default();
        for f in &self.fleets {
            let s = f.stats();
            total.registered_now += s.registered_now;
            total.registrations += s.registrations;
            total.updates += s.updates;
            total.deregistrations += s.deregistrations;
            total.notifications_con += s.notifications_con;
            total.notifications_non += s.notifications_non;
            total.errors += s.errors;
            total.retransmissions += s.retransmissions;
            total.dtls_handshakes_started += s.dtls_handshakes_started;
            total.dtls_handshakes_completed += s.dtls_handshakes_completed;
            total.dtls_sessions_closed += s.dtls_sessions_closed;
        }
        total
    }

    /// Every device, in index order.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.fleets.iter().flat_map(|f| f.devices())
    }

    /// Stops every device without de-registering (the product is stopped next).
    pub async fn shutdown(self) {
        for f in self.fleets {
            f.shutdown(false).await;
        }
    }
}

/// Registrations the product lists under `prefix` (paging through all).
pub async fn count_registrations(
    client: &mut TransportClient<Channel>,
    prefix: &str,
) -> Result<usize> {
    let mut total = 0;
    let mut page_token = String::new();
    loop {
        let page = client
            .list_registrations(ListRegistrationsRequest {
                endpoint_prefix: Some(prefix.to_owned()),
                tenant: None,
                page_size: 1000,
                page_token,
            })
            .await
            .context("ListRegistrations")?
            .into_inner();
        total += page.registrations.len();
        if page.next_page_token.is_empty() {
            return Ok(total);
        }
        page_token = page.next_page_token;
    }
}

/// Bytes of one simulated device's Register datagram on the wire: the
/// state a server is handed per device, the reference for memory figures.
pub fn register_datagram_bytes(template: &DeviceConfig) -> Result<usize> {
    let mut rng = SmallRng::seed_from_u64(1);
    let tree = initial_tree(template, std::sync::Arc::new(sim_registry()), &mut rng, 0);
    let request = register_request(
        template,
        template.lifetime,
        register_payload(&tree, template.lwm2m_version, template.multi_node_format()),
    );
    let mut endpoint = CoapEndpoint::<u8>::new(CoapConfig {
        seed: 1,
        ..CoapConfig::default()
    })?;
    endpoint.send_request(Instant::now(), 1, request, RequestOptions::con())?;
    let transmit = endpoint
        .poll_transmit()
        .context("the Register produced no datagram")?;
    Ok(transmit.bytes.len())
}
