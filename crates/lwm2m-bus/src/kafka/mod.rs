//! The cluster bus: uplink events to Kafka, plus the same local fan-out as
//! the memory bus so `SubscribeUplinks` works on every node.
//!
//! Guarantees, and how:
//! - **Per-device order**: records are keyed `tenant/endpoint` (one
//!   partition per device), handed to librdkafka in publish order by one
//!   task, and the idempotent producer keeps that order across retries.
//! - **No loss of accepted events while Kafka is down**: records wait (in
//!   order) until the broker is back; see [`delivery`](self) for why
//!   librdkafka holds the retries.
//! - **Bounded memory, no silent drops**: at most `buffer_capacity` events
//!   are accepted but not yet acknowledged; beyond that `try_reserve` and
//!   `publish` answer [`BusError::Backpressure`] and the transport stops
//!   acknowledging uplinks, so devices retransmit later.
//!
//! Accepted events are held in memory: a crash loses what was not yet
//! acknowledged by Kafka. Call [`UplinkBus::flush`] on shutdown.

mod config;
mod delivery;
mod record;
mod topics;

use std::sync::Arc;
use std::time::Duration;

use lwm2m_proto::events::v1::UplinkEvent;
use rdkafka::producer::FutureProducer;
use tokio::sync::{mpsc, Semaphore, TryAcquireError};

pub use config::{KafkaConfig, KafkaTopics};
use delivery::{Pending, TaskShared};
pub use record::{
    TraceparentHook, HEADER_CONTENT_TYPE, HEADER_ENDPOINT, HEADER_EVENT_ID, HEADER_EVENT_KIND,
    HEADER_TENANT, HEADER_TRACEPARENT,
};
pub use topics::{ensure_topics, TopicReport, TopicSpec};

use crate::bus::event_kind;
use crate::fanout::Fanout;
use crate::stats::Counters;
use crate::{BusError, BusStats, Reservation, SubscriptionFilter, UplinkBus, UplinkStream};

/// Publishes uplink events to Kafka through an idempotent `FutureProducer`.
pub struct KafkaBus {
    config: KafkaConfig,
    traceparent: Option<TraceparentHook>,
    tx: mpsc::UnboundedSender<Pending>,
    /// One permit per free buffer slot.
    slots: Arc<Semaphore>,
    shared: Arc<TaskShared>,
    fanout: Fanout,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBus")
            .field("config", &self.config)
            .field("traceparent_hook", &self.traceparent.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Optional parts of a [`KafkaBus`].
pub struct KafkaBusBuilder {
    config: KafkaConfig,
    traceparent: Option<TraceparentHook>,
}

impl KafkaBusBuilder {
    /// Sets the hook that fills the `traceparent` header.
    pub fn traceparent(mut self, hook: TraceparentHook) -> Self {
        self.traceparent = Some(hook);
        self
    }

    /// Creates the producer and starts the delivery task. Must run inside a
    /// tokio runtime. Does not need Kafka to be reachable: events are
    /// buffered until it is.
    pub fn build(self) -> Result<KafkaBus, BusError> {
        self.config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            BusError::Config("KafkaBus must be created inside a tokio runtime".into())
        })?;
        let producer: FutureProducer = self.config.client_config().create()?;
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(TaskShared {
            counters: Arc::clone(&counters),
            idle: Default::default(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        runtime.spawn(delivery::run(producer, rx, Arc::clone(&shared)));
        Ok(KafkaBus {
            slots: Arc::new(Semaphore::new(self.config.buffer_capacity)),
            fanout: Fanout::new(self.config.subscriber_capacity, counters),
            config: self.config,
            traceparent: self.traceparent,
            tx,
            shared,
        })
    }
}

impl KafkaBus {
    /// A bus with default hooks; see [`KafkaBusBuilder::build`].
    pub fn new(config: KafkaConfig) -> Result<Self, BusError> {
        Self::builder(config).build()
    }

    /// Starts building a bus with optional hooks.
    pub fn builder(config: KafkaConfig) -> KafkaBusBuilder {
        KafkaBusBuilder {
            config,
            traceparent: None,
        }
    }

    /// The configuration the bus runs with.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Buffers one event in a reserved slot (in publish order), telling
    /// `delivered` how its delivery ended.
    fn enqueue(
        &self,
        reservation: &mut Reservation,
        event: UplinkEvent,
        delivered: Option<tokio::sync::oneshot::Sender<bool>>,
    ) -> Result<(), BusError> {
        let kind = event_kind(&event)?;
        if !reservation.is_backed_by(&self.slots) {
            return Err(BusError::ForeignReservation);
        }
        let record = record::build_record(
            &event,
            kind,
            &self.config.topics,
            self.config.encoding,
            self.traceparent.as_ref(),
        )?;
        let Some(slot) = reservation.take_one()? else {
            return Err(BusError::ForeignReservation);
        };
        let counters = &self.shared.counters;
        Counters::add(&counters.published, 1);
        let pending = Pending {
            record,
            slot,
            delivered,
        };
        if self.tx.send(pending).is_err() {
            counters
                .published
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            return Err(BusError::Closed);
        }
        self.fanout.send(event);
        Ok(())
    }
}

#[async_trait::async_trait]
impl UplinkBus for KafkaBus {
    fn try_reserve(&self, events: u32) -> Result<Reservation, BusError> {
        match Arc::clone(&self.slots).try_acquire_many_owned(events) {
            Ok(permit) => Ok(Reservation::bounded(events, permit)),
            Err(TryAcquireError::NoPermits) => {
                Counters::add(&self.shared.counters.rejected, 1);
                Err(BusError::Backpressure {
                    capacity: self.config.buffer_capacity,
                })
            }
            Err(TryAcquireError::Closed) => Err(BusError::Closed),
        }
    }

    async fn publish_reserved(
        &self,
        reservation: &mut Reservation,
        event: UplinkEvent,
    ) -> Result<(), BusError> {
        self.enqueue(reservation, event, None)
    }

    async fn publish_delivered(
        &self,
        reservation: &mut Reservation,
        event: UplinkEvent,
    ) -> Result<(), BusError> {
        let event_id = event.event_id.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.enqueue(reservation, event, Some(tx))?;
        match rx.await {
            Ok(true) => Ok(()),
            // Refused for good, or the delivery task is gone.
            Ok(false) | Err(_) => Err(BusError::Undelivered { event_id }),
        }
    }

    fn can_accept(&self) -> bool {
        self.slots.available_permits() > 0
    }

    fn subscribe(&self, filter: SubscriptionFilter) -> UplinkStream {
        self.fanout.subscribe(filter)
    }

    fn stats(&self) -> BusStats {
        self.shared.counters.snapshot(
            self.config.buffer_capacity as u64,
            self.fanout.subscribers(),
        )
    }

    async fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let pending = self.stats().buffered;
            if pending == 0 {
                return Ok(());
            }
            if self.tx.is_closed() {
                return Err(BusError::Closed);
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return Err(BusError::FlushTimeout {
                    pending: self.stats().buffered,
                    timeout,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use lwm2m_proto::events::v1::uplink_event::Payload;
    use lwm2m_proto::events::v1::ResourceValues;

    use super::*;
    use crate::MemoryBus;

    /// A broker address where nothing listens: the bus must buffer.
    fn unreachable(capacity: usize) -> KafkaConfig {
        KafkaConfig {
            brokers: "127.0.0.1:9".into(),
            buffer_capacity: capacity,
            properties: [("log_level".to_string(), "0".to_string())].into(),
            ..Default::default()
        }
    }

    fn values(endpoint: &str) -> UplinkEvent {
        UplinkEvent {
            endpoint: endpoint.into(),
            event_id: format!("id-{endpoint}"),
            payload: Some(Payload::Values(ResourceValues::default())),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn full_buffer_refuses_instead_of_dropping() {
        let bus = KafkaBus::new(unreachable(3)).unwrap();
        let mut local = bus.subscribe(SubscriptionFilter::all());
        for n in 0..3 {
            bus.publish(values(&format!("d{n}"))).await.unwrap();
        }
        assert!(!bus.can_accept());
        assert!(matches!(
            bus.publish(values("d3")).await,
            Err(BusError::Backpressure { capacity: 3 })
        ));
        assert!(matches!(
            bus.try_reserve(1),
            Err(BusError::Backpressure { .. })
        ));
        let stats = bus.stats();
        assert_eq!(
            (
                stats.published,
                stats.buffered,
                stats.rejected,
                stats.delivered,
                stats.dropped
            ),
            (3, 3, 2, 0, 0)
        );
        let err = bus.flush(Duration::from_millis(50)).await.unwrap_err();
        assert!(
            matches!(err, BusError::FlushTimeout { pending: 3, .. }),
            "{err}"
        );
        assert_eq!(
            local.next().await.unwrap().unwrap().endpoint,
            "d0",
            "local subscribers see events"
        );
    }

    #[tokio::test]
    async fn reservations_hold_slots_until_spent_or_dropped() {
        let bus = KafkaBus::new(unreachable(2)).unwrap();
        let mut reservation = bus.try_reserve(2).unwrap();
        assert!(!bus.can_accept());
        bus.publish_reserved(&mut reservation, values("a"))
            .await
            .unwrap();
        drop(reservation);
        assert!(bus.can_accept(), "the unspent slot came back");
        assert!(matches!(
            bus.try_reserve(2),
            Err(BusError::Backpressure { .. })
        ));
        assert_eq!(bus.stats().buffered, 1);
    }

    #[tokio::test]
    async fn foreign_reservations_and_invalid_events_are_refused() {
        let bus = KafkaBus::new(unreachable(2)).unwrap();
        let mut foreign = MemoryBus::default().try_reserve(1).unwrap();
        assert!(matches!(
            bus.publish_reserved(&mut foreign, values("a")).await,
            Err(BusError::ForeignReservation)
        ));
        assert!(matches!(
            bus.publish(UplinkEvent::default()).await,
            Err(BusError::InvalidEvent { .. })
        ));
        assert!(bus.can_accept());
        assert_eq!(bus.stats().published, 0);
    }

    #[test]
    fn building_outside_a_runtime_is_an_error_not_a_panic() {
        let err = KafkaBus::new(unreachable(1)).unwrap_err();
        assert!(err.to_string().contains("tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn invalid_config_is_refused() {
        let err = KafkaBus::new(KafkaConfig {
            buffer_capacity: 0,
            ..unreachable(1)
        })
        .unwrap_err();
        assert!(matches!(err, BusError::Config(_)));
    }
}
