//! The uplink bus interface shared by the standalone (memory) and the
//! cluster (Kafka) implementations, so the transport does not care which one
//! it talks to.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use lwm2m_proto::events::v1::{EventKind, UplinkEvent};

use crate::{BusError, BusStats, Reservation, SubscriptionFilter};

/// Events of one subscription. An `Err(BusError::Lagged { missed })` item
/// means the subscriber fell behind and `missed` events were skipped; the
/// stream goes on after it. The stream ends when the bus is dropped.
pub type UplinkStream = Pin<Box<dyn Stream<Item = Result<UplinkEvent, BusError>> + Send>>;

/// Where transport nodes publish device uplinks.
///
/// Object safe: services hold an `Arc<dyn UplinkBus>` chosen at start-up.
///
/// Flow control: a transport calls [`try_reserve`](Self::try_reserve) for the
/// events a request will cause *before* acknowledging it, and
/// [`publish_reserved`](Self::publish_reserved) after the response is sent.
/// Accepted events are never dropped; when the buffer is full the bus
/// refuses new ones with [`BusError::Backpressure`] instead.
#[async_trait::async_trait]
pub trait UplinkBus: Send + Sync {
    /// Reserves room for `events` events, or refuses with
    /// [`BusError::Backpressure`] when the outgoing buffer cannot take them.
    fn try_reserve(&self, events: u32) -> Result<Reservation, BusError>;

    /// Publishes one event, spending one slot of `reservation`. Returns once
    /// the bus has taken the event (buffered in order), not when it is
    /// delivered; see [`flush`](Self::flush).
    async fn publish_reserved(
        &self,
        reservation: &mut Reservation,
        event: UplinkEvent,
    ) -> Result<(), BusError>;

    /// Like [`publish_reserved`](Self::publish_reserved), but returns only
    /// once the event is delivered (Kafka acknowledged it): for a transport
    /// that acknowledges a device only after its uplink is safe, so a crash
    /// of the node loses no acknowledged uplink.
    /// [`BusError::Undelivered`] when it failed for good. Buses without a
    /// broker deliver when they take the event.
    async fn publish_delivered(
        &self,
        reservation: &mut Reservation,
        event: UplinkEvent,
    ) -> Result<(), BusError> {
        self.publish_reserved(reservation, event).await
    }

    /// Reserves one slot and publishes into it: for callers that have not
    /// acknowledged anything yet (or cannot refuse).
    async fn publish(&self, event: UplinkEvent) -> Result<(), BusError> {
        let mut reservation = self.try_reserve(1)?;
        self.publish_reserved(&mut reservation, event).await
    }

    /// Whether a `try_reserve(1)` would succeed now. A hint for callers that
    /// want to stop reading the socket; `try_reserve` is the real check.
    fn can_accept(&self) -> bool;

    /// Local subscription to events published through this bus handle (the
    /// gRPC `SubscribeUplinks` stream), filtered in the bus.
    fn subscribe(&self, filter: SubscriptionFilter) -> UplinkStream;

    /// A snapshot of the counters.
    fn stats(&self) -> BusStats;

    /// Waits until every accepted event is delivered (or failed for good);
    /// [`BusError::FlushTimeout`] after `timeout`. Call before shutdown.
    async fn flush(&self, timeout: Duration) -> Result<(), BusError>;
}

/// Rejects events that cannot be routed: a payload must be set.
pub(crate) fn event_kind(event: &UplinkEvent) -> Result<EventKind, BusError> {
    match event.kind() {
        EventKind::Unspecified => Err(BusError::InvalidEvent {
            event_id: event.event_id.clone(),
            reason: "payload is not set (registration, values or transport_log)".into(),
        }),
        kind => Ok(kind),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::MemoryBus;

    #[test]
    fn trait_is_object_safe() {
        let bus: Arc<dyn UplinkBus> = Arc::new(MemoryBus::new(4));
        assert!(bus.can_accept());
    }

    #[test]
    fn events_without_payload_are_invalid() {
        let event = UplinkEvent {
            event_id: "e1".into(),
            ..Default::default()
        };
        let err = event_kind(&event).unwrap_err();
        assert!(err.to_string().contains("\"e1\""), "{err}");
    }
}
