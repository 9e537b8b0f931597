//! Session export blobs (what a node parks or reserves in the cluster
//! store, and its successor imports) fed arbitrary bytes: import never
//! panics; a blob that imports exports back to a blob that decodes; and
//! a session already present is never imported a second time (two copies
//! would write under one key).
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use lwm2m_dtls::{DtlsServer, ServerConfig};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let config = ServerConfig {
        sequence_reservation: Some(64),
        ..ServerConfig::default()
    };
    let Ok(mut server) = DtlsServer::new(config.clone(), Box::new(ChaCha20Rng::seed_from_u64(1)))
    else {
        return;
    };
    let Ok(id) = server.import_session(now, data, 64) else {
        return;
    };
    assert!(server.session_key_id(id).is_some());
    assert!(server.import_session(now, data, 0).is_err(), "imported twice");
    let blob = server.export_session(id).expect("an imported session exports");
    assert!(server.import_session(now, &blob, 0).is_err(), "its export is the same session");
    let mut next = DtlsServer::new(config, Box::new(ChaCha20Rng::seed_from_u64(2))).expect("server");
    let again = next.import_session(now, &blob, 0).expect("its export imports");
    assert_eq!(next.session_key_id(again), server.session_key_id(id));
    while server.poll_event().is_some() {}
});
