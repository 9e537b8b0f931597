//! Issue 16 finding 9: what a peer can make the server hold once it has a
//! valid cookie. Reassembly buffers grow with the bytes that arrived, not
//! with the length a fragment announces; each handshake buffers at most
//! `limits.max_handshake_buffer` bytes (reassembly and deferred records);
//! and one IP address holds at most `limits.max_handshakes_per_ip`
//! handshakes, whatever ports it uses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use lwm2m_dtls::{CipherSuite, DtlsClient, DtlsServer, Limits, ServerConfig};

const KEY: &[u8] = b"secret-psk-key-16";

/// Runs the cookie exchange of a fresh client from `from`: afterwards the
/// server holds a handshake for it (unless a limit refused it).
fn start_handshake(server: &mut DtlsServer, from: SocketAddr, now: Instant, seed: u64) {
    let config = psk_client("dev", KEY, CipherSuite::PskAes128Ccm8);
    let mut client = DtlsClient::new(config, rng(seed), now);
    server.handle_datagram(now, from, &client.poll_transmit().unwrap());
    let hvr = server.poll_transmit().unwrap();
    client.handle_datagram(now, &hvr.bytes);
    server.handle_datagram(now, from, &client.poll_transmit().unwrap());
    while server.poll_transmit().is_some() {}
    while server.poll_event().is_some() {}
}

fn record(ctype: u8, epoch: u16, seq: u64, fragment: &[u8]) -> Vec<u8> {
    let mut rec = vec![ctype, 0xfe, 0xfd];
    rec.extend_from_slice(&epoch.to_be_bytes());
    rec.extend_from_slice(&seq.to_be_bytes()[2..]);
    rec.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
    rec.extend_from_slice(fragment);
    rec
}

/// A one-byte fragment at the end of a message announced as 16 KiB.
fn last_byte_of_a_big_message(msg_seq: u16) -> Vec<u8> {
    let len: u32 = 16 * 1024;
    let offset = len - 1;
    let mut frag = vec![11];
    frag.extend_from_slice(&len.to_be_bytes()[1..]);
    frag.extend_from_slice(&msg_seq.to_be_bytes());
    frag.extend_from_slice(&offset.to_be_bytes()[1..]);
    frag.extend_from_slice(&[0, 0, 1, 0xaa]);
    frag
}

#[test]
fn a_handshake_buffers_at_most_its_budget() {
    let config = ServerConfig {
        connection_id_length: 0,
        ..ServerConfig::default()
    };
    let budget = config.limits.max_handshake_buffer;
    let mut server = DtlsServer::new(config, rng(31)).unwrap();
    let now = Instant::now();
    let from = client_addr(0);
    start_handshake(&mut server, from, now, 1);
    assert_eq!(server.handshakes_in_progress(), 1);
    let mut seq = 100;
    // Every message number the reassembler buffers ahead, each announced
    // at the largest length, each with one byte.
    for msg_seq in 2..12 {
        seq += 1;
        let bytes = record(22, 0, seq, &last_byte_of_a_big_message(msg_seq));
        server.handle_datagram(now, from, &bytes);
    }
    // Encrypted records before the keys: kept for later, but not without
    // bound.
    for i in 0..16 {
        let bytes = record(23, 1, i, &[0x55; 16_000]);
        server.handle_datagram(now, from, &bytes);
    }
    let held = server.handshake_buffered_bytes();
    assert!(
        held <= budget,
        "{held} bytes buffered for one handshake, budget {budget}"
    );
    assert_eq!(server.handshakes_in_progress(), 1);
}

#[test]
fn one_ip_address_holds_a_bounded_number_of_handshakes() {
    let config = ServerConfig {
        limits: Limits {
            max_handshakes_per_ip: 3,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let mut server = DtlsServer::new(config, rng(32)).unwrap();
    let now = Instant::now();
    for port in 0..10u16 {
        let from: SocketAddr = format!("10.9.9.9:{}", 50000 + port).parse().unwrap();
        start_handshake(&mut server, from, now, u64::from(port));
    }
    assert_eq!(server.handshakes_in_progress(), 3);
    assert_eq!(server.stats().handshakes_refused, 7);
    // Another address is not affected.
    start_handshake(&mut server, "10.9.9.10:50000".parse().unwrap(), now, 99);
    assert_eq!(server.handshakes_in_progress(), 4);
    // When the handshakes end (here: time out) the address may start again.
    let later = now + ServerConfig::default().handshake_timeout + Duration::from_secs(1);
    server.handle_timeout(later);
    assert_eq!(server.handshakes_in_progress(), 0);
    start_handshake(&mut server, "10.9.9.9:60000".parse().unwrap(), later, 100);
    assert_eq!(server.handshakes_in_progress(), 1);
}
