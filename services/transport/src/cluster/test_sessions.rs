//! DTLS sessions made by a real handshake in memory (the engine's own
//! client), for the cluster's unit tests.

use std::net::SocketAddr;
use std::time::Instant;

use lwm2m_dtls::{ClientConfig, DtlsClient, DtlsServer, Event, OsRng, ServerConfig, SessionId};

pub(crate) const PSK: &[u8] = b"test psk key";

/// A server issuing no Connection IDs (or 8-byte ones with `cid`), that
/// reserves sequence numbers in blocks of `block`.
pub(crate) fn server(cid: bool, block: u64) -> DtlsServer {
    let config = ServerConfig {
        connection_id_length: if cid { 8 } else { 0 },
        sequence_reservation: Some(block),
        ..ServerConfig::default()
    };
    DtlsServer::new(config, Box::new(OsRng)).unwrap()
}

/// Runs a PSK handshake from `from` to completion; returns the session and
/// the client, and leaves the server's other events in `events`.
pub(crate) fn handshake(
    server: &mut DtlsServer,
    from: SocketAddr,
    now: Instant,
    events: &mut Vec<Event>,
) -> (SessionId, DtlsClient) {
    let config = ClientConfig {
        identity: b"dev".to_vec(),
        psk: PSK.to_vec(),
        // Taken up only by a server that issues CIDs.
        connection_id: Some(Vec::new()),
        ..ClientConfig::default()
    };
    let mut client = DtlsClient::new(config, Box::new(OsRng), now);
    let mut session = None;
    let mut now = now;
    for _ in 0..50 {
        let mut progress = false;
        while let Some(bytes) = client.poll_transmit() {
            progress = true;
            server.handle_datagram(now, from, &bytes);
        }
        while let Some(t) = server.poll_transmit() {
            client.handle_datagram(now, &t.bytes);
        }
        while let Some(e) = server.poll_event() {
            match e {
                Event::NeedPsk { session, .. } => {
                    server.provide_psk(now, session, Some(PSK)).unwrap();
                }
                Event::HandshakeComplete { session: s, .. } => session = Some(s),
                e => events.push(e),
            }
        }
        if let (Some(s), true) = (session, client.is_established()) {
            return (s, client);
        }
        if !progress {
            // Retransmissions (a flight the server dropped or deferred).
            now = [client.poll_timeout(), server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now)
                .max(now);
            client.handle_timeout(now);
            if server.poll_timeout().is_some_and(|at| at <= now) {
                server.handle_timeout(now);
            }
        }
    }
    panic!("no handshake: {:?} {events:?}", server.stats());
}
