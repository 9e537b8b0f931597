//! Small helpers on the generated `UplinkEvent` that every producer and
//! consumer needs: which kind an event is, and the key that keeps one
//! device's events in order.

use crate::events::v1::{uplink_event::Payload, EventKind, UplinkEvent};

impl UplinkEvent {
    /// The kind of the payload; `Unspecified` when the oneof is unset.
    pub fn kind(&self) -> EventKind {
        match self.payload {
            Some(Payload::Registration(_)) => EventKind::Registration,
            Some(Payload::Values(_)) => EventKind::Values,
            Some(Payload::TransportLog(_)) => EventKind::TransportLog,
            None => EventKind::Unspecified,
        }
    }

    /// `tenant/endpoint`: the Kafka record key. All events of one device share
    /// it, so they go to one partition and stay ordered.
    pub fn device_key(&self) -> String {
        format!("{}/{}", self.tenant, self.endpoint)
    }
}

impl EventKind {
    /// Short, stable name used in Kafka headers, config files and logs:
    /// `registration`, `values`, `transport-log` (`unspecified` otherwise).
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Registration => "registration",
            EventKind::Values => "values",
            EventKind::TransportLog => "transport-log",
            EventKind::Unspecified => "unspecified",
        }
    }

    /// Parses [`EventKind::label`] back; `None` for unknown names.
    pub fn from_label(label: &str) -> Option<Self> {
        Some(match label {
            "registration" => EventKind::Registration,
            "values" => EventKind::Values,
            "transport-log" => EventKind::TransportLog,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::v1::{RegistrationEvent, ResourceValues, TransportLog};

    #[test]
    fn kind_follows_the_payload() {
        let mut event = UplinkEvent::default();
        assert_eq!(event.kind(), EventKind::Unspecified);
        event.payload = Some(Payload::Registration(RegistrationEvent::default()));
        assert_eq!(event.kind(), EventKind::Registration);
        event.payload = Some(Payload::Values(ResourceValues::default()));
        assert_eq!(event.kind(), EventKind::Values);
        event.payload = Some(Payload::TransportLog(TransportLog::default()));
        assert_eq!(event.kind(), EventKind::TransportLog);
    }

    #[test]
    fn device_key_is_tenant_slash_endpoint() {
        let event = UplinkEvent {
            tenant: "acme".into(),
            endpoint: "dev-1".into(),
            ..Default::default()
        };
        assert_eq!(event.device_key(), "acme/dev-1");
    }

    #[test]
    fn labels_round_trip() {
        for kind in [
            EventKind::Registration,
            EventKind::Values,
            EventKind::TransportLog,
        ] {
            assert_eq!(EventKind::from_label(kind.label()), Some(kind));
        }
        assert_eq!(EventKind::from_label("nope"), None);
    }
}
