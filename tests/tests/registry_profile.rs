//! The registry drives the transport (issue: registry service, "What the
//! transport does with it"): a simulated device registers, is looked up in
//! the registry (real PostgreSQL, and SQLite), and is read, observed and
//! given notification attributes exactly as its profile says; the values
//! carry the profile's key names; an object announced with another version
//! than the profile's is skipped and logged; a live profile change takes
//! effect at once; unknown endpoints and devices that must use DTLS are
//! refused with 4.03; objects without a model are recorded for operators;
//! shared attributes are written by key (`UpdateAttributes`); with the
//! registry in PostgreSQL the values are also read back from Kafka.
// Test helpers may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{test_config, Backend, Events, Store, TestNode, PATIENCE};
use lwm2m_bus::testing::{consume_until, create_topics, unique_topics, Received, TestBroker};
use lwm2m_bus::{Encoding, KafkaBus, KafkaConfig, KafkaTopics, MemoryBus, UplinkBus};
use lwm2m_core::Version;
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::value::Kind;
use lwm2m_proto::events::v1::{UplinkEvent, ValueSource};
use lwm2m_proto::transport::v1::downlink_request::Operation;
use lwm2m_proto::transport::v1::{DownlinkRequest, ReadOperation, UpdateAttributesRequest};
use lwm2m_registry::change_feed::BroadcastFeed;
use lwm2m_registry::conformance::{Harness, PostgresHarness, SqliteHarness};
use lwm2m_registry::device::{Credentials, DeviceSettings, SecretKey};
use lwm2m_registry::ids::{Scope, TenantId};
use lwm2m_registry::models::import::DdfFile;
use lwm2m_registry::profile::{
    NotificationAttributes, ObserveStrategy, ProfileConfig, ProfileObject, ResourceMapping,
};
use lwm2m_registry::service::{Limits, NewDevice, Registry};
use lwm2m_registry::store::sql::PoolConfig;
use lwm2m_sim::{Device, DeviceConfig};
use lwm2m_transport::{TransportConfig, TransportDeps};
use prost::Message as _;

fn mapping(instance_id: u16, resource_id: u16, flags: &str, key: &str) -> ResourceMapping {
    ResourceMapping {
        instance_id,
        resource_id,
        attribute: flags.contains('a'),
        telemetry: flags.contains('t'),
        observe: flags.contains('o'),
        key: key.into(),
        key_generated: false,
    }
}

/// Device 1.1: Manufacturer read as an attribute, Battery Level observed
/// (with pmin/pmax written first); Location 1.1, which the simulator
/// announces as 1.0, so it is skipped.
fn profile_config(battery_observed: bool) -> ProfileConfig {
    let mut device = vec![
        mapping(0, 0, "a", "manufacturer"),
        mapping(0, 15, "a", "timezone"),
    ];
    if battery_observed {
        device.push(mapping(0, 9, "to", "batteryLevel"));
    } else {
        device.push(mapping(0, 1, "ao", "modelNumber"));
    }
    ProfileConfig {
        objects: vec![
            ProfileObject {
                object_id: 3,
                version: Version::V1_1,
                resources: device,
                attributes: vec![NotificationAttributes {
                    instance_id: Some(0),
                    resource_id: Some(9),
                    pmin: Some(1),
                    pmax: Some(30),
                    ..Default::default()
                }],
            },
            ProfileObject {
                object_id: 6,
                version: Version::V1_1,
                resources: vec![mapping(0, 0, "to", "latitude")],
                attributes: vec![],
            },
        ],
        observe_strategy: ObserveStrategy::Single,
        ..Default::default()
    }
}

/// A tenant model of Location at version 1.1 (the built-in one is 1.0).
fn location_1_1() -> DdfFile {
    let xml =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<LWM2M><Object ObjectType=\"MODefinition\">\
         <Name>Location</Name><Description1>test</Description1><ObjectID>6</ObjectID>\
         <ObjectVersion>1.1</ObjectVersion><MultipleInstances>Single</MultipleInstances>\
         <Mandatory>Optional</Mandatory><Resources>\
         <Item ID=\"0\"><Name>Latitude</Name><Operations>R</Operations>\
         <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>\
         <Type>Float</Type></Item></Resources></Object></LWM2M>";
    DdfFile {
        name: "6-1_1.xml".into(),
        content: xml.as_bytes().to_vec(),
    }
}

fn nosec(tenant: &TenantId, endpoint: &str, credentials: Credentials) -> NewDevice {
    NewDevice {
        tenant_id: tenant.clone(),
        endpoint: endpoint.into(),
        name: String::new(),
        profile_id: None,
        credentials,
        bootstrap_credentials: None,
        settings: DeviceSettings::default(),
    }
}

fn sim(server: std::net::SocketAddr, endpoint: &str) -> DeviceConfig {
    DeviceConfig {
        server,
        endpoint: endpoint.into(),
        lwm2m_version: Version::V1_1,
        lifetime: 300,
        confirmable_notifications: true,
        value_change_interval: None,
        send_interval: None,
        deregister_on_shutdown: true,
        register_retry: Duration::from_millis(500),
        ..DeviceConfig::default()
    }
}

/// The next values event of `endpoint` from `source` that has `path`.
async fn value_at(
    events: &mut Events,
    endpoint: &str,
    source: ValueSource,
    path: &str,
) -> lwm2m_proto::events::v1::ResourceValue {
    let event = events
        .next_matching(&format!("{source:?} of {path} from {endpoint}"), |e| {
            e.endpoint == endpoint
                && matches!(&e.payload, Some(Payload::Values(v))
                    if v.source == source as i32 && v.values.iter().any(|x| x.path == path))
        })
        .await;
    let Some(Payload::Values(values)) = event.payload else {
        unreachable!()
    };
    values.values.into_iter().find(|v| v.path == path).unwrap()
}

async fn transport_log(
    events: &mut Events,
    endpoint: &str,
    what: &str,
    pred: impl Fn(&str, &str, Option<&str>) -> bool,
) {
    events
        .next_matching(what, |e| {
            e.endpoint == endpoint
                && matches!(&e.payload, Some(Payload::TransportLog(l))
                    if pred(&l.message, &l.coap_code, l.error.as_deref()))
        })
        .await;
}

/// Shared attributes by key: written through the profile, each key answered.
async fn update_attributes(node: &TestNode, endpoint: &str, events: &mut Events) {
    let mut grpc = node.grpc().await;
    let response = grpc
        .update_attributes(UpdateAttributesRequest {
            endpoint: endpoint.into(),
            attributes: [
                ("timezone", "Europe/Berlin"),
                ("manufacturer", "Other"),
                ("nope", "1"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let by_key = |key: &str| {
        response
            .results
            .iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("no result for {key}: {response:?}"))
    };
    let timezone = by_key("timezone");
    assert!(timezone.ok, "{timezone:?}");
    assert_eq!(
        (timezone.path.as_str(), timezone.code.as_str()),
        ("/3/0/15", "2.04")
    );
    // Manufacturer is read-only in the model: refused before anything is sent.
    let manufacturer = by_key("manufacturer");
    assert!(
        !manufacturer.ok && manufacturer.code_name == "BAD_VALUE",
        "{manufacturer:?}"
    );
    assert!(manufacturer.code.is_empty(), "{manufacturer:?}");
    let unknown = by_key("nope");
    assert!(
        !unknown.ok && unknown.code_name == "UNKNOWN_KEY",
        "{unknown:?}"
    );

    // The device holds the new value.
    let read = grpc
        .downlink(DownlinkRequest {
            endpoint: endpoint.into(),
            operation: Some(Operation::Read(ReadOperation {
                path: "/3/0/15".into(),
                content_format: None,
            })),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.code, "2.05", "{read:?}");
    assert_eq!(
        read.values[0].value.as_ref().and_then(|v| v.kind.clone()),
        Some(Kind::StringValue("Europe/Berlin".into())),
        "{read:?}"
    );
    let read_event = value_at(events, endpoint, ValueSource::Read, "/3/0/15").await;
    assert_eq!(read_event.key.as_deref(), Some("timezone"));

    // Unregistered devices are NOT_FOUND as a whole.
    let status = grpc
        .update_attributes(UpdateAttributesRequest {
            endpoint: "nobody-registered".into(),
            attributes: [("timezone".to_owned(), "UTC".to_owned())].into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
}

/// The values the transport published to Kafka carry the profile's key
/// names: read back from the broker with a consumer group.
async fn keys_reach_kafka(brokers: &str, topics: &KafkaTopics, endpoint: &str) {
    const KEYS: [&str; 4] = ["batteryLevel", "manufacturer", "modelNumber", "timezone"];
    let keys_of = |records: &[Received]| -> Vec<String> {
        let mut keys: Vec<String> = records
            .iter()
            .filter(|r| r.key.ends_with(endpoint))
            .flat_map(|r| {
                let event = UplinkEvent::decode(r.payload.as_slice()).expect("protobuf event");
                match event.payload {
                    Some(Payload::Values(v)) => {
                        v.values.into_iter().filter_map(|x| x.key).collect()
                    }
                    _ => Vec::new(),
                }
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let records = consume_until(
        brokers,
        &[topics.values.as_str()],
        PATIENCE,
        Duration::ZERO,
        |read| {
            let keys = keys_of(read);
            KEYS.iter().all(|k| keys.iter().any(|x| x == k))
        },
    )
    .await;
    let keys = keys_of(&records);
    for key in KEYS {
        assert!(
            keys.iter().any(|k| k == key),
            "{key} not on Kafka: {keys:?}"
        );
    }
}

async fn profile_drives_the_device(harness: impl Harness, kafka: Option<&TestBroker>) {
    let registry = Registry::connect(
        &harness.database_url(),
        &PoolConfig::default(),
        true,
        Arc::new(BroadcastFeed::default()),
        Limits::default(),
    )
    .await
    .unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let tenant = TenantId::parse(&format!("acme-{run}"), "tenant").unwrap();
    registry
        .create_tenant(tenant.clone(), "Acme".into(), false)
        .await
        .unwrap();
    registry
        .import_models(Scope::Tenant(tenant.clone()), vec![location_1_1()], false)
        .await
        .unwrap();
    let profile = registry
        .create_profile(
            tenant.clone(),
            "trackers".into(),
            String::new(),
            profile_config(true),
        )
        .await
        .unwrap();
    let endpoint = format!("prof-{run}");
    let mut device = nosec(&tenant, &endpoint, Credentials::NoSec);
    device.profile_id = Some(profile.id.clone());
    registry.create_device(device).await.unwrap();
    let psk_endpoint = format!("psk-{run}");
    let psk = Credentials::Psk {
        identity: format!("id-{run}"),
        key: SecretKey::from_hex(&"ab".repeat(16)).unwrap(),
    };
    registry
        .create_device(nosec(&tenant, &psk_endpoint, psk))
        .await
        .unwrap();

    let store = Store::new(Backend::Redis).await;
    let topics = unique_topics("profile");
    let bus: Arc<dyn UplinkBus> = match kafka {
        None => Arc::new(MemoryBus::new(4096)),
        Some(broker) => {
            create_topics(&broker.brokers, &topics, 1).await;
            Arc::new(
                KafkaBus::new(KafkaConfig {
                    brokers: broker.brokers.clone(),
                    topics: topics.clone(),
                    encoding: Encoding::Protobuf,
                    client_id: "lwm2m-registry-profile-test".into(),
                    ..Default::default()
                })
                .unwrap(),
            )
        }
    };
    let node = TestNode::start_deps(
        TransportConfig {
            auto_provision: false,
            // A tenant that does not enable auto-provisioning: still 4.03.
            provisioning_tenant: Some(tenant.as_str().to_owned()),
            ..test_config()
        },
        TransportDeps {
            sessions: store.sessions.clone(),
            bus,
            models: Arc::new(lwm2m_sim::sim_registry()),
            registry: Some(Arc::new(registry.clone())),
            cluster: None,
        },
    )
    .await;
    let mut events = node.events();
    let mut logs = node.events();
    let server = node.handle.coap_addr;

    // Unknown endpoints and PSK devices on plain CoAP are refused with 4.03.
    for refused in [format!("nobody-{run}"), psk_endpoint.clone()] {
        let mut device = Device::start(sim(server, &refused)).await.unwrap();
        let status = device
            .wait_for(PATIENCE, |s| {
                s.last_error.as_deref().is_some_and(|e| e.contains("4.03"))
            })
            .await
            .unwrap_or_else(|e| panic!("{refused}: {e}"));
        assert!(!status.registered, "{refused}: {status:?}");
        assert!(store
            .sessions
            .get_by_endpoint(&refused)
            .await
            .unwrap()
            .is_none());
        device.shutdown(false).await;
    }

    // The provisioned device: registered, then initialised by its profile.
    let mut device = Device::start(sim(server, &endpoint)).await.unwrap();
    device.wait_registered(PATIENCE).await.unwrap();
    let stored = store
        .sessions
        .get_by_endpoint(&endpoint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.tenant.as_deref(),
        Some(tenant.as_str()),
        "registry tenant"
    );

    let manufacturer = value_at(&mut events, &endpoint, ValueSource::Read, "/3/0/0").await;
    assert_eq!(manufacturer.key.as_deref(), Some("manufacturer"));
    let battery = value_at(&mut events, &endpoint, ValueSource::Notify, "/3/0/9").await;
    assert_eq!(battery.key.as_deref(), Some("batteryLevel"));
    let status = device
        .wait_for(PATIENCE, |s| s.is_observed("/3/0/9"))
        .await
        .unwrap();
    assert!(
        !status.is_observed("/6/0/0"),
        "skipped object observed: {status:?}"
    );
    assert!(
        !status.is_observed("/3/0/0"),
        "attribute-only resource observed"
    );
    transport_log(
        &mut logs,
        &endpoint,
        "version mismatch log",
        |message, _, error| {
            message.contains("object 6 skipped")
                && error.is_some_and(|e| e.contains("Required version: 1.1"))
        },
    )
    .await;
    // The notification attributes were written (before the observation).
    transport_log(
        &mut logs,
        &endpoint,
        "Write-Attributes",
        |message, code, _| message.starts_with("PUT /3/0/9") && code == "2.04",
    )
    .await;
    transport_log(
        &mut logs,
        &endpoint,
        "Observe after it",
        |message, code, _| message.starts_with("GET /3/0/9") && code == "2.05",
    )
    .await;

    // Objects the registry has no model for are recorded (3303).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let unknown = registry.list_unknown_objects(&tenant).await.unwrap();
        if unknown.iter().any(|u| u.key.object_id == 3303) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "3303 never recorded: {unknown:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A live profile change: Battery Level no longer observed, Model Number is.
    let current = registry.get_profile(&profile.id).await.unwrap();
    registry
        .update_profile(
            &profile.id,
            current.name.clone(),
            current.description.clone(),
            profile_config(false),
            Some(current.revision),
        )
        .await
        .unwrap();
    device
        .wait_for(PATIENCE, |s| {
            s.is_observed("/3/0/1") && !s.is_observed("/3/0/9")
        })
        .await
        .unwrap_or_else(|e| panic!("profile change not applied: {e}"));
    let model = value_at(&mut events, &endpoint, ValueSource::Notify, "/3/0/1").await;
    assert_eq!(model.key.as_deref(), Some("modelNumber"));

    update_attributes(&node, &endpoint, &mut events).await;
    if let Some(broker) = kafka {
        keys_reach_kafka(&broker.brokers, &topics, &endpoint).await;
    }

    device.shutdown(true).await;
    node.stop().await;
    store.cleanup().await;
    registry.close().await;
    harness.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_drives_a_device_with_the_registry_in_sqlite() {
    profile_drives_the_device(SqliteHarness::new().await, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_drives_a_device_with_the_registry_in_postgres_and_values_on_kafka() {
    let broker = TestBroker::start_or_reuse().await;
    profile_drives_the_device(PostgresHarness::new().await, Some(&broker)).await;
}

/// Auto-provisioning decided by the tenant (the node's own switch off): an
/// unknown endpoint registering with a transport whose provisioning tenant
/// enables it is created in the registry with the tenant's profile and
/// initialised by it; a tenant that does not enable it gets 4.03.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_auto_provisioning_creates_unknown_devices() {
    let harness = SqliteHarness::new().await;
    let registry = Registry::connect(
        &harness.database_url(),
        &PoolConfig::default(),
        true,
        Arc::new(BroadcastFeed::default()),
        Limits::default(),
    )
    .await
    .unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let tenant = TenantId::parse(&format!("open-{run}"), "tenant").unwrap();
    registry
        .create_tenant(tenant.clone(), "Open".into(), false)
        .await
        .unwrap();
    let profile = registry
        .create_profile(
            tenant.clone(),
            "auto".into(),
            String::new(),
            ProfileConfig {
                objects: vec![ProfileObject {
                    object_id: 3,
                    version: Version::V1_1,
                    resources: vec![mapping(0, 0, "a", "manufacturer")],
                    attributes: vec![],
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let store = Store::new(Backend::Redis).await;
    let node = TestNode::start_deps(
        TransportConfig {
            auto_provision: false,
            provisioning_tenant: Some(tenant.as_str().to_owned()),
            ..test_config()
        },
        TransportDeps {
            sessions: store.sessions.clone(),
            bus: Arc::new(MemoryBus::new(4096)),
            models: Arc::new(lwm2m_sim::sim_registry()),
            registry: Some(Arc::new(registry.clone())),
            cluster: None,
        },
    )
    .await;
    let mut events = node.events();
    let server = node.handle.coap_addr;

    // The tenant does not allow it yet: refused, nothing created.
    let endpoint = format!("auto-{run}");
    let mut device = Device::start(sim(server, &endpoint)).await.unwrap();
    device
        .wait_for(PATIENCE, |s| {
            s.last_error.as_deref().is_some_and(|e| e.contains("4.03"))
        })
        .await
        .unwrap();
    device.shutdown(false).await;
    assert!(registry.device_by_endpoint(&endpoint).await.is_err());

    // Enabled (the change reaches the node's cache through the feed).
    registry
        .update_tenant(&tenant, "Open".into(), true, Some(profile.id.clone()))
        .await
        .unwrap();
    let mut device = Device::start(sim(server, &endpoint)).await.unwrap();
    device.wait_registered(PATIENCE).await.unwrap();
    let created = registry
        .device_by_endpoint(&endpoint)
        .await
        .expect("device created in the registry");
    assert_eq!(created.tenant_id, tenant);
    assert_eq!(created.profile_id, Some(profile.id.clone()));
    let manufacturer = value_at(&mut events, &endpoint, ValueSource::Read, "/3/0/0").await;
    assert_eq!(manufacturer.key.as_deref(), Some("manufacturer"));

    device.shutdown(true).await;
    node.stop().await;
    store.cleanup().await;
    registry.close().await;
    harness.cleanup().await;
}
