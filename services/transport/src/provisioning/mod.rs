//! The registry's say in what the transport does (LwM2M device profiles, as
//! ThingsBoard calls them "transport configuration"):
//!
//! - admission (`admit`): on Register the endpoint is looked up; an unknown
//!   endpoint is refused with 4.03 unless auto-provisioning is on, and a
//!   device whose credentials ask for DTLS may not register over plain CoAP;
//! - initialisation (`runner::initialise`): the profile's attribute and
//!   telemetry resources are read, its observe resources observed with the
//!   chosen strategy, its notification attributes written; objects
//!   announced with another version than the profile's are skipped and logged;
//! - key names: values events of a device carry its profile's keys;
//! - profile changes reach live devices at once (`watch`) and the others
//!   at their next Update (`after_update`).
//!
//! Without a registry (`TransportDeps::registry` is `None`) every device is
//! admitted and nothing is initialised: the plain-CoAP node of the tests.

pub(crate) mod directory;
pub(crate) mod plan;
pub(crate) mod runner;
pub(crate) mod shared_attributes;

use std::sync::Arc;

use futures::StreamExt;
use lwm2m_proto::registry::v1::registry_change::Change;
use lwm2m_registry::device::Credentials;
use lwm2m_registry::models::ModelKey;
use lwm2m_registry::profile::DeviceProfile;
use lwm2m_session::Registration;

pub(crate) use directory::Directory;

use crate::error::Error;
use crate::node::Node;

/// What admission found out about a registering device.
#[derive(Clone, Debug, Default)]
pub(crate) struct Admission {
    /// The device's tenant in the registry (overrides the node's default).
    pub tenant: Option<String>,
    /// The profile to run after the registration is answered.
    pub profile: Option<Arc<DeviceProfile>>,
}

/// How the device reached us; the registry's credentials must agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    /// Plain CoAP (NoSec).
    Plain,
    /// A DTLS session; what the handshake authenticated (see `secure::binding`).
    Dtls(Arc<lwm2m_dtls::PeerCredential>),
}

/// [`admit`] for a Register from `peer`: a refusal (4.03) is counted and
/// logged at INFO with the endpoint, the peer and the reason, rate-limited
/// per source, so an operator whose device cannot register has a trail.
pub(crate) async fn admit_from(
    node: &Node,
    peer: std::net::SocketAddr,
    endpoint: &str,
    channel: Channel,
) -> Result<Admission, Error> {
    let result = admit(node, endpoint, channel).await;
    if let Err(Error::Forbidden(reason)) = &result {
        crate::secure::failures::log_register_refused(node, peer, endpoint, reason);
    }
    result
}

/// Decides whether `endpoint` may register over `channel`.
pub(crate) async fn admit(
    node: &Node,
    endpoint: &str,
    channel: Channel,
) -> Result<Admission, Error> {
    let Some(directory) = &node.directory else {
        return Ok(Admission::default());
    };
    let record = match directory.endpoint(endpoint).await? {
        Some(record) => record,
        // The node admits unknown endpoints anonymously (standalone default).
        // It belongs to the provisioning (default) tenant, so listings and
        // events name a tenant rather than "".
        None if node.config.auto_provision
            && crate::secure::binding::may_auto_provision(endpoint, &channel) =>
        {
            return Ok(Admission {
                tenant: node.config.provisioning_tenant.clone(),
                ..Admission::default()
            });
        }
        // The tenant may create them (NoSec only: a DTLS identity must be
        // provisioned with its credentials first).
        None => {
            let provisioned = match (&node.config.provisioning_tenant, &channel) {
                (Some(tenant), Channel::Plain) => directory.provision(tenant, endpoint).await?,
                _ => None,
            };
            provisioned.ok_or_else(|| {
                Error::Forbidden(format!("endpoint {endpoint:?} is not provisioned"))
            })?
        }
    };
    match (&record.device.credentials, &channel) {
        (Credentials::NoSec, Channel::Plain) => {}
        (other, Channel::Plain) => {
            return Err(Error::Forbidden(format!(
                "endpoint {endpoint:?} must connect with {} security",
                other.mode().label()
            )));
        }
        (credentials, Channel::Dtls(peer)) => {
            crate::secure::binding::check(endpoint, credentials, peer)?;
        }
    }
    let profile = match &record.device.profile_id {
        Some(id) => directory.profile(id).await?,
        None => None,
    };
    Ok(Admission {
        tenant: Some(record.tenant.id.as_str().to_owned()),
        profile,
    })
}

/// Tells the registry which objects the device announced, so objects it
/// has no model for show up for operators to import (ThingsBoard users ask
/// for this).
pub(crate) async fn record_announced(node: &Node, reg: &Registration) {
    let (Some(directory), Some(tenant)) = (&node.directory, &reg.tenant) else {
        return;
    };
    let Ok(tenant) = lwm2m_registry::ids::TenantId::parse(tenant, "tenant") else {
        return;
    };
    let announced: Vec<ModelKey> = reg
        .objects
        .iter()
        .map(|(id, entry)| ModelKey {
            object_id: *id,
            version: entry.version,
        })
        .collect();
    match directory
        .lookup()
        .record_announced_objects(&tenant, &reg.endpoint, &announced)
        .await
    {
        Ok(unknown) if !unknown.is_empty() => {
            let list: Vec<String> = unknown.iter().map(ToString::to_string).collect();
            tracing::debug!(endpoint = %reg.endpoint, unknown = ?list, "objects without a model");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(endpoint = %reg.endpoint, error = %e, "cannot record announced objects")
        }
    }
}

/// After an Update: a device whose profile changed since it was applied
/// (or that this node has not applied one to) is brought in line.
pub(crate) async fn after_update(node: Arc<Node>, reg: Registration) {
    let Some(directory) = node.directory.clone() else {
        return;
    };
    let Ok(Some(profile)) = directory.profile_of(&reg.endpoint).await else {
        directory.set_applied(&reg.endpoint, None);
        return;
    };
    let current = directory.applied(&reg.endpoint);
    let up_to_date = current
        .as_ref()
        .is_some_and(|a| a.profile_id == profile.id && a.revision == profile.revision);
    if !up_to_date {
        runner::resync(node, reg, profile).await;
    }
}

/// Applies profile changes to the live devices this node serves, at once.
pub(crate) fn watch(node: &Arc<Node>) {
    let Some(directory) = node.directory.clone() else {
        return;
    };
    let weak = Arc::downgrade(node);
    let mut changes = directory.lookup().changes();
    tokio::spawn(async move {
        while let Some(item) = changes.next().await {
            let Ok(change) = item else { continue };
            let Some(Change::ProfileChanged(changed)) = change.change else {
                continue;
            };
            let Some(node) = weak.upgrade() else { return };
            // The directory's own task drops the cached profile; make sure
            // this read sees the new one whatever order the tasks run in.
            directory.apply_profile_change(&changed.profile_id);
            for endpoint in directory.endpoints_with_profile(&changed.profile_id) {
                let Ok(Some(reg)) = node.sessions.get_by_endpoint(&endpoint).await else {
                    continue;
                };
                if reg.node_id != node.node_id {
                    continue; // Its own node applies it.
                }
                if let Ok(Some(profile)) = directory.profile_of(&endpoint).await {
                    tokio::spawn(runner::resync(node.clone(), reg, profile));
                }
            }
        }
    });
}
