//! The DTLS layer of a simulated device: the sans-IO `DtlsClient` between
//! the device's CoAP endpoint and its socket. CoAP datagrams go in as
//! application data, records come out for the socket; records from the
//! socket come back as CoAP datagrams.
//!
//! CoAP datagrams written before the handshake completes wait here (CoAP
//! retransmits on its own timer anyway; a short queue keeps the first
//! Register from waiting for it). When the session fails or closes, a new
//! handshake starts after `retry`. The client offers a Connection ID
//! (empty for our direction) when `connection_id` is set, so a NAT
//! rebinding keeps the session; without one, a rebinding needs a new
//! handshake (see [`SecureLink::after_rebind`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use lwm2m_dtls::{ClientConfig, ClientEvent, DtlsClient};

use crate::security::Security;
use crate::stats::FleetStats;

/// CoAP datagrams kept while the handshake runs.
const MAX_WAITING: usize = 16;

/// What the link hands back to the device loop.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    /// A decrypted CoAP datagram.
    Datagram(Vec<u8>),
    /// The handshake completed.
    Connected,
    /// The session ended (reason in the log); a new one is scheduled.
    Closed(String),
}

pub(crate) struct SecureLink {
    config: ClientConfig,
    client: Option<DtlsClient>,
    /// When the current handshake started (for the handshake latency).
    started: Option<Instant>,
    /// When to start the next handshake.
    reconnect_at: Option<Instant>,
    retry: Duration,
    waiting: VecDeque<Vec<u8>>,
    /// The server gave us a Connection ID in the current session.
    has_cid: bool,
    /// Handshakes completed by this device.
    pub handshakes: u64,
}

impl SecureLink {
    /// `None` for NoSec devices (and unresolved `PerDevice` templates:
    /// `Security::resolve` first).
    pub(crate) fn new(security: &Security, connection_id: bool, retry: Duration) -> Option<Self> {
        let mut config = ClientConfig {
            cipher_suites: security.cipher_suites(),
            // An empty CID: we ask the server for one and want none ourselves.
            connection_id: connection_id.then(Vec::new),
            ..ClientConfig::default()
        };
        match security {
            Security::NoSec | Security::PerDevice(_) => return None,
            Security::Psk { identity, key } => {
                config.identity = identity.clone();
                config.psk = key.clone();
            }
            Security::Certificate(certificate) => config.certificate = Some(certificate.clone()),
        }
        Some(Self {
            config,
            client: None,
            started: None,
            reconnect_at: None,
            retry,
            waiting: VecDeque::new(),
            has_cid: false,
            handshakes: 0,
        })
    }

    /// Starts a handshake now (the ClientHello is ready to send).
    pub(crate) fn connect(&mut self, now: Instant, stats: &FleetStats) {
        self.client = Some(DtlsClient::new(
            self.config.clone(),
            Box::new(lwm2m_dtls::OsRng),
            now,
        ));
        self.started = Some(now);
        self.reconnect_at = None;
        self.has_cid = false;
        stats.on_handshake_started();
    }

    pub(crate) fn is_established(&self) -> bool {
        self.client.as_ref().is_some_and(DtlsClient::is_established)
    }

    /// Whether the session survives a change of our address.
    pub(crate) fn has_connection_id(&self) -> bool {
        self.is_established() && self.has_cid
    }

    /// After a NAT rebinding: without a Connection ID the server cannot
    /// know us at the new address, so handshake again.
    pub(crate) fn after_rebind(&mut self, now: Instant, stats: &FleetStats) {
        if !self.has_connection_id() {
            self.connect(now, stats);
        }
    }

    /// A CoAP datagram to protect (queued until the session is up).
    pub(crate) fn send(&mut self, datagram: Vec<u8>) {
        match self.client.as_mut() {
            Some(client) if client.is_established() => {
                if client.send(&datagram).is_err() {
                    // Closed meanwhile: CoAP retransmits after the next handshake.
                    self.queue(datagram);
                }
            }
            _ => self.queue(datagram),
        }
    }

    fn queue(&mut self, datagram: Vec<u8>) {
        if self.waiting.len() >= MAX_WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back(datagram);
    }

    /// A datagram from the server.
    pub(crate) fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) {
        if let Some(client) = self.client.as_mut() {
            client.handle_datagram(now, bytes);
        }
    }

    /// Runs the client's timers and starts a due reconnection.
    pub(crate) fn handle_timeout(&mut self, now: Instant, stats: &FleetStats) {
        if self.reconnect_at.is_some_and(|t| t <= now) {
            self.connect(now, stats);
        }
        if let Some(client) = self.client.as_mut() {
            if client.poll_timeout().is_some_and(|t| t <= now) {
                client.handle_timeout(now);
            }
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let client = self.client.as_ref().and_then(DtlsClient::poll_timeout);
        [client, self.reconnect_at].into_iter().flatten().min()
    }

    /// The next event; `Connected` flushes the waiting CoAP datagrams.
    pub(crate) fn poll_event(&mut self, now: Instant, stats: &FleetStats) -> Option<LinkEvent> {
        let event = self.client.as_mut()?.poll_event()?;
        Some(match event {
            ClientEvent::Connected { server_cid, .. } => {
                self.has_cid = server_cid.is_some_and(|cid| !cid.is_empty());
                self.handshakes += 1;
                if let Some(started) = self.started.take() {
                    stats.on_handshake_completed(now.duration_since(started));
                }
                if let Some(client) = self.client.as_mut() {
                    for datagram in self.waiting.drain(..) {
                        let _ = client.send(&datagram);
                    }
                }
                LinkEvent::Connected
            }
            ClientEvent::ApplicationData(data) => LinkEvent::Datagram(data),
            ClientEvent::Closed(reason) => {
                stats.on_handshake_failed_or_closed();
                self.reconnect_at = Some(now + self.retry);
                LinkEvent::Closed(format!("{reason:?}"))
            }
        })
    }

    /// The next record for the socket.
    pub(crate) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.client.as_mut()?.poll_transmit()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use lwm2m_dtls::{DtlsServer, Event, ServerConfig};

    use super::*;

    const KEY: &[u8] = b"0123456789abcdef";

    fn psk() -> Security {
        Security::Psk {
            identity: b"dev".to_vec(),
            key: KEY.to_vec(),
        }
    }

    /// Moves records both ways until nothing moves; returns what the
    /// server's application received.
    fn pump(
        link: &mut SecureLink,
        server: &mut DtlsServer,
        from: SocketAddr,
        now: Instant,
        stats: &FleetStats,
    ) -> (Vec<Vec<u8>>, Vec<LinkEvent>) {
        let (mut delivered, mut events) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            let mut moved = false;
            while let Some(record) = link.poll_transmit() {
                server.handle_datagram(now, from, &record);
                moved = true;
            }
            while let Some(event) = server.poll_event() {
                match event {
                    Event::NeedPsk { session, .. } => {
                        server.provide_psk(now, session, Some(KEY)).unwrap()
                    }
                    Event::ApplicationData { data, .. } => delivered.push(data),
                    _ => {}
                }
            }
            while let Some(t) = server.poll_transmit() {
                link.handle_datagram(now, &t.bytes);
                moved = true;
            }
            while let Some(event) = link.poll_event(now, stats) {
                events.push(event);
            }
            if !moved {
                break;
            }
        }
        (delivered, events)
    }

    #[test]
    fn datagrams_written_before_the_handshake_go_out_when_it_completes() {
        let stats = FleetStats::new();
        let mut server =
            DtlsServer::new(ServerConfig::default(), Box::new(lwm2m_dtls::OsRng)).unwrap();
        let mut link = SecureLink::new(&psk(), true, Duration::from_secs(1)).unwrap();
        let now = Instant::now();
        let from: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        link.connect(now, &stats);
        link.send(b"register".to_vec());
        let (delivered, events) = pump(&mut link, &mut server, from, now, &stats);
        assert_eq!(delivered, vec![b"register".to_vec()]);
        assert!(events.contains(&LinkEvent::Connected), "{events:?}");
        assert!(link.is_established() && link.has_connection_id());

        // The server's answer comes back as a CoAP datagram.
        let session = server.session_for_addr(from).unwrap();
        server
            .send_application_data(now, session, b"created")
            .unwrap();
        let (_, events) = pump(&mut link, &mut server, from, now, &stats);
        assert_eq!(events, vec![LinkEvent::Datagram(b"created".to_vec())]);
        let snap = stats.snapshot();
        assert_eq!(
            (snap.dtls_handshakes_started, snap.dtls_handshakes_completed),
            (1, 1)
        );
    }

    #[test]
    fn a_rebinding_keeps_a_cid_session_and_renews_one_without() {
        let now = Instant::now();
        for cid in [true, false] {
            let stats = FleetStats::new();
            let mut server =
                DtlsServer::new(ServerConfig::default(), Box::new(lwm2m_dtls::OsRng)).unwrap();
            let mut link = SecureLink::new(&psk(), cid, Duration::from_secs(1)).unwrap();
            link.connect(now, &stats);
            pump(
                &mut link,
                &mut server,
                "10.0.0.1:5000".parse().unwrap(),
                now,
                &stats,
            );
            assert_eq!(link.has_connection_id(), cid);

            link.after_rebind(now, &stats);
            link.send(b"update".to_vec());
            let (delivered, _) = pump(
                &mut link,
                &mut server,
                "10.0.0.1:6000".parse().unwrap(),
                now,
                &stats,
            );
            assert_eq!(delivered, vec![b"update".to_vec()], "cid {cid}");
            let expected = if cid { 1 } else { 2 };
            assert_eq!(link.handshakes, expected, "cid {cid}");
            assert_eq!(server.stats().peers_moved, u64::from(cid), "cid {cid}");
        }
    }

    #[test]
    fn nosec_has_no_link() {
        assert!(SecureLink::new(&Security::NoSec, true, Duration::from_secs(1)).is_none());
    }
}
