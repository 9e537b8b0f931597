//! The registry service: tenants, object models (OMA DDF), device
//! profiles, devices and their credentials, in PostgreSQL (cluster) or
//! SQLite (standalone), served over gRPC (`lwm2m.registry.v1`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), lwm2m_registry::Error> {
//! use lwm2m_registry::{run, RegistryConfig, RegistryDeps};
//! run(RegistryConfig::default(), RegistryDeps::default(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! # For the transport
//!
//! [`RegistryLookup`] is the hot-path API (endpoint → device, tenant and
//! profile id; PSK identity → key; profile; a tenant's models; announced
//! objects without models; change events). In one process use the
//! [`Registry`] from [`RegistryHandle::registry`]; across processes use
//! [`client::GrpcLookup`]. Cache answers and drop entries on
//! [`RegistryLookup::changes`].
//!
//! # Layout
//!
//! - `service`: the operations ([`Registry`]): validation, repositories, events.
//! - `store`: one repository trait per aggregate; `store::sql` implements
//!   them for PostgreSQL and SQLite (`store::sql::migrate`: migrations).
//! - `tenant`, `models`, `profile`, `device`: the entities and their rules
//!   (`profile::validate`, `device::credentials`, `device::csv_import`).
//! - `grpc`: the services and `grpc::convert` (messages ↔ entities).
//! - `lookup`, `client`, `change_feed`: what other components use.
//! - `error`: the error type and its one mapping to gRPC statuses.
//! - `conformance` (feature `testing`): the suite both databases pass.

pub mod change_feed;
pub mod client;
mod clock;
mod config;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod cursor;
pub mod device;
pub mod error;
pub mod grpc;
pub mod ids;
pub mod kafka_feed;
pub mod lookup;
pub mod models;
pub mod profile;
pub mod service;
pub mod store;
pub mod tenant;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use change_feed::{BroadcastFeed, ChangeFeed, ChangeStream, FeedError, RegistryChange};
pub use config::{RegistryConfig, RegistryDeps};
pub use error::Error;
pub use kafka_feed::KafkaFeed;
pub use lookup::{EndpointRecord, PskRecord, RegistryLookup};
pub use service::Registry;
pub use store::sql::migrate::{run as migrate, MigrationReport};
pub use store::sql::{redact as redact_url, PoolConfig};

/// A running registry.
pub struct RegistryHandle {
    /// The bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// The service itself, for in-process callers (standalone transport).
    pub registry: Registry,
    /// Resolves when the gRPC server has stopped.
    pub join: JoinHandle<Result<(), Error>>,
    stop: Arc<watch::Sender<bool>>,
}

impl std::fmt::Debug for RegistryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryHandle")
            .field("grpc_addr", &self.grpc_addr)
            .finish_non_exhaustive()
    }
}

impl RegistryHandle {
    /// Asks the server to stop (as the `shutdown` future would).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.stop();
        let result = match self.join.await {
            Ok(result) => result,
            Err(e) => Err(Error::Config(format!("registry task failed: {e}"))),
        };
        self.registry.close().await;
        result
    }
}

/// Runs a registry until `shutdown` completes.
pub async fn run(
    config: RegistryConfig,
    deps: RegistryDeps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let handle = start(config, deps, shutdown).await?;
    let result = match handle.join.await {
        Ok(result) => result,
        Err(e) => Err(Error::Config(format!("registry task failed: {e}"))),
    };
    handle.registry.close().await;
    result
}

/// Migrates (if configured), opens the database, seeds the built-in models
/// and the default tenant, binds the gRPC listener and serves; returns at
/// once with the bound address.
pub async fn start(
    config: RegistryConfig,
    deps: RegistryDeps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RegistryHandle, Error> {
    let registry = Registry::connect(
        &config.database_url,
        &config.pool,
        config.migrate_on_start,
        deps.feed,
        config.limits.clone(),
    )
    .await?;
    if let Some(tenant) = &config.default_tenant {
        let id = ids::TenantId::parse(tenant, "default_tenant")?;
        registry
            .ensure_tenant(id, "Default tenant".to_owned())
            .await?;
    }
    let listener = TcpListener::bind(config.grpc_bind).await?;
    let grpc_addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let stop = Arc::new(stop);
    let external = Arc::clone(&stop);
    tokio::spawn(async move {
        shutdown.await;
        let _ = external.send(true);
    });
    let join = tokio::spawn(grpc::serve(registry.clone(), listener, stop_rx));
    tracing::info!(
        %grpc_addr,
        database = %redact_url(&config.database_url),
        "registry started"
    );
    Ok(RegistryHandle {
        grpc_addr,
        registry,
        join,
        stop,
    })
}
