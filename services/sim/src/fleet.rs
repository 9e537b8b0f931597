//! [`Fleet`]: N devices in one process, each its own task and socket, with
//! shared statistics.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;

use crate::config::FleetConfig;
use crate::device::Device;
use crate::error::{Result, SimError};
use crate::start_gate::{GateWaiter, StartGate};
use crate::stats::{FleetStats, StatsSnapshot};
use crate::temperature_model::sim_registry;

/// How long a fleet shutdown waits for its devices (De-register included).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A running fleet of simulated devices.
#[derive(Debug)]
pub struct Fleet {
    devices: Vec<Device>,
    stats: Arc<FleetStats>,
}

impl Fleet {
    /// Binds one socket per device and starts them (spread over
    /// `ramp_up`). Fails if the configuration is invalid or a socket does
    /// not bind; devices started so far are stopped then.
    pub async fn start(config: FleetConfig) -> Result<Fleet> {
        Self::spawn_all(config, None).await
    }

    /// Binds and starts every device, but holds their first Register until
    /// [`StartGate::open`]; then at most `window` first Registers are in
    /// flight at once (`None`: all at once). For load generation: the
    /// registration storm then measures the server, not how fast this
    /// process creates devices. Dropping the gate opens it.
    pub async fn start_gated(
        config: FleetConfig,
        window: Option<usize>,
    ) -> Result<(Fleet, StartGate)> {
        let (gate, waiter) = StartGate::new(window);
        let fleet = Self::spawn_all(config, Some(waiter)).await?;
        Ok((fleet, gate))
    }

    async fn spawn_all(config: FleetConfig, gate: Option<GateWaiter>) -> Result<Fleet> {
        config.validate()?;
        let models = Arc::new(sim_registry());
        let stats = Arc::new(FleetStats::new());
        let mut devices = Vec::with_capacity(config.count);
        for i in 0..config.count {
            let spawned = Device::spawn(
                config.device_config(i),
                models.clone(),
                stats.clone(),
                config.start_delay(i),
                gate.clone(),
            )
            .await;
            match spawned {
                Ok(d) => devices.push(d),
                Err(e) => {
                    let mut partial = Fleet { devices, stats };
                    partial.stop(false).await;
                    return Err(e);
                }
            }
        }
        Ok(Fleet { devices, stats })
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether the fleet has no devices.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Device `i` (0-based). Panics on an out-of-range index like a slice.
    pub fn device(&self, i: usize) -> &Device {
        &self.devices[i]
    }

    /// All devices.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// A copy of the fleet counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The live counters (e.g. for a progress logger).
    pub fn stats_handle(&self) -> Arc<FleetStats> {
        self.stats.clone()
    }

    /// Devices registered right now.
    pub fn registered(&self) -> usize {
        self.devices
            .iter()
            .filter(|d| d.status().registered)
            .count()
    }

    /// Waits until every device is registered.
    pub async fn wait_registered(&self, timeout: Duration) -> Result<()> {
        let waits = self.devices.iter().map(|d| d.wait_registered(timeout));
        let results = join_all(waits).await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        if failed > 0 {
            return Err(SimError::Timeout(format!(
                "{failed} of {} devices not registered within {timeout:?}",
                self.devices.len()
            )));
        }
        Ok(())
    }

    async fn stop(&mut self, deregister: bool) {
        for d in &self.devices {
            d.begin_shutdown(deregister).await;
        }
        join_all(self.devices.iter_mut().map(|d| d.join(SHUTDOWN_TIMEOUT))).await;
    }

    /// Stops every device (de-registering first if asked) and returns the
    /// final counters.
    pub async fn shutdown(mut self, deregister: bool) -> StatsSnapshot {
        self.stop(deregister).await;
        self.stats.snapshot()
    }
}
