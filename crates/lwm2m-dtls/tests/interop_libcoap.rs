//! Interop with libcoap's command-line clients (Debian `libcoap3-bin`,
//! installed by `scripts/setup.sh`): `coap-client-gnutls` and
//! `coap-client-openssl` do a handshake with our engine over real UDP and
//! GET /hello through `lwm2m-coap` on top, with PSK, raw public keys
//! (GnuTLS only: `-M`) and X.509 (`-c cert -j key -C ca`). A missing binary
//! fails the test with what to install; it is never skipped. Keys and
//! certificates are made fresh by `rcgen` in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/pki.rs"]
mod pki;
#[path = "common/udp.rs"]
mod udp;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lwm2m_dtls::{CertificateConfig, CipherSuite, Event, PeerCredential, ServerConfig};

const IDENTITY: &str = "libcoap-dev";
const KEY: &str = "secretPSK-0123456";

fn psk_args() -> Vec<String> {
    ["-k", KEY, "-u", IDENTITY].map(String::from).to_vec()
}

/// Runs `binary -m get -B 15 <args> coaps://…/hello` against our server;
/// returns its stdout and every server event.
async fn libcoap_get(
    binary: &'static str,
    config: ServerConfig,
    args: Vec<String>,
) -> (String, Vec<Event>) {
    assert!(
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {binary} >/dev/null"))
            .status()
            .unwrap()
            .success(),
        "{binary} is missing: apt-get install libcoap3-bin (scripts/setup.sh does)"
    );
    let keys = HashMap::from([(IDENTITY.as_bytes().to_vec(), KEY.as_bytes().to_vec())]);
    let mut server = udp::start(config, keys).await;
    let uri = format!("coaps://127.0.0.1:{}/hello", server.addr.port());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args(["20", binary, "-m", "get", "-B", "15"])
            .args(&args)
            .arg(&uri)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let mut events = Vec::new();
    while let Ok(Some(e)) =
        tokio::time::timeout(Duration::from_millis(500), server.events.recv()).await
    {
        events.push(e);
    }
    let _ = server.stop().await;
    assert!(
        output.status.success() && stdout.contains("hello over dtls"),
        "{binary} failed: {stdout} {stderr} {events:?}"
    );
    (stdout, events)
}

fn completed(events: &[Event]) -> (CipherSuite, PeerCredential) {
    events
        .iter()
        .find_map(|e| match e {
            Event::HandshakeComplete {
                suite, credential, ..
            } => Some((*suite, credential.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no handshake: {events:?}"))
}

fn completed_psk_suite(events: &[Event]) -> CipherSuite {
    let (suite, credential) = completed(events);
    assert_eq!(
        credential,
        PeerCredential::Psk {
            identity: IDENTITY.as_bytes().to_vec()
        }
    );
    suite
}

fn only(suite: CipherSuite, certificate: Option<CertificateConfig>) -> ServerConfig {
    ServerConfig {
        cipher_suites: vec![suite],
        certificate,
        ..ServerConfig::default()
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test]
async fn coap_client_gnutls_psk() {
    let (_, events) = libcoap_get("coap-client-gnutls", ServerConfig::default(), psk_args()).await;
    // Our preference order picks CCM_8 when the client offers it.
    assert_eq!(completed_psk_suite(&events), CipherSuite::PskAes128Ccm8);
}

#[tokio::test]
async fn coap_client_gnutls_psk_gcm_only_server() {
    let config = only(CipherSuite::PskAes128GcmSha256, None);
    let (_, events) = libcoap_get("coap-client-gnutls", config, psk_args()).await;
    assert_eq!(
        completed_psk_suite(&events),
        CipherSuite::PskAes128GcmSha256
    );
}

#[tokio::test]
async fn coap_client_gnutls_psk_cbc_only_server() {
    let config = only(CipherSuite::PskAes128CbcSha256, None);
    let (_, events) = libcoap_get("coap-client-gnutls", config, psk_args()).await;
    assert_eq!(
        completed_psk_suite(&events),
        CipherSuite::PskAes128CbcSha256
    );
}

#[tokio::test]
async fn coap_client_openssl_psk() {
    let (_, events) = libcoap_get("coap-client-openssl", ServerConfig::default(), psk_args()).await;
    assert!(CipherSuite::PSK.contains(&completed_psk_suite(&events)));
}

/// GnuTLS with `-M`: the client's raw public key (RFC 7250) is handed to
/// the caller as its SPKI, to compare with the device's stored key.
async fn gnutls_rpk(suite: CipherSuite) {
    let dir = tempfile::tempdir().unwrap();
    let client_key = pki::Key::new();
    // libcoap's -M takes a PUBLIC KEY and a PRIVATE KEY block in one file
    // (an EC PRIVATE KEY alone works only with the curve parameters in it,
    // which RustCrypto's SEC1 encoder leaves out).
    let pem = format!(
        "{}{}",
        client_key.pair.public_key_pem(),
        client_key.pair.serialize_pem()
    );
    let rpk_file = write(dir.path(), "client-rpk.pem", &pem);
    let server_key = pki::Key::new();
    let config = only(
        suite,
        Some(CertificateConfig::raw_public_key(server_key.private())),
    );
    let (_, events) = libcoap_get("coap-client-gnutls", config, vec!["-M".into(), rpk_file]).await;
    assert_eq!(
        completed(&events),
        (
            suite,
            PeerCredential::RawPublicKey {
                spki_der: client_key.spki_der()
            }
        )
    );
}

#[tokio::test]
async fn coap_client_gnutls_rpk_ccm8() {
    gnutls_rpk(CipherSuite::EcdheEcdsaAes128Ccm8).await;
}

#[tokio::test]
async fn coap_client_gnutls_rpk_gcm() {
    gnutls_rpk(CipherSuite::EcdheEcdsaAes128GcmSha256).await;
}

#[tokio::test]
async fn coap_client_gnutls_rpk_cbc() {
    gnutls_rpk(CipherSuite::EcdheEcdsaAes128CbcSha256).await;
}

/// `-c cert -j key -C ca`: both sides present X.509 chains from one CA;
/// the client checks ours, we check its and expose the CN.
async fn libcoap_x509(binary: &'static str, suite: CipherSuite) {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("libcoap interop CA");
    let server = ca.leaf("127.0.0.1", false, None);
    let device = ca.leaf("urn:dev:libcoap", true, None);
    let args = vec![
        "-c".into(),
        write(dir.path(), "client.crt", &device.pem()),
        "-j".into(),
        write(dir.path(), "client.key", &device.key.pem()),
        "-C".into(),
        write(dir.path(), "ca.crt", &ca.pem()),
    ];
    let certificate = CertificateConfig {
        private_key: server.key.private(),
        certificate_chain: vec![server.der()],
        accept_raw_public_keys: false,
        trust_anchors: vec![ca.der()],
        accept_expired_certificates: false,
    };
    let (_, events) = libcoap_get(binary, only(suite, Some(certificate)), args).await;
    let (negotiated, credential) = completed(&events);
    assert_eq!(negotiated, suite);
    let PeerCredential::X509 {
        subject_cn,
        chain_der,
    } = credential
    else {
        panic!("{credential:?}")
    };
    assert_eq!(subject_cn.as_deref(), Some("urn:dev:libcoap"));
    // GnuTLS sends the leaf alone, OpenSSL adds the CA from -C.
    assert_eq!(chain_der.first(), Some(&device.der()));
    assert!(chain_der.len() <= 2);
}

#[tokio::test]
async fn coap_client_gnutls_x509_ccm8() {
    libcoap_x509("coap-client-gnutls", CipherSuite::EcdheEcdsaAes128Ccm8).await;
}

#[tokio::test]
async fn coap_client_gnutls_x509_gcm() {
    libcoap_x509("coap-client-gnutls", CipherSuite::EcdheEcdsaAes128GcmSha256).await;
}

#[tokio::test]
async fn coap_client_gnutls_x509_cbc() {
    libcoap_x509("coap-client-gnutls", CipherSuite::EcdheEcdsaAes128CbcSha256).await;
}

#[tokio::test]
async fn coap_client_openssl_x509_ccm8() {
    libcoap_x509("coap-client-openssl", CipherSuite::EcdheEcdsaAes128Ccm8).await;
}

#[tokio::test]
async fn coap_client_openssl_x509_gcm() {
    libcoap_x509(
        "coap-client-openssl",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
    )
    .await;
}

#[tokio::test]
async fn coap_client_openssl_x509_cbc() {
    libcoap_x509(
        "coap-client-openssl",
        CipherSuite::EcdheEcdsaAes128CbcSha256,
    )
    .await;
}

/// A device certificate from a CA we do not trust: GnuTLS gets unknown_ca
/// and no session is made.
#[tokio::test]
async fn coap_client_gnutls_x509_untrusted_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("our CA");
    let rogue = pki::Ca::new("rogue CA");
    let server = ca.leaf("127.0.0.1", false, None);
    let device = rogue.leaf("urn:dev:rogue", true, None);
    let args = vec![
        "-c".to_string(),
        write(dir.path(), "client.crt", &device.pem()),
        "-j".into(),
        write(dir.path(), "client.key", &device.key.pem()),
        "-C".into(),
        write(dir.path(), "ca.crt", &ca.pem()),
    ];
    let certificate = CertificateConfig {
        private_key: server.key.private(),
        certificate_chain: vec![server.der()],
        accept_raw_public_keys: false,
        trust_anchors: vec![ca.der()],
        accept_expired_certificates: false,
    };
    let config = only(CipherSuite::EcdheEcdsaAes128Ccm8, Some(certificate));
    let mut running = udp::start(config, HashMap::new()).await;
    let uri = format!("coaps://127.0.0.1:{}/hello", running.addr.port());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args(["20", "coap-client-gnutls", "-m", "get", "-B", "5"])
            .args(&args)
            .arg(&uri)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(!stdout.contains("hello over dtls"), "{stdout}");
    let mut events = Vec::new();
    while let Ok(Some(e)) =
        tokio::time::timeout(Duration::from_millis(500), running.events.recv()).await
    {
        events.push(e);
    }
    let srv = running.stop().await;
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Closed {
                reason: lwm2m_dtls::CloseReason::AlertSent(lwm2m_dtls::alert::UNKNOWN_CA),
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(srv.stats().handshakes_completed, 0);
}

/// The suites added for real clients: libcoap's clients cannot be told
/// which suites to offer (both offer 0xC0A4, 0x008C and 0xC037 with PSK),
/// so our server is limited to the one suite instead.
async fn libcoap_psk_only(binary: &'static str, suite: CipherSuite) {
    let (_, events) = libcoap_get(binary, only(suite, None), psk_args()).await;
    assert_eq!(completed_psk_suite(&events), suite);
}

#[tokio::test]
async fn coap_client_gnutls_psk_ccm_only_server() {
    libcoap_psk_only("coap-client-gnutls", CipherSuite::PskAes128Ccm).await;
}

#[tokio::test]
async fn coap_client_gnutls_psk_cbc_sha1_only_server() {
    libcoap_psk_only("coap-client-gnutls", CipherSuite::PskAes128CbcSha).await;
}

#[tokio::test]
async fn coap_client_gnutls_ecdhe_psk_only_server() {
    libcoap_psk_only("coap-client-gnutls", CipherSuite::EcdhePskAes128CbcSha256).await;
}

#[tokio::test]
async fn coap_client_openssl_psk_ccm_only_server() {
    libcoap_psk_only("coap-client-openssl", CipherSuite::PskAes128Ccm).await;
}

#[tokio::test]
async fn coap_client_openssl_psk_cbc_sha1_only_server() {
    libcoap_psk_only("coap-client-openssl", CipherSuite::PskAes128CbcSha).await;
}

#[tokio::test]
async fn coap_client_openssl_ecdhe_psk_only_server() {
    libcoap_psk_only("coap-client-openssl", CipherSuite::EcdhePskAes128CbcSha256).await;
}

#[tokio::test]
async fn coap_client_gnutls_x509_ccm() {
    libcoap_x509("coap-client-gnutls", CipherSuite::EcdheEcdsaAes128Ccm).await;
}

#[tokio::test]
async fn coap_client_openssl_x509_ccm() {
    libcoap_x509("coap-client-openssl", CipherSuite::EcdheEcdsaAes128Ccm).await;
}
