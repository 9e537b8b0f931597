//! Property test: arbitrary and mutated datagrams never panic an endpoint,
//! whatever state it is in, and garbage never becomes an application event.
// Test helpers outside #[test] fns may panic: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use lwm2m_coap::{CoapEndpoint, Event, Request, RequestOptions, Response};
use proptest::prelude::*;

/// An endpoint with outstanding requests, an upload and an observation, so
/// that hostile input meets as much state as possible.
fn busy_endpoint(now: Instant) -> (CoapEndpoint<u8>, Vec<Vec<u8>>) {
    let mut pair = Pair::new();
    pair.respond_with(|req| {
        if req.observe() == Some(0) {
            Response::content(0, b"x".to_vec()).with_observe(1).unwrap()
        } else {
            Response::content(0, body(2500))
        }
    });
    pair.client
        .send_request(
            pair.now,
            SERVER,
            Request::get("/3/0").with_option(6, Vec::new()),
            RequestOptions::con(),
        )
        .unwrap();
    pair.run();
    let mut client = pair.client;
    client
        .send_request(now, SERVER, Request::get("/1"), RequestOptions::con())
        .unwrap();
    client
        .send_request(
            now,
            SERVER,
            Request::put("/5/0/0").with_payload(body(3000)),
            RequestOptions::con(),
        )
        .unwrap();
    client
        .send_request(now, SERVER, Request::get("/2"), RequestOptions::non())
        .unwrap();
    // Valid datagrams seen on the wire become mutation seeds.
    let seeds: Vec<Vec<u8>> = pair.log.iter().map(|s| s.bytes.clone()).collect();
    (client, seeds)
}

fn drain(endpoint: &mut CoapEndpoint<u8>) -> Vec<Event<u8>> {
    while endpoint.poll_transmit().is_some() {}
    std::iter::from_fn(|| endpoint.poll_event()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..20)) {
        let now = Instant::now();
        let (mut client, _) = busy_endpoint(now);
        let mut server = CoapEndpoint::<u8>::new(config(5)).unwrap();
        for (i, d) in datagrams.iter().enumerate() {
            let t = now + Duration::from_millis(i as u64 * 300);
            client.handle_datagram(t, SERVER, d);
            server.handle_datagram(t, CLIENT, d);
            client.handle_timeout(t);
            server.handle_timeout(t);
        }
        drain(&mut client);
        drain(&mut server);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        truncate in any::<prop::sample::Index>(),
    ) {
        let now = Instant::now();
        let (mut client, seeds) = busy_endpoint(now);
        let mut server = CoapEndpoint::<u8>::new(config(5)).unwrap();
        let mut bytes = pick.get(&seeds).clone();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        let cut = truncate.index(bytes.len() + 1);
        for d in [&bytes[..], &bytes[..cut]] {
            client.handle_datagram(now, SERVER, d);
            server.handle_datagram(now, CLIENT, d);
        }
        // Run every timer to completion too.
        for endpoint in [&mut client, &mut server] {
            let mut guard = 0;
            while let Some(t) = endpoint.poll_timeout() {
                endpoint.handle_timeout(t);
                guard += 1;
                prop_assert!(guard < 10_000, "timer loop");
            }
            drain(endpoint);
        }
    }
}

#[test]
fn pure_noise_produces_no_events() {
    let now = Instant::now();
    let mut server = CoapEndpoint::<u8>::new(config(5)).unwrap();
    let mut x = 0x1234_5678_u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Version bits forced to 0, so everything is ignored.
        let d = [
            (x as u8) & 0x3f,
            (x >> 8) as u8,
            (x >> 16) as u8,
            (x >> 24) as u8,
            (x >> 32) as u8,
        ];
        server.handle_datagram(now, CLIENT, &d);
    }
    assert_eq!(server.stats().wrong_version, 2000);
    assert!(drain(&mut server).is_empty());
}
