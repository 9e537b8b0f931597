//! The registration interface as seen by an independent CoAP stack: libcoap's
//! `coap-client-notls` (Debian `libcoap3-bin`) forges Register and Update
//! requests by hand, and a bare UDP socket throws malformed datagrams at the
//! node, which must count them and keep serving.
//!
//! `coap-client-notls -v 6` logs every PDU it receives on stdout as
//! `v:1 t:ACK c:2.01 i:1a2b {..} [ Location-Path:rd, Location-Path:... ]`;
//! error classes (4.xx/5.xx) are also printed alone on stderr (`4.04`).
//! The tests assert on the `c:<code>` of the logged response.

// The helpers of this test binary may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use common::{require_program, Backend, TestNode};
use lwm2m_proto::events::v1::RegistrationKind;
use lwm2m_proto::transport::v1::GetRegistrationRequest;

const COAP_CLIENT: &str = "coap-client-notls";

/// What one `coap-client-notls` run did.
#[derive(Debug)]
struct CoapRun {
    exit_code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl CoapRun {
    /// The response code of the logged response PDU, e.g. "2.01".
    fn code(&self) -> Option<String> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .find_map(|l| {
                let at = l.find(" c:")?;
                let code = l[at + 3..].split_whitespace().next()?;
                // Requests log their method ("c:POST"), responses "c:2.01".
                code.contains('.').then(|| code.to_owned())
            })
    }

    /// The Location-Path options of the logged response.
    fn location(&self) -> String {
        let mut location = String::new();
        for part in self.stdout.split("Location-Path:").skip(1) {
            let segment: String = part
                .chars()
                .take_while(|c| !matches!(c, ',' | ' ' | ']'))
                .collect();
            location.push('/');
            location.push_str(&segment);
        }
        location
    }
}

/// Runs `coap-client-notls -v 6 -B 10 <args>` off the async runtime.
async fn coap_client(args: &[&str]) -> CoapRun {
    require_program(COAP_CLIENT, "apt-get install libcoap3-bin");
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(COAP_CLIENT)
            .args(["-v", "6", "-B", "10"])
            .args(&args)
            .output()
            .expect("run coap-client-notls");
        CoapRun {
            exit_code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn uri(node: &TestNode, path_and_query: &str) -> String {
    format!(
        "coap://127.0.0.1:{}{path_and_query}",
        node.handle.coap_addr.port()
    )
}

async fn register(node: &TestNode, query: &str) -> CoapRun {
    coap_client(&[
        "-m",
        "post",
        "-t",
        "40",
        "-e",
        "</1/0>,</3/0>",
        &uri(node, &format!("/rd?{query}")),
    ])
    .await
}

async fn registration_exists(node: &TestNode, endpoint: &str) -> bool {
    let mut grpc = node.grpc().await;
    match grpc
        .get_registration(GetRegistrationRequest {
            endpoint: endpoint.into(),
            tenant: String::new(),
        })
        .await
    {
        Ok(_) => true,
        Err(status) if status.code() == tonic::Code::NotFound => false,
        Err(status) => panic!("GetRegistration failed: {status}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libcoap_register_creates_a_registration() {
    let node = TestNode::start_on(
        Backend::Memory,
        lwm2m_core::ModelRegistry::with_core_objects(),
    )
    .await;
    let mut events = node.events();

    let run = register(&node, "ep=raw-1&lt=60&b=U").await;
    assert_eq!(run.code().as_deref(), Some("2.01"), "{run:#?}");
    assert_eq!(run.exit_code, Some(0), "{run:#?}");
    let (event, body) = events
        .registration("raw-1", RegistrationKind::Registered)
        .await;
    assert_eq!(run.location(), format!("/rd/{}", event.registration_id));
    assert_eq!(body.lifetime_s, 60);
    assert_eq!(body.binding, "U");

    let mut grpc = node.grpc().await;
    let registration = grpc
        .get_registration(GetRegistrationRequest {
            endpoint: "raw-1".into(),
            tenant: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(registration.registration_id, event.registration_id);
    assert_eq!(registration.lifetime_s, 60);
    let objects: Vec<(u32, Vec<u32>)> = registration
        .objects
        .iter()
        .map(|o| (o.id, o.instances.clone()))
        .collect();
    assert_eq!(objects, [(1, vec![0]), (3, vec![0])]);

    // An Update of the location it got is accepted (2.04).
    let update = coap_client(&[
        "-m",
        "post",
        &uri(&node, &format!("{}?lt=120", run.location())),
    ])
    .await;
    assert_eq!(update.code().as_deref(), Some("2.04"), "{update:#?}");
    let (_, updated) = events
        .registration("raw-1", RegistrationKind::Updated)
        .await;
    assert_eq!(updated.lifetime_s, 120);

    // De-register (2.02).
    let delete = coap_client(&["-m", "delete", &uri(&node, &run.location())]).await;
    assert_eq!(delete.code().as_deref(), Some("2.02"), "{delete:#?}");
    events
        .registration("raw-1", RegistrationKind::Deregistered)
        .await;
    assert!(!registration_exists(&node, "raw-1").await);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libcoap_bad_requests_get_the_right_error_codes() {
    let node = TestNode::start_on(
        Backend::Memory,
        lwm2m_core::ModelRegistry::with_core_objects(),
    )
    .await;

    // No endpoint name: 4.00 Bad Request.
    let no_ep = register(&node, "lt=60&b=U").await;
    assert_eq!(no_ep.code().as_deref(), Some("4.00"), "{no_ep:#?}");
    assert!(no_ep.stderr.contains("4.00"), "{no_ep:#?}");

    // An LwM2M version the server does not speak: 4.12 Precondition Failed.
    let bad_version = register(&node, "ep=raw-v&lt=60&lwm2m=9.9").await;
    assert_eq!(
        bad_version.code().as_deref(),
        Some("4.12"),
        "{bad_version:#?}"
    );
    assert!(!registration_exists(&node, "raw-v").await);

    // Update of a registration that does not exist: 4.04 Not Found.
    let unknown = coap_client(&["-m", "post", &uri(&node, "/rd/nope?lt=60")]).await;
    assert_eq!(unknown.code().as_deref(), Some("4.04"), "{unknown:#?}");
    assert!(unknown.stderr.contains("4.04"), "{unknown:#?}");

    // A resource the server does not have: 4.04 (or 4.05 Method Not Allowed).
    let get = coap_client(&["-m", "get", &uri(&node, "/unknown")]).await;
    let code = get.code();
    assert!(matches!(code.as_deref(), Some("4.04" | "4.05")), "{get:#?}");

    let stats = node
        .wait_stats("the four refused requests", |s| {
            // The 4.04 of an Update of an unknown registration counts as a
            // bad request; the 4.04 of an unknown path as not found.
            s.bad_requests >= 2
                && s.not_found + s.method_not_allowed >= 1
                && s.bad_requests + s.not_found + s.method_not_allowed >= 4
        })
        .await;
    assert_eq!(stats.registrations, 0, "{stats:#?}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_datagrams_are_counted_and_the_node_keeps_serving() {
    let node = TestNode::start_on(
        Backend::Memory,
        lwm2m_core::ModelRegistry::with_core_objects(),
    )
    .await;
    let target: SocketAddr = node.handle.coap_addr;
    let before = node.handle.stats();

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    // Random bytes (a fixed pseudo-random sequence: reproducible). The first
    // byte is 0x5f: version 1, NON, TKL 15 (a reserved token length) - a
    // format error whatever follows.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut random: Vec<u8> = (0..200)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    random[0] = 0x5f;
    socket.send_to(&random, target).unwrap();
    // A truncated header: 2 of the 4 fixed bytes.
    socket.send_to(&[0x40, 0x01], target).unwrap();
    // CoAP version 2 (0b10 in the top bits), otherwise a valid CON GET.
    socket
        .send_to(&[0x80, 0x01, 0x12, 0x34, 0xb2, b'r', b'd'], target)
        .unwrap();
    // 64 KiB, the most one IPv4 UDP datagram carries (65,507 bytes).
    let mut oversized = vec![0u8; 65_507];
    oversized[..4].copy_from_slice(&[0x40, 0x02, 0x12, 0x35]);
    socket.send_to(&oversized, target).unwrap();

    let stats = node
        .wait_stats("the four bad datagrams", |s| {
            s.datagrams_received >= before.datagrams_received + 4
                && s.coap.malformed >= before.coap.malformed + 2
                && s.coap.wrong_version > before.coap.wrong_version
                && s.coap.oversized > before.coap.oversized
        })
        .await;
    assert_eq!(stats.registrations, 0, "{stats:#?}");
    // None of them is answered with anything but (at most) a Reset.
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        assert!(n >= 4, "short answer {:?}", &buf[..n]);
        assert_eq!(
            buf[0] >> 4 & 0b11,
            3,
            "only RST may answer garbage: {:?}",
            &buf[..n]
        );
    }

    // The node still serves a real client.
    let run = register(&node, "ep=raw-after-garbage&lt=60&b=U").await;
    assert_eq!(run.code().as_deref(), Some("2.01"), "{run:#?}");
    assert!(registration_exists(&node, "raw-after-garbage").await);
    node.stop().await;
}
