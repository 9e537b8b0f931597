//! Issue 16 finding 8: the CBC suites (MAC-then-encrypt) are open to
//! Lucky13-style timing, and a forged CBC record followed by a cookie-less
//! ClientHello in one datagram would time the MAC check through the
//! HelloVerifyRequest. They are no longer negotiated by default; a server
//! configured with them still serves them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lwm2m_dtls::{alert, CipherSuite, ClientEvent, CloseReason, ServerConfig};

const KEY: &[u8] = b"secret-psk-key-16";

const CBC: [CipherSuite; 4] = [
    CipherSuite::PskAes128CbcSha256,
    CipherSuite::PskAes128CbcSha,
    CipherSuite::EcdhePskAes128CbcSha256,
    CipherSuite::EcdheEcdsaAes128CbcSha256,
];

#[test]
fn cbc_suites_are_not_negotiated_by_default() {
    for suite in CBC {
        assert!(!ServerConfig::default().cipher_suites.contains(&suite));
    }
    for (i, suite) in [
        CipherSuite::PskAes128CbcSha256,
        CipherSuite::PskAes128CbcSha,
    ]
    .into_iter()
    .enumerate()
    {
        let mut sim = Sim::new(ServerConfig::default(), 60 + i as u64);
        let c = sim.add_client(psk_client("dev", KEY, suite));
        sim.run_until(Duration::from_secs(5), |s| !s.client_events[c].is_empty());
        assert_eq!(
            sim.client_events[c],
            vec![ClientEvent::Closed(CloseReason::AlertReceived(
                alert::HANDSHAKE_FAILURE
            ))],
            "{suite:?}"
        );
    }
}

#[test]
fn cbc_suites_are_served_when_configured() {
    let config = ServerConfig {
        cipher_suites: CipherSuite::ALL.to_vec(),
        ..ServerConfig::default()
    };
    let mut sim = Sim::new(config, 66);
    let c = sim.add_client(psk_client("dev", KEY, CipherSuite::PskAes128CbcSha256));
    assert!(sim.run_until(Duration::from_secs(5), |s| s.connected(c)));
}
