//! A minimal DTLS 1.2 client (feature `client`), for engine-vs-engine
//! tests and the device simulator. Same sans-IO shape as the server, for
//! one connection: the driver owns the socket and the address.
//!
//! It supports the PSK suites, the ECDHE_ECDSA suites with a raw public key
//! or an X.509 chain (`certificate`: the ECDHE half), extended master
//! secret, the RFC 9146 connection_id extension, fragmentation and flight
//! retransmission. It is not hardened for hostile servers beyond "never
//! panics", and it pins the server's key instead of validating its chain.

mod certificate;

pub use certificate::ClientCertificate;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use crate::codec::Reader;
use crate::error::Error;
use crate::event::CloseReason;
use crate::handshake::certificate::parse_certificate_request;
use crate::handshake::extensions::{
    encode_connection_id, encode_u16_list, encode_u8_list, parse_connection_id, Extensions,
    CERT_TYPE_RAW_PUBLIC_KEY, CERT_TYPE_X509, ECDSA_SECP256R1_SHA256,
    EMPTY_RENEGOTIATION_INFO_SCSV, EXT_CLIENT_CERTIFICATE_TYPE, EXT_CONNECTION_ID,
    EXT_EC_POINT_FORMATS, EXT_EXTENDED_MASTER_SECRET, EXT_SERVER_CERTIFICATE_TYPE,
    EXT_SIGNATURE_ALGORITHMS, EXT_SUPPORTED_GROUPS, GROUP_SECP256R1, POINT_FORMAT_UNCOMPRESSED,
};
use crate::handshake::flight::{Flight, FlightItem, RetransmitTimer};
use crate::handshake::messages::{
    encode_psk_client_key_exchange, parse_hello_verify_request, ClientHello, ServerHello,
};
use crate::handshake::reassembly::{Inserted, Reassembler};
use crate::handshake::{
    alert, read_fragment, transcript_bytes, Message, CERTIFICATE, CERTIFICATE_REQUEST,
    CERTIFICATE_VERIFY, CLIENT_HELLO, CLIENT_KEY_EXCHANGE, FINISHED, HELLO_VERIFY_REQUEST,
    SERVER_HELLO, SERVER_HELLO_DONE, SERVER_KEY_EXCHANGE,
};
use crate::prf::{
    extended_master_secret, key_block, master_secret, psk_pre_master, verify_data, Transcript,
};
use crate::record::{read_record, CT_ALERT, CT_APPLICATION_DATA, CT_HANDSHAKE, DTLS_1_2};
use crate::record_layer::{Opened, RecordLayer};
use crate::suites::{CipherSuite, KeyExchange};
use certificate::{certificate_verify, our_certificate, ServerAuth};

/// Bytes of the server's flights the client buffers in reassembly (the
/// client picked its server; this only bounds a broken one).
const REASSEMBLY_BUDGET: usize = 64 * 1024;

/// Client configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// PSK identity.
    pub identity: Vec<u8>,
    /// PSK.
    pub psk: Vec<u8>,
    /// Key and chain for the ECDHE_ECDSA suites (offer them in
    /// `cipher_suites`). `None`: PSK only.
    pub certificate: Option<ClientCertificate>,
    /// Offered suites, in order.
    pub cipher_suites: Vec<CipherSuite>,
    /// `None`: no connection_id extension. `Some(cid)`: offer CID support and
    /// ask the server to put `cid` in its records (empty: none).
    pub connection_id: Option<Vec<u8>>,
    /// Offer RFC 7627 extended master secret.
    pub extended_master_secret: bool,
    /// Largest datagram sent.
    pub mtu: usize,
    /// First retransmission timeout.
    pub initial_retransmit: Duration,
    /// Back-off cap.
    pub max_retransmit: Duration,
    /// Give up the handshake after this long.
    pub handshake_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            identity: Vec::new(),
            psk: Vec::new(),
            certificate: None,
            cipher_suites: vec![CipherSuite::PskAes128Ccm8],
            connection_id: Some(Vec::new()),
            extended_master_secret: true,
            mtu: 1200,
            initial_retransmit: Duration::from_secs(1),
            max_retransmit: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(60),
        }
    }
}

/// Events of a [`DtlsClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The handshake completed.
    Connected {
        /// The suite the server chose.
        suite: CipherSuite,
        /// The CID the server issued (we put it in our records), if any.
        server_cid: Option<Vec<u8>>,
        /// The server's public key (SPKI DER) for the certificate suites.
        server_public_key: Option<Vec<u8>>,
    },
    /// Decrypted application data.
    ApplicationData(Vec<u8>),
    /// The connection ended.
    Closed(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitServerHello,
    AwaitServerHelloDone,
    AwaitFinished,
    Established,
    Closed,
}

/// A DTLS client for one server.
pub struct DtlsClient {
    config: ClientConfig,
    rng: Box<dyn CryptoRngCore + Send>,
    state: State,
    rl: RecordLayer,
    hello: ClientHello,
    transcript: Transcript,
    reasm: Reassembler,
    next_send_seq: u16,
    flight: Flight,
    timer: RetransmitTimer,
    deadline: Option<Instant>,
    suite: Option<CipherSuite>,
    server_random: [u8; 32],
    ems: bool,
    master: Option<[u8; 48]>,
    /// Negotiated certificate types (server's, ours).
    cert_types: (u8, u8),
    server_auth: ServerAuth,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    /// Flights retransmitted (test observability).
    pub retransmissions: u64,
}

impl std::fmt::Debug for DtlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsClient")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl DtlsClient {
    /// Starts a handshake: the first ClientHello is ready in `poll_transmit`.
    pub fn new(config: ClientConfig, mut rng: Box<dyn CryptoRngCore + Send>, now: Instant) -> Self {
        let mut random = [0u8; 32];
        rng.fill_bytes(&mut random);
        let mut extensions = Extensions::default();
        if config.extended_master_secret {
            extensions.push(EXT_EXTENDED_MASTER_SECRET, Vec::new());
        }
        if let Some(cid) = &config.connection_id {
            extensions.push(EXT_CONNECTION_ID, encode_connection_id(cid));
        }
        let ecdhe = config
            .cipher_suites
            .iter()
            .any(|s| s.key_exchange() == KeyExchange::EcdheEcdsa);
        if let (true, Some(cert)) = (ecdhe, &config.certificate) {
            extensions.push(EXT_SUPPORTED_GROUPS, encode_u16_list(&[GROUP_SECP256R1]));
            extensions.push(
                EXT_EC_POINT_FORMATS,
                encode_u8_list(&[POINT_FORMAT_UNCOMPRESSED]),
            );
            extensions.push(
                EXT_SIGNATURE_ALGORITHMS,
                encode_u16_list(&[ECDSA_SECP256R1_SHA256]),
            );
            if cert.uses_raw_public_key() {
                let rpk = encode_u8_list(&[CERT_TYPE_RAW_PUBLIC_KEY]);
                extensions.push(EXT_CLIENT_CERTIFICATE_TYPE, rpk.clone());
                extensions.push(EXT_SERVER_CERTIFICATE_TYPE, rpk);
            }
        }
        let mut suites: Vec<u16> = config.cipher_suites.iter().map(|s| s.id()).collect();
        suites.push(EMPTY_RENEGOTIATION_INFO_SCSV);
        let hello = ClientHello {
            version: DTLS_1_2,
            random,
            session_id: Vec::new(),
            cookie: Vec::new(),
            suites,
            compression: vec![0],
            extensions,
        };
        let rl = RecordLayer {
            cid_recv: config.connection_id.clone().unwrap_or_default(),
            ..RecordLayer::default()
        };
        let mut client = Self {
            timer: RetransmitTimer::new(config.initial_retransmit, config.max_retransmit),
            deadline: now.checked_add(config.handshake_timeout),
            config,
            rng,
            state: State::AwaitServerHello,
            rl,
            hello,
            transcript: Transcript::default(),
            reasm: Reassembler::new(0),
            next_send_seq: 0,
            flight: Flight::default(),
            suite: None,
            server_random: [0; 32],
            ems: false,
            master: None,
            cert_types: (CERT_TYPE_X509, CERT_TYPE_X509),
            server_auth: ServerAuth::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            retransmissions: 0,
        };
        client.send_hello(now);
        client
    }

    fn send_hello(&mut self, now: Instant) {
        let body = self.hello.encode();
        let seq = self.next_send_seq;
        self.next_send_seq += 1;
        self.transcript = Transcript::default();
        self.transcript
            .update(&transcript_bytes(CLIENT_HELLO, seq, &body));
        let mut flight = Flight::default();
        flight.push_handshake(0, CLIENT_HELLO, seq, body);
        self.flight = flight;
        self.send_flight();
        self.timer.arm(now);
    }

    fn send_flight(&mut self) {
        let d = self
            .flight
            .to_datagrams(&mut self.rl, self.config.mtu, &mut *self.rng);
        self.transmits.extend(d);
    }

    /// True once the handshake completed (until closed).
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Next datagram to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.timer.at, self.deadline].into_iter().flatten().min()
    }

    /// Runs retransmissions and the handshake deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) {
            self.deadline = None;
            if self.state != State::Established && self.state != State::Closed {
                self.close(CloseReason::HandshakeTimeout);
                return;
            }
        }
        if self.timer.at.is_some_and(|at| now >= at) {
            self.retransmissions += 1;
            self.send_flight();
            self.timer.backoff(now);
        }
    }

    /// Sends application data (after `Connected`).
    pub fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_record(1, CT_APPLICATION_DATA, data)
    }

    /// Sends one raw record in `epoch` (tests use it to try renegotiation).
    #[doc(hidden)]
    pub fn send_record(&mut self, epoch: u16, ctype: u8, payload: &[u8]) -> Result<(), Error> {
        if self.state != State::Established {
            return Err(Error::WrongState(crate::SessionId(0)));
        }
        let bytes = self
            .rl
            .seal(epoch, ctype, payload, &mut *self.rng)
            .ok_or(Error::WrongState(crate::SessionId(0)))?;
        self.transmits.push_back(bytes);
        Ok(())
    }

    /// Sends close_notify and closes.
    pub fn close_notify(&mut self) {
        if self.state == State::Established {
            let _ = self.send_record(1, CT_ALERT, &[alert::LEVEL_WARNING, alert::CLOSE_NOTIFY]);
        }
        self.close(CloseReason::Local);
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.timer.stop();
            self.events.push_back(ClientEvent::Closed(reason));
        }
    }

    fn abort(&mut self, desc: u8) {
        let epoch = if self.state == State::Established {
            1
        } else {
            0
        };
        if let Some(b) = self
            .rl
            .seal(epoch, CT_ALERT, &[alert::LEVEL_FATAL, desc], &mut *self.rng)
        {
            self.transmits.push_back(b);
        }
        self.close(CloseReason::AlertSent(desc));
    }

    /// Handles a datagram from the server.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let cid_len = self.rl.cid_recv.len();
        let mut r = Reader::new(datagram);
        while !r.is_empty() && self.state != State::Closed {
            let Some(rec) = read_record(&mut r, cid_len) else {
                return;
            };
            let (ctype, content) = match self.rl.open(&rec) {
                Opened::Data { ctype, content, .. } => (ctype, content),
                _ => continue,
            };
            match ctype {
                CT_HANDSHAKE => self.handle_handshake(now, rec.epoch, &content),
                CT_ALERT => {
                    if let [level, desc] = content.as_slice() {
                        if *desc == alert::CLOSE_NOTIFY {
                            self.close(CloseReason::CloseNotify);
                        } else if *level == alert::LEVEL_FATAL {
                            self.close(CloseReason::AlertReceived(*desc));
                        }
                    }
                }
                CT_APPLICATION_DATA if self.state == State::Established && rec.epoch == 1 => {
                    self.events.push_back(ClientEvent::ApplicationData(content));
                }
                _ => {}
            }
        }
    }

    fn handle_handshake(&mut self, now: Instant, epoch: u16, content: &[u8]) {
        let mut r = Reader::new(content);
        let mut retransmitted = false;
        while !r.is_empty() {
            let Some(frag) = read_fragment(&mut r) else {
                return;
            };
            if (frag.msg_type == FINISHED) != (epoch == 1) {
                continue;
            }
            // A HelloVerifyRequest reuses our ClientHello's sequence number.
            if frag.msg_type == HELLO_VERIFY_REQUEST
                && self.state == State::AwaitServerHello
                && frag.is_complete()
            {
                if let Some(cookie) = parse_hello_verify_request(frag.body) {
                    if self.hello.cookie.is_empty() {
                        self.hello.cookie = cookie;
                        self.reasm = Reassembler::new(self.next_send_seq);
                        self.send_hello(now);
                    }
                }
                continue;
            }
            if self.reasm.insert(&frag, REASSEMBLY_BUDGET) == Inserted::Old
                && !retransmitted
                && self.state == State::Established
            {
                // The server repeats its last flight: it missed nothing we
                // can help with (our last flight is Finished, resent below).
                retransmitted = true;
            }
            while let Some(msg) = self.reasm.pop() {
                if let Err(desc) = self.handle_message(now, &msg) {
                    self.abort(desc);
                    return;
                }
            }
        }
    }

    fn handle_message(&mut self, now: Instant, msg: &Message) -> Result<(), u8> {
        match (self.state, msg.msg_type) {
            (State::AwaitServerHello, SERVER_HELLO) => {
                let sh = ServerHello::parse(&msg.body).ok_or(alert::DECODE_ERROR)?;
                let suite = CipherSuite::from_id(sh.suite)
                    .filter(|s| self.config.cipher_suites.contains(s))
                    .ok_or(alert::ILLEGAL_PARAMETER)?;
                self.ems = match sh.extensions.get(EXT_EXTENDED_MASTER_SECRET) {
                    Some(_) if !self.config.extended_master_secret => {
                        return Err(alert::UNSUPPORTED_EXTENSION)
                    }
                    Some(_) => true,
                    None => false,
                };
                match sh.extensions.get(EXT_CONNECTION_ID) {
                    Some(_) if self.config.connection_id.is_none() => {
                        return Err(alert::UNSUPPORTED_EXTENSION)
                    }
                    Some(body) => {
                        self.rl.cid_send = parse_connection_id(body).ok_or(alert::DECODE_ERROR)?
                    }
                    // The server does not do CID: neither direction uses one.
                    None => self.rl.cid_recv.clear(),
                }
                self.cert_types = (
                    self.cert_type(&sh.extensions, EXT_SERVER_CERTIFICATE_TYPE)?,
                    self.cert_type(&sh.extensions, EXT_CLIENT_CERTIFICATE_TYPE)?,
                );
                self.suite = Some(suite);
                self.server_random = sh.random;
                self.transcript.update(&msg.transcript_bytes());
                self.state = State::AwaitServerHelloDone;
                // The server answered our hello: stop resending it.
                self.timer.stop();
            }
            (State::AwaitServerHelloDone, CERTIFICATE) if self.is_ecdhe() => {
                let expected = self
                    .config
                    .certificate
                    .as_ref()
                    .and_then(|c| c.server_public_key.as_deref());
                self.server_auth
                    .certificate(&msg.body, self.cert_types.0, expected)?;
                self.transcript.update(&msg.transcript_bytes());
            }
            (State::AwaitServerHelloDone, SERVER_KEY_EXCHANGE) if self.is_ecdhe() => {
                self.server_auth.key_exchange(
                    &msg.body,
                    &self.hello.random,
                    &self.server_random,
                )?;
                self.transcript.update(&msg.transcript_bytes());
            }
            (State::AwaitServerHelloDone, CERTIFICATE_REQUEST) if self.is_ecdhe() => {
                parse_certificate_request(&msg.body).ok_or(alert::DECODE_ERROR)?;
                self.server_auth.certificate_requested = true;
                self.transcript.update(&msg.transcript_bytes());
            }
            // A PSK identity hint: accepted and ignored.
            (State::AwaitServerHelloDone, SERVER_KEY_EXCHANGE) => {
                self.transcript.update(&msg.transcript_bytes());
            }
            (State::AwaitServerHelloDone, SERVER_HELLO_DONE) => {
                self.transcript.update(&msg.transcript_bytes());
                self.send_key_exchange(now)?;
            }
            (State::AwaitFinished, FINISHED) => {
                let master = self.master.ok_or(alert::INTERNAL_ERROR)?;
                let expected = verify_data(&master, false, &self.transcript.current());
                if !bool::from(expected.ct_eq(msg.body.as_slice())) {
                    return Err(alert::DECRYPT_ERROR);
                }
                self.state = State::Established;
                self.timer.stop();
                self.deadline = None;
                let suite = self.suite.ok_or(alert::INTERNAL_ERROR)?;
                self.events.push_back(ClientEvent::Connected {
                    suite,
                    server_cid: (!self.rl.cid_send.is_empty()).then(|| self.rl.cid_send.clone()),
                    server_public_key: self.server_auth.spki.clone(),
                });
            }
            (State::Established, _) => {}
            _ => return Err(alert::UNEXPECTED_MESSAGE),
        }
        Ok(())
    }

    fn is_ecdhe(&self) -> bool {
        self.suite
            .is_some_and(|s| s.key_exchange() == KeyExchange::EcdheEcdsa)
    }

    /// The certificate type the ServerHello chose (a single byte), which
    /// must be one we offered; X.509 when absent.
    fn cert_type(&self, extensions: &Extensions, ext: u16) -> Result<u8, u8> {
        let rpk = self
            .config
            .certificate
            .as_ref()
            .is_some_and(|c| c.uses_raw_public_key());
        match (extensions.get(ext), rpk) {
            (None, _) => Ok(CERT_TYPE_X509),
            (Some([t]), true) if *t == CERT_TYPE_RAW_PUBLIC_KEY => Ok(*t),
            (Some(_), _) => Err(alert::UNSUPPORTED_CERTIFICATE),
        }
    }

    fn send_key_exchange(&mut self, now: Instant) -> Result<(), u8> {
        let suite = self.suite.ok_or(alert::INTERNAL_ERROR)?;
        let mut flight = Flight::default();
        let mut seq = self.next_send_seq;
        let certificate = match (self.is_ecdhe(), &self.config.certificate) {
            (true, Some(c)) => Some(c.clone()),
            (true, None) => return Err(alert::INTERNAL_ERROR),
            (false, _) => None,
        };
        let (cke, pms) = match &certificate {
            Some(cert) => {
                if self.server_auth.certificate_requested {
                    let body = our_certificate(cert, self.cert_types.1);
                    self.transcript
                        .update(&transcript_bytes(CERTIFICATE, seq, &body));
                    flight.push_handshake(0, CERTIFICATE, seq, body);
                    seq = seq.wrapping_add(1);
                }
                self.server_auth.client_key_exchange(&mut *self.rng)?
            }
            None => (
                encode_psk_client_key_exchange(&self.config.identity),
                psk_pre_master(&self.config.psk),
            ),
        };
        let cke_seq = seq;
        self.transcript
            .update(&transcript_bytes(CLIENT_KEY_EXCHANGE, cke_seq, &cke));
        flight.push_handshake(0, CLIENT_KEY_EXCHANGE, cke_seq, cke);
        seq = seq.wrapping_add(1);
        let master = if self.ems {
            extended_master_secret(&pms, &self.transcript.current())
        } else {
            master_secret(&pms, &self.hello.random, &self.server_random)
        };
        let block = key_block(
            &master,
            &self.hello.random,
            &self.server_random,
            suite.key_block_len(),
        );
        let (client, server) = suite.split_key_block(&block).ok_or(alert::INTERNAL_ERROR)?;
        self.rl.write_keys = Some(client);
        self.rl.read_keys = Some(server);
        self.master = Some(master);
        if let (Some(cert), true) = (&certificate, self.server_auth.certificate_requested) {
            let cv = certificate_verify(cert, &self.transcript.current())?;
            self.transcript
                .update(&transcript_bytes(CERTIFICATE_VERIFY, seq, &cv));
            flight.push_handshake(0, CERTIFICATE_VERIFY, seq, cv);
            seq = seq.wrapping_add(1);
        }
        let fin = verify_data(&master, true, &self.transcript.current());
        let fin_seq = seq;
        self.transcript
            .update(&transcript_bytes(FINISHED, fin_seq, &fin));
        self.next_send_seq = fin_seq.wrapping_add(1);
        flight.items.push(FlightItem::ChangeCipherSpec);
        flight.push_handshake(1, FINISHED, fin_seq, fin.to_vec());
        self.flight = flight;
        self.send_flight();
        self.timer.arm(now);
        self.state = State::AwaitFinished;
        Ok(())
    }
}
