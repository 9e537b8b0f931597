//! The cost of a DTLS handshake to our engine alone: our sans-IO server
//! and client in one thread, no sockets and no scheduler in between, with
//! the server's calls timed apart from the client's (handshakes per second
//! per core for the server), plus the size of an established session's
//! export blob (what a node would store to hand a session over). Used by
//! `lwm2m-bench dtls-engine` and `examples/handshake_cost.rs`.
//!
//! Correct means: every handshake completed on both sides and application
//! data went through the first session both ways; anything else is an error.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use lwm2m_dtls::{
    CertificateConfig, CipherSuite, ClientCertificate, ClientConfig, ClientEvent, DtlsClient,
    DtlsServer, Event, OsRng, ServerConfig, SessionId,
};

use crate::error::{Result, SimError};
use crate::security::TestPki;

/// How a suite is set up on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HandshakeSuite {
    /// TLS_PSK_WITH_AES_128_CCM_8.
    Psk,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 with X.509 certificates on both sides.
    EcdheX509,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 with raw public keys (RFC 7250).
    EcdheRpk,
}

impl HandshakeSuite {
    pub fn name(self) -> &'static str {
        match self {
            HandshakeSuite::Psk => "psk_ccm8",
            HandshakeSuite::EcdheX509 => "ecdhe_ecdsa_x509_ccm8",
            HandshakeSuite::EcdheRpk => "ecdhe_ecdsa_rpk_ccm8",
        }
    }
}

const PSK: &[u8] = b"bench-psk-16byte";

/// Both sides of one suite.
struct Setup {
    server: ServerConfig,
    client: ClientConfig,
}

fn setup(suite: HandshakeSuite, pki: &TestPki) -> Result<Setup> {
    let issuer = pki.device_issuer(1)?;
    let (device_key, device_cert) = issuer.issue("bench-device")?;
    let (server, certificate) = match suite {
        HandshakeSuite::Psk => (ServerConfig::default(), None),
        HandshakeSuite::EcdheX509 => {
            let certificate = CertificateConfig::x509_from_pem(
                &pki.server_key_pem,
                &pki.server_cert_pem,
                &pki.ca_cert_pem,
            )
            .map_err(internal)?;
            let server = ServerConfig {
                certificate: Some(certificate),
                ..ServerConfig::default()
            };
            let client = ClientCertificate {
                private_key: device_key,
                chain: vec![device_cert],
                server_public_key: None,
            };
            (server, Some(client))
        }
        HandshakeSuite::EcdheRpk => {
            let server_key =
                lwm2m_dtls::PrivateKey::from_pem(&pki.server_key_pem).map_err(internal)?;
            let server = ServerConfig {
                certificate: Some(CertificateConfig::raw_public_key(server_key)),
                ..ServerConfig::default()
            };
            let client = ClientCertificate {
                private_key: device_key,
                chain: Vec::new(),
                server_public_key: None,
            };
            (server, Some(client))
        }
    };
    let client = ClientConfig {
        identity: b"bench-device".to_vec(),
        psk: PSK.to_vec(),
        cipher_suites: vec![if certificate.is_some() {
            CipherSuite::EcdheEcdsaAes128Ccm8
        } else {
            CipherSuite::PskAes128Ccm8
        }],
        certificate,
        ..ClientConfig::default()
    };
    Ok(Setup { server, client })
}

/// Time spent in each side's calls.
#[derive(Debug, Default)]
struct Clocks {
    server: Duration,
    client: Duration,
}

fn timed<T>(total: &mut Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    *total += started.elapsed();
    out
}

/// One handshake from `peer`; returns the server's session.
fn handshake(
    server: &mut DtlsServer,
    config: &ClientConfig,
    peer: SocketAddr,
    now: Instant,
    clocks: &mut Clocks,
) -> Result<(SessionId, DtlsClient)> {
    let mut client = timed(&mut clocks.client, || {
        DtlsClient::new(config.clone(), Box::new(OsRng), now)
    });
    let mut session = None;
    // A full handshake is 3 round trips (with the cookie exchange); a few
    // more turns leave room for a fragmented certificate flight.
    for _ in 0..16 {
        while let Some(datagram) = client.poll_transmit() {
            timed(&mut clocks.server, || {
                server.handle_datagram(now, peer, &datagram)
            });
        }
        while let Some(event) = server.poll_event() {
            match event {
                Event::NeedPsk { session, .. } => timed(&mut clocks.server, || {
                    server.provide_psk(now, session, Some(PSK))
                })
                .map_err(internal)?,
                Event::HandshakeComplete { session: s, .. } => session = Some(s),
                Event::Closed { reason, .. } => {
                    return Err(internal(format!("server closed the handshake: {reason:?}")))
                }
                _ => {}
            }
        }
        while let Some(t) = server.poll_transmit() {
            timed(&mut clocks.client, || client.handle_datagram(now, &t.bytes));
        }
        while let Some(event) = client.poll_event() {
            if let ClientEvent::Closed(reason) = event {
                return Err(internal(format!("client closed the handshake: {reason:?}")));
            }
        }
        if let (Some(s), true) = (session, client.is_established()) {
            return Ok((s, client));
        }
    }
    Err(internal(format!("handshake from {peer} did not complete")))
}

/// Application data both ways over an established pair.
fn exchange(
    server: &mut DtlsServer,
    client: &mut DtlsClient,
    session: SessionId,
    peer: SocketAddr,
    now: Instant,
) -> Result<()> {
    client.send(b"ping").map_err(internal)?;
    while let Some(d) = client.poll_transmit() {
        server.handle_datagram(now, peer, &d);
    }
    let mut got = false;
    while let Some(event) = server.poll_event() {
        got |= matches!(event, Event::ApplicationData { data, .. } if data == b"ping");
    }
    server
        .send_application_data(now, session, b"pong")
        .map_err(internal)?;
    while let Some(t) = server.poll_transmit() {
        client.handle_datagram(now, &t.bytes);
    }
    let back = std::iter::from_fn(|| client.poll_event())
        .any(|e| e == ClientEvent::ApplicationData(b"pong".to_vec()));
    if !(got && back) {
        return Err(internal(
            "application data did not go through the session both ways",
        ));
    }
    Ok(())
}

/// What `count` handshakes of one suite cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HandshakeCost {
    pub handshakes: usize,
    /// Time in the server's calls per handshake, µs (one core).
    pub server_us_per_handshake: f64,
    /// Time in the client's calls per handshake, µs.
    pub client_us_per_handshake: f64,
    /// The whole run.
    pub wall: Duration,
    /// Size of an established session's export blob.
    pub export_blob_bytes: usize,
}

/// Runs `count` handshakes of `suite`, each from its own address, and
/// times the server's calls apart from the client's.
pub fn measure(suite: HandshakeSuite, count: usize, pki: &TestPki) -> Result<HandshakeCost> {
    let Setup {
        server: server_config,
        client,
    } = setup(suite, pki)?;
    let mut server = DtlsServer::new(server_config, Box::new(OsRng)).map_err(internal)?;
    let now = Instant::now();
    server.set_wall_clock(now, SystemTime::now());
    let mut clocks = Clocks::default();
    let mut blob_bytes = 0;
    let wall = Instant::now();
    for i in 0..count {
        let index = u32::try_from(i).map_err(internal)?;
        let ip = Ipv4Addr::from(0x0a00_0000 | (index >> 14));
        let peer = SocketAddr::new(IpAddr::V4(ip), 10_000 + (index & 0x3fff) as u16);
        let (session, mut device) = handshake(&mut server, &client, peer, now, &mut clocks)?;
        if i == 0 {
            exchange(&mut server, &mut device, session, peer, now)?;
            blob_bytes = server.export_session(session).map_err(internal)?.len();
        }
        // Keep the table small: only the handshake is measured.
        server.close(now, session).map_err(internal)?;
        while server.poll_transmit().is_some() {}
        while server.poll_event().is_some() {}
    }
    let wall = wall.elapsed();
    let stats = server.stats();
    if stats.handshakes_completed != count as u64 || stats.handshakes_failed != 0 {
        return Err(SimError::Internal(format!("{}: {stats:?}", suite.name())));
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / count.max(1) as f64;
    Ok(HandshakeCost {
        handshakes: count,
        server_us_per_handshake: per(clocks.server),
        client_us_per_handshake: per(clocks.client),
        wall,
        export_blob_bytes: blob_bytes,
    })
}

fn internal(e: impl std::fmt::Display) -> SimError {
    SimError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_completes_and_exports() {
        let pki = TestPki::generate("t CA", "t server").unwrap();
        for suite in [
            HandshakeSuite::Psk,
            HandshakeSuite::EcdheX509,
            HandshakeSuite::EcdheRpk,
        ] {
            let cost = measure(suite, 3, &pki).unwrap();
            assert_eq!(cost.handshakes, 3);
            assert!(cost.server_us_per_handshake > 0.0, "{cost:?}");
            assert!(cost.export_blob_bytes > 50, "{cost:?}");
        }
    }
}
