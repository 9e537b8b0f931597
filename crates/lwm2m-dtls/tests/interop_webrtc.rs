//! Interop with an independent DTLS implementation: `webrtc-dtls` 0.12 as
//! the client (PSK, and X.509 with ECDHE_ECDSA), our engine as the server
//! behind a tokio UDP driver on 127.0.0.1, CoAP (`lwm2m-coap`) on top.
//! Timeouts only guard against hangs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/pki.rs"]
mod pki;
#[path = "common/udp.rs"]
mod udp;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lwm2m_dtls::{CertificateConfig, CipherSuite, Event, PeerCredential, ServerConfig};
use tokio::net::UdpSocket;
use webrtc_dtls::cipher_suite::CipherSuiteId;
use webrtc_dtls::config::{Config, ExtendedMasterSecretType};
use webrtc_dtls::conn::DTLSConn;
use webrtc_util::Conn;

const KEY: &[u8] = &[
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
];
/// CON GET /hello, message id 0x1234, no token.
const GET_HELLO: &[u8] = &[0x40, 0x01, 0x12, 0x34, 0xB5, b'h', b'e', b'l', b'l', b'o'];

async fn webrtc_round_trip(
    suite: CipherSuiteId,
    ems: ExtendedMasterSecretType,
    expect: CipherSuite,
) {
    let keys = HashMap::from([(b"webrtc-dev".to_vec(), KEY.to_vec())]);
    // A client without extended master secret is served only when allowed.
    let server_config = ServerConfig {
        require_extended_master_secret: !matches!(ems, ExtendedMasterSecretType::Disable),
        ..ServerConfig::default()
    };
    let mut server = udp::start(server_config, keys).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(server.addr).await.unwrap();
    let config = Config {
        psk: Some(Arc::new(|_hint: &[u8]| Ok(KEY.to_vec()))),
        psk_identity_hint: Some(b"webrtc-dev".to_vec()),
        cipher_suites: vec![suite],
        extended_master_secret: ems,
        ..Config::default()
    };
    let conn: Arc<dyn Conn + Send + Sync> = Arc::new(socket);
    let dtls = tokio::time::timeout(
        Duration::from_secs(20),
        DTLSConn::new(conn, config, true, None),
    )
    .await
    .expect("handshake hung")
    .expect("handshake failed");
    dtls.write(GET_HELLO, None).await.unwrap();
    let mut buf = vec![0u8; 1500];
    let n = tokio::time::timeout(Duration::from_secs(20), dtls.read(&mut buf, None))
        .await
        .expect("no response")
        .unwrap();
    let response = &buf[..n];
    // ACK (type 2), 2.05, same message id, payload after 0xFF.
    assert_eq!(response[0] >> 4 & 0x3, 2, "{response:02x?}");
    assert_eq!(response[1], 0x45);
    assert_eq!(&response[2..4], &[0x12, 0x34]);
    assert!(
        response.ends_with(b"\xffhello over dtls"),
        "{response:02x?}"
    );
    dtls.close().await.unwrap();

    let mut complete = None;
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !closed {
        match tokio::time::timeout_at(deadline, server.events.recv()).await {
            Ok(Some(Event::HandshakeComplete {
                suite, credential, ..
            })) => complete = Some((suite, credential)),
            Ok(Some(Event::Closed { .. })) => closed = true,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    assert_eq!(
        complete,
        Some((
            expect,
            PeerCredential::Psk {
                identity: b"webrtc-dev".to_vec()
            }
        ))
    );
    assert!(closed, "close_notify from webrtc-dtls closes the session");
    let srv = server.stop().await;
    assert_eq!(srv.stats().handshakes_completed, 1);
    assert_eq!(srv.stats().hello_verify_requests, 1);
}

#[tokio::test]
async fn webrtc_dtls_psk_ccm8_with_ems() {
    webrtc_round_trip(
        CipherSuiteId::Tls_Psk_With_Aes_128_Ccm_8,
        ExtendedMasterSecretType::Require,
        CipherSuite::PskAes128Ccm8,
    )
    .await;
}

#[tokio::test]
async fn webrtc_dtls_psk_gcm_with_ems() {
    webrtc_round_trip(
        CipherSuiteId::Tls_Psk_With_Aes_128_Gcm_Sha256,
        ExtendedMasterSecretType::Require,
        CipherSuite::PskAes128GcmSha256,
    )
    .await;
}

/// TLS_PSK_WITH_AES_128_CCM (16-byte tag), offered alone.
#[tokio::test]
async fn webrtc_dtls_psk_ccm_with_ems() {
    webrtc_round_trip(
        CipherSuiteId::Tls_Psk_With_Aes_128_Ccm,
        ExtendedMasterSecretType::Require,
        CipherSuite::PskAes128Ccm,
    )
    .await;
}

#[tokio::test]
async fn webrtc_dtls_psk_ccm8_without_ems() {
    webrtc_round_trip(
        CipherSuiteId::Tls_Psk_With_Aes_128_Ccm_8,
        ExtendedMasterSecretType::Disable,
        CipherSuite::PskAes128Ccm8,
    )
    .await;
}

/// A client that sends a ClientHello (with a valid cookie) and then goes
/// silent must not delay another client's handshake.
#[tokio::test]
async fn half_open_udp_client_does_not_stall_webrtc_client() {
    let keys = HashMap::from([(b"webrtc-dev".to_vec(), KEY.to_vec())]);
    let server = udp::start(ServerConfig::default(), keys).await;
    // The stuck client: our own client sends ClientHello, gets the cookie,
    // sends the second ClientHello and then stops reading.
    let stuck = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stuck.connect(server.addr).await.unwrap();
    let mut client = lwm2m_dtls::DtlsClient::new(
        lwm2m_dtls::ClientConfig {
            identity: b"stuck".to_vec(),
            psk: KEY.to_vec(),
            ..Default::default()
        },
        Box::new(lwm2m_dtls::OsRng),
        std::time::Instant::now(),
    );
    let hello = client.poll_transmit().unwrap();
    stuck.send(&hello).await.unwrap();
    let mut buf = vec![0u8; 1500];
    let n = tokio::time::timeout(Duration::from_secs(5), stuck.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    client.handle_datagram(std::time::Instant::now(), &buf[..n]);
    let hello2 = client.poll_transmit().unwrap();
    stuck.send(&hello2).await.unwrap();
    // Now the independent client connects while the first handshake hangs.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(server.addr).await.unwrap();
    let config = Config {
        psk: Some(Arc::new(|_hint: &[u8]| Ok(KEY.to_vec()))),
        psk_identity_hint: Some(b"webrtc-dev".to_vec()),
        cipher_suites: vec![CipherSuiteId::Tls_Psk_With_Aes_128_Ccm_8],
        ..Config::default()
    };
    let conn: Arc<dyn Conn + Send + Sync> = Arc::new(socket);
    let dtls = tokio::time::timeout(
        Duration::from_secs(20),
        DTLSConn::new(conn, config, true, None),
    )
    .await
    .expect("second client stalled behind the half-open one")
    .unwrap();
    dtls.close().await.unwrap();
    let srv = server.stop().await;
    assert_eq!(srv.stats().handshakes_started, 2);
    assert_eq!(srv.stats().handshakes_completed, 1);
}

/// `webrtc-dtls` with an X.509 ECDSA P-256 client certificate from a test
/// CA: it checks our ServerKeyExchange signature with our leaf key (the
/// chain itself is pinned by the callback rather than by a root store), we
/// validate its chain against the CA and expose its CN.
async fn webrtc_x509(suite: CipherSuiteId, expect: CipherSuite) {
    use webrtc_dtls::config::ClientAuthType;
    use webrtc_dtls::crypto::{Certificate, CryptoPrivateKey};

    let ca = pki::Ca::new("webrtc interop CA");
    let server_leaf = ca.leaf("127.0.0.1", false, None);
    let device = ca.leaf("urn:dev:webrtc", true, None);
    let config = ServerConfig {
        certificate: Some(CertificateConfig {
            private_key: server_leaf.key.private(),
            certificate_chain: vec![server_leaf.der()],
            accept_raw_public_keys: false,
            trust_anchors: vec![ca.der()],
            accept_expired_certificates: false,
        }),
        ..ServerConfig::default()
    };
    let mut server = udp::start(config, HashMap::new()).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(server.addr).await.unwrap();
    let expected_server = server_leaf.der();
    let client_config = Config {
        certificates: vec![Certificate {
            certificate: vec![rustls_pki_types::CertificateDer::from(device.der())],
            private_key: CryptoPrivateKey::from_key_pair(&device.key.pair).unwrap(),
        }],
        cipher_suites: vec![suite],
        extended_master_secret: ExtendedMasterSecretType::Require,
        client_auth: ClientAuthType::NoClientCert,
        insecure_skip_verify: true,
        verify_peer_certificate: Some(Arc::new(move |certs: &[Vec<u8>], _| {
            if certs.first() == Some(&expected_server) {
                Ok(())
            } else {
                Err(webrtc_dtls::Error::ErrNoCertificates)
            }
        })),
        server_name: "127.0.0.1".into(),
        ..Config::default()
    };
    let conn: Arc<dyn Conn + Send + Sync> = Arc::new(socket);
    let dtls = tokio::time::timeout(
        Duration::from_secs(20),
        DTLSConn::new(conn, client_config, true, None),
    )
    .await
    .expect("handshake hung")
    .expect("handshake failed");
    dtls.write(GET_HELLO, None).await.unwrap();
    let mut buf = vec![0u8; 1500];
    let n = tokio::time::timeout(Duration::from_secs(20), dtls.read(&mut buf, None))
        .await
        .expect("no response")
        .unwrap();
    assert!(
        buf[..n].ends_with(b"\xffhello over dtls"),
        "{:02x?}",
        &buf[..n]
    );
    dtls.close().await.unwrap();
    let mut complete = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while complete.is_none() {
        match tokio::time::timeout_at(deadline, server.events.recv()).await {
            Ok(Some(Event::HandshakeComplete {
                suite, credential, ..
            })) => complete = Some((suite, credential)),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    assert_eq!(
        complete,
        Some((
            expect,
            PeerCredential::X509 {
                subject_cn: Some("urn:dev:webrtc".into()),
                chain_der: vec![device.der()],
            }
        ))
    );
    let _ = server.stop().await;
}

#[tokio::test]
async fn webrtc_dtls_x509_ecdhe_ecdsa_ccm8() {
    webrtc_x509(
        CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Ccm_8,
        CipherSuite::EcdheEcdsaAes128Ccm8,
    )
    .await;
}

#[tokio::test]
async fn webrtc_dtls_x509_ecdhe_ecdsa_gcm() {
    webrtc_x509(
        CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256,
        CipherSuite::EcdheEcdsaAes128GcmSha256,
    )
    .await;
}

/// TLS_ECDHE_ECDSA_WITH_AES_128_CCM (16-byte tag), offered alone.
#[tokio::test]
async fn webrtc_dtls_x509_ecdhe_ecdsa_ccm() {
    webrtc_x509(
        CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Ccm,
        CipherSuite::EcdheEcdsaAes128Ccm,
    )
    .await;
}
