//! Arbitrary bytes never panic the server, and never disturb an established
//! session (the fuzz targets do this at scale; this runs in `make test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use lwm2m_dtls::{CipherSuite, Event, ServerConfig};
use proptest::prelude::*;

/// A record header (CID or plain, epoch 0 or 1) followed by arbitrary bytes,
/// so the input reaches past the framing checks.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(22u8),
            Just(23),
            Just(25),
            Just(21),
            Just(20),
            any::<u8>()
        ],
        0u16..2,
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(ctype, epoch, body)| {
            let mut d = vec![ctype, 0xfe, 0xfd];
            d.extend_from_slice(&epoch.to_be_bytes());
            d.extend_from_slice(&[0, 0, 0, 0, 0, 9]);
            d.extend_from_slice(&body);
            d
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbage_never_disturbs_an_established_session(inputs in proptest::collection::vec(datagram(), 1..20)) {
        let mut sim = Sim::new(ServerConfig::default(), 1);
        let c = sim.add_client(psk_client("dev", b"k", CipherSuite::PskAes128Ccm8));
        prop_assert!(sim.run_until(Duration::from_secs(10), |s| s.connected(c)));
        let events_before = sim.server_events.len();
        for (i, d) in inputs.iter().enumerate() {
            let from = if i % 2 == 0 { sim.addrs[c] } else { client_addr(99) };
            sim.inject(from, d);
        }
        let disturbed = sim.server_events[events_before..]
            .iter()
            .any(|e| matches!(e, Event::ApplicationData { .. } | Event::Closed { .. } | Event::PeerMoved { .. }));
        prop_assert!(!disturbed, "forged input disturbed the session");
        prop_assert_eq!(sim.server.established_sessions(), 1);
        sim.clients[c].send(b"still fine").unwrap();
        sim.pump();
        sim.run_until(Duration::from_secs(1), |s| !s.server_app_data().is_empty());
        prop_assert_eq!(sim.server_app_data().len(), 1);
    }

    #[test]
    fn raw_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut sim = Sim::new(ServerConfig::default(), 2);
        sim.inject(client_addr(1), &bytes);
        prop_assert_eq!(sim.server.handshakes_in_progress(), 0);
    }
}
