//! Values whose object model this server lacks (`decode` keeps them as
//! untyped bytes): names the version the device registered for each missing
//! model, and tells the registry, whose unknown-objects list
//! (`ListUnknownObjects`) shows operators which DDF files to import.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lwm2m_core::Version;
use lwm2m_proto::events::v1::value::Kind;
use lwm2m_proto::events::v1::{MissingModel, ResourceValue};
use lwm2m_registry::ids::TenantId;
use lwm2m_registry::models::ModelKey;
use lwm2m_session::Registration;

use crate::node::Node;

/// One report per device and object within this time: a notification
/// stream must not become a registry write per value.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// Beyond this many remembered reports the memory is cleared.
const REMEMBERED_MAX: usize = 10_000;

/// Fills the device's object version into every untyped value's missing
/// model and returns the missing models, each once.
pub(crate) fn name_versions(reg: &Registration, values: &mut [ResourceValue]) -> Vec<MissingModel> {
    let mut missing = Vec::new();
    for value in values {
        let Some(Kind::Untyped(untyped)) = value.value.as_mut().and_then(|v| v.kind.as_mut())
        else {
            continue;
        };
        let Some(model) = untyped.missing_model.as_mut() else {
            continue;
        };
        let version = u16::try_from(model.object_id)
            .ok()
            .and_then(|id| reg.objects.get(&id))
            .map_or(Version::V1_0, |entry| entry.version);
        model.version = version.to_string();
        if !missing.contains(model) {
            missing.push(model.clone());
        }
    }
    missing
}

/// The missing models of `values` (already named), each once.
pub(crate) fn of_values(values: &[ResourceValue]) -> Vec<MissingModel> {
    let mut missing: Vec<MissingModel> = Vec::new();
    for value in values {
        if let Some(Kind::Untyped(untyped)) = value.value.as_ref().and_then(|v| v.kind.as_ref()) {
            if let Some(model) = &untyped.missing_model {
                if !missing.contains(model) {
                    missing.push(model.clone());
                }
            }
        }
    }
    missing
}

/// Names the versions in `values`, logs the missing models and reports the
/// objects with no model at all to the registry (in the background, at most
/// once per device and object every [`REPORT_EVERY`]).
pub(crate) fn note(node: &Arc<Node>, reg: &Registration, values: &mut [ResourceValue]) {
    let missing = name_versions(reg, values);
    let tenant = reg.tenant.clone().unwrap_or_default();
    let now = Instant::now();
    let fresh: Vec<MissingModel> = missing
        .into_iter()
        .filter(|m| due(&tenant, &reg.endpoint, m, now))
        .collect();
    if fresh.is_empty() {
        return;
    }
    let text: Vec<String> = fresh
        .iter()
        .map(lwm2m_proto::convert::missing_model_text)
        .collect();
    tracing::info!(endpoint = %reg.endpoint, missing = ?text, "values without a model kept as raw bytes");
    let Some(directory) = node.directory.clone() else {
        return;
    };
    let Ok(tenant) = TenantId::parse(&tenant, "tenant") else {
        return;
    };
    // The unknown-objects list names objects: a resource missing from a
    // known object's model is only logged.
    let objects: BTreeSet<ModelKey> = fresh
        .iter()
        .filter(|m| m.resource_id.is_none())
        .filter_map(|m| {
            Some(ModelKey {
                object_id: u16::try_from(m.object_id).ok()?,
                version: m.version.parse().ok()?,
            })
        })
        .collect();
    if objects.is_empty() {
        return;
    }
    let endpoint = reg.endpoint.clone();
    tokio::spawn(async move {
        let objects: Vec<ModelKey> = objects.into_iter().collect();
        if let Err(e) = directory
            .lookup()
            .record_announced_objects(&tenant, &endpoint, &objects)
            .await
        {
            tracing::warn!(%endpoint, error = %e, "cannot report objects without a model");
        }
    });
}

/// Tenant, endpoint and the missing model.
type ReportKey = (String, String, MissingModel);

/// Whether this device's missing model was not reported within [`REPORT_EVERY`].
fn due(tenant: &str, endpoint: &str, missing: &MissingModel, now: Instant) -> bool {
    static REPORTED: OnceLock<Mutex<HashMap<ReportKey, Instant>>> = OnceLock::new();
    let Ok(mut reported) = REPORTED.get_or_init(Default::default).lock() else {
        return true;
    };
    if reported.len() >= REMEMBERED_MAX {
        reported.clear();
    }
    let entry = (tenant.to_owned(), endpoint.to_owned(), missing.clone());
    match reported.get(&entry) {
        Some(at) if now.saturating_duration_since(*at) < REPORT_EVERY => false,
        _ => {
            reported.insert(entry, now);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use lwm2m_core::{ContentFormat, LwM2mPath, Value};
    use lwm2m_proto::convert::untyped_resource_value;

    use super::*;

    fn untyped(path: &str, object_id: u32) -> ResourceValue {
        let path: LwM2mPath = path.parse().unwrap();
        untyped_resource_value(
            &path,
            &Value::Opaque(vec![1]),
            ContentFormat::Tlv,
            MissingModel {
                object_id,
                version: String::new(),
                resource_id: None,
            },
        )
    }

    #[test]
    fn versions_come_from_the_registration_and_each_model_is_named_once() {
        let reg = Registration {
            endpoint: "dev".into(),
            registration_id: "r1".into(),
            tenant: None,
            lwm2m_version: Version::V1_1,
            lifetime_s: 60,
            binding: "U".into(),
            queue_mode: false,
            sms: None,
            awake_time_s: None,
            root_path: "/".into(),
            supported_formats: Vec::new(),
            objects: std::collections::BTreeMap::from([(
                33605,
                lwm2m_session::ObjectEntry {
                    version: Version::new(2, 1),
                    instances: vec![5],
                },
            )]),
            address: "127.0.0.1:1".into(),
            node_id: "n".into(),
            registered_at_ms: 0,
            last_update_ms: 0,
            last_seen_ms: 0,
            expires_at_ms: 0,
            revision: 1,
        };
        let mut values = vec![
            untyped("/33605/5/1", 33605),
            untyped("/33605/5/2", 33605),
            untyped("/31024/10/1", 31024),
        ];
        let missing = name_versions(&reg, &mut values);
        let named: Vec<(u32, &str)> = missing
            .iter()
            .map(|m| (m.object_id, m.version.as_str()))
            .collect();
        assert_eq!(named, [(33605, "2.1"), (31024, "1.0")]);
        assert_eq!(of_values(&values), missing);
    }

    #[test]
    fn a_device_and_object_is_reported_once_a_minute() {
        let missing = MissingModel {
            object_id: 31024,
            version: "1.0".into(),
            resource_id: None,
        };
        let t0 = Instant::now();
        assert!(due("t", "dev-due", &missing, t0));
        assert!(!due("t", "dev-due", &missing, t0 + Duration::from_secs(1)));
        assert!(due("t", "other-dev-due", &missing, t0));
        assert!(due("t", "dev-due", &missing, t0 + REPORT_EVERY));
    }
}
