//! Sans-IO DTLS 1.2 server engine for the LwM2M cluster, in the style of
//! quinn-proto and our `lwm2m-coap`: bytes and `now` in; datagrams, events
//! and deadlines out. No sockets, no tokio, no clock reads; randomness comes
//! from an injected CSPRNG so tests are reproducible.
//!
//! See `docs/dtls.md` for the design, the state machine and what is
//! supported. The entry point is [`DtlsServer`].
//!
//! # Layout
//!
//! - `record`, `record_layer`, `replay`: record framing (plain and RFC 9146
//!   `tls12_cid`), per-connection protection state, anti-replay window.
//! - `suites/`: cipher suites and record protection (`aead`: CCM_8 and GCM,
//!   `cbc`: CBC with HMAC-SHA256), on RustCrypto primitives.
//! - `prf`: the TLS 1.2 PRF and key derivations (EMS, key block, Finished).
//! - `handshake/`: message framing, reassembly, flights and retransmission
//!   timer, message codecs, extensions, the server state machine.
//! - `cookie`, `cid`: stateless HelloVerifyRequest cookies and CID issuance.
//! - `server/`: the multi-peer engine (`mod`) and one peer (`session`).
//! - `pki/`: keys, certificates and their verification for the
//!   ECDHE_ECDSA suites (raw public keys and X.509).
//! - `export`: versioned session blobs.
//! - `client/` (feature `client`): a minimal client (PSK, RPK, X.509) for
//!   tests and the simulator.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod cid;
#[cfg(feature = "client")]
mod client;
mod codec;
mod config;
mod cookie;
mod error;
mod event;
mod export;
mod handshake;
mod pki;
mod prf;
mod record;
mod record_layer;
mod replay;
mod server;
mod stats;
mod suites;

pub use cid::node_id_of_record;
#[cfg(feature = "client")]
pub use client::{ClientCertificate, ClientConfig, ClientEvent, DtlsClient};
pub use config::{CertificateConfig, Limits, ServerConfig};
pub use error::Error;
pub use event::{CloseReason, Event, HandshakeFailure, PeerCredential, SessionId, Transmit};
pub use handshake::alert;
pub use pki::key::{pem_certificates, PrivateKey};
pub use server::DtlsServer;
pub use stats::{HandshakeFailures, Stats};
pub use suites::{CipherSuite, KeyExchange};

/// The RNG type the engine takes: any CSPRNG.
pub use rand_core::CryptoRngCore;
/// The OS CSPRNG, for production drivers.
pub use rand_core::OsRng;
