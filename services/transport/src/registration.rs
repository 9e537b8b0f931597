//! The registration interface (LwM2M 1.1.1 Transport §6.2, Core §6.2):
//! Register (`POST /rd?ep=..`), Update (`POST /rd/{id}`) and De-register
//! (`DELETE /rd/{id}`).
//!
//! Re-registration of a known endpoint replaces the old registration; the
//! store drops its observations atomically and we forget their tokens here
//! (other nodes forget theirs when the next notification finds no
//! observation). No DEREGISTERED event is published for the replaced
//! registration: the new REGISTERED (with a new registration id) says it all.

use std::collections::BTreeMap;
use std::sync::Arc;

use lwm2m_coap::{Request, Response, ResponseCode, Token};
use lwm2m_core::link::RegisteredObjects;
use lwm2m_core::registration::{RegisterRequest, UpdateRequest};
use lwm2m_core::Version;
use lwm2m_proto::events::v1::RegistrationKind;
use lwm2m_session::{generate_registration_id, ObjectEntry, Registration, RegistrationUpdate};

use crate::clock::now_ms;
use crate::error::Error;
use crate::events;
use crate::inbound::{FollowUp, Outcome};
use crate::node::Node;
use crate::peer::Peer;
use crate::provisioning::{self, Channel};
use crate::stats::Counters;

/// The object list as stored. An object without `ver` is version 1.0
/// (LwM2M 1.1 §5.2.2).
fn object_entries(objects: &RegisteredObjects) -> BTreeMap<u16, ObjectEntry> {
    objects
        .objects
        .iter()
        .map(|(id, o)| {
            (
                *id,
                ObjectEntry {
                    version: o.version.unwrap_or(Version::V1_0),
                    instances: o.instances.iter().copied().collect(),
                },
            )
        })
        .collect()
}

/// The payload, `None` when empty (a Register/Update without object list).
fn payload(request: &Request) -> Option<&[u8]> {
    (!request.payload.is_empty()).then_some(request.payload.as_slice())
}

/// Forgets observation tokens locally (their notifications then get RST).
async fn forget_tokens(node: &Node, tokens: impl IntoIterator<Item = Vec<u8>>) {
    for token in tokens {
        if let Ok(token) = Token::new(&token) {
            node.forget_token(token).await;
        }
    }
}

/// `POST /rd?ep=..`: 2.01 with `Location-Path: rd/{id}`.
pub(crate) async fn register(
    node: &Arc<Node>,
    peer: Peer,
    channel: Channel,
    request: &Request,
) -> Result<Outcome, Error> {
    let parsed = RegisterRequest::parse(
        &request.query(),
        payload(request),
        request.options.content_format(),
    )?;
    let admission = provisioning::admit_from(node, peer.addr, &parsed.endpoint, channel).await?;
    let now = now_ms();
    let lifetime_s = parsed.lifetime_or_default();
    let reg = Registration {
        endpoint: parsed.endpoint.clone(),
        registration_id: generate_registration_id(),
        tenant: admission.tenant.or_else(|| node.config.tenant.clone()),
        lwm2m_version: parsed.lwm2m_version,
        lifetime_s,
        binding: parsed.binding_or_default().to_string(),
        queue_mode: parsed.queue_mode,
        sms: parsed.sms_number.clone(),
        awake_time_s: parsed.awake_time,
        root_path: parsed.objects.root_path.clone(),
        supported_formats: parsed.objects.content_formats.clone(),
        objects: object_entries(&parsed.objects),
        address: peer.to_string(),
        node_id: node.node_id.clone(),
        registered_at_ms: now,
        last_update_ms: now,
        last_seen_ms: now,
        expires_at_ms: Registration::expiry(now, lifetime_s, node.config.grace_ms()),
        revision: 0,
    };
    reg.validate()?;
    let outcome = node
        .sessions
        .register(reg.clone())
        .await
        .map_err(|e| node.store_error(e))?;
    forget_tokens(
        node,
        outcome.cancelled_observations.into_iter().map(|o| o.token),
    )
    .await;
    node.addresses.insert(peer, &reg.endpoint);
    Counters::inc(&node.counters.registrations);
    let response = Response::new(ResponseCode::CREATED)
        .with_location_path(&format!("/rd/{}", reg.registration_id));
    let event = events::registration(RegistrationKind::Registered, &reg, true);
    let mut out = Outcome::new(response, &reg, vec![event]);
    if node.directory.is_some() {
        out.follow_up = Some(FollowUp::Initialise(reg.clone(), admission.profile));
    }
    out.wake = Some((reg, peer));
    Ok(out)
}

/// The registration `registration_id` names, if `channel` may act for it
/// (4.04 unknown, 4.03 another identity: see `secure::binding::check_owner`).
async fn owned(
    node: &Arc<Node>,
    registration_id: &str,
    channel: &Channel,
) -> Result<Registration, Error> {
    let reg = node
        .sessions
        .get_by_registration_id(registration_id)
        .await
        .map_err(|e| node.store_error(e))?
        .ok_or_else(|| Error::UnknownRegistration(registration_id.to_owned()))?;
    crate::secure::binding::check_owner(node, &reg, channel).await?;
    Ok(reg)
}

/// `POST /rd/{id}`: 2.04, 4.04 for an unknown id, 4.03 when `channel`'s
/// identity is not the registration's.
pub(crate) async fn update(
    node: &Arc<Node>,
    peer: Peer,
    channel: &Channel,
    registration_id: &str,
    request: &Request,
) -> Result<Outcome, Error> {
    let parsed = UpdateRequest::parse(
        &request.query(),
        payload(request),
        request.options.content_format(),
    )?;
    owned(node, registration_id, channel).await?;
    let objects_changed = parsed.objects.is_some();
    let update = RegistrationUpdate {
        lifetime_s: parsed.lifetime,
        binding: parsed.binding.map(|b| b.to_string()),
        sms: parsed.sms_number.clone(),
        // Queue mode changes only when the Update says something about it
        // (a binding with or without Q, or the Q parameter).
        queue_mode: (parsed.binding.is_some() || parsed.queue_mode).then_some(parsed.queue_mode),
        objects: parsed.objects.as_ref().map(object_entries),
        supported_formats: parsed.objects.as_ref().map(|o| o.content_formats.clone()),
        root_path: parsed.objects.as_ref().map(|o| o.root_path.clone()),
        address: peer.to_string(),
        node_id: node.node_id.clone(),
        now_ms: now_ms(),
        grace_ms: node.config.grace_ms(),
    };
    let (_, reg) = node
        .sessions
        .update(registration_id, update)
        .await
        .map_err(|e| node.store_error(e))?
        .ok_or_else(|| Error::UnknownRegistration(registration_id.to_owned()))?;
    node.addresses.insert(peer, &reg.endpoint);
    Counters::inc(&node.counters.updates);
    let event = events::registration(RegistrationKind::Updated, &reg, objects_changed);
    let mut out = Outcome::new(Response::new(ResponseCode::CHANGED), &reg, vec![event]);
    if node.directory.is_some() {
        out.follow_up = Some(FollowUp::Resync(reg.clone()));
    }
    out.wake = Some((reg, peer));
    Ok(out)
}

/// `DELETE /rd/{id}`: 2.02, 4.04 for an unknown id, 4.03 when `channel`'s
/// identity is not the registration's.
pub(crate) async fn deregister(
    node: &Arc<Node>,
    channel: &Channel,
    registration_id: &str,
) -> Result<Outcome, Error> {
    owned(node, registration_id, channel).await?;
    let (reg, observations) = node
        .sessions
        .deregister(registration_id)
        .await
        .map_err(|e| node.store_error(e))?
        .ok_or_else(|| Error::UnknownRegistration(registration_id.to_owned()))?;
    let tokens: Vec<Vec<u8>> = observations.into_iter().map(|o| o.token).collect();
    node.forget_device(&reg, &tokens).await;
    Counters::inc(&node.counters.deregistrations);
    let event = events::registration(RegistrationKind::Deregistered, &reg, false);
    Ok(Outcome::new(
        Response::new(ResponseCode::DELETED),
        &reg,
        vec![event],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_without_version_are_1_0() {
        let objects = RegisteredObjects::parse("</1/0>,</3/0>,</19>;ver=1.1").unwrap();
        let entries = object_entries(&objects);
        assert_eq!(entries[&3].version, Version::V1_0);
        assert_eq!(entries[&3].instances, vec![0]);
        assert_eq!(entries[&19].version, Version::V1_1);
        assert!(entries[&19].instances.is_empty());
    }

    #[test]
    fn empty_payload_is_no_object_list() {
        assert_eq!(payload(&Request::post("/rd")), None);
        let with = Request::post("/rd").with_payload(b"</3/0>".to_vec());
        assert_eq!(payload(&with), Some(&b"</3/0>"[..]));
    }
}
