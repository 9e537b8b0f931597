//! The CoAP endpoint fed arbitrary datagrams from several peers over time:
//! never panics, answers every request it surfaces, and keeps its state bounded.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lwm2m_coap::{CoapEndpoint, Config, Event, Response, ResponseCode};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let Ok(mut ep) = CoapEndpoint::<u8>::new(Config { seed: 7, ..Config::default() }) else { return };
    // Each chunk: [peer, delay, len, bytes...]
    let mut rest = data;
    while let [peer, delay, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_millis(u64::from(*delay) * 40);
        ep.handle_timeout(now);
        ep.handle_datagram(now, *peer % 4, datagram);
        while let Some(event) = ep.poll_event() {
            if let Event::Request { exchange, .. } = event {
                // A large body exercises the Block2 cache as well.
                let body = vec![b'x'; usize::from(*delay) * 8];
                let _ = ep.respond(now, exchange, Response::new(ResponseCode::CONTENT).with_payload(body));
            }
        }
        while ep.poll_transmit().is_some() {}
    }
    assert!(ep.pending_exchanges() <= 10_000);
});
