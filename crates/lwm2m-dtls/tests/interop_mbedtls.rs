//! Connection ID interop with an independent implementation: Mbed TLS 3.6
//! (RFC 9146 mode, through the `tests-peer` FFI crate) as the client, our
//! engine behind the tokio UDP driver on 127.0.0.1 as the server, CoAP on
//! top. The client completes one handshake, then its datagrams leave from a
//! new socket (a new source port, as after a NAT rebinding): the session
//! follows it (`PeerMoved`) and the reply reaches the new port, with no
//! second handshake.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/udp.rs"]
mod udp;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lwm2m_dtls::{CipherSuite, Event, PeerCredential, ServerConfig};
use lwm2m_dtls_mbedtls_peer::{MbedtlsClient, PeerConfig};
use tokio::net::UdpSocket;

const IDENTITY: &[u8] = b"mbedtls-dev";
const KEY: &[u8] = b"mbedtls-psk-0123";

/// CON GET /hello with message id `mid`, no token.
fn get_hello(mid: u16) -> Vec<u8> {
    let [a, b] = mid.to_be_bytes();
    vec![0x40, 0x01, a, b, 0xB5, b'h', b'e', b'l', b'l', b'o']
}

/// Moves datagrams between the Mbed TLS client and `socket` until `done`
/// holds (or 20 s pass), stepping the client on a millisecond clock.
async fn pump(
    client: &mut MbedtlsClient,
    socket: &UdpSocket,
    start: Instant,
    mut done: impl FnMut(&mut MbedtlsClient) -> bool,
) {
    let mut buf = vec![0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now_ms = u64::try_from(start.elapsed().as_millis()).unwrap();
        client.step(now_ms).unwrap();
        while let Some(d) = client.poll_transmit() {
            socket.send(&d).await.unwrap();
        }
        if done(client) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out: {client:?}");
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(50), socket.recv(&mut buf)).await
        {
            let n = r.unwrap();
            client.handle_datagram(&buf[..n]);
        }
    }
}

async fn connected_socket(server: std::net::SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.connect(server).await.unwrap();
    s
}

async fn cid_survives_port_change(suite: u16, expect: CipherSuite) {
    let keys = HashMap::from([(IDENTITY.to_vec(), KEY.to_vec())]);
    let config = ServerConfig {
        node_id: 0x5C,
        // CBC suites are tested too; the default leaves them out.
        cipher_suites: CipherSuite::ALL.to_vec(),
        ..ServerConfig::default()
    };
    let mut server = udp::start(config, keys).await;
    let mut client = MbedtlsClient::new(&PeerConfig {
        identity: IDENTITY.to_vec(),
        psk: KEY.to_vec(),
        ciphersuites: vec![suite],
        // Mbed TLS asks for no CID in our records to it; it uses ours.
        connection_id: Some(Vec::new()),
        mtu: 1200,
    })
    .unwrap();
    let start = Instant::now();
    let first = connected_socket(server.addr).await;
    let first_addr = first.local_addr().unwrap();
    pump(&mut client, &first, start, |c| c.server_cid().is_some()).await;
    let server_cid = client.server_cid().unwrap();
    assert_eq!(server_cid.len(), 8, "our default CID length");
    assert_eq!(server_cid[0], 0x5C, "node id in the first CID byte");

    client.send(&get_hello(0x1001)).unwrap();
    pump(&mut client, &first, start, |c| {
        c.recv()
            .is_some_and(|r| r.ends_with(b"\xffhello over dtls"))
    })
    .await;

    // NAT rebinding: the same DTLS session, datagrams from a new port.
    let second = connected_socket(server.addr).await;
    let second_addr = second.local_addr().unwrap();
    assert_ne!(first_addr, second_addr);
    client.send(&get_hello(0x1002)).unwrap();
    pump(&mut client, &second, start, |c| {
        c.recv()
            .is_some_and(|r| r.ends_with(b"\xffhello over dtls"))
    })
    .await;

    client.close_notify();
    while let Some(d) = client.poll_transmit() {
        second.send(&d).await.unwrap();
    }
    let mut events = Vec::new();
    while let Ok(Some(e)) =
        tokio::time::timeout(Duration::from_millis(500), server.events.recv()).await
    {
        events.push(e);
    }
    let srv = server.stop().await;
    let (session, cid, credential, suite) = events
        .iter()
        .find_map(|e| match e {
            Event::HandshakeComplete {
                session,
                cid,
                credential,
                suite,
                ..
            } => Some((*session, cid.clone(), credential.clone(), *suite)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(suite, expect);
    assert_eq!(cid, Some(server_cid));
    assert_eq!(
        credential,
        PeerCredential::Psk {
            identity: IDENTITY.to_vec()
        }
    );
    assert!(
        events.contains(&Event::PeerMoved {
            session,
            old: first_addr,
            new: second_addr
        }),
        "{events:?}"
    );
    let stats = srv.stats();
    assert_eq!(stats.handshakes_started, 1, "no second handshake");
    assert_eq!(stats.handshakes_completed, 1);
    assert_eq!(stats.peers_moved, 1);
}

#[tokio::test]
async fn mbedtls_psk_ccm8_cid_session_survives_a_port_change() {
    cid_survives_port_change(0xC0A8, CipherSuite::PskAes128Ccm8).await;
}

#[tokio::test]
async fn mbedtls_psk_gcm_cid_session_survives_a_port_change() {
    cid_survives_port_change(0x00A8, CipherSuite::PskAes128GcmSha256).await;
}

#[tokio::test]
async fn mbedtls_psk_cbc_cid_session_survives_a_port_change() {
    cid_survives_port_change(0x00AE, CipherSuite::PskAes128CbcSha256).await;
}

/// The suites added for real clients, offered alone by Mbed TLS 3.6.
#[tokio::test]
async fn mbedtls_psk_ccm_cid_session_survives_a_port_change() {
    cid_survives_port_change(0xC0A4, CipherSuite::PskAes128Ccm).await;
}

#[tokio::test]
async fn mbedtls_psk_cbc_sha1_cid_session_survives_a_port_change() {
    cid_survives_port_change(0x008C, CipherSuite::PskAes128CbcSha).await;
}

#[tokio::test]
async fn mbedtls_ecdhe_psk_cbc_cid_session_survives_a_port_change() {
    cid_survives_port_change(0xC037, CipherSuite::EcdhePskAes128CbcSha256).await;
}
