//! Shared-attribute updates (`Transport.UpdateAttributes`): a backend sends
//! `{key: value}` in the words of the device's profile (`"timezone": "UTC"`)
//! and we write each value to the resource that key names.
//!
//! Resolving keys and parsing values is pure ([`resolve`]); the writes go
//! through the normal downlink path, so forwarding to the owning node and
//! queue mode apply as for any Write.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lwm2m_core::{LwM2mPath, ModelLookup, ResourceType, Value};
use lwm2m_proto::transport::v1::AttributeUpdateResult;
use lwm2m_registry::profile::DeviceProfile;

use crate::downlink::{self, Target};
use crate::error::Error;
use crate::events::{code_name, code_text};
use crate::node::Node;
use crate::operation::Operation;

/// One key of a request after resolution: where it goes and what to write,
/// or why nothing can be sent for it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resolved {
    Write { path: LwM2mPath, value: Value },
    UnknownKey,
    BadValue { path: LwM2mPath, reason: String },
}

/// Maps each key to its resource through `profile` and parses its text as
/// that resource's type (from `models`). Keys come back in key order.
pub(crate) fn resolve(
    profile: &DeviceProfile,
    attributes: &BTreeMap<String, String>,
    models: &dyn ModelLookup,
) -> Vec<(String, Resolved)> {
    attributes
        .iter()
        .map(|(key, text)| (key.clone(), resolve_one(profile, key, text, models)))
        .collect()
}

fn resolve_one(
    profile: &DeviceProfile,
    key: &str,
    text: &str,
    models: &dyn ModelLookup,
) -> Resolved {
    let found = profile.config.objects.iter().find_map(|object| {
        object
            .resources
            .iter()
            .find(|r| r.key == key)
            .map(|r| (object.object_id, r.instance_id, r.resource_id))
    });
    let Some((object_id, instance_id, resource_id)) = found else {
        return Resolved::UnknownKey;
    };
    let Ok(path) = LwM2mPath::resource(object_id, instance_id, resource_id) else {
        return Resolved::UnknownKey;
    };
    let Some(model) = models.resource(object_id, resource_id) else {
        return Resolved::BadValue {
            path,
            reason: format!("no object model gives the type of {path}"),
        };
    };
    if !model.operations.writable() {
        return Resolved::BadValue {
            path,
            reason: format!("{path} ({}) is not writable", model.name),
        };
    }
    match parse(text, model.kind) {
        Ok(value) => Resolved::Write { path, value },
        Err(reason) => Resolved::BadValue {
            path,
            reason: format!(
                "{text:?} is not a valid {:?} for {path}: {reason}",
                model.kind
            ),
        },
    }
}

/// Text as a value of `kind`. Attribute values come from JSON-minded
/// backends, so `true`/`false` are accepted besides LwM2M's `1`/`0`.
fn parse(text: &str, kind: ResourceType) -> Result<Value, String> {
    let bad = |e: &dyn std::fmt::Display| e.to_string();
    Ok(match kind {
        ResourceType::String => Value::String(text.to_owned()),
        ResourceType::CoreLink => Value::CoreLink(text.to_owned()),
        ResourceType::Integer => Value::Integer(text.trim().parse().map_err(|e| bad(&e))?),
        ResourceType::UnsignedInteger => {
            Value::UnsignedInteger(text.trim().parse().map_err(|e| bad(&e))?)
        }
        ResourceType::Float => {
            let f: f64 = text.trim().parse().map_err(|e| bad(&e))?;
            if !f.is_finite() {
                return Err("not a finite number".into());
            }
            Value::Float(f)
        }
        ResourceType::Time => Value::Time(text.trim().parse().map_err(|e| bad(&e))?),
        ResourceType::Boolean => match text.trim() {
            "1" | "true" => Value::Boolean(true),
            "0" | "false" => Value::Boolean(false),
            _ => return Err("use true/false or 1/0".into()),
        },
        ResourceType::Opaque => {
            use base64::Engine as _;
            Value::Opaque(
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| bad(&e))?,
            )
        }
        ResourceType::ObjectLink => Value::ObjectLink(text.trim().parse().map_err(|e| bad(&e))?),
        ResourceType::None => return Err("the resource is executable".into()),
    })
}

/// Resolves and writes `attributes` on the device, one Write per key.
pub(crate) async fn update(
    node: &Arc<Node>,
    target: &Target,
    attributes: BTreeMap<String, String>,
    timeout: Option<Duration>,
) -> Result<Vec<AttributeUpdateResult>, Error> {
    if attributes.is_empty() {
        return Err(Error::InvalidArgument("no attributes to update".into()));
    }
    // Not registered is the answer for the whole call, before any profile talk.
    node.sessions
        .get_by_endpoint(&target.endpoint)
        .await
        .map_err(|e| node.store_error(e))?
        .ok_or_else(|| Error::NotRegistered(target.endpoint.clone()))?;
    let directory = node.directory.as_ref().ok_or_else(|| {
        Error::FailedPrecondition("this node has no registry: devices have no profiles".into())
    })?;
    let profile = directory
        .profile_of(&target.endpoint)
        .await?
        .ok_or_else(|| {
            Error::FailedPrecondition(format!("{} has no device profile", target.endpoint))
        })?;
    let mut results = Vec::with_capacity(attributes.len());
    for (key, resolved) in resolve(&profile, &attributes, node.models.as_ref()) {
        let mut result = AttributeUpdateResult {
            key,
            ..Default::default()
        };
        match resolved {
            Resolved::UnknownKey => {
                result.code_name = "UNKNOWN_KEY".into();
                result.error =
                    format!("the profile {:?} has no key {:?}", profile.name, result.key);
            }
            Resolved::BadValue { path, reason } => {
                result.path = path.to_string();
                result.code_name = "BAD_VALUE".into();
                result.error = reason;
            }
            Resolved::Write { path, value } => {
                result.path = path.to_string();
                let write = Operation::Write {
                    path,
                    replace: true,
                    values: vec![(path, value)],
                    content_format: None,
                };
                match downlink::execute(node, target, write, timeout, false).await {
                    Ok(done) => {
                        result.ok = done.code.is_success();
                        result.code = code_text(done.code);
                        result.code_name = code_name(done.code);
                    }
                    // The device is gone: no later key can succeed either.
                    Err(e @ Error::NotRegistered(_)) => return Err(e),
                    Err(Error::Timeout) => {
                        result.code_name = "TIMEOUT".into();
                        result.error = "the device did not answer in time".into();
                    }
                    Err(e) => {
                        result.code_name = "FAILED".into();
                        result.error = e.to_string();
                    }
                }
            }
        }
        results.push(result);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use lwm2m_core::ModelRegistry;
    use lwm2m_registry::ids::{ProfileId, TenantId};
    use lwm2m_registry::profile::{ProfileConfig, ProfileObject, ResourceMapping};

    use super::*;

    fn mapping(resource_id: u16, key: &str) -> ResourceMapping {
        ResourceMapping {
            instance_id: 0,
            resource_id,
            attribute: true,
            telemetry: false,
            observe: false,
            key: key.into(),
            key_generated: false,
        }
    }

    fn profile() -> DeviceProfile {
        DeviceProfile {
            id: ProfileId::generate(),
            tenant_id: TenantId::parse("acme", "t").unwrap(),
            name: "meter".into(),
            description: String::new(),
            config: ProfileConfig {
                objects: vec![ProfileObject {
                    object_id: 3,
                    version: lwm2m_core::Version::V1_0,
                    resources: vec![
                        mapping(14, "utcOffset"),
                        mapping(15, "timezone"),
                        mapping(13, "currentTime"),
                        mapping(9, "batteryLevel"),
                        mapping(4, "reboot"),
                    ],
                    attributes: vec![],
                }],
                ..ProfileConfig::default()
            },
            revision: 1,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    fn run(pairs: &[(&str, &str)]) -> Vec<(String, Resolved)> {
        let attrs = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(&profile(), &attrs, &ModelRegistry::with_core_objects())
    }

    #[test]
    fn keys_map_to_their_resources_with_the_models_type() {
        let out = run(&[("timezone", "Europe/Berlin"), ("currentTime", "1700000000")]);
        assert_eq!(
            out,
            vec![
                (
                    "currentTime".into(),
                    Resolved::Write {
                        path: "/3/0/13".parse().unwrap(),
                        value: Value::Time(1_700_000_000)
                    }
                ),
                (
                    "timezone".into(),
                    Resolved::Write {
                        path: "/3/0/15".parse().unwrap(),
                        value: Value::String("Europe/Berlin".into())
                    }
                ),
            ]
        );
    }

    #[test]
    fn unknown_keys_bad_values_and_read_only_resources_are_named() {
        let out = run(&[
            ("nope", "1"),
            ("currentTime", "yesterday"),
            ("batteryLevel", "50"),
            ("reboot", "1"),
        ]);
        assert_eq!(out[0].0, "batteryLevel");
        assert!(
            matches!(&out[0].1, Resolved::BadValue { reason, .. } if reason.contains("not writable")),
            "{out:?}"
        );
        assert!(
            matches!(&out[1].1, Resolved::BadValue { reason, .. } if reason.contains("yesterday")),
            "{out:?}"
        );
        assert_eq!(out[2], ("nope".into(), Resolved::UnknownKey));
        assert!(matches!(&out[3].1, Resolved::BadValue { .. }), "{out:?}");
    }

    #[test]
    fn booleans_accept_json_spellings_and_floats_must_be_finite() {
        assert_eq!(
            parse("true", ResourceType::Boolean),
            Ok(Value::Boolean(true))
        );
        assert_eq!(parse("0", ResourceType::Boolean), Ok(Value::Boolean(false)));
        assert!(parse("yes", ResourceType::Boolean).is_err());
        assert!(parse("NaN", ResourceType::Float).is_err());
        assert_eq!(
            parse("AQI=", ResourceType::Opaque),
            Ok(Value::Opaque(vec![1, 2]))
        );
    }
}
