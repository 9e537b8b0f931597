//! OMA DDF XML: broken XML is an error naming the source, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lwm2m_core::model::ddf;

fuzz_target!(|data: &[u8]| {
    match ddf::parse_bytes("fuzz.xml", data) {
        Ok(models) => {
            for m in models {
                assert!(m.id != u16::MAX);
                assert!(m.resources.keys().all(|id| *id != u16::MAX));
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz.xml"), "{e}"),
    }
});
