//! Sans-IO CoAP exchange layer for the LwM2M cluster, in the style of
//! quinn-proto: no sockets, no tokio, no clock reads, no OS randomness.
//!
//! [`CoapEndpoint`] implements the message layer of RFC 7252 (CON
//! retransmission, deduplication, piggybacked and separate responses, RST),
//! block-wise transfer (RFC 7959) and Observe (RFC 7641) for both roles. The
//! caller owns the socket and the clock: it feeds datagrams and time in and
//! takes datagrams and [`Event`]s out. Wire encoding uses `coap-lite`.
//!
//! ```
//! use std::time::Instant;
//! use lwm2m_coap::{CoapEndpoint, Config, Event, Request, RequestOptions, Response, ResponseCode};
//!
//! let now = Instant::now();
//! let mut server = CoapEndpoint::<u8>::new(Config { seed: 1, ..Config::default() }).unwrap();
//! let mut client = CoapEndpoint::<u8>::new(Config { seed: 2, ..Config::default() }).unwrap();
//! let register = Request::post("/rd").with_query("ep", "dev-1").with_payload(b"</3/0>".to_vec());
//! let id = client.send_request(now, 1, register, RequestOptions::con()).unwrap();
//! while let Some(t) = client.poll_transmit() {
//!     server.handle_datagram(now, 2, &t.bytes);
//! }
//! if let Some(Event::Request { exchange, request, .. }) = server.poll_event() {
//!     assert_eq!(request.query_value("ep").as_deref(), Some("dev-1"));
//!     server
//!         .respond(now, exchange, Response::new(ResponseCode::CREATED).with_location_path("/rd/a1"))
//!         .unwrap();
//! }
//! while let Some(t) = server.poll_transmit() {
//!     client.handle_datagram(now, 1, &t.bytes);
//! }
//! match client.poll_event() {
//!     Some(Event::Response { id: got, response, .. }) => {
//!         assert_eq!(got, id);
//!         assert_eq!(response.location_path(), "/rd/a1");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! # Layout
//!
//! - `endpoint/`: the state machine, split by role: `client` (requests,
//!   Block1 upload, Block2 download), `server` (inbound requests, dedup,
//!   Block1 reassembly, Block2 serving), `observe_client`, `observe_server`,
//!   `outgoing` (CON retransmission, ACK/RST dispatch).
//! - Pure building blocks with their own unit tests: `wire` (coap-lite
//!   codec + format checks), `retransmit`, `dedup`, `expiring`, `timers`,
//!   `block`, `block_upload`, `block_download`, `block1_receiver`,
//!   `block2_cache`, `freshness`.
//! - Public value types: `message` ([`Request`], [`Response`]), `options`,
//!   `code`, `token`, `config`, `event`, `stats`.
//!
//! Everything random comes from `Config::seed`, so a test run is reproducible.
#![deny(clippy::indexing_slicing)]

mod block;
mod block1_receiver;
mod block2_cache;
mod block_download;
mod block_upload;
mod code;
mod config;
pub mod content_format;
mod dedup;
mod endpoint;
mod error;
mod event;
mod expiring;
mod freshness;
mod ids;
mod message;
mod options;
mod request_options;
mod retransmit;
mod rng;
mod stats;
mod timers;
mod token;
mod wire;

pub use block::{
    size_of_szx, szx_for_size, BlockOption, MAX_BLOCK_NUM, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE,
};
pub use code::{Method, ResponseCode};
pub use config::{Config, Limits};
pub use endpoint::CoapEndpoint;
pub use error::Error;
pub use event::{Event, FailureReason, RejectReason, Transmit, UnmatchedHandle};
pub use freshness::{is_fresh, FRESHNESS_WINDOW};
pub use ids::{ExchangeId, RequestId};
pub use message::{Request, Response};
pub use options::{number as option_number, Options};
pub use request_options::RequestOptions;
pub use stats::Stats;
pub use token::{Token, MAX_TOKEN_LEN};
