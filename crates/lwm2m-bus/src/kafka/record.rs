//! Turning an `UplinkEvent` into a Kafka record: topic by kind, key
//! `tenant/endpoint`, encoded value and headers.
//!
//! Records are built in `publish`, on the caller's task, so the trace
//! context hook sees the caller's current span (the request that caused the
//! event) and encoding cost is spread over the transport's workers.

use std::sync::Arc;

use lwm2m_proto::events::v1::{EventKind, UplinkEvent};
use rdkafka::message::{Header, OwnedHeaders};

use crate::{encode_event, BusError, Encoding, KafkaTopics};

/// Header with the event kind label (`registration`, `values`, `transport-log`).
pub const HEADER_EVENT_KIND: &str = "event-kind";
/// Header with the value's media type (see [`Encoding::content_type`]).
pub const HEADER_CONTENT_TYPE: &str = "content-type";
/// Header with the device endpoint name, for filtering without decoding.
pub const HEADER_ENDPOINT: &str = "endpoint";
/// Header with the tenant, for filtering without decoding.
pub const HEADER_TENANT: &str = "tenant";
/// Header with the event id, for de-duplication without decoding.
pub const HEADER_EVENT_ID: &str = "event-id";
/// W3C Trace Context header, set when the [`TraceparentHook`] returns a value.
pub const HEADER_TRACEPARENT: &str = "traceparent";

/// Returns the W3C `traceparent` of the current trace context, if any
/// (`00-<trace-id>-<span-id>-<flags>`). The OpenTelemetry integration plugs
/// in here; until then no hook is set and the header is omitted.
pub type TraceparentHook = Arc<dyn Fn(&UplinkEvent) -> Option<String> + Send + Sync>;

/// A record ready for librdkafka, owned so it can wait in the buffer.
#[derive(Debug)]
pub(crate) struct OutgoingRecord {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: OwnedHeaders,
    pub event_id: String,
}

/// Builds the record of `event`, which must have a payload (`kind`).
pub(crate) fn build_record(
    event: &UplinkEvent,
    kind: EventKind,
    topics: &KafkaTopics,
    encoding: Encoding,
    traceparent: Option<&TraceparentHook>,
) -> Result<OutgoingRecord, BusError> {
    let topic = topics
        .for_kind(kind)
        .ok_or_else(|| BusError::InvalidEvent {
            event_id: event.event_id.clone(),
            reason: "no topic for an event without payload".into(),
        })?;
    let mut headers = OwnedHeaders::new_with_capacity(6)
        .insert(header(HEADER_EVENT_KIND, kind.label()))
        .insert(header(HEADER_CONTENT_TYPE, encoding.content_type()))
        .insert(header(HEADER_ENDPOINT, &event.endpoint))
        .insert(header(HEADER_TENANT, &event.tenant))
        .insert(header(HEADER_EVENT_ID, &event.event_id));
    if let Some(value) = traceparent.and_then(|hook| hook(event)) {
        headers = headers.insert(header(HEADER_TRACEPARENT, &value));
    }
    Ok(OutgoingRecord {
        topic: topic.to_string(),
        key: event.device_key(),
        payload: encode_event(encoding, event)?,
        headers,
        event_id: event.event_id.clone(),
    })
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

#[cfg(test)]
mod tests {
    use lwm2m_proto::events::v1::uplink_event::Payload;
    use lwm2m_proto::events::v1::TransportLog;
    use rdkafka::message::Headers;

    use super::*;
    use crate::decode_event;

    fn event() -> UplinkEvent {
        UplinkEvent {
            tenant: "acme".into(),
            endpoint: "dev-1".into(),
            event_id: "e-1".into(),
            payload: Some(Payload::TransportLog(TransportLog::default())),
            ..Default::default()
        }
    }

    fn headers_of(record: &OutgoingRecord) -> Vec<(String, String)> {
        record
            .headers
            .iter()
            .map(|h| {
                (
                    h.key.to_string(),
                    String::from_utf8(h.value.unwrap_or_default().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn record_is_routed_keyed_and_labelled() {
        let ev = event();
        let record = build_record(
            &ev,
            EventKind::TransportLog,
            &KafkaTopics::default(),
            Encoding::Json,
            None,
        )
        .unwrap();
        assert_eq!(record.topic, "lwm2m.transport-log");
        assert_eq!(record.key, "acme/dev-1");
        assert_eq!(decode_event(Encoding::Json, &record.payload).unwrap(), ev);
        let headers = headers_of(&record);
        assert_eq!(
            headers,
            [
                ("event-kind".to_string(), "transport-log".to_string()),
                ("content-type".into(), "application/json".into()),
                ("endpoint".into(), "dev-1".into()),
                ("tenant".into(), "acme".into()),
                ("event-id".into(), "e-1".into()),
            ]
        );
    }

    #[test]
    fn traceparent_hook_fills_the_slot() {
        let hook: TraceparentHook = Arc::new(|ev: &UplinkEvent| {
            Some(format!("00-{:032x}-{:016x}-01", ev.event_id.len(), 1))
        });
        let record = build_record(
            &event(),
            EventKind::TransportLog,
            &KafkaTopics::default(),
            Encoding::Protobuf,
            Some(&hook),
        )
        .unwrap();
        let headers = headers_of(&record);
        let (_, value) = headers
            .iter()
            .find(|(k, _)| k == HEADER_TRACEPARENT)
            .unwrap();
        assert_eq!(
            value,
            "00-00000000000000000000000000000003-0000000000000001-01"
        );
    }
}
