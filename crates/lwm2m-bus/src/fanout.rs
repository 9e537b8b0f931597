//! Local fan-out of published events to in-process subscribers, used by both
//! buses (the memory bus is nothing more; the Kafka bus adds it so the gRPC
//! `SubscribeUplinks` stream works in a cluster too).
//!
//! A bounded `tokio::sync::broadcast` channel: publishing never waits for a
//! slow subscriber; a subscriber that falls more than `capacity` events
//! behind skips the oldest and is told how many it missed.

use std::sync::Arc;

use futures::StreamExt;
use lwm2m_proto::events::v1::UplinkEvent;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use crate::stats::Counters;
use crate::{BusError, SubscriptionFilter, UplinkStream};

/// The sending side, shared by a bus and all its subscriptions' counters.
#[derive(Debug)]
pub(crate) struct Fanout {
    tx: broadcast::Sender<Arc<UplinkEvent>>,
    capacity: usize,
    counters: Arc<Counters>,
}

impl Fanout {
    /// `capacity` is clamped to at least 1 (broadcast needs room for one).
    pub fn new(capacity: usize, counters: Arc<Counters>) -> Self {
        let capacity = capacity.max(1);
        let (tx, _) = broadcast::channel(capacity);
        Fanout {
            tx,
            capacity,
            counters,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sends to current subscribers; without subscribers the event is simply
    /// not kept (there is nobody to replay it to).
    pub fn send(&self, event: UplinkEvent) {
        if self.tx.receiver_count() > 0 {
            let _no_receivers_is_fine = self.tx.send(Arc::new(event));
        }
    }

    pub fn subscribers(&self) -> u64 {
        self.tx.receiver_count() as u64
    }

    /// A filtered stream; events are cloned only for subscribers they match.
    pub fn subscribe(&self, filter: SubscriptionFilter) -> UplinkStream {
        let counters = Arc::clone(&self.counters);
        let stream = BroadcastStream::new(self.tx.subscribe()).filter_map(move |item| {
            let out = match item {
                Ok(event) => filter
                    .matches(&event)
                    .then(|| Ok(UplinkEvent::clone(&event))),
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    Counters::add(&counters.lagged, missed);
                    Some(Err(BusError::Lagged { missed }))
                }
            };
            futures::future::ready(out)
        });
        Box::pin(stream)
    }
}

#[cfg(test)]
mod tests {
    use lwm2m_proto::events::v1::uplink_event::Payload;
    use lwm2m_proto::events::v1::ResourceValues;

    use super::*;

    fn event(n: u32) -> UplinkEvent {
        UplinkEvent {
            endpoint: format!("dev-{n}"),
            payload: Some(Payload::Values(ResourceValues::default())),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn lagging_subscriber_is_told_how_many_it_missed() {
        let counters = Arc::new(Counters::default());
        let fanout = Fanout::new(2, Arc::clone(&counters));
        let mut stream = fanout.subscribe(SubscriptionFilter::all());
        for n in 0..5 {
            fanout.send(event(n));
        }
        let first = stream.next().await.unwrap();
        assert!(
            matches!(first, Err(BusError::Lagged { missed: 3 })),
            "{first:?}"
        );
        assert_eq!(stream.next().await.unwrap().unwrap().endpoint, "dev-3");
        assert_eq!(stream.next().await.unwrap().unwrap().endpoint, "dev-4");
        assert_eq!(Counters::get(&counters.lagged), 3);
    }

    #[tokio::test]
    async fn stream_ends_when_the_fanout_is_dropped() {
        let fanout = Fanout::new(4, Arc::new(Counters::default()));
        let mut stream = fanout.subscribe(SubscriptionFilter::all());
        fanout.send(event(1));
        drop(fanout);
        assert!(stream.next().await.unwrap().is_ok());
        assert!(stream.next().await.is_none());
    }

    #[test]
    fn zero_capacity_is_clamped() {
        assert_eq!(Fanout::new(0, Arc::new(Counters::default())).capacity(), 1);
    }
}
