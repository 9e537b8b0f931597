//! Test support shared by this crate's integration tests and the
//! workspace's cross-crate tests (`tests/`): real session stores (memory, or
//! Redis on 127.0.0.1:6379 under a unique key prefix), a node started on
//! ephemeral ports, and waiting for uplink events and stats.
//!
//! Enabled by the `testing` feature; never part of a production build.
// Helpers outside #[test] fns may panic: a panic is a test failure, which is
// exactly what a broken precondition should be here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lwm2m_bus::{MemoryBus, SubscriptionFilter, UplinkBus, UplinkStream};
use lwm2m_core::ModelRegistry;
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::ValueSource;
use lwm2m_proto::events::v1::{RegistrationEvent, RegistrationKind, ResourceValues, UplinkEvent};
use lwm2m_proto::transport::v1::transport_client::TransportClient;
use lwm2m_session::{ClusterStore, MemoryCluster, MemoryStore, RedisStore, SessionStore};

use crate::{TransportConfig, TransportDeps, TransportHandle, TransportStats};

/// Generous upper bound for anything to happen; a safety net, never a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The Redis the tests use (`scripts/services.sh` starts it).
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Which session store a test uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
}

/// A session store for one test; `cleanup` deletes its Redis keys.
pub struct Store {
    pub sessions: Arc<dyn SessionStore>,
    /// Node-id leases and parked DTLS sessions on the same backend.
    pub cluster: Arc<dyn ClusterStore>,
    redis: Option<Arc<RedisStore>>,
}

impl Store {
    pub async fn new(backend: Backend) -> Store {
        match backend {
            Backend::Memory => Store {
                sessions: Arc::new(MemoryStore::new()),
                cluster: Arc::new(MemoryCluster::new()),
                redis: None,
            },
            Backend::Redis => {
                let prefix = format!("test-transport-{}", uuid::Uuid::new_v4().simple());
                let redis = Arc::new(
                    RedisStore::connect(REDIS_URL, &prefix)
                        .await
                        .unwrap_or_else(|e| {
                            panic!("Redis must run on {REDIS_URL} (the test setup starts it): {e}")
                        }),
                );
                Store {
                    sessions: redis.clone(),
                    cluster: redis.clone(),
                    redis: Some(redis),
                }
            }
        }
    }

    pub async fn cleanup(self) {
        if let Some(redis) = self.redis {
            redis.delete_everything().await.unwrap();
        }
    }
}

/// The config every test node starts from: ephemeral local ports, a fast
/// expiry sweep.
pub fn test_config() -> TransportConfig {
    TransportConfig {
        expiry_sweep_interval: Duration::from_millis(200),
        default_request_timeout: Duration::from_secs(10),
        ..TransportConfig::local()
    }
}

/// A started node with its bus (and, when it made one, its store).
pub struct TestNode {
    pub handle: TransportHandle,
    pub bus: Arc<dyn UplinkBus>,
    owned_store: Option<Store>,
    /// The node's own runtime, if it has one (see `start_isolated`).
    runtime: Option<Isolated>,
}

/// A node's own runtime. Dropped without blocking: a plain `Runtime`
/// dropped inside the test's async context (a failing test unwinding)
/// would panic again.
struct Isolated(Option<tokio::runtime::Runtime>);

impl Drop for Isolated {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl TestNode {
    /// A node over `sessions` with an in-memory bus and the core models.
    pub async fn start(sessions: Arc<dyn SessionStore>) -> TestNode {
        Self::start_with(sessions, Arc::new(MemoryBus::new(4096)), test_config()).await
    }

    /// A node over a fresh store of `backend` that `stop` cleans up.
    pub async fn start_on(backend: Backend, models: ModelRegistry) -> TestNode {
        let store = Store::new(backend).await;
        let mut node = Self::start_full(
            store.sessions.clone(),
            Arc::new(MemoryBus::new(4096)),
            test_config(),
            models,
        )
        .await;
        node.owned_store = Some(store);
        node
    }

    pub async fn start_with(
        sessions: Arc<dyn SessionStore>,
        bus: Arc<dyn UplinkBus>,
        config: TransportConfig,
    ) -> TestNode {
        Self::start_full(sessions, bus, config, ModelRegistry::with_core_objects()).await
    }

    pub async fn start_full(
        sessions: Arc<dyn SessionStore>,
        bus: Arc<dyn UplinkBus>,
        config: TransportConfig,
        models: ModelRegistry,
    ) -> TestNode {
        let deps = TransportDeps {
            sessions,
            bus,
            models: Arc::new(models),
            registry: None,
            cluster: None,
        };
        Self::start_deps(config, deps).await
    }

    /// A node with exactly these dependencies (e.g. a registry).
    pub async fn start_deps(config: TransportConfig, deps: TransportDeps) -> TestNode {
        let bus = deps.bus.clone();
        let handle = crate::start(config, deps, std::future::pending())
            .await
            .unwrap();
        TestNode {
            handle,
            bus,
            owned_store: None,
            runtime: None,
        }
    }

    /// A node whose tasks run on a runtime of their own, so that
    /// [`crash`](Self::crash) can end them all at once, as kill -9 ends a
    /// process: no graceful stop, nothing parked, the lease left to lapse.
    /// `deps` are made on that runtime, so a bus's own tasks (a Kafka
    /// producer's buffer) die with the node too.
    pub async fn start_isolated(
        config: TransportConfig,
        deps: impl FnOnce() -> TransportDeps + Send + 'static,
    ) -> TestNode {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (handle, bus) = runtime
            .spawn(async move {
                let deps = deps();
                let bus = deps.bus.clone();
                let handle = crate::start(config, deps, std::future::pending()).await;
                (handle, bus)
            })
            .await
            .unwrap();
        let handle = handle.unwrap();
        TestNode {
            handle,
            bus,
            owned_store: None,
            runtime: Some(Isolated(Some(runtime))),
        }
    }

    /// Ends every task of an isolated node at its next await, without
    /// running any of its shutdown code (kill -9).
    pub fn crash(mut self) {
        let runtime = self.runtime.take();
        assert!(runtime.is_some(), "only an isolated node can crash");
        // First the tasks end (without running their code), then the
        // handle goes.
        drop(runtime);
    }

    pub fn events(&self) -> Events {
        Events(self.bus.subscribe(SubscriptionFilter::all()))
    }

    pub async fn grpc(&self) -> TransportClient<tonic::transport::Channel> {
        TransportClient::connect(format!("http://{}", self.handle.grpc_addr))
            .await
            .unwrap()
    }

    /// Stops the node (and deletes the Redis keys of a store it made).
    pub async fn stop(self) {
        self.handle.shutdown().await.unwrap();
        drop(self.runtime);
        if let Some(store) = self.owned_store {
            store.cleanup().await;
        }
    }

    /// Waits until `check` holds for the node's stats and returns them.
    pub async fn wait_stats(
        &self,
        what: &str,
        check: impl Fn(&TransportStats) -> bool,
    ) -> TransportStats {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stats = self.handle.stats();
            if check(&stats) {
                return stats;
            }
            if Instant::now() > deadline {
                panic!("stats never showed {what}: {stats:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A subscription to a node's uplink events.
pub struct Events(pub UplinkStream);

impl Events {
    /// The next event matching `pred` (others are skipped).
    pub async fn next_matching(
        &mut self,
        what: &str,
        pred: impl Fn(&UplinkEvent) -> bool,
    ) -> UplinkEvent {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.0.next()).await {
                Ok(Some(Ok(event))) if pred(&event) => return event,
                Ok(Some(_)) => {}
                Ok(None) => panic!("bus closed while waiting for {what}"),
                Err(_) => panic!("no {what} event within {PATIENCE:?}"),
            }
        }
    }

    /// The next registration event of `endpoint` with `kind`.
    pub async fn registration(
        &mut self,
        endpoint: &str,
        kind: RegistrationKind,
    ) -> (UplinkEvent, RegistrationEvent) {
        self.registration_any(endpoint, &[kind]).await
    }

    /// The next registration event of `endpoint` whose kind is one of `kinds`.
    pub async fn registration_any(
        &mut self,
        endpoint: &str,
        kinds: &[RegistrationKind],
    ) -> (UplinkEvent, RegistrationEvent) {
        let event = self
            .next_matching(&format!("{kinds:?} of {endpoint}"), |e| {
                e.endpoint == endpoint
                    && matches!(&e.payload, Some(Payload::Registration(r))
                        if kinds.iter().any(|k| r.kind == *k as i32))
            })
            .await;
        let Some(Payload::Registration(body)) = event.payload.clone() else {
            unreachable!("matched a registration event")
        };
        (event, body)
    }

    /// The next values event of `endpoint` from `source`.
    pub async fn values(&mut self, endpoint: &str, source: ValueSource) -> ResourceValues {
        let event = self
            .next_matching(&format!("{source:?} values of {endpoint}"), |e| {
                e.endpoint == endpoint
                    && matches!(&e.payload, Some(Payload::Values(v)) if v.source == source as i32)
            })
            .await;
        match event.payload {
            Some(Payload::Values(values)) => values,
            _ => unreachable!("matched a values event"),
        }
    }
}
