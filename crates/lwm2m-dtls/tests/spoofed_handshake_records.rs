//! Issue 16 finding 2: plaintext (epoch-0) handshake records are not
//! authenticated. Once a session is established they must be dropped
//! silently (RFC 6347 §4.1.2.7), unless they repeat the client's last
//! flight exactly; even then the server's last flight goes out at most once
//! per retransmission interval, so spoofed repeats cannot amplify traffic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lwm2m_dtls::{CipherSuite, ClientEvent, Event, ServerConfig};

const KEY: &[u8] = b"secret-psk-key-16";

/// A plaintext handshake record holding one whole message.
fn epoch0_handshake(record_seq: u64, msg_type: u8, msg_seq: u16, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut frag = vec![msg_type];
    frag.extend_from_slice(&len.to_be_bytes()[1..]);
    frag.extend_from_slice(&msg_seq.to_be_bytes());
    frag.extend_from_slice(&[0, 0, 0]);
    frag.extend_from_slice(&len.to_be_bytes()[1..]);
    frag.extend_from_slice(body);
    let mut rec = vec![22, 0xfe, 0xfd, 0, 0];
    rec.extend_from_slice(&record_seq.to_be_bytes()[2..]);
    rec.extend_from_slice(&(frag.len() as u16).to_be_bytes());
    rec.extend_from_slice(&frag);
    rec
}

fn established(seed: u64) -> (Sim, usize) {
    let mut sim = Sim::new(ServerConfig::default(), seed);
    let c = sim.add_client(psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)
        && s.completed_sessions().len() == 1));
    (sim, c)
}

fn closed(sim: &Sim) -> bool {
    sim.server_events
        .iter()
        .any(|e| matches!(e, Event::Closed { .. }))
}

#[test]
fn spoofed_handshake_messages_do_not_close_an_established_session() {
    let (mut sim, c) = established(21);
    // Every message number the next flight could use, every message type a
    // client sends: before the fix the next number was reassembled, found
    // unexpected and answered with a fatal alert that closed the session.
    let mut record_seq = 100;
    for msg_seq in 0..12u16 {
        for msg_type in [1u8, 11, 15, 16, 20] {
            record_seq += 1;
            sim.inject(
                client_addr(0),
                &epoch0_handshake(record_seq, msg_type, msg_seq, b"spoofed"),
            );
        }
    }
    assert!(!closed(&sim), "{:?}", sim.server_events);
    assert_eq!(sim.server.stats().alerts_sent, 0);
    // The session still carries data both ways.
    sim.clients[c].send(b"ping").unwrap();
    sim.pump();
    let session = sim.completed_sessions()[0];
    assert!(sim.run_until(Duration::from_secs(5), |s| !s.server_app_data().is_empty()));
    sim.server
        .send_application_data(sim.now, session, b"pong")
        .unwrap();
    sim.pump();
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.client_app_data(c)
            == vec![b"pong".to_vec()])
    );
    assert!(!sim.client_events[c]
        .iter()
        .any(|e| matches!(e, ClientEvent::Closed(_))));
}

#[test]
fn forged_repeats_of_the_clients_flight_are_not_answered() {
    let (mut sim, _c) = established(22);
    let before = sim.server.stats().datagrams_sent;
    // The client's last flight began with ClientKeyExchange, message 2; a
    // forger knows the number but not the content. (A PSK
    // ClientKeyExchange holds only the identity: one who knows it can
    // forge an exact repeat, which the per-interval limit then bounds.)
    for i in 0..20u64 {
        sim.inject(
            client_addr(0),
            &epoch0_handshake(200 + i, 16, 2, b"\0\x05other"),
        );
    }
    assert_eq!(sim.server.stats().datagrams_sent, before);
    assert_eq!(sim.server.stats().retransmissions, 0);
    assert!(!closed(&sim));
}

#[test]
fn an_exact_repeat_is_answered_at_most_once_per_retransmission_interval() {
    let (mut sim, _c) = established(23);
    // The client's real last flight (ClientKeyExchange, CCS, Finished): the
    // last datagram it sent before the handshake completed.
    let flight = sim
        .log
        .iter()
        .rev()
        .find(|(to_server, _, _)| *to_server)
        .map(|(_, _, b)| b.clone())
        .unwrap();
    for _ in 0..10 {
        sim.inject(client_addr(0), &flight);
    }
    assert_eq!(sim.server.stats().retransmissions, 1);
    // After the interval the client may have lost that answer too.
    sim.now += ServerConfig::default().initial_retransmit;
    sim.inject(client_addr(0), &flight);
    assert_eq!(sim.server.stats().retransmissions, 2);
    assert!(!closed(&sim));
}
