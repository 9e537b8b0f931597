//! The simulator over DTLS against a real transport and registry (issue 7,
//! "the simulator gains PSK and X.509 modes"): a PSK fleet whose
//! credentials the registry imported from the simulator's own CSV
//! registers, is read and observed over DTLS; an X.509 fleet with
//! certificates from a test CA and RPK devices with keys stored in the
//! registry register in trust-chain and key-match mode, and a certificate
//! for another name is refused; a NAT rebinding keeps the session thanks
//! to the Connection ID (and costs a new handshake without one); a node
//! restarted with the same node id takes back the sessions it parked in
//! Redis, so its devices carry on without a handshake (issue 8).
// Test helpers may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{test_config, Backend, Store, TestNode, PATIENCE};
use lwm2m_bus::MemoryBus;
use lwm2m_coap::ResponseCode;
use lwm2m_core::{ModelRegistry, Value};
use lwm2m_proto::events::v1::{RegistrationKind, ValueSource};
use lwm2m_registry::change_feed::BroadcastFeed;
use lwm2m_registry::conformance::{Harness, SqliteHarness};
use lwm2m_registry::device::{Credentials, Der, DeviceSettings};
use lwm2m_registry::ids::TenantId;
use lwm2m_registry::service::{CsvRowStatus, Limits, NewDevice, Registry};
use lwm2m_registry::store::sql::PoolConfig;
use lwm2m_sim::security::credentials_csv;
use lwm2m_sim::{
    Device, DeviceConfig, Fleet, FleetConfig, FleetSecurity, PskKeys, Security, TestPki,
};
use lwm2m_transport::dtls::{pem_certificates, CertificateConfig, PrivateKey};
use lwm2m_transport::{Operation, Target, TransportConfig, TransportDeps};

/// A SQLite registry with one tenant.
struct Backends {
    registry: Registry,
    tenant: TenantId,
    store: Store,
    _harness: SqliteHarness,
}

impl Backends {
    async fn new() -> Backends {
        Self::on(Backend::Memory).await
    }

    async fn on(backend: Backend) -> Backends {
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
        let tenant = TenantId::parse("simdtls", "tenant").unwrap();
        registry
            .create_tenant(tenant.clone(), "Sim DTLS".into(), false)
            .await
            .unwrap();
        Backends {
            registry,
            tenant,
            store: Store::new(backend).await,
            _harness: harness,
        }
    }

    async fn add(&self, endpoint: &str, credentials: Credentials) {
        self.registry
            .create_device(NewDevice {
                tenant_id: self.tenant.clone(),
                endpoint: endpoint.into(),
                name: String::new(),
                profile_id: None,
                credentials,
                bootstrap_credentials: None,
                settings: DeviceSettings::default(),
            })
            .await
            .unwrap();
    }

    async fn node(&self, config: TransportConfig) -> TestNode {
        TestNode::start_deps(config, self.deps(false)).await
    }

    fn deps(&self, cluster: bool) -> TransportDeps {
        TransportDeps {
            sessions: self.store.sessions.clone(),
            bus: Arc::new(MemoryBus::new(4096)),
            models: Arc::new(ModelRegistry::with_core_objects()),
            registry: Some(Arc::new(self.registry.clone())),
            cluster: cluster.then(|| self.store.cluster.clone()),
        }
    }

    async fn address_of(&self, endpoint: &str) -> String {
        let reg = self.store.sessions.get_by_endpoint(endpoint).await.unwrap();
        reg.unwrap_or_else(|| panic!("{endpoint} is not registered"))
            .address
    }
}

/// Test-friendly device timings against the node's DTLS socket.
fn device(node: &TestNode, security: Security) -> DeviceConfig {
    DeviceConfig {
        server: node.handle.dtls_addr.expect("DTLS is on in test_config"),
        lifetime: 300,
        value_change_interval: None,
        send_interval: None,
        ack_timeout: Duration::from_millis(1000),
        register_retry: Duration::from_millis(500),
        security,
        ..DeviceConfig::default()
    }
}

fn fleet(template: DeviceConfig, prefix: &str, count: usize) -> FleetConfig {
    FleetConfig {
        device: template,
        count,
        prefix: prefix.into(),
        ..FleetConfig::default()
    }
}

fn endpoints(config: &FleetConfig) -> Vec<String> {
    (0..config.count)
        .map(|i| config.device_config(i).endpoint)
        .collect()
}

fn read(path: &str) -> Operation {
    Operation::Read {
        path: path.parse().unwrap(),
        content_format: None,
    }
}

#[tokio::test]
async fn a_psk_fleet_imported_from_its_own_csv_registers_and_is_read_and_observed() {
    let backends = Backends::new().await;
    let node = backends.node(test_config()).await;
    let mut events = node.events();
    let psk = FleetSecurity::Psk(PskKeys::Derived { seed: 42 });
    let config = fleet(device(&node, Security::PerDevice(psk.clone())), "psk-", 12);

    // The registry learns the keys from the simulator's CSV, as an operator would.
    let csv = credentials_csv(&psk, &endpoints(&config)).unwrap();
    let report = backends
        .registry
        .import_devices_csv(&backends.tenant, csv.as_bytes(), None, false)
        .await
        .unwrap();
    assert_eq!(report.count(CsvRowStatus::Created), 12, "{report:?}");

    let fleet = Fleet::start(config).await.unwrap();
    fleet.wait_registered(PATIENCE).await.unwrap();
    for ep in endpoints_of(&fleet) {
        assert!(backends
            .address_of(&ep)
            .await
            .starts_with("coaps://127.0.0.1:"));
    }
    let stats = node
        .wait_stats("12 DTLS sessions", |s| s.dtls.sessions_established == 12)
        .await;
    assert_eq!(
        stats.dtls.engine.handshakes_completed, 12,
        "{:?}",
        stats.dtls
    );
    assert_eq!(stats.registrations, 12);

    let first = fleet.device(0);
    let downlinks = node.handle.downlinks();
    let target = Target::endpoint(first.endpoint());
    let manufacturer = downlinks.send(&target, read("/3/0/0"), None).await.unwrap();
    assert_eq!(manufacturer.code, ResponseCode::CONTENT, "{manufacturer:?}");
    assert_eq!(manufacturer.values.len(), 1);

    let observe = Operation::Observe {
        path: "/3303/0/5700".parse().unwrap(),
        content_format: None,
        attributes: Default::default(),
    };
    let observed = downlinks.send(&target, observe, None).await.unwrap();
    assert_eq!(observed.code, ResponseCode::CONTENT, "{observed:?}");
    first
        .set_value("/3303/0/5700", Value::Float(31.5))
        .await
        .unwrap();
    loop {
        let values = events.values(first.endpoint(), ValueSource::Notify).await;
        let ours = values
            .values
            .iter()
            .any(|v| v.path == "/3303/0/5700" && format!("{:?}", v.value).contains("31.5"));
        if ours {
            break;
        }
    }
    let sim = fleet.shutdown(true).await;
    assert_eq!(sim.dtls_handshakes_completed, 12, "{sim}");
    assert_eq!(sim.deregistrations, 12, "{sim}");
    assert_eq!(sim.errors, 0, "{sim}");
    node.stop().await;
}

fn endpoints_of(fleet: &Fleet) -> Vec<String> {
    fleet
        .devices()
        .iter()
        .map(|d| d.endpoint().to_owned())
        .collect()
}

#[tokio::test]
async fn x509_and_rpk_fleets_register_with_their_own_certificates_and_keys() {
    let backends = Backends::new().await;
    // A CA made for this run: it signs the server's certificate and, in the
    // simulator, one certificate per device.
    let pki = TestPki::generate("sim test CA", "transport").unwrap();
    let ca_der = pem_certificates(&pki.ca_cert_pem).unwrap();
    let mut config = test_config();
    config.dtls.certificate = Some(CertificateConfig {
        private_key: PrivateKey::from_pem(&pki.server_key_pem).unwrap(),
        certificate_chain: pem_certificates(&pki.server_cert_pem).unwrap(),
        accept_raw_public_keys: true,
        trust_anchors: ca_der,
        accept_expired_certificates: false,
    });
    let node = backends.node(config).await;

    let issuer = Arc::new(pki.device_issuer(7).unwrap());
    let x509 = FleetSecurity::X509 {
        issuer: issuer.clone(),
        server_public_key: None,
    };
    let x509_fleet = fleet(device(&node, Security::PerDevice(x509)), "x509-", 6);
    for ep in endpoints(&x509_fleet) {
        // Trust-chain mode: a certificate from the CA with CN = endpoint.
        backends
            .add(&ep, Credentials::X509 { certificate: None })
            .await;
    }
    let rpk = FleetSecurity::Rpk {
        seed: 3,
        server_public_key: None,
    };
    let rpk_fleet = fleet(device(&node, Security::PerDevice(rpk.clone())), "rpk-", 4);
    for ep in endpoints(&rpk_fleet) {
        let Security::Certificate(cert) = rpk.for_device(&ep).unwrap() else {
            panic!("RPK devices use a key");
        };
        let public_key = Der(cert.private_key.spki_der());
        backends.add(&ep, Credentials::Rpk { public_key }).await;
    }

    let x509_fleet = Fleet::start(x509_fleet).await.unwrap();
    let rpk_fleet = Fleet::start(rpk_fleet).await.unwrap();
    x509_fleet.wait_registered(PATIENCE).await.unwrap();
    rpk_fleet.wait_registered(PATIENCE).await.unwrap();
    let target = Target::endpoint(x509_fleet.device(5).endpoint());
    let manufacturer = node
        .handle
        .downlinks()
        .send(&target, read("/3/0/0"), None)
        .await;
    let manufacturer = manufacturer.unwrap();
    assert_eq!(manufacturer.code, ResponseCode::CONTENT, "{manufacturer:?}");

    // A valid certificate from the same CA, but issued to x509-0001,
    // cannot register as x509-0002.
    backends
        .add("x509-stolen", Credentials::X509 { certificate: None })
        .await;
    let (private_key, leaf) = issuer.issue("x509-0001").unwrap();
    let stolen = DeviceConfig {
        endpoint: "x509-stolen".into(),
        ..device(
            &node,
            Security::Certificate(lwm2m_transport::dtls::ClientCertificate {
                private_key,
                chain: vec![leaf],
                server_public_key: None,
            }),
        )
    };
    let mut stolen = Device::start(stolen).await.unwrap();
    let status = stolen
        .wait_for(PATIENCE, |s| {
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("Register failed"))
        })
        .await
        .unwrap();
    assert!(
        status.dtls_established,
        "the handshake itself is fine: {status:?}"
    );
    assert!(!status.registered);
    assert!(
        status.last_error.unwrap().contains("4.03"),
        "refused with 4.03"
    );
    stolen.shutdown(false).await;

    let stats = node.handle.stats();
    assert_eq!(stats.registrations, 10, "{stats:?}");
    x509_fleet.shutdown(true).await;
    rpk_fleet.shutdown(true).await;
    node.stop().await;
}

#[tokio::test]
async fn a_nat_rebinding_keeps_the_session_with_a_connection_id() {
    let backends = Backends::new().await;
    let node = backends.node(test_config()).await;
    let mut events = node.events();
    let psk = FleetSecurity::Psk(PskKeys::Shared(b"sixteen byte key".to_vec()));
    for ep in ["cid-on", "cid-off"] {
        let Security::Psk { identity, key } = psk.for_device(ep).unwrap() else {
            panic!("PSK");
        };
        let credentials = Credentials::Psk {
            identity: String::from_utf8(identity).unwrap(),
            key: lwm2m_registry::device::SecretKey::from_bytes(key),
        };
        backends.add(ep, credentials).await;
    }
    let with_cid = DeviceConfig {
        endpoint: "cid-on".into(),
        ..device(&node, Security::PerDevice(psk.clone()))
    };
    let without_cid = DeviceConfig {
        endpoint: "cid-off".into(),
        connection_id: false,
        ..device(&node, Security::PerDevice(psk))
    };
    let mut on = Device::start(with_cid).await.unwrap();
    let mut off = Device::start(without_cid).await.unwrap();
    let before = on.wait_registered(PATIENCE).await.unwrap();
    off.wait_registered(PATIENCE).await.unwrap();
    assert!(before.dtls_connection_id, "{before:?}");
    let old_address = backends.address_of("cid-on").await;

    on.rebind().await.unwrap();
    let after = on
        .wait_for(PATIENCE, |s| {
            s.updates >= 1 && s.local_addr != before.local_addr
        })
        .await
        .unwrap();
    assert_eq!(after.dtls_handshakes, 1, "same session: {after:?}");
    let new_port = after.local_addr.unwrap().port();
    assert_eq!(
        backends.address_of("cid-on").await,
        format!("coaps://127.0.0.1:{new_port}"),
        "was {old_address}"
    );
    events
        .registration("cid-on", RegistrationKind::Updated)
        .await;
    // A downlink reaches the device at its new port over the same session.
    let target = Target::endpoint("cid-on");
    let read_result = node
        .handle
        .downlinks()
        .send(&target, read("/3/0/0"), None)
        .await;
    assert_eq!(read_result.unwrap().code, ResponseCode::CONTENT);
    let stats = node.handle.stats();
    assert_eq!(
        stats.dtls.engine.handshakes_completed, 2,
        "{:?}",
        stats.dtls
    );
    assert!(stats.dtls.engine.peers_moved >= 1, "{:?}", stats.dtls);

    // Without a CID the server cannot know the new port: a new handshake,
    // then the Update goes through on it.
    let off_before = off.status();
    off.rebind().await.unwrap();
    let off_after = off
        .wait_for(PATIENCE, |s| s.updates >= 1 && s.dtls_handshakes == 2)
        .await
        .unwrap();
    assert!(off_after.registered && !off_before.dtls_connection_id);
    let read_result = node
        .handle
        .downlinks()
        .send(&Target::endpoint("cid-off"), read("/3/0/0"), None)
        .await;
    assert_eq!(read_result.unwrap().code, ResponseCode::CONTENT);

    on.shutdown(true).await;
    off.shutdown(true).await;
    node.stop().await;
}

/// Issue 8, "sessions that survive": a node parks its DTLS sessions in
/// Redis when it stops; the next node with its node id imports them, and
/// the device's next Update and a downlink need no handshake. Meanwhile a
/// second node configured with the same node id is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_takes_back_its_dtls_sessions_from_redis() {
    let backends = Backends::on(Backend::Redis).await;
    let mut config = test_config();
    config.dtls.node_id = 7;
    config.cluster.lease_ttl = Duration::from_millis(1_000);
    config.cluster.heartbeat = Duration::from_millis(300);
    let first = TestNode::start_deps(config.clone(), backends.deps(true)).await;
    assert_eq!(first.handle.cid_node_id, 7);
    let members = backends.store.cluster.members(0).await.unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].node_id, 7);
    assert_eq!(members[0].grpc_addr, first.handle.grpc_addr.to_string());

    let psk = FleetSecurity::Psk(PskKeys::Shared(b"restart-key-0001".to_vec()));
    let Security::Psk { identity, key } = psk.for_device("restarted").unwrap() else {
        panic!("PSK");
    };
    backends
        .add(
            "restarted",
            Credentials::Psk {
                identity: String::from_utf8(identity).unwrap(),
                key: lwm2m_registry::device::SecretKey::from_bytes(key),
            },
        )
        .await;
    let mut dev = Device::start(DeviceConfig {
        endpoint: "restarted".into(),
        ..device(&first, Security::PerDevice(psk))
    })
    .await
    .unwrap();
    let registered = dev.wait_registered(PATIENCE).await.unwrap();
    assert!(registered.dtls_connection_id && registered.dtls_handshakes == 1);

    // Two live nodes never share a node id: the second waits out one lease
    // TTL for the first to go, then gives up with a clear error.
    let clash = lwm2m_transport::start(
        TransportConfig {
            dtls_bind: Some("127.0.0.1:0".parse().unwrap()),
            ..config.clone()
        },
        backends.deps(true),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(clash.to_string().contains("node id 7 is held"), "{clash}");

    // A rolling restart: stop (sessions parked), start on the same address.
    let dtls_addr = first.handle.dtls_addr.unwrap();
    first.stop().await;
    let second = TestNode::start_deps(
        TransportConfig {
            dtls_bind: Some(dtls_addr),
            ..config
        },
        backends.deps(true),
    )
    .await;
    // The DTLS task publishes its counters after its first turn.
    second
        .wait_stats("the parked session restored", |s| {
            s.dtls.engine.sessions_imported == 1
        })
        .await;
    dev.update_now().await.unwrap();
    let updated = dev.wait_for(PATIENCE, |s| s.updates >= 1).await.unwrap();
    assert_eq!(updated.dtls_handshakes, 1, "no new handshake: {updated:?}");
    let read_result = second
        .handle
        .downlinks()
        .send(&Target::endpoint("restarted"), read("/3/0/0"), None)
        .await;
    assert_eq!(read_result.unwrap().code, ResponseCode::CONTENT);
    assert_eq!(second.handle.stats().dtls.engine.handshakes_started, 0);

    dev.shutdown(true).await;
    second.stop().await;
    // The stopped node released its id.
    assert!(backends.store.cluster.members(0).await.unwrap().is_empty());
    backends.store.cleanup().await;
}
