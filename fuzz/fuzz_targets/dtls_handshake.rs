//! Handshakes under hostile conditions: a genuine client's flights are
//! delivered, dropped, bit-flipped, reordered with time jumps, and mixed with
//! arbitrary datagrams. The server never panics, keeps its gauges within
//! limits, and only ever delivers application data the client really sent.
//! The first input byte picks the handshake: PSK, or ECDHE_ECDSA with raw
//! public keys (certificate messages, signatures and ECDH then take the
//! hits), in which case a completed handshake must name the client's key.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lwm2m_dtls::{
    CertificateConfig, CipherSuite, ClientCertificate, ClientConfig, DtlsClient, DtlsServer, Event,
    PeerCredential, PrivateKey, ServerConfig,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const KEY: &[u8] = b"fuzz-key";

fn key(seed: u64) -> PrivateKey {
    PrivateKey::from(p256::SecretKey::random(&mut ChaCha20Rng::seed_from_u64(
        seed,
    )))
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let addr = SocketAddr::from(([192, 0, 2, 1], 4000));
    let Some((mode, data)) = data.split_first() else {
        return;
    };
    let certificates = mode % 2 == 1;
    let (server_key, client_key) = (key(11), key(12));
    let client_spki = client_key.spki_der();
    let config = ServerConfig {
        mtu: 200,
        certificate: certificates.then(|| CertificateConfig::raw_public_key(server_key.clone())),
        ..ServerConfig::default()
    };
    let Ok(mut server) = DtlsServer::new(config, Box::new(ChaCha20Rng::seed_from_u64(1))) else {
        return;
    };
    let client_config = if certificates {
        ClientConfig {
            cipher_suites: vec![CipherSuite::EcdheEcdsaAes128Ccm8],
            certificate: Some(ClientCertificate {
                private_key: client_key,
                chain: Vec::new(),
                server_public_key: Some(server_key.spki_der()),
            }),
            mtu: 200,
            ..ClientConfig::default()
        }
    } else {
        ClientConfig {
            identity: b"dev".to_vec(),
            psk: KEY.to_vec(),
            mtu: 200,
            ..ClientConfig::default()
        }
    };
    let mut client = DtlsClient::new(client_config, Box::new(ChaCha20Rng::seed_from_u64(2)), now);
    let mut to_server: Vec<Vec<u8>> = Vec::new();
    let mut to_client: Vec<Vec<u8>> = Vec::new();
    let mut sent_ping = false;
    let mut rest = data;
    while let [op, arg, tail @ ..] = rest {
        rest = tail;
        to_server.extend(std::iter::from_fn(|| client.poll_transmit()));
        match op % 6 {
            0 if !to_server.is_empty() => {
                let d = to_server.remove(0);
                server.handle_datagram(now, addr, &d);
            }
            1 if !to_server.is_empty() => {
                let mut d = to_server.remove(usize::from(*arg) % to_server.len());
                let len = d.len();
                if let Some(b) = d.get_mut(usize::from(*arg) % len.max(1)) {
                    *b ^= 1 << (arg % 8);
                }
                server.handle_datagram(now, addr, &d);
            }
            2 => {
                let n = usize::from(*arg).min(rest.len());
                let (raw, next) = rest.split_at(n);
                rest = next;
                server.handle_datagram(now, addr, raw);
            }
            3 => {
                now += Duration::from_millis(u64::from(*arg) * 100);
                server.handle_timeout(now);
                client.handle_timeout(now);
            }
            4 if !to_client.is_empty() => {
                let d = to_client.remove(usize::from(*arg) % to_client.len());
                client.handle_datagram(now, &d);
            }
            5 if !to_server.is_empty() => {
                // Duplicate.
                let d = to_server[usize::from(*arg) % to_server.len()].clone();
                server.handle_datagram(now, addr, &d);
            }
            _ => {}
        }
        while let Some(e) = server.poll_event() {
            match e {
                Event::NeedPsk {
                    session, identity, ..
                } => {
                    let key = (identity == b"dev").then_some(KEY);
                    let _ = server.provide_psk(now, session, key);
                }
                Event::ApplicationData { data, .. } => {
                    assert_eq!(data, b"ping", "forged data delivered")
                }
                Event::HandshakeComplete { credential, .. } if certificates => {
                    assert_eq!(
                        credential,
                        PeerCredential::RawPublicKey {
                            spki_der: client_spki.clone()
                        },
                        "a handshake completed for a key the client does not hold"
                    );
                }
                _ => {}
            }
        }
        to_client.extend(std::iter::from_fn(|| server.poll_transmit()).map(|t| t.bytes));
        while client.poll_event().is_some() {}
        if client.is_established() && !sent_ping {
            sent_ping = client.send(b"ping").is_ok();
        }
        assert!(server.handshakes_in_progress() <= 1);
        assert!(server.established_sessions() <= 1);
    }
});
