//! Scenario 5, the engine's share: `lwm2m_sim::handshake_cost` runs
//! handshakes between our sans-IO server and client in this process and
//! times the server's calls apart from the client's: the server's CPU per
//! handshake with nothing else on the node (handshakes per second per
//! core), and the export blob size of a session. `dtls` measures the same
//! over UDP against the product.

use anyhow::Result;
use lwm2m_sim::handshake_cost::{measure, HandshakeSuite};
use lwm2m_sim::TestPki;

use crate::record::{Line, Section};

#[derive(Debug, Clone, clap::Args)]
pub struct DtlsEngineArgs {
    /// Handshakes per PSK run.
    #[arg(long, default_value_t = 2_000)]
    pub psk_handshakes: usize,
    /// Handshakes per ECDHE_ECDSA run (each costs several P-256 operations).
    #[arg(long, default_value_t = 300)]
    pub ecdhe_handshakes: usize,
}

fn line(suite: HandshakeSuite, count: usize, pki: &TestPki) -> Result<Line> {
    let cost = measure(suite, count, pki)?;
    Ok(
        Line::new(Section::Scenario, format!("dtls.engine_{}", suite.name()))
            .param("handshakes", count)
            .param(
                "what",
                "sans-IO server and client in one thread, no sockets; server calls timed apart",
            )
            .metric("server_us_per_handshake", cost.server_us_per_handshake)
            .metric(
                "server_handshakes_per_core_s",
                1e6 / cost.server_us_per_handshake,
            )
            .metric("client_us_per_handshake", cost.client_us_per_handshake)
            .metric("wall_ms", cost.wall.as_secs_f64() * 1e3)
            .metric("export_blob_bytes", cost.export_blob_bytes as f64),
    )
}

pub fn run(args: &DtlsEngineArgs) -> Result<Vec<Line>> {
    let pki = TestPki::generate("bench CA", "bench server")?;
    Ok(vec![
        line(HandshakeSuite::Psk, args.psk_handshakes, &pki)?,
        line(HandshakeSuite::EcdheX509, args.ecdhe_handshakes, &pki)?,
        line(HandshakeSuite::EcdheRpk, args.ecdhe_handshakes, &pki)?,
    ])
}
