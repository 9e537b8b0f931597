//! Wake-ups: a device's Register or Update means it is reachable now, so
//! its PENDING operations go out (and a full Register runs the tenant's
//! post-registration actions). Standalone hears them on the in-process bus;
//! a cluster consumes the transport's registration topic in one consumer
//! group shared by the dispatch replicas (each event reaches one replica,
//! and any replica can deliver any device).

use std::sync::Arc;

use futures::StreamExt;
use lwm2m_bus::{decode_event, Encoding, SubscriptionFilter, UplinkBus};
use lwm2m_proto::events::v1::uplink_event::Payload;
use lwm2m_proto::events::v1::{EventKind, RegistrationKind, UplinkEvent};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;
use tokio::sync::watch;

use crate::config::DispatchKafka;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::DeviceKey;

/// Acts on one uplink event; other kinds are ignored.
pub async fn on_event(engine: &Arc<Engine>, event: &UplinkEvent) {
    let Some(Payload::Registration(reg)) = &event.payload else {
        return;
    };
    let kind = RegistrationKind::try_from(reg.kind).unwrap_or(RegistrationKind::Unspecified);
    if !matches!(
        kind,
        RegistrationKind::Registered | RegistrationKind::Updated
    ) {
        return;
    }
    if kind == RegistrationKind::Registered {
        engine
            .post_registration(&event.tenant, &event.endpoint, &event.registration_id)
            .await;
    }
    engine.kick(DeviceKey::new(event.tenant.clone(), event.endpoint.clone()));
}

/// Listens on the in-process bus until `stop`.
pub async fn from_bus(
    engine: Arc<Engine>,
    bus: Arc<dyn UplinkBus>,
    mut stop: watch::Receiver<bool>,
) {
    let mut events = bus.subscribe(SubscriptionFilter::all().with_kinds([EventKind::Registration]));
    loop {
        tokio::select! {
            item = events.next() => match item {
                Some(Ok(event)) => on_event(&engine, &event).await,
                // Lost events are caught up by the sweeper's re-check.
                Some(Err(e)) => tracing::warn!(error = %e, "registration events lost"),
                None => return,
            },
            () = crate::stopped(&mut stop) => return,
        }
    }
}

/// The consumer of the registration topic.
pub fn consumer(kafka: &DispatchKafka) -> Result<StreamConsumer> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &kafka.group_id)
        // A new group reads only what happens from now on: older wake-ups
        // are covered by the periodic re-check of PENDING operations.
        .set(
            "auto.offset.reset",
            if kafka.from_beginning {
                "earliest"
            } else {
                "latest"
            },
        )
        .set("enable.auto.commit", "true")
        .set("session.timeout.ms", "6000")
        // A wake-up is only useful inside the device's awake window: do not
        // let the broker hold a fetch for the default half second.
        .set("fetch.wait.max.ms", "100")
        // A topic created after dispatch starts is noticed within seconds,
        // not librdkafka's default five minutes.
        .set("topic.metadata.refresh.interval.ms", "10000")
        .create()
        .map_err(|e| Error::Config(format!("Kafka consumer: {e}")))?;
    consumer
        .subscribe(&[kafka.registrations_topic.as_str()])
        .map_err(|e| Error::Config(format!("subscribing to {}: {e}", kafka.registrations_topic)))?;
    Ok(consumer)
}

/// Consumes registration events from Kafka until `stop`.
pub async fn from_kafka(
    engine: Arc<Engine>,
    consumer: StreamConsumer,
    mut stop: watch::Receiver<bool>,
) {
    let mut stream = consumer.stream();
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(message)) => {
                    let encoding = message
                        .headers()
                        .and_then(|h| h.iter().find(|h| h.key == "content-type").and_then(|h| h.value))
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .and_then(Encoding::from_content_type)
                        .unwrap_or(Encoding::Protobuf);
                    match decode_event(encoding, message.payload().unwrap_or_default()) {
                        Ok(event) => on_event(&engine, &event).await,
                        Err(e) => tracing::warn!(error = %e, "undecodable registration event skipped"),
                    }
                }
                Some(Err(e)) => tracing::warn!(error = %e, "Kafka consumer error"),
                None => return,
            },
            () = crate::stopped(&mut stop) => return,
        }
    }
}
