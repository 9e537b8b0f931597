//! The server side of the handshake as a state machine over reassembled
//! messages. It knows nothing of addresses, timers or other peers; the
//! session ([`crate::server::session`]) feeds it and sends its flights.
//!
//! ```text
//!  PSK suites:
//!  ClientHello (cookie ok) ──► ServerHello, ServerHelloDone
//!  AwaitClientKeyExchange ──ClientKeyExchange──► emit NeedPsk
//!  AwaitPsk ──provide_psk(key)──► derive keys (EMS if negotiated)
//!  AwaitFinished ──Finished (epoch 1, verified)──► CCS, Finished
//!
//!  ECDHE_ECDSA suites (the client must authenticate):
//!  ClientHello (cookie ok) ──► ServerHello, Certificate (RPK or X.509),
//!                              ServerKeyExchange (signed), CertificateRequest,
//!                              ServerHelloDone
//!  AwaitClientCertificate ──Certificate (RPK parsed / chain verified)──►
//!  AwaitClientKeyExchange ──ECDH point──► derive keys
//!  AwaitCertificateVerify ──signature over the transcript verified──►
//!  AwaitFinished ──Finished──► CCS, Finished
//!
//!  Done (the last flight is kept to answer a retransmitted client flight)
//! ```

use p256::ecdsa::VerifyingKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use super::certificate::{
    ecdh_params, encode_certificate, encode_certificate_request, encode_server_key_exchange,
    parse_certificate, parse_certificate_verify, parse_ecdhe_client_key_exchange,
};
use super::extensions::{
    encode_connection_id, encode_u8_list, Extensions, CERT_TYPE_RAW_PUBLIC_KEY,
    EXT_CLIENT_CERTIFICATE_TYPE, EXT_CONNECTION_ID, EXT_EC_POINT_FORMATS,
    EXT_EXTENDED_MASTER_SECRET, EXT_RENEGOTIATION_INFO, EXT_SERVER_CERTIFICATE_TYPE,
    POINT_FORMAT_UNCOMPRESSED,
};
use super::flight::{Flight, FlightItem};
use super::messages::{
    parse_ecdhe_psk_client_key_exchange, parse_psk_client_key_exchange, ClientHello, ServerHello,
};
use super::negotiate::{CertTerms, Negotiated};
use super::reassembly::Reassembler;
use super::{
    alert, transcript_bytes, Fragment, Message, CERTIFICATE, CERTIFICATE_REQUEST,
    CERTIFICATE_VERIFY, CLIENT_KEY_EXCHANGE, FINISHED, SERVER_HELLO, SERVER_HELLO_DONE,
    SERVER_KEY_EXCHANGE,
};
use crate::event::PeerCredential;
use crate::pki::{key, verify, ServerPki};
use crate::prf::{
    ecdhe_psk_pre_master, extended_master_secret, key_block, master_secret, psk_pre_master,
    verify_data, Transcript,
};
use crate::record::DTLS_1_2;
use crate::record_layer::RecordLayer;
use crate::suites::KeyExchange;

/// Length of an uncompressed P-256 point (0x04 ‖ x ‖ y); RFC 8422 §5.1.2
/// allows no other format.
const P256_POINT_LEN: usize = 65;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    AwaitClientCertificate,
    AwaitClientKeyExchange,
    AwaitPsk,
    AwaitCertificateVerify,
    AwaitFinished,
    Done,
}

/// What the session must do after a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Ask the application for the key of this PSK identity.
    NeedPsk(Vec<u8>),
    /// Nothing visible yet.
    Continue,
    /// The client's Finished verified: send the (already built) last flight.
    Complete,
}

/// What the server machine may consult besides its own state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'a> {
    pub(crate) pki: Option<&'a ServerPki>,
    /// Wall-clock seconds since the Unix epoch, if the driver gave a clock
    /// (needed to check X.509 validity).
    pub(crate) unix_time: Option<u64>,
}

/// State of the certificate suites.
struct Ecdhe {
    terms: CertTerms,
    ephemeral: p256::SecretKey,
    /// The key the client proved it holds, from its Certificate.
    peer_key: Option<VerifyingKey>,
    credential: Option<PeerCredential>,
}

impl std::fmt::Debug for Ecdhe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ecdhe")
            .field("terms", &self.terms)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct ServerHandshake {
    pub(crate) state: State,
    pub(crate) client_random: [u8; 32],
    server_random: [u8; 32],
    pub(crate) negotiated: Negotiated,
    transcript: Transcript,
    pub(crate) reasm: Reassembler,
    next_send_seq: u16,
    /// Our latest flight, for retransmission.
    pub(crate) flight: Flight,
    /// message_seq of the first message of the client's latest flight.
    pub(crate) peer_flight_start: u16,
    /// Our current flight answers the client's latest flight, so seeing
    /// that flight again means ours was lost.
    pub(crate) answered: bool,
    /// Digests of the plaintext messages of the client's latest flight:
    /// once established, a plaintext record is answered only if it repeats
    /// one of them exactly (plaintext is unauthenticated, and a message
    /// number alone is easy to guess).
    peer_flight_digests: Vec<[u8; 32]>,
    pub(crate) identity: Vec<u8>,
    ecdhe: Option<Ecdhe>,
    /// ECDHE_PSK: our ephemeral key, then the ECDH secret (the
    /// `other_secret` of RFC 5489 §2) once the client's point arrived.
    psk_ephemeral: Option<p256::SecretKey>,
    psk_ecdh_secret: Option<Vec<u8>>,
    master: Option<[u8; 48]>,
}

impl ServerHandshake {
    /// Starts after a ClientHello with a valid cookie; returns the state
    /// with flight 4 in `flight`. `our_cid` is the CID we issue (empty if
    /// the client sent no connection_id extension or CIDs are disabled).
    /// Fails (with the alert) only if a certificate suite was negotiated
    /// without a server key, which `negotiate` rules out.
    pub(crate) fn start(
        hello: &Message,
        ch: &ClientHello,
        negotiated: Negotiated,
        our_cid: &[u8],
        server_random: [u8; 32],
        pki: Option<&ServerPki>,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Self, u8> {
        let mut extensions = Extensions::default();
        if negotiated.renegotiation_info {
            extensions.push(EXT_RENEGOTIATION_INFO, vec![0]);
        }
        if negotiated.extended_master_secret {
            extensions.push(EXT_EXTENDED_MASTER_SECRET, Vec::new());
        }
        if negotiated.client_cid.is_some() {
            extensions.push(EXT_CONNECTION_ID, encode_connection_id(our_cid));
        }
        if negotiated.echo_point_formats {
            extensions.push(
                EXT_EC_POINT_FORMATS,
                encode_u8_list(&[POINT_FORMAT_UNCOMPRESSED]),
            );
        }
        if let Some(t) = negotiated.certs {
            if t.echo_point_formats {
                extensions.push(
                    EXT_EC_POINT_FORMATS,
                    encode_u8_list(&[POINT_FORMAT_UNCOMPRESSED]),
                );
            }
            // In the ServerHello each is a single CertificateType (RFC 7250 §3).
            if t.echo_server_type {
                extensions.push(EXT_SERVER_CERTIFICATE_TYPE, vec![t.server_type]);
            }
            if t.echo_client_type {
                extensions.push(EXT_CLIENT_CERTIFICATE_TYPE, vec![t.client_type]);
            }
        }
        let sh = ServerHello {
            version: DTLS_1_2,
            random: server_random,
            // No session resumption: an empty id tells the client not to try.
            session_id: Vec::new(),
            suite: negotiated.suite.id(),
            compression: 0,
            extensions,
        };
        let mut transcript = Transcript::default();
        transcript.update(&hello.transcript_bytes());
        let mut flight = Flight::default();
        // Our message_seq continues from the client's (as Mbed TLS and
        // OpenSSL do): the stateless HelloVerifyRequest reused its number.
        let mut seq = hello.seq;
        let mut push = |msg_type: u8, body: Vec<u8>| {
            transcript.update(&transcript_bytes(msg_type, seq, &body));
            flight.push_handshake(0, msg_type, seq, body);
            seq = seq.wrapping_add(1);
        };
        push(SERVER_HELLO, sh.encode());
        let ecdhe = match negotiated.certs {
            Some(terms) => {
                let pki = pki.ok_or(alert::INTERNAL_ERROR)?;
                let ours = if terms.server_type == CERT_TYPE_RAW_PUBLIC_KEY {
                    std::slice::from_ref(&pki.spki_der)
                } else {
                    pki.chain.as_slice()
                };
                push(CERTIFICATE, encode_certificate(ours, terms.server_type));
                let ephemeral = p256::SecretKey::random(&mut &mut *rng);
                let point = ephemeral.public_key().to_encoded_point(false);
                let params = ecdh_params(point.as_bytes());
                let signed = [&ch.random[..], &server_random[..], &params].concat();
                let signature = key::sign(&pki.signing_key, &signed);
                push(
                    SERVER_KEY_EXCHANGE,
                    encode_server_key_exchange(&params, &signature),
                );
                push(CERTIFICATE_REQUEST, encode_certificate_request());
                Some(Ecdhe {
                    terms,
                    ephemeral,
                    peer_key: None,
                    credential: None,
                })
            }
            None => None,
        };
        // RFC 5489 §2: an unsigned ServerKeyExchange with an (empty) PSK
        // identity hint and our ephemeral point; the PSK authenticates it.
        let psk_ephemeral = (negotiated.suite.key_exchange() == KeyExchange::EcdhePsk).then(|| {
            let ephemeral = p256::SecretKey::random(&mut &mut *rng);
            let point = ephemeral.public_key().to_encoded_point(false);
            let mut body = vec![0, 0];
            body.extend_from_slice(&ecdh_params(point.as_bytes()));
            push(SERVER_KEY_EXCHANGE, body);
            ephemeral
        });
        push(SERVER_HELLO_DONE, Vec::new());
        let state = if ecdhe.is_some() {
            State::AwaitClientCertificate
        } else {
            State::AwaitClientKeyExchange
        };
        Ok(Self {
            state,
            client_random: ch.random,
            server_random,
            negotiated,
            transcript,
            reasm: Reassembler::new(hello.seq.wrapping_add(1)),
            next_send_seq: seq,
            flight,
            peer_flight_start: hello.seq,
            answered: true,
            peer_flight_digests: vec![message_digest(hello.msg_type, hello.seq, &hello.body)],
            identity: Vec::new(),
            ecdhe,
            psk_ephemeral,
            psk_ecdh_secret: None,
            master: None,
        })
    }

    /// How the client authenticated (meaningful once `Done`).
    pub(crate) fn credential(&self) -> PeerCredential {
        match self.ecdhe.as_ref().and_then(|e| e.credential.clone()) {
            Some(c) => c,
            None => PeerCredential::Psk {
                identity: self.identity.clone(),
            },
        }
    }

    /// The client's next flight began: ours arrived, and a repeat of this
    /// message means our answer was lost.
    fn peer_flight(&mut self, msg: &Message) {
        self.peer_flight_start = msg.seq;
        self.answered = false;
    }

    pub(crate) fn handle_message(
        &mut self,
        msg: &Message,
        rl: &mut RecordLayer,
        env: Env<'_>,
    ) -> Result<Step, u8> {
        let step = self.advance(msg, rl, env)?;
        // Finished travels in epoch 1, authenticated: it needs no digest.
        if msg.msg_type != FINISHED {
            if msg.seq == self.peer_flight_start {
                self.peer_flight_digests.clear();
            }
            self.peer_flight_digests
                .push(message_digest(msg.msg_type, msg.seq, &msg.body));
        }
        Ok(step)
    }

    /// The fragment is a whole plaintext message of the client's latest
    /// flight, byte for byte (type, number and content).
    pub(crate) fn repeats_peer_flight(&self, frag: &Fragment<'_>) -> bool {
        frag.is_complete()
            && self.peer_flight_digests.contains(&message_digest(
                frag.msg_type,
                frag.seq,
                frag.body,
            ))
    }

    fn advance(&mut self, msg: &Message, rl: &mut RecordLayer, env: Env<'_>) -> Result<Step, u8> {
        match (self.state, msg.msg_type) {
            (State::AwaitClientCertificate, CERTIFICATE) => {
                self.client_certificate(msg, env)?;
                self.transcript.update(&msg.transcript_bytes());
                self.peer_flight(msg);
                self.state = State::AwaitClientKeyExchange;
                Ok(Step::Continue)
            }
            (State::AwaitClientKeyExchange, CLIENT_KEY_EXCHANGE) if self.ecdhe.is_some() => {
                let pms = self.ecdh(msg)?;
                self.transcript.update(&msg.transcript_bytes());
                self.install_keys(&pms, rl)?;
                self.state = State::AwaitCertificateVerify;
                Ok(Step::Continue)
            }
            (State::AwaitClientKeyExchange, CLIENT_KEY_EXCHANGE)
                if self.psk_ephemeral.is_some() =>
            {
                let (identity, point) =
                    parse_ecdhe_psk_client_key_exchange(&msg.body).ok_or(alert::DECODE_ERROR)?;
                let ephemeral = self.psk_ephemeral.as_ref().ok_or(alert::INTERNAL_ERROR)?;
                self.psk_ecdh_secret = Some(ecdh_secret(ephemeral, point)?);
                self.identity = identity;
                self.transcript.update(&msg.transcript_bytes());
                self.peer_flight(msg);
                self.state = State::AwaitPsk;
                Ok(Step::NeedPsk(self.identity.clone()))
            }
            (State::AwaitClientKeyExchange, CLIENT_KEY_EXCHANGE) => {
                self.identity =
                    parse_psk_client_key_exchange(&msg.body).ok_or(alert::DECODE_ERROR)?;
                self.transcript.update(&msg.transcript_bytes());
                self.peer_flight(msg);
                self.state = State::AwaitPsk;
                Ok(Step::NeedPsk(self.identity.clone()))
            }
            (State::AwaitCertificateVerify, CERTIFICATE_VERIFY) => {
                let signature = parse_certificate_verify(&msg.body).ok_or(alert::DECODE_ERROR)?;
                let key = self
                    .ecdhe
                    .as_ref()
                    .and_then(|e| e.peer_key.as_ref())
                    .ok_or(alert::INTERNAL_ERROR)?;
                // The signature covers every handshake message before it.
                if !verify::verify_digest(key, &self.transcript.current(), signature) {
                    return Err(alert::DECRYPT_ERROR);
                }
                self.transcript.update(&msg.transcript_bytes());
                self.state = State::AwaitFinished;
                Ok(Step::Continue)
            }
            (State::AwaitFinished, FINISHED) => {
                let master = self.master.ok_or(alert::INTERNAL_ERROR)?;
                let expected = verify_data(&master, true, &self.transcript.current());
                if !bool::from(expected.ct_eq(msg.body.as_slice())) {
                    return Err(alert::DECRYPT_ERROR);
                }
                self.transcript.update(&msg.transcript_bytes());
                let ours = verify_data(&master, false, &self.transcript.current());
                let mut flight = Flight::default();
                flight.items.push(FlightItem::ChangeCipherSpec);
                flight.push_handshake(1, FINISHED, self.next_send_seq, ours.to_vec());
                self.next_send_seq = self.next_send_seq.wrapping_add(1);
                self.flight = flight;
                self.answered = true;
                self.state = State::Done;
                Ok(Step::Complete)
            }
            _ => Err(alert::UNEXPECTED_MESSAGE),
        }
    }

    /// Checks the client's Certificate: a raw public key is only parsed
    /// (the caller compares it with the device's), a chain must lead to a
    /// trust anchor. Either way the key must be P-256 for CertificateVerify.
    fn client_certificate(&mut self, msg: &Message, env: Env<'_>) -> Result<(), u8> {
        let ecdhe = self.ecdhe.as_mut().ok_or(alert::INTERNAL_ERROR)?;
        let certs =
            parse_certificate(&msg.body, ecdhe.terms.client_type).ok_or(alert::DECODE_ERROR)?;
        let Some(leaf) = certs.first() else {
            // LwM2M needs the device's identity: no certificate, no session.
            return Err(alert::HANDSHAKE_FAILURE);
        };
        let (key, credential) = if ecdhe.terms.client_type == CERT_TYPE_RAW_PUBLIC_KEY {
            let key = verify::raw_public_key(leaf).ok_or(alert::UNSUPPORTED_CERTIFICATE)?;
            let credential = PeerCredential::RawPublicKey {
                spki_der: leaf.clone(),
            };
            (key, credential)
        } else {
            let pki = env.pki.ok_or(alert::INTERNAL_ERROR)?;
            // Without a wall clock validity cannot be checked: refuse
            // rather than accept blindly.
            let unix = env.unix_time.ok_or(alert::CERTIFICATE_UNKNOWN)?;
            pki.trust.verify(
                &certs,
                unix,
                webpki::KeyUsage::client_auth(),
                pki.accept_expired,
            )?;
            let key = verify::certificate_key(leaf).ok_or(alert::UNSUPPORTED_CERTIFICATE)?;
            let credential = PeerCredential::X509 {
                subject_cn: verify::subject_cn(leaf),
                chain_der: certs,
            };
            (key, credential)
        };
        ecdhe.peer_key = Some(key);
        ecdhe.credential = Some(credential);
        Ok(())
    }

    /// The ECDH pre-master secret from the client's point (RFC 8422 §5.10:
    /// the x-coordinate of the shared point).
    fn ecdh(&self, msg: &Message) -> Result<Vec<u8>, u8> {
        let ecdhe = self.ecdhe.as_ref().ok_or(alert::INTERNAL_ERROR)?;
        let point = parse_ecdhe_client_key_exchange(&msg.body).ok_or(alert::DECODE_ERROR)?;
        ecdh_secret(&ecdhe.ephemeral, point)
    }

    /// Master secret and traffic keys from the pre-master secret.
    fn install_keys(&mut self, pms: &[u8], rl: &mut RecordLayer) -> Result<(), u8> {
        let master = if self.negotiated.extended_master_secret {
            // Session hash: the transcript up to and including ClientKeyExchange.
            extended_master_secret(pms, &self.transcript.current())
        } else {
            master_secret(pms, &self.client_random, &self.server_random)
        };
        let suite = self.negotiated.suite;
        let block = key_block(
            &master,
            &self.client_random,
            &self.server_random,
            suite.key_block_len(),
        );
        let (client, server) = suite.split_key_block(&block).ok_or(alert::INTERNAL_ERROR)?;
        rl.read_keys = Some(client);
        rl.write_keys = Some(server);
        self.master = Some(master);
        Ok(())
    }

    /// The application answered the PSK request: derive and install keys.
    pub(crate) fn provide_psk(&mut self, psk: &[u8], rl: &mut RecordLayer) -> Result<(), u8> {
        if self.state != State::AwaitPsk {
            return Err(alert::INTERNAL_ERROR);
        }
        let pms = match &self.psk_ecdh_secret {
            Some(other) => ecdhe_psk_pre_master(other, psk),
            None => psk_pre_master(psk),
        };
        self.install_keys(&pms, rl)?;
        self.state = State::AwaitFinished;
        Ok(())
    }
}

/// The ECDH secret with the client's point (RFC 8422 §5.10: the
/// x-coordinate of the shared point).
/// SHA-256 of a message as it enters the transcript (header with its type
/// and number, then the body).
fn message_digest(msg_type: u8, seq: u16, body: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(transcript_bytes(msg_type, seq, body)).into()
}

fn ecdh_secret(ephemeral: &p256::SecretKey, point: &[u8]) -> Result<Vec<u8>, u8> {
    if point.len() != P256_POINT_LEN {
        return Err(alert::ILLEGAL_PARAMETER);
    }
    // Rejects points not on the curve and the identity.
    let peer = p256::PublicKey::from_sec1_bytes(point).map_err(|_| alert::ILLEGAL_PARAMETER)?;
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), peer.as_affine());
    Ok(shared.raw_secret_bytes().to_vec())
}
