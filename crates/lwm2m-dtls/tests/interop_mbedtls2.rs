//! Interop with the Mbed TLS 2.28 that Debian ships (`libmbedtls-dev`), the
//! generation many deployed LwM2M clients are built on. The client is
//! `tests/peers/mbedtls2_client.c`, compiled here with `cc`; it talks to our
//! engine (the tokio UDP driver of `common/udp.rs`, CoAP on top) through a
//! relay that records every datagram, so the test can check what the client
//! really put on the wire.
//!
//! Mbed TLS 2.x writes its configured minimum version in the record header
//! of the first ClientHello: {254, 255} by default, {254, 0} when the
//! application lowers the minimum to "any" (avs_commons/Anjay do). Both
//! must handshake (RFC 6347 §4.1); a DTLS 1.0-only client must get a
//! protocol_version alert.
//!
//! If the library is missing the tests say so loudly and pass: nothing can
//! be checked without it. CI images install it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/udp.rs"]
mod udp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lwm2m_dtls::{CipherSuite, Event, HandshakeFailure, PeerCredential, ServerConfig};
use tokio::net::UdpSocket;

const IDENTITY: &str = "mbedtls2-dev";
const KEY: &[u8] = b"mbedtls2-psk-key";

/// Mbed TLS minor versions (its TLS numbering: 2 = DTLS 1.0, 3 = DTLS 1.2).
const DEFAULT_MINIMUM: i32 = -1;
const ANY_MINIMUM: i32 = 0;
const DTLS_1_0: i32 = 2;
const DTLS_1_2: i32 = 3;

/// The compiled client, or `None` (after a loud message) without the library.
fn client_binary() -> Option<&'static Path> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if !Path::new("/usr/include/mbedtls/ssl.h").exists() {
                eprintln!(
                    "\n*** SKIPPED: Mbed TLS 2.x headers not found (/usr/include/mbedtls/ssl.h); \
                     install Debian libmbedtls-dev to run the Mbed TLS 2.28 interop tests ***\n"
                );
                return None;
            }
            let source =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/mbedtls2_client.c");
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mbedtls2_client");
            let status = std::process::Command::new(std::env::var("CC").unwrap_or("cc".into()))
                .arg("-O1")
                .arg("-o")
                .arg(&out)
                .arg(&source)
                .args(["-lmbedtls", "-lmbedx509", "-lmbedcrypto"])
                .status()
                .expect("run cc");
            assert!(status.success(), "compiling {source:?} failed");
            Some(out)
        })
        .as_deref()
}

struct Outcome {
    /// What the client printed (SUITE ..., PAYLOAD ..., HANDSHAKE-FAILED ...).
    stdout: String,
    /// Datagrams client → server, in order.
    up: Vec<Vec<u8>>,
    /// Datagrams server → client, in order.
    down: Vec<Vec<u8>>,
    events: Vec<Event>,
}

/// Forwards datagrams between the client and the server, recording both ways.
async fn relay(
    client_side: UdpSocket,
    server: SocketAddr,
    up: Arc<Mutex<Vec<Vec<u8>>>>,
    down: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let server_side = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    server_side.connect(server).await.unwrap();
    let mut client: Option<SocketAddr> = None;
    let (mut a, mut b) = (vec![0u8; 4096], vec![0u8; 4096]);
    loop {
        tokio::select! {
            r = client_side.recv_from(&mut a) => {
                let (n, from) = r.unwrap();
                client = Some(from);
                up.lock().unwrap().push(a[..n].to_vec());
                let _ = server_side.send(&a[..n]).await;
            }
            r = server_side.recv(&mut b) => {
                let Ok(n) = r else { continue };
                down.lock().unwrap().push(b[..n].to_vec());
                if let Some(c) = client {
                    let _ = client_side.send_to(&b[..n], c).await;
                }
            }
        }
    }
}

async fn run_client(
    config: ServerConfig,
    suites: &[u16],
    min_minor: i32,
    max_minor: i32,
) -> Option<Outcome> {
    let binary = client_binary()?;
    let keys = HashMap::from([(IDENTITY.as_bytes().to_vec(), KEY.to_vec())]);
    let mut server = udp::start(config, keys).await;
    let client_side = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = client_side.local_addr().unwrap();
    let up = Arc::new(Mutex::new(Vec::new()));
    let down = Arc::new(Mutex::new(Vec::new()));
    let relay = tokio::spawn(relay(client_side, server.addr, up.clone(), down.clone()));
    let suites = suites
        .iter()
        .map(|s| format!("{s:04x}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = tokio::process::Command::new(binary);
    cmd.args([
        "127.0.0.1".to_string(),
        relay_addr.port().to_string(),
        IDENTITY.to_string(),
        hex::encode(KEY),
        suites,
        min_minor.to_string(),
        max_minor.to_string(),
    ]);
    cmd.kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("Mbed TLS 2 client hung")
        .unwrap();
    let mut events = Vec::new();
    while let Ok(Some(e)) =
        tokio::time::timeout(Duration::from_millis(300), server.events.recv()).await
    {
        events.push(e);
    }
    relay.abort();
    let _ = server.stop().await;
    let up = up.lock().unwrap().clone();
    let down = down.lock().unwrap().clone();
    Some(Outcome {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        up,
        down,
        events,
    })
}

fn completed_suite(events: &[Event]) -> Option<(CipherSuite, PeerCredential)> {
    events.iter().find_map(|e| match e {
        Event::HandshakeComplete {
            suite, credential, ..
        } => Some((*suite, credential.clone())),
        _ => None,
    })
}

/// Handshake, a CoAP GET answered over the session, and the suite we chose.
async fn round_trip(suite: u16, min_minor: i32, expect: CipherSuite) -> Option<Outcome> {
    // Every suite, CBC included (the default leaves CBC out).
    let config = ServerConfig {
        cipher_suites: CipherSuite::ALL.to_vec(),
        ..ServerConfig::default()
    };
    let out = run_client(config, &[suite], min_minor, DTLS_1_2).await?;
    assert!(
        out.stdout.contains("PAYLOAD hello over dtls"),
        "client output: {}\nserver events: {:?}",
        out.stdout,
        out.events
    );
    assert_eq!(
        completed_suite(&out.events),
        Some((
            expect,
            PeerCredential::Psk {
                identity: IDENTITY.as_bytes().to_vec()
            }
        ))
    );
    // Everything we sent was in DTLS 1.2 records.
    for d in &out.down {
        assert_eq!(&d[1..3], &[0xfe, 0xfd], "{d:02x?}");
    }
    Some(out)
}

#[tokio::test]
async fn mbedtls2_client_hello_in_a_254_0_record_handshakes() {
    let Some(out) = round_trip(0xC0A8, ANY_MINIMUM, CipherSuite::PskAes128Ccm8).await else {
        return;
    };
    // The client really sent {254, 0} on its first record, and offered 1.2.
    let first = &out.up[0];
    assert_eq!(first[0], 22, "a handshake record");
    assert_eq!(&first[1..3], &[0xfe, 0x00], "record version");
    assert_eq!(&first[25..27], &[0xfe, 0xfd], "client_version");
}

#[tokio::test]
async fn mbedtls2_client_hello_in_a_dtls_1_0_record_handshakes() {
    let Some(out) = round_trip(0xC0A8, DEFAULT_MINIMUM, CipherSuite::PskAes128Ccm8).await else {
        return;
    };
    assert_eq!(&out.up[0][1..3], &[0xfe, 0xff], "Mbed TLS 2's default");
}

#[tokio::test]
async fn mbedtls2_dtls_1_0_only_client_gets_protocol_version() {
    let Some(out) = run_client(ServerConfig::default(), &[0xC0A8], ANY_MINIMUM, DTLS_1_0).await
    else {
        return;
    };
    assert!(out.stdout.contains("HANDSHAKE-FAILED"), "{}", out.stdout);
    assert_eq!(&out.up[0][25..27], &[0xfe, 0xff], "client_version DTLS 1.0");
    // A fatal protocol_version alert (70) in a record the client can read.
    let alert = out.down.first().expect("an alert, never silence");
    assert_eq!(alert[0], 21);
    assert_eq!(&alert[1..3], &[0xfe, 0xff]);
    assert_eq!(&alert[13..], &[2, 70]);
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::HandshakeFailed {
            cause: HandshakeFailure::UnsupportedVersion,
            ..
        }
    )));
}

/// Each suite added for real clients, offered alone by Mbed TLS 2.28.
#[tokio::test]
async fn mbedtls2_psk_aes_128_ccm_only() {
    round_trip(0xC0A4, DEFAULT_MINIMUM, CipherSuite::PskAes128Ccm).await;
}

#[tokio::test]
async fn mbedtls2_psk_aes_128_cbc_sha_only() {
    round_trip(0x008C, DEFAULT_MINIMUM, CipherSuite::PskAes128CbcSha).await;
}

#[tokio::test]
async fn mbedtls2_ecdhe_psk_aes_128_cbc_sha256_only() {
    round_trip(
        0xC037,
        DEFAULT_MINIMUM,
        CipherSuite::EcdhePskAes128CbcSha256,
    )
    .await;
}

/// The server's preference order is its own (`ServerConfig::cipher_suites`):
/// with the client offering three suites, the first one we list wins.
#[tokio::test]
async fn mbedtls2_server_preference_order_is_configurable() {
    for (order, expect) in [
        (
            vec![CipherSuite::PskAes128CbcSha, CipherSuite::PskAes128Ccm],
            CipherSuite::PskAes128CbcSha,
        ),
        (
            vec![CipherSuite::PskAes128Ccm, CipherSuite::PskAes128CbcSha],
            CipherSuite::PskAes128Ccm,
        ),
    ] {
        let config = ServerConfig {
            cipher_suites: order,
            ..ServerConfig::default()
        };
        let Some(out) =
            run_client(config, &[0xC0A8, 0xC0A4, 0x008C], DEFAULT_MINIMUM, DTLS_1_2).await
        else {
            return;
        };
        assert!(
            out.stdout.contains("PAYLOAD hello over dtls"),
            "{}",
            out.stdout
        );
        assert_eq!(completed_suite(&out.events).map(|c| c.0), Some(expect));
    }
}
