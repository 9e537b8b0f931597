//! Link format: parsing never panics; what parses serializes to text that
//! parses to the same links, and the LwM2M view of it is stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lwm2m_core::link::{parse, serialize, RegisteredObjects};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(links) = parse(text) else { return };
    let printed = serialize(&links);
    let again = parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
    assert_eq!(again, links, "{text:?} -> {printed:?}");
    if let Ok(objects) = RegisteredObjects::from_links(&links) {
        let back = RegisteredObjects::from_links(&again).expect("same links, same result");
        assert_eq!(back, objects);
    }
});
