//! Engine-vs-engine handshakes of the ECDHE_ECDSA suites over the simulated
//! network: raw public keys (RFC 7250) and X.509 chains, every suite, with
//! and without CID, under loss and reordering with certificate messages
//! fragmented, and every way client authentication can fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::time::Duration;

use common::*;
use lwm2m_dtls::{
    alert, CertificateConfig, CipherSuite, ClientCertificate, ClientConfig, ClientEvent,
    CloseReason, DtlsServer, Error, Event, PeerCredential, ServerConfig,
};
use pki::{wall, Ca, Key};

fn server_config(certificate: CertificateConfig) -> ServerConfig {
    ServerConfig {
        certificate: Some(certificate),
        ..all_suites()
    }
}

fn cert_client(suite: CipherSuite, cert: ClientCertificate) -> ClientConfig {
    ClientConfig {
        cipher_suites: vec![suite],
        certificate: Some(cert),
        ..ClientConfig::default()
    }
}

fn sim_with_clock(config: ServerConfig, seed: u64) -> Sim {
    let mut sim = Sim::new(config, seed);
    sim.server.set_wall_clock(sim.now, wall());
    sim
}

fn completion(sim: &Sim) -> Option<(CipherSuite, PeerCredential, Option<Vec<u8>>)> {
    sim.server_events.iter().find_map(|e| match e {
        Event::HandshakeComplete {
            suite,
            credential,
            cid,
            ..
        } => Some((*suite, credential.clone(), cid.clone())),
        _ => None,
    })
}

fn client_close(sim: &Sim, c: usize) -> Option<CloseReason> {
    sim.client_events[c].iter().find_map(|e| match e {
        ClientEvent::Closed(r) => Some(*r),
        _ => None,
    })
}

fn server_close(sim: &Sim) -> Option<CloseReason> {
    sim.server_events.iter().find_map(|e| match e {
        Event::Closed { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// Connects client `c` and checks application data both ways.
fn connect_and_talk(sim: &mut Sim, c: usize) {
    assert!(
        sim.run_until(Duration::from_secs(300), |s| s.connected(c)),
        "not connected: {:?} / {:?}",
        sim.client_events[c],
        sim.server_events
    );
    sim.clients[c].send(b"POST /rd").unwrap();
    sim.pump();
    assert!(sim.run_until(Duration::from_secs(60), |s| !s.server_app_data().is_empty()));
    let (session, data) = sim.server_app_data()[0].clone();
    assert_eq!(data, b"POST /rd");
    sim.server
        .send_application_data(sim.now, session, b"2.01")
        .unwrap();
    sim.pump();
    assert!(sim.run_until(Duration::from_secs(60), |s| !s
        .client_app_data(c)
        .is_empty()));
    assert_eq!(sim.client_app_data(c), vec![b"2.01".to_vec()]);
}

fn server_key_of(sim: &Sim, c: usize) -> Option<Vec<u8>> {
    sim.client_events[c].iter().find_map(|e| match e {
        ClientEvent::Connected {
            server_public_key, ..
        } => server_public_key.clone(),
        _ => None,
    })
}

#[test]
fn raw_public_keys_every_suite_with_and_without_cid() {
    let server_key = Key::new();
    let client_key = Key::new();
    for (n, suite) in CipherSuite::ECDHE_ECDSA.into_iter().enumerate() {
        for cid in [None, Some(vec![]), Some(vec![7, 7])] {
            let config = server_config(CertificateConfig::raw_public_key(server_key.private()));
            let mut sim = Sim::new(config, n as u64);
            let mut cfg = cert_client(
                suite,
                ClientCertificate {
                    private_key: client_key.private(),
                    chain: vec![],
                    server_public_key: Some(server_key.spki_der()),
                },
            );
            cfg.connection_id = cid.clone();
            let c = sim.add_client(cfg);
            connect_and_talk(&mut sim, c);
            let (s, credential, our_cid) = completion(&sim).unwrap();
            assert_eq!(s, suite);
            assert_eq!(
                credential,
                PeerCredential::RawPublicKey {
                    spki_der: client_key.spki_der()
                }
            );
            assert_eq!(our_cid.is_some(), cid.is_some());
            assert_eq!(server_key_of(&sim, c), Some(server_key.spki_der()));
        }
    }
}

struct X509Setup {
    ca: Ca,
    server: pki::Issued,
}

fn x509_setup() -> X509Setup {
    let ca = Ca::new("LwM2M test CA");
    let server = ca.leaf("lwm2m-server", false, None);
    X509Setup { ca, server }
}

fn x509_server(setup: &X509Setup) -> CertificateConfig {
    CertificateConfig {
        private_key: setup.server.key.private(),
        certificate_chain: vec![setup.server.der()],
        accept_raw_public_keys: false,
        trust_anchors: vec![setup.ca.der()],
        accept_expired_certificates: false,
    }
}

fn x509_client(suite: CipherSuite, leaf: &pki::Issued, extra: Vec<Vec<u8>>) -> ClientConfig {
    let mut chain = vec![leaf.der()];
    chain.extend(extra);
    cert_client(
        suite,
        ClientCertificate {
            private_key: leaf.key.private(),
            chain,
            server_public_key: None,
        },
    )
}

#[test]
fn x509_every_suite_and_cn_exposed() {
    let setup = x509_setup();
    let device = setup.ca.leaf("urn:imei:490154203237518", true, None);
    for (n, suite) in CipherSuite::ECDHE_ECDSA.into_iter().enumerate() {
        let mut sim = sim_with_clock(server_config(x509_server(&setup)), 10 + n as u64);
        let c = sim.add_client(x509_client(suite, &device, vec![]));
        connect_and_talk(&mut sim, c);
        let (s, credential, _) = completion(&sim).unwrap();
        assert_eq!(s, suite);
        assert_eq!(
            credential,
            PeerCredential::X509 {
                subject_cn: Some("urn:imei:490154203237518".into()),
                chain_der: vec![device.der()],
            }
        );
        assert_eq!(server_key_of(&sim, c), Some(setup.server.key.spki_der()));
    }
}

#[test]
fn x509_chain_through_an_intermediate_with_loss_reordering_and_small_mtu() {
    let setup = x509_setup();
    let intermediate = setup.ca.intermediate("LwM2M test issuing CA");
    let device = intermediate.leaf("dev-lossy", true, None);
    for seed in 0..6 {
        let config = ServerConfig {
            mtu: 300,
            ..server_config(x509_server(&setup))
        };
        let mut sim = sim_with_clock(config, 100 + seed);
        let mut cfg = x509_client(
            CipherSuite::EcdheEcdsaAes128Ccm8,
            &device,
            vec![intermediate.der()],
        );
        cfg.mtu = 300;
        let c = sim.add_client(cfg);
        sim.up[c].loss = 0.2;
        sim.down[c].loss = 0.2;
        sim.up[c].duplicate = 0.1;
        sim.down[c].jitter = Duration::from_millis(30);
        sim.up[c].jitter = Duration::from_millis(30);
        assert!(
            sim.run_until(Duration::from_secs(600), |s| s.connected(c)),
            "seed {seed}: {:?} / {:?}",
            sim.client_events[c],
            sim.server_events
        );
        let (_, credential, _) = completion(&sim).unwrap();
        assert!(matches!(
            credential,
            PeerCredential::X509 { subject_cn: Some(ref cn), ref chain_der } if cn == "dev-lossy" && chain_der.len() == 2
        ));
        // The certificate messages really were fragmented.
        assert!(sim.log.iter().all(|(_, _, d)| d.len() <= 300));
    }
}

#[test]
fn psk_and_certificate_clients_on_one_server() {
    let setup = x509_setup();
    let device = setup.ca.leaf("dev-x509", true, None);
    let mut config = server_config(x509_server(&setup));
    config.certificate.as_mut().unwrap().accept_raw_public_keys = true;
    let mut sim = sim_with_clock(config, 3);
    let a = sim.add_client(psk_client(
        "dev-psk",
        b"psk-key-0123",
        CipherSuite::PskAes128Ccm8,
    ));
    let b = sim.add_client(x509_client(
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        &device,
        vec![],
    ));
    let rpk = Key::new();
    let c = sim.add_client(cert_client(
        CipherSuite::EcdheEcdsaAes128CbcSha256,
        ClientCertificate {
            private_key: rpk.private(),
            chain: vec![],
            server_public_key: Some(setup.server.key.spki_der()),
        },
    ));
    assert!(sim.run_until(Duration::from_secs(60), |s| (0..3).all(|i| s.connected(i))));
    let creds: Vec<PeerCredential> = sim
        .server_events
        .iter()
        .filter_map(|e| match e {
            Event::HandshakeComplete { credential, .. } => Some(credential.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(creds.len(), 3);
    assert!(creds.contains(&PeerCredential::Psk {
        identity: b"dev-psk".to_vec()
    }));
    assert!(creds.contains(&PeerCredential::RawPublicKey {
        spki_der: rpk.spki_der()
    }));
    assert!(creds.iter().any(
        |c| matches!(c, PeerCredential::X509 { subject_cn: Some(cn), .. } if cn == "dev-x509")
    ));
    let _ = (a, b, c);
}

/// Runs a handshake expected to fail; returns (client close, server close).
fn failing(config: ServerConfig, client: ClientConfig, clock: bool) -> (CloseReason, CloseReason) {
    let mut sim = Sim::new(config, 9);
    if clock {
        sim.server.set_wall_clock(sim.now, wall());
    }
    let c = sim.add_client(client);
    sim.run_until(Duration::from_secs(120), |s| {
        client_close(s, 0).is_some() && server_close(s).is_some()
    });
    assert!(!sim.connected(c));
    assert!(completion(&sim).is_none());
    (
        client_close(&sim, c).expect("client not closed"),
        server_close(&sim).expect("server not closed"),
    )
}

#[test]
fn client_certificate_from_an_unknown_ca_is_refused() {
    let setup = x509_setup();
    let other = Ca::new("Someone else's CA");
    let device = other.leaf("dev", true, None);
    let (client, server) = failing(
        server_config(x509_server(&setup)),
        x509_client(CipherSuite::EcdheEcdsaAes128Ccm8, &device, vec![]),
        true,
    );
    assert_eq!(client, CloseReason::AlertReceived(alert::UNKNOWN_CA));
    assert_eq!(server, CloseReason::AlertSent(alert::UNKNOWN_CA));
}

/// The refusal is reported by cause for the operator's log and counters.
#[test]
fn a_refused_client_certificate_is_reported_as_bad_certificate() {
    let setup = x509_setup();
    let other = Ca::new("Someone else's CA");
    let device = other.leaf("dev", true, None);
    let mut sim = sim_with_clock(server_config(x509_server(&setup)), 12);
    let c = sim.add_client(x509_client(
        CipherSuite::EcdheEcdsaAes128Ccm8,
        &device,
        vec![],
    ));
    sim.run_until(Duration::from_secs(60), |s| server_close(s).is_some());
    assert!(!sim.connected(c));
    let causes: Vec<_> = sim
        .server_events
        .iter()
        .filter_map(|e| match e {
            Event::HandshakeFailed { cause, .. } => Some(*cause),
            _ => None,
        })
        .collect();
    assert_eq!(
        causes,
        vec![lwm2m_dtls::HandshakeFailure::BadCertificate(
            alert::UNKNOWN_CA
        )]
    );
    assert_eq!(sim.server.stats().handshake_failures.bad_certificate, 1);
}

#[test]
fn expired_client_certificate_is_refused_unless_configured() {
    let setup = x509_setup();
    let device = setup.ca.leaf("dev-old", true, Some((2020, 1, 1)));
    let client = x509_client(CipherSuite::EcdheEcdsaAes128Ccm8, &device, vec![]);
    let (c, s) = failing(server_config(x509_server(&setup)), client.clone(), true);
    assert_eq!(c, CloseReason::AlertReceived(alert::CERTIFICATE_EXPIRED));
    assert_eq!(s, CloseReason::AlertSent(alert::CERTIFICATE_EXPIRED));

    let mut lenient = x509_server(&setup);
    lenient.accept_expired_certificates = true;
    let mut sim = sim_with_clock(server_config(lenient), 4);
    let i = sim.add_client(client);
    connect_and_talk(&mut sim, i);
}

#[test]
fn without_a_wall_clock_x509_clients_are_refused() {
    let setup = x509_setup();
    let device = setup.ca.leaf("dev", true, None);
    let (c, s) = failing(
        server_config(x509_server(&setup)),
        x509_client(CipherSuite::EcdheEcdsaAes128Ccm8, &device, vec![]),
        false,
    );
    assert_eq!(c, CloseReason::AlertReceived(alert::CERTIFICATE_UNKNOWN));
    assert_eq!(s, CloseReason::AlertSent(alert::CERTIFICATE_UNKNOWN));
}

#[test]
fn a_stolen_certificate_without_its_key_fails_certificate_verify() {
    let setup = x509_setup();
    let victim = setup.ca.leaf("victim", true, None);
    let thief = Key::new();
    let client = cert_client(
        CipherSuite::EcdheEcdsaAes128Ccm8,
        ClientCertificate {
            private_key: thief.private(),
            chain: vec![victim.der()],
            server_public_key: None,
        },
    );
    let (c, s) = failing(server_config(x509_server(&setup)), client, true);
    assert_eq!(c, CloseReason::AlertReceived(alert::DECRYPT_ERROR));
    assert_eq!(s, CloseReason::AlertSent(alert::DECRYPT_ERROR));
}

#[test]
fn raw_public_key_client_refused_when_the_server_takes_only_x509() {
    let setup = x509_setup();
    let rpk = Key::new();
    let mut sim = Sim::new(server_config(x509_server(&setup)), 5);
    let c = sim.add_client(cert_client(
        CipherSuite::EcdheEcdsaAes128Ccm8,
        ClientCertificate {
            private_key: rpk.private(),
            chain: vec![],
            server_public_key: None,
        },
    ));
    sim.run_until(Duration::from_secs(30), |s| client_close(s, 0).is_some());
    assert_eq!(
        client_close(&sim, c),
        Some(CloseReason::AlertReceived(alert::UNSUPPORTED_CERTIFICATE))
    );
    // Refused at the hello: no state was ever made.
    assert_eq!(sim.server.stats().handshakes_started, 0);
    assert_eq!(sim.server.stats().handshakes_failed, 1);
}

#[test]
fn client_pinning_another_server_key_aborts() {
    let server_key = Key::new();
    let config = server_config(CertificateConfig::raw_public_key(server_key.private()));
    let client = cert_client(
        CipherSuite::EcdheEcdsaAes128Ccm8,
        ClientCertificate {
            private_key: Key::new().private(),
            chain: vec![],
            server_public_key: Some(Key::new().spki_der()),
        },
    );
    let (c, s) = failing(config, client, false);
    assert_eq!(c, CloseReason::AlertSent(alert::BAD_CERTIFICATE));
    assert_eq!(s, CloseReason::AlertReceived(alert::BAD_CERTIFICATE));
}

#[test]
fn bad_certificate_configuration_is_rejected_at_creation() {
    let setup = x509_setup();
    let mut wrong_key = x509_server(&setup);
    wrong_key.private_key = Key::new().private();
    assert!(matches!(
        DtlsServer::new(server_config(wrong_key), rng(1)),
        Err(Error::Credential(_))
    ));
    let mut nobody = x509_server(&setup);
    nobody.trust_anchors.clear();
    assert!(matches!(
        DtlsServer::new(server_config(nobody), rng(1)),
        Err(Error::Credential(_))
    ));
    let mut garbage = x509_server(&setup);
    garbage.trust_anchors = vec![vec![0x30, 0x00]];
    assert!(matches!(
        DtlsServer::new(server_config(garbage), rng(1)),
        Err(Error::Credential(_))
    ));
    // The PEM path gives the same configuration as the DER one.
    let from_pem = CertificateConfig::x509_from_pem(
        &setup.server.key.pem(),
        &setup.server.pem(),
        &setup.ca.pem(),
    )
    .unwrap();
    assert_eq!(from_pem, x509_server(&setup));
}

#[test]
fn certificate_sessions_export_and_import() {
    let setup = x509_setup();
    let device = setup.ca.leaf("dev-export", true, None);
    let mut sim = sim_with_clock(server_config(x509_server(&setup)), 6);
    let c = sim.add_client(x509_client(
        CipherSuite::EcdheEcdsaAes128Ccm8,
        &device,
        vec![],
    ));
    connect_and_talk(&mut sim, c);
    let session = sim.completed_sessions()[0];
    let blob = sim.server.export_session(session).unwrap();
    let mut other = DtlsServer::new(server_config(x509_server(&setup)), rng(77)).unwrap();
    let id = other.import_session(sim.now, &blob, 100).unwrap();
    let again = other.export_session(id).unwrap();
    // Same credential and chain after the round trip (only sequence numbers differ).
    assert_eq!(again.len(), blob.len());
}
