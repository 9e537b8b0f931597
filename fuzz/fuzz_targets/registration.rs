//! Register/Update parsing: arbitrary query options and payloads never panic,
//! and an accepted Register's own query parses back to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lwm2m_core::registration::{split_query, RegisterRequest, UpdateRequest};

fuzz_target!(|data: &[u8]| {
    let (head, payload) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(query) = std::str::from_utf8(head) else { return };
    let params = split_query(query);
    let _ = UpdateRequest::parse(&params, payload, Some(40));
    if let Ok(reg) = RegisterRequest::parse(&params, payload, None) {
        let query = reg.to_query();
        let again = RegisterRequest::parse(&query, payload, None)
            .unwrap_or_else(|e| panic!("own query {query:?} rejected: {e}"));
        assert_eq!(again.endpoint, reg.endpoint);
        assert_eq!(again.lwm2m_version, reg.lwm2m_version);
        assert_eq!(again.lifetime, reg.lifetime);
    }
});
