//! Interop with an independent LwM2M 1.0 client: Telefónica's
//! `lwm2m-node-lib` (npm, pinned by `tests/interop/package-lock.json`),
//! driven by `tests/interop/node-lib-client.js`.
//!
//! The client registers with its library defaults (LwM2M 1.0, binding U,
//! "lightweightm2m/text" 1541 registered as its text format). On the wire it
//! answers Reads and sends notifications as bare text *without* any
//! Content-Format option, so the server decodes them in the format it asked
//! for (text/plain for a single resource whose model it knows: the test loads
//! the IPSO Temperature model 3303). It cannot parse an Accept it does not
//! know (TLV 11542): such a request is dropped and times out, so this client
//! is only read resource by resource. The server reads, writes, executes and
//! observes it through the gRPC `Downlink`, and sees its De-register when it
//! gets SIGTERM.
//!
//! Needs node + npm (`apt-get install nodejs npm`) and Redis on
//! 127.0.0.1:6379; `npm ci` runs here when `tests/interop/node_modules` is
//! missing (the npm registry must be reachable then).

// The helpers of this test binary may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use common::{require_program, workspace_dir, Backend, LineChild, TestNode};
use lwm2m_core::model::{ObjectModel, Operations, ResourceModel};
use lwm2m_core::{ModelRegistry, ResourceType, Version};
use lwm2m_proto::events::v1::value::Kind;
use lwm2m_proto::events::v1::{RegistrationKind, ResourceValue, UntypedValue, Value, ValueSource};
use lwm2m_proto::transport::v1::downlink_request::Operation;
use lwm2m_proto::transport::v1::{
    DownlinkRequest, DownlinkResponse, ExecuteOperation, GetRegistrationRequest, ObserveOperation,
    ReadOperation, WriteOperation,
};

/// `npm ci` must not run twice at once (tests of this file run in parallel).
static NPM: Mutex<()> = Mutex::new(());

fn interop_dir() -> PathBuf {
    workspace_dir().join("tests").join("interop")
}

/// Installs the pinned node packages unless they are there already.
fn ensure_node_modules() {
    require_program("node", "apt-get install nodejs");
    require_program("npm", "apt-get install npm");
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let dir = interop_dir();
    if dir
        .join("node_modules/lwm2m-node-lib/package.json")
        .is_file()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .expect("run npm ci");
    assert!(
        status.success(),
        "`npm ci --no-audit --no-fund` in {} failed: {status}",
        dir.display()
    );
}

/// The IPSO Temperature object (3303), as a deployment would load it from
/// its DDF: Sensor Value (5700) is a Float, Sensor Units (5701) a String.
fn models_with_temperature() -> ModelRegistry {
    let resource = |id, name: &str, operations, kind| ResourceModel {
        id,
        name: name.into(),
        operations,
        multiple: false,
        mandatory: id == 5700,
        kind,
        range: None,
        units: None,
        description: String::new(),
    };
    let mut resources = BTreeMap::new();
    resources.insert(
        5700,
        resource(5700, "Sensor Value", Operations::Read, ResourceType::Float),
    );
    resources.insert(
        5701,
        resource(5701, "Sensor Units", Operations::Read, ResourceType::String),
    );
    let mut models = ModelRegistry::with_core_objects();
    models.insert(ObjectModel {
        id: 3303,
        name: "Temperature".into(),
        description: String::new(),
        version: Version::V1_0,
        lwm2m_version: Version::V1_0,
        multiple: true,
        mandatory: false,
        urn: Some("urn:oma:lwm2m:ext:3303".into()),
        resources,
    });
    models
}

fn spawn_client(port: u16, endpoint: &str) -> LineChild {
    spawn_client_with(port, endpoint, "{}")
}

/// The client with `extra_objects` (JSON: `{"/33605/5": {"1": "1234"}}`) too.
fn spawn_client_with(port: u16, endpoint: &str, extra_objects: &str) -> LineChild {
    let child = Command::new("node")
        .arg(interop_dir().join("node-lib-client.js"))
        .args(["127.0.0.1", &port.to_string(), endpoint])
        .env("NODE_LIB_EXTRA_OBJECTS", extra_objects)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    LineChild::new("node-lib", child)
}

fn request(endpoint: &str, operation: Operation) -> DownlinkRequest {
    DownlinkRequest {
        endpoint: endpoint.to_owned(),
        tenant: String::new(),
        timeout_ms: 10_000,
        operation: Some(operation),
    }
}

fn float_of(values: &[ResourceValue], path: &str) -> Option<f64> {
    values
        .iter()
        .find(|v| v.path == path)
        .and_then(|v| match v.value.as_ref()?.kind.as_ref()? {
            Kind::Float(f) => Some(*f),
            _ => None,
        })
}

fn assert_success(what: &str, response: &DownlinkResponse) {
    assert!(
        response.code.starts_with("2."),
        "{what} answered {} {} (payload {:?})",
        response.code,
        response.code_name,
        response
            .payload
            .as_ref()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_lib_client_registers_is_read_written_executed_observed_and_deregisters() {
    ensure_node_modules();
    let node = TestNode::start_on(Backend::Redis, models_with_temperature()).await;
    let mut events = node.events();
    let mut grpc = node.grpc().await;
    let endpoint = format!("node-lib-{}", uuid::Uuid::new_v4().simple());

    // Register.
    let mut client = spawn_client(node.handle.coap_addr.port(), &endpoint);
    let registered = client
        .line("REGISTERED", |l| l.starts_with("REGISTERED "))
        .await;
    let location = registered.trim_start_matches("REGISTERED ").to_owned();
    let (event, body) = events
        .registration(&endpoint, RegistrationKind::Registered)
        .await;
    assert_eq!(location, format!("/rd/{}", event.registration_id));
    assert_eq!(body.lwm2m_version, "1.0");
    assert_eq!(body.binding, "U");
    assert_eq!(body.lifetime_s, 60);
    let registration = grpc
        .get_registration(GetRegistrationRequest {
            endpoint: endpoint.clone(),
            tenant: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut objects: Vec<(u32, Vec<u32>)> = registration
        .objects
        .iter()
        .map(|o| (o.id, o.instances.clone()))
        .collect();
    objects.sort();
    assert_eq!(objects, [(3, vec![0]), (3303, vec![0])]);

    // Read: the value comes back typed by the model.
    let read = grpc
        .downlink(request(
            &endpoint,
            Operation::Read(ReadOperation {
                path: "/3303/0/5700".into(),
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_success("Read /3303/0/5700", &read);
    assert_eq!(read.code_name, "CONTENT");
    assert_eq!(
        float_of(&read.values, "/3303/0/5700"),
        Some(21.5),
        "{read:?}"
    );
    client.line("READ", |l| l == "READ /3303/0/5700 21.5").await;
    let read_event = events.values(&endpoint, ValueSource::Read).await;
    assert_eq!(float_of(&read_event.values, "/3303/0/5700"), Some(21.5));

    // A string resource of the Device object.
    let manufacturer = grpc
        .downlink(request(
            &endpoint,
            Operation::Read(ReadOperation {
                path: "/3/0/0".into(),
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_success("Read /3/0/0", &manufacturer);
    assert_eq!(
        manufacturer.values.first().and_then(|v| v.value.clone()),
        Some(Value {
            kind: Some(Kind::StringValue("Telefonica I+D".into()))
        }),
        "{manufacturer:?}"
    );

    // Write (replace: PUT; lwm2m-node-lib routes a POST to a resource to Execute).
    let write = grpc
        .downlink(request(
            &endpoint,
            Operation::Write(WriteOperation {
                path: "/3303/0/5700".into(),
                replace: true,
                values: vec![ResourceValue {
                    path: "/3303/0/5700".into(),
                    value: Some(Value {
                        kind: Some(Kind::Float(30.5)),
                    }),
                    timestamp_ms: None,
                    key: None,
                }],
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_success("Write /3303/0/5700", &write);
    assert_eq!(write.code_name, "CHANGED");
    client
        .line("WRITE", |l| l == "WRITE /3303/0/5700 30.5")
        .await;

    // Execute Reboot.
    let exec = grpc
        .downlink(request(
            &endpoint,
            Operation::Execute(ExecuteOperation {
                path: "/3/0/4".into(),
                arguments: String::new(),
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_success("Execute /3/0/4", &exec);
    assert_eq!(exec.code_name, "CHANGED");
    client
        .line("EXECUTE", |l| l.starts_with("EXECUTE /3/0/4"))
        .await;

    // Observe: the first answer carries the current value, then every
    // change the client makes arrives as a NOTIFY event.
    let observe = grpc
        .downlink(request(
            &endpoint,
            Operation::Observe(ObserveOperation {
                path: "/3303/0/5700".into(),
                content_format: None,
                ..Default::default()
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_success("Observe /3303/0/5700", &observe);
    assert_eq!(float_of(&observe.values, "/3303/0/5700"), Some(30.5));
    let token = observe
        .observation_token
        .clone()
        .expect("an accepted Observe has a token");
    // Each change is made only after the previous one was notified: a real
    // client may coalesce or reorder changes made in the same instant, which
    // is allowed and not what this test is about. The Observe's own answer
    // (30.5) may be published as a NOTIFY too and is skipped.
    let mut notified = Vec::new();
    for (text, value) in [("22.5", 22.5), ("23", 23.0)] {
        {
            use std::io::Write as _;
            let stdin = client.child.stdin.as_mut().expect("stdin is piped");
            writeln!(stdin, "SET /3303/0/5700 {text}").unwrap();
            stdin.flush().unwrap();
        }
        loop {
            let notify = events.values(&endpoint, ValueSource::Notify).await;
            assert_eq!(notify.observation_token.as_deref(), Some(token.as_str()));
            let got = float_of(&notify.values, "/3303/0/5700")
                .unwrap_or_else(|| panic!("no float in {notify:?}"));
            if got != 30.5 {
                notified.push(got);
            }
            if got == value {
                break;
            }
        }
    }
    assert_eq!(notified, [22.5, 23.0]);
    node.wait_stats("2 notifications", |s| s.notifications >= 2)
        .await;

    // SIGTERM: the client de-registers and exits cleanly.
    client.terminate();
    client.line("DEREGISTERED", |l| l == "DEREGISTERED").await;
    events
        .registration(&endpoint, RegistrationKind::Deregistered)
        .await;
    let status = client.wait().await;
    assert!(status.success(), "node client exited with {status}");
    let gone = grpc
        .get_registration(GetRegistrationRequest {
            endpoint: endpoint.clone(),
            tenant: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
    assert!(
        !client.seen.iter().any(|l| l.starts_with("ERROR")),
        "client reported errors: {:?}",
        client.seen
    );

    let stats = node.handle.stats();
    assert_eq!(stats.decode_failures, 0, "{stats:#?}");
    node.stop().await;
}

/// The untyped part of the value at `path`, if the server kept it untyped.
fn untyped_of(values: &[ResourceValue], path: &str) -> Option<UntypedValue> {
    values
        .iter()
        .find(|v| v.path == path)
        .and_then(|v| match v.value.as_ref()?.kind.as_ref()? {
            Kind::Untyped(u) => Some(u.clone()),
            _ => None,
        })
}

/// A vendor object the server has no model for (no DDF imported): its
/// values still reach the caller and the bus, as the raw bytes with a
/// guess, and the missing model is named. Before, the Read answered 2.05
/// with no value and the notification was dropped as undecodable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_lib_client_values_of_an_object_without_a_model_are_kept_with_a_guess() {
    ensure_node_modules();
    let node = TestNode::start_on(Backend::Redis, ModelRegistry::with_core_objects()).await;
    let mut events = node.events();
    let mut grpc = node.grpc().await;
    let endpoint = format!("node-lib-vendor-{}", uuid::Uuid::new_v4().simple());
    let mut client = spawn_client_with(
        node.handle.coap_addr.port(),
        &endpoint,
        r#"{"/33605/5": {"1": "1234", "2": "on"}}"#,
    );
    client
        .line("REGISTERED", |l| l.starts_with("REGISTERED "))
        .await;
    events
        .registration(&endpoint, RegistrationKind::Registered)
        .await;

    let read = grpc
        .downlink(request(
            &endpoint,
            // Text asked for: without a model the server would ask for TLV
            // (the resource might be multiple), which this client cannot parse.
            Operation::Read(ReadOperation {
                path: "/33605/5/1".into(),
                content_format: Some(0),
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_success("Read /33605/5/1", &read);
    client.line("READ", |l| l == "READ /33605/5/1 1234").await;
    let untyped = untyped_of(&read.values, "/33605/5/1")
        .unwrap_or_else(|| panic!("no untyped value in {read:?}"));
    assert_eq!(untyped.raw, b"1234");
    // The client sends text (without a Content-Format): read as the text/plain asked for.
    assert_eq!(untyped.content_format, 0);
    assert_eq!(
        untyped.guesses.first().and_then(|g| g.kind.clone()),
        Some(Kind::StringValue("1234".into()))
    );
    assert!(untyped.rendering.contains("guess"), "{untyped:?}");
    let missing = untyped
        .missing_model
        .clone()
        .expect("the missing model is named");
    assert_eq!(
        (
            missing.object_id,
            missing.version.as_str(),
            missing.resource_id
        ),
        (33605, "1.0", None)
    );
    assert_eq!(read.missing_models, [missing]);
    assert_eq!(read.decode_error, None);
    // The same value on the bus, as the READ event.
    let read_event = events.values(&endpoint, ValueSource::Read).await;
    assert_eq!(
        untyped_of(&read_event.values, "/33605/5/1").map(|u| u.raw),
        Some(b"1234".to_vec())
    );

    // Notifications of the object reach the bus untyped instead of being dropped.
    let observe = grpc
        .downlink(request(
            &endpoint,
            Operation::Observe(ObserveOperation {
                path: "/33605/5/2".into(),
                content_format: Some(0),
                ..Default::default()
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_success("Observe /33605/5/2", &observe);
    {
        use std::io::Write as _;
        let stdin = client.child.stdin.as_mut().expect("stdin is piped");
        writeln!(stdin, "SET /33605/5/2 off").unwrap();
        stdin.flush().unwrap();
    }
    loop {
        let notify = events.values(&endpoint, ValueSource::Notify).await;
        let raw = untyped_of(&notify.values, "/33605/5/2")
            .unwrap_or_else(|| panic!("no untyped value in {notify:?}"))
            .raw;
        if raw == b"off" {
            break;
        }
        assert_eq!(raw, b"on", "{notify:?}");
    }

    client.terminate();
    client.line("DEREGISTERED", |l| l == "DEREGISTERED").await;
    let _ = client.wait().await;
    let stats = node.handle.stats();
    assert_eq!(stats.decode_failures, 0, "{stats:#?}");
    node.stop().await;
}

/// The client's value changes, then a Read: the Read's answer comes after
/// any notification of the change (one socket, one event loop, the change
/// made before the Read was sent). Returns the datagrams the node received
/// meanwhile other than the Read's answer: the notifications.
async fn notifications_after_set(
    node: &TestNode,
    client: &mut LineChild,
    grpc: &mut lwm2m_proto::transport::v1::transport_client::TransportClient<
        tonic::transport::Channel,
    >,
    endpoint: &str,
    text: &str,
) -> u64 {
    let before = node.handle.stats().datagrams_received;
    {
        use std::io::Write as _;
        let stdin = client.child.stdin.as_mut().expect("stdin is piped");
        writeln!(stdin, "SET /3303/0/5700 {text}").unwrap();
        stdin.flush().unwrap();
    }
    let set = format!("SET /3303/0/5700 {text}");
    client.line(&set, |l| l == set).await;
    let read = grpc
        .downlink(request(
            endpoint,
            Operation::Read(ReadOperation {
                path: "/3/0/9".into(),
                content_format: None,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_success("Read /3/0/9", &read);
    node.handle.stats().datagrams_received - before - 1
}

/// One observation per path and RFC 7641 §3.6 with an independent client:
/// a second Observe of the observed path joins the first (the client gets a
/// Read, not a second Observe, so a change is notified once); after the
/// cancel, the notifications the client still sends find nobody holding
/// them: they are answered with RST and never published.
///
/// This client (node-coap 0.22 under lwm2m-node-lib) never answers the
/// proactive cancel (a GET with Observe = 1: it writes the answer to a
/// stream it does not end) and goes on notifying after the RST (it looks
/// the RST up under a message-id key it never set for later notifications),
/// so each further change still costs it a datagram; the server's part, RST
/// and nothing published, is what is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_lib_client_is_observed_once_and_refused_after_cancel() {
    ensure_node_modules();
    let node = TestNode::start_on(Backend::Redis, models_with_temperature()).await;
    let mut grpc = node.grpc().await;
    let endpoint = format!("node-lib-{}", uuid::Uuid::new_v4().simple());
    let mut client = spawn_client(node.handle.coap_addr.port(), &endpoint);
    client
        .line("REGISTERED", |l| l.starts_with("REGISTERED "))
        .await;

    let observe = || {
        request(
            &endpoint,
            Operation::Observe(ObserveOperation {
                path: "/3303/0/5700".into(),
                content_format: None,
                ..Default::default()
            }),
        )
    };
    let first = grpc.downlink(observe()).await.unwrap().into_inner();
    assert_success("Observe /3303/0/5700", &first);
    assert!(!first.observation_reused);
    let second = grpc.downlink(observe()).await.unwrap().into_inner();
    assert_success("second Observe /3303/0/5700", &second);
    assert!(second.observation_reused, "{second:?}");
    assert_eq!(second.observation_token, first.observation_token);
    assert_eq!(
        notifications_after_set(&node, &mut client, &mut grpc, &endpoint, "24.5").await,
        1,
        "one observation, one notification per change"
    );

    // The server forgets the observation and sends the proactive cancel
    // (GET with Observe = 1), which this client never answers (it writes
    // the answer to a stream it does not end): the call times out, the
    // observation is gone all the same.
    let mut cancel = request(
        &endpoint,
        Operation::CancelObserve(lwm2m_proto::transport::v1::CancelObserveOperation {
            path: "/3303/0/5700".into(),
        }),
    );
    cancel.timeout_ms = 2_000;
    match grpc.downlink(cancel).await {
        Ok(answer) => assert_success("Cancel-Observe /3303/0/5700", &answer.into_inner()),
        Err(status) => assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status}"),
    }
    let published = node.handle.stats().notifications;
    let mut refused = 0;
    for text in ["25", "25.5", "26"] {
        refused += notifications_after_set(&node, &mut client, &mut grpc, &endpoint, text).await;
    }
    assert!(
        refused > 0,
        "the client notified after the cancel (see above)"
    );
    assert_eq!(
        node.handle.stats().notifications,
        published,
        "notifications of a cancelled observation were published"
    );
    client.terminate();
    client.line("DEREGISTERED", |l| l == "DEREGISTERED").await;
    assert!(client.wait().await.success());
    node.stop().await;
}
