//! [`Device`]: the handle of one running simulated device. The device itself
//! runs as a tokio task (see `driver.rs`); the handle sends it commands and
//! watches its [`DeviceStatus`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use lwm2m_core::{LwM2mPath, ModelRegistry, Value};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::client_state::ClientState;
use crate::commands::DeviceCommand;
use crate::config::DeviceConfig;
use crate::device_status::DeviceStatus;
use crate::driver::{bind, unix_now, Driver};
use crate::error::{Result, SimError};
use crate::start_gate::GateWaiter;
use crate::stats::FleetStats;
use crate::temperature_model::sim_registry;
use crate::value_simulation::ValueSimulator;

/// Commands queued per device before `command` waits.
const COMMAND_QUEUE: usize = 32;

/// A running simulated device. Dropping the handle closes the command
/// channel; the task then shuts down by itself (de-registering if
/// `deregister_on_shutdown`).
#[derive(Debug)]
pub struct Device {
    endpoint: String,
    commands: mpsc::Sender<DeviceCommand>,
    status: watch::Receiver<DeviceStatus>,
    task: Option<JoinHandle<()>>,
}

impl Device {
    /// Starts one device on its own (with its own statistics).
    pub async fn start(config: DeviceConfig) -> Result<Device> {
        Self::spawn(
            config,
            Arc::new(sim_registry()),
            Arc::new(FleetStats::new()),
            Duration::ZERO,
            None,
        )
        .await
    }

    /// Binds the socket now (so errors surface to the caller) and spawns
    /// the device task, which registers after `start_delay` and, when
    /// gated, once the gate lets it through.
    pub(crate) async fn spawn(
        config: DeviceConfig,
        models: Arc<ModelRegistry>,
        stats: Arc<FleetStats>,
        start_delay: Duration,
        gate: Option<GateWaiter>,
    ) -> Result<Device> {
        config.validate()?;
        let mut config = config;
        config.security = config.security.resolve(&config.endpoint)?;
        let socket = bind(config.bind_addr()).await?;
        let endpoint = config.endpoint.clone();
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let state = ClientState::new(config, models, &mut rng, unix_now());
        let (status_tx, status_rx) = watch::channel(DeviceStatus {
            endpoint: endpoint.clone(),
            local_addr: socket.local_addr().ok(),
            ..DeviceStatus::default()
        });
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let driver = Driver::new(
            state,
            ValueSimulator::new(rng),
            socket,
            stats,
            status_tx,
            cmd_rx,
        )?;
        let task = tokio::spawn(driver.run(start_delay, gate));
        Ok(Device {
            endpoint,
            commands: cmd_tx,
            status: status_rx,
            task: Some(task),
        })
    }

    /// The endpoint client name.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The latest status.
    pub fn status(&self) -> DeviceStatus {
        self.status.borrow().clone()
    }

    /// Waits until `condition` holds for the status (checked at once and
    /// after every change), up to `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl FnMut(&DeviceStatus) -> bool,
    ) -> Result<DeviceStatus> {
        let mut rx = self.status.clone();
        let waited = tokio::time::timeout(timeout, async {
            rx.wait_for(condition).await.map(|s| s.clone())
        })
        .await;
        match waited {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(_)) => Err(SimError::DeviceStopped(self.endpoint.clone())),
            Err(_) => Err(SimError::Timeout(format!(
                "{}: condition not met within {timeout:?} (status: {:?})",
                self.endpoint,
                self.status()
            ))),
        }
    }

    /// Waits until the device is registered.
    pub async fn wait_registered(&self, timeout: Duration) -> Result<DeviceStatus> {
        self.wait_for(timeout, |s| s.registered).await
    }

    /// Sends a command to the device task.
    pub async fn command(&self, command: DeviceCommand) -> Result<()> {
        self.commands
            .send(command)
            .await
            .map_err(|_| SimError::DeviceStopped(self.endpoint.clone()))
    }

    /// Sends an Update now.
    pub async fn update_now(&self) -> Result<()> {
        self.command(DeviceCommand::Update).await
    }

    /// Sends a Send (`POST /dp`) now.
    pub async fn send_now(&self) -> Result<()> {
        self.command(DeviceCommand::Send).await
    }

    /// NAT rebinding: new socket, new port, Update from there.
    pub async fn rebind(&self) -> Result<()> {
        self.command(DeviceCommand::Rebind).await
    }

    /// De-registers (and stays unregistered until [`Device::register`]).
    pub async fn deregister(&self) -> Result<()> {
        self.command(DeviceCommand::Deregister).await
    }

    /// Registers again.
    pub async fn register(&self) -> Result<()> {
        self.command(DeviceCommand::Register).await
    }

    /// Changes a value as the device would (observers get notified).
    pub async fn set_value(&self, path: &str, value: Value) -> Result<()> {
        let path: LwM2mPath = path
            .parse()
            .map_err(|e: lwm2m_core::Error| SimError::Config(e.to_string()))?;
        self.command(DeviceCommand::SetValue { path, value }).await
    }

    /// Asks the task to stop (de-registering first if asked) without
    /// waiting for it. A task that already stopped is fine.
    pub(crate) async fn begin_shutdown(&self, deregister: bool) {
        let _ = self
            .commands
            .send(DeviceCommand::Shutdown { deregister })
            .await;
    }

    /// Waits for the task to end; aborts it after `timeout`.
    pub(crate) async fn join(&mut self, timeout: Duration) {
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(timeout, task).await.is_err() {
                abort.abort();
            }
        }
    }

    /// Stops the device, de-registering first if asked to, and waits for it.
    pub async fn shutdown(&mut self, deregister: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        self.begin_shutdown(deregister).await;
        self.join(deadline.saturating_duration_since(Instant::now()))
            .await;
    }
}
