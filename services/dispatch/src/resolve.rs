//! A [`Command`] against one device → the [`Action`] dispatch stores and
//! later sends: profile keys mapped to paths, object versions checked
//! against the registration, write values typed by the object model. Pure.
//!
//! Version rule: a path without a version uses the version the device
//! registered for the object (else its LwM2M version, else 1.0); a path
//! whose version differs is refused with "Invalid object version. Required
//! version: X.Y" and never sent.

use std::collections::{BTreeMap, HashMap};

use lwm2m_core::{LwM2mPath, ModelLookup, Version};
use lwm2m_proto::events::v1::ResourceValue;
use lwm2m_proto::transport::v1 as tpb;
use lwm2m_proto::transport::v1::downlink_request::Operation as Op;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::command::{Command, Payload, Target};
use crate::error::{Error, Result};
use crate::json_value;

/// What the device registered, as far as resolution cares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceView {
    pub lwm2m_version: Option<Version>,
    /// Announced objects and their versions.
    pub objects: BTreeMap<u16, Version>,
}

impl DeviceView {
    pub fn of(reg: &lwm2m_session::Registration) -> Self {
        DeviceView {
            lwm2m_version: Some(reg.lwm2m_version),
            objects: reg.objects.iter().map(|(id, o)| (*id, o.version)).collect(),
        }
    }

    /// The version requests for `object` must use.
    pub fn required_version(&self, object: u16) -> Version {
        self.objects
            .get(&object)
            .copied()
            .or(self.lwm2m_version)
            .unwrap_or(Version::V1_0)
    }

    /// For `ModelRegistry::for_device`.
    pub fn versions(&self) -> HashMap<u16, Version> {
        self.objects.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// Profile key → resource path, from the device's profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyMap(pub HashMap<String, LwM2mPath>);

impl KeyMap {
    pub fn from_profile(profile: &lwm2m_registry::profile::DeviceProfile) -> Self {
        let mut map = HashMap::new();
        for object in &profile.config.objects {
            for r in &object.resources {
                if r.key.is_empty() {
                    continue;
                }
                if let Ok(path) =
                    LwM2mPath::resource(object.object_id, r.instance_id, r.resource_id)
                {
                    map.insert(r.key.clone(), path);
                }
            }
        }
        KeyMap(map)
    }
}

/// What is sent for an operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// One transport downlink.
    Downlink(Op),
    /// ObserveCancelAll: a proactive cancel of each observation the session
    /// store knows for the device, at delivery time.
    CancelAllObservations,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredAction {
    /// `DownlinkRequest` with only `operation` set, protobuf, hex.
    Downlink(String),
    CancelAllObservations,
}

impl Action {
    /// The stored form (the `action_json` column).
    pub fn to_json(&self) -> String {
        let stored = match self {
            Action::Downlink(op) => {
                let request = tpb::DownlinkRequest {
                    operation: Some(op.clone()),
                    ..Default::default()
                };
                StoredAction::Downlink(hex::encode(request.encode_to_vec()))
            }
            Action::CancelAllObservations => StoredAction::CancelAllObservations,
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let corrupt = |why: String| Error::Store(format!("stored action {text:?}: {why}"));
        match serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))? {
            StoredAction::CancelAllObservations => Ok(Action::CancelAllObservations),
            StoredAction::Downlink(h) => {
                let bytes = hex::decode(h).map_err(|e| corrupt(e.to_string()))?;
                let request = tpb::DownlinkRequest::decode(bytes.as_slice())
                    .map_err(|e| corrupt(e.to_string()))?;
                request
                    .operation
                    .map(Action::Downlink)
                    .ok_or_else(|| corrupt("no operation".into()))
            }
        }
    }
}

/// Everything resolution reads.
pub struct Context<'a> {
    pub device: &'a DeviceView,
    pub keys: &'a KeyMap,
    pub models: &'a dyn ModelLookup,
}

impl Context<'_> {
    /// A path text checked against the registered version; returned with
    /// that version made explicit.
    pub fn path(&self, text: &str) -> Result<LwM2mPath> {
        let path: LwM2mPath = text
            .parse()
            .map_err(|e: lwm2m_core::Error| Error::InvalidArgument(e.to_string()))?;
        let Some(object) = path.object_id() else {
            return Ok(path);
        };
        let required = self.device.required_version(object);
        match path.object_version() {
            Some(given) if given != required => Err(Error::VersionMismatch { required }),
            _ => Ok(path.with_version(Some(required))),
        }
    }

    pub fn target(&self, target: &Target) -> Result<LwM2mPath> {
        match target {
            Target::Id(text) => self.path(text),
            Target::Key(key) => {
                let path = self.keys.0.get(key).ok_or_else(|| {
                    Error::UnknownKey(format!("key {key:?} is not in the device's profile"))
                })?;
                self.path(&path.to_string())
            }
        }
    }

    fn targets(&self, targets: &[Target]) -> Result<Vec<String>> {
        targets
            .iter()
            .map(|t| self.target(t).map(|p| wire(&p)))
            .collect()
    }

    fn payload(&self, path: &LwM2mPath, payload: &Payload) -> Result<Vec<ResourceValue>> {
        match payload {
            Payload::Typed(values) => Ok(values.clone()),
            Payload::Json(json) => Ok(json_value::leaves(path, json, self.models)?
                .iter()
                .map(|(p, v)| lwm2m_proto::convert::resource_value(&p.without_version(), v))
                .collect()),
        }
    }
}

/// Paths go to the transport without a version: the transport uses the
/// registration's versions itself, and we checked they agree.
fn wire(path: &LwM2mPath) -> String {
    path.without_version().to_string()
}

fn cf(format: &Option<u16>) -> Option<u32> {
    format.map(u32::from)
}

/// The action of `command`; `None` for the local methods (DiscoverAll,
/// ObserveReadAll) that are answered from the session.
pub fn resolve(command: &Command, cx: &Context<'_>) -> Result<Option<Action>> {
    let op = match command {
        Command::DiscoverAll | Command::ObserveReadAll => return Ok(None),
        Command::ObserveCancelAll => return Ok(Some(Action::CancelAllObservations)),
        Command::Read { target, format } => Op::Read(tpb::ReadOperation {
            path: wire(&cx.target(target)?),
            content_format: cf(format),
        }),
        Command::Discover { target } => Op::Discover(tpb::DiscoverOperation {
            path: wire(&cx.target(target)?),
        }),
        Command::Write {
            target,
            replace,
            payload,
            format,
        } => {
            let path = cx.target(target)?;
            Op::Write(tpb::WriteOperation {
                path: wire(&path),
                replace: *replace,
                values: cx.payload(&path, payload)?,
                content_format: cf(format),
            })
        }
        Command::WriteAttributes { target, attributes } => {
            Op::WriteAttributes(tpb::WriteAttributesOperation {
                path: wire(&cx.target(target)?),
                pmin: attributes.pmin,
                pmax: attributes.pmax,
                gt: attributes.gt,
                lt: attributes.lt,
                st: attributes.st,
                epmin: attributes.epmin,
                epmax: attributes.epmax,
            })
        }
        Command::ReadComposite { targets, format } => {
            Op::ReadComposite(tpb::ReadCompositeOperation {
                paths: cx.targets(targets)?,
                content_format: cf(format),
            })
        }
        Command::WriteComposite {
            nodes,
            typed,
            format,
        } => {
            let mut values = typed.clone();
            for (target, json) in nodes {
                let path = cx.target(target)?;
                values.extend(cx.payload(&path, &Payload::Json(json.clone()))?);
            }
            Op::WriteComposite(tpb::WriteCompositeOperation {
                values,
                content_format: cf(format),
            })
        }
        Command::Execute { target, arguments } => Op::Execute(tpb::ExecuteOperation {
            path: wire(&cx.target(target)?),
            arguments: arguments.clone(),
        }),
        Command::Create {
            target,
            instance_id,
            payload,
            format,
        } => {
            let path = cx.target(target)?;
            // `{"id":"/19/1"}` names the new instance in the path.
            let (object, instance_id) = match (path.object_id(), path.instance_id()) {
                (Some(o), Some(i)) if path.resource_id().is_none() => (
                    LwM2mPath::object(o)?.with_version(path.object_version()),
                    Some(i),
                ),
                (Some(_), None) => (path, *instance_id),
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "Create targets an object (/19) or a new instance (/19/1), not {path}"
                    )))
                }
            };
            let values = match payload {
                None => Vec::new(),
                Some(payload) => {
                    let at = object.child(instance_id.unwrap_or(0))?;
                    cx.payload(&at, payload)?
                }
            };
            Op::Create(tpb::CreateOperation {
                path: wire(&object),
                instance_id: instance_id.map(u32::from),
                values,
                content_format: cf(format),
            })
        }
        Command::Delete { target } => Op::Delete(tpb::DeleteOperation {
            path: wire(&cx.target(target)?),
        }),
        Command::Observe { target, format } => Op::Observe(tpb::ObserveOperation {
            path: wire(&cx.target(target)?),
            content_format: cf(format),
            ..Default::default()
        }),
        Command::ObserveComposite { targets, format } => {
            Op::ObserveComposite(tpb::ObserveCompositeOperation {
                paths: cx.targets(targets)?,
                content_format: cf(format),
            })
        }
        Command::ObserveCancel { target } => Op::CancelObserve(tpb::CancelObserveOperation {
            path: wire(&cx.target(target)?),
        }),
        Command::ObserveCompositeCancel { targets } => {
            Op::CancelObserveComposite(tpb::CancelObserveCompositeOperation {
                paths: cx.targets(targets)?,
            })
        }
        Command::Coap(raw) => Op::RawCoap(tpb::RawCoapOperation {
            method: raw.method.clone(),
            uri: raw.uri.clone(),
            content_format: cf(&raw.content_format),
            accept: cf(&raw.accept),
            payload: raw.payload.clone(),
        }),
    };
    Ok(Some(Action::Downlink(op)))
}

#[cfg(test)]
mod tests {
    use lwm2m_core::ModelRegistry;

    use super::*;
    use crate::thingsboard::parse_request;

    fn device() -> DeviceView {
        DeviceView {
            lwm2m_version: Some(Version::V1_1),
            objects: BTreeMap::from([(3, Version::V1_0), (1, Version::V1_1), (19, Version::V1_1)]),
        }
    }

    fn run(request: &str) -> Result<Option<Action>> {
        let device = device();
        let keys = KeyMap(HashMap::from([(
            "batteryLevel".to_owned(),
            LwM2mPath::resource(3, 0, 9).unwrap(),
        )]));
        let models = ModelRegistry::with_core_objects();
        let versions = device.versions();
        let view = models.for_device(&versions);
        let cx = Context {
            device: &device,
            keys: &keys,
            models: &view,
        };
        resolve(&parse_request(request)?, &cx)
    }

    fn read_path(request: &str) -> String {
        match run(request).unwrap() {
            Some(Action::Downlink(Op::Read(r))) => r.path,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn paths_with_and_without_versions() {
        assert_eq!(
            read_path(r#"{"method":"Read","params":{"id":"/3/0/9"}}"#),
            "/3/0/9"
        );
        assert_eq!(
            read_path(r#"{"method":"Read","params":{"id":"/3_1.0/0/9"}}"#),
            "/3/0/9"
        );
        assert_eq!(
            read_path(r#"{"method":"Read","params":{"id":"5/0/2"}}"#),
            "/5/0/2"
        );
        assert_eq!(
            read_path(r#"{"method":"Read","params":{"key":"batteryLevel"}}"#),
            "/3/0/9"
        );
    }

    #[test]
    fn a_version_the_device_did_not_register_is_refused() {
        let e = run(r#"{"method":"Read","params":{"id":"/3_1.2/0/9"}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid object version. Required version: 1.0"
        );
        let e =
            run(r#"{"method":"ReadComposite","params":{"ids":["/3/0/9", "/1_1.2"]}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid object version. Required version: 1.1"
        );
        // Not announced: the device's LwM2M version (1.1) is required.
        let e = run(r#"{"method":"Read","params":{"id":"/5_1.0/0/3"}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid object version. Required version: 1.1"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = run(r#"{"method":"Read","params":{"key":"nope"}}"#).unwrap_err();
        assert!(matches!(e, Error::UnknownKey(_)), "{e}");
    }

    #[test]
    fn create_with_the_instance_in_the_path() {
        let got =
            run(r#"{"method":"Create","params":{"id":"/19/1","value":{"0":{"0":"0a"}}}}"#).unwrap();
        let Some(Action::Downlink(Op::Create(c))) = got else {
            panic!("{got:?}")
        };
        assert_eq!((c.path.as_str(), c.instance_id), ("/19", Some(1)));
        assert_eq!(c.values[0].path, "/19/1/0/0");
    }

    #[test]
    fn actions_survive_storage() {
        for request in [
            r#"{"method":"WriteUpdate","params":{"id":"/3/0","value":{"14":"+5","15":"Kiyv/Europe"}}}"#,
            r#"{"method":"ObserveCancelAll","params":{}}"#,
        ] {
            let action = run(request).unwrap().unwrap();
            assert_eq!(Action::from_json(&action.to_json()).unwrap(), action);
        }
        assert!(Action::from_json("{\"downlink\":\"zz\"}").is_err());
        assert_eq!(
            run(r#"{"method":"DiscoverAll","params":{}}"#).unwrap(),
            None
        );
    }
}
