//! Engine-vs-engine PSK handshakes over the simulated network: every suite,
//! CID on and off, loss, duplication, reordering, fragmentation, the PSK
//! lookup answered late, failures and limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use lwm2m_dtls::{
    alert, CipherSuite, ClientConfig, ClientEvent, CloseReason, Event, PeerCredential, ServerConfig,
};

const KEY: &[u8] = b"secret-psk-key-16";

fn establish(sim: &mut Sim, client: usize) {
    assert!(
        sim.run_until(Duration::from_secs(120), |s| s.connected(client)),
        "client {client} not connected: {:?} / {:?}",
        sim.client_events[client],
        sim.server_events
    );
}

#[test]
fn psk_handshake_every_suite_with_and_without_cid() {
    for (n, suite) in CipherSuite::PSK.into_iter().enumerate() {
        for cid in [None, Some(vec![]), Some(vec![9, 9, 9])] {
            let mut sim = Sim::new(all_suites(), n as u64);
            let mut cfg = psk_client("dev-1", KEY, suite);
            cfg.connection_id = cid.clone();
            let c = sim.add_client(cfg);
            establish(&mut sim, c);
            let complete = sim
                .server_events
                .iter()
                .find_map(|e| match e {
                    Event::HandshakeComplete {
                        cid,
                        peer_cid,
                        suite: s,
                        credential,
                        ..
                    } => Some((cid.clone(), peer_cid.clone(), *s, credential.clone())),
                    _ => None,
                })
                .unwrap();
            assert_eq!(complete.2, suite);
            assert_eq!(
                complete.3,
                PeerCredential::Psk {
                    identity: b"dev-1".to_vec()
                }
            );
            match &cid {
                None => assert_eq!((complete.0.as_ref(), complete.1.as_ref()), (None, None)),
                Some(c) => {
                    let ours = complete.0.unwrap();
                    assert_eq!(ours.len(), 8);
                    assert_eq!(complete.1, (!c.is_empty()).then(|| c.clone()));
                }
            }
            // Application data both ways.
            sim.clients[c].send(b"POST /rd").unwrap();
            sim.pump();
            sim.run_until(Duration::from_secs(1), |s| !s.server_app_data().is_empty());
            let (session, data) = sim.server_app_data()[0].clone();
            assert_eq!(data, b"POST /rd");
            sim.server
                .send_application_data(sim.now, session, b"2.01")
                .unwrap();
            sim.pump();
            sim.run_until(Duration::from_secs(1), |s| !s.client_app_data(c).is_empty());
            assert_eq!(sim.client_app_data(c), vec![b"2.01".to_vec()]);
            let st = sim.server.stats();
            assert_eq!(
                (
                    st.handshakes_started,
                    st.handshakes_completed,
                    st.hello_verify_requests
                ),
                (1, 1, 1)
            );
            assert_eq!(sim.server.established_sessions(), 1);
            assert_eq!(sim.server.handshakes_in_progress(), 0);
        }
    }
}

#[test]
fn wrong_key_fails_with_decrypt_error_and_unknown_identity_too() {
    let mut sim = Sim::new(all_suites(), 1);
    let c = sim.add_client(psk_client("dev-1", KEY, CipherSuite::PskAes128Ccm8));
    sim.keys.insert(b"dev-1".to_vec(), b"another key".to_vec());
    let c2 = sim.add_client(psk_client("nobody", KEY, CipherSuite::PskAes128Ccm8));
    sim.keys.remove(b"nobody".as_slice());
    sim.run_until(Duration::from_secs(60), |_| false);
    for i in [c, c2] {
        assert!(
            sim.client_events[i].contains(&ClientEvent::Closed(CloseReason::AlertReceived(
                alert::DECRYPT_ERROR
            ))),
            "{:?}",
            sim.client_events[i]
        );
    }
    assert_eq!(sim.server.stats().handshakes_failed, 2);
    assert_eq!(
        sim.server.established_sessions() + sim.server.handshakes_in_progress(),
        0
    );
    let closed = sim
        .server_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Closed {
                    reason: CloseReason::AlertSent(alert::DECRYPT_ERROR),
                    ..
                }
            )
        })
        .count();
    assert_eq!(closed, 2);
}

#[test]
fn psk_answered_late_does_not_block_other_peers() {
    let mut sim = Sim::new(all_suites(), 2);
    sim.auto_psk = false;
    let slow = sim.add_client(psk_client("slow", KEY, CipherSuite::PskAes128Ccm8));
    sim.run_until(Duration::from_secs(5), |s| !s.pending_psk.is_empty());
    let (slow_session, identity) = sim.pending_psk.remove(0);
    assert_eq!(identity, b"slow");
    // Another client connects completely while the first lookup is pending.
    let fast = sim.add_client(psk_client("fast", KEY, CipherSuite::PskAes128Ccm8));
    sim.run_until(Duration::from_secs(5), |s| !s.pending_psk.is_empty());
    let (fast_session, _) = sim.pending_psk.remove(0);
    sim.server
        .provide_psk(sim.now, fast_session, Some(KEY))
        .unwrap();
    sim.pump();
    establish(&mut sim, fast);
    assert!(!sim.connected(slow));
    // The slow answer arrives later; its client may have retransmitted meanwhile.
    sim.server
        .provide_psk(sim.now, slow_session, Some(KEY))
        .unwrap();
    sim.pump();
    establish(&mut sim, slow);
    assert!(
        sim.server
            .provide_psk(sim.now, slow_session, Some(KEY))
            .is_err(),
        "a second answer is refused"
    );
}

#[test]
fn lossy_duplicating_reordering_links_still_complete() {
    for seed in 0..12u64 {
        let mut sim = Sim::new(all_suites(), seed);
        for i in 0..3 {
            let c = sim.add_client(psk_client(
                &format!("dev-{i}"),
                KEY,
                CipherSuite::PSK[i % 3],
            ));
            for link in [&mut sim.up[c], &mut sim.down[c]] {
                link.loss = 0.25;
                link.duplicate = 0.25;
                link.jitter = Duration::from_millis(300);
            }
        }
        assert!(
            sim.run_until(Duration::from_secs(300), |s| (0..3).all(|i| s.connected(i))),
            "seed {seed}: {:?}",
            sim.server.stats()
        );
        // Data still flows once established (lossless from here).
        for i in 0..3 {
            sim.up[i] = Default::default();
            sim.clients[i]
                .send(format!("hello {i}").as_bytes())
                .unwrap();
        }
        sim.pump();
        sim.run_until(Duration::from_secs(5), |s| s.server_app_data().len() >= 3);
        let got: HashSet<Vec<u8>> = sim.server_app_data().into_iter().map(|(_, d)| d).collect();
        assert_eq!(got.len(), 3, "seed {seed}");
    }
}

/// Each flight of the handshake lost once, one at a time: the retransmission
/// timers and the "peer repeated its flight" rule recover every case.
#[test]
fn each_flight_lost_once() {
    // Upstream datagrams: 0 CH1, 1 CH2, 2 flight 5. Downstream: 0 HVR, 1 flight 4, 2 flight 6.
    for (up, idx) in [
        (true, 0),
        (true, 1),
        (true, 2),
        (false, 0),
        (false, 1),
        (false, 2),
    ] {
        let mut sim = Sim::new(all_suites(), 7);
        let mut cfg = psk_client("dev", KEY, CipherSuite::PskAes128Ccm8);
        cfg.mtu = 1200;
        // add_client pumps the first hello immediately, so set the drop list first.
        sim.up.push(Default::default());
        sim.down.push(Default::default());
        if up {
            sim.up[0].drop.insert(idx);
        } else {
            sim.down[0].drop.insert(idx);
        }
        let c = {
            let i = sim.clients.len();
            sim.keys.insert(cfg.identity.clone(), cfg.psk.clone());
            sim.clients
                .push(lwm2m_dtls::DtlsClient::new(cfg, rng(99), sim.now));
            sim.addrs.push(client_addr(i));
            sim.client_events.push(Vec::new());
            sim.pump();
            i
        };
        establish(&mut sim, c);
        assert!(
            sim.server.stats().retransmissions + sim.clients[c].retransmissions >= 1,
            "up={up} idx={idx}"
        );
        // Server has exactly one session (no duplicates from retransmitted hellos).
        assert_eq!(
            sim.server.stats().handshakes_started,
            1,
            "up={up} idx={idx}"
        );
        if !up && idx == 2 {
            // Flight 6 lost: the client repeats flight 5 and the server answers it.
            assert!(sim.server.stats().retransmissions >= 1);
        }
    }
}

#[test]
fn small_mtu_fragments_every_flight() {
    let config = ServerConfig {
        mtu: 200,
        ..all_suites()
    };
    let mut sim = Sim::new(config, 3);
    let mut cfg = psk_client(&"x".repeat(150), KEY, CipherSuite::PskAes128GcmSha256);
    cfg.mtu = 200;
    let c = sim.add_client(cfg);
    // Jitter reorders fragments.
    sim.down[c].jitter = Duration::from_millis(50);
    sim.up[c].jitter = Duration::from_millis(50);
    establish(&mut sim, c);
}

#[test]
fn half_open_handshake_does_not_delay_others_and_times_out() {
    let mut sim = Sim::new(all_suites(), 4);
    // Client 0 sends its hellos but never hears back (blackholed downlink after HVR).
    let stuck = sim.add_client(psk_client("stuck", KEY, CipherSuite::PskAes128Ccm8));
    sim.down[stuck].drop.extend(1..1000);
    sim.run_until(Duration::from_millis(100), |_| false);
    assert_eq!(sim.server.handshakes_in_progress(), 1);
    let ok = sim.add_client(psk_client("ok", KEY, CipherSuite::PskAes128Ccm8));
    let t0 = sim.now;
    establish(&mut sim, ok);
    // Four one-way trips: not a single retransmission timeout was needed.
    assert!(
        sim.now - t0 < Duration::from_millis(100),
        "{:?}",
        sim.now - t0
    );
    sim.run_until(Duration::from_secs(120), |s| {
        s.server.handshakes_in_progress() == 0
    });
    assert_eq!(sim.server.stats().handshakes_timed_out, 1);
    assert!(sim.server_events.iter().any(|e| matches!(
        e,
        Event::Closed {
            reason: CloseReason::HandshakeTimeout,
            ..
        }
    )));
}

#[test]
fn client_that_stops_after_client_hello_leaves_no_state() {
    let mut sim = Sim::new(all_suites(), 5);
    let c = sim.add_client(psk_client("hvr-only", KEY, CipherSuite::PskAes128Ccm8));
    sim.up[c].blackhole = true; // nothing after the first hello
    sim.run_until(Duration::from_millis(50), |_| false);
    assert_eq!(sim.server.stats().hello_verify_requests, 1);
    assert_eq!(sim.server.handshakes_in_progress(), 0);
    assert_eq!(sim.server.poll_timeout(), None);
}

#[test]
fn handshake_limit_refuses_and_counts() {
    let config = ServerConfig {
        limits: lwm2m_dtls::Limits {
            max_handshakes: 1,
            ..Default::default()
        },
        ..all_suites()
    };
    let mut sim = Sim::new(config, 6);
    sim.auto_psk = false;
    sim.add_client(psk_client("a", KEY, CipherSuite::PskAes128Ccm8));
    sim.run_until(Duration::from_millis(100), |s| !s.pending_psk.is_empty());
    sim.add_client(psk_client("b", KEY, CipherSuite::PskAes128Ccm8));
    sim.run_until(Duration::from_millis(100), |_| false);
    assert_eq!(sim.server.handshakes_in_progress(), 1);
    assert!(sim.server.stats().handshakes_refused >= 1);
}

#[test]
fn renegotiation_refused_with_warning_and_session_survives() {
    let mut sim = Sim::new(all_suites(), 8);
    let c = sim.add_client(psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    establish(&mut sim, c);
    // A ClientHello fragment inside the encrypted session.
    let hello = [1u8, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0];
    sim.clients[c].send_record(1, 22, &hello).unwrap();
    sim.pump();
    sim.run_until(Duration::from_secs(1), |s| {
        s.server.stats().renegotiations_refused == 1
    });
    assert_eq!(sim.server.stats().renegotiations_refused, 1);
    sim.clients[c].send(b"still here").unwrap();
    sim.pump();
    sim.run_until(Duration::from_secs(1), |s| !s.server_app_data().is_empty());
    assert_eq!(sim.server_app_data()[0].1, b"still here");
}

#[test]
fn close_notify_both_ways() {
    let mut sim = Sim::new(all_suites(), 9);
    let c = sim.add_client(psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    establish(&mut sim, c);
    sim.clients[c].close_notify();
    sim.pump();
    sim.run_until(Duration::from_secs(1), |s| {
        s.server.established_sessions() == 0
    });
    assert!(sim.server_events.iter().any(|e| matches!(
        e,
        Event::Closed {
            reason: CloseReason::CloseNotify,
            ..
        }
    )));

    let c2 = sim.add_client(psk_client("dev2", KEY, CipherSuite::PskAes128Ccm8));
    establish(&mut sim, c2);
    let session = *sim.completed_sessions().last().unwrap();
    sim.server.close(sim.now, session).unwrap();
    sim.pump();
    sim.run_until(Duration::from_secs(1), |s| {
        s.client_events[c2].contains(&ClientEvent::Closed(CloseReason::CloseNotify))
    });
    assert!(sim.client_events[c2].contains(&ClientEvent::Closed(CloseReason::CloseNotify)));
}

#[test]
fn no_common_suite_gets_handshake_failure() {
    let config = ServerConfig {
        cipher_suites: vec![CipherSuite::PskAes128GcmSha256],
        ..all_suites()
    };
    let mut sim = Sim::new(config, 10);
    let c = sim.add_client(psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    sim.run_until(Duration::from_secs(5), |s| !s.client_events[c].is_empty());
    assert_eq!(
        sim.client_events[c],
        vec![ClientEvent::Closed(CloseReason::AlertReceived(
            alert::HANDSHAKE_FAILURE
        ))]
    );
}

#[test]
fn extended_master_secret_required() {
    let config = ServerConfig {
        require_extended_master_secret: true,
        ..all_suites()
    };
    let mut sim = Sim::new(config, 11);
    let legacy = sim.add_client(ClientConfig {
        extended_master_secret: false,
        ..psk_client("legacy", KEY, CipherSuite::PskAes128Ccm8)
    });
    let modern = sim.add_client(psk_client("modern", KEY, CipherSuite::PskAes128Ccm8));
    establish(&mut sim, modern);
    sim.run_until(Duration::from_secs(5), |s| {
        !s.client_events[legacy].is_empty()
    });
    assert_eq!(
        sim.client_events[legacy],
        vec![ClientEvent::Closed(CloseReason::AlertReceived(
            alert::HANDSHAKE_FAILURE
        ))]
    );
}

/// Issue 16: without RFC 7627 the master secret is not bound to the
/// handshake (triple handshake attacks); required unless configured off.
#[test]
fn a_client_without_extended_master_secret_is_refused_by_default() {
    let mut sim = Sim::new(all_suites(), 12);
    let c = sim.add_client(ClientConfig {
        extended_master_secret: false,
        ..psk_client("legacy", KEY, CipherSuite::PskAes128Ccm8)
    });
    sim.run_until(Duration::from_secs(5), |s| !s.client_events[c].is_empty());
    assert_eq!(
        sim.client_events[c],
        vec![ClientEvent::Closed(CloseReason::AlertReceived(
            alert::HANDSHAKE_FAILURE
        ))]
    );
}

#[test]
fn legacy_master_secret_without_ems_works_when_allowed() {
    let config = ServerConfig {
        require_extended_master_secret: false,
        ..all_suites()
    };
    let mut sim = Sim::new(config, 12);
    let c = sim.add_client(ClientConfig {
        extended_master_secret: false,
        ..psk_client("legacy", KEY, CipherSuite::PskAes128CbcSha256)
    });
    establish(&mut sim, c);
}

#[test]
fn rebooted_client_replaces_its_old_session_on_completion() {
    let mut sim = Sim::new(all_suites(), 13);
    let c = sim.add_client(psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    establish(&mut sim, c);
    let first = sim.completed_sessions()[0];
    // Same address, fresh client state (a reboot): a new full handshake.
    sim.clients[c] = lwm2m_dtls::DtlsClient::new(
        psk_client("dev", KEY, CipherSuite::PskAes128Ccm8),
        rng(555),
        sim.now,
    );
    sim.client_events[c].clear();
    sim.pump();
    establish(&mut sim, c);
    let second = *sim.completed_sessions().last().unwrap();
    assert_ne!(first, second);
    assert!(sim.server_events.contains(&Event::Closed {
        session: first,
        peer: sim.addrs[c],
        reason: CloseReason::Replaced
    }));
    assert_eq!(sim.server.established_sessions(), 1);
    assert_eq!(sim.server.session_for_addr(sim.addrs[c]), Some(second));
}

#[test]
fn idle_sessions_expire_when_configured() {
    let config = ServerConfig {
        session_idle_timeout: Some(Duration::from_secs(60)),
        ..all_suites()
    };
    let mut sim = Sim::new(config, 14);
    let c = sim.add_client(psk_client("dev", KEY, CipherSuite::PskAes128Ccm8));
    establish(&mut sim, c);
    sim.run_until(Duration::from_secs(120), |s| {
        s.server.established_sessions() == 0
    });
    assert_eq!(sim.server.established_sessions(), 0);
    assert_eq!(sim.server.stats().sessions_idle_closed, 1);
    assert!(sim.server_events.iter().any(|e| matches!(
        e,
        Event::Closed {
            reason: CloseReason::IdleTimeout,
            ..
        }
    )));
}
