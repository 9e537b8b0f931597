//! The one error type of the uplink bus.
//!
//! The variants a transport must act on are [`BusError::Backpressure`] (stop
//! acknowledging new confirmable uplinks until `can_accept()` is true again)
//! and, for subscribers, [`BusError::Lagged`] (events were lost, resync).

use std::time::Duration;

/// Why the bus did not accept, deliver or decode an event.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The outgoing buffer is full (Kafka slow or unreachable). Nothing was
    /// dropped: the caller keeps the event, and should not acknowledge the
    /// uplink that caused it so the device retransmits later.
    #[error("uplink bus buffer is full ({capacity} events awaiting delivery); retry later")]
    Backpressure {
        /// The configured buffer capacity.
        capacity: usize,
    },

    /// A subscriber fell behind the broadcast buffer and lost events.
    #[error("subscriber fell behind and missed {missed} events")]
    Lagged {
        /// Number of events (of any kind, before filtering) that were skipped.
        missed: u64,
    },

    /// The event cannot be published as given.
    #[error("invalid uplink event {event_id:?}: {reason}")]
    InvalidEvent {
        /// `UplinkEvent.event_id` of the rejected event.
        event_id: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A reservation was used for more events than it reserved.
    #[error("the reservation has no slots left; reserve one slot per event")]
    ReservationExhausted,

    /// A reservation made by another bus was spent on this one.
    #[error("the reservation was made by another bus")]
    ForeignReservation,

    /// `flush` gave up before every accepted event was delivered.
    #[error("flush timed out after {timeout:?} with {pending} events still awaiting delivery")]
    FlushTimeout {
        /// Events still buffered or in flight.
        pending: u64,
        /// The timeout that expired.
        timeout: Duration,
    },

    /// The broker refused the event for good (or the producer went away
    /// before delivering it); see the bus log for why.
    #[error("uplink event {event_id:?} was not delivered")]
    Undelivered {
        /// `UplinkEvent.event_id` of the event.
        event_id: String,
    },

    /// The background delivery task has stopped (the bus is shutting down).
    #[error("the uplink bus is closed")]
    Closed,

    /// The bus configuration is unusable.
    #[error("invalid uplink bus configuration: {0}")]
    Config(String),

    /// No broker answered within the start-up timeout.
    #[error("Kafka broker unreachable at {brokers}: {reason}")]
    BrokerUnreachable {
        /// The bootstrap servers tried.
        brokers: String,
        /// What the client saw (timeout, connection refused...).
        reason: String,
    },

    /// Topics the service needs are missing and it may not create them.
    #[error("Kafka topics missing at {brokers}: {}", topics.join(", "))]
    MissingTopics {
        /// The bootstrap servers asked.
        brokers: String,
        /// Every missing topic.
        topics: Vec<String>,
    },

    /// The broker refused to create topics (authorisation, policy, too
    /// many replicas for the brokers it has...).
    #[error("cannot create Kafka topics at {brokers}: {reason}")]
    TopicCreation {
        /// The bootstrap servers asked.
        brokers: String,
        /// Each refused topic with the broker's reason.
        reason: String,
    },

    /// librdkafka refused to create the client or to take the record.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),

    /// A record payload that is not a valid encoded `UplinkEvent`.
    #[error("cannot decode {encoding} uplink event: {reason}")]
    Decode {
        /// `protobuf` or `json`.
        encoding: &'static str,
        /// What was wrong with the bytes.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let text = BusError::Backpressure { capacity: 10 }.to_string();
        assert!(
            text.contains("10 events") && text.contains("retry later"),
            "{text}"
        );
        let text = BusError::Lagged { missed: 3 }.to_string();
        assert!(text.contains("missed 3"), "{text}");
        let text = BusError::MissingTopics {
            brokers: "k:9092".into(),
            topics: vec!["a".into(), "b".into()],
        }
        .to_string();
        assert_eq!(text, "Kafka topics missing at k:9092: a, b");
    }
}
