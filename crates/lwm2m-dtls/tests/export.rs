//! Session export/import through the engine: a session exported from one
//! server and imported into a fresh one (a restart, another node) carries
//! on without a handshake, in both directions, replay window included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lwm2m_dtls::{CipherSuite, DtlsServer, Error, ServerConfig};

#[test]
fn exported_session_continues_on_a_new_server() {
    for suite in CipherSuite::PSK {
        let mut sim = Sim::new(all_suites(), 1);
        let c = sim.add_client(psk_client("dev", b"export-key", suite));
        assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)));
        let session = sim.completed_sessions()[0];
        sim.clients[c].send(b"one").unwrap();
        sim.pump();
        sim.run_until(Duration::from_secs(1), |s| s.server_app_data().len() == 1);
        let replay = sim
            .log
            .iter()
            .rev()
            .find(|(up, _, _)| *up)
            .unwrap()
            .2
            .clone();

        assert_eq!(sim.server.established_session_ids(), vec![session]);
        let blob = sim.server.export_session(session).unwrap();
        assert!(blob.len() < 200, "compact: {} bytes", blob.len());
        // The new server (restart) imports it; the old one is gone.
        sim.server = DtlsServer::new(all_suites(), rng(77)).unwrap();
        let id = sim.server.import_session(sim.now, &blob, 0).unwrap();
        assert_eq!(sim.server.established_sessions(), 1);
        assert_eq!(sim.server.established_session_ids(), vec![id]);
        // The credential came along (no HandshakeComplete tells it).
        assert_eq!(
            sim.server.credential(id),
            Some(&lwm2m_dtls::PeerCredential::Psk {
                identity: b"dev".to_vec()
            })
        );
        assert_eq!(
            sim.server.export_session(id).unwrap(),
            blob,
            "round trip is exact"
        );

        // The replay window came along: the old record is refused.
        sim.inject(sim.addrs[c], &replay);
        assert_eq!(sim.server.stats().replayed_records, 1);
        // Both directions work without a handshake.
        sim.clients[c].send(b"two").unwrap();
        sim.pump();
        sim.run_until(Duration::from_secs(1), |s| s.server_app_data().len() == 2);
        assert_eq!(sim.server_app_data()[1], (id, b"two".to_vec()));
        sim.server
            .send_application_data(sim.now, id, b"three")
            .unwrap();
        sim.pump();
        sim.run_until(Duration::from_secs(1), |s| !s.client_app_data(c).is_empty());
        assert_eq!(sim.client_app_data(c), vec![b"three".to_vec()]);
        assert_eq!(sim.server.stats().handshakes_started, 0);
    }
}

#[test]
fn import_refuses_garbage_and_duplicate_cid() {
    let mut sim = Sim::new(all_suites(), 2);
    let c = sim.add_client(psk_client("dev", b"k", CipherSuite::PskAes128Ccm8));
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)));
    let session = sim.completed_sessions()[0];
    let blob = sim.server.export_session(session).unwrap();
    assert_eq!(
        sim.server.import_session(sim.now, &blob, 0),
        Err(Error::InvalidBlob("connection id already in use"))
    );
    assert!(matches!(
        sim.server.import_session(sim.now, b"LWD\x09", 0),
        Err(Error::InvalidBlob(_))
    ));
    assert!(matches!(
        sim.server.import_session(sim.now, &[], 0),
        Err(Error::InvalidBlob(_))
    ));
}

#[test]
fn handshake_in_progress_cannot_be_exported() {
    let mut sim = Sim::new(all_suites(), 3);
    sim.auto_psk = false;
    sim.add_client(psk_client("dev", b"k", CipherSuite::PskAes128Ccm8));
    sim.run_until(Duration::from_secs(1), |s| !s.pending_psk.is_empty());
    let (session, _) = sim.pending_psk[0].clone();
    assert_eq!(
        sim.server.export_session(session),
        Err(Error::WrongState(session))
    );
}

/// A session without a Connection ID parked (exact blob) and reserved
/// (older blob) is imported once: a second copy would write under the same
/// keys from its own sequence numbers (AEAD nonce reuse) and keep
/// reserving. Its key id names it the same on every node.
#[test]
fn a_session_without_cid_is_imported_once() {
    let config = ServerConfig {
        connection_id_length: 0,
        sequence_reservation: Some(64),
        ..all_suites()
    };
    let mut sim = Sim::new(config.clone(), 3);
    let c = sim.add_client(psk_client("dev", b"k", CipherSuite::PskAes128Ccm8));
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)));
    let session = sim.completed_sessions()[0];
    assert_eq!(sim.server.connection_id(session), Some(&[][..]));
    let reserved = sim.server.export_session(session).unwrap();
    let parked = sim.server.export_session(session).unwrap();
    let key_id = sim.server.session_key_id(session).unwrap();
    // Already here: refused like a duplicate CID.
    assert_eq!(
        sim.server.import_session(sim.now, &parked, 0),
        Err(Error::InvalidBlob("session already present"))
    );

    let mut next = DtlsServer::new(config, rng(78)).unwrap();
    let id = next.import_session(sim.now, &parked, 0).unwrap();
    assert_eq!(next.session_key_id(id), Some(key_id));
    assert_eq!(
        next.import_session(sim.now, &reserved, 64),
        Err(Error::InvalidBlob("session already present"))
    );
    assert_eq!(next.established_sessions(), 1);
    let reservations = std::iter::from_fn(|| next.poll_event())
        .filter(|e| matches!(e, lwm2m_dtls::Event::ReserveSequenceNumbers { .. }))
        .count();
    assert_eq!(reservations, 1, "one reservation writer");
    // Once it is gone, its blob may come back (a later take-over).
    next.hand_over(sim.now, id).unwrap();
    assert!(next.import_session(sim.now, &reserved, 64).is_ok());
}
