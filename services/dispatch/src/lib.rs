//! RPC dispatch: every LwM2M command to a device, by path (`id`) or by
//! profile key, as a durable operation (PostgreSQL in a cluster, SQLite
//! standalone) with the lifecycle PENDING → EXECUTING → SUCCESSFUL | FAILED
//! (or CANCELLED). A device that is asleep or unreachable gets its
//! operations after its next Register or Update, in creation order.
//! Served as `lwm2m.dispatch.v1.Dispatch` over gRPC: typed methods and the
//! ThingsBoard RPC JSON (`Call`). See `docs/dispatch.md`.
//!
//! Layout: pure parts with their own unit tests — `command` (what was
//! asked), `thingsboard` (the RPC JSON), `resolve` (keys → paths, object
//! versions, values typed by `json_value`), `render` (answers → JSON and
//! node trees), `lifecycle` (the state machine), `power` (awake windows
//! and paging delay from PSM/eDRX); IO — `store` (the SQL
//! operation store and its conformance suite), `link` (transport gRPC),
//! `events` (lifecycle events, Kafka), `engine` (submit, deliver, sweep),
//! `wake` (Register/Update from the bus or Kafka), `grpc` (the API).

pub mod clock;
pub mod command;
pub mod config;
pub mod engine;
pub mod error;
pub mod events;
pub mod grpc;
pub mod json_value;
pub mod lifecycle;
pub mod link;
pub mod local;
pub mod power;
pub mod proto;
pub mod registry_cache;
pub mod render;
pub mod resolve;
pub mod store;
pub mod thingsboard;
pub mod wake;

use std::net::SocketAddr;
use std::sync::Arc;

use lwm2m_bus::UplinkBus;
use lwm2m_core::ModelRegistry;
use lwm2m_registry::RegistryLookup;
use lwm2m_session::SessionStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{DispatchConfig, DispatchKafka};
pub use engine::{Engine, Submit};
pub use error::Error;
pub use link::{DeviceLink, GrpcLink};
pub use store::{OperationStore, SqlOperationStore};

/// Brings the shared schema (registry and dispatch migrations, one stream
/// per database) up to date, under the registry's advisory lock.
pub async fn migrate(url: &str) -> Result<(), Error> {
    lwm2m_registry::migrate(url).await?;
    Ok(())
}

/// What dispatch needs from the rest of the process.
#[derive(Clone)]
pub struct DispatchDeps {
    pub sessions: Arc<dyn SessionStore>,
    /// In-process registration events (standalone); `None` in a cluster,
    /// where `config.kafka` brings them.
    pub bus: Option<Arc<dyn UplinkBus>>,
    /// Profiles (keys) and tenants' object models; `None`: paths only,
    /// built-in models.
    pub registry: Option<Arc<dyn RegistryLookup>>,
    pub models: Arc<ModelRegistry>,
    /// How downlinks reach devices; `None`: the transport's gRPC API.
    pub link: Option<Arc<dyn DeviceLink>>,
}

/// A running dispatch replica.
pub struct DispatchHandle {
    pub grpc_addr: SocketAddr,
    pub engine: Arc<Engine>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    server: JoinHandle<Result<(), Error>>,
    /// True once other replicas' operation events are being relayed
    /// (always true without Kafka).
    relaying: watch::Receiver<bool>,
}

impl DispatchHandle {
    /// Waits until this replica relays the other replicas' operation events
    /// (a readiness signal: watchers connected before it may miss events).
    pub async fn relay_ready(&self) {
        let mut relaying = self.relaying.clone();
        let _ = relaying.wait_for(|r| *r).await;
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The operation database, as configured (may hold a password).
    pub fn engine_database_url(&self) -> String {
        self.engine.config.database_url.clone()
    }

    /// Stops and waits for the server and background tasks.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.stop();
        for task in self.tasks {
            let _ = task.await;
        }
        let result = match self.server.await {
            Ok(result) => result,
            Err(e) => Err(Error::Config(format!("gRPC task: {e}"))),
        };
        self.engine.store().close().await;
        result
    }
}

/// Starts a replica: migrates (if configured), binds the gRPC listener and
/// runs the wake-up listener and the sweeper. Returns once serving.
pub async fn start(config: DispatchConfig, deps: DispatchDeps) -> Result<DispatchHandle, Error> {
    config.validate()?;
    if config.migrate_on_start {
        migrate(&config.database_url).await?;
    }
    let store: Arc<dyn OperationStore> =
        Arc::new(SqlOperationStore::connect(&config.database_url, config.max_connections).await?);
    let events = events::OperationEvents::new(
        config.watch_capacity,
        config.kafka.as_ref(),
        &config.replica_id,
    )?;
    let link = deps
        .link
        .clone()
        .unwrap_or_else(|| Arc::new(GrpcLink::new(config.transport_url.clone())));
    let listener = TcpListener::bind(config.grpc_bind).await?;
    let grpc_addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let registry = deps
        .registry
        .clone()
        .map(|registry| registry_cache::RegistryCache::start(registry, stop_rx.clone()));
    let engine = Arc::new(Engine::new(
        config.clone(),
        store,
        deps.sessions.clone(),
        registry,
        deps.models.clone(),
        link,
        events,
    ));
    let mut tasks = Vec::new();
    if let Some(bus) = deps.bus.clone() {
        tasks.push(tokio::spawn(wake::from_bus(
            engine.clone(),
            bus,
            stop_rx.clone(),
        )));
    }
    let (relaying_tx, relaying) = watch::channel(config.kafka.is_none());
    if let Some(kafka) = &config.kafka {
        tasks.push(tokio::spawn(events::relay(
            engine.events().clone(),
            kafka.clone(),
            relaying_tx,
            stop_rx.clone(),
        )));
        let consumer = wake::consumer(kafka)?;
        tasks.push(tokio::spawn(wake::from_kafka(
            engine.clone(),
            consumer,
            stop_rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(sweeper(
        engine.clone(),
        config.sweep_interval,
        stop_rx.clone(),
    )));
    let server = tokio::spawn(grpc::serve(engine.clone(), listener, stop_rx));
    tracing::info!(%grpc_addr, replica = %config.replica_id, "dispatch serving");
    Ok(DispatchHandle {
        grpc_addr,
        engine,
        stop,
        tasks,
        server,
        relaying,
    })
}

/// Resolves once `stop` turns true (or its sender is gone); the borrow of
/// the value ends here, so callers' futures stay `Send`.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn sweeper(engine: Arc<Engine>, every: std::time::Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = engine.sweep().await {
                    tracing::warn!(error = %e, "dispatch sweep failed");
                }
            }
            () = crate::stopped(&mut stop) => return,
        }
    }
}
