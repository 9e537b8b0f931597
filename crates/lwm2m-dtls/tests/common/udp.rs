//! A minimal tokio driver for the sans-IO server over a real UDP socket,
//! for interop tests with independent DTLS clients. It answers PSK lookups
//! from a map and serves CoAP through `lwm2m-coap` on top of the sessions:
//! `GET /hello` answers 2.05 "hello over dtls"; any other request echoes
//! its payload. Every server event is forwarded to the test. It gives the
//! engine the wall clock once at start, for X.509 validity checks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use lwm2m_coap::{CoapEndpoint, Config as CoapConfig, Event as CoapEvent, Response, ResponseCode};
use lwm2m_dtls::{DtlsServer, Event, ServerConfig, SessionId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

pub struct Running {
    pub addr: SocketAddr,
    pub events: mpsc::UnboundedReceiver<Event>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<DtlsServer>,
}

impl Running {
    /// Stops the driver and returns the server for inspection.
    pub async fn stop(mut self) -> DtlsServer {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap()
    }
}

pub async fn start(config: ServerConfig, keys: HashMap<Vec<u8>, Vec<u8>>) -> Running {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let mut server = DtlsServer::new(config, Box::new(lwm2m_dtls::OsRng)).unwrap();
    // The driver, not the engine, reads the wall clock (X.509 validity).
    server.set_wall_clock(Instant::now(), SystemTime::now());
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(socket, server, keys, tx, stop_rx));
    Running {
        addr,
        events: rx,
        stop: Some(stop_tx),
        task,
    }
}

async fn run(
    socket: UdpSocket,
    mut server: DtlsServer,
    keys: HashMap<Vec<u8>, Vec<u8>>,
    tx: mpsc::UnboundedSender<Event>,
    mut stop: oneshot::Receiver<()>,
) -> DtlsServer {
    let mut coap = CoapEndpoint::<SessionId>::new(CoapConfig {
        seed: 7,
        ..CoapConfig::default()
    })
    .unwrap();
    let mut buf = vec![0u8; 4096];
    loop {
        let deadline = [server.poll_timeout(), coap.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let sleep_for = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, from) = r.unwrap();
                server.handle_datagram(Instant::now(), from, &buf[..n]);
            }
            _ = tokio::time::sleep(sleep_for) => {
                let now = Instant::now();
                server.handle_timeout(now);
                coap.handle_timeout(now);
            }
            _ = &mut stop => return server,
        }
        let now = Instant::now();
        while let Some(e) = server.poll_event() {
            match &e {
                Event::NeedPsk {
                    session, identity, ..
                } => {
                    let key = keys.get(identity).cloned();
                    server.provide_psk(now, *session, key.as_deref()).unwrap();
                }
                Event::ApplicationData { session, data, .. } => {
                    coap.handle_datagram(now, *session, data)
                }
                _ => {}
            }
            let _ = tx.send(e);
        }
        while let Some(ev) = coap.poll_event() {
            if let CoapEvent::Request {
                exchange, request, ..
            } = ev
            {
                let response = if request.path() == ["hello"] {
                    Response::new(ResponseCode::CONTENT).with_payload(b"hello over dtls".to_vec())
                } else {
                    Response::new(ResponseCode::CONTENT).with_payload(request.payload.clone())
                };
                let _ = coap.respond(now, exchange, response);
            }
        }
        while let Some(t) = coap.poll_transmit() {
            let _ = server.send_application_data(now, t.peer, &t.bytes);
        }
        while let Some(t) = server.poll_transmit() {
            let _ = socket.send_to(&t.bytes, t.destination).await;
        }
    }
}
