//! Which events a subscriber wants: the filters of the gRPC
//! `SubscribeUplinks` request, applied in the bus so unwanted events are
//! never cloned for that subscriber.

use lwm2m_proto::events::v1::{EventKind, UplinkEvent};
use lwm2m_proto::transport::v1::SubscribeUplinksRequest;

/// An event passes when it matches every filter that is set; the default
/// filter passes everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    /// Only this tenant's events.
    pub tenant: Option<String>,
    /// Only this endpoint's events.
    pub endpoint: Option<String>,
    /// Only these kinds; all kinds when empty.
    pub kinds: Vec<EventKind>,
}

impl SubscriptionFilter {
    /// A filter that passes every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only the events of one endpoint.
    pub fn endpoint(endpoint: impl Into<String>) -> Self {
        SubscriptionFilter {
            endpoint: Some(endpoint.into()),
            ..Self::default()
        }
    }

    /// Also restricts to the given kinds.
    pub fn with_kinds(mut self, kinds: impl IntoIterator<Item = EventKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &UplinkEvent) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == event.tenant)
            && self.endpoint.as_ref().is_none_or(|e| *e == event.endpoint)
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind()))
    }
}

impl From<&SubscribeUplinksRequest> for SubscriptionFilter {
    /// Unknown kind numbers (from a newer client) are kept as `Unspecified`,
    /// which matches no event, rather than widening the filter.
    fn from(req: &SubscribeUplinksRequest) -> Self {
        SubscriptionFilter {
            tenant: req.tenant.clone(),
            endpoint: req.endpoint.clone(),
            kinds: req
                .kinds
                .iter()
                .map(|k| EventKind::try_from(*k).unwrap_or(EventKind::Unspecified))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use lwm2m_proto::events::v1::uplink_event::Payload;
    use lwm2m_proto::events::v1::{ResourceValues, TransportLog};

    use super::*;

    fn event(tenant: &str, endpoint: &str, payload: Payload) -> UplinkEvent {
        UplinkEvent {
            tenant: tenant.into(),
            endpoint: endpoint.into(),
            payload: Some(payload),
            ..Default::default()
        }
    }

    #[test]
    fn default_passes_everything() {
        let ev = event("t", "a", Payload::Values(ResourceValues::default()));
        assert!(SubscriptionFilter::all().matches(&ev));
    }

    #[test]
    fn every_set_filter_must_match() {
        let values = event("t", "a", Payload::Values(ResourceValues::default()));
        let log = event("t", "a", Payload::TransportLog(TransportLog::default()));
        let other = event("t", "b", Payload::Values(ResourceValues::default()));
        let filter = SubscriptionFilter::endpoint("a").with_kinds([EventKind::Values]);
        assert!(filter.matches(&values));
        assert!(!filter.matches(&log));
        assert!(!filter.matches(&other));
        let tenant = SubscriptionFilter {
            tenant: Some("u".into()),
            ..Default::default()
        };
        assert!(!tenant.matches(&values));
    }

    #[test]
    fn from_grpc_request_keeps_unknown_kinds_narrow() {
        let req = SubscribeUplinksRequest {
            endpoint: Some("a".into()),
            kinds: vec![EventKind::Registration as i32, 99],
            tenant: None,
        };
        let filter = SubscriptionFilter::from(&req);
        assert_eq!(
            filter.kinds,
            vec![EventKind::Registration, EventKind::Unspecified]
        );
        let values = event("", "a", Payload::Values(ResourceValues::default()));
        assert!(!filter.matches(&values));
    }
}
