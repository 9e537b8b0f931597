//! Information reporting: notifications of Observe / Observe-Composite.
//!
//! Observations belong to the session, not to a node: the observation and
//! its token are in the session store before the Observe request leaves, so
//! whichever node a notification reaches can match it by token. A node that
//! did not send the Observe sees the notification as unmatched, looks the
//! token up, and accepts it (ACK, and later notifications match locally) or
//! rejects it with RST when no observation has that token. A notification
//! matched locally but whose observation left the store (cancelled on
//! another node, registration replaced) was already acknowledged by the
//! CoAP layer: the node then cancels it on the device (GET with Observe = 1)
//! and forgets it, so any later one gets RST (RFC 7641 §3.6).
//! Freshness (RFC 7641 §3.4) is decided by the store so that reordering
//! across nodes is caught too.

use std::sync::Arc;

use lwm2m_coap::{Response, Token, UnmatchedHandle};
use lwm2m_core::{ContentFormat, LwM2mPath};
use lwm2m_proto::events::v1::{Direction, ValueSource};
use lwm2m_session::{Freshness, Observation, Registration};

use crate::clock::{now_ms, now_secs_f64};
use crate::decode;
use crate::events::{self, Device};
use crate::node::Node;
use crate::operation::observe_request;
use crate::peer::Peer;
use crate::stats::Counters;

/// The paths of a stored observation, parsed (unparseable ones dropped).
pub(crate) fn paths_of(observation: &Observation) -> Vec<LwM2mPath> {
    observation
        .paths
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A notification of a local observation (or the first one accepted from
/// the token index).
pub(crate) async fn on_notification(
    node: &Arc<Node>,
    peer: Peer,
    token: Token,
    seq: Option<u32>,
    response: Response,
    ended: bool,
) {
    let bytes = token.as_bytes();
    let observation = match node.sessions.observation_by_token(bytes).await {
        Ok(Some(observation)) => observation,
        Ok(None) => {
            // Cancelled meanwhile (re-registration, cancel on another node):
            // nobody holds it any more, end it on the device.
            node.end_observation(token).await;
            return;
        }
        Err(e) => {
            let _ = node.store_error(e);
            return;
        }
    };
    if let Some(seq) = seq {
        match node
            .sessions
            .record_notification(&observation.endpoint, bytes, seq, now_ms())
            .await
        {
            Ok(Some(Freshness::Fresh)) => {}
            Ok(Some(Freshness::Stale)) => {
                Counters::inc(&node.counters.stale_notifications);
                return;
            }
            Ok(None) => {
                node.end_observation(token).await;
                return;
            }
            Err(e) => {
                let _ = node.store_error(e);
                return;
            }
        }
    }
    if ended {
        if let Err(e) = node
            .sessions
            .remove_observation(&observation.endpoint, bytes)
            .await
        {
            let _ = node.store_error(e);
        }
    }
    let reg = match node.sessions.get_by_endpoint(&observation.endpoint).await {
        Ok(Some(reg)) if reg.registration_id == observation.registration_id => reg,
        Ok(_) => {
            node.end_observation(token).await;
            return;
        }
        Err(e) => {
            let _ = node.store_error(e);
            return;
        }
    };
    let reg = node.touch(&reg, peer).await;
    publish_notification(node, &reg, &observation, token, seq, &response).await;
    node.wake(&reg, peer).await;
}

/// Decodes a notification with the device's models and publishes its values.
async fn publish_notification(
    node: &Arc<Node>,
    reg: &Registration,
    observation: &Observation,
    token: Token,
    seq: Option<u32>,
    response: &Response,
) {
    let device = Device::from(reg);
    let token_hex = hex::encode(token.as_bytes());
    let mut events = Vec::new();
    let mut error = None;
    if response.code.is_success() {
        let versions = Node::versions(reg);
        let models = node.models.for_device(&versions);
        let code = response
            .content_format()
            .or(observation.content_format)
            .unwrap_or(ContentFormat::Text.code());
        let paths = paths_of(observation);
        match decode::values(code, &paths, &response.payload, &models, now_secs_f64()) {
            Ok(mut values) => {
                crate::missing_models::note(node, reg, &mut values);
                Counters::inc(&node.counters.notifications);
                events.push(node.event(
                    &device,
                    events::values(ValueSource::Notify, values, Some(token_hex.clone())),
                ));
            }
            Err(e) => {
                Counters::inc(&node.counters.decode_failures);
                tracing::debug!(endpoint = %reg.endpoint, error = %e, "cannot decode notification");
                error = Some(e.to_string());
            }
        }
    }
    let seq_text = seq.map_or_else(String::new, |s| format!(" seq {s}"));
    events.push(node.event(
        &device,
        events::transport_log(
            Direction::Uplink,
            format!(
                "NOTIFY {} token {token_hex}{seq_text} {}",
                observation.paths.join(","),
                events::code_text(response.code)
            ),
            events::code_text(response.code),
            response.payload.len(),
            error,
        ),
    ));
    node.publish(events).await;
}

/// A notification whose token this node does not know: another node may
/// have created the observation.
pub(crate) async fn on_unmatched(
    node: &Arc<Node>,
    peer: Peer,
    handle: UnmatchedHandle,
    response: Response,
) {
    let token = handle.token();
    let observation = match node.sessions.observation_by_token(token.as_bytes()).await {
        Ok(Some(observation)) => observation,
        Ok(None) => {
            Counters::inc(&node.counters.unmatched_rejected);
            node.driver_of(peer).reject(peer.addr, handle).await;
            return;
        }
        // Store down: neither ACK nor RST, a CON notification is retransmitted.
        Err(e) => {
            let _ = node.store_error(e);
            return;
        }
    };
    let root = match node.sessions.get_by_endpoint(&observation.endpoint).await {
        Ok(Some(reg)) => reg.root_path,
        _ => "/".to_owned(),
    };
    // The registering request, so block-wise notifications can be fetched.
    let format = observation
        .content_format
        .and_then(ContentFormat::from_code);
    let request = observe_request(
        &root,
        &paths_of(&observation),
        observation.composite,
        format,
        0,
    )
    .ok();
    match node
        .driver_of(peer)
        .accept(peer.addr, handle, request)
        .await
    {
        Ok(()) => {
            Counters::inc(&node.counters.unmatched_accepted);
            let ended = !response.code.is_success();
            on_notification(node, peer, token, Some(handle.seq()), response, ended).await;
        }
        // Already accepted by an earlier copy of this notification.
        Err(e) => tracing::debug!(error = %e, "unmatched notification not accepted"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn stored_paths_parse_and_bad_ones_are_skipped() {
        let observation = Observation {
            token: vec![1],
            endpoint: "d".into(),
            registration_id: "r".into(),
            paths: vec!["/3/0/9".into(), "garbage".into()],
            composite: true,
            content_format: Some(112),
            created_at_ms: 0,
            last_seq: None,
            last_notification_ms: None,
            context: BTreeMap::new(),
        };
        let paths = paths_of(&observation);
        assert_eq!(paths.len(), 1);
        assert_eq!(paths[0].to_string(), "/3/0/9");
    }
}
