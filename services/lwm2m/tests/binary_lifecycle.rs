//! The `lwm2m` binary starts, loads its configuration and stops cleanly on a
//! signal; a bad configuration value stops it with an error naming the key.

// Test helpers outside `#[test]` functions fail loudly on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn lwm2m() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lwm2m"));
    // Keep the test independent of the developer's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("LWM2M_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("no line containing {needle:?}; saw {seen:#?}");
}

/// Kills the child if the test fails before it exits, so no server outlives its test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sqlite://` URL of a registry database in `dir` (the `data/` directory
/// does not exist yet: the registry creates it).
fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/data/lwm2m.db", dir.path().display())
}

/// `run --target all` on loopback ephemeral ports with its registry in `data`.
fn standalone(data: &tempfile::TempDir) -> Command {
    let mut cmd = lwm2m();
    cmd.args(["run", "--target", "all"])
        .env("LWM2M_GRPC_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAP_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAPS_BIND", "127.0.0.1:0")
        .env("LWM2M_REGISTRY_DATABASE_URL", sqlite_url(data));
    cmd
}

/// Starts `cmd` with its log lines (stderr) sent to the returned channel.
fn spawn_logged(mut cmd: Command) -> (KillOnDrop, mpsc::Receiver<String>) {
    let child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let mut child = KillOnDrop(child);
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The value of `name=` in a log line (up to the next space).
fn field(line: &str, name: &str) -> String {
    let start = line
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
        + name.len()
        + 2;
    line[start..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn signal_and_wait(signal: &str) {
    let data = tempfile::tempdir().unwrap();
    let (mut child, rx) = spawn_logged(standalone(&data));
    let registry = wait_for_line(&rx, "registry is up");
    let line = registry.last().unwrap();
    assert!(
        line.contains("grpc=127.0.0.1:") && !line.contains("grpc=127.0.0.1:0 "),
        "the registry follows grpc.bind to an ephemeral port: {line}"
    );
    assert!(
        data.path().join("data/lwm2m.db").is_file(),
        "the standalone database was created"
    );
    let up = wait_for_line(&rx, "transport is up");
    let line = up.last().unwrap();
    // The env overrides reached the service: loopback, and port 0 became a real port.
    assert!(
        line.contains("grpc=127.0.0.1:") && !line.contains("grpc=127.0.0.1:0 "),
        "{line}"
    );
    assert!(
        line.contains("coap=127.0.0.1:") && !line.contains("coap=127.0.0.1:0 "),
        "{line}"
    );
    assert!(
        line.contains("sessions=memory") && line.contains("bus=memory"),
        "standalone backends: {line}"
    );
    wait_for_line(&rx, "lwm2m is up");
    let status = Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_line(&rx, "stopped cleanly");
    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

#[test]
fn starts_and_stops_cleanly_on_sigint() {
    signal_and_wait("-INT");
}

#[test]
fn starts_and_stops_cleanly_on_sigterm() {
    signal_and_wait("-TERM");
}

#[test]
fn bad_value_fails_with_the_key() {
    let out = lwm2m()
        .args(["run", "--target", "transport"])
        .env("LWM2M_DTLS_CONNECTION_ID_LENGTH", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dtls.connection_id_length"), "{err}");
}

#[test]
fn config_command_prints_effective_settings() {
    let out = lwm2m()
        .arg("config")
        .env("LWM2M_DTLS_CONNECTION_ID_LENGTH", "6")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("connection_id_length = 6"), "{text}");
}

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let data = tempfile::tempdir().unwrap();
    let migrate = || {
        lwm2m()
            .arg("migrate")
            .env("LWM2M_REGISTRY_DATABASE_URL", sqlite_url(&data))
            .output()
            .unwrap()
    };
    let first = migrate();
    assert!(first.status.success(), "{first:?}");
    // Every migration of the stream, whatever their number, then nothing.
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(text.contains("applied [1"), "{text}");
    let version = text
        .rsplit("now at version ")
        .next()
        .map(str::trim)
        .filter(|v| v.parse::<i64>().is_ok())
        .unwrap_or_else(|| panic!("no version in {text:?}"));
    let second = migrate();
    assert!(second.status.success(), "{second:?}");
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains(&format!("up to date at version {version}")),
        "{text}"
    );
}

#[test]
fn migrate_names_an_unreachable_database_without_its_password() {
    let out = lwm2m()
        .arg("migrate")
        .env(
            "LWM2M_REGISTRY_DATABASE_URL",
            "postgres://lwm2m:hunter2@127.0.0.1:1/registry",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1/registry"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn unknown_target_is_refused() {
    let out = lwm2m()
        .args(["run", "--target", "everything"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Runs `cmd` to its end; returns its exit code and log.
fn run_to_exit(mut cmd: Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A tokio runtime for the async clients of a test.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Every topic the product writes or reads, by its default name.
const PRODUCT_TOPICS: [&str; 5] = [
    "lwm2m.registrations",
    "lwm2m.values",
    "lwm2m.transport-log",
    "lwm2m.operations",
    "lwm2m.registry.changes",
];

/// Topics of the broker's metadata, with their partition counts.
fn broker_topics(brokers: &str) -> std::collections::BTreeMap<String, usize> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_owned(), t.partitions().len()))
        .collect()
}

/// A CON Register of `endpoint` (NoSec, LwM2M 1.1).
fn register_datagram(endpoint: &str, message_id: u16) -> Vec<u8> {
    use coap_lite::{CoapOption, ContentFormat, MessageClass, MessageType, Packet, RequestType};
    let mut packet = Packet::new();
    packet.header.set_type(MessageType::Confirmable);
    packet.header.code = MessageClass::Request(RequestType::Post);
    packet.header.message_id = message_id;
    packet.set_token(vec![0x15, 0x0b]);
    packet.add_option(CoapOption::UriPath, b"rd".to_vec());
    for query in [
        format!("ep={endpoint}"),
        "lt=300".into(),
        "lwm2m=1.1".into(),
    ] {
        packet.add_option(CoapOption::UriQuery, query.into_bytes());
    }
    packet.set_content_format(ContentFormat::ApplicationLinkFormat);
    packet.payload = b"</1/0>,</3/0>".to_vec();
    packet.to_bytes().unwrap()
}

/// Sends a Register to `coap` until a response with a code arrives;
/// returns that code.
fn register(coap: &str, endpoint: &str) -> coap_lite::MessageClass {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 1500];
    // The same message id each time: a retransmission, as a device sends.
    let datagram = register_datagram(endpoint, 0x2a2a);
    for _ in 0..20 {
        socket.send_to(&datagram, coap).unwrap();
        while let Ok((n, _)) = socket.recv_from(&mut buf) {
            let packet = coap_lite::Packet::from_bytes(&buf[..n]).unwrap();
            if packet.header.code != coap_lite::MessageClass::Empty {
                return packet.header.code;
            }
        }
    }
    panic!("no response to the Register at {coap}");
}

/// On a fresh Kafka-protocol broker (nothing created by hand) the product
/// creates every topic it writes or reads, and a device's Register is
/// answered 2.01 only once its event is in Kafka: before, only the registry
/// change topic existed and every uplink was refused for good
/// (`UnknownTopicOrPartition`).
#[test]
fn a_fresh_kafka_gets_every_topic_and_the_first_uplink_lands() {
    let rt = runtime();
    let broker = rt.block_on(lwm2m_bus::testing::TestBroker::start_on(
        lwm2m_bus::testing::free_port(),
    ));
    let before = broker_topics(&broker.brokers);
    assert!(
        PRODUCT_TOPICS.iter().all(|t| !before.contains_key(*t)),
        "a fresh broker: {before:?}"
    );
    let data = tempfile::tempdir().unwrap();
    let mut cmd = standalone(&data);
    cmd.env("LWM2M_STORAGE_BUS", "kafka")
        .env("LWM2M_KAFKA_BROKERS", &broker.brokers)
        .env("LWM2M_KAFKA_TOPIC_PARTITIONS", "2");
    let (_child, rx) = spawn_logged(cmd);
    let up = wait_for_line(&rx, "transport is up");
    let coap = field(up.last().unwrap(), "coap");
    wait_for_line(&rx, "lwm2m is up");

    let topics = broker_topics(&broker.brokers);
    for topic in PRODUCT_TOPICS {
        let expected = if topic == "lwm2m.registry.changes" {
            1
        } else {
            2
        };
        assert_eq!(
            topics.get(topic),
            Some(&expected),
            "{topic} in {topics:?}; tansu log:\n{}",
            broker.log()
        );
    }

    let code = register(&coap, "fresh-kafka");
    assert_eq!(
        code,
        coap_lite::MessageClass::Response(coap_lite::ResponseType::Created),
        "tansu log:\n{}",
        broker.log()
    );
    let records = rt.block_on(lwm2m_bus::testing::consume(
        &broker.brokers,
        &["lwm2m.registrations"],
        1,
        Duration::from_secs(60),
        Duration::from_millis(500),
    ));
    assert!(
        records.iter().any(|r| r.key.ends_with("/fresh-kafka")),
        "{records:?}"
    );
}

/// With `kafka.create_topics` off on a fresh broker, the process refuses to
/// start and names every topic it misses, instead of losing uplinks.
#[test]
fn missing_topics_are_named_when_creating_them_is_off() {
    let rt = runtime();
    let broker = rt.block_on(lwm2m_bus::testing::TestBroker::start_on(
        lwm2m_bus::testing::free_port(),
    ));
    let mut cmd = lwm2m();
    cmd.args(["run", "--target", "transport"])
        .env("LWM2M_GRPC_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAP_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAPS_BIND", "127.0.0.1:0")
        .env("LWM2M_STORAGE_BUS", "kafka")
        .env("LWM2M_KAFKA_BROKERS", &broker.brokers)
        .env("LWM2M_KAFKA_CREATE_TOPICS", "false");
    let (code, log) = run_to_exit(cmd);
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains(&format!(
            "Kafka topics missing at {}: lwm2m.registrations, lwm2m.values, lwm2m.transport-log",
            broker.brokers
        )),
        "{log}"
    );
    assert!(log.contains("kafka.create_topics"), "{log}");
    let topics = broker_topics(&broker.brokers);
    assert!(
        PRODUCT_TOPICS.iter().all(|t| !topics.contains_key(*t)),
        "nothing created: {topics:?}"
    );
}

/// A broker that is down stops the start with its address, not with a
/// configuration key (before: "configuration key
/// `kafka.topic_registry_changes`", after a minute).
#[test]
fn an_unreachable_kafka_broker_is_named() {
    let port = lwm2m_bus::testing::free_port();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = lwm2m();
    cmd.args(["run", "--target", "registry"])
        .env("LWM2M_GRPC_BIND", "127.0.0.1:0")
        .env("LWM2M_REGISTRY_DATABASE_URL", sqlite_url(&data))
        .env("LWM2M_STORAGE_BUS", "kafka")
        .env("LWM2M_KAFKA_BROKERS", format!("127.0.0.1:{port}"))
        .env("LWM2M_KAFKA_CONNECT_TIMEOUT_MS", "1000");
    let (code, log) = run_to_exit(cmd);
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains(&format!("Kafka broker unreachable at 127.0.0.1:{port}")),
        "{log}"
    );
    assert!(!log.contains("configuration key"), "{log}");
}

#[test]
fn an_unreachable_redis_is_named() {
    let port = lwm2m_bus::testing::free_port();
    let mut cmd = lwm2m();
    cmd.args(["run", "--target", "transport"])
        .env("LWM2M_GRPC_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAP_BIND", "127.0.0.1:0")
        .env("LWM2M_TRANSPORT_COAPS_BIND", "127.0.0.1:0")
        .env(
            "LWM2M_STORAGE_SESSIONS",
            format!("redis://127.0.0.1:{port}/"),
        )
        .env("LWM2M_STORAGE_CONNECT_TIMEOUT_MS", "1000");
    let (code, log) = run_to_exit(cmd);
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains(&format!("Redis unreachable at 127.0.0.1:{port}")),
        "{log}"
    );
}

#[test]
fn an_unreachable_postgres_is_named_without_its_password() {
    let port = lwm2m_bus::testing::free_port();
    let mut cmd = lwm2m();
    cmd.args(["run", "--target", "registry"])
        .env("LWM2M_GRPC_BIND", "127.0.0.1:0")
        .env(
            "LWM2M_REGISTRY_DATABASE_URL",
            format!("postgres://lwm2m:hunter2@127.0.0.1:{port}/registry"),
        )
        .env("LWM2M_REGISTRY_CONNECT_TIMEOUT_MS", "1000");
    let (code, log) = run_to_exit(cmd);
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains(&format!("PostgreSQL unreachable at 127.0.0.1:{port}")),
        "{log}"
    );
    assert!(!log.contains("hunter2"), "{log}");
}

/// The PostgreSQL server the tests use (`LWM2M_TEST_POSTGRES_URL`, as the
/// registry's tests), as `host:port`.
fn test_postgres_addr() -> String {
    let url = std::env::var("LWM2M_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let host = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, h)| h);
    host.split('/').next().unwrap_or(host).to_owned()
}

/// A login the server refuses is reported as such, with the user.
#[test]
fn a_refused_postgres_login_is_named() {
    let addr = test_postgres_addr();
    let mut cmd = lwm2m();
    cmd.args(["run", "--target", "registry"])
        .env("LWM2M_GRPC_BIND", "127.0.0.1:0")
        .env(
            "LWM2M_REGISTRY_DATABASE_URL",
            format!("postgres://no_such_lwm2m_role:pw@{addr}/postgres"),
        );
    let (code, log) = run_to_exit(cmd);
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains(&format!(
            "PostgreSQL at {addr} refused the login of user \"no_such_lwm2m_role\""
        )),
        "{log}"
    );
    assert!(!log.contains(":pw@"), "{log}");
}

async fn channel(addr: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Services a reflection client lists at `addr`, asking `grpc.reflection.v1alpha`.
async fn list_services_v1alpha(addr: &str) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::new(channel(addr).await);
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap_or_else(|e| panic!("v1alpha reflection at {addr}: {e}"))
        .into_inner();
    let response = futures::StreamExt::next(&mut responses)
        .await
        .unwrap()
        .unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("{response:?}")
    };
    list.service.into_iter().map(|s| s.name).collect()
}

/// The same through `grpc.reflection.v1`.
async fn list_services_v1(addr: &str) -> Vec<String> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::new(channel(addr).await);
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap_or_else(|e| panic!("v1 reflection at {addr}: {e}"))
        .into_inner();
    let response = futures::StreamExt::next(&mut responses)
        .await
        .unwrap()
        .unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("{response:?}")
    };
    list.service.into_iter().map(|s| s.name).collect()
}

/// Every gRPC server answers both reflection versions: many installed
/// grpcurl versions and client libraries ask `v1alpha` first (before: only
/// `v1`, and they got UNIMPLEMENTED).
#[test]
fn every_grpc_server_answers_reflection_v1alpha_and_v1() {
    let data = tempfile::tempdir().unwrap();
    let (_child, rx) = spawn_logged(standalone(&data));
    let mut servers = Vec::new();
    for (line, service) in [
        ("registry is up", "lwm2m.registry.v1.DeviceService"),
        ("transport is up", "lwm2m.transport.v1.Transport"),
        ("dispatch is up", "lwm2m.dispatch.v1.Dispatch"),
    ] {
        let seen = wait_for_line(&rx, line);
        servers.push((field(seen.last().unwrap(), "grpc"), service));
    }
    let rt = runtime();
    for (addr, service) in servers {
        for (version, names) in [
            ("v1alpha", rt.block_on(list_services_v1alpha(&addr))),
            ("v1", rt.block_on(list_services_v1(&addr))),
        ] {
            assert!(
                names.iter().any(|n| n == service),
                "{version} at {addr}: {names:?}"
            );
        }
    }
}
