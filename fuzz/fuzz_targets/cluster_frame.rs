//! The cluster frame codec (records forwarded between transport nodes)
//! fed arbitrary bytes: never panics; whatever decodes is exactly what
//! `encode` makes of its fields (one encoding per frame, so a MAC covers
//! all of it); and a receiver's `Freshness` never admits one frame twice.
#![no_main]

// The codec is one self-contained file of the transport crate, which does
// not build under the fuzzer (librdkafka); it is compiled here as it is.
#[path = "../../services/transport/src/cluster/frame.rs"]
#[allow(dead_code)]
mod frame;

use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz cluster key";

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes: authentic only by the 2^-128 chance of a MAC.
    if let Ok(f) = frame::decode(KEY, data) {
        let again = frame::encode(KEY, f.direction, f.from_node, f.sent_ms, f.device, f.record);
        assert_eq!(again, data);
    }
    // The input as a record in a real frame: it round-trips, and is fresh
    // once only.
    let Some((&first, record)) = data.split_first() else {
        return;
    };
    let sent_ms = 1_800_000_000_000 + i64::from(first);
    let device = std::net::SocketAddr::from(([192, 0, 2, first], u16::from(first) << 8));
    let bytes = frame::encode(KEY, frame::Direction::Inbound, first, sent_ms, device, record);
    let f = frame::decode(KEY, &bytes).expect("own frame decodes");
    assert_eq!((f.from_node, f.sent_ms, f.device, f.record), (first, sent_ms, device, record));
    assert!(frame::decode(b"another key", &bytes).is_err());
    let mut fresh = frame::Freshness::default();
    assert!(fresh.admit(&f, 1_800_000_000_000).is_ok());
    assert!(fresh.admit(&f, 1_800_000_000_001).is_err());
});
