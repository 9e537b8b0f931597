//! The background task that hands buffered records to librdkafka in publish
//! order and settles them as the broker acknowledges.
//!
//! Why librdkafka holds the retries: with `enable.idempotence=true` and
//! `message.timeout.ms=0` it retries each record until the broker takes it,
//! keeping per-partition order with sequence numbers; our own retry loop
//! could not re-send a failed record without reordering it behind later
//! ones that succeeded. So the task only (1) keeps publish order when
//! handing records over, waiting (never skipping) if librdkafka's queue is
//! full, and (2) counts outcomes and frees buffer slots. A record that fails
//! for good (too large, not authorized, topic missing) is counted `failed`
//! and logged with its event id; it cannot succeed by retrying.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{oneshot, Notify, OwnedSemaphorePermit};

use super::record::OutgoingRecord;
use crate::stats::Counters;

/// One accepted event waiting in the buffer; `slot` is its share of the
/// buffer capacity, released when it is settled.
#[derive(Debug)]
pub(crate) struct Pending {
    pub record: OutgoingRecord,
    pub slot: OwnedSemaphorePermit,
    /// Told whether the record was delivered, if the publisher waits.
    pub delivered: Option<oneshot::Sender<bool>>,
}

/// What is kept of a record while librdkafka has it (the payload is not:
/// librdkafka copied it).
struct InFlight {
    event_id: String,
    key: String,
    _slot: OwnedSemaphorePermit,
    delivered: Option<oneshot::Sender<bool>>,
}

impl InFlight {
    fn settled(mut self, delivered: bool) {
        if let Some(tx) = self.delivered.take() {
            // The publisher may have stopped waiting.
            let _ = tx.send(delivered);
        }
    }
}

/// State the task shares with the bus handle.
pub(crate) struct TaskShared {
    pub counters: Arc<Counters>,
    /// Notified whenever nothing is left to deliver (for `flush`).
    pub idle: Notify,
}

/// How long to wait before offering a record again when librdkafka's queue
/// is full (only possible if `properties` lowered its limit).
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(10);

/// Runs until the bus handle is dropped (channel closed) and every record
/// handed over has been settled.
pub(crate) async fn run(
    producer: FutureProducer,
    mut rx: UnboundedReceiver<Pending>,
    shared: Arc<TaskShared>,
) {
    let mut in_flight = FuturesUnordered::new();
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            Some((result, done)) = in_flight.next(), if !in_flight.is_empty() => {
                settle(result, done, &shared);
            }
            next = rx.recv(), if open => match next {
                Some(pending) => {
                    if let Some((future, done)) = hand_over(&producer, pending, &shared).await {
                        in_flight.push(async move { (future.await, done) });
                    }
                }
                None => open = false,
            },
        }
    }
    tracing::debug!("uplink bus delivery task stopped");
}

/// Gives one record to librdkafka, waiting while its queue is full so no
/// later record overtakes this one.
async fn hand_over(
    producer: &FutureProducer,
    pending: Pending,
    shared: &TaskShared,
) -> Option<(DeliveryFuture, InFlight)> {
    let Pending {
        record,
        slot,
        mut delivered,
    } = pending;
    loop {
        let future_record = FutureRecord::to(&record.topic)
            .key(&record.key)
            .payload(&record.payload)
            .headers(record.headers.clone());
        match producer.send_result(future_record) {
            Ok(future) => {
                let done = InFlight {
                    event_id: record.event_id,
                    key: record.key,
                    _slot: slot,
                    delivered: delivered.take(),
                };
                return Some((future, done));
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
            }
            Err((error, _)) => {
                tracing::error!(
                    event_id = %record.event_id, key = %record.key, topic = %record.topic, %error,
                    "kafka refused uplink event; it is counted as failed"
                );
                Counters::add(&shared.counters.failed, 1);
                drop(slot);
                if let Some(tx) = delivered.take() {
                    let _ = tx.send(false);
                }
                notify_if_idle(shared);
                return None;
            }
        }
    }
}

type DeliveryOutcome = <DeliveryFuture as std::future::Future>::Output;

fn settle(result: DeliveryOutcome, done: InFlight, shared: &TaskShared) {
    let delivered = matches!(result, Ok(Ok(_)));
    match result {
        Ok(Ok(_delivery)) => Counters::add(&shared.counters.delivered, 1),
        Ok(Err((error, _message))) => {
            tracing::error!(
                event_id = %done.event_id, key = %done.key, %error,
                "kafka rejected uplink event for good; it is counted as failed"
            );
            Counters::add(&shared.counters.failed, 1);
        }
        Err(_canceled) => {
            tracing::error!(
                event_id = %done.event_id, key = %done.key,
                "kafka producer went away before delivering uplink event"
            );
            Counters::add(&shared.counters.failed, 1);
        }
    }
    done.settled(delivered);
    notify_if_idle(shared);
}

fn notify_if_idle(shared: &TaskShared) {
    let c = &shared.counters;
    let settled = Counters::get(&c.delivered) + Counters::get(&c.failed);
    if settled >= Counters::get(&c.published) {
        shared.idle.notify_waiters();
    }
}
