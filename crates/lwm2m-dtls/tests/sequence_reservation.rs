//! Sequence numbers reserved in blocks (`ServerConfig::sequence_reservation`):
//! a node that takes a session over after its owner crashed, from the last
//! blob the owner stored, never writes a sequence number the owner used.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lwm2m_dtls::{CipherSuite, DtlsServer, Event, ServerConfig, SessionId};

const BLOCK: u64 = 8;

fn reserving() -> ServerConfig {
    ServerConfig {
        sequence_reservation: Some(BLOCK),
        ..ServerConfig::default()
    }
}

/// The epoch-1 sequence numbers of every record the server sent.
fn server_seqs(sim: &Sim) -> Vec<u64> {
    sim.log
        .iter()
        .filter(|(up, _, _)| !*up)
        .filter_map(|(_, _, bytes)| {
            let header = bytes.get(..11)?;
            let epoch = u16::from_be_bytes([header[3], header[4]]);
            (epoch == 1).then(|| {
                header[5..11]
                    .iter()
                    .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
            })
        })
        .collect()
}

/// Requests not yet answered, in order: (session, blob, limit).
fn take_requests(sim: &mut Sim, seen: &mut usize) -> Vec<(SessionId, Vec<u8>, u64)> {
    let new = sim.server_events[*seen..]
        .iter()
        .filter_map(|e| match e {
            Event::ReserveSequenceNumbers {
                session,
                blob,
                limit,
            } => Some((*session, blob.clone(), *limit)),
            _ => None,
        })
        .collect();
    *seen = sim.server_events.len();
    new
}

/// A driver that stores each request's blob, then confirms it.
struct Store {
    seen: usize,
    blob: Option<Vec<u8>>,
    confirmed: u64,
}

impl Store {
    fn serve(&mut self, sim: &mut Sim) {
        loop {
            let requests = take_requests(sim, &mut self.seen);
            if requests.is_empty() {
                return;
            }
            for (session, blob, limit) in requests {
                assert!(limit > self.confirmed, "limits only grow");
                self.blob = Some(blob);
                self.confirmed = limit;
                sim.server
                    .confirm_reservation(sim.now, session, limit)
                    .unwrap();
                sim.pump();
            }
        }
    }
}

fn connected(seed: u64) -> (Sim, SessionId) {
    let mut sim = Sim::new(reserving(), seed);
    let c = sim.add_client(psk_client(
        "dev",
        b"reserve-key",
        CipherSuite::PskAes128Ccm8,
    ));
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)));
    let session = sim.completed_sessions()[0];
    (sim, session)
}

#[test]
fn a_takeover_from_the_last_stored_blob_never_reuses_a_sequence_number() {
    let (mut sim, session) = connected(11);
    let mut store = Store {
        seen: 0,
        blob: None,
        confirmed: 0,
    };
    store.serve(&mut sim);
    assert!(
        store.blob.is_some(),
        "a new session asks for its first block"
    );
    for i in 0..30u8 {
        sim.server
            .send_application_data(sim.now, session, &[i])
            .unwrap();
        sim.pump();
        store.serve(&mut sim);
        sim.run_until(Duration::from_millis(50), |_| false);
    }
    assert_eq!(
        sim.client_app_data(0),
        (0..30u8).map(|i| vec![i]).collect::<Vec<_>>()
    );
    let before = server_seqs(&sim);
    assert!(
        before.iter().all(|seq| *seq < store.confirmed),
        "nothing written past a confirmed limit"
    );
    assert!(sim.server.stats().sequence_reservations_requested >= 30 / (BLOCK / 2));

    // The node crashes: the successor has only the last stored blob.
    let blob = store.blob.clone().unwrap();
    sim.server = DtlsServer::new(reserving(), rng(12)).unwrap();
    let mut successor = Store {
        seen: sim.server_events.len(),
        blob: None,
        confirmed: 0,
    };
    let id = sim.server.import_session(sim.now, &blob, BLOCK).unwrap();
    sim.pump();
    successor.serve(&mut sim);
    sim.server
        .send_application_data(sim.now, id, b"after")
        .unwrap();
    sim.pump();
    sim.run_until(Duration::from_secs(1), |s| s.client_app_data(0).len() == 31);
    assert_eq!(sim.client_app_data(0).last().unwrap(), b"after");
    let after = &server_seqs(&sim)[before.len()..];
    let highest_before = before.iter().max().unwrap();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|seq| seq > highest_before),
        "the successor wrote {after:?}, the crashed node up to {highest_before}"
    );
    assert_eq!(sim.server.stats().handshakes_started, 0);
}

#[test]
fn data_waits_at_the_limit_until_the_reservation_is_confirmed() {
    let (mut sim, session) = connected(21);
    let mut seen = 0;
    let first = take_requests(&mut sim, &mut seen);
    assert_eq!(first.len(), 1);
    let sent_before = server_seqs(&sim).len();
    // Not confirmed yet: the limit is where the handshake ended.
    for i in 0..3u8 {
        sim.server
            .send_application_data(sim.now, session, &[i])
            .unwrap();
    }
    sim.pump();
    assert_eq!(server_seqs(&sim).len(), sent_before, "held, not sent");
    assert_eq!(sim.server.stats().records_awaiting_reservation, 3);
    assert!(
        take_requests(&mut sim, &mut seen).is_empty(),
        "one at a time"
    );

    // A failed store asks again with a fresh blob; confirming releases
    // the held records in order.
    sim.server.reservation_failed(sim.now, session).unwrap();
    sim.pump();
    let again = take_requests(&mut sim, &mut seen);
    assert_eq!(again.len(), 1);
    sim.server
        .confirm_reservation(sim.now, session, again[0].2)
        .unwrap();
    sim.pump();
    sim.run_until(Duration::from_secs(1), |s| s.client_app_data(0).len() == 3);
    assert_eq!(
        sim.client_app_data(0),
        vec![vec![0u8], vec![1u8], vec![2u8]]
    );
}

#[test]
fn held_records_are_bounded() {
    let mut config = reserving();
    config.limits.max_records_awaiting_reservation = 2;
    let mut sim = Sim::new(config, 31);
    let c = sim.add_client(psk_client("dev", b"k", CipherSuite::PskAes128Ccm8));
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)));
    let session = sim.completed_sessions()[0];
    for i in 0..5u8 {
        sim.server
            .send_application_data(sim.now, session, &[i])
            .unwrap();
    }
    assert_eq!(sim.server.stats().records_awaiting_reservation, 2);
    assert_eq!(sim.server.stats().records_dropped_unreserved, 3);
}

#[test]
fn without_reservation_nothing_is_asked_or_held() {
    let mut sim = Sim::new(ServerConfig::default(), 41);
    let c = sim.add_client(psk_client("dev", b"k", CipherSuite::PskAes128Ccm8));
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)));
    let session = sim.completed_sessions()[0];
    sim.server
        .send_application_data(sim.now, session, b"x")
        .unwrap();
    sim.pump();
    sim.run_until(Duration::from_secs(1), |s| !s.client_app_data(c).is_empty());
    let mut seen = 0;
    assert!(take_requests(&mut sim, &mut seen).is_empty());
    assert_eq!(sim.server.stats().sequence_reservations_requested, 0);
}

#[test]
fn bad_block_sizes_are_refused() {
    for block in [0, 1, (1 << 40) + 1] {
        let config = ServerConfig {
            sequence_reservation: Some(block),
            ..ServerConfig::default()
        };
        assert!(DtlsServer::new(config, rng(1)).is_err(), "{block}");
    }
}

#[test]
fn a_handed_over_session_is_forgotten_without_a_record() {
    let (mut sim, session) = connected(51);
    let sent = sim.log.len();
    sim.server.hand_over(sim.now, session).unwrap();
    sim.pump();
    assert_eq!(
        sim.log.len(),
        sent,
        "no close_notify: it would spend a sequence number"
    );
    assert!(sim.server.established_session_ids().is_empty());
    assert!(matches!(
        sim.server_events.last(),
        Some(Event::Closed {
            reason: lwm2m_dtls::CloseReason::HandedOver,
            ..
        })
    ));
    assert!(sim.server.hand_over(sim.now, session).is_err());
}
