//! CoAP over DTLS on the transport (issue 7): devices register, are read
//! and observed over PSK sessions whose keys come from a real registry
//! (SQLite); a wrong key or identity fails the handshake; another device's
//! identity is refused at Register (4.03); a Connection ID session follows
//! the device to a new port without a new handshake; a half-open handshake
//! delays nobody; libcoap's GnuTLS client registers as an independent peer.
// Test helpers may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lwm2m_bus::MemoryBus;
use lwm2m_coap::{
    CoapEndpoint, Config, Event, FailureReason, Request, RequestOptions, Response, ResponseCode,
    Token,
};
use lwm2m_core::ModelRegistry;
use lwm2m_dtls::{
    CertificateConfig, CipherSuite, ClientCertificate, ClientConfig, ClientEvent, CloseReason,
    DtlsClient, PrivateKey,
};
use lwm2m_proto::events::v1::{RegistrationKind, ValueSource};
use lwm2m_registry::change_feed::BroadcastFeed;
use lwm2m_registry::conformance::{Harness, SqliteHarness};
use lwm2m_registry::device::{Credentials, Der, DeviceSettings, SecretKey};
use lwm2m_registry::ids::TenantId;
use lwm2m_registry::service::{Limits, NewDevice, Registry};
use lwm2m_registry::store::sql::PoolConfig;
use lwm2m_transport::testing::{test_config, Backend, Store, TestNode, PATIENCE};
use lwm2m_transport::{Operation, StaticPsk, Target, TransportConfig, TransportDeps};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// A registry with three devices: two PSK devices and a NoSec one.
struct Fleet {
    registry: Registry,
    tenant: TenantId,
    _harness: SqliteHarness,
    run: String,
}

const KEY_A: &[u8] = b"key-of-device-a!";
const KEY_B: &[u8] = b"key-of-device-b!";

impl Fleet {
    async fn new() -> Fleet {
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
        let tenant = TenantId::parse(&format!("acme-{run}"), "tenant").unwrap();
        registry
            .create_tenant(tenant.clone(), "Acme".into(), false)
            .await
            .unwrap();
        let fleet = Fleet {
            registry,
            tenant: tenant.clone(),
            _harness: harness,
            run,
        };
        for (name, credentials) in [
            ("a", psk(&fleet.identity("a"), KEY_A)),
            ("b", psk(&fleet.identity("b"), KEY_B)),
            ("plain", Credentials::NoSec),
        ] {
            fleet.add(name, credentials).await;
        }
        fleet
    }

    async fn add(&self, name: &str, credentials: Credentials) {
        self.registry
            .create_device(NewDevice {
                tenant_id: self.tenant.clone(),
                endpoint: self.endpoint(name),
                name: String::new(),
                profile_id: None,
                credentials,
                bootstrap_credentials: None,
                settings: DeviceSettings::default(),
            })
            .await
            .unwrap();
    }

    fn endpoint(&self, name: &str) -> String {
        format!("dtls-{name}-{}", self.run)
    }

    fn identity(&self, name: &str) -> String {
        format!("id-{name}-{}", self.run)
    }

    /// A node over an in-memory store with this registry.
    async fn node(&self, store: &Store) -> TestNode {
        self.node_with(store, test_config()).await
    }

    async fn node_with(&self, store: &Store, config: TransportConfig) -> TestNode {
        TestNode::start_deps(
            config,
            TransportDeps {
                sessions: store.sessions.clone(),
                bus: Arc::new(MemoryBus::new(4096)),
                models: Arc::new(ModelRegistry::with_core_objects()),
                registry: Some(Arc::new(self.registry.clone())),
                cluster: None,
            },
        )
        .await
    }
}

fn psk(identity: &str, key: &[u8]) -> Credentials {
    Credentials::Psk {
        identity: identity.into(),
        key: SecretKey::from_hex(&hex::encode(key)).unwrap(),
    }
}

/// What the test asks of a fake device.
enum Cmd {
    Request(Request, oneshot::Sender<Result<Response, FailureReason>>),
    Notify(u32, Response),
    /// Send from a new UDP port from now on (NAT rebinding).
    Rebind(oneshot::Sender<SocketAddr>),
    /// A new handshake with other credentials from the same socket.
    Rehandshake(ClientConfig, oneshot::Sender<Result<(), CloseReason>>),
}

/// An LwM2M device over DTLS: our DTLS client and a bare `CoapEndpoint`
/// on a real UDP socket. It answers Read with text ("Acme" for /3/0/0,
/// "42" otherwise) and accepts one observation.
struct Device {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl Device {
    /// Handshakes with `server`; `Err` with the reason when it fails.
    async fn connect(
        server: SocketAddr,
        identity: &str,
        key: &[u8],
    ) -> Result<Device, CloseReason> {
        let config = ClientConfig {
            identity: identity.as_bytes().to_vec(),
            psk: key.to_vec(),
            ..ClientConfig::default()
        };
        Self::connect_with(server, config).await
    }

    /// Handshakes with a certificate-mode key: a raw public key when
    /// `chain` is empty, else that X.509 chain.
    async fn connect_certificate(
        server: SocketAddr,
        key: &KeyPair,
        chain: Vec<Vec<u8>>,
    ) -> Result<Device, CloseReason> {
        let config = ClientConfig {
            certificate: Some(ClientCertificate {
                private_key: PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
                chain,
                server_public_key: None,
            }),
            cipher_suites: vec![CipherSuite::EcdheEcdsaAes128Ccm8],
            ..ClientConfig::default()
        };
        Self::connect_with(server, config).await
    }

    async fn connect_with(server: SocketAddr, config: ClientConfig) -> Result<Device, CloseReason> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (connected_tx, connected) = oneshot::channel();
        tokio::spawn(run_device(server, config, rx, connected_tx));
        tokio::time::timeout(PATIENCE, connected)
            .await
            .expect("handshake neither completed nor failed")
            .unwrap()?;
        Ok(Device { tx })
    }

    async fn request(&self, request: Request) -> Response {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Cmd::Request(request, reply)).unwrap();
        rx.await.unwrap().unwrap()
    }

    async fn register(&self, endpoint: &str) -> Response {
        self.request(
            Request::post("/rd")
                .with_query("ep", endpoint)
                .with_query("lt", "300")
                .with_query("lwm2m", "1.1")
                .with_content_format(40)
                .with_payload(b"</3/0>".to_vec()),
        )
        .await
    }

    async fn rebind(&self) -> SocketAddr {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Cmd::Rebind(reply)).unwrap();
        rx.await.unwrap()
    }

    /// Handshakes again from the same address with another PSK identity.
    async fn rehandshake(&self, identity: &str, key: &[u8]) -> Result<(), CloseReason> {
        let config = ClientConfig {
            identity: identity.as_bytes().to_vec(),
            psk: key.to_vec(),
            ..ClientConfig::default()
        };
        let (reply, rx) = oneshot::channel();
        self.tx.send(Cmd::Rehandshake(config, reply)).unwrap();
        tokio::time::timeout(PATIENCE, rx).await.unwrap().unwrap()
    }

    fn notify(&self, seq: u32, value: &str) {
        let response = Response::content(0, value.as_bytes().to_vec());
        self.tx.send(Cmd::Notify(seq, response)).unwrap();
    }
}

async fn bind_to(server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(server).await.unwrap();
    socket
}

async fn run_device(
    server: SocketAddr,
    config: ClientConfig,
    mut commands: mpsc::UnboundedReceiver<Cmd>,
    connected: oneshot::Sender<Result<(), CloseReason>>,
) {
    let mut connected = Some(connected);
    let mut socket = bind_to(server).await;
    let mut client = DtlsClient::new(config, Box::new(lwm2m_dtls::OsRng), Instant::now());
    let mut coap = CoapEndpoint::<u8>::new(Config {
        seed: 11,
        max_message_size: 1000,
        ..Config::default()
    })
    .unwrap();
    let mut pending = std::collections::HashMap::new();
    let mut observer: Option<Token> = None;
    let mut buf = vec![0u8; 4096];
    loop {
        let now = Instant::now();
        while let Some(event) = client.poll_event() {
            match event {
                ClientEvent::Connected { .. } => {
                    if let Some(tx) = connected.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                ClientEvent::ApplicationData(data) => coap.handle_datagram(now, 0, &data),
                ClientEvent::Closed(reason) => {
                    if let Some(tx) = connected.take() {
                        let _ = tx.send(Err(reason));
                    }
                    return;
                }
            }
        }
        while let Some(event) = coap.poll_event() {
            match event {
                Event::Request {
                    exchange,
                    token,
                    request,
                    ..
                } => {
                    let value = if request.path_string() == "/3/0/0" {
                        "Acme"
                    } else {
                        "42"
                    };
                    let mut response = Response::content(0, value.as_bytes().to_vec());
                    if request.observe() == Some(0) {
                        observer = Some(token);
                        response = response.with_observe(0).unwrap();
                    }
                    coap.respond(now, exchange, response).unwrap();
                }
                Event::Response { id, response, .. } => {
                    if let Some(reply) = pending.remove(&id) {
                        let _ = oneshot::Sender::send(reply, Ok(response));
                    }
                }
                Event::RequestFailed { id, reason, .. } => {
                    if let Some(reply) = pending.remove(&id) {
                        let _ = oneshot::Sender::send(reply, Err(reason));
                    }
                }
                _ => {}
            }
        }
        while let Some(t) = coap.poll_transmit() {
            client.send(&t.bytes).unwrap();
        }
        while let Some(bytes) = client.poll_transmit() {
            let _ = socket.send(&bytes).await;
        }
        let deadline = [client.poll_timeout(), coap.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            received = socket.recv(&mut buf) => {
                if let Ok(n) = received {
                    client.handle_datagram(Instant::now(), &buf[..n]);
                }
            }
            command = commands.recv() => match command {
                Some(Cmd::Request(request, reply)) => {
                    let id = coap
                        .send_request(Instant::now(), 0, request, RequestOptions::con())
                        .unwrap();
                    pending.insert(id, reply);
                }
                Some(Cmd::Notify(seq, response)) => {
                    let token = observer.expect("no observation to notify");
                    coap.send_notification(Instant::now(), 0, token, seq, response, true)
                        .unwrap();
                }
                Some(Cmd::Rebind(reply)) => {
                    socket = bind_to(server).await;
                    let _ = reply.send(socket.local_addr().unwrap());
                }
                Some(Cmd::Rehandshake(config, reply)) => {
                    client = DtlsClient::new(config, Box::new(lwm2m_dtls::OsRng), Instant::now());
                    connected = Some(reply);
                }
                None => return,
            },
            () = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                client.handle_timeout(now);
                coap.handle_timeout(now);
            }
        }
    }
}

fn read(path: &str) -> Operation {
    Operation::Read {
        path: path.parse().unwrap(),
        content_format: None,
    }
}

async fn stored_address(store: &Store, endpoint: &str) -> String {
    store
        .sessions
        .get_by_endpoint(endpoint)
        .await
        .unwrap()
        .unwrap()
        .address
}

#[tokio::test]
async fn psk_device_registers_is_read_and_observed_over_dtls() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    let mut events = node.events();
    let server = node.handle.dtls_addr.unwrap();
    let endpoint = fleet.endpoint("a");

    let device = Device::connect(server, &fleet.identity("a"), KEY_A)
        .await
        .unwrap();
    let created = device.register(&endpoint).await;
    assert_eq!(created.code, ResponseCode::CREATED, "{created:?}");
    events
        .registration(&endpoint, RegistrationKind::Registered)
        .await;
    // The stored address names the DTLS socket: any node picks the right driver.
    assert!(stored_address(&store, &endpoint)
        .await
        .starts_with("coaps://127.0.0.1:"));

    let downlinks = node.handle.downlinks();
    let target = Target::endpoint(&endpoint);
    let result = downlinks.send(&target, read("/3/0/0"), None).await.unwrap();
    assert_eq!(result.code, ResponseCode::CONTENT);
    assert_eq!(result.payload.as_deref(), Some(&b"Acme"[..]));

    let observe = Operation::Observe {
        path: "/3/0/9".parse().unwrap(),
        content_format: None,
        attributes: Default::default(),
    };
    let result = downlinks.send(&target, observe, None).await.unwrap();
    assert_eq!(result.code, ResponseCode::CONTENT);
    events.values(&endpoint, ValueSource::Notify).await;
    device.notify(1, "43");
    let notified = events.values(&endpoint, ValueSource::Notify).await;
    assert_eq!(notified.values.len(), 1, "{notified:?}");
    node.stop().await;
}

#[tokio::test]
async fn wrong_key_or_unknown_identity_fails_the_handshake() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    let server = node.handle.dtls_addr.unwrap();
    for (identity, key) in [
        (fleet.identity("a"), KEY_B),
        (fleet.identity("nobody"), KEY_A),
    ] {
        match Device::connect(server, &identity, key).await {
            Err(CloseReason::AlertReceived(_)) => {}
            Err(other) => panic!("{identity}: unexpected failure {other:?}"),
            Ok(_) => panic!("{identity}: handshake with a wrong key succeeded"),
        }
    }
    node.stop().await;
}

#[tokio::test]
async fn another_devices_identity_or_a_nosec_device_is_refused_at_register() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    let server = node.handle.dtls_addr.unwrap();
    let device = Device::connect(server, &fleet.identity("b"), KEY_B)
        .await
        .unwrap();
    for endpoint in [fleet.endpoint("a"), fleet.endpoint("plain")] {
        let refused = device.register(&endpoint).await;
        assert_eq!(refused.code, ResponseCode::FORBIDDEN, "{endpoint}");
    }
    assert!(store
        .sessions
        .get_by_endpoint(&fleet.endpoint("a"))
        .await
        .unwrap()
        .is_none());
    // Its own endpoint is fine on the same session.
    let created = device.register(&fleet.endpoint("b")).await;
    assert_eq!(created.code, ResponseCode::CREATED);
    node.stop().await;
}

/// Issue 15: an auto-provisioned device belongs to the provisioning
/// (default) tenant rather than to "", and a refusal names the security
/// mode as operators write it.
#[tokio::test]
async fn auto_provisioned_devices_have_a_tenant_and_refusals_read_well() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let mut config = test_config();
    config.auto_provision = true;
    config.provisioning_tenant = Some(fleet.tenant.as_str().to_owned());
    let node = fleet.node_with(&store, config).await;
    let coap = node.handle.coap_addr;
    let register = |ep: &str| {
        Request::post("/rd")
            .with_query("ep", ep)
            .with_query("lt", "300")
            .with_content_format(40)
            .with_payload(b"</3/0>".to_vec())
    };
    let stranger = format!("stranger-{}", fleet.run);
    let created = plain_request(coap, register(&stranger)).await;
    assert_eq!(created.code, ResponseCode::CREATED, "{created:?}");
    let reg = store
        .sessions
        .get_by_endpoint(&stranger)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.tenant.as_deref(), Some(fleet.tenant.as_str()));

    let refused = plain_request(coap, register(&fleet.endpoint("a"))).await;
    assert_eq!(refused.code, ResponseCode::FORBIDDEN, "{refused:?}");
    let message = String::from_utf8_lossy(&refused.payload).into_owned();
    assert!(
        message.contains("must connect with PSK security"),
        "{message}"
    );
    node.stop().await;
}

/// Issue 16 finding 6: sessions follow their devices' registrations. A
/// De-register or a lifetime expiry closes the device's session, and when
/// the table is full a registered device's session is evicted last.
#[tokio::test]
async fn sessions_end_with_their_registrations_and_registered_ones_are_evicted_last() {
    let fleet = Fleet::new().await;
    fleet.add("c", psk(&fleet.identity("c"), KEY_A)).await;
    let store = Store::new(Backend::Memory).await;
    let mut config = test_config();
    config.registration_grace = Duration::from_millis(0);
    config.dtls.limits.max_sessions = 2;
    let node = fleet.node_with(&store, config).await;
    let server = node.handle.dtls_addr.unwrap();
    let established =
        |n: u64| move |s: &lwm2m_transport::TransportStats| s.dtls.sessions_established == n;

    // De-register: the session closes once the answer is out.
    let a = Device::connect(server, &fleet.identity("a"), KEY_A)
        .await
        .unwrap();
    let rd = location(&a.register(&fleet.endpoint("a")).await);
    node.wait_stats("a's session", established(1)).await;
    assert_eq!(
        a.request(Request::delete(&rd)).await.code,
        ResponseCode::DELETED
    );
    node.wait_stats("a's session closed at De-register", established(0))
        .await;

    // Lifetime expiry closes it too.
    let b = Device::connect(server, &fleet.identity("b"), KEY_B)
        .await
        .unwrap();
    let short = Request::post("/rd")
        .with_query("ep", &fleet.endpoint("b"))
        .with_query("lt", "1")
        .with_query("lwm2m", "1.1")
        .with_content_format(40)
        .with_payload(b"</3/0>".to_vec());
    assert_eq!(b.request(short).await.code, ResponseCode::CREATED);
    node.wait_stats("b's session closed at expiry", established(0))
        .await;

    // A full table (2): a registered device's session outlives an
    // unregistered one when a third device handshakes.
    let a = Device::connect(server, &fleet.identity("a"), KEY_A)
        .await
        .unwrap();
    location(&a.register(&fleet.endpoint("a")).await);
    let _idle = Device::connect(server, &fleet.identity("b"), KEY_B)
        .await
        .unwrap();
    node.wait_stats("two sessions", established(2)).await;
    let _c = Device::connect(server, &fleet.identity("c"), KEY_A)
        .await
        .unwrap();
    node.wait_stats("one evicted", |s| s.dtls.engine.sessions_evicted == 1)
        .await;
    assert_eq!(
        a.request(senml_battery(50)).await.code,
        ResponseCode::CHANGED,
        "the registered device kept its session"
    );
    node.stop().await;
}

#[tokio::test]
async fn connection_id_session_follows_the_device_to_a_new_port() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    let server = node.handle.dtls_addr.unwrap();
    let endpoint = fleet.endpoint("a");
    let device = Device::connect(server, &fleet.identity("a"), KEY_A)
        .await
        .unwrap();
    assert_eq!(device.register(&endpoint).await.code, ResponseCode::CREATED);
    let before = stored_address(&store, &endpoint).await;

    let moved_to = device.rebind().await;
    // Any record from the new port moves the session (here a request for
    // a path the server does not have, which touches no registration).
    let answer = device.request(Request::get("/nothing-here")).await;
    assert_eq!(answer.code, ResponseCode::NOT_FOUND);
    let expected = format!("coaps://{moved_to}");
    let deadline = Instant::now() + PATIENCE;
    while stored_address(&store, &endpoint).await != expected {
        assert!(Instant::now() < deadline, "address stayed {before}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let result = node
        .handle
        .downlinks()
        .send(&Target::endpoint(&endpoint), read("/3/0/0"), None)
        .await
        .unwrap();
    assert_eq!(result.code, ResponseCode::CONTENT);
    node.stop().await;
}

/// Rebinds the device `ROUNDS` times and sends a value in the very first
/// record from each new port: every Send is acknowledged and published.
async fn sends_survive_moves(node: &TestNode, identity: &str, key: &[u8], endpoint: &str) {
    const ROUNDS: u8 = 25;
    let mut events = node.events();
    let device = Device::connect(node.handle.dtls_addr.unwrap(), identity, key)
        .await
        .unwrap();
    assert_eq!(device.register(endpoint).await.code, ResponseCode::CREATED);
    for round in 0..ROUNDS {
        device.rebind().await;
        let answer = device.request(senml_battery(round)).await;
        assert_eq!(
            answer.code,
            ResponseCode::CHANGED,
            "round {round}: {answer:?}"
        );
        let values = events.values(endpoint, ValueSource::Send).await;
        assert_eq!(values.values.len(), 1, "round {round}: {values:?}");
    }
}

#[tokio::test]
async fn a_send_in_the_record_that_moves_a_session_is_never_lost() {
    // With a registry the session's PSK identity names the sender.
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    sends_survive_moves(&node, &fleet.identity("a"), KEY_A, &fleet.endpoint("a")).await;
    node.stop().await;

    // Without one (static keys) the session's earlier address does, even
    // before the store heard of the move; Redis makes that write slow.
    for backend in [Backend::Memory, Backend::Redis] {
        let store = Store::new(backend).await;
        let mut config = test_config();
        config.static_psks = vec![StaticPsk {
            identity: b"static-mover".to_vec(),
            key: KEY_B.to_vec(),
        }];
        let node = TestNode::start_deps(
            config,
            TransportDeps {
                sessions: store.sessions.clone(),
                bus: Arc::new(MemoryBus::new(4096)),
                models: Arc::new(ModelRegistry::with_core_objects()),
                registry: None,
                cluster: None,
            },
        )
        .await;
        sends_survive_moves(&node, "static-mover", KEY_B, "static-mover-ep").await;
        node.stop().await;
        store.cleanup().await;
    }
}

#[tokio::test]
async fn a_half_open_handshake_delays_nobody() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    let server = node.handle.dtls_addr.unwrap();

    // A client that answers the HelloVerifyRequest and then goes silent.
    let stalled = bind_to(server).await;
    let mut client = DtlsClient::new(
        ClientConfig {
            identity: fleet.identity("b").into_bytes(),
            psk: KEY_B.to_vec(),
            ..ClientConfig::default()
        },
        Box::new(lwm2m_dtls::OsRng),
        Instant::now(),
    );
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        while let Some(bytes) = client.poll_transmit() {
            stalled.send(&bytes).await.unwrap();
        }
        let n = tokio::time::timeout(PATIENCE, stalled.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        client.handle_datagram(Instant::now(), &buf[..n]);
    }
    // The server's flight arrived; we never send ClientKeyExchange.

    let device = Device::connect(server, &fleet.identity("a"), KEY_A)
        .await
        .unwrap();
    let created = device.register(&fleet.endpoint("a")).await;
    assert_eq!(created.code, ResponseCode::CREATED);
    node.stop().await;
}

#[tokio::test]
async fn libcoap_gnutls_registers_with_psk_over_coaps() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    let mut events = node.events();
    let server = node.handle.dtls_addr.unwrap();
    let endpoint = fleet.endpoint("a");
    let uri = format!(
        "coaps://127.0.0.1:{}/rd?ep={endpoint}&lt=300&lwm2m=1.1",
        server.port()
    );
    let (identity, key) = (
        fleet.identity("a"),
        String::from_utf8(KEY_A.to_vec()).unwrap(),
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("timeout")
            .args(["20", "coap-client-gnutls", "-m", "post", "-B", "10"])
            .args(["-u", &identity, "-k", &key, "-t", "40", "-e", "</3/0>"])
            .arg(&uri)
            .output()
            .expect("coap-client-gnutls is missing: apt-get install libcoap3-bin")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{} {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    events
        .registration(&endpoint, RegistrationKind::Registered)
        .await;
    assert!(stored_address(&store, &endpoint)
        .await
        .starts_with("coaps://"));
    node.stop().await;
}

fn p256() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

/// Certificate parameters with this CN (and clientAuth for a device).
fn params(cn: &str, client: bool) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    if client {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    p
}

#[tokio::test]
async fn raw_public_keys_and_certificates_are_bound_to_their_endpoints() {
    let fleet = Fleet::new().await;
    // A CA for devices and the server; certificates are made fresh, no key is committed.
    let ca_key = p256();
    let mut ca_params = params("test CA", false);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = p256();
    let server_cert = params("server", false)
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let mut config = test_config();
    config.dtls.certificate = Some(CertificateConfig {
        private_key: PrivateKey::from_pkcs8_der(&server_key.serialize_der()).unwrap(),
        certificate_chain: vec![server_cert.der().to_vec()],
        accept_raw_public_keys: true,
        trust_anchors: vec![ca.der().to_vec()],
        accept_expired_certificates: false,
    });

    let (rpk_key, other_key) = (p256(), p256());
    fleet
        .add(
            "rpk",
            Credentials::Rpk {
                public_key: Der(rpk_key.public_key_der()),
            },
        )
        .await;
    fleet
        .add(
            "rpk2",
            Credentials::Rpk {
                public_key: Der(other_key.public_key_der()),
            },
        )
        .await;
    // Trust-chain mode: any certificate from the CA whose CN is the endpoint.
    fleet
        .add("x509", Credentials::X509 { certificate: None })
        .await;
    let device_key = p256();
    let device_cert = params(&fleet.endpoint("x509"), true)
        .signed_by(&device_key, &ca, &ca_key)
        .unwrap();
    // Pinned mode: exactly this other certificate.
    let pinned_key = p256();
    let pinned_cert = params("pinned device", true)
        .signed_by(&pinned_key, &ca, &ca_key)
        .unwrap();
    fleet
        .add(
            "pinned",
            Credentials::X509 {
                certificate: Some(Der(pinned_cert.der().to_vec())),
            },
        )
        .await;

    let store = Store::new(Backend::Memory).await;
    let node = fleet.node_with(&store, config).await;
    let server = node.handle.dtls_addr.unwrap();

    let rpk = Device::connect_certificate(server, &rpk_key, Vec::new())
        .await
        .unwrap();
    let refused = rpk.register(&fleet.endpoint("rpk2")).await;
    assert_eq!(refused.code, ResponseCode::FORBIDDEN);
    let created = rpk.register(&fleet.endpoint("rpk")).await;
    assert_eq!(created.code, ResponseCode::CREATED);

    let x509 = Device::connect_certificate(server, &device_key, vec![device_cert.der().to_vec()])
        .await
        .unwrap();
    for other in ["pinned", "rpk"] {
        let refused = x509.register(&fleet.endpoint(other)).await;
        assert_eq!(refused.code, ResponseCode::FORBIDDEN, "{other}");
    }
    let created = x509.register(&fleet.endpoint("x509")).await;
    assert_eq!(created.code, ResponseCode::CREATED);

    let pinned = Device::connect_certificate(server, &pinned_key, vec![pinned_cert.der().to_vec()])
        .await
        .unwrap();
    let created = pinned.register(&fleet.endpoint("pinned")).await;
    assert_eq!(created.code, ResponseCode::CREATED);

    // Each is reachable over its own session.
    let result = node
        .handle
        .downlinks()
        .send(
            &Target::endpoint(fleet.endpoint("x509")),
            read("/3/0/0"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(result.code, ResponseCode::CONTENT);
    node.stop().await;
}

#[tokio::test]
async fn a_downlink_asked_of_another_node_is_forwarded_to_the_dtls_owner() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let (a, b) = (fleet.node(&store).await, fleet.node(&store).await);
    let endpoint = fleet.endpoint("a");
    let device = Device::connect(b.handle.dtls_addr.unwrap(), &fleet.identity("a"), KEY_A)
        .await
        .unwrap();
    assert_eq!(device.register(&endpoint).await.code, ResponseCode::CREATED);
    let result = a
        .handle
        .downlinks()
        .send(&Target::endpoint(&endpoint), read("/3/0/0"), None)
        .await
        .unwrap();
    assert_eq!(result.code, ResponseCode::CONTENT);
    assert_eq!(a.handle.stats().downlinks_forwarded, 1);
    a.stop().await;
    b.stop().await;
}

/// One CON request over plain CoAP from a fresh socket.
async fn plain_request(server: SocketAddr, request: Request) -> Response {
    let socket = bind_to(server).await;
    let mut coap = CoapEndpoint::<u8>::new(Config::default()).unwrap();
    coap.send_request(Instant::now(), 0, request, RequestOptions::con())
        .unwrap();
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(t) = coap.poll_transmit() {
            socket.send(&t.bytes).await.unwrap();
        }
        while let Some(event) = coap.poll_event() {
            match event {
                Event::Response { response, .. } => return response,
                Event::RequestFailed { reason, .. } => panic!("plain request failed: {reason:?}"),
                _ => {}
            }
        }
        let n = tokio::time::timeout(PATIENCE, socket.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        coap.handle_datagram(Instant::now(), 0, &buf[..n]);
    }
}

/// `/rd/{id}` from a 2.01.
fn location(created: &Response) -> String {
    assert_eq!(created.code, ResponseCode::CREATED, "{created:?}");
    let location = created.location_path();
    assert!(location.starts_with("/rd/"), "{location}");
    location
}

fn senml_battery(level: u8) -> Request {
    Request::post("/dp")
        .with_content_format(110)
        .with_payload(format!(r#"[{{"n":"/3/0/9","v":{level}}}]"#).into_bytes())
}

#[tokio::test]
async fn update_deregister_and_send_must_come_from_the_registrations_identity() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    let server = node.handle.dtls_addr.unwrap();
    let endpoint = fleet.endpoint("a");
    let owner = Device::connect(server, &fleet.identity("a"), KEY_A)
        .await
        .unwrap();
    let rd = location(&owner.register(&endpoint).await);

    // Device b knows a's registration id: its Update and De-register are refused.
    let intruder = Device::connect(server, &fleet.identity("b"), KEY_B)
        .await
        .unwrap();
    let update = intruder.request(Request::post(&rd)).await;
    assert_eq!(update.code, ResponseCode::FORBIDDEN, "{update:?}");
    let delete = intruder.request(Request::delete(&rd)).await;
    assert_eq!(delete.code, ResponseCode::FORBIDDEN, "{delete:?}");
    // So are plain CoAP requests for a registration made over DTLS.
    let coap = node.handle.coap_addr;
    let plain = plain_request(coap, Request::post(&rd)).await;
    assert_eq!(plain.code, ResponseCode::FORBIDDEN, "{plain:?}");
    let plain = plain_request(coap, Request::delete(&rd)).await;
    assert_eq!(plain.code, ResponseCode::FORBIDDEN, "{plain:?}");
    let reg = store.sessions.get_by_endpoint(&endpoint).await.unwrap();
    let reg = reg.expect("the registration survived");
    assert!(reg.address.starts_with("coaps://"), "{}", reg.address);

    // The owner's own requests go through.
    assert_eq!(
        owner.request(senml_battery(80)).await.code,
        ResponseCode::CHANGED
    );
    assert_eq!(
        owner.request(Request::post(&rd)).await.code,
        ResponseCode::CHANGED
    );

    // b handshakes from a's very address (a NAT reusing a port): the
    // address now names a's registration, but a Send, an Update or a
    // De-register from b's session is still not a's.
    owner
        .rehandshake(&fleet.identity("b"), KEY_B)
        .await
        .unwrap();
    assert_eq!(
        owner.request(senml_battery(1)).await.code,
        ResponseCode::FORBIDDEN
    );
    assert_eq!(
        owner.request(Request::post(&rd)).await.code,
        ResponseCode::FORBIDDEN
    );
    assert_eq!(
        owner.request(Request::delete(&rd)).await.code,
        ResponseCode::FORBIDDEN
    );
    assert_eq!(node.handle.stats().dtls.identity_mismatches, 7);

    // Back with a's identity, a may leave.
    owner
        .rehandshake(&fleet.identity("a"), KEY_A)
        .await
        .unwrap();
    assert_eq!(
        owner.request(Request::delete(&rd)).await.code,
        ResponseCode::DELETED
    );
    assert!(store
        .sessions
        .get_by_endpoint(&endpoint)
        .await
        .unwrap()
        .is_none());
    node.stop().await;
}

#[tokio::test]
async fn dtls_handshakes_and_sessions_show_in_the_node_stats() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    let server = node.handle.dtls_addr.unwrap();
    let a = Device::connect(server, &fleet.identity("a"), KEY_A)
        .await
        .unwrap();
    assert!(Device::connect(server, &fleet.identity("nobody"), KEY_A)
        .await
        .is_err());
    assert_eq!(
        a.register(&fleet.endpoint("a")).await.code,
        ResponseCode::CREATED
    );
    let stats = node
        .wait_stats("a failed and an established handshake", |s| {
            s.dtls.engine.handshakes_failed >= 1 && s.dtls.sessions_established == 1
        })
        .await;
    let dtls = stats.dtls;
    assert_eq!(dtls.engine.handshakes_started, 2, "{dtls:?}");
    assert_eq!(dtls.engine.handshakes_completed, 1, "{dtls:?}");
    assert_eq!(dtls.handshakes_in_progress, 0, "{dtls:?}");
    assert_eq!(dtls.psk_lookups_failed, 1, "{dtls:?}");
    node.stop().await;
}

/// An operator whose device cannot connect finds the cause in the node's
/// stats (and an INFO line per source): failed handshakes by cause, and
/// Registers refused with 4.03.
#[tokio::test]
async fn handshake_failures_and_refused_registers_are_counted_by_cause() {
    let fleet = Fleet::new().await;
    let store = Store::new(Backend::Memory).await;
    let node = fleet.node(&store).await;
    let server = node.handle.dtls_addr.unwrap();
    assert!(Device::connect(server, &fleet.identity("a"), KEY_B)
        .await
        .is_err());
    assert!(Device::connect(server, &fleet.identity("nobody"), KEY_A)
        .await
        .is_err());
    let b = Device::connect(server, &fleet.identity("b"), KEY_B)
        .await
        .unwrap();
    assert_eq!(
        b.register(&fleet.endpoint("a")).await.code,
        ResponseCode::FORBIDDEN
    );
    let stats = node
        .wait_stats("failures counted by cause", |s| {
            let f = s.dtls.engine.handshake_failures;
            f.wrong_key == 1 && f.unknown_psk_identity == 1 && s.registrations_refused == 1
        })
        .await;
    let f = stats.dtls.engine.handshake_failures;
    assert_eq!(
        (f.no_common_cipher_suite, f.bad_certificate, f.timeout),
        (0, 0, 0),
        "{f:?}"
    );
    node.stop().await;
}
