//! Issue 16 finding 6: established sessions do not live forever and a full
//! table does not lock new devices out. Sessions idle for
//! `session_idle_timeout` (on by default) close; when `limits.max_sessions`
//! is reached a new handshake (its cookie verified) evicts the least
//! recently active session, sessions marked registered last.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lwm2m_dtls::{CipherSuite, CloseReason, Event, Limits, ServerConfig, SessionId};

const KEY: &[u8] = b"secret-psk-key-16";

fn connect(sim: &mut Sim, name: &str) -> SessionId {
    let c = sim.add_client(psk_client(name, KEY, CipherSuite::PskAes128Ccm8));
    let before = sim.completed_sessions().len();
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)
        && s.completed_sessions().len() > before));
    // Some time passes between devices, so activity has an order.
    sim.run_until(Duration::from_secs(5), |_| false);
    *sim.completed_sessions().last().unwrap()
}

fn closed_with(sim: &Sim, reason: CloseReason) -> Vec<SessionId> {
    sim.server_events
        .iter()
        .filter_map(|e| match e {
            Event::Closed {
                session, reason: r, ..
            } if *r == reason => Some(*session),
            _ => None,
        })
        .collect()
}

#[test]
fn idle_sessions_expire_by_default() {
    let config = ServerConfig::default();
    let idle = config
        .session_idle_timeout
        .expect("an idle timeout by default");
    let mut sim = Sim::new(config, 51);
    let s = connect(&mut sim, "dev");
    sim.run_until(idle + Duration::from_secs(60), |s| {
        s.server.established_sessions() == 0
    });
    assert_eq!(closed_with(&sim, CloseReason::IdleTimeout), vec![s]);
}

#[test]
fn a_full_table_evicts_the_least_recently_active_unregistered_session() {
    let config = ServerConfig {
        limits: Limits {
            max_sessions: 3,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let mut sim = Sim::new(config, 52);
    let a = connect(&mut sim, "a");
    let b = connect(&mut sim, "b");
    let c = connect(&mut sim, "c");
    // `a` is the oldest, but its device is registered.
    sim.server.mark_registered(a, true).unwrap();
    let d = connect(&mut sim, "d");
    assert_eq!(closed_with(&sim, CloseReason::Evicted), vec![b]);
    let e = connect(&mut sim, "e");
    assert_eq!(closed_with(&sim, CloseReason::Evicted), vec![b, c]);
    assert_eq!(sim.server.established_sessions(), 3);
    for s in [a, d, e] {
        assert!(sim.server.peer_addr(s).is_some(), "{s:?} kept");
    }
    assert_eq!(sim.server.stats().sessions_evicted, 2);
    assert_eq!(sim.server.stats().handshakes_refused, 0);
    // Only registered sessions left besides the newest: the oldest of the
    // registered goes only when nothing else can.
    sim.server.mark_registered(d, true).unwrap();
    sim.server.mark_registered(e, true).unwrap();
    let f = connect(&mut sim, "f");
    assert_eq!(closed_with(&sim, CloseReason::Evicted), vec![b, c, a]);
    assert!(sim.server.peer_addr(f).is_some());
}
