//! The standalone bus: uplinks go only to in-process subscribers (the gRPC
//! `SubscribeUplinks` stream, the embedded rule engine). A product feature
//! for single-binary deployments without Kafka, not a test double.
//!
//! Publishing never blocks and never refuses: a slow subscriber lags (and is
//! told how many events it missed) rather than slowing devices down.

use std::sync::Arc;
use std::time::Duration;

use lwm2m_proto::events::v1::UplinkEvent;

use crate::bus::event_kind;
use crate::fanout::Fanout;
use crate::stats::Counters;
use crate::{BusError, BusStats, Reservation, SubscriptionFilter, UplinkBus, UplinkStream};

/// In-process broadcast of uplink events.
#[derive(Debug)]
pub struct MemoryBus {
    fanout: Fanout,
    counters: Arc<Counters>,
}

impl MemoryBus {
    /// A reasonable per-subscriber backlog for interactive consumers.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// `capacity` is how many events a subscriber may fall behind before it
    /// starts losing the oldest ones.
    pub fn new(capacity: usize) -> Self {
        let counters = Arc::new(Counters::default());
        MemoryBus {
            fanout: Fanout::new(capacity, Arc::clone(&counters)),
            counters,
        }
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[async_trait::async_trait]
impl UplinkBus for MemoryBus {
    fn try_reserve(&self, events: u32) -> Result<Reservation, BusError> {
        Ok(Reservation::unbounded(events))
    }

    async fn publish_reserved(
        &self,
        reservation: &mut Reservation,
        event: UplinkEvent,
    ) -> Result<(), BusError> {
        event_kind(&event)?;
        reservation.take_one()?;
        Counters::add(&self.counters.published, 1);
        self.fanout.send(event);
        Counters::add(&self.counters.delivered, 1);
        Ok(())
    }

    fn can_accept(&self) -> bool {
        true
    }

    fn subscribe(&self, filter: SubscriptionFilter) -> UplinkStream {
        self.fanout.subscribe(filter)
    }

    fn stats(&self) -> BusStats {
        self.counters
            .snapshot(self.fanout.capacity() as u64, self.fanout.subscribers())
    }

    async fn flush(&self, _timeout: Duration) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use lwm2m_proto::events::v1::uplink_event::Payload;
    use lwm2m_proto::events::v1::{EventKind, RegistrationEvent, ResourceValues, TransportLog};

    use super::*;

    fn event(endpoint: &str, payload: Payload) -> UplinkEvent {
        UplinkEvent {
            endpoint: endpoint.into(),
            payload: Some(payload),
            ..Default::default()
        }
    }

    fn values(endpoint: &str) -> UplinkEvent {
        event(endpoint, Payload::Values(ResourceValues::default()))
    }

    #[tokio::test]
    async fn subscribers_get_only_what_their_filter_passes() {
        let bus = MemoryBus::new(64);
        let mut all = bus.subscribe(SubscriptionFilter::all());
        let mut dev_a = bus.subscribe(SubscriptionFilter::endpoint("a"));
        let mut registrations =
            bus.subscribe(SubscriptionFilter::all().with_kinds([EventKind::Registration]));
        assert_eq!(bus.stats().subscribers, 3);

        bus.publish(values("a")).await.unwrap();
        bus.publish(values("b")).await.unwrap();
        bus.publish(event(
            "b",
            Payload::Registration(RegistrationEvent::default()),
        ))
        .await
        .unwrap();
        bus.publish(event("a", Payload::TransportLog(TransportLog::default())))
            .await
            .unwrap();
        drop(bus);

        let all: Vec<_> = all.by_ref().map(|e| e.unwrap().endpoint).collect().await;
        assert_eq!(all, ["a", "b", "b", "a"]);
        let kinds: Vec<_> = dev_a.by_ref().map(|e| e.unwrap().kind()).collect().await;
        assert_eq!(kinds, [EventKind::Values, EventKind::TransportLog]);
        let regs: Vec<_> = registrations
            .by_ref()
            .map(|e| e.unwrap().endpoint)
            .collect()
            .await;
        assert_eq!(regs, ["b"]);
    }

    #[tokio::test]
    async fn lag_is_reported_and_counted() {
        let bus = MemoryBus::new(8);
        let mut slow = bus.subscribe(SubscriptionFilter::all());
        for n in 0..20 {
            bus.publish(values(&format!("d{n}"))).await.unwrap();
        }
        match slow.next().await {
            Some(Err(BusError::Lagged { missed })) => assert_eq!(missed, 12),
            other => panic!("expected a lag report, got {other:?}"),
        }
        assert_eq!(slow.next().await.unwrap().unwrap().endpoint, "d12");
        let stats = bus.stats();
        assert_eq!(
            (
                stats.published,
                stats.delivered,
                stats.lagged,
                stats.dropped
            ),
            (20, 20, 12, 0)
        );
    }

    #[tokio::test]
    async fn publishing_without_subscribers_succeeds_and_never_refuses() {
        let bus = MemoryBus::new(1);
        for _ in 0..10 {
            bus.publish(values("a")).await.unwrap();
        }
        assert!(bus.can_accept());
        assert!(bus.try_reserve(1_000_000).is_ok());
        bus.flush(Duration::from_millis(1)).await.unwrap();
        assert_eq!(bus.stats().buffered, 0);
    }

    #[tokio::test]
    async fn invalid_events_and_spent_reservations_are_refused() {
        let bus = MemoryBus::default();
        assert!(matches!(
            bus.publish(UplinkEvent::default()).await,
            Err(BusError::InvalidEvent { .. })
        ));
        let mut reservation = bus.try_reserve(1).unwrap();
        bus.publish_reserved(&mut reservation, values("a"))
            .await
            .unwrap();
        assert!(matches!(
            bus.publish_reserved(&mut reservation, values("a")).await,
            Err(BusError::ReservationExhausted)
        ));
        assert_eq!(bus.stats().published, 1);
    }
}
