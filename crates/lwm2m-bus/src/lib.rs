//! The uplink bus: where transport nodes publish every device uplink.
//!
//! One trait, [`UplinkBus`], two implementations chosen at start-up:
//!
//! - [`MemoryBus`]: in-process broadcast, for the standalone single binary.
//! - [`KafkaBus`]: Kafka (idempotent producer, records keyed by device,
//!   protobuf or JSON values, bounded in-order buffering while Kafka is
//!   unreachable), plus the same local broadcast for gRPC subscribers.
//!
//! Flow control: the transport reserves buffer room
//! ([`UplinkBus::try_reserve`]) before it acknowledges a confirmable uplink
//! and publishes after the response is sent; when the buffer is full it
//! stops acknowledging instead of losing events it already acknowledged.

mod bus;
mod encoding;
mod error;
mod fanout;
mod filter;
pub mod json;
pub mod kafka;
mod memory;
mod reservation;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;

pub use bus::{UplinkBus, UplinkStream};
pub use encoding::{
    decode_event, encode_event, Encoding, JSON_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE,
};
pub use error::BusError;
pub use filter::SubscriptionFilter;
pub use kafka::{KafkaBus, KafkaBusBuilder, KafkaConfig, KafkaTopics, TraceparentHook};
pub use memory::MemoryBus;
pub use reservation::Reservation;
pub use stats::BusStats;
