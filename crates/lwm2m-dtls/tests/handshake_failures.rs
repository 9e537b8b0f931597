//! Every way a handshake fails is reported by cause (`Event::HandshakeFailed`
//! and `Stats::handshake_failures`), so the transport can tell an operator
//! why a device cannot connect. Also the record-version tolerance of RFC
//! 6347 §4.1: any {254, xx} on the first ClientHello, a protocol_version
//! alert (never silence) for a client without DTLS 1.2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use lwm2m_dtls::{
    alert, CipherSuite, ClientConfig, ClientEvent, DtlsClient, DtlsServer, Event, HandshakeFailure,
    HandshakeFailures, ServerConfig, Transmit,
};

const KEY: &[u8] = b"secret-psk-key-16";

/// Offsets in a datagram holding one unfragmented ClientHello record.
const RECORD_VERSION: std::ops::Range<usize> = 1..3;
const CLIENT_VERSION: std::ops::Range<usize> = 25..27;
/// record header 13, handshake header 12, version 2, random 32,
/// session_id length 1 (empty), cookie length 1.
const COOKIE: usize = 61;

fn failures(events: &[Event]) -> Vec<(HandshakeFailure, Option<Vec<u8>>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::HandshakeFailed {
                cause, identity, ..
            } => Some((*cause, identity.clone())),
            _ => None,
        })
        .collect()
}

fn drain(server: &mut DtlsServer) -> (Vec<Transmit>, Vec<Event>) {
    let mut out = Vec::new();
    while let Some(t) = server.poll_transmit() {
        out.push(t);
    }
    let mut events = Vec::new();
    while let Some(e) = server.poll_event() {
        events.push(e);
    }
    (out, events)
}

/// A client's first ClientHello and, after the server's cookie, its second.
fn hellos(server: &mut DtlsServer, client: &mut DtlsClient, now: Instant) -> (Vec<u8>, Vec<u8>) {
    let first = client.poll_transmit().unwrap();
    server.handle_datagram(now, client_addr(0), &first);
    let (hvr, _) = drain(server);
    client.handle_datagram(now, &hvr[0].bytes);
    (first, client.poll_transmit().unwrap())
}

#[test]
fn unknown_identity_and_wrong_key_are_told_apart() {
    let mut sim = Sim::new(ServerConfig::default(), 1);
    let c = sim.add_client(psk_client("dev-1", KEY, CipherSuite::PskAes128Ccm8));
    sim.keys.insert(b"dev-1".to_vec(), b"another key".to_vec());
    let c2 = sim.add_client(psk_client("nobody", KEY, CipherSuite::PskAes128Ccm8));
    sim.keys.remove(b"nobody".as_slice());
    sim.run_until(Duration::from_secs(60), |_| false);
    assert!(!sim.connected(c) && !sim.connected(c2));
    let mut got = failures(&sim.server_events);
    got.sort_by_key(|(_, id)| id.clone());
    assert_eq!(
        got,
        vec![
            (HandshakeFailure::WrongKey, Some(b"dev-1".to_vec())),
            (
                HandshakeFailure::UnknownPskIdentity,
                Some(b"nobody".to_vec())
            ),
        ]
    );
    let by_cause = sim.server.stats().handshake_failures;
    assert_eq!(
        by_cause,
        HandshakeFailures {
            wrong_key: 1,
            unknown_psk_identity: 1,
            ..HandshakeFailures::default()
        }
    );
}

#[test]
fn no_common_suite_is_reported() {
    let config = ServerConfig {
        cipher_suites: vec![CipherSuite::PskAes128GcmSha256],
        ..ServerConfig::default()
    };
    let mut sim = Sim::new(config, 2);
    let c = sim.add_client(psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    sim.run_until(Duration::from_secs(5), |s| !s.client_events[c].is_empty());
    assert_eq!(
        failures(&sim.server_events),
        vec![(HandshakeFailure::NoCommonCipherSuite, None)]
    );
    assert_eq!(
        sim.server.stats().handshake_failures.no_common_cipher_suite,
        1
    );
}

#[test]
fn a_forged_cookie_is_reported() {
    let now = Instant::now();
    let mut server = DtlsServer::new(ServerConfig::default(), rng(3)).unwrap();
    let mut client = DtlsClient::new(
        psk_client("dev", KEY, CipherSuite::PskAes128Ccm8),
        rng(4),
        now,
    );
    let (_, mut second) = hellos(&mut server, &mut client, now);
    second[COOKIE] ^= 0x55;
    server.handle_datagram(now, client_addr(0), &second);
    let (out, events) = drain(&mut server);
    assert_eq!(
        failures(&events),
        vec![(HandshakeFailure::CookieMismatch, None)]
    );
    assert_eq!(server.stats().handshake_failures.cookie_mismatch, 1);
    assert_eq!(server.stats().bad_cookies, 1);
    // The forged hello only earns a fresh HelloVerifyRequest.
    assert_eq!(out.len(), 1);
    assert_eq!(server.handshakes_in_progress(), 0);
}

#[test]
fn a_dtls_1_0_client_gets_protocol_version_at_once() {
    let now = Instant::now();
    let mut server = DtlsServer::new(ServerConfig::default(), rng(5)).unwrap();
    let mut client = DtlsClient::new(
        psk_client("dev", KEY, CipherSuite::PskAes128Ccm8),
        rng(6),
        now,
    );
    let mut first = client.poll_transmit().unwrap();
    first[RECORD_VERSION].copy_from_slice(&[0xfe, 0xff]);
    first[CLIENT_VERSION].copy_from_slice(&[0xfe, 0xff]);
    server.handle_datagram(now, client_addr(0), &first);
    let (out, events) = drain(&mut server);
    assert_eq!(out.len(), 1, "an alert, not silence");
    // A fatal protocol_version alert in a DTLS 1.0 record, epoch 0.
    let rec = &out[0].bytes;
    assert_eq!(rec[0], 21);
    assert_eq!(&rec[1..3], &[0xfe, 0xff]);
    assert_eq!(&rec[13..], &[alert::LEVEL_FATAL, alert::PROTOCOL_VERSION]);
    assert_eq!(
        failures(&events),
        vec![(HandshakeFailure::UnsupportedVersion, None)]
    );
    assert_eq!(server.stats().handshake_failures.unsupported_version, 1);
    assert_eq!(server.stats().hello_verify_requests, 0);
}

/// RFC 6347 §4.1: the first ClientHello may carry any {254, xx} record
/// version (Mbed TLS 2.x sends its minimum, {254, 0} when it is "any"); the
/// version comes from client_version and our answer is in DTLS 1.2 records.
#[test]
fn record_version_254_0_on_the_client_hello_is_accepted() {
    let now = Instant::now();
    let mut server = DtlsServer::new(ServerConfig::default(), rng(7)).unwrap();
    let mut client = DtlsClient::new(
        psk_client("dev", KEY, CipherSuite::PskAes128Ccm8),
        rng(8),
        now,
    );
    let mut first = client.poll_transmit().unwrap();
    first[RECORD_VERSION].copy_from_slice(&[0xfe, 0x00]);
    server.handle_datagram(now, client_addr(0), &first);
    let (hvr, _) = drain(&mut server);
    assert_eq!(hvr.len(), 1, "HelloVerifyRequest, not silence");
    client.handle_datagram(now, &hvr[0].bytes);
    let mut second = client.poll_transmit().unwrap();
    second[RECORD_VERSION].copy_from_slice(&[0xfe, 0x00]);
    server.handle_datagram(now, client_addr(0), &second);
    let (flight, _) = drain(&mut server);
    assert!(!flight.is_empty());
    for t in &flight {
        assert_eq!(&t.bytes[1..3], &[0xfe, 0xfd], "answered with DTLS 1.2");
    }
    // The rest of the handshake as usual.
    let mut pending: Vec<Vec<u8>> = flight.into_iter().map(|t| t.bytes).collect();
    for _ in 0..10 {
        for d in pending.drain(..) {
            client.handle_datagram(now, &d);
        }
        while let Some(d) = client.poll_transmit() {
            server.handle_datagram(now, client_addr(0), &d);
        }
        while let Some(e) = server.poll_event() {
            if let Event::NeedPsk { session, .. } = e {
                server.provide_psk(now, session, Some(KEY)).unwrap();
            }
        }
        while let Some(t) = server.poll_transmit() {
            pending.push(t.bytes);
        }
    }
    let mut events = Vec::new();
    while let Some(e) = client.poll_event() {
        events.push(e);
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Connected { .. })),
        "{events:?}"
    );
    assert_eq!(server.stats().handshakes_completed, 1);
}

#[test]
fn a_timed_out_handshake_is_reported_with_its_identity() {
    let mut sim = Sim::new(ServerConfig::default(), 9);
    sim.auto_psk = false;
    let c = sim.add_client(psk_client("slow", KEY, CipherSuite::PskAes128Ccm8));
    sim.run_until(Duration::from_secs(120), |s| {
        !failures(&s.server_events).is_empty()
    });
    assert!(!sim.connected(c));
    assert_eq!(
        failures(&sim.server_events),
        vec![(HandshakeFailure::Timeout, Some(b"slow".to_vec()))]
    );
}

/// Every record of the datagrams, one per element.
fn records(datagrams: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for d in datagrams {
        let mut rest = &d[..];
        while rest.len() >= 13 {
            let len = 13 + usize::from(u16::from_be_bytes([rest[11], rest[12]]));
            out.push(rest[..len].to_vec());
            rest = &rest[len..];
        }
    }
    out
}

/// RFC 4279 §2: a probe of ClientHello + ClientKeyExchange without Finished
/// must not tell a known PSK identity from an unknown one (both get
/// silence), and the Finished fails the same way for both (decrypt_error);
/// only the server's report tells the operator which it was.
#[test]
fn an_unknown_identity_cannot_be_told_from_a_known_one() {
    let mut seen = Vec::new();
    for known in [true, false] {
        let now = Instant::now();
        let mut server = DtlsServer::new(ServerConfig::default(), rng(11)).unwrap();
        // No CID: `records` reads plain record headers only.
        let config = ClientConfig {
            connection_id: None,
            ..psk_client("dev", KEY, CipherSuite::PskAes128Ccm8)
        };
        let mut client = DtlsClient::new(config, rng(12), now);
        let (_, second) = hellos(&mut server, &mut client, now);
        server.handle_datagram(now, client_addr(0), &second);
        let (flight4, _) = drain(&mut server);
        for t in &flight4 {
            client.handle_datagram(now, &t.bytes);
        }
        let flight5: Vec<Vec<u8>> = std::iter::from_fn(|| client.poll_transmit()).collect();
        let flight5 = records(&flight5);
        let (client_key_exchange, ccs_and_finished) = flight5.split_first().unwrap();
        server.handle_datagram(now, client_addr(0), client_key_exchange);
        let (_, events) = drain(&mut server);
        let session = events
            .iter()
            .find_map(|e| match e {
                Event::NeedPsk { session, .. } => Some(*session),
                _ => None,
            })
            .unwrap();
        // Known identity, but not the key the client holds; or unknown.
        let key: Option<&[u8]> = known.then_some(b"not the client's key");
        server.provide_psk(now, session, key).unwrap();
        let (after_key_exchange, events) = drain(&mut server);
        assert_eq!(after_key_exchange, Vec::new(), "known={known}: silence");
        assert_eq!(failures(&events), Vec::new());
        for r in ccs_and_finished {
            server.handle_datagram(now, client_addr(0), r);
        }
        let (after_finished, events) = drain(&mut server);
        assert_eq!(after_finished.len(), 1, "known={known}");
        let alert = &after_finished[0].bytes;
        assert_eq!((alert[0], &alert[13..]), (21, &[2u8, 51][..]));
        seen.push((alert.len(), failures(&events)));
    }
    assert_eq!(
        seen,
        vec![
            (
                15,
                vec![(HandshakeFailure::WrongKey, Some(b"dev".to_vec()))]
            ),
            (
                15,
                vec![(HandshakeFailure::UnknownPskIdentity, Some(b"dev".to_vec()))]
            ),
        ]
    );
}

/// Issue 16 finding 10: a spoofed plaintext record with the largest
/// sequence number, from the client's address during its handshake, must
/// not move the epoch-0 replay window (which would make every later
/// handshake record of the real client look replayed and stall it).
#[test]
fn a_spoofed_epoch_0_record_does_not_stall_the_handshake() {
    let mut sim = Sim::new(ServerConfig::default(), 13);
    let c = sim.add_client(psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.server.stats().handshakes_started == 1
    }));
    // type 22, DTLS 1.2, epoch 0, sequence 2^48 - 1, a malformed fragment.
    let mut spoofed = vec![
        22, 0xfe, 0xfd, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1,
    ];
    spoofed.push(0xff);
    sim.inject(client_addr(0), &spoofed);
    assert!(
        sim.run_until(Duration::from_secs(60), |s| s.connected(c)),
        "{:?}",
        sim.server.stats()
    );
}

/// Issue 16: an empty pre-shared key protects nothing; a device stored with
/// one is refused like an unknown identity instead of connecting.
#[test]
fn an_empty_psk_is_refused() {
    let mut sim = Sim::new(ServerConfig::default(), 14);
    let c = sim.add_client(psk_client("empty", b"", CipherSuite::PskAes128Ccm8));
    sim.run_until(Duration::from_secs(60), |s| {
        !failures(&s.server_events).is_empty()
    });
    assert!(!sim.connected(c));
    assert_eq!(
        failures(&sim.server_events),
        vec![(
            HandshakeFailure::UnknownPskIdentity,
            Some(b"empty".to_vec())
        )]
    );
}
