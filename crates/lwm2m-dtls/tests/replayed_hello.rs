//! Issue 16 finding 7: a ClientHello with a valid cookie, replayed from a
//! device's address, starts a new handshake; the device's established
//! session (without a CID, so found by address) must keep the address until
//! that handshake proves the peer with a verified Finished (RFC 6347
//! §4.2.8), or the device is cut off until the new handshake times out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lwm2m_dtls::{CipherSuite, ClientConfig, CloseReason, Event, ServerConfig};

const KEY: &[u8] = b"secret-psk-key-16";

fn no_cid_client() -> ClientConfig {
    ClientConfig {
        connection_id: None,
        ..psk_client("dev", KEY, CipherSuite::PskAes128Ccm8)
    }
}

#[test]
fn a_replayed_hello_does_not_take_the_address_of_an_established_session() {
    let mut sim = Sim::new(ServerConfig::default(), 41);
    let c = sim.add_client(no_cid_client());
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)
        && s.completed_sessions().len() == 1));
    let session = sim.completed_sessions()[0];
    // The first data ends the handshake's afterlife (a repeated hello is
    // no longer recognised as a retransmission).
    sim.clients[c].send(b"first").unwrap();
    sim.pump();
    assert!(sim.run_until(Duration::from_secs(2), |s| !s.server_app_data().is_empty()));
    // The client's second datagram: the ClientHello with the cookie.
    let hello = sim
        .log
        .iter()
        .filter(|(to_server, _, _)| *to_server)
        .nth(1)
        .map(|(_, _, b)| b.clone())
        .unwrap();
    sim.inject(sim.addrs[c], &hello);
    assert_eq!(sim.server.stats().handshakes_started, 2, "cookie accepted");
    assert_eq!(sim.server.session_for_addr(sim.addrs[c]), Some(session));
    // The device keeps talking on its session.
    for i in 0..3u8 {
        sim.clients[c].send(&[b'u', i]).unwrap();
        sim.pump();
        sim.run_until(Duration::from_millis(100), |_| false);
        sim.server
            .send_application_data(sim.now, session, &[b'd', i])
            .unwrap();
        sim.pump();
        sim.run_until(Duration::from_millis(100), |_| false);
    }
    let up: Vec<_> = sim
        .server_app_data()
        .into_iter()
        .filter(|(s, _)| *s == session)
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        up,
        vec![
            b"first".to_vec(),
            b"u\0".to_vec(),
            b"u\x01".to_vec(),
            b"u\x02".to_vec()
        ]
    );
    assert_eq!(sim.client_app_data(c).len(), 3);
    // The replayed handshake never completes; the session outlives it.
    sim.run_until(Duration::from_secs(40), |_| false);
    assert_eq!(sim.server.handshakes_in_progress(), 0);
    assert_eq!(sim.server.session_for_addr(sim.addrs[c]), Some(session));
    assert!(!sim.server_events.iter().any(|e| matches!(
        e,
        Event::Closed { session: s, .. } if *s == session
    )));
}

#[test]
fn a_real_new_handshake_from_the_same_address_still_replaces_the_session() {
    let mut sim = Sim::new(ServerConfig::default(), 42);
    let c = sim.add_client(no_cid_client());
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)));
    let first = sim.completed_sessions()[0];
    sim.clients[c] = lwm2m_dtls::DtlsClient::new(no_cid_client(), rng(556), sim.now);
    sim.client_events[c].clear();
    sim.pump();
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)
        && s.completed_sessions().len() == 2));
    let second = sim.completed_sessions()[1];
    assert!(sim.server_events.contains(&Event::Closed {
        session: first,
        peer: sim.addrs[c],
        reason: CloseReason::Replaced
    }));
    assert_eq!(sim.server.session_for_addr(sim.addrs[c]), Some(second));
    sim.clients[c].send(b"after").unwrap();
    sim.pump();
    assert!(sim.run_until(Duration::from_secs(2), |s| s
        .server_app_data()
        .contains(&(second, b"after".to_vec()))));
}
