//! Invariant: any string that parses as a path prints back to a string that
//! parses to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lwm2m_core::LwM2mPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(path) = text.parse::<LwM2mPath>() {
        let printed = path.to_string();
        let again: LwM2mPath = printed.parse().expect("printed path must parse");
        assert_eq!(again, path, "{text:?} -> {printed:?}");
    }
});
