//! The DTLS record layer of an established session fed arbitrary datagrams
//! (from the peer's address and from others): never panics, never delivers
//! forged application data, never lets a forgery close or move the session,
//! and the genuine client still gets through afterwards.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lwm2m_dtls::{ClientConfig, DtlsClient, DtlsServer, Event, ServerConfig};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const KEY: &[u8] = b"fuzz-key";

fn established(now: Instant, client_addr: SocketAddr) -> Option<(DtlsServer, DtlsClient)> {
    let mut server = DtlsServer::new(
        ServerConfig::default(),
        Box::new(ChaCha20Rng::seed_from_u64(1)),
    )
    .ok()?;
    let config = ClientConfig {
        identity: b"dev".to_vec(),
        psk: KEY.to_vec(),
        ..ClientConfig::default()
    };
    let mut client = DtlsClient::new(config, Box::new(ChaCha20Rng::seed_from_u64(2)), now);
    for _ in 0..10 {
        while let Some(d) = client.poll_transmit() {
            server.handle_datagram(now, client_addr, &d);
        }
        while let Some(e) = server.poll_event() {
            if let Event::NeedPsk { session, .. } = e {
                server.provide_psk(now, session, Some(KEY)).ok()?;
            }
        }
        while let Some(t) = server.poll_transmit() {
            client.handle_datagram(now, &t.bytes);
        }
        if client.is_established() {
            while client.poll_event().is_some() {}
            return Some((server, client));
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let addr: SocketAddr = "192.0.2.1:4000"
        .parse()
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    let other: SocketAddr = "198.51.100.7:5000".parse().unwrap_or(addr);
    let Some((mut server, mut client)) = established(now, addr) else {
        return;
    };
    let established_before = server.established_sessions();
    // Chunks: [from, len, bytes...]
    let mut rest = data;
    while let [from, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        let src = if from % 2 == 0 { addr } else { other };
        server.handle_datagram(now + Duration::from_millis(u64::from(*from)), src, datagram);
        while let Some(e) = server.poll_event() {
            match e {
                Event::ApplicationData { .. } => panic!("forged record delivered"),
                Event::PeerMoved { .. } => panic!("forged record moved the session"),
                Event::Closed { .. } => panic!("forged record closed the session"),
                _ => {}
            }
        }
        while server.poll_transmit().is_some() {}
    }
    assert_eq!(server.established_sessions(), established_before);
    // The genuine client is unaffected.
    if client.send(b"genuine").is_ok() {
        while let Some(d) = client.poll_transmit() {
            server.handle_datagram(now, addr, &d);
        }
        let got = std::iter::from_fn(|| server.poll_event())
            .any(|e| matches!(e, Event::ApplicationData { data, .. } if data == b"genuine"));
        assert!(got, "genuine record refused after fuzz input");
    }
});
