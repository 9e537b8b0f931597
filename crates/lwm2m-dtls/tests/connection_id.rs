//! RFC 9146 Connection ID through the engine: issued CIDs, the node id at
//! byte 11, following a client across an address change without a new
//! handshake, and not following replays or stale records.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lwm2m_dtls::{node_id_of_record, CipherSuite, ClientConfig, Event, ServerConfig};

const KEY: &[u8] = b"cid-test-key";

fn connect(sim: &mut Sim, config: ClientConfig) -> usize {
    let c = sim.add_client(config);
    assert!(sim.run_until(Duration::from_secs(30), |s| s.connected(c)));
    c
}

fn send_and_wait(sim: &mut Sim, c: usize, data: &[u8]) {
    let before = sim.server_app_data().len();
    sim.clients[c].send(data).unwrap();
    sim.pump();
    sim.run_until(Duration::from_secs(2), |s| {
        s.server_app_data().len() > before
    });
}

#[test]
fn client_follows_nat_rebinding_with_cid() {
    for suite in CipherSuite::PSK {
        let config = ServerConfig {
            node_id: 0x2A,
            ..all_suites()
        };
        let mut sim = Sim::new(config, 1);
        let c = connect(&mut sim, psk_client("dev", KEY, suite));
        let session = sim.completed_sessions()[0];
        send_and_wait(&mut sim, c, b"before");
        // The client's records carry our CID; byte 11 is our node id.
        let last_up = sim
            .log
            .iter()
            .rev()
            .find(|(up, _, _)| *up)
            .unwrap()
            .2
            .clone();
        assert_eq!(last_up[0], 25, "tls12_cid record");
        assert_eq!(node_id_of_record(&last_up), Some(0x2A));

        let old = sim.addrs[c];
        let new: std::net::SocketAddr = "10.9.9.9:1234".parse().unwrap();
        sim.addrs[c] = new;
        send_and_wait(&mut sim, c, b"after the NAT rebinding");
        assert_eq!(
            sim.server_app_data().last().unwrap(),
            &(session, b"after the NAT rebinding".to_vec())
        );
        assert!(sim
            .server_events
            .contains(&Event::PeerMoved { session, old, new }));
        assert_eq!(sim.server.peer_addr(session), Some(new));
        assert_eq!(sim.server.session_for_addr(new), Some(session));
        assert_eq!(sim.server.session_for_addr(old), None);
        // Replies go to the new address, no new handshake happened.
        sim.server
            .send_application_data(sim.now, session, b"reply")
            .unwrap();
        sim.pump();
        sim.run_until(Duration::from_secs(2), |s| !s.client_app_data(c).is_empty());
        assert_eq!(sim.client_app_data(c), vec![b"reply".to_vec()]);
        assert_eq!(sim.server.stats().handshakes_started, 1);
        assert_eq!(sim.server.stats().peers_moved, 1);
    }
}

#[test]
fn stale_or_replayed_record_does_not_move_the_session_back() {
    let mut sim = Sim::new(all_suites(), 2);
    let c = connect(&mut sim, psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    let session = sim.completed_sessions()[0];
    let old = sim.addrs[c];
    // A record that the network delays: lost now, replayed later.
    let idx = sim.up[c].sent;
    sim.up[c].drop.insert(idx);
    sim.clients[c].send(b"delayed").unwrap();
    sim.pump();
    let delayed = sim.log.last().unwrap().2.clone();
    let new: std::net::SocketAddr = "10.9.9.9:1234".parse().unwrap();
    sim.addrs[c] = new;
    send_and_wait(&mut sim, c, b"newer");
    assert_eq!(sim.server.peer_addr(session), Some(new));
    // The delayed (older, never seen) record arrives from the old address:
    // its data is delivered, but the session stays at the new address.
    sim.inject(old, &delayed);
    assert_eq!(sim.server_app_data().last().unwrap().1, b"delayed");
    assert_eq!(sim.server.peer_addr(session), Some(new));
    // A replay of it is dropped altogether.
    sim.inject(old, &delayed);
    assert_eq!(sim.server.stats().replayed_records, 1);
    assert_eq!(sim.server.peer_addr(session), Some(new));
    assert_eq!(sim.server.stats().peers_moved, 1);
}

#[test]
fn client_without_cid_support_is_accepted_but_cannot_move() {
    let mut sim = Sim::new(all_suites(), 3);
    let c = connect(
        &mut sim,
        ClientConfig {
            connection_id: None,
            ..psk_client("legacy", KEY, CipherSuite::PskAes128Ccm8)
        },
    );
    send_and_wait(&mut sim, c, b"plain");
    let last_up = sim
        .log
        .iter()
        .rev()
        .find(|(up, _, _)| *up)
        .unwrap()
        .2
        .clone();
    assert_eq!(last_up[0], 23, "plain application_data record");
    sim.addrs[c] = "10.9.9.9:1234".parse().unwrap();
    sim.clients[c].send(b"lost").unwrap();
    sim.pump();
    sim.run_until(Duration::from_millis(100), |_| false);
    assert_eq!(sim.server_app_data().len(), 1);
    assert_eq!(sim.server.stats().unknown_peer_records, 1);
}

#[test]
fn client_cid_is_used_in_server_records_and_cid_disabled_server() {
    // The client asks for its own CID in our records.
    let mut sim = Sim::new(all_suites(), 4);
    let c = connect(
        &mut sim,
        ClientConfig {
            connection_id: Some(vec![0xC1, 0xC2]),
            ..psk_client("dev", KEY, CipherSuite::PskAes128GcmSha256)
        },
    );
    let session = sim.completed_sessions()[0];
    sim.server
        .send_application_data(sim.now, session, b"to you")
        .unwrap();
    let t = sim.server.poll_transmit().unwrap();
    assert_eq!((t.bytes[0], t.bytes[11], t.bytes[12]), (25, 0xC1, 0xC2));
    sim.clients[c].handle_datagram(sim.now, &t.bytes);
    sim.pump();
    assert_eq!(sim.client_app_data(c), vec![b"to you".to_vec()]);

    // A server with CIDs disabled still answers the extension with an empty CID.
    let mut sim = Sim::new(
        ServerConfig {
            connection_id_length: 0,
            ..all_suites()
        },
        5,
    );
    let c = connect(&mut sim, psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    send_and_wait(&mut sim, c, b"x");
    let last_up = sim
        .log
        .iter()
        .rev()
        .find(|(up, _, _)| *up)
        .unwrap()
        .2
        .clone();
    assert_eq!(last_up[0], 23);
}

#[test]
fn forged_cid_record_is_dropped() {
    let mut sim = Sim::new(all_suites(), 6);
    let c = connect(&mut sim, psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    let session = sim.completed_sessions()[0];
    send_and_wait(&mut sim, c, b"real");
    let mut forged = sim
        .log
        .iter()
        .rev()
        .find(|(up, _, _)| *up)
        .unwrap()
        .2
        .clone();
    // Bump the sequence number so it is "newer", keep the CID: fails authentication.
    forged[10] = forged[10].wrapping_add(5);
    sim.inject("10.6.6.6:6666".parse().unwrap(), &forged);
    assert_eq!(sim.server.peer_addr(session), Some(sim.addrs[c]));
    assert_eq!(sim.server.stats().bad_records, 1);
    assert_eq!(sim.server.stats().peers_moved, 0);
}
