//! `lwm2m-sim`: simulated LwM2M 1.0/1.1 clients for tests, demos and load.
//!
//! A [`Device`] is one client: its own UDP socket, a sans-IO
//! [`lwm2m_coap::CoapEndpoint`] and an object tree (Server, Device,
//! Connectivity Monitoring, Firmware Update, Location, Temperature 3303)
//! whose values move over time, deterministically from a seed. It registers,
//! updates, answers every Device Management & Information Reporting
//! operation (Read, Discover, Write, Write-Attributes, Execute, Create,
//! Delete, the composite operations, Observe with pmin/pmax/gt/lt/st) and
//! sends data (`POST /dp`). A [`Fleet`] runs many devices from one process.
//! Devices speak plain CoAP or CoAP over DTLS ([`Security`]: PSK, raw
//! public key or X.509, with Connection ID) through `lwm2m-dtls`'s client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lwm2m_sim::SimError> {
//! use std::time::Duration;
//! use lwm2m_sim::{Fleet, FleetConfig};
//!
//! let fleet = Fleet::start(FleetConfig { count: 10, ..FleetConfig::default() }).await?;
//! fleet.wait_registered(Duration::from_secs(5)).await?;
//! fleet.device(0).update_now().await?;
//! let stats = fleet.shutdown(true).await;
//! println!("{stats}");
//! # Ok(()) }
//! ```
//!
//! Layout: pure parts with their own unit tests (`object_tree`,
//! `attribute_store`, `notify_decision`, `observations`, `downlink`,
//! `discover`, `content_negotiation`, `registration_messages`,
//! `value_simulation`, `initial_objects`, `temperature_model`), the IO loop
//! (`driver`), and the public handles (`device`, `fleet`, `stats`,
//! `device_status`, `commands`, `config`, `start_gate`: a fleet held back
//! until a load generator opens it, see `Fleet::start_gated`). Beside the
//! devices: `udp_balancer`, the hashing UDP load balancer the cluster tests
//! and benchmark put in front of several transport nodes.

pub mod attribute_store;
pub mod cli;
pub mod client_state;
pub mod commands;
pub mod config;
pub mod content_negotiation;
pub mod device;
pub mod device_status;
pub mod discover;
pub mod downlink;
mod driver;
pub mod error;
pub mod fleet;
pub mod handshake_cost;
pub mod initial_objects;
pub mod notify_decision;
pub mod object_tree;
pub mod observations;
pub mod registration_messages;
mod secure_link;
pub mod security;
pub mod start_gate;
pub mod stats;
pub mod temperature_model;
pub mod udp_balancer;
pub mod uplink;
pub mod value_simulation;

pub use commands::DeviceCommand;
pub use config::{DeviceConfig, FleetConfig, QueueMode};
pub use device::Device;
pub use device_status::{DeviceStatus, ObservationStatus};
pub use error::{Result, SimError};
pub use fleet::Fleet;
pub use security::{DeviceIssuer, FleetSecurity, PskKeys, Security, SecurityMode, TestPki};
pub use start_gate::StartGate;
pub use stats::{FleetStats, Operation, StatsSnapshot};
pub use temperature_model::sim_registry;
