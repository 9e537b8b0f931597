//! What a registry process needs to know.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::change_feed::{BroadcastFeed, ChangeFeed};
use crate::service::Limits;
use crate::store::sql::PoolConfig;

#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// gRPC listener (port 0 in tests).
    pub grpc_bind: SocketAddr,
    /// `sqlite://…` (standalone; file and directory created) or `postgres://…`.
    pub database_url: String,
    pub pool: PoolConfig,
    /// Apply pending migrations before serving (under an advisory lock on
    /// PostgreSQL). Off when a deployment runs `lwm2m migrate` as a job.
    pub migrate_on_start: bool,
    pub limits: Limits,
    /// A tenant created at start if missing, so a standalone installation
    /// can register devices at once. `None` in a cluster.
    pub default_tenant: Option<String>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            grpc_bind: SocketAddr::from(([127, 0, 0, 1], 50052)),
            database_url: "sqlite://./data/lwm2m.db".to_owned(),
            pool: PoolConfig::default(),
            migrate_on_start: true,
            limits: Limits::default(),
            default_tenant: Some("default".to_owned()),
        }
    }
}

/// What a registry gets from the rest of the process.
#[derive(Clone)]
pub struct RegistryDeps {
    /// Where change events go: in process (standalone) or Kafka (cluster).
    pub feed: Arc<dyn ChangeFeed>,
}

impl Default for RegistryDeps {
    fn default() -> Self {
        RegistryDeps {
            feed: Arc::new(BroadcastFeed::default()),
        }
    }
}

impl std::fmt::Debug for RegistryDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryDeps").finish_non_exhaustive()
    }
}
