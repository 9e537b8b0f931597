//! A command as the caller gave it: a method, what it targets (paths or
//! profile keys, not yet resolved against the device) and its arguments.
//! Pure data; `thingsboard` parses it from JSON, `resolve` turns it into
//! what the transport sends.

use serde_json::{json, Map, Value as Json};

use crate::error::{Error, Result};

/// The ThingsBoard RPC methods, plus `Coap` (Cumulocity's raw request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Read,
    Discover,
    DiscoverAll,
    WriteReplace,
    WriteUpdate,
    WriteAttributes,
    ReadComposite,
    WriteComposite,
    Execute,
    Create,
    Delete,
    Observe,
    ObserveComposite,
    ObserveCancel,
    ObserveCompositeCancel,
    ObserveCancelAll,
    ObserveReadAll,
    Coap,
}

impl Method {
    pub const ALL: [Method; 18] = [
        Method::Read,
        Method::Discover,
        Method::DiscoverAll,
        Method::WriteReplace,
        Method::WriteUpdate,
        Method::WriteAttributes,
        Method::ReadComposite,
        Method::WriteComposite,
        Method::Execute,
        Method::Create,
        Method::Delete,
        Method::Observe,
        Method::ObserveComposite,
        Method::ObserveCancel,
        Method::ObserveCompositeCancel,
        Method::ObserveCancelAll,
        Method::ObserveReadAll,
        Method::Coap,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Read => "Read",
            Method::Discover => "Discover",
            Method::DiscoverAll => "DiscoverAll",
            Method::WriteReplace => "WriteReplace",
            Method::WriteUpdate => "WriteUpdate",
            Method::WriteAttributes => "WriteAttributes",
            Method::ReadComposite => "ReadComposite",
            Method::WriteComposite => "WriteComposite",
            Method::Execute => "Execute",
            Method::Create => "Create",
            Method::Delete => "Delete",
            Method::Observe => "Observe",
            Method::ObserveComposite => "ObserveComposite",
            Method::ObserveCancel => "ObserveCancel",
            Method::ObserveCompositeCancel => "ObserveCompositeCancel",
            Method::ObserveCancelAll => "ObserveCancelAll",
            Method::ObserveReadAll => "ObserveReadAll",
            Method::Coap => "Coap",
        }
    }

    /// By name, ignoring case (operators type `read` as often as `Read`).
    pub fn parse(name: &str) -> Result<Self> {
        let name = name.trim();
        Method::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let known: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
                Error::InvalidArgument(format!(
                    "unknown method {name:?}; known: {}",
                    known.join(", ")
                ))
            })
    }

    /// Answered from the session without an operation or device traffic.
    pub fn is_local(self) -> bool {
        matches!(self, Method::DiscoverAll | Method::ObserveReadAll)
    }
}

/// A node reference as given: a path (`/3/0/9`, `/3_1.2/0`, `5/0/2`) or a
/// profile key (`batteryLevel`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Id(String),
    Key(String),
}

impl Target {
    fn text(&self) -> &str {
        match self {
            Target::Id(s) | Target::Key(s) => s,
        }
    }
}

/// Values for Write/Create: JSON typed later by the object model, or typed
/// leaves (full path text, value) from the typed gRPC methods.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Json(Json),
    Typed(Vec<lwm2m_proto::events::v1::ResourceValue>),
}

/// Notification attributes of Write-Attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attributes {
    pub pmin: Option<u32>,
    pub pmax: Option<u32>,
    pub gt: Option<f64>,
    pub lt: Option<f64>,
    pub st: Option<f64>,
    pub epmin: Option<u32>,
    pub epmax: Option<u32>,
}

impl Attributes {
    pub fn is_empty(&self) -> bool {
        *self == Attributes::default()
    }
}

/// Cumulocity's raw CoAP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCoap {
    pub method: String,
    pub uri: String,
    pub content_format: Option<u16>,
    pub accept: Option<u16>,
    pub payload: Vec<u8>,
}

/// One command, before resolution against the device.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Read {
        target: Target,
        format: Option<u16>,
    },
    Discover {
        target: Target,
    },
    DiscoverAll,
    Write {
        target: Target,
        replace: bool,
        payload: Payload,
        format: Option<u16>,
    },
    WriteAttributes {
        target: Target,
        attributes: Attributes,
    },
    ReadComposite {
        targets: Vec<Target>,
        format: Option<u16>,
    },
    /// (node, value) pairs; a typed payload carries its own paths.
    WriteComposite {
        nodes: Vec<(Target, Json)>,
        typed: Vec<lwm2m_proto::events::v1::ResourceValue>,
        format: Option<u16>,
    },
    Execute {
        target: Target,
        arguments: String,
    },
    Create {
        target: Target,
        instance_id: Option<u16>,
        payload: Option<Payload>,
        format: Option<u16>,
    },
    Delete {
        target: Target,
    },
    Observe {
        target: Target,
        format: Option<u16>,
    },
    ObserveComposite {
        targets: Vec<Target>,
        format: Option<u16>,
    },
    ObserveCancel {
        target: Target,
    },
    ObserveCompositeCancel {
        targets: Vec<Target>,
    },
    ObserveCancelAll,
    ObserveReadAll,
    Coap(RawCoap),
}

fn target_json(params: &mut Map<String, Json>, target: &Target) {
    match target {
        Target::Id(id) => params.insert("id".into(), json!(id)),
        Target::Key(key) => params.insert("key".into(), json!(key)),
    };
}

fn targets_json(params: &mut Map<String, Json>, targets: &[Target]) {
    let ids: Vec<_> = targets
        .iter()
        .filter(|t| matches!(t, Target::Id(_)))
        .map(Target::text)
        .collect();
    let keys: Vec<_> = targets
        .iter()
        .filter(|t| matches!(t, Target::Key(_)))
        .map(Target::text)
        .collect();
    if !ids.is_empty() {
        params.insert("ids".into(), json!(ids));
    }
    if !keys.is_empty() {
        params.insert("keys".into(), json!(keys));
    }
}

fn payload_json(payload: &Payload) -> Json {
    match payload {
        Payload::Json(v) => v.clone(),
        Payload::Typed(values) => {
            let map: Map<String, Json> = values
                .iter()
                .map(|rv| {
                    let value = lwm2m_proto::convert::value_from_proto(rv.value.as_ref())
                        .map(|v| crate::render::value_json(&v))
                        .unwrap_or(Json::Null);
                    (rv.path.clone(), value)
                })
                .collect();
            Json::Object(map)
        }
    }
}

impl Command {
    pub fn method(&self) -> Method {
        match self {
            Command::Read { .. } => Method::Read,
            Command::Discover { .. } => Method::Discover,
            Command::DiscoverAll => Method::DiscoverAll,
            Command::Write { replace: true, .. } => Method::WriteReplace,
            Command::Write { replace: false, .. } => Method::WriteUpdate,
            Command::WriteAttributes { .. } => Method::WriteAttributes,
            Command::ReadComposite { .. } => Method::ReadComposite,
            Command::WriteComposite { .. } => Method::WriteComposite,
            Command::Execute { .. } => Method::Execute,
            Command::Create { .. } => Method::Create,
            Command::Delete { .. } => Method::Delete,
            Command::Observe { .. } => Method::Observe,
            Command::ObserveComposite { .. } => Method::ObserveComposite,
            Command::ObserveCancel { .. } => Method::ObserveCancel,
            Command::ObserveCompositeCancel { .. } => Method::ObserveCompositeCancel,
            Command::ObserveCancelAll => Method::ObserveCancelAll,
            Command::ObserveReadAll => Method::ObserveReadAll,
            Command::Coap(_) => Method::Coap,
        }
    }

    /// The params in ThingsBoard form, for storage and display; parsing
    /// them back (`thingsboard::parse_params`) gives the same command.
    pub fn params_json(&self) -> Json {
        let mut p = Map::new();
        let format = |p: &mut Map<String, Json>, f: &Option<u16>| {
            if let Some(f) = f {
                p.insert("contentFormat".into(), json!(f));
            }
        };
        match self {
            Command::Read { target, format: f } | Command::Observe { target, format: f } => {
                target_json(&mut p, target);
                format(&mut p, f);
            }
            Command::Discover { target }
            | Command::Delete { target }
            | Command::ObserveCancel { target } => target_json(&mut p, target),
            Command::Write {
                target,
                payload,
                format: f,
                ..
            } => {
                target_json(&mut p, target);
                p.insert("value".into(), payload_json(payload));
                format(&mut p, f);
            }
            Command::WriteAttributes { target, attributes } => {
                target_json(&mut p, target);
                let mut a = Map::new();
                let mut put = |k: &str, v: Option<Json>| {
                    if let Some(v) = v {
                        a.insert(k.into(), v);
                    }
                };
                put("pmin", attributes.pmin.map(|v| json!(v)));
                put("pmax", attributes.pmax.map(|v| json!(v)));
                put("gt", attributes.gt.map(|v| json!(v)));
                put("lt", attributes.lt.map(|v| json!(v)));
                put("st", attributes.st.map(|v| json!(v)));
                put("epmin", attributes.epmin.map(|v| json!(v)));
                put("epmax", attributes.epmax.map(|v| json!(v)));
                p.insert("attributes".into(), Json::Object(a));
            }
            Command::ReadComposite { targets, format: f }
            | Command::ObserveComposite { targets, format: f } => {
                targets_json(&mut p, targets);
                format(&mut p, f);
            }
            Command::ObserveCompositeCancel { targets } => targets_json(&mut p, targets),
            Command::WriteComposite {
                nodes,
                typed,
                format: f,
            } => {
                let mut n: Map<String, Json> = nodes
                    .iter()
                    .map(|(t, v)| (t.text().to_owned(), v.clone()))
                    .collect();
                if let Json::Object(more) = payload_json(&Payload::Typed(typed.clone())) {
                    n.extend(more);
                }
                p.insert("nodes".into(), Json::Object(n));
                format(&mut p, f);
            }
            Command::Execute { target, arguments } => {
                target_json(&mut p, target);
                if !arguments.is_empty() {
                    p.insert("value".into(), json!(arguments));
                }
            }
            Command::Create {
                target,
                instance_id,
                payload,
                format: f,
            } => {
                target_json(&mut p, target);
                if let Some(i) = instance_id {
                    p.insert("instanceId".into(), json!(i));
                }
                if let Some(payload) = payload {
                    p.insert("value".into(), payload_json(payload));
                }
                format(&mut p, f);
            }
            Command::DiscoverAll | Command::ObserveCancelAll | Command::ObserveReadAll => {}
            Command::Coap(raw) => {
                p.insert("method".into(), json!(raw.method));
                p.insert("uri".into(), json!(raw.uri));
                if let Some(c) = raw.content_format {
                    p.insert("contentFormat".into(), json!(c));
                }
                if let Some(c) = raw.accept {
                    p.insert("accept".into(), json!(c));
                }
                if !raw.payload.is_empty() {
                    p.insert("payloadHex".into(), json!(hex::encode(&raw.payload)));
                }
            }
        }
        Json::Object(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_by_name_in_any_case() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.name()).unwrap(), m);
            assert_eq!(Method::parse(&m.name().to_lowercase()).unwrap(), m);
        }
        let e = Method::parse("Reboot").unwrap_err().to_string();
        assert!(e.contains("unknown method \"Reboot\""), "{e}");
    }

    #[test]
    fn only_discover_all_and_observe_read_all_are_local() {
        let local: Vec<_> = Method::ALL.into_iter().filter(|m| m.is_local()).collect();
        assert_eq!(local, [Method::DiscoverAll, Method::ObserveReadAll]);
    }
}
