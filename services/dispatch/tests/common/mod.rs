//! A small cluster for dispatch tests, all real parts: PostgreSQL (a fresh
//! database per test: registry and operations), Redis sessions (a unique
//! key prefix), a transport node, simulated devices and one or more
//! dispatch replicas talking to the transport over gRPC.
// Test helpers may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::sync::Arc;
use std::time::Duration;

use lwm2m_core::{ModelRegistry, Version};
use lwm2m_dispatch::{DispatchConfig, DispatchDeps};
use lwm2m_proto::dispatch::v1::dispatch_client::DispatchClient;
use lwm2m_proto::dispatch::v1::{CallRequest, CallResponse, CommandOptions};
use lwm2m_registry::change_feed::BroadcastFeed;
use lwm2m_registry::conformance::{Harness, PostgresHarness};
use lwm2m_registry::device::{Credentials, DeviceSettings};
use lwm2m_registry::ids::TenantId;
use lwm2m_registry::profile::{ProfileConfig, ProfileObject, ResourceMapping};
use lwm2m_registry::service::{Limits, NewDevice, Registry};
use lwm2m_registry::store::sql::PoolConfig;
use lwm2m_sim::{Device, DeviceConfig, QueueMode};
pub use lwm2m_transport::testing::PATIENCE;
use lwm2m_transport::testing::{test_config, Backend, Store, TestNode};
use serde_json::Value as Json;
use tonic::transport::Channel;

pub use lwm2m_dispatch::DispatchHandle;

fn mapping(object: u16, resource_id: u16, key: &str) -> (u16, ResourceMapping) {
    (
        object,
        ResourceMapping {
            instance_id: 0,
            resource_id,
            attribute: true,
            telemetry: false,
            observe: false,
            key: key.into(),
            key_generated: false,
        },
    )
}

/// The ThingsBoard guide's keys: batteryLevel /3/0/9, timezone /3/0/15,
/// UtfOffset /3/0/14, state /5/0/3, updateResult /5/0/5, pkgversion /5/0/7.
fn profile_config() -> ProfileConfig {
    let keys = [
        mapping(3, 9, "batteryLevel"),
        mapping(3, 15, "timezone"),
        mapping(3, 14, "UtfOffset"),
        mapping(5, 3, "state"),
        mapping(5, 5, "updateResult"),
        mapping(5, 7, "pkgversion"),
    ];
    let objects = [(3, Version::V1_1), (5, Version::V1_0)]
        .into_iter()
        .map(|(id, version)| ProfileObject {
            object_id: id,
            version,
            resources: keys
                .iter()
                .filter(|(o, _)| *o == id)
                .map(|(_, m)| m.clone())
                .collect(),
            attributes: vec![],
        })
        .collect();
    ProfileConfig {
        objects,
        ..Default::default()
    }
}

pub struct Setup {
    pub pg: PostgresHarness,
    pub registry: Registry,
    pub tenant: TenantId,
    profile: lwm2m_registry::ids::ProfileId,
    pub store: Option<Store>,
    pub node: TestNode,
    pub dispatch: Vec<DispatchHandle>,
}

impl Setup {
    pub async fn start(tweak: impl Fn(&mut DispatchConfig)) -> Setup {
        let pg = PostgresHarness::new().await;
        let registry = Registry::connect(
            &pg.database_url(),
            &PoolConfig::default(),
            true,
            Arc::new(BroadcastFeed::default()),
            Limits::default(),
        )
        .await
        .unwrap();
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let tenant = TenantId::parse(&format!("t-{run}"), "tenant").unwrap();
        registry
            .create_tenant(tenant.clone(), "Test".into(), false)
            .await
            .unwrap();
        let profile = registry
            .create_profile(tenant.clone(), "tb".into(), String::new(), profile_config())
            .await
            .unwrap();
        let store = Store::new(Backend::Redis).await;
        let node = TestNode::start(store.sessions.clone()).await;
        let mut setup = Setup {
            pg,
            registry,
            tenant,
            profile: profile.id,
            store: Some(store),
            node,
            dispatch: Vec::new(),
        };
        setup.add_replica(tweak).await;
        setup
    }

    /// Another dispatch replica on the same database, sessions and bus.
    pub async fn add_replica(&mut self, tweak: impl Fn(&mut DispatchConfig)) {
        let mut config = DispatchConfig::local(self.pg.database_url());
        config.transport_url = format!("http://{}", self.node.handle.grpc_addr);
        config.sweep_interval = Duration::from_millis(200);
        config.default_timeout = Duration::from_secs(5);
        tweak(&mut config);
        let deps = DispatchDeps {
            sessions: self.store.as_ref().unwrap().sessions.clone(),
            bus: Some(self.node.bus.clone()),
            registry: Some(Arc::new(self.registry.clone())),
            models: Arc::new(ModelRegistry::with_core_objects()),
            link: None,
        };
        self.dispatch
            .push(lwm2m_dispatch::start(config, deps).await.unwrap());
    }

    /// Sets the radio power saving of the test profile.
    pub async fn set_power(&self, power: lwm2m_registry::profile::PowerSettings) {
        let profile = self.registry.get_profile(&self.profile).await.unwrap();
        let mut config = profile.config.clone();
        config.power = power;
        self.registry
            .update_profile(
                &self.profile,
                profile.name,
                profile.description,
                config,
                Some(profile.revision),
            )
            .await
            .unwrap();
    }

    pub async fn client(&self, replica: usize) -> DispatchClient<Channel> {
        DispatchClient::connect(format!("http://{}", self.dispatch[replica].grpc_addr))
            .await
            .unwrap()
    }

    /// A simulated device known to the registry with the test profile.
    pub async fn device(
        &self,
        endpoint: &str,
        version: Version,
        queue: Option<QueueMode>,
    ) -> Device {
        let mut device = NewDevice {
            tenant_id: self.tenant.clone(),
            endpoint: endpoint.into(),
            name: String::new(),
            profile_id: Some(self.profile.clone()),
            credentials: Credentials::NoSec,
            bootstrap_credentials: None,
            settings: DeviceSettings::default(),
        };
        device.profile_id = Some(self.profile.clone());
        self.registry.create_device(device).await.unwrap();
        self.start_device(endpoint, version, queue).await
    }

    /// The device (known to the registry already) starting again.
    pub async fn device_again(&self, endpoint: &str, version: Version) -> Device {
        self.start_device(endpoint, version, None).await
    }

    async fn start_device(
        &self,
        endpoint: &str,
        version: Version,
        queue: Option<QueueMode>,
    ) -> Device {
        let device = Device::start(DeviceConfig {
            server: self.node.handle.coap_addr,
            endpoint: endpoint.into(),
            lwm2m_version: version,
            queue_mode: queue,
            value_change_interval: None,
            ack_timeout: Duration::from_millis(500),
            register_retry: Duration::from_millis(300),
            ..DeviceConfig::default()
        })
        .await
        .unwrap();
        device.wait_registered(PATIENCE).await.unwrap();
        device
    }

    pub async fn stop(mut self) {
        for d in self.dispatch.drain(..) {
            d.shutdown().await.unwrap();
        }
        self.node.stop().await;
        if let Some(store) = self.store.take() {
            store.cleanup().await;
        }
        self.registry.close().await;
        self.pg.cleanup().await;
    }
}

/// `Call` with a ThingsBoard RPC document; the answer JSON and the response.
pub async fn call(
    client: &mut DispatchClient<Channel>,
    endpoint: &str,
    request_json: &str,
) -> (Json, CallResponse) {
    call_with(client, endpoint, request_json, None).await
}

pub async fn call_with(
    client: &mut DispatchClient<Channel>,
    endpoint: &str,
    request_json: &str,
    options: Option<CommandOptions>,
) -> (Json, CallResponse) {
    let response = client
        .call(CallRequest {
            endpoint: endpoint.into(),
            request_json: request_json.into(),
            options,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{request_json}: {s}"))
        .into_inner();
    let json: Json = serde_json::from_str(&response.result_json).unwrap();
    (json, response)
}

pub fn test_timeout() -> Duration {
    test_config().default_request_timeout
}
