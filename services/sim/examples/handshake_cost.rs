//! Prints what a DTLS handshake costs our engine (server and client in one
//! thread, no sockets), per suite, and the session export blob size:
//! `cargo run --release -p lwm2m-sim --example handshake_cost [N]`.
//! `make bench` reports the same through `lwm2m-bench dtls-engine`.

use lwm2m_sim::handshake_cost::{measure, HandshakeSuite};
use lwm2m_sim::TestPki;

fn main() -> Result<(), lwm2m_sim::SimError> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let pki = TestPki::generate("example CA", "example server")?;
    for suite in [
        HandshakeSuite::Psk,
        HandshakeSuite::EcdheX509,
        HandshakeSuite::EcdheRpk,
    ] {
        let n = if suite == HandshakeSuite::Psk {
            count * 4
        } else {
            count
        };
        let cost = measure(suite, n, &pki)?;
        println!(
            "{:<24} {n:>6} handshakes: server {:>8.1} µs each ({:>7.0}/core-s), client {:>8.1} µs, export blob {} bytes",
            suite.name(),
            cost.server_us_per_handshake,
            1e6 / cost.server_us_per_handshake,
            cost.client_us_per_handshake,
            cost.export_blob_bytes
        );
    }
    Ok(())
}
