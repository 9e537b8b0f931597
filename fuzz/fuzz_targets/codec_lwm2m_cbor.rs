//! LwM2M CBOR codec: decoding never panics, and what decodes round-trips
//! stably (decode → encode → decode → encode gives the same bytes).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use lwm2m_core::ContentFormat;

fuzz_target!(|data: &[u8]| common::round_trip(ContentFormat::LwM2mCbor, data));
